/* json.c - see json.h. */
#include "util/json.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

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

/* Runs of characters that need no escape go out in one fwrite: a diff's JSON of 100,000
 * sites writes a few million strings, and a call per character was most of its time. */
static void write_escaped(FILE *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;

    fputc('"', o);
    for (; *p; p++) {
        if (*p != '"' && *p != '\\' && *p >= 0x20)
            continue;
        fwrite(run, 1, (size_t)(p - run), o);
        if (*p < 0x20)
            fprintf(o, "\\u%04x", *p);
        else
            fprintf(o, "\\%c", *p);
        run = p + 1;
    }
    fwrite(run, 1, (size_t)(p - run), o);
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
