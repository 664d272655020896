/*
 * shim_record.c - the recording core: what the hooks call once they have decided an
 * event may be recorded. The note and resize_end functions encode one event into the
 * calling thread's buffer (tbuf.h) with rt_in_shim set; resize_begin and resize_undo
 * move a block out of or back into its set (sampler.h). None holds a lock across a call
 * out, allocates through the hooks, or fails the caller: an event that cannot be
 * recorded is counted as lost. Called from any thread, signal handlers included (enter
 * says how a handler's event is counted).
 */
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/shim.h"
#include "preload/stacks.h"
#include "preload/tbuf.h"
#include "preload/writer.h"

/* Mean bytes between blocks whose zero bytes are counted, in full-trace mode: a few
 * thousand blocks per GiB allocated, enough for a per-site share, cheap enough to
 * leave on. */
#define ZERO_SAMPLE_BYTES (256 * 1024)

/* An event arriving while this thread is recording another one: a signal handler
 * that interrupted the shim. It cannot be recorded (the buffer is mid-record), so it
 * is counted, with an atomic add the interrupted code cannot tear. */
static void count_reentry(void)
{
    struct tb_thread *t = tb_current_thread;
    if (t != NULL && t->in_record)
        __atomic_add_fetch(&t->lost_async, 1, __ATOMIC_RELAXED);
}

/* in_record brackets rt_in_shim on both sides, so at every instant a signal handler's
 * event is either recorded normally (the flag is not yet, or no longer, set) or
 * counted. It is a depth: a handler that records between the two stores leaves it as
 * it found it. */
static inline struct tb_thread *enter(void)
{
    if (!shim_recording)
        return NULL;
    if (SHIM_UNLIKELY(rt_in_shim)) {
        count_reentry();
        return NULL;
    }
    struct tb_thread *t = tb_current_thread;
    if (SHIM_LIKELY(t != NULL)) {
        t->in_record++;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        rt_in_shim = 1;
        return t;
    }
    rt_in_shim = 1;
    t = tb_self(); /* first event on this thread */
    if (SHIM_UNLIKELY(t == NULL)) {
        rt_in_shim = 0;
        return NULL;
    }
    if (shim_sample_mean != 0) /* the thread's first interval */
        shim_sample_left = smp_draw(&t->rng, shim_sample_mean);
    t->in_record++;
    return t;
}

static inline void leave(struct tb_thread *t)
{
    rt_in_shim = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->in_record--;
    if (SHIM_UNLIKELY(shim_pending_signal))
        shim_deliver_pending_signal();
}

/* The event's time, never before the thread's previous one (a migration between
 * cores whose counters differ by a few cycles must not make a negative delta). */
static inline uint64_t event_time(struct tb_thread *t, uint64_t now)
{
    return now < t->last_time ? t->last_time : now;
}

/* The writer reads a thread's last_time to learn how recently it recorded (writer.c,
 * rounded times): stored whole, before the record is committed and before the block
 * can reach another thread. */
static inline void set_last_time(struct tb_thread *t, uint64_t time)
{
    __atomic_store_n(&t->last_time, time, __ATOMIC_RELAXED);
}

static inline bool has_lost(const struct tb_thread *t)
{
    return (t->lost | __atomic_load_n(&t->lost_async, __ATOMIC_RELAXED)) != 0;
}

static inline uint8_t *put_lost(struct tb_thread *t, uint8_t *w, uint64_t now)
{
    *w++ = LF_EV_LOST;
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_varint(w, t->lost + __atomic_exchange_n(&t->lost_async, 0, __ATOMIC_RELAXED));
    set_last_time(t, now);
    t->lost = 0;
    return w;
}

/* The tag for a record of type whose addresses are a (and b): wide if either needs it. */
static inline uint8_t *put_tag(uint8_t *w, int type, int fn, uint64_t a, uint64_t b, int *width)
{
    bool wide = SHIM_UNLIKELY((a | b) >= LF_ADDR_LIMIT);
    *width = wide ? 8 : LF_ADDR_BYTES;
    *w++ = (uint8_t)(type | (wide ? LF_EV_WIDE : 0) | fn << 4);
    return w;
}

