/* diff.c - see diff.h. */
#include "analyzer/diff.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/bytesize.h"
#include "util/hashmap.h"

static const char *const metric_names[MODEL_N_METRICS] = MODEL_METRIC_NAMES;

const char *diff_metric_name(enum model_metric m)
{
    return (int)m >= 0 && (int)m < MODEL_N_METRICS ? metric_names[m] : "?";
}

bool diff_parse_metric(const char *name, enum model_metric *out)
{
    for (int k = 0; k < MODEL_N_METRICS; k++)
        if (!strcmp(name, metric_names[k])) {
            *out = (enum model_metric)k;
            return true;
        }
    return false;
}

/* One part of a budget: "12.5%" or a size. */
static bool parse_part(const char *s, size_t len, double *percent, double *amount)
{
    char buf[64];

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[len - 1] == '%') {
        char *end;
        buf[len - 1] = '\0';
        if (*percent >= 0 || buf[0] < '0' || buf[0] > '9')
            return false;
        errno = 0;
        double v = strtod(buf, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0)
            return false;
        *percent = v;
        return true;
    }
    uint64_t v;
    if (*amount >= 0 || !hs_parse_bytes(buf, &v))
        return false;
    *amount = (double)v;
    return true;
}

bool diff_parse_budget(const char *spec, enum model_metric metric, struct model_budget *out)
{
    const char *s = spec, *colon = strchr(spec, ':');

    memset(out, 0, sizeof(*out));
    out->spec = spec;
    out->percent = out->amount = -1;
    if (colon != NULL) {
        char name[32];
        size_t n = (size_t)(colon - spec);
        if (n >= sizeof(name))
            return false;
        memcpy(name, spec, n);
        name[n] = '\0';
        if (!diff_parse_metric(name, &metric))
            return false;
        s = colon + 1;
    }
    out->metric = metric;
    const char *comma = strchr(s, ',');
    if (comma == NULL)
        return parse_part(s, strlen(s), &out->percent, &out->amount);
    return parse_part(s, (size_t)(comma - s), &out->percent, &out->amount) &&
           parse_part(comma + 1, strlen(comma + 1), &out->percent, &out->amount);
}

/* Whether what is live counts as leaked: at the end of a process that ended. Up to a
 * marker or a time - a service between two SIGUSR2s - what is live is live, and nothing
 * has leaked yet. Live blocks of the C runtime's and of suppressed sites are never
 * leaks (model.h): leaked_bytes leaves them out, live_bytes counts them. */
static bool leaks_count(const struct model *m)
{
    return m->process.ended && m->process.point.at == MODEL_AT_END;
}

double diff_site_value(const struct model *m, const struct model_site *s, enum model_metric k)
{
    switch (k) {
    case MODEL_METRIC_LIVE:
        return s->st.live_bytes;
    case MODEL_METRIC_PEAK:
        return s->st.peak_live_bytes;
    case MODEL_METRIC_LEAKED:
        return leaks_count(m) ? s->st.leaked_bytes : 0;
    case MODEL_METRIC_ALLOCATIONS:
        return s->st.allocations;
    case MODEL_METRIC_TEMPORARY:
        return s->st.temporary_allocations;
    default:
        return 0;
    }
}

static double total_value(const struct model *m, enum model_metric k)
{
    const struct model_totals *t = &m->totals;
    switch (k) {
    case MODEL_METRIC_LIVE:
        return t->live_bytes;
    case MODEL_METRIC_PEAK:
        return t->peak_live_bytes;
    case MODEL_METRIC_LEAKED:
        return leaks_count(m) ? t->leaked_bytes : 0;
    case MODEL_METRIC_ALLOCATIONS:
        return t->allocations;
    case MODEL_METRIC_TEMPORARY:
        return t->temporary_allocations;
    default:
        return 0;
    }
}

/* ---- the two sides ---- */

/* What a frame is compared by, worked out for each frame of each site: the strings'
 * parts come from caches (a symbolizer hands out one pointer per distinct name), and
 * a table of frames by pointer would cost a cache miss per frame on large models. */
