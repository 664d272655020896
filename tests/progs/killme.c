/*
 * killme.c - allocates known amounts on two threads, says so, and runs on until
 * killed, for the `sigkill` integration test. Argument: a file to create, holding this
 * process's pid, once every allocation is made. No stdio.
 *
 *   main thread:  main_allocs: 200 x malloc(9001), 100 of them freed
 *   other thread: thread_allocs: 50 x malloc(9003), kept; the thread stays alive
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ready.h"

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static void *blocks[200];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int thread_done;

__attribute__((noipa)) static void main_allocs(void)
{
    for (int i = 0; i < 200; i++)
        ESCAPE(blocks[i] = malloc(9001));
    for (int i = 0; i < 200; i += 2)
        free(blocks[i]);
}

__attribute__((noipa)) static void thread_allocs(void)
{
    for (int i = 0; i < 50; i++)
        ESCAPE(malloc(9003));
}

static void *thread_main(void *arg)
{
    (void)arg;
    thread_allocs();
    pthread_mutex_lock(&lock);
    thread_done = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t;

    if (argc < 2)
        return 2;
    main_allocs();
    if (pthread_create(&t, NULL, thread_main, NULL) != 0)
        return 3;
    pthread_mutex_lock(&lock);
    while (!thread_done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    if (say_ready(argv[1]) != 0)
        return 4;
    for (;;)
        pause();
}
