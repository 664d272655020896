/*
 * fuzzlib.h - what the fuzz targets (tests/fuzz/NAME.c) share: the input as a file the
 * reader can open, and the checks on what the analyzer writes from it - a JSON report
 * must be valid JSON in valid UTF-8, a report for people must hold nothing a terminal
 * would obey. A check that fails aborts, which libFuzzer reports as a crash with the
 * input that caused it.
 *
 * Called from a fuzz target's LLVMFuzzerTestOneInput, one thread. Allocates with
 * malloc; out of memory aborts (libFuzzer's -rss_limit_mb catches growth first).
 */
#ifndef HEAPSPAN_TESTS_FUZZLIB_H
#define HEAPSPAN_TESTS_FUZZLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A path that reads as exactly these bytes: a memfd of this process, rewritten on each
 * call (the path stays the same). */
const char *fz_file(const uint8_t *data, size_t size);

/* Whether s[0..n) is one JSON value (RFC 8259) in valid UTF-8, with only whitespace
 * around it. On false, *why says what and where. */
bool fz_json_valid(const char *s, size_t n, const char **why, size_t *at);

/* Whether s[0..n) is valid UTF-8 holding no control character but the newline (no C0,
 * no DEL, no C1). */
bool fz_text_safe(const char *s, size_t n, size_t *at);

struct model;

/* Opens the log at path as `heapspan report --no-symbols` does (on the reader's thread
 * or on threads of its own), renders the model in every format, and checks each
 * output: JSON with fz_json_valid, text and markdown with fz_text_safe. A log the
 * reader refuses is fine; a crash, a leak or a failed check is not. Defined in
 * fuzzreport.c, which links the analyzer and the renderers. */
void fz_report(const char *path, bool threads);

/* Renders m in every format and checks each output as fz_report does (fuzzreport.c). */
void fz_render(const struct model *m);

/* Prints what and where, then aborts. */
void fz_fail(const char *what, const char *detail, size_t at) __attribute__((noreturn));

#endif
