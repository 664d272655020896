/* flame.c - see flame.h. The tree, its data for the page, the page, and the SVG. */
#include "viz/flame.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"
#include "viz/fmt.h"
#include "viz/web.h"

/* ---- metrics and kinds ---- */

static const char *const metric_names[FLAME_N_METRICS] = { "peak", "leaked", "allocations",
                                                           "temporary", "allocated" };
/* What each measures, as the page's switch and the tooltip say it. */
static const char *const metric_labels[FLAME_N_METRICS] = {
    "bytes live at the peak", "bytes leaked (live at the end)", "allocation calls",
    "temporary allocations", "bytes allocated in all"
};

const char *flame_metric_name(enum flame_metric m)
{
    return (unsigned)m < FLAME_N_METRICS ? metric_names[m] : NULL;
}

bool flame_parse_metric(const char *name, enum flame_metric *out)
{
    for (int i = 0; i < FLAME_N_METRICS; i++)
        if (!strcmp(name, metric_names[i])) {
            *out = (enum flame_metric)i;
            return true;
        }
    return false;
}

const char *flame_metric_list(void)
{
    return "peak|leaked|allocations|temporary|allocated";
}

bool flame_metric_bytes(enum flame_metric m)
{
    return m == FLAME_PEAK || m == FLAME_LEAKED || m == FLAME_ALLOCATED;
}

double flame_site_value(const struct model_site *s, enum flame_metric m)
{
    switch (m) {
    case FLAME_PEAK:
        return s->st.peak_live_bytes;
    case FLAME_LEAKED:
        return s->st.leaked_bytes;
    case FLAME_ALLOCATIONS:
        return s->st.allocations;
    case FLAME_TEMPORARY:
        return s->st.temporary_allocations;
    case FLAME_ALLOCATED:
        return s->st.allocated_bytes;
    default:
        return 0;
    }
}