static inline uint8_t *put_zeros(struct tb_thread *t, uint8_t *w, uint64_t now, uint64_t addr,
                                 uint64_t size, uint64_t zeros)
{
    int width;
    w = put_tag(w, LF_EV_ZEROS, 0, addr, 0, &width);
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_addr(w, addr, width);
    w = lf_put_varint(w, size);
    w = lf_put_varint(w, zeros);
    set_last_time(t, now);
    return w;
}

static inline uint32_t capture(struct tb_thread *t)
{
    return st_capture_id(t, shim_max_depth);
}

/* An allocation's record; pool is written for fn LF_FN_API only (logfmt.h). A block
 * reported through the API is never picked for zero counting: its memory may be
 * anything, and a pool's reset frees it with no call per block. Returns whether the
 * block was recorded. */
static inline bool note_alloc(int fn, void *p, size_t size, uint64_t pool)
{
    uint64_t now = rt_ticks();
    struct tb_thread *t = enter();

    if (t == NULL) {
        SHIM_COUNT_UNWRITTEN(LF_EV_ALLOC, p, size);
        return false;
    }
    uint64_t addr = (uint64_t)(uintptr_t)p;
    if (shim_sample_mean != 0) {
        if (!smp_take(&shim_sample_left, &t->rng, shim_sample_mean, size)) {
            leave(t);
            return false;
        }
        smp_add(shim_sampled, addr, size);
    } else if (fn != LF_FN_API && smp_take(&t->zero_left, &t->rng, ZERO_SAMPLE_BYTES, size)) {
        smp_add(shim_zero_set, addr, size);
    }
    uint32_t sid = capture(t);
    if (!tb_reserve(t)) {
        t->lost++;
        leave(t);
        return false;
    }
    now = event_time(t, now);
    uint8_t *w = t->pos;
    if (SHIM_UNLIKELY(has_lost(t)))
        w = put_lost(t, w, now);
    int width;
    w = put_tag(w, LF_EV_ALLOC, fn, addr, 0, &width);
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_addr(w, addr, width);
    w = lf_put_varint(w, size);
    w = lf_put_varint(w, sid);
    if (fn == LF_FN_API)
        w = lf_put_varint(w, pool);
    set_last_time(t, now);
    tb_commit(t, w);
    leave(t);
    return true;
}

void shim_note_alloc_slow(int fn, void *p, size_t size)
{
    note_alloc(fn, p, size, 0);
}

bool shim_note_api_alloc(void *p, size_t size, uint64_t pool)
{
    return note_alloc(LF_FN_API, p, size, pool);
}

/* Whether the block at addr is one the log knows about (sampled mode), and - for a
 * block picked for zero counting - how many of its bytes are zero. A block reported
 * through the API is never read: its memory may be anything (include/heapspan.h). */
static bool free_side(int fn, uint64_t addr, uint64_t *size, uint64_t *zeros)
{
    *zeros = UINT64_MAX;
    if (shim_sample_mean != 0) {
        if (!smp_remove(shim_sampled, addr, size))
            return false;
        if (fn != LF_FN_API)
            *zeros = smp_count_zeros((const void *)(uintptr_t)addr, *size);
        return true;
    }
    if (fn != LF_FN_API && smp_remove(shim_zero_set, addr, size))
        *zeros = smp_count_zeros((const void *)(uintptr_t)addr, *size);
    return true;
}

void shim_note_free_slow(int fn, void *p)
{
    struct tb_thread *t = enter();
    uint64_t size = 0, zeros;

    if (t == NULL) {
        /* Recording stopped since the hook looked. */
        SHIM_COUNT_UNWRITTEN(LF_EV_FREE, p, 0);
        return;
    }
    uint64_t addr = (uint64_t)(uintptr_t)p;
    if (!free_side(fn, addr, &size, &zeros) || !tb_reserve(t)) {
        if (shim_sample_mean == 0)
            t->lost++;
        leave(t);
        return;
    }
    uint64_t now = event_time(t, rt_ticks_before());
    uint8_t *w = t->pos;
    if (SHIM_UNLIKELY(has_lost(t)))
        w = put_lost(t, w, now);
    if (zeros != UINT64_MAX)
        w = put_zeros(t, w, now, addr, size, zeros);
    int width;
    w = put_tag(w, LF_EV_FREE, fn, addr, 0, &width);
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_addr(w, addr, width);
    set_last_time(t, now);
    tb_commit(t, w);
    leave(t);
}

