/* diff_junit.c - the diff as a JUnit XML report, the form CI systems (Jenkins, GitLab,
 * GitHub test-report actions) read: <testsuites> holding one <testsuite>, one
 * <testcase> per budget, failed with a <failure> whose message is the budget's verdict;
 * without budgets, one passing <testcase> per metric, so that the report still shows
 * the figures. The totals and the top growth go in <system-out>. See diff_render.h. */
#include "viz/diff_render.h"

#include <time.h>

#define JUNIT_DETAIL_ROWS 10 /* grown sites listed in a failure's text */

/* s escaped for XML 1.0 text or an attribute value: the five entities, and the control
 * characters XML cannot hold at all written as '?'. */
static void xml_text(FILE *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&')
            fputs("&amp;", o);
        else if (c == '<')
            fputs("&lt;", o);
        else if (c == '>')
            fputs("&gt;", o);
        else if (c == '"')
            fputs("&quot;", o);
        else if (c == '\'')
            fputs("&apos;", o);
        else if (c == '\n')
            fputs("&#10;", o);
        else if (c == '\t')
            fputs("&#9;", o);
        else if (c < 0x20 || c == 0x7f)
            fputc('?', o);
        else
            fputc(c, o);
    }
}

/* Text content, where newlines stay newlines. */
static void xml_body(FILE *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        if (*s == '\n')
            fputc('\n', o);
        else {
            char one[2] = { *s, '\0' };
            xml_text(o, one);
        }
    }
}

static void junit_totals(FILE *o, const struct model_diff *d)
{
    char b[48], a[48], dl[48], pc[32], line[256];

    for (int k = 0; k < MODEL_N_METRICS; k++) {
        const struct model_change *c = &d->totals[k];
        snprintf(line, sizeof(line), "%-12s %12s -> %12s  %13s %8s%s\n", diff_render_metric(k),
                 diff_render_value(b, sizeof(b), k, c->before),
                 diff_render_value(a, sizeof(a), k, c->after),
                 diff_render_delta(dl, sizeof(dl), k, c->delta),
                 diff_render_percent(pc, sizeof(pc), c), c->within_noise ? " ~" : "");
        xml_body(o, line);
    }
}

/* The sites that grew most in metric m: what a failed budget's reader wants first. */
static void junit_grown(FILE *o, const struct model_diff *d, enum model_metric m)
{
    char dl[48], site[1024], line[1200];
    int n = 0;

    for (int i = 0; i < d->n_sites; i++)
        n += d->sites[i].m[m].delta > 0;
    if (n == 0)
        return;
    xml_body(o, "Sites that grew most:\n");
    /* The diff ranks its lists by its own metric; another metric's are found here. */
    int shown[JUNIT_DETAIL_ROWS], n_shown = 0;
    while (n_shown < JUNIT_DETAIL_ROWS && n_shown < n) {
        int best = -1;
        for (int i = 0; i < d->n_sites; i++) {
            double v = d->sites[i].m[m].delta;
            bool taken = false;
            for (int k = 0; k < n_shown; k++)
                taken = taken || shown[k] == i;
            if (v > 0 && !taken && (best < 0 || v > d->sites[best].m[m].delta))
                best = i;
        }
        if (best < 0)
            break;
        shown[n_shown++] = best;
        snprintf(line, sizeof(line), "  %13s  %s\n",
                 diff_render_delta(dl, sizeof(dl), m, d->sites[best].m[m].delta),
                 diff_render_site(site, sizeof(site), &d->sites[best], 2));
        xml_body(o, line);
    }
}

static void testcase_open(FILE *o, enum model_metric m, const char *name)
{
    fprintf(o, "    <testcase classname=\"heapspan.diff.%s\" name=\"", diff_render_metric(m));
    xml_text(o, name);
    fputs("\" time=\"0\"", o);
}

int diff_render_junit(FILE *o, const struct model_diff *d, const struct diff_render_options *opt)
{
    char name[256], allow[96], line[512], stamp[32] = "1970-01-01T00:00:00";
    int tests = d->n_budgets > 0 ? d->n_budgets : MODEL_N_METRICS;
    time_t start = (time_t)(d->after->process.start_unix_ns / 1000000000u);
    struct tm tm;

    (void)opt;
    /* The report's time is NEW's recording's, so the same diff gives the same bytes. */
    if (gmtime_r(&start, &tm) != NULL)
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", o);
    fprintf(o,
            "<testsuites name=\"heapspan diff\" tests=\"%d\" failures=\"%d\" errors=\"0\" "
            "time=\"0\">\n",
            tests, d->n_breached);
    fputs("  <testsuite name=\"", o);
    snprintf(line, sizeof(line), "heapspan diff %s -> %s", d->before->process.log_path,
             d->after->process.log_path);
    xml_text(o, line);
    fprintf(o,
            "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\" time=\"0\" "
            "timestamp=\"%s\">\n",
            tests, d->n_breached, stamp);
    for (int i = 0; i < d->n_budgets; i++) {
        const struct model_budget *b = &d->budgets[i];
        snprintf(name, sizeof(name), "%s growth within %s", diff_render_metric(b->metric),
                 diff_render_allowance(allow, sizeof(allow), b));
        testcase_open(o, b->metric, name);
        diff_render_verdict(line, sizeof(line), d, b);
        if (!b->breached) {
            fputs(">\n      <system-out>", o);
            xml_text(o, line);
            fputs("</system-out>\n    </testcase>\n", o);
            continue;
        }
        fputs(">\n      <failure type=\"heapspan.budget\" message=\"", o);
        xml_text(o, line);
        fputs("\">", o);
        xml_body(o, line);
        xml_body(o, "\n");
        junit_grown(o, d, b->metric);
        fputs("</failure>\n    </testcase>\n", o);
    }
    for (int k = 0; d->n_budgets == 0 && k < MODEL_N_METRICS; k++) {
        const struct model_change *c = &d->totals[k];
        char b1[48], a1[48], pc[32];
        snprintf(name, sizeof(name), "%s: %s -> %s", diff_render_metric(k),
                 diff_render_value(b1, sizeof(b1), k, c->before),
                 diff_render_value(a1, sizeof(a1), k, c->after));
        testcase_open(o, k, name);
        fputs(">\n      <system-out>", o);
        snprintf(line, sizeof(line), "%s changed by %s", diff_render_metric(k),
                 c->delta == 0 ? "nothing" : diff_render_percent(pc, sizeof(pc), c));
        xml_text(o, line);
        fputs("</system-out>\n    </testcase>\n", o);
    }
    fputs("    <system-out>", o);
    junit_totals(o, d);
    snprintf(line, sizeof(line),
             "sites: %d matched exactly, %d by function (lines moved), %d new, %d vanished; %d "
             "changed\n",
             d->n_exact, d->n_function, d->n_new, d->n_vanished, d->n_changed);
    xml_body(o, line);
    fputs("</system-out>\n  </testsuite>\n</testsuites>\n", o);
    return 0;
}
