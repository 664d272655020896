/*
 * exec_b.c - the image exec_a execs, for the `exec` integration tests: after_exec leaks
 * 3 x 60002 bytes. No stdio.
 */
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void after_exec(void)
{
    for (int i = 0; i < 3; i++)
        ESCAPE(malloc(60002));
}

int main(void)
{
    after_exec();
    return 0;
}
