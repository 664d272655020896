/*
 * diff_render.h - a diff of two models (struct model_diff, analyzer/model.h) -> bytes:
 * the diff renderers by name, one per file (diff_text.c, diff_markdown.c, diff_json.c,
 * diff_junit.c), each reading only the diff and the two models it points to, and the
 * words they share (a change, a site, a budget's verdict). A new diff format is a new
 * file and a line in diff_render.c's table.
 *
 * Renderers are reentrant (any state is on the stack) and write to the caller's FILE.
 * They allocate nothing; diff_render_write checks the FILE at the end and fails with
 * the write's error. The helpers write into the caller's buffer, cut to fit.
 */
#ifndef HEAPSPAN_VIZ_DIFF_RENDER_H
#define HEAPSPAN_VIZ_DIFF_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "analyzer/model.h"

struct diff_render_options {
    int top; /* rows per list; 0: all */
};

typedef int (*diff_render_fn)(FILE *out, const struct model_diff *d,
                              const struct diff_render_options *opt);

struct diff_renderer {
    const char *name;
    const char *alias; /* another name it answers to, or NULL */
    diff_render_fn write;
    int default_top; /* diff_render_options.top when the user gives none */
};

/* The renderer of that name (or alias), or NULL. */
const struct diff_renderer *diff_render_find(const char *name);

/* The renderers in the order they are listed to users; *n gets their number. */
const struct diff_renderer *diff_render_list(int *n);

/* Writes d with r, then flushes out: 0, or the write's error (-ENOSPC, -EPIPE, ...;
 * -EIO when the FILE does not say) if out has failed. */
int diff_render_write(const struct diff_renderer *r, FILE *out, const struct model_diff *d,
                      const struct diff_render_options *opt) __attribute__((warn_unused_result));

/* The renderers, for the table (and for tests); call them through diff_render_write. */
int diff_render_text(FILE *out, const struct model_diff *d, const struct diff_render_options *opt);
int diff_render_markdown(FILE *out, const struct model_diff *d,
                         const struct diff_render_options *opt);
int diff_render_json(FILE *out, const struct model_diff *d, const struct diff_render_options *opt);
int diff_render_junit(FILE *out, const struct model_diff *d, const struct diff_render_options *opt);

/* ---- the words the renderers share ---- */

/* "live", "peak", ... (MODEL_METRIC_NAMES). */
const char *diff_render_metric(enum model_metric m);

/* A value of metric m: "1.50 MiB" or "1,234". Returns buf. */
const char *diff_render_value(char *buf, size_t cap, enum model_metric m, double v);

/* A delta with its sign: "+1.50 MiB", "-12", "0". Returns buf. */
const char *diff_render_delta(char *buf, size_t cap, enum model_metric m, double delta);

/* A change in percent: "+35%", "-4.2%", "new" (BASE had none), "" (no change). */
const char *diff_render_percent(char *buf, size_t cap, const struct model_change *c);

/* A site as people read it: its innermost frame and up to `callers` callers,
 * "leak (a.c:12) < main (a.c:40)"; NEW's frames when it has the site. Returns buf. */
const char *diff_render_site(char *buf, size_t cap, const struct model_diff_site *s, int callers);

/* "function (module)", or "module (unknown function)". Returns buf. */
const char *diff_render_function(char *buf, size_t cap, const struct model_diff_function *f);

/* A budget as written for people: "512 KiB", "10%", "10% and 512 KiB". Returns buf. */
const char *diff_render_allowance(char *buf, size_t cap, const struct model_budget *b);

/* A budget's verdict in one line, without a prefix:
 *   "peak grew by 1.20 MiB (+35%), over the budget of 512 KiB"
 *   "peak grew by 1.20 MiB (+35%), over the budget of 512 KiB, but within sampling noise
 *    (+-2.00 MiB): not failed"
 *   "peak grew by 12 KiB (+0.5%), within the budget of 512 KiB"
 * Returns buf. */
const char *diff_render_verdict(char *buf, size_t cap, const struct model_diff *d,
                                const struct model_budget *b);

#endif
