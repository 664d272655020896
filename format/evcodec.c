/* evcodec.c - events chunk columns: the writer's encoder and the readers' decoder. The
 * model updates (size classes, the allocation window) are shared so that the two sides
 * cannot drift apart. */
#include "format/evcodec.h"

#include <stdint.h>
#include <string.h>

#define SLOT_BITS 14
_Static_assert(EC_SLOTS == 1u << SLOT_BITS, "EC_SLOTS is 2^SLOT_BITS");
_Static_assert((EC_WINDOW & (EC_WINDOW - 1)) == 0, "EC_WINDOW is a power of two");

/* glibc's bins: a request of n bytes takes a chunk of (n + 8) rounded up to 16, at
 * least 32; its per-thread cache holds chunks up to 1040 bytes. jemalloc's small
 * classes are the same 16-byte steps up to 128 bytes. */
static inline int size_class(uint64_t size)
{
    if (size > 1032)
        return -1;
    uint64_t chunk = (size + 8 + 15) & ~(uint64_t)15;
    return chunk < 32 ? 2 : (int)(chunk >> 4);
}

/* The class lists hold at most EC_CLASS_DEPTH entries: plain loops, no memmove calls. */
static inline void class_push(struct ec_model *m, int c, uint64_t addr)
{
    if (c < 0)
        return;
    uint64_t *a = m->class_addr[c];
    int n = m->class_n[c];
    if (n == EC_CLASS_DEPTH) {
        for (int i = 1; i < EC_CLASS_DEPTH; i++)
            a[i - 1] = a[i];
        n--;
    }
    a[n] = addr;
    m->class_n[c] = (uint8_t)(n + 1);
}

/* Removes and returns the k-th most recent release of class c (k < class_n[c]). */
static inline uint64_t class_take(struct ec_model *m, int c, int k)
{
    uint64_t *a = m->class_addr[c];
    int n = m->class_n[c], i = n - 1 - k;
    uint64_t addr = a[i];
    for (; i < n - 1; i++)
        a[i] = a[i + 1];
    m->class_n[c] = (uint8_t)(n - 1);
    return addr;
}

static inline void model_reset(struct ec_model *m)
{
    m->serial = 0;
    m->prev_new = m->prev_old = 0;
    memset(m->class_n, 0, sizeof(m->class_n));
}

/* ---- encoder ---- */

static inline void put_byte(struct ec_enc *e, int col, uint8_t v)
{
    e->col[col][e->len[col]++] = v;
}

static inline void put_varint(struct ec_enc *e, int col, uint64_t v)
{
    e->len[col] = (size_t)(lf_put_varint(e->col[col] + e->len[col], v) - e->col[col]);
}

static inline void put_size(struct ec_enc *e, uint64_t size)
{
    put_byte(e, EC_SIZE_LO, (uint8_t)size);
    put_varint(e, EC_SIZE_HI, size >> 8);
}

static inline struct ec_slot *slot_of(struct ec_enc *e, uint64_t addr)
{
    return &e->slot[(addr * 0x9E3779B97F4A7C15ull) >> (64 - SLOT_BITS)];
}

void ec_enc_begin(struct ec_enc *e, uint64_t base_time)
{
    model_reset(&e->m);
    e->time = base_time;
    e->gen++;
    if (e->gen == 0) { /* after 2^32 chunks: slots of gen 0 must read as empty */
        memset(e->slot, 0, sizeof(e->slot));
        e->gen = 1;
    }
    e->records = 0;
    e->budget = 0;
    memset(e->len, 0, sizeof(e->len));
}

bool ec_enc_room_slow(struct ec_enc *e)
{
    /* A record adds at most 20 bytes to a column (a REALLOC's two times). */
    size_t least = EC_COL_CAP;
    for (int c = 0; c < EC_NCOLS; c++)
        if (EC_COL_CAP - e->len[c] < least)
            least = EC_COL_CAP - e->len[c];
    e->budget = (uint32_t)(least / 20);
    return e->budget > 0;
}

