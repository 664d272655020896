/*
 * exec_a.c - allocates, then execs exec_b, for the `exec` integration tests. No stdio.
 *
 *   exec_a root EXEC_B    before_exec leaks 2 x 60001, then execv(EXEC_B) in this pid
 *   exec_a child EXEC_B   fork; the child's child_before_exec leaks 1 x 60003 and
 *                         execs EXEC_B; the parent waits, then parent_after_fork leaks
 *                         1 x 60004
 *   exec_a fail           before_failed_exec leaks 1 x 60005, execv of a path that does
 *                         not exist fails, then after_failed_exec leaks 1 x 60006
 *   exec_a spawn EXEC_B   twice: fork, and the child execs EXEC_B at once, allocating
 *                         nothing in between (as posix_spawn, subprocess); then
 *                         parent_after_fork leaks 1 x 60004
 *   exec_a spawnfail      fork; the child's execv of a path that does not exist fails
 *                         at once, then child_after_failed_exec leaks 1 x 60007 and the
 *                         child _exits 0; the parent waits
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void before_exec(void)
{
    for (int i = 0; i < 2; i++)
        ESCAPE(malloc(60001));
}

__attribute__((noipa)) static void child_before_exec(void)
{
    ESCAPE(malloc(60003));
}

__attribute__((noipa)) static void parent_after_fork(void)
{
    ESCAPE(malloc(60004));
}

__attribute__((noipa)) static void before_failed_exec(void)
{
    ESCAPE(malloc(60005));
}

__attribute__((noipa)) static void after_failed_exec(void)
{
    ESCAPE(malloc(60006));
}

__attribute__((noipa)) static void child_after_failed_exec(void)
{
    ESCAPE(malloc(60007));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "root") && argc > 2) {
        char *args[] = { argv[2], NULL };
        before_exec();
        execv(argv[2], args);
        return 99;
    }
    if (!strcmp(argv[1], "child") && argc > 2) {
        char *args[] = { argv[2], NULL };
        pid_t pid = fork();
        int st;
        if (pid < 0)
            return 2;
        if (pid == 0) {
            child_before_exec();
            execv(argv[2], args);
            _exit(99);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 3;
        parent_after_fork();
        return 0;
    }
    if (!strcmp(argv[1], "spawn") && argc > 2) {
        char *args[] = { argv[2], NULL };
        for (int i = 0; i < 2; i++) {
            int st;
            pid_t pid = fork();
            if (pid < 0)
                return 2;
            if (pid == 0) {
                execv(argv[2], args);
                _exit(99);
            }
            if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 3;
        }
        parent_after_fork();
        return 0;
    }
    if (!strcmp(argv[1], "spawnfail")) {
        char *args[] = { "heapspan-no-such-program", NULL };
        int st;
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            execv("/nonexistent/heapspan-no-such-program", args);
            child_after_failed_exec();
            _exit(0);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 3;
        return 0;
    }
    if (!strcmp(argv[1], "fail")) {
        char *args[] = { "heapspan-no-such-program", NULL };
        before_failed_exec();
        if (execv("/nonexistent/heapspan-no-such-program", args) == 0)
            return 4;
        after_failed_exec();
        return 0;
    }
    return 2;
}
