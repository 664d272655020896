/*
 * opts.h - what every command does with its arguments: getopt_long's loop with --help,
 * unknown options and missing arguments handled alike, numbers parsed with a message
 * naming the option, and the one form of an error message: "heapspan: <message>". A
 * message from the analyzer (session_error(), which names the file and byte) is passed
 * to opt_error as it is, once.
 *
 * Used by cli/cmd_*.c on the main thread, one parser at a time (getopt's state is
 * global). Prints --help on stdout and errors on stderr; allocates nothing.
 */
#ifndef HEAPSPAN_CLI_OPTS_H
#define HEAPSPAN_CLI_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "analyzer/session.h"

#define OPT_HELP 'h' /* the code commands give --help (and -h) in their option table */

/* What opt_next returns besides an option's code. */
#define OPT_END  (-1) /* no more options: optind is the first operand */
#define OPT_EXIT (-2) /* the command returns opt_status() now (--help, or a usage error) */

/* Only this module's functions use the fields. */
struct opt_parser {
    const char *usage; /* the command's --help text */
    int argc;
    char **argv;
    char shortopts[64];
    const struct option *longopts;
    char name[40]; /* the option opt_next last returned: "--top", "-o" */
    int status;
};

/*
 * Starts parsing argv (argv[0] is the command's name). shortopts as getopt's, without
 * a leading ':'; a leading '+' stops at the first operand (for `run -- PROG`).
 * longopts as getopt_long's, ending with a zeroed entry; OPT_HELP for --help.
 */
void opt_init(struct opt_parser *p, const char *usage, int argc, char **argv, const char *shortopts,
              const struct option *longopts);

/* The next option's code (optarg holds its argument), OPT_END, or OPT_EXIT. */
int opt_next(struct opt_parser *p);

/* The status for OPT_EXIT: 0 after --help, 2 after a usage error. */
int opt_status(const struct opt_parser *p);

/* Whether between min and max operands are left (max < 0: no limit); if not, says
 * how many there are against what (e.g. "one LOG or SNAPSHOT") and prints the usage
 * on stderr. */
bool opt_operands(struct opt_parser *p, int min, int max, const char *what);

/* Prints the usage on stderr and returns 2, for a usage error opt_next cannot see. */
int opt_usage_error(const struct opt_parser *p);

/* optarg as an integer from lo to hi, or false after "heapspan: --OPT ARG: expected
 * <expected>". */
bool opt_long(const struct opt_parser *p, long lo, long hi, const char *expected, long *out);

/* optarg as seconds (0 or more), or false after the message. */
bool opt_seconds(const struct opt_parser *p, double *out);

/* "heapspan: --OPT ARG: expected <expected>" on stderr; returns 2. */
int opt_bad_value(const struct opt_parser *p, const char *expected);

/*
 * The options of every command that makes a model of a log or snapshot (report,
 * snapshot, diff): symbols and debug info, and leaks set apart. OPT_MODEL_LONGOPTS
 * goes into the command's option table (their codes are OPT_MODEL_*, above any
 * character), OPT_MODEL_USAGE into its --help, opt_model_defaults before parsing and
 * opt_model for each option code: it returns whether the code was one of them.
 */
enum {
    OPT_MODEL_DEBUGINFO_PATH = 0x100,
    OPT_MODEL_DEBUGINFOD,
    OPT_MODEL_NO_DEBUGINFOD,
    OPT_MODEL_NO_SYMBOLS,
    OPT_MODEL_SUPPRESSIONS,
    OPT_MODEL_NO_BUILTIN_SUPPRESSIONS,
    OPT_MODEL_PYTHON_INTERNALS,
};

/* One entry a line (clang-format would indent all but the first twice). */
/* clang-format off */
#define OPT_MODEL_LONGOPTS                                                              \
    { "debuginfo-path", required_argument, NULL, OPT_MODEL_DEBUGINFO_PATH },            \
    { "debuginfod", no_argument, NULL, OPT_MODEL_DEBUGINFOD },                          \
    { "no-debuginfod", no_argument, NULL, OPT_MODEL_NO_DEBUGINFOD },                    \
    { "no-symbols", no_argument, NULL, OPT_MODEL_NO_SYMBOLS },                          \
    { "suppressions", required_argument, NULL, OPT_MODEL_SUPPRESSIONS },                \
    { "no-builtin-suppressions", no_argument, NULL, OPT_MODEL_NO_BUILTIN_SUPPRESSIONS }, \
    { "python-internals", no_argument, NULL, OPT_MODEL_PYTHON_INTERNALS }