/* Codes a released address; returns the block's size class if the model knew it. */
static int enc_old(struct ec_enc *e, uint64_t addr, uint8_t *mode)
{
    struct ec_slot *s = slot_of(e, addr);
    uint32_t age = e->m.serial - 1 - s->serial;
    if (s->gen == e->gen && s->addr == addr && age < EC_WINDOW) {
        s->gen = 0;
        put_varint(e, EC_AGE, age);
        *mode |= EC_OLD_AGE << 4;
        return size_class(s->size);
    }
    put_varint(e, EC_OLD, lf_zigzag((int64_t)(addr - e->m.prev_old)));
    e->m.prev_old = addr;
    return -1;
}

/* Codes a new block's address (unless the mode already says it) and remembers it. */
static void enc_new(struct ec_enc *e, uint64_t addr, uint64_t size, uint8_t *mode)
{
    if ((*mode & 0x0f) != EC_NEW_SAME) {
        int c = size_class(size);
        int k = -1;
        if (c >= 0)
            for (int j = 0; j < e->m.class_n[c]; j++)
                if (e->m.class_addr[c][e->m.class_n[c] - 1 - j] == addr) {
                    k = j;
                    break;
                }
        if (k >= 0) {
            class_take(&e->m, c, k);
            *mode |= (uint8_t)(EC_NEW_CLASS0 + k);
        } else {
            put_varint(e, EC_NEW, lf_zigzag((int64_t)(addr - e->m.prev_new)));
            e->m.prev_new = addr;
        }
    }
    struct ec_slot *s = slot_of(e, addr);
    s->addr = addr;
    s->size = size;
    s->serial = e->m.serial++;
    s->gen = e->gen;
}

void ec_enc_add(struct ec_enc *e, const struct lf_event *ev)
{
    uint8_t mode = 0;
    int old_class;

    e->records++;
    e->budget--;
    put_byte(e, EC_TAG, (uint8_t)(ev->type | ev->fn << 4));
    put_varint(e, EC_TIME, ev->time - e->time);
    e->time = ev->time;
    switch (ev->type) {
    case LF_EV_ALLOC:
        enc_new(e, ev->addr, ev->size, &mode);
        put_byte(e, EC_MODE, mode);
        put_size(e, ev->size);
        put_varint(e, EC_STACK, ev->stack);
        if (ev->fn == LF_FN_API)
            put_varint(e, EC_POOL, ev->pool);
        break;
    case LF_EV_FREE:
        old_class = enc_old(e, ev->addr, &mode);
        class_push(&e->m, old_class, ev->addr);
        put_byte(e, EC_MODE, mode);
        break;
    case LF_EV_REALLOC:
        put_varint(e, EC_TIME, ev->time - ev->time_before);
        old_class = enc_old(e, ev->old_addr, &mode);
        if (ev->addr == ev->old_addr)
            mode |= EC_NEW_SAME;
        enc_new(e, ev->addr, ev->size, &mode);
        if (ev->addr != ev->old_addr)
            class_push(&e->m, old_class, ev->old_addr);
        put_byte(e, EC_MODE, mode);
        put_size(e, ev->size);
        put_varint(e, EC_STACK, ev->stack);
        if (ev->fn == LF_FN_API)
            put_varint(e, EC_POOL, ev->pool);
        break;
    case LF_EV_LOST:
        put_varint(e, EC_COUNT, ev->count);
        break;
    case LF_EV_ZEROS:
        put_varint(e, EC_OLD, lf_zigzag((int64_t)(ev->addr - e->m.prev_old)));
        e->m.prev_old = ev->addr;
        put_size(e, ev->size);
        put_varint(e, EC_COUNT, ev->count);
        break;
    }
}

size_t ec_enc_bound(const struct ec_enc *e)
{
    size_t n = 1 + 10 * EC_NCOLS;
    for (int c = 0; c < EC_NCOLS; c++)
        n += ZSTD_COMPRESSBOUND(e->len[c]);
    return n;
}

