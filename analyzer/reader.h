/*
 * reader.h - bytes of a heapspan log -> checked, time-ordered items. Used by every
 * analyzer command, from one thread.
 *
 * The reader streams: it holds the stacks and modules (small, needed to the end), and
 * only the event chunks between two barriers, so its memory is bounded by the log's
 * rate, not its length. Threads' event streams are merged by time; a barrier record
 * says when every earlier event has been written, so items are handed out only below
 * the second-last barrier seen (events of a thread preempted mid-record can come later
 * still; they are handed out as soon as seen and counted in n_late).
 *
 * It works ahead of its caller, on threads the first rd_next starts: one merges into
 * batches of items, up to 64Ki items ahead; two read, check and decompress the event
 * chunks after the merge's, up to about 32 MB ahead (not with a window). The items,
 * warnings and errors are exactly those without them, an error in its place among the
 * items. Until rd_next has returned 0 or an error, its caller uses only the items and
 * rd_header: the rest (stacks, modules, process, clock, stats, warnings) is still being
 * read. rd_set_thread(r, false) keeps all of it on the caller's thread.
 *
 * Every length, count, id and offset is checked before use, so that memory is bounded
 * by what the log holds, not by the values it states: stacks are kept by id with ids at
 * most RD_STACK_ID_SLACK beyond the number defined, an event's stack id is one the log
 * defined or 0 (see RD_EVENT), and what the reader holds stays within RD_HELD_FLOOR +
 * RD_HELD_PER_BYTE times the file's size. An error is one message in rd_error(): "<file>: byte
 * <offset>: <what>; <what to do>". A log cut short (a killed process) is not an error:
 * it is read up to its last complete chunk and rd_warnings() says so. Nor is a damaged
 * chunk (a checksum mismatch, a payload that does not decode, a header that is not
 * one): it is skipped, counted in rd_stats (damaged_*), and one warning at the end says
 * how many, where and what was lost; only a log in which no chunk at all can be read is
 * an error. rd_open refuses
 * anything but a regular file before opening it (a FIFO would block it). rd_open and
 * rd_next return 0/1 or a negative errno.
 */
#ifndef HEAPSPAN_READER_H
#define HEAPSPAN_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/logfmt.h"

struct rd_log;

struct rd_header {
    unsigned version;
    uint32_t flags, pid, ppid, max_depth;
    uint64_t start_realtime_ns, start_ticks;
    uint64_t sample_bytes; /* 0: every allocation recorded */
};

#define RD_MAX_SEGS 16

/* How far a stack record's id may run ahead of the number of distinct stacks defined
 * before it. The shim numbers stacks 1, 2, 3, ... in the order it defines them, so a
 * table by id - the reader's, or a consumer's - is at most this many entries longer
 * than the stacks the log defines. A record beyond it is an error. */
#define RD_STACK_ID_SLACK 4096u

/* What the reader may hold for what it has read - stacks, modules, items waiting for
 * their time, event chunks waiting for a barrier, and RD_STACK_COST per stack for its
 * consumers - at most: RD_HELD_FLOOR bytes plus RD_HELD_PER_BYTE per byte of the file.
 * A log that needs more (records made to decompress far beyond what heapspan writes)
 * is an error naming the byte. */
#define RD_HELD_FLOOR    ((size_t)16 << 20)
#define RD_HELD_PER_BYTE 256u
/* What a consumer may keep per stack the log defines (the aggregator: its numbers per
 * stack, about half a KiB), counted with what the reader holds: a log of a few hundred
 * KB can define 600,000 stacks, and every one would cost that. */
#define RD_STACK_COST 512u

struct rd_module {
    uint32_t id;
    uint64_t load_time, unload_time; /* ticks; unload_time UINT64_MAX while loaded */
    uint64_t bias;
    uint64_t lo, hi; /* runtime address range of its PT_LOAD segments */
    int n_segs;
    struct {
        uint64_t vaddr, memsz;
        uint32_t flags;
    } segs[RD_MAX_SEGS];
    uint8_t build_id[64];
    int build_id_len;
    char *path;
};

struct rd_stack {
    uint32_t depth;
    const uint64_t *pcs; /* return addresses, innermost first */
};

/* A CPython code object the log described (LF_META_PYCODE), which stacks' Python
 * frames name by id (format/logfmt.h, LF_PY_FRAME). */
struct rd_pycode {
    int first_line;
    uint32_t code_units; /* bytecode length, 2-byte units */
    char *qualname, *filename;
    uint8_t *linetable; /* co_linetable, linetable_len bytes (analyzer/pyline.h) */
    uint32_t linetable_len;
};

/* The interpreter the log found in the process (LF_META_PYTHON); seen false if none. */
struct rd_python {
    bool seen;
    uint32_t version; /* PY_VERSION_HEX; 0 if it did not say */
    bool stacks;      /* Python frames are in the stacks */
    char *allocator;  /* PYTHONMALLOC as the process had it; "" if unset */
    char *reason;     /* why the stacks are native only; "" when stacks */
};

/* An RD_EVENT's ev.stack is 0 (unknown) or the id of a stack the log defined before
 * the event was handed out: rd_stack() finds it once the read is over, and it is at
 * most rd_n_stacks() + RD_STACK_ID_SLACK. An id no record had defined by then becomes
 * 0, counted in rd_stats()->undefined_stacks, with one warning at the end. */
enum rd_kind {
    RD_EVENT = 1, /* ev: an allocator event */
    RD_MARKER,    /* marker_kind, serial */
    RD_MODULE,    /* module: loaded at time */
    RD_UNLOAD,    /* module: unloaded at time */
    RD_NOTE,      /* text, severity */
    RD_END,       /* end_reason, count = lost events */
    RD_POOL,      /* pool, pool_op (lf_pool_op), tid; text: LF_POOL_NAME's name; count:
                   * LF_POOL_RESET's blocks, whose frees are the items that follow */
};

