/*
 * otlp.h - heap findings as OpenTelemetry spans: a model (and, for a live process, the
 * intervals its heapspan process measured) -> one trace -> an ExportTraceServiceRequest,
 * in protobuf (util/pbuf.h) or in OTLP/JSON. The span model is docs/otlp.md's: a root
 * span over the process's lifetime with its totals, a child per interval or marker, a
 * child per top leak site and per bloated size.
 *
 * Ids are derived, never random: the trace id from the process's identity (pid, start
 * time, executable) and each span id from the trace id, the span's kind and its index,
 * so that exporting the same log twice sends the same ids and a backend keeps one trace.
 * A caller's W3C traceparent puts the root span under the caller's span, in its trace.
 *
 * Building (otlp_init ... otlp_from_model / otlp_add_*) allocates; every string is
 * copied into the trace, with bytes that are not valid UTF-8 replaced by U+FFFD (OTLP's
 * strings must be UTF-8, and names from binaries need not be). An allocation failure
 * is sticky: later calls do nothing and the encoders return -ENOMEM. Not thread-safe;
 * one trace per thread. Reads the model only (viz/ never sees the log).
 */
#ifndef HEAPSPAN_VIZ_OTLP_H
#define HEAPSPAN_VIZ_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analyzer/model.h"

/* The kinds of span, each with its name (docs/otlp.md) and its own run of ids. */
enum otlp_span_kind {
    OTLP_SPAN_PROCESS = 0, /* "heap.process": the root */
    OTLP_SPAN_INTERVAL,    /* "heap.interval": an interval or a marker */
    OTLP_SPAN_LEAK,        /* "heap.leak": a leak site */
    OTLP_SPAN_BLOAT,       /* "heap.bloat": a size held in large numbers */
};

enum otlp_type { OTLP_STRING, OTLP_INT, OTLP_DOUBLE, OTLP_BOOL, OTLP_STRINGS };

struct otlp_attr {
    char *key;
    enum otlp_type type;
    char *s;        /* OTLP_STRING */
    int64_t i;      /* OTLP_INT */
    double d;       /* OTLP_DOUBLE */
    bool b;         /* OTLP_BOOL */
    char **strings; /* OTLP_STRINGS: an array of strings */
    int n_strings;
};

struct otlp_attrs {
    struct otlp_attr *a;
    int n, cap;
};

#define OTLP_STATUS_UNSET 0
#define OTLP_STATUS_OK    1
#define OTLP_STATUS_ERROR 2

struct otlp_span {
    enum otlp_span_kind kind;
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    uint64_t start_unix_ns, end_unix_ns;
    struct otlp_attrs attrs;
    int status;
    char *status_message; /* NULL: none */
};

struct otlp_trace {
    uint8_t trace_id[16];
    uint8_t identity_id[16]; /* the process's own trace id, which span ids derive from */
    char *trace_state;       /* the caller's tracestate, or NULL */
    uint8_t root_parent[8];  /* the caller's span (traceparent), if root_parent_set */
    bool root_parent_set;
    struct otlp_attrs resource;
    struct otlp_span *spans; /* spans[0] is the root */
    int n_spans, cap_spans;
    int err; /* 0, or -ENOMEM once an allocation failed */
};

/* One interval (or marker) of the process, as its span carries it: times are unix ns;
 * the numbers at the interval's end, counts within it. */
struct otlp_interval {
    uint64_t start_unix_ns, end_unix_ns;
    double live_bytes, live_blocks;             /* at the end */
    double peak_bytes;                          /* the highest live total up to the end */
    double allocations, frees, allocated_bytes; /* within the interval */
    uint32_t marker_serial;                     /* 0: an interval, not a marker */
    const char *marker_kind;                    /* "signal", "interval", "exec"; NULL */
};

