/*
 * fewfds.c - a program that needs every descriptor its limit allows, for the `fewfds`
 * integration test: run with RLIMIT_NOFILE at 5, it opens /dev/null twice (descriptors 3
 * and 4) and must get both under the shim as it does without. No stdio.
 *
 * usage: fewfds N
 * fd_keep: 3 x malloc(7201), kept; then N opens of /dev/null, kept. Exit status 0 when
 * all N succeeded, 5 when one failed.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void fd_keep(void)
{
    for (int i = 0; i < 3; i++)
        ESCAPE(malloc(7201));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    fd_keep();
    for (int i = 0, n = atoi(argv[1]); i < n; i++)
        if (open("/dev/null", O_RDONLY) < 0)
            return 5;
    return 0;
}
