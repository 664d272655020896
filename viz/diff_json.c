/* diff_json.c - the diff for scripts: every list in full unless --top, documented in
 * docs/diff-json.md. Written with util/json. See diff_render.h. */
#include "viz/diff_render.h"

#include <math.h>

#include "util/json.h"

#define DIFF_JSON_VERSION 1 /* docs/diff-json.md: bumped when a member changes meaning */

static const char *const match_names[] = { "exact", "function", "new", "vanished" };

/* Exact counts print as integers; estimates (sampled logs) keep one decimal. */
static void num(struct json *j, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        json_int(j, (long long)v); /* as %.0f would write it, without printf's float path */
    else
        json_rawf(j, "%.1f", v);
}

static void key_num(struct json *j, const char *key, double v)
{
    json_key(j, key);
    num(j, v);
}

static void key_str(struct json *j, const char *key, const char *s)
{
    json_key(j, key);
    json_string(j, s);
}

static void key_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    json_bool(j, v);
}

static void change(struct json *j, const struct model_change *c)
{
    json_object_begin(j);
    key_num(j, "base", c->before);
    key_num(j, "new", c->after);
    key_num(j, "delta", c->delta);
    json_key(j, "percent");
    if (isfinite(c->percent))
        json_rawf(j, "%.2f", c->percent);
    else
        json_null(j);
    key_num(j, "noise", c->noise);
    key_bool(j, "within_noise", c->within_noise);
    json_object_end(j);
}

/* Every metric's change, as members of the enclosing object. */
static void changes(struct json *j, const struct model_change *m)
{
    for (int k = 0; k < MODEL_N_METRICS; k++) {
        json_key(j, diff_render_metric(k));
        change(j, &m[k]);
    }
}

static void process(struct json *j, const struct model *m)
{
    json_object_begin(j);
    key_str(j, "path", m->process.log_path);
    key_str(j, "exe", m->process.exe);
    json_key(j, "pid");
    json_u64(j, m->process.pid);
    json_key(j, "sample_bytes");
    json_u64(j, m->process.sample_bytes);
    key_bool(j, "sampled", m->totals.sampled);
    key_bool(j, "ended", m->process.ended);
    key_bool(j, "truncated", m->process.truncated);
    json_key(j, "sites");
    json_int(j, m->n_sites);
    json_object_end(j);
}

static void frames(struct json *j, const struct model_site *s)
{
    json_array_begin(j);
    for (int k = 0; k < s->n_frames; k++) {
        const struct model_frame *f = s->frames[k];
        json_object_begin(j);
        key_str(j, "function", f->function);
        key_str(j, "file", f->file);
        json_key(j, "line");
        json_int(j, f->line);
        key_str(j, "module", f->module);
        json_key(j, "module_offset");
        json_u64(j, f->module_offset);
        key_bool(j, "inlined", f->inlined);
        json_object_end(j);
    }
    json_array_end(j);
}

static void site(struct json *j, const struct model_diff_site *s)
{
    json_object_begin(j);
    key_str(j, "match", match_names[s->match]);
    json_key(j, "frames");
    frames(j, s->after != NULL ? s->after : s->before);
    if (s->match == MODEL_MATCH_FUNCTION) {
        json_key(j, "base_frames");
        frames(j, s->before);
    }
    changes(j, s->m);
    json_object_end(j);
}

static void site_list(struct json *j, const char *key, const struct model_diff *d, const int *idx,
                      int n, int top)
{
    json_key(j, key);
    json_array_begin(j);
    for (int r = 0; r < n && (top <= 0 || r < top); r++)
        site(j, &d->sites[idx[r]]);
    json_array_end(j);
}

static void function_list(struct json *j, const char *key, const struct model_diff *d,
                          const int *idx, int n, int top)
{
    json_key(j, key);
    json_array_begin(j);
    for (int r = 0; r < n && (top <= 0 || r < top); r++) {
        const struct model_diff_function *f = &d->functions[idx[r]];
        json_object_begin(j);
        key_str(j, "function", f->function);
        key_str(j, "module", f->module);
        json_key(j, "sites");
        json_int(j, f->n_sites);
        changes(j, f->m);
        json_object_end(j);
    }
    json_array_end(j);
}

static void budgets(struct json *j, const struct model_diff *d)
{
    char line[512];

    json_key(j, "budgets");
    json_array_begin(j);
    for (int i = 0; i < d->n_budgets; i++) {
        const struct model_budget *b = &d->budgets[i];
        json_object_begin(j);
        key_str(j, "spec", b->spec);
        key_str(j, "metric", diff_render_metric(b->metric));
        json_key(j, "percent");
        if (b->percent >= 0)
            json_rawf(j, "%g", b->percent);
        else
            json_null(j);
        json_key(j, "amount");
        if (b->amount >= 0)
            num(j, b->amount);
        else
            json_null(j);
        key_bool(j, "breached", b->breached);
        key_bool(j, "within_noise", b->within_noise);
        key_str(j, "message", diff_render_verdict(line, sizeof(line), d, b));
        json_object_end(j);
    }
    json_array_end(j);
}

int diff_render_json(FILE *o, const struct model_diff *d, const struct diff_render_options *opt)
{
    struct json j;

    json_init(&j, o);
    json_object_begin(&j);
    json_key(&j, "heapspan_diff");
    json_int(&j, DIFF_JSON_VERSION);
    json_key(&j, "base");
    process(&j, d->before);
    json_key(&j, "new");
    process(&j, d->after);
    key_str(&j, "metric", diff_render_metric(d->metric));
    key_num(&j, "min_change", d->min_change);
    key_bool(&j, "sampled", d->sampled);
    json_key(&j, "totals");
    json_object_begin(&j);
    changes(&j, d->totals);
    json_object_end(&j);
    json_key(&j, "matched");
    json_object_begin(&j);
    json_key(&j, "exact");
    json_int(&j, d->n_exact);
    json_key(&j, "function");
    json_int(&j, d->n_function);
    json_key(&j, "new");
    json_int(&j, d->n_new);
    json_key(&j, "vanished");
    json_int(&j, d->n_vanished);
    json_key(&j, "changed");
    json_int(&j, d->n_changed);
    json_object_end(&j);
    json_key(&j, "sites");
    json_object_begin(&j);
    site_list(&j, "grown", d, d->grown, d->n_grown, opt->top);
    site_list(&j, "shrunk", d, d->shrunk, d->n_shrunk, opt->top);
    site_list(&j, "new", d, d->new_sites, d->n_new_listed, opt->top);
    site_list(&j, "vanished", d, d->vanished_sites, d->n_vanished_listed, opt->top);
    json_object_end(&j);
    json_key(&j, "functions");
    json_object_begin(&j);
    function_list(&j, "grown", d, d->functions_grown, d->n_functions_grown, opt->top);
    function_list(&j, "shrunk", d, d->functions_shrunk, d->n_functions_shrunk, opt->top);
    json_object_end(&j);
    budgets(&j, d);
    json_key(&j, "breached");
    json_int(&j, d->n_breached);
    json_object_end(&j);
    fputc('\n', o);
    return json_finish(&j);
}