size_t ec_enc_finish(struct ec_enc *e, uint8_t *out, ZSTD_CCtx *zc, int level)
{
    uint8_t *p = lf_put_varint(out, EC_NCOLS);
    for (int c = 0; c < EC_NCOLS; c++) {
        size_t len = e->len[c], stored = len;
        /* The stored length goes before the data; leave room for its largest varint. */
        uint8_t *raw_len_end = lf_put_varint(p, len);
        uint8_t *data = raw_len_end + 5;
        if (zc != NULL && len > 32) {
            size_t n = ZSTD_compressCCtx(zc, data, ZSTD_COMPRESSBOUND(len), e->col[c], len, level);
            if (!ZSTD_isError(n) && n < len)
                stored = n;
        }
        if (stored == len)
            memcpy(data, e->col[c], len);
        uint8_t *q = lf_put_varint(raw_len_end, stored);
        memmove(q, data, stored);
        p = q + stored;
    }
    return (size_t)(p - out);
}

/* ---- decoder ---- */

/* Walks the column table: calls f for each column's raw length, stored bytes. */
static bool walk_columns(const uint8_t *payload, size_t len,
                         bool (*f)(void *arg, int col, uint64_t raw_len, const uint8_t *data,
                                   uint64_t stored),
                         void *arg)
{
    const uint8_t *p = payload, *end = payload + len;
    uint64_t n;

    if (!lf_get_varint(&p, end, &n) || n < EC_NCOLS_MIN || n > 64)
        return false;
    for (uint64_t c = 0; c < n; c++) {
        uint64_t raw_len, stored;
        /* A known column is at most what the encoder writes: a few bytes must not
         * decompress to more than that. */
        if (!lf_get_varint(&p, end, &raw_len) || !lf_get_varint(&p, end, &stored) ||
            stored > (uint64_t)(end - p) || stored > raw_len || raw_len > LF_MAX_CHUNK_RAW ||
            (c < EC_NCOLS && raw_len > EC_COL_CAP))
            return false;
        if (c < EC_NCOLS && !f(arg, (int)c, raw_len, p, stored))
            return false;
        p += stored;
    }
    return p == end;
}

struct unpack {
    uint64_t total;
    ZSTD_DCtx *zd;
    uint8_t *out;       /* NULL: only measure */
    struct ec_dec *dec; /* ec_dec_begin: the columns to point at */
};

static bool unpack_column(void *arg, int col, uint64_t raw_len, const uint8_t *data,
                          uint64_t stored)
{
    struct unpack *u = arg;
    if (u->dec != NULL) { /* unpacked already: point at it */
        if (stored != raw_len)
            return false;
        u->dec->p[col] = data;
        u->dec->end[col] = data + raw_len;
        return true;
    }
    uint8_t tmp[10];
    u->total += (uint64_t)(lf_put_varint(tmp, raw_len) - tmp) * 2 + raw_len;
    if (u->total > LF_MAX_CHUNK_RAW)
        return false;
    if (u->out == NULL)
        return true;
    u->out = lf_put_varint(u->out, raw_len);
    u->out = lf_put_varint(u->out, raw_len);
    if (stored == raw_len) {
        memcpy(u->out, data, stored);
    } else {
        size_t got = ZSTD_decompressDCtx(u->zd, u->out, raw_len, data, stored);
        if (ZSTD_isError(got) || got != raw_len)
            return false;
    }
    u->out += raw_len;
    return true;
}

size_t ec_unpacked_size(const uint8_t *payload, size_t len)
{
    struct unpack u = { 1, NULL, NULL, NULL }; /* 1: the column count */
    if (!walk_columns(payload, len, unpack_column, &u))
        return SIZE_MAX;
    return (size_t)u.total;
}

bool ec_unpack(const uint8_t *payload, size_t len, ZSTD_DCtx *zd, uint8_t *out)
{
    struct unpack u = { 1, zd, out + 1, NULL };
    const uint8_t *p = payload;
    uint64_t n;

    /* The columns kept: those known, of those the payload has. */
    if (!lf_get_varint(&p, payload + len, &n))
        return false;
    out[0] = (uint8_t)(n < EC_NCOLS ? n : EC_NCOLS);
    return walk_columns(payload, len, unpack_column, &u);
}

