/* replay.c - see replay.h. */
#include "analyzer/replay.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"

/* Per thread, in a map by tid: for temporaries. */
struct tstate {
    uint32_t tid;
    bool valid;
    uint64_t last_alloc;
    double allocations, allocated_bytes, frees, temporary; /* what the thread did */
};

struct replay {
    struct rd_header hdr;
    unsigned flags;
    struct rp_point stop;
    bool pause_markers;
    bool passed; /* the stop point is behind */
    bool finished;
    struct rp_where where;

    struct rp_totals tot;
    struct ls_map *live;
    struct rp_stack *stk;
    uint32_t cap_stk;
    uint64_t peak_ver;
    bool jemalloc;

    /* Only for a peak point: each stack as it was at the latest peak when it has
     * changed since (ver == peak_ver), and the totals then. */
    struct rp_stack *at_peak;
    struct rp_totals tot_at_peak;

    struct hmap threads;        /* of struct tstate */
    struct tstate *last_thread; /* in threads; NULL after it may have moved */

    struct rp_timeline tl;
};

struct replay *rp_new(const struct rd_header *h, unsigned flags)
{
    struct replay *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->hdr = *h;
    p->flags = flags;
    p->live = ls_new();
    hmap_init(&p->threads, sizeof(struct tstate));
    if (p->live == NULL) {
        rp_free(p);
        return NULL;
    }
    p->tot.sampled = h->sample_bytes > 1 && !(flags & RP_UNWEIGHTED);
    p->tot.sample_bytes = h->sample_bytes;
    p->tot.first_time = UINT64_MAX;
    return p;
}

int rp_stop_at(struct replay *p, const struct rp_point *pt)
{
    if (pt->at == RP_AT_MARKER && pt->marker == 0)
        return -EINVAL;
    p->stop = *pt;
    p->tot_at_peak = p->tot; /* a log without a byte allocated peaks at its start */
    return 0;
}

void rp_pause_at_markers(struct replay *p, bool on)
{
    p->pause_markers = on;
}

/* Grows the stack table (and the peak copies) to hold id; false when out of memory. */
static bool grow_stacks(struct replay *p, uint32_t id)
{
    uint32_t cap = p->cap_stk ? p->cap_stk : 1024;
    while (cap <= id)
        cap *= 2;
    struct rp_stack *s = realloc(p->stk, cap * sizeof(*s));
    if (s == NULL)
        return false;
    memset(s + p->cap_stk, 0, (cap - p->cap_stk) * sizeof(*s));
    p->stk = s;
    if (p->stop.at == RP_AT_PEAK) {
        struct rp_stack *c = realloc(p->at_peak, cap * sizeof(*c));
        if (c == NULL)
            return false;
        memset(c + p->cap_stk, 0, (cap - p->cap_stk) * sizeof(*c));
        p->at_peak = c;
    }
    p->cap_stk = cap;
    return true;
}

static inline struct rp_stack *stk_of(struct replay *p, uint32_t id)
{
    if (id >= p->cap_stk && !grow_stacks(p, id))
        return NULL;
    return &p->stk[id];
}

static bool thread_eq(const void *entry, const void *key)
{
    return ((const struct tstate *)entry)->tid == *(const uint32_t *)key;
}

static struct tstate *thread_find(struct replay *p, uint32_t tid)
{
    bool added;
    /* The table may move: the cached pointer is the new entry's or none. */
    struct tstate *t = hmap_put(&p->threads, tid, &tid, thread_eq, &added);
    if (t != NULL && added)
        *t = (struct tstate){ .tid = tid };
    p->last_thread = t;
    return t;
}

/* Inline only the usual case: most events come in runs of one thread's. */
static inline struct tstate *thread_of(struct replay *p, uint32_t tid)
{
    if (p->last_thread != NULL && p->last_thread->tid == tid)
        return p->last_thread;
    return thread_find(p, tid);
}

/* Before a stack's figures change: keep what it held at the last global peak (and,
 * for a peak point, all of its figures then). */
static inline void save_peak(struct replay *p, struct rp_stack *s)
{
    if (s->ver != p->peak_ver) {
        s->st.peak_live_bytes = s->live_bytes;
        s->st.peak_samples = s->live_samples;
        s->ver = p->peak_ver;
        if (p->at_peak != NULL)
            p->at_peak[s - p->stk] = *s;
    }
}

