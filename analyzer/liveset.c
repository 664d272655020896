/* liveset.c - see liveset.h. */
#include "analyzer/liveset.h"

#include <stdlib.h>

struct ls_map *ls_new(void)
{
    struct ls_map *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->cap = 1024;
    m->shift = 64 - 10;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

int ls_grow(struct ls_map *m)
{
    struct ls_map g = { NULL, m->cap * 2, m->n, m->shift - 1 };
    g.slots = calloc(g.cap, sizeof(*g.slots));
    if (g.slots == NULL)
        return -ENOMEM;
    for (uint64_t i = 0; i < m->cap; i++) {
        if (m->slots[i].addr == 0)
            continue;
        uint64_t j = ls_slot_of(&g, m->slots[i].addr);
        while (g.slots[j].addr != 0)
            j = (j + 1) & (g.cap - 1);
        g.slots[j] = m->slots[i];
    }
    free(m->slots);
    *m = g;
    return 0;
}

uint64_t ls_count(const struct ls_map *m)
{
    return m->n;
}

const struct ls_block *ls_iter(const struct ls_map *m, uint64_t *i)
{
    while (*i < m->cap) {
        const struct ls_block *b = &m->slots[(*i)++];
        if (b->addr != 0)
            return b;
    }
    return NULL;
}

void ls_free(struct ls_map *m)
{
    if (m == NULL)
        return;
    free(m->slots);
    free(m);
}