bool ec_dec_begin(struct ec_dec *d, const uint8_t *unpacked, size_t len, uint64_t base_time)
{
    struct unpack u = { 0, NULL, NULL, d };
    for (int c = 0; c < EC_NCOLS; c++)
        d->p[c] = d->end[c] = NULL; /* a column the payload lacks reads as empty */
    if (!walk_columns(unpacked, len, unpack_column, &u))
        return false;
    model_reset(&d->m);
    d->time = base_time;
    return true;
}

/* The decoder's column cursors live in a local copy for a whole batch (ec_dec_batch),
 * so that the compiler keeps them in registers: through the struct, every read of
 * every column went to memory (a third of a report's decoding time). */
struct cols {
    const uint8_t *p[EC_NCOLS], *end[EC_NCOLS];
};

static __attribute__((noinline)) const uint8_t *varint_slow(const uint8_t *p, const uint8_t *end,
                                                            uint64_t *v)
{
    return lf_get_varint(&p, end, v) ? p : NULL;
}

static inline bool get_byte(struct cols *c, int col, uint8_t *v)
{
    if (c->p[col] >= c->end[col])
        return false;
    *v = *c->p[col]++;
    return true;
}

static inline bool get_varint(struct cols *c, int col, uint64_t *v)
{
    const uint8_t *p = c->p[col];
    if (p < c->end[col] && *p < 0x80) { /* the common one-byte case */
        *v = *p;
        c->p[col] = p + 1;
        return true;
    }
    p = varint_slow(p, c->end[col], v);
    if (p == NULL)
        return false;
    c->p[col] = p;
    return true;
}

static inline bool get_size(struct cols *c, uint64_t *size)
{
    uint8_t lo;
    uint64_t hi;
    if (!get_byte(c, EC_SIZE_LO, &lo) || !get_varint(c, EC_SIZE_HI, &hi) || hi >> 56 != 0)
        return false;
    *size = hi << 8 | lo;
    return true;
}

/* A released address; *cls gets the block's size class if the model knew it. */
__attribute__((always_inline)) static inline bool dec_old(struct ec_dec *d, struct cols *c,
                                                          uint8_t mode, uint64_t *addr, int *cls)
{
    uint64_t v;
    *cls = -1;
    switch (mode >> 4) {
    case EC_OLD_DELTA:
        if (!get_varint(c, EC_OLD, &v))
            return false;
        *addr = d->m.prev_old += (uint64_t)lf_unzigzag(v);
        return true;
    case EC_OLD_AGE:
        if (!get_varint(c, EC_AGE, &v) || v >= d->m.serial || v >= EC_WINDOW)
            return false;
        uint32_t i = (d->m.serial - 1 - (uint32_t)v) & (EC_WINDOW - 1);
        *addr = d->ring_addr[i];
        *cls = d->ring_class[i];
        return true;
    }
    return false;
}

__attribute__((always_inline)) static inline bool
dec_new(struct ec_dec *d, struct cols *c, uint8_t mode, uint64_t old, uint64_t size, uint64_t *addr)
{
    uint64_t v;
    int k = mode & 0x0f;
    int cls = size_class(size);
    if (k == EC_NEW_DELTA) {
        if (!get_varint(c, EC_NEW, &v))
            return false;
        *addr = d->m.prev_new += (uint64_t)lf_unzigzag(v);
    } else if (k == EC_NEW_SAME) {
        *addr = old;
    } else {
        k -= EC_NEW_CLASS0;
        if (cls < 0 || k >= d->m.class_n[cls])
            return false;
        *addr = class_take(&d->m, cls, k);
    }
    uint32_t i = d->m.serial++ & (EC_WINDOW - 1);
    d->ring_addr[i] = *addr;
    d->ring_class[i] = (int8_t)cls;
    return true;
}

