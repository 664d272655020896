/* progress.c - see progress.h. */
#include "cli/progress.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    struct session_progress p;
    const char *command, *path;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop, drawn, debuginfod;
} pg = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "12.3 MB": the size a person reads at a glance. */
static void human(char *out, size_t cap, uint64_t bytes)
{
    static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
    double v = (double)bytes;
    int u = 0;

    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(out, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

static void draw(double elapsed)
{
    int phase = __atomic_load_n(&pg.p.phase, __ATOMIC_RELAXED);
    uint64_t done = __atomic_load_n(&pg.p.done, __ATOMIC_RELAXED);
    uint64_t total = __atomic_load_n(&pg.p.total, __ATOMIC_RELAXED);
    char line[512], a[32], b[32];

    if (phase == SESSION_READING && total > 0) {
        human(a, sizeof(a), done);
        human(b, sizeof(b), total);
        snprintf(line, sizeof(line), "heapspan %s: reading %s: %u%% (%s of %s), %.0f s", pg.command,
                 pg.path, (unsigned)(done * 100 / total), a, b, elapsed);
    } else if (phase == SESSION_READING) {
        snprintf(line, sizeof(line), "heapspan %s: reading %s, %.0f s", pg.command, pg.path,
                 elapsed);
    } else if (phase == SESSION_SYMBOLIZING) {
        snprintf(line, sizeof(line), "heapspan %s: read %s; symbolizing (debug info%s), %.0f s",
                 pg.command, pg.path, pg.debuginfod ? ", asking debuginfod" : "", elapsed);
    } else {
        snprintf(line, sizeof(line), "heapspan %s: %s, %.0f s", pg.command, pg.path, elapsed);
    }
    /* One write per redraw: the line never interleaves with itself. */
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    pg.drawn = true;
}

static void *watch(void *arg)
{
    double start = now_s();
    (void)arg;

    pthread_mutex_lock(&pg.mu);
    while (!pg.stop) {
        double t = now_s() - start;
        if (t >= PG_AFTER_S)
            draw(t);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&pg.cv, &pg.mu, &until);
    }
    pthread_mutex_unlock(&pg.mu);
    return NULL;
}

void pg_begin(const char *command, struct session_options *o)
{
    sigset_t all, old;

    if (pg.running || !isatty(STDERR_FILENO))
        return;
    memset(&pg.p, 0, sizeof(pg.p));
    pg.command = command;
    pg.path = o->path;
    pg.debuginfod = o->debuginfod;
    pg.stop = false;
    pg.drawn = false;
    o->progress = &pg.p;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pg.running = pthread_create(&pg.thread, NULL, watch, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!pg.running)
        o->progress = NULL;
}

void pg_end(void)
{
    if (!pg.running)
        return;
    pthread_mutex_lock(&pg.mu);
    pg.stop = true;
    pthread_cond_signal(&pg.cv);
    pthread_mutex_unlock(&pg.mu);
    pthread_join(pg.thread, NULL);
    pg.running = false;
    if (pg.drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
