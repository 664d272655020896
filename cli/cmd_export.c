/* cmd_export.c - `heapspan export`: a log or snapshot -> session -> model -> each
 * destination given, one option per destination: files in the formats of viz/export.h,
 * and pushes to servers (Pyroscope's /ingest, over cli/http.h; OTLP traces, over
 * cli/otlp.h). */
#include "cli/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/session.h"
#include "analyzer/view.h"
#include "cli/http.h"
#include "cli/opts.h"
#include "cli/otlp.h"
#include "cli/otlp_watch.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "format/bytesize.h"
#include "util/strbuf.h"
#include "viz/export.h"
#include "viz/flame.h"

static const char export_usage[] =
    "usage: heapspan export [--pprof FILE] [--folded FILE] [--speedscope FILE]\n"
    "                       [--pyroscope URL [--app-name NAME] [--label KEY=VALUE]...\n"
    "                       [--timeout SECONDS]]\n"
    "                       [--otlp URL|env [--otlp-protocol http/protobuf|http/json]\n"
    "                       [--otlp-compression gzip|none] [--otlp-top N] [--otlp-verbose]\n"
    "                       [--leak-threshold SIZE] [--timeout SECONDS]] [--otlp-json FILE]\n"
    "                       [--metric peak|leaked|allocations|temporary|allocated]\n"
    "                       [--debuginfo-path PATH] [--no-debuginfod] [--no-symbols]\n"
    "                       [--suppressions FILE] [--no-builtin-suppressions]\n"
    "                       [--alloc-fn PATTERN]... [--no-wrapper-detection]\n"
    "                       [--focus REGEX]... [--ignore REGEX]... LOG|SNAPSHOT\n"
    "Writes the recording for other tools; give one or more destinations (FILE - is\n"
    "stdout):\n"
    "  --pprof FILE       gzip'd pprof, as Go's heap profiles: alloc_objects, alloc_space,\n"
    "                     inuse_objects, inuse_space (go tool pprof, Pyroscope, speedscope)\n"
    "  --folded FILE      folded stacks of --metric (flamegraph.pl, inferno)\n"
    "  --speedscope FILE  speedscope's JSON: a profile per metric, --metric's first\n"
    "  --pyroscope URL    pushes the pprof profile to a Pyroscope server's /ingest, as\n"
    "                     NAME{KEY=VALUE,...} (NAME: --app-name, else the executable's\n"
    "                     name); --timeout bounds the push with its retries (default 10)\n"
    "  --otlp URL|env     sends the profile as OpenTelemetry spans to URL/v1/traces (a\n"
    "                     collector's base URL; env: OTEL_EXPORTER_OTLP_ENDPOINT, default\n"
    "                     http://localhost:4318); the OTEL_EXPORTER_OTLP_* variables apply\n"
    "                     (docs/otlp.md). --otlp-protocol and --otlp-compression beat\n"
    "                     theirs; --otlp-top: leak sites and bloated sizes sent (default 10);\n"
    "                     --leak-threshold: the root span's status is ERROR above it\n"
    "  --otlp-json FILE   the same trace as one line of OTLP/JSON (the Collector's\n"
    "                     otlpjsonfile receiver reads it)\n"
    "Values of a sampled recording are estimates, already scaled up. --metric: what\n"
    "folded stacks count (default peak: bytes live at the peak).\n"
    "\n" OPT_SITES_USAGE OPT_MODEL_USAGE;

#define MAX_LABELS 32

enum {
    EXPORT_OPT_PPROF = 0x200,
    EXPORT_OPT_FOLDED,
    EXPORT_OPT_SPEEDSCOPE,
    EXPORT_OPT_PYROSCOPE,
    EXPORT_OPT_APP_NAME,
    EXPORT_OPT_LABEL,
    EXPORT_OPT_TIMEOUT,
    EXPORT_OPT_OTLP,
    EXPORT_OPT_OTLP_PROTOCOL,
    EXPORT_OPT_OTLP_COMPRESSION,
    EXPORT_OPT_OTLP_TOP,
    EXPORT_OPT_LEAK_THRESHOLD,
    EXPORT_OPT_OTLP_VERBOSE,
    EXPORT_OPT_OTLP_JSON,
};

