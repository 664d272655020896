/* churn: N malloc/free pairs of pseudo-random sizes 16..512 bytes, done
 * ~12 frames deep (main + 10 recursive frames + loop).  A window of 64
 * live blocks means each block lives for a while before it is freed.
 * usage: churn [N=10000000]                                           */
#include <stdio.h>

#include "churn_loop.h"

#define DEPTH 9

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 10000000);
    unsigned long bytes = descend(DEPTH, n, 0x9E3779B97F4A7C15ull);
    printf("churn: allocs=%ld frees=%ld bytes=%lu maxrss_kb=%ld cpu_s=%.3f\n", n, n, bytes,
           maxrss_kb(), cpu_s());
    return 0;
}
