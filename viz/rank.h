/*
 * rank.h - call sites ranked by one number, and the four rankings the reports for
 * people show (peak, leaks, allocations, temporary). Reads the model only; reentrant
 * (the sort carries its context: no globals); allocates nothing (the caller gives the
 * room for the indexes).
 */
#ifndef HEAPSPAN_VIZ_RANK_H
#define HEAPSPAN_VIZ_RANK_H

#include <stdbool.h>

#include "analyzer/model.h"

typedef double (*rank_metric_fn)(const struct model_stats *s);

double rank_allocated_bytes(const struct model_stats *s);
double rank_live_bytes(const struct model_stats *s);

/* One ranking as a report shows it: a title, what it ranks, and the total its shares
 * are of. */
struct rank_section {
    const char *title, *explain;
    rank_metric_fn metric;
    bool bytes; /* the metric is bytes (else a count) */
    double (*total)(const struct model_totals *t);
    /* The title and explanation when recording stopped before the program ended (a
     * full disk): what is live then is not known to leak. NULL: the same as above. */
    const char *stopped_title, *stopped_explain;
};

/* A module's share: the numbers of the sites whose title frame is in it. */
struct rank_module {
    const char *module; /* the title frame's module file name */
    struct model_stats st;
    int n_sites;
};

/* The sites' numbers summed by their title frame's module into out (room for
 * m->n_sites), most bytes at the peak first, then most live at the end, ties by
 * name. Returns how many. */
int rank_modules(const struct model *m, struct rank_module *out);

/* Whether recording stopped before the program ended (MODEL_END_STOPPED): blocks live
 * at the end of the log are then live when it stopped, not leaks. */
bool rank_stopped(const struct model *m);

/* Whether blocks live at the model's point are leaks: the process exited (exit,
 * _exit, a return from main) and the model stands at the end of its log. A process
 * still running, killed, or stopped, and a model at the peak, a marker or a time,
 * has blocks live at that point, not leaks. */
bool rank_leaks_known(const struct model *m);

/* What live blocks at the point are called: "leaked", "live at stop", "live at end"
 * (no exit seen) or "live at point" (peak, marker, time). */
const char *rank_live_word(const struct model *m);

/* The orders a site list can take (--sort): each ranking's metric, and allocated bytes.
 * RANK_SORT_DEFAULT: the format's own (text and markdown: the four rankings; JSON:
 * peak). */
enum rank_sort {
    RANK_SORT_DEFAULT = 0,
    RANK_SORT_PEAK,
    RANK_SORT_LEAKED,
    RANK_SORT_ALLOCATIONS,
    RANK_SORT_TEMPORARY,
    RANK_SORT_ALLOCATED,
};
#define RANK_SORT_NAMES "peak, leaked, allocations, temporary or allocated"

/* The sort of that name ("peak", ...), or RANK_SORT_DEFAULT if none. */
enum rank_sort rank_sort_find(const char *name);
/* The sort's name; "peak" for RANK_SORT_DEFAULT. */
const char *rank_sort_name(enum rank_sort s);

/* The section that ranks by s (RANK_SORT_DEFAULT: peak's). */
const struct rank_section *rank_section_of(enum rank_sort s);

/* Whether the section's numbers can be shown for m: a sampled log's temporary
 * allocations cannot be estimated (a thread's allocations between two samples are
 * not recorded, so most sampled blocks would look temporary). */
bool rank_section_known(const struct rank_section *s, const struct model *m);

/* The recorded blocks behind a site's figure in the section (sampled logs). */
double rank_samples(const struct rank_section *s, const struct model_stats *st);

/* The 95% interval of an estimate made from k recorded blocks that stand for w blocks
 * each on average (sampled logs; w = estimated blocks / k). Each block is recorded
 * with probability 1/w, so the estimate's relative variance is (w - 1) / (w k): that
 * of a Poisson count of k_eff = k w / (w - 1). The interval is k_eff's exact
 * (Garwood) 95% Poisson interval, its chi-square bounds approximated by Wilson and
 * Hilferty's cube root, scaled by estimate / k_eff. Blocks recorded for sure (w = 1,
 * blocks far larger than the sampling interval) give no width; k = 0 gives none. */
void rank_interval(double estimate, double k, double w, double *lo, double *hi);

/* The estimate scaled by the exact 95% Poisson interval of an effective count k, as
 * rank_interval does with its k_eff. */
void rank_poisson_interval(double estimate, double k, double *lo, double *hi);

/* The variance of an estimate as rank_interval takes it: estimate^2 (w - 1) / (w k).
 * A total's interval: the sum of its sites' variances V gives k_eff = total^2 / V. */
double rank_variance(double estimate, double k, double w);

/* The mean weight of a site's (or row's) recorded blocks: allocations / samples. */
double rank_weight(const struct model_stats *st);

/* The section's title and explanation for m. */
const char *rank_title(const struct rank_section *s, const struct model *m);
const char *rank_explain(const struct rank_section *s, const struct model *m);

extern const struct rank_section rank_sections[];
extern const int rank_n_sections;

/* Writes into out (room for m->n_sites) the indexes of the sites, highest metric
 * first, ties in the order found; only those with a metric above 0 if positive_only.
 * Returns how many. */
int rank_sites(const struct model *m, rank_metric_fn metric, bool positive_only, int *out);

/* Writes into out (room for m->n_sites) the sites whose leaks are set apart as kind
 * (model.h) and that hold live blocks, most live bytes first, ties in the order
 * found. Returns how many. */
int rank_set_apart(const struct model *m, enum model_leak_kind kind, int *out);

#endif
