/*
 * flame.h - flame graphs of a model's call sites: one self-contained HTML page (the
 * frames as DOM elements, drawn by viz/assets/flame.js from data embedded in the page),
 * a static SVG file, or the differential graph of two models. The HTML report
 * (viz/html.c) embeds the same graph. Also the metrics every graph and export
 * (viz/export.h) is drawn by, and the kinds of module frames are coloured by.
 *
 * The embedded data is the call tree, not the stacks: frames are merged by function
 * (and module; by module and offset when the function is unknown; inlined or not), so
 * that a function called from two lines of its caller is one block, as in
 * flamegraph.pl. It is written in preorder as flat arrays (docs/flame.md, "The
 * embedded data"): a string table, a frame table, then per node its depth, its frame
 * and its value of each metric; the page rebuilds the tree (and the inverted one) from
 * them. Nodes narrower than min_fraction of every metric's total are merged into one
 * "(smaller frames)" node per parent, so that 100,000 stacks stay a page of a few MB.
 *
 * Reentrant; reads the models only. Allocates scratch memory (the tree), freed before
 * returning; fails with -ENOMEM, or the FILE's error (-EIO) when a write failed.
 */
#ifndef HEAPSPAN_VIZ_FLAME_H
#define HEAPSPAN_VIZ_FLAME_H

#include <stdbool.h>
#include <stdio.h>

#include "analyzer/model.h"

/* What a graph's widths measure. */
enum flame_metric {
    FLAME_PEAK,        /* bytes live at the global peak */
    FLAME_LEAKED,      /* bytes live at the end, leaks set apart excluded */
    FLAME_ALLOCATIONS, /* allocation calls */
    FLAME_TEMPORARY,   /* allocations freed before their thread allocated again */
    FLAME_ALLOCATED,   /* bytes allocated in all */
    FLAME_N_METRICS,
};

/* "peak", "leaked", "allocations", "temporary", "allocated"; NULL past the end. */
const char *flame_metric_name(enum flame_metric m);
/* A metric by name; false if there is none of that name. */
bool flame_parse_metric(const char *name, enum flame_metric *out);
/* "peak|leaked|allocations|temporary|allocated", for usages and messages. */
const char *flame_metric_list(void);
/* Whether it counts bytes (else calls). */
bool flame_metric_bytes(enum flame_metric m);
/* A site's value of the metric. */
double flame_site_value(const struct model_site *s, enum flame_metric m);

/* Where a frame's code comes from, for its colour. */
enum flame_kind {
    FLAME_KIND_PROGRAM,     /* the executable */
    FLAME_KIND_LIBRARY,     /* another shared object: the program's libraries, extensions */
    FLAME_KIND_RUNTIME,     /* libc, libstdc++, libgcc_s, libm, the loader */
    FLAME_KIND_INTERPRETER, /* python, libpython, node, ruby, perl, the JVM */
    FLAME_KIND_UNKNOWN,     /* no module */
};

/* The kind of f's module in m's process. */
enum flame_kind flame_frame_kind(const struct model *m, const struct model_frame *f);

#define FLAME_MIN_FRACTION 2e-5 /* the default: narrower nodes are merged */

struct flame_options {
    enum flame_metric metric; /* shown first; the page switches between all of them */
    bool inverted;            /* the allocating functions at the root (callers above) */
    bool icicle;              /* roots at the top (flame: at the bottom) */
    const char *title;        /* NULL: "heapspan flame graph: <exe>" */
    double min_fraction;      /* 0: FLAME_MIN_FRACTION */
};

/* A whole page, or an SVG file, of m. */
int flame_html(FILE *out, const struct model *m, const struct flame_options *o)
    __attribute__((warn_unused_result));
int flame_svg(FILE *out, const struct model *m, const struct flame_options *o)
    __attribute__((warn_unused_result));

/* The differential graph: widths from after (NEW); a node whose value grew from before
 * (BASE) is red, one that shrank blue, by how much; a frame BASE does not have at that
 * place is marked new. Frames match across the two by function and module (a shared
 * object without its version, the program by its role), as `heapspan diff` does. */
int flame_diff_html(FILE *out, const struct model *before, const struct model *after,
                    const struct flame_options *o) __attribute__((warn_unused_result));
int flame_diff_svg(FILE *out, const struct model *before, const struct model *after,
                   const struct flame_options *o) __attribute__((warn_unused_result));

/* For a page that holds a graph among other things (the HTML report): the styles
 * (inside <head>), then, where the graph goes, a <div id="ID"> with its data and the
 * script that draws it. The script is written once per page: with_script false for a
 * second graph on the same page. */
void flame_write_style(FILE *out);
int flame_write_widget(FILE *out, const char *id, const struct model *before,
                       const struct model *after, const struct flame_options *o, bool with_script)
    __attribute__((warn_unused_result));

#endif
