/* aggregate.c - see aggregate.h. */
#include "analyzer/aggregate.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/pyline.h"
#include "analyzer/wrappers.h"
#include "format/logfmt.h"
#include "util/hashmap.h"

#define BLOAT_MIN_BLOCKS 1000.0

/* Where a site allocates: the call into the allocator, for the struct lookup. */
struct site_origin {
    uint64_t first_pc;
    const struct rd_module *module; /* of first_pc; NULL if none held it */
};

/* A site as the stacks made it, whatever the point: its frames, and whose leaks. */
struct site_def {
    const struct model_frame **frames; /* innermost first */
    int n_frames;
    struct site_origin origin;
    enum model_leak_kind leak_kind;
    const char *leak_rule;
};

/* A frame's identity. A named frame is its function, file, line, module (its path,
 * else its file name) and whether it is inlined; an unnamed one its module and offset. */
struct fkey {
    const char *function, *file, *module;
    int line;
    bool inlined;
    uint64_t offset;
};

struct frame_entry {
    struct fkey k;
    int id;
};

/* A site's identity: its frame ids (owned). */
struct site_entry {
    int n;
    int *ids;
    int def;
};

/* A resolved pc's frame ids, keyed by (pc, module). */
struct pc_entry {
    uint64_t pc;
    const struct rd_module *m;
    int n, *ids;
};

/* A module's build-id in hex, made once. */
struct bid_entry {
    const struct rd_module *m;
    char *hex; /* NULL: the module has none */
};

struct agg_point {
    struct agg_totals tot;
    struct model_site *sites;
    const struct site_origin *origins; /* by site, as sites */
    int n_sites;
    struct model_group *funcs, *lines;
    int n_funcs, n_lines;
    struct model_bloat *bloats;
    int n_bloats;
};

struct agg {
    struct rd_header hdr;
    struct replay *rp;
    const struct sup_rules *rules;
    const struct wrap_rules *wrap;
    /* agg_finish's, kept for agg_point_new */
    struct rd_log *r;
    struct sym_cache *sym;

    /* frames, interned */
    struct hmap frame_ids;       /* of struct frame_entry */
    struct model_frame **frames; /* by id */
    bool *alloc_frame;           /* by id: an allocator wrapper's frame */
    int n_frames, cap_frames;
    struct hmap pcs;  /* of struct pc_entry */
    struct hmap bids; /* of struct bid_entry */

    /* sites */
    struct hmap site_ids; /* of struct site_entry */
    struct site_def *defs;
    int n_defs, cap_defs;
    int *def_of; /* by stack id: its site, -1 before it is known */
    uint32_t n_def_of;

    struct agg_point pt; /* at the replay's point, made by agg_finish */

    /* Python frames (format/logfmt.h, LF_PY_FRAME) */
    bool python_internals; /* keep the interpreter's own frames beside them */
    struct agg_python py;
};

struct agg *agg_new(const struct rd_header *h)
{
    struct agg *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->hdr = *h;
    hmap_init(&a->frame_ids, sizeof(struct frame_entry));
    hmap_init(&a->pcs, sizeof(struct pc_entry));
    hmap_init(&a->bids, sizeof(struct bid_entry));
    hmap_init(&a->site_ids, sizeof(struct site_entry));
    a->rp = rp_new(h, 0);
    if (a->rp == NULL) {
        agg_free(a);
        return NULL;
    }
    return a;
}

int agg_stop_at(struct agg *a, const struct rp_point *pt)
{
    return rp_stop_at(a->rp, pt);
}

void agg_set_rules(struct agg *a, const struct sup_rules *rules)
{
    a->rules = rules;
}

void agg_set_python_internals(struct agg *a, bool on)
{
    a->python_internals = on;
}

const struct agg_python *agg_python(const struct agg *a)
{
    return &a->py;
}

void agg_set_wrappers(struct agg *a, const struct wrap_rules *w)
{
    a->wrap = w;
}

int agg_feed(struct agg *a, const struct rd_item *it)
{
    int k = rp_feed(a->rp, it);
    return k < 0 ? k : 0;
}

const struct rp_where *agg_where(const struct agg *a)
{
    return rp_where(a->rp);
}

const struct rp_timeline *agg_timeline(const struct agg *a)
{
    return rp_timeline(a->rp);
}

uint64_t agg_usable_size(uint64_t size, bool jemalloc)
{
    return rp_usable_size(size, jemalloc);
}

/* ---- symbolizing and merging ---- */

/* Frames of allocator wrappers and the profiler: the site is their caller. */

/* A function of include/heapspan.h (heapspan_alloc, heapspan_pool_resize, ...,
 * heapspan__boot_alloc): a plain C name with that prefix, or the same declared in C++
 * (a parameter list follows) - never a name in a namespace or class of the program's
 * that merely starts so, such as heapspan_test::make_box. */
