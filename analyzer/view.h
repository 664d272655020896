/*
 * view.h - models made from models: the sites of one model whose stacks match
 * patterns (--focus, --ignore, as pprof's), and one model over several logs of one
 * run (a program and the children it forked or exec'd).
 *
 * Filtering: a site is kept when some frame of its stack matches a --focus pattern
 * (when any is given) and no frame matches an --ignore pattern. Patterns are POSIX
 * extended regular expressions, matched anywhere in a frame's function name (as the
 * binary gives it, demangled), its source file, its module's file name, or for a
 * frame without a name "module+0xOFFSET". The kept sites' numbers make the totals:
 * allocations, bytes, frees, what is live and leaked, temporaries, and the peak as
 * the kept sites' share of the global peak (the moment stays the whole program's);
 * the by-function and by-line rows, bloated sizes (of kept sites only) and module
 * rows follow. The timeline stays the whole program's.
 *
 * Merging: the logs' processes are listed parents first (by ppid; the others in the
 * order given), the sites of every log are the model's sites (frames and names stay
 * the models'), the totals are sums - the peak is the sum of each process's peak, an
 * upper bound on what was live at once - and warnings are prefixed "pid N: ".
 *
 * The models given must outlive the view. One thread; allocates; view_free frees it.
 */
#ifndef HEAPSPAN_VIEW_H
#define HEAPSPAN_VIEW_H

#include <stddef.h>

#include "analyzer/model.h"

struct view;

struct view_patterns {
    int n_focus, n_ignore;
    const char *const *focus, *const *ignore;
};

/* The sites of m that the patterns keep, as a model. 0, -ENOMEM, or -EINVAL for a
 * pattern that is not a regular expression (then err says which and why). */
int view_filter(const struct model *m, const struct view_patterns *p, struct view **out, char *err,
                size_t err_cap) __attribute__((warn_unused_result));

/* One model over the n models of one run's logs (n >= 1). 0 or -ENOMEM. */
int view_merge(const struct model *const *models, int n, struct view **out)
    __attribute__((warn_unused_result));

const struct model *view_model(const struct view *v);

void view_free(struct view *v);

#endif
