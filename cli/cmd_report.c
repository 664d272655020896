/* cmd_report.c - `heapspan report`: log -> reader -> aggregator (+ symbolizer) ->
 * report. */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/aggregate.h"
#include "analyzer/reader.h"
#include "analyzer/symbolize.h"
#include "viz/report.h"

static const char report_usage[] =
    "usage: heapspan report [--top N] [--format text|json|markdown] [--from SECONDS]\n"
    "                       [--to SECONDS] [--debuginfo-path PATH] [--no-debuginfod]\n"
    "                       [--no-symbols] LOG\n"
    "Call sites ranked by memory held at the peak, leaked, allocation calls and\n"
    "temporary allocations; bloated structs. --from/--to keep the events between those\n"
    "times (seconds since the program started); chunks outside are not read.\n"
    "JSON lists every site unless --top is given (docs/report-json.md).\n";

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return false;
    *out = v;
    return true;
}

/* Loads a log into an aggregate: shared by the commands that report. Returns 0, or 2
 * after printing the error. */
int report_load(const char *path, double from, double to, bool symbols, const char *dbg_path,
                bool debuginfod, struct rd_log **rp, struct agg **ap, struct sym_cache **sp)
{
    int err;
    struct rd_log *r = rd_open(path, &err);

    *rp = r;
    *ap = NULL;
    *sp = NULL;
    if (r == NULL) {
        fprintf(stderr, "heapspan: out of memory\n");
        return 2;
    }
    if (err < 0) {
        fprintf(stderr, "heapspan: %s\n", rd_error(r));
        return 2;
    }
    if (from > 0 || to >= 0)
        rd_set_window(r, from > 0 ? rd_seconds_to_ticks(r, from) : 0,
                      to >= 0 ? rd_seconds_to_ticks(r, to) : UINT64_MAX);
    struct agg *a = agg_new(rd_header(r));
    *ap = a;
    if (a == NULL) {
        fprintf(stderr, "heapspan: out of memory\n");
        return 2;
    }
    struct rd_item it;
    int k;
    while ((k = rd_next(r, &it)) > 0)
        if ((err = agg_feed(a, &it)) < 0) {
            fprintf(stderr, "heapspan: %s: out of memory while aggregating\n", path);
            return 2;
        }
    if (k < 0) {
        fprintf(stderr, "heapspan: %s\n", rd_error(r)[0] ? rd_error(r) : strerror(-k));
        return 2;
    }
    if (symbols) {
        struct sym_options opt = { dbg_path, debuginfod, NULL };
        *sp = sym_open(&opt);
        if (*sp == NULL) {
            fprintf(stderr, "heapspan: out of memory\n");
            return 2;
        }
    }
    if ((err = agg_finish(a, r, *sp)) < 0) {
        fprintf(stderr, "heapspan: %s: %s while symbolizing\n", path, strerror(-err));
        return 2;
    }
    return 0;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        { "top", required_argument, NULL, 't' },
        { "format", required_argument, NULL, 'f' },
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "debuginfo-path", required_argument, NULL, 'd' },
        { "debuginfod", no_argument, NULL, 'D' },
        { "no-debuginfod", no_argument, NULL, 'N' },
        { "no-symbols", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum report_format fmt = REPORT_TEXT;
    int top = -1, c;
    double from = 0, to = -1;
    const char *dbg = NULL;
    /* As libdw's own tools do: debuginfod servers are asked when DEBUGINFOD_URLS names
     * some, unless told not to. */
    const char *urls = getenv("DEBUGINFOD_URLS");
    bool debuginfod = urls != NULL && urls[0] != '\0', symbols = true;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > 1000000) {
                fprintf(stderr, "heapspan report: --top %s: expected a count from 1\n", optarg);
                return 2;
            }
            top = (int)v;
            break;
        }
        case 'f':
            if (!strcmp(optarg, "text"))
                fmt = REPORT_TEXT;
            else if (!strcmp(optarg, "json"))
                fmt = REPORT_JSON;
            else if (!strcmp(optarg, "markdown") || !strcmp(optarg, "md"))
                fmt = REPORT_MARKDOWN;
            else {
                fprintf(stderr, "heapspan report: --format %s: expected text, json or markdown\n",
                        optarg);
                return 2;
            }
            break;
        case 'F':
        case 'T':
            if (!parse_seconds(optarg, c == 'F' ? &from : &to)) {
                fprintf(stderr, "heapspan report: --%s %s: expected seconds (e.g. 1.5)\n",
                        c == 'F' ? "from" : "to", optarg);
                return 2;
            }
            break;
        case 'd':
            dbg = optarg;
            break;
        case 'D':
            debuginfod = true;
            break;
        case 'N':
            debuginfod = false;
            break;
        case 'n':
            symbols = false;
            break;
        case 'h':
            fputs(report_usage, stdout);
            return 0;
        default:
            fputs(report_usage, stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(report_usage, stderr);
        return 2;
    }
    if (to >= 0 && to <= from) {
        fprintf(stderr, "heapspan report: --to must be after --from\n");
        return 2;
    }
    struct rd_log *r;
    struct agg *a;
    struct sym_cache *sym;
    int rc = report_load(argv[optind], from, to, symbols, dbg, debuginfod, &r, &a, &sym);
    if (rc == 0) {
        struct report_input in = { argv[optind], r, a,
                                   top > 0              ? top
                                   : fmt == REPORT_JSON ? 0
                                                        : 10,
                                   rd_warnings(r) };
        if (report_write(stdout, fmt, &in) < 0) {
            fprintf(stderr, "heapspan report: cannot write the report\n");
            rc = 2;
        }
        if (fmt != REPORT_TEXT && rd_warnings(r)[0] != '\0')
            fprintf(stderr, "%s", rd_warnings(r));
    }
    agg_free(a);
    sym_close(sym);
    rd_close(r);
    return rc;
}