struct frame_key {
    const struct model_frame *f;
    uint64_t exact, by_function; /* hashes */
    const char *module;          /* normalized: "" for the main program */
    size_t module_len;
    const char *file; /* base name; NULL if unknown */
};

/* A string's hash (and a module's normalized name, a file's base name) by its pointer. */
struct ptr_entry {
    const void *p;
    uint64_t hash;
    const char *text; /* modules: normalized; files: base name */
    size_t len;
};

struct side {
    const struct model *m;
    double rate; /* sampling interval R; 0: every allocation recorded */
    const char *exe_base;
    struct hmap functions, files, modules; /* struct ptr_entry */
    struct frame_key *keys;                /* every site's frames, site after site */
    size_t *first;                 /* per site (and one past): where its frames start in keys */
    uint64_t *exact, *by_function; /* per site: the stack's hashes */
    int *match;                    /* per site: the other side's site, or -1 */
    double (*var)[MODEL_N_METRICS];
};

static const char *base_name(const char *path)
{
    const char *s = path != NULL ? strrchr(path, '/') : NULL;
    return s != NULL ? s + 1 : path;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h;
}

static uint64_t hash_mem(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static bool ptr_eq(const void *entry, const void *key)
{
    return ((const struct ptr_entry *)entry)->p == key;
}

/* The cache's entry for p, added (zeroed but for p) if new; NULL when out of memory. */
static struct ptr_entry *cached(struct hmap *map, const void *p, bool *added)
{
    struct ptr_entry *e = hmap_put(map, (uint64_t)(uintptr_t)p, p, ptr_eq, added);
    if (e != NULL && *added)
        e->p = p;
    return e;
}

/* A module's name as compared: the main program's is "", a shared object's loses its
 * version suffix (".so.6" and ".so.1.2.3" -> ".so"). */
static void normalize_module(const struct side *sd, const char *name, const char **out, size_t *len)
{
    if (name == NULL)
        name = "";
    if (sd->exe_base != NULL && sd->exe_base[0] != '\0' && !strcmp(name, sd->exe_base)) {
        *out = "";
        *len = 0;
        return;
    }
    size_t n = strlen(name);
    const char *so = NULL;
    for (const char *p = strstr(name, ".so."); p != NULL; p = strstr(p + 1, ".so."))
        so = p;
    if (so != NULL) {
        const char *q = so + 4;
        while (*q != '\0' && ((*q >= '0' && *q <= '9') || *q == '.'))
            q++;
        if (*q == '\0')
            n = (size_t)(so + 3 - name);
    }
    *out = name;
    *len = n;
}

static const struct ptr_entry *module_of(struct side *sd, const char *name)
{
    bool added;
    struct ptr_entry *e = cached(&sd->modules, name, &added);
    if (e != NULL && added) {
        normalize_module(sd, name, &e->text, &e->len);
        e->hash = hash_mem(e->text, e->len);
    }
    return e;
}

/* A string's hash; files by their base name. 0 for NULL. */
static const struct ptr_entry *string_of(struct hmap *map, const char *s, bool file)
{
    bool added;
    struct ptr_entry *e = cached(map, s, &added);
    if (e != NULL && added && s != NULL) {
        e->text = file ? base_name(s) : s;
        e->len = strlen(e->text);
        e->hash = hash_mem(e->text, e->len);
    }
    return e;
}

/* f's key, into *k: 0 or -ENOMEM. */
static int frame_key_set(struct side *sd, const struct model_frame *f, struct frame_key *k)
{
    const struct ptr_entry *mod = module_of(sd, f->module);
    const struct ptr_entry *fn = string_of(&sd->functions, f->function, false);
    const struct ptr_entry *file = string_of(&sd->files, f->file, true);
    if (mod == NULL || fn == NULL || file == NULL)
        return -ENOMEM;
    *k = (struct frame_key){ f, 0, 0, mod->text, mod->len, file->text };
    if (f->function == NULL) {
        k->exact = mix(mix(mod->hash, f->module_offset), 1);
        k->by_function = k->exact;
    } else {
        k->by_function = mix(mix(mod->hash, fn->hash), f->inlined ? 3 : 2);
        k->exact = mix(mix(k->by_function, file->hash), (uint64_t)(unsigned)f->line);
    }
    return 0;
}

/* Whether two frames are the same; by_function: whatever the lines. The hashes decide
 * most unequal pairs; equal ones are compared in full. */
static bool frames_equal(const struct frame_key *a, const struct frame_key *b, bool by_function)
{
    const struct model_frame *x = a->f, *y = b->f;

    if (by_function ? a->by_function != b->by_function : a->exact != b->exact)
        return false;
    if (a->module_len != b->module_len || memcmp(a->module, b->module, a->module_len) != 0)
        return false;
    if ((x->function == NULL) != (y->function == NULL))
        return false;
    if (x->function == NULL)
        return x->module_offset == y->module_offset;
    if (x->inlined != y->inlined ||
        (x->function != y->function && strcmp(x->function, y->function) != 0))
        return false;
    if (by_function)
        return true;
    if (x->line != y->line || (a->file == NULL) != (b->file == NULL))
        return false;
    return a->file == b->file || a->file == NULL || !strcmp(a->file, b->file);
}

static bool sites_equal(const struct side *sa, int i, const struct side *sb, int j,
                        bool by_function)
{
    size_t n = sa->first[i + 1] - sa->first[i];

    if (n != sb->first[j + 1] - sb->first[j])
        return false;
    const struct frame_key *ka = &sa->keys[sa->first[i]], *kb = &sb->keys[sb->first[j]];
    for (size_t k = 0; k < n; k++)
        if (!frames_equal(&ka[k], &kb[k], by_function))
            return false;
    return true;
}

/* A site's estimate X of each metric has variance X * u * (1 - p) / p (diff.h). */
static void site_variance(const struct side *sd, const struct model_site *s,
                          double out[MODEL_N_METRICS])
{
    memset(out, 0, sizeof(double) * MODEL_N_METRICS);
    if (sd->rate <= 0 || s->st.allocations <= 0 || s->st.allocated_bytes <= 0)
        return;
    double mean = s->st.allocated_bytes / s->st.allocations;
    double p = -expm1(-mean / sd->rate);
    if (p <= 0)
        return;
    double q = exp(-mean / sd->rate);
    for (int k = 0; k < MODEL_N_METRICS; k++) {
        double x = diff_site_value(sd->m, s, (enum model_metric)k);
        double u = MODEL_METRIC_IS_BYTES(k) ? mean : 1;
        out[k] = x > 0 ? x * u * q / p : 0;
    }
}

static void side_prepare(struct side *sd)
{
    memset(sd, 0, sizeof(*sd));
    hmap_init(&sd->functions, sizeof(struct ptr_entry));
    hmap_init(&sd->files, sizeof(struct ptr_entry));
    hmap_init(&sd->modules, sizeof(struct ptr_entry));
}

static int side_init(struct side *sd, const struct model *m)
{
    int n = m->n_sites;
    size_t frames = 0;

    sd->m = m;
    sd->rate = m->totals.sampled ? (double)m->process.sample_bytes : 0;
    sd->exe_base = base_name(m->process.exe);
    for (int i = 0; i < n; i++)
        frames += (size_t)m->sites[i].n_frames;
    size_t cnt = n > 0 ? (size_t)n : 1;
    sd->exact = malloc(cnt * sizeof(*sd->exact));
    sd->by_function = malloc(cnt * sizeof(*sd->by_function));
    sd->match = malloc(cnt * sizeof(*sd->match));
    sd->var = malloc(cnt * sizeof(*sd->var));
    sd->first = malloc((cnt + 1) * sizeof(*sd->first));
    sd->keys = malloc((frames > 0 ? frames : 1) * sizeof(*sd->keys));
    if (sd->exact == NULL || sd->by_function == NULL || sd->match == NULL || sd->var == NULL ||
        sd->first == NULL || sd->keys == NULL)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const struct model_site *s = &m->sites[i];
        uint64_t hx = 0x51ed27u, hf = 0x51ed27u;
        sd->first[i] = at;
        for (int k = 0; k < s->n_frames; k++, at++) {
            int err = frame_key_set(sd, s->frames[k], &sd->keys[at]);
            if (err < 0)
                return err;
            hx = mix(hx, sd->keys[at].exact);
            hf = mix(hf, sd->keys[at].by_function);
        }
        sd->exact[i] = hx;
        sd->by_function[i] = hf;
        sd->match[i] = -1;
        site_variance(sd, s, sd->var[i]);
    }
    sd->first[n] = at;
    return 0;
}