static int hist_bucket(uint64_t size)
{
    int b = size == 0 ? 0 : 63 - __builtin_clzll(size);
    return b < MODEL_HIST_BUCKETS ? b : MODEL_HIST_BUCKETS - 1;
}

/* Blocks one sampled block stands for. */
static double weight_of(const struct replay *p, uint64_t size)
{
    if (!p->tot.sampled || size == 0)
        return 1.0;
    double q = -expm1(-(double)size / (double)p->hdr.sample_bytes);
    return q > 0 ? 1.0 / q : 1.0;
}

static void note_size(struct rp_stack *s, uint64_t size, double w)
{
    for (int i = 0; i < RP_SIZE_SLOTS; i++) {
        if (s->size_counts[i] > 0 && s->sizes[i] == size) {
            s->size_counts[i] += w;
            return;
        }
        if (s->size_counts[i] == 0) {
            s->sizes[i] = size;
            s->size_counts[i] = w;
            return;
        }
    }
    s->other_sizes += w;
}

static inline void release(struct replay *p, const struct ls_block *b)
{
    struct rp_stack *s = &p->stk[b->stack];
    save_peak(p, s);
    double bytes = (double)b->size * b->weight;
    s->live_bytes -= bytes;
    s->live_blocks -= b->weight;
    s->live_samples -= 1;
    s->st.frees += b->weight;
    p->tot.live_bytes -= bytes;
    p->tot.live_blocks -= b->weight;
    p->tot.frees += b->weight;
}

static int on_alloc(struct replay *p, const struct rd_item *it)
{
    const struct lf_event *e = &it->ev;
    struct rp_stack *s = stk_of(p, e->stack);
    struct ls_block old;

    if (s == NULL)
        return -ENOMEM;
    /* The block keeps its weight as a float: add exactly what release() will take
     * away, or rounding leaves phantom bytes live. */
    double w = (float)weight_of(p, e->size);
    struct ls_block b = { e->addr, e->size, e->stack, (float)w };
    int put = ls_put(p->live, &b, &old);
    if (put < 0)
        return -ENOMEM;
    if (put == 1) { /* a free the log never saw (the shim lost it) */
        release(p, &old);
        p->tot.replaced++;
    }
    double bytes = (double)e->size * w;
    if (!s->used) {
        s->used = true;
        s->first_time = it->time;
    }
    save_peak(p, s);
    s->live_bytes += bytes;
    s->live_blocks += w;
    s->live_samples += 1;
    s->st.samples += 1;
    if (s->live_blocks > s->st.max_live_blocks)
        s->st.max_live_blocks = s->live_blocks;
    s->st.allocations += w;
    s->st.allocated_bytes += bytes;
    s->st.hist[hist_bucket(e->size)] += w;
    s->st.slack_bytes += (double)(rp_usable_size(e->size, p->jemalloc) - e->size) * w;
    note_size(s, e->size, w);
    p->tot.allocations += w;
    p->tot.allocated_bytes += bytes;
    p->tot.live_bytes += bytes;
    p->tot.live_blocks += w;
    struct tstate *t = thread_of(p, it->tid);
    if (t == NULL)
        return -ENOMEM;
    t->valid = true;
    t->last_alloc = e->addr;
    t->allocations += w;
    t->allocated_bytes += bytes;
    if (p->tot.live_bytes > p->tot.peak_live_bytes) {
        p->tot.peak_live_bytes = p->tot.live_bytes;
        p->tot.peak_time = it->time;
        p->peak_ver++;
        if (p->at_peak != NULL)
            p->tot_at_peak = p->tot;
    }
    return 0;
}

static int on_free(struct replay *p, const struct rd_item *it)
{
    struct ls_block b;

    if (!ls_take(p->live, it->ev.addr, &b)) {
        p->tot.unknown_frees++;
        return 0;
    }
    release(p, &b);
    struct tstate *t = thread_of(p, it->tid);
    if (t == NULL)
        return -ENOMEM;
    t->frees += b.weight;
    /* Temporary: freed before its thread allocated anything else. Frees of other
     * blocks in between do not count (heaptrack stops at any event in between). */
    if (t->valid && t->last_alloc == b.addr) {
        p->stk[b.stack].st.temporary_allocations += b.weight;
        p->tot.temporary_allocations += b.weight;
        t->temporary += b.weight;
        t->valid = false;
    }
    return 0;
}

