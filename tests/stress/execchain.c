/*
 * execchain.c - a process that execs itself again and again while threads allocate
 * (tests/stress.sh): each image's log is flushed and renamed at the exec, and the next
 * image starts its own.
 *
 * usage: execchain K N
 * Image K starts 2 threads doing 2,000 malloc(3301)/free pairs each and mallocs
 * 20000 + K bytes in chain_link (kept); once the threads are done it execs "execchain
 * K+1 N", until K is N, which exits 0. Known by construction: N + 1 images, image K
 * with one allocation of 20000 + K bytes and 4,000 of 3301, all freed. No stdio.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void chain_link(int k)
{
    ESCAPE(malloc(20000 + (size_t)k));
}

__attribute__((noipa)) static void *churn(void *arg)
{
    for (int i = 0; i < 2000; i++) {
        void *p = malloc(3301);
        ESCAPE(p);
        free(p);
    }
    return arg;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int k = atoi(argv[1]), n = atoi(argv[2]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, churn, NULL) != 0)
            return 3;
    chain_link(k);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (k >= n)
        return 0;
    char next[16];
    snprintf(next, sizeof(next), "%d", k + 1);
    char *args[] = { argv[0], next, argv[2], NULL };
    execv("/proc/self/exe", args);
    return 4;
}
