/*
 * livezero.c - blocks still live at exit whose zero bytes are counted, for the
 * `livezero` integration test. No stdio. Both blocks are picked for zero counting with
 * probability at least 1 - e^-16 (full-trace mode picks one per 256 KiB allocated).
 *   keep_4mib: calloc of 4 MiB; 16 bytes of 0xee at the start of every 64 KiB, and its
 *     second half all 0x77.
 *   keep_64mib: calloc of 64 MiB; 16 bytes of 0xee at the start of every MiB.
 */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

#define KIB 1024
#define MIB (1024 * 1024)

__attribute__((noipa)) static char *keep_4mib(void)
{
    char *b = calloc(4, MIB);
    ESCAPE(b);
    if (b != NULL) {
        for (size_t at = 0; at < 4 * MIB; at += 64 * KIB)
            memset(b + at, 0xee, 16);
        memset(b + 2 * MIB, 0x77, 2 * MIB);
    }
    return b;
}

__attribute__((noipa)) static char *keep_64mib(void)
{
    char *b = calloc(64, MIB);
    ESCAPE(b);
    if (b != NULL)
        for (size_t at = 0; at < 64 * MIB; at += MIB)
            memset(b + at, 0xee, 16);
    return b;
}

int main(void)
{
    ESCAPE(keep_4mib());
    ESCAPE(keep_64mib());
    return 0;
}
