/*
 * sighandler.c - signal handlers that allocate, for the `sighandler` integration test.
 * No stdio. Argument: a file to write the counts to.
 *
 * 1. on_usr1 mallocs 6101 bytes and keeps the block; raise(SIGUSR1) 10 times from
 *    main, outside any allocator call: all 10 are recorded.
 * 2. A 200 us interval timer runs on_alarm (malloc(6103), kept) while main spends
 *    300 ms in a loop of malloc(1003)/free pairs, so some signals land inside the shim
 *    (the shim drops and counts those). 1003 bytes comes from glibc's per-thread cache,
 *    which takes no lock: a handler's malloc cannot deadlock on main's arena lock.
 *    Afterwards main does 100 more pairs, then writes "ALARMS LOOPS\n": recorded 6103
 *    blocks + lost events = ALARMS, and 1003-byte allocations = LOOPS + 100.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

#define MAX_ALARMS 100000
static void *usr1_blocks[10];
static volatile sig_atomic_t n_usr1;
static void *alarm_blocks[MAX_ALARMS];
static volatile sig_atomic_t n_alarms;

__attribute__((noipa)) static void on_usr1(int sig)
{
    (void)sig;
    if (n_usr1 < 10)
        usr1_blocks[n_usr1] = malloc(6101);
    n_usr1++;
}

__attribute__((noipa)) static void on_alarm(int sig)
{
    (void)sig;
    if (n_alarms < MAX_ALARMS) {
        alarm_blocks[n_alarms] = malloc(6103);
        n_alarms++;
    }
}

__attribute__((noipa)) static void pair(void)
{
    void *p = malloc(1003);
    ESCAPE(p);
    free(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    long loops = 0;

    if (argc < 2)
        return 2;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_usr1;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return 3;
    for (int i = 0; i < 10; i++)
        raise(SIGUSR1);
    if (n_usr1 != 10)
        return 4;

    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        return 3;
    pair(); /* the thread cache now holds a 1003-byte block */
    loops++;
    struct itimerval it = { { 0, 200 }, { 0, 200 } };
    setitimer(ITIMER_REAL, &it, NULL);
    double end = now_s() + 0.3;
    while (now_s() < end) {
        for (int i = 0; i < 64; i++)
            pair();
        loops += 64;
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < 100; i++)
        pair();

    char line[64];
    int len = snprintf(line, sizeof(line), "%d %ld\n", (int)n_alarms, loops);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0)
        return 5;
    ESCAPE(usr1_blocks);
    ESCAPE(alarm_blocks);
    return 0;
}
