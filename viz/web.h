/*
 * web.h - what the HTML and SVG outputs (viz/flame.c, viz/html.c) share: text escaped
 * for HTML and XML, JSON strings that are safe inside a <script> element, numbers as
 * the pages write them, and the page's scripts and styles, which the build embeds from
 * viz/assets/ (viz/assets/embed.sh writes them into a C file: nothing is fetched when a
 * page is opened).
 *
 * Pure writers onto the caller's FILE; reentrant; allocate nothing. Write errors are
 * the FILE's: the caller checks ferror() at the end.
 */
#ifndef HEAPSPAN_VIZ_WEB_H
#define HEAPSPAN_VIZ_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* s as HTML or XML text or attribute value: & < > " ' escaped, bytes that are not
 * UTF-8 as U+FFFD. NULL writes nothing. */
void web_html(FILE *o, const char *s);

/* s as a JSON string, quotes included, that may stand inside <script>: '<' is written
 * \u003c (no "</script>" or "<!--" can close or confuse it), control characters and
 * bytes that are not UTF-8 escaped or replaced. NULL is written null. */
void web_json_str(FILE *o, const char *s);

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one (a
 * stray continuation byte, an overlong form, a surrogate, a sequence cut short). s
 * points at a byte that is not NUL. */
int web_utf8_len(const unsigned char *s);

/* A number as the pages' data carry it: an integer ("%.0f"), 0 for NaN. */
void web_num(FILE *o, double v);

/* The embedded assets (generated from viz/assets/ at build time), NUL-terminated. */
extern const char web_flame_js[];
extern const char web_flame_css[];
extern const char web_report_css[];

#endif
