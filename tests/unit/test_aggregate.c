/*
 * test_aggregate.c - unit tests for analyzer/aggregate.c. Synthetic logs
 * (tests/lib/logbuild.h), whose every figure is known by construction, go through the
 * real reader (rd_open, rd_next) into agg_new / agg_feed / agg_finish without a
 * symbolizer, so frames stay module+offset. Each figure is checked exactly against the
 * hand computation written beside the log; a sampled log's figures against
 * 1 / (1 - exp(-s/R)) per block, within what rounding the weights to float (as the
 * aggregator stores them) can move them.
 *
 * Built with ASan and UBSan and linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc,--wrap=strdup,--wrap=free: each allocation the aggregator makes fails
 * in turn, and must come back as -ENOMEM (never a crash or a wrong figure), with every
 * block it took given back by agg_free.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer/aggregate.h"
#include "analyzer/reader.h"
#include "format/logfmt.h"
#include "tests/lib/logbuild.h"

/* ---- allocation failures on purpose ---- */

/* The wrappers see every call the test, the reader and the aggregator make. fail_in
 * counts calls down to the one that fails (-1: none fails); while counting, `live`
 * follows the blocks handed out and freed, so that a test can tell agg_free gave back
 * everything the aggregator took. */
static int fail_in = -1;
static bool failed, counting;
static long live;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static bool fail_now(void)
{
    if (fail_in < 0 || fail_in-- > 0)
        return false;
    failed = true;
    return true;
}

static void *got_block(void *p)
{
    if (p != NULL && counting)
        live++;
    return p;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : got_block(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : got_block(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_now())
        return NULL;
    void *q = __real_realloc(p, n);
    return p == NULL ? got_block(q) : q;
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : got_block(__real_strdup(s));
}

void __wrap_free(void *p)
{
    if (p != NULL && counting)
        live--;
    __real_free(p);
}

/* ---- files ---- */

static char tmp_dir[] = "/tmp/test_aggregate.XXXXXX";

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

static void write_log(const struct lb_log *l, const char *name, char *path, size_t cap)
{
    tmp_path(path, cap, name);
    assert_int_equal(lb_write(l, path), 0);
}

/* ---- running the aggregator ---- */

struct run {
    struct rd_log *r;
    struct agg *a;
    char warnings[1024];
};

/* Reads path (in [from, to) ticks when to is not 0) through the reader into the
 * aggregator, and finishes it without a symbolizer. */
static void aggregate(const char *path, bool thread, uint64_t from, uint64_t to, struct run *run)
{
    struct rd_item it;
    int err = 0, k;

    memset(run, 0, sizeof(*run));
    run->r = rd_open(path, &err);
    assert_non_null(run->r);
    if (err != 0)
        fail_msg("%s: expected rd_open to succeed vs got %d: %s", path, err, rd_error(run->r));
    rd_set_thread(run->r, thread);
    if (to != 0)
        rd_set_window(run->r, from, to);
    run->a = agg_new(rd_header(run->r));
    assert_non_null(run->a);
    while ((k = rd_next(run->r, &it)) > 0)
        assert_int_equal(agg_feed(run->a, &it), 0);
    if (k != 0)
        fail_msg("%s: expected the whole log read vs got %d: %s", path, k, rd_error(run->r));
    assert_int_equal(agg_finish(run->a, run->r, NULL), 0);
    snprintf(run->warnings, sizeof(run->warnings), "%s", rd_warnings(run->r));
}

/* The sites point into the reader's modules: the aggregate goes first. */
static void run_done(struct run *run)
{
    agg_free(run->a);
    rd_close(run->r);
}

/* ---- checking figures ---- */

static void expect_num(const char *what, double got, double want)
{
    if (got != want)
        fail_msg("%s: expected %.17g vs got %.17g", what, want, got);
}

static void expect_near(const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: expected %.17g (+- %.3g) vs got %.17g (off by %.3g)", what, want, tol, got,
                 got - want);
}

