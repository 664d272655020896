/* cmd_diff.c - `heapspan diff BASE NEW`: two sessions -> two models -> analyzer/diff ->
 * a diff renderer; budgets on growth make it a CI gate (exit 1 when one is breached). */
#include "cli/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/diff.h"
#include "analyzer/reader.h"
#include "analyzer/session.h"
#include "analyzer/view.h"
#include "cli/opts.h"
#include "cli/progress.h"
#include "format/bytesize.h"
#include "viz/diff_render.h"

static const char diff_usage[] =
    "usage: heapspan diff [--metric live|peak|leaked|allocations|temporary]\n"
    "                     [--fail-on-growth PCT%|SIZE|PCT%,SIZE]... [--min-size SIZE]\n"
    "                     [--warn-only] [--format text|markdown|json|junit] [-o FILE]\n"
    "                     [--top N] [--base-at WHERE] [--new-at WHERE]\n"
    "                     [--suppressions FILE] [--no-builtin-suppressions]\n"
    "                     [--debuginfo-path PATH] [--no-debuginfod] [--no-symbols]\n"
    "                     [--alloc-fn PATTERN]... [--no-wrapper-detection]\n"
    "                     [--focus REGEX]... [--ignore REGEX]... BASE NEW\n"
    "Compares two recordings: totals, call sites and functions ranked by growth and by\n"
    "shrink (by --metric, default peak), new and vanished sites. Sites match by their\n"
    "frames, or by their functions where only lines moved. --fail-on-growth sets a budget\n"
    "on the growth of the metric's total (METRIC:SPEC for another metric; repeatable):\n"
    "10% of BASE, 512KiB, or 10%,512KiB (over both); exit status 1 when one is breached\n"
    "(0 with --warn-only), 2 on an error. --min-size leaves smaller changes out of the\n"
    "lists. --base-at/--new-at: end (default), peak, marker:N (the Nth snapshot marker)\n"
    "or time:SECONDS, the log up to that point (a snapshot stands at its own point).\n"
    "BASE and NEW are logs or snapshots. JSON: docs/diff-json.md. --alloc-fn,\n"
    "--no-wrapper-detection, --focus and --ignore apply to both, as in report:\n"
    "\n" OPT_SITES_USAGE;

#define MAX_BUDGETS 32

/* One side of the diff: where its recording is cut, and its session. */
struct diff_side {
    const char *at;              /* as given; NULL: the end */
    struct session_options open; /* its point too (at, at_marker, at_seconds) */
    struct session *s;
    struct view *filtered; /* --focus, --ignore */
    struct model model;    /* the session's (filtered), with what the cut changes */
    char label[4200];
};

struct diff_args {
    struct diff_side side[2]; /* BASE, NEW */
    struct opt_sites sites;
    struct diff_options diff;
    struct model_budget budgets[MAX_BUDGETS];
    const struct diff_renderer *format;
    const char *output;
    int top; /* 0: the format's default */
    bool warn_only;
};

/* "text, markdown, json or junit": the renderers' names. */
static const char *format_names(char *buf, size_t cap)
{
    int n, len = 0;
    const struct diff_renderer *r = diff_render_list(&n);

    buf[0] = '\0';
    for (int i = 0; i < n && len >= 0 && (size_t)len < cap; i++)
        len += snprintf(buf + len, cap - (size_t)len, "%s%s",
                        i == 0      ? ""
                        : i + 1 < n ? ", "
                                    : " or ",
                        r[i].name);
    return buf;
}

/* Reads a point of a recording - end, peak, marker:N or time:SECONDS - into o's point;
 * false if s names none. */
