/*
 * otlp_watch.h - a log's intervals for the OTLP export (viz/otlp.h's struct
 * otlp_interval): the log replayed (analyzer/replay.h), paused at each marker, the
 * totals there and the counts since the previous marker. The same walk serves a
 * finished log (`heapspan export --otlp`) and a log still being written (`heapspan run
 * --otlp`, the reader's follow mode), so both give a marker the same span.
 *
 * Interval k (from 0) runs from marker k (the process's start for k = 0) to marker
 * k + 1; after the last marker, the tail runs to the end of the log (otlp_watch_tail).
 * From one thread; allocates (the reader, the replay); fails with a negative errno and
 * one message in the caller's buffer.
 */
#ifndef HEAPSPAN_CLI_OTLP_WATCH_H
#define HEAPSPAN_CLI_OTLP_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "viz/otlp.h"

struct otlp_watch;

/* Opens the log; follow: it is still being written (rd_set_follow). */
int otlp_watch_open(const char *path, bool follow, struct otlp_watch **out, char *err, size_t cap)
    __attribute__((warn_unused_result));

/* Reads on: each marker reached calls fn with its interval's index and figures (valid
 * during the call). Returns 0 at the end of the log, -EAGAIN when a followed log has no
 * more yet, another negative errno on a failure, or fn's nonzero value. */
typedef int (*otlp_watch_fn)(void *ctx, uint32_t index, const struct otlp_interval *iv);
int otlp_watch_poll(struct otlp_watch *w, otlp_watch_fn fn, void *ctx, char *err, size_t cap)
    __attribute__((warn_unused_result));

/* The writer has exited: the current end of a followed log is its end. */
void otlp_watch_stop_following(struct otlp_watch *w);

/* After otlp_watch_poll returned 0: the interval from the last marker to the end (false
 * if the log had no marker), and its index. */
bool otlp_watch_tail(struct otlp_watch *w, uint32_t *index, struct otlp_interval *iv);

/* The log's process: pid, start, executable and arguments (as the log records them;
 * known once the first meta chunk is read), and its sampling interval. */
uint32_t otlp_watch_pid(const struct otlp_watch *w);
uint64_t otlp_watch_start_unix_ns(const struct otlp_watch *w);
uint64_t otlp_watch_sample_bytes(const struct otlp_watch *w);
uint32_t otlp_watch_markers(const struct otlp_watch *w);

/* The trace's ids and resource for the log's process (cli/otlp.h's otlp_config_trace),
 * as a model of the same log would give them. */
struct otlp_config;
void otlp_watch_trace(const struct otlp_watch *w, const struct otlp_config *c,
                      struct otlp_trace *t);

void otlp_watch_close(struct otlp_watch *w);

#endif
