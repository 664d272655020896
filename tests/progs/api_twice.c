/* api_twice.c - a pointer malloc returned, reported again through include/heapspan.h.
 * The rule (include/heapspan.h, docs/api.md): one address is one block, so live and
 * leaked bytes count it once; bracketed with heapspan_ignore_begin/end, the malloc is
 * not recorded at all and the block counts once in every figure.
 *
 * Known truth (tests/api-tests.sh, markers below):
 *   unbracketed: malloc(100) @twice_malloc, reported @twice_api, then heapspan_free and
 *     free: 2 allocations, the malloc's ended when the report replaced it, and the
 *     free() after heapspan_free counted as 1 unknown free;
 *     malloc(200) @twice_malloc_leak reported @twice_api_leak, never freed: 200 bytes
 *     leaked, at @twice_api_leak only;
 *   bracketed: malloc(300) unrecorded, reported @twice_bracketed, never freed.
 * Leaked in all: 500 bytes in 2 blocks. No stdio: these are the only allocations.
 */
#include <stdlib.h>
#include <unistd.h>

#include "include/heapspan.h"

static __attribute__((noinline)) void unbracketed(void)
{
    char *p = malloc(100);  /* @twice_malloc */
    heapspan_alloc(p, 100); /* @twice_api */
    p[0] = 1;
    heapspan_free(p);
    free(p);
    char *q = malloc(200);  /* @twice_malloc_leak */
    heapspan_alloc(q, 200); /* @twice_api_leak */
    q[0] = 2;
}

static __attribute__((noinline)) void bracketed(void)
{
    heapspan_ignore_begin();
    char *r = malloc(300);
    heapspan_ignore_end();
    heapspan_alloc(r, 300); /* @twice_bracketed */
    r[0] = 3;
}

int main(void)
{
    unbracketed();
    bracketed();
    return write(1, "api_twice: done\n", 16) == 16 ? 0 : 1;
}
