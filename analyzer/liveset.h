/*
 * liveset.h - the blocks live at a point of a log: address -> (size, stack, owner
 * value). An open-addressing hash map that grows; memory is proportional to the live
 * blocks, never to the log's length. One thread; allocates; ls_put fails with -ENOMEM.
 *
 * Linear probing with backward-shift deletion (no tombstones), so long runs of
 * malloc/free never degrade lookups. ls_put, ls_take and ls_get are here, inline: they
 * run once per event, in the analyzer's hottest loop.
 *
 * Not util/hashmap.h, on purpose: this map is the analyzer's hottest structure and its
 * largest. The block is its own key (address 0 marks an empty slot), so a slot is 24
 * bytes where the generic map adds an 8-byte hash to each; an address hashes with one
 * multiply and compares as one integer, with no callback; and half of all events are
 * frees, which need the deletion the generic map, add-only, does not have.
 */
#ifndef HEAPSPAN_LIVESET_H
#define HEAPSPAN_LIVESET_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 24 bytes: the map is the analyzer's largest structure and its hottest. */
struct ls_block {
    uint64_t addr; /* 0: empty slot */
    uint64_t size;
    uint32_t stack; /* stack id */
    float weight;   /* blocks this one stands for (1 unless the log is sampled) */
};

/* Only this module's functions use the fields. */
struct ls_map {
    struct ls_block *slots;
    uint64_t cap, n;
    int shift; /* 64 - log2(cap) */
};

struct ls_map *ls_new(void);
uint64_t ls_count(const struct ls_map *m);
/* Iteration: i from 0 while ls_iter returns non-NULL. */
const struct ls_block *ls_iter(const struct ls_map *m, uint64_t *i);
void ls_free(struct ls_map *m);
/* Doubles the slots; for ls_put. */
int ls_grow(struct ls_map *m);

/* Fibonacci hashing: the product's high bits depend on every bit of the address (the
 * low ones of 16-byte-aligned blocks carry nothing). */
static inline uint64_t ls_slot_of(const struct ls_map *m, uint64_t addr)
{
    return (addr * 0x9E3779B97F4A7C15ull) >> m->shift;
}

/* Inserts the block at b->addr: 0, or 1 if it replaced one (copied to *old when old
 * is not NULL), or -ENOMEM. One probe does both. */
static inline int ls_put(struct ls_map *m, const struct ls_block *b, struct ls_block *old)
{
    if ((m->n + 1) * 2 > m->cap && ls_grow(m) < 0)
        return -ENOMEM;
    uint64_t j = ls_slot_of(m, b->addr);
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

/* Removes the block at addr into *out; false if absent. */
static inline bool ls_take(struct ls_map *m, uint64_t addr, struct ls_block *out)
{
    uint64_t mask = m->cap - 1, j = ls_slot_of(m, addr);

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
        uint64_t home = ls_slot_of(m, m->slots[k].addr);
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

static inline const struct ls_block *ls_get(const struct ls_map *m, uint64_t addr)
{
    uint64_t j = ls_slot_of(m, addr);
    while (m->slots[j].addr != 0) {
        if (m->slots[j].addr == addr)
            return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

#endif
