/*
 * fork_busy.c - forks while other threads allocate, for the `fork_threads` integration
 * test: the shim's fork handlers must neither deadlock nor hand a child half a buffer.
 * Argument: a file for the counts. No stdio.
 *
 * 4 threads run malloc(2221)/free pairs in bursts until told to stop, counting them. Meanwhile
 * main forks 20 children one after another; child i (0..19) mallocs 80001 + i bytes in
 * child_alloc, keeps it, and exits 0. Main waits for each, stops the threads, and writes
 * "PAIRS\n": the 2221-byte allocations (and frees) all threads made.
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
static long counts[4];

/* Bursts of 100 pairs and short sleeps: busy inside the allocator a good part of the
 * time, but few enough events that the test can read them all. */
static void *spin(void *arg)
{
    long *n = arg;
    struct timespec pause = { 0, 100 * 1000 };
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        for (int i = 0; i < 100; i++) {
            void *p = malloc(2221);
            ESCAPE(p);
            free(p);
        }
        *n += 100;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

__attribute__((noipa)) static void child_alloc(int i)
{
    ESCAPE(malloc(80001 + (size_t)i));
}

int main(int argc, char **argv)
{
    pthread_t t[4];
    int bad = 0;

    if (argc < 2)
        return 2;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, spin, &counts[i]) != 0)
            return 3;
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 4;
        if (pid == 0) {
            child_alloc(i);
            exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad = 1;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    long pairs = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        pairs += counts[i];
    }
    char line[32];
    int len = snprintf(line, sizeof(line), "%ld\n", pairs);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0)
        return 5;
    return bad ? 6 : 0;
}
