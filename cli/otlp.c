/* otlp.c - the OTLP exporter's settings, resource and sending (see otlp.h). The
 * variables and their precedence are OpenTelemetry's (configuration/
 * sdk-environment-variables.md, protocol/exporter.md): the command line first, then the
 * per-signal (_TRACES_) variable, then the generic one, then the default. */
#include "cli/otlp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/http.h"
#include "cli/otlp_resp.h"
#include "util/escape.h"
#include "util/gzip.h"

#define DEFAULT_ENDPOINT "http://localhost:4318"

static int failf(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return code;
}

/* The per-signal variable if set (even empty? no: set and not empty), else the
 * generic one; NULL if neither. *which names the one used. */
static const char *env2(const char *traces, const char *generic, const char **which)
{
    const char *v = getenv(traces);
    if (v != NULL && v[0] != '\0') {
        *which = traces;
        return v;
    }
    v = getenv(generic);
    *which = generic;
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static bool is_url(const char *s)
{
    const char *host = !strncmp(s, "http://", 7)    ? s + 7
                       : !strncmp(s, "https://", 8) ? s + 8
                                                    : NULL;
    if (host == NULL || host[0] == '\0' || host[0] == '/' || host[0] == ':')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* The base URL with "/v1/traces" after it (one slash between). */
static char *traces_url(const char *base)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    char *u = malloc(n + sizeof("/v1/traces"));
    if (u != NULL) {
        memcpy(u, base, n);
        strcpy(u + n, "/v1/traces");
    }
    return u;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..n) trimmed of spaces and tabs and percent-decoded; malloc'd, NULL on a bad
 * escape (*bad set) or no memory. */
static char *decode(const char *s, size_t n, bool *bad)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *out = malloc(n + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h = i + 1 < n ? hexv(s[i + 1]) : -1;
            int l = i + 2 < n ? hexv(s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                free(out);
                *bad = true;
                return NULL;
            }
            out[o++] = (char)(h << 4 | l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* "k1=v1,k2=v2" into keys and values: 0, -EINVAL with *bad_at the 1-based entry, or
 * -ENOMEM. */
static int parse_pairs(const char *s, char ***keys, char ***values, int *n, int *bad_at)
{
    int count = 0;
    *keys = *values = NULL;
    *n = 0;
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        count++;
        bool empty = true;
        for (size_t i = 0; i < len; i++)
            empty &= p[i] == ' ' || p[i] == '\t';
        if (!empty) {
            bool bad = false;
            if (eq == NULL) {
                *bad_at = count;
                return -EINVAL;
            }
            char *k = decode(p, (size_t)(eq - p), &bad);
            char *v = k != NULL ? decode(eq + 1, len - (size_t)(eq + 1 - p), &bad) : NULL;
            if (k == NULL || v == NULL || k[0] == '\0') {
                bool empty_key = k != NULL && k[0] == '\0';
                free(k);
                free(v);
                if (bad || empty_key) {
                    *bad_at = count;
                    return -EINVAL;
                }
                return -ENOMEM;
            }
            char **nk = realloc(*keys, (size_t)(*n + 1) * sizeof(char *));
            if (nk != NULL)
                *keys = nk;
            char **nv = nk != NULL ? realloc(*values, (size_t)(*n + 1) * sizeof(char *)) : NULL;
            if (nv == NULL) {
                free(k);
                free(v);
                return -ENOMEM;
            }
            *values = nv;
            (*keys)[*n] = k;
            (*values)[*n] = v;
            (*n)++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static void free_pairs(char **k, char **v, int n)
{
    for (int i = 0; i < n; i++) {
        free(k[i]);
        free(v[i]);
    }
    free(k);
    free(v);
}

/* An HTTP header name: RFC 9110's token characters. */
static bool header_name(const char *s)
{
    if (s[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!(*p > ' ' && *p < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *p)))
            return false;
    return true;
}

static bool header_value(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < ' ' && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

static int set_headers(struct otlp_config *c, char *err, size_t cap)
{
    const char *which,
        *v = env2("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS", &which);
    char **k = NULL, **vals = NULL;
    int n = 0, bad_at = 0, rc;

    if (v == NULL)
        return 0;
    if ((rc = parse_pairs(v, &k, &vals, &n, &bad_at)) < 0) {
        free_pairs(k, vals, n);
        if (rc == -ENOMEM)
            return failf(err, cap, rc, "out of memory");
        return failf(err, cap, -EINVAL,
                     "%s: entry %d is not NAME=VALUE with %%XX escapes (the value is not "
                     "shown: it may be a secret); write it as name1=value1,name2=value2",
                     which, bad_at);
    }
    if ((c->headers = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
        free_pairs(k, vals, n);
        return failf(err, cap, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        if (!header_name(k[i]) || !header_value(vals[i])) {
            free_pairs(k, vals, n);
            return failf(err, cap, -EINVAL,
                         "%s: entry %d is not a valid HTTP header (a name of letters, digits "
                         "and !#$%%&'*+-.^_`|~, a value without control characters; the "
                         "value is not shown: it may be a secret)",
                         which, i + 1);
        }
        if (asprintf(&c->headers[i], "%s: %s", k[i], vals[i]) < 0) {
            c->headers[i] = NULL;
            free_pairs(k, vals, n);
            return failf(err, cap, -ENOMEM, "out of memory");
        }
        c->n_headers = i + 1;
    }
    free_pairs(k, vals, n);
    return 0;
}

static char *dup_env(const char *traces, const char *generic)
{
    const char *which, *v = env2(traces, generic, &which);
    return v != NULL ? strdup(v) : NULL;
}

int otlp_config_init(struct otlp_config *c, const struct otlp_cli *cli, char *err, size_t cap)
{
    const char *which, *v;
    int rc;

    memset(c, 0, sizeof(*c));
    c->verbose = cli->verbose;
    /* The endpoint. */
    if (cli->endpoint != NULL && strcmp(cli->endpoint, "env") != 0) {
        if (!is_url(cli->endpoint))
            return failf(err, cap, -EINVAL,
                         "--otlp %s: not a URL; give the collector's base URL, e.g. "
                         "http://localhost:4318 (/v1/traces is appended), or `env` for "
                         "OTEL_EXPORTER_OTLP_ENDPOINT",
                         cli->endpoint);
        c->url = traces_url(cli->endpoint);
    } else if ((v = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != NULL && v[0] != '\0') {
        if (!is_url(v))
            return failf(err, cap, -EINVAL,
                         "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s: not an http:// or https:// URL",
                         v);
        /* Used as given; a URL without a path gets "/". */
        const char *host = strstr(v, "://") + 3;
        c->url = strchr(host, '/') != NULL ? strdup(v) : NULL;
        if (strchr(host, '/') == NULL && asprintf(&c->url, "%s/", v) < 0)
            c->url = NULL;
    } else {
        v = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
        if (v == NULL || v[0] == '\0')
            v = DEFAULT_ENDPOINT;
        else if (!is_url(v))
            return failf(err, cap, -EINVAL,
                         "OTEL_EXPORTER_OTLP_ENDPOINT=%s: not an http:// or https:// URL", v);
        c->url = traces_url(v);
    }
    if (c->url == NULL)
        return failf(err, cap, -ENOMEM, "out of memory");

    /* Protocol. */
    v = cli->protocol;
    which = "--otlp-protocol";
    if (v == NULL)
        v = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", &which);
    if (v == NULL || !strcmp(v, "http/protobuf"))
        c->json = false;
    else if (!strcmp(v, "http/json"))
        c->json = true;
    else if (!strcmp(v, "grpc"))
        return failf(err, cap, -EINVAL,
                     "%s grpc: heapspan sends OTLP over HTTP only; use http/protobuf or "
                     "http/json (a collector's port 4318)",
                     which);
    else
        return failf(err, cap, -EINVAL, "%s %s: expected http/protobuf or http/json", which, v);

    /* Compression. */
    v = cli->compression;
    which = "--otlp-compression";
    if (v == NULL)
        v = env2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION", &which);
    if (v == NULL || !strcmp(v, "none"))
        c->gzip = false;
    else if (!strcmp(v, "gzip"))
        c->gzip = true;
    else
        return failf(err, cap, -EINVAL, "%s %s: expected gzip or none", which, v);

    /* Timeout: seconds on the command line, milliseconds in the variables. */
    c->timeout_ms = 10000;
    if (cli->timeout >= 0) {
        c->timeout_ms = (long)(cli->timeout * 1000 + 0.5);
    } else if ((v = env2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT",
                         &which)) != NULL) {
        char *end;
        errno = 0;
        long ms = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || ms < 0)
            return failf(err, cap, -EINVAL,
                         "%s=%s: expected milliseconds, a whole number (0: no limit)", which, v);
        c->timeout_ms = ms;
    }

    if ((rc = set_headers(c, err, cap)) < 0)
        return rc;
    c->ca_file = dup_env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
    c->client_key =
        dup_env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    c->client_cert = dup_env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                             "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
    const char *files[] = { c->ca_file, c->client_key, c->client_cert };
    const char *names[] = { "CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE" };
    for (int i = 0; i < 3; i++)
        if (files[i] != NULL && access(files[i], R_OK) != 0)
            return failf(err, cap, -ENOENT,
                         "OTEL_EXPORTER_OTLP_%s=%s: cannot read it: %s; give a PEM file", names[i],
                         files[i], strerror(errno));

    if ((v = getenv("OTEL_SERVICE_NAME")) != NULL && v[0] != '\0')
        c->service_name = strdup(v);
    if ((v = getenv("OTEL_RESOURCE_ATTRIBUTES")) != NULL && v[0] != '\0') {
        int bad_at = 0;
        rc = parse_pairs(v, &c->res_keys, &c->res_values, &c->n_res, &bad_at);
        if (rc == -ENOMEM)
            return failf(err, cap, rc, "out of memory");
        if (rc < 0) {
            /* The specification: a decode error discards the whole variable. */
            free_pairs(c->res_keys, c->res_values, c->n_res);
            c->res_keys = c->res_values = NULL;
            c->n_res = 0;
            snprintf(c->warning, sizeof(c->warning),
                     "OTEL_RESOURCE_ATTRIBUTES: entry %d is not key=value with %%XX escapes; "
                     "the variable is ignored",
                     bad_at);
        }
    }

    /* Spans per request: the batch span processor's variable and default. */
    c->batch = OTLP_DEFAULT_BATCH;
    if ((v = getenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) != NULL && v[0] != '\0') {
        char *end;
        errno = 0;
        long b = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || b < 1 || b > 1000000)
            return failf(err, cap, -EINVAL,
                         "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%s: expected spans per request, 1 to "
                         "1000000",
                         v);
        c->batch = (int)b;
    }
    /* The specification: "true", case-insensitively, disables; anything else does not. */
    if ((v = getenv("OTEL_SDK_DISABLED")) != NULL && strcasecmp(v, "true") == 0)
        c->disabled = true;
    if ((v = getenv("TRACEPARENT")) != NULL && v[0] != '\0') {
        c->has_parent = otlp_parse_traceparent(v, c->parent_trace, c->parent_span);
        if (!c->has_parent)
            snprintf(c->warning, sizeof(c->warning),
                     "TRACEPARENT=%.100s is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 "
                     "hex>); the trace is a trace of its own",
                     v);
        else if ((v = getenv("TRACESTATE")) != NULL && v[0] != '\0')
            c->trace_state = strdup(v);
    }
    return 0;
}

void otlp_config_fini(struct otlp_config *c)
{
    free(c->url);
    for (int i = 0; i < c->n_headers; i++)
        free(c->headers[i]);
    free(c->headers);
    free(c->ca_file);
    free(c->client_cert);
    free(c->client_key);
    free(c->service_name);
    free_pairs(c->res_keys, c->res_values, c->n_res);
    free(c->trace_state);
    memset(c, 0, sizeof(*c));
}

void otlp_config_trace(const struct otlp_config *c, struct otlp_trace *t, uint32_t pid,
                       uint64_t start_unix_ns, const char *exe, int argc, const char *const *argv)
{
    uint8_t identity[16];
    char host[256];
    const char *base = strrchr(exe, '/');
    base = base != NULL ? base + 1 : exe;

    otlp_trace_id(pid, start_unix_ns, exe, identity);
    otlp_set_ids(t, identity, c->has_parent ? c->parent_trace : NULL,
                 c->has_parent ? c->parent_span : NULL, c->trace_state);

    const char *service = base[0] != '\0' ? base : "heapspan";
    for (int i = 0; i < c->n_res; i++)
        if (!strcmp(c->res_keys[i], "service.name"))
            service = c->res_values[i];
    if (c->service_name != NULL)
        service = c->service_name;
    otlp_attr_string(t, &t->resource, "service.name", service);
    otlp_attr_int(t, &t->resource, "process.pid", pid);
    if (exe[0] != '\0') {
        otlp_attr_string(t, &t->resource, "process.executable.name", base);
        otlp_attr_string(t, &t->resource, "process.executable.path", exe);
    }
    if (argc > 0) {
        size_t n = 1;
        for (int i = 0; i < argc; i++)
            n += strlen(argv[i]) + 1;
        char *line = malloc(n);
        if (line != NULL) {
            line[0] = '\0';
            for (int i = 0; i < argc; i++) {
                if (i)
                    strcat(line, " ");
                strcat(line, argv[i]);
            }
            otlp_attr_string(t, &t->resource, "process.command_line", line);
            free(line);
        } else {
            t->err = -ENOMEM;
        }
        otlp_attr_strings(t, &t->resource, "process.command_args", argv, argc);
    }
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        otlp_attr_string(t, &t->resource, "host.name", host);
    }
    for (int i = 0; i < c->n_res; i++)
        if (strcmp(c->res_keys[i], "service.name") != 0)
            otlp_attr_set_string(t, &t->resource, c->res_keys[i], c->res_values[i]);
}

/* The server's message from a body in the type we sent. */
static void server_message(const struct otlp_config *c, const struct http_response *res, char *out,
                           size_t cap)
{
    struct otlp_resp r;
    out[0] = '\0';
    if (res->body == NULL || res->body_len == 0)
        return;
    if ((c->json ? otlp_resp_parse_status_json(res->body, res->body_len, &r)
                 : otlp_resp_parse_status((const uint8_t *)res->body, res->body_len, &r)) &&
        r.message[0] != '\0') {
        snprintf(out, cap, ": %s", r.message);
        return;
    }
    /* JSON, or not a Status: the start of the body as text. */
    char raw[301];
    size_t n = res->body_len < 300 ? res->body_len : 300;
    memcpy(raw, res->body, n);
    raw[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (raw[i] == '\0')
            raw[i] = '?';
    while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
        raw[--n] = '\0';
    if (n > 0) {
        char esc[700];
        esc_text(esc, sizeof(esc), raw);
        snprintf(out, cap, ": %s", esc);
    }
}

/* One request: n spans from the first-th. */
static int send_batch(const struct otlp_config *c, const struct otlp_trace *t, int first, int n,
                      char *err, size_t cap)
{
    uint8_t *body = NULL, *gz = NULL;
    size_t len = 0, gz_len = 0;
    char *json = NULL;
    struct http_response res = { 0 };
    char msg[1024];
    int rc;

    if (c->json) {
        FILE *f = open_memstream(&json, &len);
        if (f == NULL)
            return failf(err, cap, -ENOMEM, "out of memory while encoding the trace");
        rc = otlp_encode_json_spans(t, first, n, f);
        if (fclose(f) != 0 && rc == 0)
            rc = -ENOMEM;
        body = (uint8_t *)json;
    } else {
        rc = otlp_encode_protobuf_spans(t, first, n, &body, &len);
    }
    if (rc < 0) {
        rc = failf(err, cap, -ENOMEM, "out of memory while encoding the trace");
        goto out;
    }
    if (c->gzip) {
        if ((rc = gz_compress(body, len, &gz, &gz_len)) < 0) {
            failf(err, cap, rc, "cannot gzip the request (%s)", strerror(-rc));
            goto out;
        }
    }
    struct http_request req = {
        .url = c->url,
        .content_type = c->json ? "application/json" : "application/x-protobuf",
        .content_encoding = c->gzip ? "gzip" : NULL,
        .body = c->gzip ? gz : body,
        .body_len = c->gzip ? gz_len : len,
        .headers = (const char *const *)c->headers,
        .ca_file = c->ca_file,
        .client_cert = c->client_cert,
        .client_key = c->client_key,
        .timeout_ms = c->timeout_ms,
    };
    if ((rc = http_post(&req, &http_retry_default, &res, msg, sizeof(msg))) < 0) {
        failf(err, cap, rc, "%s", msg);
        goto out;
    }
    if (c->verbose) {
        fprintf(stderr, "heapspan: POST %s: %zu bytes of %s%s, %d span%s, headers [", c->url,
                req.body_len, c->json ? "http/json" : "http/protobuf", c->gzip ? ", gzip'd" : "", n,
                n == 1 ? "" : "s");
        /* Names only: a value may be a write token. */
        for (int i = 0; i < c->n_headers; i++)
            fprintf(stderr, "%s%.*s", i ? ", " : "", (int)strcspn(c->headers[i], ":"),
                    c->headers[i]);
        fprintf(stderr, "]: HTTP %ld after %d attempt%s\n", res.status, res.attempts,
                res.attempts == 1 ? "" : "s");
    }
    if (res.status < 200 || res.status > 299) {
        char smsg[800];
        server_message(c, &res, smsg, sizeof(smsg));
        rc = failf(err, cap, -EIO, "%s answered HTTP %ld%s%s", c->url, res.status, smsg,
                   http_status_retryable(res.status) ? " (still, after retrying until the timeout)"
                                                     : "");
        goto out;
    }
    struct otlp_resp r;
    if (res.body_len > 0 &&
        (c->json ? otlp_resp_parse_export_json(res.body, res.body_len, &r)
                 : otlp_resp_parse_export((const uint8_t *)res.body, res.body_len, &r)) &&
        r.partial && (r.rejected_spans > 0 || r.message[0] != '\0'))
        fprintf(stderr, "heapspan: warning: %s took the trace in part: %lld span%s rejected%s%s\n",
                c->url, (long long)r.rejected_spans, r.rejected_spans == 1 ? "" : "s",
                r.message[0] ? ": " : "", r.message);
    rc = 0;
out:
    http_response_fini(&res);
    free(body);
    free(gz);
    return rc;
}

int otlp_send(const struct otlp_config *c, const struct otlp_trace *t, char *err, size_t cap)
{
    int batch = c->batch > 0 ? c->batch : OTLP_DEFAULT_BATCH;
    int n_req = (t->n_spans + batch - 1) / batch;

    if (t->err)
        return failf(err, cap, t->err, "out of memory while building the trace");
    for (int k = 0; k < n_req; k++) {
        int first = k * batch, n = t->n_spans - first < batch ? t->n_spans - first : batch;
        int rc = send_batch(c, t, first, n, err, cap);
        if (rc < 0) {
            if (n_req > 1) {
                size_t len = strlen(err);
                snprintf(err + len, cap - len, " (request %d of %d: %d of %d spans sent before)",
                         k + 1, n_req, first, t->n_spans);
            }
            return rc;
        }
    }
    return 0;
}
