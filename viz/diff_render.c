/* diff_render.c - see diff_render.h. */
#include "viz/diff_render.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "viz/fmt.h"

/* text for people, markdown for pull requests and CI step summaries, json for scripts
 * (docs/diff-json.md), junit for CI test reports. Text and markdown show ten rows per
 * list; json and junit everything. */
static const struct diff_renderer renderers[] = {
    { "text", NULL, diff_render_text, 10 },
    { "markdown", "md", diff_render_markdown, 10 },
    { "json", NULL, diff_render_json, 0 },
    { "junit", NULL, diff_render_junit, 0 },
};

const struct diff_renderer *diff_render_find(const char *name)
{
    for (size_t i = 0; i < sizeof(renderers) / sizeof(renderers[0]); i++)
        if (!strcmp(name, renderers[i].name) ||
            (renderers[i].alias != NULL && !strcmp(name, renderers[i].alias)))
            return &renderers[i];
    return NULL;
}

const struct diff_renderer *diff_render_list(int *n)
{
    *n = (int)(sizeof(renderers) / sizeof(renderers[0]));
    return renderers;
}

int diff_render_write(const struct diff_renderer *r, FILE *out, const struct model_diff *d,
                      const struct diff_render_options *opt)
{
    int err = r->write(out, d, opt);
    if (err < 0)
        return err;
    errno = 0;
    if (fflush(out) != 0)
        return errno != 0 ? -errno : -EIO;
    return ferror(out) ? -EIO : 0;
}

static const char *const metric_names[MODEL_N_METRICS] = MODEL_METRIC_NAMES;

const char *diff_render_metric(enum model_metric m)
{
    return (int)m >= 0 && (int)m < MODEL_N_METRICS ? metric_names[m] : "?";
}

const char *diff_render_value(char *buf, size_t cap, enum model_metric m, double v)
{
    return MODEL_METRIC_IS_BYTES(m) ? fmt_bytes(buf, cap, v) : fmt_count(buf, cap, v);
}

const char *diff_render_delta(char *buf, size_t cap, enum model_metric m, double delta)
{
    char v[48];

    if (delta == 0) {
        snprintf(buf, cap, "0");
        return buf;
    }
    diff_render_value(v, sizeof(v), m, fabs(delta));
    snprintf(buf, cap, "%c%s", delta > 0 ? '+' : '-', v);
    return buf;
}

const char *diff_render_percent(char *buf, size_t cap, const struct model_change *c)
{
    if (c->delta == 0)
        snprintf(buf, cap, "%s", "");
    else if (isinf(c->percent))
        snprintf(buf, cap, "%s", "new");
    else if (fabs(c->percent) < 9.95)
        snprintf(buf, cap, "%+.1f%%", c->percent);
    else
        snprintf(buf, cap, "%+.0f%%", c->percent);
    return buf;
}

const char *diff_render_site(char *buf, size_t cap, const struct model_diff_site *s, int callers)
{
    const struct model_site *site = s->after != NULL ? s->after : s->before;
    char fr[512];
    size_t len = 0;

    buf[0] = '\0';
    for (int k = 0; k < site->n_frames && k <= callers && len + 1 < cap; k++) {
        fmt_frame(fr, sizeof(fr), site->frames[k]);
        int n = snprintf(buf + len, cap - len, "%s%s", k ? " < " : "", fr);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

const char *diff_render_function(char *buf, size_t cap, const struct model_diff_function *f)
{
    if (f->function != NULL)
        snprintf(buf, cap, "%s (%s)", f->function, f->module ? f->module : "?");
    else
        snprintf(buf, cap, "%s (unknown function)", f->module ? f->module : "?");
    return buf;
}

const char *diff_render_allowance(char *buf, size_t cap, const struct model_budget *b)
{
    char v[48] = "", p[32] = "";

    if (b->percent >= 0)
        snprintf(p, sizeof(p), "%g%%", b->percent);
    if (b->amount >= 0)
        diff_render_value(v, sizeof(v), b->metric, b->amount);
    snprintf(buf, cap, "%s%s%s", p, p[0] && v[0] ? " and " : "", v);
    return buf;
}

const char *diff_render_verdict(char *buf, size_t cap, const struct model_diff *d,
                                const struct model_budget *b)
{
    const struct model_change *t = &d->totals[b->metric];
    const char *name = diff_render_metric(b->metric);
    char how[96], v[48], pct[32], allow[96], noise[48];
    bool over = b->breached || b->within_noise;

    diff_render_allowance(allow, sizeof(allow), b);
    diff_render_value(v, sizeof(v), b->metric, fabs(t->delta));
    diff_render_percent(pct, sizeof(pct), t);
    if (t->delta == 0)
        snprintf(how, sizeof(how), "%s did not change", name);
    else if (isinf(t->percent))
        snprintf(how, sizeof(how), "%s %s by %s (BASE had none)", name,
                 t->delta > 0 ? "grew" : "shrank", v);
    else
        snprintf(how, sizeof(how), "%s %s by %s (%s)", name, t->delta > 0 ? "grew" : "shrank", v,
                 pct);
    if (b->within_noise) {
        diff_render_value(noise, sizeof(noise), b->metric, t->noise);
        snprintf(buf, cap,
                 "%s, over the budget of %s, but within sampling noise (+-%s): not failed", how,
                 allow, noise);
    } else {
        snprintf(buf, cap, "%s, %s the budget of %s", how, over ? "over" : "within", allow);
    }
    return buf;
}