static int on_event(struct replay *p, const struct rd_item *it)
{
    if (it->time < p->tot.first_time)
        p->tot.first_time = it->time;
    if (it->time > p->tot.last_time)
        p->tot.last_time = it->time;
    switch (it->ev.type) {
    case LF_EV_ALLOC:
        return on_alloc(p, it);
    case LF_EV_FREE:
        return on_free(p, it);
    case LF_EV_LOST:
        p->tot.lost_events += it->ev.count;
        return 0;
    case LF_EV_ZEROS: {
        const struct ls_block *b = ls_get(p->live, it->ev.addr);
        if (b != NULL && b->size == it->ev.size) {
            struct rp_stack *s = &p->stk[b->stack];
            /* Not a change of what it holds: no save_peak. At a peak point a stack
             * then has the zero samples taken up to its first change after the peak
             * (the blocks' contents are samples, not counts). */
            s->st.zero_sampled_bytes += (double)it->ev.size;
            s->st.zero_bytes += (double)it->ev.count;
        }
        return 0;
    }
    }
    return 0;
}

/* Two neighbouring buckets into one, the width doubled. */
static void tl_halve(struct rp_timeline *tl)
{
    int n = (tl->n + 1) / 2;

    for (int j = 0; j < n; j++) {
        struct rp_timeline_point a = tl->pt[2 * j];
        if (2 * j + 1 < tl->n) {
            const struct rp_timeline_point *b = &tl->pt[2 * j + 1];
            a.max = b->max > a.max ? b->max : a.max;
            a.min = b->min < a.min ? b->min : a.min;
            a.end = b->end;
        }
        tl->pt[j] = a;
    }
    tl->n = n;
    tl->shift++;
}

/* After an event at time t: the live total in t's bucket. Items come in time order;
 * one out of order (clock records are per thread) counts in the last bucket. */
static inline void tl_note(struct rp_timeline *tl, uint64_t t, double live)
{
    if (tl->n == 0) {
        tl->start = t;
        tl->n = 1;
        tl->pt[0] = (struct rp_timeline_point){ live > 0 ? live : 0, live < 0 ? live : 0, live };
        return;
    }
    uint64_t i = t > tl->start ? (t - tl->start) >> tl->shift : 0;
    while (i >= RP_TIMELINE_POINTS) {
        tl_halve(tl);
        i >>= 1;
    }
    if (i < (uint64_t)tl->n - 1)
        i = (uint64_t)tl->n - 1;
    struct rp_timeline_point *last = &tl->pt[tl->n - 1];
    double prev = last->end;
    while ((uint64_t)tl->n <= i) {
        tl->pt[tl->n++] = (struct rp_timeline_point){ prev, prev, prev };
        last = &tl->pt[tl->n - 1];
    }
    if (live > last->max)
        last->max = live;
    if (live < last->min)
        last->min = live;
    last->end = live;
}

int rp_feed(struct replay *p, const struct rd_item *it)
{
    if (p->passed)
        return RP_PASSED;
    if (p->stop.at == RP_AT_TIME && it->time > p->stop.time) {
        p->passed = true;
        p->where.reached = true;
        return RP_PASSED;
    }
    switch (it->kind) {
    case RD_EVENT: {
        int err = on_event(p, it);
        if (err == 0)
            tl_note(&p->tl, it->time, p->tot.live_bytes);
        return err;
    }
    case RD_MODULE:
        if (strstr(it->module->path, "libjemalloc") != NULL)
            p->jemalloc = true;
        return 0;
    case RD_MARKER:
        p->tot.markers++;
        p->where.time = it->time;
        p->where.marker_serial = it->serial;
        p->where.marker_kind = it->marker_kind;
        if (p->tl.n_markers < RP_TIMELINE_MARKERS)
            p->tl.markers[p->tl.n_markers++] =
                (struct rp_timeline_marker){ it->time, it->serial, it->marker_kind };
        if (p->stop.at == RP_AT_MARKER && p->tot.markers == p->stop.marker) {
            p->passed = true;
            p->where.reached = true;
        }
        return p->pause_markers ? RP_MARKER : 0;
    case RD_END:
        p->tot.lost_events += it->count;
        return 0;
    default:
        return 0;
    }
}

