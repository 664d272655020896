/*
 * logbuild.h - synthetic heapspan logs for tests: a valid log built in memory, chunk by
 * chunk, in the layout of format/logfmt.h (events chunks in the column form of
 * format/evcodec.h for version 2, in the buffer form for version 1), then written to a
 * file if the test wants one; and knobs that damage it where a failure-path test wants
 * it damaged (a header field, a payload byte with or without a matching checksum, a
 * cut). The builder keeps each chunk's file offsets and what a reader makes of the log
 * up to it, so a test knows what to expect of the log cut at any byte.
 *
 * Usage: lb_init (the file header), then lb_meta_chunk / lb_events_chunk / lb_chunk in
 * file order, lb_close (index and trailer, as a cleanly ended process leaves them) or
 * lb_index, lb_write, lb_fini. Meta records are appended to a struct lb_buf with the
 * lb_meta_* functions, then wrapped into a chunk by lb_meta_chunk.
 *
 * Called by the unit tests (tests/unit), one thread per log. Allocates with malloc.
 * Out of memory, or a misuse (a chunk past LB_MAX_CHUNKS, a damage outside the log),
 * prints one line to stderr and aborts: a test cannot go on without its input; build
 * logs before any allocation failure is injected. lb_write returns 0 or a negative errno.
 * The builder does not check what it is given: times that go back, unknown record types
 * or impossible sizes are written as asked, so that a test can make any log.
 */
#ifndef HEAPSPAN_TESTS_LOGBUILD_H
#define HEAPSPAN_TESTS_LOGBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/logfmt.h"

/* A growing byte buffer: a payload, or meta records before they become a chunk. Zero
 * it to start; lb_buf_fini frees it. */
struct lb_buf {
    uint8_t *p;
    size_t len, cap;
};

void lb_put(struct lb_buf *b, const void *src, size_t n);
void lb_put_u8(struct lb_buf *b, uint8_t v);
void lb_put_varint(struct lb_buf *b, uint64_t v);
void lb_put_addr(struct lb_buf *b, uint64_t a);   /* LF_ADDR_BYTES, little-endian */
void lb_put_str(struct lb_buf *b, const char *s); /* varint length, then the bytes */
void lb_buf_fini(struct lb_buf *b);

/* ---- the file header ---- */

#define LB_START_TICKS 1000u /* lb_file_default's start: tests' times count from it */

/* The file header's fields (logfmt.h's table). */
struct lb_file {
    unsigned version;
    uint16_t hdr_size;
    uint32_t flags, pid, ppid, max_depth;
    uint64_t realtime_ns, start_ticks;
    uint64_t sample_bytes; /* 0: every allocation recorded */
};

/* Version as given (LF_VERSION, 1, or a newer one to be refused), header size 64, no
 * flags (ticks are nanoseconds), pid 4242, ppid 1, depth 64, realtime 1.7e18 ns, start
 * at LB_START_TICKS, every allocation recorded. */
struct lb_file lb_file_default(unsigned version);

/* ---- the log ---- */

#define LB_MAX_CHUNKS 1024

/* One chunk as written, and what a reader has seen once it has read up to its end. */
struct lb_chunk {
    size_t off, end;
    int kind;
    int n_events; /* RD_EVENT items of this chunk and every earlier one */
    bool has_end; /* the end record is in this chunk or an earlier one */
};

struct lb_log {
    struct lb_buf b; /* the file's bytes */
    unsigned version;
    struct lb_chunk ch[LB_MAX_CHUNKS];
    int n_ch;
    int n_events; /* RD_EVENT items a reader makes of the whole log */
    bool has_end;
    /* For lb_close's index, as preload/writer.c keeps it: the first events chunk, and
     * the earliest base time and latest event time of all. */
    bool idx_any;
    size_t idx_off;
    uint64_t idx_min, idx_max;
};

/* Starts the log with its file header (zeroes *l first). */
void lb_init(struct lb_log *l, const struct lb_file *f);
void lb_fini(struct lb_log *l);

/* ---- meta records, appended to a buffer (logfmt.h: tag, varint length, body) ---- */

struct lb_seg {
    uint64_t vaddr, memsz;
    uint32_t flags;
};

void lb_meta_process(struct lb_buf *c, const char *exe, int argc, const char *const *argv);
void lb_meta_clock(struct lb_buf *c, uint64_t ticks, uint64_t mono_ns, uint64_t real_ns);
/* pcs innermost first, as the shim records them. */
void lb_meta_stack(struct lb_buf *c, uint32_t id, uint32_t depth, const uint64_t *pcs);
void lb_meta_module(struct lb_buf *c, uint64_t time, uint32_t id, uint64_t bias, int n_segs,
                    const struct lb_seg *segs, const uint8_t *build_id, int build_id_len,
                    const char *path);