/* Every field of a site's or group's numbers, exactly. */
static void expect_stats(const char *what, const struct model_stats *got,
                         const struct model_stats *want)
{
    char name[128];

#define EXPECT_FIELD(f)                                    \
    do {                                                   \
        snprintf(name, sizeof(name), "%s: %s", what, #f);  \
        expect_num(name, (double)got->f, (double)want->f); \
    } while (0)
    EXPECT_FIELD(allocations);
    EXPECT_FIELD(allocated_bytes);
    EXPECT_FIELD(frees);
    EXPECT_FIELD(peak_live_bytes);
    EXPECT_FIELD(leaked_bytes);
    EXPECT_FIELD(leaked_allocations);
    EXPECT_FIELD(temporary_allocations);
    EXPECT_FIELD(max_live_blocks);
    EXPECT_FIELD(slack_bytes);
    EXPECT_FIELD(zero_sampled_bytes);
    EXPECT_FIELD(zero_bytes);
    EXPECT_FIELD(common_size);
#undef EXPECT_FIELD
    for (int b = 0; b < MODEL_HIST_BUCKETS; b++) {
        snprintf(name, sizeof(name), "%s: hist[%d]", what, b);
        expect_num(name, got->hist[b], want->hist[b]);
    }
}

/* The frame is the synthetic program's, unsymbolized, at offset off. */
static bool frame_is(const struct model_frame *f, uint64_t off)
{
    return f->function == NULL && f->file == NULL && f->line == 0 && !f->inlined &&
           f->module != NULL && strcmp(f->module, "synthetic") == 0 && f->module_offset == off;
}

/* The one site whose frames are the synthetic program's at off0, then off1 (0: none). */
static const struct model_site *find_site(const struct agg *a, uint64_t off0, uint64_t off1)
{
    const struct model_site *found = NULL;
    int n_frames = off1 != 0 ? 2 : 1;

    for (int i = 0; i < agg_n_sites(a); i++) {
        const struct model_site *s = agg_site(a, i);
        if (s->n_frames != n_frames || !frame_is(s->frames[0], off0) ||
            (off1 != 0 && !frame_is(s->frames[1], off1)))
            continue;
        if (found != NULL)
            fail_msg("expected one site at synthetic+0x%" PRIx64 " vs got two", off0);
        found = s;
    }
    if (found == NULL)
        fail_msg("expected a site at synthetic+0x%" PRIx64 ", +0x%" PRIx64 " vs got none of %d",
                 off0, off1, agg_n_sites(a));
    return found;
}

static int site_index(const struct agg *a, const struct model_site *s)
{
    for (int i = 0; i < agg_n_sites(a); i++)
        if (agg_site(a, i) == s)
            return i;
    return -1;
}

/* The one by-function (or by-line) row of n_sites sites and `allocations` allocations.
 * Unsymbolized rows carry no offset (function and file are NULL): a row is told by its
 * numbers, which the logs here make distinct. */
static const struct model_group *find_group(const struct agg *a, bool lines, int n_sites,
                                            double allocations)
{
    const struct model_group *found = NULL;
    int n = lines ? agg_n_lines(a) : agg_n_functions(a);

    for (int i = 0; i < n; i++) {
        const struct model_group *g = lines ? agg_line(a, i) : agg_function(a, i);
        if (g->n_sites != n_sites || g->st.allocations != allocations)
            continue;
        if (found != NULL)
            fail_msg("expected one %s row of %d sites and %g allocations vs got two",
                     lines ? "by-line" : "by-function", n_sites, allocations);
        found = g;
    }
    if (found == NULL)
        fail_msg("expected a %s row of %d sites and %g allocations vs got none of %d",
                 lines ? "by-line" : "by-function", n_sites, allocations, n);
    assert_null(found->function);
    assert_string_equal(found->module, "synthetic");
    assert_null(found->file);
    assert_int_equal(found->line, 0);
    return found;
}

/* ---- the usable size of a request ---- */

/* glibc (2.36, this machine's): a chunk is the request plus the 8-byte size field,
 * rounded up to 16, at least 32; the block is the chunk less that field. From 128 KiB
 * the block is mmap'd: request + 8 rounded to 16, + 8, rounded up to the 4 KiB page,
 * less a 16-byte header. Each figure was also checked against malloc_usable_size here.
 * Left out: requests of 131049 to 131071 bytes, whose chunk reaches the 128 KiB
 * threshold, so that glibc mmaps them (135152 usable), while agg_usable_size compares
 * the request and gives a heap chunk's 131080 or less. */
static void usable_size_glibc(void **state)
{
    static const uint64_t cases[][2] = {
        { 0, 24 },      { 1, 24 },      { 24, 24 },         { 25, 40 },
        { 40, 40 },     { 50, 56 },     { 64, 72 },         { 100, 104 },
        { 200, 200 },   { 300, 312 },   { 500, 504 },       { 1000, 1000 },
        { 4000, 4008 }, { 5000, 5000 }, { 131072, 135152 }, { 200000, 200688 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = agg_usable_size(cases[i][0], false);
        if (got != cases[i][1])
            fail_msg("glibc, %" PRIu64 " bytes: expected %" PRIu64 " usable vs got %" PRIu64,
                     cases[i][0], cases[i][1], got);
    }
}

/* jemalloc's size classes: 8, then 16-byte steps to 128, then four classes per
 * doubling (spacing 2^(lg-3) for requests in (2^(lg-1), 2^lg]). Each figure was also
 * checked against nallocx() of libjemalloc here. */
static void usable_size_jemalloc(void **state)
{
    static const uint64_t cases[][2] = {
        { 0, 8 },
        { 1, 8 },
        { 8, 8 },
        { 9, 16 },
        { 17, 32 },
        { 100, 112 },
        { 128, 128 },
        { 129, 160 },
        { 200, 224 },
        { 257, 320 },
        { 1000, 1024 },
        { 1025, 1280 },
        { 4097, 5120 },
        { 5000, 5120 },
        { 16385, 20480 },
        { 200000, 229376 },
        { 1 << 20, 1 << 20 },
        { (1 << 20) + 1, 1310720 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = agg_usable_size(cases[i][0], true);
        if (got != cases[i][1])
            fail_msg("jemalloc, %" PRIu64 " bytes: expected %" PRIu64 " usable vs got %" PRIu64,
                     cases[i][0], cases[i][1], got);
    }
}

/* ---- the synthetic program ---- */

#define T0 LB_START_TICKS

/* The first meta chunk of every log here: the program, its clock (a tick is a
 * nanosecond), the stacks given, and /bin/synthetic mapped at 0x401000-0x402000 with
 * bias 0x400000, so that pc 0x401010 is synthetic+0x1010. With `jemalloc`, libjemalloc
 * is mapped too, elsewhere: the aggregator then takes jemalloc's size classes. */
struct stack_def {
    uint32_t id, depth;
    uint64_t pcs[3];
};

static void program(struct lb_log *l, const struct stack_def *stacks, int n_stacks, bool jemalloc)
{
    static const char *const argv[] = { "synthetic" };
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 }, je_seg = { 0, 0x10000, 5 };
    struct lb_buf c = { 0 };

    lb_meta_process(&c, "/bin/synthetic", 1, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, T0 + 1000000, 5001000000ull, 1700000000001000000ull);
    for (int i = 0; i < n_stacks; i++)
        lb_meta_stack(&c, stacks[i].id, stacks[i].depth, stacks[i].pcs);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &seg, (const uint8_t *)"\x01\x02", 2, "/bin/synthetic");
    if (jemalloc)
        lb_meta_module(&c, T0, 2, 0x7f0000000000, 1, &je_seg, (const uint8_t *)"\x03", 1,
                       "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
    lb_meta_chunk(l, &c, LB_ZSTD_CHUNK);
    lb_buf_fini(&c);
}

/* The compression a writer of that version uses for events. */
static unsigned events_zstd(unsigned version)
{
    return version >= 2 ? LB_ZSTD_COLUMNS : LB_ZSTD_CHUNK;
}

/*
 * Scenario A: two threads interleaved, unsampled, glibc. Times are T0 + the figure.
 *
 * Stacks (innermost first) and the sites they make, frames module+offset:
 *   1  0x401010 0x401234   site A  (synthetic+0x1010, +0x1234)
 *   2  0x401020            site B  (+0x1020)
 *   3  0x401030 0x401234   site C  (+0x1030, +0x1234)
 *   4  0x401010 0x401234   site A again: same frames, so the same site
 *   5  0x401030 0x401300   site D  (+0x1030, +0x1300): C's innermost frame, so C and
 *                          D are one by-function (and by-line) row
 *
 *   time  thread 100 (T1)                     thread 101 (T2)                  live
 *    105                                      alloc 0x20000 50 s2 (B)            50
 *    110  alloc 0x10000 100 s1 (A)                                              150
 *    120  free 0x10000: temporary (A)                                            50
 *    125                                      alloc 0x20100 4000 s1 (A)        4050
 *    130  alloc 0x10100 200 s2 (B)                                             4250
 *    135                                      lost 5
 *    140  alloc 0x10200 300 s3 (C)                                             4550 peak
 *    145                                      free 0x20100: temporary (A)       550
 *    150  free 0x10100 (T1 allocated since)   [marker]                          350
 *    155                                      free 0xdead00: never allocated
 *    158                                      alloc 0x20400 64 s1 (A)           414
 *    160  alloc 0x10300 1000 s4 (A)                                            1414
 *    165  realloc 0x10200 -> 0x10400: the free half (C)                        1114
 *    170  ... its alloc half, 500 s5 (D)                                       1614
 *    175                                      alloc 0x20200 0 s2 (B)           1614
 *    180                                      zeros 0x20000: 20 of 50 B zero
 *    182                                      zeros 0x20200 of 16 B: the block
 *                                             there has 0, not it: ignored
 *    185                                      free 0x20000                     1564
 *    190                                      zeros 0x20300: not live, ignored
 *    200  free 0x10300 (T1 allocated since)                                     564
 *    210  free 0x10400: temporary (D); the free of 0x10300
 *         between does not count as an allocation                               64
 *    300  end: 2 more lost
 *
 * Temporaries: blocks freed before their own thread allocated anything else; other
 * threads' allocations do not count (T1's at 130 and 140 fall between T2's 0x20100
 * allocated at 125 and freed at 145). The free half of the realloc at 165 is not one:
 * T1 allocated 0x10300 at 160.
 */
static const struct stack_def scenario_a_stacks[] = {
    { 1, 2, { 0x401010, 0x401234 } }, { 2, 1, { 0x401020 } },
    { 3, 2, { 0x401030, 0x401234 } }, { 4, 2, { 0x401010, 0x401234 } },
    { 5, 2, { 0x401030, 0x401300 } },
};

/* Returns the index of the last meta chunk (the marker and the end record). */
static int scenario_a(struct lb_log *l, unsigned version)
{
    struct lb_file f = lb_file_default(version);
    struct lf_event t1[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x10000, 100, 1),
        lb_ev_free(T0 + 120, 0x10000),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 130, 0x10100, 200, 2),
        lb_ev_alloc(LF_FN_CALLOC, T0 + 140, 0x10200, 300, 3),
        lb_ev_free(T0 + 150, 0x10100),
        lb_ev_alloc(LF_FN_NEW, T0 + 160, 0x10300, 1000, 4),
        lb_ev_realloc(T0 + 165, T0 + 170, 0x10200, 0x10400, 500, 5),
        lb_ev_free(T0 + 200, 0x10300),
        lb_ev_free(T0 + 210, 0x10400),
    };
    struct lf_event t2[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 105, 0x20000, 50, 2),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 125, 0x20100, 4000, 1),
        lb_ev_lost(T0 + 135, 5),
        lb_ev_free(T0 + 145, 0x20100),
        lb_ev_free(T0 + 155, 0xdead00),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 158, 0x20400, 64, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 175, 0x20200, 0, 2),
        lb_ev_zeros(T0 + 180, 0x20000, 50, 20),
        lb_ev_zeros(T0 + 182, 0x20200, 16, 16),
        lb_ev_free(T0 + 185, 0x20000),
        lb_ev_zeros(T0 + 190, 0x20300, 8, 8),
    };
    struct lb_buf c = { 0 };

    lb_init(l, &f);
    program(l, scenario_a_stacks, 5, false);
    lb_events_chunk(l, 100, T0 + 100, t1, (int)(sizeof(t1) / sizeof(t1[0])), events_zstd(version));
    lb_events_chunk(l, 101, T0 + 105, t2, (int)(sizeof(t2) / sizeof(t2[0])), 0);
    lb_meta_marker(&c, T0 + 150, LF_MARKER_SIGNAL, 1);
    lb_meta_end(&c, T0 + 300, 2, LF_END_EXIT);
    int last = lb_meta_chunk(l, &c, 0);
    lb_close(l);
    lb_buf_fini(&c);
    return last;
}

