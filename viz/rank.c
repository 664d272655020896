/* rank.c - see rank.h. */
#include "viz/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double m_peak(const struct model_stats *s)
{
    return s->peak_live_bytes;
}

static double m_leak(const struct model_stats *s)
{
    return s->leaked_bytes;
}

static double m_allocs(const struct model_stats *s)
{
    return s->allocations;
}

static double m_temp(const struct model_stats *s)
{
    return s->temporary_allocations;
}

double rank_allocated_bytes(const struct model_stats *s)
{
    return s->allocated_bytes;
}

double rank_live_bytes(const struct model_stats *s)
{
    return s->live_bytes;
}

static double t_peak(const struct model_totals *t)
{
    return t->peak_live_bytes;
}

static double t_leak(const struct model_totals *t)
{
    return t->leaked_bytes;
}

static double t_allocs(const struct model_totals *t)
{
    return t->allocations;
}

static double t_temp(const struct model_totals *t)
{
    return t->temporary_allocations;
}

const struct rank_section rank_sections[] = {
    { "PEAK", "call sites holding memory at the moment of the peak", m_peak, true, t_peak, NULL,
      NULL },
    { "LEAKS", "still live at the end of the log", m_leak, true, t_leak, "LIVE AT STOP",
      "live when recording stopped; frees after it were not recorded, so not known leaks" },
    { "ALLOCATIONS", "most allocation calls", m_allocs, false, t_allocs, NULL, NULL },
    { "TEMPORARY", "freed before their thread allocated anything else", m_temp, false, t_temp, NULL,
      NULL },
};

const int rank_n_sections = sizeof(rank_sections) / sizeof(rank_sections[0]);

static int cmp_modules(const void *x, const void *y)
{
    const struct rank_module *a = x, *b = y;
    if (a->st.peak_live_bytes != b->st.peak_live_bytes)
        return a->st.peak_live_bytes < b->st.peak_live_bytes ? 1 : -1;
    if (a->st.live_bytes != b->st.live_bytes)
        return a->st.live_bytes < b->st.live_bytes ? 1 : -1;
    return strcmp(a->module, b->module);
}

int rank_modules(const struct model *m, struct rank_module *out)
{
    int n = 0;
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        const char *mod = s->frames[s->title]->module ? s->frames[s->title]->module : "?";
        int k;
        for (k = 0; k < n && strcmp(out[k].module, mod) != 0; k++)
            ;
        if (k == n)
            out[n++] = (struct rank_module){ .module = mod };
        struct model_stats *d = &out[k].st;
        const struct model_stats *v = &s->st;
        d->allocations += v->allocations;
        d->allocated_bytes += v->allocated_bytes;
        d->frees += v->frees;
        d->peak_live_bytes += v->peak_live_bytes;
        d->leaked_bytes += v->leaked_bytes;
        d->leaked_allocations += v->leaked_allocations;
        d->live_bytes += v->live_bytes;
        d->live_blocks += v->live_blocks;
        d->temporary_allocations += v->temporary_allocations;
        out[k].n_sites++;
    }
    qsort(out, (size_t)n, sizeof(*out), cmp_modules);
    return n;
}

static double m_alloc_bytes(const struct model_stats *s)
{
    return s->allocated_bytes;
}

static double t_alloc_bytes(const struct model_totals *t)
{
    return t->allocated_bytes;
}

static const struct rank_section section_allocated = {
    "ALLOCATED", "most bytes allocated in all", m_alloc_bytes, true, t_alloc_bytes, NULL, NULL,
};

bool rank_stopped(const struct model *m)
{
    return m->process.end_reason == MODEL_END_STOPPED;
}

bool rank_leaks_known(const struct model *m)
{
    const struct model_process *p = &m->process;
    return p->point.at == MODEL_AT_END && p->ended && !p->truncated && !p->windowed &&
           (p->end_reason == MODEL_END_EXIT || p->end_reason == MODEL_END_UNDERSCORE_EXIT);
}

const char *rank_live_word(const struct model *m)
{
    if (rank_stopped(m))
        return "live at stop";
    if (m->process.point.at != MODEL_AT_END)
        return "live at point";
    return rank_leaks_known(m) ? "leaked" : "live at end";
}

const char *rank_title(const struct rank_section *s, const struct model *m)
{
    if (s->metric == m_leak && !rank_stopped(m) && !rank_leaks_known(m))
        return m->process.point.at != MODEL_AT_END ? "LIVE AT THE POINT" : "LIVE AT END";
    return rank_stopped(m) && s->stopped_title != NULL ? s->stopped_title : s->title;
}