static const char *base_name(const char *path)
{
    const char *s = path != NULL ? strrchr(path, '/') : NULL;
    return s != NULL ? s + 1 : path != NULL ? path : "";
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Interpreters whose frames are the runtime of another language's code. */
static bool is_interpreter(const char *name)
{
    static const char *const names[] = { "python",  "libpython", "node",    "libnode", "ruby",
                                         "libruby", "perl",      "libperl", "libjvm",  "java",
                                         "lua",     "libluajit", "liblua",  "php",     "libphp" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (starts(name, names[i]))
            return true;
    return false;
}

static bool is_runtime(const char *name)
{
    static const char *const names[] = { "libc.so",     "libc-",       "libstdc++",  "libgcc_s",
                                         "libm.so",     "libm-",       "ld-linux",   "ld-musl",
                                         "libpthread",  "libdl.so",    "librt.so",   "libc++",
                                         "libjemalloc", "libtcmalloc", "libheapspan" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (starts(name, names[i]))
            return true;
    return false;
}

enum flame_kind flame_frame_kind(const struct model *m, const struct model_frame *f)
{
    const char *mod = f->module;

    if (mod == NULL || *mod == '\0')
        return FLAME_KIND_UNKNOWN;
    if (is_interpreter(mod))
        return FLAME_KIND_INTERPRETER;
    const char *exe = base_name(m->process.exe);
    if ((*exe != '\0' && !strcmp(mod, exe)) ||
        (f->module_path != NULL && m->process.exe[0] != '\0' &&
         !strcmp(f->module_path, m->process.exe)))
        return FLAME_KIND_PROGRAM;
    if (is_runtime(mod))
        return FLAME_KIND_RUNTIME;
    return FLAME_KIND_LIBRARY;
}

/* ---- the tree ---- */

#define NV          (FLAME_N_METRICS + 1) /* the metrics, then leaked blocks */
#define NV_LEAKED_N FLAME_N_METRICS
#define KIND_MERGED 5 /* the page's kind of a "(smaller frames)" node */

/* A frame as the tree merges them: by function and module, or module and offset. */
struct tframe {
    const char *fn;  /* NULL: unknown, keyed by offset */
    const char *mod; /* the module's name, cut after ".so" (no version); "" for the program */
    size_t modlen;
    uint64_t off; /* when fn is NULL */
    bool inl;
    int id;
};

struct tframe_info {
    const struct model_frame *f;
    int kind;
    int out; /* index in the page's frame table, -1 until written */
};

struct tkid {
    int parent, frame, node;
};

struct tptr {
    const struct model_frame *f;
    const struct model *m;
    int id;
};

struct tnode {
    int frame; /* -1: the root */
    int first, last, next;
    double v[NV], b[NV]; /* NEW's (or the one model's), BASE's */
};

struct ftree {
    struct hmap frame_ids; /* of struct tframe */
    struct hmap ptr_ids;   /* of struct tptr: a model's frame -> its id, the fast path */
    struct tframe_info *frames;
    int n_frames, cap_frames;
    struct hmap kids; /* of struct tkid */
    struct tnode *nodes;
    int n_nodes, cap_nodes;
    bool inverted;
    bool diff;
};

static bool tframe_eq(const void *entry, const void *key)
{
    const struct tframe *a = entry, *b = key;
    if (a->inl != b->inl || a->modlen != b->modlen || strncmp(a->mod, b->mod, a->modlen) != 0)
        return false;
    if (a->fn == NULL || b->fn == NULL)
        return a->fn == b->fn && a->off == b->off;
    return !strcmp(a->fn, b->fn);
}

static bool tptr_eq(const void *entry, const void *key)
{
    const struct tptr *a = entry, *b = key;
    return a->f == b->f && a->m == b->m;
}

static bool tkid_eq(const void *entry, const void *key)
{
    const struct tkid *a = entry, *b = key;
    return a->parent == b->parent && a->frame == b->frame;
}

static int tree_add_node(struct ftree *t, int parent, int frame)
{
    if (t->n_nodes == t->cap_nodes) {
        int cap = t->cap_nodes ? 2 * t->cap_nodes : 1024;
        struct tnode *n = realloc(t->nodes, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        t->nodes = n;
        t->cap_nodes = cap;
    }
    int id = t->n_nodes++;
    struct tnode *n = &t->nodes[id];
    memset(n, 0, sizeof(*n));
    n->frame = frame;
    n->first = n->last = n->next = -1;
    if (parent >= 0) {
        struct tnode *p = &t->nodes[parent];
        if (p->last >= 0)
            t->nodes[p->last].next = id;
        else
            p->first = id;
        p->last = id;
    }
    return id;
}

static int tree_init(struct ftree *t, bool inverted, bool diff)
{
    memset(t, 0, sizeof(*t));
    hmap_init(&t->frame_ids, sizeof(struct tframe));
    hmap_init(&t->ptr_ids, sizeof(struct tptr));
    hmap_init(&t->kids, sizeof(struct tkid));
    t->inverted = inverted;
    t->diff = diff;
    return tree_add_node(t, -1, -1);
}

static void tree_fini(struct ftree *t)
{
    hmap_fini(&t->frame_ids);
    hmap_fini(&t->ptr_ids);
    hmap_fini(&t->kids);
    free(t->frames);
    free(t->nodes);
}

/* The module as frames of two builds share it: the program by its role, a shared
 * object without its version. */
static void module_key(const struct model_frame *f, int kind, const char **mod, size_t *len)
{
    if (kind == FLAME_KIND_PROGRAM) {
        *mod = "";
        *len = 0;
        return;
    }
    *mod = f->module != NULL ? f->module : "";
    const char *so = strstr(*mod, ".so");
    *len = so != NULL ? (size_t)(so + 3 - *mod) : strlen(*mod);
}

static int frame_id(struct ftree *t, const struct model *m, const struct model_frame *f)
{
    struct tptr pk = { f, m, 0 };
    uint64_t ph = (uint64_t)(uintptr_t)f ^ ((uint64_t)(uintptr_t)m << 1);
    bool added;
    struct tptr *pe = hmap_put(&t->ptr_ids, ph, &pk, tptr_eq, &added);
    if (pe == NULL)
        return -ENOMEM;
    if (!added)
        return pe->id;
    pe->f = f;
    pe->m = m;

    int kind = (int)flame_frame_kind(m, f);
    struct tframe k = { .fn = f->function, .off = f->module_offset, .inl = f->inlined };
    module_key(f, kind, &k.mod, &k.modlen);
    uint64_t h = f->function != NULL ? hmap_hash_str(f->function) : f->module_offset;
    for (size_t i = 0; i < k.modlen; i++)
        h = (h ^ (uint8_t)k.mod[i]) * 1099511628211ull;
    h ^= k.inl;
    struct tframe *e = hmap_put(&t->frame_ids, h, &k, tframe_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (added) {
        if (t->n_frames == t->cap_frames) {
            int cap = t->cap_frames ? 2 * t->cap_frames : 256;
            struct tframe_info *fi = realloc(t->frames, (size_t)cap * sizeof(*fi));
            if (fi == NULL)
                return -ENOMEM;
            t->frames = fi;
            t->cap_frames = cap;
        }
        *e = k;
        e->id = t->n_frames;
        t->frames[t->n_frames++] = (struct tframe_info){ f, kind, -1 };
    }
    pe->id = e->id; /* pe is another map's entry: frame_ids growing left it in place */
    return e->id;
}

static int child_of(struct ftree *t, int parent, int frame)
{
    struct tkid k = { parent, frame, 0 };
    uint64_t h = ((uint64_t)(uint32_t)parent << 32) ^ (uint32_t)frame;
    bool added;
    struct tkid *e = hmap_put(&t->kids, h, &k, tkid_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (!added)
        return e->node;
    *e = k;
    int id = tree_add_node(t, parent, frame);
    if (id < 0)
        return id;
    e = hmap_get(&t->kids, h, &k, tkid_eq);
    e->node = id;
    return id;
}

static void values_of(const struct model_site *s, double v[NV])
{
    for (int k = 0; k < FLAME_N_METRICS; k++)
        v[k] = flame_site_value(s, (enum flame_metric)k);
    v[NV_LEAKED_N] = s->st.leaked_allocations;
}

/* One model's sites into the tree: into v, or b for BASE's. */
static int tree_add_model(struct ftree *t, const struct model *m, bool base)
{
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        double v[NV];
        bool any = false;

        values_of(s, v);
        for (int k = 0; k < NV; k++)
            any |= v[k] != 0;
        if (!any)
            continue;
        int node = 0;
        for (int j = 0; j < s->n_frames; j++) {
            double *dst = base ? t->nodes[node].b : t->nodes[node].v;
            for (int k = 0; k < NV; k++)
                dst[k] += v[k];
            const struct model_frame *f = s->frames[t->inverted ? j : s->n_frames - 1 - j];
            int fid = frame_id(t, m, f);
            if (fid < 0)
                return fid;
            if ((node = child_of(t, node, fid)) < 0)
                return node;
        }
        double *dst = base ? t->nodes[node].b : t->nodes[node].v;
        for (int k = 0; k < NV; k++)
            dst[k] += v[k];
    }
    return 0;
}

static int tree_build(struct ftree *t, const struct model *before, const struct model *after,
                      bool inverted)
{
    int err = tree_init(t, inverted, before != NULL);
    if (err < 0)
        return err;
    if ((err = tree_add_model(t, after, false)) < 0)
        return err;
    if (before != NULL && (err = tree_add_model(t, before, true)) < 0)
        return err;
    return 0;
}

/* Whether a node is wide enough in some metric of NEW to be drawn. */
static bool wide_enough(const struct ftree *t, const struct tnode *n, double frac)
{
    const struct tnode *root = &t->nodes[0];
    for (int k = 0; k < FLAME_N_METRICS; k++)
        if (root->v[k] > 0 && n->v[k] >= frac * root->v[k])
            return true;
    return false;
}

/* ---- the page's data ---- */

/* The nodes as the page gets them: preorder, each with its depth. */
struct emitted {
    int *depth, *frame; /* frame: an index in the page's frame table */
    double *v, *b;      /* NV per node */
    int n, cap;
    /* The page's frames: tree frame ids, 0 being "(smaller frames)" (-1). */
    int *frames;
    int n_frames, cap_frames;
};

static int emit_node(struct emitted *e, struct ftree *t, int depth, int tframe, const double *v,
                     const double *b)
{
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 4096;
        int *d = realloc(e->depth, (size_t)cap * sizeof(int));
        if (d == NULL)
            return -ENOMEM;
        e->depth = d;
        int *f = realloc(e->frame, (size_t)cap * sizeof(int));
        if (f == NULL)
            return -ENOMEM;
        e->frame = f;
        double *vv = realloc(e->v, (size_t)cap * NV * sizeof(double));
        if (vv == NULL)
            return -ENOMEM;
        e->v = vv;
        double *bb = realloc(e->b, (size_t)cap * NV * sizeof(double));
        if (bb == NULL)
            return -ENOMEM;
        e->b = bb;
        e->cap = cap;
    }
    int out = 0;
    if (tframe >= 0) {
        struct tframe_info *fi = &t->frames[tframe];
        if (fi->out < 0) {
            if (e->n_frames == e->cap_frames) {
                int cap = e->cap_frames ? 2 * e->cap_frames : 1024;
                int *fr = realloc(e->frames, (size_t)cap * sizeof(int));
                if (fr == NULL)
                    return -ENOMEM;
                e->frames = fr;
                e->cap_frames = cap;
            }
            fi->out = e->n_frames;
            e->frames[e->n_frames++] = tframe;
        }
        out = fi->out;
    } else if (depth > 0) {
        out = 0; /* "(smaller frames)" */
    }
    e->depth[e->n] = depth;
    e->frame[e->n] = out;
    memcpy(e->v + (size_t)e->n * NV, v, NV * sizeof(double));
    memcpy(e->b + (size_t)e->n * NV, b, NV * sizeof(double));
    e->n++;
    return 0;
}

static void emitted_fini(struct emitted *e)
{
    free(e->depth);
    free(e->frame);
    free(e->v);
    free(e->b);
    free(e->frames);
}

/* Preorder from the root, each node with its own values (less its children's); each
 * node's children narrower than frac of every total go into one "(smaller frames)"
 * child, which has none of its own. */
static int emit_tree(struct emitted *e, struct ftree *t, double frac)
{
    struct item {
        int node, depth;
    } *stack = NULL;
    int n_stack = 0, cap_stack = 0, err = 0;

    e->n_frames = 1; /* frame 0 */
    e->cap_frames = 1024;
    e->frames = malloc((size_t)e->cap_frames * sizeof(int));
    if (e->frames == NULL)
        return -ENOMEM;
    e->frames[0] = -1;

#define PUSH(nd, dp)                                                           \
    do {                                                                       \
        if (n_stack == cap_stack) {                                            \
            cap_stack = cap_stack ? 2 * cap_stack : 256;                       \
            struct item *s2 = realloc(stack, (size_t)cap_stack * sizeof(*s2)); \
            if (s2 == NULL) {                                                  \
                err = -ENOMEM;                                                 \
                goto out;                                                      \
            }                                                                  \
            stack = s2;                                                        \
        }                                                                      \
        stack[n_stack++] = (struct item){ (nd), (dp) };                        \
    } while (0)

    PUSH(0, 0);
    while (n_stack > 0) {
        struct item it = stack[--n_stack];
        const struct tnode *n = &t->nodes[it.node];
        /* What the node holds itself: the page adds its children's back. */
        double own_v[NV], own_b[NV];
        memcpy(own_v, n->v, sizeof(own_v));
        memcpy(own_b, n->b, sizeof(own_b));
        for (int c = n->first; c >= 0; c = t->nodes[c].next)
            for (int k = 0; k < NV; k++) {
                own_v[k] -= t->nodes[c].v[k];
                own_b[k] -= t->nodes[c].b[k];
            }
        if ((err = emit_node(e, t, it.depth, n->frame, own_v, own_b)) < 0)
            goto out;
        double sv[NV] = { 0 }, sb[NV] = { 0 };
        bool small = false;
        int first_kept = n_stack;
        for (int c = n->first; c >= 0; c = t->nodes[c].next) {
            const struct tnode *cn = &t->nodes[c];
            if (wide_enough(t, cn, frac)) {
                PUSH(c, it.depth + 1);
                continue;
            }
            small = true;
            for (int k = 0; k < NV; k++) {
                sv[k] += cn->v[k];
                sb[k] += cn->b[k];
            }
        }
        /* Children come off the stack in the order they were found. */
        for (int i = first_kept, j = n_stack - 1; i < j; i++, j--) {
            struct item tmp = stack[i];
            stack[i] = stack[j];
            stack[j] = tmp;
        }
        if (small && (err = emit_node(e, t, it.depth + 1, -1, sv, sb)) < 0)
            goto out;
    }
#undef PUSH
out:
    free(stack);
    return err;
}

/* The string table: each distinct string once. */
struct strtab {
    struct hmap ids; /* of struct strent */
    const char **s;
    int n, cap;
};

struct strent {
    const char *s;
    int id;
};

static bool strent_eq(const void *entry, const void *key)
{
    return !strcmp(((const struct strent *)entry)->s, (const char *)key);
}

static int str_id(struct strtab *st, const char *s)
{
    bool added;
    if (s == NULL)
        return -1;
    struct strent *e = hmap_put(&st->ids, hmap_hash_str(s), s, strent_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (added) {
        if (st->n == st->cap) {
            int cap = st->cap ? 2 * st->cap : 1024;
            const char **ns = realloc(st->s, (size_t)cap * sizeof(*ns));
            if (ns == NULL)
                return -ENOMEM;
            st->s = ns;
            st->cap = cap;
        }
        e->s = s;
        e->id = st->n;
        st->s[st->n++] = s;
    }
    return e->id;
}

/* A number in base 36, as the page's arrays carry them (parseInt(s, 36)); nothing for
 * 0, so that the many zeros cost one comma each. */
static void put_b36(FILE *o, uint64_t v)
{
    char buf[16];
    int n = 0;
    while (v > 0) {
        int d = (int)(v % 36);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= 36;
    }
    while (n > 0)
        fputc(buf[--n], o);
}

static void write_int_array(FILE *o, const int *a, int n)
{
    fputc('[', o);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', o);
        fprintf(o, "%d", a[i]);
    }
    fputc(']', o);
}

/* An array of non-negative integers as one string: base 36, comma-separated. */
static void write_b36_ints(FILE *o, const int *a, int n)
{
    fputc('"', o);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', o);
        put_b36(o, a[i] > 0 ? (uint64_t)a[i] : 0);
    }
    fputc('"', o);
}

/* Column k of the node values (NV per node), rounded, likewise. */
static void write_b36_values(FILE *o, const double *v, int n, int k)
{
    fputc('"', o);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', o);
        double x = round(v[(size_t)i * NV + k]);
        put_b36(o, x > 0 && x < 9e15 ? (uint64_t)x : 0);
    }
    fputc('"', o);
}

static const char *model_exe(const struct model *m)
{
    return m->process.exe[0] != '\0' ? m->process.exe : "(unknown program)";
}

/* The page's header lines about a model: the program, where the model stands. */
static void write_process(FILE *o, const struct model *m)
{
    char pt[128];
    fputc('{', o);
    fputs("\"exe\":", o);
    web_json_str(o, model_exe(m));
    fprintf(o, ",\"pid\":%" PRIu32 ",\"log\":", m->process.pid);
    web_json_str(o,
                 m->process.snapshot_path != NULL ? m->process.snapshot_path : m->process.log_path);
    fputs(",\"point\":", o);
    web_json_str(o, fmt_point(pt, sizeof(pt), &m->process.point));
    fprintf(o, ",\"sampled\":%s,\"sampleBytes\":%" PRIu64 "}", m->totals.sampled ? "true" : "false",
            m->process.sample_bytes);
}

/* The data a graph draws from (docs/flame.md, "The embedded data"), as one JSON object. */
static int write_data(FILE *o, const struct model *before, const struct model *after,
                      const struct flame_options *opt)
{
    struct ftree t;
    struct emitted e = { 0 };
    struct strtab st = { 0 };
    double frac = opt->min_fraction > 0 ? opt->min_fraction : FLAME_MIN_FRACTION;
    int err;
    int *fn = NULL, *file = NULL, *line = NULL, *mod = NULL, *kind = NULL, *inl = NULL;

    hmap_init(&st.ids, sizeof(struct strent));
    /* The page inverts the tree itself: it always gets the callers-first one. */
    if ((err = tree_build(&t, before, after, false)) < 0)
        goto out;
    if ((err = emit_tree(&e, &t, frac)) < 0)
        goto out;
    fn = calloc((size_t)e.n_frames, sizeof(int));
    file = calloc((size_t)e.n_frames, sizeof(int));
    line = calloc((size_t)e.n_frames, sizeof(int));
    mod = calloc((size_t)e.n_frames, sizeof(int));
    kind = calloc((size_t)e.n_frames, sizeof(int));
    inl = calloc((size_t)e.n_frames, sizeof(int));
    if (fn == NULL || file == NULL || line == NULL || mod == NULL || kind == NULL || inl == NULL) {
        err = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < e.n_frames; i++) {
        if (e.frames[i] < 0) {
            if ((fn[i] = str_id(&st, "(smaller frames)")) < -1)
                goto nomem;
            file[i] = mod[i] = -1;
            kind[i] = KIND_MERGED;
            continue;
        }
        const struct tframe_info *fi = &t.frames[e.frames[i]];
        const struct model_frame *f = fi->f;
        /* An unknown function's name (module+offset) is written in place of its
         * index, as a string: the table keeps pointers, and this one is made here. */
        if (f->function == NULL) {
            fn[i] = -2;
        } else if ((fn[i] = str_id(&st, f->function)) < -1) {
            goto nomem;
        }
        if ((file[i] = str_id(&st, f->file)) < -1 || (mod[i] = str_id(&st, f->module)) < -1)
            goto nomem;
        line[i] = f->line;
        kind[i] = fi->kind;
        inl[i] = f->inlined;
    }

    fputs("{\"version\":1,\"title\":", o);
    web_json_str(o, opt->title);
    fprintf(o, ",\"diff\":%s,\"inverted\":%s,\"icicle\":%s,\"metric\":%d,\"minFraction\":%g",
            before != NULL ? "true" : "false", opt->inverted ? "true" : "false",
            opt->icicle ? "true" : "false", (int)opt->metric, frac);
    fputs(",\"process\":", o);
    write_process(o, after);
    if (before != NULL) {
        fputs(",\"baseProcess\":", o);
        write_process(o, before);
    }
    fputs(",\"metrics\":[", o);
    for (int k = 0; k < FLAME_N_METRICS; k++) {
        fprintf(o, "%s{\"name\":\"%s\",\"label\":\"%s\",\"bytes\":%s,\"total\":", k ? "," : "",
                metric_names[k], metric_labels[k],
                flame_metric_bytes((enum flame_metric)k) ? "true" : "false");
        web_num(o, round(t.nodes[0].v[k]));
        if (before != NULL) {
            fputs(",\"baseTotal\":", o);
            web_num(o, round(t.nodes[0].b[k]));
        }
        fputc('}', o);
    }
    fputs("],\"strings\":[", o);
    for (int i = 0; i < st.n; i++) {
        if (i)
            fputc(',', o);
        web_json_str(o, st.s[i]);
    }
    fputs("],\"frames\":{\"fn\":[", o);
    for (int i = 0; i < e.n_frames; i++) {
        if (i)
            fputc(',', o);
        if (fn[i] >= -1) {
            fprintf(o, "%d", fn[i]);
        } else { /* an unknown function: its name inline, as a string */
            const struct model_frame *f = t.frames[e.frames[i]].f;
            char unknown[256];
            snprintf(unknown, sizeof(unknown), "%s+0x%" PRIx64, f->module ? f->module : "?",
                     f->module_offset);
            web_json_str(o, unknown);
        }
    }
    fputs("],\"file\":", o);
    write_int_array(o, file, e.n_frames);
    fputs(",\"line\":", o);
    write_int_array(o, line, e.n_frames);
    fputs(",\"mod\":", o);
    write_int_array(o, mod, e.n_frames);
    fputs(",\"kind\":", o);
    write_int_array(o, kind, e.n_frames);
    fputs(",\"inl\":", o);
    write_int_array(o, inl, e.n_frames);
    fprintf(o, "},\"nodes\":{\"n\":%d,\"depth\":", e.n);
    write_b36_ints(o, e.depth, e.n);
    fputs(",\"frame\":", o);
    write_b36_ints(o, e.frame, e.n);
    fputs(",\"self\":[", o);
    for (int k = 0; k < NV; k++) {
        if (k)
            fputc(',', o);
        write_b36_values(o, e.v, e.n, k);
    }
    fputc(']', o);
    if (before != NULL) {
        fputs(",\"baseSelf\":[", o);
        for (int k = 0; k < NV; k++) {
            if (k)
                fputc(',', o);
            write_b36_values(o, e.b, e.n, k);
        }
        fputc(']', o);
    }
    fputs("}}", o);
    goto out;
nomem:
    err = -ENOMEM;
out:
    free(fn);
    free(file);
    free(line);
    free(mod);
    free(kind);
    free(inl);
    free(st.s);
    hmap_fini(&st.ids);
    emitted_fini(&e);
    tree_fini(&t);
    return err;
}

/* ---- the page ---- */

static void default_title(char *buf, size_t cap, const struct model *before,
                          const struct model *after, const struct flame_options *o)
{
    if (o->title != NULL)
        snprintf(buf, cap, "%s", o->title);
    else if (before != NULL)
        snprintf(buf, cap, "heapspan differential flame graph: %s", base_name(model_exe(after)));
    else
        snprintf(buf, cap, "heapspan flame graph: %s", base_name(model_exe(after)));
}

void flame_write_style(FILE *out)
{
    fputs("<style>\n", out);
    fputs(web_flame_css, out);
    fputs("</style>\n", out);
}

int flame_write_widget(FILE *out, const char *id, const struct model *before,
                       const struct model *after, const struct flame_options *o, bool with_script)
{
    char title[512];
    struct flame_options opt = *o;
    int err;

    default_title(title, sizeof(title), before, after, o);
    opt.title = title;
    fprintf(out, "<div class=\"hs-flame\" id=\"%s\"></div>\n", id);
    fprintf(out, "<script type=\"application/json\" id=\"%s-data\">", id);
    if ((err = write_data(out, before, after, &opt)) < 0)
        return err;
    fputs("</script>\n", out);
    if (with_script) {
        fputs("<script>\n", out);
        fputs(web_flame_js, out);
        fputs("</script>\n", out);
    }
    fprintf(out,
            "<script>HeapspanFlame.mount(document.getElementById(\"%s\"), "
            "JSON.parse(document.getElementById(\"%s-data\").textContent));</script>\n",
            id, id);
    return 0;
}

/* Nothing but the page itself may be loaded: no network, whatever the data holds. */
#define PAGE_CSP                                                                  \
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; " \
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"

static int write_page(FILE *out, const struct model *before, const struct model *after,
                      const struct flame_options *o)
{
    char title[512];
    int err;

    default_title(title, sizeof(title), before, after, o);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", out);
    fputs(PAGE_CSP, out);
    fputs("<meta name=\"generator\" content=\"heapspan\">\n<title>", out);
    web_html(out, title);
    fputs("</title>\n", out);
    flame_write_style(out);
    fputs("</head>\n<body class=\"hs-flame-page\">\n", out);
    if ((err = flame_write_widget(out, "flame", before, after, o, true)) < 0)
        return err;
    fputs("</body>\n</html>\n", out);
    return ferror(out) ? -EIO : 0;
}

int flame_html(FILE *out, const struct model *m, const struct flame_options *o)
{
    return write_page(out, NULL, m, o);
}

int flame_diff_html(FILE *out, const struct model *before, const struct model *after,
                    const struct flame_options *o)
{
    return write_page(out, before, after, o);
}

/* ---- SVG: laid out here, static, a <title> per frame for its tooltip ---- */

#define SVG_WIDTH  1200.0
#define SVG_ROW    17.0
#define SVG_TOP    56.0 /* the title and legend */
#define SVG_MARGIN 10.0

struct svg_box {
    int node; /* -1: a merged block */
    double x, w;
    int depth;
    double merged_v, merged_b; /* a merged block's values */
    int merged_n;
};

struct svg_layout {
    struct svg_box *box;
    int n, cap;
    int max_depth;
};

static int svg_push(struct svg_layout *l, struct svg_box b)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 1024;
        struct svg_box *nb = realloc(l->box, (size_t)cap * sizeof(*nb));
        if (nb == NULL)
            return -ENOMEM;
        l->box = nb;
        l->cap = cap;
    }
    l->box[l->n++] = b;
    if (b.depth > l->max_depth)
        l->max_depth = b.depth;
    return 0;
}

