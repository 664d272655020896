/* session.c - see session.h. */
#include "analyzer/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/aggregate.h"
#include "analyzer/allocdetect.h"
#include "analyzer/debuginfo.h"
#include "analyzer/pools.h"
#include "analyzer/reader.h"
#include "analyzer/replay.h"
#include "analyzer/snapshot.h"
#include "analyzer/suppress.h"
#include "analyzer/symbolize.h"

struct session {
    char *path;
    struct session_options opt; /* as given; the strings are the caller's */
    struct rd_log *r;
    struct agg *agg;
    struct sym_cache *sym;
    struct snap *snap;
    struct sup_rules *rules;
    struct wrap_rules wrap;
    struct ad_result *unseen;
    struct dbg_list *nodebug;
    struct model_thread *threads;
    bool have_model;
    struct model model;
    char py_version[24];   /* the model's Python version */
    const char **argv;     /* the model's, pointing into the reader's */
    char *warning_text;    /* the reader's warnings, each line cut at its newline */
    const char **warnings; /* the model's, pointing into warning_text */
    struct model_timeline_point *tl_points; /* the model's timeline */
    struct model_marker *tl_markers;
    char err[1536]; /* room for the reader's message and what we add */
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
static int read_failed(struct session *s, struct rd_log *r, int err)
{
    if (rd_error(r)[0] != '\0')
        return fail(s, err, "%s", rd_error(r));
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

static const char *marker_kind(int kind)
{
    return kind == LF_MARKER_SIGNAL     ? "signal"
           : kind == LF_MARKER_INTERVAL ? "interval"
           : kind == LF_MARKER_EXEC     ? "exec"
                                        : "?";
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

/* The totals of a point, with their times in nanoseconds, converted as the reader
 * does with every clock record. */
/* A time in ns since the start of the log; never before it (an exec'd child's log, or a
 * clock record that came late, can put an event "before" the start). */
static double ns_of(struct session *s, uint64_t ticks)
{
    double ns = rd_ticks_to_ns(s->r, ticks);
    return ns > 0 ? ns : 0;
}

static struct model_totals totals_of(struct session *s, const struct agg_totals *t)
{
    return (struct model_totals){
        .allocations = t->allocations,
        .frees = t->frees,
        .allocated_bytes = t->allocated_bytes,
        .peak_live_bytes = t->peak_live_bytes,
        .peak_ns = ns_of(s, t->peak_time),
        .leaked_bytes = t->leaked_bytes,
        .leaked_allocations = t->leaked_allocations,
        .live_bytes = t->live_bytes,
        .live_blocks = t->live_blocks,
        .runtime_bytes = t->runtime_bytes,
        .runtime_allocations = t->runtime_allocations,
        .suppressed_bytes = t->suppressed_bytes,
        .suppressed_allocations = t->suppressed_allocations,
        .temporary_allocations = t->temporary_allocations,
        .lost_events = t->lost_events,
        .unknown_frees = t->unknown_frees,
        .markers = t->markers,
        .first_ns = ns_of(s, t->first_time),
        .last_ns = ns_of(s, t->last_time),
        .sampled = t->sampled,
    };
}

/* Where a replay's point fell, as the model says it. */
static struct model_point point_of(struct session *s, enum model_at at, uint32_t marker,
                                   const struct rp_where *w, const struct model_totals *t)
{
    struct model_point pt = { .at = at, .marker_kind = "" };

    switch (at) {
    case MODEL_AT_END:
        pt.ns = t->last_ns;
        break;
    case MODEL_AT_PEAK:
        pt.ns = t->peak_ns;
        break;
    case MODEL_AT_MARKER:
        pt.marker = marker;
        pt.marker_serial = w->marker_serial;
        pt.marker_kind = marker_kind(w->marker_kind);
        pt.ns = rd_ticks_to_ns(s->r, w->time);
        break;
    case MODEL_AT_TIME:
        pt.ns = s->opt.at_seconds * 1e9;
        break;
    }
    return pt;
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

/* The replay's live total over time, in nanoseconds. */
static int build_timeline(struct session *s)
{
    const struct rp_timeline *tl = agg_timeline(s->agg);
    struct model_timeline *mt = &s->model.timeline;

    if (tl->n > 0) {
        s->tl_points = calloc((size_t)tl->n, sizeof(*s->tl_points));
        if (s->tl_points == NULL)
            return -ENOMEM;
        for (int i = 0; i < tl->n; i++)
            s->tl_points[i] = (struct model_timeline_point){
                .ns = rd_ticks_to_ns(s->r, tl->start + ((uint64_t)i << tl->shift)),
                .max_live = tl->pt[i].max,
                .min_live = tl->pt[i].min,
                .end_live = tl->pt[i].end,
            };
        mt->bucket_ns = rd_ticks_to_ns(s->r, tl->start + ((uint64_t)1 << tl->shift)) -
                        rd_ticks_to_ns(s->r, tl->start);
        mt->n_points = tl->n;
        mt->points = s->tl_points;
    }
    if (tl->n_markers > 0) {
        s->tl_markers = calloc((size_t)tl->n_markers, sizeof(*s->tl_markers));
        if (s->tl_markers == NULL)
            return -ENOMEM;
        for (int i = 0; i < tl->n_markers; i++)
            s->tl_markers[i] = (struct model_marker){
                .ns = rd_ticks_to_ns(s->r, tl->markers[i].time),
                .serial = tl->markers[i].serial,
                .kind = marker_kind(tl->markers[i].kind),
            };
        mt->n_markers = tl->n_markers;
        mt->markers = s->tl_markers;
    }
    return 0;
}

/* What PYTHONMALLOC meant for what the shim saw (CPython's Doc/using/cmdline.rst). */
static void python_allocator(struct model_python *py)
{
    const char *a = py->allocator;
    if (a[0] == '\0' || strcmp(a, "pymalloc") == 0 || strcmp(a, "debug") == 0 ||
        strcmp(a, "pymalloc_debug") == 0) {
        py->allocator_mode = a[0] == '\0' ? "pymalloc (the default)" : a;
        py->allocator_note =
            "Python objects of up to 512 bytes come from pymalloc's 256 KiB arenas, which "
            "is all a malloc-level profiler sees of them: their sites are the arenas' and "
            "most are missing; `heapspan run --python-allocator malloc` shows each object";
    } else if (strcmp(a, "malloc") == 0 || strcmp(a, "malloc_debug") == 0) {
        py->allocator_mode = a;
        py->allocator_note =
            "every Python object is a malloc call of its own (PYTHONMALLOC=malloc): all of "
            "them are in this report, and the program ran somewhat slower than with "
            "pymalloc";
    } else {
        py->allocator_mode = a;
        py->allocator_note = "an allocator this heapspan does not know (PYTHONMALLOC)";
    }
}

static void python_model(struct session *s)
{
    const struct rd_python *rp = rd_python(s->r);
    const struct agg_python *ap = agg_python(s->agg);
    struct model_python *py = &s->model.python;

    if (!rp->seen)
        return;
    if (rp->version != 0)
        snprintf(s->py_version, sizeof(s->py_version), "%u.%u.%u", rp->version >> 24,
                 (rp->version >> 16) & 0xff, (rp->version >> 8) & 0xff);
    *py = (struct model_python){
        .seen = true,
        .version = s->py_version,
        .stacks = rp->stacks,
        .reason = rp->reason,
        .allocator = rp->allocator,
        .internals_shown = s->opt.python_internals,
        .dropped_frames = ap->dropped_frames,
        .dropped_stacks = ap->dropped_stacks,
    };
    python_allocator(py);
}

/* The model of the log just read and aggregated: the process, and the point's totals
 * and sites. */
static int build_model(struct session *s, bool symbols)
{
    struct model *m = &s->model;
    const struct rd_header *h = rd_header(s->r);
    const struct rd_stats *st = rd_stats(s->r);
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
        .end_ns = st->ended ? ns_of(s, st->end_time) : 0,
        .end_lost_events = st->end_lost,
        .windowed = s->opt.to > 0,
        .log_bytes = st->file_bytes,
        .bytes_read = st->bytes_read,
    };
    m->totals = totals_of(s, agg_totals(s->agg));
    m->process.point = point_of(s, s->opt.at, s->opt.at_marker, agg_where(s->agg), &m->totals);
    agg_fill_model(s->agg, m);
    python_model(s);
    int err = api_model(s, symbols);
    if (err < 0 || (err = build_timeline(s)) < 0)
        return err;
    if ((err = agg_threads(s->agg, &s->threads)) < 0)
        return err;
    m->n_threads = err;
    m->threads = s->threads;
    if (symbols) {
        struct dbg_options dop = { s->opt.debuginfod, NULL, NULL };
        s->nodebug = dbg_missing(s->sym, &dop);
        if (s->nodebug == NULL)
            return -ENOMEM;
        m->nodebug = dbg_entries(s->nodebug, &m->n_nodebug);
    }
    return split_warnings(s, rd_warnings(s->r));
}

/* The point asked for is beyond the log: say what the log has. */
static int point_missed(struct session *s)
{
    const struct agg_totals *t = agg_totals(s->agg);

    if (s->opt.at == MODEL_AT_MARKER)
        return fail(s, -ERANGE,
                    "%s: no marker %u: the log has %llu (`kill -USR2 PID` or "
                    "--snapshot-interval writes them)",
                    s->path, s->opt.at_marker, (unsigned long long)t->markers);
    return fail(s, -ERANGE, "%s: the log ends at %.3f s, before time:%g", s->path,
                rd_ticks_to_ns(s->r, t->last_time) / 1e9, s->opt.at_seconds);
}

static void set_phase(struct session_progress *p, enum session_phase phase)
{
    if (p != NULL)
        __atomic_store_n(&p->phase, (int)phase, __ATOMIC_RELAXED);
}

/* Reads every item into the aggregate, symbolizes it and makes the model. */
static int aggregate(struct session *s, const struct session_options *opt)
{
    struct rd_item it;
    int k, err;

    s->agg = agg_new(rd_header(s->r));
    if (s->agg == NULL)
        return fail(s, -ENOMEM, "%s", no_memory);
    agg_set_rules(s->agg, s->rules);
    agg_set_python_internals(s->agg, opt->python_internals);
    agg_set_wrappers(s->agg, &s->wrap);
    if (opt->at != MODEL_AT_END) {
        struct rp_point pt = { .at = opt->at == MODEL_AT_PEAK     ? RP_AT_PEAK
                                     : opt->at == MODEL_AT_MARKER ? RP_AT_MARKER
                                                                  : RP_AT_TIME,
                               .marker = opt->at_marker };
        if (opt->at == MODEL_AT_TIME)
            pt.time = rd_seconds_to_ticks(s->r, opt->at_seconds);
        if (agg_stop_at(s->agg, &pt) < 0)
            return fail(s, -EINVAL, "%s: marker 0: markers count from 1", s->path);
    }
    set_phase(opt->progress, SESSION_READING);
    uint32_t n = 0;
    while ((k = rd_next(s->r, &it)) > 0) {
        if ((err = agg_feed(s->agg, &it)) < 0)
            return fail(s, err, "%s: out of memory while aggregating", s->path);
        if (opt->progress != NULL && (++n & 0xffff) == 0) {
            uint64_t done, total;
            rd_progress(s->r, &done, &total);
            __atomic_store_n(&opt->progress->total, total, __ATOMIC_RELAXED);
            __atomic_store_n(&opt->progress->done, done, __ATOMIC_RELAXED);
        }
    }
    if (k < 0)
        return read_failed(s, s->r, k);
    set_phase(opt->progress, opt->symbols ? SESSION_SYMBOLIZING : SESSION_DONE);
    if (opt->symbols) {
        struct sym_options so = { opt->debuginfo_path, opt->debuginfod, NULL };
        s->sym = sym_open(&so);
        if (s->sym == NULL)
            return fail(s, -ENOMEM, "%s", no_memory);
    }
    if ((err = agg_finish(s->agg, s->r, s->sym)) < 0)
        return fail(s, err, "%s: %s while symbolizing", s->path, strerror(-err));
    if (!agg_where(s->agg)->reached)
        return point_missed(s);
    if ((opt->from > 0 || opt->to > 0) && agg_totals(s->agg)->allocations == 0 &&
        agg_totals(s->agg)->frees == 0) {
        const struct rd_stats *st = rd_stats(s->r);
        if (st->ended && opt->from > 0 && rd_ticks_to_ns(s->r, st->end_time) < opt->from * 1e9)
            return fail(s, -ERANGE,
                        "%s: --from %g is past the end of the log (it ends at %.3f s); "
                        "give a time before it",
                        s->path, opt->from, ns_of(s, st->end_time) / 1e9);
        return fail(s, -ERANGE,
                    "%s: no allocation or free between --from and --to (%g s to %s); "
                    "`heapspan dump --summary` shows when the log's events are",
                    s->path, opt->from, opt->to > 0 ? "the given --to" : "the end");
    }
    if ((err = build_model(s, opt->symbols)) < 0)
        return fail(s, err, "%s", no_memory);
    s->have_model = true;
    set_phase(opt->progress, SESSION_DONE);
    return 0;
}

/* Whether path begins with a snapshot's magic. A file that cannot be read is left to
 * the log reader, whose messages say why. */
static bool is_snapshot_file(const char *path)
{
    unsigned char head[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ssize_t n = -1;

    if (fd >= 0) {
        n = pread(fd, head, sizeof(head), 0);
        close(fd);
    }
    return n == (ssize_t)sizeof(head) && snap_is_snapshot(head, sizeof(head));
}

static int open_snapshot(struct session *s, const struct session_options *opt)
{
    int err;

    if (!opt->aggregate)
        return fail(s, -EINVAL, "%s: a snapshot, not a log: it has no records to read", s->path);
    if (opt->from > 0 || opt->to > 0)
        return fail(s, -EINVAL, "%s: a snapshot: --from and --to apply to logs", s->path);
    if (opt->at != MODEL_AT_END)
        return fail(s, -EINVAL,
                    "%s: a snapshot stands at the point it was taken at: --at applies to logs",
                    s->path);
    if ((err = snap_read_file(s->path, &s->snap, s->err, sizeof(s->err))) < 0)
        return err;
    if ((err = snap_apply_rules(s->snap, s->rules)) < 0 ||
        (err = snap_apply_wrappers(s->snap, &s->wrap)) < 0)
        return fail(s, err, "%s", no_memory);
    s->model = *snap_model(s->snap);
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
    s->opt = *opt;
    s->wrap = (struct wrap_rules){ opt->n_alloc_fns, opt->alloc_fns, opt->no_wrapper_detection };
    s->path = strdup(opt->path);
    if (s->path == NULL)
        return fail(s, -ENOMEM, "%s", no_memory);
    if (opt->aggregate) {
        s->rules = sup_new(!opt->keep_runtime_leaks);
        if (s->rules == NULL)
            return fail(s, -ENOMEM, "%s", no_memory);
        if (opt->suppressions != NULL &&
            (err = sup_load(s->rules, opt->suppressions, s->err, sizeof(s->err))) < 0)
            return err;
    }
    if (is_snapshot_file(opt->path))
        return open_snapshot(s, opt);
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

bool session_is_snapshot(const struct session *s)
{
    return s->snap != NULL;
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
    if (s->r == NULL)
        return fail(s, -EINVAL, "%s: a snapshot, not a log: it has no records to read", s->path);
    int k = rd_next(s->r, it);
    return k < 0 ? read_failed(s, s->r, k) : k;
}

struct rd_log *session_reader(struct session *s)
{
    return s->r;
}

/* The model at the marker p has just passed: the first pass's process, warnings and
 * frames, this replay's figures. */
static int marker_model(struct session *s, const struct replay *p, uint32_t k, session_model_fn fn,
                        void *ctx)
{
    struct agg_point *pt;
    struct model m = s->model;
    int err;

    if ((err = agg_point_new(s->agg, p, &pt)) < 0)
        return fail(s, err, "%s: out of memory at marker %u", s->path, k);
    m.totals = totals_of(s, agg_point_totals(pt));
    m.process.point = point_of(s, MODEL_AT_MARKER, k, rp_where(p), &m.totals);
    agg_point_fill_model(pt, &m);
    struct model_thread *threads;
    int nt = agg_replay_threads(p, &threads);
    if (nt < 0) {
        agg_point_free(pt);
        return fail(s, nt, "%s: out of memory at marker %u", s->path, k);
    }
    m.n_threads = nt;
    m.threads = threads;
    err = fn(ctx, &m, k);
    free(threads);
    agg_point_free(pt);
    return err;
}

int session_each_marker(struct session *s, session_model_fn fn, void *ctx)
{
    struct rd_log *r;
    struct replay *p = NULL;
    struct rd_item it;
    uint32_t n = 0;
    int k, err = 0;

    if (!s->have_model || s->snap != NULL || s->opt.at != MODEL_AT_END)
        return fail(s, -EINVAL, "%s: markers need the whole log, opened at its end", s->path);
    r = rd_open(s->path, &err);
    if (r == NULL)
        return fail(s, -ENOMEM, "%s", no_memory);
    if (err < 0) {
        err = fail(s, err, "%s", rd_error(r));
        goto out;
    }
    if (s->opt.from > 0 || s->opt.to > 0)
        rd_set_window(r, s->opt.from > 0 ? rd_seconds_to_ticks(r, s->opt.from) : 0,
                      s->opt.to > 0 ? rd_seconds_to_ticks(r, s->opt.to) : UINT64_MAX);
    p = rp_new(rd_header(r), 0);
    if (p == NULL) {
        err = fail(s, -ENOMEM, "%s", no_memory);
        goto out;
    }
    rp_pause_at_markers(p, true);
    while ((k = rd_next(r, &it)) > 0) {
        int f = rp_feed(p, &it);
        if (f < 0) {
            err = fail(s, f, "%s: out of memory while aggregating", s->path);
            goto out;
        }
        if (f == RP_MARKER && (err = marker_model(s, p, ++n, fn, ctx)) != 0)
            goto out;
    }
    if (k < 0)
        err = read_failed(s, r, k);
out:
    rp_free(p);
    rd_close(r);
    return err;
}

void session_close(struct session *s)
{
    if (s == NULL)
        return;
    agg_free(s->agg);
    sym_close(s->sym);
    ad_free(s->unseen);
    dbg_free(s->nodebug);
    free(s->threads);
    rd_close(s->r);
    snap_free(s->snap);
    sup_free(s->rules);
    free(s->argv);
    free(s->warnings);
    free(s->warning_text);
    free(s->tl_points);
    free(s->tl_markers);
    free(s->path);
    free(s);
}
