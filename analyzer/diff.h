/*
 * diff.h - two models, BASE and NEW, into one struct model_diff (analyzer/model.h): the
 * totals of each metric in both, every call site matched across the two, the same by
 * function, the rankings by growth and by shrink, the sites that are new or vanished,
 * and the budgets a CI gate checks. `heapspan diff` makes one from two sessions; the
 * diff renderers (viz/diff_render.h) read it.
 *
 * Matching. A site is its stack of symbolized frames, innermost first, allocator frames
 * already trimmed (the model's sites are). Frames compare by function, file (its base
 * name: two checkouts of one tree build the same sources from different directories),
 * line, module and whether the frame is inlined, so an inline chain is part of the
 * site; a frame without a function compares by module and offset. A module is
 * compared by its file name, the main program's by its role (a renamed executable is
 * still the program) and a shared object's without its version (libfoo.so.1.2 is
 * libfoo.so). Two passes, each one to one:
 *   1. exact: the same frames;
 *   2. by function, among what is left: the same sequence of functions (modules and
 *      inlining alike), whatever the lines, so that code added above a function does not
 *      make all its sites new and vanished. Within a group of such sites, if both sides
 *      have as many, they pair in order of their lines; otherwise the most common shift
 *      of the innermost frame's line pairs those it fits, and the rest pair in order
 *      while both sides have some.
 * Whatever is left is new (NEW only) or vanished (BASE only). A frame without a
 * function only ever matches exactly.
 *
 * Sampling noise (both sides may be sampled, each at its own rate R): a site's
 * allocations of mean size s were each recorded with probability p = 1 - exp(-s/R), so
 * its estimate X of a metric (bytes, or calls) has variance X * u * (1 - p) / p, with
 * u = s for bytes and 1 for calls (the number of recorded blocks is binomial, close to
 * Poisson with mean X * p / u when s << R: then the variance is X * R for bytes). A
 * delta's noise is 1.96 * sqrt(var BASE + var NEW), the half-width of its 95% band;
 * totals add the variances of their sites. A change within its noise is marked so, and
 * a budget it breaches fails no gate.
 *
 * Called from one thread. Reads the models, which must stay unchanged and outlive the
 * diff (it points into them). diff_new allocates; diff_free frees it all. The only
 * failure is memory: diff_new returns NULL.
 */
#ifndef HEAPSPAN_DIFF_H
#define HEAPSPAN_DIFF_H

#include <stdbool.h>

#include "analyzer/model.h"

#define DIFF_NOISE_Z 1.96 /* the noise band's half-width in standard deviations (95%) */

struct diff_options {
    enum model_metric metric; /* the lists rank by it */
    double min_change;        /* the lists leave out sites and functions whose |delta| is less */
    int n_budgets;
    const struct model_budget *budgets; /* spec, metric, percent and amount: copied */
};

/* The diff of before (BASE) and after (NEW), or NULL when out of memory. */
struct model_diff *diff_new(const struct model *before, const struct model *after,
                            const struct diff_options *opt) __attribute__((warn_unused_result));

void diff_free(struct model_diff *d);

/* A metric's name (MODEL_METRIC_NAMES), and back: false for a name it does not know. */
const char *diff_metric_name(enum model_metric m);
bool diff_parse_metric(const char *name, enum model_metric *out);

/*
 * A budget as the user writes it: [METRIC:]PCT% | SIZE | PCT%,SIZE (either order).
 * PCT is a decimal number of percent of BASE's total; SIZE a byte count as
 * format/bytesize.h reads it (512KiB, 1M), or a count of calls for the allocations and
 * temporary metrics. Without METRIC, the budget is on metric. With both parts, growth
 * must exceed both to breach it. Fills *out (spec points to spec) or returns false.
 */
bool diff_parse_budget(const char *spec, enum model_metric metric, struct model_budget *out);

/* A site's value of a metric in its model (leaked: 0 unless the process ended). */
double diff_site_value(const struct model *m, const struct model_site *s, enum model_metric k);

#endif
