/*
 * test_diff.c - unit tests for analyzer/diff.c: models built by hand (a few sites with
 * frames known by construction), diffed, and every match, figure, ranking and budget
 * checked exactly; the noise band against its formula (diff.h).
 *
 * Built with ASan and UBSan and linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc: each allocation diff_new makes fails in turn, and must come back as
 * NULL with nothing leaked (LeakSanitizer checks at exit).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/diff.h"

/* ---- allocation failures on purpose ---- */

static int fail_in = -1; /* calls until the one that fails; -1: none */
static bool failed;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static bool fail_now(void)
{
    if (fail_in < 0 || fail_in-- > 0)
        return false;
    failed = true;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

/* ---- models by hand ---- */

#define T_MAX_SITES  16
#define T_MAX_FRAMES 64

struct tmodel {
    struct model m;
    struct model_site sites[T_MAX_SITES];
    struct model_frame frames[T_MAX_FRAMES];
    const struct model_frame *stacks[T_MAX_SITES][8];
    int n_frames;
};

static void tm_init(struct tmodel *t, const char *exe)
{
    memset(t, 0, sizeof(*t));
    t->m.process.log_path = "t.hsl";
    t->m.process.exe = exe;
    t->m.process.ended = true;
    t->m.sites = t->sites;
}

/* A frame "function@file:line" in module, or an unknown one (function NULL) at offset
 * line. */
static const struct model_frame *tm_frame(struct tmodel *t, const char *function, const char *file,
                                          int line, const char *module)
{
    assert_true(t->n_frames < T_MAX_FRAMES);
    struct model_frame *f = &t->frames[t->n_frames++];
    *f = (struct model_frame){ .function = function,
                               .file = file,
                               .line = function ? line : 0,
                               .module = module,
                               .module_offset = function ? 0 : (uint64_t)line };
    return f;
}

/* A site of n frames (innermost first) holding live bytes in blocks of size bytes,
 * and its totals added to the model's. */
static struct model_site *tm_site(struct tmodel *t, double live, double size, int n, ...)
{
    va_list ap;
    assert_true(t->m.n_sites < T_MAX_SITES);
    int i = t->m.n_sites++;
    struct model_site *s = &t->sites[i];

    va_start(ap, n);
    for (int k = 0; k < n; k++)
        t->stacks[i][k] = va_arg(ap, const struct model_frame *);
    va_end(ap);
    s->n_frames = n;
    s->frames = t->stacks[i];
    s->st.allocations = live / size;
    s->st.allocated_bytes = live;
    s->st.leaked_bytes = live;
    s->st.leaked_allocations = live / size;
    s->st.live_bytes = live; /* at the model's point: the end, as leaked */
    s->st.live_blocks = live / size;
    s->st.peak_live_bytes = live;
    t->m.totals.allocations += s->st.allocations;
    t->m.totals.allocated_bytes += live;
    t->m.totals.leaked_bytes += live;
    t->m.totals.live_bytes += live;
    t->m.totals.peak_live_bytes += live;
    return s;
}

static struct diff_options opts(enum model_metric m)
{
    return (struct diff_options){ .metric = m };
}

/* The diff row holding BASE's site i (or, i < 0, NEW's site -i-1). */
static const struct model_diff_site *row_of(const struct model_diff *d, const struct tmodel *t,
                                            int i)
{
    for (int r = 0; r < d->n_sites; r++) {
        const struct model_site *s = i >= 0 ? d->sites[r].before : d->sites[r].after;
        if (s == &t->sites[i >= 0 ? i : -i - 1])
            return &d->sites[r];
    }
    fail_msg("no row for site %d", i);
    return NULL;
}

/* ---- matching ---- */

/* Two models of the same program: every site matches exactly; nothing changed. */
static void same_program_matches_exactly(void **state)
{
    (void)state;
    struct tmodel b, a;
    for (struct tmodel *t = &b; t != NULL; t = t == &b ? &a : NULL) {
        tm_init(t, "/src/prog");
        const struct model_frame *mn = tm_frame(t, "main", "/src/prog.c", 40, "prog");
        tm_site(t, 4096, 64, 2, tm_frame(t, "load", "/src/prog.c", 10, "prog"), mn);
        tm_site(t, 1000, 100, 2, tm_frame(t, "parse", "/src/prog.c", 20, "prog"), mn);
    }
    struct diff_options o = opts(MODEL_METRIC_PEAK);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_int_equal(d->n_sites, 2);
    assert_int_equal(d->n_exact, 2);
    assert_int_equal(d->n_function + d->n_new + d->n_vanished + d->n_changed, 0);
    assert_int_equal(d->n_grown + d->n_shrunk + d->n_new_listed + d->n_vanished_listed, 0);
    assert_int_equal(row_of(d, &b, 1)->after, &a.sites[1]);
    assert_true(d->totals[MODEL_METRIC_PEAK].delta == 0);
    assert_true(d->totals[MODEL_METRIC_PEAK].percent == 0);
    diff_free(d);
}

/* Five lines added above every function: all sites still match, by function, and the
 * diff is empty. */
static void moved_lines_match_by_function(void **state)
{
    (void)state;
    struct tmodel b, a;
    for (int shift = 0; shift <= 5; shift += 5) {
        struct tmodel *t = shift ? &a : &b;
        tm_init(t, "/src/prog");
        const struct model_frame *mn = tm_frame(t, "main", "/src/prog.c", 40 + shift, "prog");
        /* Two sites in one function: they must pair in line order. */
        tm_site(t, 4096, 64, 2, tm_frame(t, "load", "/src/prog.c", 10 + shift, "prog"), mn);
        tm_site(t, 2048, 64, 2, tm_frame(t, "load", "/src/prog.c", 12 + shift, "prog"), mn);
        tm_site(t, 999, 1, 2, tm_frame(t, "malloc_in_libc", "libc.c", 7, "libc.so.6"),
                tm_frame(t, "parse", "/src/prog.c", 20 + shift, "prog"));
    }
    struct diff_options o = opts(MODEL_METRIC_LIVE);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_int_equal(d->n_function, 3);
    assert_int_equal(d->n_exact + d->n_new + d->n_vanished + d->n_changed, 0);
    assert_ptr_equal(row_of(d, &b, 0)->after, &a.sites[0]);
    assert_ptr_equal(row_of(d, &b, 1)->after, &a.sites[1]);
    assert_int_equal(row_of(d, &b, 1)->match, MODEL_MATCH_FUNCTION);
    diff_free(d);
}

/* Unequal groups: the shift most pairs agree on pairs them; the rest is new. */
static void moved_lines_with_a_new_site(void **state)
{
    (void)state;
    struct tmodel b, a;
    tm_init(&b, "/src/prog");
    tm_init(&a, "/src/prog");
    tm_site(&b, 100, 1, 1, tm_frame(&b, "f", "f.c", 10, "prog"));
    tm_site(&b, 200, 1, 1, tm_frame(&b, "f", "f.c", 12, "prog"));
    tm_site(&a, 300, 1, 1, tm_frame(&a, "f", "f.c", 8, "prog")); /* new, above */
    tm_site(&a, 100, 1, 1, tm_frame(&a, "f", "f.c", 15, "prog"));
    tm_site(&a, 200, 1, 1, tm_frame(&a, "f", "f.c", 17, "prog"));
    struct diff_options o = opts(MODEL_METRIC_LIVE);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_ptr_equal(row_of(d, &b, 0)->after, &a.sites[1]);
    assert_ptr_equal(row_of(d, &b, 1)->after, &a.sites[2]);
    assert_int_equal(row_of(d, &a, -1)->match, MODEL_MATCH_NEW);
    assert_int_equal(d->n_changed, 1);
    assert_int_equal(d->n_grown, 1);
    assert_int_equal(d->n_new_listed, 1);
    assert_ptr_equal(d->sites[d->grown[0]].after, &a.sites[0]);
    diff_free(d);
}

/* A site whose callers differ is another site; an unknown frame matches only at the
 * same offset; a renamed program and another version of a shared object still match;
 * files compare by base name. */
static void what_frames_compare_by(void **state)
{
    (void)state;
    struct tmodel b, a;
    tm_init(&b, "/build-1/prog-old");
    tm_init(&a, "/build-2/prog-new");
    tm_site(&b, 10, 1, 2, tm_frame(&b, "f", "/build-1/f.c", 3, "prog-old"),
            tm_frame(&b, "g", "/build-1/g.c", 4, "libg.so.1.2"));
    tm_site(&a, 10, 1, 2, tm_frame(&a, "f", "/build-2/f.c", 3, "prog-new"),
            tm_frame(&a, "g", "/build-2/g.c", 4, "libg.so.1.3"));
    tm_site(&b, 20, 1, 1, tm_frame(&b, NULL, NULL, 0x100, "libx.so"));
    tm_site(&a, 20, 1, 1, tm_frame(&a, NULL, NULL, 0x140, "libx.so"));
    tm_site(&b, 30, 1, 2, tm_frame(&b, "h", "h.c", 1, "prog-old"),
            tm_frame(&b, "caller1", "h.c", 9, "prog-old"));
    tm_site(&a, 30, 1, 2, tm_frame(&a, "h", "h.c", 1, "prog-new"),
            tm_frame(&a, "caller2", "h.c", 9, "prog-new"));
    struct diff_options o = opts(MODEL_METRIC_LIVE);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_int_equal(row_of(d, &b, 0)->match, MODEL_MATCH_EXACT);
    assert_int_equal(row_of(d, &b, 1)->match, MODEL_MATCH_VANISHED);
    assert_int_equal(row_of(d, &b, 2)->match, MODEL_MATCH_VANISHED);
    assert_int_equal(d->n_new, 2);
    assert_int_equal(d->n_exact, 1);
    /* By function: h's two sites are one row each side; one function in all. */
    int h = -1;
    for (int i = 0; i < d->n_functions; i++)
        if (d->functions[i].function != NULL && !strcmp(d->functions[i].function, "h"))
            h = i;
    assert_true(h >= 0);
    assert_int_equal(d->functions[h].n_sites, 2);
    assert_true(d->functions[h].m[MODEL_METRIC_LIVE].delta == 0);
    diff_free(d);
}

/* An inlined frame is part of the site: the same functions, one of them inlined in one
 * build only, do not match. */
static void inline_chain_is_part_of_the_site(void **state)
{
    (void)state;
    struct tmodel b, a;
    tm_init(&b, "p");
    tm_init(&a, "p");
    tm_site(&b, 10, 1, 2, tm_frame(&b, "inner", "i.c", 3, "p"),
            tm_frame(&b, "outer", "i.c", 9, "p"));
    struct model_frame *in = (struct model_frame *)tm_frame(&a, "inner", "i.c", 3, "p");
    in->inlined = true;
    tm_site(&a, 10, 1, 2, in, tm_frame(&a, "outer", "i.c", 9, "p"));
    struct diff_options o = opts(MODEL_METRIC_LIVE);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_int_equal(d->n_new, 1);
    assert_int_equal(d->n_vanished, 1);
    diff_free(d);
}

/* ---- figures and rankings ---- */

/* The build with a 1 MiB leak in a new function: it ranks first among sites and
 * functions; a shrunk site ranks among the shrunk; percent is infinite for the new one. */
static void growth_and_shrink_ranked(void **state)
{
    (void)state;
    struct tmodel b, a;
    tm_init(&b, "p");
    tm_init(&a, "p");
    const struct model_frame *mb = tm_frame(&b, "main", "p.c", 50, "p");
    const struct model_frame *ma = tm_frame(&a, "main", "p.c", 50, "p");
    tm_site(&b, 1000, 10, 2, tm_frame(&b, "grow", "p.c", 10, "p"), mb);
    tm_site(&b, 5000, 10, 2, tm_frame(&b, "shrink", "p.c", 20, "p"), mb);
    tm_site(&b, 700, 7, 2, tm_frame(&b, "gone", "p.c", 30, "p"), mb);
    tm_site(&a, 3000, 10, 2, tm_frame(&a, "grow", "p.c", 10, "p"), ma);
    tm_site(&a, 4000, 10, 2, tm_frame(&a, "shrink", "p.c", 20, "p"), ma);
    tm_site(&a, 1048576, 1048576, 2, tm_frame(&a, "leak_more", "p.c", 60, "p"), ma);
    struct diff_options o = opts(MODEL_METRIC_LEAKED);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_int_equal(d->n_grown, 2);
    assert_string_equal(d->sites[d->grown[0]].after->frames[0]->function, "leak_more");
    assert_string_equal(d->sites[d->grown[1]].after->frames[0]->function, "grow");
    assert_int_equal(d->n_shrunk, 2);
    assert_string_equal(d->sites[d->shrunk[0]].before->frames[0]->function, "shrink");
    assert_string_equal(d->sites[d->shrunk[1]].before->frames[0]->function, "gone");
    assert_int_equal(d->n_vanished_listed, 1);
    assert_string_equal(d->functions[d->functions_grown[0]].function, "leak_more");
    const struct model_change *c = &d->sites[d->grown[0]].m[MODEL_METRIC_LEAKED];
    assert_true(c->before == 0 && c->after == 1048576 && c->delta == 1048576);
    assert_true(isinf(c->percent) && c->percent > 0);
    c = &d->sites[d->grown[1]].m[MODEL_METRIC_LEAKED];
    assert_true(c->delta == 2000 && c->percent == 200);
    const struct model_change *t = &d->totals[MODEL_METRIC_LEAKED];
    assert_true(t->before == 6700 && t->after == 1048576 + 7000);
    assert_true(d->totals[MODEL_METRIC_ALLOCATIONS].delta == 701 - 700);
    assert_int_equal(d->n_changed, 4);
    diff_free(d);

    /* min_change leaves the small ones out of the lists, not out of the diff. */
    o.min_change = 1500;
    d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_int_equal(d->n_grown, 2);
    assert_int_equal(d->n_shrunk, 0);
    assert_int_equal(d->n_vanished_listed, 0);
    assert_int_equal(d->n_changed, 4);
    diff_free(d);
}

/* leaked counts only at the end of a process that ended: up to a marker, or in a log of
 * a process still running, nothing has leaked yet. */
static void leaked_needs_an_end(void **state)
{
    (void)state;
    struct tmodel b, a;
    tm_init(&b, "p");
    tm_init(&a, "p");
    tm_site(&b, 100, 1, 1, tm_frame(&b, "f", "f.c", 1, "p"));
    tm_site(&a, 300, 1, 1, tm_frame(&a, "f", "f.c", 1, "p"));
    a.m.process.ended = false;
    struct diff_options o = opts(MODEL_METRIC_LIVE);
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_true(d->totals[MODEL_METRIC_LIVE].delta == 200);
    assert_true(d->totals[MODEL_METRIC_LEAKED].before == 100);
    assert_true(d->totals[MODEL_METRIC_LEAKED].after == 0);
    assert_true(d->sites[0].m[MODEL_METRIC_LEAKED].delta == -100);
    diff_free(d);

    /* A process that ended, seen at a marker (a snapshot of a service): nothing leaked
     * there either. */
    a.m.process.ended = true;
    a.m.process.point.at = MODEL_AT_MARKER;
    d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_true(d->totals[MODEL_METRIC_LEAKED].after == 0);
    assert_true(d->totals[MODEL_METRIC_LIVE].after == 300);
    diff_free(d);
}

/* The noise band is 1.96 sqrt(var BASE + var NEW), var = X u (1-p)/p (diff.h). */
static void sampled_noise_band(void **state)
{
    (void)state;
    struct tmodel b, a;
    const double R = 524288, s = 64;
    tm_init(&b, "p");
    tm_init(&a, "p");
    tm_site(&b, 1e6, s, 1, tm_frame(&b, "f", "f.c", 1, "p"));
    tm_site(&a, 1.02e6, s, 1, tm_frame(&a, "f", "f.c", 1, "p"));
    tm_site(&b, 1e6, s, 1, tm_frame(&b, "g", "g.c", 1, "p"));
    tm_site(&a, 2e7, s, 1, tm_frame(&a, "g", "g.c", 1, "p"));
    for (struct tmodel *t = &b; t != NULL; t = t == &b ? &a : NULL) {
        t->m.totals.sampled = true;
        t->m.process.sample_bytes = (uint64_t)R;
    }
    struct diff_options o = opts(MODEL_METRIC_LIVE);
    struct model_budget bud;
    assert_true(diff_parse_budget("1%", MODEL_METRIC_LIVE, &bud));
    o.n_budgets = 1;
    o.budgets = &bud;
    struct model_diff *d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_true(d->sampled);
    double p = 1 - exp(-s / R), q = exp(-s / R);
    double want = 1.96 * sqrt(1e6 * s * q / p + 1.02e6 * s * q / p);
    const struct model_change *f = &row_of(d, &b, 0)->m[MODEL_METRIC_LIVE];
    assert_true(fabs(f->noise - want) < 1e-6 * want);
    assert_true(f->within_noise); /* +20 KB of 1 MB, at one sample per 512 KiB */
    assert_false(row_of(d, &b, 1)->m[MODEL_METRIC_LIVE].within_noise);
    double calls = 1.02e6 / s, want_calls = 1.96 * sqrt(1e6 / s * q / p + calls * q / p);
    assert_true(fabs(row_of(d, &b, 0)->m[MODEL_METRIC_ALLOCATIONS].noise - want_calls) <
                1e-6 * want_calls);
    /* The total adds both sites' variances: +19 MB is beyond its noise; breached. */
    assert_false(d->totals[MODEL_METRIC_LIVE].within_noise);
    assert_int_equal(d->n_breached, 1);
    diff_free(d);

    /* Only the small change: over 1%, within the noise: the budget is not breached. */
    b.m.n_sites = a.m.n_sites = 1;
    b.m.totals.leaked_bytes = b.m.totals.live_bytes = 1e6;
    a.m.totals.leaked_bytes = a.m.totals.live_bytes = 1.02e6;
    d = diff_new(&b.m, &a.m, &o);
    assert_non_null(d);
    assert_true(d->totals[MODEL_METRIC_LIVE].within_noise);
    assert_false(d->budgets[0].breached);
    assert_true(d->budgets[0].within_noise);
    assert_int_equal(d->n_breached, 0);
    diff_free(d);
}

/* ---- budgets ---- */

static void budgets_parse(void **state)
{
    (void)state;
    struct model_budget b;
    assert_true(diff_parse_budget("10%", MODEL_METRIC_PEAK, &b));
    assert_true(b.percent == 10 && b.amount < 0 && b.metric == MODEL_METRIC_PEAK);
    assert_true(diff_parse_budget("512KiB", MODEL_METRIC_LIVE, &b));
    assert_true(b.percent < 0 && b.amount == 524288 && b.metric == MODEL_METRIC_LIVE);
    assert_true(diff_parse_budget("2.5%,1M", MODEL_METRIC_PEAK, &b));
    assert_true(b.percent == 2.5 && b.amount == 1048576);
    assert_true(diff_parse_budget("1M,2.5%", MODEL_METRIC_PEAK, &b));
    assert_true(b.percent == 2.5 && b.amount == 1048576);
    assert_true(diff_parse_budget("allocations:1000", MODEL_METRIC_PEAK, &b));
    assert_true(b.amount == 1000 && b.metric == MODEL_METRIC_ALLOCATIONS);
    assert_true(diff_parse_budget("0%", MODEL_METRIC_PEAK, &b));
    static const char *const bad[] = { "5x",    "",     "%",    "10%%",  "-5%",   "10%,20%",
                                       "1K,2K", "10%,", ",10%", "x:5%",  "peak:", "1.5K",
                                       "5 %",   "nan%", "inf%", "10%,5x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (diff_parse_budget(bad[i], MODEL_METRIC_PEAK, &b))
            fail_msg("'%s' parsed", bad[i]);
}

/* 1 MiB -> 1.5 MiB against each spelling: a part alone, and both (over both to fail). */
static void budgets_gate(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        bool breached;
    } cases[] = {
        { "10%", true },      { "50%", false },         { "49.9%", true },
        { "1M", false },      { "512K", false },        { "511K", true },
        { "10%,1M", false },  { "60%,100K", false },    { "40%,100K", true },
        { "live:10%", true }, { "temporary:0", false }, { "allocations:0", true },
    };
    struct tmodel b, a;
    tm_init(&b, "p");
    tm_init(&a, "p");
    tm_site(&b, 1048576, 1024, 1, tm_frame(&b, "f", "f.c", 1, "p"));
    tm_site(&a, 1572864, 1024, 1, tm_frame(&a, "f", "f.c", 1, "p"));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct model_budget bud;
        assert_true(diff_parse_budget(cases[i].spec, MODEL_METRIC_PEAK, &bud));
        struct diff_options o = { .metric = MODEL_METRIC_PEAK, .n_budgets = 1, .budgets = &bud };
        struct model_diff *d = diff_new(&b.m, &a.m, &o);
        assert_non_null(d);
        if (d->budgets[0].breached != cases[i].breached)
            fail_msg("%s: breached %d", cases[i].spec, d->budgets[0].breached);
        assert_int_equal(d->n_breached, cases[i].breached);
        assert_false(d->budgets[0].within_noise);
        diff_free(d);
    }
}

