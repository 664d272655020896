/* fuzzlib.c - see fuzzlib.h. */
#include "tests/fuzz/fuzzlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/escape.h"

const char *fz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];

    if (fd < 0) {
        fd = memfd_create("heapspan-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            fz_fail("memfd_create", "failed", 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        fz_fail("writing the input", "failed", 0);
    return path;
}

void fz_fail(const char *what, const char *detail, size_t at)
{
    fprintf(stderr, "fuzz check failed: %s: %s (at byte %zu)\n", what, detail, at);
    abort();
}

/* ---- JSON ---- */

struct jp {
    const char *p, *end, *start;
    const char *why;
    int depth;
};

static bool jp_fail(struct jp *j, const char *why)
{
    if (j->why == NULL)
        j->why = why;
    return false;
}

static void jp_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jp_lit(struct jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return jp_fail(j, "bad literal");
    j->p += n;
    return true;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool jp_string(struct jp *j)
{
    j->p++; /* the opening quote */
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return jp_fail(j, "raw control character in a string");
        if (c == '\\') {
            if (j->end - j->p < 2)
                return jp_fail(j, "escape cut short");
            char e = j->p[1];
            if (e == 'u') {
                if (j->end - j->p < 6 || !is_hex(j->p[2]) || !is_hex(j->p[3]) || !is_hex(j->p[4]) ||
                    !is_hex(j->p[5]))
                    return jp_fail(j, "bad \\u escape");
                j->p += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
                return jp_fail(j, "bad escape");
            j->p += 2;
            continue;
        }
        int len = esc_utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
        if (len == 0)
            return jp_fail(j, "not UTF-8 in a string");
        j->p += len;
    }
    return jp_fail(j, "string not closed");
}

static bool digits(struct jp *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static bool jp_number(struct jp *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!digits(j))
        return jp_fail(j, "bad number");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digits(j))
            return jp_fail(j, "bad fraction");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!digits(j))
            return jp_fail(j, "bad exponent");
    }
    return true;
}

static bool jp_value(struct jp *j)
{
    jp_ws(j);
    if (j->p >= j->end)
        return jp_fail(j, "value missing");
    switch (*j->p) {
    case '{':
    case '[': {
        char close = *j->p == '{' ? '}' : ']';
        bool object = close == '}';
        if (++j->depth > 64)
            return jp_fail(j, "nested too deep");
        j->p++;
        jp_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return true;
        }
        for (;;) {
            if (object) {
                jp_ws(j);
                if (j->p >= j->end || *j->p != '"' || !jp_string(j))
                    return jp_fail(j, "key missing");
                jp_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return jp_fail(j, "':' missing");
                j->p++;
            }
            if (!jp_value(j))
                return false;
            jp_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                j->depth--;
                return true;
            }
            return jp_fail(j, "',' or the end missing");
        }
    }
    case '"':
        return jp_string(j);
    case 't':
        return jp_lit(j, "true");
    case 'f':
        return jp_lit(j, "false");
    case 'n':
        return jp_lit(j, "null");
    default:
        return jp_number(j);
    }
}

bool fz_json_valid(const char *s, size_t n, const char **why, size_t *at)
{
    struct jp j = { s, s + n, s, NULL, 0 };

    if (jp_value(&j)) {
        jp_ws(&j);
        if (j.p != j.end)
            jp_fail(&j, "data after the value");
    }
    *why = j.why;
    *at = (size_t)(j.p - s);
    return j.why == NULL;
}

/* ---- text ---- */

bool fz_text_safe(const char *s, size_t n, size_t *at)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        int len = esc_utf8_len(p + i, n - i);
        if (len == 0 || (p[i] < 0x20 && p[i] != '\n') || p[i] == 0x7f ||
            (p[i] == 0xc2 && len == 2 && p[i + 1] < 0xa0)) {
            *at = i;
            return false;
        }
        i += (size_t)len;
    }
    return true;
}
