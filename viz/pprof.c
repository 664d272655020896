/* pprof.c - pprof's profile.proto, gzip'd (see export.h). Field numbers are
 * google/pprof's proto/profile.proto. Everything is collected first (the string table
 * must hold every name), then written in one pass with util/pbuf. */
#include "viz/export.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/gzip.h"
#include "util/hashmap.h"
#include "util/pbuf.h"
#include "viz/web.h"

/* Profile's fields. */
enum {
    P_SAMPLE_TYPE = 1,
    P_SAMPLE = 2,
    P_MAPPING = 3,
    P_LOCATION = 4,
    P_FUNCTION = 5,
    P_STRING_TABLE = 6,
    P_TIME_NANOS = 9,
    P_DURATION_NANOS = 10,
    P_PERIOD_TYPE = 11,
    P_PERIOD = 12,
    P_COMMENT = 13,
};

struct strent {
    const char *s;
    int64_t id;
};

struct fnent { /* a function: name, system name, file */
    const char *name, *system, *file;
    uint64_t id;
};

struct mapent {
    const char *key; /* the module's path, or its name */
    const struct model_frame *f;
    uint64_t id, limit;
};

struct locent { /* a code address: its chain of frames, innermost first */
    const struct model_frame *const *frames;
    int n;
    uint64_t id, mapping;
};

struct pp {
    const struct model *m;
    struct hmap strs, fns, maps, locs;
    const char **str_list;
    int64_t n_strs, cap_strs;
    char **owned; /* strings made here (cleaned, or formatted) */
    int n_owned, cap_owned;
    struct fnent **fn_list;
    struct mapent **map_list;
    struct locent **loc_list;
    uint64_t n_fns, n_maps, n_locs;
    /* per sample: its locations, leaf first */
    uint64_t *sample_locs;
    size_t n_sample_locs;
};

static bool str_eq(const void *e, const void *k)
{
    return !strcmp(((const struct strent *)e)->s, (const char *)k);
}

static bool fn_eq(const void *e, const void *k)
{
    const struct fnent *a = e, *b = k;
    return !strcmp(a->name, b->name) && !strcmp(a->system, b->system) && !strcmp(a->file, b->file);
}

static bool map_eq(const void *e, const void *k)
{
    return !strcmp(((const struct mapent *)e)->key, (const char *)k);
}

static bool loc_eq(const void *e, const void *k)
{
    const struct locent *a = e, *b = k;
    return a->n == b->n && !memcmp(a->frames, b->frames, (size_t)a->n * sizeof(*a->frames));
}

static char *own(struct pp *p, char *s)
{
    if (s == NULL)
        return NULL;
    if (p->n_owned == p->cap_owned) {
        int cap = p->cap_owned ? 2 * p->cap_owned : 64;
        char **o = realloc(p->owned, (size_t)cap * sizeof(*o));
        if (o == NULL) {
            free(s);
            return NULL;
        }
        p->owned = o;
        p->cap_owned = cap;
    }
    p->owned[p->n_owned++] = s;
    return s;
}

/* s, or a copy with each byte that is not UTF-8 replaced: proto3 strings must be. */
static const char *utf8(struct pp *p, const char *s)
{
    const unsigned char *q = (const unsigned char *)s;
    int n;
    while (*q && (n = web_utf8_len(q)) > 0)
        q += n;
    if (*q == '\0')
        return s;
    char *c = malloc(3 * strlen(s) + 1), *o = c;
    if (c == NULL)
        return NULL;
    for (q = (const unsigned char *)s; *q;) {
        if ((n = web_utf8_len(q)) > 0) {
            memcpy(o, q, (size_t)n);
            o += n;
            q += n;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            q++;
        }
    }
    *o = '\0';
    return own(p, c);
}