/* Before a resize: the old block leaves the sampled set (or the set picked for zero
 * counting) now, before the real call can hand its address to another thread. It is
 * not counted: its contents live on in the new block, which takes its place in the
 * set and is counted when it is finally freed. */
void shim_resize_begin(void *old, struct shim_resize_old *o)
{
    uint64_t addr = (uint64_t)(uintptr_t)old;

    *o = (struct shim_resize_old){ 0 };
    if (!shim_recording || rt_in_shim)
        return;
    rt_in_shim = 1;
    if (shim_sample_mean != 0) {
        o->known = smp_remove(shim_sampled, addr, &o->size);
    } else {
        o->known = true;
        o->picked = shim_zero_set != NULL && smp_remove(shim_zero_set, addr, &o->size);
    }
    if (o->known) {
        /* The real call may release the old block before its record exists: the writer
         * must know (writer.c, rounded times). A thread's first event registers it
         * here, before the call, for the same reason. */
        struct tb_thread *t = tb_self();
        if (t != NULL)
            __atomic_store_n(&t->resizing, 1, __ATOMIC_RELAXED);
    }
    rt_in_shim = 0;
}

/* The end of a resize, whatever its outcome: after its record (if any) is committed. */
static inline void resize_done(void)
{
    struct tb_thread *t = tb_current_thread;
    if (t != NULL)
        __atomic_store_n(&t->resizing, 0, __ATOMIC_RELEASE);
}

/* A resize that did not happen: the old block is still live, and still in its set. */
void shim_resize_undo(void *old, const struct shim_resize_old *o)
{
    uint64_t addr = (uint64_t)(uintptr_t)old;

    if (o->known && shim_sample_mean != 0)
        smp_add(shim_sampled, addr, o->size);
    else if (o->picked)
        smp_add(shim_zero_set, addr, o->size);
    resize_done();
}

/* After a resize that returned p (NULL: failed, or freed for size 0). pool as for
 * note_alloc. Returns whether the new block is one the log knows (sampled mode: in the
 * sampled set). */
