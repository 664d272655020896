/* cmd_run.c - `heapspan run`: start a program with the shim preloaded; with --otlp,
 * follow its log while it runs and send a span per interval to an OpenTelemetry
 * backend, then the whole trace at its end. The exporting is this process's: the
 * profiled one only writes its log. */
#include "cli/commands.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyzer/allocdetect.h"
#include "analyzer/session.h"
#include "cli/opts.h"
#include "cli/otlp.h"
#include "cli/otlp_watch.h"
#include "format/bytesize.h"
#include "format/settings.h"

static const char run_usage[] =
    "usage: heapspan run [-o LOG] [--sample BYTES] [--depth N] [--no-follow-children]\n"
    "                    [--marker-signal SIG] [--snapshot-interval SECONDS]\n"
    "                    [--snapshot-on-rss SIZE] [--force]\n"
    "                    [--otlp URL|env [--otlp-interval SECONDS] [--otlp-protocol P]\n"
    "                    [--otlp-compression gzip|none] [--otlp-top N] [--otlp-verbose]\n"
    "                    [--leak-threshold SIZE]] -- PROG [ARGS...]\n"
    "Runs PROG with libheapspan.so preloaded, records every allocation to LOG\n"
    "(default heapspan.PID.hsl; %p in LOG is the pid, %e the program name) and exits\n"
    "with PROG's exit status. Children the program forks or execs write LOG-derived\n"
    "logs with their pid in the name, unless --no-follow-children. A statically linked\n"
    "PROG cannot be recorded, and is not run unless --force.\n"
    "--otlp: this process follows the log while PROG runs and sends OpenTelemetry spans\n"
    "to URL/v1/traces (env: OTEL_EXPORTER_OTLP_ENDPOINT): one per --otlp-interval\n"
    "(default 10 s, or --snapshot-interval's), then the whole trace at the end, as\n"
    "`heapspan export --otlp` sends it (docs/otlp.md).\n";

/* The options, as the strings the shim reads from its environment (NULL: its default). */
struct run_args {
    const char *output, *sample, *depth, *marker, *interval, *on_rss;
    bool follow, force;
    char **prog;              /* PROG and its arguments, NULL-terminated */
    struct otlp_cli otlp;     /* otlp.endpoint NULL: no export */
    double otlp_interval;     /* seconds; < 0: not given */
    double snapshot_interval; /* --snapshot-interval's, < 0: not given */
    long otlp_top;
    double leak_threshold; /* bytes; < 0: none */
    char interval_buf[32];
};

enum {
    RUN_OPT_OTLP = 0x200,
    RUN_OPT_OTLP_INTERVAL,
    RUN_OPT_OTLP_PROTOCOL,
    RUN_OPT_OTLP_COMPRESSION,
    RUN_OPT_OTLP_TOP,
    RUN_OPT_LEAK_THRESHOLD,
    RUN_OPT_OTLP_VERBOSE,
};

