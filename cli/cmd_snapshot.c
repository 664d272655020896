/* cmd_snapshot.c - `heapspan snapshot`: a log -> the model at one point (the end, the
 * peak, a marker, a time) or at every marker -> snapshot files (analyzer/snapshot.h),
 * which report and diff read without the program, its debug info or the log. */
#include "cli/commands.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyzer/session.h"
#include "analyzer/snapshot.h"
#include "cli/opts.h"
#include "cli/progress.h"

static const char snapshot_usage[] =
    "usage: heapspan snapshot [--at end|peak|marker:N|time:SECONDS] [-o FILE] LOG\n"
    "       heapspan snapshot --all-markers [-o DIR] LOG\n"
    "Writes the heap at one point of LOG - its end (the default), the moment of its\n"
    "peak, its N-th marker (SIGUSR2, --snapshot-interval), or SECONDS after the program\n"
    "started - as a snapshot: symbolized, compressed, readable by `heapspan report` and\n"
    "`heapspan diff` without the program, its debug info or the log. A log still being\n"
    "written is read up to its last complete chunk. FILE defaults to NAME.hsnap for\n"
    "LOG NAME.hsl. --all-markers writes DIR/NAME.markerN.hsnap for each marker N (DIR\n"
    "defaults to the current one, and is made if missing).\n"
    "\n" OPT_MODEL_USAGE;

struct snapshot_args {
    struct session_options open;
    bool all_markers;
    const char *out;
};

/* --at's value into the session's point; false if it is not one. */
static bool parse_at(const char *v, struct session_options *o)
{
    char *end;

    if (!strcmp(v, "end")) {
        o->at = MODEL_AT_END;
        return true;
    }
    if (!strcmp(v, "peak")) {
        o->at = MODEL_AT_PEAK;
        return true;
    }
    if (!strncmp(v, "marker:", 7) && v[7] >= '0' && v[7] <= '9') {
        errno = 0;
        unsigned long n = strtoul(v + 7, &end, 10);
        if (errno != 0 || *end != '\0' || n < 1 || n > UINT32_MAX)
            return false;
        o->at = MODEL_AT_MARKER;
        o->at_marker = (uint32_t)n;
        return true;
    }
    if (!strncmp(v, "time:", 5) && ((v[5] >= '0' && v[5] <= '9') || v[5] == '.')) {
        errno = 0;
        double s = strtod(v + 5, &end);
        if (errno != 0 || *end != '\0' || !(s >= 0) || s > 1e9)
            return false;
        o->at = MODEL_AT_TIME;
        o->at_seconds = s;
        return true;
    }
    return false;
}

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct snapshot_args *a)
{
    static const struct option opts[] = {
        { "at", required_argument, NULL, 'a' },     { "all-markers", no_argument, NULL, 'A' },
        { "output", required_argument, NULL, 'o' }, OPT_MODEL_LONGOPTS,
        { "help", no_argument, NULL, OPT_HELP },    { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    bool at_given = false;
    int c;

    opt_init(&p, snapshot_usage, argc, argv, "ho:", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        if (opt_model(c, &a->open))
            continue;
        switch (c) {
        case OPT_EXIT:
            return opt_status(&p);
        case 'a':
            if (!parse_at(optarg, &a->open))
                return opt_bad_value(&p, "end, peak, marker:N (N from 1) or time:SECONDS");
            at_given = true;
            break;
        case 'A':
            a->all_markers = true;
            break;
        case 'o':
            a->out = optarg;
            break;
        }
    }
    if (!opt_operands(&p, 1, 1, "one LOG"))
        return 2;
    a->open.path = argv[optind];
    if (a->all_markers && at_given) {
        opt_error("--all-markers and --at: one snapshot per marker, or one at a point");
        return 2;
    }
    return -1;
}

/* NAME for LOG DIR/NAME.hsl (or DIR/NAME). */
static void stem_of(const char *log, char *out, size_t cap)
{
    const char *base = strrchr(log, '/');
    base = base != NULL ? base + 1 : log;
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".hsl"))
        n -= 4;
    snprintf(out, cap, "%.*s", (int)n, base);
}

struct marker_ctx {
    const char *dir;
    char stem[PATH_MAX];
    uint32_t written;
};

static int write_marker(void *arg, const struct model *m, uint32_t k)
{
    struct marker_ctx *c = arg;
    char path[PATH_MAX + 64], msg[PATH_MAX + 256];

    snprintf(path, sizeof(path), "%s/%s.marker%u.hsnap", c->dir, c->stem, k);
    if (snap_write(m, path, msg, sizeof(msg)) < 0) {
        opt_error("%s", msg);
        return 2;
    }
    fprintf(stderr, "heapspan: wrote %s\n", path);
    c->written++;
    return 0;
}

static int all_markers(struct session *s, const struct snapshot_args *a)
{
    const struct model *m = session_model(s);
    struct marker_ctx c = { .dir = a->out != NULL ? a->out : "." };
    struct stat sb;

    if (session_is_snapshot(s)) {
        opt_error("%s: a snapshot has no markers: --all-markers reads a log", a->open.path);
        return 2;
    }
    if (m->totals.markers == 0) {
        opt_error("%s: no markers in the log (`kill -USR2 PID` or --snapshot-interval "
                  "writes them)",
                  a->open.path);
        return 2;
    }
    if (mkdir(c.dir, 0777) != 0 && errno != EEXIST) {
        opt_error("%s: cannot make the directory: %s", c.dir, strerror(errno));
        return 2;
    }
    if (stat(c.dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        opt_error("%s: not a directory (--all-markers writes one snapshot per marker there)",
                  c.dir);
        return 2;
    }
    stem_of(a->open.path, c.stem, sizeof(c.stem));
    int err = session_each_marker(s, write_marker, &c);
    if (err < 0) {
        opt_error("%s", session_error(s));
        return 2;
    }
    return err;
}

int cmd_snapshot(int argc, char **argv)
{
    struct snapshot_args a = { 0 };
    struct session *s = NULL;
    int rc;

    opt_model_defaults(&a.open);
    rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    pg_begin("snapshot", &a.open);
    int opened = session_open(&a.open, &s);
    pg_end();
    if (opened < 0) {
        opt_error("%s", session_error(s));
        session_close(s);
        return 2;
    }
    const struct model *m = session_model(s);
    for (int i = 0; i < m->n_warnings; i++)
        fprintf(stderr, "%s\n", m->warnings[i]);
    if (a.all_markers) {
        rc = all_markers(s, &a);
    } else {
        char def[PATH_MAX], msg[PATH_MAX + 256];
        const char *out = a.out;
        if (out == NULL) {
            char stem[PATH_MAX - 8];
            stem_of(a.open.path, stem, sizeof(stem));
            snprintf(def, sizeof(def), "%s.hsnap", stem);
            out = def;
        }
        if (snap_write(m, out, msg, sizeof(msg)) < 0) {
            opt_error("%s", msg);
            rc = 2;
        } else {
            fprintf(stderr, "heapspan: wrote %s\n", out);
            rc = 0;
        }
    }
    session_close(s);
    return rc;
}
