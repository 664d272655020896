/*
 * forks.c - a parent and 4 children, each with its own known leak, for the `fork` and
 * `no_follow` integration tests. No stdio.
 *
 *   parent: malloc(70000) before the forks (inherited by every child), freed at the
 *           end; then parent_leak: 5 x 70050, never freed.        6 allocs, 1 free
 *   child i (1..4): child_leak: i x (70000 + i), never freed; one 70100 + i block
 *           malloc'd and freed; free() of the inherited 70000 block (unknown to the
 *           child's log); exit(0).             i + 1 allocs, 1 free, 1 unknown free
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void child_leak(int i)
{
    for (int k = 0; k < i; k++)
        ESCAPE(malloc(70000 + (size_t)i));
}

__attribute__((noipa)) static void child_churn(int i)
{
    void *p = malloc(70100 + (size_t)i);
    ESCAPE(p);
    free(p);
}

__attribute__((noipa)) static void parent_leak(void)
{
    for (int k = 0; k < 5; k++)
        ESCAPE(malloc(70050));
}

int main(void)
{
    void *inherited = malloc(70000);
    pid_t kids[4];

    ESCAPE(inherited);
    for (int i = 1; i <= 4; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            child_leak(i);
            child_churn(i);
            free(inherited);
            exit(0);
        }
        kids[i - 1] = pid;
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        int st;
        if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad = 1;
    }
    parent_leak();
    free(inherited);
    return bad ? 3 : 0;
}
