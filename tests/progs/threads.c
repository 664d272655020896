/*
 * threads.c - N threads, each doing M malloc/free pairs of K bytes, all at once (a
 * barrier starts them together), for the `threads` integration test. Arguments:
 * threads ops size (default 8 1000000 4321). No stdio.
 */
#include <pthread.h>
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static pthread_barrier_t start;
static long ops;
static size_t size;

__attribute__((noipa)) static void *worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < ops; i++) {
        void *p = malloc(size);
        ESCAPE(p);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 8;
    pthread_t t[64];

    ops = argc > 2 ? atol(argv[2]) : 1000000;
    size = argc > 3 ? (size_t)atol(argv[3]) : 4321;
    if (n < 1 || n > 64)
        return 2;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 3;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return 0;
}
