/*
 * endings.c - the same known allocations, then one way of ending, for the `endings`
 * integration tests. No stdio. ending_leak: 10 x malloc(8101), kept; ending_churn:
 * 5 x malloc(8102), freed. Then, by argv[1]:
 *
 *   _exit   _exit(3)              _Exit   _Exit(4)
 *   abort   abort()               segv    a store through a null pointer
 *   term    write argv[2] (this pid) and wait for a signal: the test sends SIGTERM
 *   pthread_exit
 *           main leaves by pthread_exit while a thread (ending_late) is still to do
 *           3 x malloc(8104), kept; an atexit handler writes "atexit ran" to argv[2].
 *           The process ends when that thread does, with status 0.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ready.h"

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void ending_leak(void)
{
    for (int i = 0; i < 10; i++)
        ESCAPE(malloc(8101));
}

__attribute__((noipa)) static void ending_churn(void)
{
    for (int i = 0; i < 5; i++) {
        void *p = malloc(8102);
        ESCAPE(p);
        free(p);
    }
}

static const char *atexit_path;

static void say_atexit(void)
{
    int fd = open(atexit_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, "atexit ran\n", 11) != 11)
            unlink(atexit_path);
        close(fd);
    }
}

__attribute__((noipa)) static void *ending_late(void *arg)
{
    (void)arg;
    struct timespec wait = { 0, 200 * 1000 * 1000 }; /* main has left by then */
    nanosleep(&wait, NULL);
    for (int i = 0; i < 3; i++)
        ESCAPE(malloc(8104));
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    ending_leak();
    ending_churn();
    if (!strcmp(argv[1], "_exit"))
        _exit(3);
    if (!strcmp(argv[1], "_Exit"))
        _Exit(4);
    if (!strcmp(argv[1], "abort"))
        abort();
    if (!strcmp(argv[1], "segv")) {
        volatile int *volatile np = NULL; /* read back: gcc cannot see it is null */
        *np = 1;
        return 6;
    }
    if (!strcmp(argv[1], "pthread_exit") && argc > 2) {
        pthread_t late;
        atexit_path = argv[2];
        if (atexit(say_atexit) != 0 || pthread_create(&late, NULL, ending_late, NULL) != 0)
            return 7;
        pthread_exit(NULL);
    }
    if (!strcmp(argv[1], "term") && argc > 2) {
        if (say_ready(argv[2]) != 0)
            return 5;
        for (;;)
            pause();
    }
    return 2;
}
