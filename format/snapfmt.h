/*
 * snapfmt.h - the heapspan snapshot (.hsnap): the heap of a recorded process at one
 * point of its log, symbolized, as analyzer/snapshot.c writes and reads it. This header
 * is the single definition of the format; docs/snapshot-format.md explains it in prose.
 * A snapshot holds everything a report or a diff shows - no binary, debug info or log
 * is needed to read it later, on any machine.
 *
 * A snapshot is a 48-byte header, then the body: `stored` bytes, one zstd frame when
 * SF_FLAG_ZSTD is set (else the body itself). The body is a sequence of records; each
 * is a varint type (enum sf_rec), a varint length, and that many bytes. Integers in the
 * header are little-endian.
 *
 * Header (48 bytes):
 *   OFFSET  SIZE  FIELD
 *        0     8  magic, SF_MAGIC
 *        8     2  major version, SF_MAJOR
 *       10     2  minor version, SF_MINOR
 *       12     2  header size in bytes (48; a reader skips what it does not know)
 *       14     2  flags, SF_FLAG_*
 *       16     8  stored body length: the file is header size + this many bytes
 *       24     8  raw body length, after decompression (at most SF_MAX_BODY)
 *       32     4  CRC-32C (format/logfmt.h's lf_crc32c) of the stored body
 *       36     4  number of records in the body
 *       40     4  CRC-32C of header bytes 0-39
 *       44     4  reserved, 0
 *
 * Record bodies are fields in the order listed, each one of:
 *   u    an unsigned LEB128 varint
 *   f    a double, IEEE 754 binary64, 8 bytes little-endian (exact: counts in sampled
 *        logs are estimates, and a round trip must not move them)
 *   str  a varint string id: 0 is "none" (NULL), k the k-th STRING record (from 1)
 *   [n]  the field repeated n times, n the u before it
 *
 * Records, in the body in this order (a reader checks that ids refer back):
 *   SF_REC_STRING   the string's bytes (no terminator; not NUL themselves)
 *   SF_REC_PROCESS  log_path str, exe str, argc u, argv str[argc], pid u, ppid u,
 *                   start_unix_ns u, sample_bytes u, ended u, truncated u,
 *                   end_reason u (enum model_end), log_bytes u, bytes_read u,
 *                   point u (enum model_at), marker u, marker_serial u,
 *                   marker_kind str, point_ns f; since minor 1: end_ns f,
 *                   end_lost_events u (the end record's time and lost count)
 *   SF_REC_TOTALS   allocations f, frees f, allocated_bytes f, peak_live_bytes f,
 *                   peak_ns f, leaked_bytes f, leaked_allocations f, live_bytes f,
 *                   live_blocks f, runtime_bytes f, runtime_allocations f,
 *                   suppressed_bytes f, suppressed_allocations f,
 *                   temporary_allocations f, lost_events u, unknown_frees u, markers u,
 *                   first_ns f, last_ns f, sampled u
 *   SF_REC_FRAME    function str, file str, line u, module str, module_offset u,
 *                   inlined u, linkage_name str, module_path str, build_id str
 *                   (the k-th FRAME record is frame k, from 0)
 *   SF_REC_SITE     n_frames u, frame u[n_frames] (innermost first), allocations f,
 *                   allocated_bytes f, frees f, peak_live_bytes f, leaked_bytes f,
 *                   leaked_allocations f, live_bytes f, live_blocks f,
 *                   temporary_allocations f, max_live_blocks f, slack_bytes f,
 *                   zero_sampled_bytes f, zero_bytes f, common_size u,
 *                   n_hist u, (bucket u, count f)[n_hist], leak_kind u
 *                   (enum model_leak_kind), leak_rule str
 *                   (the k-th SITE record is site k, from 0)
 *   SF_REC_BLOAT    size u, blocks_at_peak f, bytes_at_peak f, slack_bytes_per_block f,
 *                   zero_share f, n_sites u, n_listed u, site u[n_listed], n_types u,
 *                   (kind str, name str, size u, hole_bytes u, padding_bytes u,
 *                   n_members u, (name str, type_name str, offset u, size u,
 *                   bit_offset u, bit_size u, hole_after u)[n_members])[n_types]
 *                   (n_listed: the first min(n_sites, MODEL_BLOAT_SITES) sites, 8)
 *   SF_REC_WARNING  text str
 *   SF_REC_THREAD   (minor 1) tid u, allocations f, allocated_bytes f, frees f,
 *                   temporary_allocations f: one thread's figures, in the model's order
 *   SF_REC_END      n_strings u, n_frames u, n_sites u, n_bloats u, n_warnings u: what
 *                   came before, checked
 *
 * Version rule. A reader reads every minor version of its major version: a newer minor
 * may add record types (a reader skips a type it does not know, by its length) and
 * fields at the end of a record (a reader ignores the bytes after the fields it
 * knows). Bump SF_MINOR for such additions; bump SF_MAJOR when a record's existing
 * fields change layout or meaning, or a record type is dropped. A reader refuses
 * another major version with a message naming both versions.
 *
 * Determinism: the same model gives the same bytes. Strings are numbered in the order
 * they are first written; records follow the model's order; nothing is written from
 * a pointer or in a hash table's order. (The zstd frame is the same for the same
 * zstd version and level, SF_ZSTD_LEVEL.)
 */
#ifndef HEAPSPAN_SNAPFMT_H
#define HEAPSPAN_SNAPFMT_H

#include <stdint.h>

#define SF_MAGIC      "HSNAPSHT"
#define SF_MAJOR      1
#define SF_MINOR      1
#define SF_HDR_SIZE   48
#define SF_FLAG_ZSTD  0x1
#define SF_ZSTD_LEVEL 3

/* Bounds a reader enforces before it allocates. */
#define SF_MAX_BODY   (1ull << 32) /* raw body bytes */
#define SF_MAX_FRAMES 65536        /* frames of one site (pcs and the frames inlined in them) */
#define SF_MAX_HIST   64           /* histogram buckets of one site */
#define SF_MAX_ARGS   (1 << 20)
/* The magnitude of any number (f): no log counts more than 2^64 events of 2^64 bytes.
 * Sums a reader makes from numbers so bounded stay finite; the numbers it keeps from a
 * sum (a site's histogram buckets, the totals remade from the sites' live blocks) are
 * checked against the same bound, so that what it writes back it reads. */
#define SF_MAX_NUMBER 0x1p128

enum sf_rec {
    SF_REC_STRING = 1,
    SF_REC_PROCESS = 2,
    SF_REC_TOTALS = 3,
    SF_REC_FRAME = 4,
    SF_REC_SITE = 5,
    SF_REC_BLOAT = 6,
    SF_REC_WARNING = 7,
    SF_REC_END = 8,
    SF_REC_THREAD = 9, /* minor 1 */
};

#endif
