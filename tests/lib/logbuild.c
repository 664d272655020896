/* logbuild.c - see logbuild.h. */
#include "tests/lib/logbuild.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "format/evcodec.h"

static void die(const char *what) __attribute__((noreturn));

static void die(const char *what)
{
    fprintf(stderr, "logbuild: %s\n", what);
    abort();
}

/* ---- byte buffers ---- */

void lb_put(struct lb_buf *b, const void *src, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL)
            die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

void lb_put_u8(struct lb_buf *b, uint8_t v)
{
    lb_put(b, &v, 1);
}

void lb_put_varint(struct lb_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    lb_put(b, tmp, (size_t)(lf_put_varint(tmp, v) - tmp));
}

void lb_put_addr(struct lb_buf *b, uint64_t a)
{
    uint8_t tmp[8];
    lb_put(b, tmp, (size_t)(lf_put_addr(tmp, a, LF_ADDR_BYTES) - tmp));
}

void lb_put_str(struct lb_buf *b, const char *s)
{
    lb_put_varint(b, strlen(s));
    lb_put(b, s, strlen(s));
}

void lb_buf_fini(struct lb_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- the file header ---- */

struct lb_file lb_file_default(unsigned version)
{
    return (struct lb_file){ .version = version,
                             .hdr_size = LF_FILE_HDR_SIZE,
                             .flags = 0,
                             .pid = 4242,
                             .ppid = 1,
                             .max_depth = 64,
                             .realtime_ns = 1700000000000000000ull,
                             .start_ticks = LB_START_TICKS,
                             .sample_bytes = 0 };
}

void lb_init(struct lb_log *l, const struct lb_file *f)
{
    uint8_t h[LF_FILE_HDR_SIZE] = { 0 };

    memset(l, 0, sizeof(*l));
    l->version = f->version;
    memcpy(h, LF_MAGIC, 8);
    lf_put_u16(h + 8, (uint16_t)f->version);
    lf_put_u16(h + 10, f->hdr_size);
    lf_put_u32(h + 12, f->flags);
    lf_put_u32(h + 16, f->pid);
    lf_put_u32(h + 20, f->ppid);
    lf_put_u64(h + 24, f->realtime_ns);
    lf_put_u64(h + 32, f->start_ticks);
    lf_put_u64(h + 40, f->sample_bytes);
    lf_put_u32(h + 48, f->max_depth);
    lb_put(&l->b, h, sizeof(h));
    /* A header longer than ours: what a newer writer adds, which readers skip. */
    for (size_t i = sizeof(h); i < f->hdr_size; i++)
        lb_put_u8(&l->b, 0);
}

void lb_fini(struct lb_log *l)
{
    lb_buf_fini(&l->b);
}

/* ---- meta records ---- */

static void meta_record(struct lb_buf *c, int type, const struct lb_buf *body)
{
    lb_put_u8(c, (uint8_t)type);
    lb_put_varint(c, body->len);
    lb_put(c, body->p, body->len);
}

void lb_meta_raw(struct lb_buf *c, int type, const void *body, size_t len)
{
    lb_put_u8(c, (uint8_t)type);
    lb_put_varint(c, len);
    lb_put(c, body, len);
}

void lb_meta_process(struct lb_buf *c, const char *exe, int argc, const char *const *argv)
{
    struct lb_buf b = { 0 };

    lb_put_str(&b, exe);
    lb_put_varint(&b, (uint64_t)argc);
    for (int i = 0; i < argc; i++)
        lb_put_str(&b, argv[i]);
    meta_record(c, LF_META_PROCESS, &b);
    lb_buf_fini(&b);
}

void lb_meta_clock(struct lb_buf *c, uint64_t ticks, uint64_t mono_ns, uint64_t real_ns)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, ticks);
    lb_put_varint(&b, mono_ns);
    lb_put_varint(&b, real_ns);
    meta_record(c, LF_META_CLOCK, &b);
    lb_buf_fini(&b);
}