/* ---- failures ---- */

static void every_allocation_failure_is_null(void **state)
{
    (void)state;
    struct tmodel b, a;
    tm_init(&b, "p");
    tm_init(&a, "p");
    tm_site(&b, 100, 1, 1, tm_frame(&b, "f", "f.c", 10, "p"));
    tm_site(&b, 200, 1, 1, tm_frame(&b, "f", "f.c", 12, "p"));
    tm_site(&b, 200, 1, 1, tm_frame(&b, "g", "f.c", 12, "p"));
    tm_site(&a, 300, 1, 1, tm_frame(&a, "f", "f.c", 8, "p"));
    tm_site(&a, 100, 1, 1, tm_frame(&a, "f", "f.c", 15, "p"));
    tm_site(&a, 200, 1, 1, tm_frame(&a, "f", "f.c", 17, "p"));
    struct model_budget bud;
    assert_true(diff_parse_budget("1%", MODEL_METRIC_PEAK, &bud));
    struct diff_options o = { .metric = MODEL_METRIC_PEAK, .n_budgets = 1, .budgets = &bud };
    int n;
    for (n = 0;; n++) {
        failed = false;
        fail_in = n;
        struct model_diff *d = diff_new(&b.m, &a.m, &o);
        fail_in = -1;
        if (!failed) {
            assert_non_null(d);
            assert_int_equal(d->n_function, 2);
            diff_free(d);
            break;
        }
        assert_null(d);
    }
    assert_true(n > 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_program_matches_exactly),
        cmocka_unit_test(moved_lines_match_by_function),
        cmocka_unit_test(moved_lines_with_a_new_site),
        cmocka_unit_test(what_frames_compare_by),
        cmocka_unit_test(inline_chain_is_part_of_the_site),
        cmocka_unit_test(growth_and_shrink_ranked),
        cmocka_unit_test(leaked_needs_an_end),
        cmocka_unit_test(sampled_noise_band),
        cmocka_unit_test(budgets_parse),
        cmocka_unit_test(budgets_gate),
        cmocka_unit_test(every_allocation_failure_is_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
