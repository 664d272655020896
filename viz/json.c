/* json.c - the report for scripts: every number, documented in docs/report-json.md.
 * Written with util/json. See render.h. */
#include "viz/render.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/hashmap.h"
#include "util/json.h"
#include "viz/fmt.h"
#include "viz/rank.h"

/* Exact counts print as integers; estimates (sampled logs) keep one decimal. */
static void num(struct json *j, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        json_rawf(j, "%.0f", v);
    else
        json_rawf(j, "%.1f", v);
}

static void key_num(struct json *j, const char *key, double v)
{
    json_key(j, key);
    num(j, v);
}

static void key_u64(struct json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    json_u64(j, v);
}

static void key_str(struct json *j, const char *key, const char *s)
{
    json_key(j, key);
    json_string(j, s);
}

/* A share of 0 to 1 with four decimals, or null when nothing was sampled. */
static void key_share(struct json *j, const char *key, bool known, double share)
{
    json_key(j, key);
    /* A snapshot's numbers may make a share JSON cannot hold (a tiny denominator). */
    if (known && isfinite(share))
        json_rawf(j, "%.4f", share);
    else
        json_null(j);
}

static void frame(struct json *j, const struct model_frame *f)
{
    static const char *const kinds[] = { "code", "wrapper", "runtime" };
    json_object_begin(j);
    key_str(j, "function", f->function);
    key_str(j, "file", f->file);
    json_key(j, "line");
    json_int(j, f->line);
    key_str(j, "module", f->module);
    key_u64(j, "module_offset", f->module_offset);
    json_key(j, "inlined");
    json_bool(j, f->inlined);
    key_str(j, "kind", kinds[f->kind]);
    json_object_end(j);
}

/* The frames of the sites listed, each once: "frames" holds them, a stack their
 * indexes. Keyed by the frame's address (the model shares a frame between sites). */
struct frame_table {
    struct hmap map; /* of struct frame_slot */
    const struct model_frame **list;
    int n, cap;
};

struct frame_slot {
    const struct model_frame *f;
    int id;
};

static bool slot_eq(const void *e, const void *k)
{
    return ((const struct frame_slot *)e)->f == k;
}

