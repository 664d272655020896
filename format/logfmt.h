/*
 * logfmt.h - the heapspan log: preload/ writes it, analyzer/ reads it. This header is
 * the single definition of the format; docs/format.md explains it in prose.
 *
 * A log is one struct lf_file_hdr followed by chunks. Each chunk is a struct
 * lf_chunk_hdr and `stored_len` payload bytes (zstd-compressed when LF_CHUNK_ZSTD is
 * set). A chunk decodes on its own: its header carries the decoder state (base time
 * and base address) its first record is relative to. A log cut short by a crash or
 * SIGKILL is therefore valid up to its last complete chunk. Integers in headers are
 * little-endian; payload integers are LEB128 varints (signed ones zigzag-encoded).
 *
 * File header (64 bytes):
 *   OFFSET  SIZE  FIELD
 *        0     8  magic, LF_MAGIC
 *        8     2  version, LF_VERSION
 *       10     2  header size in bytes (64; a reader skips what it does not know)
 *       12     4  flags, LF_FILE_*
 *       16     4  pid of the writing process
 *       20     4  parent pid
 *       24     8  CLOCK_REALTIME at start, ns since the epoch
 *       32     8  clock ticks at start (every timestamp in the log is in ticks)
 *       40     8  sample interval in bytes: 0 = every allocation is recorded, else
 *                 allocations are a Poisson sample by bytes with this mean interval
 *       48     4  maximum stack depth the shim captures
 *       52     4  reserved, 0
 *       56     8  reserved, 0
 *
 * Chunk header (48 bytes):
 *        0     4  magic, LF_CHUNK_MAGIC
 *        4     1  kind, LF_CHUNK_*
 *        5     1  flags, LF_CHUNK_ZSTD
 *        6     2  header size in bytes (48)
 *        8     4  stored payload length
 *       12     4  raw payload length (after decompression)
 *       16     4  thread id (kernel tid) of the records, 0 for meta chunks
 *       20     4  CRC-32C of the stored payload
 *       24     8  base time: events' time deltas start from it (ticks)
 *       32     1  events chunks (version 3): k when times in it were rounded down to a
 *                  multiple of 2^k ticks (writer.c says when it may), else 0
 *       33     7  reserved, 0
 *       40     4  time from the base time to the chunk's last event, ticks, saturated
 *       44     4  number of records in the chunk
 *
 * Version rule: bump LF_VERSION when an existing record or header field changes layout
 * or meaning; readers refuse newer versions. A new record type or chunk kind needs no
 * bump: every record carries its length class (see below), so old readers skip it.
 */
#ifndef HEAPSPAN_LOGFMT_H
#define HEAPSPAN_LOGFMT_H

#include <stdbool.h>
#include <stdint.h>

#include "format/settings.h"

#define LF_MAGIC "HEAPSPAN"
/* 3: an events chunk's times may be rounded (chunk header byte 32); 2: events chunks
 * coded by evcodec.h; 1 stored the buffer form. */
#define LF_VERSION        3
#define LF_VERSION_OLDEST 1
#define LF_CHUNK_MAGIC    0x4b435348u /* "HSCK" little-endian */
#define LF_TRAILER_MAGIC  "HSINDEX1"

#define LF_FILE_HDR_SIZE  64
#define LF_CHUNK_HDR_SIZE 48

/* File flags. */
#define LF_FILE_CLOCK_TSC 0x1 /* ticks are TSC cycles (else CLOCK_MONOTONIC ns) */

/* Chunk kinds. */
#define LF_CHUNK_EVENTS 1 /* one thread's allocation events, in order */
#define LF_CHUNK_META   2 /* process-wide records: stacks, modules, clock, markers */
#define LF_CHUNK_INDEX  3 /* written once at a clean close; see lf_index_entry */

/* Chunk flags. */
#define LF_CHUNK_ZSTD 0x1

/* Upper bounds a reader enforces before it allocates. */
#define LF_MAX_CHUNK_RAW   (16u << 20)
#define LF_MAX_STACK_DEPTH HS_MAX_DEPTH
#define LF_MAX_PATH        HS_MAX_PATH

