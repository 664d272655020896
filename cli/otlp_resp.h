/*
 * otlp_resp.h - what an OTLP/HTTP server answers, in protobuf or OTLP/JSON: a 2xx's
 * ExportTraceServiceResponse (its partial_success: spans rejected, and why), or an
 * error's google.rpc.Status (its message). The body is outside input: any bytes give a
 * result or "not one", never a read outside them (tests/fuzz/otlpresp.c).
 *
 * Pure functions of their arguments; thread-safe; no allocation. The message is copied
 * into the caller's buffer, cut to fit, with control characters and bytes that are not
 * valid UTF-8 escaped (util/escape.h): a server's text is shown on a terminal.
 */
#ifndef HEAPSPAN_CLI_OTLP_RESP_H
#define HEAPSPAN_CLI_OTLP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct otlp_resp {
    bool partial;           /* ExportTraceServiceResponse: partial_success present */
    int64_t rejected_spans; /* its rejected_spans */
    int32_t code;           /* google.rpc.Status: code */
    char message[512];      /* error_message or Status.message, escaped; "" if none */
};

/* ExportTraceServiceResponse (1 partial_success {1 rejected_spans int64, 2 error_message
 * string}). false if the bytes are not one (an empty body is one: all defaults). */
bool otlp_resp_parse_export(const uint8_t *p, size_t n, struct otlp_resp *out);

/* google.rpc.Status (1 code int32, 2 message string, 3 details Any[]). false if the
 * bytes are not one. */
bool otlp_resp_parse_status(const uint8_t *p, size_t n, struct otlp_resp *out);

/* The same in OTLP/JSON: {"partialSuccess": {"rejectedSpans": "N" (or a number),
 * "errorMessage": "..."}}, and {"code": N, "message": "..."}. The whole body must be one
 * JSON object (nesting at most 64 deep); unknown members are skipped. */
bool otlp_resp_parse_export_json(const char *p, size_t n, struct otlp_resp *out);
bool otlp_resp_parse_status_json(const char *p, size_t n, struct otlp_resp *out);

#endif
