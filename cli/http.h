/*
 * http.h - HTTP requests for the exports that push to a server (OTLP traces, Pyroscope),
 * through libcurl, with the retry policy OpenTelemetry's exporters follow.
 *
 * libcurl is loaded with dlopen on the first request, not linked: `heapspan run` starts
 * before the program it measures, and libcurl brings some twenty libraries (TLS,
 * Kerberos, LDAP, ...) whose loading every run would pay. A machine without libcurl
 * gets a clear error when it first exports, and everything else works.
 *
 * Called from one thread at a time. Allocates the response body (http_response_fini
 * frees it). Fails with a negative errno and one message in the caller's buffer, which
 * names the URL and the cause and never the request's headers: they may carry a
 * write token (OTEL_EXPORTER_OTLP_HEADERS), which must never be printed.
 */
#ifndef HEAPSPAN_CLI_HTTP_H
#define HEAPSPAN_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_request {
    const char *url;
    const char *content_type;     /* e.g. "application/x-protobuf" */
    const char *content_encoding; /* "gzip" when the body is gzip'd, else NULL */
    const void *body;
    size_t body_len;
    /* Extra headers as "Name: value" lines, NULL-terminated (may be NULL). Never
     * printed, not even in messages. */
    const char *const *headers;
    /* TLS files (PEM), or NULL: the CA bundle that verifies the server, and a client
     * certificate and key for mutual TLS. */
    const char *ca_file, *client_cert, *client_key;
    /* The whole exchange, retries and waits included, in milliseconds; 0: no limit. */
    long timeout_ms;
};

struct http_response {
    long status; /* the HTTP status of the last attempt; 0 if none answered */
    char *body;  /* NUL-terminated, at most HTTP_MAX_BODY bytes kept */
    size_t body_len;
    double retry_after; /* seconds the server asked to wait (Retry-After), -1 if none */
    int attempts;       /* requests sent */
};

#define HTTP_MAX_BODY (4u << 20) /* OTLP's recommended cap on a parsed response */

/* When to try again (OpenTelemetry's exporter rules): only on 429, 502, 503 and 504
 * and on connections that fail or close without a response; never on another status.
 * Waits honour Retry-After (seconds or an HTTP date); else they grow from first_delay
 * by factor up to max_delay, with +-jitter of each wait at random. Retries stop when
 * the next wait would end after the request's timeout. */
struct http_retry {
    double first_delay, factor, max_delay; /* seconds */
    double jitter;                         /* share of a wait, 0..1 */
};

/* The defaults for a command run by hand or in CI: 0.5 s, x2, at most 5 s, +-25%. The
 * request's timeout (default 10 s, OTEL_EXPORTER_OTLP_TIMEOUT) bounds them. */
extern const struct http_retry http_retry_default;

/* Whether a status is worth another attempt under the rules above. */
bool http_status_retryable(long status);

/*
 * POSTs the request, retrying by policy (NULL: one attempt). Returns 0 when a response
 * arrived, whatever its status (the caller judges it: res->status, res->body), or a
 * negative errno when none did within the timeout: -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH, -EINVAL (a malformed URL), -ENOSYS (no libcurl on this machine),
 * -ENOMEM, -EIO; err (errcap bytes) then holds the message.
 */
int http_post(const struct http_request *req, const struct http_retry *policy,
              struct http_response *res, char *err, size_t errcap)
    __attribute__((warn_unused_result));

void http_response_fini(struct http_response *res);

/* Parses a Retry-After value: delta seconds or an HTTP date (RFC 9110: IMF-fixdate,
 * and the obsolete RFC 850 and asctime forms); seconds from now (0 for a past date),
 * or -1 if it is neither. now is the current time in seconds since the epoch. */
double http_parse_retry_after(const char *value, double now);

#endif
