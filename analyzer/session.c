/* session.c - see session.h. */
#include "analyzer/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/aggregate.h"
#include "analyzer/allocdetect.h"
#include "analyzer/pools.h"
#include "analyzer/reader.h"
#include "analyzer/symbolize.h"

struct session {
    char *path;
    struct rd_log *r;
    struct agg *agg;
    struct sym_cache *sym;
    struct ad_result *unseen;
    bool have_model;
    struct model model;
    const char **argv;     /* the model's, pointing into the reader's */
    char *warning_text;    /* the reader's warnings, each line cut at its newline */
    const char **warnings; /* the model's, pointing into warning_text */
    char err[1536];        /* room for the reader's message and what we add */
};

static const char no_memory[] = "out of memory";

/* Formats the message into s->err and returns err. */
static int fail(struct session *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct session *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return err;
}

/* rd_next failed: the reader's message, or (out of memory, say) the cause. */
static int read_failed(struct session *s, int err)
{
    if (rd_error(s->r)[0] != '\0')
        return fail(s, err, "%s", rd_error(s->r));
    return fail(s, err, "%s: %s", s->path, strerror(-err));
}

static enum model_end end_of(int reason)
{
    switch (reason) {
    case 0:
        return MODEL_END_NONE;
    case LF_END_EXIT:
        return MODEL_END_EXIT;
    case LF_END_UNDERSCORE_EXIT:
        return MODEL_END_UNDERSCORE_EXIT;
    case LF_END_SIGNAL:
        return MODEL_END_SIGNAL;
    case LF_END_STOPPED:
        return MODEL_END_STOPPED;
    default:
        return MODEL_END_OTHER;
    }
}

/* The reader's warnings as a list of lines (the last may lack its newline). */
static int split_warnings(struct session *s, const char *text)
{
    int n = 0;

    for (const char *p = text; *p != '\0'; n++) {
        const char *e = strchr(p, '\n');
        p = e != NULL ? e + 1 : p + strlen(p);
    }
    s->warning_text = strdup(text);
    s->warnings = calloc((size_t)n + 1, sizeof(*s->warnings));
    if (s->warning_text == NULL || s->warnings == NULL)
        return -ENOMEM;
    char *p = s->warning_text;
    for (int i = 0; i < n; i++) {
        char *e = strchr(p, '\n');
        s->warnings[i] = p;
        if (e == NULL)
            break;
        *e = '\0';
        p = e + 1;
    }
    s->model.n_warnings = n;
    s->model.warnings = s->warnings;
    return 0;
}

/* Pools (include/heapspan.h) and, when symbols may be read, the allocators the shim
 * could not see (allocdetect.h): whether few allocations went through malloc is the
 * question, so the totals come first. */
static int api_model(struct session *s, bool symbols)
{
    struct model *m = &s->model;
    struct pl_tracker *pt = rd_pools(s->r);
    int n, err;

    m->totals.api_allocations = pl_api_allocations(pt);
    m->pools = pl_pools(pt, &n);
    if (n < 0)
        return -ENOMEM;
    m->n_pools = n;
    if (!symbols)
        return 0;
    err = ad_detect(s->r, m->totals.allocations - m->totals.api_allocations,
                    m->totals.api_allocations, &s->unseen);
    m->n_unseen = ad_count(s->unseen);
    m->unseen = ad_findings(s->unseen);
    return err;
}

/* The model of the log just read and aggregated: the process, and the totals with
 * their times in nanoseconds, converted as the reader does with every clock record. */