static inline bool resize_end(int fn, void *old, const struct shim_resize_old *o, void *p,
                              size_t size, uint64_t growth, uint64_t t_before, bool freed_on_null,
                              uint64_t pool)
{
    uint64_t now = rt_ticks();
    struct tb_thread *t = enter();

    if (t == NULL) {
        /* Recording stopped since the hook looked. The sampler's test needs the old
         * block, which the real call may have freed: full-trace mode counts it, sampled
         * mode's count stays approximate here (docs/cli.md says so). */
        if (shim_sample_mean == 0)
            SHIM_COUNT_UNWRITTEN(LF_EV_REALLOC, NULL, 0);
        return false;
    }
    uint64_t oaddr = (uint64_t)(uintptr_t)old, naddr = (uint64_t)(uintptr_t)p;
    if (p == NULL && !freed_on_null) {
        shim_resize_undo(old, o); /* failed: the old block lives on */
        leave(t);
        return false;
    }
    bool old_known = o->known, new_known = p != NULL;
    if (p != NULL && shim_sample_mean != 0) {
        if (old_known)
            new_known = smp_keep_resized(&t->rng, shim_sample_mean, o->size, size);
        else
            new_known = smp_take(&shim_sample_left, &t->rng, shim_sample_mean, growth);
        if (new_known)
            smp_add(shim_sampled, naddr, size);
    } else if (p != NULL && fn != LF_FN_API &&
               (o->picked || smp_take(&t->zero_left, &t->rng, ZERO_SAMPLE_BYTES, growth))) {
        smp_add(shim_zero_set, naddr, size); /* picked as the allocation of its size would be */
    }
    if (!old_known && !new_known) {
        leave(t);
        return false;
    }
    uint32_t sid = new_known ? capture(t) : 0;
    if (!tb_reserve(t)) {
        t->lost++;
        leave(t);
        return new_known && shim_sample_mean != 0;
    }
    now = event_time(t, now);
    t_before = t_before < t->last_time ? t->last_time : t_before;
    uint8_t *w = t->pos;
    if (SHIM_UNLIKELY(has_lost(t)))
        w = put_lost(t, w, t_before);
    int width;
    if (old_known && new_known) {
        w = put_tag(w, LF_EV_REALLOC, fn, oaddr, naddr, &width);
        w = lf_put_varint(w, now - t->last_time);
        w = lf_put_varint(w, now - t_before);
        w = lf_put_addr(w, oaddr, width);
        w = lf_put_addr(w, naddr, width);
        w = lf_put_varint(w, size);
        w = lf_put_varint(w, sid);
        if (fn == LF_FN_API)
            w = lf_put_varint(w, pool);
        set_last_time(t, now);
    } else if (old_known) {
        w = put_tag(w, LF_EV_FREE, fn, oaddr, 0, &width);
        w = lf_put_varint(w, t_before - t->last_time);
        w = lf_put_addr(w, oaddr, width);
        set_last_time(t, t_before);
    } else {
        w = put_tag(w, LF_EV_ALLOC, fn, naddr, 0, &width);
        w = lf_put_varint(w, now - t->last_time);
        w = lf_put_addr(w, naddr, width);
        w = lf_put_varint(w, size);
        w = lf_put_varint(w, sid);
        if (fn == LF_FN_API)
            w = lf_put_varint(w, pool);
        set_last_time(t, now);
    }
    tb_commit(t, w);
    leave(t);
    return new_known && shim_sample_mean != 0;
}

void shim_resize_end(int fn, void *old, const struct shim_resize_old *o, void *p, size_t size,
                     uint64_t growth, uint64_t t_before, bool freed_on_null)
{
    resize_end(fn, old, o, p, size, growth, t_before, freed_on_null, 0);
    resize_done();
}

bool shim_resize_end_api(void *old, const struct shim_resize_old *o, void *p, size_t size,
                         uint64_t growth, uint64_t t_before, uint64_t pool)
{
    bool known = resize_end(LF_FN_API, old, o, p, size, growth, t_before, true, pool);
    resize_done();
    return known;
}

/* A pool's name or reset, as a meta record (logfmt.h): rare next to the blocks, and
 * skipped by readers that do not know it. Its time is strictly after this thread's
 * last event, and the thread's later events are not before it: a reader merging by
 * time (which puts a meta record first among equal times) then applies a reset after
 * every block this thread allocated before it, and before any it allocates after. When
 * the clock has not moved since that event, a LOST record (of no events, unless some
 * were lost) moves this thread's time on. */
void shim_note_pool(int op, uint64_t pool, const char *name)
{
    struct tb_thread *t = enter();
    uint8_t body[LF_POOL_NAME_MAX + 64], rec[LF_POOL_NAME_MAX + 80], *p = body;
    size_t n = 0;

    if (t == NULL)
        return;
    uint64_t now = rt_ticks();
    if (SHIM_UNLIKELY(now <= t->last_time)) {
        if (!tb_reserve(t)) {
            t->lost++;
            leave(t);
            return;
        }
        tb_commit(t, put_lost(t, t->pos, t->last_time + 1));
        now = t->last_time;
    }
    p = lf_put_varint(p, now);
    p = lf_put_varint(p, (uint64_t)t->tid);
    p = lf_put_varint(p, (uint64_t)op);
    p = lf_put_varint(p, pool);
    if (op == LF_POOL_NAME) {
        while (name != NULL && n < LF_POOL_NAME_MAX && name[n] != '\0')
            n++;
        p = lf_put_varint(p, n);
        memcpy(p, name, n);
        p += n;
    }
    uint8_t *r = rec;
    *r++ = LF_META_POOL;
    r = lf_put_varint(r, (uint64_t)(p - body));
    memcpy(r, body, (size_t)(p - body));
    wr_meta(rec, (size_t)(r - rec) + (size_t)(p - body));
    leave(t);
}

