/*
 * fewfds.c - a program that needs every descriptor its limit allows, for the `fewfds`
 * integration test: run with RLIMIT_NOFILE at 5, it opens /dev/null twice (descriptors 3
 * and 4) and must get both under the shim as it does without. No stdio.
 *
 * usage: fewfds N
 * fd_keep: 3 x malloc(7201), kept; then N opens of /dev/null, kept; then a fork, whose
 * child - every descriptor taken - mallocs 7202 bytes in fd_child, keeps them, and exits
 * 0. Exit status 0 when all N opens succeeded and the child exited 0, 5 when an open
 * failed, 6 when the child did not exit 0.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void fd_keep(void)
{
    for (int i = 0; i < 3; i++)
        ESCAPE(malloc(7201));
}

__attribute__((noipa)) static void fd_child(void)
{
    ESCAPE(malloc(7202));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    fd_keep();
    for (int i = 0, n = atoi(argv[1]); i < n; i++)
        if (open("/dev/null", O_RDONLY) < 0)
            return 5;
    pid_t pid = fork();
    if (pid < 0)
        return 6;
    if (pid == 0) {
        fd_child();
        exit(0);
    }
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 6;
}