/*
 * Event records, "buffer form": how the shim's threads append them to their buffers
 * (and how version 1 logs stored them). The writer thread decodes them and codes each
 * chunk's records into columns for the log (evcodec.h). Byte 0 is a tag: the low 4
 * bits give the record type, the high 4 bits the allocator function (enum lf_fn).
 * Times are varint deltas from the previous record's time (the first from the chunk's
 * base time). Addresses are 6 bytes, little-endian (stores, no arithmetic, on the
 * host's threads); a record whose address needs more than 48 bits uses the type with
 * LF_EV_WIDE set and 8-byte addresses.
 *
 *   LF_EV_ALLOC    tag, dt, addr, size, stack_id [, pool]
 *   LF_EV_FREE     tag, dt, addr
 *   LF_EV_REALLOC  tag, dt, dt_before, old addr, new addr, size, stack_id: the old
 *                  block was freed at time - dt_before (taken before the real call, as
 *                  any free's) and the new one allocated at time (after it), so neither
 *                  side can be ordered wrongly against another thread that reuses
 *                  either address. realloc(NULL) is recorded as an alloc.
 *                  [, pool]
 *   LF_EV_LOST     tag, dt, count   events the shim could not record on this thread
 *                  (re-entered from a signal handler, out of memory)
 *   LF_EV_ZEROS    tag, dt, addr, size, zero_bytes   a sampled block's contents when it
 *                  was freed (or at exit): zero_bytes of its size bytes were zero
 *
 * An ALLOC or REALLOC of fn LF_FN_API (a block the program reported through
 * include/heapspan.h) ends with `pool`: the pool's handle (the address the program
 * names it by), 0 for none. Added without a version bump: version 1 logs, the only
 * ones stored in this form, have no such record.
 *
 * Meta records (in LF_CHUNK_META): tag byte = type (>= 16), then varint length of the
 * body, then the body. A reader skips a type it does not know by its length.
 *
 *   LF_META_STACK     id, depth, depth x pc (zigzag delta from the previous pc; the
 *                     first from 0). pcs are return addresses, innermost first.
 *   LF_META_MODULE    time, module_id, bias, n_segs, n_segs x (vaddr, memsz, p_flags),
 *                     build_id_len, build-id bytes, path_len, path bytes
 *   LF_META_UNLOAD    time, module_id
 *   LF_META_CLOCK     ticks, CLOCK_MONOTONIC ns, CLOCK_REALTIME ns: calibration pairs
 *   LF_META_BARRIER   time: every event with an earlier time is in an earlier chunk
 *                     (except events of a thread preempted mid-record; readers cope)
 *   LF_META_MARKER    time, kind (lf_marker), serial
 *   LF_META_NOTE      time, severity (0 info, 1 warning), text_len, text
 *   LF_META_PROCESS   exe_len, exe, n_args, n_args x (len, bytes)
 *   LF_META_THREAD    time, tid, name_len, name
 *   LF_META_END       time, lost_events, reason (lf_end)
 *   LF_META_POOL      time, tid, op (lf_pool_op), pool, then for LF_POOL_NAME:
 *                     name_len, name. A pool of blocks reported through the API: its
 *                     name, or its reset (every live block of the pool released at
 *                     time, by thread tid; readers turn it into frees, reader.h)
 */
enum lf_ev {
    LF_EV_ALLOC = 1,
    LF_EV_FREE = 2,
    LF_EV_REALLOC = 3,
    LF_EV_LOST = 4,
    LF_EV_ZEROS = 5,
    LF_EV_WIDE = 8, /* or'ed into a type: its addresses are 8 bytes */
};

#define LF_ADDR_BYTES 6
#define LF_ADDR_LIMIT (1ull << 48)

/* Writes an address in the record's width and returns the end. */
static inline uint8_t *lf_put_addr(uint8_t *p, uint64_t a, int width)
{
    for (int i = 0; i < width; i++)
        p[i] = (uint8_t)(a >> (8 * i));
    return p + width;
}

enum lf_meta {
    LF_META_STACK = 16,
    LF_META_MODULE = 17,
    LF_META_UNLOAD = 18,
    LF_META_CLOCK = 19,
    LF_META_BARRIER = 20,
    LF_META_MARKER = 21,
    LF_META_NOTE = 22,
    LF_META_PROCESS = 23,
    LF_META_THREAD = 24,
    LF_META_END = 25,
    LF_META_POOL = 26,
    LF_META_PYCODE = 27,
    LF_META_PYTHON = 28,
};

