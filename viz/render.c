/* render.c - see render.h. */
#include "viz/render.h"

#include <errno.h>
#include <string.h>

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
