/*
 * diff_scale.c - how long `heapspan diff` takes on large inputs (bench/diff-scale.sh
 * runs it; not a timed test).
 *
 *   diff_scale [--sites N] [--depth D] [--runs K]      time analyzer/diff on two models
 *   diff_scale --logs DIR [--sites N] [--depth D]      write DIR/base.hsl and DIR/new.hsl
 *
 * The models are built in memory, as a snapshot reader or the aggregator would leave
 * them: N sites each, stacks of D frames over N/20 functions in N/200 files of three
 * modules. NEW keeps 96% of BASE's sites with other numbers, drops 2% (vanished),
 * adds 2% in new functions (new), and has every line of one file in ten moved down by
 * five (those sites match by function). Prints the best and the median of K runs of
 * diff_new, and the time to render the text (10 rows a list) and JSON (every site)
 * outputs to /dev/null.
 *
 * The logs (tests/lib/logbuild.h) hold N stacks of D return addresses and one
 * allocation each, without a module map, so frames stay module+offset and the time of
 * `heapspan diff` on them is reading, aggregating and diffing, not symbolizing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/diff.h"
#include "tests/lib/logbuild.h"
#include "viz/diff_render.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time too: the machine may be shared, and wall time then measures the others. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "diff_scale: out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- models ---- */

struct gen {
    int n_sites, depth, n_functions, n_files;
    const char **function_names, **file_names;
    const char *modules[3];
};

/* One model and the arrays it points into. */
struct built {
    struct model m;
    struct model_site *sites;
    struct model_frame *frames;
    const struct model_frame **stacks;
};

static const char *gen_name(const char *fmt, int i)
{
    char buf[64];
    snprintf(buf, sizeof(buf), fmt, i);
    char *s = strdup(buf);
    if (s == NULL)
        exit(2);
    return s;
}

/* A frame of function f (in file f / 10, module f % 3) at a line in it. */
static void frame_at(const struct gen *g, struct model_frame *fr, int f, int line)
{
    *fr = (struct model_frame){ .function = g->function_names[f],
                                .file = g->file_names[f % g->n_files],
                                .line = line,
                                .module = g->modules[f % 3],
                                .module_offset = (uint64_t)(f * 4096 + line) };
}

