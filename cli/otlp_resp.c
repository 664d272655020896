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

/* ---- OTLP/JSON answers ---- */

#define JSON_MAX_DEPTH 64

struct jr {
    const char *p, *end;
    int depth;
};

static void ws(struct jr *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool lit(struct jr *j, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
        return false;
    j->p += n;
    return true;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* A string; its decoded bytes into out (cap bytes, cut short, NUL-terminated) if out. */
static bool jstring(struct jr *j, char *out, size_t cap)
{
    size_t o = 0;
    if (j->p >= j->end || *j->p != '"')
        return false;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        uint32_t cp = c;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (j->p >= j->end)
                return false;
            char e = *j->p++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e != '\0' && simple != NULL) {
                cp = (uint32_t) "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                int v = j->end - j->p >= 4 ? hex4(j->p) : -1;
                if (v < 0)
                    return false;
                j->p += 4;
                cp = (uint32_t)v;
                if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
                    j->p[1] == 'u') {
                    int lo = hex4(j->p + 2);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                        j->p += 6;
                    }
                }
                if (cp >= 0xd800 && cp < 0xe000)
                    cp = 0xfffd; /* a lone surrogate */
            } else {
                return false;
            }
            /* Encoded as UTF-8 below. */
            char u[4];
            int n =
                cp < 0x80    ? (u[0] = (char)cp, 1)
                : cp < 0x800 ? (u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), 2)
                : cp < 0x10000
                    ? (u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
                       u[2] = (char)(0x80 | (cp & 0x3f)), 3)
                    : (u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
                       u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)),
                       4);
            for (int i = 0; i < n; i++)
                if (out != NULL && o + 1 < cap)
                    out[o++] = u[i];
            continue;
        }
        if (out != NULL && o + 1 < cap)
            out[o++] = (char)c;
    }
    if (j->p >= j->end)
        return false;
    j->p++;
    if (out != NULL && cap > 0)
        out[o] = '\0';
    return true;
}

/* A number; its value, if it is a whole one within int64, into *v (if v). */
static bool jnumber(struct jr *j, int64_t *v, bool *whole)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return false;
    if (*j->p == '0')
        j->p++;
    else
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    bool w = true;
    if (j->p < j->end && *j->p == '.') {
        w = false;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        w = false;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    /* Whole and within int64: digits accumulated unsigned, each step checked. */
    uint64_t x = 0, limit = *s == '-' ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (const char *q = *s == '-' ? s + 1 : s; w && q < j->p; q++) {
        if (x > (limit - (uint64_t)(*q - '0')) / 10)
            w = false;
        else
            x = x * 10 + (uint64_t)(*q - '0');
    }
    if (whole != NULL)
        *whole = w;
    if (v != NULL && w)
        *v = *s == '-' ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

static bool jvalue(struct jr *j);

/* An object, each member's key given to fn (which parses the value, or returns 0 to
 * have it skipped). */
typedef int (*member_fn)(struct jr *j, const char *key, void *ctx);
static bool jobject(struct jr *j, member_fn fn, void *ctx)
{
    char key[64];
    if (j->p >= j->end || *j->p != '{' || ++j->depth > JSON_MAX_DEPTH)
        return false;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        ws(j);
        if (!jstring(j, key, sizeof(key)))
            return false;
        ws(j);
        if (j->p >= j->end || *j->p != ':')
            return false;
        j->p++;
        ws(j);
        int r = fn != NULL ? fn(j, key, ctx) : 0;
        if (r < 0 || (r == 0 && !jvalue(j)))
            return false;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            j->depth--;
            return true;
        }
        return false;
    }
}

static bool jvalue(struct jr *j)
{
    ws(j);
    if (j->p >= j->end)
        return false;
    switch (*j->p) {
    case '{':
        return jobject(j, NULL, NULL);
    case '[':
        if (++j->depth > JSON_MAX_DEPTH)
            return false;
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            j->depth--;
            return true;
        }
        for (;;) {
            if (!jvalue(j))
                return false;
            ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                j->depth--;
                return true;
            }
            return false;
        }
    case '"':
        return jstring(j, NULL, 0);
    case 't':
        return lit(j, "true");
    case 'f':
        return lit(j, "false");
    case 'n':
        return lit(j, "null");
    default:
        return jnumber(j, NULL, NULL);
    }
}

/* A 64-bit integer as OTLP/JSON writes it: a decimal string, or a number. */
static int jint64(struct jr *j, int64_t *v)
{
    char s[32];
    bool whole = false;
    if (j->p < j->end && *j->p == '"') {
        if (!jstring(j, s, sizeof(s)))
            return -1;
        struct jr in = { s, s + strlen(s), 0 };
        return jnumber(&in, v, &whole) && in.p == in.end && whole ? 1 : -1;
    }
    return jnumber(j, v, &whole) && whole ? 1 : -1;
}

static int partial_member(struct jr *j, const char *key, void *ctx)
{
    struct otlp_resp *out = ctx;
    if (!strcmp(key, "rejectedSpans"))
        return jint64(j, &out->rejected_spans);
    if (!strcmp(key, "errorMessage")) {
        char raw[1024];
        if (!jstring(j, raw, sizeof(raw)))
            return -1;
        esc_text(out->message, sizeof(out->message), raw);
        return 1;
    }
    return 0;
}

static int export_member(struct jr *j, const char *key, void *ctx)
{
    struct otlp_resp *out = ctx;
    if (strcmp(key, "partialSuccess") != 0)
        return 0;
    if (j->p < j->end && *j->p == 'n') /* null: absent */
        return lit(j, "null") ? 1 : -1;
    out->partial = true;
    return jobject(j, partial_member, out) ? 1 : -1;
}

static int status_member(struct jr *j, const char *key, void *ctx)
{
    struct otlp_resp *out = ctx;
    if (!strcmp(key, "code")) {
        int64_t v = 0;
        int r = jint64(j, &v);
        out->code = (int32_t)v;
        return r;
    }
    if (!strcmp(key, "message")) {
        char raw[1024];
        if (!jstring(j, raw, sizeof(raw)))
            return -1;
        esc_text(out->message, sizeof(out->message), raw);
        return 1;
    }
    return 0;
}

static bool parse_json(const char *p, size_t n, member_fn fn, struct otlp_resp *out)
{
    struct jr j = { p, p + n, 0 };
    reset(out);
    ws(&j);
    if (!jobject(&j, fn, out))
        return false;
    ws(&j);
    return j.p == j.end;
}

bool otlp_resp_parse_export_json(const char *p, size_t n, struct otlp_resp *out)
{
    return parse_json(p, n, export_member, out);
}

bool otlp_resp_parse_status_json(const char *p, size_t n, struct otlp_resp *out)
{
    return parse_json(p, n, status_member, out);
}