/*
 * Per site, over the whole log (glibc usable sizes: 100 -> 104, 4000 -> 4008, 64 -> 72,
 * 1000 -> 1000, 50 -> 56, 200 -> 200, 0 -> 24, 300 -> 312, 500 -> 504):
 *
 *   A  allocs 100, 4000, 64 (s1), 1000 (s4): 4 allocations, 5164 bytes; frees at 120,
 *      145, 200: 3; at the peak (140) 0x20100 is live: 4000; leaked 0x20400: 64 bytes,
 *      1 block; temporaries 120 and 145: 2; max live blocks 1 (s1) + 1 (s4) = 2, the two
 *      being live together from 160 to 200; slack 4 + 8 + 8 + 0 = 20; histogram
 *      [64,128) 2, [512,1024) 1, [2048,4096) 1; no size for 90% of them: common 0.
 *   B  allocs 50, 200, 0: 3, 250 bytes; frees at 150, 185: 2; at the peak 0x20000 and
 *      0x10100: 250; leaked 0x20200: 0 bytes, 1 block; max live 2 (130-150, 175-185);
 *      slack 6 + 0 + 24 = 30; zeros sampled 50 bytes, 20 zero; histogram [0,2) 1
 *      (size 0), [32,64) 1, [128,256) 1.
 *   C  300: 1 allocation, freed by the realloc; live at the peak: 300; slack 12;
 *      [256,512) 1; common size 300.
 *   D  500: 1 allocation, freed at 210 as a temporary; after the peak: 0; slack 4;
 *      [256,512) 1; common size 500.
 */
static const struct model_stats want_a = { .allocations = 4,
                                           .allocated_bytes = 5164,
                                           .frees = 3,
                                           .peak_live_bytes = 4000,
                                           .leaked_bytes = 64,
                                           .leaked_allocations = 1,
                                           .temporary_allocations = 2,
                                           .max_live_blocks = 2,
                                           .slack_bytes = 20,
                                           .hist = { [6] = 2, [9] = 1, [11] = 1 } };
static const struct model_stats want_b = { .allocations = 3,
                                           .allocated_bytes = 250,
                                           .frees = 2,
                                           .peak_live_bytes = 250,
                                           .leaked_allocations = 1,
                                           .max_live_blocks = 2,
                                           .slack_bytes = 30,
                                           .zero_sampled_bytes = 50,
                                           .zero_bytes = 20,
                                           .hist = { [0] = 1, [5] = 1, [7] = 1 } };
static const struct model_stats want_c = { .allocations = 1,
                                           .allocated_bytes = 300,
                                           .frees = 1,
                                           .peak_live_bytes = 300,
                                           .max_live_blocks = 1,
                                           .slack_bytes = 12,
                                           .hist = { [8] = 1 },
                                           .common_size = 300 };
static const struct model_stats want_d = { .allocations = 1,
                                           .allocated_bytes = 500,
                                           .frees = 1,
                                           .temporary_allocations = 1,
                                           .max_live_blocks = 1,
                                           .slack_bytes = 4,
                                           .hist = { [8] = 1 },
                                           .common_size = 500 };
/* C and D summed (common_size is not summed into rows). */
static const struct model_stats want_cd = { .allocations = 2,
                                            .allocated_bytes = 800,
                                            .frees = 2,
                                            .peak_live_bytes = 300,
                                            .temporary_allocations = 1,
                                            .max_live_blocks = 2,
                                            .slack_bytes = 16,
                                            .hist = { [8] = 2 } };

static void check_scenario_a(const struct agg *a)
{
    const struct agg_totals *t = agg_totals(a);

    /* 9 allocations: the 8 alloc records and the realloc's alloc half; 7 frees: 6 free
     * records of known blocks and the realloc's free half; bytes 50 + 100 + 4000 + 200
     * + 300 + 64 + 1000 + 500 + 0. */
    expect_num("allocations", t->allocations, 9);
    expect_num("frees", t->frees, 7);
    expect_num("allocated bytes", t->allocated_bytes, 6214);
    expect_num("peak live bytes", t->peak_live_bytes, 4550);
    expect_num("peak time", (double)t->peak_time, T0 + 140);
    expect_num("leaked bytes", t->leaked_bytes, 64);
    expect_num("leaked blocks", t->leaked_allocations, 2);
    expect_num("temporaries", t->temporary_allocations, 3);
    expect_num("lost events (5 in a record, 2 at the end)", (double)t->lost_events, 7);
    expect_num("frees of unknown blocks", (double)t->unknown_frees, 1);
    expect_num("first event time", (double)t->first_time, T0 + 105);
    expect_num("last event time", (double)t->last_time, T0 + 210);
    expect_num("markers", (double)t->markers, 1);
    assert_false(t->sampled);
    assert_int_equal(t->sample_bytes, 0);

    assert_int_equal(agg_n_sites(a), 4);
    const struct model_site *sa = find_site(a, 0x1010, 0x1234), *sb = find_site(a, 0x1020, 0),
                            *sc = find_site(a, 0x1030, 0x1234), *sd = find_site(a, 0x1030, 0x1300);
    expect_stats("site A", &sa->st, &want_a);
    expect_stats("site B", &sb->st, &want_b);
    expect_stats("site C", &sc->st, &want_c);
    expect_stats("site D", &sd->st, &want_d);
    /* Frames are interned: C and D share their innermost one. */
    assert_ptr_equal(sc->frames[0], sd->frames[0]);
    /* The innermost frame after trimming is the call into the allocator, in the
     * module that held it (/bin/synthetic, biased at 0x400000). */
    assert_int_equal(sa->frames[0]->module_offset, 0x1010);
    assert_int_equal(sd->frames[0]->module_offset, 0x1030);
    assert_string_equal(sa->frames[0]->module, "synthetic");

    /* Rows by function and by line: the innermost frame, which C and D share. */
    for (int lines = 0; lines < 2; lines++) {
        const char *what = lines ? "by-line" : "by-function";
        char name[64];
        assert_int_equal(lines ? agg_n_lines(a) : agg_n_functions(a), 3);
        struct model_stats w = want_a;
        w.common_size = 0;
        snprintf(name, sizeof(name), "%s row of A", what);
        expect_stats(name, &find_group(a, lines, 1, 4)->st, &w);
        w = want_b;
        snprintf(name, sizeof(name), "%s row of B", what);
        expect_stats(name, &find_group(a, lines, 1, 3)->st, &w);
        snprintf(name, sizeof(name), "%s row of C and D", what);
        expect_stats(name, &find_group(a, lines, 2, 2)->st, &want_cd);
    }
    assert_int_equal(agg_n_bloats(a), 0); /* no size held in 1000 blocks */
}