void lb_meta_stack(struct lb_buf *c, uint32_t id, uint32_t depth, const uint64_t *pcs)
{
    struct lb_buf b = { 0 };
    uint64_t prev = 0;

    lb_put_varint(&b, id);
    lb_put_varint(&b, depth);
    for (uint32_t i = 0; i < depth; i++) {
        lb_put_varint(&b, lf_zigzag((int64_t)(pcs[i] - prev)));
        prev = pcs[i];
    }
    meta_record(c, LF_META_STACK, &b);
    lb_buf_fini(&b);
}

void lb_meta_module(struct lb_buf *c, uint64_t time, uint32_t id, uint64_t bias, int n_segs,
                    const struct lb_seg *segs, const uint8_t *build_id, int build_id_len,
                    const char *path)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, id);
    lb_put_varint(&b, bias);
    lb_put_varint(&b, (uint64_t)n_segs);
    for (int i = 0; i < n_segs; i++) {
        lb_put_varint(&b, segs[i].vaddr);
        lb_put_varint(&b, segs[i].memsz);
        lb_put_varint(&b, segs[i].flags);
    }
    lb_put_varint(&b, (uint64_t)build_id_len);
    lb_put(&b, build_id, (size_t)build_id_len);
    lb_put_str(&b, path);
    meta_record(c, LF_META_MODULE, &b);
    lb_buf_fini(&b);
}

void lb_meta_unload(struct lb_buf *c, uint64_t time, uint32_t id)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, id);
    meta_record(c, LF_META_UNLOAD, &b);
    lb_buf_fini(&b);
}

void lb_meta_barrier(struct lb_buf *c, uint64_t time)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    meta_record(c, LF_META_BARRIER, &b);
    lb_buf_fini(&b);
}

void lb_meta_marker(struct lb_buf *c, uint64_t time, int kind, uint32_t serial)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, (uint64_t)kind);
    lb_put_varint(&b, serial);
    meta_record(c, LF_META_MARKER, &b);
    lb_buf_fini(&b);
}

void lb_meta_note(struct lb_buf *c, uint64_t time, int severity, const char *text)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, (uint64_t)severity);
    lb_put_str(&b, text);
    meta_record(c, LF_META_NOTE, &b);
    lb_buf_fini(&b);
}

void lb_meta_pycode(struct lb_buf *c, uint32_t id, int first_line, uint32_t units,
                    const char *qualname, const char *filename, const uint8_t *table, size_t tlen)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, id);
    lb_put_varint(&b, (uint64_t)first_line);
    lb_put_varint(&b, units);
    lb_put_str(&b, qualname);
    lb_put_str(&b, filename);
    lb_put_varint(&b, tlen);
    lb_put(&b, table, tlen);
    meta_record(c, LF_META_PYCODE, &b);
    lb_buf_fini(&b);
}

void lb_meta_python(struct lb_buf *c, uint64_t time, uint32_t version, unsigned flags,
                    const char *allocator, const char *reason)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, version);
    lb_put_varint(&b, flags);
    lb_put_str(&b, allocator);
    lb_put_str(&b, reason);
    meta_record(c, LF_META_PYTHON, &b);
    lb_buf_fini(&b);
}

void lb_meta_thread(struct lb_buf *c, uint64_t time, uint32_t tid, const char *name)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, tid);
    lb_put_str(&b, name);
    meta_record(c, LF_META_THREAD, &b);
    lb_buf_fini(&b);
}

void lb_meta_end(struct lb_buf *c, uint64_t time, uint64_t lost, int reason)
{
    struct lb_buf b = { 0 };

    lb_put_varint(&b, time);
    lb_put_varint(&b, lost);
    lb_put_varint(&b, (uint64_t)reason);
    meta_record(c, LF_META_END, &b);
    lb_buf_fini(&b);
}

/* ---- events ---- */

struct lf_event lb_ev_alloc(int fn, uint64_t time, uint64_t addr, uint64_t size, uint32_t stack)
{
    return (struct lf_event){ .type = LF_EV_ALLOC,
                              .fn = (uint8_t)fn,
                              .time = time,
                              .time_before = time,
                              .addr = addr,
                              .old_addr = addr,
                              .size = size,
                              .stack = stack };
}