/* The string's index in the table; -ENOMEM. */
static int64_t str_id(struct pp *p, const char *s)
{
    bool added;
    if (s == NULL)
        s = "";
    if ((s = utf8(p, s)) == NULL)
        return -ENOMEM;
    struct strent *e = hmap_put(&p->strs, hmap_hash_str(s), s, str_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (added) {
        if (p->n_strs == p->cap_strs) {
            int64_t cap = p->cap_strs ? 2 * p->cap_strs : 256;
            const char **l = realloc(p->str_list, (size_t)cap * sizeof(*l));
            if (l == NULL)
                return -ENOMEM;
            p->str_list = l;
            p->cap_strs = cap;
        }
        e->s = s;
        e->id = p->n_strs;
        p->str_list[p->n_strs++] = s;
    }
    return e->id;
}

/* Grows a list of pointers to hold one more. */
static bool grow(void *listp, uint64_t n)
{
    void ***list = listp;
    if ((n & (n - 1)) != 0 && n != 0)
        return true; /* room left: capacities are powers of two */
    uint64_t cap = n ? 2 * n : 16;
    void **l = realloc(*list, cap * sizeof(*l));
    if (l == NULL)
        return false;
    *list = l;
    return true;
}

static const char *unknown_name(struct pp *p, const struct model_frame *f)
{
    char buf[300];
    snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, f->module ? f->module : "?", f->module_offset);
    return own(p, strdup(buf));
}

/* The function of a frame: its id, or 0 when out of memory. */
static uint64_t function_of(struct pp *p, const struct model_frame *f)
{
    struct fnent k = { f->function, f->linkage_name, f->file ? f->file : "", 0 };
    bool added;

    if (k.name == NULL && (k.name = unknown_name(p, f)) == NULL)
        return 0;
    if (k.system == NULL)
        k.system = k.name;
    uint64_t h =
        hmap_hash_str(k.name) ^ (hmap_hash_str(k.system) * 31) ^ (hmap_hash_str(k.file) * 131);
    struct fnent *e = hmap_put(&p->fns, h, &k, fn_eq, &added);
    if (e == NULL)
        return 0;
    if (added) {
        if (!grow(&p->fn_list, p->n_fns))
            return 0;
        *e = k;
        e->id = p->n_fns + 1;
        /* the list points at the map's entries, which move: store copies */
        struct fnent *c = malloc(sizeof(*c));
        if (c == NULL)
            return 0;
        *c = *e;
        p->fn_list[p->n_fns++] = c;
    }
    return e->id;
}

static const char *module_key(const struct model_frame *f)
{
    if (f->module_path != NULL && f->module_path[0] != '\0')
        return f->module_path;
    return f->module != NULL ? f->module : "";
}

static uint64_t mapping_of(struct pp *p, const char *key, const struct model_frame *f)
{
    bool added;
    struct mapent *e = hmap_put(&p->maps, hmap_hash_str(key), key, map_eq, &added);
    if (e == NULL)
        return 0;
    if (added) {
        if (!grow(&p->map_list, p->n_maps))
            return 0;
        struct mapent *c = malloc(sizeof(*c));
        if (c == NULL)
            return 0;
        *c = (struct mapent){ key, f, p->n_maps + 1, 0 };
        *e = *c;
        p->map_list[p->n_maps++] = c;
    }
    if (f != NULL && p->map_list[e->id - 1]->f == NULL)
        p->map_list[e->id - 1]->f = f;
    return e->id;
}

/* The location of the inline chain frames[0..n), the last frame the real one. */
static uint64_t location_of(struct pp *p, const struct model_frame *const *frames, int n)
{
    struct locent k = { frames, n, 0, 0 };
    bool added;
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint64_t)(uintptr_t)frames[i]) * 1099511628211ull;
    struct locent *e = hmap_put(&p->locs, h, &k, loc_eq, &added);
    if (e == NULL)
        return 0;
    if (!added)
        return e->id;
    const struct model_frame *real = frames[n - 1];
    /* The program's code is mapping 1's, whatever path its module was loaded by (a
     * symlink, a relative argv[0]). */
    uint64_t map = flame_frame_kind(p->m, real) == FLAME_KIND_PROGRAM
                       ? 1
                       : mapping_of(p, module_key(real), real);
    if (map == 0 || !grow(&p->loc_list, p->n_locs))
        return 0;
    if (map == 1 && p->map_list[0]->f == NULL)
        p->map_list[0]->f = real;
    struct locent *c = malloc(sizeof(*c));
    if (c == NULL)
        return 0;
    *c = (struct locent){ frames, n, p->n_locs + 1, map };
    *e = *c;
    p->loc_list[p->n_locs++] = c;
    if (real->module_offset + 1 > p->map_list[map - 1]->limit)
        p->map_list[map - 1]->limit = real->module_offset + 1;
    return c->id;
}

