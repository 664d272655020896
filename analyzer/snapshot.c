/* snapshot.c - see snapshot.h; the layout is format/snapfmt.h's. */
#include "analyzer/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "analyzer/aggregate.h"
#include "format/logfmt.h"
#include "format/snapfmt.h"
#include "util/hashmap.h"

/* ---- bytes ---- */

struct buf {
    uint8_t *p;
    size_t len, cap;
    bool failed; /* out of memory once: everything after is dropped */
};

static void buf_reserve(struct buf *b, size_t n)
{
    if (b->failed || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void put_bytes(struct buf *b, const void *src, size_t n)
{
    buf_reserve(b, n);
    if (b->failed || n == 0)
        return;
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u(struct buf *b, uint64_t v)
{
    uint8_t tmp[10];
    put_bytes(b, tmp, (size_t)(lf_put_varint(tmp, v) - tmp));
}

static void put_f(struct buf *b, double v)
{
    uint8_t tmp[8];
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    lf_put_u64(tmp, bits);
    put_bytes(b, tmp, sizeof(tmp));
}

/* ---- writing ---- */

struct str_entry {
    const char *s;
    uint32_t id;
};

struct frame_entry {
    const struct model_frame *f;
    uint32_t id;
};

struct writer {
    struct buf strings; /* the STRING records, in id order */
    struct buf body;    /* the other records */
    struct buf rec;     /* the record being made */
    struct hmap str_ids;
    uint32_t n_strings;
    struct hmap frame_ids;
    uint32_t n_frames;
    uint32_t n_records;
    bool failed;
};

static bool str_eq(const void *entry, const void *key)
{
    return strcmp(((const struct str_entry *)entry)->s, key) == 0;
}

/* A string field: its id, with its STRING record written the first time it is seen. */
static void put_str(struct writer *w, struct buf *b, const char *s)
{
    if (s == NULL) {
        put_u(b, 0);
        return;
    }
    bool added;
    struct str_entry *e = hmap_put(&w->str_ids, hmap_hash_str(s), s, str_eq, &added);
    if (e == NULL) {
        w->failed = true;
        return;
    }
    if (added) {
        size_t n = strlen(s);
        e->s = s;
        e->id = ++w->n_strings;
        put_u(&w->strings, SF_REC_STRING);
        put_u(&w->strings, n);
        put_bytes(&w->strings, s, n);
        w->n_records++;
    }
    put_u(b, e->id);
}

/* Ends the record made in w->rec: its type and length, then its fields, into body. */
static void end_record(struct writer *w, enum sf_rec type)
{
    put_u(&w->body, type);
    put_u(&w->body, w->rec.len);
    put_bytes(&w->body, w->rec.p, w->rec.len);
    w->rec.len = 0;
    w->n_records++;
}

static void put_process(struct writer *w, const struct model *m)
{
    const struct model_process *p = &m->process;
    struct buf *r = &w->rec;

    put_str(w, r, p->log_path);
    put_str(w, r, p->exe);
    put_u(r, (uint64_t)(p->argc > 0 ? p->argc : 0));
    for (int i = 0; i < p->argc; i++)
        put_str(w, r, p->argv[i]);
    put_u(r, p->pid);
    put_u(r, p->ppid);
    put_u(r, p->start_unix_ns);
    put_u(r, p->sample_bytes);
    put_u(r, p->ended);
    put_u(r, p->truncated);
    put_u(r, (uint64_t)p->end_reason);
    put_u(r, p->log_bytes);
    put_u(r, p->bytes_read);
    put_u(r, (uint64_t)p->point.at);
    put_u(r, p->point.marker);
    put_u(r, p->point.marker_serial);
    put_str(w, r, p->point.marker_kind);
    put_f(r, p->point.ns);
    put_f(r, p->end_ns);
    put_u(r, p->end_lost_events);
    end_record(w, SF_REC_PROCESS);
}

static void put_totals(struct writer *w, const struct model_totals *t)
{
    struct buf *r = &w->rec;

    put_f(r, t->allocations);
    put_f(r, t->frees);
    put_f(r, t->allocated_bytes);
    put_f(r, t->peak_live_bytes);
    put_f(r, t->peak_ns);
    put_f(r, t->leaked_bytes);
    put_f(r, t->leaked_allocations);
    put_f(r, t->live_bytes);
    put_f(r, t->live_blocks);
    put_f(r, t->runtime_bytes);
    put_f(r, t->runtime_allocations);
    put_f(r, t->suppressed_bytes);
    put_f(r, t->suppressed_allocations);
    put_f(r, t->temporary_allocations);
    put_u(r, t->lost_events);
    put_u(r, t->unknown_frees);
    put_u(r, t->markers);
    put_f(r, t->first_ns);
    put_f(r, t->last_ns);
    put_u(r, t->sampled);
    end_record(w, SF_REC_TOTALS);
}

static bool frame_eq(const void *entry, const void *key)
{
    return ((const struct frame_entry *)entry)->f == key;
}

/* The frame's id; with its FRAME record written the first time (a frame is a pointer
 * of the model: shared frames are written once, in the order sites first use them). */
static uint32_t frame_id(struct writer *w, const struct model_frame *f, bool *added)
{
    struct frame_entry *e = hmap_put(&w->frame_ids, (uint64_t)(uintptr_t)f, f, frame_eq, added);
    if (e == NULL) {
        w->failed = true;
        *added = false;
        return 0;
    }
    if (*added) {
        e->f = f;
        e->id = w->n_frames++;
    }
    return e->id;
}

static void put_frames(struct writer *w, const struct model *m)
{
    struct buf *r = &w->rec;

    for (int i = 0; i < m->n_sites; i++) {
        for (int k = 0; k < m->sites[i].n_frames; k++) {
            const struct model_frame *f = m->sites[i].frames[k];
            bool added;
            frame_id(w, f, &added);
            if (!added)
                continue;
            put_str(w, r, f->function);
            put_str(w, r, f->file);
            put_u(r, (uint64_t)(f->line > 0 ? f->line : 0));
            put_str(w, r, f->module);
            put_u(r, f->module_offset);
            put_u(r, f->inlined);
            put_str(w, r, f->linkage_name);
            put_str(w, r, f->module_path);
            put_str(w, r, f->build_id);
            end_record(w, SF_REC_FRAME);
        }
    }
}

static void put_site(struct writer *w, const struct model_site *s)
{
    const struct model_stats *st = &s->st;
    struct buf *r = &w->rec;
    int n_hist = 0;

    put_u(r, (uint64_t)s->n_frames);
    for (int k = 0; k < s->n_frames; k++) {
        bool added;
        put_u(r, frame_id(w, s->frames[k], &added));
    }
    put_f(r, st->allocations);
    put_f(r, st->allocated_bytes);
    put_f(r, st->frees);
    put_f(r, st->peak_live_bytes);
    put_f(r, st->leaked_bytes);
    put_f(r, st->leaked_allocations);
    put_f(r, st->live_bytes);
    put_f(r, st->live_blocks);
    put_f(r, st->temporary_allocations);
    put_f(r, st->max_live_blocks);
    put_f(r, st->slack_bytes);
    put_f(r, st->zero_sampled_bytes);
    put_f(r, st->zero_bytes);
    put_u(r, st->common_size);
    for (int b = 0; b < MODEL_HIST_BUCKETS; b++)
        n_hist += st->hist[b] != 0;
    put_u(r, (uint64_t)n_hist);
    for (int b = 0; b < MODEL_HIST_BUCKETS; b++) {
        if (st->hist[b] != 0) {
            put_u(r, (uint64_t)b);
            put_f(r, st->hist[b]);
        }
    }
    put_u(r, (uint64_t)s->leak_kind);
    put_str(w, r, s->leak_rule);
    end_record(w, SF_REC_SITE);
}

static void put_bloat(struct writer *w, const struct model_bloat *b)
{
    struct buf *r = &w->rec;
    int listed = b->n_sites < MODEL_BLOAT_SITES ? b->n_sites : MODEL_BLOAT_SITES;

    put_u(r, b->size);
    put_f(r, b->blocks_at_peak);
    put_f(r, b->bytes_at_peak);
    put_f(r, b->slack_bytes_per_block);
    put_f(r, b->zero_share);
    put_u(r, (uint64_t)b->n_sites);
    put_u(r, (uint64_t)listed);
    for (int k = 0; k < listed; k++)
        put_u(r, (uint64_t)b->sites[k]);
    put_u(r, (uint64_t)b->n_types);
    for (int t = 0; t < b->n_types; t++) {
        const struct model_struct *ty = &b->types[t];
        put_str(w, r, ty->kind);
        put_str(w, r, ty->name);
        put_u(r, ty->size);
        put_u(r, ty->hole_bytes);
        put_u(r, ty->padding_bytes);
        put_u(r, (uint64_t)ty->n_members);
        for (int k = 0; k < ty->n_members; k++) {
            const struct model_member *mb = &ty->members[k];
            put_str(w, r, mb->name);
            put_str(w, r, mb->type_name);
            put_u(r, mb->offset);
            put_u(r, mb->size);
            put_u(r, mb->bit_offset);
            put_u(r, mb->bit_size);
            put_u(r, mb->hole_after);
        }
    }
    end_record(w, SF_REC_BLOAT);
}

static void writer_fini(struct writer *w)
{
    free(w->strings.p);
    free(w->body.p);
    free(w->rec.p);
    hmap_fini(&w->str_ids);
    hmap_fini(&w->frame_ids);
}

int snap_encode(const struct model *m, uint8_t **out, size_t *len)
{
    struct writer w;
    uint8_t *file = NULL;
    int err = 0;

    *out = NULL;
    *len = 0;
    memset(&w, 0, sizeof(w));
    hmap_init(&w.str_ids, sizeof(struct str_entry));
    hmap_init(&w.frame_ids, sizeof(struct frame_entry));
    put_process(&w, m);
    put_totals(&w, &m->totals);
    put_frames(&w, m);
    for (int i = 0; i < m->n_sites; i++)
        put_site(&w, &m->sites[i]);
    for (int i = 0; i < m->n_bloats; i++)
        put_bloat(&w, &m->bloats[i]);
    for (int i = 0; i < m->n_warnings; i++) {
        put_str(&w, &w.rec, m->warnings[i]);
        end_record(&w, SF_REC_WARNING);
    }
    for (int i = 0; i < m->n_threads; i++) {
        const struct model_thread *t = &m->threads[i];
        put_u(&w.rec, t->tid);
        put_f(&w.rec, t->allocations);
        put_f(&w.rec, t->allocated_bytes);
        put_f(&w.rec, t->frees);
        put_f(&w.rec, t->temporary_allocations);
        end_record(&w, SF_REC_THREAD);
    }
    put_u(&w.rec, w.n_strings);
    put_u(&w.rec, w.n_frames);
    put_u(&w.rec, (uint64_t)m->n_sites);
    put_u(&w.rec, (uint64_t)m->n_bloats);
    put_u(&w.rec, (uint64_t)m->n_warnings);
    end_record(&w, SF_REC_END);
    /* The body: the strings, then the rest, in one piece for the compressor. */
    put_bytes(&w.strings, w.body.p, w.body.len);
    if (w.failed || w.strings.failed || w.body.failed || w.rec.failed) {
        err = -ENOMEM;
        goto out;
    }
    size_t raw = w.strings.len, bound = ZSTD_compressBound(raw);
    file = malloc(SF_HDR_SIZE + bound);
    if (file == NULL) {
        err = -ENOMEM;
        goto out;
    }
    size_t stored = ZSTD_compress(file + SF_HDR_SIZE, bound, w.strings.p, raw, SF_ZSTD_LEVEL);
    if (ZSTD_isError(stored)) {
        err = -EIO;
        goto out;
    }
    uint8_t *h = file;
    memset(h, 0, SF_HDR_SIZE);
    memcpy(h, SF_MAGIC, 8);
    lf_put_u16(h + 8, SF_MAJOR);
    lf_put_u16(h + 10, SF_MINOR);
    lf_put_u16(h + 12, SF_HDR_SIZE);
    lf_put_u16(h + 14, SF_FLAG_ZSTD);
    lf_put_u64(h + 16, stored);
    lf_put_u64(h + 24, raw);
    lf_put_u32(h + 32, lf_crc32c(0, file + SF_HDR_SIZE, stored));
    lf_put_u32(h + 36, w.n_records);
    lf_put_u32(h + 40, lf_crc32c(0, h, 40));
    *out = file;
    *len = SF_HDR_SIZE + stored;
    file = NULL;
out:
    free(file);
    writer_fini(&w);
    return err;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int snap_write(const struct model *m, const char *path, char *msg, size_t msg_cap)
{
    uint8_t *bytes;
    size_t len;
    char *tmp = NULL;
    int fd = -1, err;

    if ((err = snap_encode(m, &bytes, &len)) < 0) {
        snprintf(msg, msg_cap, "%s: %s while encoding the snapshot", path,
                 err == -ENOMEM ? "out of memory" : "a zstd error");
        return err;
    }
    if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
        tmp = NULL;
        err = -ENOMEM;
        snprintf(msg, msg_cap, "%s: out of memory", path);
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        snprintf(msg, msg_cap, "%s: cannot create a file beside it: %s", path, strerror(errno));
        goto out;
    }
    /* mkostemp's 0600; a snapshot, like any output file, takes the umask's mode. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || (err = write_all(fd, bytes, len)) < 0 || fsync(fd) != 0) {
        err = err < 0 ? err : -errno;
        snprintf(msg, msg_cap, "%s: cannot write: %s", path, strerror(-err));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = -errno;
        snprintf(msg, msg_cap, "%s: cannot write: %s", path, strerror(-err));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = -errno;
        snprintf(msg, msg_cap, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    err = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
    free(tmp);
    free(bytes);
    return err;
}

/* ---- reading ---- */

struct raw_frame {
    uint32_t function, file, module, linkage_name, module_path, build_id;
    uint64_t line, offset;
    bool inlined;
};

struct raw_site {
    struct model_stats st;
    size_t first_frame; /* in the frame id list */
    uint32_t n_frames;
    enum model_leak_kind kind;
    uint32_t rule;
};

struct raw_type {
    uint32_t kind, name;
    uint64_t size, hole_bytes, padding_bytes;
    size_t first_member;
    uint32_t n_members;
};

struct raw_member {
    uint32_t name, type_name;
    uint64_t offset, size, bit_offset, bit_size, hole_after;
};

struct raw_bloat {
    struct model_bloat b; /* without its types */
    size_t first_type;
    uint32_t n_types;
};

/* A growing array of fixed-size elements. */
struct vec {
    void *p;
    size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void *p = realloc(v->p, cap * v->size);
        if (p == NULL)
            return NULL;
        v->p = p;
        v->cap = cap;
    }
    void *e = (char *)v->p + v->n++ * v->size;
    memset(e, 0, v->size);
    return e;
}

/* Appends n elements; false when out of memory. */
static bool vec_append(struct vec *v, const void *src, size_t n)
{
    if (n == 0) /* an empty string first: v->p may still be NULL, not to be offset */
        return true;
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < v->n + n)
            cap *= 2;
        void *p = realloc(v->p, cap * v->size);
        if (p == NULL)
            return false;
        v->p = p;
        v->cap = cap;
    }
    memcpy((char *)v->p + v->n * v->size, src, n * v->size);
    v->n += n;
    return true;
}

struct snap {
    struct model model;
    char *path;
    char *arena;       /* the strings, each with its NUL */
    const char **strs; /* by id; [0] NULL */
    uint32_t n_strs;
    struct model_frame *frames;
    size_t n_frames;
    const struct model_frame **frame_list; /* the sites' frames */
    struct model_site *sites;
    struct model_group *funcs, *lines;
    struct model_bloat *bloats;
    struct model_struct *types;
    struct model_member *members;
    const char **argv;
    const char **warnings;
    struct model_thread *threads;
};

/* The decoder's state: the body, where it is, and what it has read so far. */
struct reader {
    const char *name;
    const uint8_t *body, *p, *end; /* the body; the cursor; the current record's end */
    size_t body_len;
    char *msg;
    size_t msg_cap;
    const char *rec_name;
    /* what was read */
    struct vec str_off;     /* size_t: offset in arena of string id k+1 */
    struct vec arena;       /* char */
    struct vec frames;      /* struct raw_frame */
    struct vec site_frames; /* uint32_t */
    struct vec sites;       /* struct raw_site */
    struct vec bloats;      /* struct raw_bloat */
    struct vec types;       /* struct raw_type */
    struct vec members;     /* struct raw_member */
    struct vec argv;        /* uint32_t */
    struct vec warnings;    /* uint32_t */
    struct vec threads;     /* struct model_thread */
    bool have_process, have_totals, have_end;
    double live_bytes_sum, live_blocks_sum; /* of the sites read, in magnitude */
    struct {
        uint32_t log_path, exe, marker_kind;
        struct model_process p;
    } proc;
    struct model_totals tot;
};

static int fail(char *msg, size_t cap, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t cap, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return err;
}

/* A damaged body: the message names the record's offset in the decompressed body. */
static int bad(struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct reader *rd, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return fail(rd->msg, rd->msg_cap, -EINVAL,
                "%s: byte %zu of the decompressed body: %s%s%s; the snapshot is damaged", rd->name,
                (size_t)(rd->p - rd->body), rd->rec_name ? rd->rec_name : "",
                rd->rec_name ? " record: " : "", what);
}

static int no_memory(struct reader *rd)
{
    return fail(rd->msg, rd->msg_cap, -ENOMEM, "%s: out of memory reading the snapshot", rd->name);
}

static int get_u(struct reader *rd, const char *field, uint64_t *v)
{
    if (!lf_get_varint(&rd->p, rd->end, v))
        return bad(rd, "%s: the record ends inside it", field);
    return 0;
}

/* A count or size no larger than max. */
static int get_n(struct reader *rd, const char *field, uint64_t max, uint64_t *v)
{
    int err = get_u(rd, field, v);
    if (err == 0 && *v > max)
        return bad(rd, "%s %llu is over %llu", field, (unsigned long long)*v,
                   (unsigned long long)max);
    return err;
}

static int get_f(struct reader *rd, const char *field, double *v)
{
    if (rd->end - rd->p < 8)
        return bad(rd, "%s: the record ends inside it", field);
    uint64_t bits = lf_get_u64(rd->p);
    memcpy(v, &bits, sizeof(*v));
    if (!isfinite(*v))
        return bad(rd, "%s is not a finite number", field);
    if (fabs(*v) > SF_MAX_NUMBER)
        return bad(rd, "%s %g is beyond 2^128, more than any log counts", field, *v);
    rd->p += 8;
    return 0;
}

/* A string id, of a string already read (0: none). */
static int get_str(struct reader *rd, const char *field, uint32_t *id)
{
    uint64_t v;
    int err = get_u(rd, field, &v);
    if (err < 0)
        return err;
    if (v > rd->str_off.n)
        return bad(rd, "%s: string %llu is not defined (%zu so far)", field, (unsigned long long)v,
                   rd->str_off.n);
    *id = (uint32_t)v;
    return 0;
}

static int read_string(struct reader *rd)
{
    size_t n = (size_t)(rd->end - rd->p);
    if (memchr(rd->p, '\0', n) != NULL)
        return bad(rd, "a NUL byte in a string");
    if (rd->str_off.n >= UINT32_MAX - 1)
        return bad(rd, "too many strings");
    size_t *off = vec_push(&rd->str_off);
    if (off == NULL)
        return no_memory(rd);
    *off = rd->arena.n;
    if (!vec_append(&rd->arena, rd->p, n) || !vec_append(&rd->arena, "", 1))
        return no_memory(rd);
    rd->p = rd->end;
    return 0;
}

static int read_process(struct reader *rd)
{
    struct model_process *p = &rd->proc.p;
    uint64_t v, argc;
    int err;

    if (rd->have_process)
        return bad(rd, "a second one");
    rd->have_process = true;
    if ((err = get_str(rd, "log path", &rd->proc.log_path)) < 0 ||
        (err = get_str(rd, "exe", &rd->proc.exe)) < 0 ||
        (err = get_n(rd, "argc", SF_MAX_ARGS, &argc)) < 0)
        return err;
    for (uint64_t i = 0; i < argc; i++) {
        uint32_t *a = vec_push(&rd->argv);
        if (a == NULL)
            return no_memory(rd);
        if ((err = get_str(rd, "argv", a)) < 0)
            return err;
    }
    if ((err = get_n(rd, "pid", UINT32_MAX, &v)) < 0)
        return err;
    p->pid = (uint32_t)v;
    if ((err = get_n(rd, "ppid", UINT32_MAX, &v)) < 0)
        return err;
    p->ppid = (uint32_t)v;
    if ((err = get_u(rd, "start time", &p->start_unix_ns)) < 0 ||
        (err = get_u(rd, "sample bytes", &p->sample_bytes)) < 0 ||
        (err = get_n(rd, "ended", 1, &v)) < 0)
        return err;
    p->ended = v;
    if ((err = get_n(rd, "truncated", 1, &v)) < 0)
        return err;
    p->truncated = v;
    if ((err = get_n(rd, "end reason", MODEL_END_OTHER, &v)) < 0)
        return err;
    p->end_reason = (enum model_end)v;
    if ((err = get_u(rd, "log bytes", &p->log_bytes)) < 0 ||
        (err = get_u(rd, "bytes read", &p->bytes_read)) < 0 ||
        (err = get_n(rd, "point", MODEL_AT_TIME, &v)) < 0)
        return err;
    p->point.at = (enum model_at)v;
    if ((err = get_n(rd, "marker", UINT32_MAX, &v)) < 0)
        return err;
    p->point.marker = (uint32_t)v;
    if ((err = get_n(rd, "marker serial", UINT32_MAX, &v)) < 0)
        return err;
    p->point.marker_serial = (uint32_t)v;
    if ((err = get_str(rd, "marker kind", &rd->proc.marker_kind)) < 0 ||
        (err = get_f(rd, "point time", &p->point.ns)) < 0)
        return err;
    /* Minor 1: the end record's time and lost count; a minor 0 file ends here. */
    if (rd->p == rd->end)
        return 0;
    if ((err = get_f(rd, "end time", &p->end_ns)) < 0)
        return err;
    if (p->end_ns < 0)
        return bad(rd, "end time %g is negative", p->end_ns);
    return get_u(rd, "end lost events", &p->end_lost_events);
}

static int read_totals(struct reader *rd)
{
    struct model_totals *t = &rd->tot;
    uint64_t v;
    int err;

    if (rd->have_totals)
        return bad(rd, "a second one");
    rd->have_totals = true;
    if ((err = get_f(rd, "allocations", &t->allocations)) < 0 ||
        (err = get_f(rd, "frees", &t->frees)) < 0 ||
        (err = get_f(rd, "allocated bytes", &t->allocated_bytes)) < 0 ||
        (err = get_f(rd, "peak live bytes", &t->peak_live_bytes)) < 0 ||
        (err = get_f(rd, "peak time", &t->peak_ns)) < 0 ||
        (err = get_f(rd, "leaked bytes", &t->leaked_bytes)) < 0 ||
        (err = get_f(rd, "leaked allocations", &t->leaked_allocations)) < 0 ||
        (err = get_f(rd, "live bytes", &t->live_bytes)) < 0 ||
        (err = get_f(rd, "live blocks", &t->live_blocks)) < 0 ||
        (err = get_f(rd, "runtime bytes", &t->runtime_bytes)) < 0 ||
        (err = get_f(rd, "runtime allocations", &t->runtime_allocations)) < 0 ||
        (err = get_f(rd, "suppressed bytes", &t->suppressed_bytes)) < 0 ||
        (err = get_f(rd, "suppressed allocations", &t->suppressed_allocations)) < 0 ||
        (err = get_f(rd, "temporary allocations", &t->temporary_allocations)) < 0 ||
        (err = get_u(rd, "lost events", &t->lost_events)) < 0 ||
        (err = get_u(rd, "unknown frees", &t->unknown_frees)) < 0 ||
        (err = get_u(rd, "markers", &t->markers)) < 0 ||
        (err = get_f(rd, "first time", &t->first_ns)) < 0 ||
        (err = get_f(rd, "last time", &t->last_ns)) < 0 || (err = get_n(rd, "sampled", 1, &v)) < 0)
        return err;
    t->sampled = v;
    return 0;
}

static int read_frame(struct reader *rd)
{
    struct raw_frame *f = vec_push(&rd->frames);
    uint64_t v;
    int err;

    if (f == NULL)
        return no_memory(rd);
    if ((err = get_str(rd, "function", &f->function)) < 0 ||
        (err = get_str(rd, "file", &f->file)) < 0 ||
        (err = get_n(rd, "line", INT32_MAX, &f->line)) < 0 ||
        (err = get_str(rd, "module", &f->module)) < 0 ||
        (err = get_u(rd, "module offset", &f->offset)) < 0 ||
        (err = get_n(rd, "inlined", 1, &v)) < 0)
        return err;
    f->inlined = v;
    if ((err = get_str(rd, "linkage name", &f->linkage_name)) < 0 ||
        (err = get_str(rd, "module path", &f->module_path)) < 0)
        return err;
    return get_str(rd, "build-id", &f->build_id);
}

static int read_site(struct reader *rd)
{
    struct raw_site *s = vec_push(&rd->sites);
    struct model_stats *st;
    uint64_t n, v;
    int err;

    if (s == NULL)
        return no_memory(rd);
    st = &s->st;
    if ((err = get_n(rd, "frame count", SF_MAX_FRAMES, &n)) < 0)
        return err;
    if (n == 0)
        return bad(rd, "no frames");
    s->first_frame = rd->site_frames.n;
    s->n_frames = (uint32_t)n;
    for (uint64_t k = 0; k < n; k++) {
        uint32_t *id = vec_push(&rd->site_frames);
        if (id == NULL)
            return no_memory(rd);
        if ((err = get_u(rd, "frame", &v)) < 0)
            return err;
        if (v >= rd->frames.n)
            return bad(rd, "frame %llu is not defined (%zu so far)", (unsigned long long)v,
                       rd->frames.n);
        *id = (uint32_t)v;
    }
    if ((err = get_f(rd, "allocations", &st->allocations)) < 0 ||
        (err = get_f(rd, "allocated bytes", &st->allocated_bytes)) < 0 ||
        (err = get_f(rd, "frees", &st->frees)) < 0 ||
        (err = get_f(rd, "peak live bytes", &st->peak_live_bytes)) < 0 ||
        (err = get_f(rd, "leaked bytes", &st->leaked_bytes)) < 0 ||
        (err = get_f(rd, "leaked allocations", &st->leaked_allocations)) < 0 ||
        (err = get_f(rd, "live bytes", &st->live_bytes)) < 0 ||
        (err = get_f(rd, "live blocks", &st->live_blocks)) < 0 ||
        (err = get_f(rd, "temporary allocations", &st->temporary_allocations)) < 0 ||
        (err = get_f(rd, "max live blocks", &st->max_live_blocks)) < 0 ||
        (err = get_f(rd, "slack bytes", &st->slack_bytes)) < 0 ||
        (err = get_f(rd, "zero-sampled bytes", &st->zero_sampled_bytes)) < 0 ||
        (err = get_f(rd, "zero bytes", &st->zero_bytes)) < 0 ||
        (err = get_u(rd, "common size", &st->common_size)) < 0 ||
        (err = get_n(rd, "histogram buckets", SF_MAX_HIST, &n)) < 0)
        return err;
    for (uint64_t k = 0; k < n; k++) {
        double c;
        if ((err = get_n(rd, "histogram bucket", SF_MAX_HIST - 1, &v)) < 0 ||
            (err = get_f(rd, "histogram count", &c)) < 0)
            return err;
        /* A newer writer's finer sizes go to the last bucket, as the largest do. */
        double *h = &st->hist[v < MODEL_HIST_BUCKETS ? v : MODEL_HIST_BUCKETS - 1];
        *h += c;
        if (fabs(*h) > SF_MAX_NUMBER)
            return bad(rd, "histogram bucket %llu: the counts add up beyond 2^128",
                       (unsigned long long)v);
    }
    /* The totals a reader remakes from the sites' live blocks (snap_apply_rules) must
     * be numbers it reads too. */
    rd->live_bytes_sum += fabs(st->live_bytes);
    rd->live_blocks_sum += fabs(st->live_blocks);
    if (rd->live_bytes_sum > SF_MAX_NUMBER || rd->live_blocks_sum > SF_MAX_NUMBER)
        return bad(rd, "the sites' live %s add up beyond 2^128",
                   rd->live_bytes_sum > SF_MAX_NUMBER ? "bytes" : "blocks");
    if ((err = get_n(rd, "leak kind", MODEL_LEAK_SUPPRESSED, &v)) < 0)
        return err;
    s->kind = (enum model_leak_kind)v;
    return get_str(rd, "leak rule", &s->rule);
}

static int read_bloat(struct reader *rd)
{
    struct raw_bloat *rb = vec_push(&rd->bloats);
    struct model_bloat *b;
    uint64_t v, listed, n_types;
    int err;

    if (rb == NULL)
        return no_memory(rd);
    b = &rb->b;
    if ((err = get_u(rd, "size", &b->size)) < 0 ||
        (err = get_f(rd, "blocks at the peak", &b->blocks_at_peak)) < 0 ||
        (err = get_f(rd, "bytes at the peak", &b->bytes_at_peak)) < 0 ||
        (err = get_f(rd, "slack bytes per block", &b->slack_bytes_per_block)) < 0 ||
        (err = get_f(rd, "zero share", &b->zero_share)) < 0 ||
        (err = get_n(rd, "site count", INT32_MAX, &v)) < 0 ||
        (err = get_n(rd, "sites listed", MODEL_BLOAT_SITES, &listed)) < 0)
        return err;
    b->n_sites = (int)v;
    /* The renderers show the first MODEL_BLOAT_SITES of n_sites: each must be there. */
    if (listed != (v < MODEL_BLOAT_SITES ? v : MODEL_BLOAT_SITES))
        return bad(rd, "%llu sites listed of %llu: the first %d are", (unsigned long long)listed,
                   (unsigned long long)v, MODEL_BLOAT_SITES);
    for (uint64_t k = 0; k < listed; k++) {
        if ((err = get_u(rd, "site", &v)) < 0)
            return err;
        if (v >= rd->sites.n)
            return bad(rd, "site %llu is not defined (%zu sites)", (unsigned long long)v,
                       rd->sites.n);
        b->sites[k] = (int)v;
    }
    if ((err = get_n(rd, "type count", (uint64_t)(rd->end - rd->p), &n_types)) < 0)
        return err;
    rb->first_type = rd->types.n;
    rb->n_types = (uint32_t)n_types;
    for (uint64_t t = 0; t < n_types; t++) {
        struct raw_type *ty = vec_push(&rd->types);
        uint64_t n_members;
        if (ty == NULL)
            return no_memory(rd);
        if ((err = get_str(rd, "type kind", &ty->kind)) < 0 ||
            (err = get_str(rd, "type name", &ty->name)) < 0 ||
            (err = get_u(rd, "type size", &ty->size)) < 0 ||
            (err = get_u(rd, "hole bytes", &ty->hole_bytes)) < 0 ||
            (err = get_u(rd, "padding bytes", &ty->padding_bytes)) < 0 ||
            (err = get_n(rd, "member count", (uint64_t)(rd->end - rd->p), &n_members)) < 0)
            return err;
        ty->first_member = rd->members.n;
        ty->n_members = (uint32_t)n_members;
        for (uint64_t k = 0; k < n_members; k++) {
            struct raw_member *mb = vec_push(&rd->members);
            if (mb == NULL)
                return no_memory(rd);
            if ((err = get_str(rd, "member name", &mb->name)) < 0 ||
                (err = get_str(rd, "member type", &mb->type_name)) < 0 ||
                (err = get_u(rd, "member offset", &mb->offset)) < 0 ||
                (err = get_u(rd, "member size", &mb->size)) < 0 ||
                (err = get_u(rd, "bit offset", &mb->bit_offset)) < 0 ||
                (err = get_n(rd, "bit size", UINT32_MAX, &mb->bit_size)) < 0 ||
                (err = get_u(rd, "hole after", &mb->hole_after)) < 0)
                return err;
        }
    }
    return 0;
}

static int read_end(struct reader *rd)
{
    uint64_t n[5];
    const size_t have[5] = { rd->str_off.n, rd->frames.n, rd->sites.n, rd->bloats.n,
                             rd->warnings.n };
    static const char *const what[5] = { "strings", "frames", "sites", "bloats", "warnings" };
    int err;

    for (int i = 0; i < 5; i++) {
        if ((err = get_u(rd, what[i], &n[i])) < 0)
            return err;
        if (n[i] != have[i])
            return bad(rd, "%llu %s written, %zu read", (unsigned long long)n[i], what[i], have[i]);
    }
    rd->have_end = true;
    return 0;
}

static const char *const rec_names[] = {
    [SF_REC_STRING] = "string",   [SF_REC_PROCESS] = "process", [SF_REC_TOTALS] = "totals",
    [SF_REC_FRAME] = "frame",     [SF_REC_SITE] = "site",       [SF_REC_BLOAT] = "bloat",
    [SF_REC_WARNING] = "warning", [SF_REC_END] = "end",         [SF_REC_THREAD] = "thread",
};

static int read_thread(struct reader *rd)
{
    struct model_thread *t = vec_push(&rd->threads);
    uint64_t v;
    int err;

    if (t == NULL)
        return no_memory(rd);
    if ((err = get_n(rd, "tid", UINT32_MAX, &v)) < 0)
        return err;
    t->tid = (uint32_t)v;
    if ((err = get_f(rd, "allocations", &t->allocations)) < 0 ||
        (err = get_f(rd, "allocated bytes", &t->allocated_bytes)) < 0 ||
        (err = get_f(rd, "frees", &t->frees)) < 0 ||
        (err = get_f(rd, "temporary allocations", &t->temporary_allocations)) < 0)
        return err;
    if (t->allocations < 0 || t->allocated_bytes < 0 || t->frees < 0 ||
        t->temporary_allocations < 0)
        return bad(rd, "a thread's figure is negative");
    return 0;
}

/* Every record of the body. */
static int read_records(struct reader *rd, uint32_t n_records)
{
    uint32_t count = 0;
    int err = 0;

    rd->p = rd->body;
    while (rd->p < rd->body + rd->body_len) {
        uint64_t type, len;
        rd->rec_name = NULL;
        rd->end = rd->body + rd->body_len;
        if (rd->have_end)
            return bad(rd, "records after the end record");
        if (!lf_get_varint(&rd->p, rd->end, &type) || !lf_get_varint(&rd->p, rd->end, &len))
            return bad(rd, "a record header runs past the body's end");
        if (len > (uint64_t)(rd->end - rd->p))
            return bad(rd, "a record of %llu bytes runs past the body's end",
                       (unsigned long long)len);
        rd->end = rd->p + len;
        const uint8_t *next = rd->end;
        if (type < sizeof(rec_names) / sizeof(rec_names[0]))
            rd->rec_name = rec_names[type];
        switch (type) {
        case SF_REC_STRING:
            err = read_string(rd);
            break;
        case SF_REC_PROCESS:
            err = read_process(rd);
            break;
        case SF_REC_TOTALS:
            err = read_totals(rd);
            break;
        case SF_REC_FRAME:
            err = read_frame(rd);
            break;
        case SF_REC_SITE:
            err = read_site(rd);
            break;
        case SF_REC_BLOAT:
            err = read_bloat(rd);
            break;
        case SF_REC_WARNING: {
            uint32_t *w = vec_push(&rd->warnings);
            err = w != NULL ? get_str(rd, "text", w) : no_memory(rd);
            break;
        }
        case SF_REC_END:
            err = read_end(rd);
            break;
        case SF_REC_THREAD:
            err = read_thread(rd);
            break;
        default:
            break; /* a newer minor version's: skipped */
        }
        if (err < 0)
            return err;
        /* A newer minor version's fields at the end of a record: skipped. */
        rd->p = next;
        count++;
    }
    rd->rec_name = NULL;
    if (!rd->have_end)
        return bad(rd, "the body ends without its end record");
    if (!rd->have_process || !rd->have_totals)
        return bad(rd, "no %s record", !rd->have_process ? "process" : "totals");
    if (count != n_records)
        return bad(rd, "%u records read, the header says %u", count, n_records);
    return 0;
}

static const char *str_of(const struct snap *s, uint32_t id)
{
    return s->strs[id];
}

static const char *str_or_empty(const struct snap *s, uint32_t id)
{
    return id != 0 ? s->strs[id] : "";
}

/* The model, from what was read: strings and frames become pointers. */
static int build(struct snap *s, struct reader *rd)
{
    struct model *m = &s->model;

    s->arena = rd->arena.p;
    rd->arena.p = NULL;
    s->n_strs = (uint32_t)rd->str_off.n;
    s->strs = calloc((size_t)s->n_strs + 1, sizeof(*s->strs));
    s->frames = calloc(rd->frames.n + 1, sizeof(*s->frames));
    s->frame_list = calloc(rd->site_frames.n + 1, sizeof(*s->frame_list));
    s->sites = calloc(rd->sites.n + 1, sizeof(*s->sites));
    s->bloats = calloc(rd->bloats.n + 1, sizeof(*s->bloats));
    s->types = calloc(rd->types.n + 1, sizeof(*s->types));
    s->members = calloc(rd->members.n + 1, sizeof(*s->members));
    s->argv = calloc(rd->argv.n + 1, sizeof(*s->argv));
    s->warnings = calloc(rd->warnings.n + 1, sizeof(*s->warnings));
    s->threads = calloc(rd->threads.n + 1, sizeof(*s->threads));
    if (s->strs == NULL || s->frames == NULL || s->frame_list == NULL || s->sites == NULL ||
        s->bloats == NULL || s->types == NULL || s->members == NULL || s->argv == NULL ||
        s->warnings == NULL || s->threads == NULL)
        return no_memory(rd);
    if (rd->threads.n > 0)
        memcpy(s->threads, rd->threads.p, rd->threads.n * sizeof(*s->threads));
    for (uint32_t i = 0; i < s->n_strs; i++)
        s->strs[i + 1] = s->arena + ((size_t *)rd->str_off.p)[i];

    const struct raw_frame *rf = rd->frames.p;
    s->n_frames = rd->frames.n;
    for (size_t i = 0; i < rd->frames.n; i++) {
        s->frames[i] = (struct model_frame){
            .function = str_of(s, rf[i].function),
            .file = str_of(s, rf[i].file),
            .line = (int)rf[i].line,
            .module = str_or_empty(s, rf[i].module),
            .module_offset = rf[i].offset,
            .inlined = rf[i].inlined,
            .linkage_name = str_of(s, rf[i].linkage_name),
            .module_path = str_of(s, rf[i].module_path),
            .build_id = str_of(s, rf[i].build_id),
        };
    }
    const uint32_t *ids = rd->site_frames.p;
    for (size_t i = 0; i < rd->site_frames.n; i++)
        s->frame_list[i] = &s->frames[ids[i]];
    const struct raw_site *rs = rd->sites.p;
    for (size_t i = 0; i < rd->sites.n; i++) {
        s->sites[i] = (struct model_site){
            .st = rs[i].st,
            .n_frames = (int)rs[i].n_frames,
            .frames = &s->frame_list[rs[i].first_frame],
            .leak_kind = rs[i].kind,
            .leak_rule = str_of(s, rs[i].rule),
        };
    }
    const struct raw_member *rm = rd->members.p;
    for (size_t i = 0; i < rd->members.n; i++) {
        s->members[i] = (struct model_member){
            .name = str_or_empty(s, rm[i].name),
            .type_name = str_or_empty(s, rm[i].type_name),
            .offset = rm[i].offset,
            .size = rm[i].size,
            .bit_offset = rm[i].bit_offset,
            .bit_size = (uint32_t)rm[i].bit_size,
            .hole_after = rm[i].hole_after,
        };
    }
    const struct raw_type *rt = rd->types.p;
    for (size_t i = 0; i < rd->types.n; i++) {
        s->types[i] = (struct model_struct){
            .kind = str_or_empty(s, rt[i].kind),
            .name = str_or_empty(s, rt[i].name),
            .size = rt[i].size,
            .n_members = (int)rt[i].n_members,
            .members = &s->members[rt[i].first_member],
            .hole_bytes = rt[i].hole_bytes,
            .padding_bytes = rt[i].padding_bytes,
        };
    }
    const struct raw_bloat *rb = rd->bloats.p;
    for (size_t i = 0; i < rd->bloats.n; i++) {
        s->bloats[i] = rb[i].b;
        s->bloats[i].n_types = (int)rb[i].n_types;
        s->bloats[i].types = &s->types[rb[i].first_type];
    }
    const uint32_t *av = rd->argv.p;
    for (size_t i = 0; i < rd->argv.n; i++)
        s->argv[i] = str_or_empty(s, av[i]);
    const uint32_t *wv = rd->warnings.p;
    for (size_t i = 0; i < rd->warnings.n; i++)
        s->warnings[i] = str_or_empty(s, wv[i]);

    m->process = rd->proc.p;
    m->process.log_path = str_or_empty(s, rd->proc.log_path);
    m->process.snapshot_path = s->path;
    m->process.exe = str_or_empty(s, rd->proc.exe);
    m->process.argc = (int)rd->argv.n;
    m->process.argv = s->argv;
    m->process.point.marker_kind = str_or_empty(s, rd->proc.marker_kind);
    m->totals = rd->tot;
    m->n_sites = (int)rd->sites.n;
    m->sites = s->sites;
    m->n_bloats = (int)rd->bloats.n;
    m->bloats = s->bloats;
    m->n_warnings = (int)rd->warnings.n;
    m->warnings = s->warnings;
    m->n_threads = (int)rd->threads.n;
    m->threads = s->threads;
    if (agg_group_sites(s->sites, m->n_sites, &s->funcs, &m->n_functions, &s->lines, &m->n_lines) <
        0)
        return no_memory(rd);
    m->functions = s->funcs;
    m->lines = s->lines;
    return 0;
}

static void reader_fini(struct reader *rd)
{
    free(rd->str_off.p);
    free(rd->arena.p);
    free(rd->frames.p);
    free(rd->site_frames.p);
    free(rd->sites.p);
    free(rd->bloats.p);
    free(rd->types.p);
    free(rd->members.p);
    free(rd->argv.p);
    free(rd->warnings.p);
    free(rd->threads.p);
}

bool snap_is_snapshot(const void *head, size_t n)
{
    return n >= 8 && memcmp(head, SF_MAGIC, 8) == 0;
}

/* The header's checks, in the order that gives the most useful message: what the
 * file is, its version, then whether it is whole. */
static int check_header(const uint8_t *p, size_t len, const char *name, uint64_t *hdr_size,
                        uint64_t *stored, uint64_t *raw, char *msg, size_t cap)
{
    if (len < 8 || !snap_is_snapshot(p, len))
        return fail(msg, cap, -EINVAL,
                    "%s: byte 0: not a heapspan snapshot (its magic is not \"%s\")", name,
                    SF_MAGIC);
    if (len < 12)
        return fail(msg, cap, -EINVAL, "%s: byte %zu: the file ends inside its header", name, len);
    unsigned major = lf_get_u16(p + 8), minor = lf_get_u16(p + 10);
    if (major != SF_MAJOR)
        return fail(msg, cap, -ENOTSUP,
                    "%s: byte 8: snapshot format version %u.%u; this heapspan reads version "
                    "%u.x (%u.%u and older minor versions)%s",
                    name, major, minor, SF_MAJOR, SF_MAJOR, SF_MINOR,
                    major > SF_MAJOR ? ": use a newer heapspan"
                                     : ": use the heapspan that wrote it");
    if (len < SF_HDR_SIZE)
        return fail(msg, cap, -EINVAL,
                    "%s: byte %zu: the file ends inside its %d-byte header: truncated", name, len,
                    SF_HDR_SIZE);
    if (lf_crc32c(0, p, 40) != lf_get_u32(p + 40))
        return fail(msg, cap, -EINVAL,
                    "%s: byte 40: the header's checksum does not match its bytes: the file "
                    "is damaged",
                    name);
    *hdr_size = lf_get_u16(p + 12);
    unsigned flags = lf_get_u16(p + 14);
    *stored = lf_get_u64(p + 16);
    *raw = lf_get_u64(p + 24);
    if (*hdr_size < SF_HDR_SIZE || *hdr_size > len)
        return fail(msg, cap, -EINVAL, "%s: byte 12: header size %llu (at least %d, in %zu bytes)",
                    name, (unsigned long long)*hdr_size, SF_HDR_SIZE, len);
    if (flags & ~(unsigned)SF_FLAG_ZSTD)
        return fail(msg, cap, -EINVAL, "%s: byte 14: unknown flags 0x%x", name, flags);
    if (*raw > SF_MAX_BODY || (!(flags & SF_FLAG_ZSTD) && *raw != *stored))
        return fail(msg, cap, -EINVAL, "%s: byte 24: a body of %llu bytes is impossible", name,
                    (unsigned long long)*raw);
    if (*stored > len - *hdr_size)
        return fail(msg, cap, -EINVAL,
                    "%s: byte %zu: the file ends %llu bytes into a %llu-byte body: truncated", name,
                    len, (unsigned long long)(len - *hdr_size), (unsigned long long)*stored);
    if (*stored < len - *hdr_size)
        return fail(msg, cap, -EINVAL, "%s: byte %llu: %llu bytes after the body: not one snapshot",
                    name, (unsigned long long)(*hdr_size + *stored),
                    (unsigned long long)(len - *hdr_size - *stored));
    uint32_t crc = lf_crc32c(0, p + *hdr_size, *stored);
    if (crc != lf_get_u32(p + 32))
        return fail(msg, cap, -EINVAL,
                    "%s: byte %llu: the body's checksum is 0x%08x, the header says 0x%08x: the "
                    "file is damaged",
                    name, (unsigned long long)*hdr_size, crc, lf_get_u32(p + 32));
    return flags & SF_FLAG_ZSTD ? 1 : 0;
}

int snap_read_mem(const void *buf, size_t len, const char *name, struct snap **out, char *msg,
                  size_t msg_cap)
{
    const uint8_t *p = buf;
    uint64_t hdr_size = 0, stored = 0, raw = 0;
    uint8_t *body = NULL;
    struct reader rd;
    struct snap *s = NULL;
    int err;

    *out = NULL;
    memset(&rd, 0, sizeof(rd));
    int zstd = check_header(p, len, name, &hdr_size, &stored, &raw, msg, msg_cap);
    if (zstd < 0)
        return zstd;
    if (zstd) {
        unsigned long long size = ZSTD_getFrameContentSize(p + hdr_size, stored);
        if (size != raw)
            return fail(msg, msg_cap, -EINVAL,
                        "%s: byte %llu: the body is not a zstd frame of %llu bytes: the file "
                        "is damaged",
                        name, (unsigned long long)hdr_size, (unsigned long long)raw);
        body = malloc(raw > 0 ? raw : 1);
        if (body == NULL)
            return fail(msg, msg_cap, -ENOMEM, "%s: out of memory for a %llu-byte body", name,
                        (unsigned long long)raw);
        size_t got = ZSTD_decompress(body, raw, p + hdr_size, stored);
        if (ZSTD_isError(got) || got != raw) {
            free(body);
            return fail(msg, msg_cap, -EINVAL, "%s: byte %llu: the body does not decompress (%s)",
                        name, (unsigned long long)hdr_size,
                        ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
        }
    }
    rd.name = name;
    rd.body = zstd ? body : p + hdr_size;
    rd.body_len = raw;
    rd.msg = msg;
    rd.msg_cap = msg_cap;
    rd.str_off.size = sizeof(size_t);
    rd.arena.size = 1;
    rd.frames.size = sizeof(struct raw_frame);
    rd.site_frames.size = sizeof(uint32_t);
    rd.sites.size = sizeof(struct raw_site);
    rd.bloats.size = sizeof(struct raw_bloat);
    rd.types.size = sizeof(struct raw_type);
    rd.members.size = sizeof(struct raw_member);
    rd.argv.size = sizeof(uint32_t);
    rd.warnings.size = sizeof(uint32_t);
    rd.threads.size = sizeof(struct model_thread);
    if ((err = read_records(&rd, lf_get_u32(p + 36))) < 0)
        goto out;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(name)) == NULL) {
        err = no_memory(&rd);
        goto out;
    }
    if ((err = build(s, &rd)) < 0)
        goto out;
    *out = s;
    s = NULL;
out:
    snap_free(s);
    reader_fini(&rd);
    free(body);
    return err;
}

