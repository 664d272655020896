/* cmd_run.c - `heapspan run`: start a program with the shim preloaded. */
#include "cli/commands.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyzer/allocdetect.h"
#include "cli/opts.h"
#include "format/bytesize.h"
#include "format/settings.h"

static const char run_usage[] =
    "usage: heapspan run [-o LOG] [--sample BYTES] [--depth N] [--no-follow-children]\n"
    "                    [--marker-signal SIG] [--snapshot-interval SECONDS]\n"
    "                    [--snapshot-on-rss SIZE] [--python-allocator malloc|pymalloc]\n"
    "                    [--force] -- PROG [ARGS...]\n"
    "Runs PROG with libheapspan.so preloaded, records every allocation to LOG\n"
    "(default heapspan.PID.hsl; %p in LOG is the pid, %e the program name) and exits\n"
    "with PROG's exit status. Children the program forks or execs write LOG-derived\n"
    "logs with their pid in the name, unless --no-follow-children. A statically linked\n"
    "PROG cannot be recorded, and is not run unless --force.\n"
    "--python-allocator malloc runs a Python program with PYTHONMALLOC=malloc, so that\n"
    "each Python object is a malloc call of its own (pymalloc, CPython's default, hands\n"
    "out small objects from 256 KiB arenas, which are all a malloc-level profiler sees).\n";

/* The options, as the strings the shim reads from its environment (NULL: its default). */
struct run_args {
    const char *output, *sample, *depth, *marker, *interval, *on_rss;
    const char *python_allocator; /* PYTHONMALLOC for the program, or NULL: as it is */
    bool follow, force;
    char **prog; /* PROG and its arguments, NULL-terminated */
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
        { "python-allocator", required_argument, NULL, 'P' },
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
            a->interval = optarg;
            break;
        case 'r': /* checked here; the shim parses it again from the environment */
            if (!hs_parse_bytes(optarg, &bytes))
                return opt_bad_value(&p, "a byte count like 512M or 2G");
            a->on_rss = optarg;
            break;
        case 'f':
            a->force = true;
            break;
        case 'P':
            if (strcmp(optarg, "malloc") != 0 && strcmp(optarg, "pymalloc") != 0)
                return opt_bad_value(&p, "malloc (every Python object through malloc) or "
                                         "pymalloc (CPython's default)");
            a->python_allocator = optarg;
            break;
        }
    }
    if (optind >= argc) {
        opt_error("no program given");
        return opt_usage_error(&p);
    }
    a->prog = argv + optind;
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
    if (a->python_allocator != NULL)
        setenv("PYTHONMALLOC", a->python_allocator, 1);
    return 0;
}

/* Runs the program and waits for it: 0 with its wait status in *status, or 2 after
 * the message. */
static int run_program(char **prog, int *status)
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
    while (waitpid(child_pid, status, 0) < 0)
        if (errno != EINTR) {
            opt_error("waitpid: %s", strerror(errno));
            return 2;
        }
    return 0;
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
    struct run_args a = { .output = HS_DEFAULT_OUTPUT, .follow = true };
    char shim[PATH_MAX], manifest[PATH_MAX];
    int rc = parse(argc, argv, &a), status;

    if (rc >= 0)
        return rc;
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
        rc = run_program(a.prog, &status);
    }
    if (rc == 0)
        announce_logs(manifest);
    unlink(manifest);
    if (rc != 0)
        return rc;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
