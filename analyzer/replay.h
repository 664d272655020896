/*
 * replay.h - the one live-block accounting engine: reader items in time order -> the
 * blocks live at each moment (analyzer/liveset.h), per stack id what its blocks did
 * (allocations, bytes, frees, temporaries, live bytes and blocks, the bytes it held at
 * the global peak, sizes, allocator slack, zero-byte samples), and the totals. The
 * aggregator (aggregate.c), snapshots (through the aggregator) and `heapspan dump
 * --live/--summary` stand on it: nothing else keeps a live-block map of a log.
 *
 * It answers for one point of the log, chosen before the first item (rp_stop_at): the
 * end (the default), the peak, marker N or time T. A point P describes the log as if
 * it ended at P: every figure counts the items up to P, the peak is the highest live
 * total up to P, and what is live at P is what rp_point_stack calls leaked.
 *  - marker N: the N-th marker item (1-based, every kind counted); it is counted, and
 *    every later item is ignored (rp_feed returns RP_PASSED).
 *  - time T (ticks): every item with a time up to T; the first later item stops it.
 *  - peak: known only at the end. The engine then keeps, per stack, a copy of its
 *    figures as they were at the latest peak, taken lazily: when a stack first changes
 *    after a new peak (one copy per change of a stack, not one per stack per peak).
 *    That costs a copy of a struct rp_stack on such changes; end, marker and time
 *    points cost nothing of the kind.
 * Besides its point, a caller may pause at every marker (rp_pause_at_markers): rp_feed
 * then returns RP_MARKER after counting one, and rp_point_stack / rp_point_totals
 * describe the log up to that marker until the next rp_feed.
 *
 * Called from one thread: rp_new, rp_stop_at (optional), rp_feed for each item in time
 * order, rp_finish, then the point's figures; rp_free. Allocates (memory proportional
 * to live blocks, stack ids and threads, never to events); rp_feed fails with -ENOMEM,
 * after which the engine can only be freed. Times are the log's ticks.
 *
 * Sampled logs (sample_bytes R > 0): a recorded block of s bytes stands for
 * 1 / (1 - exp(-s/R)) blocks, as in jemalloc's unbiasing, unless RP_UNWEIGHTED (for
 * `heapspan dump`, which counts records). The weight is kept as a float in the block,
 * so that a free takes away exactly what its allocation added.
 */
#ifndef HEAPSPAN_REPLAY_H
#define HEAPSPAN_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/liveset.h"
#include "analyzer/model.h"
#include "analyzer/reader.h"

#define RP_SIZE_SLOTS 4 /* distinct sizes kept per stack, for the common size */

enum rp_at {
    RP_AT_END = 0,
    RP_AT_PEAK,
    RP_AT_MARKER, /* marker: the N-th marker item, from 1 */
    RP_AT_TIME,   /* time: ticks */
};

struct rp_point {
    enum rp_at at;
    uint32_t marker;
    uint64_t time;
};

/* One stack id's figures. In st, peak_live_bytes, leaked_* and common_size are only
 * right in what rp_point_stack returns. */
struct rp_stack {
    struct model_stats st;
    double live_bytes, live_blocks;
    double live_samples; /* recorded blocks live (each stands for live_blocks / live_samples) */
    uint64_t first_time; /* of its first allocation (the module map at that time) */
    bool used;           /* it allocated at least once */
    /* The engine's own, below. */
    uint64_t ver; /* the peak version its figures were last saved under */
    uint64_t sizes[RP_SIZE_SLOTS];
    double size_counts[RP_SIZE_SLOTS];
    double other_sizes;
};