static void scenario_a_figures(void **state)
{
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    scenario_a(&l, LF_VERSION);
    write_log(&l, "a.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);
    assert_string_equal(run.warnings, "");
    check_scenario_a(run.a);
    run_done(&run);
    lb_fini(&l);
}

/* The same figures whether the reader works ahead on its threads or not, and from a
 * version 1 log (events in the buffer form). */
static void scenario_a_same_every_way(void **state)
{
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    scenario_a(&l, LF_VERSION);
    write_log(&l, "a.hsl", path, sizeof(path));
    aggregate(path, false, 0, 0, &run);
    check_scenario_a(run.a);
    run_done(&run);
    lb_fini(&l);

    scenario_a(&l, 1);
    write_log(&l, "a-v1.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);
    assert_string_equal(run.warnings, "");
    check_scenario_a(run.a);
    run_done(&run);
    lb_fini(&l);
}

/* Cut inside the last meta chunk: every event is read, the marker and the end record
 * (and its 2 lost events) are not; what is live at the cut is leaked. */
static void scenario_a_cut_short(void **state)
{
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    int last = scenario_a(&l, LF_VERSION);
    lb_cut(&l, l.ch[last].off + 10);
    write_log(&l, "a-cut.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);
    if (strstr(run.warnings, "ends inside a chunk") == NULL)
        fail_msg("expected a warning that the log is cut short vs got '%s'", run.warnings);
    const struct agg_totals *t = agg_totals(run.a);
    expect_num("allocations", t->allocations, 9);
    expect_num("frees", t->frees, 7);
    expect_num("peak live bytes", t->peak_live_bytes, 4550);
    expect_num("leaked bytes", t->leaked_bytes, 64);
    expect_num("leaked blocks", t->leaked_allocations, 2);
    expect_num("lost events", (double)t->lost_events, 5);
    expect_num("markers", (double)t->markers, 0);
    expect_stats("site A", &find_site(run.a, 0x1010, 0x1234)->st, &want_a);
    run_done(&run);
    lb_fini(&l);
}

/*
 * The window [130, 190): events outside it are not read, meta items are (the marker
 * at 150, the end record's 2 lost events).
 *
 *   130 +200 B (200, peak)  135 lost 5  140 +300 C (500, peak)
 *   145 free 0x20100: allocated at 125, outside: unknown
 *   150 -200 B (300)  155 free 0xdead00: unknown  158 +64 A (364)  160 +1000 A (1364)
 *   165 -300 C (1064)  170 +500 D (1564, peak)  175 +0 B
 *   180 zeros 0x20000: allocated at 105, not live here: ignored
 *   185 free 0x20000: unknown
 *
 * 6 allocations, 2064 bytes; 2 frees, 3 of unknown blocks; peak 1564 at 170; leaked
 * what is live at the window's end: 64 + 1000 (A), 500 (D), 0 (B): 1564 bytes, 4
 * blocks; no temporaries (T1's frees at 150 and 165 follow other allocations).
 */
static void window_figures(void **state)
{
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    scenario_a(&l, LF_VERSION);
    write_log(&l, "a-window.hsl", path, sizeof(path));
    aggregate(path, true, T0 + 130, T0 + 190, &run);
    const struct agg_totals *t = agg_totals(run.a);
    expect_num("allocations", t->allocations, 6);
    expect_num("frees", t->frees, 2);
    expect_num("allocated bytes", t->allocated_bytes, 2064);
    expect_num("peak live bytes", t->peak_live_bytes, 1564);
    expect_num("peak time", (double)t->peak_time, T0 + 170);
    expect_num("leaked bytes", t->leaked_bytes, 1564);
    expect_num("leaked blocks", t->leaked_allocations, 4);
    expect_num("temporaries", t->temporary_allocations, 0);
    expect_num("lost events", (double)t->lost_events, 7);
    expect_num("frees of unknown blocks", (double)t->unknown_frees, 3);
    expect_num("first event time", (double)t->first_time, T0 + 130);
    expect_num("last event time", (double)t->last_time, T0 + 185);
    expect_num("markers", (double)t->markers, 1);

    assert_int_equal(agg_n_sites(run.a), 4);
    const struct model_stats wa = { .allocations = 2,
                                    .allocated_bytes = 1064,
                                    .peak_live_bytes = 1064,
                                    .leaked_bytes = 1064,
                                    .leaked_allocations = 2,
                                    .max_live_blocks = 2,
                                    .slack_bytes = 8,
                                    .hist = { [6] = 1, [9] = 1 } };
    const struct model_stats wb = { .allocations = 2,
                                    .allocated_bytes = 200,
                                    .frees = 1,
                                    .leaked_allocations = 1,
                                    .max_live_blocks = 1,
                                    .slack_bytes = 24,
                                    .hist = { [0] = 1, [7] = 1 } };
    const struct model_stats wc = { .allocations = 1,
                                    .allocated_bytes = 300,
                                    .frees = 1,
                                    .max_live_blocks = 1,
                                    .slack_bytes = 12,
                                    .hist = { [8] = 1 },
                                    .common_size = 300 };
    const struct model_stats wd = { .allocations = 1,
                                    .allocated_bytes = 500,
                                    .peak_live_bytes = 500,
                                    .leaked_bytes = 500,
                                    .leaked_allocations = 1,
                                    .max_live_blocks = 1,
                                    .slack_bytes = 4,
                                    .hist = { [8] = 1 },
                                    .common_size = 500 };
    expect_stats("window, site A", &find_site(run.a, 0x1010, 0x1234)->st, &wa);
    expect_stats("window, site B", &find_site(run.a, 0x1020, 0)->st, &wb);
    expect_stats("window, site C", &find_site(run.a, 0x1030, 0x1234)->st, &wc);
    expect_stats("window, site D", &find_site(run.a, 0x1030, 0x1300)->st, &wd);
    run_done(&run);
    lb_fini(&l);
}

/* An allocation at an address that is still live: the shim lost the free between (a
 * LOST count says so). The old block is taken as freed then, so that it is not leaked
 * twice over.
 *
 *   100 alloc 0x50000 100 s1      live 100 (peak)
 *   110 alloc 0x50000 200 s2      the s1 block freed, then 200 (peak at 110)
 *   120 free 0x50000              the s2 block: a temporary (its thread's last)
 */
static void allocation_over_live_block(void **state)
{
    static const struct stack_def stacks[] = { { 1, 1, { 0x401010 } }, { 2, 1, { 0x401020 } } };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x50000, 100, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x50000, 200, 2),
        lb_ev_free(T0 + 120, 0x50000),
    };
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    lb_init(&l, &f);
    program(&l, stacks, 2, false);
    lb_events_chunk(&l, 100, T0 + 100, ev, 3, LB_ZSTD_COLUMNS);
    lb_close(&l);
    write_log(&l, "over.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);
    const struct agg_totals *t = agg_totals(run.a);
    expect_num("allocations", t->allocations, 2);
    expect_num("frees", t->frees, 2);
    expect_num("frees of unknown blocks", (double)t->unknown_frees, 0);
    expect_num("peak live bytes", t->peak_live_bytes, 200);
    expect_num("peak time", (double)t->peak_time, T0 + 110);
    expect_num("leaked bytes", t->leaked_bytes, 0);
    expect_num("leaked blocks", t->leaked_allocations, 0);
    expect_num("temporaries", t->temporary_allocations, 1);
    const struct model_stats w1 = { .allocations = 1,
                                    .allocated_bytes = 100,
                                    .frees = 1,
                                    .max_live_blocks = 1,
                                    .slack_bytes = 4,
                                    .hist = { [6] = 1 },
                                    .common_size = 100 };
    const struct model_stats w2 = { .allocations = 1,
                                    .allocated_bytes = 200,
                                    .frees = 1,
                                    .peak_live_bytes = 200,
                                    .temporary_allocations = 1,
                                    .max_live_blocks = 1,
                                    .hist = { [7] = 1 },
                                    .common_size = 200 };
    expect_stats("the first block's site", &find_site(run.a, 0x1010, 0)->st, &w1);
    expect_stats("the second block's site", &find_site(run.a, 0x1020, 0)->st, &w2);
    run_done(&run);
    lb_fini(&l);
}

/* A temporary is freed by the thread that allocated it, before that thread allocates
 * anything else; a free counts once.
 *
 *   100 T1 alloc 0x70000 100 s1   110 T1 free 0x70000: a temporary
 *   120 T2 alloc 0x70000 200 s2 (the address reused)
 *   130 T1 free 0x70000: T1's last allocation was that address, but its block was
 *       freed at 110; this one is T2's, freed by another thread: not a temporary
 */
static void temporaries_per_thread(void **state)
{
    static const struct stack_def stacks[] = { { 1, 1, { 0x401010 } }, { 2, 1, { 0x401020 } } };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event t1[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x70000, 100, 1),
        lb_ev_free(T0 + 110, 0x70000),
        lb_ev_free(T0 + 130, 0x70000),
    };
    struct lf_event t2[] = { lb_ev_alloc(LF_FN_MALLOC, T0 + 120, 0x70000, 200, 2) };
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    lb_init(&l, &f);
    program(&l, stacks, 2, false);
    lb_events_chunk(&l, 100, T0 + 100, t1, 3, LB_ZSTD_COLUMNS);
    lb_events_chunk(&l, 101, T0 + 120, t2, 1, LB_ZSTD_COLUMNS);
    lb_close(&l);
    write_log(&l, "temp.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);
    const struct agg_totals *t = agg_totals(run.a);
    expect_num("frees", t->frees, 2);
    expect_num("temporaries", t->temporary_allocations, 1);
    expect_num("s1 temporaries", find_site(run.a, 0x1010, 0)->st.temporary_allocations, 1);
    expect_num("s2 temporaries", find_site(run.a, 0x1020, 0)->st.temporary_allocations, 0);
    run_done(&run);
    lb_fini(&l);
}

/* ---- slack by allocator ---- */

/* The same four allocations, without and with libjemalloc among the modules:
 *   glibc     100 -> 104, 200 -> 200 (s1: 4);  0 -> 24, 5000 -> 5000 (s2: 24)
 *   jemalloc  100 -> 112, 200 -> 224 (s1: 36); 0 -> 8,  5000 -> 5120 (s2: 128) */
static void slack_by_allocator(void **state)
{
    static const struct stack_def stacks[] = { { 1, 1, { 0x401010 } }, { 2, 1, { 0x401020 } } };
    struct lf_event ev[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x60000, 100, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x61000, 200, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 120, 0x62000, 0, 2),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 130, 0x63000, 5000, 2),
    };
    static const double want[2][2] = { { 4, 24 }, { 36, 128 } };
    char path[PATH_MAX];

    (void)state;
    for (int je = 0; je < 2; je++) {
        struct lb_file f = lb_file_default(LF_VERSION);
        struct lb_log l;
        struct run run;
        lb_init(&l, &f);
        program(&l, stacks, 2, je);
        lb_events_chunk(&l, 100, T0 + 100, ev, 4, LB_ZSTD_COLUMNS);
        lb_close(&l);
        write_log(&l, je ? "slack-je.hsl" : "slack-glibc.hsl", path, sizeof(path));
        aggregate(path, true, 0, 0, &run);
        expect_num(je ? "jemalloc: slack of s1" : "glibc: slack of s1",
                   find_site(run.a, 0x1010, 0)->st.slack_bytes, want[je][0]);
        expect_num(je ? "jemalloc: slack of s2" : "glibc: slack of s2",
                   find_site(run.a, 0x1020, 0)->st.slack_bytes, want[je][1]);
        run_done(&run);
        lb_fini(&l);
    }
}