static pid_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct run_args *a)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "sample", required_argument, NULL, 's' },
        { "depth", required_argument, NULL, 'd' },
        { "no-follow-children", no_argument, NULL, 'n' },
        { "marker-signal", required_argument, NULL, 'm' },
        { "snapshot-interval", required_argument, NULL, 'i' },
        { "snapshot-on-rss", required_argument, NULL, 'r' },
        { "force", no_argument, NULL, 'f' },
        { "otlp", required_argument, NULL, RUN_OPT_OTLP },
        { "otlp-interval", required_argument, NULL, RUN_OPT_OTLP_INTERVAL },
        { "otlp-protocol", required_argument, NULL, RUN_OPT_OTLP_PROTOCOL },
        { "otlp-compression", required_argument, NULL, RUN_OPT_OTLP_COMPRESSION },
        { "otlp-top", required_argument, NULL, RUN_OPT_OTLP_TOP },
        { "leak-threshold", required_argument, NULL, RUN_OPT_LEAK_THRESHOLD },
        { "otlp-verbose", no_argument, NULL, RUN_OPT_OTLP_VERBOSE },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    uint64_t bytes;
    long depth;
    int c;

    opt_init(&p, run_usage, argc, argv, "+o:h", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        switch (c) {
        case OPT_EXIT:
            return opt_status(&p);
        case 'o':
            a->output = optarg;
            break;
        case 's': /* checked here; the shim parses it again from the environment */
            if (!hs_parse_bytes(optarg, &bytes))
                return opt_bad_value(&p, "a byte count like 524288 or 512K");
            a->sample = optarg;
            break;
        case 'd':
            if (!opt_long(&p, 1, HS_MAX_DEPTH, "1 to " HS_XSTR(HS_MAX_DEPTH) " frames", &depth))
                return 2;
            a->depth = optarg;
            break;
        case 'n':
            a->follow = false;
            break;
        case 'm':
            a->marker = optarg;
            break;
        case 'i':
            if (!opt_seconds(&p, &a->snapshot_interval))
                return 2;
            a->interval = optarg;
            break;
        case RUN_OPT_OTLP:
            a->otlp.endpoint = optarg;
            break;
        case RUN_OPT_OTLP_INTERVAL:
            if (!opt_seconds(&p, &a->otlp_interval))
                return 2;
            if (a->otlp_interval < HS_SNAPSHOT_INTERVAL_MIN ||
                a->otlp_interval > HS_SNAPSHOT_INTERVAL_MAX)
                return opt_bad_value(
                    &p, "seconds from " HS_XSTR(HS_SNAPSHOT_INTERVAL_MIN) " to " HS_XSTR(
                            HS_SNAPSHOT_INTERVAL_MAX));
            break;
        case RUN_OPT_OTLP_PROTOCOL:
            if (strcmp(optarg, "http/protobuf") != 0 && strcmp(optarg, "http/json") != 0)
                return opt_bad_value(&p, "http/protobuf or http/json");
            a->otlp.protocol = optarg;
            break;
        case RUN_OPT_OTLP_COMPRESSION:
            if (strcmp(optarg, "gzip") != 0 && strcmp(optarg, "none") != 0)
                return opt_bad_value(&p, "gzip or none");
            a->otlp.compression = optarg;
            break;
        case RUN_OPT_OTLP_TOP:
            if (!opt_long(&p, 0, 1000, "0 to 1000", &a->otlp_top))
                return 2;
            break;
        case RUN_OPT_OTLP_VERBOSE:
            a->otlp.verbose = true;
            break;
        case RUN_OPT_LEAK_THRESHOLD:
            if (!hs_parse_bytes(optarg, &bytes))
                return opt_bad_value(&p, "a byte count like 0, 4096 or 10M");
            a->leak_threshold = (double)bytes;
            break;
        case 'r': /* checked here; the shim parses it again from the environment */
            if (!hs_parse_bytes(optarg, &bytes))
                return opt_bad_value(&p, "a byte count like 512M or 2G");
            a->on_rss = optarg;
            break;
        case 'f':
            a->force = true;
            break;
        }
    }
    if (optind >= argc) {
        opt_error("no program given");
        return opt_usage_error(&p);
    }
    a->prog = argv + optind;
    if (a->otlp.endpoint == NULL &&
        (a->otlp_interval >= 0 || a->otlp.protocol != NULL || a->otlp.compression != NULL)) {
        opt_error("--otlp-interval, --otlp-protocol and --otlp-compression go with --otlp URL");
        return opt_usage_error(&p);
    }
    if (a->otlp.endpoint != NULL) {
        /* The intervals are the shim's markers: one setting for both. */
        if (a->otlp_interval >= 0 && a->snapshot_interval >= 0 &&
            a->otlp_interval != a->snapshot_interval) {
            opt_error("--otlp-interval %g and --snapshot-interval %g: the intervals are the "
                      "log's markers, give one of them (or the same value)",
                      a->otlp_interval, a->snapshot_interval);
            return 2;
        }
        if (a->otlp_interval < 0)
            a->otlp_interval = a->snapshot_interval >= 0 ? a->snapshot_interval : 10;
        snprintf(a->interval_buf, sizeof(a->interval_buf), "%.9g", a->otlp_interval);
        a->interval = a->interval_buf;
    }
    return -1;
}

/* The shim beside this executable (build tree), or under ../lib/heapspan (install). */
static int find_shim(char *out, size_t cap)
{
    char self[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *env = getenv(HS_ENV_SHIM);

    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return access(out, R_OK) == 0 ? 0 : -ENOENT;
    }
    if (n <= 0)
        return -ENOENT;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -ENOENT;
    *slash = '\0';
    snprintf(out, cap, "%s/libheapspan.so", self);
    if (access(out, R_OK) == 0)
        return 0;
    snprintf(out, cap, "%s/../lib/heapspan/libheapspan.so", self);
    if (access(out, R_OK) == 0) {
        char *real = realpath(out, NULL);
        if (real != NULL) {
            snprintf(out, cap, "%s", real);
            free(real);
        }
        return 0;
    }
    return -ENOENT;
}

/* The file execvp would run for name: itself if it holds a '/', else the first
 * executable one of that name on PATH. false if there is none (execvp will say). */