void lb_meta_unload(struct lb_buf *c, uint64_t time, uint32_t id);
void lb_meta_barrier(struct lb_buf *c, uint64_t time);
void lb_meta_marker(struct lb_buf *c, uint64_t time, int kind, uint32_t serial);
void lb_meta_note(struct lb_buf *c, uint64_t time, int severity, const char *text);
void lb_meta_thread(struct lb_buf *c, uint64_t time, uint32_t tid, const char *name);
void lb_meta_end(struct lb_buf *c, uint64_t time, uint64_t lost, int reason);
/* A CPython code object (LF_META_PYCODE): table is its co_linetable, tlen bytes. */
void lb_meta_pycode(struct lb_buf *c, uint32_t id, int first_line, uint32_t units,
                    const char *qualname, const char *filename, const uint8_t *table, size_t tlen);
void lb_meta_python(struct lb_buf *c, uint64_t time, uint32_t version, unsigned flags,
                    const char *allocator, const char *reason);
/* Any record type with any body: one from a newer writer, or a malformed one. */
void lb_meta_raw(struct lb_buf *c, int type, const void *body, size_t len);

/* ---- events ---- */

struct lf_event lb_ev_alloc(int fn, uint64_t time, uint64_t addr, uint64_t size, uint32_t stack);
struct lf_event lb_ev_free(uint64_t time, uint64_t addr);
/* The old block freed at time_before (<= time), the new one allocated at time. */
struct lf_event lb_ev_realloc(uint64_t time_before, uint64_t time, uint64_t old_addr, uint64_t addr,
                              uint64_t size, uint32_t stack);
struct lf_event lb_ev_lost(uint64_t time, uint64_t count);
struct lf_event lb_ev_zeros(uint64_t time, uint64_t addr, uint64_t size, uint64_t zero_bytes);

/* ---- chunks ---- */

/* Compression, per chunk. The writer compresses version 2 events by column, and meta
 * chunks whole; a reader must take either on any chunk. */
#define LB_ZSTD_CHUNK   0x1u /* the stored payload is one zstd frame (LF_CHUNK_ZSTD) */
#define LB_ZSTD_COLUMNS 0x2u /* version 2 events: each column a zstd frame; else ignored */

/* An events chunk's payload in the given version's form: evcodec.h's columns from
 * version 2 on, else the buffer form of logfmt.h. A record of a type no reader knows
 * is written as its tag and time (and, in the buffer form, a varint 1): what a reader
 * can tell of it. */
void lb_events_payload(struct lb_buf *b, unsigned version, uint64_t base_time,
                       const struct lf_event *ev, int n, bool zstd_columns);

/* Appends one thread's events chunk in the log's version; base_time is what the first
 * event's time is relative to (at most that time). Returns the chunk's index. */
int lb_events_chunk(struct lb_log *l, uint32_t tid, uint64_t base_time, const struct lf_event *ev,
                    int n, unsigned zstd);
/* Appends a meta chunk of the records in c. Returns the chunk's index. */
int lb_meta_chunk(struct lb_log *l, const struct lb_buf *c, unsigned zstd);
/* Appends a chunk of any kind around payload as is (LB_ZSTD_CHUNK only): a kind from a
 * newer writer, or a payload made by hand. A reader is expected to make no items of it.
 * Returns the chunk's index. */
int lb_chunk(struct lb_log *l, int kind, uint32_t tid, uint64_t base_time,
             const struct lb_buf *payload, unsigned zstd);

/* Ends the log as a clean exit does: an index chunk (one entry for the events chunks,
 * none if there are none) and the trailer. Without it (or lb_index), a log with an
 * end record reads as cut short after it. */
void lb_close(struct lb_log *l);
/* The same with the index entries given. */
void lb_index(struct lb_log *l, const struct lf_index_entry *e, int n);

/* ---- damage ---- */

enum lb_field {
    LB_CH_MAGIC,    /* u32 at 0 */
    LB_CH_KIND,     /* u8 at 4 */
    LB_CH_FLAGS,    /* u8 at 5 */
    LB_CH_HDR_SIZE, /* u16 at 6 */
    LB_CH_STORED,   /* u32 at 8 */
    LB_CH_RAW,      /* u32 at 12 */
    LB_CH_TID,      /* u32 at 16 */
    LB_CH_CRC,      /* u32 at 20 */
    LB_CH_BASE,     /* u64 at 24 */
    LB_CH_SPAN,     /* u32 at 40 */
    LB_CH_COUNT,    /* u32 at 44 */
};

/* Overwrites one field of a chunk's header (truncated to its width). */
void lb_set_chunk_field(struct lb_log *l, int chunk, enum lb_field f, uint64_t v);
/* XORs the byte at file offset off with mask. */
void lb_flip(struct lb_log *l, size_t off, uint8_t mask);
/* XORs the payload byte at `at` of chunk with mask; with fix_crc the chunk's checksum is
 * recomputed, so that the damage gets past the checksum to the decoder. */
void lb_damage_payload(struct lb_log *l, int chunk, size_t at, uint8_t mask, bool fix_crc);
/* Keeps the first len bytes: a log cut short by a killed process. The chunk table
 * still describes the whole log, for what a reader of the cut one should see. */
void lb_cut(struct lb_log *l, size_t len);

/* ---- output ---- */

int lb_write(const struct lb_log *l, const char *path);
int lb_write_bytes(const char *path, const void *p, size_t n);

#endif
