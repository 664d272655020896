/* cmd_flame.c - `heapspan flame`: a log or snapshot -> session -> model -> a flame
 * graph page or SVG (viz/flame.h); with --diff, two of them -> the differential graph. */
#include "cli/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/session.h"
#include "analyzer/view.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "viz/flame.h"

static const char flame_usage[] =
    "usage: heapspan flame [--metric peak|leaked|allocations|temporary|allocated]\n"
    "                      [--inverted] [--icicle] [--title TEXT] [--min-width FRACTION]\n"
    "                      [--debuginfo-path PATH] [--no-debuginfod] [--no-symbols]\n"
    "                      [--suppressions FILE] [--no-builtin-suppressions]\n"
    "                      [--alloc-fn PATTERN]... [--no-wrapper-detection]\n"
    "                      [--focus REGEX]... [--ignore REGEX]... -o FILE LOG|SNAPSHOT\n"
    "       heapspan flame --diff BASE [options] -o FILE NEW\n"
    "A flame graph of the call sites: one self-contained HTML page (no network needed:\n"
    "click to zoom, search, switch the metric, flip to an icicle, invert), or a static\n"
    "SVG when FILE ends in .svg; - writes the page to stdout. --metric: what the widths\n"
    "measure at first (default peak: bytes live at the peak). --inverted puts the\n"
    "allocating functions at the root. --diff BASE: widths from NEW, red where NEW grew\n"
    "since BASE, blue where it shrank, outlined frames new. --min-width: nodes narrower\n"
    "than this share of every metric's total are merged (default 0.00002).\n"
    "\n" OPT_SITES_USAGE OPT_MODEL_USAGE;

enum {
    FLAME_OPT_INVERTED = 0x200,
    FLAME_OPT_ICICLE,
    FLAME_OPT_TITLE,
    FLAME_OPT_MIN_WIDTH,
    FLAME_OPT_DIFF,
};

struct flame_args {
    struct session_options open;
    struct flame_options flame;
    const char *output;
    const char *base; /* --diff */
    struct opt_sites sites;
};

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct flame_args *a)
{
    static const struct option opts[] = {
        { "metric", required_argument, NULL, 'm' },
        { "output", required_argument, NULL, 'o' },
        { "inverted", no_argument, NULL, FLAME_OPT_INVERTED },
        { "icicle", no_argument, NULL, FLAME_OPT_ICICLE },
        { "title", required_argument, NULL, FLAME_OPT_TITLE },
        { "min-width", required_argument, NULL, FLAME_OPT_MIN_WIDTH },
        { "diff", required_argument, NULL, FLAME_OPT_DIFF },
        OPT_SITES_LONGOPTS,
        OPT_MODEL_LONGOPTS,
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    char *end;
    int c;

    opt_init(&p, flame_usage, argc, argv, "ho:m:", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        if (opt_model(c, &a->open))
            continue;
        int taken = opt_sites(&p, c, &a->sites);
        if (taken == 2)
            return 2;
        if (taken == 1)
            continue;
        switch (c) {
        case OPT_EXIT:
            return opt_status(&p);
        case 'm':
            if (!flame_parse_metric(optarg, &a->flame.metric))
                return opt_bad_value(&p, flame_metric_list());
            break;
        case 'o':
            a->output = optarg;
            break;
        case FLAME_OPT_INVERTED:
            a->flame.inverted = true;
            break;
        case FLAME_OPT_ICICLE:
            a->flame.icicle = true;
            break;
        case FLAME_OPT_TITLE:
            a->flame.title = optarg;
            break;
        case FLAME_OPT_MIN_WIDTH:
            errno = 0;
            a->flame.min_fraction = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(a->flame.min_fraction > 0) ||
                a->flame.min_fraction >= 1)
                return opt_bad_value(&p, "a fraction between 0 and 1, e.g. 0.0001");
            break;
        case FLAME_OPT_DIFF:
            a->base = optarg;
            break;
        }
    }
    if (!opt_operands(&p, 1, 1, "one LOG or SNAPSHOT (--diff BASE names the other)"))
        return 2;
    a->open.path = argv[optind];
    if (a->output == NULL) {
        opt_error("-o FILE is required (FILE.html, FILE.svg, or - for stdout)");
        return opt_usage_error(&p);
    }
    return -1;
}

int cmd_flame(int argc, char **argv)
{
    struct flame_args a = { .flame = { .metric = FLAME_PEAK } };
    struct session *s = NULL, *base = NULL;
    struct view *fv = NULL, *fbv = NULL;
    const struct model *bm = NULL;
    FILE *out;
    int rc, err;

    opt_model_defaults(&a.open);
    if ((rc = parse(argc, argv, &a)) >= 0)
        return rc;
    rc = 2;
    opt_sites_apply(&a.sites, &a.open);
    if (a.base != NULL) {
        struct session_options bo = a.open;
        bo.path = a.base;
        pg_begin("flame", &bo);
        int opened = session_open(&bo, &base);
        pg_end();
        if (opened < 0) {
            opt_error("%s", session_error(base));
            goto out;
        }
        if ((bm = opt_sites_filter(&a.sites, session_model(base), &fbv)) == NULL)
            goto out;
    }
    pg_begin("flame", &a.open);
    int opened = session_open(&a.open, &s);
    pg_end();
    if (opened < 0) {
        opt_error("%s", session_error(s));
        goto out;
    }
    const struct model *m = opt_sites_filter(&a.sites, session_model(s), &fv);
    if (m == NULL)
        goto out;
    if ((out = out_open(a.output)) == NULL)
        goto out;
    bool svg = out_has_ext(a.output, ".svg");
    if (base != NULL)
        err = svg ? flame_diff_svg(out, bm, m, &a.flame) : flame_diff_html(out, bm, m, &a.flame);
    else
        err = svg ? flame_svg(out, m, &a.flame) : flame_html(out, m, &a.flame);
    if (err == -ENOMEM) {
        opt_error("out of memory while drawing the flame graph");
        if (out != stdout)
            fclose(out);
        goto out;
    }
    if (out_close(out, a.output, "the flame graph") < 0)
        goto out;
    for (int i = 0; i < m->n_warnings; i++)
        fprintf(stderr, "%s\n", m->warnings[i]);
    rc = 0;
out:
    view_free(fv);
    view_free(fbv);
    session_close(base);
    session_close(s);
    return rc;
}
