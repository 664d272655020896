/* aggregate.c - see aggregate.h. */
#include "analyzer/aggregate.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/liveset.h"
#include "util/hashmap.h"
#include "util/strbuf.h"

#define SIZE_SLOTS       4 /* distinct sizes tracked per stack, for common_size */
#define BLOAT_MIN_BLOCKS 1000.0

/* Per stack id, while events are read. */
struct stk {
    struct model_stats st;
    double live_bytes, live_blocks;
    uint64_t ver; /* peak version live_bytes was last saved under */
    uint64_t first_time;
    uint64_t sizes[SIZE_SLOTS];
    double size_counts[SIZE_SLOTS];
    double other_sizes;
    bool used;
};

/* Per thread, in a map by tid. */
struct tstate {
    uint32_t tid;
    bool valid;
    uint64_t last_alloc;
};

/* Where a site allocates: the call into the allocator, for the struct lookup. */
struct site_origin {
    uint64_t first_pc;
    const struct rd_module *module; /* of first_pc; NULL if none held it */
};

struct agg {
    struct rd_header hdr;
    struct agg_totals tot;
    struct ls_map *live;
    struct stk *stk;
    uint32_t cap_stk;
    double live_total;
    uint64_t peak_ver;

    struct hmap threads;        /* of struct tstate */
    struct tstate *last_thread; /* in threads; NULL after it may have moved */

    struct model_site *sites;
    struct site_origin *origins; /* by site, as sites */
    int n_sites;
    struct model_group *funcs, *lines;
    int n_funcs, n_lines;
    struct model_bloat *bloats;
    int n_bloats;
    bool jemalloc;
    struct model_frame **frames; /* interned, shared by the sites */
    int n_frames_owned;
};

struct agg *agg_new(const struct rd_header *h)
{
    struct agg *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->hdr = *h;
    a->live = ls_new();
    hmap_init(&a->threads, sizeof(struct tstate));
    if (a->live == NULL) {
        agg_free(a);
        return NULL;
    }
    a->tot.sampled = h->sample_bytes > 1;
    a->tot.sample_bytes = h->sample_bytes;
    a->tot.first_time = UINT64_MAX;
    return a;
}

static struct stk *stk_of(struct agg *a, uint32_t id)
{
    if (id >= a->cap_stk) {
        uint32_t cap = a->cap_stk ? a->cap_stk : 1024;
        while (cap <= id)
            cap *= 2;
        struct stk *s = realloc(a->stk, cap * sizeof(*s));
        if (s == NULL)
            return NULL;
        memset(s + a->cap_stk, 0, (cap - a->cap_stk) * sizeof(*s));
        a->stk = s;
        a->cap_stk = cap;
    }
    return &a->stk[id];
}

static bool thread_eq(const void *entry, const void *key)
{
    return ((const struct tstate *)entry)->tid == *(const uint32_t *)key;
}

static struct tstate *thread_find(struct agg *a, uint32_t tid)
{
    bool added;
    /* The table may move: the cached pointer is the new entry's or none. */
    struct tstate *t = hmap_put(&a->threads, tid, &tid, thread_eq, &added);
    if (t != NULL && added)
        t->tid = tid;
    a->last_thread = t;
    return t;
}

/* Inline only the usual case: most events come in runs of one thread's. */
static inline struct tstate *thread_of(struct agg *a, uint32_t tid)
{
    if (a->last_thread != NULL && a->last_thread->tid == tid)
        return a->last_thread;
    return thread_find(a, tid);
}

/* Before a stack's live bytes change: keep what they were at the last global peak. */
static inline void save_peak(struct agg *a, struct stk *s)
{
    if (s->ver != a->peak_ver) {
        s->st.peak_live_bytes = s->live_bytes;
        s->ver = a->peak_ver;
    }
}

static int hist_bucket(uint64_t size)
{
    int b = size == 0 ? 0 : 63 - __builtin_clzll(size);
    return b < MODEL_HIST_BUCKETS ? b : MODEL_HIST_BUCKETS - 1;
}

