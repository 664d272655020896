/* render.c - see render.h. */
#include "viz/render.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "viz/fmt.h"

/* text for people, json for scripts (docs/report-json.md), markdown for tickets and CI
 * summaries, html for a browser (one offline page with charts and a flame graph). JSON lists every
 * site unless told otherwise. */
static const struct renderer renderers[] = {
    { "text", NULL, render_text, 10, false },
    { "json", NULL, render_json, 0, true },
    { "markdown", "md", render_markdown, 10, true },
    { "html", NULL, render_html, 10, true },
};

const struct renderer *render_find(const char *name)
{
    for (size_t i = 0; i < sizeof(renderers) / sizeof(renderers[0]); i++)
        if (!strcmp(name, renderers[i].name) ||
            (renderers[i].alias != NULL && !strcmp(name, renderers[i].alias)))
            return &renderers[i];
    return NULL;
}

const struct renderer *render_list(int *n)
{
    *n = (int)(sizeof(renderers) / sizeof(renderers[0]));
    return renderers;
}

int render_write(const struct renderer *r, FILE *out, const struct model *m,
                 const struct render_options *opt)
{
    int err = r->write(out, m, opt);
    if (err < 0)
        return err;
    errno = 0;
    if (fflush(out) != 0)
        return errno != 0 ? -errno : -EIO;
    return ferror(out) ? -EIO : 0;
}

void render_stack_lines(const struct model_site *s, int from, const struct render_options *opt,
                        void (*line)(void *arg, const char *text), void *arg)
{
    char fr[FMT_FRAME_MAX], text[FMT_FRAME_MAX + 64];
    int shown = 0, max = render_frames(opt);

    for (int k = from; k < s->n_frames; k++) {
        const struct model_frame *f = s->frames[k];
        if (shown == max) {
            snprintf(text, sizeof(text), "... %d more frames (--frames N shows more)",
                     s->n_frames - k);
            line(arg, text);
            return;
        }
        if (f->kind == MODEL_FRAME_RUNTIME && !opt->runtime_frames) {
            int run = 1;
            while (k + run < s->n_frames && s->frames[k + run]->kind == MODEL_FRAME_RUNTIME)
                run++;
            snprintf(text, sizeof(text), "... %d runtime frame%s (--runtime-frames shows them)",
                     run, run == 1 ? "" : "s");
            line(arg, text);
            k += run - 1;
            shown++;
            continue;
        }
        fmt_frame_ex(fr, sizeof(fr), f, opt->full_names);
        snprintf(text, sizeof(text), "%s%s%s", f->inlined ? "(inlined) " : "",
                 k < s->title ? "(wrapper) " : "", fr);
        line(arg, text);
        shown++;
    }
}