/* clang-format on */

#define OPT_MODEL_USAGE                                                                  \
    "  --no-symbols            frames stay module+offset; no debug info is read\n"       \
    "  --debuginfo-path PATH   where separate debug info is looked for\n"                \
    "  --no-debuginfod         never fetch debug info from DEBUGINFOD_URLS' servers\n"   \
    "  --suppressions FILE     leaks matching its leak:PATTERN lines are set apart\n"    \
    "  --no-builtin-suppressions  the C runtime's one-time allocations count as leaks\n" \
    "  --python-internals      keep CPython's own frames beside the Python frames\n"

/* A whole log, symbolized (debuginfod asked if DEBUGINFOD_URLS names servers, as
 * elfutils' tools do), into a model, the C runtime's one-time allocations apart. */
void opt_model_defaults(struct session_options *o);
bool opt_model(int c, struct session_options *o);

/* The number of single-letter insertions, deletions, substitutions and swaps of two
 * neighbours that turn a into b (optimal string alignment); SIZE_MAX past 63 letters. */
size_t opt_edit_distance(const char *a, size_t na, const char *b, size_t nb);

/* The one name of names[] near enough to word to be what was meant (a third of its
 * letters edited, 1 to 3), or NULL: for "did you mean" on options and commands. */
const char *opt_nearest(const char *word, const char *const *names, size_t n_names);

/*
 * How sites are titled and which are kept, for every command that shows sites (report,
 * flame, export, diff): --alloc-fn PATTERN (repeatable) and --no-wrapper-detection go
 * to the session (session.h: a site's title is its first frame past the wrappers),
 * --focus REGEX and --ignore REGEX (repeatable; pprof's: a site is kept when a frame
 * matches a --focus pattern and none an --ignore one) filter the model (view.h).
 * OPT_SITES_LONGOPTS into the option table, OPT_SITES_USAGE into --help; opt_sites for
 * each option code; opt_sites_apply on each session's options after parsing;
 * opt_sites_filter on each model before it is drawn.
 */
enum {
    OPT_SITES_ALLOC_FN = 0x180,
    OPT_SITES_NO_WRAPPER_DETECTION,
    OPT_SITES_FOCUS,
    OPT_SITES_IGNORE,
};

#define OPT_SITES_MAX 64 /* patterns of each kind */

struct opt_sites {
    const char *alloc_fns[OPT_SITES_MAX];
    int n_alloc_fns;
    bool no_wrapper_detection;
    const char *focus[OPT_SITES_MAX], *ignore[OPT_SITES_MAX];
    int n_focus, n_ignore;
};

/* clang-format off */
#define OPT_SITES_LONGOPTS                                                              \
    { "alloc-fn", required_argument, NULL, OPT_SITES_ALLOC_FN },                        \
    { "no-wrapper-detection", no_argument, NULL, OPT_SITES_NO_WRAPPER_DETECTION },      \
    { "focus", required_argument, NULL, OPT_SITES_FOCUS },                              \
    { "ignore", required_argument, NULL, OPT_SITES_IGNORE }
/* clang-format on */

#define OPT_SITES_USAGE                                                                        \
    "  --alloc-fn PATTERN      frames whose function matches (fnmatch wildcards; or\n"         \
    "                          module+0xOFFSET) are allocator wrappers: a site is titled by\n" \
    "                          its first frame that is not one\n"                              \
    "  --no-wrapper-detection  only the built-in list and --alloc-fn name wrappers\n"          \
    "  --focus REGEX           keep only sites with a frame matching REGEX (repeatable)\n"     \
    "  --ignore REGEX          drop sites with a frame matching REGEX (repeatable)\n"

/* 0: c is not one of these options; 1: taken; 2: refused, after the message. */
int opt_sites(const struct opt_parser *p, int c, struct opt_sites *s);

/* Gives o the wrapper options (o points into s: s must outlive the session). */
void opt_sites_apply(const struct opt_sites *s, struct session_options *o);

struct model;
struct view;

/* m filtered by --focus and --ignore (*v holds it: view_free), or m itself when neither
 * was given. NULL after the message (a pattern that is not a regular expression). */
const struct model *opt_sites_filter(const struct opt_sites *s, const struct model *m,
                                     struct view **v);

/* The command whose errors follow: main() sets it from the command table. */
void opt_set_command(const char *name);

/* "heapspan CMD: <message>" on stderr ("heapspan: <message>" before a command is
 * known): every error of every command goes through here, once. */
void opt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