/* One record into *ev: 1, or 0 / -1 / -2 as ec_dec_next. */
__attribute__((always_inline)) static inline int dec_one(struct ec_dec *d, struct cols *c,
                                                         uint64_t *time, struct lf_event *ev)
{
    uint8_t tag, mode;
    uint64_t dt, w, before;
    int cls;

    if (!get_byte(c, EC_TAG, &tag)) {
        for (int k = 0; k < EC_NCOLS; k++)
            if (c->p[k] != c->end[k])
                return -1; /* records missing: the columns disagree */
        return 0;
    }
    ev->type = tag & 0x0f;
    ev->fn = tag >> 4;
    ev->stack = 0;
    ev->size = 0;
    ev->count = 0;
    ev->addr = ev->old_addr = 0;
    if (ev->type < LF_EV_ALLOC || ev->type > LF_EV_ZEROS)
        return -2;
    if (!get_varint(c, EC_TIME, &dt))
        return -1;
    ev->time = *time += dt;
    ev->time_before = ev->time;
    switch (ev->type) {
    case LF_EV_ALLOC:
        if (!get_byte(c, EC_MODE, &mode) || mode >> 4 != 0 || (mode & 0x0f) == EC_NEW_SAME ||
            !get_size(c, &ev->size) || !dec_new(d, c, mode, 0, ev->size, &ev->addr) ||
            !get_varint(c, EC_STACK, &w) || w > UINT32_MAX ||
            (ev->fn == LF_FN_API && !get_varint(c, EC_POOL, &ev->pool)))
            return -1;
        ev->stack = (uint32_t)w;
        ev->old_addr = ev->addr;
        break;
    case LF_EV_FREE:
        if (!get_byte(c, EC_MODE, &mode) || (mode & 0x0f) != 0 ||
            !dec_old(d, c, mode, &ev->addr, &cls))
            return -1;
        class_push(&d->m, cls, ev->addr);
        ev->old_addr = ev->addr;
        break;
    case LF_EV_REALLOC:
        if (!get_varint(c, EC_TIME, &before) || before > dt || !get_byte(c, EC_MODE, &mode) ||
            !get_size(c, &ev->size) || !dec_old(d, c, mode, &ev->old_addr, &cls) ||
            !dec_new(d, c, mode, ev->old_addr, ev->size, &ev->addr) ||
            !get_varint(c, EC_STACK, &w) || w > UINT32_MAX ||
            (ev->fn == LF_FN_API && !get_varint(c, EC_POOL, &ev->pool)))
            return -1;
        ev->time_before = ev->time - before;
        if (ev->addr != ev->old_addr)
            class_push(&d->m, cls, ev->old_addr);
        ev->stack = (uint32_t)w;
        break;
    case LF_EV_LOST:
        if (!get_varint(c, EC_COUNT, &ev->count))
            return -1;
        break;
    case LF_EV_ZEROS:
        if (!get_varint(c, EC_OLD, &w) || !get_size(c, &ev->size) ||
            !get_varint(c, EC_COUNT, &ev->count) || ev->count > ev->size)
            return -1;
        ev->addr = ev->old_addr = d->m.prev_old += (uint64_t)lf_unzigzag(w);
        break;
    }
    return 1;
}

int ec_dec_batch(struct ec_dec *d, struct lf_event *ev, int max, int *status)
{
    struct cols c;
    uint64_t time = d->time;
    int n = 0, k = 1;

    memcpy(c.p, d->p, sizeof(c.p));
    memcpy(c.end, d->end, sizeof(c.end));
    while (n + 2 <= max) {
        struct lf_event *e = &ev[n];
        k = dec_one(d, &c, &time, e);
        if (k <= 0)
            break;
        if (e->type == LF_EV_REALLOC) {
            lf_split_realloc(e);
            n++;
        }
        n++;
    }
    memcpy(d->p, c.p, sizeof(c.p));
    d->time = time;
    *status = k > 0 ? 1 : k;
    return n;
}

int ec_dec_next(struct ec_dec *d, struct lf_event *ev)
{
    struct cols c;
    memcpy(c.p, d->p, sizeof(c.p));
    memcpy(c.end, d->end, sizeof(c.end));
    int k = dec_one(d, &c, &d->time, ev);
    memcpy(d->p, c.p, sizeof(c.p));
    return k;
}