static void side_fini(struct side *sd)
{
    hmap_fini(&sd->functions);
    hmap_fini(&sd->files);
    hmap_fini(&sd->modules);
    free(sd->keys);
    free(sd->first);
    free(sd->exact);
    free(sd->by_function);
    free(sd->match);
    free(sd->var);
}

/* ---- pass 1: exact ---- */

/* A hash's chain of BASE sites. */
struct chain {
    uint64_t hash;
    int head;
};

static bool chain_eq(const void *entry, const void *key)
{
    return ((const struct chain *)entry)->hash == *(const uint64_t *)key;
}

static int match_exact(struct side *b, struct side *a)
{
    struct hmap heads;
    int *next = malloc((size_t)(b->m->n_sites > 0 ? b->m->n_sites : 1) * sizeof(*next));
    int err = 0;

    hmap_init(&heads, sizeof(struct chain));
    if (next == NULL || hmap_reserve(&heads, (size_t)b->m->n_sites) < 0) {
        err = -ENOMEM;
        goto out;
    }
    for (int i = b->m->n_sites - 1; i >= 0; i--) {
        bool added;
        struct chain *c = hmap_put(&heads, b->exact[i], &b->exact[i], chain_eq, &added);
        if (c == NULL) {
            err = -ENOMEM;
            goto out;
        }
        if (added) {
            c->hash = b->exact[i];
            c->head = -1;
        }
        next[i] = c->head;
        c->head = i;
    }
    for (int j = 0; j < a->m->n_sites; j++) {
        const struct chain *c = hmap_get(&heads, a->exact[j], &a->exact[j], chain_eq);
        for (int i = c != NULL ? c->head : -1; i >= 0; i = next[i])
            if (b->match[i] < 0 && sites_equal(b, i, a, j, false)) {
                b->match[i] = j;
                a->match[j] = i;
                break;
            }
    }
out:
    hmap_fini(&heads);
    free(next);
    return err;
}