/* Blocks one sampled block stands for. */
static double weight_of(const struct agg *a, uint64_t size)
{
    if (!a->tot.sampled || size == 0)
        return 1.0;
    double p = -expm1(-(double)size / (double)a->hdr.sample_bytes);
    return p > 0 ? 1.0 / p : 1.0;
}

static void note_size(struct stk *s, uint64_t size, double w)
{
    for (int i = 0; i < SIZE_SLOTS; i++) {
        if (s->size_counts[i] > 0 && s->sizes[i] == size) {
            s->size_counts[i] += w;
            return;
        }
        if (s->size_counts[i] == 0) {
            s->sizes[i] = size;
            s->size_counts[i] = w;
            return;
        }
    }
    s->other_sizes += w;
}

static inline void release(struct agg *a, const struct ls_block *b)
{
    struct stk *s = &a->stk[b->stack];
    save_peak(a, s);
    double bytes = (double)b->size * b->weight;
    s->live_bytes -= bytes;
    s->live_blocks -= b->weight;
    s->st.frees += b->weight;
    a->live_total -= bytes;
    a->tot.frees += b->weight;
}

static int on_alloc(struct agg *a, const struct rd_item *it)
{
    const struct lf_event *e = &it->ev;
    struct stk *s = stk_of(a, e->stack);
    struct ls_block old;

    if (s == NULL)
        return -ENOMEM;
    /* The block keeps its weight as a float: add exactly what release() will take
     * away, or rounding leaves phantom bytes live. */
    double w = (float)weight_of(a, e->size);
    struct ls_block b = { e->addr, e->size, e->stack, (float)w };
    int put = ls_put(a->live, &b, &old);
    if (put < 0)
        return -ENOMEM;
    if (put == 1)
        release(a, &old); /* a free the log never saw (the shim lost it) */
    double bytes = (double)e->size * w;
    if (!s->used) {
        s->used = true;
        s->first_time = it->time;
    }
    save_peak(a, s);
    s->live_bytes += bytes;
    s->live_blocks += w;
    if (s->live_blocks > s->st.max_live_blocks)
        s->st.max_live_blocks = s->live_blocks;
    s->st.allocations += w;
    s->st.allocated_bytes += bytes;
    s->st.hist[hist_bucket(e->size)] += w;
    s->st.slack_bytes += (double)(agg_usable_size(e->size, a->jemalloc) - e->size) * w;
    note_size(s, e->size, w);
    a->tot.allocations += w;
    a->tot.allocated_bytes += bytes;
    a->live_total += bytes;
    if (a->live_total > a->tot.peak_live_bytes) {
        a->tot.peak_live_bytes = a->live_total;
        a->tot.peak_time = it->time;
        a->peak_ver++;
    }
    struct tstate *t = thread_of(a, it->tid);
    if (t == NULL)
        return -ENOMEM;
    t->valid = true;
    t->last_alloc = e->addr;
    return 0;
}

static int on_free(struct agg *a, const struct rd_item *it)
{
    struct ls_block b;

    if (!ls_take(a->live, it->ev.addr, &b)) {
        a->tot.unknown_frees++;
        return 0;
    }
    release(a, &b);
    struct tstate *t = thread_of(a, it->tid);
    if (t == NULL)
        return -ENOMEM;
    /* Temporary: freed before its thread allocated anything else. Frees of other
     * blocks in between do not count (heaptrack stops at any event in between). */
    if (t->valid && t->last_alloc == b.addr) {
        a->stk[b.stack].st.temporary_allocations += b.weight;
        a->tot.temporary_allocations += b.weight;
        t->valid = false;
    }
    return 0;
}