struct rd_item {
    enum rd_kind kind;
    uint64_t time; /* ticks */
    uint32_t tid;
    struct lf_event ev;
    int marker_kind;
    uint32_t serial;
    const struct rd_module *module; /* its unload_time: read it only after the end */
    const char *text;               /* valid until the next rd_next */
    int severity;
    int end_reason;
    uint64_t count;
    uint64_t pool; /* RD_POOL: the pool's handle */
    int pool_op;
};

struct rd_stats {
    uint64_t file_bytes;
    uint64_t chunks, event_chunks, meta_chunks;
    uint64_t events, late, lost; /* lost: LF_EV_LOST counts */
    uint64_t bytes_read;         /* of the file, for --from/--to seeks */
    bool truncated;              /* ended mid-chunk */
    bool ended;                  /* saw the end record */
    int end_reason;
    uint64_t end_time, end_lost; /* the end record's time (ticks) and lost events */
    uint64_t undefined_stacks;   /* events handed out with stack 0 for an undefined id */
    /* Damage skipped: chunks whose payload failed its checksum or did not decode, and
     * stretches with no chunk header (counted as one each); their bytes; the events
     * their headers said they held (stretches say none). */
    uint64_t damaged_chunks, damaged_bytes, damaged_events;
    /* Events chunks whose times the writer rounded down (version 3), and the largest
     * rounding seen: 2^time_shift ticks (0: every time exact). */
    uint64_t rounded_chunks;
    unsigned time_shift;
};

/* Words the damage warning holds, and no other: a command that shows warnings only in
 * its output finds it with them, to say it on stderr too. */
#define RD_DAMAGE_WORDS "damaged chunk"

/* Opens and checks the header. Errors (missing file, not a log, newer version) leave
 * a message in rd_error() of the returned handle; NULL only when out of memory. */
struct rd_log *rd_open(const char *path, int *err);
const char *rd_error(const struct rd_log *r);
const struct rd_header *rd_header(const struct rd_log *r);

/* Restricts items to [from, to) ticks. With an index (a cleanly closed log) or by
 * hopping chunk headers otherwise, event chunks wholly outside are never read; meta
 * chunks always are (stacks and modules are needed). Call before the first rd_next. */
void rd_set_window(struct rd_log *r, uint64_t from, uint64_t to);

/* Whether rd_next reads ahead on threads of its own (the default: yes). Call before
 * the first rd_next. */
void rd_set_thread(struct rd_log *r, bool on);

/* Follow mode, for a log still being written (`heapspan run --otlp`): where the file
 * ends now - at a chunk boundary, or inside a chunk not yet whole - rd_next returns
 * -EAGAIN ("no more yet") instead of ending, and a later call goes on with what has been
 * appended since. Items are still handed out only below the second-last barrier, so
 * what -EAGAIN leaves unread is at most one writer cycle. rd_set_follow(r, false), once
 * the writer has exited, makes the current end the end again, with the usual warnings
 * for a log cut short. Needs rd_set_thread(r, false); may be called between rd_next
 * calls. */
void rd_set_follow(struct rd_log *r, bool on);

/* Next item in time order: 1, 0 at the end, or a negative errno. A pool's reset
 * (include/heapspan.h) comes out as its RD_POOL item, then a free of each block of the
 * pool still live (analyzer/pools.h), at the reset's time. */
int rd_next(struct rd_log *r, struct rd_item *out);

/* The pools of blocks reported through the API, as read so far (pools.h); NULL when
 * the log has shown none. */
struct pl_tracker *rd_pools(const struct rd_log *r);

/* Stack by id, NULL if the log never defined it (cut short). */
const struct rd_stack *rd_stack(const struct rd_log *r, uint32_t id);
/* The code object of a Python frame, NULL if the log defined none with that id; read
 * it once the read is over, as stacks. */
const struct rd_pycode *rd_pycode(const struct rd_log *r, uint32_t id);
const struct rd_python *rd_python(const struct rd_log *r);
uint32_t rd_n_stacks(const struct rd_log *r);

/* Modules in the order they were loaded. */
int rd_n_modules(const struct rd_log *r);
const struct rd_module *rd_module(const struct rd_log *r, int i);
/* The module that held pc at time (or the nearest in time if none did then). */
const struct rd_module *rd_module_at(const struct rd_log *r, uint64_t pc, uint64_t time);

/* The program: exe path and argv, as recorded. */
const char *rd_exe(const struct rd_log *r);
int rd_argc(const struct rd_log *r);
const char *rd_argv(const struct rd_log *r, int i);

/* Ticks -> nanoseconds since the start of the log (from the clock records). */
double rd_ticks_to_ns(const struct rd_log *r, uint64_t ticks);
/* Seconds since the start -> ticks (for --from/--to); needs the log's clock records,
 * so it reads meta chunks ahead if necessary: call before the first rd_next. */
uint64_t rd_seconds_to_ticks(struct rd_log *r, double seconds);

/* How far the read has got: the bytes of the file up to the chunk read last, of its
 * size. Unlike the stats, callable at any time, from any thread (a progress line). */
void rd_progress(const struct rd_log *r, uint64_t *done, uint64_t *total);

const struct rd_stats *rd_stats(const struct rd_log *r);
/* Warnings collected so far (cut-off log, late events), one per line; "" if none. */
const char *rd_warnings(const struct rd_log *r);

void rd_close(struct rd_log *r);

#endif
