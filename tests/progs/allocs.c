/*
 * allocs.c - every C allocation function once or more, with sizes known by
 * construction, for the `allocs` integration test (tests/run-integration.sh holds the
 * same numbers). No stdio and no other library calls that allocate: the log holds these
 * events and nothing else, so the test checks totals as well as per-function counts.
 *
 *   fn              sizes (events)                            leaked, from
 *   malloc          10001 x 11, 10004, 10005                  3 x 10001, leak_malloc
 *   calloc          3 x 1009 = 3027, x 5                      1 x 3027, leak_calloc
 *   realloc         10003 -> 20003 -> 30003 (3 events), 40004 1 x 40004, leak_realloc
 *                   realloc(p, 0) frees p (glibc)
 *   reallocarray    7 x 1433 = 10031 -> 9 x 1433 = 12897
 *   posix_memalign  10007 x 2     aligned_alloc 10240 x 2     one of each, leak_aligned
 *   memalign        10009 x 2     valloc 10011 x 2            (5 blocks)
 *   pvalloc         10013 x 2
 *
 * 34 allocation events (reallocarray is one event, though glibc's calls realloc); 24
 * frees: 19 free() calls, realloc(p, 0), and the old side of 4 resizes of a live block
 * (realloc x 3, reallocarray x 1); 10 blocks, 123314 bytes live at exit, which is also
 * the peak. First, one malloc of 2^64 - 2^25 bytes fails: not an event, and no
 * reason to miss any of the others (a countdown that took its size for negative did).
 */
#include <malloc.h>
#include <stdlib.h>

/* gcc -O2 deletes allocations whose pointer never escapes: store each one through a
 * volatile (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void churn_malloc(void)
{
    for (int i = 0; i < 8; i++) {
        void *p = malloc(10001);
        ESCAPE(p);
        free(p);
    }
}

__attribute__((noipa)) static void leak_malloc(void)
{
    for (int i = 0; i < 3; i++)
        ESCAPE(malloc(10001));
}

__attribute__((noipa)) static void churn_calloc(void)
{
    for (int i = 0; i < 4; i++) {
        void *p = calloc(3, 1009);
        ESCAPE(p);
        free(p);
    }
}

__attribute__((noipa)) static void leak_calloc(void)
{
    ESCAPE(calloc(3, 1009));
}

/* gcc folds realloc(NULL, n) into malloc(n): hide the null from it. */
static void *volatile null_block;

__attribute__((noipa)) static void churn_realloc(void)
{
    void *p = realloc(null_block, 10003); /* an allocation, fn=realloc */
    ESCAPE(p);
    p = realloc(p, 20003);
    ESCAPE(p);
    p = realloc(p, 30003);
    ESCAPE(p);
    free(p);

    void *q = malloc(10005);
    ESCAPE(q);
    q = realloc(q, 0); /* glibc frees q and returns NULL */
    ESCAPE(q);
}

__attribute__((noipa)) static void leak_realloc(void)
{
    void *p = malloc(10004);
    ESCAPE(p);
    p = realloc(p, 40004);
    ESCAPE(p);
}

__attribute__((noipa)) static void churn_reallocarray(void)
{
    void *p = reallocarray(null_block, 7, 1433);
    ESCAPE(p);
    p = reallocarray(p, 9, 1433);
    ESCAPE(p);
    free(p);
}

__attribute__((noipa)) static void aligned_set(void **out)
{
    if (posix_memalign(&out[0], 64, 10007) != 0)
        _Exit(20);
    out[1] = aligned_alloc(256, 10240);
    out[2] = memalign(4096, 10009);
    out[3] = valloc(10011);
    out[4] = pvalloc(10013);
    for (int i = 0; i < 5; i++)
        ESCAPE(out[i]);
}

__attribute__((noipa)) static void churn_aligned(void)
{
    void *p[5];
    aligned_set(p);
    for (int i = 0; i < 5; i++)
        free(p[i]);
}

/* Its own copy of the aligned calls, so that the leaked blocks' innermost frame is
 * here and not in aligned_set. */
__attribute__((noipa)) static void leak_aligned(void)
{
    void *p;
    if (posix_memalign(&p, 64, 10007) != 0)
        _Exit(21);
    ESCAPE(p);
    ESCAPE(aligned_alloc(256, 10240));
    ESCAPE(memalign(4096, 10009));
    ESCAPE(valloc(10011));
    ESCAPE(pvalloc(10013));
}

/* A size no allocator grants, hidden from gcc's -Walloc-size-larger-than. */
static volatile size_t huge_size = (size_t)-1 - ((size_t)1 << 25) + 1;

__attribute__((noipa)) static void fail_huge(void)
{
    if (malloc(huge_size) != NULL)
        _Exit(22);
}

int main(void)
{
    fail_huge();
    churn_malloc();
    leak_malloc();
    churn_calloc();
    leak_calloc();
    churn_realloc();
    leak_realloc();
    churn_reallocarray();
    churn_aligned();
    leak_aligned();
    return 0;
}
