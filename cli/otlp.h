/*
 * otlp.h - sending heap findings to an OpenTelemetry backend: the exporter's settings
 * from the command line and the OTEL_* variables (docs/otlp.md, "Settings"), the
 * resource that names the profiled process, and one export: the trace (viz/otlp.h)
 * encoded, gzip'd if asked, POSTed through cli/http.h with OpenTelemetry's retry rules,
 * and the server's answer judged. Used by `heapspan export --otlp` and `heapspan run
 * --otlp`, from one thread.
 *
 * The headers (OTEL_EXPORTER_OTLP_HEADERS, often a write token) are never printed: a
 * message about a bad one names the variable and the entry's position, not its text.
 * Functions return 0 or a negative errno with one message in the caller's buffer.
 */
#ifndef HEAPSPAN_CLI_OTLP_H
#define HEAPSPAN_CLI_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "viz/otlp.h"

/* Spans per request, as OpenTelemetry's batch span processor sends them: a long run's
 * intervals are many requests, never one over a collector's size limit. */
#define OTLP_DEFAULT_BATCH 512

struct otlp_config {
    char *url;       /* the traces endpoint, /v1/traces included */
    bool json;       /* http/json, else http/protobuf */
    bool gzip;       /* Content-Encoding: gzip */
    long timeout_ms; /* per export, retries included; 0: no limit */
    char **headers;  /* "Name: value", NULL-terminated; never printed */
    int n_headers;
    char *ca_file, *client_cert, *client_key;
    char *service_name;            /* OTEL_SERVICE_NAME, or NULL */
    char **res_keys, **res_values; /* OTEL_RESOURCE_ATTRIBUTES, decoded */
    int n_res;
    bool has_parent; /* TRACEPARENT was a valid W3C traceparent */
    uint8_t parent_trace[16], parent_span[8];
    char *trace_state; /* TRACESTATE, with a parent only */
    char warning[512]; /* a variable set aside (not an error); "" if none */
    bool verbose;      /* a line per export on stderr: the headers' names, never values */
    bool disabled;     /* OTEL_SDK_DISABLED=true: nothing is sent */
    int batch;         /* spans per request (OTEL_BSP_MAX_EXPORT_BATCH_SIZE) */
};

/* What the command line says; NULL / negative for "not given". */
struct otlp_cli {
    const char *endpoint;    /* --otlp URL: a base URL, or "env" */
    const char *protocol;    /* http/protobuf, http/json */
    const char *compression; /* gzip, none */
    double timeout;          /* seconds; < 0: not given */
    bool verbose;            /* --otlp-verbose: a line per export on stderr */
};

int otlp_config_init(struct otlp_config *c, const struct otlp_cli *cli, char *err, size_t cap)
    __attribute__((warn_unused_result));
void otlp_config_fini(struct otlp_config *c);

/* The trace's ids (the process's identity, the caller's traceparent) and its resource:
 * service.name, process.*, host.name, then OTEL_RESOURCE_ATTRIBUTES. */
void otlp_config_trace(const struct otlp_config *c, struct otlp_trace *t, uint32_t pid,
                       uint64_t start_unix_ns, const char *exe, int argc, const char *const *argv);

/* One export, in requests of at most c->batch spans (each with the resource). 0 when the
 * server took them all (a partial success is written to stderr as a
 * warning); else the message: the URL, the HTTP status and the server's own message. */
int otlp_send(const struct otlp_config *c, const struct otlp_trace *t, char *err, size_t cap)
    __attribute__((warn_unused_result));

#endif
