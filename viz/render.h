/*
 * render.h - the model -> bytes: the renderers by name, one per file (text.c,
 * markdown.c, json.c, html.c), each reading only the model (analyzer/model.h), never the log.
 * A new output format is a new file and a line in render.c's table.
 *
 * Renderers are reentrant (any state is on the stack) and write to the caller's FILE.
 * They allocate only scratch memory and fail with -ENOMEM; render_write checks the
 * FILE at the end and fails with the write's error.
 */
#ifndef HEAPSPAN_VIZ_RENDER_H
#define HEAPSPAN_VIZ_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "analyzer/model.h"

#include "viz/rank.h"

#define RENDER_FRAMES 32 /* frames of a stack shown (text, markdown, HTML) unless told */

struct render_options {
    int top;             /* rows per section (sites, for JSON); 0: all */
    int frames;          /* frames shown of each stack (--frames); 0: RENDER_FRAMES */
    bool full_names;     /* names as the binaries give them (--full-names): no std::string
                          * for std::__cxx11::basic_string<...>, no "<...>" */
    bool runtime_frames; /* show start-up and runtime frames (--runtime-frames); else a
                          * run of them is one line saying how many */
    enum rank_sort sort; /* --sort: text and markdown show that ranking alone, JSON lists
                          * its sites in that order; RANK_SORT_DEFAULT: the format's own */
};

/* The frames to show of a stack: opt->frames, or RENDER_FRAMES. */
static inline int render_frames(const struct render_options *opt)
{
    return opt->frames > 0 ? opt->frames : RENDER_FRAMES;
}

/* The lines of a site's stack as text and markdown show it, innermost first from frame
 * `from`: "(inlined) " and "(wrapper) " before a frame's name, a run of runtime frames as
 * one "... N runtime frames" line (unless opt->runtime_frames), and after
 * render_frames(opt) lines a last "... N more frames". Calls line(arg, text) for each,
 * the text without indent or newline. */
void render_stack_lines(const struct model_site *s, int from, const struct render_options *opt,
                        void (*line)(void *arg, const char *text), void *arg);

typedef int (*render_fn)(FILE *out, const struct model *m, const struct render_options *opt);

struct renderer {
    const char *name;
    const char *alias; /* another name it answers to, or NULL */
    render_fn write;
    int default_top; /* render_options.top when the user gives none */
    /* Its output goes to a file or a script, not to the person at the terminal: the
     * caller repeats the model's warnings on stderr. */
    bool echo_warnings;
};

/* The renderer of that name (or alias), or NULL. */
const struct renderer *render_find(const char *name);

/* The renderers in the order they are listed to users; *n gets their number. */
const struct renderer *render_list(int *n);

/* Writes m with r, then flushes out: 0, -ENOMEM, or the write's error (-ENOSPC,
 * -EPIPE, ...; -EIO when the FILE does not say) if out has failed. */
int render_write(const struct renderer *r, FILE *out, const struct model *m,
                 const struct render_options *opt) __attribute__((warn_unused_result));

/* The renderers, for the table (and for tests); call them through render_write. */
int render_text(FILE *out, const struct model *m, const struct render_options *opt);
int render_markdown(FILE *out, const struct model *m, const struct render_options *opt);
int render_json(FILE *out, const struct model *m, const struct render_options *opt);
int render_html(FILE *out, const struct model *m, const struct render_options *opt);

#endif
