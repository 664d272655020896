/* writer.c - see writer.h. */
#include "preload/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: a custom allocator */
#include <zstd.h>

#include "format/evcodec.h"
#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/stacks.h"
#include "preload/tbuf.h"

#define STAGE_CAP    (4u << 20) /* one cycle's bytes leave in writes of up to this */
#define RAW_CAP      (1u << 20) /* buffered records per chunk: zstd does well at this size */
#define RAW_OUT_CAP  (EC_NCOLS * ZSTD_COMPRESSBOUND(EC_COL_CAP) + 128) /* >= ec_enc_bound */
#define TAIL_NS      100000000ull /* partly filled buffers go out at least this often */
#define INDEX_REGION (4ull << 20) /* one index entry per this much file */
/* Event columns are already predicted and sorted by kind: zstd's entropy coder does the
 * work, and level 1 stores them as small as level 3 does (measured on churn: 3.14
 * bytes per allocation either way) in less time. Negative levels skip the entropy
 * coding. Meta chunks (stacks, modules) are small and repetitive: level 3. */
#define ZSTD_LEVEL_EVENTS 1
#define ZSTD_LEVEL_META   3
/* A thread's backlog goes out over several cycles, each ending in a barrier: a reader
 * merging threads can hand out events only below the barriers it has read. */
#define CHUNKS_PER_CYCLE 2

static int fd = -1;   /* the log: high-numbered, guarded from the program (fdguard.h) */
static int log_pid;   /* the process fd belongs to (a vfork child shares this memory) */
static dev_t log_dev; /* what fd was opened on: is_log() */
static ino_t log_ino;
static char path[4096];
static uint64_t file_off;
static bool finished, stopped;
static uint64_t event_chunks; /* events chunks this log has had: 0 for a pre-exec child */

static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

/* Meta records queued by any thread for the next cycle (under meta_lock). */
static uint8_t *meta_q;
static size_t meta_q_len, meta_q_cap;

/* Writer-only state (under flush_lock). */
static uint8_t *stage, *raw, *meta_scratch;
static size_t stage_len;
static uint64_t stage_events;   /* events in the stage, for the lost count */
static uint64_t chunk_events;   /* events coded into the chunk being built */
static uint64_t dropped_events; /* events staged after recording stopped, never written */
static ZSTD_CCtx *zc;
static struct ec_enc *enc; /* big: rt_map'ed, pages touched as columns fill */
static uint32_t stacks_written = 1;
static uint64_t last_barrier; /* barriers only move forward */
static struct lf_index_entry *idx;
static size_t idx_n, idx_cap;
static struct tb_thread **snap_threads; /* a cycle's thread states: rt_map'ed, grown */
static size_t snap_n, snap_seen, snap_cap;

/* Rounded times. An event's exact time is noise to a compressor (TSC deltas): on
 * sqlite's and CPython's runs it was nine tenths of the log. A time rounded down to a
 * tick of about 100 us costs almost nothing. What readers need exact is the order of
 * events that depend on each other: a thread freeing a block another allocated, or
 * reusing an address another freed (or realloc released), and an event against a
 * module load, a marker or a pool record. So the writer stores an event's time rounded
 * down to a multiple of 2^q_shift ticks only where nothing it can depend on lies in or
 * after its tick:
 *   - each cycle it reads the clock (W), then every other thread's last_time and
 *     `resizing`, the latest meta fence, the reaped threads' last time, and whether a
 *     thread registered since its snapshot of the threads;
 *   - an event of thread T before W is rounded only if its rounded time is later than
 *     every other thread's last_time read then (and the fences), no other thread was
 *     resizing, and no thread registered.
 * Why that is enough: if event e (before W) depends on f of another thread, e's thread
 * saw a store that thread made after recording f (the block's address escapes only
 * after its record; a free's record precedes the real free; a realloc's release is
 * announced by `resizing` before the real call), and x86 makes stores visible in
 * order, so the writer's reads after W see f's last_time, or `resizing`. Rounding
 * only moves a time earlier, never past the thread's previous stored time or the last
 * barrier. A process with threads allocating side by side keeps exact times. */
static int q_shift;         /* 0 until calibrated: times exact */
static uint64_t meta_fence; /* when the latest MODULE, UNLOAD, MARKER or POOL was queued */
static struct {
    bool off;            /* no rounding this cycle */
    uint64_t w;          /* events from here on are exact */
    uint64_t fence;      /* meta fence and reaped threads */
    uint64_t max1, max2; /* the two latest last_time of the snapshot's threads */
    const struct tb_thread *max1_of;
    unsigned n_resizing;
    const struct tb_thread *resizing;
} round_view;

/* Wake-ups and markers. */
static uint32_t wake_word;
static int writer_sleeping;
static bool writer_running;
static uint32_t markers_requested, markers_done;
static uint64_t marker_time;

void (*wr_on_stop)(void);
void (*wr_on_tick)(void);
void (*wr_on_program_gone)(void);

static const char *errno_text(int err)
{
    switch (err) {
    case ENOSPC:
        return "no space left on device";
    case EDQUOT:
        return "disk quota exceeded";
    case EIO:
        return "input/output error";
    case EFBIG:
        return "file too large";
    case EBADF:
        return "bad file descriptor";
    case EEXIST:
        return "file exists";
    case EACCES:
        return "permission denied";
    case ENOENT:
        return "no such file or directory";
    case ELOOP:
        return "is a symbolic link";
    case EROFS:
        return "read-only file system";
    case ENOMEM:
        return "out of memory";
    case EMFILE:
        return "too many open files";
    case ENFILE:
        return "too many open files in the system";
    default:
        return "I/O error";
    }
}

/* ---- meta records ---- */

/* Builds tag + varint(len) + body at out; returns the record's length. */
static size_t make_rec(uint8_t *out, int type, const uint8_t *body, size_t len)
{
    uint8_t *p = out;

    *p++ = (uint8_t)type;
    p = lf_put_varint(p, len);
    memcpy(p, body, len);
    return (size_t)(p - out) + len;
}

void wr_meta(const uint8_t *rec, size_t len)
{
    pthread_mutex_lock(&meta_lock);
    if (rec[0] == LF_META_MODULE || rec[0] == LF_META_UNLOAD || rec[0] == LF_META_MARKER ||
        rec[0] == LF_META_POOL)
        __atomic_store_n(&meta_fence, rt_ticks(), __ATOMIC_RELEASE); /* >= the record's time */
    if (meta_q_len + len > meta_q_cap) {
        size_t cap = meta_q_cap ? meta_q_cap * 2 : 64 * 1024;
        while (cap < meta_q_len + len)
            cap *= 2;
        uint8_t *q = rt_map(cap);
        if (q == NULL) {
            pthread_mutex_unlock(&meta_lock);
            return;
        }
        if (meta_q != NULL) {
            memcpy(q, meta_q, meta_q_len);
            rt_unmap(meta_q, meta_q_cap);
        }
        meta_q = q;
        meta_q_cap = cap;
    }
    memcpy(meta_q + meta_q_len, rec, len);
    meta_q_len += len;
    pthread_mutex_unlock(&meta_lock);
}

void wr_note(int severity, const char *text)
{
    uint8_t body[600], rec[620];
    size_t n = strlen(text);
    uint8_t *p = body;

    if (n > 512)
        n = 512;
    p = lf_put_varint(p, rt_ticks());
    p = lf_put_varint(p, (uint64_t)severity);
    p = lf_put_varint(p, n);
    memcpy(p, text, n);
    p += n;
    wr_meta(rec, make_rec(rec, LF_META_NOTE, body, (size_t)(p - body)));
}

