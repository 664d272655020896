/* diff_text.c - the diff for people at a terminal: the totals, what matched, then the
 * sites and functions that grew and shrank, the new and vanished sites, and the
 * budgets. See diff_render.h. */
#include "viz/diff_render.h"

#include <inttypes.h>

static const char *const match_words[] = { "", "lines moved", "new", "vanished" };

static void text_totals(FILE *o, const struct model_diff *d)
{
    char b[48], a[48], dl[48], pc[32];

    fprintf(o, "heapspan diff: %s -> %s (sites ranked by %s)\n", d->before->process.log_path,
            d->after->process.log_path, diff_render_metric(d->metric));
    if (d->sampled)
        fprintf(o,
                "Sampled (BASE one allocation per %" PRIu64 " bytes, NEW per %" PRIu64
                "): numbers are estimates; ~ marks a change within sampling noise (95%%).\n",
                d->before->process.sample_bytes, d->after->process.sample_bytes);
    fprintf(o, "\n%-12s %12s %12s %13s %8s\n", "TOTALS", "BASE", "NEW", "DELTA", "CHANGE");
    for (int k = 0; k < MODEL_N_METRICS; k++) {
        const struct model_change *c = &d->totals[k];
        fprintf(o, "%-12s %12s %12s %13s %8s%s\n", diff_render_metric(k),
                diff_render_value(b, sizeof(b), k, c->before),
                diff_render_value(a, sizeof(a), k, c->after),
                diff_render_delta(dl, sizeof(dl), k, c->delta),
                diff_render_percent(pc, sizeof(pc), c), c->within_noise ? " ~" : "");
    }
    fprintf(o,
            "\nSites: %d matched exactly, %d by function (lines moved), %d new, %d vanished; "
            "%d changed.\n",
            d->n_exact, d->n_function, d->n_new, d->n_vanished, d->n_changed);
}

static void text_sites(FILE *o, const struct model_diff *d, const char *title, const int *idx,
                       int n, int top)
{
    enum model_metric m = d->metric;
    char b[48], a[48], dl[48], site[1024];

    fprintf(o, "\n%s (%s)\n", title, diff_render_metric(m));
    if (n == 0) {
        fprintf(o, "  None.\n");
        return;
    }
    fprintf(o, "  %3s %13s %12s %12s  %s\n", "#", "DELTA", "BASE", "NEW", "CALL SITE");
    for (int r = 0; r < n && (top <= 0 || r < top); r++) {
        const struct model_diff_site *s = &d->sites[idx[r]];
        const struct model_change *c = &s->m[m];
        fprintf(o, "  %3d %13s %12s %12s  %s%s%s%s%s\n", r + 1,
                diff_render_delta(dl, sizeof(dl), m, c->delta),
                diff_render_value(b, sizeof(b), m, c->before),
                diff_render_value(a, sizeof(a), m, c->after),
                diff_render_site(site, sizeof(site), s, 2), s->match ? "  [" : "",
                match_words[s->match], s->match ? "]" : "", c->within_noise ? "  ~" : "");
    }
    if (top > 0 && n > top)
        fprintf(o, "  ... %d more\n", n - top);
}

static void text_functions(FILE *o, const struct model_diff *d, const char *title, const int *idx,
                           int n, int top)
{
    enum model_metric m = d->metric;
    char b[48], a[48], dl[48], fn[1024];

    fprintf(o, "\n%s (%s)\n", title, diff_render_metric(m));
    if (n == 0) {
        fprintf(o, "  None.\n");
        return;
    }
    fprintf(o, "  %3s %13s %12s %12s  %s\n", "#", "DELTA", "BASE", "NEW", "FUNCTION");
    for (int r = 0; r < n && (top <= 0 || r < top); r++) {
        const struct model_diff_function *f = &d->functions[idx[r]];
        const struct model_change *c = &f->m[m];
        fprintf(o, "  %3d %13s %12s %12s  %s%s\n", r + 1,
                diff_render_delta(dl, sizeof(dl), m, c->delta),
                diff_render_value(b, sizeof(b), m, c->before),
                diff_render_value(a, sizeof(a), m, c->after),
                diff_render_function(fn, sizeof(fn), f), c->within_noise ? "  ~" : "");
    }
    if (top > 0 && n > top)
        fprintf(o, "  ... %d more\n", n - top);
}

int diff_render_text(FILE *o, const struct model_diff *d, const struct diff_render_options *opt)
{
    char line[512];

    text_totals(o, d);
    if (d->n_changed == 0) {
        fprintf(o, "\nNo site changed.\n");
    } else {
        text_sites(o, d, "SITES THAT GREW", d->grown, d->n_grown, opt->top);
        text_sites(o, d, "SITES THAT SHRANK", d->shrunk, d->n_shrunk, opt->top);
        text_functions(o, d, "FUNCTIONS THAT GREW", d->functions_grown, d->n_functions_grown,
                       opt->top);
        text_functions(o, d, "FUNCTIONS THAT SHRANK", d->functions_shrunk, d->n_functions_shrunk,
                       opt->top);
        text_sites(o, d, "NEW SITES", d->new_sites, d->n_new_listed, opt->top);
        text_sites(o, d, "VANISHED SITES", d->vanished_sites, d->n_vanished_listed, opt->top);
    }
    if (d->n_budgets > 0) {
        fprintf(o, "\nBUDGETS\n");
        for (int i = 0; i < d->n_budgets; i++)
            fprintf(o, "  %-4s %s\n", d->budgets[i].breached ? "FAIL" : "ok",
                    diff_render_verdict(line, sizeof(line), d, &d->budgets[i]));
    }
    return 0;
}