struct rp_totals {
    double allocations, frees, allocated_bytes;
    double live_bytes, live_blocks; /* at the point */
    double peak_live_bytes;
    uint64_t peak_time;
    double temporary_allocations;
    uint64_t replaced;              /* blocks taken as freed because an allocation reused their
                                     * address (the shim lost the free); counted in frees */
    uint64_t lost_events;           /* LOST records and the end record's count */
    uint64_t unknown_frees;         /* frees of blocks never seen allocated (before recording) */
    uint64_t first_time, last_time; /* of the events; UINT64_MAX, 0 when there are none */
    uint64_t markers;
    bool sampled;
    uint64_t sample_bytes;
};

/* Where the point fell, once rp_finish has run. */
struct rp_where {
    bool reached;           /* the marker or time was passed (always true for end, peak) */
    uint64_t time;          /* the point's time: the marker's, T, the peak's, the last item's */
    uint32_t marker_serial; /* the marker's serial and kind (LF_MARKER_*), at a marker */
    int marker_kind;
};

/* The live total over time (model.h's struct model_timeline, in ticks): buckets of
 * 2^shift ticks from the first event's time, halved in number (neighbours merged,
 * the width doubled) whenever an event falls past the last one, so that a log of any
 * length fits; and the first markers with their times. Kept for every replay: one
 * shift and compare per event. */
#define RP_TIMELINE_POINTS  1024
#define RP_TIMELINE_MARKERS 256

struct rp_timeline {
    uint64_t start; /* the first event's time */
    unsigned shift;
    int n; /* buckets in use */
    struct rp_timeline_point {
        double max, min, end;
    } pt[RP_TIMELINE_POINTS];
    int n_markers;
    struct rp_timeline_marker {
        uint64_t time;
        uint32_t serial;
        int kind; /* LF_MARKER_* */
    } markers[RP_TIMELINE_MARKERS];
};

/* rp_feed's results besides 0 (counted) and a negative errno. */
#define RP_PASSED 1 /* the point is behind: the item was ignored */
#define RP_MARKER 2 /* with rp_pause_at_markers: a marker, counted; the state is its */

#define RP_UNWEIGHTED 0x1u /* every block stands for one, sampled log or not */

struct replay;

struct replay *rp_new(const struct rd_header *h, unsigned flags)
    __attribute__((warn_unused_result));
/* Before the first rp_feed. Returns 0, or -EINVAL for marker 0. */
int rp_stop_at(struct replay *p, const struct rp_point *pt) __attribute__((warn_unused_result));
void rp_pause_at_markers(struct replay *p, bool on);

/* One item: 0, RP_PASSED, RP_MARKER, or -ENOMEM. */
int rp_feed(struct replay *p, const struct rd_item *it) __attribute__((warn_unused_result));

/* The end of the items. The point's figures may be read from then on. */
void rp_finish(struct replay *p);
const struct rp_where *rp_where(const struct replay *p);

/* Stack ids are below rp_n_stacks. The stack's figures at the point (or, paused at a
 * marker, now): peak_live_bytes what it held at the point's peak, leaked_* what is live
 * at the point, common_size the size of at least 90% of its blocks (else 0). Returns
 * false (and leaves *out alone) for a stack that never allocated by the point. */
uint32_t rp_n_stacks(const struct replay *p);
bool rp_point_stack(const struct replay *p, uint32_t id, struct rp_stack *out);
void rp_point_totals(const struct replay *p, struct rp_totals *out);

/* The live total over time, up to the point (or now). */
const struct rp_timeline *rp_timeline(const struct replay *p);

/* The blocks live now (at the point, after rp_finish, except for the peak). */
const struct ls_map *rp_live(const struct replay *p);
/* Whether the log has loaded jemalloc (its size classes give the slack). */
bool rp_jemalloc(const struct replay *p);

void rp_free(struct replay *p);

/* Usable size the allocator gives for a request of size bytes (glibc's or jemalloc's
 * size classes), for the slack figures. */
uint64_t rp_usable_size(uint64_t size, bool jemalloc);

/* What each thread did up to the point (model.h's struct model_thread), in no order:
 * writes the first cap into out and returns how many there are. */
int rp_threads(const struct replay *p, struct model_thread *out, int cap);

#endif
