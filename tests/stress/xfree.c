/*
 * xfree.c - blocks allocated in one thread and freed in another (tests/stress.sh): the
 * shim must match every free to its allocation whichever threads made them.
 *
 * usage: xfree PRODUCERS CONSUMERS BLOCKS SIZE
 * Each of PRODUCERS threads mallocs BLOCKS blocks of SIZE bytes and hands each to the
 * CONSUMERS threads through a ring of pointers (a mutex and two condition variables; no
 * allocation), which free them. Known by construction: PRODUCERS x BLOCKS allocations of
 * SIZE bytes, all freed by other threads. Exit status 0. No stdio.
 */
#include <pthread.h>
#include <stdlib.h>

#define RING 1024

static void *ring[RING];
static unsigned head, tail;
static int producers_left;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long blocks;
static size_t size;

__attribute__((noipa)) static void *produce(void *arg)
{
    for (long i = 0; i < blocks; i++) {
        void *p = malloc(size);
        pthread_mutex_lock(&lock);
        while (head - tail == RING)
            pthread_cond_wait(&not_full, &lock);
        ring[head++ % RING] = p;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    producers_left--;
    pthread_cond_broadcast(&not_empty);
    pthread_mutex_unlock(&lock);
    return arg;
}

__attribute__((noipa)) static void *consume(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&lock);
        while (head == tail && producers_left > 0)
            pthread_cond_wait(&not_empty, &lock);
        if (head == tail) {
            pthread_mutex_unlock(&lock);
            return arg;
        }
        void *p = ring[tail++ % RING];
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    int np = atoi(argv[1]), nc = atoi(argv[2]);
    blocks = atol(argv[3]);
    size = (size_t)atol(argv[4]);
    pthread_t t[128];
    if (np < 1 || nc < 1 || np + nc > 128)
        return 2;
    producers_left = np;
    for (int i = 0; i < np + nc; i++)
        if (pthread_create(&t[i], NULL, i < np ? produce : consume, NULL) != 0)
            return 3;
    for (int i = 0; i < np + nc; i++)
        pthread_join(t[i], NULL);
    return 0;
}
