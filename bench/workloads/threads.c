/* threads: T threads, each doing the churn workload (N/T malloc/free
 * pairs, sizes 16..512, window of 64 live blocks, ~12 frames deep).
 * usage: threads [N=10000000] [T=4]                                   */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn_loop.h"

#define DEPTH       9
#define MAX_THREADS 256

struct job {
    long n;
    uint64_t seed;
    unsigned long bytes;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    j->bytes = descend(DEPTH, j->n, j->seed);
    return NULL;
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 10000000);
    int t = (int)arg_long(argc, argv, 2, 4);
    pthread_t tid[MAX_THREADS];
    struct job jobs[MAX_THREADS];
    unsigned long bytes = 0;

    if (t < 1 || t > MAX_THREADS) {
        fprintf(stderr, "threads: thread count %d is outside 1..%d\n", t, MAX_THREADS);
        return 2;
    }
    for (int i = 0; i < t; i++) {
        jobs[i] = (struct job){ n / t, 0x9E3779B97F4A7C15ull * (i + 1), 0 };
        int err = pthread_create(&tid[i], NULL, worker, &jobs[i]);
        if (err != 0) {
            fprintf(stderr, "threads: pthread_create: %s\n", strerror(err));
            return 2;
        }
    }
    for (int i = 0; i < t; i++) {
        pthread_join(tid[i], NULL);
        bytes += jobs[i].bytes;
    }
    printf("threads: threads=%d allocs=%ld frees=%ld bytes=%lu maxrss_kb=%ld cpu_s=%.3f\n", t,
           n / t * t, n / t * t, bytes, maxrss_kb(), cpu_s());
    return 0;
}
