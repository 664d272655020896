/* view.c - see view.h. */
#include "analyzer/view.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/aggregate.h"

struct view {
    struct model m;
    struct model_site *sites;
    struct model_group *funcs, *lines;
    struct model_bloat *bloats;
    struct model_member_process *procs;
    struct model_nodebug *nodebug;
    const char **warnings;
    char **texts; /* the warnings' text this view made */
    int n_texts;
};

const struct model *view_model(const struct view *v)
{
    return &v->m;
}

void view_free(struct view *v)
{
    if (v == NULL)
        return;
    free(v->sites);
    free(v->funcs);
    free(v->lines);
    free(v->bloats);
    free(v->procs);
    free(v->nodebug);
    free(v->warnings);
    for (int i = 0; i < v->n_texts; i++)
        free(v->texts[i]);
    free(v->texts);
    free(v);
}

/* ---- filtering ---- */

static bool frame_matches(const regex_t *re, const struct model_frame *f)
{
    char unnamed[512];
    if (f->function != NULL && regexec(re, f->function, 0, NULL, 0) == 0)
        return true;
    if (f->file != NULL && regexec(re, f->file, 0, NULL, 0) == 0)
        return true;
    if (f->module != NULL && regexec(re, f->module, 0, NULL, 0) == 0)
        return true;
    if (f->function == NULL) {
        snprintf(unnamed, sizeof(unnamed), "%s+0x%" PRIx64, f->module ? f->module : "?",
                 f->module_offset);
        return regexec(re, unnamed, 0, NULL, 0) == 0;
    }
    return false;
}

static bool site_matches(const regex_t *res, int n, const struct model_site *s)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < s->n_frames; k++)
            if (frame_matches(&res[i], s->frames[k]))
                return true;
    return false;
}

/* The totals that are sums of the sites' numbers, from the sites; the rest of t as
 * it was. */
static void sum_totals(struct model_totals *t, const struct model_site *sites, int n)
{
    t->allocations = t->frees = t->allocated_bytes = t->peak_live_bytes = 0;
    t->leaked_bytes = t->leaked_allocations = t->live_bytes = t->live_blocks = 0;
    t->runtime_bytes = t->runtime_allocations = t->suppressed_bytes = 0;
    t->suppressed_allocations = t->temporary_allocations = 0;
    for (int i = 0; i < n; i++) {
        const struct model_stats *s = &sites[i].st;
        t->allocations += s->allocations;
        t->frees += s->frees;
        t->allocated_bytes += s->allocated_bytes;
        t->peak_live_bytes += s->peak_live_bytes;
        t->leaked_bytes += s->leaked_bytes;
        t->leaked_allocations += s->leaked_allocations;
        t->live_bytes += s->live_bytes;
        t->live_blocks += s->live_blocks;
        t->temporary_allocations += s->temporary_allocations;
        if (sites[i].leak_kind == MODEL_LEAK_RUNTIME) {
            t->runtime_bytes += s->live_bytes;
            t->runtime_allocations += s->live_blocks;
        } else if (sites[i].leak_kind == MODEL_LEAK_SUPPRESSED) {
            t->suppressed_bytes += s->live_bytes;
            t->suppressed_allocations += s->live_blocks;
        }
    }
}

/* m's bloated sizes with their sites renumbered by map (-1: dropped); a size none of
 * whose listed sites is kept is dropped, the others count their kept sites only. */
static int remap_bloats(struct view *v, const struct model *m, const int *map)
{
    v->bloats = calloc((size_t)m->n_bloats + 1, sizeof(*v->bloats));
    if (v->bloats == NULL)
        return -ENOMEM;
    int nb = 0;
    for (int i = 0; i < m->n_bloats; i++) {
        struct model_bloat b = m->bloats[i];
        int k = 0, listed = b.n_sites < MODEL_BLOAT_SITES ? b.n_sites : MODEL_BLOAT_SITES;
        double bytes = 0;
        for (int j = 0; j < listed; j++) {
            if (map[m->bloats[i].sites[j]] < 0)
                continue;
            b.sites[k++] = map[m->bloats[i].sites[j]];
            bytes += v->sites[map[m->bloats[i].sites[j]]].st.peak_live_bytes;
        }
        if (k == 0)
            continue;
        if (k < listed) {
            b.n_sites = k;
            b.bytes_at_peak = bytes;
            b.blocks_at_peak = b.size > 0 ? bytes / (double)b.size : 0;
        }
        v->bloats[nb++] = b;
    }
    v->m.bloats = v->bloats;
    v->m.n_bloats = nb;
    return 0;
}