/* ---- pass 2: by function ---- */

struct loose {
    int site;
    bool after; /* a NEW site (else BASE) */
    uint64_t hash;
};

struct pass2 {
    struct side *b, *a;
};

static struct side *side_of(const struct pass2 *p, const struct loose *l)
{
    return l->after ? p->a : p->b;
}

/* Lines, innermost frame first: the order sites pair in. */
static int cmp_lines(const struct model_site *x, const struct model_site *y)
{
    int n = x->n_frames < y->n_frames ? x->n_frames : y->n_frames;
    for (int k = 0; k < n; k++)
        if (x->frames[k]->line != y->frames[k]->line)
            return x->frames[k]->line < y->frames[k]->line ? -1 : 1;
    return 0;
}

static int cmp_loose(const void *px, const void *py, void *arg)
{
    const struct loose *x = px, *y = py;
    const struct pass2 *p = arg;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    int c = cmp_lines(&side_of(p, x)->m->sites[x->site], &side_of(p, y)->m->sites[y->site]);
    if (c != 0)
        return c;
    if (x->after != y->after)
        return x->after ? 1 : -1;
    return x->site - y->site;
}

static void pair(struct pass2 *p, int bi, int aj)
{
    p->b->match[bi] = aj;
    p->a->match[aj] = bi;
}

