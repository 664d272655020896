/* opts.c - see opts.h. */
#include "cli/opts.h"

#include "analyzer/view.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *command; /* the running command's name, for the message prefix */

void opt_set_command(const char *name)
{
    command = name;
}

void opt_error(const char *fmt, ...)
{
    va_list ap;
    if (command != NULL)
        fprintf(stderr, "heapspan %s: ", command);
    else
        fputs("heapspan: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void opt_init(struct opt_parser *p, const char *usage, int argc, char **argv, const char *shortopts,
              const struct option *longopts)
{
    bool plus = shortopts[0] == '+';

    memset(p, 0, sizeof(*p));
    p->usage = usage;
    p->argc = argc;
    p->argv = argv;
    p->longopts = longopts;
    /* ':' after any '+': getopt then reports a missing argument as ':' and prints
     * nothing itself, so that its messages take our form. */
    snprintf(p->shortopts, sizeof(p->shortopts), "%s:%s", plus ? "+" : "", shortopts + plus);
    optind = 1;
    opterr = 0;
}

int opt_status(const struct opt_parser *p)
{
    return p->status;
}

int opt_usage_error(const struct opt_parser *p)
{
    /* The synopsis only (the lines up to the first that is not "usage:" or indented),
     * so that the message above it stays in view; --help has the rest. */
    const char *s = p->usage, *end = s;
    while (*end != '\0' && (end == s || *end == ' ')) {
        end += strcspn(end, "\n");
        end += *end == '\n';
    }
    fwrite(s, 1, (size_t)(end - s), stderr);
    if (command != NULL)
        fprintf(stderr, "`heapspan %s --help` describes every option.\n", command);
    return 2;
}

size_t opt_edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t rows[3][64]; /* rows i-2, i-1 and i of the table, by i % 3 */

    if (na >= 64 || nb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        rows[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t *cur = rows[i % 3], *up = rows[(i - 1) % 3], *up2 = rows[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t best = up[j - 1] + (a[i - 1] != b[j - 1]);
            if (up[j] + 1 < best)
                best = up[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            /* Two letters swapped ("--ouptut") is one typo, not two. */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                up2[j - 2] + 1 < best)
                best = up2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return rows[na % 3][nb];
}

const char *opt_nearest(const char *word, const char *const *names, size_t n_names)
{
    size_t nw = strlen(word), best = SIZE_MAX;
    const char *pick = NULL;
    bool tie = false;

    for (size_t i = 0; i < n_names; i++) {
        size_t d = opt_edit_distance(word, nw, names[i], strlen(names[i]));
        if (d < best) {
            best = d;
            pick = names[i];
            tie = false;
        } else if (d == best) {
            tie = true;
        }
    }
    /* Near enough to be a typo: a third of the name, at least one edit, at most three
     * (git and cargo take about as much). A tie has no one answer. */
    size_t limit = nw / 3 < 1 ? 1 : nw / 3 > 3 ? 3 : nw / 3;
    return pick != NULL && !tie && best <= limit ? pick : NULL;
}

/* The long option nearest to --word, or NULL. */
static const char *nearest_option(const struct opt_parser *p, const char *word, size_t len)
{
    const char *names[128];
    char w[64];
    size_t n = 0;

    if (len >= sizeof(w))
        return NULL;
    memcpy(w, word, len);
    w[len] = '\0';
    for (const struct option *o = p->longopts; o->name != NULL && n < 128; o++)
        names[n++] = o->name;
    return opt_nearest(w, names, n);
}

/* The long options that begin with word, for an ambiguous abbreviation: into buf as
 * "--a, --b", and how many. */
static int prefixed_options(const struct opt_parser *p, const char *word, size_t len, char *buf,
                            size_t cap)
{
    int n = 0;
    size_t at = 0;

    buf[0] = '\0';
    for (const struct option *o = p->longopts; o->name != NULL; o++) {
        if (strncmp(o->name, word, len) != 0)
            continue;
        int w = snprintf(buf + at, cap - at, "%s--%s", n > 0 ? ", " : "", o->name);
        if (w > 0 && (size_t)w < cap - at)
            at += (size_t)w;
        n++;
    }
    return n;
}

/* A usage error getopt found: the message, then the usage. */
static int usage_error(struct opt_parser *p, int c)
{
    const char *arg = optind > 0 && optind <= p->argc ? p->argv[optind - 1] : "?";

    if (c == ':') {
        opt_error("option '%s' requires an argument", arg);
    } else if (strncmp(arg, "--", 2) != 0) {
        opt_error("invalid option -- '%c'", optopt);
    } else if (optopt != 0) {
        opt_error("option '%.*s' doesn't allow an argument", (int)strcspn(arg, "="), arg);
    } else {
        size_t len = strcspn(arg + 2, "=");
        char which[512];
        const char *near = nearest_option(p, arg + 2, len);
        if (prefixed_options(p, arg + 2, len, which, sizeof(which)) > 1)
            opt_error("option '--%.*s' is ambiguous: it could be %s", (int)len, arg + 2, which);
        else if (near != NULL)
            opt_error("unrecognized option '--%.*s'; did you mean --%s?", (int)len, arg + 2, near);
        else
            opt_error("unrecognized option '--%.*s'", (int)len, arg + 2);
    }
    p->status = opt_usage_error(p);
    return OPT_EXIT;
}

int opt_next(struct opt_parser *p)
{
    int idx = -1;
    int c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, &idx);

    if (c == -1)
        return OPT_END;
    if (c == '?' || c == ':')
        return usage_error(p, c);
    if (c == OPT_HELP) {
        fputs(p->usage, stdout);
        p->status = 0;
        return OPT_EXIT;
    }
    if (idx >= 0)
        snprintf(p->name, sizeof(p->name), "--%s", p->longopts[idx].name);
    else
        snprintf(p->name, sizeof(p->name), "-%c", c);
    return c;
}

bool opt_operands(struct opt_parser *p, int min, int max, const char *what)
{
    int n = p->argc - optind;
    if (n >= min && (max < 0 || n <= max))
        return true;
    if (n < min) {
        opt_error("%s: expected %s", n == 0 ? "no operand" : "too few operands", what);
    } else {
        /* Name what is left over: an option placed after the operands is the usual
         * cause, or a second log. */
        opt_error("%d operands (%s%s%s): expected %s", n, p->argv[optind], n > 1 ? " " : "",
                  n > 1 ? p->argv[optind + 1] : "", what);
    }
    opt_usage_error(p);
    return false;
}

int opt_bad_value(const struct opt_parser *p, const char *expected)
{
    opt_error("%s %s: expected %s", p->name, optarg, expected);
    return 2;
}

bool opt_long(const struct opt_parser *p, long lo, long hi, const char *expected, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(optarg, &end, 10);
    if (errno != 0 || end == optarg || *end != '\0' || v < lo || v > hi) {
        opt_bad_value(p, expected);
        return false;
    }
    *out = v;
    return true;
}

bool opt_seconds(const struct opt_parser *p, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(optarg, &end);
    if (errno != 0 || end == optarg || *end != '\0' || !(v >= 0) || isinf(v)) {
        opt_bad_value(p, "seconds (e.g. 1.5)");
        return false;
    }
    *out = v;
    return true;
}

void opt_model_defaults(struct session_options *o)
{
    const char *urls = getenv("DEBUGINFOD_URLS");

    memset(o, 0, sizeof(*o));
    o->to = -1;
    o->symbols = true;
    o->debuginfod = urls != NULL && urls[0] != '\0';
    o->aggregate = true;
}

bool opt_model(int c, struct session_options *o)
{
    switch (c) {
    case OPT_MODEL_DEBUGINFO_PATH:
        o->debuginfo_path = optarg;
        return true;
    case OPT_MODEL_DEBUGINFOD:
    case OPT_MODEL_NO_DEBUGINFOD:
        o->debuginfod = c == OPT_MODEL_DEBUGINFOD;
        return true;
    case OPT_MODEL_NO_SYMBOLS:
        o->symbols = false;
        return true;
    case OPT_MODEL_SUPPRESSIONS:
        o->suppressions = optarg;
        return true;
    case OPT_MODEL_NO_BUILTIN_SUPPRESSIONS:
        o->keep_runtime_leaks = true;
        return true;
    case OPT_MODEL_PYTHON_INTERNALS:
        o->python_internals = true;
        return true;
    default:
        return false;
    }
}

int opt_sites(const struct opt_parser *p, int c, struct opt_sites *s)
{
    const char **list;
    int *n;

    switch (c) {
    case OPT_SITES_NO_WRAPPER_DETECTION:
        s->no_wrapper_detection = true;
        return 1;
    case OPT_SITES_ALLOC_FN:
        list = s->alloc_fns;
        n = &s->n_alloc_fns;
        break;
    case OPT_SITES_FOCUS:
        list = s->focus;
        n = &s->n_focus;
        break;
    case OPT_SITES_IGNORE:
        list = s->ignore;
        n = &s->n_ignore;
        break;
    default:
        return 0;
    }
    if (c == OPT_SITES_ALLOC_FN && optarg[0] == '\0')
        return opt_bad_value(p, "a function name or pattern");
    if (*n == OPT_SITES_MAX) {
        opt_error("%s: at most %d patterns", p->name, OPT_SITES_MAX);
        return 2;
    }
    list[(*n)++] = optarg;
    return 1;
}

void opt_sites_apply(const struct opt_sites *s, struct session_options *o)
{
    o->alloc_fns = s->alloc_fns;
    o->n_alloc_fns = s->n_alloc_fns;
    o->no_wrapper_detection = s->no_wrapper_detection;
}

const struct model *opt_sites_filter(const struct opt_sites *s, const struct model *m,
                                     struct view **v)
{
    struct view_patterns pat = { s->n_focus, s->n_ignore, s->focus, s->ignore };
    char err[512];

    *v = NULL;
    if (s->n_focus + s->n_ignore == 0)
        return m;
    int e = view_filter(m, &pat, v, err, sizeof(err));
    if (e < 0) {
        opt_error("%s", e == -EINVAL ? err : "out of memory");
        return NULL;
    }
    return view_model(*v);
}
