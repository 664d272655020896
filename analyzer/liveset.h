/*
 * liveset.h - the blocks live at a point of a log: address -> (size, stack, owner
 * value). An open-addressing hash map that grows; memory is proportional to the live
 * blocks, never to the log's length. One thread; allocates; ls_put fails with -ENOMEM.
 */
#ifndef HEAPSPAN_LIVESET_H
#define HEAPSPAN_LIVESET_H

#include <stdbool.h>
#include <stdint.h>

/* 24 bytes: the map is the analyzer's largest structure and its hottest. */
struct ls_block {
    uint64_t addr; /* 0: empty slot */
    uint64_t size;
    uint32_t stack; /* stack id */
    float weight;   /* blocks this one stands for (1 unless the log is sampled) */
};

struct ls_map;

struct ls_map *ls_new(void);
/* Inserts the block at b->addr: 0, or 1 if it replaced one (copied to *old when old
 * is not NULL), or -ENOMEM. One probe does both. */
int ls_put(struct ls_map *m, const struct ls_block *b, struct ls_block *old);
/* Removes the block at addr into *out; false if absent. */
bool ls_take(struct ls_map *m, uint64_t addr, struct ls_block *out);
const struct ls_block *ls_get(const struct ls_map *m, uint64_t addr);
uint64_t ls_count(const struct ls_map *m);
/* Iteration: i from 0 while ls_iter returns non-NULL. */
const struct ls_block *ls_iter(const struct ls_map *m, uint64_t *i);
void ls_free(struct ls_map *m);

#endif
