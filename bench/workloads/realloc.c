/* realloc: grows 256 buffers by small steps with realloc (N reallocs in
 * all; a buffer that reaches 64 KiB is freed and starts over), and every
 * 16th step also does one calloc, posix_memalign and aligned_alloc.
 * usage: realloc [N=2000000]                                          */
#include <stdio.h>
#include <string.h>

#include "common.h"

#define NBUF 256
#define CAP  (64 * 1024)

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 2000000);
    char *buf[NBUF] = { 0 };
    size_t len[NBUF] = { 0 };
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    long reallocs = 0, frees = 0, callocs = 0, memaligns = 0, aligned = 0;
    unsigned long sum = 0;

    for (long i = 0; i < n; i++) {
        uint64_t r = xs64(&seed);
        unsigned b = r % NBUF;
        size_t step = 1 + (r >> 16) % 64; /* grow by 1..64 bytes */
        if (len[b] + step > CAP) {
            free(buf[b]);
            buf[b] = NULL;
            len[b] = 0;
            frees++;
        }
        char *p = realloc(buf[b], len[b] + step); /* realloc(NULL,..) = malloc */
        memset(p + len[b], (int)i, step);
        buf[b] = p;
        len[b] += step;
        reallocs++;

        if (i % 16 == 0) {
            size_t k = 1 + (r >> 24) % 32;
            long *c = calloc(k, sizeof(long));
            void *m = NULL, *a;
            if (posix_memalign(&m, 64, 8 * k) == 0)
                memaligns++;
            a = aligned_alloc(4096, 4096 * (1 + k % 4));
            aligned++;
            ESCAPE(c);
            ESCAPE(m);
            ESCAPE(a);                      /* or GCC drops the calls */
            sum += (unsigned long)c[k - 1]; /* calloc'd: always 0 */
            callocs++;
            free(c);
            free(m);
            free(a);
            frees += 3;
        }
    }
    for (int b = 0; b < NBUF; b++)
        if (buf[b]) {
            free(buf[b]);
            frees++;
        }
    printf("realloc: reallocs=%ld callocs=%ld posix_memaligns=%ld aligned_allocs=%ld frees=%ld "
           "check=%lu maxrss_kb=%ld cpu_s=%.3f\n",
           reallocs, callocs, memaligns, aligned, frees, sum, maxrss_kb(), cpu_s());
    return 0;
}
