/* otlp_resp.c - an OTLP server's protobuf answers (see otlp_resp.h): a wire-format walk
 * that knows the two messages' fields and skips any other by its wire type. */
#include "cli/otlp_resp.h"

#include <string.h>

#include "util/escape.h"

struct rd {
    const uint8_t *p, *end;
};

static bool varint(struct rd *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false; /* more than 10 bytes */
}

/* The next field: its number, wire type, and for wire type 2 its bytes; for 0 the value.
 * Types 1 and 5 are skipped; 3 and 4 (groups) are not protobuf 3's: false. */
static bool field(struct rd *r, uint32_t *num, int *type, uint64_t *v, const uint8_t **b,
                  size_t *len)
{
    uint64_t key;
    if (!varint(r, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return false;
    *num = (uint32_t)(key >> 3);
    *type = (int)(key & 7);
    switch (*type) {
    case 0:
        return varint(r, v);
    case 1:
        if (r->end - r->p < 8)
            return false;
        r->p += 8;
        return true;
    case 5:
        if (r->end - r->p < 4)
            return false;
        r->p += 4;
        return true;
    case 2:
        if (!varint(r, v) || *v > (uint64_t)(r->end - r->p))
            return false;
        *b = r->p;
        *len = (size_t)*v;
        r->p += *len;
        return true;
    default:
        return false;
    }
}

/* The n bytes at s as text (escaped, cut at a whole character or escape). */
static void copy_message(char *out, size_t cap, const uint8_t *s, size_t n)
{
    char raw[1024];
    if (n >= sizeof(raw))
        n = sizeof(raw) - 1;
    memcpy(raw, s, n);
    raw[n] = '\0';
    for (size_t i = 0; i < n; i++) /* a NUL inside would cut it short: show it */
        if (raw[i] == '\0')
            raw[i] = '?';
    esc_text(out, cap, raw);
}

static void reset(struct otlp_resp *out)
{
    memset(out, 0, sizeof(*out));
}

bool otlp_resp_parse_export(const uint8_t *p, size_t n, struct otlp_resp *out)
{
    struct rd r = { p, p + n };
    uint32_t num;
    int type;
    uint64_t v = 0;
    const uint8_t *b = NULL;
    size_t len = 0;

    reset(out);
    while (r.p < r.end) {
        if (!field(&r, &num, &type, &v, &b, &len))
            return false;
        if (num != 1)
            continue;
        if (type != 2)
            return false;
        out->partial = true;
        struct rd in = { b, b + len };
        while (in.p < in.end) {
            if (!field(&in, &num, &type, &v, &b, &len))
                return false;
            if (num == 1 && type == 0)
                out->rejected_spans = (int64_t)v;
            else if (num == 2 && type == 2)
                copy_message(out->message, sizeof(out->message), b, len);
            else if (num == 1 || num == 2)
                return false;
        }
    }
    return true;
}

bool otlp_resp_parse_status(const uint8_t *p, size_t n, struct otlp_resp *out)
{
    struct rd r = { p, p + n };
    uint32_t num;
    int type;
    uint64_t v = 0;
    const uint8_t *b = NULL;
    size_t len = 0;

    reset(out);
    while (r.p < r.end) {
        if (!field(&r, &num, &type, &v, &b, &len))
            return false;
        if (num == 1 && type == 0)
            out->code = (int32_t)v;
        else if (num == 2 && type == 2)
            copy_message(out->message, sizeof(out->message), b, len);
        else if (num == 1 || num == 2 || (num == 3 && type != 2))
            return false;
    }
    return true;
}
