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
 * Sampled logs (sample_bytes R > 0): each recorded block of s bytes stands for
 * 1 / (1 - exp(-s/R)) blocks, as in jemalloc's unbiasing; every count and byte total
 * is then an unbiased estimate.
 */
#ifndef HEAPSPAN_AGGREGATE_H
#define HEAPSPAN_AGGREGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/reader.h"
#include "analyzer/symbolize.h"

#define AGG_HIST_BUCKETS 40 /* log2 size classes: [2^k, 2^(k+1)) */

/* Numbers for one site, function or line. Doubles: estimates in sampled logs. */
struct agg_stats {
    double allocations, allocated_bytes;
    double frees;
    double peak_live_bytes;                  /* live at the moment of the global peak */
    double leaked_bytes, leaked_allocations; /* live at the end of the log (or window) */
    double temporary_allocations;            /* freed before the thread allocated anything else */
    double max_live_blocks;                  /* the site's own largest live block count */
    double slack_bytes;                    /* allocator's usable size minus requested, allocated */
    double zero_sampled_bytes, zero_bytes; /* contents of the blocks sampled for zeros */
    double hist[AGG_HIST_BUCKETS];
    uint64_t common_size; /* the size of most allocations, if >= 90% share one; else 0 */
};

struct agg_frame {
    const char *function; /* NULL: unknown; shown as module+0xoffset */
    const char *file;
    int line;
    const char *module;
    uint64_t module_offset;
    bool inlined;
};

struct agg_site {
    struct agg_stats st;
    int n_frames;
    const struct agg_frame *const *frames; /* innermost first, after trimming; the frame
                                            * structs are shared between sites */
    uint64_t first_pc;                     /* the call into the allocator, for struct lookup */
    const struct rd_module *module;        /* of first_pc */
};

/* A row of the by-function or by-line tables: the innermost frame's function, or its
 * function + file + line. */
struct agg_group {
    struct agg_stats st;
    const char *function, *file, *module;
    int line;
    int n_sites;
};

/* A size of block held in large numbers, and the types DWARF knows of that size. */
struct agg_bloat {
    uint64_t size;
    double blocks_at_peak; /* of this size, at the global peak, from these sites */
    double bytes_at_peak;
    double slack_bytes_per_block;
    double zero_share; /* -1 when no block of these sites was sampled */
    int n_sites;
    int sites[8]; /* indexes into agg_sites() */
    int n_types;
    const struct sym_struct *types;
};

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
const struct agg_site *agg_site(const struct agg *a, int i);
int agg_n_functions(const struct agg *a);
const struct agg_group *agg_function(const struct agg *a, int i);
int agg_n_lines(const struct agg *a);
const struct agg_group *agg_line(const struct agg *a, int i);
int agg_n_bloats(const struct agg *a);
const struct agg_bloat *agg_bloat(const struct agg *a, int i);

/* Usable size the allocator gives for a request of size bytes (glibc's or
 * jemalloc's size classes), for the slack figures. */
uint64_t agg_usable_size(uint64_t size, bool jemalloc);

void agg_free(struct agg *a);

#endif