/* Python frames in stacks (see above) and LF_META_PYTHON's flags. */
#define LF_PY_FRAME         (1ull << 63)
#define LF_PY_ENTRY         (1ull << 62)
#define LF_PY_INSTR_MAX     0x3fffffffu
#define LF_PY_CODE(v)       ((uint32_t)(v))
#define LF_PY_INSTR(v)      ((uint32_t)((v) >> 32) & LF_PY_INSTR_MAX)
#define LF_PYTHON_STACKS    0x1          /* Python frames are recorded in stacks */
#define LF_PY_NAME_MAX      1024         /* bytes of a qualified name kept */
#define LF_PY_LINETABLE_MAX (256u << 10) /* bytes of a line table kept */

/* LF_META_POOL's op. */
enum lf_pool_op {
    LF_POOL_NAME = 1,
    LF_POOL_RESET = 2,
};
#define LF_POOL_NAME_MAX 255 /* bytes of a pool's name kept */

/* Which entry point made an event. Allocation and release functions share the space;
 * the record type says which side it is. */
enum lf_fn {
    LF_FN_MALLOC = 0,
    LF_FN_CALLOC = 1,
    LF_FN_REALLOC = 2,
    LF_FN_REALLOCARRAY = 3,
    LF_FN_POSIX_MEMALIGN = 4,
    LF_FN_ALIGNED_ALLOC = 5,
    LF_FN_MEMALIGN = 6,
    LF_FN_VALLOC = 7,
    LF_FN_PVALLOC = 8,
    LF_FN_NEW = 9,        /* operator new (any variant); delete for frees */
    LF_FN_NEW_ARRAY = 10, /* operator new[]; delete[] for frees */
    LF_FN_MALLOCX = 11,   /* jemalloc mallocx; dallocx/sdallocx for frees */
    LF_FN_RALLOCX = 12,
    LF_FN_XALLOCX = 13,
    /* Reported through include/heapspan.h (the program's own allocator): heapspan_free
     * for frees, heapspan_resize for REALLOC; ALLOC and REALLOC carry a pool. A reader
     * that predates it takes these for any allocator's events, which they are. */
    LF_FN_API = 14,
    LF_FN_FREE = 0, /* on LF_EV_FREE: free() */
    LF_FN_COUNT = 15,
};

enum lf_marker {
    LF_MARKER_SIGNAL = 1,      /* the marker signal (SIGUSR2 by default) */
    LF_MARKER_INTERVAL = 2,    /* HEAPSPAN_SNAPSHOT_INTERVAL */
    LF_MARKER_EXEC = 3,        /* the process is about to exec; the next image logs anew */
    LF_MARKER_RSS = 4,         /* the resident set crossed a step of HEAPSPAN_SNAPSHOT_ON_RSS */
    LF_MARKER_CGROUP_HIGH = 5, /* the cgroup's memory.events "high" count rose */
};

enum lf_end {
    LF_END_EXIT = 1,            /* exit() or return from main */
    LF_END_UNDERSCORE_EXIT = 2, /* _exit / _Exit */
    LF_END_SIGNAL = 3,          /* a fatal signal */
    LF_END_STOPPED = 4,         /* recording stopped (write error); the log ends here */
};

/* LF_CHUNK_INDEX payload: n entries, then the file ends with a 16-byte trailer:
 * LF_TRAILER_MAGIC (8 bytes) and the index chunk's file offset (u64 LE). An entry
 * covers a run of consecutive chunks from `offset` up to the next entry's offset. */
struct lf_index_entry {
    uint64_t offset;   /* file offset of the first chunk of the run */
    uint64_t min_time; /* earliest event time in the run (ticks) */
    uint64_t max_time; /* latest event time in the run (ticks) */
};
#define LF_INDEX_ENTRY_SIZE 24
#define LF_TRAILER_SIZE     16

/* ---- encoding helpers, shared by writer and reader ---- */

static inline uint64_t lf_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t lf_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Writes v as a varint at p (at most 10 bytes) and returns the end. */
static inline uint8_t *lf_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline void lf_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void lf_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void lf_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t lf_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t lf_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t lf_get_u64(const uint8_t *p)
{
    return (uint64_t)lf_get_u32(p) | (uint64_t)lf_get_u32(p + 4) << 32;
}

/* Reads a varint at *pp (before end); false if it runs past end or over 10 bytes. */
static inline bool lf_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;

    for (int shift = 0; shift < 70 && p < end; shift += 7) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return true;
        }
    }
    return false;
}