/* What otlp_from_model puts in the trace besides the model. */
struct otlp_options {
    int top;               /* leak sites and bloated sizes, at most this many of each */
    double leak_threshold; /* the root's status is ERROR when leaked bytes exceed it;
                            * < 0: never */
    const struct otlp_interval *intervals; /* consecutive, the first of index */
    int n_intervals;
    uint32_t first_interval;
    bool live; /* the process is still running: the root ends at end_unix_ns below */
    uint64_t end_unix_ns;
};

void otlp_init(struct otlp_trace *t);
void otlp_fini(struct otlp_trace *t);

/* The trace id of a process: a hash of (pid, start time, executable), never all zero. */
void otlp_trace_id(uint32_t pid, uint64_t start_unix_ns, const char *exe, uint8_t out[16]);
/* A span id: a hash of (the process's trace id, kind, index), never all zero. */
void otlp_span_id(const uint8_t identity[16], enum otlp_span_kind kind, uint32_t index,
                  uint8_t out[8]);

/* Parses a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"; a higher version may carry
 * more after the flags): true with the ids, false if it is not one (all-zero ids and
 * version ff are not). */
bool otlp_parse_traceparent(const char *s, uint8_t trace_id[16], uint8_t span_id[8]);

/* Sets the trace's identity (otlp_trace_id of the process) and, with parent non-NULL,
 * the caller's trace (16 bytes), span (8 bytes) and tracestate (may be NULL). Before
 * the first span. */
void otlp_set_ids(struct otlp_trace *t, const uint8_t identity[16], const uint8_t *parent_trace,
                  const uint8_t *parent_span, const char *trace_state);

/* Attributes, of the resource (span NULL) or a span. */
void otlp_attr_string(struct otlp_trace *t, struct otlp_attrs *a, const char *key, const char *v);
void otlp_attr_int(struct otlp_trace *t, struct otlp_attrs *a, const char *key, int64_t v);
void otlp_attr_double(struct otlp_trace *t, struct otlp_attrs *a, const char *key, double v);
void otlp_attr_bool(struct otlp_trace *t, struct otlp_attrs *a, const char *key, bool v);
void otlp_attr_strings(struct otlp_trace *t, struct otlp_attrs *a, const char *key,
                       const char *const *v, int n);
/* Sets key's string value if the list has key, else adds it. */
void otlp_attr_set_string(struct otlp_trace *t, struct otlp_attrs *a, const char *key,
                          const char *v);
const struct otlp_attr *otlp_attr_find(const struct otlp_attrs *a, const char *key);

/* A new span of kind, the index-th of its kind (the id's input); a child of the root
 * unless it is the root. Returns it (valid until the next otlp_add_span), or NULL. */
struct otlp_span *otlp_add_span(struct otlp_trace *t, enum otlp_span_kind kind, uint32_t index,
                                uint64_t start_unix_ns, uint64_t end_unix_ns);

/* The spans of a model as docs/otlp.md describes them: the root, the intervals given,
 * the top leak sites and bloated sizes. The resource is the caller's. */
void otlp_from_model(struct otlp_trace *t, const struct model *m, const struct otlp_options *o);

/* An interval's span (the live exporter's, and otlp_from_model's). index from 0. */
void otlp_add_interval(struct otlp_trace *t, uint32_t index, const struct otlp_interval *iv,
                       uint64_t sample_bytes);

/* The request, as protobuf bytes (malloc'd into *out) or OTLP/JSON onto a FILE.
 * 0, -ENOMEM, or -EIO (a write error on the FILE). */
int otlp_encode_protobuf(const struct otlp_trace *t, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));
int otlp_encode_json(const struct otlp_trace *t, FILE *out) __attribute__((warn_unused_result));
/* The same with n spans from the first-th only (the resource and scope as always): one
 * request of a trace sent in batches. */
int otlp_encode_protobuf_spans(const struct otlp_trace *t, int first, int n, uint8_t **out,
                               size_t *len) __attribute__((warn_unused_result));
int otlp_encode_json_spans(const struct otlp_trace *t, int first, int n, FILE *out)
    __attribute__((warn_unused_result));

/* The span's name ("heap.process", ...). */
const char *otlp_span_name(enum otlp_span_kind kind);

#endif
