/* pbuf.c - see pbuf.h. */
#include "util/pbuf.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* A length is reserved at this width while its body is written, then shrunk. */
#define LEN_RESERVE 5

void pb_init(struct pbuf *p)
{
    memset(p, 0, sizeof(*p));
}

void pb_fini(struct pbuf *p)
{
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

/* Room for n more bytes; false (and the error set) when there is none to be had. */
static int reserve(struct pbuf *p, size_t n)
{
    if (p->err != 0)
        return 0;
    if (p->len + n <= p->cap)
        return 1;
    size_t cap = p->cap ? p->cap : 256;
    while (cap < p->len + n)
        cap *= 2;
    uint8_t *b = realloc(p->buf, cap);
    if (b == NULL) {
        p->err = -ENOMEM;
        return 0;
    }
    p->buf = b;
    p->cap = cap;
    return 1;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at q (room checked by the caller); returns the end. */
static uint8_t *put_varint(uint8_t *q, uint64_t v)
{
    while (v >= 0x80) {
        *q++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *q++ = (uint8_t)v;
    return q;
}

static void varint(struct pbuf *p, uint64_t v)
{
    if (reserve(p, 10))
        p->len = (size_t)(put_varint(p->buf + p->len, v) - p->buf);
}

static void key(struct pbuf *p, uint32_t field, int wire)
{
    assert(field > 0 && field < (1u << 29));
    varint(p, (uint64_t)field << 3 | (uint64_t)wire);
}

static void raw(struct pbuf *p, const void *data, size_t n)
{
    if (n > 0 && reserve(p, n)) {
        memcpy(p->buf + p->len, data, n);
        p->len += n;
    }
}

void pb_uint(struct pbuf *p, uint32_t field, uint64_t v)
{
    key(p, field, WIRE_VARINT);
    varint(p, v);
}

void pb_int(struct pbuf *p, uint32_t field, int64_t v)
{
    pb_uint(p, field, (uint64_t)v);
}

static void put_le(struct pbuf *p, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    raw(p, b, (size_t)bytes);
}

void pb_fixed64(struct pbuf *p, uint32_t field, uint64_t v)
{
    key(p, field, WIRE_I64);
    put_le(p, v, 8);
}

void pb_double(struct pbuf *p, uint32_t field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    pb_fixed64(p, field, bits);
}

void pb_fixed32(struct pbuf *p, uint32_t field, uint32_t v)
{
    key(p, field, WIRE_I32);
    put_le(p, v, 4);
}

void pb_bytes(struct pbuf *p, uint32_t field, const void *data, size_t n)
{
    key(p, field, WIRE_LEN);
    varint(p, n);
    raw(p, data, n);
}

void pb_string(struct pbuf *p, uint32_t field, const char *s)
{
    pb_bytes(p, field, s, strlen(s));
}

static void open_len(struct pbuf *p, uint32_t field)
{
    assert(p->depth < PB_MAX_DEPTH);
    key(p, field, WIRE_LEN);
    if (!reserve(p, LEN_RESERVE)) {
        p->depth++; /* kept balanced, so that the caller's pb_end still matches */
        return;
    }
    p->len += LEN_RESERVE;
    p->start[p->depth] = p->len;
    p->depth++;
}

void pb_begin(struct pbuf *p, uint32_t field)
{
    open_len(p, field);
}

void pb_packed_begin(struct pbuf *p, uint32_t field)
{
    open_len(p, field);
}

void pb_packed_uint(struct pbuf *p, uint64_t v)
{
    assert(p->depth > 0);
    varint(p, v);
}

void pb_packed_int(struct pbuf *p, int64_t v)
{
    pb_packed_uint(p, (uint64_t)v);
}

void pb_end(struct pbuf *p)
{
    assert(p->depth > 0);
    p->depth--;
    if (p->err != 0)
        return;
    size_t start = p->start[p->depth], body = p->len - start;
    size_t need = varint_len(body);
    assert(need <= LEN_RESERVE); /* bodies stay far below 2^35 bytes */
    uint8_t *len_at = p->buf + start - LEN_RESERVE;
    /* The body moves left over the reserved bytes the minimal varint leaves unused. */
    put_varint(len_at, body);
    if (need < LEN_RESERVE) {
        memmove(len_at + need, p->buf + start, body);
        p->len -= LEN_RESERVE - need;
    }
}

int pb_error(const struct pbuf *p)
{
    return p->err;
}

const uint8_t *pb_data(const struct pbuf *p)
{
    return p->buf;
}

size_t pb_len(const struct pbuf *p)
{
    return p->len;
}