void rp_finish(struct replay *p)
{
    p->finished = true;
    switch (p->stop.at) {
    case RP_AT_END:
        p->where.reached = true;
        p->where.time = p->tot.last_time;
        break;
    case RP_AT_PEAK:
        p->where.reached = true;
        p->where.time = p->tot.peak_time;
        break;
    case RP_AT_MARKER:
        break; /* where.time is the marker's, when reached */
    case RP_AT_TIME:
        /* A log that ends before T holds no later item: T is not reached, and the
         * caller says so; one that holds an item at T exactly has reached it. */
        if (p->tot.last_time >= p->stop.time)
            p->where.reached = true;
        p->where.time = p->stop.time;
        break;
    }
}

const struct rp_where *rp_where(const struct replay *p)
{
    return &p->where;
}

uint32_t rp_n_stacks(const struct replay *p)
{
    return p->cap_stk;
}

/* The common size: the size of at least 90% of the stack's blocks, or 0. */
static uint64_t common_size(const struct rp_stack *s)
{
    double total = s->other_sizes;
    uint64_t size = 0;

    for (int i = 0; i < RP_SIZE_SLOTS; i++)
        total += s->size_counts[i];
    for (int i = 0; i < RP_SIZE_SLOTS; i++)
        if (s->size_counts[i] >= 0.9 * total)
            size = s->sizes[i];
    return size;
}

bool rp_point_stack(const struct replay *p, uint32_t id, struct rp_stack *out)
{
    if (id >= p->cap_stk)
        return false;
    const struct rp_stack *s = &p->stk[id];
    if (p->at_peak != NULL && s->ver == p->peak_ver) /* changed since the peak */
        s = &p->at_peak[id];
    if (!s->used)
        return false;
    *out = *s;
    if (p->at_peak != NULL || s->ver != p->peak_ver) { /* unchanged since the peak */
        out->st.peak_live_bytes = s->live_bytes;
        out->st.peak_samples = s->live_samples;
    }
    out->st.leaked_samples = out->st.live_samples = s->live_samples;
    out->st.leaked_bytes = out->st.live_bytes = s->live_bytes;
    out->st.leaked_allocations = out->st.live_blocks = s->live_blocks;
    out->st.common_size = common_size(s);
    return true;
}

void rp_point_totals(const struct replay *p, struct rp_totals *out)
{
    *out = p->stop.at == RP_AT_PEAK ? p->tot_at_peak : p->tot;
}

const struct rp_timeline *rp_timeline(const struct replay *p)
{
    return &p->tl;
}

const struct ls_map *rp_live(const struct replay *p)
{
    return p->live;
}

bool rp_jemalloc(const struct replay *p)
{
    return p->jemalloc;
}

void rp_free(struct replay *p)
{
    if (p == NULL)
        return;
    ls_free(p->live);
    free(p->stk);
    free(p->at_peak);
    hmap_fini(&p->threads);
    free(p);
}

uint64_t rp_usable_size(uint64_t size, bool jemalloc)
{
    if (jemalloc) {
        if (size <= 8)
            return 8;
        if (size <= 128)
            return (size + 15) & ~(uint64_t)15;
        if (size > (1ull << 62))
            return size;
        int lg = 64 - __builtin_clzll(size - 1); /* ceil(log2(size)) */
        uint64_t spacing = 1ull << (lg - 3);
        return (size + spacing - 1) & ~(spacing - 1);
    }
    /* glibc: 16-byte chunks with an 8-byte header, 32 at least; mmap'd blocks (128 KiB
     * and up by default) are whole pages with a 16-byte header. */
    if (size >= 128 * 1024)
        return ((size + 16 + 4095) & ~(uint64_t)4095) - 16;
    uint64_t chunk = (size + 8 + 15) & ~(uint64_t)15;
    if (chunk < 32)
        chunk = 32;
    return chunk - 8;
}

int rp_threads(const struct replay *p, struct model_thread *out, int cap)
{
    size_t i = 0;
    int n = 0;
    const struct tstate *t;
    while ((t = hmap_next(&p->threads, &i)) != NULL) {
        if (t->allocations == 0 && t->frees == 0)
            continue;
        if (n < cap)
            out[n] = (struct model_thread){ t->tid, t->allocations, t->allocated_bytes, t->frees,
                                            t->temporary };
        n++;
    }
    return n;
}
