/* cmd_run.c - `heapspan run`: start a program with the shim preloaded. */
#include "cli/commands.h"

#include "format/bytesize.h"
#include "format/settings.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char run_usage[] =
    "usage: heapspan run [-o LOG] [--sample BYTES] [--depth N] [--no-follow-children]\n"
    "                    [--marker-signal SIG] [--snapshot-interval SECONDS] -- PROG [ARGS...]\n"
    "Runs PROG with libheapspan.so preloaded, records every allocation to LOG\n"
    "(default heapspan.PID.hsl; %p in LOG is the pid, %e the program name) and exits\n"
    "with PROG's exit status. Children the program forks or execs write LOG-derived\n"
    "logs with their pid in the name, unless --no-follow-children.\n";

static pid_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
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

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "sample", required_argument, NULL, 's' },
        { "depth", required_argument, NULL, 'd' },
        { "no-follow-children", no_argument, NULL, 'n' },
        { "marker-signal", required_argument, NULL, 'm' },
        { "snapshot-interval", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *output = HS_DEFAULT_OUTPUT, *sample = NULL, *depth = NULL, *marker = NULL,
               *interval = NULL;
    bool follow = true;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 's': {
            uint64_t bytes; /* the shim parses it again from the environment */
            if (!hs_parse_bytes(optarg, &bytes)) {
                fprintf(stderr,
                        "heapspan run: --sample %s: expected a byte count like "
                        "524288 or 512K\n",
                        optarg);
                return 2;
            }
            sample = optarg;
            break;
        }
        case 'd': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > HS_MAX_DEPTH) {
                fprintf(stderr, "heapspan run: --depth %s: expected 1 to %d frames\n", optarg,
                        HS_MAX_DEPTH);
                return 2;
            }
            depth = optarg;
            break;
        }
        case 'n':
            follow = false;
            break;
        case 'm':
            marker = optarg;
            break;
        case 'i':
            interval = optarg;
            break;
        case 'h':
            fputs(run_usage, stdout);
            return 0;
        default:
            fputs(run_usage, stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fputs("heapspan run: no program given\n", stderr);
        fputs(run_usage, stderr);
        return 2;
    }

    char shim[PATH_MAX];
    if (find_shim(shim, sizeof(shim)) < 0) {
        fprintf(stderr, "heapspan run: cannot find libheapspan.so next to this executable or "
                        "in ../lib/heapspan; build it with `make`, or set " HS_ENV_SHIM "\n");
        return 2;
    }

    const char *tmp = getenv("TMPDIR");
    char manifest[PATH_MAX];
    snprintf(manifest, sizeof(manifest), "%s/heapspan-manifest-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int mfd = mkstemp(manifest);
    if (mfd < 0) {
        fprintf(stderr, "heapspan run: cannot create a temporary file %s: %s\n", manifest,
                strerror(errno));
        return 2;
    }
    close(mfd);

    char *preload = NULL;
    const char *old = getenv("LD_PRELOAD");
    /* The shim goes first, so that it sees the calls a preloaded allocator (jemalloc)
     * would otherwise take before it. */
    if (asprintf(&preload, "%s%s%s", shim, old && *old ? ":" : "", old ? old : "") < 0)
        return 2;
    setenv("LD_PRELOAD", preload, 1);
    free(preload);
    setenv(HS_ENV_OUTPUT, output, 1);
    setenv(HS_ENV_MANIFEST, manifest, 1);
    setenv(HS_ENV_QUIET, "1", 1);
    setenv(HS_ENV_FOLLOW_CHILDREN, follow ? "1" : "0", 1);
    if (sample != NULL)
        setenv(HS_ENV_SAMPLE_BYTES, sample, 1);
    if (depth != NULL)
        setenv(HS_ENV_DEPTH, depth, 1);
    if (marker != NULL)
        setenv(HS_ENV_MARKER_SIGNAL, marker, 1);
    if (interval != NULL)
        setenv(HS_ENV_SNAPSHOT_INTERVAL, interval, 1);

    /* The terminal sends ^C and ^\ to the program too; this process waits for it to
     * finish (and flush) rather than leaving first. Other stop requests are passed on. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    fflush(NULL);
    child_pid = fork();
    if (child_pid < 0) {
        fprintf(stderr, "heapspan run: fork: %s\n", strerror(errno));
        unlink(manifest);
        return 2;
    }
    if (child_pid == 0) {
        char pid[32];
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv(HS_ENV_ROOT_PID, pid, 1);
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "heapspan run: cannot run %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    signal(SIGTERM, forward);
    signal(SIGHUP, forward);

    int status;
    while (waitpid(child_pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "heapspan run: waitpid: %s\n", strerror(errno));
            unlink(manifest);
            return 2;
        }

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
    unlink(manifest);
    if (n_logs == 0)
        fprintf(stderr, "heapspan: no log was written (the program is static, or not "
                        "dynamically linked against libc, or the output path is not "
                        "writable)\n");
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
