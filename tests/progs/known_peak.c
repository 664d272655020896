/*
 * known_peak.c - a peak known by construction, for tests/report-tests.sh (which holds
 * the same numbers; each call's "@name" comment gives it the line).
 *
 *   @base   3 x 1000 bytes, allocated first and live to the end
 *   @big    10 x 50000 bytes (A = 500000), then all freed
 *   @small  4 x 30000 bytes (B = 120000 < A), live to the end
 *
 * The peak is 3000 + 500000 bytes, just after the last @big block: @big holds 500000
 * of it, @base 3000 and @small nothing. No stdio: nothing else allocates.
 */
#include <stdlib.h>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static void *base[3], *big[10], *small[4];

__attribute__((noipa)) static void alloc_base(void)
{
    for (int i = 0; i < 3; i++)
        base[i] = malloc(1000); /* @base */
}

__attribute__((noipa)) static void alloc_big(void)
{
    for (int i = 0; i < 10; i++)
        big[i] = malloc(50000); /* @big */
}

__attribute__((noipa)) static void free_big(void)
{
    for (int i = 0; i < 10; i++)
        free(big[i]);
}

__attribute__((noipa)) static void alloc_small(void)
{
    for (int i = 0; i < 4; i++)
        small[i] = malloc(30000); /* @small */
}

int main(void)
{
    alloc_base();
    alloc_big();
    free_big();
    alloc_small();
    for (int i = 0; i < 3; i++)
        ESCAPE(base[i]);
    for (int i = 0; i < 4; i++)
        ESCAPE(small[i]);
    return 0;
}