struct export_args {
    struct session_options open;
    struct opt_sites sites;
    enum flame_metric metric;
    const char *pprof, *folded, *speedscope; /* files, "-" for stdout */
    const char *pyroscope;                   /* the server's base URL */
    const char *otlp_json;                   /* --otlp-json FILE */
    const char *app_name;
    const char *labels[MAX_LABELS];
    int n_labels;
    double timeout; /* seconds; < 0: not given */
    struct otlp_cli otlp;
    long otlp_top;
    double leak_threshold; /* bytes; < 0: none */
};

/* A Pyroscope label: KEY=VALUE, KEY a name its servers take. */
static bool valid_label(const char *s)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s || eq[1] == '\0')
        return false;
    for (const char *p = s; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '.' ||
              (p > s && *p >= '0' && *p <= '9')))
            return false;
    return strpbrk(eq + 1, ",{}") == NULL;
}

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct export_args *a)
{
    static const struct option opts[] = {
        { "pprof", required_argument, NULL, EXPORT_OPT_PPROF },
        { "folded", required_argument, NULL, EXPORT_OPT_FOLDED },
        { "speedscope", required_argument, NULL, EXPORT_OPT_SPEEDSCOPE },
        { "pyroscope", required_argument, NULL, EXPORT_OPT_PYROSCOPE },
        { "app-name", required_argument, NULL, EXPORT_OPT_APP_NAME },
        { "label", required_argument, NULL, EXPORT_OPT_LABEL },
        { "timeout", required_argument, NULL, EXPORT_OPT_TIMEOUT },
        { "otlp", required_argument, NULL, EXPORT_OPT_OTLP },
        { "otlp-protocol", required_argument, NULL, EXPORT_OPT_OTLP_PROTOCOL },
        { "otlp-compression", required_argument, NULL, EXPORT_OPT_OTLP_COMPRESSION },
        { "otlp-top", required_argument, NULL, EXPORT_OPT_OTLP_TOP },
        { "leak-threshold", required_argument, NULL, EXPORT_OPT_LEAK_THRESHOLD },
        { "otlp-verbose", no_argument, NULL, EXPORT_OPT_OTLP_VERBOSE },
        { "otlp-json", required_argument, NULL, EXPORT_OPT_OTLP_JSON },
        { "metric", required_argument, NULL, 'm' },
        OPT_SITES_LONGOPTS,
        OPT_MODEL_LONGOPTS,
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    int c;

    opt_init(&p, export_usage, argc, argv, "hm:", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        if (opt_model(c, &a->open))
            continue;
        int taken = opt_sites(&p, c, &a->sites);
        if (taken == 2)
            return 2;
        if (taken == 1)
            continue;
        switch (c) {
        case OPT_EXIT:
            return opt_status(&p);
        case 'm':
            if (!flame_parse_metric(optarg, &a->metric))
                return opt_bad_value(&p, flame_metric_list());
            break;
        case EXPORT_OPT_PPROF:
            a->pprof = optarg;
            break;
        case EXPORT_OPT_FOLDED:
            a->folded = optarg;
            break;
        case EXPORT_OPT_SPEEDSCOPE:
            a->speedscope = optarg;
            break;
        case EXPORT_OPT_PYROSCOPE:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
                return opt_bad_value(&p, "a URL: http://HOST:PORT or https://...");
            a->pyroscope = optarg;
            break;
        case EXPORT_OPT_APP_NAME:
            if (optarg[0] == '\0' || strpbrk(optarg, "{}") != NULL)
                return opt_bad_value(&p, "a name without { or }");
            a->app_name = optarg;
            break;
        case EXPORT_OPT_LABEL:
            if (!valid_label(optarg))
                return opt_bad_value(&p, "KEY=VALUE, KEY of letters, digits, _ and ., VALUE "
                                         "without , { or }");
            if (a->n_labels == MAX_LABELS) {
                opt_error("at most %d labels", MAX_LABELS);
                return 2;
            }
            a->labels[a->n_labels++] = optarg;
            break;
        case EXPORT_OPT_TIMEOUT:
            if (!opt_seconds(&p, &a->timeout))
                return 2;
            a->otlp.timeout = a->timeout;
            break;
        case EXPORT_OPT_OTLP:
            a->otlp.endpoint = optarg;
            break;
        case EXPORT_OPT_OTLP_PROTOCOL:
            if (strcmp(optarg, "http/protobuf") != 0 && strcmp(optarg, "http/json") != 0)
                return opt_bad_value(&p, "http/protobuf or http/json");
            a->otlp.protocol = optarg;
            break;
        case EXPORT_OPT_OTLP_COMPRESSION:
            if (strcmp(optarg, "gzip") != 0 && strcmp(optarg, "none") != 0)
                return opt_bad_value(&p, "gzip or none");
            a->otlp.compression = optarg;
            break;
        case EXPORT_OPT_OTLP_TOP:
            if (!opt_long(&p, 0, 1000, "0 to 1000", &a->otlp_top))
                return 2;
            break;
        case EXPORT_OPT_OTLP_JSON:
            a->otlp_json = optarg;
            break;
        case EXPORT_OPT_OTLP_VERBOSE:
            a->otlp.verbose = true;
            break;
        case EXPORT_OPT_LEAK_THRESHOLD: {
            uint64_t bytes;
            if (!hs_parse_bytes(optarg, &bytes))
                return opt_bad_value(&p, "a byte count like 0, 4096 or 10M");
            a->leak_threshold = (double)bytes;
            break;
        }
        }
    }
    if (!opt_operands(&p, 1, 1, "one LOG or SNAPSHOT"))
        return 2;
    a->open.path = argv[optind];
    if (a->pprof == NULL && a->folded == NULL && a->speedscope == NULL && a->pyroscope == NULL &&
        a->otlp.endpoint == NULL && a->otlp_json == NULL) {
        opt_error("no destination: give --pprof, --folded, --speedscope, --pyroscope, --otlp or "
                  "--otlp-json");
        return opt_usage_error(&p);
    }
    return -1;
}

/* Writes a file through fn; 0 or 2 after the message. */
static int write_file(const char *path, const char *what, const struct model *m,
                      enum flame_metric metric,
                      int (*fn)(FILE *, const struct model *, enum flame_metric))
{
    FILE *out = out_open(path);
    if (out == NULL)
        return 2;
    int err = fn(out, m, metric);
    if (err == -ENOMEM) {
        opt_error("out of memory while writing %s", what);
        if (out != stdout)
            fclose(out);
        return 2;
    }
    return out_close(out, path, what) < 0 ? 2 : 0;
}

static int write_pprof(const char *path, const uint8_t *data, size_t len)
{
    FILE *out = out_open(path);
    if (out == NULL)
        return 2;
    fwrite(data, 1, len, out);
    return out_close(out, path, "the pprof profile") < 0 ? 2 : 0;
}

/* Appends s percent-encoded for a query string (RFC 3986's unreserved kept). */
static int add_query(struct strbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int err = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && err == 0; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            err = sb_addc(b, (char)*p);
        else
            err = sb_addf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    return err;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* Pyroscope's ingest URL: BASE/ingest?name=APP{labels}&from=&until=&format=pprof. */
static int ingest_url(struct strbuf *u, const struct export_args *a, const struct model *m)
{
    const char *app = a->app_name;
    struct strbuf name = STRBUF_INIT;
    int err;

    if (app == NULL)
        app = m->process.exe[0] != '\0' ? base_name(m->process.exe) : "heapspan";
    err = sb_adds(&name, app);
    err = err ? err : sb_addc(&name, '{');
    for (int i = 0; i < a->n_labels && err == 0; i++)
        err = sb_addf(&name, "%s%s", i ? "," : "", a->labels[i]);
    err = err ? err : sb_addc(&name, '}');

    /* Unix seconds: when the recording started, and its last event. */
    double start = (double)m->process.start_unix_ns / 1e9;
    long long from = (long long)floor(start),
              until = (long long)ceil(start + m->totals.last_ns / 1e9);
    if (from <= 0) { /* no start time recorded: now */
        from = (long long)time(NULL);
        until = from;
    }
    if (until <= from)
        until = from + 1;
    size_t n = strlen(a->pyroscope);
    while (n > 0 && a->pyroscope[n - 1] == '/')
        n--;
    err = err ? err : sb_add(u, a->pyroscope, n);
    err = err ? err : sb_adds(u, "/ingest?name=");
    err = err ? err : add_query(u, sb_str(&name));
    err = err ? err : sb_addf(u, "&from=%lld&until=%lld&format=pprof", from, until);
    sb_fini(&name);
    return err;
}

/* Pushes the profile as Pyroscope's clients do: multipart/form-data with the profile
 * in a field named "profile". 0, or 2 after the message. */
static int push_pyroscope(const struct export_args *a, const struct model *m, const uint8_t *data,
                          size_t len)
{
    static const char boundary[] = "heapspan-pprof-7f3a9c2e41b8";
    struct strbuf url = STRBUF_INIT, body = STRBUF_INIT;
    char type[128], err_msg[1024];
    struct http_response res = { 0 };
    int rc = 2, err;

    snprintf(type, sizeof(type), "multipart/form-data; boundary=%s", boundary);
    err = ingest_url(&url, a, m);
    err = err ? err
              : sb_addf(
                    &body,
                    "--%s\r\nContent-Disposition: form-data; name=\"profile\"; "
                    "filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                    boundary);
    err = err ? err : sb_add(&body, (const char *)data, len);
    err = err ? err : sb_addf(&body, "\r\n--%s--\r\n", boundary);
    if (err < 0) {
        opt_error("out of memory while pushing to %s", a->pyroscope);
        goto out;
    }
    struct http_request req = {
        .url = sb_str(&url),
        .content_type = type,
        .body = body.p,
        .body_len = body.len,
        .timeout_ms = (long)((a->timeout >= 0 ? a->timeout : 10) * 1000),
    };
    if ((err = http_post(&req, &http_retry_default, &res, err_msg, sizeof(err_msg))) < 0) {
        opt_error("cannot push to Pyroscope: %s", err_msg);
        goto out;
    }
    if (res.status < 200 || res.status > 299) {
        size_t n = res.body_len < 300 ? res.body_len : 300;
        while (n > 0 && (res.body[n - 1] == '\n' || res.body[n - 1] == '\r'))
            n--;
        opt_error("Pyroscope at %s answered HTTP %ld%s%.*s", a->pyroscope, res.status,
                  n > 0 ? ": " : "", (int)n, res.body != NULL ? res.body : "");
        goto out;
    }
    rc = 0;
out:
    http_response_fini(&res);
    sb_fini(&url);
    sb_fini(&body);
    return rc;
}

struct intervals {
    struct otlp_interval *v;
    int n, cap;
};

static int add_interval(void *ctx, uint32_t index, const struct otlp_interval *iv)
{
    struct intervals *l = ctx;
    (void)index;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        struct otlp_interval *p = realloc(l->v, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = *iv;
    return 0;
}

/* Sends the model as OTLP spans: 0, or 2 after the message. */
static int push_otlp(const struct export_args *a, const struct otlp_config *cfg, struct session *s,
                     const struct model *m)
{
    const struct otlp_config c = *cfg;
    struct otlp_trace t;
    struct intervals l = { 0 };
    char err[1536];
    int rc = 2;

    otlp_init(&t);
    /* The markers' intervals: the log replayed once more, paused at each. A snapshot
     * keeps no history: its model is one point. */
    if (!session_is_snapshot(s) && m->totals.markers > 0) {
        struct otlp_watch *w = NULL;
        int k = otlp_watch_open(m->process.log_path, false, &w, err, sizeof(err));
        if (k == 0)
            k = otlp_watch_poll(w, add_interval, &l, err, sizeof(err));
        struct otlp_interval tail;
        uint32_t ti;
        if (k == 0 && otlp_watch_tail(w, &ti, &tail))
            k = add_interval(&l, ti, &tail);
        otlp_watch_close(w);
        if (k == -ENOMEM) {
            opt_error("out of memory while reading the markers of %s", m->process.log_path);
            goto out;
        }
        if (k < 0) {
            opt_error("%s", err);
            goto out;
        }
    }
    otlp_config_trace(&c, &t, m->process.pid, m->process.start_unix_ns, m->process.exe,
                      m->process.argc, m->process.argv);
    struct otlp_options o = {
        .top = (int)a->otlp_top,
        .leak_threshold = a->leak_threshold,
        .intervals = l.v,
        .n_intervals = l.n,
    };
    otlp_from_model(&t, m, &o);
    if (a->otlp_json != NULL) {
        /* One line: the Collector's otlpjsonfile receiver reads a request a line. */
        FILE *out = out_open(a->otlp_json);
        if (out == NULL)
            goto out;
        int e = otlp_encode_json(&t, out);
        fputc('\n', out);
        if (e == -ENOMEM) {
            opt_error("out of memory while encoding the trace");
            if (out != stdout)
                fclose(out);
            goto out;
        }
        if (out_close(out, a->otlp_json, "the OTLP/JSON trace") < 0)
            goto out;
    }
    if (a->otlp.endpoint != NULL && otlp_send(&c, &t, err, sizeof(err)) < 0) {
        opt_error("cannot send the trace: %s", err);
        goto out;
    }
    rc = 0;
out:
    free(l.v);
    otlp_fini(&t);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    struct export_args a = {
        .metric = FLAME_PEAK,
        .timeout = -1,
        .otlp = { .timeout = -1 },
        .otlp_top = 10,
        .leak_threshold = -1,
    };
    struct session *s = NULL;
    struct view *fv = NULL;
    uint8_t *pprof = NULL;
    size_t pprof_len = 0;
    int rc;

    struct otlp_config otlp = { 0 };
    char err[1024];

    opt_model_defaults(&a.open);
    if ((rc = parse(argc, argv, &a)) >= 0)
        return rc;
    rc = 2;
    opt_sites_apply(&a.sites, &a.open);
    /* The exporter's settings are checked before the log is read. A file alone needs
     * only the resource's and the parent's, but takes the rest as they are. */
    if (a.otlp.endpoint != NULL || a.otlp_json != NULL) {
        struct otlp_cli cli = a.otlp;
        if (cli.endpoint == NULL)
            cli.endpoint = "http://localhost:4318";
        if (otlp_config_init(&otlp, &cli, err, sizeof(err)) < 0) {
            opt_error("%s", err);
            goto out;
        }
        if (otlp.warning[0] != '\0')
            fprintf(stderr, "heapspan: warning: %s\n", otlp.warning);
        if (otlp.disabled && a.otlp.endpoint != NULL) {
            fprintf(stderr, "heapspan: OTEL_SDK_DISABLED=true: nothing is sent to %s\n", otlp.url);
            a.otlp.endpoint = NULL;
            if (a.pprof == NULL && a.folded == NULL && a.speedscope == NULL &&
                a.pyroscope == NULL && a.otlp_json == NULL) {
                rc = 0;
                goto out;
            }
        }
    }
    pg_begin("export", &a.open);
    int opened = session_open(&a.open, &s);
    pg_end();
    if (opened < 0) {
        opt_error("%s", session_error(s));
        goto out;
    }
    const struct model *m = opt_sites_filter(&a.sites, session_model(s), &fv);
    if (m == NULL)
        goto out;
    if ((a.pprof != NULL || a.pyroscope != NULL) && export_pprof(m, &pprof, &pprof_len) < 0) {
        opt_error("out of memory while encoding the pprof profile");
        goto out;
    }
    if (a.pprof != NULL && write_pprof(a.pprof, pprof, pprof_len) != 0)
        goto out;
    if (a.folded != NULL &&
        write_file(a.folded, "the folded stacks", m, a.metric, export_folded) != 0)
        goto out;
    if (a.speedscope != NULL &&
        write_file(a.speedscope, "the speedscope profile", m, a.metric, export_speedscope) != 0)
        goto out;
    if (a.pyroscope != NULL && push_pyroscope(&a, m, pprof, pprof_len) != 0)
        goto out;
    if ((a.otlp.endpoint != NULL || a.otlp_json != NULL) && push_otlp(&a, &otlp, s, m) != 0)
        goto out;
    for (int i = 0; i < m->n_warnings; i++)
        fprintf(stderr, "%s\n", m->warnings[i]);
    rc = 0;
out:
    otlp_config_fini(&otlp);
    free(pprof);
    view_free(fv);
    session_close(s);
    return rc;
}
