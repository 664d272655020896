/* api_bracket.c - an allocator that takes its blocks from malloc and reports them,
 * each malloc and free inside heapspan_ignore_begin/end, as bindings/rust's
 * Tracked<System> does: 20,000 blocks of 256 bytes, all freed but the last 100. Each
 * block must count once in every figure, sampled too: under --sample the bytes malloc's
 * hook counts down inside the brackets are given back, so the reports alone are
 * sampled, at the rate their weights assume. No stdio. */
#include <stdlib.h>
#include <unistd.h>

#include "include/heapspan.h"

static void *my_alloc(size_t n)
{
    heapspan_ignore_begin();
    void *p = malloc(n);
    heapspan_ignore_end();
    return p;
}

static void my_free(void *p)
{
    heapspan_ignore_begin();
    free(p);
    heapspan_ignore_end();
}

static void *volatile sink;

int main(void)
{
    for (int i = 0; i < 20000; i++) {
        char *p = my_alloc(256);
        heapspan_alloc(p, 256); /* @bracket_block */
        p[0] = (char)i;
        sink = p;
        if (i < 19900) {
            heapspan_free(p);
            my_free(p);
        }
    }
    return write(1, "api_bracket: done\n", 18) == 18 ? 0 : 1;
}