static void marker_at(uint64_t time, int kind, uint32_t serial)
{
    uint8_t body[40], rec[48], *p = body;

    p = lf_put_varint(p, time);
    p = lf_put_varint(p, (uint64_t)kind);
    p = lf_put_varint(p, serial);
    wr_meta(rec, make_rec(rec, LF_META_MARKER, body, (size_t)(p - body)));
}

static uint32_t marker_serial;

void wr_marker(int kind)
{
    marker_at(rt_ticks(), kind, __atomic_add_fetch(&marker_serial, 1, __ATOMIC_RELAXED));
}

void wr_request_marker(void)
{
    /* Two markers between cycles merge into one at the later time: a snapshot is a
     * moment, and the writer records the latest asked for. */
    __atomic_store_n(&marker_time, rt_ticks(), __ATOMIC_RELAXED);
    __atomic_add_fetch(&markers_requested, 1, __ATOMIC_RELEASE);
    wr_wake();
}

/* ---- output staging ---- */

static void write_end(int reason, uint64_t lost);

/* Whether f still refers to the file this process created as its log (the device and
 * inode recorded at open). The guard (fdguard.h) keeps the program's close, close_range,
 * closefrom and dup2 off it, but not a raw system call - binaries built against glibc
 * before 2.34 call close_range so - after which the program's next open() may take the
 * number. Checked before every write, truncation or close through fd; fstat is cheap at
 * the writer's 10 cycles a second. What it cannot rule out is the program closing and
 * reopening the number between the check and the write, one system call later. */
static bool is_log(int f)
{
    struct stat st;
    return f >= 0 && fstat(f, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino;
}

/* ---- an end record written early ----
 *
 * When recording stops before the process ends (a write failed, or fd was lost), the
 * end record says "stopped" and how many events are not in the log. That count is not
 * known yet: events still in the threads' buffers, and those the hooks go on counting
 * (shim_count_unwritten), come after. So it is written as a varint of fixed width,
 * padded with continuation bytes (readers take any length up to ten, lf_get_varint),
 * and wr_settle_lost puts the final count in place at exit with pwrite - no byte more,
 * where a full disk may have none to give. */

#define END_COUNT_WIDTH 10 /* a uint64_t's varint never needs more */

static struct {
    uint8_t payload[64];  /* the chunk's payload: the one END record */
    size_t len, count_at; /* its length; where its count starts */
    uint64_t chunk_off;   /* the chunk's file offset; UINT64_MAX: none written */
    uint64_t lost;        /* the count in it */
} early_end = { .chunk_off = UINT64_MAX };

static uint8_t *put_varint_fixed(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < END_COUNT_WIDTH - 1; i++) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v; /* the 64th bit at most */
    return p;
}

static void emit_chunk(int kind, uint32_t tid, uint64_t base_time, uint64_t last_time,
                       uint32_t n_records, const uint8_t *payload, size_t len, bool compress,
                       int time_shift);

/* Stages the early end record, alone in an uncompressed meta chunk at the stage's start
 * (the caller empties the stage first, and sets early_end.chunk_off once it is out). */
static void stage_end_stopped(uint64_t lost)
{
    uint8_t body[40], *p = body;

    p = lf_put_varint(p, rt_ticks());
    size_t count_in_body = (size_t)(p - body);
    p = put_varint_fixed(p, lost);
    p = lf_put_varint(p, LF_END_STOPPED);
    uint8_t *r = early_end.payload;
    *r++ = LF_META_END;
    r = lf_put_varint(r, (uint64_t)(p - body));
    early_end.count_at = (size_t)(r - early_end.payload) + count_in_body;
    memcpy(r, body, (size_t)(p - body));
    early_end.len = (size_t)(r - early_end.payload) + (size_t)(p - body);
    early_end.lost = lost;
    emit_chunk(LF_CHUNK_META, 0, 0, 0, 1, early_end.payload, early_end.len, false, 0);
}

/* The log, opened again by its path, for a last record after fd was lost: only if the
 * path still names the same file, of the length we wrote. -1 if not. */
