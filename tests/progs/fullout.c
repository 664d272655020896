/*
 * fullout.c - many allocations of pseudo-random sizes (a log that compresses poorly),
 * then a line on stdout and exit status 7, for the `disk_full` integration test: the
 * program must not notice that its log could not be written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

int main(void)
{
    uint64_t s = 88172645463325252ull;
    long n = 300000;

    for (long i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        void *p = malloc(16 + s % 4000);
        ESCAPE(p);
        free(p);
    }
    printf("fullout: %ld allocations done\n", n);
    return 7;
}