/* ---- a size held in large numbers ---- */

/*
 * s1: 1000 blocks of 20 bytes, s2: 999 blocks of 24, all live to the end (peak 20000 +
 * 23976 = 43976 at the last allocation). A site is a bloat candidate from 1000 blocks of
 * its common size: s1 is, s2 (one short) is not. ZEROS on four s1 blocks: 20, 20, 10 and
 * 0 of 20 bytes zero: a share of 50 / 80 = 0.625; on one s2 block: 6 of 24. glibc's
 * usable size for 20 is 24: 4 bytes of slack a block.
 */
static void bloat_candidates(void **state)
{
    static const struct stack_def stacks[] = { { 1, 1, { 0x401010 } }, { 2, 1, { 0x401020 } } };
    static const uint64_t zeros[] = { 20, 20, 10, 0 };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event *ev = calloc(2100, sizeof(*ev));
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];
    int n = 0;

    (void)state;
    assert_non_null(ev);
    for (int i = 0; i < 1000; i++)
        ev[n++] =
            lb_ev_alloc(LF_FN_MALLOC, T0 + 100 + (uint64_t)i, 0x100000 + 32 * (uint64_t)i, 20, 1);
    for (int i = 0; i < 999; i++)
        ev[n++] =
            lb_ev_alloc(LF_FN_MALLOC, T0 + 2000 + (uint64_t)i, 0x200000 + 32 * (uint64_t)i, 24, 2);
    for (int i = 0; i < 4; i++)
        ev[n++] = lb_ev_zeros(T0 + 4000 + (uint64_t)i, 0x100000 + 32 * (uint64_t)i, 20, zeros[i]);
    ev[n++] = lb_ev_zeros(T0 + 4010, 0x200000, 24, 6);
    lb_init(&l, &f);
    program(&l, stacks, 2, false);
    lb_events_chunk(&l, 100, T0 + 100, ev, n, LB_ZSTD_COLUMNS);
    lb_close(&l);
    free(ev);
    write_log(&l, "bloat.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);

    const struct agg_totals *t = agg_totals(run.a);
    expect_num("peak live bytes", t->peak_live_bytes, 43976);
    expect_num("peak time", (double)t->peak_time, T0 + 2998);
    const struct model_site *s1 = find_site(run.a, 0x1010, 0), *s2 = find_site(run.a, 0x1020, 0);
    expect_num("s1 max live blocks", s1->st.max_live_blocks, 1000);
    expect_num("s1 common size", (double)s1->st.common_size, 20);
    expect_num("s1 zero-sampled bytes", s1->st.zero_sampled_bytes, 80);
    expect_num("s1 zero bytes", s1->st.zero_bytes, 50);
    expect_num("s2 max live blocks", s2->st.max_live_blocks, 999);
    expect_num("s2 common size", (double)s2->st.common_size, 24);
    expect_num("s2 zero-sampled bytes", s2->st.zero_sampled_bytes, 24);
    expect_num("s2 zero bytes", s2->st.zero_bytes, 6);
    assert_int_equal(agg_n_bloats(run.a), 1);
    const struct model_bloat *b = agg_bloat(run.a, 0);
    expect_num("bloat size", (double)b->size, 20);
    expect_num("bloat blocks at peak", b->blocks_at_peak, 1000);
    expect_num("bloat bytes at peak", b->bytes_at_peak, 20000);
    expect_num("bloat slack per block", b->slack_bytes_per_block, 4);
    expect_num("bloat zero share", b->zero_share, 0.625);
    assert_int_equal(b->n_sites, 1);
    assert_int_equal(b->sites[0], site_index(run.a, s1));
    assert_int_equal(b->n_types, 0); /* no symbolizer, no DWARF types */
    run_done(&run);
    lb_fini(&l);
}