int agg_feed(struct agg *a, const struct rd_item *it)
{
    if (it->kind == RD_MODULE && strstr(it->module->path, "libjemalloc") != NULL)
        a->jemalloc = true;
    if (it->kind == RD_MARKER)
        a->tot.markers++;
    if (it->kind == RD_END)
        a->tot.lost_events += it->count;
    if (it->kind != RD_EVENT)
        return 0;
    if (it->time < a->tot.first_time)
        a->tot.first_time = it->time;
    if (it->time > a->tot.last_time)
        a->tot.last_time = it->time;
    switch (it->ev.type) {
    case LF_EV_ALLOC:
        return on_alloc(a, it);
    case LF_EV_FREE:
        return on_free(a, it);
    case LF_EV_LOST:
        a->tot.lost_events += it->ev.count;
        return 0;
    case LF_EV_ZEROS: {
        const struct ls_block *b = ls_get(a->live, it->ev.addr);
        if (b != NULL && b->size == it->ev.size) {
            struct stk *s = &a->stk[b->stack];
            s->st.zero_sampled_bytes += (double)it->ev.size;
            s->st.zero_bytes += (double)it->ev.count;
        }
        return 0;
    }
    }
    return 0;
}

uint64_t agg_usable_size(uint64_t size, bool jemalloc)
{
    if (jemalloc) {
        if (size <= 8)
            return 8;
        if (size <= 128)
            return (size + 15) & ~(uint64_t)15;
        if (size > (1ull << 62))
            return size;
        int lg = 64 - __builtin_clzll(size - 1); /* ceil(log2(size)) */
        uint64_t spacing = 1ull << (lg - 3);
        return (size + spacing - 1) & ~(spacing - 1);
    }
    /* glibc: 16-byte chunks with an 8-byte header, 32 at least; mmap'd blocks (128 KiB
     * and up by default) are whole pages with a 16-byte header. */
    if (size >= 128 * 1024)
        return ((size + 16 + 4095) & ~(uint64_t)4095) - 16;
    uint64_t chunk = (size + 8 + 15) & ~(uint64_t)15;
    if (chunk < 32)
        chunk = 32;
    return chunk - 8;
}

/* ---- symbolizing and merging ---- */