static int reopen_log(void)
{
    struct stat st;
    int f = rt_open_anyway(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (f < 0)
        return -1;
    if (fstat(f, &st) != 0 || st.st_dev != log_dev || st.st_ino != log_ino ||
        (uint64_t)st.st_size < file_off) {
        syscall(SYS_close, f);
        return -1;
    }
    return f;
}

/* fd no longer refers to the log: never write, truncate or close through it again (the
 * number is the program's now). Says so once, and ends the log with an end record
 * ("stopped", with the events not written) through a descriptor opened for that alone. */
static void log_gone(int f, uint64_t lost)
{
    char n[24], off[24];

    if (stopped)
        return;
    *rt_fmt_u64(n, (uint64_t)f) = '\0';
    *rt_fmt_u64(off, file_off) = '\0';
    rt_say("the log's descriptor ", n, " no longer refers to ", path,
           " (the program closed it with a system call the shim cannot see, such as a raw "
           "close_range); recording stopped, nothing more is written through it, and the log "
           "is readable up to byte ",
           off, NULL);
    __atomic_store_n(&fd, -1, __ATOMIC_RELAXED);
    stopped = true;
    int again = reopen_log();
    if (again >= 0) {
        stage_len = 0;
        stage_end_stopped(lost);
        if (pwrite(again, stage, stage_len, (off_t)file_off) == (ssize_t)stage_len &&
            ftruncate(again, (off_t)(file_off + stage_len)) == 0) {
            early_end.chunk_off = file_off;
            file_off += stage_len;
        }
        syscall(SYS_close, again);
    }
    stage_len = 0;
    if (wr_on_stop != NULL)
        wr_on_stop();
}

/* A failed write: the log ends at the last chunk written whole. Cut off what was half
 * written, and try to add an end record saying how many events were lost - a full disk
 * may not take even that, but a quota or a transient error often leaves room. */
static void stop(int err, uint64_t lost)
{
    if (stopped)
        return;
    if (!is_log(fd)) { /* the error may be EBADF: the program closed it */
        log_gone(fd, lost);
        return;
    }
    char off[24], n[24];
    *rt_fmt_u64(off, file_off) = '\0';
    *rt_fmt_u64(n, lost) = '\0';
    rt_say("writing ", path, " failed at byte ", off, " (", errno_text(-err),
           "); recording stopped and at least ", n,
           " events are not in the log; the program continues, the log is readable up to "
           "there",
           NULL);
    if (ftruncate(fd, (off_t)file_off) == 0 && lseek(fd, (off_t)file_off, SEEK_SET) >= 0) {
        stage_len = 0;
        stage_end_stopped(lost);
        if (rt_write_all(fd, stage, stage_len) == 0) {
            early_end.chunk_off = file_off;
            file_off += stage_len;
        }
    }
    stage_len = 0;
    stopped = true;
    if (wr_on_stop != NULL)
        wr_on_stop();
}

static void stage_flush(void)
{
    if (stage_len == 0 || stopped) {
        dropped_events += stopped ? stage_events : 0;
        stage_len = 0;
        stage_events = 0;
        return;
    }
    if (!is_log(fd)) {
        log_gone(fd, stage_events);
        stage_len = 0;
        stage_events = 0;
        return;
    }
    __atomic_store_n(&tb_writer_cpu_at_block, tb_writer_cpu_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(&tb_writer_blocked_since, rt_monotonic_ns(), __ATOMIC_RELAXED);
    int err = rt_write_all(fd, stage, stage_len);
    __atomic_store_n(&tb_writer_blocked_since, 0, __ATOMIC_RELAXED);
    if (err < 0)
        stop(err, stage_events);
    else
        file_off += stage_len;
    stage_len = 0;
    stage_events = 0;
}

static void index_note(uint64_t offset, uint64_t lo, uint64_t hi)
{
    if (idx_n == 0 || offset - idx[idx_n - 1].offset >= INDEX_REGION) {
        if (idx_n == idx_cap) {
            size_t cap = idx_cap ? idx_cap * 2 : 1024;
            struct lf_index_entry *n = rt_map(cap * sizeof(*n));
            if (n == NULL)
                return;
            if (idx != NULL) {
                memcpy(n, idx, idx_n * sizeof(*n));
                rt_unmap(idx, idx_cap * sizeof(*idx));
            }
            idx = n;
            idx_cap = cap;
        }
        idx[idx_n++] = (struct lf_index_entry){ offset, UINT64_MAX, 0 };
    }
    struct lf_index_entry *e = &idx[idx_n - 1];
    if (lo < e->min_time)
        e->min_time = lo;
    if (hi > e->max_time)
        e->max_time = hi;
}

/* Appends one chunk to the stage. */
static void emit_chunk(int kind, uint32_t tid, uint64_t base_time, uint64_t last_time,
                       uint32_t n_records, const uint8_t *payload, size_t len, bool compress,
                       int time_shift)
{
    size_t bound = compress ? ZSTD_compressBound(len) : len;
    if (bound < len)
        bound = len;
    if (stage_len + LF_CHUNK_HDR_SIZE + bound > STAGE_CAP)
        stage_flush();

    uint8_t *h = stage + stage_len;
    uint8_t *out = h + LF_CHUNK_HDR_SIZE;
    size_t stored = len;
    uint8_t flags = 0;

    if (compress && zc != NULL && len > 64) {
        size_t n = ZSTD_compressCCtx(zc, out, bound, payload, len, ZSTD_LEVEL_META);
        if (!ZSTD_isError(n) && n < len) {
            stored = n;
            flags = LF_CHUNK_ZSTD;
        }
    }
    if (flags == 0)
        memcpy(out, payload, len);

    uint64_t span = last_time - base_time;
    lf_put_u32(h, LF_CHUNK_MAGIC);
    h[4] = (uint8_t)kind;
    h[5] = flags;
    lf_put_u16(h + 6, LF_CHUNK_HDR_SIZE);
    lf_put_u32(h + 8, (uint32_t)stored);
    lf_put_u32(h + 12, (uint32_t)len);
    lf_put_u32(h + 16, tid);
    lf_put_u32(h + 20, lf_crc32c(0, out, stored));
    lf_put_u64(h + 24, base_time);
    lf_put_u64(h + 32, 0);
    h[32] = (uint8_t)time_shift;
    lf_put_u32(h + 40, span > UINT32_MAX ? UINT32_MAX : (uint32_t)span);
    lf_put_u32(h + 44, n_records);
    if (kind == LF_CHUNK_EVENTS)
        index_note(file_off + stage_len, base_time, last_time);
    stage_len += LF_CHUNK_HDR_SIZE + stored;
}

/* ---- a cycle ---- */

struct meta_acc {
    size_t len;
    uint32_t n;
    bool compress;
};

static void meta_emit(struct meta_acc *m)
{
    if (m->len > 0)
        emit_chunk(LF_CHUNK_META, 0, 0, 0, m->n, raw, m->len, m->compress, 0);
    m->len = 0;
    m->n = 0;
}

static void meta_add(struct meta_acc *m, const uint8_t *rec, size_t len)
{
    if (m->len + len > RAW_CAP)
        meta_emit(m);
    if (len > RAW_CAP)
        return; /* cannot happen: records are bounded far below */
    memcpy(raw + m->len, rec, len);
    m->len += len;
    m->n++;
}

static void add_stacks(struct meta_acc *m)
{
    uint32_t n = st_count();

    for (; stacks_written < n; stacks_written++) {
        const struct st_entry *e = st_get(stacks_written);
        uint8_t *p = meta_scratch + 16;
        uint64_t prev = 0;

        p = lf_put_varint(p, e->id);
        p = lf_put_varint(p, e->depth);
        for (uint32_t i = 0; i < e->depth; i++) {
            p = lf_put_varint(p, lf_zigzag((int64_t)(e->pcs[i] - prev)));
            prev = e->pcs[i];
        }
        size_t body = (size_t)(p - (meta_scratch + 16));
        uint8_t *r = meta_scratch + 16 + body + 16;
        size_t len = make_rec(r, LF_META_STACK, meta_scratch + 16, body);
        meta_add(m, r, len);
    }
}

/* Moves the queued meta records into chunks, record by record. */
static void add_queued_meta(struct meta_acc *m)
{
    pthread_mutex_lock(&meta_lock);
    const uint8_t *p = meta_q, *end = meta_q + meta_q_len;
    while (p < end) {
        const uint8_t *q = p + 1;
        uint64_t len;
        if (!lf_get_varint(&q, end, &len) || len > (uint64_t)(end - q))
            break;
        meta_add(m, p, (size_t)(q - p) + len);
        p = q + len;
    }
    meta_q_len = 0;
    pthread_mutex_unlock(&meta_lock);
}

static void add_clock(struct meta_acc *m)
{
    uint8_t body[40], rec[48], *p = body;

    p = lf_put_varint(p, rt_ticks());
    p = lf_put_varint(p, rt_monotonic_ns());
    p = lf_put_varint(p, rt_realtime_ns());
    meta_add(m, rec, make_rec(rec, LF_META_CLOCK, body, (size_t)(p - body)));
}

static void snap_one(struct tb_thread *t, void *arg)
{
    (void)arg;
    if (snap_n < snap_cap)
        snap_threads[snap_n++] = t;
    snap_seen++;
}

/* Every thread state, into snap_threads; grown (outside the tbuf lock) when there are
 * more than it holds. If memory runs out, the states it holds: the others wait for a
 * later cycle, or the final flush. */
static void snapshot(void)
{
    for (;;) {
        snap_n = snap_seen = 0;
        tb_for_each(snap_one, NULL);
        if (snap_seen <= snap_cap)
            return;
        size_t cap = snap_cap * 2;
        while (cap < snap_seen + snap_seen / 4)
            cap *= 2;
        struct tb_thread **n = rt_map(cap * sizeof(*n));
        if (n == NULL)
            return;
        rt_unmap(snap_threads, snap_cap * sizeof(*snap_threads));
        snap_threads = n;
        snap_cap = cap;
    }
}

/* Codes one chunk's worth of a thread's records (evcodec.h) and appends it. */
static void emit_events(struct tb_thread *t, uint64_t base_time, uint64_t last_time, bool compress,
                        bool rounded)
{
    size_t len = ec_enc_finish(enc, raw, compress ? zc : NULL, ZSTD_LEVEL_EVENTS);
    emit_chunk(LF_CHUNK_EVENTS, (uint32_t)t->tid, base_time, last_time, enc->records, raw, len,
               false, rounded ? q_shift : 0);
    stage_events += chunk_events;
    event_chunks++;
    chunk_events = 0;
}

/* Sets q_shift: 2^q_shift ticks is the power of two nearest 100 us. The cycle counter's
 * rate is measured against CLOCK_MONOTONIC over 20 us, once, when the log is created:
 * a rough rate is enough to pick a power of two. */
static void calibrate_rounding(void)
{
    double per_100us = 1e5; /* ticks are nanoseconds */
    if (rt_clock_tsc) {
        uint64_t t0 = rt_ticks(), n0 = rt_monotonic_ns(), n1;
        while ((n1 = rt_monotonic_ns()) - n0 < 20000 && n1 >= n0)
            ;
        if (n1 <= n0)
            return;
        per_100us = (double)(rt_ticks() - t0) * 1e5 / (double)(n1 - n0);
    }
    int k = 1;
    while (k < 40 && (double)(1ull << (k + 1)) <= per_100us * 1.4142)
        k++;
    q_shift = k;
}

/* A view is taken once per cycle, and again before each chunk when the threads are few:
 * events recorded after the view (while the writer compresses, say) keep exact times,
 * and a busy thread's backlog would otherwise be mostly such events. */
#define ROUND_VIEW_PER_CHUNK 64

static uint64_t snap_registered; /* tb_registrations() from before the cycle's snapshot */

/* Takes the view for rounded times (see q_shift): the clock, then what the other
 * threads did last. */
static void round_prepare(void)
{
    uint64_t registered = snap_registered;
    round_view.off = true;
    if (q_shift == 0)
        return; /* not calibrated (the clock would not say its rate): exact times */
    round_view.w = rt_ticks();
    /* Later loads wait for the clock (rdtscp orders only earlier instructions); the
     * memory clobber keeps the compiler from hoisting them too. */
    __asm__ volatile("lfence" ::: "memory");
    uint64_t fence = __atomic_load_n(&meta_fence, __ATOMIC_ACQUIRE);
    uint64_t reaped = tb_reaped_last_time();
    round_view.fence = fence > reaped ? fence : reaped;
    round_view.max1 = round_view.max2 = 0;
    round_view.max1_of = round_view.resizing = NULL;
    round_view.n_resizing = 0;
    for (size_t i = 0; i < snap_n; i++) {
        const struct tb_thread *t = snap_threads[i];
        /* resizing first: once it reads cleared, last_time holds the resize's record. */
        if (__atomic_load_n(&t->resizing, __ATOMIC_ACQUIRE)) {
            round_view.n_resizing++;
            round_view.resizing = t;
        }
        uint64_t last = __atomic_load_n(&t->last_time, __ATOMIC_RELAXED);
        if (last >= round_view.max1) {
            round_view.max2 = round_view.max1;
            round_view.max1 = last;
            round_view.max1_of = t;
        } else if (last > round_view.max2) {
            round_view.max2 = last;
        }
    }
    round_view.off = tb_registrations() != registered;
}

/* The latest time another thread's record (or a fence) had when the view was taken:
 * thread t's times may be rounded down to no earlier than just after it. UINT64_MAX:
 * t's times stay exact this cycle. */
static uint64_t round_limit(const struct tb_thread *t)
{
    if (round_view.off || round_view.n_resizing > 1 ||
        (round_view.n_resizing == 1 && round_view.resizing != t))
        return UINT64_MAX;
    uint64_t other = round_view.max1_of == t ? round_view.max2 : round_view.max1;
    return other > round_view.fence ? other : round_view.fence;
}

/* The time stored for an event of true time `time`: rounded down to a tick when the
 * tick starts after `limit` and the event came before the view; never before `floor`
 * (the thread's previous stored time, or the last barrier). */
static inline uint64_t stored_time(uint64_t time, uint64_t limit, uint64_t floor)
{
    if (time < round_view.w) {
        uint64_t r = time >> q_shift << q_shift;
        if (r > limit)
            time = r;
    }
    return time < floor ? floor : time;
}

/* Writes out one thread's committed records: the filled buffers, and the current one
 * too when `tails`, up to RAW_CAP of them per chunk and CHUNKS_PER_CYCLE chunks.
 * Returns whether none it saw is left for a later cycle. Only buffers that existed when the
 * call began: a thread allocating as fast as the writer compresses would otherwise
 * keep one cycle going forever, and no barrier would ever be written. */
enum flushed {
    FLUSHED_ALL,     /* nothing committed is left */
    FLUSHED_WAITING, /* the current buffer's records, or buffers filled meanwhile, wait */
    FLUSHED_CAPPED,  /* CHUNKS_PER_CYCLE written: more is ready now */
};

static enum flushed flush_thread(struct tb_thread *t, bool tails, bool compress)
{
    enum flushed state = FLUSHED_ALL;
    /* A local copy: t's cache line is written by the allocating thread, and reading
     * it once per record cost more than the rest of the coding. */
    uint64_t time = t->flush_time;
    /* Stored times (rounded or exact), and what rounding may not pass. */
    uint64_t st = t->stored_time, base_st = st;
    if (snap_n <= ROUND_VIEW_PER_CHUNK)
        round_prepare();
    uint64_t limit = round_limit(t);
    bool rounded = false; /* some time of the chunk being built was rounded */
    size_t in_chunk = 0;  /* buffer-form bytes coded into the current chunk */
    struct tb_buf *b = t->flush_buf;
    struct tb_buf *stop = __atomic_load_n(&t->cur, __ATOMIC_ACQUIRE);
    /* No chain is longer than the buffers in use; past that something is corrupt, and
     * an exiting host must not spin in our flush. */
    uint64_t budget = tb_buffers_in_use() + 2;
    int chunks = 0;

    ec_enc_begin(enc, base_st);
    chunk_events = 0;
    while (b != NULL && budget-- > 0) {
        /* next first: once it is set, committed is final. */
        struct tb_buf *next = __atomic_load_n(&b->next, __ATOMIC_ACQUIRE);
        uint32_t c = __atomic_load_n(&b->committed, __ATOMIC_ACQUIRE);
        bool last = b == stop || next == NULL;
        if (last && !tails) {
            state = c == b->flushed ? FLUSHED_ALL : FLUSHED_WAITING;
            break;
        }
        const uint8_t *p = b->data + b->flushed, *end = b->data + c;
        bool full = false;
        while (p < end) {
            if (in_chunk >= RAW_CAP || !ec_enc_room(enc)) {
                if (++chunks == CHUNKS_PER_CYCLE) {
                    full = true;
                    break;
                }
                emit_events(t, base_st, st, compress, rounded);
                base_st = st;
                rounded = false;
                in_chunk = 0;
                ec_enc_begin(enc, base_st);
                if (snap_n <= ROUND_VIEW_PER_CHUNK) {
                    round_prepare();
                    limit = round_limit(t);
                }
            }
            const uint8_t *rec = p;
            struct lf_event ev;
            if (lf_decode_event(&p, end, &time, &ev) <= 0) {
                p = end; /* cannot happen: only the shim writes these buffers */
                break;
            }
            uint64_t floor = st > last_barrier ? st : last_barrier;
            if (ev.type == LF_EV_REALLOC) {
                uint64_t before = stored_time(ev.time_before, limit, floor);
                rounded |= before != ev.time_before;
                ev.time_before = before;
                floor = before;
            }
            st = stored_time(ev.time, limit, floor);
            rounded |= st != ev.time;
            ev.time = st;
            ec_enc_add(enc, &ev);
            in_chunk += (size_t)(p - rec);
            /* What the lost count counts: events, a realloc one (not zero counts). */
            chunk_events += ev.type == LF_EV_LOST ? ev.count : ev.type != LF_EV_ZEROS;
        }
        b->flushed = (uint32_t)(p - b->data);
        if (full) {
            state = FLUSHED_CAPPED;
            break;
        }
        if (next == NULL || last) {
            /* The current buffer stays; a filled one whose next was linked after we
             * read stop is finished on the next cycle. */
            state = next == NULL ? FLUSHED_ALL : FLUSHED_WAITING;
            break;
        }
        t->flush_buf = next;
        tb_buf_release(b);
        b = next;
    }
    t->flush_time = time;
    t->stored_time = st;
    if (enc->records > 0)
        emit_events(t, base_st, st, compress, rounded);
    return budget == UINT64_MAX ? FLUSHED_WAITING : state;
}

static void add_barrier(uint64_t time, bool compress)
{
    struct meta_acc m = { 0, 0, compress };
    uint8_t body[16], rec[24];
    uint8_t *p = lf_put_varint(body, time);

    meta_add(&m, rec, make_rec(rec, LF_META_BARRIER, body, (size_t)(p - body)));
    meta_emit(&m);
}

/* One cycle, under flush_lock. Returns whether records are left that should not wait
 * for the next 100 ms: past a thread's chunk limit, or any at all after a tails cycle. */
static bool cycle(bool tails, bool compress)
{
    if (stopped || fd < 0)
        return false;
    uint64_t snap = rt_ticks();
    struct meta_acc m = { 0, 0, compress };

    uint32_t req = __atomic_load_n(&markers_requested, __ATOMIC_ACQUIRE);
    if (req != markers_done) {
        markers_done = req;
        marker_at(__atomic_load_n(&marker_time, __ATOMIC_RELAXED), LF_MARKER_SIGNAL,
                  __atomic_add_fetch(&marker_serial, 1, __ATOMIC_RELAXED));
    }
    if (tails)
        add_clock(&m);
    add_queued_meta(&m);
    add_stacks(&m);
    meta_emit(&m);

    /* The barrier: every event before it is written. A thread whose current buffer
     * stays for a later cycle holds it back to its last record written; without one
     * per cycle a reader of a busy many-threaded log could hand nothing out until it
     * had read most of the log. */
    uint64_t barrier = snap;
    snap_registered = tb_registrations();
    snapshot();
    if (snap_n > ROUND_VIEW_PER_CHUNK)
        round_prepare(); /* else each thread's flush takes its own */
    bool more = false;
    for (size_t i = 0; i < snap_n; i++) {
        struct tb_thread *t = snap_threads[i];
        enum flushed f = flush_thread(t, tails, compress);
        if (f != FLUSHED_ALL && t->flush_time < barrier)
            barrier = t->flush_time;
        more = more || f == FLUSHED_CAPPED || (tails && f == FLUSHED_WAITING);
    }
    if (barrier > last_barrier) {
        add_barrier(barrier, compress);
        last_barrier = barrier;
    }
    stage_flush();
    return more;
}

/* Cycles until every committed record is written (at exit, exec, a fatal signal). A
 * cycle writes at least a buffer of every thread with any left, so the buffers in use
 * bound the cycles, even over a damaged chain. */
static void drain(bool compress)
{
    uint64_t n = tb_buffers_in_use() + 2;
    while (cycle(true, compress) && n-- > 0)
        ;
}

/* ---- the writer thread ---- */

/* Whether every thread of the program has exited and only the writer is left: the
 * main thread called pthread_exit and the last other thread has gone too. glibc would
 * have ended the process then with exit(0), but it counts the writer as a thread of the
 * program, so without this the process would live on, with every signal blocked, for
 * ever. The kernel keeps an exited main thread as a zombie until the whole group ends:
 * the process's state reads Z, and it counts as one of the num_threads. Unreadable
 * /proc: false (the process then outlives its program, as before). */
static bool program_threads_gone(void)
{
    char buf[512];
    int f = rt_open_anyway("/proc/self/stat", O_RDONLY | O_CLOEXEC, 0);
    if (f < 0)
        return false;
    ssize_t n = read(f, buf, sizeof(buf) - 1);
    close(f);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "pid (comm) state ppid ... num_threads ...": comm may hold anything, so fields
     * are counted from its last ')'. state is field 3, num_threads field 20. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] != 'Z')
        return false;
    p += 2;
    for (int field = 3; field < 20; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return false;
        p++;
    }
    return *p >= '1' && *p <= '2' && p[1] == ' ';
}