static bool parse_at(const char *s, struct session_options *o)
{
    char *end;
    if (!strcmp(s, "end") || !strcmp(s, "peak")) {
        o->at = s[0] == 'e' ? MODEL_AT_END : MODEL_AT_PEAK;
        return true;
    }
    if (!strncmp(s, "marker:", 7)) {
        errno = 0;
        long n = strtol(s + 7, &end, 10);
        if (s[7] < '0' || s[7] > '9' || errno != 0 || *end != '\0' || n < 1 || n > UINT32_MAX)
            return false;
        o->at = MODEL_AT_MARKER;
        o->at_marker = (uint32_t)n;
        return true;
    }
    if (!strncmp(s, "time:", 5)) {
        errno = 0;
        double t = strtod(s + 5, &end);
        if (end == s + 5 || errno != 0 || *end != '\0' || !(t >= 0 && t < 1e9))
            return false;
        o->at = MODEL_AT_TIME;
        o->at_seconds = t;
        return true;
    }
    return false;
}

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct diff_args *a)
{
    static const struct option opts[] = {
        { "metric", required_argument, NULL, 'm' },
        { "fail-on-growth", required_argument, NULL, 'g' },
        { "min-size", required_argument, NULL, 's' },
        { "warn-only", no_argument, NULL, 'w' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "top", required_argument, NULL, 't' },
        { "base-at", required_argument, NULL, 'B' },
        { "new-at", required_argument, NULL, 'N' },
        OPT_SITES_LONGOPTS,
        OPT_MODEL_LONGOPTS,
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    const char *budget_specs[MAX_BUDGETS];
    int n_budgets = 0;
    struct opt_parser p;
    char names[64];
    uint64_t size;
    long top;
    int c;

    opt_init(&p, diff_usage, argc, argv, "o:h", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        int taken = opt_sites(&p, c, &a->sites);
        if (taken == 2)
            return 2;
        if (taken == 1)
            continue;
        switch (c) {
        case OPT_EXIT:
            return opt_status(&p);
        case 'm':
            if (!diff_parse_metric(optarg, &a->diff.metric))
                return opt_bad_value(&p, "live, peak, leaked, allocations or temporary");
            break;
        case 'g':
            if (n_budgets == MAX_BUDGETS) {
                opt_error("at most %d budgets", MAX_BUDGETS);
                return 2;
            }
            budget_specs[n_budgets++] = optarg; /* parsed below, once --metric is known */
            break;
        case 's':
            if (!hs_parse_bytes(optarg, &size))
                return opt_bad_value(&p, "a byte count like 4096, 64K or 1MiB");
            a->diff.min_change = (double)size;
            break;
        case 'w':
            a->warn_only = true;
            break;
        case 'f':
            a->format = diff_render_find(optarg);
            if (a->format == NULL)
                return opt_bad_value(&p, format_names(names, sizeof(names)));
            break;
        case 'o':
            a->output = optarg;
            break;
        case 't':
            if (!opt_long(&p, 1, 1000000, "a count from 1", &top))
                return 2;
            a->top = (int)top;
            break;
        case 'B':
        case 'N':
            if (!parse_at(optarg, &a->side[c == 'N'].open))
                return opt_bad_value(&p, "end, peak, marker:N (N from 1) or time:SECONDS");
            a->side[c == 'N'].at = optarg;
            break;
        default:
            /* Symbols, debug info and suppressions: the same for both sides. */
            if (!opt_model(c, &a->side[0].open) || !opt_model(c, &a->side[1].open)) {
                opt_error("option code %d not handled", c); /* a bug of ours */
                return 2;
            }
            break;
        }
    }
    for (int i = 0; i < n_budgets; i++)
        if (!diff_parse_budget(budget_specs[i], a->diff.metric, &a->budgets[i])) {
            opt_error("--fail-on-growth %s: expected PCT%% (10%%), SIZE (512KiB), or both as "
                      "PCT%%,SIZE (10%%,512KiB: over both), optionally after METRIC: (peak:10%%)",
                      budget_specs[i]);
            return 2;
        }
    a->diff.n_budgets = n_budgets;
    a->diff.budgets = a->budgets;
    if (!opt_operands(&p, 2, 2, "two recordings, BASE and NEW (each a log or a snapshot)"))
        return 2;
    opt_sites_apply(&a->sites, &a->side[0].open);
    opt_sites_apply(&a->sites, &a->side[1].open);
    a->side[0].open.path = argv[optind];
    a->side[1].open.path = argv[optind + 1];
    return -1;
}

/* Opens one side at its point: 0, or 2 after the message. */
static int open_side(struct diff_side *d, const struct opt_sites *sites)
{
    pg_begin("diff", &d->open);
    int opened = session_open(&d->open, &d->s);
    pg_end();
    if (opened < 0) {
        opt_error("%s", session_error(d->s));
        return 2;
    }
    const struct model *m = opt_sites_filter(sites, session_model(d->s), &d->filtered);
    if (m == NULL)
        return 2;
    d->model = *m;
    if (d->at != NULL && d->open.at != MODEL_AT_END) {
        snprintf(d->label, sizeof(d->label), "%s@%s", d->open.path, d->at);
        d->model.process.log_path = d->label;
    }
    return 0;
}

/* The output's FILE: stdout, or -o's file. NULL after the message. */
static FILE *open_output(const char *path)
{
    if (path == NULL || !strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        opt_error("cannot write %s: %s", path, strerror(errno));
    return f;
}

int cmd_diff(int argc, char **argv)
{
    struct diff_args a = { .format = diff_render_find("text") };
    struct model_diff *d = NULL;
    FILE *out = NULL;
    char line[512];
    int rc;

    a.diff.metric = MODEL_METRIC_PEAK;
    for (int i = 0; i < 2; i++) {
        opt_model_defaults(&a.side[i].open);
        a.side[i].open.aggregate = true;
    }
    if ((rc = parse(argc, argv, &a)) >= 0)
        return rc;
    rc = 2;
    if (open_side(&a.side[0], &a.sites) != 0 || open_side(&a.side[1], &a.sites) != 0)
        goto out;
    d = diff_new(&a.side[0].model, &a.side[1].model, &a.diff);
    if (d == NULL) {
        opt_error("out of memory");
        goto out;
    }
    if ((out = open_output(a.output)) == NULL)
        goto out;
    struct diff_render_options ro = { a.top > 0 ? a.top : a.format->default_top };
    int err = diff_render_write(a.format, out, d, &ro);
    if (out != stdout && fclose(out) != 0 && err == 0)
        err = errno != 0 ? -errno : -EIO;
    out = NULL;
    if (err < 0) {
        opt_error("cannot write the diff%s%s: %s", a.output ? " to " : "", a.output ? a.output : "",
                  strerror(-err));
        goto out;
    }
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < a.side[s].model.n_warnings; i++)
            fprintf(stderr, "%s\n", a.side[s].model.warnings[i]);
    for (int i = 0; i < d->n_budgets; i++)
        if (d->budgets[i].breached || d->budgets[i].within_noise)
            opt_error("%s%s", diff_render_verdict(line, sizeof(line), d, &d->budgets[i]),
                      d->budgets[i].breached && a.warn_only ? "; --warn-only: not failed" : "");
    rc = d->n_breached > 0 && !a.warn_only ? 1 : 0;
out:
    if (out != NULL && out != stdout)
        fclose(out);
    diff_free(d);
    view_free(a.side[0].filtered);
    view_free(a.side[1].filtered);
    session_close(a.side[0].s);
    session_close(a.side[1].s);
    return rc;
}
