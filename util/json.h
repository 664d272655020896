/*
 * json.h - a streaming JSON writer onto a FILE, for the JSON report and the formats to
 * come. It tracks the nesting and writes the commas and colons; strings are escaped;
 * numbers are written as the caller formats them (json_rawf), because the report's
 * numbers have their own rules (integers as such, estimates with one decimal). Output
 * is compact: no spaces, no newlines.
 *
 * Strings come out valid UTF-8 whatever bytes they hold: a byte that is not part of a
 * valid UTF-8 sequence is written as \ufffd (U+FFFD, the replacement character);
 * control characters as \u00XX.
 *
 * One thread per writer. Allocates nothing. Write errors are the FILE's: check
 * ferror() at the end. Nesting deeper than JSON_MAX_DEPTH, a value where a key is due
 * or unbalanced ends are the caller's bugs (asserted).
 */
#ifndef HEAPSPAN_UTIL_JSON_H
#define HEAPSPAN_UTIL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

/* Only this module's functions use the fields. */
struct json {
    FILE *out;
    int depth;
    bool in_object[JSON_MAX_DEPTH + 1]; /* per depth: an object (keys due) or an array */
    bool first[JSON_MAX_DEPTH + 1];     /* per depth: nothing written in it yet */
    bool after_key;                     /* a key was written: its value comes next */
};

void json_init(struct json *j, FILE *out);

void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);

/* The next member's key, inside an object. */
void json_key(struct json *j, const char *key);

/* Values: in an array, or after json_key. */
void json_string(struct json *j, const char *s); /* NULL is written as null */
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
void json_u64(struct json *j, uint64_t v);
void json_int(struct json *j, long long v);
/* A value formatted by printf: a number, as the caller wants it written. */
void json_rawf(struct json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 0 when every value was closed (depth back to 0), else -EINVAL. */
int json_finish(const struct json *j);

#endif
