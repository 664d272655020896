/* json.c - see json.h. */
#include "util/json.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "util/escape.h"

void json_init(struct json *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->in_object[0] = false;
    j->first[0] = true;
    j->after_key = false;
}

/* Before a value: the comma that separates it from the one before, if any. */
static void before_value(struct json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    assert(!j->in_object[j->depth]); /* a value in an object needs its key first */
    if (!j->first[j->depth])
        fputc(',', j->out);
    j->first[j->depth] = false;
}

/* A string as JSON wants it: quotes, backslashes and control characters escaped, and
 * valid UTF-8 whatever s holds - each byte that is not part of a valid sequence is
 * written as \ufffd, the replacement character (docs/report-json.md). Runs of plain
 * characters go out in one fwrite: a diff's JSON of 100,000 sites writes a few million
 * strings, and a call per character was most of its time. */
static void write_escaped(FILE *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    fputc('"', o);
    while (n > 0) {
        size_t run = 0; /* plain ASCII, written in one go */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        fwrite(p, 1, run, o);
        p += run;
        n -= run;
        if (n == 0)
            break;
        int len = esc_utf8_len(p, n);
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(o, "\\u%04x", *p);
        else if (len == 0)
            fputs("\\ufffd", o);
        else
            fwrite(p, 1, (size_t)len, o);
        len = len > 0 ? len : 1;
        p += len;
        n -= (size_t)len;
    }
    fputc('"', o);
}

static void open_nested(struct json *j, char c, bool object)
{
    before_value(j);
    assert(j->depth < JSON_MAX_DEPTH);
    fputc(c, j->out);
    j->depth++;
    j->in_object[j->depth] = object;
    j->first[j->depth] = true;
}

static void close_nested(struct json *j, char c, bool object)
{
    assert(j->depth > 0 && j->in_object[j->depth] == object && !j->after_key);
    (void)object;
    fputc(c, j->out);
    j->depth--;
}

void json_object_begin(struct json *j)
{
    open_nested(j, '{', true);
}

void json_object_end(struct json *j)
{
    close_nested(j, '}', true);
}

void json_array_begin(struct json *j)
{
    open_nested(j, '[', false);
}

void json_array_end(struct json *j)
{
    close_nested(j, ']', false);
}

void json_key(struct json *j, const char *key)
{
    assert(j->in_object[j->depth] && !j->after_key);
    if (!j->first[j->depth])
        fputc(',', j->out);
    j->first[j->depth] = false;
    write_escaped(j->out, key);
    fputc(':', j->out);
    j->after_key = true;
}

void json_string(struct json *j, const char *s)
{
    before_value(j);
    if (s == NULL)
        fputs("null", j->out);
    else
        write_escaped(j->out, s);
}

void json_bool(struct json *j, bool v)
{
    before_value(j);
    fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j)
{
    before_value(j);
    fputs("null", j->out);
}

void json_u64(struct json *j, uint64_t v)
{
    before_value(j);
    fprintf(j->out, "%" PRIu64, v);
}

void json_int(struct json *j, long long v)
{
    before_value(j);
    fprintf(j->out, "%lld", v);
}

void json_rawf(struct json *j, const char *fmt, ...)
{
    va_list ap;
    before_value(j);
    va_start(ap, fmt);
    vfprintf(j->out, fmt, ap);
    va_end(ap);
}

int json_finish(const struct json *j)
{
    return j->depth == 0 && !j->after_key ? 0 : -EINVAL;
}