struct lf_event lb_ev_free(uint64_t time, uint64_t addr)
{
    return (struct lf_event){
        .type = LF_EV_FREE, .time = time, .time_before = time, .addr = addr, .old_addr = addr
    };
}

struct lf_event lb_ev_realloc(uint64_t time_before, uint64_t time, uint64_t old_addr, uint64_t addr,
                              uint64_t size, uint32_t stack)
{
    return (struct lf_event){ .type = LF_EV_REALLOC,
                              .fn = LF_FN_REALLOC,
                              .time = time,
                              .time_before = time_before,
                              .old_addr = old_addr,
                              .addr = addr,
                              .size = size,
                              .stack = stack };
}

struct lf_event lb_ev_lost(uint64_t time, uint64_t count)
{
    return (
        struct lf_event){ .type = LF_EV_LOST, .time = time, .time_before = time, .count = count };
}

struct lf_event lb_ev_zeros(uint64_t time, uint64_t addr, uint64_t size, uint64_t zero_bytes)
{
    return (struct lf_event){ .type = LF_EV_ZEROS,
                              .time = time,
                              .time_before = time,
                              .addr = addr,
                              .old_addr = addr,
                              .size = size,
                              .count = zero_bytes };
}

/* ---- chunks ---- */

void lb_events_payload(struct lb_buf *b, unsigned version, uint64_t base_time,
                       const struct lf_event *ev, int n, bool zstd_columns)
{
    if (version >= 2) {
        struct ec_enc *e = calloc(1, sizeof(*e));
        ZSTD_CCtx *zc = zstd_columns ? ZSTD_createCCtx() : NULL;
        if (e == NULL || (zstd_columns && zc == NULL))
            die("out of memory");
        ec_enc_begin(e, base_time);
        for (int i = 0; i < n; i++) {
            if (!ec_enc_room(e))
                die("too many events for one chunk");
            ec_enc_add(e, &ev[i]);
        }
        uint8_t *out = malloc(ec_enc_bound(e));
        if (out == NULL)
            die("out of memory");
        lb_put(b, out, ec_enc_finish(e, out, zc, 3));
        free(out);
        ZSTD_freeCCtx(zc);
        free(e);
        return;
    }
    uint64_t t = base_time;
    for (int i = 0; i < n; i++) {
        lb_put_u8(b, (uint8_t)(ev[i].type | ev[i].fn << 4));
        lb_put_varint(b, ev[i].time - t);
        t = ev[i].time;
        switch (ev[i].type) {
        case LF_EV_ALLOC:
            lb_put_addr(b, ev[i].addr);
            lb_put_varint(b, ev[i].size);
            lb_put_varint(b, ev[i].stack);
            break;
        case LF_EV_FREE:
            lb_put_addr(b, ev[i].addr);
            break;
        case LF_EV_REALLOC:
            lb_put_varint(b, ev[i].time - ev[i].time_before);
            lb_put_addr(b, ev[i].old_addr);
            lb_put_addr(b, ev[i].addr);
            lb_put_varint(b, ev[i].size);
            lb_put_varint(b, ev[i].stack);
            break;
        case LF_EV_LOST:
            lb_put_varint(b, ev[i].count);
            break;
        case LF_EV_ZEROS:
            lb_put_addr(b, ev[i].addr);
            lb_put_varint(b, ev[i].size);
            lb_put_varint(b, ev[i].count);
            break;
        default:
            lb_put_varint(b, 1); /* the unknown type's body, for all a reader can tell */
            break;
        }
    }
}

