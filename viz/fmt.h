/*
 * fmt.h - numbers and frames as the reports for people (text, markdown) write them.
 * Pure functions into the caller's buffer, cut to fit; thread-safe; never allocate.
 * Strings from the log or the binaries go through util/escape.h: a terminal shows
 * them, and must never obey them.
 */
#ifndef HEAPSPAN_VIZ_FMT_H
#define HEAPSPAN_VIZ_FMT_H

#include <stdbool.h>
#include <stddef.h>

#include "analyzer/model.h"

/* "1.50 MiB", "812 B": binary units, three significant digits. Returns buf. */
const char *fmt_bytes(char *buf, size_t cap, double bytes);

/* 1234567 -> "1,234,567" (rounded to an integer). Returns buf. */
const char *fmt_count(char *buf, size_t cap, double v);

/* Room for a frame as fmt_frame writes it: callers' buffers need no more. */
#define FMT_FRAME_MAX 1024

/* Names past this many characters have their deepest template arguments written
 * "<...>", level by level, then their parameters "(...)". */
#define FMT_NAME_WIDTH 100

/* A C++ or Rust name as people write it: the standard spellings (std::string for
 * std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >,
 * std::ostream, Vec for alloc::vec::Vec, ...), default template arguments left out
 * (std::allocator<T>, std::char_traits<T>, std::less<T>, std::hash<T>,
 * std::equal_to<T>, std::default_delete<T>), then elided past FMT_NAME_WIDTH. full:
 * as given. Not escaped. Returns buf. */
const char *fmt_function(char *buf, size_t cap, const char *fn, bool full);

/* "function (file.c:12)", "function (module)" or "module+0xoffset", each name with
 * its control characters and bad UTF-8 escaped (util/escape.h); the function's name
 * as fmt_function writes it (full: as given). Returns buf. */
const char *fmt_frame_ex(char *buf, size_t cap, const struct model_frame *f, bool full);
/* fmt_frame_ex, not full. */
const char *fmt_frame(char *buf, size_t cap, const struct model_frame *f);

/* How long the log recorded, in ns: to its end record if it has one, else to its last
 * event; never negative. */
double fmt_duration_ns(const struct model *m);

/* Where a model stands: "the end", "the peak (1.234 s)", "marker 2 (signal, serial 2,
 * 1.234 s)", "1.500 s"; the marker's kind escaped (util/escape.h). Returns buf. */
const char *fmt_point(char *buf, size_t cap, const struct model_point *p);

#endif
