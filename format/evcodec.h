/*
 * evcodec.h - the stored form of an events chunk (log formats 2 and 3): the writer thread
 * encodes each thread's records into it, readers decode them back. docs/format.md
 * explains it in prose; this is the single definition.
 *
 * The shim's threads append records in the compact "buffer form" of logfmt.h
 * (lf_decode_event reads it), which costs them a few stores. The writer then re-codes
 * each chunk's records into columns - tags, times, addresses, sizes, ... one after the
 * other - and predicts most addresses from the chunk's own history:
 *
 *   - a released block that was allocated in the same chunk, at most EC_WINDOW
 *     allocations ago, is named by its age (allocations since), not its address;
 *   - a new block that is one of the last EC_CLASS_DEPTH blocks released in the
 *     chunk with the same size class (what malloc's per-size free lists hand back
 *     first) is named by its position in that short list;
 *   - other addresses are zigzag deltas from the previous address coded that way.
 *
 * On the churn benchmark this takes a chunk from 5.7 to 3.3 bytes per allocation
 * after zstd: per column, zstd's entropy coder sees one kind of value at a time, and
 * a free's address costs one byte instead of a 6-byte match.
 *
 * The model starts empty in every chunk, so a chunk still decodes on its own. Encoder
 * and decoder make the same updates in the same order; ec_dec checks every index
 * against what it has seen, so a damaged payload is reported, never followed.
 *
 * Payload: varint n_cols, then per column: varint raw length, varint stored length,
 * stored bytes - a zstd frame, or the column as is when the two lengths are equal.
 * Each column is its own frame so that zstd's entropy tables fit one kind of value.
 * A decoder reads the columns it knows (EC_NCOLS) and ignores any after them; a
 * payload with fewer (at least EC_NCOLS_MIN: a writer from before the later columns)
 * decodes with those columns empty. Columns are only ever added at the end.
 */
#ifndef HEAPSPAN_EVCODEC_H
#define HEAPSPAN_EVCODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "format/logfmt.h"

enum ec_col {
    EC_TAG,     /* 1 byte per record: type | fn << 4 (as in the buffer form, never WIDE) */
    EC_MODE,    /* 1 byte per ALLOC, FREE, REALLOC: how its addresses are coded */
    EC_TIME,    /* varint dt per record; a REALLOC adds dt_before */
    EC_NEW,     /* zigzag varint: a new block's address minus the previous one coded here */
    EC_OLD,     /* zigzag varint: a released (or ZEROS) address minus the previous one here */
    EC_AGE,     /* varint: allocations between a released block's and the current one */
    EC_SIZE_LO, /* 1 byte: size & 0xff, per ALLOC, REALLOC, ZEROS */
    EC_SIZE_HI, /* varint: size >> 8 */
    EC_STACK,   /* varint stack id per ALLOC, REALLOC */
    EC_COUNT,   /* varint: LOST's count, ZEROS's zero bytes */
    EC_POOL,    /* varint: the pool of an ALLOC, REALLOC of fn LF_FN_API (logfmt.h) */
    EC_NCOLS
};

/* Columns every version 2 payload has: EC_POOL came later, without a version bump. */
#define EC_NCOLS_MIN 10

/* Mode byte. Low nibble: the new block's address (ALLOC, REALLOC). */
#define EC_NEW_DELTA  0 /* in EC_NEW */
#define EC_NEW_SAME   1 /* REALLOC: the old block's address (resized in place) */
#define EC_NEW_CLASS0 2 /* 2 + k: the k-th most recent release of its size class */
/* High nibble: the released block's address (FREE, REALLOC). */
#define EC_OLD_DELTA 0 /* in EC_OLD */
#define EC_OLD_AGE   1 /* by age, in EC_AGE */

#define EC_WINDOW      4096 /* allocations a release can refer back to (power of two) */
#define EC_CLASS_DEPTH 4    /* releases remembered per size class */
#define EC_CLASSES     66   /* size classes: 16-byte steps up to 1032 bytes requested */
#define EC_COL_CAP                                                    \
    (256u << 10) /* bytes per column and chunk: the encoder writes no \
                  * more, decoders refuse more */

/* What encoder and decoder both track. */
struct ec_model {
    uint32_t serial; /* allocations so far in the chunk */
    uint64_t prev_new, prev_old;
    uint8_t class_n[EC_CLASSES];
    uint64_t class_addr[EC_CLASSES][EC_CLASS_DEPTH]; /* oldest first */
};

/* ---- encoder (the writer thread) ---- */

struct ec_slot {
    uint64_t addr, size;
    uint32_t serial, gen;
};
#define EC_SLOTS 16384 /* direct-mapped address -> allocation, power of two */

struct ec_enc {
    struct ec_model m;
    uint64_t time;
    uint32_t gen, records;
    uint32_t budget; /* records that surely fit before the columns need checking */
    size_t len[EC_NCOLS];
    struct ec_slot slot[EC_SLOTS];
    uint8_t col[EC_NCOLS][EC_COL_CAP];
};

/* Starts a chunk whose first record's time is relative to base_time. */
void ec_enc_begin(struct ec_enc *e, uint64_t base_time);
bool ec_enc_room_slow(struct ec_enc *e);
/* Whether one more record fits (else finish the chunk first). */
static inline bool ec_enc_room(struct ec_enc *e)
{
    return e->budget > 0 || ec_enc_room_slow(e);
}
/* Appends one record; times must not decrease. */
void ec_enc_add(struct ec_enc *e, const struct lf_event *ev);
/* Bytes ec_enc_finish writes at most. */
size_t ec_enc_bound(const struct ec_enc *e);
/* Writes the payload to out (ec_enc_bound bytes), each column compressed with zc at
 * level (stored as is with zc NULL, or where zstd does not shrink it); returns its
 * length. */
size_t ec_enc_finish(struct ec_enc *e, uint8_t *out, ZSTD_CCtx *zc, int level);

/* ---- decoder ---- */

struct ec_dec {
    struct ec_model m;
    uint64_t time;
    const uint8_t *p[EC_NCOLS], *end[EC_NCOLS];
    uint64_t ring_addr[EC_WINDOW]; /* the last EC_WINDOW allocations, by serial, */
    int8_t ring_class[EC_WINDOW];  /* and their size classes (-1: none) */
};

/* The size of the payload unpacked: the same with every column stored as is; SIZE_MAX
 * if its column table is malformed or the columns add up to more than
 * LF_MAX_CHUNK_RAW. */
size_t ec_unpacked_size(const uint8_t *payload, size_t len);
/* Writes the payload unpacked to out (ec_unpacked_size bytes); false if a column does
 * not decompress. Only the known columns are kept. Safe on any thread. */
bool ec_unpack(const uint8_t *payload, size_t len, ZSTD_DCtx *zd, uint8_t *out);
/* Starts decoding an unpacked payload, which must stay in place while d is used;
 * false if it is not one. */
bool ec_dec_begin(struct ec_dec *d, const uint8_t *unpacked, size_t len, uint64_t base_time);
/* Next record: 1, 0 at the end (every column consumed), -1 malformed or truncated,
 * -2 a record type this reader does not know (the rest cannot be parsed). */
int ec_dec_next(struct ec_dec *d, struct lf_event *ev);
/* Up to max events into ev, a REALLOC as its two halves (a FREE of the old block at
 * its time_before, then an ALLOC of the new one): what a reader merging by time wants,
 * and several times faster than ec_dec_next per record. Returns how many were written;
 * *status is 1 if more may follow, else as ec_dec_next's result. */
int ec_dec_batch(struct ec_dec *d, struct lf_event *ev, int max, int *status);

#endif