static bool find_program(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/') != NULL) {
        snprintf(out, cap, "%s", name);
        return true;
    }
    const char *path = getenv("PATH");
    for (const char *p = path != NULL ? path : "/usr/local/bin:/bin:/usr/bin"; *p != '\0';) {
        size_t len = strcspn(p, ":");
        snprintf(out, cap, "%.*s%s%s", (int)len, p, len > 0 ? "/" : "", name);
        if (access(out, X_OK) == 0)
            return true;
        p += len + (p[len] == ':');
    }
    return false;
}

/* A program the shim cannot be preloaded into is named before it starts: 0 to go on,
 * or 2 after the message (a statically linked one, unless --force). */
static int check_program(const struct run_args *a)
{
    char path[PATH_MAX];
    struct ad_linkage l;

    if (!find_program(a->prog[0], path, sizeof(path)) || ad_linkage(path, &l) < 0 || !l.elf)
        return 0;
    if (l.is_static && !a->force) {
        opt_error("%s is statically linked: LD_PRELOAD cannot load the shim into it, so "
                  "nothing would be recorded; link it dynamically (against libc at least), "
                  "or pass --force to run it anyway",
                  a->prog[0]);
        return 2;
    }
    if (l.is_static)
        fprintf(stderr, "heapspan: %s is statically linked: nothing will be recorded\n",
                a->prog[0]);
    else if (!l.needs_libc)
        fprintf(stderr,
                "heapspan: %s does not link libc: only what it allocates through libc's "
                "malloc (or reports through include/heapspan.h) will be recorded\n",
                a->prog[0]);
    return 0;
}

/* An empty file the shim appends each log's path to; 0, or 2 after the message. */
static int make_manifest(char *path, size_t cap)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(path, cap, "%s/heapspan-manifest-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        opt_error("cannot create a temporary file %s: %s", path, strerror(errno));
        return 2;
    }
    close(fd);
    return 0;
}

/* The program's environment: the shim preloaded, and the options. 0 or -ENOMEM. */
static int set_environment(const struct run_args *a, const char *shim, const char *manifest)
{
    char *preload = NULL;
    const char *old = getenv("LD_PRELOAD");

    /* The shim goes first, so that it sees the calls a preloaded allocator (jemalloc)
     * would otherwise take before it. */
    if (asprintf(&preload, "%s%s%s", shim, old && *old ? ":" : "", old ? old : "") < 0)
        return -ENOMEM;
    setenv("LD_PRELOAD", preload, 1);
    free(preload);
    setenv(HS_ENV_OUTPUT, a->output, 1);
    setenv(HS_ENV_MANIFEST, manifest, 1);
    setenv(HS_ENV_QUIET, "1", 1);
    setenv(HS_ENV_FOLLOW_CHILDREN, a->follow ? "1" : "0", 1);
    if (a->sample != NULL)
        setenv(HS_ENV_SAMPLE_BYTES, a->sample, 1);
    if (a->depth != NULL)
        setenv(HS_ENV_DEPTH, a->depth, 1);
    if (a->marker != NULL)
        setenv(HS_ENV_MARKER_SIGNAL, a->marker, 1);
    if (a->interval != NULL)
        setenv(HS_ENV_SNAPSHOT_INTERVAL, a->interval, 1);
    if (a->on_rss != NULL)
        setenv(HS_ENV_SNAPSHOT_ON_RSS, a->on_rss, 1);
    return 0;
}

/* ---- the live export (--otlp) ---- */

struct live {
    const struct run_args *a;
    const char *manifest;
    struct otlp_config cfg;
    struct otlp_watch *w;
    bool off; /* the log could not be followed: only the end's export is tried */
    char log[PATH_MAX];
    struct otlp_interval *pending; /* intervals read, not yet sent */
    int n_pending, cap_pending;
    uint32_t first_pending; /* the index of pending[0] */
    bool failing;           /* the last send failed (its message was printed) */
    uint64_t dropped;       /* interval spans not sent */
};

