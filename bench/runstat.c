/*
 * runstat.c - run a command and write "wall_s user_s sys_s maxrss_kb status" to OUTFILE.
 * The counters /usr/bin/time -f '%e %U %S %M' prints, but to the microsecond instead of
 * 10 ms: a plain churn run takes 0.1 s, so 10 ms steps would be a 10 % error.
 *
 * The rusage comes from wait4() on the child, so it covers the child and every descendant
 * it waited for (a profiler's own processes); maxrss is the largest single process
 * among them, not a sum. status is the exit code, or 128 + the signal number.
 *
 * usage: runstat OUTFILE CMD [ARGS...]
 * Exits with the command's status, or 2 if it could not run or OUTFILE could not be
 * written (127 from the child when exec fails, as a shell does).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv_secs(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    struct timespec t0, t1;
    struct rusage ru;
    pid_t pid;
    FILE *f;
    int st, rc;

    if (argc < 3) {
        fprintf(stderr, "usage: runstat OUTFILE CMD [ARGS...]\n");
        return 2;
    }
    /* Open before the run, so an unwritable OUTFILE costs nothing and loses no run. */
    f = fopen(argv[1], "w");
    if (f == NULL) {
        fprintf(stderr, "runstat: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "runstat: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        fclose(f);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "runstat: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    while (wait4(pid, &st, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "runstat: wait4: %s\n", strerror(errno));
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    fprintf(f, "%.6f %.6f %.6f %ld %d\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
            tv_secs(ru.ru_utime), tv_secs(ru.ru_stime), ru.ru_maxrss, rc);
    if (fclose(f) != 0) {
        fprintf(stderr, "runstat: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    return rc;
}