static uint64_t ptr_hash(const void *p)
{
    return (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
}

/* f's index, added if new; -ENOMEM. */
static int frame_id(struct frame_table *t, const struct model_frame *f)
{
    bool added;
    struct frame_slot *e = hmap_put(&t->map, ptr_hash(f), f, slot_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (!added)
        return e->id;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        const struct model_frame **l = realloc(t->list, (size_t)cap * sizeof(*l));
        if (l == NULL)
            return -ENOMEM; /* the slot stays, unread: the report fails */
        t->list = l;
        t->cap = cap;
    }
    *e = (struct frame_slot){ f, t->n };
    t->list[t->n] = f;
    return t->n++;
}

/* The members of the enclosing object that every site, function and line has. */
static void interval(struct json *j, const char *key, double v, double k, double w)
{
    double lo, hi;
    rank_interval(v, k, w, &lo, &hi);
    json_key(j, key);
    json_array_begin(j);
    num(j, round(lo * 10) / 10);
    num(j, round(hi * 10) / 10);
    json_array_end(j);
}

static void stats(struct json *j, const struct model_stats *s, bool sampled)
{
    key_num(j, "allocations", s->allocations);
    key_num(j, "allocated_bytes", s->allocated_bytes);
    key_num(j, "frees", s->frees);
    key_num(j, "peak_live_bytes", s->peak_live_bytes);
    key_num(j, "leaked_bytes", s->leaked_bytes);
    key_num(j, "leaked_allocations", s->leaked_allocations);
    json_key(j, "temporary_allocations");
    if (sampled)
        json_null(j); /* not estimated from samples */
    else
        num(j, s->temporary_allocations);
    key_num(j, "max_live_blocks", s->max_live_blocks);
    key_num(j, "slack_bytes", s->slack_bytes);
    key_share(j, "zero_byte_share", s->zero_sampled_bytes > 0,
              s->zero_sampled_bytes > 0 ? s->zero_bytes / s->zero_sampled_bytes : 0);
    json_key(j, "size_histogram");
    json_array_begin(j);
    for (int i = 0; i < MODEL_HIST_BUCKETS; i++) {
        if (s->hist[i] <= 0)
            continue;
        json_object_begin(j);
        key_u64(j, "min", i == 0 ? 0 : (uint64_t)1 << i);
        key_u64(j, "max", ((uint64_t)2 << i) - 1);
        key_num(j, "count", s->hist[i]);
        json_object_end(j);
    }
    json_array_end(j);
    /* A sampled log's 95% intervals, from the recorded blocks behind each estimate. */
    if (sampled && s->samples > 0) {
        json_key(j, "intervals");
        json_object_begin(j);
        interval(j, "allocations", s->allocations, s->samples, rank_weight(s));
        interval(j, "allocated_bytes", s->allocated_bytes, s->samples, rank_weight(s));
        interval(j, "peak_live_bytes", s->peak_live_bytes, s->peak_samples, rank_weight(s));
        interval(j, "leaked_bytes", s->leaked_bytes, s->leaked_samples, rank_weight(s));
        key_num(j, "samples", s->samples);
        json_object_end(j);
    }
}

static void group(struct json *j, const struct model_group *g, bool line, bool sampled)
{
    json_object_begin(j);
    key_str(j, "function", g->function);
    key_str(j, "module", g->module);
    if (line) {
        key_str(j, "file", g->file);
        json_key(j, "line");
        json_int(j, g->line);
    }
    json_key(j, "sites");
    json_int(j, g->n_sites);
    stats(j, &g->st, sampled);
    json_object_end(j);
}

static void process(struct json *j, const struct model *m)
{
    const struct model_process *p = &m->process;

    json_key(j, "log");
    json_object_begin(j);
    key_str(j, "path", p->log_path);
    key_u64(j, "pid", p->pid);
    key_u64(j, "ppid", p->ppid);
    key_str(j, "exe", p->exe);
    json_key(j, "argv");
    json_array_begin(j);
    for (int i = 0; i < p->argc; i++)
        json_string(j, p->argv[i]);
    json_array_end(j);
    key_u64(j, "sample_bytes", p->sample_bytes);
    json_key(j, "sampled");
    json_bool(j, m->totals.sampled);
    json_key(j, "estimates");
    json_bool(j, m->totals.sampled);
    key_u64(j, "start_unix_ns", p->start_unix_ns);
    json_key(j, "duration_ns");
    json_rawf(j, "%.0f", fmt_duration_ns(m));
    json_key(j, "ended");
    json_bool(j, p->ended && !p->truncated);
    json_key(j, "truncated");
    json_bool(j, p->truncated);
    /* Only when recording stopped before the program ended: the totals' leaked_* are
     * then what was live when it stopped. */
    if (p->end_reason == MODEL_END_STOPPED) {
        json_key(j, "stopped");
        json_object_begin(j);
        json_key(j, "time_ns");
        json_rawf(j, "%.0f", p->end_ns);
        key_u64(j, "lost_events", p->end_lost_events);
        json_object_end(j);
    }
    key_u64(j, "bytes", p->log_bytes);
    key_u64(j, "bytes_read", p->bytes_read);
    if (m->unfiltered_sites > 0) {
        json_key(j, "filtered");
        json_object_begin(j);
        json_key(j, "sites_kept");
        json_int(j, m->filtered_sites);
        json_key(j, "sites");
        json_int(j, m->unfiltered_sites);
        json_object_end(j);
    }
    /* Only for a snapshot, or a model at another point than the end: a report of a
     * whole log reads as it always has. */
    if (p->snapshot_path != NULL)
        key_str(j, "snapshot", p->snapshot_path);
    if (p->snapshot_path != NULL || p->point.at != MODEL_AT_END) {
        static const char *const at[] = { "end", "peak", "marker", "time" };
        json_key(j, "point");
        json_object_begin(j);
        key_str(j, "at", at[p->point.at]);
        if (p->point.at == MODEL_AT_MARKER) {
            key_u64(j, "marker", p->point.marker);
            key_u64(j, "serial", p->point.marker_serial);
            key_str(j, "kind", p->point.marker_kind);
        }
        key_num(j, "time_ns", round(p->point.ns));
        json_object_end(j);
    }
    json_object_end(j);
}

/* A report over several logs: each process, parents first. */
static void processes(struct json *j, const struct model *m)
{
    if (m->n_processes == 0)
        return;
    json_key(j, "processes");
    json_array_begin(j);
    for (int i = 0; i < m->n_processes; i++) {
        const struct model_member_process *mp = &m->processes[i];
        json_object_begin(j);
        key_str(j, "path", mp->process.log_path);
        key_u64(j, "pid", mp->process.pid);
        key_u64(j, "ppid", mp->process.ppid);
        json_key(j, "depth");
        json_int(j, mp->depth);
        key_str(j, "exe", mp->process.exe);
        json_key(j, "argv");
        json_array_begin(j);
        for (int k = 0; k < mp->process.argc; k++)
            json_string(j, mp->process.argv[k]);
        json_array_end(j);
        json_key(j, "ended");
        json_bool(j, mp->process.ended && !mp->process.truncated);
        key_num(j, "allocations", mp->totals.allocations);
        key_num(j, "allocated_bytes", mp->totals.allocated_bytes);
        key_num(j, "peak_live_bytes", mp->totals.peak_live_bytes);
        key_num(j, "leaked_bytes", mp->totals.leaked_bytes);
        json_key(j, "sites");
        json_int(j, mp->n_sites);
        json_object_end(j);
    }
    json_array_end(j);
}

/* Present only when the report warns of them (allocdetect.h): first, as in the text. */
static void unseen(struct json *j, const struct model *m)
{
    if (m->n_unseen == 0)
        return;
    json_key(j, "unseen_allocators");
    json_array_begin(j);
    for (int i = 0; i < m->n_unseen; i++) {
        const struct model_unseen *u = &m->unseen[i];
        json_object_begin(j);
        key_str(j, "allocator", u->allocator);
        key_str(j, "symbol", u->symbol);
        key_str(j, "module", u->module);
        key_str(j, "advice", u->advice);
        json_object_end(j);
    }
    json_array_end(j);
}

/* Present only when the process ran a CPython interpreter. */
static void python(struct json *j, const struct model *m)
{
    const struct model_python *py = &m->python;
    if (!py->seen)
        return;
    json_key(j, "python");
    json_object_begin(j);
    key_str(j, "version", py->version);
    key_str(j, "allocator", py->allocator);
    key_str(j, "allocator_mode", py->allocator_mode);
    key_str(j, "allocator_note", py->allocator_note);
    json_key(j, "stacks");
    json_bool(j, py->stacks);
    key_str(j, "reason", py->reason);
    json_key(j, "internals_shown");
    json_bool(j, py->internals_shown);
    key_u64(j, "dropped_frames", py->dropped_frames);
    key_u64(j, "dropped_stacks", py->dropped_stacks);
    json_object_end(j);
}

/* Present only when the program reported pools (include/heapspan.h). */
static void pools(struct json *j, const struct model *m)
{
    if (m->n_pools == 0)
        return;
    json_key(j, "pools");
    json_array_begin(j);
    for (int i = 0; i < m->n_pools; i++) {
        const struct model_pool *p = &m->pools[i];
        json_object_begin(j);
        key_str(j, "name", p->name);
        key_u64(j, "pools", p->pools);
        key_u64(j, "resets", p->resets);
        key_num(j, "allocations", p->allocations);
        key_num(j, "allocated_bytes", p->allocated_bytes);
        key_num(j, "frees", p->frees);
        key_num(j, "reset_frees", p->reset_frees);
        key_num(j, "peak_live_bytes", p->peak_live_bytes);
        key_num(j, "leaked_bytes", p->leaked_bytes);
        key_num(j, "leaked_allocations", p->leaked_allocations);
        json_object_end(j);
    }
    json_array_end(j);
}

static void totals(struct json *j, const struct model *m)
{
    const struct model_totals *t = &m->totals;

    json_key(j, "totals");
    json_object_begin(j);
    key_num(j, "allocations", t->allocations);
    key_num(j, "frees", t->frees);
    key_num(j, "allocated_bytes", t->allocated_bytes);
    key_num(j, "peak_live_bytes", t->peak_live_bytes);
    key_num(j, "peak_time_ns", round(t->peak_ns));
    key_num(j, "leaked_bytes", t->leaked_bytes);
    key_num(j, "leaked_allocations", t->leaked_allocations);
    json_key(j, "leaks_known");
    json_bool(j, rank_leaks_known(m));
    json_key(j, "temporary_allocations");
    if (t->sampled)
        json_null(j);
    else
        num(j, t->temporary_allocations);
    key_u64(j, "lost_events", t->lost_events);
    key_u64(j, "unknown_frees", t->unknown_frees);
    key_u64(j, "markers", t->markers);
    json_key(j, "sites");
    json_int(j, m->n_sites);
    if (t->runtime_allocations > 0) {
        key_num(j, "runtime_bytes", t->runtime_bytes);
        key_num(j, "runtime_allocations", t->runtime_allocations);
    }
    if (t->suppressed_allocations > 0) {
        key_num(j, "suppressed_bytes", t->suppressed_bytes);
        key_num(j, "suppressed_allocations", t->suppressed_allocations);
    }
    if (t->api_allocations > 0) /* only then: the field came later */
        key_num(j, "api_allocations", t->api_allocations);
    json_object_end(j);
}

/* The sites in the sort's order (peak by default), the first top of them, each with its
 * stack as indexes into "frames"; then "frames". *pos gets each listed site's place
 * (by model index; -1 if not listed). */
static int sites(struct json *j, const struct model *m, const struct render_options *opt, int *idx,
                 int *pos, struct frame_table *ft)
{
    const struct rank_section *sec = rank_section_of(opt->sort);
    int n = rank_sites(m, sec->metric, false, idx);
    if (opt->top > 0 && n > opt->top)
        n = opt->top;
    for (int i = 0; i < m->n_sites; i++)
        pos[i] = -1;
    json_key(j, "sort");
    json_string(j, rank_sort_name(opt->sort));
    json_key(j, "sites");
    json_array_begin(j);
    for (int r = 0; r < n; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        const struct model_frame *f = s->frames[s->title];
        pos[idx[r]] = r;
        json_object_begin(j);
        key_str(j, "function", f->function);
        key_str(j, "file", f->file);
        json_key(j, "line");
        json_int(j, f->line);
        key_str(j, "module", f->module);
        json_key(j, "title");
        json_int(j, s->title);
        json_key(j, "stack");
        json_array_begin(j);
        for (int k = 0; k < s->n_frames; k++) {
            int id = frame_id(ft, s->frames[k]);
            if (id < 0)
                return id;
            json_int(j, id);
        }
        json_array_end(j);
        stats(j, &s->st, m->totals.sampled);
        if (s->leak_kind != MODEL_LEAK) {
            json_key(j, "not_leaked");
            json_object_begin(j);
            key_str(j, "kind", s->leak_kind == MODEL_LEAK_RUNTIME ? "runtime" : "suppressed");
            key_str(j, "rule", s->leak_rule);
            key_num(j, "live_bytes", s->st.live_bytes);
            key_num(j, "live_blocks", s->st.live_blocks);
            json_object_end(j);
        }
        json_object_end(j);
    }
    json_array_end(j);
    return 0;
}

static void frames(struct json *j, const struct frame_table *ft)
{
    json_key(j, "frames");
    json_array_begin(j);
    for (int i = 0; i < ft->n; i++)
        frame(j, ft->list[i]);
    json_array_end(j);
}

/* The sites summed by the module of their titles. */
static int modules(struct json *j, const struct model *m)
{
    struct rank_module *mods = malloc(((size_t)m->n_sites + 1) * sizeof(*mods));
    if (mods == NULL)
        return -ENOMEM;
    int n = rank_modules(m, mods);
    json_key(j, "modules");
    json_array_begin(j);
    for (int i = 0; i < n; i++) {
        json_object_begin(j);
        key_str(j, "module", mods[i].module);
        json_key(j, "sites");
        json_int(j, mods[i].n_sites);
        key_num(j, "allocations", mods[i].st.allocations);
        key_num(j, "allocated_bytes", mods[i].st.allocated_bytes);
        key_num(j, "peak_live_bytes", mods[i].st.peak_live_bytes);
        key_num(j, "leaked_bytes", mods[i].st.leaked_bytes);
        key_num(j, "leaked_allocations", mods[i].st.leaked_allocations);
        json_object_end(j);
    }
    json_array_end(j);
    free(mods);
    return 0;
}

static void threads(struct json *j, const struct model *m)
{
    json_key(j, "threads");
    json_array_begin(j);
    for (int i = 0; i < m->n_threads; i++) {
        const struct model_thread *t = &m->threads[i];
        json_object_begin(j);
        key_u64(j, "tid", t->tid);
        key_num(j, "allocations", t->allocations);
        key_num(j, "allocated_bytes", t->allocated_bytes);
        key_num(j, "frees", t->frees);
        json_key(j, "temporary_allocations");
        if (m->totals.sampled)
            json_null(j);
        else
            num(j, t->temporary_allocations);
        json_object_end(j);
    }
    json_array_end(j);
}

static void nodebug(struct json *j, const struct model *m)
{
    static const char *const why[] = { "no_file", "rebuilt", "no_debuginfo" };
    json_key(j, "missing_debuginfo");
    json_array_begin(j);
    for (int i = 0; i < m->n_nodebug; i++) {
        const struct model_nodebug *d = &m->nodebug[i];
        json_object_begin(j);
        key_str(j, "path", d->path);
        key_str(j, "module", d->module);
        key_str(j, "build_id", d->build_id);
        key_str(j, "why", why[d->why]);
        key_u64(j, "addresses", d->addresses);
        key_u64(j, "unnamed", d->unnamed);
        key_str(j, "package", d->package);
        key_str(j, "fix", d->fix);
        json_object_end(j);
    }
    json_array_end(j);
}

static void layout(struct json *j, const struct model_struct *st)
{
    json_object_begin(j);
    key_str(j, "kind", st->kind);
    key_str(j, "name", st->name);
    key_u64(j, "size", st->size);
    key_u64(j, "hole_bytes", st->hole_bytes);
    key_u64(j, "padding_bytes", st->padding_bytes);
    json_key(j, "members");
    json_array_begin(j);
    for (int k = 0; k < st->n_members; k++) {
        const struct model_member *mb = &st->members[k];
        json_object_begin(j);
        key_str(j, "name", mb->name);
        key_str(j, "type", mb->type_name);
        key_u64(j, "offset", mb->offset);
        key_u64(j, "size", mb->size);
        key_u64(j, "hole_after", mb->hole_after);
        json_object_end(j);
    }
    json_array_end(j);
    json_object_end(j);
}

static void bloats(struct json *j, const struct model *m, const int *pos)
{
    json_key(j, "bloated");
    json_array_begin(j);
    for (int i = 0; i < m->n_bloats; i++) {
        const struct model_bloat *b = &m->bloats[i];
        json_object_begin(j);
        key_num(j, "size", (double)b->size);
        key_num(j, "blocks_at_peak", round(b->blocks_at_peak));
        key_num(j, "bytes_at_peak", b->bytes_at_peak);
        key_num(j, "slack_bytes_per_block", b->slack_bytes_per_block);
        key_share(j, "zero_byte_share", b->zero_share >= 0, b->zero_share);
        /* Indexes into "sites"; a site the list left out (--top) is null. */
        json_key(j, "sites");
        json_array_begin(j);
        for (int k = 0; k < b->n_sites && k < MODEL_BLOAT_SITES; k++) {
            if (pos[b->sites[k]] >= 0)
                json_int(j, pos[b->sites[k]]);
            else
                json_null(j);
        }
        json_array_end(j);
        json_key(j, "types");
        json_array_begin(j);
        for (int t = 0; t < b->n_types; t++)
            layout(j, &b->types[t]);
        json_array_end(j);
        json_object_end(j);
    }
    json_array_end(j);
}

int render_json(FILE *o, const struct model *m, const struct render_options *opt)
{
    struct json j;
    struct frame_table ft = { .list = NULL };
    int *idx = malloc(((size_t)m->n_sites + 1) * sizeof(*idx));
    int *pos = malloc(((size_t)m->n_sites + 1) * sizeof(*pos));
    int err;

    hmap_init(&ft.map, sizeof(struct frame_slot));
    if (idx == NULL || pos == NULL) {
        free(idx);
        free(pos);
        return -ENOMEM;
    }
    json_init(&j, o);
    json_object_begin(&j);
    json_key(&j, "heapspan_report");
    json_int(&j, 2);
    process(&j, m);
    processes(&j, m);
    unseen(&j, m);
    python(&j, m);
    totals(&j, m);
    err = sites(&j, m, opt, idx, pos, &ft);
    if (err == 0) {
        frames(&j, &ft);
        json_key(&j, "functions");
        json_array_begin(&j);
        for (int i = 0; i < m->n_functions; i++)
            group(&j, &m->functions[i], false, m->totals.sampled);
        json_array_end(&j);
        json_key(&j, "lines");
        json_array_begin(&j);
        for (int i = 0; i < m->n_lines; i++)
            group(&j, &m->lines[i], true, m->totals.sampled);
        json_array_end(&j);
        err = modules(&j, m);
    }
    if (err == 0) {
        threads(&j, m);
        bloats(&j, m, pos);
        pools(&j, m);
        nodebug(&j, m);
        json_key(&j, "warnings");
        json_array_begin(&j);
        for (int i = 0; i < m->n_warnings; i++)
            json_string(&j, m->warnings[i]);
        json_array_end(&j);
        json_object_end(&j);
        fputc('\n', o);
    }
    free(idx);
    free(pos);
    free(ft.list);
    hmap_fini(&ft.map);
    if (err < 0)
        return err;
    return json_finish(&j);
}
