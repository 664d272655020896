/* cmd_report.c - `heapspan report`: log or snapshot -> session (reader, aggregator,
 * symbolizer; or the snapshot reader) -> model -> renderer. */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/reader.h"
#include "analyzer/session.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "util/escape.h"
#include "viz/render.h"

static const char report_usage[] =
    "usage: heapspan report [--top N] [--format text|json|markdown|html] [-o FILE]\n"
    "                       [--from SECONDS]\n"
    "                       [--to SECONDS] [--debuginfo-path PATH] [--no-debuginfod]\n"
    "                       [--no-symbols] [--suppressions FILE]\n"
    "                       [--no-builtin-suppressions] LOG|SNAPSHOT\n"
    "Call sites ranked by memory held at the peak, leaked, allocation calls and\n"
    "temporary allocations; bloated structs; the C runtime's one-time allocations and\n"
    "suppressed leaks apart. --from/--to keep the events between those times (seconds\n"
    "since the program started); chunks outside are not read. A snapshot (`heapspan\n"
    "snapshot`) is reported as the log was at its point.\n"
    "JSON lists every site unless --top is given (docs/report-json.md). HTML is one\n"
    "page that works offline: the summary, the heap over time, the rankings with their\n"
    "stacks, bloated structs and a flame graph (docs/flame.md). -o FILE writes the\n"
    "report there instead of stdout.\n"
    "\n" OPT_MODEL_USAGE;

struct report_args {
    struct session_options open;
    const struct renderer *format;
    const char *output; /* -o; NULL: stdout */
    int top;            /* 0: the format's default */
};

/* "text, json or markdown": the renderers' names. */
static const char *format_names(char *buf, size_t cap)
{
    int n, len = 0;
    const struct renderer *r = render_list(&n);

    buf[0] = '\0';
    for (int i = 0; i < n && len >= 0 && (size_t)len < cap; i++)
        len += snprintf(buf + len, cap - (size_t)len, "%s%s",
                        i == 0      ? ""
                        : i + 1 < n ? ", "
                                    : " or ",
                        r[i].name);
    return buf;
}

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct report_args *a)
{
    static const struct option opts[] = {
        { "top", required_argument, NULL, 't' },    { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' }, { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },     OPT_MODEL_LONGOPTS,
        { "help", no_argument, NULL, OPT_HELP },    { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    char names[64];
    long top;
    int c;

    opt_init(&p, report_usage, argc, argv, "ho:", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        if (opt_model(c, &a->open))
            continue;
        switch (c) {
        case OPT_EXIT:
            return opt_status(&p);
        case 't':
            if (!opt_long(&p, 1, 1000000, "a count from 1", &top))
                return 2;
            a->top = (int)top;
            break;
        case 'f':
            a->format = render_find(optarg);
            if (a->format == NULL)
                return opt_bad_value(&p, format_names(names, sizeof(names)));
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'F':
            if (!opt_seconds(&p, &a->open.from))
                return 2;
            break;
        case 'T':
            if (!opt_seconds(&p, &a->open.to))
                return 2;
            break;
        }
    }
    if (!opt_operands(&p, 1, 1,
                      "one LOG or SNAPSHOT (one log per report today: report each on its own, "
                      "or compare two with `heapspan diff BASE NEW`)"))
        return 2;
    a->open.path = argv[optind];
    if (a->open.to >= 0 && a->open.to <= a->open.from) {
        opt_error("--to must be after --from");
        return 2;
    }
    return -1;
}

int cmd_report(int argc, char **argv)
{
    struct report_args a = { .format = render_find("text") };
    struct session *s;
    int rc;

    opt_model_defaults(&a.open);
    rc = parse(argc, argv, &a);

    if (rc >= 0)
        return rc;
    rc = 0;
    pg_begin("report", &a.open);
    int opened = session_open(&a.open, &s);
    pg_end();
    if (opened < 0) {
        opt_error("%s", session_error(s));
        session_close(s);
        return 2;
    }
    const struct model *m = session_model(s);
    struct render_options ro = { a.top > 0 ? a.top : a.format->default_top };
    FILE *out = out_open(a.output);
    if (out == NULL) {
        session_close(s);
        return 2;
    }
    int err = render_write(a.format, out, m, &ro);
    if (err < 0) {
        opt_error("cannot write the report%s%s: %s", a.output ? " to " : "",
                  a.output ? a.output : "", strerror(-err));
        rc = 2;
        if (out != stdout)
            fclose(out);
    } else if (out_close(out, a.output, "the report") < 0) {
        rc = 2;
    }
    /* Damage skipped is said on stderr whatever the format: a report read on a terminal
     * or kept in a file must not pass for the whole log's unnoticed. */
    for (int i = 0; i < m->n_warnings; i++) {
        if (!a.format->echo_warnings && strstr(m->warnings[i], RD_DAMAGE_WORDS) == NULL)
            continue;
        esc_fputs(m->warnings[i], stderr);
        fputc('\n', stderr);
    }
    session_close(s);
    return rc;
}
