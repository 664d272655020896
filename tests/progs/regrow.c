/*
 * regrow.c - resizes of blocks the log already knows, for the `regrow` integration test.
 * No stdio.
 *   start_buffer: malloc(1000); grow_buffer then grows it by 1000 bytes at a time, in 100
 *     reallocs, to 101,000 bytes, and it is left live at exit.
 *   zeroed_block: calloc of 4 MiB (picked for zero counting with probability 1 - e^-16);
 *     grow_zeroed reallocs it to 5 MiB and fills the new MiB with 0xab; then freed.
 *   small_block: malloc(16), 16 bytes of 0xcd (picked with probability 6e-5); grow_small
 *     reallocs it to 8 MiB (its growth is picked with probability 1 - e^-32) and zeroes
 *     the rest of its first 4 KiB; then freed.
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

__attribute__((noipa)) static char *small_block(void)
{
    char *b = malloc(16);
    ESCAPE(b);
    if (b != NULL)
        memset(b, 0xcd, 16);
    return b;
}

__attribute__((noipa)) static char *grow_small(char *b)
{
    b = realloc(b, 8 * MIB);
    ESCAPE(b);
    if (b != NULL)
        memset(b + 16, 0, 4096 - 16);
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

    char *s = small_block();
    if (s != NULL)
        s = grow_small(s);
    free(s);
    return 0;
}