static int regroup(struct view *v)
{
    if (agg_group_sites(v->sites, v->m.n_sites, &v->funcs, &v->m.n_functions, &v->lines,
                        &v->m.n_lines) < 0)
        return -ENOMEM;
    v->m.functions = v->funcs;
    v->m.lines = v->lines;
    return 0;
}

int view_filter(const struct model *m, const struct view_patterns *p, struct view **out, char *err,
                size_t err_cap)
{
    int n_re = p->n_focus + p->n_ignore, rc = 0, compiled = 0;
    regex_t *res = calloc((size_t)n_re + 1, sizeof(*res));
    struct view *v = calloc(1, sizeof(*v));
    int *map = malloc(((size_t)m->n_sites + 1) * sizeof(*map));

    *out = NULL;
    if (res == NULL || v == NULL || map == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    for (; compiled < n_re; compiled++) {
        bool focus = compiled < p->n_focus;
        const char *pat = focus ? p->focus[compiled] : p->ignore[compiled - p->n_focus];
        int e = regcomp(&res[compiled], pat, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char why[256];
            regerror(e, &res[compiled], why, sizeof(why));
            snprintf(err, err_cap, "--%s %s: not a regular expression: %s",
                     focus ? "focus" : "ignore", pat, why);
            rc = -EINVAL;
            goto done;
        }
    }
    v->m = *m;
    v->sites = calloc((size_t)m->n_sites + 1, sizeof(*v->sites));
    if (v->sites == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    int n = 0;
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        map[i] = -1;
        if (p->n_focus > 0 && !site_matches(res, p->n_focus, s))
            continue;
        if (p->n_ignore > 0 && site_matches(res + p->n_focus, p->n_ignore, s))
            continue;
        map[i] = n;
        v->sites[n++] = *s;
    }
    v->m.sites = v->sites;
    v->m.n_sites = n;
    v->m.filtered_sites = n;
    v->m.unfiltered_sites = m->n_sites;
    sum_totals(&v->m.totals, v->sites, n);
    if ((rc = regroup(v)) < 0 || (rc = remap_bloats(v, m, map)) < 0)
        goto done;
done:
    for (int i = 0; i < compiled; i++)
        regfree(&res[i]);
    free(res);
    free(map);
    if (rc < 0)
        view_free(v);
    else
        *out = v;
    return rc;
}

/* ---- merging ---- */

static char *keep_text(struct view *v, const char *s)
{
    char **g = realloc(v->texts, ((size_t)v->n_texts + 1) * sizeof(*g));
    if (g == NULL)
        return NULL;
    v->texts = g;
    char *c = strdup(s);
    if (c != NULL)
        v->texts[v->n_texts++] = c;
    return c;
}

/* Whether model j's process is the parent of model i's. */
static bool parent_of(const struct model *const *models, int j, int i)
{
    return j != i && models[i]->process.ppid == models[j]->process.pid;
}

static void place(const struct model *const *models, int n, int r, int d, int *order, int *depth,
                  bool *placed, int *k)
{
    order[(*k)++] = r;
    placed[r] = true;
    depth[r] = d;
    for (int c = 0; c < n; c++)
        if (!placed[c] && parent_of(models, r, c))
            place(models, n, c, d + 1, order, depth, placed, k);
}

int view_merge(const struct model *const *models, int n, struct view **out)
{
    struct view *v = calloc(1, sizeof(*v));
    int *order = malloc(((size_t)n + 1) * sizeof(*order));
    int *depth = calloc((size_t)n + 1, sizeof(*depth));
    bool *placed = calloc((size_t)n + 1, sizeof(*placed));
    int total_sites = 0, total_warn = 0, total_bloats = 0, rc = 0;

    *out = NULL;
    if (v == NULL || order == NULL || depth == NULL || placed == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    /* Parents before children: the roots (no parent among the logs) in the order
     * given, each followed by its descendants, depth first. */
    int k = 0;
    for (int r = 0; r < n; r++) {
        bool root = true;
        for (int j = 0; j < n; j++)
            root = root && !parent_of(models, j, r);
        if (root && !placed[r])
            place(models, n, r, 0, order, depth, placed, &k);
    }
    for (int r = 0; r < n; r++) /* a cycle of pids (reused): as given */
        if (!placed[r])
            order[k++] = r;
    for (int i = 0; i < n; i++) {
        total_sites += models[i]->n_sites;
        total_warn += models[i]->n_warnings;
        total_bloats += models[i]->n_bloats;
    }
    v->m = *models[order[0]];
    v->sites = calloc((size_t)total_sites + 1, sizeof(*v->sites));
    v->procs = calloc((size_t)n, sizeof(*v->procs));
    v->warnings = calloc((size_t)total_warn + 1, sizeof(*v->warnings));
    v->bloats = calloc((size_t)total_bloats + 1, sizeof(*v->bloats));
    if (v->sites == NULL || v->procs == NULL || v->warnings == NULL || v->bloats == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    struct model_totals t = models[order[0]]->totals;
    int ns = 0, nw = 0, nb = 0;
    t.lost_events = t.unknown_frees = t.markers = 0;
    t.api_allocations = 0;
    for (int q = 0; q < n; q++) {
        const struct model *m = models[order[q]];
        int base = ns;
        v->procs[q] =
            (struct model_member_process){ m->process, m->totals, m->n_sites, depth[order[q]] };
        memcpy(&v->sites[ns], m->sites, (size_t)m->n_sites * sizeof(*m->sites));
        ns += m->n_sites;
        for (int b = 0; b < m->n_bloats; b++) {
            struct model_bloat bl = m->bloats[b];
            for (int j = 0; j < MODEL_BLOAT_SITES && j < bl.n_sites; j++)
                bl.sites[j] += base;
            v->bloats[nb++] = bl;
        }
        for (int w = 0; w < m->n_warnings; w++) {
            char line[2048];
            snprintf(line, sizeof(line), "pid %u: %s", m->process.pid, m->warnings[w]);
            if ((v->warnings[nw++] = keep_text(v, line)) == NULL) {
                rc = -ENOMEM;
                goto done;
            }
        }
        t.lost_events += m->totals.lost_events;
        t.unknown_frees += m->totals.unknown_frees;
        t.markers += m->totals.markers;
        t.api_allocations += m->totals.api_allocations;
        if (m->totals.last_ns > t.last_ns)
            t.last_ns = m->totals.last_ns;
    }
    v->m.sites = v->sites;
    v->m.n_sites = ns;
    sum_totals(&t, v->sites, ns);
    /* The sum of each process's peak (sum_totals adds the sites' shares of their own
     * process's peak: the same). */
    v->m.totals = t;
    v->m.bloats = v->bloats;
    v->m.n_bloats = nb;
    v->m.warnings = v->warnings;
    v->m.n_warnings = nw;
    v->m.processes = v->procs;
    v->m.n_processes = n;
    v->m.timeline = (struct model_timeline){ 0 };
    v->m.n_unseen = 0;
    v->m.unseen = NULL;
    v->m.n_pools = 0;
    v->m.pools = NULL;
    /* Each module missing debug info once. */
    int total_nd = 0, nd = 0;
    for (int i = 0; i < n; i++)
        total_nd += models[i]->n_nodebug;
    v->nodebug = calloc((size_t)total_nd + 1, sizeof(*v->nodebug));
    if (v->nodebug == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < models[i]->n_nodebug; j++) {
            const struct model_nodebug *d = &models[i]->nodebug[j];
            int x;
            for (x = 0; x < nd && strcmp(v->nodebug[x].path, d->path) != 0; x++)
                ;
            if (x == nd)
                v->nodebug[nd++] = *d;
        }
    v->m.nodebug = v->nodebug;
    v->m.n_nodebug = nd;
    rc = regroup(v);
done:
    free(order);
    free(depth);
    free(placed);
    if (rc < 0)
        view_free(v);
    else
        *out = v;
    return rc;
}