static int add_pending(void *ctx, uint32_t index, const struct otlp_interval *iv)
{
    struct live *l = ctx;
    if (l->n_pending == 0)
        l->first_pending = index;
    if (l->n_pending == l->cap_pending) {
        int cap = l->cap_pending ? l->cap_pending * 2 : 16;
        struct otlp_interval *p = realloc(l->pending, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        l->pending = p;
        l->cap_pending = cap;
    }
    l->pending[l->n_pending++] = *iv;
    return 0;
}

/* The log the program writes: the manifest's first line, once its header is there. */
static bool find_log(struct live *l)
{
    FILE *m = fopen(l->manifest, "r");
    struct stat sb;
    bool ok = false;

    if (m == NULL)
        return false;
    if (fgets(l->log, sizeof(l->log), m) != NULL) {
        l->log[strcspn(l->log, "\n")] = '\0';
        ok = l->log[0] != '\0' && stat(l->log, &sb) == 0 && sb.st_size >= 64;
    }
    fclose(m);
    return ok;
}

/* Reads what the log holds now (follow: the program is running). */
static void live_poll(struct live *l, bool follow)
{
    char err[1024];
    int rc;

    if (l->off)
        return;
    if (l->w == NULL) {
        if (!find_log(l))
            return;
        if (otlp_watch_open(l->log, follow, &l->w, err, sizeof(err)) < 0) {
            opt_error("cannot follow the log for --otlp: %s", err);
            l->off = true;
            return;
        }
    }
    rc = otlp_watch_poll(l->w, add_pending, l, err, sizeof(err));
    if (rc < 0 && rc != -EAGAIN) {
        opt_error("cannot follow the log for --otlp: %s", rc == -ENOMEM ? "out of memory" : err);
        l->off = true;
    }
}

/* Sends the intervals read since the last send, as spans of the process's trace. */
static void live_send(struct live *l)
{
    struct otlp_trace t;
    char err[1536];

    if (l->n_pending == 0 || l->w == NULL)
        return;
    otlp_init(&t);
    otlp_watch_trace(l->w, &l->cfg, &t);
    for (int i = 0; i < l->n_pending; i++)
        otlp_add_interval(&t, l->first_pending + (uint32_t)i, &l->pending[i],
                          otlp_watch_sample_bytes(l->w));
    if (otlp_send(&l->cfg, &t, err, sizeof(err)) < 0) {
        /* One message while the backend stays away; the spans are dropped, as an
         * OpenTelemetry exporter drops a batch after its timeout. */
        if (!l->failing)
            opt_error("cannot send interval spans: %s; dropping them until it answers", err);
        l->failing = true;
        l->dropped += (uint64_t)l->n_pending;
    } else {
        if (l->failing)
            fprintf(stderr, "heapspan: sending interval spans again\n");
        l->failing = false;
    }
    otlp_fini(&t);
    l->first_pending += (uint32_t)l->n_pending;
    l->n_pending = 0;
}

/* The program has exited: the rest of the log, then the whole trace, as `heapspan
 * export --otlp` would send it (the intervals already sent left out). 0 or 2. */
static int live_finish(struct live *l)
{
    struct session_options o;
    struct session *s = NULL;
    struct otlp_trace t;
    char err[1536];
    int rc = 2;

    if (l->w != NULL)
        otlp_watch_stop_following(l->w);
    live_poll(l, false);
    struct otlp_interval tail;
    uint32_t ti;
    if (l->w != NULL && !l->off && otlp_watch_tail(l->w, &ti, &tail) &&
        add_pending(l, ti, &tail) < 0) {
        opt_error("out of memory");
        return 2;
    }
    if (l->log[0] == '\0' && !find_log(l)) {
        opt_error("--otlp: no log to send (the program wrote none)");
        return 2;
    }
    otlp_init(&t);
    opt_model_defaults(&o);
    o.path = l->log;
    if (session_open(&o, &s) < 0) {
        opt_error("%s", session_error(s));
        goto out;
    }
    const struct model *m = session_model(s);
    otlp_config_trace(&l->cfg, &t, m->process.pid, m->process.start_unix_ns, m->process.exe,
                      m->process.argc, m->process.argv);
    struct otlp_options opt = {
        .top = (int)l->a->otlp_top,
        .leak_threshold = l->a->leak_threshold,
        .intervals = l->pending,
        .n_intervals = l->n_pending,
        .first_interval = l->first_pending,
    };
    otlp_from_model(&t, m, &opt);
    if (otlp_send(&l->cfg, &t, err, sizeof(err)) < 0) {
        opt_error("cannot send the trace: %s", err);
        goto out;
    }
    if (l->dropped > 0)
        fprintf(stderr, "heapspan: %llu interval span%s could not be sent\n",
                (unsigned long long)l->dropped, l->dropped == 1 ? "" : "s");
    rc = 0;
out:
    otlp_fini(&t);
    session_close(s);
    return rc;
}

/* Runs the program and waits for it: 0 with its wait status in *status, or 2 after
 * the message. With l, follows its log meanwhile. */
static int run_program(char **prog, int *status, struct live *l)
{
    /* The terminal sends ^C and ^\ to the program too; this process waits for it to
     * finish (and flush) rather than leaving first. Other stop requests are passed on. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    fflush(NULL);
    child_pid = fork();
    if (child_pid < 0) {
        opt_error("fork: %s", strerror(errno));
        return 2;
    }
    if (child_pid == 0) {
        char pid[32];
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv(HS_ENV_ROOT_PID, pid, 1);
        execvp(prog[0], prog);
        opt_error("cannot run %s: %s", prog[0], strerror(errno));
        _exit(127);
    }
    signal(SIGTERM, forward);
    signal(SIGHUP, forward);
    for (;;) {
        pid_t r = waitpid(child_pid, status, l != NULL ? WNOHANG : 0);
        if (r == child_pid)
            return 0;
        if (r < 0 && errno != EINTR) {
            opt_error("waitpid: %s", strerror(errno));
            return 2;
        }
        if (r == 0) {
            /* The writer flushes every 100 ms: polling at 50 ms sends a marker's span
             * within about one cycle of its being written. */
            struct timespec ts = { 0, 50 * 1000 * 1000 };
            live_poll(l, true);
            live_send(l);
            nanosleep(&ts, NULL);
        }
    }
}