/* ---- events after an early stop ---- */

static uint64_t unwritten_stateless;

void shim_count_unwritten(int kind, void *p, size_t size)
{
    struct tb_thread *t = tb_current_thread;

    rt_in_shim = 1; /* a signal handler's event is not counted: it cannot tear the count */
    if (shim_sample_mean != 0) {
        uint64_t own_rng = rt_ticks() ^ (uintptr_t)&own_rng, *rng = t != NULL ? &t->rng : &own_rng;
        uint64_t addr = (uint64_t)(uintptr_t)p, size_was;
        bool taken;
        if (kind == LF_EV_FREE) {
            taken = smp_remove(shim_sampled, addr, &size_was);
        } else if (kind == LF_EV_REALLOC && p != NULL) {
            uint64_t growth = size != 0 ? shim_resize_growth(p, size) : 0;
            taken = smp_remove(shim_sampled, addr, &size_was) |
                    smp_take(&shim_sample_left, rng, shim_sample_mean, growth);
        } else {
            /* Drawn as the recording path would: the countdown goes on, and the next
             * allocations take the fast path again. */
            taken = smp_take(&shim_sample_left, rng, shim_sample_mean, size);
        }
        if (!taken) {
            rt_in_shim = 0;
            return;
        }
    }
    if (t != NULL)
        __atomic_store_n(&t->unwritten, t->unwritten + 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&unwritten_stateless, 1, __ATOMIC_RELAXED);
    rt_in_shim = 0;
}

uint64_t shim_unwritten_stateless(void)
{
    return __atomic_load_n(&unwritten_stateless, __ATOMIC_RELAXED);
}

/* ---- zero-byte counts of blocks still live ---- */

struct zero_scan {
    struct tb_thread *t;
};

/* A live block is cut into spans, and as at a free the first SMP_ZERO_PREFIX bytes of
 * each span stand for the span - so that a buffer filled only at its start is not taken
 * for all data. Spans are 64 KiB, or for a block over 4 MiB a 64th of it: a huge block
 * costs 64 reads of 4 KiB at exit, where reading all of it would copy gigabytes (and
 * fault in pages the program never touched) in a service with a large heap. */
#define LIVE_SPAN_MIN  (64 * 1024)
#define LIVE_SPANS_MAX 64

/* Reads through process_vm_readv, which fails with EFAULT instead of crashing if
 * another thread frees (and unmaps) the block meanwhile. */
static void count_live_block(uint64_t addr, uint64_t size, void *arg)
{
    struct zero_scan *z = arg;
    static uint8_t buf[SMP_ZERO_PREFIX];
    uint64_t span = (size + LIVE_SPANS_MAX - 1) / LIVE_SPANS_MAX, zeros = 0;

    if (span < LIVE_SPAN_MIN)
        span = LIVE_SPAN_MIN;
    for (uint64_t at = 0; at < size; at += span) {
        uint64_t n = size - at < span ? size - at : span;
        uint64_t read = n < sizeof(buf) ? n : sizeof(buf);
        struct iovec local = { buf, read }, remote = { (void *)(uintptr_t)(addr + at), read };
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)read)
            return;
        zeros += smp_count_zeros(buf, n); /* reads the first `read` bytes only */
    }
    if (!tb_reserve(z->t))
        return;
    uint64_t now = event_time(z->t, rt_ticks());
    tb_commit(z->t, put_zeros(z->t, z->t->pos, now, addr, size, zeros));
}

void shim_count_live_zeros(void)
{
    struct tb_thread *t;
    struct smp_set *set = shim_sample_mean != 0 ? shim_sampled : shim_zero_set;

    if (set == NULL || (t = tb_self()) == NULL)
        return;
    struct zero_scan z = { t };
    t->in_record++; /* records go into the buffer as a hook's would (tb_trim_idle) */
    smp_each(set, count_live_block, &z);
    t->in_record--;
}
