/* diff_markdown.c - the diff as GitHub-flavoured Markdown, for a pull-request comment or
 * a CI step summary: the totals as a table, the budgets' verdicts, then each list as a
 * table, the long ones folded into <details> so that the comment stays short. See
 * diff_render.h. */
#include "viz/diff_render.h"

#include <inttypes.h>
#include <string.h>

#define MD_OPEN_ROWS 5 /* rows of the growth lists shown before the fold */

static const char *const match_words[] = { "", "lines moved", "new", "vanished" };

/* s as a code span inside a table cell. In a code span < > & are literal (no HTML,
 * no entities), so they are written as they are; the span is fenced by one backtick
 * more than the longest run inside it (padded with a space where s starts or ends with
 * one); a '|' would end the cell even inside the span, so it is escaped as GFM's
 * tables require; a newline would end the row. */
static void md_code(FILE *o, const char *s)
{
    int run = 0, longest = 0;
    size_t n = strlen(s);

    for (const char *p = s; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    bool pad = n > 0 && (s[0] == '`' || s[n - 1] == '`');
    for (int i = 0; i <= longest; i++)
        fputc('`', o);
    if (pad)
        fputc(' ', o);
    for (const char *p = s; *p; p++) {
        if (*p == '|')
            fputs("\\|", o);
        else if (*p == '\n' || *p == '\r')
            fputc(' ', o);
        else
            fputc(*p, o);
    }
    if (pad)
        fputc(' ', o);
    for (int i = 0; i <= longest; i++)
        fputc('`', o);
}

/* Plain text in an HTML element (a <summary>) or a Markdown line. */
static void md_text(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", o);
        else if (*s == '>')
            fputs("&gt;", o);
        else if (*s == '&')
            fputs("&amp;", o);
        else if (*s == '|' || *s == '*' || *s == '_' || *s == '`' || *s == '[' || *s == ']' ||
                 *s == '\\')
            fprintf(o, "\\%c", *s);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', o);
        else
            fputc(*s, o);
    }
}

static void md_totals(FILE *o, const struct model_diff *d)
{
    char b[48], a[48], dl[48], pc[32];

    fputs("## Heap diff: ", o);
    md_code(o, d->before->process.log_path);
    fputs(" → ", o);
    md_code(o, d->after->process.log_path);
    fputs("\n\n", o);
    if (d->sampled)
        fprintf(o,
                "_Sampled (BASE one allocation per %" PRIu64 " bytes, NEW per %" PRIu64
                "): numbers are estimates; ≈ marks a change within sampling noise (95%%)._\n\n",
                d->before->process.sample_bytes, d->after->process.sample_bytes);
    fputs("| metric | base | new | delta | change |\n|---|---:|---:|---:|---:|\n", o);
    for (int k = 0; k < MODEL_N_METRICS; k++) {
        const struct model_change *c = &d->totals[k];
        bool ranked = k == (int)d->metric;
        fprintf(o, "| %s%s%s | %s | %s | %s%s | %s |\n", ranked ? "**" : "", diff_render_metric(k),
                ranked ? "**" : "", diff_render_value(b, sizeof(b), k, c->before),
                diff_render_value(a, sizeof(a), k, c->after),
                diff_render_delta(dl, sizeof(dl), k, c->delta), c->within_noise ? " ≈" : "",
                diff_render_percent(pc, sizeof(pc), c));
    }
    fprintf(o,
            "\n%d sites matched exactly, %d by function (lines moved), %d new, %d vanished; "
            "%d changed.\n",
            d->n_exact, d->n_function, d->n_new, d->n_vanished, d->n_changed);
}

static void md_budgets(FILE *o, const struct model_diff *d)
{
    char line[512];

    if (d->n_budgets == 0)
        return;
    fputs("\n**Budgets**\n\n", o);
    for (int i = 0; i < d->n_budgets; i++) {
        fputs(d->budgets[i].breached ? "- :x: " : "- :white_check_mark: ", o);
        md_text(o, diff_render_verdict(line, sizeof(line), d, &d->budgets[i]));
        fputc('\n', o);
    }
}

