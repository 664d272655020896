/* rank.c - see rank.h. */
#include "viz/rank.h"

#include <stdlib.h>

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

bool rank_stopped(const struct model *m)
{
    return m->process.end_reason == MODEL_END_STOPPED;
}

const char *rank_title(const struct rank_section *s, const struct model *m)
{
    return rank_stopped(m) && s->stopped_title != NULL ? s->stopped_title : s->title;
}

const char *rank_explain(const struct rank_section *s, const struct model *m)
{
    return rank_stopped(m) && s->stopped_explain != NULL ? s->stopped_explain : s->explain;
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