/* ---- a sampled log ---- */

/*
 * R = 4096: a recorded block of s bytes stands for w(s) = 1 / (1 - exp(-s/R)) blocks:
 *   w(1024)  = 4.520811664187799     1024 w  = 4629.311144128306
 *   w(4096)  = 1.5819767068693265    4096 w  = 6479.776591336761
 *   w(40960) = 1.0000454019910097   40960 w  = 40961.859665551754
 *   w(0)     = 1 (a zero-byte block is one block)
 *
 *   100 alloc 0x30000 1024 s1   110 alloc 0x31000 4096 s1   115 free 0x31000 (temporary)
 *   120 alloc 0x40000 40960 s2 (peak: 1024 w1 + 40960 w3)   140 alloc 0x32000 0 s2
 *
 * The aggregator keeps each block's weight as a float, so a figure sum(c_i w_i) may be
 * off by up to sum(c_i w_i) 2^-24 (c_i: 1 for counts, the size for bytes); the
 * tolerance is that, and a few double roundings.
 */
#define SAMPLE_R 4096.0

static double weight(double size)
{
    return 1.0 / (1.0 - exp(-size / SAMPLE_R));
}

static void expect_weighted(const char *what, double got, double want)
{
    expect_near(what, got, want, want * (0x1p-24 + 8 * DBL_EPSILON));
}

static void sampled_weights(void **state)
{
    static const struct stack_def stacks[] = { { 1, 1, { 0x401010 } }, { 2, 1, { 0x401020 } } };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x30000, 1024, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x31000, 4096, 1),
        lb_ev_free(T0 + 115, 0x31000),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 120, 0x40000, 40960, 2),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 140, 0x32000, 0, 2),
    };
    const double w1 = 4.520811664187799, w2 = 1.5819767068693265, w3 = 1.0000454019910097;
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    /* The hand figures are the formula's. */
    expect_near("w(1024)", weight(1024), w1, 1e-14);
    expect_near("w(4096)", weight(4096), w2, 1e-14);
    expect_near("w(40960)", weight(40960), w3, 1e-14);

    f.sample_bytes = (uint64_t)SAMPLE_R;
    lb_init(&l, &f);
    program(&l, stacks, 2, false);
    lb_events_chunk(&l, 100, T0 + 100, ev, 5, LB_ZSTD_COLUMNS);
    lb_close(&l);
    write_log(&l, "sampled.hsl", path, sizeof(path));
    aggregate(path, true, 0, 0, &run);

    const struct agg_totals *t = agg_totals(run.a);
    assert_true(t->sampled);
    assert_int_equal(t->sample_bytes, 4096);
    expect_weighted("allocations", t->allocations, w1 + w2 + w3 + 1); /* 8.1028 */
    expect_weighted("allocated bytes", t->allocated_bytes,
                    1024 * w1 + 4096 * w2 + 40960 * w3); /* 52070.9 */
    expect_weighted("frees", t->frees, w2);
    expect_weighted("temporaries", t->temporary_allocations, w2);
    expect_weighted("peak live bytes", t->peak_live_bytes, 1024 * w1 + 40960 * w3); /* 45591.2 */
    expect_num("peak time", (double)t->peak_time, T0 + 120);
    expect_weighted("leaked bytes", t->leaked_bytes, 1024 * w1 + 40960 * w3);
    expect_weighted("leaked blocks", t->leaked_allocations, w1 + w3 + 1);

    const struct model_site *s1 = find_site(run.a, 0x1010, 0), *s2 = find_site(run.a, 0x1020, 0);
    expect_weighted("s1 allocations", s1->st.allocations, w1 + w2);
    expect_weighted("s1 bytes", s1->st.allocated_bytes, 1024 * w1 + 4096 * w2);
    expect_weighted("s1 frees", s1->st.frees, w2);
    expect_weighted("s1 temporaries", s1->st.temporary_allocations, w2);
    expect_weighted("s1 peak bytes", s1->st.peak_live_bytes, 1024 * w1);
    expect_weighted("s1 leaked bytes", s1->st.leaked_bytes, 1024 * w1);
    expect_weighted("s1 leaked blocks", s1->st.leaked_allocations, w1);
    expect_weighted("s1 max live blocks", s1->st.max_live_blocks, w1 + w2);
    expect_weighted("s1 hist[10]", s1->st.hist[10], w1);
    expect_weighted("s1 hist[12]", s1->st.hist[12], w2);
    expect_weighted("s2 allocations", s2->st.allocations, w3 + 1);
    expect_weighted("s2 bytes", s2->st.allocated_bytes, 40960 * w3);
    expect_weighted("s2 peak bytes", s2->st.peak_live_bytes, 40960 * w3);
    expect_weighted("s2 leaked blocks", s2->st.leaked_allocations, w3 + 1);
    expect_weighted("s2 hist[15]", s2->st.hist[15], w3);
    expect_num("s2 hist[0] (the zero-byte block, weight 1)", s2->st.hist[0], 1);
    expect_num("s2 frees", s2->st.frees, 0);
    run_done(&run);
    lb_fini(&l);
}

/* ---- each allocation failing in turn ---- */

/* A log's items, read once with the reader on this thread, so that only the aggregator
 * allocates while failures are injected. The reader stays open: agg_finish reads its
 * stacks and modules, and the items point to its modules. */