static int cmp_int(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

/* One group of sites with the same functions: bs and as in line order. */
static int pair_group(struct pass2 *p, const int *bs, int nb, const int *as, int na)
{
    if (nb == 0 || na == 0)
        return 0;
    if (nb == na) {
        for (int k = 0; k < nb; k++)
            pair(p, bs[k], as[k]);
        return 0;
    }
    /* The shift most pairs agree on: code added above moves every site alike. */
    int best = 0, best_votes = 0;
    if ((double)nb * na <= 1e6) {
        int *d = malloc((size_t)nb * (size_t)na * sizeof(*d)), n = 0;
        if (d == NULL)
            return -ENOMEM;
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < na; j++)
                d[n++] =
                    p->a->m->sites[as[j]].frames[0]->line - p->b->m->sites[bs[i]].frames[0]->line;
        qsort(d, (size_t)n, sizeof(*d), cmp_int);
        for (int i = 0; i < n;) {
            int j = i;
            while (j < n && d[j] == d[i])
                j++;
            if (j - i > best_votes || (j - i == best_votes && abs(d[i]) < abs(best))) {
                best = d[i];
                best_votes = j - i;
            }
            i = j;
        }
        free(d);
        for (int i = 0, j = 0; i < nb && j < na;) {
            int lb = p->b->m->sites[bs[i]].frames[0]->line + best;
            int la = p->a->m->sites[as[j]].frames[0]->line;
            if (la == lb) {
                pair(p, bs[i++], as[j++]);
            } else if (la < lb) {
                j++;
            } else {
                i++;
            }
        }
    }
    for (int i = 0, j = 0; i < nb && j < na;) {
        if (p->b->match[bs[i]] >= 0) {
            i++;
        } else if (p->a->match[as[j]] >= 0) {
            j++;
        } else {
            pair(p, bs[i++], as[j++]);
        }
    }
    return 0;
}

static int match_by_function(struct side *b, struct side *a)
{
    struct pass2 p = { b, a };
    size_t cap = (size_t)b->m->n_sites + (size_t)a->m->n_sites + 1;
    struct loose *l = malloc(cap * sizeof(*l));
    int *bs = malloc(cap * sizeof(*bs)), *as = malloc(cap * sizeof(*as));
    bool *done = calloc(cap, sizeof(*done));
    int n = 0, err = 0;

    if (l == NULL || bs == NULL || as == NULL || done == NULL) {
        err = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < b->m->n_sites; i++)
        if (b->match[i] < 0)
            l[n++] = (struct loose){ i, false, b->by_function[i] };
    for (int j = 0; j < a->m->n_sites; j++)
        if (a->match[j] < 0)
            l[n++] = (struct loose){ j, true, a->by_function[j] };
    qsort_r(l, (size_t)n, sizeof(*l), cmp_loose, &p);
    for (int s = 0; s < n;) {
        int e = s;
        while (e < n && l[e].hash == l[s].hash)
            e++;
        /* A run shares a hash; a group shares the functions (a run holds one group
         * unless two stacks' hashes collide). */
        for (int r = s; r < e; r++) {
            if (done[r])
                continue;
            int nb = 0, na = 0;
            for (int k = r; k < e; k++) {
                if (done[k] || (k != r && !sites_equal(side_of(&p, &l[r]), l[r].site,
                                                       side_of(&p, &l[k]), l[k].site, true)))
                    continue;
                done[k] = true;
                if (l[k].after)
                    as[na++] = l[k].site;
                else
                    bs[nb++] = l[k].site;
            }
            if ((err = pair_group(&p, bs, nb, as, na)) < 0)
                goto out;
        }
        s = e;
    }
out:
    free(l);
    free(bs);
    free(as);
    free(done);
    return err;
}

/* ---- the diff ---- */

/* The diff and everything it owns, in one allocation each. */
struct diff_impl {
    struct model_diff d; /* first: diff_free gets this back */
    struct model_diff_site *sites;
    struct model_diff_function *functions;
    struct model_budget *budgets;
    int *lists; /* grown, shrunk, new, vanished, functions grown, functions shrunk */
};

static void change_set(struct model_change *c, double before, double after, double var)
{
    c->before = before;
    c->after = after;
    c->delta = after - before;
    if (before != 0)
        c->percent = 100 * c->delta / before;
    else
        c->percent = c->delta > 0 ? INFINITY : c->delta < 0 ? -INFINITY : 0;
    c->noise = var > 0 ? DIFF_NOISE_Z * sqrt(var) : 0;
    c->within_noise = c->delta != 0 && fabs(c->delta) <= c->noise;
}

