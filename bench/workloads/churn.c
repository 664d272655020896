/* churn: N malloc/free pairs of pseudo-random sizes 16..512 bytes, done
 * ~12 frames deep (main + 10 recursive frames + loop).  A window of 64
 * live blocks means each block lives for a while before it is freed.
 * usage: churn [N=10000000]                                           */
#include <stdio.h>

#include "common.h"

#define WINDOW 64
#define DEPTH  9

__attribute__((noinline)) static unsigned long churn_loop(long n, uint64_t seed)
{
    void *live[WINDOW] = { 0 };
    unsigned long bytes = 0;
    for (long i = 0; i < n; i++) {
        uint64_t r = xs64(&seed);
        size_t sz = 16 + r % 497; /* 16..512 */
        unsigned slot = (r >> 32) % WINDOW;
        free(live[slot]); /* free(NULL) for the first ones */
        char *p = malloc(sz);
        p[0] = (char)i; /* touch it */
        live[slot] = p;
        bytes += sz;
    }
    for (int i = 0; i < WINDOW; i++)
        free(live[i]);
    return bytes;
}

__attribute__((noinline)) static unsigned long descend(int depth, long n, uint64_t seed)
{
    unsigned long r = depth > 0 ? descend(depth - 1, n, seed) : churn_loop(n, seed);
    NO_TAILCALL();
    return r;
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 10000000);
    unsigned long bytes = descend(DEPTH, n, 0x9E3779B97F4A7C15ull);
    printf("churn: allocs=%ld frees=%ld bytes=%lu maxrss_kb=%ld cpu_s=%.3f\n", n, n, bytes,
           maxrss_kb(), cpu_s());
    return 0;
}
