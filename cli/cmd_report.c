/* cmd_report.c - `heapspan report`: log or snapshot -> session (reader, aggregator,
 * symbolizer; or the snapshot reader) -> model -> renderer. */
#include "cli/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/reader.h"
#include "analyzer/session.h"
#include "analyzer/view.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "util/escape.h"
#include "viz/rank.h"
#include "viz/render.h"

static const char report_usage[] =
    "usage: heapspan report [--top N] [--format text|json|markdown|html] [-o FILE]\n"
    "                       [--sort peak|leaked|allocations|temporary|allocated]\n"
    "                       [--from SECONDS] [--to SECONDS] [--frames N] [--full-names]\n"
    "                       [--runtime-frames] [--alloc-fn PATTERN]... [--no-wrapper-detection]\n"
    "                       [--debuginfo-path PATH] [--no-debuginfod]\n"
    "                       [--no-symbols] [--suppressions FILE]\n"
    "                       [--no-builtin-suppressions] [--focus REGEX]... [--ignore REGEX]...\n"
    "                       LOG|SNAPSHOT [LOG...]\n"
    "Call sites ranked by memory held at the peak, leaked, allocation calls and\n"
    "temporary allocations; bloated structs; the C runtime's one-time allocations and\n"
    "suppressed leaks apart. --from/--to keep the events between those times (seconds\n"
    "since the program started); chunks outside are not read. A snapshot (`heapspan\n"
    "snapshot`) is reported as the log was at its point.\n"
    "JSON lists every site unless --top is given (docs/report-json.md). HTML is one\n"
    "page that works offline: the summary, the heap over time, the rankings with their\n"
    "stacks, bloated structs and a flame graph (docs/flame.md). -o FILE writes the\n"
    "report there instead of stdout.\n"
    "\n"
    "  --sort METRIC           text and markdown show that ranking alone; JSON lists its\n"
    "                          sites in that order (by default: peak)\n"
    "  --frames N              frames shown of each stack (default 32)\n"
    "  --full-names            names as the binaries give them: no std::string for\n"
    "                          std::__cxx11::basic_string<...>, no <...> past 100 columns\n"
    "  --runtime-frames        show start-up and runtime frames (_start, Rust's "
    "lang_start)\n" OPT_SITES_USAGE OPT_MODEL_USAGE;

#define MAX_LOGS 256

struct report_args {
    struct session_options open;
    const struct renderer *format;
    const char *output; /* -o; NULL: stdout */
    int top;            /* 0: the format's default */
    struct render_options ro;
    struct opt_sites sites;
    int n_logs;
    char **logs; /* the operands */
};

enum {
    OPT_SORT = 0x200,
    OPT_FRAMES,
    OPT_FULL_NAMES,
    OPT_RUNTIME_FRAMES,
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
        { "top", required_argument, NULL, 't' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "sort", required_argument, NULL, OPT_SORT },
        { "frames", required_argument, NULL, OPT_FRAMES },
        { "full-names", no_argument, NULL, OPT_FULL_NAMES },
        { "runtime-frames", no_argument, NULL, OPT_RUNTIME_FRAMES },
        OPT_SITES_LONGOPTS,
        OPT_MODEL_LONGOPTS,
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    char names[64];
    long top;
    int c;

    opt_init(&p, report_usage, argc, argv, "ho:", opts);
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
        case OPT_SORT:
            a->ro.sort = rank_sort_find(optarg);
            if (a->ro.sort == RANK_SORT_DEFAULT)
                return opt_bad_value(&p, RANK_SORT_NAMES);
            break;
        case OPT_FRAMES:
            if (!opt_long(&p, 1, 100000, "a count from 1", &top))
                return 2;
            a->ro.frames = (int)top;
            break;
        case OPT_FULL_NAMES:
            a->ro.full_names = true;
            break;
        case OPT_RUNTIME_FRAMES:
            a->ro.runtime_frames = true;
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
    if (!opt_operands(&p, 1, MAX_LOGS,
                      "one LOG or SNAPSHOT, or several logs of one run (a process and the "
                      "children it forked or exec'd, reported as one)"))
        return 2;
    a->open.path = argv[optind];
    a->logs = argv + optind;
    a->n_logs = argc - optind;
    opt_sites_apply(&a->sites, &a->open);
    if (a->open.to >= 0 && a->open.to <= a->open.from) {
        opt_error("--to must be after --from");
        return 2;
    }
    return -1;
}

/* The model to render: the session's, or the merge of several logs' (a run's process
 * tree), then filtered by --focus and --ignore. NULL after the message. */
static const struct model *report_model(struct report_args *a, struct session **ss,
                                        struct view **merged, struct view **filtered)
{
    const struct model *models[MAX_LOGS];
    const struct model *m;

    for (int i = 0; i < a->n_logs; i++) {
        a->open.path = a->logs[i];
        pg_begin("report", &a->open);
        int opened = session_open(&a->open, &ss[i]);
        pg_end();
        if (opened < 0) {
            opt_error("%s", session_error(ss[i]));
            return NULL;
        }
        models[i] = session_model(ss[i]);
    }
    m = models[0];
    if (a->n_logs > 1) {
        if (view_merge(models, a->n_logs, merged) < 0) {
            opt_error("out of memory");
            return NULL;
        }
        m = view_model(*merged);
    }
    return opt_sites_filter(&a->sites, m, filtered);
}

int cmd_report(int argc, char **argv)
{
    struct report_args a = { .format = render_find("text") };
    struct session *ss[MAX_LOGS] = { NULL };
    struct view *merged = NULL, *filtered = NULL;
    int rc;

    opt_model_defaults(&a.open);
    rc = parse(argc, argv, &a);

    if (rc >= 0)
        return rc;
    rc = 0;
    const struct model *m = report_model(&a, ss, &merged, &filtered);
    if (m == NULL) {
        rc = 2;
        goto done;
    }
    struct render_options ro = a.ro;
    ro.top = a.top > 0 ? a.top : a.format->default_top;
    FILE *out = out_open(a.output);
    if (out == NULL) {
        rc = 2;
        goto done;
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
done:
    view_free(filtered);
    view_free(merged);
    for (int i = 0; i < a.n_logs; i++)
        session_close(ss[i]);
    return rc;
}
