/*
 * pools.h - pools of blocks a program reported through include/heapspan.h: which live
 * block belongs to which pool, so that a pool's reset (one LF_META_POOL record in the
 * log) becomes a free of each of its blocks; and, per pool name, the numbers a report
 * lists. The reader owns one and feeds it every item it hands out once the log has
 * shown a block reported through the API (reader.c, rd_next): the frees of a reset
 * come out of rd_next in the reset's place, so the aggregate, a dump, a replay - every
 * reader of items - sees them as frees with no code of its own. A reset here rather
 * than in the shim keeps the host free of per-pool bookkeeping: the analyzer already
 * tracks live blocks.
 *
 * One thread (the reader's caller). Allocates; pl_feed fails with -ENOMEM. Memory is
 * proportional to the live blocks of pools and the pools' handles and names.
 */
#ifndef HEAPSPAN_POOLS_H
#define HEAPSPAN_POOLS_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/model.h"
#include "analyzer/reader.h"

struct pl_tracker;

/* A tracker for a log sampled at sample_bytes (0: a full trace; blocks then weigh 1,
 * else as the aggregate weighs them); NULL when out of memory. */
struct pl_tracker *pl_new(uint64_t sample_bytes);

/* The start of a tracker, which rd_next reads for every item without a call (the
 * aggregate's hottest loop): only this module writes it. */
struct pl_head {
    uint64_t live;   /* blocks of pools live now */
    uint32_t queued; /* frees of the last reset not yet handed out */
};

/* Whether an item must be fed: every item of kind RD_POOL, every allocation reported
 * through the API (counted, and maybe a pool's), and every event at all while a block
 * of a pool is live (an address freed or reused is no longer the pool's). */
static inline bool pl_wants(const struct pl_tracker *t, const struct rd_item *it)
{
    const struct pl_head *h = (const struct pl_head *)(const void *)t;
    if (it->kind != RD_EVENT)
        return it->kind == RD_POOL;
    return h->live > 0 || (it->ev.fn == LF_FN_API && it->ev.type == LF_EV_ALLOC);
}

/* Whether pl_next_free has a free to hand out. */
static inline bool pl_queued(const struct pl_tracker *t)
{
    return ((const struct pl_head *)(const void *)t)->queued > 0;
}

/* Feeds one item, in the order rd_next hands them out. A reset (RD_POOL, op
 * LF_POOL_RESET) queues a free of each live block of the pool and sets it->count to
 * how many; others leave it as it is. 0 or -ENOMEM. */
int pl_feed(struct pl_tracker *t, struct rd_item *it);

/* The next queued free (pl_queued), as an RD_EVENT item: an LF_EV_FREE of fn LF_FN_API at the
 * reset's time and thread, its ev.pool the pool's handle (a FREE record in a log never
 * has one). false when none is queued. */
bool pl_next_free(struct pl_tracker *t, struct rd_item *out);

/* Allocations reported through the API (weighed as the aggregate weighs them). */
double pl_api_allocations(const struct pl_tracker *t);

/* The pools by name, most bytes allocated first, as of the items fed so far: blocks
 * still live count as leaked. Valid until the next pl_feed or pl_free. NULL (*n 0)
 * when there are none, or out of memory (*n -1). */
const struct model_pool *pl_pools(struct pl_tracker *t, int *n);

void pl_free(struct pl_tracker *t);

#endif
