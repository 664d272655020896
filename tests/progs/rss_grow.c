/*
 * rss_grow.c - for the rss_kill test (tests/diff-tests.sh): grow_rss() allocates MB
 * blocks of 1 MiB and writes to every page of each, one block every 5 ms, so that the
 * resident set grows by MB MiB through one call site; then READY is written (this pid)
 * and the program waits to be killed (it gives up after 30 s). No stdio.
 * Arguments: MB READY.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ready.h"

static void *volatile sink;

__attribute__((noipa)) static void grow_rss(int mb)
{
    struct timespec pause = { 0, 5 * 1000 * 1000 };
    for (int i = 0; i < mb; i++) {
        char *p = malloc(1 << 20);
        if (p == NULL)
            exit(3);
        memset(p, 1, 1 << 20);
        sink = p;
        nanosleep(&pause, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    grow_rss(atoi(argv[1]));
    if (say_ready(argv[2]) != 0)
        return 4;
    struct timespec ms = { 0, 5 * 1000 * 1000 };
    for (int i = 0; i < 6000; i++)
        nanosleep(&ms, NULL);
    return 5;
}
