/*
 * forkstorm.c - forks from several threads at once while other threads allocate
 * (tests/stress.sh): the shim's fork handlers must neither deadlock nor hand a child the
 * parent's records, and every child must write its own log.
 *
 * usage: forkstorm ALLOCATORS FORKERS CHILDREN COUNTS_FILE
 * ALLOCATORS threads do malloc(2223)/free pairs in bursts of 50, 50 us apart, until
 * told to stop, counting them.
 * FORKERS threads each fork CHILDREN children, one after another, and wait for each;
 * the child of forker f mallocs 91000 + f bytes in storm_child, keeps them, and exits
 * 0. Then main stops the allocators and writes "PAIRS\n" to COUNTS_FILE. Exit status 0
 * when every child exited 0. No stdio in the threads.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static volatile int stop;
static long counts[64];
static int children, bad;

__attribute__((noipa)) static void *spin(void *arg)
{
    long *n = arg;
    struct timespec pause = { 0, 50 * 1000 };
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        for (int i = 0; i < 50; i++) {
            void *p = malloc(2223);
            ESCAPE(p);
            free(p);
        }
        *n += 50;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

__attribute__((noipa)) static void storm_child(long f)
{
    ESCAPE(malloc(91000 + (size_t)f));
}

static void *forker(void *arg)
{
    long f = (long)arg;
    for (int i = 0; i < children; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
            return NULL;
        }
        if (pid == 0) {
            storm_child(f);
            exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    int na = atoi(argv[1]), nf = atoi(argv[2]);
    children = atoi(argv[3]);
    pthread_t a[64], f[64];
    if (na < 0 || na > 64 || nf < 1 || nf > 64)
        return 2;
    for (int i = 0; i < na; i++)
        if (pthread_create(&a[i], NULL, spin, &counts[i]) != 0)
            return 3;
    for (long i = 0; i < nf; i++)
        if (pthread_create(&f[i], NULL, forker, (void *)i) != 0)
            return 3;
    for (int i = 0; i < nf; i++)
        pthread_join(f[i], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    long pairs = 0;
    for (int i = 0; i < na; i++) {
        pthread_join(a[i], NULL);
        pairs += counts[i];
    }
    char line[32];
    int len = snprintf(line, sizeof(line), "%ld\n", pairs);
    int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0)
        return 5;
    return bad ? 6 : 0;
}
