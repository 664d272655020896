/*
 * flame_scale.c - the flame graph and the HTML report at scale (bench/flame-scale.sh
 * runs it, then times the pages in Chromium; not a timed test).
 *
 *   flame_scale [--stacks N] [--out DIR]
 *
 * Builds a model in memory, as the aggregator would leave it, of N unique stacks
 * (default 100,000), 8 to 40 frames deep, over 20,000 functions in three modules and
 * the C library: each stack is a random walk down a call graph where a function at a
 * depth calls one of four callees chosen by its path, so stacks share their roots as
 * real programs' do. Values have a heavy tail (a few sites hold most bytes). Writes
 * DIR/flame.html, DIR/flame.svg, DIR/flame-diff.html (against a BASE with a third of
 * the values changed) and DIR/report.html, and prints each file's size and the time to
 * write it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analyzer/model.h"
#include "viz/flame.h"
#include "viz/render.h"

#define N_FUNCTIONS 20000
#define BRANCH      4

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

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "flame_scale: out of memory\n");
        exit(2);
    }
    return p;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

struct built {
    struct model m;
    struct model_site *sites;
    struct model_frame *frames; /* one per function: frames are shared, as interned */
    const struct model_frame **stacks;
};

static void build(struct built *b, int n, bool base)
{
    static const char *const modules[] = { "app", "libengine.so.3", "libplugin.so", "libc.so.6" };
    const int max_depth = 40;

    memset(b, 0, sizeof(*b));
    b->sites = xcalloc((size_t)n, sizeof(*b->sites));
    b->frames = xcalloc(N_FUNCTIONS, sizeof(*b->frames));
    b->stacks = xcalloc((size_t)n * max_depth, sizeof(*b->stacks));
    for (int f = 0; f < N_FUNCTIONS; f++) {
        char name[96], file[96];
        int mod = f < 50 ? 3 : f % 3;
        snprintf(name, sizeof(name), "%s::Component%d::handle_%d", mod == 1 ? "engine" : "app",
                 f / 16, f);
        snprintf(file, sizeof(file), "/src/%s/component_%d.cc", modules[mod], f / 16);
        b->frames[f] = (struct model_frame){ strdup(name), strdup(file), 10 + f % 300,
                                             modules[mod], (uint64_t)f * 64, f % 17 == 5, NULL, NULL, NULL,
                                             MODEL_FRAME_CODE };
    }
    b->m.process.log_path = base ? "base.hsl" : "app.hsl";
    b->m.process.exe = "/opt/app/bin/app";
    b->m.process.ended = true;
    /* The same stacks for BASE and NEW: the generator restarts. */
    rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        int depth = 8 + (int)(next_rand() % (max_depth - 8 + 1));
        const struct model_frame **st = &b->stacks[(size_t)i * max_depth];
        uint64_t path = 1;
        for (int d = 0; d < depth; d++) {
            /* Near the root few choices (main, a thread's start), then four callees per
             * caller; the last frame's choice is unique to the stack. */
            uint64_t choice = d < 2 ? 0 : d + 1 < depth ? next_rand() % BRANCH : (uint64_t)i;
            path = mix(path, choice);
            int f = d == 0 ? 50 : d == 1 ? 51 + (int)(path % 4) : 52 + (int)(path % (N_FUNCTIONS - 52));
            st[depth - 1 - d] = &b->frames[f]; /* innermost first */
        }
        if (next_rand() % 3 == 0) /* an allocation inside the C library */
            st[0] = &b->frames[next_rand() % 50];
        struct model_site *s = &b->sites[i];
        s->n_frames = depth;
        s->frames = st;
        double u = (double)(next_rand() % 1000000 + 1) / 1e6;
        double blocks = floor(1 + 10 / pow(u, 0.9)), size = (double)(16 << (next_rand() % 10));
        s->st.allocations = blocks * (1 + (double)(next_rand() % 4));
        s->st.allocated_bytes = s->st.allocations * size;
        s->st.peak_live_bytes = blocks * size;
        s->st.leaked_bytes = next_rand() % 5 == 0 ? size * (double)(next_rand() % 3) : 0;
        s->st.leaked_allocations = s->st.leaked_bytes / size;
        s->st.temporary_allocations = (double)(next_rand() % 100);
        if (base && next_rand() % 3 == 0) {
            s->st.peak_live_bytes *= 0.5 + (double)(next_rand() % 100) / 100;
            s->st.leaked_bytes = 0;
        }
        b->m.totals.allocations += s->st.allocations;
        b->m.totals.allocated_bytes += s->st.allocated_bytes;
        b->m.totals.peak_live_bytes += s->st.peak_live_bytes;
        b->m.totals.leaked_bytes += s->st.leaked_bytes;
        b->m.totals.temporary_allocations += s->st.temporary_allocations;
    }
    b->m.n_sites = n;
    b->m.sites = b->sites;
    b->m.totals.last_ns = 2e9;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

typedef int (*write_fn)(FILE *out, const struct built *a, const struct built *b);

static int w_flame(FILE *o, const struct built *a, const struct built *b)
{
    (void)b;
    struct flame_options fo = { .metric = FLAME_PEAK };
    return flame_html(o, &a->m, &fo);
}

static int w_svg(FILE *o, const struct built *a, const struct built *b)
{
    (void)b;
    struct flame_options fo = { .metric = FLAME_PEAK };
    return flame_svg(o, &a->m, &fo);
}

static int w_diff(FILE *o, const struct built *a, const struct built *b)
{
    struct flame_options fo = { .metric = FLAME_PEAK };
    return flame_diff_html(o, &b->m, &a->m, &fo);
}

static int w_report(FILE *o, const struct built *a, const struct built *b)
{
    (void)b;
    struct render_options ro = { .top = 10 };
    return render_html(o, &a->m, &ro);
}

static int write_one(const char *dir, const char *name, write_fn fn, const struct built *a,
                     const struct built *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *o = fopen(path, "w");
    if (o == NULL) {
        perror(path);
        return 2;
    }
    double t0 = now_s();
    int err = fn(o, a, b);
    if (fclose(o) != 0 || err < 0) {
        fprintf(stderr, "flame_scale: cannot write %s\n", path);
        return 2;
    }
    printf("%-16s %8.2f MB  written in %.3f s\n", name, (double)file_size(path) / 1e6,
           now_s() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 100000;
    const char *dir = ".";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stacks") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: flame_scale [--stacks N] [--out DIR]\n");
            return 2;
        }
    }
    struct built cur, base;
    double t0 = now_s();
    build(&cur, n, false);
    build(&base, n, true);
    printf("model: %d unique stacks, 8 to 40 frames, %d functions (built in %.2f s)\n", n,
           N_FUNCTIONS, now_s() - t0);
    if (write_one(dir, "flame.html", w_flame, &cur, &base) ||
        write_one(dir, "flame.svg", w_svg, &cur, &base) ||
        write_one(dir, "flame-diff.html", w_diff, &cur, &base) ||
        write_one(dir, "report.html", w_report, &cur, &base))
        return 2;
    return 0;
}
