/*
 * aggregate.h - reader items -> call sites: allocations, bytes, peak contribution,
 * leaks, temporaries, size histograms, allocator slack, zero-byte shares; then
 * symbolized, trimmed of profiler and allocator frames, and merged so that identical
 * symbolized stacks are one site. Also the same numbers by function and by line.
 *
 * Called from one thread: agg_new, agg_feed for each item in time order, agg_finish
 * (symbolizes; needs the log's stacks and modules), then read the results; agg_free
 * frees everything. Allocates; fails with -ENOMEM. Memory is proportional to live
 * blocks, distinct stacks and threads, not to the number of events.
 *
 * The results are the model's types (analyzer/model.h), filled in place:
 * agg_fill_model hands them to a model without a copy. Only the totals are the
 * aggregate's own, in the log's ticks.
 *
 * Sampled logs (sample_bytes R > 0): each recorded block of s bytes stands for
 * 1 / (1 - exp(-s/R)) blocks, as in jemalloc's unbiasing; every count and byte total
 * is then an unbiased estimate.
 */
#ifndef HEAPSPAN_AGGREGATE_H
#define HEAPSPAN_AGGREGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/model.h"
#include "analyzer/reader.h"
#include "analyzer/symbolize.h"

struct agg_totals {
    double allocations, frees, allocated_bytes;
    double peak_live_bytes;
    uint64_t peak_time; /* ticks */
    double leaked_bytes, leaked_allocations;
    double temporary_allocations;
    uint64_t lost_events;
    uint64_t unknown_frees; /* frees of blocks never seen allocated (before recording) */
    uint64_t first_time, last_time;
    uint64_t markers;
    bool sampled;
    uint64_t sample_bytes;
};

struct agg;

struct agg *agg_new(const struct rd_header *h);
int agg_feed(struct agg *a, const struct rd_item *it);
/* Symbolizes and merges. sym may be NULL (frames stay module+offset). */
int agg_finish(struct agg *a, struct rd_log *r, struct sym_cache *sym);

const struct agg_totals *agg_totals(const struct agg *a);
int agg_n_sites(const struct agg *a);
const struct model_site *agg_site(const struct agg *a, int i);
int agg_n_functions(const struct agg *a);
const struct model_group *agg_function(const struct agg *a, int i);
int agg_n_lines(const struct agg *a);
const struct model_group *agg_line(const struct agg *a, int i);
int agg_n_bloats(const struct agg *a);
const struct model_bloat *agg_bloat(const struct agg *a, int i);

/* Points m's sites, functions, lines and bloats at the aggregate's (valid until
 * agg_free, and the types' strings until sym_close); the rest of m is left as it is. */
void agg_fill_model(const struct agg *a, struct model *m);

/* Usable size the allocator gives for a request of size bytes (glibc's or
 * jemalloc's size classes), for the slack figures. */
uint64_t agg_usable_size(uint64_t size, bool jemalloc);

void agg_free(struct agg *a);

#endif
