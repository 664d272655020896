/*
 * handoff.c - two threads taking turns with one set of blocks (tests/stress.sh): each
 * turn frees, or reallocs and then frees, the blocks the other thread allocated in its
 * turn, allocates for a while on its own, and hands the other thread a new set. Only one
 * thread allocates at a time, so the writer stores rounded times (docs/format.md) while
 * every turn's first events depend on the other thread's last ones: a free of a block it
 * allocated, an allocation at an address it freed (glibc returns a block to the arena it
 * came from). The log must keep them in order.
 *
 * usage: handoff TURNS BLOCKS SIZE WORK_US
 * Known by construction: TURNS x BLOCKS allocations of SIZE bytes, each freed (a third
 * of them by a realloc to 2 x SIZE bytes, whose block is then freed), all in the other
 * thread (the last set by the main thread); between, in each turn, pairs of SIZE + 1
 * bytes for WORK_US microseconds.
 * Nothing is live at the end. Exit status 0. No stdio.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static void **blocks;
static long n_blocks, turns;
static size_t size;
static long work_us;
static int turn; /* whose turn: 0 or 1 */
static long turns_done;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* The blocks the other thread left: freed, or resized into another thread's new block
 * (released here, allocated here) and then freed. */
__attribute__((noipa)) static void take_back(void)
{
    for (long i = 0; i < n_blocks; i++) {
        if (blocks[i] == NULL)
            continue;
        if (i % 3 == 0) {
            void *q = realloc(blocks[i], 2 * size);
            if (q == NULL)
                exit(3);
            *(volatile char *)q = 1;
            free(q);
        } else {
            free(blocks[i]);
        }
        blocks[i] = NULL;
    }
}

__attribute__((noipa)) static void work(void)
{
    long end = now_us() + work_us;
    while (now_us() < end) {
        void *p = malloc(size + 1);
        if (p == NULL)
            exit(3);
        *(volatile char *)p = 1;
        free(p);
    }
}

__attribute__((noipa)) static void hand_over(void)
{
    for (long i = 0; i < n_blocks; i++) {
        blocks[i] = malloc(size);
        if (blocks[i] == NULL)
            exit(3);
        *(volatile char *)blocks[i] = 1;
    }
}

static void *player(void *arg)
{
    int me = (int)(long)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (turn != me && turns_done < turns)
            pthread_cond_wait(&changed, &lock);
        if (turns_done >= turns) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        pthread_mutex_unlock(&lock);

        take_back();
        work();
        hand_over();

        pthread_mutex_lock(&lock);
        turn = !me;
        turns_done++;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    turns = atol(argv[1]);
    n_blocks = atol(argv[2]);
    size = (size_t)atol(argv[3]);
    work_us = atol(argv[4]);
    if (turns < 1 || n_blocks < 1 || size < 1)
        return 2;
    blocks = calloc((size_t)n_blocks, sizeof(*blocks));
    if (blocks == NULL)
        return 3;
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, player, (void *)i) != 0)
            return 3;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    take_back(); /* the last turn's set */
    free(blocks);
    return 0;
}
