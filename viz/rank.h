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

/* Whether recording stopped before the program ended (MODEL_END_STOPPED): blocks live
 * at the end of the log are then live when it stopped, not leaks. */
bool rank_stopped(const struct model *m);

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