static void md_site_rows(FILE *o, const struct model_diff *d, const int *idx, int from, int to)
{
    enum model_metric m = d->metric;
    char b[48], a[48], dl[48], site[1024];

    fputs("| # | delta | base | new | call site |\n|---:|---:|---:|---:|---|\n", o);
    for (int r = from; r < to; r++) {
        const struct model_diff_site *s = &d->sites[idx[r]];
        const struct model_change *c = &s->m[m];
        fprintf(o, "| %d | %s%s | %s | %s | ", r + 1,
                diff_render_delta(dl, sizeof(dl), m, c->delta), c->within_noise ? " ≈" : "",
                diff_render_value(b, sizeof(b), m, c->before),
                diff_render_value(a, sizeof(a), m, c->after));
        md_code(o, diff_render_site(site, sizeof(site), s, 2));
        if (s->match != MODEL_MATCH_EXACT)
            fprintf(o, " _%s_", match_words[s->match]);
        fputs(" |\n", o);
    }
}

static void md_function_rows(FILE *o, const struct model_diff *d, const int *idx, int from, int to)
{
    enum model_metric m = d->metric;
    char b[48], a[48], dl[48], fn[1024];

    fputs("| # | delta | base | new | function |\n|---:|---:|---:|---:|---|\n", o);
    for (int r = from; r < to; r++) {
        const struct model_diff_function *f = &d->functions[idx[r]];
        const struct model_change *c = &f->m[m];
        fprintf(o, "| %d | %s%s | %s | %s | ", r + 1,
                diff_render_delta(dl, sizeof(dl), m, c->delta), c->within_noise ? " ≈" : "",
                diff_render_value(b, sizeof(b), m, c->before),
                diff_render_value(a, sizeof(a), m, c->after));
        md_code(o, diff_render_function(fn, sizeof(fn), f));
        fputs(" |\n", o);
    }
}

typedef void (*md_rows_fn)(FILE *o, const struct model_diff *d, const int *idx, int from, int to);

/* A list: open_rows shown under a heading, the rest (up to top) folded. */
static void md_list(FILE *o, const struct model_diff *d, const char *title, md_rows_fn rows,
                    const int *idx, int n, int top, int open_rows)
{
    int shown = top > 0 && n > top ? top : n;

    if (n == 0)
        return;
    if (open_rows > 0) {
        fprintf(o, "\n### %s (%s)\n\n", title, diff_render_metric(d->metric));
        rows(o, d, idx, 0, shown < open_rows ? shown : open_rows);
        if (shown > open_rows) {
            fprintf(o, "\n<details><summary>%d more</summary>\n\n", shown - open_rows);
            rows(o, d, idx, open_rows, shown);
            fputs("\n</details>\n", o);
        }
    } else {
        fprintf(o, "\n<details><summary>%s (%s): %d</summary>\n\n", title,
                diff_render_metric(d->metric), n);
        rows(o, d, idx, 0, shown);
        fputs("\n</details>\n", o);
    }
    if (shown < n)
        fprintf(o, "\n_%d more not shown._\n", n - shown);
}

int diff_render_markdown(FILE *o, const struct model_diff *d, const struct diff_render_options *opt)
{
    md_totals(o, d);
    md_budgets(o, d);
    if (d->n_changed == 0) {
        fputs("\nNo site changed.\n", o);
        return 0;
    }
    md_list(o, d, "Sites that grew", md_site_rows, d->grown, d->n_grown, opt->top, MD_OPEN_ROWS);
    md_list(o, d, "Functions that grew", md_function_rows, d->functions_grown, d->n_functions_grown,
            opt->top, MD_OPEN_ROWS);
    md_list(o, d, "Sites that shrank", md_site_rows, d->shrunk, d->n_shrunk, opt->top, 0);
    md_list(o, d, "Functions that shrank", md_function_rows, d->functions_shrunk,
            d->n_functions_shrunk, opt->top, 0);
    md_list(o, d, "New sites", md_site_rows, d->new_sites, d->n_new_listed, opt->top, 0);
    md_list(o, d, "Vanished sites", md_site_rows, d->vanished_sites, d->n_vanished_listed, opt->top,
            0);
    return 0;
}