/* Prints `heapspan: wrote LOG` for each log the manifest names, once each. */
static void announce_logs(const char *manifest)
{
    FILE *m = fopen(manifest, "r");
    char line[PATH_MAX + 2];
    char **seen = NULL;
    int n_logs = 0;

    if (m != NULL) {
        while (fgets(line, sizeof(line), m) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            bool dup = false;
            for (int i = 0; i < n_logs && !dup; i++)
                dup = !strcmp(seen[i], line);
            /* A name is listed again when an exec'd image reuses it after the old one
             * was renamed; a name that no longer exists was renamed. */
            if (dup || access(line, F_OK) != 0)
                continue;
            char **s = realloc(seen, (size_t)(n_logs + 1) * sizeof(*s));
            if (s == NULL || (s[n_logs] = strdup(line)) == NULL)
                break;
            seen = s;
            fprintf(stderr, "heapspan: wrote %s\n", line);
            n_logs++;
        }
        fclose(m);
    }
    for (int i = 0; i < n_logs; i++)
        free(seen[i]);
    free(seen);
    if (n_logs == 0)
        fprintf(stderr, "heapspan: no log was written (the program is static, or not "
                        "dynamically linked against libc, or the output path is not "
                        "writable)\n");
}

int cmd_run(int argc, char **argv)
{
    struct run_args a = {
        .output = HS_DEFAULT_OUTPUT,
        .follow = true,
        .otlp = { .timeout = -1 },
        .otlp_interval = -1,
        .snapshot_interval = -1,
        .otlp_top = 10,
        .leak_threshold = -1,
    };
    char shim[PATH_MAX], manifest[PATH_MAX], err[1024];
    struct live live = { .a = &a, .manifest = manifest };
    int rc = parse(argc, argv, &a), status;

    if (rc >= 0)
        return rc;
    /* The exporter's settings are checked before the program starts. */
    if (a.otlp.endpoint != NULL && otlp_config_init(&live.cfg, &a.otlp, err, sizeof(err)) < 0) {
        opt_error("%s", err);
        otlp_config_fini(&live.cfg);
        return 2;
    }
    if (live.cfg.warning[0] != '\0')
        fprintf(stderr, "heapspan: warning: %s\n", live.cfg.warning);
    if (a.otlp.endpoint != NULL && live.cfg.disabled) {
        fprintf(stderr, "heapspan: OTEL_SDK_DISABLED=true: nothing is sent to %s\n", live.cfg.url);
        a.otlp.endpoint = NULL;
        a.interval = a.snapshot_interval >= 0 ? a.interval : NULL;
    }
    if (check_program(&a) != 0)
        return 2;
    if (find_shim(shim, sizeof(shim)) < 0) {
        opt_error("cannot find libheapspan.so next to this executable or in ../lib/heapspan; "
                  "build it with `make`, or set " HS_ENV_SHIM);
        return 2;
    }
    if (make_manifest(manifest, sizeof(manifest)) != 0)
        return 2;
    if (set_environment(&a, shim, manifest) < 0) {
        opt_error("out of memory");
        rc = 2;
    } else {
        rc = run_program(a.prog, &status, a.otlp.endpoint != NULL ? &live : NULL);
    }
    if (rc == 0)
        announce_logs(manifest);
    if (rc == 0 && a.otlp.endpoint != NULL)
        live_finish(&live); /* its failure is said; the program's status stands */
    unlink(manifest);
    otlp_watch_close(live.w);
    otlp_config_fini(&live.cfg);
    free(live.pending);
    if (rc != 0)
        return rc;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
