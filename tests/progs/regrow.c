/*
 * regrow.c - resizes of blocks the log already knows, for the `regrow` integration test.
 * No stdio.
 *   start_buffer: malloc(1000); grow_buffer then grows it by 1000 bytes at a time, in 100
 *     reallocs, to 101,000 bytes, and it is left live at exit.
 *   zeroed_block: calloc of 4 MiB (picked for zero counting with probability 1 - e^-16);
 *     grow_zeroed reallocs it to 5 MiB and fills the new MiB with 0xab; then freed.
 */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

#define MIB (1024 * 1024)

__attribute__((noipa)) static char *start_buffer(void)
{
    char *b = malloc(1000);
    ESCAPE(b);
    return b;
}

__attribute__((noipa)) static char *grow_buffer(char *b, size_t size)
{
    b = realloc(b, size);
    ESCAPE(b);
    return b;
}

__attribute__((noipa)) static char *zeroed_block(void)
{
    char *b = calloc(4, MIB);
    ESCAPE(b);
    return b;
}

__attribute__((noipa)) static char *grow_zeroed(char *b)
{
    b = realloc(b, 5 * MIB);
    ESCAPE(b);
    if (b != NULL)
        memset(b + 4 * MIB, 0xab, MIB);
    return b;
}

int main(void)
{
    char *buffer = start_buffer();
    for (size_t size = 2000; size <= 101000 && buffer != NULL; size += 1000)
        buffer = grow_buffer(buffer, size);
    ESCAPE(buffer);

    char *z = zeroed_block();
    if (z != NULL)
        z = grow_zeroed(z);
    free(z);
    return 0;
}
