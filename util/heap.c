/* heap.c - see heap.h. */
#include "util/heap.h"

#include <errno.h>
#include <stdlib.h>

int heap_reserve(struct heap *h, size_t n)
{
    if (n <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 64;
    while (cap < n)
        cap *= 2;
    void **items = realloc(h->items, cap * sizeof(*items));
    if (items == NULL)
        return -ENOMEM;
    h->items = items;
    h->cap = cap;
    return 0;
}

void heap_fini(struct heap *h)
{
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}
