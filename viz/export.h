/*
 * export.h - the model in the formats other tools read: folded stacks (flamegraph.pl,
 * inferno, speedscope), speedscope's JSON file format, and pprof's profile.proto
 * (go tool pprof, Pyroscope, speedscope). One file each: folded.c, speedscope.c,
 * pprof.c. Field-level notes: docs/flame.md and the shared formats notes.
 *
 * Every value is the model's: in a sampled log, already scaled up to an estimate of
 * the whole (analyzer/replay.h), then rounded to an integer, as these formats want.
 * Frame names are the function's (demangled), or module+0xoffset when unknown.
 *
 * Reentrant; read the model only. Allocate scratch memory and fail with -ENOMEM; the
 * writers onto a FILE also fail with -EIO when the FILE has failed.
 */
#ifndef HEAPSPAN_VIZ_EXPORT_H
#define HEAPSPAN_VIZ_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analyzer/model.h"
#include "viz/flame.h"

/* `root;caller;...;leaf VALUE` lines, one per distinct stack with a value above 0 of
 * metric, sorted; ';' in a name becomes ':', a newline a space; an inlined frame
 * carries flamegraph.pl's "_[i]" suffix. */
int export_folded(FILE *out, const struct model *m, enum flame_metric metric)
    __attribute__((warn_unused_result));

/* speedscope's file format (https://www.speedscope.app/file-format-schema.json): one
 * "sampled" profile per metric, stacks root first, weights the values; the chosen
 * metric's profile is the active one. */
int export_speedscope(FILE *out, const struct model *m, enum flame_metric metric)
    __attribute__((warn_unused_result));

/*
 * A pprof profile, gzip'd as pprof files are, into *out (malloc'd, *len bytes; the
 * caller frees it). Go's heap profile's layout: sample types alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes in that order ("in use" is
 * live at the model's point), period_type space/bytes, period the sampling interval
 * (1 when every allocation was recorded); a numeric label "bytes" per sample with the
 * mean block size; mapping 1 the program, then each module with its file and build-id;
 * a location per code address with its inline chain (innermost first); functions with
 * the demangled name and the mangled one as system_name.
 */
int export_pprof(const struct model *m, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

#endif