/* Appends the chunk; n_events and has_end are what a reader makes of it. */
static int add_chunk(struct lb_log *l, int kind, uint32_t tid, uint64_t base_time, uint32_t span,
                     uint32_t n_records, const struct lb_buf *payload, bool zstd, int n_events,
                     bool has_end)
{
    uint8_t h[LF_CHUNK_HDR_SIZE] = { 0 };
    const uint8_t *stored = payload->p;
    size_t stored_len = payload->len;
    uint8_t *z = NULL;

    if (l->n_ch == LB_MAX_CHUNKS)
        die("more than LB_MAX_CHUNKS chunks");
    if (zstd) {
        size_t cap = ZSTD_compressBound(payload->len);
        z = malloc(cap);
        if (z == NULL)
            die("out of memory");
        stored_len = ZSTD_compress(z, cap, payload->p, payload->len, 3);
        if (ZSTD_isError(stored_len))
            die("zstd failed");
        stored = z;
    }
    lf_put_u32(h, LF_CHUNK_MAGIC);
    h[4] = (uint8_t)kind;
    h[5] = zstd ? LF_CHUNK_ZSTD : 0;
    lf_put_u16(h + 6, LF_CHUNK_HDR_SIZE);
    lf_put_u32(h + 8, (uint32_t)stored_len);
    lf_put_u32(h + 12, (uint32_t)payload->len);
    lf_put_u32(h + 16, tid);
    lf_put_u32(h + 20, lf_crc32c(0, stored, stored_len));
    lf_put_u64(h + 24, base_time);
    lf_put_u32(h + 40, span);
    lf_put_u32(h + 44, n_records);

    struct lb_chunk *c = &l->ch[l->n_ch];
    c->off = l->b.len;
    c->kind = kind;
    lb_put(&l->b, h, sizeof(h));
    lb_put(&l->b, stored, stored_len);
    c->end = l->b.len;
    l->n_events += n_events;
    l->has_end = l->has_end || has_end;
    c->n_events = l->n_events;
    c->has_end = l->has_end;
    free(z);
    return l->n_ch++;
}

int lb_events_chunk(struct lb_log *l, uint32_t tid, uint64_t base_time, const struct lf_event *ev,
                    int n, unsigned zstd)
{
    struct lb_buf p = { 0 };
    uint64_t last = base_time;
    int items = 0;
    bool known = true;

    lb_events_payload(&p, l->version, base_time, ev, n, (zstd & LB_ZSTD_COLUMNS) != 0);
    for (int i = 0; i < n; i++) {
        if (ev[i].time > last)
            last = ev[i].time;
        /* A reader cannot parse past a record type it does not know. */
        known = known && ev[i].type >= LF_EV_ALLOC && ev[i].type <= LF_EV_ZEROS;
        if (known)
            items += ev[i].type == LF_EV_REALLOC ? 2 : 1;
    }
    uint64_t span = last - base_time;
    int k = add_chunk(l, LF_CHUNK_EVENTS, tid, base_time,
                      span > UINT32_MAX ? UINT32_MAX : (uint32_t)span, (uint32_t)n, &p,
                      (zstd & LB_ZSTD_CHUNK) != 0, items, false);
    if (!l->idx_any) {
        l->idx_any = true;
        l->idx_off = l->ch[k].off;
        l->idx_min = UINT64_MAX;
    }
    if (base_time < l->idx_min)
        l->idx_min = base_time;
    if (last > l->idx_max)
        l->idx_max = last;
    lb_buf_fini(&p);
    return k;
}

int lb_meta_chunk(struct lb_log *l, const struct lb_buf *c, unsigned zstd)
{
    const uint8_t *p = c->p, *end = c->p + c->len;
    uint32_t n = 0;
    bool has_end = false;

    /* Walk the records as a reader does: tag, varint length, body. */
    while (p != NULL && p < end) {
        uint8_t tag = *p++;
        uint64_t len;
        if (!lf_get_varint(&p, end, &len) || len > (uint64_t)(end - p))
            break;
        has_end = has_end || tag == LF_META_END;
        p += len;
        n++;
    }
    return add_chunk(l, LF_CHUNK_META, 0, 0, 0, n, c, (zstd & LB_ZSTD_CHUNK) != 0, 0, has_end);
}

int lb_chunk(struct lb_log *l, int kind, uint32_t tid, uint64_t base_time,
             const struct lb_buf *payload, unsigned zstd)
{
    return add_chunk(l, kind, tid, base_time, 0, 0, payload, (zstd & LB_ZSTD_CHUNK) != 0, 0, false);
}

