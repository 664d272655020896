/* folded.c - folded stacks (see export.h). */
#include "viz/export.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

struct line {
    char *stack;
    double value;
};

static int line_cmp(const void *a, const void *b)
{
    return strcmp(((const struct line *)a)->stack, ((const struct line *)b)->stack);
}

/* A frame's name with the characters that would break a line replaced. */
static int add_name(struct strbuf *b, const struct model_frame *f)
{
    char unknown[256];
    const char *name = f->function;
    size_t start = b->len;
    int err;

    if (name == NULL) {
        snprintf(unknown, sizeof(unknown), "%s+0x%" PRIx64, f->module ? f->module : "?",
                 f->module_offset);
        name = unknown;
    }
    if ((err = sb_adds(b, name)) < 0)
        return err;
    for (size_t i = start; i < b->len; i++)
        if (b->p[i] == ';')
            b->p[i] = ':';
        else if (b->p[i] == '\n' || b->p[i] == '\r')
            b->p[i] = ' ';
    return f->inlined ? sb_adds(b, "_[i]") : 0;
}

int export_folded(FILE *out, const struct model *m, enum flame_metric metric)
{
    struct line *lines = calloc((size_t)m->n_sites + 1, sizeof(*lines));
    struct strbuf b = STRBUF_INIT;
    int n = 0, err = 0;

    if (lines == NULL)
        return -ENOMEM;
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        double v = round(flame_site_value(s, metric));
        if (!(v > 0))
            continue;
        sb_reset(&b);
        for (int k = s->n_frames - 1; k >= 0; k--) {
            if ((k < s->n_frames - 1 && (err = sb_addc(&b, ';')) < 0) ||
                (err = add_name(&b, s->frames[k])) < 0)
                goto out;
        }
        lines[n].stack = strdup(sb_str(&b));
        if (lines[n].stack == NULL) {
            err = -ENOMEM;
            goto out;
        }
        lines[n++].value = v;
    }
    qsort(lines, (size_t)n, sizeof(*lines), line_cmp);
    for (int i = 0; i < n;) {
        double v = lines[i].value;
        int j = i + 1;
        for (; j < n && !strcmp(lines[j].stack, lines[i].stack); j++)
            v += lines[j].value;
        fprintf(out, "%s %.0f\n", lines[i].stack, v);
        i = j;
    }
    err = ferror(out) ? -EIO : 0;
out:
    for (int i = 0; i < n; i++)
        free(lines[i].stack);
    free(lines);
    sb_fini(&b);
    return err;
}
