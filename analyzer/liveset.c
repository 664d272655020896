/* liveset.c - see liveset.h. Linear probing with backward-shift deletion (no
 * tombstones), so long runs of malloc/free never degrade lookups. */
#include "liveset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ls_map {
    struct ls_block *slots;
    uint64_t cap, n;
    int shift; /* 64 - log2(cap) */
};

/* Fibonacci hashing: the product's high bits depend on every bit of the address (the
 * low ones of 16-byte-aligned blocks carry nothing). */
static inline uint64_t slot_of_m(const struct ls_map *m, uint64_t addr)
{
    return (addr * 0x9E3779B97F4A7C15ull) >> m->shift;
}

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

static int grow(struct ls_map *m)
{
    struct ls_map g = { NULL, m->cap * 2, m->n, m->shift - 1 };
    g.slots = calloc(g.cap, sizeof(*g.slots));
    if (g.slots == NULL)
        return -ENOMEM;
    for (uint64_t i = 0; i < m->cap; i++) {
        if (m->slots[i].addr == 0)
            continue;
        uint64_t j = slot_of_m(&g, m->slots[i].addr);
        while (g.slots[j].addr != 0)
            j = (j + 1) & (g.cap - 1);
        g.slots[j] = m->slots[i];
    }
    free(m->slots);
    *m = g;
    return 0;
}

int ls_put(struct ls_map *m, const struct ls_block *b, struct ls_block *old)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return -ENOMEM;
    uint64_t j = slot_of_m(m, b->addr);
    while (m->slots[j].addr != 0 && m->slots[j].addr != b->addr)
        j = (j + 1) & (m->cap - 1);
    int replaced = m->slots[j].addr != 0;
    if (replaced && old != NULL)
        *old = m->slots[j];
    if (!replaced)
        m->n++;
    m->slots[j] = *b;
    return replaced;
}

const struct ls_block *ls_get(const struct ls_map *m, uint64_t addr)
{
    uint64_t j = slot_of_m(m, addr);
    while (m->slots[j].addr != 0) {
        if (m->slots[j].addr == addr)
            return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

bool ls_take(struct ls_map *m, uint64_t addr, struct ls_block *out)
{
    uint64_t mask = m->cap - 1, j = slot_of_m(m, addr);

    while (m->slots[j].addr != addr) {
        if (m->slots[j].addr == 0)
            return false;
        j = (j + 1) & mask;
    }
    *out = m->slots[j];
    /* Backward-shift: move later members of the run into the hole when their home
     * slot does not lie cyclically in (hole, their slot]. */
    uint64_t hole = j;
    for (uint64_t k = (j + 1) & mask; m->slots[k].addr != 0; k = (k + 1) & mask) {
        uint64_t home = slot_of_m(m, m->slots[k].addr);
        bool stays = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
        if (!stays) {
            m->slots[hole] = m->slots[k];
            hole = k;
        }
    }
    m->slots[hole].addr = 0;
    m->n--;
    return true;
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