static int64_t iround(double v)
{
    return v > 0 ? (int64_t)llround(v) : 0;
}

/* Everything but the bytes: tables, and each sample's locations. */
static int collect(struct pp *p)
{
    const struct model *m = p->m;
    size_t total = 0;

    if (str_id(p, "") < 0) /* string_table[0] */
        return -ENOMEM;
    /* Mapping 1 is the program. */
    if (mapping_of(p, m->process.exe[0] ? m->process.exe : "(program)", NULL) != 1)
        return -ENOMEM;
    for (int i = 0; i < m->n_sites; i++)
        total += (size_t)m->sites[i].n_frames + 1;
    p->sample_locs = malloc((total + 1) * sizeof(*p->sample_locs));
    if (p->sample_locs == NULL)
        return -ENOMEM;
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        size_t start = p->n_sample_locs++; /* the count goes first */
        for (int k = 0; k < s->n_frames;) {
            int j = k;
            while (j + 1 < s->n_frames && s->frames[j]->inlined)
                j++;
            uint64_t id = location_of(p, s->frames + k, j - k + 1);
            if (id == 0)
                return -ENOMEM;
            p->sample_locs[p->n_sample_locs++] = id;
            k = j + 1;
        }
        p->sample_locs[start] = p->n_sample_locs - start - 1;
    }
    for (uint64_t i = 0; i < p->n_locs; i++)
        for (int k = 0; k < p->loc_list[i]->n; k++)
            if (function_of(p, p->loc_list[i]->frames[k]) == 0)
                return -ENOMEM;
    return 0;
}

static uint64_t sid(struct pp *p, const char *s)
{
    int64_t id = str_id(p, s);
    return id > 0 ? (uint64_t)id : 0; /* interned by collect, or "" */
}

static void value_type(struct pbuf *b, struct pp *p, uint32_t field, const char *type,
                       const char *unit)
{
    pb_begin(b, field);
    pb_int(b, 1, (int64_t)sid(p, type));
    pb_int(b, 2, (int64_t)sid(p, unit));
    pb_end(b);
}