const char *rank_explain(const struct rank_section *s, const struct model *m)
{
    if (s->metric == m_leak && !rank_stopped(m) && !rank_leaks_known(m))
        return m->process.point.at != MODEL_AT_END ? "live at the report's point; not known to leak"
               : m->process.windowed
                   ? "live at the end of the --to window; not known to leak"
                   : "live when the log ends; the process did not exit (still running, "
                     "killed or exec'd), so not known to leak";
    if (s->metric == m_leak && !rank_stopped(m))
        return "not freed before the program exited (reachable or not: memory is not scanned)";
    return rank_stopped(m) && s->stopped_explain != NULL ? s->stopped_explain : s->explain;
}

static const char *const sort_names[] = { "peak",        "peak",      "leaked",
                                          "allocations", "temporary", "allocated" };

enum rank_sort rank_sort_find(const char *name)
{
    for (int i = RANK_SORT_PEAK; i <= RANK_SORT_ALLOCATED; i++)
        if (strcmp(name, sort_names[i]) == 0)
            return (enum rank_sort)i;
    return RANK_SORT_DEFAULT;
}

const char *rank_sort_name(enum rank_sort s)
{
    return sort_names[s];
}

const struct rank_section *rank_section_of(enum rank_sort s)
{
    switch (s) {
    case RANK_SORT_LEAKED:
        return &rank_sections[1];
    case RANK_SORT_ALLOCATIONS:
        return &rank_sections[2];
    case RANK_SORT_TEMPORARY:
        return &rank_sections[3];
    case RANK_SORT_ALLOCATED:
        return &section_allocated;
    default:
        return &rank_sections[0];
    }
}

bool rank_section_known(const struct rank_section *s, const struct model *m)
{
    return !(s->metric == m_temp && m->totals.sampled);
}

double rank_samples(const struct rank_section *s, const struct model_stats *st)
{
    if (s->metric == m_peak)
        return st->peak_samples;
    if (s->metric == m_leak)
        return st->leaked_samples;
    return st->samples;
}

double rank_weight(const struct model_stats *st)
{
    return st->samples > 0 ? st->allocations / st->samples : 1;
}

void rank_interval(double estimate, double k, double w, double *lo, double *hi)
{
    if (k <= 0 || w <= 1 + 1e-9) {
        *lo = *hi = estimate;
        return;
    }
    rank_poisson_interval(estimate, k * w / (w - 1), lo, hi);
}

double rank_variance(double estimate, double k, double w)
{
    if (k <= 0 || w <= 1 + 1e-9)
        return 0;
    return estimate * estimate * (w - 1) / (w * k);
}

void rank_poisson_interval(double estimate, double k, double *lo, double *hi)
{
    const double z = 1.959964;
    if (k <= 0 || !isfinite(k)) {
        *lo = *hi = estimate;
        return;
    }
    double a = 1 - 1 / (9 * k) - z / (3 * sqrt(k));
    double k1 = k + 1;
    double b = 1 - 1 / (9 * k1) + z / (3 * sqrt(k1));
    double l = a > 0 ? k * a * a * a : 0;
    double h = k1 * b * b * b;
    *lo = estimate * l / k;
    *hi = estimate * h / k;
}

struct rank_ctx {
    const struct model *m;
    rank_metric_fn metric;
};

static int cmp_sites(const void *x, const void *y, void *arg)
{
    const struct rank_ctx *c = arg;
    int i = *(const int *)x, j = *(const int *)y;
    double a = c->metric(&c->m->sites[i].st), b = c->metric(&c->m->sites[j].st);
    if (a != b)
        return (a < b) - (a > b);
    return i - j;
}

int rank_sites(const struct model *m, rank_metric_fn metric, bool positive_only, int *out)
{
    struct rank_ctx c = { m, metric };
    int n = 0;

    for (int i = 0; i < m->n_sites; i++)
        if (!positive_only || metric(&m->sites[i].st) > 0)
            out[n++] = i;
    qsort_r(out, (size_t)n, sizeof(*out), cmp_sites, &c);
    return n;
}

int rank_set_apart(const struct model *m, enum model_leak_kind kind, int *out)
{
    int n = rank_sites(m, rank_live_bytes, false, out), k = 0;

    for (int i = 0; i < n; i++)
        if (m->sites[out[i]].leak_kind == kind && m->sites[out[i]].st.live_blocks > 0)
            out[k++] = out[i];
    return k;
}