/* One decoded event. For LF_EV_REALLOC, old_addr was freed at time_before and addr
 * allocated at time; for the other types time_before == time. */
struct lf_event {
    uint8_t type, fn;
    uint32_t stack;
    uint64_t time, time_before;
    uint64_t addr, old_addr;
    uint64_t size; /* bytes requested; for LF_EV_ZEROS the block's size */
    union {
        uint64_t count; /* LF_EV_LOST: events lost; LF_EV_ZEROS: zero bytes counted */
        uint64_t pool;  /* ALLOC, REALLOC of fn LF_FN_API: the pool's handle, 0 for none */
    };
};

/* Turns the LF_EV_REALLOC event at e[0] into its two halves, e[0] and e[1]: the FREE
 * of the old block at its time_before, then the ALLOC of the new one. A reader merging
 * threads by time needs them apart: another thread may reuse the old address between. */
static inline void lf_split_realloc(struct lf_event *e)
{
    e[1] = e[0];
    e[1].type = LF_EV_ALLOC;
    e->type = LF_EV_FREE;
    e->addr = e->old_addr;
    e->time = e->time_before;
    e->size = 0;
    e->stack = 0;
    e->count = 0; /* and pool: a free has none */
}

static inline bool lf_get_addr(const uint8_t **pp, const uint8_t *end, int width, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;

    if (end - p < width)
        return false;
    for (int i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    *pp = p + width;
    *out = v;
    return true;
}

/* Decodes the event record at *pp, advancing it and the decoder's time (*time).
 * Returns 1 for a record, 0 for an unknown record type (nothing consumed: the rest of
 * the chunk cannot be parsed), -1 for a malformed record. */
static inline int lf_decode_event(const uint8_t **pp, const uint8_t *end, uint64_t *time,
                                  struct lf_event *ev)
{
    const uint8_t *p = *pp;
    uint64_t dt, w;

    if (p >= end)
        return -1;
    int width = (*p & LF_EV_WIDE) ? 8 : LF_ADDR_BYTES;
    ev->type = *p & 0x07;
    ev->fn = *p >> 4;
    ev->stack = 0;
    ev->size = 0;
    ev->count = 0;
    if (ev->type < LF_EV_ALLOC || ev->type > LF_EV_ZEROS)
        return 0;
    p++;
    if (!lf_get_varint(&p, end, &dt))
        return -1;
    ev->time = *time + dt;
    ev->time_before = ev->time;
    switch (ev->type) {
    case LF_EV_ALLOC:
        if (!lf_get_addr(&p, end, width, &ev->addr) || !lf_get_varint(&p, end, &ev->size) ||
            !lf_get_varint(&p, end, &w) || w > UINT32_MAX ||
            (ev->fn == LF_FN_API && !lf_get_varint(&p, end, &ev->pool)))
            return -1;
        ev->stack = (uint32_t)w;
        ev->old_addr = ev->addr;
        break;
    case LF_EV_FREE:
        if (!lf_get_addr(&p, end, width, &ev->addr))
            return -1;
        ev->old_addr = ev->addr;
        break;
    case LF_EV_REALLOC:
        if (!lf_get_varint(&p, end, &w) || w > dt)
            return -1;
        ev->time_before = ev->time - w;
        if (!lf_get_addr(&p, end, width, &ev->old_addr) ||
            !lf_get_addr(&p, end, width, &ev->addr) || !lf_get_varint(&p, end, &ev->size) ||
            !lf_get_varint(&p, end, &w) || w > UINT32_MAX ||
            (ev->fn == LF_FN_API && !lf_get_varint(&p, end, &ev->pool)))
            return -1;
        ev->stack = (uint32_t)w;
        break;
    case LF_EV_LOST:
        if (!lf_get_varint(&p, end, &ev->count))
            return -1;
        break;
    case LF_EV_ZEROS:
        if (!lf_get_addr(&p, end, width, &ev->addr) || !lf_get_varint(&p, end, &ev->size) ||
            !lf_get_varint(&p, end, &ev->count) || ev->count > ev->size)
            return -1;
        break;
    }
    *time = ev->time;
    *pp = p;
    return 1;
}

/* CRC-32C (Castagnoli), bitwise-table form. Both sides use it on stored payloads; the
 * writer runs it on its background thread, so its speed does not touch the host. */
uint32_t lf_crc32c(uint32_t crc, const void *buf, uint64_t len);

#endif
