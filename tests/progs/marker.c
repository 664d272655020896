/*
 * marker.c - allocations before and after an outside event, for the `marker` and
 * `marker_own` integration tests. No stdio. Arguments: MODE READY GO.
 *
 * before_signal leaks 5 x 5501; then READY is written (this pid) and the program waits
 * until the file GO exists (the test sends SIGUSR2 before creating it); then
 * after_signal leaks 5 x 5502 and the program exits 0.
 * MODE own: the program first installs its own SIGUSR2 handler; it exits 0 and writes
 * "handled SIGUSR2" to stdout only if that handler ran, else it exits 7.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ready.h"

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static volatile sig_atomic_t handled;

static void on_usr2(int sig)
{
    (void)sig;
    handled = 1;
}

__attribute__((noipa)) static void before_signal(void)
{
    for (int i = 0; i < 5; i++)
        ESCAPE(malloc(5501));
}

__attribute__((noipa)) static void after_signal(void)
{
    for (int i = 0; i < 5; i++)
        ESCAPE(malloc(5502));
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int own = !strcmp(argv[1], "own");
    if (own) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = on_usr2;
        if (sigaction(SIGUSR2, &sa, NULL) != 0)
            return 3;
    }
    before_signal();
    if (say_ready(argv[2]) != 0)
        return 4;
    struct timespec ms = { 0, 5 * 1000 * 1000 };
    for (int i = 0; access(argv[3], F_OK) != 0; i++) {
        if (i > 6000) /* 30 s: the test is gone */
            return 5;
        nanosleep(&ms, NULL);
    }
    after_signal();
    if (own) {
        static const char msg[] = "handled SIGUSR2\n";
        if (!handled)
            return 7;
        if (write(1, msg, sizeof(msg) - 1) != (ssize_t)(sizeof(msg) - 1))
            return 6;
    }
    return 0;
}
