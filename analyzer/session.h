/*
 * session.h - one log or snapshot, opened for a command: a log read, aggregated and
 * symbolized into the model every renderer reads (analyzer/model.h), at its end or at
 * another point (the peak, a marker, a time); a snapshot (analyzer/snapshot.h) read
 * into the same model; or, for a command that walks the records itself (`heapspan
 * dump`), a log read item by item. Which of a log and a snapshot a file is, its magic
 * says. Every command opens its inputs through here, so that each failure is found
 * and worded in one place.
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
#include <stdint.h>

#include "analyzer/model.h"

struct session;
struct rd_item;
struct rd_log;

/* What a long session_open is doing, for a progress line the caller draws on another
 * thread: the session stores with relaxed atomics (__atomic_store_n), the caller loads
 * the same way; a zeroed struct is SESSION_IDLE. */
enum session_phase { SESSION_IDLE, SESSION_READING, SESSION_SYMBOLIZING, SESSION_DONE };
struct session_progress {
    int phase;            /* enum session_phase */
    uint64_t done, total; /* SESSION_READING: bytes of the log read, of its size */
};

struct session_options {
    const char *path;                  /* the log; copied */
    struct session_progress *progress; /* NULL, or kept up to date by session_open */
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
    /* Where in a log the model stands (model.h): MODEL_AT_END (a zeroed struct),
     * MODEL_AT_PEAK, MODEL_AT_MARKER with at_marker (the N-th marker, from 1), or
     * MODEL_AT_TIME with at_seconds (since the program started). A marker or time the
     * log does not reach is an error. A snapshot stands at its own point: anything
     * but MODEL_AT_END, or a window, is an error for one. */
    enum model_at at;
    uint32_t at_marker;
    double at_seconds;
    /* Leaks set apart (analyzer/suppress.h): the user's file of leak:PATTERN rules, or
     * NULL; and whether the C runtime's one-time allocations count as leaks after all
     * (by default they are set apart). For a log or a snapshot alike. */
    const char *suppressions;
    bool keep_runtime_leaks;
    /* Keep the Python interpreter's own frames in stacks that have Python frames (by
     * default they are hidden: analyzer/aggregate.h). */
    bool python_internals;
    /* Allocator wrappers (analyzer/wrappers.h): the user's --alloc-fn patterns (the
     * caller's strings), and whether detection from the stacks' shape is off. */
    int n_alloc_fns;
    const char *const *alloc_fns;
    bool no_wrapper_detection;
};

/*
 * Opens opt->path and, with opt->aggregate, reads, aggregates and symbolizes all of it.
 * Returns 0 or a negative errno; either way *out is the session, to be closed, with
 * the message in session_error() - except when there is no memory for the session
 * itself: then *out is NULL, the return -ENOMEM and session_error(NULL) says so.
 */
int session_open(const struct session_options *opt, struct session **out)
    __attribute__((warn_unused_result));

/* Whether the session's file is a snapshot (no reader, no items: only the model). */
bool session_is_snapshot(const struct session *s);

/* The last failure's message; "" if none. s may be NULL (see session_open). */
const char *session_error(const struct session *s);

/* The model, after a successful session_open with opt->aggregate; else NULL. Valid
 * until session_close. */
const struct model *session_model(const struct session *s);

/* Without opt->aggregate: the next item in time order (reader.h's struct rd_item, its
 * text valid until the next call): 1, 0 at the end, or a negative errno. */
int session_next(struct session *s, struct rd_item *it) __attribute__((warn_unused_result));

/* The reader, for what items do not carry: the header, stacks, modules, clock, stats
 * and warnings (reader.h says when each may be read). Valid until session_close; NULL
 * for a snapshot. */
struct rd_log *session_reader(struct session *s);

/*
 * The model at every marker of a log opened with opt->aggregate at its end: the log
 * is read a second time, and at each marker fn(ctx, model, k) is called with the model
 * at the k-th marker (from 1; valid during the call), as session_open would make it
 * with MODEL_AT_MARKER. Returns 0 after the last marker (none at all is not an
 * error), a negative errno with the message in session_error(), or the first nonzero
 * value fn returns (then its message is fn's to give).
 */
typedef int (*session_model_fn)(void *ctx, const struct model *m, uint32_t k);
int session_each_marker(struct session *s, session_model_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Frees everything the session made, the model included. NULL is a no-op. */
void session_close(struct session *s);

#endif
