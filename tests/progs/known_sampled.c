/*
 * known_sampled.c - allocation totals known by construction, for the sampled-mode test
 * in tests/report-tests.sh (which holds the same numbers and derives the error bound
 * from them; each call's "@name" comment gives it the line).
 *
 *   @churn    200000 x 512 bytes, each freed at once
 *   @mid      5000 x 4096 bytes, leaked
 *   @huge     40 x 1 MiB, leaked
 *   @grow     1000 buffers, each grown by realloc in 64 steps of 1 KiB to 64 KiB, leaked:
 *             64,000 realloc calls (the first is a malloc), 1000 blocks live at the end
 *   @hold     first: 20000 x 4096 bytes, all live at once (about 1200 sampled: the
 *             shim's filter of sampled blocks grows twice meanwhile, at 65 and 513
 *             members), then all freed: every sampled one must be seen freed, so
 *             nothing of it is leaked, exactly
 *
 * With a mean sampling interval of R bytes, a block of s bytes is sampled with
 * probability p = 1 - exp(-s/R), independently of the others, and stands for 1/p
 * blocks: n such blocks give an estimate of n blocks with variance n (1 - p) / p.
 * No stdio: nothing else allocates.
 */
#include <stdlib.h>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void churn(void)
{
    for (int i = 0; i < 200000; i++) {
        void *p = malloc(512); /* @churn */
        ESCAPE(p);
        free(p);
    }
}

__attribute__((noipa)) static void leak_mid(void)
{
    for (int i = 0; i < 5000; i++)
        ESCAPE(malloc(4096)); /* @mid */
}

__attribute__((noipa)) static void leak_huge(void)
{
    for (int i = 0; i < 40; i++)
        ESCAPE(malloc(1 << 20)); /* @huge */
}

__attribute__((noipa)) static void grow(void)
{
    for (int b = 0; b < 1000; b++) {
        void *p = NULL;
        for (int i = 1; i <= 64; i++) {
            p = realloc(p, (size_t)i << 10); /* @grow */
            ESCAPE(p);
        }
    }
}

static void *held[20000];

__attribute__((noipa)) static void hold(void)
{
    for (int i = 0; i < 20000; i++)
        held[i] = malloc(4096); /* @hold */
    for (int i = 0; i < 20000; i++)
        free(held[i]);
}

int main(void)
{
    hold();
    churn();
    leak_mid();
    leak_huge();
    grow();
    return 0;
}