static int write_profile(struct pp *p, struct pbuf *b)
{
    const struct model *m = p->m;
    size_t at = 0;

    /* Intern every string the writing will ask for, so that ids are known. */
    static const char *const fixed[] = { "alloc_objects", "count",       "alloc_space", "bytes",
                                         "inuse_objects", "inuse_space", "space" };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (str_id(p, fixed[i]) < 0)
            return -ENOMEM;
    for (uint64_t i = 0; i < p->n_maps; i++) {
        const struct mapent *e = p->map_list[i];
        if (str_id(p, e->key) < 0 ||
            (e->f != NULL && e->f->build_id != NULL && str_id(p, e->f->build_id) < 0))
            return -ENOMEM;
    }
    for (uint64_t i = 0; i < p->n_fns; i++) {
        const struct fnent *e = p->fn_list[i];
        if (str_id(p, e->name) < 0 || str_id(p, e->system) < 0 || str_id(p, e->file) < 0)
            return -ENOMEM;
    }
    char comment[200];
    snprintf(comment, sizeof(comment), "heapspan: %s%s", m->process.log_path,
             m->totals.sampled ? " (sampled: values are estimates, scaled up)" : "");
    if (str_id(p, comment) < 0)
        return -ENOMEM;

    value_type(b, p, P_SAMPLE_TYPE, "alloc_objects", "count");
    value_type(b, p, P_SAMPLE_TYPE, "alloc_space", "bytes");
    value_type(b, p, P_SAMPLE_TYPE, "inuse_objects", "count");
    value_type(b, p, P_SAMPLE_TYPE, "inuse_space", "bytes");
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        uint64_t n = p->sample_locs[at];
        const uint64_t *locs = p->sample_locs + at + 1;
        int64_t v[4] = { iround(s->st.allocations), iround(s->st.allocated_bytes),
                         iround(s->st.live_blocks), iround(s->st.live_bytes) };
        at += n + 1;
        if (v[0] == 0 && v[1] == 0 && v[2] == 0 && v[3] == 0)
            continue;
        pb_begin(b, P_SAMPLE);
        pb_packed_begin(b, 1);
        for (uint64_t k = 0; k < n; k++)
            pb_packed_uint(b, locs[k]);
        pb_end(b);
        pb_packed_begin(b, 2);
        for (int k = 0; k < 4; k++)
            pb_packed_int(b, v[k]);
        pb_end(b);
        if (s->st.allocations > 0) { /* Go's label: the mean block size */
            pb_begin(b, 3);
            pb_int(b, 1, (int64_t)sid(p, "bytes"));
            pb_int(b, 3, iround(s->st.allocated_bytes / s->st.allocations));
            pb_end(b);
        }
        pb_end(b);
    }
    for (uint64_t i = 0; i < p->n_maps; i++) {
        const struct mapent *e = p->map_list[i];
        bool symbols = e->f != NULL && e->f->function != NULL;
        pb_begin(b, P_MAPPING);
        pb_uint(b, 1, e->id);
        pb_uint(b, 3, e->limit);
        pb_int(b, 5, (int64_t)sid(p, e->key));
        if (e->f != NULL && e->f->build_id != NULL)
            pb_int(b, 6, (int64_t)sid(p, e->f->build_id));
        pb_uint(b, 7, symbols);
        pb_uint(b, 8, symbols);
        pb_uint(b, 9, symbols);
        pb_uint(b, 10, symbols);
        pb_end(b);
    }
    for (uint64_t i = 0; i < p->n_locs; i++) {
        const struct locent *e = p->loc_list[i];
        const struct model_frame *real = e->frames[e->n - 1];
        pb_begin(b, P_LOCATION);
        pb_uint(b, 1, e->id);
        pb_uint(b, 2, e->mapping);
        pb_uint(b, 3, real->module_offset);
        for (int k = 0; k < e->n; k++) {
            pb_begin(b, 4);
            pb_uint(b, 1, function_of(p, e->frames[k]));
            pb_int(b, 2, e->frames[k]->line);
            pb_end(b);
        }
        pb_end(b);
    }
    for (uint64_t i = 0; i < p->n_fns; i++) {
        const struct fnent *e = p->fn_list[i];
        pb_begin(b, P_FUNCTION);
        pb_uint(b, 1, e->id);
        pb_int(b, 2, (int64_t)sid(p, e->name));
        pb_int(b, 3, (int64_t)sid(p, e->system));
        pb_int(b, 4, (int64_t)sid(p, e->file));
        pb_end(b);
    }
    value_type(b, p, P_PERIOD_TYPE, "space", "bytes");
    pb_int(b, P_PERIOD, m->process.sample_bytes > 1 ? (int64_t)m->process.sample_bytes : 1);
    pb_int(b, P_TIME_NANOS, (int64_t)m->process.start_unix_ns);
    pb_int(b, P_DURATION_NANOS, iround(m->totals.last_ns));
    pb_int(b, P_COMMENT, (int64_t)sid(p, comment));
    /* Last, once every string is in: string_table[0] is "" and is written. */
    for (int64_t i = 0; i < p->n_strs; i++)
        pb_string(b, P_STRING_TABLE, p->str_list[i]);
    return pb_error(b);
}

int export_pprof(const struct model *m, uint8_t **out, size_t *len)
{
    struct pp p = { .m = m };
    struct pbuf b;
    int err;

    *out = NULL;
    *len = 0;
    hmap_init(&p.strs, sizeof(struct strent));
    hmap_init(&p.fns, sizeof(struct fnent));
    hmap_init(&p.maps, sizeof(struct mapent));
    hmap_init(&p.locs, sizeof(struct locent));
    pb_init(&b);
    if ((err = collect(&p)) == 0 && (err = write_profile(&p, &b)) == 0)
        err = gz_compress(pb_data(&b), pb_len(&b), out, len);
    pb_fini(&b);
    for (uint64_t i = 0; i < p.n_fns; i++)
        free(p.fn_list[i]);
    for (uint64_t i = 0; i < p.n_maps; i++)
        free(p.map_list[i]);
    for (uint64_t i = 0; i < p.n_locs; i++)
        free(p.loc_list[i]);
    for (int i = 0; i < p.n_owned; i++)
        free(p.owned[i]);
    free(p.owned);
    free(p.fn_list);
    free(p.map_list);
    free(p.loc_list);
    free(p.str_list);
    free(p.sample_locs);
    hmap_fini(&p.strs);
    hmap_fini(&p.fns);
    hmap_fini(&p.maps);
    hmap_fini(&p.locs);
    return err;
}