int snap_read_file(const char *path, struct snap **out, char *msg, size_t msg_cap)
{
    struct stat sb;
    uint8_t *buf = NULL;
    int fd, err = 0;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(msg, msg_cap, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        err = fail(msg, msg_cap, -errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        err = fail(msg, msg_cap, -EINVAL, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > SF_HDR_SIZE + SF_MAX_BODY) {
        err = fail(msg, msg_cap, -EINVAL, "%s: %lld bytes: too large for a snapshot", path,
                   (long long)sb.st_size);
        goto out;
    }
    size_t len = (size_t)sb.st_size;
    buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        err = fail(msg, msg_cap, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t got = 0; got < len;) {
        ssize_t k = pread(fd, buf + got, len - got, (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            err = fail(msg, msg_cap, k < 0 ? -errno : -EIO, "%s: byte %zu: %s", path, got,
                       k < 0 ? strerror(errno) : "the file shrank while read");
            goto out;
        }
        got += (size_t)k;
    }
    err = snap_read_mem(buf, len, path, out, msg, msg_cap);
out:
    free(buf);
    close(fd);
    return err;
}

const struct model *snap_model(const struct snap *s)
{
    return &s->model;
}

/* The by-function and by-line tables made again from the sites, after their leak kinds
 * or titles changed; the old tables are freed only once the new ones exist. */
static int regroup(struct snap *s)
{
    struct model *m = &s->model;
    struct model_group *funcs, *lines;
    int nf, nl;
    if (agg_group_sites(s->sites, m->n_sites, &funcs, &nf, &lines, &nl) < 0)
        return -ENOMEM;
    free(s->funcs);
    free(s->lines);
    s->funcs = funcs;
    s->lines = lines;
    m->functions = funcs;
    m->n_functions = nf;
    m->lines = lines;
    m->n_lines = nl;
    return 0;
}

int snap_apply_rules(struct snap *s, const struct sup_rules *r)
{
    struct model *m = &s->model;
    bool changed = false;

    for (int i = 0; i < m->n_sites; i++) {
        struct model_site *site = &s->sites[i];
        enum model_leak_kind k0 = site->leak_kind;
        if (k0 == MODEL_LEAK_SUPPRESSED || (k0 == MODEL_LEAK_RUNTIME && sup_builtin(r)))
            continue;
        const char *rule;
        enum model_leak_kind k = sup_match(r, site, &rule);
        if (k == k0)
            continue;
        changed = true;
        site->leak_kind = k;
        site->leak_rule = rule;
        site->st.leaked_bytes = k == MODEL_LEAK ? site->st.live_bytes : 0;
        site->st.leaked_allocations = k == MODEL_LEAK ? site->st.live_blocks : 0;
    }
    if (!changed)
        return 0;
    struct model_totals *t = &m->totals;
    t->leaked_bytes = t->leaked_allocations = 0;
    t->runtime_bytes = t->runtime_allocations = 0;
    t->suppressed_bytes = t->suppressed_allocations = 0;
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *site = &s->sites[i];
        double *bytes = site->leak_kind == MODEL_LEAK           ? &t->leaked_bytes
                        : site->leak_kind == MODEL_LEAK_RUNTIME ? &t->runtime_bytes
                                                                : &t->suppressed_bytes;
        double *blocks = site->leak_kind == MODEL_LEAK           ? &t->leaked_allocations
                         : site->leak_kind == MODEL_LEAK_RUNTIME ? &t->runtime_allocations
                                                                 : &t->suppressed_allocations;
        *bytes += site->st.live_bytes;
        *blocks += site->st.live_blocks;
    }
    return regroup(s);
}

int snap_apply_wrappers(struct snap *s, const struct wrap_rules *w)
{
    struct model *m = &s->model;
    for (size_t i = 0; i < s->n_frames; i++)
        s->frames[i].kind = wrap_frame_kind(w, &s->frames[i]);
    if (wrap_sites(w, s->sites, m->n_sites) < 0)
        return -ENOMEM;
    return regroup(s);
}

void snap_free(struct snap *s)
{
    if (s == NULL)
        return;
    free(s->path);
    free(s->arena);
    free(s->strs);
    free(s->frames);
    free(s->frame_list);
    free(s->sites);
    free(s->funcs);
    free(s->lines);
    free(s->bloats);
    free(s->types);
    free(s->members);
    free(s->argv);
    free(s->warnings);
    free(s->threads);
    free(s);
}