static int build_model(struct session *s, bool symbols)
{
    struct model *m = &s->model;
    const struct rd_header *h = rd_header(s->r);
    const struct rd_stats *st = rd_stats(s->r);
    const struct agg_totals *t = agg_totals(s->agg);
    int argc = rd_argc(s->r);

    s->argv = calloc((size_t)argc + 1, sizeof(*s->argv));
    if (s->argv == NULL)
        return -ENOMEM;
    for (int i = 0; i < argc; i++)
        s->argv[i] = rd_argv(s->r, i);
    m->process = (struct model_process){
        .log_path = s->path,
        .pid = h->pid,
        .ppid = h->ppid,
        .exe = rd_exe(s->r),
        .argc = argc,
        .argv = s->argv,
        .start_unix_ns = h->start_realtime_ns,
        .sample_bytes = h->sample_bytes,
        .ended = st->ended,
        .truncated = st->truncated,
        .end_reason = end_of(st->end_reason),
        .log_bytes = st->file_bytes,
        .bytes_read = st->bytes_read,
    };
    m->totals = (struct model_totals){
        .allocations = t->allocations,
        .frees = t->frees,
        .allocated_bytes = t->allocated_bytes,
        .peak_live_bytes = t->peak_live_bytes,
        .peak_ns = rd_ticks_to_ns(s->r, t->peak_time),
        .leaked_bytes = t->leaked_bytes,
        .leaked_allocations = t->leaked_allocations,
        .temporary_allocations = t->temporary_allocations,
        .lost_events = t->lost_events,
        .unknown_frees = t->unknown_frees,
        .markers = t->markers,
        .first_ns = rd_ticks_to_ns(s->r, t->first_time),
        .last_ns = rd_ticks_to_ns(s->r, t->last_time),
        .sampled = t->sampled,
    };
    agg_fill_model(s->agg, m);
    int err = api_model(s, symbols);
    return err < 0 ? err : split_warnings(s, rd_warnings(s->r));
}

/* Reads every item into the aggregate, symbolizes it and makes the model. */
static int aggregate(struct session *s, const struct session_options *opt)
{
    struct rd_item it;
    int k, err;

    s->agg = agg_new(rd_header(s->r));
    if (s->agg == NULL)
        return fail(s, -ENOMEM, "%s", no_memory);
    while ((k = rd_next(s->r, &it)) > 0)
        if ((err = agg_feed(s->agg, &it)) < 0)
            return fail(s, err, "%s: out of memory while aggregating", s->path);
    if (k < 0)
        return read_failed(s, k);
    if (opt->symbols) {
        struct sym_options so = { opt->debuginfo_path, opt->debuginfod, NULL };
        s->sym = sym_open(&so);
        if (s->sym == NULL)
            return fail(s, -ENOMEM, "%s", no_memory);
    }
    if ((err = agg_finish(s->agg, s->r, s->sym)) < 0)
        return fail(s, err, "%s: %s while symbolizing", s->path, strerror(-err));
    if ((err = build_model(s, opt->symbols)) < 0)
        return fail(s, err, "%s", no_memory);
    s->have_model = true;
    return 0;
}

int session_open(const struct session_options *opt, struct session **out)
{
    struct session *s = calloc(1, sizeof(*s));
    int err;

    *out = s;
    if (s == NULL)
        return -ENOMEM;
    s->path = strdup(opt->path);
    if (s->path == NULL)
        return fail(s, -ENOMEM, "%s", no_memory);
    s->r = rd_open(opt->path, &err);
    if (s->r == NULL)
        return fail(s, err, "%s", no_memory);
    if (err < 0)
        return fail(s, err, "%s", rd_error(s->r));
    if (opt->in_order)
        rd_set_thread(s->r, false);
    if (opt->from > 0 || opt->to > 0)
        rd_set_window(s->r, opt->from > 0 ? rd_seconds_to_ticks(s->r, opt->from) : 0,
                      opt->to > 0 ? rd_seconds_to_ticks(s->r, opt->to) : UINT64_MAX);
    return opt->aggregate ? aggregate(s, opt) : 0;
}

const char *session_error(const struct session *s)
{
    return s != NULL ? s->err : no_memory;
}

const struct model *session_model(const struct session *s)
{
    return s->have_model ? &s->model : NULL;
}

int session_next(struct session *s, struct rd_item *it)
{
    int k = rd_next(s->r, it);
    return k < 0 ? read_failed(s, k) : k;
}

struct rd_log *session_reader(struct session *s)
{
    return s->r;
}

void session_close(struct session *s)
{
    if (s == NULL)
        return;
    agg_free(s->agg);
    sym_close(s->sym);
    ad_free(s->unseen);
    rd_close(s->r);
    free(s->argv);
    free(s->warnings);
    free(s->warning_text);
    free(s->path);
    free(s);
}