/* Frames of allocator wrappers and the profiler: the site is their caller. */
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
        /* include/heapspan.h's inline functions and the Rust crate of bindings/rust: a
         * block reported through them is the caller's. */
        "heapspan_",
        "<heapspan_alloc::",
        /* The allocator shim of rustc 1.7x and later, in the crate `__rustc`. */
        "__rustc::__rust_",
        "__rustc::__rdl_",
        "__rustc::__rg_",
    };
    if (fn == NULL)
        return false;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strcmp(fn, exact[i]))
            return true;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(fn, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

/* A string-keyed table: key -> index, in a struct hmap of these. */
struct km_entry {
    char *key; /* NULL only after strdup failed: matches nothing */
    int val;
};

static void km_init(struct hmap *m)
{
    hmap_init(m, sizeof(struct km_entry));
}

static bool km_eq(const void *entry, const void *key)
{
    const struct km_entry *e = entry;
    return e->key != NULL && !strcmp(e->key, key);
}

/* The index of key: 0 if known (*out its index), 1 if added with new_val, or -ENOMEM. */
static int km_get(struct hmap *m, const char *key, int new_val, int *out)
{
    bool added;
    struct km_entry *e = hmap_put(m, hmap_hash_str(key), key, km_eq, &added);

    if (e == NULL)
        return -ENOMEM;
    if (!added) {
        *out = e->val;
        return 0;
    }
    e->key = strdup(key);
    if (e->key == NULL)
        return -ENOMEM;
    e->val = new_val;
    *out = new_val;
    return 1;
}

static void km_free(struct hmap *m)
{
    struct km_entry *e;
    size_t i = 0;
    while ((e = hmap_next(m, &i)) != NULL)
        free(e->key);
    hmap_fini(m);
}

static void stats_add(struct model_stats *d, const struct model_stats *s)
{
    d->allocations += s->allocations;
    d->allocated_bytes += s->allocated_bytes;
    d->frees += s->frees;
    d->peak_live_bytes += s->peak_live_bytes;
    d->leaked_bytes += s->leaked_bytes;
    d->leaked_allocations += s->leaked_allocations;
    d->temporary_allocations += s->temporary_allocations;
    d->max_live_blocks += s->max_live_blocks;
    d->slack_bytes += s->slack_bytes;
    d->zero_sampled_bytes += s->zero_sampled_bytes;
    d->zero_bytes += s->zero_bytes;
    for (int i = 0; i < MODEL_HIST_BUCKETS; i++)
        d->hist[i] += s->hist[i];
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* Frames are interned: each distinct (function, file, line, module, inlined) - or
 * module+offset when unknown - is one struct model_frame with an id, and each resolved pc
 * maps to the ids of its frames once. A site is then keyed by its sequence of frame
 * ids: stacks whose return addresses differ but whose symbolized frames agree merge,
 * and no stack is ever turned into text. */
static int frame_key(struct strbuf *b, const struct model_frame *f)
{
    if (f->function != NULL)
        return sb_addf(b, "%s\x1f%s\x1f%d\x1f%s\x1f%d\x1e", f->function, f->file ? f->file : "",
                       f->line, f->module, f->inlined);
    return sb_addf(b, "%s+%" PRIx64 "\x1e", f->module, f->module_offset);
}

/* A resolved pc's frame ids, in a struct hmap of these keyed by (pc, module). */
struct pc_entry {
    uint64_t pc;
    const struct rd_module *m;
    int n, *ids;
};

struct interner {
    struct hmap by_text;         /* frame text -> id (struct km_entry) */
    struct model_frame **frames; /* by id */
    bool *alloc_frame;           /* by id: an allocator wrapper's frame */
    int n, cap;
    struct hmap pcs; /* resolved pc -> frame ids (struct pc_entry) */
};

static void interner_init(struct interner *in)
{
    memset(in, 0, sizeof(*in));
    km_init(&in->by_text);
    hmap_init(&in->pcs, sizeof(struct pc_entry));
}

static int intern_frame(struct interner *in, const struct model_frame *f, struct strbuf *key)
{
    int id, r;

    sb_reset(key);
    if ((r = frame_key(key, f)) < 0 || (r = km_get(&in->by_text, sb_str(key), in->n, &id)) < 0)
        return r;
    if (r == 0)
        return id;
    if (in->n == in->cap) {
        int cap = in->cap ? in->cap * 2 : 1024;
        struct model_frame **fr = realloc(in->frames, (size_t)cap * sizeof(*fr));
        bool *af = fr ? realloc(in->alloc_frame, (size_t)cap * sizeof(*af)) : NULL;
        if (fr != NULL)
            in->frames = fr;
        if (af == NULL)
            return -ENOMEM;
        in->alloc_frame = af;
        in->cap = cap;
    }
    struct model_frame *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return -ENOMEM;
    *copy = *f;
    in->frames[id] = copy;
    in->alloc_frame[id] = allocator_frame(f->function);
    in->n++;
    return id;
}

static bool pc_eq(const void *entry, const void *key)
{
    const struct pc_entry *e = entry, *k = key;
    return e->pc == k->pc && e->m == k->m;
}

/* The frame ids of one pc (resolved and interned once). */
static int pc_frames(struct interner *in, struct sym_cache *sym, uint64_t pc,
                     const struct rd_module *m, struct strbuf *key, const int **ids)
{
    struct pc_entry want = { pc, m, 0, NULL };
    uint64_t hash = pc ^ (uintptr_t)m;
    const struct pc_entry *known = hmap_get(&in->pcs, hash, &want, pc_eq);
    if (known != NULL) {
        *ids = known->ids;
        return known->n;
    }
    const struct sym_frame *sf = NULL;
    int k = 0;
    if (m != NULL && sym != NULL) {
        struct sym_module sm = { m->path, m->build_id, (size_t)m->build_id_len,
                                 m->bias, m->lo,       m->hi };
        k = sym_resolve(sym, &sm, pc, false, &sf);
        if (k == -ENOMEM)
            return k;
    }
    int n = k > 0 ? k : 1;
    int *out = malloc((size_t)n * sizeof(*out));
    if (out == NULL)
        return -ENOMEM;
    for (int j = 0; j < n; j++) {
        struct model_frame f;
        if (k > 0)
            f = (struct model_frame){ sf[j].function, sf[j].file,          sf[j].line,
                                      sf[j].module,   sf[j].module_offset, sf[j].inlined };
        else
            f = (struct model_frame){
                NULL, NULL, 0, m != NULL ? base_name(m->path) : "?", m != NULL ? pc - m->bias : pc,
                false
            };
        int id = intern_frame(in, &f, key);
        if (id < 0) {
            free(out);
            return id;
        }
        out[j] = id;
    }
    bool added;
    struct pc_entry *e = hmap_put(&in->pcs, hash, &want, pc_eq, &added);
    if (e == NULL) {
        free(out);
        return -ENOMEM;
    }
    *e = (struct pc_entry){ pc, m, n, out };
    *ids = out;
    return n;
}

static void interner_free(struct interner *in, bool keep_frames)
{
    km_free(&in->by_text);
    for (int i = 0; i < in->n && !keep_frames; i++)
        free(in->frames[i]);
    if (!keep_frames)
        free(in->frames);
    free(in->alloc_frame);
    struct pc_entry *e;
    size_t i = 0;
    while ((e = hmap_next(&in->pcs, &i)) != NULL)
        free(e->ids);
    hmap_fini(&in->pcs);
}

/* One stack as frame ids, allocator frames trimmed from its top. */
static int stack_ids(struct agg *a, struct interner *in, struct rd_log *r, struct sym_cache *sym,
                     uint32_t id, struct strbuf *key, int **out, int *n_out, uint64_t *first_pc,
                     const struct rd_module **first_mod)
{
    const struct rd_stack *st = rd_stack(r, id);
    int *v = NULL, n = 0, cap = 0;
    bool trimming = true;

    *first_pc = 0;
    *first_mod = NULL;
    for (uint32_t i = 0; st != NULL && i < st->depth; i++) {
        uint64_t pc = st->pcs[i];
        const struct rd_module *m = rd_module_at(r, pc, a->stk[id].first_time);
        const int *ids;
        int k = pc_frames(in, sym, pc, m, key, &ids);
        if (k < 0) {
            free(v);
            return k;
        }
        for (int j = 0; j < k; j++) {
            if (trimming && in->alloc_frame[ids[j]])
                continue;
            if (trimming) {
                *first_pc = pc;
                *first_mod = m;
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
        struct model_frame unknown = { NULL, NULL, 0, "?", 0, false };
        int uid = intern_frame(in, &unknown, key);
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

static int group_into(struct model_group **arr, int *n, struct hmap *km, const char *key,
                      const struct model_site *s, bool with_line)
{
    int idx;
    int r = km_get(km, key, *n, &idx);
    if (r < 0)
        return r;
    if (r == 1) {
        struct model_group *g = realloc(*arr, (size_t)(*n + 1) * sizeof(**arr));
        if (g == NULL)
            return -ENOMEM;
        *arr = g;
        memset(&g[idx], 0, sizeof(g[idx]));
        g[idx].function = s->frames[0]->function;
        g[idx].module = s->frames[0]->module;
        g[idx].file = with_line ? s->frames[0]->file : NULL;
        g[idx].line = with_line ? s->frames[0]->line : 0;
        (*n)++;
    }
    stats_add(&(*arr)[idx].st, &s->st);
    (*arr)[idx].n_sites++;
    return 0;
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

static int find_bloats(struct agg *a, struct sym_cache *sym)
{
    for (int i = 0; i < a->n_sites; i++) {
        const struct model_site *s = &a->sites[i];
        uint64_t size = s->st.common_size;
        if (size == 0)
            continue;
        double blocks = s->st.peak_live_bytes / (double)size;
        if (blocks < BLOAT_MIN_BLOCKS && s->st.max_live_blocks < BLOAT_MIN_BLOCKS)
            continue;
        int j;
        for (j = 0; j < a->n_bloats && a->bloats[j].size != size; j++)
            ;
        if (j == a->n_bloats) {
            struct model_bloat *b = realloc(a->bloats, (size_t)(j + 1) * sizeof(*b));
            if (b == NULL)
                return -ENOMEM;
            a->bloats = b;
            memset(&b[j], 0, sizeof(b[j]));
            b[j].size = size;
            b[j].slack_bytes_per_block = (double)(agg_usable_size(size, a->jemalloc) - size);
            a->n_bloats++;
        }
        struct model_bloat *b = &a->bloats[j];
        b->blocks_at_peak += blocks;
        b->bytes_at_peak += s->st.peak_live_bytes;
        if (b->n_sites < MODEL_BLOAT_SITES)
            b->sites[b->n_sites] = i;
        b->n_sites++;
    }
    for (int j = 0; j < a->n_bloats; j++) {
        struct model_bloat *b = &a->bloats[j];
        double zs = 0, z = 0;
        int n = b->n_sites < MODEL_BLOAT_SITES ? b->n_sites : MODEL_BLOAT_SITES;
        for (int k = 0; k < n; k++) {
            zs += a->sites[b->sites[k]].st.zero_sampled_bytes;
            z += a->sites[b->sites[k]].st.zero_bytes;
        }
        b->zero_share = zs > 0 ? z / zs : -1;
        for (int k = 0; k < n && sym != NULL && b->n_types == 0; k++) {
            const struct site_origin *o = &a->origins[b->sites[k]];
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
    if (a->n_bloats > 1)
        qsort(a->bloats, (size_t)a->n_bloats, sizeof(*a->bloats), cmp_bloat);
    return 0;
}

int agg_finish(struct agg *a, struct rd_log *r, struct sym_cache *sym)
{
    struct hmap sites, funcs, lines;
    struct strbuf key = STRBUF_INIT, fkey = STRBUF_INIT;
    struct interner in;
    int err = 0;

    km_init(&sites);
    km_init(&funcs);
    km_init(&lines);
    interner_init(&in);

    /* Close the books: stacks unchanged since the last peak hold their peak bytes now;
     * what is live now is what leaked. */
    for (uint32_t id = 0; id < a->cap_stk; id++) {
        struct stk *s = &a->stk[id];
        if (!s->used)
            continue;
        save_peak(a, s);
        s->st.leaked_bytes = s->live_bytes;
        s->st.leaked_allocations = s->live_blocks;
        a->tot.leaked_bytes += s->live_bytes;
        a->tot.leaked_allocations += s->live_blocks;
        double total = s->other_sizes;
        for (int i = 0; i < SIZE_SLOTS; i++)
            total += s->size_counts[i];
        for (int i = 0; i < SIZE_SLOTS; i++)
            if (s->size_counts[i] >= 0.9 * total)
                s->st.common_size = s->sizes[i];
    }
    if (a->tot.first_time == UINT64_MAX)
        a->tot.first_time = a->tot.last_time = rd_header(r)->start_ticks;

    for (uint32_t id = 0; id < a->cap_stk; id++) {
        struct stk *s = &a->stk[id];
        if (!s->used)
            continue;
        int *ids, n;
        uint64_t first_pc;
        const struct rd_module *first_mod;
        err = stack_ids(a, &in, r, sym, id, &key, &ids, &n, &first_pc, &first_mod);
        if (err < 0)
            goto out;
        /* The site key: the frame ids as bytes (a keymap key is a string). */
        sb_reset(&key);
        for (int i = 0; i < n && err >= 0; i++)
            err = sb_addf(&key, "%x,", (unsigned)ids[i]);
        int idx;
        if (err >= 0)
            err = km_get(&sites, sb_str(&key), a->n_sites, &idx);
        if (err < 0) {
            free(ids);
            goto out;
        }
        if (err == 1) {
            struct model_site *ns = realloc(a->sites, (size_t)(a->n_sites + 1) * sizeof(*ns));
            if (ns != NULL)
                a->sites = ns;
            struct site_origin *no = realloc(a->origins, (size_t)(a->n_sites + 1) * sizeof(*no));
            if (no != NULL)
                a->origins = no;
            const struct model_frame **fr = malloc((size_t)n * sizeof(*fr));
            if (ns == NULL || no == NULL || fr == NULL) {
                free(fr);
                free(ids);
                err = -ENOMEM;
                goto out;
            }
            for (int i = 0; i < n; i++)
                fr[i] = in.frames[ids[i]];
            memset(&ns[idx], 0, sizeof(ns[idx]));
            ns[idx].frames = fr;
            ns[idx].n_frames = n;
            no[idx] = (struct site_origin){ first_pc, first_mod };
            ns[idx].st.common_size = s->st.common_size;
            a->n_sites++;
        } else if (a->sites[idx].st.common_size != s->st.common_size) {
            a->sites[idx].st.common_size = 0;
        }
        free(ids);
        uint64_t cs = a->sites[idx].st.common_size;
        stats_add(&a->sites[idx].st, &s->st);
        a->sites[idx].st.common_size = cs;
    }
    for (int i = 0; i < a->n_sites; i++) {
        const struct model_site *s = &a->sites[i];
        const struct model_frame *f = s->frames[0];
        sb_reset(&key);
        sb_reset(&fkey);
        if ((err = frame_key(&key, f)) < 0)
            goto out;
        /* by function: the frame without its line (an unknown one is its module+offset) */
        if (f->function != NULL)
            err = sb_addf(&fkey, "%s\x1f%s", f->function, f->module);
        else
            err = sb_adds(&fkey, sb_str(&key));
        if (err < 0 ||
            (err = group_into(&a->funcs, &a->n_funcs, &funcs, sb_str(&fkey), s, false)) < 0 ||
            (err = group_into(&a->lines, &a->n_lines, &lines, sb_str(&key), s, true)) < 0)
            goto out;
    }
    err = find_bloats(a, sym);
out:
    a->frames = in.frames;
    a->n_frames_owned = in.n;
    interner_free(&in, true);
    sb_fini(&key);
    sb_fini(&fkey);
    km_free(&sites);
    km_free(&funcs);
    km_free(&lines);
    return err < 0 ? err : 0;
}

const struct agg_totals *agg_totals(const struct agg *a)
{
    return &a->tot;
}

int agg_n_sites(const struct agg *a)
{
    return a->n_sites;
}

const struct model_site *agg_site(const struct agg *a, int i)
{
    assert(i >= 0 && i < a->n_sites);
    return &a->sites[i];
}

int agg_n_functions(const struct agg *a)
{
    return a->n_funcs;
}

const struct model_group *agg_function(const struct agg *a, int i)
{
    return &a->funcs[i];
}

int agg_n_lines(const struct agg *a)
{
    return a->n_lines;
}

const struct model_group *agg_line(const struct agg *a, int i)
{
    return &a->lines[i];
}

int agg_n_bloats(const struct agg *a)
{
    return a->n_bloats;
}

const struct model_bloat *agg_bloat(const struct agg *a, int i)
{
    return &a->bloats[i];
}

void agg_fill_model(const struct agg *a, struct model *m)
{
    m->n_sites = a->n_sites;
    m->sites = a->sites;
    m->n_functions = a->n_funcs;
    m->functions = a->funcs;
    m->n_lines = a->n_lines;
    m->lines = a->lines;
    m->n_bloats = a->n_bloats;
    m->bloats = a->bloats;
}

void agg_free(struct agg *a)
{
    if (a == NULL)
        return;
    ls_free(a->live);
    free(a->stk);
    hmap_fini(&a->threads);
    for (int i = 0; i < a->n_sites; i++)
        free((void *)a->sites[i].frames);
    free(a->sites);
    free(a->origins);
    for (int i = 0; i < a->n_frames_owned; i++)
        free(a->frames[i]);
    free(a->frames);
    free(a->funcs);
    free(a->lines);
    for (int i = 0; i < a->n_bloats; i++)
        free_structs((struct model_struct *)a->bloats[i].types, a->bloats[i].n_types);
    free(a->bloats);
    free(a);
}
