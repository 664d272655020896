/* deep: N allocations made from call stacks 80..100 frames deep.  Each
 * descent picks a depth and a path through two mutually recursive
 * functions (8 random bits), so there are a few thousand distinct stacks;
 * at the bottom it does a batch of 8 malloc/free (window of 64 blocks).
 * usage: deep [N=1000000]                                             */
#include <stdio.h>

#include "common.h"

#define WINDOW 64
#define BATCH  8

static void *live[WINDOW];
static uint64_t seed = 0x9E3779B97F4A7C15ull;

__attribute__((noinline)) static void leaf(long first)
{
    for (long i = first; i < first + BATCH; i++) {
        uint64_t r = xs64(&seed);
        unsigned slot = (r >> 32) % WINDOW;
        free(live[slot]);
        char *p = malloc(16 + r % 241); /* 16..256 bytes */
        p[0] = (char)i;
        live[slot] = p;
    }
}

static void walk_b(int depth, unsigned path, long first);

__attribute__((noinline)) static void walk_a(int depth, unsigned path, long first)
{
    if (depth == 0)
        leaf(first);
    else if (path & 1)
        walk_b(depth - 1, path >> 1, first);
    else
        walk_a(depth - 1, path >> 1, first);
    NO_TAILCALL();
}

__attribute__((noinline)) static void walk_b(int depth, unsigned path, long first)
{
    if (depth == 0)
        leaf(first);
    else if (path & 1)
        walk_b(depth - 1, path >> 1, first);
    else
        walk_a(depth - 1, path >> 1, first);
    NO_TAILCALL();
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 1000000);
    long descents = 0;
    for (long i = 0; i + BATCH <= n; i += BATCH, descents++) {
        uint64_t r = xs64(&seed);
        int depth = 76 + (int)(r % 21);             /* + leaf, main, malloc: 80..100 */
        unsigned path = (unsigned)(r >> 40) & 0xFF; /* only the 8 frames under main vary */
        walk_a(depth, path, i);
    }
    for (int i = 0; i < WINDOW; i++)
        free(live[i]);
    long allocs = descents * BATCH;
    printf("deep: allocs=%ld frees=%ld descents=%ld depth=80..100 maxrss_kb=%ld cpu_s=%.3f\n",
           allocs, allocs, descents, maxrss_kb(), cpu_s());
    return 0;
}