struct items {
    struct rd_log *r;
    struct rd_item *it;
    int n;
};

static void read_items(const char *path, struct items *in)
{
    struct rd_item it;
    int err = 0, k, cap = 0;

    memset(in, 0, sizeof(*in));
    in->r = rd_open(path, &err);
    assert_non_null(in->r);
    assert_int_equal(err, 0);
    rd_set_thread(in->r, false);
    while ((k = rd_next(in->r, &it)) > 0) {
        if (in->n == cap) {
            cap = cap ? cap * 2 : 256;
            in->it = realloc(in->it, (size_t)cap * sizeof(*in->it));
            assert_non_null(in->it);
        }
        in->it[in->n++] = it;
    }
    assert_int_equal(k, 0);
}

static void items_done(struct items *in)
{
    free(in->it);
    rd_close(in->r);
}

static int agg_all(const struct items *in, struct agg **ap)
{
    int err;

    *ap = agg_new(rd_header(in->r));
    if (*ap == NULL)
        return -ENOMEM;
    for (int i = 0; i < in->n; i++)
        if ((err = agg_feed(*ap, &in->it[i])) < 0)
            return err;
    return agg_finish(*ap, in->r, NULL);
}

/* What the child of fail_each_allocation reports, in memory shared with the parent. */
struct fail_report {
    int k;         /* the allocation failing now; at the end, how many a run makes */
    char msg[512]; /* why it stopped, if it stopped on a wrong answer */
};

/* Fails the k-th allocation, for k from 0 until a run has none left to fail: every
 * failure must come back as -ENOMEM from agg_new (NULL), agg_feed or agg_finish, and
 * agg_free must give back every block taken. The loop runs in a child process, so that
 * a crash in a failure path is reported as this test's failure, naming the allocation,
 * instead of ending every test. The run with no failure must then give the figures
 * `check` expects. Returns the number of allocations a whole run makes. */
static int fail_each_allocation(const char *path, void (*check)(const struct agg *))
{
    struct fail_report *rep =
        mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct items in;
    struct agg *a;
    int status;

    assert_true(rep != MAP_FAILED);
    memset(rep, 0, sizeof(*rep));
    read_items(path, &in);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int k = 0;; k++) {
            rep->k = k;
            live = 0;
            failed = false;
            counting = true;
            fail_in = k;
            int err = agg_all(&in, &a);
            fail_in = -1;
            if (failed ? err != -ENOMEM : err != 0) {
                snprintf(rep->msg, sizeof(rep->msg),
                         "%s: allocation %d failing: expected %d vs got %d", path, k,
                         failed ? -ENOMEM : 0, err);
                _exit(1);
            }
            agg_free(a);
            counting = false;
            if (live != 0) {
                snprintf(rep->msg, sizeof(rep->msg),
                         "%s: allocation %d failing: expected agg_free to give back every "
                         "block vs %ld kept",
                         path, k, live);
                _exit(1);
            }
            if (!failed)
                _exit(0);
        }
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[sizeof(rep->msg) + 200];
        if (rep->msg[0] != '\0')
            snprintf(msg, sizeof(msg), "%s", rep->msg);
        else
            snprintf(msg, sizeof(msg),
                     "%s: allocation %d failing: the aggregator crashed (%s %d; the "
                     "sanitizer's report, if any, is above)",
                     path, rep->k, WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        munmap(rep, sizeof(*rep));
        items_done(&in);
        fail_msg("%s", msg);
    }
    int n = rep->k;
    munmap(rep, sizeof(*rep));
    assert_int_equal(agg_all(&in, &a), 0);
    check(a);
    agg_free(a);
    items_done(&in);
    return n;
}

static void scenario_a_allocation_failures(void **state)
{
    struct lb_log l;
    char path[PATH_MAX];

    (void)state;
    scenario_a(&l, LF_VERSION);
    write_log(&l, "a-fail.hsl", path, sizeof(path));
    lb_fini(&l);
    int n = fail_each_allocation(path, check_scenario_a);
    if (n < 20) /* the wrappers were linked in and saw the aggregator's allocations */
        fail_msg("expected the aggregator to make 20 allocations or more vs got %d", n);
}

/*
 * A log past the size of every table the aggregator starts with, so that each one's
 * growth fails too: 40 threads (the thread table starts at 64 slots, half used), 1200
 * live blocks (the live set starts at 1024 slots, half used), stack id 1500 (the stack
 * table starts at 1024), 131 sites with a frame each (the string tables start at 256
 * slots, half used), and a bloat candidate: stack 1 holds 1000 blocks of 16 bytes.
 *
 * Thread t (0-39) allocates blocks b = 30 t + j (j 0-29), 16 bytes from stack 1 for b
 * below 1000, then 32 bytes from stacks 2-130, then from stack 1500; each thread frees
 * its last block: 40 frees, all temporaries.
 */
#define BIG_THREADS 40
#define BIG_PER     30

static uint32_t big_stack(int b)
{
    return b < 1000 ? 1 : b < 1129 ? (uint32_t)(b - 998) : 1500;
}

static void check_big(const struct agg *a)
{
    const struct agg_totals *t = agg_totals(a);

    expect_num("allocations", t->allocations, BIG_THREADS * BIG_PER);
    /* 1000 x 16 + 200 x 32 */
    expect_num("allocated bytes", t->allocated_bytes, 16000 + 6400);
    expect_num("frees", t->frees, BIG_THREADS);
    expect_num("temporaries", t->temporary_allocations, BIG_THREADS);
    /* Each thread's last block: b = 30 t + 29; the first 33 (b < 1000) are stack 1's. */
    expect_num("leaked bytes", t->leaked_bytes, 16000 + 6400 - 33 * 16 - 7 * 32);
    assert_int_equal(agg_n_sites(a), 131);
    assert_int_equal(agg_n_functions(a), 131);
    assert_int_equal(agg_n_lines(a), 131);
    const struct model_site *s1 = find_site(a, 0x1010, 0);
    expect_num("stack 1 allocations", s1->st.allocations, 1000);
    expect_num("stack 1 leaked blocks", s1->st.leaked_allocations, 1000 - 33);
    expect_num("stack 1500 allocations", find_site(a, 0x1f00, 0)->st.allocations, 71);
    assert_int_equal(agg_n_bloats(a), 1);
    expect_num("bloat size", (double)agg_bloat(a, 0)->size, 16);
}

static void big_log(struct lb_log *l)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct stack_def *stacks = calloc(131, sizeof(*stacks));
    struct lf_event ev[BIG_PER + 1];

    assert_non_null(stacks);
    for (int i = 0; i < 130; i++)
        stacks[i] = (struct stack_def){ (uint32_t)i + 1, 1, { 0x401000 + 16 * ((uint64_t)i + 1) } };
    stacks[130] = (struct stack_def){ 1500, 1, { 0x401f00 } };
    lb_init(l, &f);
    program(l, stacks, 131, false);
    free(stacks);
    for (int t = 0; t < BIG_THREADS; t++) {
        int n = 0;
        for (int j = 0; j < BIG_PER; j++) {
            int b = BIG_PER * t + j;
            ev[n++] = lb_ev_alloc(LF_FN_MALLOC, T0 + 100 + 50 * (uint64_t)j + (uint64_t)t,
                                  0x1000000 + 64 * (uint64_t)b, b < 1000 ? 16 : 32, big_stack(b));
        }
        ev[n++] = lb_ev_free(T0 + 100 + 50 * BIG_PER + (uint64_t)t,
                             0x1000000 + 64 * (uint64_t)(BIG_PER * t + BIG_PER - 1));
        lb_events_chunk(l, 300 + (uint32_t)t, T0 + 100, ev, n, LB_ZSTD_COLUMNS);
    }
    lb_close(l);
}

