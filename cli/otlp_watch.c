/* otlp_watch.c - a log's intervals, finished or still being written (see otlp_watch.h). */
#include "cli/otlp_watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/reader.h"
#include "analyzer/replay.h"
#include "cli/otlp.h"
#include "format/logfmt.h"

struct otlp_watch {
    struct rd_log *r;
    struct replay *rp;
    bool follow, finished;
    uint32_t markers;
    uint64_t prev_unix_ns; /* the previous marker's time (the start before the first) */
    struct rp_totals prev; /* the totals there */
    uint64_t last_time;    /* the last item's time, ticks */
};

static const char *kind_name(int kind)
{
    switch (kind) {
    case LF_MARKER_SIGNAL:
        return "signal";
    case LF_MARKER_INTERVAL:
        return "interval";
    case LF_MARKER_EXEC:
        return "exec";
    case LF_MARKER_RSS:
        return "rss";
    case LF_MARKER_CGROUP_HIGH:
        return "cgroup-high";
    default:
        return "?";
    }
}

int otlp_watch_open(const char *path, bool follow, struct otlp_watch **out, char *err, size_t cap)
{
    struct otlp_watch *w = calloc(1, sizeof(*w));
    int rc = 0;

    *out = NULL;
    if (w == NULL) {
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    w->r = rd_open(path, &rc);
    if (w->r == NULL || rc < 0) {
        snprintf(err, cap, "%s", w->r != NULL ? rd_error(w->r) : "out of memory");
        otlp_watch_close(w);
        return rc < 0 ? rc : -ENOMEM;
    }
    rd_set_thread(w->r, false);
    rd_set_follow(w->r, follow);
    w->follow = follow;
    if ((w->rp = rp_new(rd_header(w->r), 0)) == NULL) {
        snprintf(err, cap, "out of memory");
        otlp_watch_close(w);
        return -ENOMEM;
    }
    rp_pause_at_markers(w->rp, true);
    w->prev_unix_ns = rd_header(w->r)->start_realtime_ns;
    *out = w;
    return 0;
}

static uint64_t unix_ns(const struct otlp_watch *w, uint64_t ticks)
{
    double ns = rd_ticks_to_ns(w->r, ticks);
    return rd_header(w->r)->start_realtime_ns + (uint64_t)(ns > 0 ? ns : 0);
}

/* The interval from the previous marker to now (time: ticks). */
static void interval(struct otlp_watch *w, uint64_t time, struct otlp_interval *iv)
{
    struct rp_totals t;
    rp_point_totals(w->rp, &t);
    memset(iv, 0, sizeof(*iv));
    iv->start_unix_ns = w->prev_unix_ns;
    iv->end_unix_ns = unix_ns(w, time);
    iv->live_bytes = t.live_bytes;
    iv->live_blocks = t.live_blocks;
    iv->peak_bytes = t.peak_live_bytes;
    iv->allocations = t.allocations - w->prev.allocations;
    iv->frees = t.frees - w->prev.frees;
    iv->allocated_bytes = t.allocated_bytes - w->prev.allocated_bytes;
    w->prev = t;
    w->prev_unix_ns = iv->end_unix_ns;
}

int otlp_watch_poll(struct otlp_watch *w, otlp_watch_fn fn, void *ctx, char *err, size_t cap)
{
    struct rd_item it;
    int k;

    if (w->finished)
        return 0;
    while ((k = rd_next(w->r, &it)) == 1) {
        w->last_time = it.time > w->last_time ? it.time : w->last_time;
        int f = rp_feed(w->rp, &it);
        if (f < 0) {
            snprintf(err, cap, "out of memory while replaying the log");
            return f;
        }
        if (f == RP_MARKER) {
            struct otlp_interval iv;
            interval(w, it.time, &iv);
            iv.marker_serial = it.serial != 0 ? it.serial : w->markers + 1;
            iv.marker_kind = kind_name(it.marker_kind);
            int rc = fn(ctx, w->markers++, &iv);
            if (rc != 0)
                return rc;
        }
    }
    if (k == -EAGAIN)
        return k;
    if (k < 0) {
        snprintf(err, cap, "%s", rd_error(w->r));
        return k;
    }
    rp_finish(w->rp);
    w->finished = true;
    return 0;
}

void otlp_watch_stop_following(struct otlp_watch *w)
{
    rd_set_follow(w->r, false);
}

bool otlp_watch_tail(struct otlp_watch *w, uint32_t *index, struct otlp_interval *iv)
{
    if (!w->finished || w->markers == 0)
        return false;
    const struct rd_stats *st = rd_stats(w->r);
    uint64_t end = w->last_time;
    if (st->ended && st->end_time > end)
        end = st->end_time;
    interval(w, end, iv);
    *index = w->markers;
    return true;
}

uint32_t otlp_watch_pid(const struct otlp_watch *w)
{
    return rd_header(w->r)->pid;
}

uint64_t otlp_watch_start_unix_ns(const struct otlp_watch *w)
{
    return rd_header(w->r)->start_realtime_ns;
}

uint64_t otlp_watch_sample_bytes(const struct otlp_watch *w)
{
    return rd_header(w->r)->sample_bytes;
}

uint32_t otlp_watch_markers(const struct otlp_watch *w)
{
    return w->markers;
}

void otlp_watch_trace(const struct otlp_watch *w, const struct otlp_config *c, struct otlp_trace *t)
{
    int argc = rd_argc(w->r);
    const char **argv = argc > 0 ? calloc((size_t)argc, sizeof(char *)) : NULL;
    if (argc > 0 && argv == NULL) {
        t->err = -ENOMEM;
        return;
    }
    for (int i = 0; i < argc; i++)
        argv[i] = rd_argv(w->r, i);
    const char *exe = rd_exe(w->r);
    otlp_config_trace(c, t, otlp_watch_pid(w), otlp_watch_start_unix_ns(w), exe ? exe : "", argc,
                      argv);
    free(argv);
}

void otlp_watch_close(struct otlp_watch *w)
{
    if (w == NULL)
        return;
    rp_free(w->rp);
    rd_close(w->r);
    free(w);
}