/* BASE, or (is_new) NEW: the same slots with the changes the header lists. */
static void build(const struct gen *g, struct built *b, bool is_new)
{
    int n = g->n_sites, d = g->depth;

    memset(b, 0, sizeof(*b));
    b->sites = xcalloc((size_t)n, sizeof(*b->sites));
    b->frames = xcalloc((size_t)n * (size_t)d, sizeof(*b->frames));
    b->stacks = xcalloc((size_t)n * (size_t)d, sizeof(*b->stacks));
    b->m.process.log_path = is_new ? "new.hsl" : "base.hsl";
    b->m.process.exe = "/opt/app/bin/app";
    b->m.process.ended = true;
    for (int i = 0; i < n; i++) {
        /* NEW: 2% of the slots get a new function (BASE's site there vanishes). */
        bool fresh = is_new && next_rand() % 50 == 0;
        int f = fresh ? g->n_functions - 1 - (int)(next_rand() % 64) : (int)(i % (g->n_functions - 64));
        int shift_file = (f % g->n_files) % 10 == 3 && is_new ? 5 : 0;
        struct model_frame *fr = &b->frames[(size_t)i * (size_t)d];
        /* The innermost frame makes the site: its function and a line unique to i. */
        frame_at(g, &fr[0], f, 10 + i / (g->n_functions - 64) + shift_file);
        uint64_t caller_seed = (uint64_t)i * 0x2545f4914f6cdd1dull;
        for (int k = 1; k < d; k++) {
            caller_seed = caller_seed * 6364136223846793005ull + 1442695040888963407ull;
            int cf = (int)((caller_seed >> 33) % (uint64_t)(g->n_functions - 64));
            int shift = (cf % g->n_files) % 10 == 3 && is_new ? 5 : 0;
            frame_at(g, &fr[k], cf, 20 + (int)((caller_seed >> 17) % 200) + shift);
        }
        for (int k = 0; k < d; k++)
            b->stacks[(size_t)i * (size_t)d + (size_t)k] = &fr[k];
        struct model_site *s = &b->sites[i];
        s->n_frames = d;
        s->frames = &b->stacks[(size_t)i * (size_t)d];
        double blocks = (double)(1 + next_rand() % 1000), size = (double)(16 << (next_rand() % 8));
        s->st.allocations = blocks * (1 + (double)(next_rand() % 4));
        s->st.allocated_bytes = s->st.allocations * size;
        s->st.peak_live_bytes = blocks * size;
        s->st.leaked_bytes = s->st.live_bytes = (double)(next_rand() % 3) * size;
        s->st.temporary_allocations = (double)(next_rand() % 100);
        b->m.totals.allocations += s->st.allocations;
        b->m.totals.allocated_bytes += s->st.allocated_bytes;
        b->m.totals.peak_live_bytes += s->st.peak_live_bytes;
        b->m.totals.leaked_bytes += s->st.leaked_bytes;
        b->m.totals.live_bytes += s->st.live_bytes;
        b->m.totals.temporary_allocations += s->st.temporary_allocations;
    }
    b->m.n_sites = n;
    b->m.sites = b->sites;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int time_models(const struct gen *g, int runs)
{
    struct built base, cur;
    double t0 = now_s();
    build(g, &base, false);
    build(g, &cur, true);
    double built_s = now_s() - t0;
    struct model_budget bud;
    if (!diff_parse_budget("10%,1MiB", MODEL_METRIC_PEAK, &bud))
        return 2;
    struct diff_options o = { .metric = MODEL_METRIC_PEAK, .n_budgets = 1, .budgets = &bud };
    double *t = xcalloc((size_t)runs, sizeof(*t)), *c = xcalloc((size_t)runs, sizeof(*c));
    struct model_diff *d = NULL;

    for (int r = 0; r < runs; r++) {
        diff_free(d);
        t0 = now_s();
        double c0 = cpu_s();
        d = diff_new(&base.m, &cur.m, &o);
        t[r] = now_s() - t0;
        c[r] = cpu_s() - c0;
        if (d == NULL) {
            fprintf(stderr, "diff_scale: out of memory\n");
            return 2;
        }
    }
    qsort(t, (size_t)runs, sizeof(*t), cmp_double);
    qsort(c, (size_t)runs, sizeof(*c), cmp_double);
    FILE *null = fopen("/dev/null", "w");
    if (null == NULL)
        return 2;
    struct diff_render_options top10 = { 10 }, all = { 0 };
    t0 = now_s();
    int err = diff_render_write(diff_render_find("text"), null, d, &top10);
    double text_s = now_s() - t0;
    t0 = now_s();
    err = err ? err : diff_render_write(diff_render_find("json"), null, d, &all);
    double json_s = now_s() - t0;
    fclose(null);
    if (err < 0)
        return 2;
    printf("models: %d sites each, %d frames a site, %d functions, %d files (built in %.2f s)\n",
           g->n_sites, g->depth, g->n_functions, g->n_files, built_s);
    printf("matched: %d exactly, %d by function, %d new, %d vanished; %d changed\n", d->n_exact,
           d->n_function, d->n_new, d->n_vanished, d->n_changed);
    printf("diff_new: best %.3f s, median %.3f s of %d runs (CPU: best %.3f s, median %.3f s)\n",
           t[0], t[runs / 2], runs, c[0], c[runs / 2]);
    printf("render: text (10 rows a list) %.3f s, json (every site) %.3f s\n", text_s, json_s);
    diff_free(d);
    free(t);
    free(c);
    return 0;
}

/* ---- logs ---- */

#define LOG_CHUNK_EVENTS 4096

static int write_log(const struct gen *g, const char *path, bool is_new)
{
    struct lb_log l;
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf c = { 0 };
    const char *argv[] = { "app" };
    uint64_t t0 = LB_START_TICKS;
    int n = g->n_sites, d = g->depth;
    uint64_t *pcs = xcalloc((size_t)d, sizeof(*pcs));
    struct lf_event *ev = xcalloc((size_t)n, sizeof(*ev));

    lb_init(&l, &f);
    lb_meta_process(&c, "/opt/app/bin/app", 1, argv);
    lb_meta_clock(&c, t0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, t0 + 1000000, 5001000000ull, 1700000000001000000ull);
    for (int i = 0; i < n; i++) {
        /* NEW: 2% of the stacks differ in their innermost pc (new and vanished). */
        bool other = is_new && i % 50 == 7;
        for (int k = 0; k < d; k++)
            pcs[k] = 0x400000u + (uint64_t)(k == 0 ? i * 16 + (other ? 8 : 0) : (i * 7 + k) % 4096 * 64);
        lb_meta_stack(&c, (uint32_t)i + 1, (uint32_t)d, pcs);
        uint64_t size = 16u << ((i * 2654435761u >> 7) % 8);
        if (is_new && i % 10 == 1)
            size *= 2;
        ev[i] = lb_ev_alloc(LF_FN_MALLOC, t0 + 10 + (uint64_t)i, 0x10000000u + (uint64_t)i * 4096,
                            size, (uint32_t)i + 1);
    }
    lb_meta_chunk(&l, &c, LB_ZSTD_CHUNK);
    lb_buf_fini(&c);
    for (int i = 0; i < n; i += LOG_CHUNK_EVENTS) /* as the writer cuts a thread's events */
        lb_events_chunk(&l, 1, t0 + 10 + (uint64_t)i, ev + i,
                        n - i < LOG_CHUNK_EVENTS ? n - i : LOG_CHUNK_EVENTS, LB_ZSTD_COLUMNS);
    lb_meta_end(&c, t0 + 20 + (uint64_t)n, 0, LF_END_EXIT);
    lb_meta_chunk(&l, &c, 0);
    lb_buf_fini(&c);
    lb_close(&l);
    int err = lb_write(&l, path);
    lb_fini(&l);
    free(pcs);
    free(ev);
    if (err < 0)
        fprintf(stderr, "diff_scale: %s: %s\n", path, strerror(-err));
    return err < 0 ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct gen g = { .n_sites = 100000, .depth = 12 };
    const char *logs = NULL;
    int runs = 5;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sites") && i + 1 < argc)
            g.n_sites = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
            g.depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--logs") && i + 1 < argc)
            logs = argv[++i];
        else {
            fprintf(stderr, "usage: diff_scale [--sites N] [--depth D] [--runs K] [--logs DIR]\n");
            return 2;
        }
    }
    if (g.n_sites < 1000 || g.depth < 1 || runs < 1)
        return 2;
    if (logs != NULL) {
        char a[4096], b[4096];
        snprintf(a, sizeof(a), "%s/base.hsl", logs);
        snprintf(b, sizeof(b), "%s/new.hsl", logs);
        return write_log(&g, a, false) || write_log(&g, b, true) ? 2 : 0;
    }
    g.n_functions = g.n_sites / 20 + 64;
    g.n_files = g.n_functions / 10;
    g.function_names = xcalloc((size_t)g.n_functions, sizeof(char *));
    g.file_names = xcalloc((size_t)g.n_files, sizeof(char *));
    for (int i = 0; i < g.n_functions; i++)
        g.function_names[i] = gen_name("ns::component::function_%d", i);
    for (int i = 0; i < g.n_files; i++)
        g.file_names[i] = gen_name("/src/app/module/file_%d.cc", i);
    g.modules[0] = "app";
    g.modules[1] = "libcore.so.3";
    g.modules[2] = "libnet.so";
    return time_models(&g, runs);
}
