/*
 * proctitle.c - a program that writes its title over its arguments, as setproctitle
 * does in servers' master processes, and then forks: the child's log must give the
 * arguments as the argv area now holds them, never the environment that follows it
 * (the `proctitle` integration test). No stdio.
 *
 * usage: proctitle ARG...
 * Fills the whole argv area - from argv[0] to the end of the last argument, its final NUL
 * included - with "proctitle-master" and then spaces, no NUL anywhere; forks; the child
 * mallocs 7301 bytes in title_child, keeps them, and exits 0. Exit status 0 when the
 * child did.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void title_child(void)
{
    ESCAPE(malloc(7301));
}

int main(int argc, char **argv)
{
    static const char title[] = "proctitle-master";
    char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;

    if ((size_t)(end - start) < sizeof(title))
        return 2;
    memset(start, ' ', (size_t)(end - start));
    memcpy(start, title, sizeof(title) - 1);
    pid_t pid = fork();
    if (pid < 0)
        return 3;
    if (pid == 0) {
        title_child();
        exit(0);
    }
    int status;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4;
}