void lb_index(struct lb_log *l, const struct lf_index_entry *e, int n)
{
    struct lb_buf p = { 0 };
    uint8_t t[LF_TRAILER_SIZE];

    for (int i = 0; i < n; i++) {
        uint8_t b[LF_INDEX_ENTRY_SIZE];
        lf_put_u64(b, e[i].offset);
        lf_put_u64(b + 8, e[i].min_time);
        lf_put_u64(b + 16, e[i].max_time);
        lb_put(&p, b, sizeof(b));
    }
    int k = add_chunk(l, LF_CHUNK_INDEX, 0, 0, 0, (uint32_t)n, &p, false, 0, false);
    memcpy(t, LF_TRAILER_MAGIC, 8);
    lf_put_u64(t + 8, l->ch[k].off);
    lb_put(&l->b, t, sizeof(t));
    lb_buf_fini(&p);
}

void lb_close(struct lb_log *l)
{
    struct lf_index_entry e = { l->idx_off, l->idx_min, l->idx_max };

    lb_index(l, &e, l->idx_any ? 1 : 0);
}

/* ---- damage ---- */

void lb_set_chunk_field(struct lb_log *l, int chunk, enum lb_field f, uint64_t v)
{
    if (chunk < 0 || chunk >= l->n_ch || l->ch[chunk].off + LF_CHUNK_HDR_SIZE > l->b.len)
        die("lb_set_chunk_field: no such chunk");
    uint8_t *h = l->b.p + l->ch[chunk].off;
    switch (f) {
    case LB_CH_MAGIC:
        lf_put_u32(h, (uint32_t)v);
        break;
    case LB_CH_KIND:
        h[4] = (uint8_t)v;
        break;
    case LB_CH_FLAGS:
        h[5] = (uint8_t)v;
        break;
    case LB_CH_HDR_SIZE:
        lf_put_u16(h + 6, (uint16_t)v);
        break;
    case LB_CH_STORED:
        lf_put_u32(h + 8, (uint32_t)v);
        break;
    case LB_CH_RAW:
        lf_put_u32(h + 12, (uint32_t)v);
        break;
    case LB_CH_TID:
        lf_put_u32(h + 16, (uint32_t)v);
        break;
    case LB_CH_CRC:
        lf_put_u32(h + 20, (uint32_t)v);
        break;
    case LB_CH_BASE:
        lf_put_u64(h + 24, v);
        break;
    case LB_CH_SPAN:
        lf_put_u32(h + 40, (uint32_t)v);
        break;
    case LB_CH_COUNT:
        lf_put_u32(h + 44, (uint32_t)v);
        break;
    }
}

void lb_flip(struct lb_log *l, size_t off, uint8_t mask)
{
    if (off >= l->b.len)
        die("lb_flip: offset past the end of the log");
    l->b.p[off] ^= mask;
}

void lb_damage_payload(struct lb_log *l, int chunk, size_t at, uint8_t mask, bool fix_crc)
{
    if (chunk < 0 || chunk >= l->n_ch)
        die("lb_damage_payload: no such chunk");
    const struct lb_chunk *c = &l->ch[chunk];
    size_t start = c->off + LF_CHUNK_HDR_SIZE;
    if (start + at >= c->end || c->end > l->b.len)
        die("lb_damage_payload: offset past the chunk's payload");
    l->b.p[start + at] ^= mask;
    if (fix_crc)
        lf_put_u32(l->b.p + c->off + 20, lf_crc32c(0, l->b.p + start, c->end - start));
}

void lb_cut(struct lb_log *l, size_t len)
{
    if (len > l->b.len)
        die("lb_cut: longer than the log");
    l->b.len = len;
}

/* ---- output ---- */

int lb_write_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const uint8_t *q = p;

    if (fd < 0)
        return -errno;
    while (n > 0) {
        ssize_t k = write(fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int err = k < 0 ? -errno : -EIO;
            close(fd);
            return err;
        }
        q += k;
        n -= (size_t)k;
    }
    return close(fd) == 0 ? 0 : -errno;
}

int lb_write(const struct lb_log *l, const char *path)
{
    return lb_write_bytes(path, l->b.p, l->b.len);
}