struct kid_sort {
    int node;
    double v;
};

static int kid_cmp(const void *a, const void *b)
{
    const struct kid_sort *x = a, *y = b;
    return (x->v < y->v) - (x->v > y->v);
}

/* Children widest first, each at least a pixel wide; the narrower ones after them as
 * one merged block. */
static int svg_lay(struct svg_layout *l, const struct ftree *t, int metric, int node, double x,
                   double scale, int depth)
{
    const struct tnode *n = &t->nodes[node];
    int err, nk = 0;

    if ((err = svg_push(l, (struct svg_box){ node, x, n->v[metric] * scale, depth, 0, 0, 0 })) < 0)
        return err;
    for (int c = n->first; c >= 0; c = t->nodes[c].next)
        nk += t->nodes[c].v[metric] > 0;
    if (nk == 0)
        return 0;
    struct kid_sort *k = malloc((size_t)nk * sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    nk = 0;
    for (int c = n->first; c >= 0; c = t->nodes[c].next)
        if (t->nodes[c].v[metric] > 0)
            k[nk++] = (struct kid_sort){ c, t->nodes[c].v[metric] };
    qsort(k, (size_t)nk, sizeof(*k), kid_cmp);
    double cx = x;
    struct svg_box merged = { -1, 0, 0, depth + 1, 0, 0, 0 };
    for (int i = 0; i < nk && err == 0; i++) {
        double w = k[i].v * scale;
        if (w >= 1.0) {
            err = svg_lay(l, t, metric, k[i].node, cx, scale, depth + 1);
        } else {
            if (merged.merged_n == 0)
                merged.x = cx;
            merged.w += w;
            merged.merged_v += k[i].v;
            merged.merged_b += t->nodes[k[i].node].b[metric];
            merged.merged_n++;
        }
        cx += w;
    }
    free(k);
    if (err == 0 && merged.merged_n > 0 && merged.w >= 0.5)
        err = svg_push(l, merged);
    return err;
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (s != NULL && *s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* The colours the page uses (viz/assets/flame.js, colour()), in HSL. */
static void kind_colour(char *buf, size_t cap, int kind, const char *name)
{
    static const int hue[] = { 12, 205, 110, 280, 0, 0 }, spread[] = { 30, 30, 30, 24, 0, 0 };
    static const int sat[] = { 78, 55, 28, 45, 0, 0 }, light[] = { 62, 66, 64, 70, 75, 85 };
    uint32_t h = name_hash(name);
    int hh = hue[kind] + (spread[kind] ? (int)(h % (uint32_t)spread[kind]) : 0);
    int ll = light[kind] + (int)((h >> 8) % 8) - 4;
    snprintf(buf, cap, "hsl(%d,%d%%,%d%%)", hh, sat[kind], ll);
}

/* Red for growth, blue for shrink, by the share of the largest change. */
static void diff_colour(char *buf, size_t cap, double delta, double max_abs)
{
    double s = max_abs > 0 ? fabs(delta) / max_abs : 0;
    if (s > 1)
        s = 1;
    int light = (int)(95 - 45 * s);
    if (delta > 0)
        snprintf(buf, cap, "hsl(0,85%%,%d%%)", light);
    else if (delta < 0)
        snprintf(buf, cap, "hsl(215,85%%,%d%%)", light);
    else
        snprintf(buf, cap, "hsl(0,0%%,88%%)");
}

static void svg_value(FILE *o, double v, bool bytes)
{
    char buf[64];
    if (bytes)
        fprintf(o, "%s", fmt_bytes(buf, sizeof(buf), v));
    else
        fprintf(o, "%s", fmt_count(buf, sizeof(buf), v));
}

static int write_svg(FILE *o, const struct model *before, const struct model *after,
                     const struct flame_options *opt)
{
    struct ftree t;
    struct svg_layout l = { 0 };
    int metric = (int)opt->metric, err;
    bool bytes = flame_metric_bytes(opt->metric);
    char title[512], colour[64], name[512];

    default_title(title, sizeof(title), before, after, opt);
    if ((err = tree_build(&t, before, after, opt->inverted)) < 0)
        goto out;
    double total = t.nodes[0].v[metric];
    double scale = total > 0 ? (SVG_WIDTH - 2 * SVG_MARGIN) / total : 0;
    if (total > 0 && (err = svg_lay(&l, &t, metric, 0, SVG_MARGIN, scale, 0)) < 0)
        goto out;
    double max_abs = 0;
    for (int i = 0; before != NULL && i < l.n; i++)
        if (l.box[i].node >= 0) {
            const struct tnode *n = &t.nodes[l.box[i].node];
            double d = fabs(n->v[metric] - n->b[metric]);
            if (d > max_abs && l.box[i].node != 0)
                max_abs = d;
        }
    double height = SVG_TOP + (l.max_depth + 1) * SVG_ROW + 2 * SVG_MARGIN;
    fprintf(o,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"Verdana, sans-serif\" font-size=\"12\">\n",
            SVG_WIDTH, height, SVG_WIDTH, height);
    fputs("<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#fbfbf7\"/>\n", o);
    fprintf(o, "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">", SVG_WIDTH / 2);
    web_html(o, title);
    fputs("</text>\n", o);
    fprintf(o, "<text x=\"%.0f\" y=\"42\" text-anchor=\"middle\" fill=\"#555\">", SVG_WIDTH / 2);
    web_html(o, metric_labels[metric]);
    fputs(": ", o);
    svg_value(o, total, bytes);
    if (opt->inverted)
        fputs("; inverted: allocating functions at the root", o);
    if (before != NULL)
        fputs("; red grew, blue shrank since BASE, outlined frames are new", o);
    fputs("</text>\n", o);
    for (int i = 0; i < l.n; i++) {
        const struct svg_box *b = &l.box[i];
        double y = opt->icicle ? SVG_TOP + b->depth * SVG_ROW
                               : height - SVG_MARGIN - (b->depth + 1) * SVG_ROW;
        const struct tnode *n = b->node >= 0 ? &t.nodes[b->node] : NULL;
        const struct model_frame *f = n != NULL && n->frame >= 0 ? t.frames[n->frame].f : NULL;
        int kind = n == NULL   ? KIND_MERGED
                   : f == NULL ? FLAME_KIND_UNKNOWN
                               : t.frames[n->frame].kind;
        double v = n != NULL ? n->v[metric] : b->merged_v;
        double bv = n != NULL ? n->b[metric] : b->merged_b;
        bool is_new = before != NULL && n != NULL && n->frame >= 0 && bv == 0 && v > 0;

        if (n == NULL)
            snprintf(name, sizeof(name), "(%d smaller frames)", b->merged_n);
        else if (n->frame < 0)
            snprintf(name, sizeof(name), "all");
        else if (f->function != NULL)
            snprintf(name, sizeof(name), "%s", f->function);
        else
            snprintf(name, sizeof(name), "%s+0x%" PRIx64, f->module ? f->module : "?",
                     f->module_offset);
        if (before != NULL)
            diff_colour(colour, sizeof(colour), v - bv, max_abs);
        else
            kind_colour(colour, sizeof(colour), kind, name);
        fputs("<g><title>", o);
        web_html(o, name);
        if (f != NULL && f->inlined)
            fputs(" (inlined)", o);
        fputs("\n", o);
        if (f != NULL && f->file != NULL) {
            web_html(o, f->file);
            fprintf(o, ":%d\n", f->line);
        }
        if (f != NULL && f->module != NULL) {
            web_html(o, f->module);
            fputs("\n", o);
        }
        svg_value(o, v, bytes);
        fprintf(o, " (%.2f%%)", total > 0 ? 100 * v / total : 0);
        if (before != NULL) {
            fputs("; BASE ", o);
            svg_value(o, bv, bytes);
            fputs(is_new ? "; new" : "", o);
        }
        fprintf(o,
                "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" rx=\"2\" "
                "fill=\"%s\"%s/>",
                b->x, y, b->w, SVG_ROW - 1, colour,
                is_new ? " stroke=\"#000\" stroke-width=\"1.5\"" : "");
        size_t fit = b->w > 14 ? (size_t)((b->w - 6) / 7.2) : 0;
        if (fit >= 3) {
            size_t len = strlen(name);
            fprintf(o, "<text x=\"%.2f\" y=\"%.1f\"%s>", b->x + 3, y + SVG_ROW - 5,
                    f != NULL && f->inlined ? " font-style=\"italic\"" : "");
            if (len > fit) { /* cut at a character's start, then the ellipsis */
                size_t cut = fit - 2;
                while (cut > 0 && ((unsigned char)name[cut] & 0xc0) == 0x80)
                    cut--;
                name[cut] = '\0';
                web_html(o, name);
                fputs("..", o);
            } else {
                web_html(o, name);
            }
            fputs("</text>", o);
        }
        fputs("</g>\n", o);
    }
    fputs("</svg>\n", o);
    err = ferror(o) ? -EIO : 0;
out:
    free(l.box);
    tree_fini(&t);
    return err;
}

int flame_svg(FILE *out, const struct model *m, const struct flame_options *o)
{
    return write_svg(out, NULL, m, o);
}

int flame_diff_svg(FILE *out, const struct model *before, const struct model *after,
                   const struct flame_options *o)
{
    return write_svg(out, before, after, o);
}