/* By-function rows: the innermost frame's function and module. */
struct fn_entry {
    const char *function; /* NULL: unknown */
    const char *module;
    size_t module_len;
    int row;
};

struct fn_acc {
    double before[MODEL_N_METRICS], after[MODEL_N_METRICS];
    double var_before[MODEL_N_METRICS], var_after[MODEL_N_METRICS];
    int last_site; /* the diff row that counted last, so a row counts once */
};

static bool fn_eq(const void *entry, const void *key)
{
    const struct fn_entry *e = entry, *k = key;
    if (e->module_len != k->module_len || memcmp(e->module, k->module, k->module_len) != 0)
        return false;
    if (e->function == NULL || k->function == NULL)
        return e->function == k->function;
    return !strcmp(e->function, k->function);
}

static int add_function(struct diff_impl *di, struct hmap *map, struct fn_acc *acc, struct side *sd,
                        int site, int row, bool after)
{
    const struct model_frame *f = sd->m->sites[site].frames[0];
    const struct ptr_entry *mod = module_of(sd, f->module);
    const struct ptr_entry *fn = string_of(&sd->functions, f->function, false);
    bool added;

    if (mod == NULL || fn == NULL)
        return -ENOMEM;
    struct fn_entry key = { f->function, mod->text, mod->len, 0 };
    struct fn_entry *e = hmap_put(map, mix(fn->hash, mod->hash), &key, fn_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (added) {
        *e = key;
        e->row = di->d.n_functions++;
        struct model_diff_function *fr = &di->functions[e->row];
        memset(fr, 0, sizeof(*fr));
        fr->function = f->function;
        fr->module = f->module;
        memset(&acc[e->row], 0, sizeof(acc[e->row]));
        acc[e->row].last_site = -1;
    }
    struct fn_acc *c = &acc[e->row];
    if (c->last_site != row) {
        c->last_site = row;
        di->functions[e->row].n_sites++;
    }
    for (int k = 0; k < MODEL_N_METRICS; k++) {
        double v = diff_site_value(sd->m, &sd->m->sites[site], (enum model_metric)k);
        if (after) {
            c->after[k] += v;
            c->var_after[k] += sd->var[site][k];
        } else {
            c->before[k] += v;
            c->var_before[k] += sd->var[site][k];
        }
    }
    return 0;
}

static int build_functions(struct diff_impl *di, struct side *b, struct side *a)
{
    int n = di->d.n_sites;
    struct fn_acc *acc = malloc((size_t)(n > 0 ? n : 1) * sizeof(*acc));
    struct hmap map;
    int err = 0;

    hmap_init(&map, sizeof(struct fn_entry));
    /* A row's two sites share their innermost function, unless one is missing. */
    di->functions = malloc((size_t)(n > 0 ? n : 1) * sizeof(*di->functions));
    if (acc == NULL || di->functions == NULL) {
        err = -ENOMEM;
        goto out;
    }
    for (int r = 0; r < n && err == 0; r++) {
        const struct model_diff_site *s = &di->sites[r];
        if (s->before != NULL)
            err = add_function(di, &map, acc, b, (int)(s->before - b->m->sites), r, false);
        if (err == 0 && s->after != NULL)
            err = add_function(di, &map, acc, a, (int)(s->after - a->m->sites), r, true);
    }
    for (int i = 0; err == 0 && i < di->d.n_functions; i++)
        for (int k = 0; k < MODEL_N_METRICS; k++)
            change_set(&di->functions[i].m[k], acc[i].before[k], acc[i].after[k],
                       acc[i].var_before[k] + acc[i].var_after[k]);
    di->d.functions = di->functions;
out:
    hmap_fini(&map);
    free(acc);
    return err;
}

/* Sorting indexes by the ranked metric. */
struct rank_ctx {
    const struct model_change *base; /* row 0's change of the metric */
    size_t stride;                   /* bytes between rows */
    int key;                         /* 0: delta, most first; 1: most negative first;
                                      * 2: after, most first; 3: before, most first */
};

static const struct model_change *row_change(const struct rank_ctx *c, int i)
{
    return (const struct model_change *)((const char *)c->base + (size_t)i * c->stride);
}

static int cmp_rank(const void *px, const void *py, void *arg)
{
    const struct rank_ctx *c = arg;
    int i = *(const int *)px, j = *(const int *)py;
    const struct model_change *x = row_change(c, i), *y = row_change(c, j);
    double a, b;
    switch (c->key) {
    case 0:
        a = x->delta, b = y->delta;
        break;
    case 1:
        a = -x->delta, b = -y->delta;
        break;
    case 2:
        a = x->after, b = y->after;
        break;
    default:
        a = x->before, b = y->before;
        break;
    }
    if (a != b)
        return a > b ? -1 : 1;
    return (i > j) - (i < j);
}

/* The rows whose change passes want (0 grown, 1 shrunk), sorted; returns how many. */
static int rank_rows(const struct model_change *base, size_t stride, int n, int want,
                     double min_change, int *out)
{
    struct rank_ctx c = { base, stride, want };
    int k = 0;

    for (int i = 0; i < n; i++) {
        const struct model_change *ch = row_change(&c, i);
        if (want == 0 ? ch->delta > 0 && ch->delta >= min_change
                      : ch->delta < 0 && -ch->delta >= min_change)
            out[k++] = i;
    }
    qsort_r(out, (size_t)k, sizeof(*out), cmp_rank, &c);
    return k;
}

static void evaluate_budgets(struct diff_impl *di)
{
    for (int i = 0; i < di->d.n_budgets; i++) {
        struct model_budget *b = &di->budgets[i];
        const struct model_change *t = &di->d.totals[b->metric];
        bool over = b->percent >= 0 || b->amount >= 0;
        if (b->percent >= 0)
            over = over && t->delta > 0 && t->delta > t->before * b->percent / 100;
        if (b->amount >= 0)
            over = over && t->delta > b->amount;
        b->within_noise = over && t->delta <= t->noise;
        b->breached = over && !b->within_noise;
        di->d.n_breached += b->breached;
    }
}

static int build(struct diff_impl *di, struct side *b, struct side *a,
                 const struct diff_options *opt)
{
    struct model_diff *d = &di->d;
    int nb = b->m->n_sites, na = a->m->n_sites, n = 0;

    di->sites = malloc((size_t)(nb + na + 1) * sizeof(*di->sites));
    if (di->sites == NULL)
        return -ENOMEM;
    for (int i = 0; i < nb + na; i++) {
        bool from_base = i < nb;
        int j = from_base ? i : i - nb;
        if (!from_base && a->match[j] >= 0)
            continue;
        struct model_diff_site *s = &di->sites[n++];
        int other = from_base ? b->match[j] : -1;
        memset(s, 0, sizeof(*s));
        s->before = from_base ? &b->m->sites[j] : NULL;
        s->after = from_base ? (other >= 0 ? &a->m->sites[other] : NULL) : &a->m->sites[j];
        if (s->before == NULL) {
            s->match = MODEL_MATCH_NEW;
            d->n_new++;
        } else if (s->after == NULL) {
            s->match = MODEL_MATCH_VANISHED;
            d->n_vanished++;
        } else if (b->exact[j] == a->exact[other] && sites_equal(b, j, a, other, false)) {
            s->match = MODEL_MATCH_EXACT;
            d->n_exact++;
        } else {
            s->match = MODEL_MATCH_FUNCTION;
            d->n_function++;
        }
        bool changed = s->match == MODEL_MATCH_NEW || s->match == MODEL_MATCH_VANISHED;
        for (int k = 0; k < MODEL_N_METRICS; k++) {
            double vb = s->before ? diff_site_value(b->m, s->before, (enum model_metric)k) : 0;
            double va = s->after ? diff_site_value(a->m, s->after, (enum model_metric)k) : 0;
            double var =
                (s->before ? b->var[j][k] : 0) + (s->after ? a->var[from_base ? other : j][k] : 0);
            change_set(&s->m[k], vb, va, var);
            changed = changed || s->m[k].delta != 0;
        }
        d->n_changed += changed;
    }
    d->n_sites = n;
    d->sites = di->sites;

    for (int k = 0; k < MODEL_N_METRICS; k++) {
        double vb = 0, va = 0;
        for (int i = 0; i < nb; i++)
            vb += b->var[i][k];
        for (int j = 0; j < na; j++)
            va += a->var[j][k];
        change_set(&d->totals[k], total_value(b->m, (enum model_metric)k),
                   total_value(a->m, (enum model_metric)k), vb + va);
    }
    if (build_functions(di, b, a) < 0)
        return -ENOMEM;

    int nf = d->n_functions;
    di->lists = malloc((size_t)(4 * n + 2 * nf + 1) * sizeof(*di->lists));
    if (di->lists == NULL)
        return -ENOMEM;
    int *grown = di->lists, *shrunk = grown + n, *fresh = shrunk + n, *gone = fresh + n;
    int *fgrown = gone + n, *fshrunk = fgrown + nf;
    const struct model_change *sc = &di->sites[0].m[opt->metric];
    const struct model_change *fc = &di->functions[0].m[opt->metric];
    d->n_grown = rank_rows(sc, sizeof(*di->sites), n, 0, opt->min_change, grown);
    d->n_shrunk = rank_rows(sc, sizeof(*di->sites), n, 1, opt->min_change, shrunk);
    d->n_functions_grown = rank_rows(fc, sizeof(*di->functions), nf, 0, opt->min_change, fgrown);
    d->n_functions_shrunk = rank_rows(fc, sizeof(*di->functions), nf, 1, opt->min_change, fshrunk);
    for (int i = 0; i < n; i++) {
        const struct model_change *c = &di->sites[i].m[opt->metric];
        if (di->sites[i].match == MODEL_MATCH_NEW && fabs(c->delta) >= opt->min_change)
            fresh[d->n_new_listed++] = i;
        if (di->sites[i].match == MODEL_MATCH_VANISHED && fabs(c->delta) >= opt->min_change)
            gone[d->n_vanished_listed++] = i;
    }
    struct rank_ctx rc = { sc, sizeof(*di->sites), 2 };
    qsort_r(fresh, (size_t)d->n_new_listed, sizeof(*fresh), cmp_rank, &rc);
    rc.key = 3;
    qsort_r(gone, (size_t)d->n_vanished_listed, sizeof(*gone), cmp_rank, &rc);
    d->grown = grown;
    d->shrunk = shrunk;
    d->new_sites = fresh;
    d->vanished_sites = gone;
    d->functions_grown = fgrown;
    d->functions_shrunk = fshrunk;
    return 0;
}

void diff_free(struct model_diff *d)
{
    struct diff_impl *di = (struct diff_impl *)d;

    if (di == NULL)
        return;
    free(di->sites);
    free(di->functions);
    free(di->budgets);
    free(di->lists);
    free(di);
}

struct model_diff *diff_new(const struct model *before, const struct model *after,
                            const struct diff_options *opt)
{
    struct diff_impl *di = calloc(1, sizeof(*di));
    struct side b, a;
    int err = -ENOMEM;

    side_prepare(&b);
    side_prepare(&a);
    if (di == NULL)
        goto out;
    di->d.before = before;
    di->d.after = after;
    di->d.metric = opt->metric;
    di->d.min_change = opt->min_change;
    di->d.sampled = before->totals.sampled || after->totals.sampled;
    di->budgets = calloc((size_t)opt->n_budgets + 1, sizeof(*di->budgets));
    if (di->budgets == NULL)
        goto out;
    if (opt->n_budgets > 0)
        memcpy(di->budgets, opt->budgets, (size_t)opt->n_budgets * sizeof(*di->budgets));
    di->d.n_budgets = opt->n_budgets;
    di->d.budgets = di->budgets;
    if (side_init(&b, before) == 0 && side_init(&a, after) == 0 && match_exact(&b, &a) == 0 &&
        match_by_function(&b, &a) == 0 && build(di, &b, &a, opt) == 0)
        err = 0;
out:
    side_fini(&b);
    side_fini(&a);
    if (err == 0) {
        evaluate_budgets(di);
        return &di->d;
    }
    diff_free(di != NULL ? &di->d : NULL);
    return NULL;
}