static bool api_frame(const char *fn)
{
    if (strncmp(fn, "heapspan_", 9) != 0)
        return false;
    size_t n = strcspn(fn, "(");
    return memchr(fn, ':', n) == NULL && memchr(fn, '<', n) == NULL;
}
static bool allocator_frame(const char *fn)
{
    static const char *const exact[] = {
        "malloc",
        "calloc",
        "realloc",
        "free",
        "operator new",
        "operator new[]",
        "__rust_alloc",
        "__rust_alloc_zeroed",
        "__rust_realloc",
        "__rdl_alloc",
        "__rdl_alloc_zeroed",
        "__rdl_realloc",
        "PyMem_RawMalloc",
        "PyMem_RawCalloc",
        "PyMem_RawRealloc",
        "PyMem_Malloc",
        "PyMem_Calloc",
        "PyMem_Realloc",
        "PyObject_Malloc",
        "PyObject_Calloc",
        "PyObject_Realloc",
        "_PyMem_RawMalloc",
        "_PyMem_RawCalloc",
        "_PyMem_RawRealloc",
        "_PyObject_Malloc",
        "_PyObject_Calloc",
        "_PyObject_Realloc",
        "_PyMem_DebugRawAlloc",
        "_PyMem_DebugRawMalloc",
        "_PyMem_DebugRawCalloc",
        "_PyMem_DebugRawRealloc",
        "_PyMem_DebugMalloc",
        "_PyMem_DebugCalloc",
        "_PyMem_DebugRealloc",
        "pymalloc_alloc",
    };
    static const char *const prefixes[] = {
        "operator new(",
        "operator new[](",
        "__libc_",
        "__gnu_cxx::new_allocator<",
        "std::__new_allocator<",
        "std::allocator_traits<",
        "std::allocator<",
        /* Rust's alloc crate (Box, Vec, String, RawVec, the global allocator): the
         * site is the code that asked it for memory. */
        "alloc::",
        "<alloc::",
        /* The Rust crate of bindings/rust: a block reported through it is the
         * caller's (include/heapspan.h's functions: api_frame below). */
        "<heapspan_alloc::",
        /* The allocator shim of rustc 1.7x and later, in the crate `__rustc`. */
        "__rustc::__rust_",
        "__rustc::__rdl_",
        "__rustc::__rg_",
    };
    if (fn == NULL)
        return false;
    if (api_frame(fn))
        return true;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strcmp(fn, exact[i]))
            return true;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(fn, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* ---- typed keys ---- */

static uint64_t hash_str0(const char *s)
{
    return s != NULL ? hmap_hash_str(s) : 0x6a09e667f3bcc909ull;
}

/* Folds v into h: every bit of v reaches every bit of the result's high half, which
 * the map's slot is taken from. */
static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static bool str_eq0(const char *x, const char *y)
{
    return x == y || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

static struct fkey key_of(const struct model_frame *f)
{
    const char *module = f->module_path != NULL ? f->module_path : f->module;
    if (f->function != NULL)
        return (struct fkey){ f->function, f->file, module, f->line, f->inlined, 0 };
    return (struct fkey){ NULL, NULL, module, 0, false, f->module_offset };
}

static uint64_t fkey_hash(const struct fkey *k)
{
    uint64_t h = hash_str0(k->function);
    h = mix(h, hash_str0(k->file));
    h = mix(h, hash_str0(k->module));
    h = mix(h, (uint64_t)(int64_t)k->line);
    h = mix(h, k->inlined);
    return mix(h, k->offset);
}

static bool fkey_eq(const struct fkey *x, const struct fkey *y)
{
    return x->line == y->line && x->inlined == y->inlined && x->offset == y->offset &&
           str_eq0(x->function, y->function) && str_eq0(x->file, y->file) &&
           str_eq0(x->module, y->module);
}

static bool frame_entry_eq(const void *entry, const void *key)
{
    return fkey_eq(&((const struct frame_entry *)entry)->k, key);
}

static uint64_t ids_hash(const int *ids, int n)
{
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = mix(h, (uint32_t)ids[i]);
    return h;
}

struct ids_key {
    const int *ids;
    int n;
};

static bool site_entry_eq(const void *entry, const void *key)
{
    const struct site_entry *e = entry;
    const struct ids_key *k = key;
    return e->n == k->n && memcmp(e->ids, k->ids, (size_t)k->n * sizeof(*k->ids)) == 0;
}

/* ---- frames ---- */

/* The frame's id, interning a copy if it is new; or -ENOMEM. */
static int intern_frame(struct agg *a, const struct model_frame *f)
{
    struct fkey k = key_of(f);
    uint64_t h = fkey_hash(&k);
    const struct frame_entry *known = hmap_get(&a->frame_ids, h, &k, frame_entry_eq);

    if (known != NULL)
        return known->id;
    if (a->n_frames == a->cap_frames) {
        int cap = a->cap_frames ? a->cap_frames * 2 : 1024;
        struct model_frame **fr = realloc(a->frames, (size_t)cap * sizeof(*fr));
        if (fr == NULL)
            return -ENOMEM;
        a->frames = fr;
        bool *af = realloc(a->alloc_frame, (size_t)cap * sizeof(*af));
        if (af == NULL)
            return -ENOMEM;
        a->alloc_frame = af;
        a->cap_frames = cap;
    }
    struct model_frame *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return -ENOMEM;
    *copy = *f;
    copy->kind = wrap_frame_kind(a->wrap, copy);
    bool added;
    struct frame_entry *e = hmap_put(&a->frame_ids, h, &k, frame_entry_eq, &added);
    if (e == NULL) {
        free(copy);
        return -ENOMEM;
    }
    /* The key points into the copy, which lives as long as the map. */
    e->k = key_of(copy);
    e->id = a->n_frames;
    a->frames[e->id] = copy;
    a->alloc_frame[e->id] = allocator_frame(f->function);
    return a->n_frames++;
}

static bool bid_eq(const void *entry, const void *key)
{
    return ((const struct bid_entry *)entry)->m == key;
}

/* The module's build-id in hex, or NULL if it has none; -ENOMEM in *err. */
static const char *build_id_of(struct agg *a, const struct rd_module *m, int *err)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t h = (uint64_t)(uintptr_t)m;
    const struct bid_entry *known = hmap_get(&a->bids, h, m, bid_eq);

    if (known != NULL)
        return known->hex;
    char *hex = NULL;
    if (m->build_id_len > 0) {
        hex = malloc((size_t)m->build_id_len * 2 + 1);
        if (hex == NULL) {
            *err = -ENOMEM;
            return NULL;
        }
        for (int i = 0; i < m->build_id_len; i++) {
            hex[2 * i] = digits[m->build_id[i] >> 4];
            hex[2 * i + 1] = digits[m->build_id[i] & 15];
        }
        hex[2 * m->build_id_len] = '\0';
    }
    bool added;
    struct bid_entry *e = hmap_put(&a->bids, h, m, bid_eq, &added);
    if (e == NULL) {
        free(hex);
        *err = -ENOMEM;
        return NULL;
    }
    *e = (struct bid_entry){ m, hex };
    return hex;
}

static bool pc_eq(const void *entry, const void *key)
{
    const struct pc_entry *e = entry, *k = key;
    return e->pc == k->pc && e->m == k->m;
}

/* A Python frame's one frame id (interned once per code object and instruction). */
static int py_frame(struct agg *a, uint64_t v, const struct pc_entry *want, uint64_t hash,
                    const int **ids)
{
    const struct rd_pycode *co = a->r != NULL ? rd_pycode(a->r, LF_PY_CODE(v)) : NULL;
    struct model_frame f = { .module = "python" };
    if (co != NULL) {
        f.function = co->qualname;
        f.file = co->filename;
        f.line =
            pyl_line(co->linetable, co->linetable_len, co->first_line, (int64_t)LF_PY_INSTR(v) - 1);
    } else {
        f.function = "<Python code not described in the log>";
        f.module_offset = LF_PY_CODE(v);
    }
    int *out = malloc(sizeof(*out));
    if (out == NULL)
        return -ENOMEM;
    int id = intern_frame(a, &f);
    if (id < 0) {
        free(out);
        return id;
    }
    out[0] = id;
    bool added;
    struct pc_entry *e = hmap_put(&a->pcs, hash, want, pc_eq, &added);
    if (e == NULL) {
        free(out);
        return -ENOMEM;
    }
    *e = (struct pc_entry){ want->pc, NULL, 1, out };
    *ids = out;
    return 1;
}

/* The frame ids of one pc (resolved and interned once); their number or -ENOMEM. */
static int pc_frames(struct agg *a, uint64_t pc, const struct rd_module *m, const int **ids)
{
    struct pc_entry want = { pc, m, 0, NULL };
    uint64_t hash = pc ^ (uintptr_t)m;
    const struct pc_entry *known = hmap_get(&a->pcs, hash, &want, pc_eq);
    int err = 0;

    if (known != NULL) {
        *ids = known->ids;
        return known->n;
    }
    if (pc & LF_PY_FRAME)
        return py_frame(a, pc, &want, hash, ids);
    const struct sym_frame *sf = NULL;
    int k = 0;
    if (m != NULL && a->sym != NULL) {
        struct sym_module sm = { m->path, m->build_id, (size_t)m->build_id_len,
                                 m->bias, m->lo,       m->hi };
        k = sym_resolve(a->sym, &sm, pc, false, &sf);
        if (k == -ENOMEM)
            return k;
    }
    const char *bid = m != NULL ? build_id_of(a, m, &err) : NULL;
    if (err < 0)
        return err;
    int n = k > 0 ? k : 1;
    int *out = malloc((size_t)n * sizeof(*out));
    if (out == NULL)
        return -ENOMEM;
    for (int j = 0; j < n; j++) {
        struct model_frame f = {
            .module = m != NULL ? base_name(m->path) : "?",
            .module_offset = m != NULL ? pc - m->bias : pc,
            .module_path = m != NULL ? m->path : NULL,
            .build_id = bid,
        };
        if (k > 0) {
            f.function = sf[j].function;
            f.linkage_name = sf[j].linkage_name;
            f.file = sf[j].file;
            f.line = sf[j].line;
            f.module = sf[j].module;
            f.module_offset = sf[j].module_offset;
            f.inlined = sf[j].inlined;
        }
        int id = intern_frame(a, &f);
        if (id < 0) {
            free(out);
            return id;
        }
        out[j] = id;
    }
    bool added;
    struct pc_entry *e = hmap_put(&a->pcs, hash, &want, pc_eq, &added);
    if (e == NULL) {
        free(out);
        return -ENOMEM;
    }
    *e = (struct pc_entry){ pc, m, n, out };
    *ids = out;
    return n;
}

/* One stack as frame ids, allocator frames trimmed from its top (*out: malloc'ed). */
static int stack_ids(struct agg *a, uint32_t id, uint64_t first_time, int **out, int *n_out,
                     struct site_origin *origin)
{
    const struct rd_stack *st = rd_stack(a->r, id);
    int *v = NULL, n = 0, cap = 0;
    bool trimming = true;

    *origin = (struct site_origin){ 0, NULL };
    /* With Python frames: the module of the interpreter's loop (the native frame that
     * a Python frame follows), whose frames are hidden unless asked for. */
    const struct rd_module *interp = NULL;
    uint64_t dropped = 0;
    for (uint32_t i = 0; st != NULL && i < st->depth; i++) {
        uint64_t pc = st->pcs[i];
        if ((pc & LF_PY_FRAME) && LF_PY_CODE(pc) == 0)
            dropped += LF_PY_INSTR(pc);
        else if (interp == NULL && !(pc & LF_PY_FRAME) && i + 1 < st->depth &&
                 (st->pcs[i + 1] & LF_PY_FRAME) && LF_PY_CODE(st->pcs[i + 1]) != 0)
            interp = rd_module_at(a->r, pc, first_time);
    }
    if (dropped > 0) {
        a->py.dropped_frames += dropped;
        a->py.dropped_stacks++;
    }
    for (uint32_t i = 0; st != NULL && i < st->depth; i++) {
        uint64_t pc = st->pcs[i];
        if ((pc & LF_PY_FRAME) && LF_PY_CODE(pc) == 0)
            continue; /* a count of dropped frames, counted above */
        const struct rd_module *m = (pc & LF_PY_FRAME) ? NULL : rd_module_at(a->r, pc, first_time);
        if (interp != NULL && m == interp && !a->python_internals)
            continue; /* the interpreter's own: the Python frames stand for it */
        if (pc & LF_PY_FRAME)
            a->py.frames_seen = true;
        const int *ids;
        int k = pc_frames(a, pc, m, &ids);
        if (k < 0) {
            free(v);
            return k;
        }
        for (int j = 0; j < k; j++) {
            if (trimming && a->alloc_frame[ids[j]])
                continue;
            if (trimming) {
                *origin = (struct site_origin){ pc, m };
                trimming = false;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                int *g = realloc(v, (size_t)cap * sizeof(*v));
                if (g == NULL) {
                    free(v);
                    return -ENOMEM;
                }
                v = g;
            }
            v[n++] = ids[j];
        }
    }
    if (n == 0) { /* an undefined stack, or nothing but allocator frames */
        struct model_frame unknown = { .module = "?" };
        int uid = intern_frame(a, &unknown);
        free(v);
        v = malloc(sizeof(*v));
        if (uid < 0 || v == NULL) {
            free(v);
            return uid < 0 ? uid : -ENOMEM;
        }
        v[n++] = uid;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* The site of stack id (made on its first use); its index in defs, or -ENOMEM. */
static int def_of_stack(struct agg *a, uint32_t id, uint64_t first_time)
{
    if (id >= a->n_def_of) {
        uint32_t n = a->n_def_of ? a->n_def_of : 1024;
        while (n <= id)
            n *= 2;
        int *g = realloc(a->def_of, n * sizeof(*g));
        if (g == NULL)
            return -ENOMEM;
        for (uint32_t i = a->n_def_of; i < n; i++)
            g[i] = -1;
        a->def_of = g;
        a->n_def_of = n;
    }
    if (a->def_of[id] >= 0)
        return a->def_of[id];

    int *ids, n, err;
    struct site_origin origin;
    if ((err = stack_ids(a, id, first_time, &ids, &n, &origin)) < 0)
        return err;
    struct ids_key k = { ids, n };
    uint64_t h = ids_hash(ids, n);
    const struct site_entry *known = hmap_get(&a->site_ids, h, &k, site_entry_eq);
    if (known != NULL) {
        free(ids);
        return a->def_of[id] = known->def;
    }
    if (a->n_defs == a->cap_defs) {
        int cap = a->cap_defs ? 2 * a->cap_defs : 256;
        struct site_def *d = realloc(a->defs, (size_t)cap * sizeof(*d));
        if (d == NULL) {
            free(ids);
            return -ENOMEM;
        }
        a->defs = d;
        a->cap_defs = cap;
    }
    const struct model_frame **fr = malloc((size_t)n * sizeof(*fr));
    bool added;
    struct site_entry *e = fr != NULL ? hmap_put(&a->site_ids, h, &k, site_entry_eq, &added) : NULL;
    if (e == NULL) {
        free(fr);
        free(ids);
        return -ENOMEM;
    }
    *e = (struct site_entry){ n, ids, a->n_defs };
    for (int i = 0; i < n; i++)
        fr[i] = a->frames[ids[i]];
    struct site_def *def = &a->defs[a->n_defs];
    *def = (struct site_def){ fr, n, origin, MODEL_LEAK, NULL };
    struct model_site probe = { .n_frames = n, .frames = fr };
    def->leak_kind = sup_match(a->rules, &probe, &def->leak_rule);
    return a->def_of[id] = a->n_defs++;
}

/* ---- a point ---- */

static void stats_add(struct model_stats *d, const struct model_stats *s)
{
    d->allocations += s->allocations;
    d->allocated_bytes += s->allocated_bytes;
    d->frees += s->frees;
    d->peak_live_bytes += s->peak_live_bytes;
    d->leaked_bytes += s->leaked_bytes;
    d->leaked_allocations += s->leaked_allocations;
    d->live_bytes += s->live_bytes;
    d->live_blocks += s->live_blocks;
    d->temporary_allocations += s->temporary_allocations;
    d->max_live_blocks += s->max_live_blocks;
    d->slack_bytes += s->slack_bytes;
    d->zero_sampled_bytes += s->zero_sampled_bytes;
    d->zero_bytes += s->zero_bytes;
    d->samples += s->samples;
    d->peak_samples += s->peak_samples;
    d->live_samples += s->live_samples;
    d->leaked_samples += s->leaked_samples;
    for (int i = 0; i < MODEL_HIST_BUCKETS; i++)
        d->hist[i] += s->hist[i];
}

/* A row's key: the frame's own for the by-line table; for the by-function table, its
 * function and module, or (unnamed) the frame's own. */
static struct fkey group_key(const struct model_frame *f, bool with_line)
{
    struct fkey k = key_of(f);
    if (!with_line && f->function != NULL)
        k = (struct fkey){ f->function, NULL, k.module, 0, false, 0 };
    return k;
}

struct group_entry {
    struct fkey k;
    int idx;
};

static bool group_entry_eq(const void *entry, const void *key)
{
    return fkey_eq(&((const struct group_entry *)entry)->k, key);
}

/* Rows being made: the array grows by doubling (a row is 400 bytes: growing by one
 * would copy them all again and again). */
struct rows {
    struct model_group *arr;
    int n, cap;
};

static int group_into(struct rows *rows, struct hmap *map, const struct model_site *s,
                      bool with_line)
{
    const struct model_frame *f = s->frames[s->title];
    struct fkey k = group_key(f, with_line);
    uint64_t h = fkey_hash(&k);
    bool added;
    struct group_entry *e = hmap_put(map, h, &k, group_entry_eq, &added);

    if (e == NULL)
        return -ENOMEM;
    if (added) {
        if (rows->n == rows->cap) {
            int cap = rows->cap ? 2 * rows->cap : 64;
            struct model_group *g = realloc(rows->arr, (size_t)cap * sizeof(*g));
            if (g == NULL)
                return -ENOMEM; /* the map goes with the rows: its entry is never read */
            rows->arr = g;
            rows->cap = cap;
        }
        struct model_group *g = &rows->arr[rows->n];
        e->k = k;
        e->idx = rows->n++;
        memset(g, 0, sizeof(*g));
        g->function = f->function;
        g->module = f->module;
        g->file = with_line ? f->file : NULL;
        g->line = with_line ? f->line : 0;
    }
    struct model_group *g = &rows->arr[e->idx];
    uint64_t cs = g->st.common_size;
    stats_add(&g->st, &s->st);
    g->st.common_size = cs;
    g->n_sites++;
    return 0;
}

int agg_group_sites(const struct model_site *sites, int n_sites, struct model_group **funcs,
                    int *n_funcs, struct model_group **lines, int *n_lines)
{
    struct hmap fmap, lmap;
    struct rows f = { NULL, 0, 0 }, l = { NULL, 0, 0 };
    int err = 0;

    hmap_init(&fmap, sizeof(struct group_entry));
    hmap_init(&lmap, sizeof(struct group_entry));
    for (int i = 0; i < n_sites && err == 0; i++) {
        err = group_into(&f, &fmap, &sites[i], false);
        if (err == 0)
            err = group_into(&l, &lmap, &sites[i], true);
    }
    hmap_fini(&fmap);
    hmap_fini(&lmap);
    if (err < 0) {
        free(f.arr);
        free(l.arr);
        f = l = (struct rows){ NULL, 0, 0 };
    }
    *funcs = f.arr;
    *n_funcs = f.n;
    *lines = l.arr;
    *n_lines = l.n;
    return err;
}

static void free_structs(struct model_struct *t, int n)
{
    for (int i = 0; i < n; i++)
        free((void *)t[i].members);
    free(t);
}

/* The symbolizer's layouts as the model's; the strings stay the symbolizer's. NULL
 * when out of memory. */
static struct model_struct *model_structs_of(const struct sym_struct *t, int n)
{
    struct model_struct *out = calloc((size_t)n, sizeof(*out));

    for (int i = 0; out != NULL && i < n; i++) {
        struct model_member *mm =
            calloc(t[i].n_members > 0 ? (size_t)t[i].n_members : 1, sizeof(*mm));
        if (mm == NULL) {
            free_structs(out, i);
            return NULL;
        }
        for (int k = 0; k < t[i].n_members; k++) {
            const struct sym_member *sm = &t[i].members[k];
            mm[k] = (struct model_member){ sm->name,       sm->type_name, sm->offset,    sm->size,
                                           sm->bit_offset, sm->bit_size,  sm->hole_after };
        }
        out[i] =
            (struct model_struct){ t[i].kind, t[i].name,       t[i].size,         t[i].n_members,
                                   mm,        t[i].hole_bytes, t[i].padding_bytes };
    }
    return out;
}

static int cmp_bloat(const void *x, const void *y)
{
    const struct model_bloat *a = x, *b = y;
    return (a->bytes_at_peak < b->bytes_at_peak) - (a->bytes_at_peak > b->bytes_at_peak);
}

static int find_bloats(struct agg_point *pt, struct sym_cache *sym, bool jemalloc)
{
    for (int i = 0; i < pt->n_sites; i++) {
        const struct model_site *s = &pt->sites[i];
        uint64_t size = s->st.common_size;
        if (size == 0)
            continue;
        double blocks = s->st.peak_live_bytes / (double)size;
        /* A site that held many blocks once but none at the peak: no row of "0 x size". */
        if (blocks < 0.5 || (blocks < BLOAT_MIN_BLOCKS && s->st.max_live_blocks < BLOAT_MIN_BLOCKS))
            continue;
        int j;
        for (j = 0; j < pt->n_bloats && pt->bloats[j].size != size; j++)
            ;
        if (j == pt->n_bloats) {
            struct model_bloat *b = realloc(pt->bloats, (size_t)(j + 1) * sizeof(*b));
            if (b == NULL)
                return -ENOMEM;
            pt->bloats = b;
            memset(&b[j], 0, sizeof(b[j]));
            b[j].size = size;
            b[j].slack_bytes_per_block = (double)(rp_usable_size(size, jemalloc) - size);
            pt->n_bloats++;
        }
        struct model_bloat *b = &pt->bloats[j];
        b->blocks_at_peak += blocks;
        b->bytes_at_peak += s->st.peak_live_bytes;
        if (b->n_sites < MODEL_BLOAT_SITES)
            b->sites[b->n_sites] = i;
        b->n_sites++;
    }
    for (int j = 0; j < pt->n_bloats; j++) {
        struct model_bloat *b = &pt->bloats[j];
        double zs = 0, z = 0;
        int n = b->n_sites < MODEL_BLOAT_SITES ? b->n_sites : MODEL_BLOAT_SITES;
        for (int k = 0; k < n; k++) {
            zs += pt->sites[b->sites[k]].st.zero_sampled_bytes;
            z += pt->sites[b->sites[k]].st.zero_bytes;
        }
        b->zero_share = zs > 0 ? z / zs : -1;
        for (int k = 0; k < n && sym != NULL && b->n_types == 0; k++) {
            const struct site_origin *o = &pt->origins[b->sites[k]];
            if (o->module == NULL)
                continue;
            const struct rd_module *m = o->module;
            struct sym_module sm = { m->path, m->build_id, (size_t)m->build_id_len,
                                     m->bias, m->lo,       m->hi };
            const struct sym_struct *types = NULL;
            int nt = sym_structs_of_size(sym, &sm, o->first_pc, false, b->size, &types);
            if (nt > 0) {
                b->types = model_structs_of(types, nt);
                if (b->types == NULL)
                    return -ENOMEM;
                b->n_types = nt;
            }
        }
    }
    if (pt->n_bloats > 1)
        qsort(pt->bloats, (size_t)pt->n_bloats, sizeof(*pt->bloats), cmp_bloat);
    return 0;
}

static void point_fini(struct agg_point *pt)
{
    free(pt->sites);
    free((void *)pt->origins);
    free(pt->funcs);
    free(pt->lines);
    for (int i = 0; i < pt->n_bloats; i++)
        free_structs((struct model_struct *)pt->bloats[i].types, pt->bloats[i].n_types);
    free(pt->bloats);
    memset(pt, 0, sizeof(*pt));
}

/* Where a set-apart site's live blocks go in the totals. */
static void count_live(struct agg_totals *t, enum model_leak_kind kind, const struct rp_stack *s)
{
    switch (kind) {
    case MODEL_LEAK:
        t->leaked_bytes += s->live_bytes;
        t->leaked_allocations += s->live_blocks;
        break;
    case MODEL_LEAK_RUNTIME:
        t->runtime_bytes += s->live_bytes;
        t->runtime_allocations += s->live_blocks;
        break;
    case MODEL_LEAK_SUPPRESSED:
        t->suppressed_bytes += s->live_bytes;
        t->suppressed_allocations += s->live_blocks;
        break;
    }
}

/* p's figures per stack, as sites: the sites in the order their first stack id comes,
 * the totals summed by stack id. */
static int point_of(struct agg *a, const struct replay *p, struct agg_point *pt)
{
    uint32_t n_stacks = rp_n_stacks(p);
    struct rp_totals rt;
    struct rp_stack s;
    int *site_of_def = NULL, err = 0;

    memset(pt, 0, sizeof(*pt));
    rp_point_totals(p, &rt);
    pt->tot = (struct agg_totals){
        .allocations = rt.allocations,
        .frees = rt.frees,
        .allocated_bytes = rt.allocated_bytes,
        .peak_live_bytes = rt.peak_live_bytes,
        .peak_time = rt.peak_time,
        .live_bytes = rt.live_bytes,
        .live_blocks = rt.live_blocks,
        .temporary_allocations = rt.temporary_allocations,
        .lost_events = rt.lost_events,
        .unknown_frees = rt.unknown_frees,
        .first_time = rt.first_time,
        .last_time = rt.last_time,
        .markers = rt.markers,
        .sampled = rt.sampled,
        .sample_bytes = rt.sample_bytes,
    };
    if (pt->tot.first_time == UINT64_MAX)
        pt->tot.first_time = pt->tot.last_time = a->hdr.start_ticks;

    /* The sites first: mapping a stack may add one. */
    for (uint32_t id = 0; id < n_stacks; id++) {
        if (!rp_point_stack(p, id, &s))
            continue;
        if ((err = def_of_stack(a, id, s.first_time)) < 0)
            goto out;
    }
    err = 0;
    site_of_def = malloc(((size_t)a->n_defs + 1) * sizeof(*site_of_def));
    pt->sites = malloc(((size_t)a->n_defs + 1) * sizeof(*pt->sites));
    struct site_origin *origins = malloc(((size_t)a->n_defs + 1) * sizeof(*origins));
    pt->origins = origins;
    if (site_of_def == NULL || pt->sites == NULL || origins == NULL) {
        err = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < a->n_defs; i++)
        site_of_def[i] = -1;
    for (uint32_t id = 0; id < n_stacks; id++) {
        if (!rp_point_stack(p, id, &s))
            continue;
        const struct site_def *def = &a->defs[a->def_of[id]];
        int idx = site_of_def[a->def_of[id]];
        if (idx < 0) {
            idx = site_of_def[a->def_of[id]] = pt->n_sites++;
            struct model_site *ns = &pt->sites[idx];
            memset(ns, 0, sizeof(*ns));
            ns->frames = def->frames;
            ns->n_frames = def->n_frames;
            ns->leak_kind = def->leak_kind;
            ns->leak_rule = def->leak_rule;
            ns->st.common_size = s.st.common_size;
            origins[idx] = def->origin;
        } else if (pt->sites[idx].st.common_size != s.st.common_size) {
            pt->sites[idx].st.common_size = 0;
        }
        struct model_site *site = &pt->sites[idx];
        uint64_t cs = site->st.common_size;
        stats_add(&site->st, &s.st);
        site->st.common_size = cs;
        /* Summed by stack id, as before sites existed: the same doubles in the same
         * order, whatever the sites. */
        count_live(&pt->tot, def->leak_kind, &s);
    }
    for (int i = 0; i < pt->n_sites; i++) {
        if (pt->sites[i].leak_kind != MODEL_LEAK) {
            pt->sites[i].st.leaked_bytes = 0;
            pt->sites[i].st.leaked_allocations = 0;
            pt->sites[i].st.leaked_samples = 0;
        }
    }
    if ((err = wrap_sites(a->wrap, pt->sites, pt->n_sites)) < 0)
        goto out;
    if ((err = agg_group_sites(pt->sites, pt->n_sites, &pt->funcs, &pt->n_funcs, &pt->lines,
                               &pt->n_lines)) < 0)
        goto out;
    err = find_bloats(pt, a->sym, rp_jemalloc(p));
out:
    free(site_of_def);
    return err;
}

int agg_finish(struct agg *a, struct rd_log *r, struct sym_cache *sym)
{
    a->r = r;
    a->sym = sym;
    rp_finish(a->rp);
    return point_of(a, a->rp, &a->pt);
}

int agg_point_new(struct agg *a, const struct replay *p, struct agg_point **out)
{
    struct agg_point *pt = calloc(1, sizeof(*pt));
    int err;

    assert(a->r != NULL);
    *out = NULL;
    if (pt == NULL)
        return -ENOMEM;
    if ((err = point_of(a, p, pt)) < 0) {
        point_fini(pt);
        free(pt);
        return err;
    }
    *out = pt;
    return 0;
}

const struct agg_totals *agg_point_totals(const struct agg_point *pt)
{
    return &pt->tot;
}

void agg_point_fill_model(const struct agg_point *pt, struct model *m)
{
    m->n_sites = pt->n_sites;
    m->sites = pt->sites;
    m->n_functions = pt->n_funcs;
    m->functions = pt->funcs;
    m->n_lines = pt->n_lines;
    m->lines = pt->lines;
    m->n_bloats = pt->n_bloats;
    m->bloats = pt->bloats;
}

void agg_point_free(struct agg_point *pt)
{
    if (pt == NULL)
        return;
    point_fini(pt);
    free(pt);
}

const struct agg_totals *agg_totals(const struct agg *a)
{
    return &a->pt.tot;
}

int agg_n_sites(const struct agg *a)
{
    return a->pt.n_sites;
}

const struct model_site *agg_site(const struct agg *a, int i)
{
    assert(i >= 0 && i < a->pt.n_sites);
    return &a->pt.sites[i];
}

int agg_n_functions(const struct agg *a)
{
    return a->pt.n_funcs;
}

const struct model_group *agg_function(const struct agg *a, int i)
{
    return &a->pt.funcs[i];
}

int agg_n_lines(const struct agg *a)
{
    return a->pt.n_lines;
}

const struct model_group *agg_line(const struct agg *a, int i)
{
    return &a->pt.lines[i];
}

int agg_n_bloats(const struct agg *a)
{
    return a->pt.n_bloats;
}

const struct model_bloat *agg_bloat(const struct agg *a, int i)
{
    return &a->pt.bloats[i];
}

void agg_fill_model(const struct agg *a, struct model *m)
{
    agg_point_fill_model(&a->pt, m);
}

void agg_free(struct agg *a)
{
    if (a == NULL)
        return;
    point_fini(&a->pt);
    rp_free(a->rp);
    size_t i = 0;
    struct site_entry *se;
    while ((se = hmap_next(&a->site_ids, &i)) != NULL)
        free(se->ids);
    hmap_fini(&a->site_ids);
    for (int k = 0; k < a->n_defs; k++)
        free((void *)a->defs[k].frames);
    free(a->defs);
    free(a->def_of);
    struct pc_entry *pe;
    i = 0;
    while ((pe = hmap_next(&a->pcs, &i)) != NULL)
        free(pe->ids);
    hmap_fini(&a->pcs);
    struct bid_entry *be;
    i = 0;
    while ((be = hmap_next(&a->bids, &i)) != NULL)
        free(be->hex);
    hmap_fini(&a->bids);
    hmap_fini(&a->frame_ids);
    for (int k = 0; k < a->n_frames; k++)
        free(a->frames[k]);
    free(a->frames);
    free(a->alloc_frame);
    free(a);
}

static int cmp_threads(const void *x, const void *y)
{
    const struct model_thread *a = x, *b = y;
    if (a->allocated_bytes != b->allocated_bytes)
        return a->allocated_bytes < b->allocated_bytes ? 1 : -1;
    return (a->tid > b->tid) - (a->tid < b->tid);
}

int agg_replay_threads(const struct replay *p, struct model_thread **out)
{
    int n = rp_threads(p, NULL, 0);
    *out = calloc((size_t)n + 1, sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    rp_threads(p, *out, n);
    qsort(*out, (size_t)n, sizeof(**out), cmp_threads);
    return n;
}

int agg_threads(const struct agg *a, struct model_thread **out)
{
    return agg_replay_threads(a->rp, out);
}
