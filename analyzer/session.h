/*
 * session.h - one log, opened for a command: read, aggregated and symbolized into the
 * model every renderer reads (analyzer/model.h); or, for a command that walks the
 * records itself (`heapspan dump`), read item by item. Every command opens its logs
 * through here, so that each failure is found and worded in one place.
 *
 * Called from one thread. Allocates (the reader, the aggregate, the symbol cache, the
 * model); session_close frees it all. Never prints: a function that fails returns a
 * negative errno and leaves one message in session_error(), e.g. "<file>: byte
 * <offset>: <what>; <what to do>" from the reader; the caller prints it once. Warnings
 * (a log cut short) are not failures: they are in the model, or in rd_warnings().
 */
#ifndef HEAPSPAN_SESSION_H
#define HEAPSPAN_SESSION_H

#include <stdbool.h>

#include "analyzer/model.h"

struct session;
struct rd_item;
struct rd_log;

struct session_options {
    const char *path; /* the log; copied */
    /* Only the events between these times, in seconds since the program started
     * (event chunks outside are never read). to <= 0: to the end; both 0 (a zeroed
     * struct): the whole log. */
    double from, to;
    bool symbols;               /* false: frames stay module+offset; no debug info is read */
    const char *debuginfo_path; /* NULL: the symbolizer's default (symbolize.h) */
    bool debuginfod;            /* may fetch missing debug info (symbolize.h) */
    /* true: session_open reads the whole log into the model. false: the caller reads
     * the items with session_next, and there is no model. */
    bool aggregate;
    /* Read on the caller's thread only, never ahead of it (rd_set_thread(r, false)):
     * for a caller that converts each item's time with the clock records read so far. */
    bool in_order;
};

/*
 * Opens opt->path and, with opt->aggregate, reads, aggregates and symbolizes all of it.
 * Returns 0 or a negative errno; either way *out is the session, to be closed, with
 * the message in session_error() - except when there is no memory for the session
 * itself: then *out is NULL, the return -ENOMEM and session_error(NULL) says so.
 */
int session_open(const struct session_options *opt, struct session **out)
    __attribute__((warn_unused_result));

/* The last failure's message; "" if none. s may be NULL (see session_open). */
const char *session_error(const struct session *s);

/* The model, after a successful session_open with opt->aggregate; else NULL. Valid
 * until session_close. */
const struct model *session_model(const struct session *s);

/* Without opt->aggregate: the next item in time order (reader.h's struct rd_item, its
 * text valid until the next call): 1, 0 at the end, or a negative errno. */
int session_next(struct session *s, struct rd_item *it) __attribute__((warn_unused_result));

/* The reader, for what items do not carry: the header, stacks, modules, clock, stats
 * and warnings (reader.h says when each may be read). Valid until session_close. */
struct rd_log *session_reader(struct session *s);

/* Frees everything the session made, the model included. NULL is a no-op. */
void session_close(struct session *s);

#endif
