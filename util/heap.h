/*
 * heap.h - a binary min-heap of pointers, ordered by the caller's "less" function: the
 * reader's merge of event chunks by time, and of its timed meta items. One thread per
 * heap; heap_push allocates (the array doubles) and fails with -ENOMEM, leaving the
 * heap as it was; heap_fini frees the array, never the items.
 *
 * The sift functions are inline and take less as an argument: with a constant less,
 * the compiler inlines it, so a heap here costs what a hand-written one for that type
 * did (the reader's merge runs them once per event chunk batch). Items are pointers,
 * so a sift moves 8 bytes, whatever the item. Equal items are not kept in insertion
 * order: make less a total order where that matters.
 */
#ifndef HEAPSPAN_UTIL_HEAP_H
#define HEAPSPAN_UTIL_HEAP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

typedef bool (*heap_less_fn)(const void *a, const void *b);

/* The caller reads items[0] (the least) and, for a look further down, items[1..n).
 * A zeroed struct heap is empty. */
struct heap {
    void **items;
    size_t n, cap;
};

/* Makes room for n items; 0 or -ENOMEM. */
int heap_reserve(struct heap *h, size_t n) __attribute__((warn_unused_result));
void heap_fini(struct heap *h);

/* Restores the order after items[i] became less than it was. */
static inline void heap_up(struct heap *h, size_t i, heap_less_fn less)
{
    void **v = h->items;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(v[i], v[p]))
            break;
        void *t = v[i];
        v[i] = v[p];
        v[p] = t;
        i = p;
    }
}

/* Restores the order after items[i] became greater than it was. */
static inline void heap_down(struct heap *h, size_t i, heap_less_fn less)
{
    void **v = h->items;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < h->n && less(v[l], v[m]))
            m = l;
        if (l + 1 < h->n && less(v[l + 1], v[m]))
            m = l + 1;
        if (m == i)
            break;
        void *t = v[i];
        v[i] = v[m];
        v[m] = t;
        i = m;
    }
}

static inline int heap_push(struct heap *h, void *item, heap_less_fn less)
{
    if (h->n == h->cap && heap_reserve(h, h->n + 1) < 0)
        return -ENOMEM;
    h->items[h->n++] = item;
    heap_up(h, h->n - 1, less);
    return 0;
}

/* The least item, or NULL when empty. */
static inline void *heap_top(const struct heap *h)
{
    return h->n > 0 ? h->items[0] : NULL;
}

/* Removes the least item (the heap must not be empty) and returns it. */
static inline void *heap_pop(struct heap *h, heap_less_fn less)
{
    void *top = h->items[0];
    h->items[0] = h->items[--h->n];
    if (h->n > 0)
        heap_down(h, 0, less);
    return top;
}

#endif
