/*
 * snapshot.h - a model to a snapshot file and back (format/snapfmt.h, documented in
 * docs/snapshot-format.md): the heap at one point of a log, symbolized, readable and
 * diffable later without the program's binaries, debug info or the log. Whatever
 * reads a struct model (every renderer, `heapspan report`, `heapspan diff`) reads a
 * snapshot the same way; analyzer/session.h opens either, by the file's magic.
 *
 * Writing is deterministic: the same model gives the same bytes. Reading checks
 * everything before use - the magic, the version (another major version is refused,
 * naming both), both checksums, every length, count, number (SF_MAX_NUMBER), string
 * and frame id - and allocates only what the checked counts allow. Whatever it reads,
 * snap_encode writes and it reads again to the same bytes. snap_read_mem reads a
 * buffer, so a fuzzer can call it directly (tests/fuzz/snapshot.c). A failure is one message,
 * "<file>: byte <offset>: <what>" (an offset in the decompressed body says so).
 *
 * One thread per snapshot. Allocates; snap_free frees the model and all it points to.
 * Functions return 0 or a negative errno: -ENOMEM, -EIO (zstd, a write), -EINVAL (not
 * a snapshot, damaged), -ENOTSUP (another major version), or the errno of open/read.
 */
#ifndef HEAPSPAN_SNAPSHOT_H
#define HEAPSPAN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer/model.h"
#include "analyzer/suppress.h"
#include "analyzer/wrappers.h"

struct snap;

/* The snapshot of m, in memory: *out (malloc'ed, the caller frees it) and *len. */
int snap_encode(const struct model *m, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/* Writes the snapshot of m to path, through a temporary file in the same directory
 * renamed over it, so that a reader never sees half a snapshot. On failure msg holds
 * "<path>: <why>". */
int snap_write(const struct model *m, const char *path, char *msg, size_t msg_cap)
    __attribute__((warn_unused_result));

/* Whether the n bytes at head (a file's first bytes) begin with a snapshot's magic. */
bool snap_is_snapshot(const void *head, size_t n);

/* Reads the snapshot in buf (len bytes), named name in messages and in the model's
 * process.snapshot_path. On success *out is the snapshot; on failure *out is NULL and
 * msg holds the message. buf is not kept. */
int snap_read_mem(const void *buf, size_t len, const char *name, struct snap **out, char *msg,
                  size_t msg_cap) __attribute__((warn_unused_result));

/* The same from a file. */
int snap_read_file(const char *path, struct snap **out, char *msg, size_t msg_cap)
    __attribute__((warn_unused_result));

/* The model, valid until snap_free. Its sites' leaks are set apart as when written. */
const struct model *snap_model(const struct snap *s);

/* Sets leaks apart by the reader's rules (analyzer/suppress.h): what the snapshot set
 * apart stays apart - except the runtime's when r's built-in rules are off - and r
 * may set apart more. The totals and the by-function and by-line rows follow. r is
 * kept (its rule strings) and must outlive the snapshot. 0 or -ENOMEM. */
int snap_apply_rules(struct snap *s, const struct sup_rules *r) __attribute__((warn_unused_result));

/* Tells allocator wrappers and runtime frames apart (analyzer/wrappers.h; w may be
 * NULL: the built-in lists and detection) and titles the sites; the by-function and
 * by-line rows follow the titles. 0 or -ENOMEM. */
int snap_apply_wrappers(struct snap *s, const struct wrap_rules *w)
    __attribute__((warn_unused_result));

void snap_free(struct snap *s);

#endif
