/* cmd_report.c - `heapspan report`: log -> session (reader, aggregator, symbolizer)
 * -> model -> renderer. */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/session.h"
#include "viz/render.h"

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
    const struct renderer *fmt = render_find("text");
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
            fmt = render_find(optarg);
            if (fmt == NULL) {
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
    struct session_options so = { argv[optind], from, to, symbols, dbg, debuginfod, true, false };
    struct session *ses;
    int rc = 0;
    if (session_open(&so, &ses) < 0) {
        fprintf(stderr, "heapspan: %s\n", session_error(ses));
        rc = 2;
    } else {
        const struct model *m = session_model(ses);
        struct render_options ro = { top > 0 ? top : fmt->default_top };
        if (render_write(fmt, stdout, m, &ro) < 0) {
            fprintf(stderr, "heapspan report: cannot write the report\n");
            rc = 2;
        }
        for (int i = 0; fmt->echo_warnings && i < m->n_warnings; i++)
            fprintf(stderr, "%s\n", m->warnings[i]);
    }
    session_close(ses);
    return rc;
}