static void big_log_figures(void **state)
{
    struct lb_log l;
    struct run run;
    char path[PATH_MAX];

    (void)state;
    big_log(&l);
    write_log(&l, "big.hsl", path, sizeof(path));
    lb_fini(&l);
    aggregate(path, true, 0, 0, &run);
    check_big(run.a);
    run_done(&run);
}

static void big_log_allocation_failures(void **state)
{
    struct lb_log l;
    char path[PATH_MAX];

    (void)state;
    big_log(&l);
    write_log(&l, "big-fail.hsl", path, sizeof(path));
    lb_fini(&l);
    int n = fail_each_allocation(path, check_big);
    if (n < 131 * 4)
        fail_msg("expected at least 4 allocations per site vs got %d for 131", n);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmp_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- Python frames (format/logfmt.h, LF_PY_FRAME) ----
 *
 * /bin/synthetic plays the interpreter (its pc 0x401010 the evaluation loop, 0x401500
 * its main), /lib/ext.so an extension (0x7e0000000100). Stack 1: the extension called
 * from Python code 1 (Outer.work in app.py, first line 10) at instruction 5, which
 * CPython's table for it puts on line 12. Stack 2: the same, but the shim dropped the 3
 * frames of that loop call. */
static void python_log(struct lb_log *l)
{
    static const char *const argv[] = { "python3", "app.py" };
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 }, ext_seg = { 0, 0x1000, 5 };
    static const uint8_t table[] = { 0x80, 0x00, 0xdb, 0x02, 0x02, 0xda, 0x02, 0x04 };
    const uint64_t s1[] = { 0x7e0000000100, 0x401010, LF_PY_FRAME | LF_PY_ENTRY | 6ull << 32 | 1,
                            0x401500 };
    const uint64_t s2[] = { 0x7e0000000100, 0x401010, LF_PY_FRAME | 3ull << 32, 0x401500 };
    struct lb_buf c = { 0 };
    struct lb_file f = lb_file_default(LF_VERSION);

    lb_init(l, &f);
    lb_meta_process(&c, "/bin/synthetic", 2, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, T0 + 1000000, 5001000000ull, 1700000000001000000ull);
    lb_meta_python(&c, T0, 0x030b02f0, LF_PYTHON_STACKS, "malloc", "");
    lb_meta_pycode(&c, 1, 10, 8, "Outer.work", "app.py", table, sizeof(table));
    lb_meta_stack(&c, 1, 4, s1);
    lb_meta_stack(&c, 2, 4, s2);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &seg, (const uint8_t *)"\x01\x02", 2, "/bin/synthetic");
    lb_meta_module(&c, T0, 2, 0x7e0000000000, 1, &ext_seg, (const uint8_t *)"\x03", 1,
                   "/lib/ext.so");
    lb_meta_chunk(l, &c, LB_ZSTD_CHUNK);
    struct lf_event ev[] = { lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 100, 1),
                             lb_ev_alloc(LF_FN_MALLOC, T0 + 20, 0x10100, 200, 2) };
    lb_events_chunk(l, 100, T0 + 10, ev, 2, LB_ZSTD_COLUMNS);
    c.len = 0;
    lb_meta_end(&c, T0 + 50, 0, LF_END_EXIT);
    lb_meta_chunk(l, &c, 0);
    lb_buf_fini(&c);
    lb_close(l);
}

/* The site of the block of size bytes, or a failure. */
static const struct model_site *site_of_size(const struct agg *a, double size)
{
    for (int i = 0; i < agg_n_sites(a); i++)
        if (agg_site(a, i)->st.allocated_bytes == size)
            return agg_site(a, i);
    fail_msg("no site of %g bytes", size);
    return NULL;
}

static void expect_frames(const char *what, const struct model_site *s, const char *want)
{
    char got[512] = "";
    size_t len = 0;
    for (int i = 0; i < s->n_frames && len < sizeof(got); i++) {
        const struct model_frame *f = s->frames[i];
        if (f->function != NULL)
            len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s@%s:%d", i ? " " : "",
                                    f->function, f->file ? f->file : "?", f->line);
        else
            len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s+0x%" PRIx64, i ? " " : "",
                                    f->module, f->module_offset);
    }
    if (strcmp(got, want) != 0)
        fail_msg("%s: expected frames '%s' vs got '%s'", what, want, got);
}

static void python_frames(void **state)
{
    struct lb_log l;
    struct run run;
    char path[256];

    (void)state;
    python_log(&l);
    write_log(&l, "python.hsl", path, sizeof(path));
    lb_fini(&l);
    for (int internals = 0; internals < 2; internals++) {
        struct rd_item it;
        int err = 0, k;
        memset(&run, 0, sizeof(run));
        run.r = rd_open(path, &err);
        assert_non_null(run.r);
        assert_int_equal(err, 0);
        run.a = agg_new(rd_header(run.r));
        assert_non_null(run.a);
        agg_set_python_internals(run.a, internals);
        while ((k = rd_next(run.r, &it)) > 0)
            assert_int_equal(agg_feed(run.a, &it), 0);
        assert_int_equal(k, 0);
        assert_int_equal(agg_finish(run.a, run.r, NULL), 0);
        const struct rd_python *py = rd_python(run.r);
        assert_true(py->seen && py->stacks);
        assert_int_equal(py->version, 0x030b02f0);
        assert_string_equal(py->allocator, "malloc");
        if (internals)
            expect_frames("--python-internals", site_of_size(run.a, 100),
                          "ext.so+0x100 synthetic+0x1010 Outer.work@app.py:12 synthetic+0x1500");
        else
            expect_frames("Python frames for the interpreter's", site_of_size(run.a, 100),
                          "ext.so+0x100 Outer.work@app.py:12");
        /* No Python frame to stand for them: the interpreter's frames stay. */
        expect_frames("frames dropped", site_of_size(run.a, 200),
                      "ext.so+0x100 synthetic+0x1010 synthetic+0x1500");
        const struct agg_python *ap = agg_python(run.a);
        expect_num("dropped_frames", (double)ap->dropped_frames, 3);
        expect_num("dropped_stacks", (double)ap->dropped_stacks, 1);
        assert_true(ap->frames_seen);
        run_done(&run);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usable_size_glibc),
        cmocka_unit_test(usable_size_jemalloc),
        cmocka_unit_test(scenario_a_figures),
        cmocka_unit_test(scenario_a_same_every_way),
        cmocka_unit_test(scenario_a_cut_short),
        cmocka_unit_test(window_figures),
        cmocka_unit_test(allocation_over_live_block),
        cmocka_unit_test(temporaries_per_thread),
        cmocka_unit_test(slack_by_allocator),
        cmocka_unit_test(bloat_candidates),
        cmocka_unit_test(sampled_weights),
        cmocka_unit_test(big_log_figures),
        cmocka_unit_test(python_frames),
        cmocka_unit_test(scenario_a_allocation_failures),
        cmocka_unit_test(big_log_allocation_failures),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
