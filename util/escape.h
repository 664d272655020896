/*
 * escape.h - strings from a log (paths, arguments, notes, the names a binary's symbols
 * give) made safe to show: on a terminal, where an escape sequence in a program's path
 * could clear the screen, retitle the window or hide lines, and in JSON, which must be
 * valid UTF-8 whatever bytes the log holds.
 *
 * For text (esc_text, esc_fputs) every byte that is a control character or not part of
 * valid UTF-8 is written as a C-style escape: \n, \t and \r as such, any other as \xHH
 * (two lowercase hex digits); a C1 control (U+0080 to U+009F, which some terminals
 * obey) is written as the \xHH of its two bytes. Everything else - printable ASCII, a
 * backslash, valid UTF-8 - is written as it is, so ordinary names are unchanged. util/
 * json.c writes the JSON form (json.h).
 *
 * Pure functions of their arguments, thread-safe, no allocation. Used by viz/ (the
 * reports), util/json.c and cli/ (`heapspan dump`).
 */
#ifndef HEAPSPAN_UTIL_ESCAPE_H
#define HEAPSPAN_UTIL_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* The length of the valid UTF-8 sequence at p (1 to 4 bytes, all before p + n), or 0
 * when the bytes there are not one: a stray continuation byte, an overlong form, a
 * surrogate, a code point past U+10FFFF, a sequence cut short. n must be at least 1. */
int esc_utf8_len(const unsigned char *p, size_t n);

/* s escaped for text into out, of cap bytes (at least 1), NUL-terminated; cut short at a
 * whole character or escape when it does not fit. Returns out. */
char *esc_text(char *out, size_t cap, const char *s);

/* s escaped for text, written to o whole. */
void esc_fputs(const char *s, FILE *o);
/* The same for the n bytes at s (a NUL among them is shown as \x00). */
void esc_fwrite(const char *s, size_t n, FILE *o);

#endif