static void *writer_main(void *arg)
{
    (void)arg;
    rt_in_shim = 1; /* anything it might still allocate is not the program's */
    clockid_t clock;
    if (pthread_getcpuclockid(pthread_self(), &clock) == 0)
        __atomic_store_n(&tb_writer_clock, clock, __ATOMIC_RELAXED);
    uint64_t last_tail = rt_monotonic_ns();
    uint64_t next_snapshot =
        rt_cfg.snapshot_interval_ns ? last_tail + rt_cfg.snapshot_interval_ns : UINT64_MAX;
    bool backlog = false;

    for (;;) {
        uint64_t now = rt_monotonic_ns();
        uint64_t wait = TAIL_NS - (now - last_tail < TAIL_NS ? now - last_tail : TAIL_NS);
        if (wait > 0 && !backlog) {
            __atomic_store_n(&writer_sleeping, 1, __ATOMIC_SEQ_CST);
            uint32_t seen = __atomic_load_n(&wake_word, __ATOMIC_SEQ_CST);
            struct timespec ts = { (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
            syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
            __atomic_store_n(&writer_sleeping, 0, __ATOMIC_SEQ_CST);
        }
        now = rt_monotonic_ns();
        bool tails = now - last_tail >= TAIL_NS;
        if (now >= next_snapshot) {
            wr_marker(LF_MARKER_INTERVAL);
            next_snapshot += rt_cfg.snapshot_interval_ns;
            if (next_snapshot < now)
                next_snapshot = now + rt_cfg.snapshot_interval_ns;
        }
        if (wr_on_tick != NULL)
            wr_on_tick();
        pthread_mutex_lock(&flush_lock);
        if (finished || stopped) {
            __atomic_store_n(&tb_writer_alive, 0, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&flush_lock);
            break;
        }
        backlog = cycle(tails, true);
        /* Under the flush lock: a flush at exit, exec or fork walks the dead threads'
         * buffers it found in its snapshot, and a state recycled meanwhile would have
         * its records written under another thread's id and time base, or skipped.
         * The trim looks at the states this cycle flushed. */
        if (tails) {
            tb_trim_idle(snap_threads, snap_n);
            tb_reap();
        }
        pthread_mutex_unlock(&flush_lock);
        if (tails) {
            last_tail = now;
            /* /proc is read only once the main thread has gone: the shim takes none of
             * the program's descriptors, even for a moment, while it runs. */
            if (wr_on_program_gone != NULL && tb_main_may_have_exited() && program_threads_gone())
                wr_on_program_gone(); /* does not return */
        }
    }
    return NULL;
}

void wr_wake(void)
{
    __atomic_add_fetch(&wake_word, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&writer_sleeping, __ATOMIC_SEQ_CST))
        syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int wr_start(void)
{
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    int err;

    if (writer_running || fd < 0)
        return 0;
    /* The writer must never run the program's signal handlers. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&th, &attr, writer_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        rt_say("cannot start the writer thread (", errno_text(err),
               "); records will be written at exit only", NULL);
        return -err;
    }
    writer_running = true;
    __atomic_store_n(&tb_writer_alive, 1, __ATOMIC_RELAXED);
    return 0;
}

/* ---- opening ---- */

static const char *exe_basename(void)
{
    const char *slash = strrchr(rt_cfg.exe, '/');
    return slash != NULL ? slash + 1 : rt_cfg.exe;
}

/* Expands %p (pid), %e (executable name) and %%. A process other than the root of the
 * run whose template has no %p gets ".PID" before the extension, so a fork never
 * collides with its parent. */
static bool expand_template(char *out, size_t cap, const char *tmpl, int pid, bool root)
{
    const char *name = NULL;
    char *p = out, *end = out + cap - 32;
    bool has_pid = false;

    for (const char *s = tmpl; *s != '\0'; s++) {
        if (p >= end)
            return false;
        if (s[0] == '%' && s[1] == 'p') {
            p = rt_fmt_u64(p, (uint64_t)pid);
            has_pid = true;
            s++;
        } else if (s[0] == '%' && s[1] == 'e') {
            if (name == NULL)
                name = exe_basename();
            p = rt_fmt_str(p, end, name);
            s++;
        } else if (s[0] == '%' && s[1] == '%') {
            *p++ = '%';
            s++;
        } else {
            *p++ = *s;
        }
    }
    *p = '\0';
    if (!has_pid && !root) {
        size_t n = (size_t)(p - out);
        char *ext = n > 4 && !strcmp(p - 4, ".hsl") ? p - 4 : p;
        char tail[8] = "";
        if (ext != p)
            memcpy(tail, ".hsl", 5);
        p = ext;
        *p++ = '.';
        p = rt_fmt_u64(p, (uint64_t)pid);
        p = rt_fmt_str(p, out + cap - 1, tail);
        *p = '\0';
    }
    return true;
}

/* path-2.hsl, path-3.hsl, ... for a name already taken (an exec'd image of the same
 * process, or a log left from an earlier run with the same pid). */
static void with_suffix(char *out, size_t cap, const char *base, int k)
{
    size_t n = strlen(base);
    const char *ext = n > 4 && !strcmp(base + n - 4, ".hsl") ? base + n - 4 : base + n;
    size_t stem = (size_t)(ext - base);
    char *p = out;

    if (stem > cap - 32)
        stem = cap - 32;
    memcpy(p, base, stem);
    p += stem;
    *p++ = '-';
    p = rt_fmt_u64(p, (uint64_t)k);
    p = rt_fmt_str(p, out + cap - 1, ext);
    *p = '\0';
}

static const char *file_kind(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    default:
        return "not a regular file";
    }
}

static bool is_dir(const char *p)
{
    struct stat st;
    size_t n = strlen(p);

    return (n > 0 && p[n - 1] == '/') || (stat(p, &st) == 0 && S_ISDIR(st.st_mode));
}

/* The output path, checked before it is opened: a directory gets the log inside it
 * under the default name (HEAPSPAN_OUTPUT=/var/tmp/ means "there"); anything else that
 * exists and is not a regular file (/dev/null, a FIFO) is refused - opening it would
 * write there, or block, and the "-2" suffix that avoids an existing log would make
 * /dev/null-2. A regular file that exists is left alone (wr_open picks a suffix). */
static int output_path(char *base, size_t cap, int pid, bool root)
{
    struct stat st;

    if (stat(base, &st) != 0)
        return 0; /* a new file; open says what else is wrong */
    if (S_ISDIR(st.st_mode)) {
        char name[512];
        size_t n = strlen(base);
        if (!expand_template(name, sizeof(name), HS_DEFAULT_OUTPUT, pid, root) ||
            n + 1 + strlen(name) >= cap - 32) {
            rt_say(HS_ENV_OUTPUT " is too long; not recording", NULL);
            return -ENAMETOOLONG;
        }
        if (n > 0 && base[n - 1] != '/')
            base[n++] = '/';
        memcpy(base + n, name, strlen(name) + 1);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        rt_say(HS_ENV_OUTPUT "=", base, " is ", file_kind(st.st_mode),
               "; the log must be a regular file (or go in a directory): not recording, the "
               "program runs as usual",
               NULL);
        return -EINVAL;
    }
    return 0;
}

/* The log `heapspan run` created for the root process (HEAPSPAN_ROOT_LOG), if it is
 * still what run left: a regular file of ours, empty, with no other name. The first
 * image takes it; an image exec'd later finds it written (or renamed away) and creates
 * the name afresh, as without run. A descriptor, or -1. */
static int take_made_log(const char *p)
{
    struct stat st;
    int f = rt_open_anyway(p, O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0);

    if (f < 0)
        return -1;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0 || st.st_uid != geteuid() ||
        st.st_nlink != 1) {
        syscall(SYS_close, f);
        return -1;
    }
    return f;
}

static void write_manifest(void)
{
    char line[8192], *p = line, *end = line + sizeof(line) - 2;

    if (rt_cfg.manifest[0] == '\0')
        return;
    if (path[0] != '/' && getcwd(line, sizeof(line) - 4096 - 2) != NULL) {
        p = line + strlen(line);
        *p++ = '/';
    }
    p = rt_fmt_str(p, end, path);
    *p++ = '\n';
    int m = rt_open_anyway(rt_cfg.manifest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (m >= 0) {
        (void)rt_write_all(m, line, (size_t)(p - line));
        close(m);
    }
}

/* The length of this process's argv area: arg_end - arg_start, fields 48 and 49 of
 * /proc/self/stat (readable by the process itself). 0 if unknown. */
static size_t argv_area_len(void)
{
    char buf[1024];
    int f = rt_open_anyway("/proc/self/stat", O_RDONLY | O_CLOEXEC, 0);
    if (f < 0)
        return 0;
    ssize_t n = read(f, buf, sizeof(buf) - 1);
    close(f);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm (field 2) may hold anything: fields are counted from its last ')'. */
    char *p = strrchr(buf, ')');
    uint64_t v[2] = { 0, 0 };
    for (int field = 2; p != NULL && field < 49; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return 0;
        p++;
        if (field + 1 >= 48) {
            char *e;
            v[field + 1 - 48] = strtoull(p, &e, 10);
            if (e == p)
                return 0;
        }
    }
    return p != NULL && v[1] > v[0] ? (size_t)(v[1] - v[0]) : 0;
}

/* The process record: the executable and the arguments. /proc/self/cmdline reads on into
 * the environment when the argv area's last byte is not NUL - a program that wrote its
 * title over its arguments (setproctitle style) makes it so, and its forked children
 * open their logs here - so no more than the area's length is read, and the area's end
 * ends the last argument. */
static void queue_process_record(void)
{
    static uint8_t body[16384], rec[16400];
    const char *exe = rt_cfg.exe;
    char args[8192];
    uint8_t *p = body;
    ssize_t n = (ssize_t)strlen(exe);
    ssize_t an = 0;
    size_t area = argv_area_len();
    size_t want = area != 0 && area < sizeof(args) ? area : sizeof(args);
    int afd = rt_open_anyway("/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0);

    if (n < 0)
        n = 0;
    if (afd >= 0) {
        an = read(afd, args, want);
        close(afd);
        if (an < 0)
            an = 0;
    }
    /* The whole area read: its end closes an argument left open. A read cut at
     * sizeof(args) leaves a cut-off last argument out instead. */
    bool whole = area != 0 && (size_t)an == area;
    uint64_t n_args = 0;
    for (ssize_t i = 0; i < an; i++)
        n_args += args[i] == '\0';
    if (whole && an > 0 && args[an - 1] != '\0')
        n_args++;
    p = lf_put_varint(p, (uint64_t)n);
    memcpy(p, exe, (size_t)n);
    p += n;
    p = lf_put_varint(p, n_args);
    for (ssize_t i = 0; i < an;) {
        size_t l = strnlen(args + i, (size_t)(an - i));
        if ((size_t)(an - i) == l && !whole)
            break;
        p = lf_put_varint(p, l);
        memcpy(p, args + i, l);
        p += l;
        i += (ssize_t)l + 1;
    }
    wr_meta(rec, make_rec(rec, LF_META_PROCESS, body, (size_t)(p - body)));
}

/* zstd's memory, straight from mmap: its context (megabytes) stays out of the program's
 * heap, and compressing on the writer thread calls no allocator at all (glibc's arenas
 * or a preloaded jemalloc never see that thread). zstd allocates a few large blocks per
 * context, once. */
#define ZSTD_HDR 64 /* the block's size, kept in front; keeps zstd's 64-byte alignment */

static void *zstd_alloc(void *opaque, size_t size)
{
    (void)opaque;
    uint8_t *p = rt_map(size + ZSTD_HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof(size));
    return p + ZSTD_HDR;
}

static void zstd_free(void *opaque, void *address)
{
    size_t size;
    (void)opaque;
    if (address == NULL)
        return;
    uint8_t *p = (uint8_t *)address - ZSTD_HDR;
    memcpy(&size, p, sizeof(size));
    rt_unmap(p, size + ZSTD_HDR);
}

static int alloc_buffers(void)
{
    if (stage == NULL)
        stage = rt_map(STAGE_CAP);
    if (raw == NULL)
        raw = rt_map(RAW_OUT_CAP);
    if (enc == NULL)
        enc = rt_map(sizeof(*enc));
    if (meta_scratch == NULL)
        meta_scratch = rt_map(64 * 1024);
    if (snap_threads == NULL) {
        snap_cap = 1024;
        snap_threads = rt_map(snap_cap * sizeof(*snap_threads));
    }
    if (stage == NULL || raw == NULL || enc == NULL || meta_scratch == NULL || snap_threads == NULL)
        return -ENOMEM;
    if (zc == NULL)
        zc = ZSTD_createCCtx_advanced((ZSTD_customMem){ zstd_alloc, zstd_free, NULL });
    /* NULL is survivable: chunks are then stored raw. */
    return 0;
}

/* The log's descriptor is closed with the system call (close() is the guard's hook),
 * and only if it is still the log's. */
static void close_log(void)
{
    if (is_log(fd))
        syscall(SYS_close, fd);
    __atomic_store_n(&fd, -1, __ATOMIC_RELAXED);
}

int wr_log_fd(void)
{
    return __atomic_load_n(&fd, __ATOMIC_RELAXED);
}

bool wr_is_log_fd(int f)
{
    /* The number alone is not enough: a raw close_range may have handed it to a file of
     * the program's, whose close and dup2 must then go through (the writer finds out on
     * its next write). */
    return f >= 0 && f == __atomic_load_n(&fd, __ATOMIC_RELAXED) && getpid() == log_pid &&
           is_log(f);
}

int wr_move_fd(void)
{
    pthread_mutex_lock(&flush_lock);
    int old = fd;
    if (old >= 0 && !is_log(old)) {
        log_gone(old, 0);
        old = -1;
    }
    if (old >= 0) {
        int moved = fcntl(old, F_DUPFD_CLOEXEC, old + 1);
        if (moved < 0)
            moved = fcntl(old, F_DUPFD_CLOEXEC, 0);
        if (moved >= 0) {
            __atomic_store_n(&fd, moved, __ATOMIC_RELAXED);
        } else {
            rt_say("no descriptor left to keep ", path,
                   " from the program's dup2; recording stopped, the log is readable up to "
                   "here",
                   NULL);
            stopped = true;
            __atomic_store_n(&fd, -1, __ATOMIC_RELAXED);
            if (wr_on_stop != NULL)
                wr_on_stop();
            old = -1; /* the program's dup2 replaces it: nothing to close */
        }
    }
    pthread_mutex_unlock(&flush_lock);
    return old;
}

int wr_open(int ppid)
{
    char base[4096];
    int pid = getpid();
    bool root = rt_cfg.root_pid == 0 || rt_cfg.root_pid == pid;
    int err = alloc_buffers();

    if (err < 0) {
        rt_say("out of memory at start; not recording", NULL);
        return err;
    }
    bool made = root && rt_cfg.root_pid == pid && rt_cfg.root_log[0] != '\0';
    if (made) {
        memcpy(base, rt_cfg.root_log, sizeof(base));
    } else {
        /* Expanded as the root's name first: a directory (HEAPSPAN_OUTPUT=/var/tmp/)
         * takes the default name, pid and all, rather than "/var/tmp/.PID". */
        if (!expand_template(base, sizeof(base), rt_cfg.output, pid, true) ||
            (!root && !is_dir(base) &&
             !expand_template(base, sizeof(base), rt_cfg.output, pid, false))) {
            rt_say(HS_ENV_OUTPUT " is too long; not recording", NULL);
            return -ENAMETOOLONG;
        }
        err = output_path(base, sizeof(base), pid, root);
        if (err < 0)
            return err;
    }
    memcpy(path, base, sizeof(path));
    fd = made ? take_made_log(path) : -1;
    for (int k = 2; fd < 0 && k < 1000; k++) {
        fd = rt_open_anyway(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
        with_suffix(path, sizeof(path), base, k);
    }
    if (fd < 0) {
        err = -errno;
        rt_say("cannot create ", path, " (", errno_text(errno),
               "); not recording, the program runs as usual", NULL);
        return err;
    }
    fd = rt_fd_move_high(fd);
    if (fd < 0) {
        struct rlimit r;
        char lim[24] = "?";
        if (getrlimit(RLIMIT_NOFILE, &r) == 0)
            *rt_fmt_u64(lim, (uint64_t)r.rlim_cur) = '\0';
        unlink(path);
        rt_say("the program may open only ", lim,
               " descriptors (RLIMIT_NOFILE, soft and hard) and the log would take one of "
               "them; not recording, the program runs as usual",
               NULL);
        return -EMFILE;
    }
    log_pid = pid;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err = -errno;
        rt_say("cannot stat ", path, " (", errno_text(errno), "); not recording", NULL);
        syscall(SYS_close, fd);
        fd = -1;
        return err;
    }
    log_dev = st.st_dev;
    log_ino = st.st_ino;

    uint8_t h[LF_FILE_HDR_SIZE] = { 0 };
    memcpy(h, LF_MAGIC, 8);
    lf_put_u16(h + 8, LF_VERSION);
    lf_put_u16(h + 10, LF_FILE_HDR_SIZE);
    lf_put_u32(h + 12, rt_clock_tsc ? LF_FILE_CLOCK_TSC : 0);
    lf_put_u32(h + 16, (uint32_t)pid);
    lf_put_u32(h + 20, (uint32_t)ppid);
    lf_put_u64(h + 24, rt_realtime_ns());
    lf_put_u64(h + 32, rt_ticks());
    lf_put_u64(h + 40, rt_cfg.sample_bytes);
    lf_put_u32(h + 48, (uint32_t)rt_cfg.max_depth);
    err = rt_write_all(fd, h, sizeof(h));
    if (err < 0) {
        rt_say("cannot write ", path, " (", errno_text(-err), "); not recording", NULL);
        close_log();
        return err;
    }
    file_off = sizeof(h);
    event_chunks = 0;
    if (q_shift == 0)
        calibrate_rounding();
    write_manifest();
    queue_process_record();
    if (!rt_cfg.quiet)
        rt_say("recording to ", path, NULL);
    return 0;
}

const char *wr_path(void)
{
    return path;
}

int wr_rename(const char *to)
{
    if (rename(path, to) != 0)
        return -errno;
    size_t n = strlen(to);
    if (n >= sizeof(path))
        n = sizeof(path) - 1;
    memcpy(path, to, n);
    path[n] = '\0';
    write_manifest(); /* `heapspan run` lists the logs that exist at the end */
    return 0;
}

bool wr_discard_unused(void)
{
    bool gone = false;

    pthread_mutex_lock(&flush_lock);
    if (!finished && !stopped && event_chunks == 0 && fd >= 0 && is_log(fd) && unlink(path) == 0)
        gone = true;
    pthread_mutex_unlock(&flush_lock);
    return gone;
}

void wr_restore_unused(void)
{
    uint8_t *buf = raw;

    pthread_mutex_lock(&flush_lock);
    char self[64];
    *rt_fmt_u64(rt_fmt_str(self, self + 40, "/proc/self/fd/"), (uint64_t)fd) = '\0';
    /* The log is write-only: its removed file is read through /proc (the link there
     * opens the file itself, name or none). */
    int in = is_log(fd) ? rt_open_anyway(self, O_RDONLY | O_CLOEXEC, 0) : -1;
    int f = in < 0
                ? -1
                : rt_open_anyway(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = f >= 0;
    /* The same bytes under the name again (a few KiB: header, process, modules,
     * stacks), through the raw buffer, which is the writer's under the flush lock. */
    for (uint64_t at = 0; ok && at < file_off;) {
        size_t n = file_off - at < RAW_CAP ? (size_t)(file_off - at) : RAW_CAP;
        ok = pread(in, buf, n, (off_t)at) == (ssize_t)n && rt_write_all(f, buf, n) == 0;
        at += n;
    }
    if (in >= 0)
        syscall(SYS_close, in);
    struct stat st;
    /* The system call: dup3 is the guard's hook (fdguard.h), which would take our lock. */
    if (ok && fstat(f, &st) == 0 && syscall(SYS_dup3, f, fd, O_CLOEXEC) == fd) {
        log_dev = st.st_dev;
        log_ino = st.st_ino;
    } else {
        rt_say("cannot write ", path, " again after a failed exec; recording stopped", NULL);
        stopped = true;
        if (wr_on_stop != NULL)
            wr_on_stop();
    }
    if (f >= 0)
        syscall(SYS_close, f);
    pthread_mutex_unlock(&flush_lock);
}

/* ---- flushes ---- */

void wr_flush(void)
{
    pthread_mutex_lock(&flush_lock);
    if (!finished)
        drain(true);
    pthread_mutex_unlock(&flush_lock);
}

static void write_end(int reason, uint64_t lost)
{
    struct meta_acc m = { 0, 0, false };
    uint8_t body[40], rec[48], *p = body;

    p = lf_put_varint(p, rt_ticks());
    p = lf_put_varint(p, lost);
    p = lf_put_varint(p, (uint64_t)reason);
    meta_add(&m, rec, make_rec(rec, LF_META_END, body, (size_t)(p - body)));
    meta_emit(&m);
}

static void write_index(void)
{
    uint64_t at = file_off + stage_len;
    size_t len = idx_n * LF_INDEX_ENTRY_SIZE;

    if (len > RAW_CAP)
        len = RAW_CAP - RAW_CAP % LF_INDEX_ENTRY_SIZE;
    for (size_t i = 0; i * LF_INDEX_ENTRY_SIZE < len; i++) {
        lf_put_u64(raw + i * 24, idx[i].offset);
        lf_put_u64(raw + i * 24 + 8, idx[i].min_time);
        lf_put_u64(raw + i * 24 + 16, idx[i].max_time);
    }
    emit_chunk(LF_CHUNK_INDEX, 0, 0, 0, (uint32_t)(len / LF_INDEX_ENTRY_SIZE), raw, len, false, 0);
    if (stage_len + LF_TRAILER_SIZE > STAGE_CAP)
        stage_flush();
    memcpy(stage + stage_len, LF_TRAILER_MAGIC, 8);
    lf_put_u64(stage + stage_len + 8, at);
    stage_len += LF_TRAILER_SIZE;
}

void wr_finish(int reason)
{
    pthread_mutex_lock(&flush_lock);
    if (!finished && fd >= 0) {
        drain(true);
        write_end(reason, 0);
        write_index();
        stage_flush();
        finished = true;
    }
    pthread_mutex_unlock(&flush_lock);
}

/* Events a thread recorded that were never written: its buffers past what the writer
 * took, and what it could not record (t->lost, lost_async) or counted once recording
 * had stopped (t->unwritten). Under the tbuf lock (tb_for_each); records are counted,
 * as the stage counts them: a realloc is one. */
static void add_unwritten(struct tb_thread *t, void *arg)
{
    uint64_t *n = arg;
    uint64_t budget = tb_buffers_in_use() + 2;

    for (struct tb_buf *b = t->flush_buf; b != NULL && budget-- > 0;
         b = __atomic_load_n(&b->next, __ATOMIC_ACQUIRE)) {
        const uint8_t *p = b->data + b->flushed;
        const uint8_t *end = b->data + __atomic_load_n(&b->committed, __ATOMIC_ACQUIRE);
        uint64_t time = 0;
        struct lf_event ev;
        while (p < end && lf_decode_event(&p, end, &time, &ev) > 0)
            *n += ev.type == LF_EV_LOST ? ev.count : ev.type != LF_EV_ZEROS;
    }
    *n += t->lost + __atomic_load_n(&t->lost_async, __ATOMIC_RELAXED) +
          __atomic_load_n(&t->unwritten, __ATOMIC_RELAXED);
}

void wr_settle_lost(uint64_t counted)
{
    pthread_mutex_lock(&flush_lock);
    if (early_end.chunk_off != UINT64_MAX) {
        uint64_t total = early_end.lost + dropped_events + counted;
        tb_for_each(add_unwritten, &total);
        put_varint_fixed(early_end.payload + early_end.count_at, total);
        uint8_t crc[4];
        lf_put_u32(crc, lf_crc32c(0, early_end.payload, early_end.len));
        int f = is_log(fd) ? fd : reopen_log();
        if (f >= 0) {
            uint64_t at = early_end.chunk_off + LF_CHUNK_HDR_SIZE + early_end.count_at;
            if (pwrite(f, early_end.payload + early_end.count_at, END_COUNT_WIDTH, (off_t)at) ==
                END_COUNT_WIDTH)
                (void)!pwrite(f, crc, sizeof(crc), (off_t)(early_end.chunk_off + 20));
            if (f != fd)
                syscall(SYS_close, f);
        }
        early_end.lost = total;
    }
    pthread_mutex_unlock(&flush_lock);
}

void wr_emergency(int reason)
{
    int got = 0;

    for (int i = 0; i < 200; i++) {
        if (pthread_mutex_trylock(&flush_lock) == 0) {
            got = 1;
            break;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    if (!got)
        return; /* this thread holds it (crashed mid-flush) or the writer is stuck */
    if (!finished && fd >= 0) {
        /* No zstd here: its context belongs to the writer thread. */
        drain(false);
        write_end(reason, 0);
        stage_flush();
        finished = true;
    }
    pthread_mutex_unlock(&flush_lock);
}

/* ---- fork ---- */

void wr_fork_prepare(void)
{
    pthread_mutex_lock(&flush_lock);
    pthread_mutex_lock(&meta_lock);
}

void wr_fork_parent(void)
{
    pthread_mutex_unlock(&meta_lock);
    pthread_mutex_unlock(&flush_lock);
}

int wr_fork_child(int ppid)
{
    pthread_mutex_init(&flush_lock, NULL);
    pthread_mutex_init(&meta_lock, NULL);
    close_log(); /* the parent's log: never written by two processes */
    meta_q_len = 0;
    stage_len = 0;
    stacks_written = 1;
    idx_n = 0;
    file_off = 0;
    finished = false;
    stopped = false;
    writer_running = false;
    writer_sleeping = 0;
    markers_done = markers_requested;
    int err = wr_open(ppid);
    if (err < 0)
        return err;
    return wr_start();
}
