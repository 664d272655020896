/* churn_loop.h - the malloc/free loop that churn, threads and the pyext extension
 * time: n pairs of pseudo-random sizes 16..512 bytes, with a window of 64 live blocks
 * (each block lives a while before it is freed), run `depth` frames below the caller.
 * One copy, so that the three workloads measure the same machine code. */
#ifndef BENCH_CHURN_LOOP_H
#define BENCH_CHURN_LOOP_H
#include <stdint.h>
#include <stdlib.h>

#include "common.h"

#define CHURN_WINDOW 64

__attribute__((noinline)) static unsigned long churn_loop(long n, uint64_t seed)
{
    void *live[CHURN_WINDOW] = { 0 };
    unsigned long bytes = 0;
    for (long i = 0; i < n; i++) {
        uint64_t r = xs64(&seed);
        size_t sz = 16 + r % 497; /* 16..512 */
        unsigned slot = (r >> 32) % CHURN_WINDOW;
        free(live[slot]); /* free(NULL) for the first ones */
        char *p = malloc(sz);
        p[0] = (char)i; /* touch it */
        live[slot] = p;
        bytes += sz;
    }
    for (int i = 0; i < CHURN_WINDOW; i++)
        free(live[i]);
    return bytes;
}

/* churn_loop(n, seed), depth recursive frames down. */
__attribute__((noinline)) static unsigned long descend(int depth, long n, uint64_t seed)
{
    unsigned long r = depth > 0 ? descend(depth - 1, n, seed) : churn_loop(n, seed);
    NO_TAILCALL();
    return r;
}

#endif
