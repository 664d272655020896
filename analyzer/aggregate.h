/*
 * aggregate.h - reader items -> call sites: allocations, bytes, peak contribution,
 * leaks, temporaries, size histograms, allocator slack, zero-byte shares; then
 * symbolized, trimmed of profiler and allocator frames, and merged so that identical
 * symbolized stacks are one site. Also the same numbers by function and by line.
 *
 * The accounting itself is analyzer/replay.h's: the aggregator feeds it, and after the
 * items turns its figures per stack id into figures per site at the replay's point
 * (the end, the peak, marker N or time T; agg_stop_at). Frames are interned by a typed
 * key - (function, file, line, module, inlined), or (module, offset) when the function
 * is unknown - and a site is keyed by its sequence of frame ids: no stack is ever
 * turned into text, so names of any length stay apart. Sites whose leaks are set apart
 * (analyzer/suppress.h: the C runtime's, the user's suppressions) keep their live
 * blocks and leak nothing.
 *
 * Called from one thread: agg_new, agg_stop_at and agg_set_rules (optional), agg_feed
 * for each item in time order, agg_finish (symbolizes; needs the log's stacks and
 * modules), then read the results; agg_free frees everything. Allocates; fails with
 * -ENOMEM. Memory is proportional to live blocks, distinct stacks and threads, not to
 * the number of events.
 *
 * The results are the model's types (analyzer/model.h), filled in place:
 * agg_fill_model hands them to a model without a copy. Only the totals are the
 * aggregate's own, in the log's ticks.
 *
 * A second pass over the same log (snapshots at every marker): a finished aggregate
 * turns another replay's figures, at any moment, into a point of its own
 * (agg_point_new), with the same frames and sites; stacks the first pass never saw
 * are symbolized then, with the reader and symbolizer agg_finish was given (both must
 * stay open until the aggregate is freed).
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
#include "analyzer/replay.h"
#include "analyzer/suppress.h"
#include "analyzer/symbolize.h"
#include "analyzer/wrappers.h"

struct agg_totals {
    double allocations, frees, allocated_bytes;
    double peak_live_bytes;
    uint64_t peak_time;                      /* ticks */
    double leaked_bytes, leaked_allocations; /* live at the point, less what is set apart */
    double live_bytes, live_blocks;
    double runtime_bytes, runtime_allocations;
    double suppressed_bytes, suppressed_allocations;
    double temporary_allocations;
    uint64_t lost_events;
    uint64_t unknown_frees; /* frees of blocks never seen allocated (before recording) */
    uint64_t first_time, last_time;
    uint64_t markers;
    bool sampled;
    uint64_t sample_bytes;
};

struct agg;

struct agg *agg_new(const struct rd_header *h) __attribute__((warn_unused_result));
/* Before the first agg_feed (replay.h's points): 0 or -EINVAL. */
int agg_stop_at(struct agg *a, const struct rp_point *pt) __attribute__((warn_unused_result));
/* Whose leaks are set apart; NULL (the default): nobody's. Kept, not copied. */
void agg_set_rules(struct agg *a, const struct sup_rules *rules);
/* Which frames are allocator wrappers (wrappers.h); NULL: the built-in lists and
 * detection. Kept, not copied. Before the first agg_feed. */
void agg_set_wrappers(struct agg *a, const struct wrap_rules *w);
/* 0 or -ENOMEM. Items after the point are read and ignored. */
int agg_feed(struct agg *a, const struct rd_item *it) __attribute__((warn_unused_result));
/* Symbolizes and merges. sym may be NULL (frames stay module+offset). */
/* Python frames in the stacks (format/logfmt.h, LF_PY_FRAME) replace the interpreter's
 * own frames - every frame of the module that runs its evaluation loop, in a stack
 * that has Python frames - unless on (before agg_finish). */
void agg_set_python_internals(struct agg *a, bool on);

/* What the stacks' Python frames came to (after agg_finish). */
struct agg_python {
    bool frames_seen;        /* a site has Python frames */
    uint64_t dropped_frames; /* frames the shim could not validate, over distinct stacks */
    uint64_t dropped_stacks; /* distinct stacks that lost some */
};
const struct agg_python *agg_python(const struct agg *a);

int agg_finish(struct agg *a, struct rd_log *r, struct sym_cache *sym)
    __attribute__((warn_unused_result));
/* Where the point fell (after agg_finish): a marker or time may be beyond the log. */
const struct rp_where *agg_where(const struct agg *a);

const struct agg_totals *agg_totals(const struct agg *a);
/* The live total over time, up to the point (replay.h). */
const struct rp_timeline *agg_timeline(const struct agg *a);
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

/* The sites, functions, lines, bloats and totals of another replay of the same log,
 * as that replay stands (a struct agg_point, freed with agg_point_free before the
 * aggregate). a must be finished. 0 or -ENOMEM. */
struct agg_point;
int agg_point_new(struct agg *a, const struct replay *p, struct agg_point **out)
    __attribute__((warn_unused_result));
const struct agg_totals *agg_point_totals(const struct agg_point *pt);
void agg_point_fill_model(const struct agg_point *pt, struct model *m);
void agg_point_free(struct agg_point *pt);

/* The by-function and by-line rows of sites (model.h's struct model_group), in the
 * order their first site comes: by the innermost frame's function and module (its
 * module and offset when unknown), and by that frame itself. Allocates both arrays
 * (free them with free()); 0 or -ENOMEM (then none is left allocated). */
int agg_group_sites(const struct model_site *sites, int n_sites, struct model_group **funcs,
                    int *n_funcs, struct model_group **lines, int *n_lines)
    __attribute__((warn_unused_result));

/* Usable size the allocator gives for a request of size bytes (glibc's or
 * jemalloc's size classes), for the slack figures. */
uint64_t agg_usable_size(uint64_t size, bool jemalloc);

void agg_free(struct agg *a);

/* What each thread did (replay.h's rp_threads), most bytes allocated first, ties by tid,
 * into *out (malloc'ed; the caller frees it): how many, or -ENOMEM. */
int agg_threads(const struct agg *a, struct model_thread **out);
/* The same for another replay (a second pass's). */
int agg_replay_threads(const struct replay *p, struct model_thread **out);

#endif
