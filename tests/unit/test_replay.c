/*
 * test_replay.c - unit tests for analyzer/replay.c, the live-block accounting engine,
 * and for the aggregator's points on top of it. Synthetic logs (tests/lib/logbuild.h),
 * whose every figure is known by construction, go through the real reader into
 * rp_feed; the state at the end, the peak, each marker and a time is checked exactly
 * against the hand computation written beside the log.
 *
 * Built with ASan and UBSan.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/aggregate.h"
#include "analyzer/reader.h"
#include "analyzer/replay.h"
#include "format/logfmt.h"
#include "tests/lib/logbuild.h"

static char tmp_dir[] = "/tmp/test_replay.XXXXXX";

#define T0 LB_START_TICKS

/* ---- the log ---- */

/*
 * One thread (100), three stacks, two markers; times are T0 + the figure, a tick is a
 * nanosecond. Frames: stack 1 at synthetic+0x1010, 2 at +0x1020, 3 at +0x1030.
 *
 *   time  event                                   live   peak
 *    100  alloc 0x1000 100 s1                      100    100
 *    110  alloc 0x2000 200 s2                      300    300
 *    120  free 0x1000 (s2 allocated since: not     200
 *         a temporary)
 *    130  [marker 1, signal, serial 1]
 *    140  alloc 0x3000 1000 s3                    1200   1200
 *    150  free 0x3000: a temporary                 200
 *    160  alloc 0x4000 400 s1                      600
 *    170  [marker 2, interval, serial 2]
 *    180  alloc 0x5000 50 s2                       650
 *    190  free 0x2000                              450
 *    300  end, 3 lost
 *
 * At the end: 5 allocations, 1750 bytes, 3 frees, 1 temporary; peak 1200 at 140; live
 * 450 in 2 blocks (0x4000 s1, 0x5000 s2); 2 markers; 3 lost.
 *   s1: 2 allocations, 500 bytes, 1 free; live 400; at the peak 0
 *   s2: 2 allocations, 250 bytes, 1 free; live 50; at the peak 200
 *   s3: 1 allocation, 1000 bytes, 1 free, 1 temporary; live 0; at the peak 1000
 * At the peak (140, a3 just allocated): 3 allocations, 1300 bytes, 1 free; live 1200
 * in 2 blocks; 1 marker.
 *   s1: 1, 100 bytes, 1 free, live 0;  s2: 1, 200, live 200;  s3: 1, 1000, live 1000
 * At marker 1 (130): 2 allocations, 300 bytes, 1 free; live 200 in 1 block; peak 300
 * at 110.
 *   s1: 1, 100, 1 free, live 0, at that peak 100;  s2: 1, 200, live 200, at the peak 200
 * At marker 2 (170): 4 allocations, 1700 bytes, 2 frees, 1 temporary; live 600 in 2
 * blocks; peak 1200 at 140.
 *   s1: 2, 500, 1 free, live 400, at the peak 0;  s2: 1, 200, live 200, peak 200;
 *   s3: 1, 1000, 1 free, 1 temporary, live 0, peak 1000
 * At time 155: as after the free at 150: 3 allocations, 1300 bytes, 2 frees, 1
 * temporary; live 200; peak 1200 at 140; 1 marker.
 */
static void write_log(const char *name, char *path, size_t cap)
{
    static const char *const argv[] = { "synthetic" };
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 };
    static const uint64_t pcs[3] = { 0x401010, 0x401020, 0x401030 };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x1000, 100, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x2000, 200, 2),
        lb_ev_free(T0 + 120, 0x1000),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 140, 0x3000, 1000, 3),
        lb_ev_free(T0 + 150, 0x3000),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 160, 0x4000, 400, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 180, 0x5000, 50, 2),
        lb_ev_free(T0 + 190, 0x2000),
    };
    struct lb_buf c = { 0 }, c2 = { 0 };
    struct lb_log l;

    lb_init(&l, &f);
    lb_meta_process(&c, "/bin/synthetic", 1, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, T0 + 1000000, 5001000000ull, 1700000000001000000ull);
    for (uint32_t i = 0; i < 3; i++)
        lb_meta_stack(&c, i + 1, 1, &pcs[i]);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &seg, (const uint8_t *)"\x01\x02", 2, "/bin/synthetic");
    lb_meta_chunk(&l, &c, LB_ZSTD_CHUNK);
    lb_events_chunk(&l, 100, T0 + 100, ev, (int)(sizeof(ev) / sizeof(ev[0])), LB_ZSTD_COLUMNS);
    lb_meta_marker(&c2, T0 + 130, LF_MARKER_SIGNAL, 1);
    lb_meta_marker(&c2, T0 + 170, LF_MARKER_INTERVAL, 2);
    lb_meta_end(&c2, T0 + 300, 3, LF_END_EXIT);
    lb_meta_chunk(&l, &c2, 0);
    lb_close(&l);
    snprintf(path, cap, "%s/%s", tmp_dir, name);
    assert_int_equal(lb_write(&l, path), 0);
    lb_buf_fini(&c);
    lb_buf_fini(&c2);
    lb_fini(&l);
}

/* The log's items, read once on this thread; the reader stays open for the
 * aggregator's tests (its stacks and modules). */
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
            cap = cap ? cap * 2 : 64;
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

/* A replay of every item, stopped at pt (NULL: the end), finished. */
static struct replay *replay_to(const struct items *in, const struct rp_point *pt)
{
    struct replay *p = rp_new(rd_header(in->r), 0);
    assert_non_null(p);
    if (pt != NULL)
        assert_int_equal(rp_stop_at(p, pt), 0);
    for (int i = 0; i < in->n; i++)
        assert_true(rp_feed(p, &in->it[i]) >= 0);
    rp_finish(p);
    return p;
}

/* ---- checking ---- */

static void expect_num(const char *what, double got, double want)
{
    if (got != want)
        fail_msg("%s: expected %.17g vs got %.17g", what, want, got);
}

struct want_totals {
    double allocations, bytes, frees, temporaries, live, blocks, peak;
    uint64_t peak_at, markers, lost;
};

static void expect_totals(const char *what, const struct replay *p, const struct want_totals *w)
{
    struct rp_totals t;
    char name[128];

    rp_point_totals(p, &t);
#define EXPECT(field, want)                                           \
    do {                                                              \
        snprintf(name, sizeof(name), "%s: totals: %s", what, #field); \
        expect_num(name, (double)t.field, (double)(want));            \
    } while (0)
    EXPECT(allocations, w->allocations);
    EXPECT(allocated_bytes, w->bytes);
    EXPECT(frees, w->frees);
    EXPECT(temporary_allocations, w->temporaries);
    EXPECT(live_bytes, w->live);
    EXPECT(live_blocks, w->blocks);
    EXPECT(peak_live_bytes, w->peak);
    EXPECT(peak_time, T0 + w->peak_at);
    EXPECT(markers, w->markers);
    EXPECT(lost_events, w->lost);
#undef EXPECT
}

struct want_stack {
    bool used;
    double allocations, bytes, frees, temporaries, live, blocks, peak;
};

static void expect_stack(const char *what, const struct replay *p, uint32_t id,
                         const struct want_stack *w)
{
    struct rp_stack s;
    char name[128];
    bool used = rp_point_stack(p, id, &s);

    if (used != w->used)
        fail_msg("%s: stack %u: expected %s vs got %s", what, id, w->used ? "used" : "unused",
                 used ? "used" : "unused");
    if (!used)
        return;
#define EXPECT(field, want)                                                 \
    do {                                                                    \
        snprintf(name, sizeof(name), "%s: stack %u: %s", what, id, #field); \
        expect_num(name, s.field, want);                                    \
    } while (0)
    EXPECT(st.allocations, w->allocations);
    EXPECT(st.allocated_bytes, w->bytes);
    EXPECT(st.frees, w->frees);
    EXPECT(st.temporary_allocations, w->temporaries);
    EXPECT(live_bytes, w->live);
    EXPECT(live_blocks, w->blocks);
    EXPECT(st.live_bytes, w->live);
    EXPECT(st.leaked_bytes, w->live);
    EXPECT(st.leaked_allocations, w->blocks);
    EXPECT(st.peak_live_bytes, w->peak);
#undef EXPECT
}

/* ---- the points ---- */

static void at_end(void **state)
{
    char path[PATH_MAX];
    struct items in;

    (void)state;
    write_log("end.hsl", path, sizeof(path));
    read_items(path, &in);
    struct replay *p = replay_to(&in, NULL);
    const struct want_totals t = { 5, 1750, 3, 1, 450, 2, 1200, 140, 2, 3 };
    const struct want_stack s1 = { true, 2, 500, 1, 0, 400, 1, 0 },
                            s2 = { true, 2, 250, 1, 0, 50, 1, 200 },
                            s3 = { true, 1, 1000, 1, 1, 0, 0, 1000 }, none = { false };
    expect_totals("end", p, &t);
    expect_stack("end", p, 1, &s1);
    expect_stack("end", p, 2, &s2);
    expect_stack("end", p, 3, &s3);
    expect_stack("end", p, 0, &none);
    expect_stack("end", p, 4, &none);
    assert_true(rp_where(p)->reached);
    expect_num("end: the point's time", (double)rp_where(p)->time, T0 + 190);
    expect_num("end: live blocks in the map", (double)ls_count(rp_live(p)), 2);
    rp_free(p);
    items_done(&in);
}

static void at_peak(void **state)
{
    char path[PATH_MAX];
    struct items in;
    const struct rp_point pt = { RP_AT_PEAK, 0, 0 };

    (void)state;
    write_log("peak.hsl", path, sizeof(path));
    read_items(path, &in);
    struct replay *p = replay_to(&in, &pt);
    const struct want_totals t = { 3, 1300, 1, 0, 1200, 2, 1200, 140, 1, 0 };
    const struct want_stack s1 = { true, 1, 100, 1, 0, 0, 0, 0 },
                            s2 = { true, 1, 200, 0, 0, 200, 1, 200 },
                            s3 = { true, 1, 1000, 0, 0, 1000, 1, 1000 };
    expect_totals("peak", p, &t);
    expect_stack("peak", p, 1, &s1);
    expect_stack("peak", p, 2, &s2);
    expect_stack("peak", p, 3, &s3);
    assert_true(rp_where(p)->reached);
    expect_num("peak: the point's time", (double)rp_where(p)->time, T0 + 140);
    rp_free(p);
    items_done(&in);
}

static void at_markers(void **state)
{
    char path[PATH_MAX];
    struct items in;
    const struct rp_point m1 = { RP_AT_MARKER, 1, 0 }, m2 = { RP_AT_MARKER, 2, 0 },
                          m3 = { RP_AT_MARKER, 3, 0 }, m0 = { RP_AT_MARKER, 0, 0 };

    (void)state;
    write_log("markers.hsl", path, sizeof(path));
    read_items(path, &in);

    struct replay *p = replay_to(&in, &m1);
    const struct want_totals t1 = { 2, 300, 1, 0, 200, 1, 300, 110, 1, 0 };
    const struct want_stack a1 = { true, 1, 100, 1, 0, 0, 0, 100 },
                            b1 = { true, 1, 200, 0, 0, 200, 1, 200 }, none = { false };
    expect_totals("marker 1", p, &t1);
    expect_stack("marker 1", p, 1, &a1);
    expect_stack("marker 1", p, 2, &b1);
    expect_stack("marker 1", p, 3, &none);
    assert_true(rp_where(p)->reached);
    expect_num("marker 1: time", (double)rp_where(p)->time, T0 + 130);
    assert_int_equal(rp_where(p)->marker_serial, 1);
    assert_int_equal(rp_where(p)->marker_kind, LF_MARKER_SIGNAL);
    rp_free(p);

    p = replay_to(&in, &m2);
    const struct want_totals t2 = { 4, 1700, 2, 1, 600, 2, 1200, 140, 2, 0 };
    const struct want_stack a2 = { true, 2, 500, 1, 0, 400, 1, 0 },
                            b2 = { true, 1, 200, 0, 0, 200, 1, 200 },
                            c2 = { true, 1, 1000, 1, 1, 0, 0, 1000 };
    expect_totals("marker 2", p, &t2);
    expect_stack("marker 2", p, 1, &a2);
    expect_stack("marker 2", p, 2, &b2);
    expect_stack("marker 2", p, 3, &c2);
    expect_num("marker 2: time", (double)rp_where(p)->time, T0 + 170);
    assert_int_equal(rp_where(p)->marker_serial, 2);
    assert_int_equal(rp_where(p)->marker_kind, LF_MARKER_INTERVAL);
    rp_free(p);

    /* Two markers: the third is never reached. */
    p = replay_to(&in, &m3);
    assert_false(rp_where(p)->reached);
    rp_free(p);

    p = rp_new(rd_header(in.r), 0);
    assert_non_null(p);
    assert_int_equal(rp_stop_at(p, &m0), -EINVAL);
    rp_free(p);
    items_done(&in);
}

/* Paused at every marker, the state there is the state of a replay stopped there. */
static void paused_at_each_marker(void **state)
{
    char path[PATH_MAX];
    struct items in;
    int seen = 0;

    (void)state;
    write_log("pause.hsl", path, sizeof(path));
    read_items(path, &in);
    struct replay *p = rp_new(rd_header(in.r), 0);
    assert_non_null(p);
    rp_pause_at_markers(p, true);
    for (int i = 0; i < in.n; i++) {
        int k = rp_feed(p, &in.it[i]);
        assert_true(k == 0 || k == RP_MARKER);
        if (k != RP_MARKER)
            continue;
        seen++;
        const struct rp_point pt = { RP_AT_MARKER, (uint32_t)seen, 0 };
        struct replay *q = replay_to(&in, &pt);
        struct rp_totals tp, tq;
        rp_point_totals(p, &tp);
        rp_point_totals(q, &tq);
        expect_num("paused: allocations", tp.allocations, tq.allocations);
        expect_num("paused: frees", tp.frees, tq.frees);
        expect_num("paused: live", tp.live_bytes, tq.live_bytes);
        expect_num("paused: peak", tp.peak_live_bytes, tq.peak_live_bytes);
        for (uint32_t id = 1; id <= 3; id++) {
            struct rp_stack a, b;
            bool ua = rp_point_stack(p, id, &a), ub = rp_point_stack(q, id, &b);
            assert_int_equal(ua, ub);
            if (!ua)
                continue;
            expect_num("paused: stack allocations", a.st.allocations, b.st.allocations);
            expect_num("paused: stack live", a.live_bytes, b.live_bytes);
            expect_num("paused: stack peak", a.st.peak_live_bytes, b.st.peak_live_bytes);
        }
        rp_free(q);
    }
    assert_int_equal(seen, 2);
    rp_free(p);
    items_done(&in);
}

static void at_time(void **state)
{
    char path[PATH_MAX];
    struct items in;
    const struct rp_point t155 = { RP_AT_TIME, 0, T0 + 155 }, t190 = { RP_AT_TIME, 0, T0 + 190 },
                          t999 = { RP_AT_TIME, 0, T0 + 999 };

    (void)state;
    write_log("time.hsl", path, sizeof(path));
    read_items(path, &in);
    struct replay *p = replay_to(&in, &t155);
    const struct want_totals t = { 3, 1300, 2, 1, 200, 1, 1200, 140, 1, 0 };
    const struct want_stack s3 = { true, 1, 1000, 1, 1, 0, 0, 1000 };
    expect_totals("time 155", p, &t);
    expect_stack("time 155", p, 3, &s3);
    assert_true(rp_where(p)->reached);
    expect_num("time 155: time", (double)rp_where(p)->time, T0 + 155);
    rp_free(p);

    /* An item at T exactly is in; the end record at 300 comes after, so the log
     * reaches 190. */
    p = replay_to(&in, &t190);
    assert_true(rp_where(p)->reached);
    const struct want_totals tt = { 5, 1750, 3, 1, 450, 2, 1200, 140, 2, 0 };
    expect_totals("time 190", p, &tt);
    rp_free(p);

    /* Past every item: not reached. */
    p = replay_to(&in, &t999);
    assert_false(rp_where(p)->reached);
    rp_free(p);
    items_done(&in);
}

/* dump's counts: every record one block, a sampled log or not, and a block whose
 * address is allocated again counted as replaced. */
static void unweighted_and_replaced(void **state)
{
    static const uint64_t pc = 0x401010;
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x1000, 1000, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x1000, 3000, 1),
        lb_ev_free(T0 + 120, 0x1000),
        lb_ev_free(T0 + 130, 0x9000),
    };
    struct lb_buf c = { 0 };
    struct lb_log l;
    struct items in;
    char path[PATH_MAX];

    (void)state;
    f.sample_bytes = 4096;
    lb_init(&l, &f);
    lb_meta_stack(&c, 1, 1, &pc);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &seg, (const uint8_t *)"", 0, "/bin/synthetic");
    lb_meta_chunk(&l, &c, 0);
    lb_events_chunk(&l, 100, T0 + 100, ev, 4, LB_ZSTD_COLUMNS);
    lb_close(&l);
    snprintf(path, sizeof(path), "%s/unweighted.hsl", tmp_dir);
    assert_int_equal(lb_write(&l, path), 0);
    lb_buf_fini(&c);
    lb_fini(&l);
    read_items(path, &in);

    struct replay *p = rp_new(rd_header(in.r), RP_UNWEIGHTED);
    assert_non_null(p);
    for (int i = 0; i < in.n; i++)
        assert_int_equal(rp_feed(p, &in.it[i]), 0);
    rp_finish(p);
    struct rp_totals t;
    rp_point_totals(p, &t);
    assert_false(t.sampled);
    expect_num("allocations", t.allocations, 2);
    expect_num("bytes", t.allocated_bytes, 4000);
    expect_num("frees (1 record, 1 replaced)", t.frees, 2);
    expect_num("replaced", (double)t.replaced, 1);
    expect_num("unknown frees", (double)t.unknown_frees, 1);
    expect_num("peak", t.peak_live_bytes, 3000);
    expect_num("live", t.live_bytes, 0);
    rp_free(p);

    /* Weighted, the same log's blocks stand for more than one. */
    p = replay_to(&in, NULL);
    rp_point_totals(p, &t);
    assert_true(t.sampled);
    assert_true(t.allocations > 2);
    rp_free(p);
    items_done(&in);
}

/* The aggregator at a marker: its sites carry the replay's figures there, and a second
 * replay paused at the same marker makes the same point (agg_point_new). */
static void aggregate_at_marker(void **state)
{
    char path[PATH_MAX];
    struct items in;
    const struct rp_point m2 = { RP_AT_MARKER, 2, 0 };

    (void)state;
    write_log("agg.hsl", path, sizeof(path));
    read_items(path, &in);

    struct agg *a = agg_new(rd_header(in.r));
    assert_non_null(a);
    assert_int_equal(agg_stop_at(a, &m2), 0);
    for (int i = 0; i < in.n; i++)
        assert_int_equal(agg_feed(a, &in.it[i]), 0);
    assert_int_equal(agg_finish(a, in.r, NULL), 0);
    assert_true(agg_where(a)->reached);
    const struct agg_totals *t = agg_totals(a);
    expect_num("marker 2: allocations", t->allocations, 4);
    expect_num("marker 2: leaked", t->leaked_bytes, 600);
    expect_num("marker 2: live", t->live_bytes, 600);
    expect_num("marker 2: markers", (double)t->markers, 2);
    assert_int_equal(agg_n_sites(a), 3);
    double live = 0, peak = 0;
    for (int i = 0; i < agg_n_sites(a); i++) {
        live += agg_site(a, i)->st.live_bytes;
        peak += agg_site(a, i)->st.peak_live_bytes;
    }
    expect_num("marker 2: the sites' live bytes", live, 600);
    expect_num("marker 2: the sites' bytes at the peak", peak, 1200);

    /* The second pass, on a finished aggregate of the whole log. */
    struct agg *whole = agg_new(rd_header(in.r));
    assert_non_null(whole);
    for (int i = 0; i < in.n; i++)
        assert_int_equal(agg_feed(whole, &in.it[i]), 0);
    assert_int_equal(agg_finish(whole, in.r, NULL), 0);
    struct replay *p = rp_new(rd_header(in.r), 0);
    assert_non_null(p);
    rp_pause_at_markers(p, true);
    int markers = 0;
    for (int i = 0; i < in.n; i++) {
        if (rp_feed(p, &in.it[i]) != RP_MARKER || ++markers != 2)
            continue;
        struct agg_point *pt;
        struct model m;
        assert_int_equal(agg_point_new(whole, p, &pt), 0);
        memset(&m, 0, sizeof(m));
        agg_point_fill_model(pt, &m);
        assert_int_equal(m.n_sites, agg_n_sites(a));
        for (int k = 0; k < m.n_sites; k++) {
            expect_num("second pass: live", m.sites[k].st.live_bytes,
                       agg_site(a, k)->st.live_bytes);
            expect_num("second pass: allocations", m.sites[k].st.allocations,
                       agg_site(a, k)->st.allocations);
            assert_int_equal(m.sites[k].n_frames, agg_site(a, k)->n_frames);
            assert_int_equal(m.sites[k].frames[0]->module_offset,
                             agg_site(a, k)->frames[0]->module_offset);
        }
        expect_num("second pass: totals live", agg_point_totals(pt)->live_bytes, 600);
        agg_point_free(pt);
    }
    assert_int_equal(markers, 2);
    rp_free(p);
    agg_free(whole);
    agg_free(a);
    items_done(&in);
}

/* The live total over time (rp_timeline) of the log above: buckets of one tick from
 * the first event (100), each holding the live total it starts with, its highest,
 * lowest and last; the markers with their times and kinds. Up to marker 1, it stops
 * there. */
static void timeline(void **state)
{
    char path[PATH_MAX];
    struct items in;

    (void)state;
    write_log("timeline.hsl", path, sizeof(path));
    read_items(path, &in);
    struct replay *p = replay_to(&in, NULL);
    const struct rp_timeline *tl = rp_timeline(p);
    assert_int_equal(tl->start, T0 + 100);
    assert_int_equal(tl->shift, 0);
    assert_int_equal(tl->n, 91); /* 100 .. 190 */
    static const struct {
        int at;
        double max, min, end;
    } want[] = {
        { 0, 100, 0, 100 },    { 5, 100, 100, 100 },    { 10, 300, 100, 300 },
        { 20, 300, 200, 200 }, { 40, 1200, 200, 1200 }, { 50, 1200, 200, 200 },
        { 60, 600, 200, 600 }, { 80, 650, 600, 650 },   { 90, 650, 450, 450 },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct rp_timeline_point *pt = &tl->pt[want[i].at];
        if (pt->max != want[i].max || pt->min != want[i].min || pt->end != want[i].end)
            fail_msg("bucket %d: expected %g/%g/%g vs got %g/%g/%g", want[i].at, want[i].max,
                     want[i].min, want[i].end, pt->max, pt->min, pt->end);
    }
    assert_int_equal(tl->n_markers, 2);
    assert_int_equal(tl->markers[0].time, T0 + 130);
    assert_int_equal(tl->markers[0].kind, LF_MARKER_SIGNAL);
    assert_int_equal(tl->markers[1].time, T0 + 170);
    assert_int_equal(tl->markers[1].serial, 2);
    rp_free(p);

    const struct rp_point m1 = { .at = RP_AT_MARKER, .marker = 1 };
    p = replay_to(&in, &m1);
    tl = rp_timeline(p);
    assert_int_equal(tl->n, 21); /* up to the free at 120 */
    assert_int_equal(tl->n_markers, 1);
    rp_free(p);
    items_done(&in);
}

/* 5,000 allocations of one byte, one a tick: past 1,024 buckets, neighbours merge and
 * the width doubles, to 8 ticks (625 buckets); each bucket still holds its exact
 * highest, lowest and last, and the highest of all is the peak. */
static void timeline_halves(void **state)
{
    struct rd_header h = { 0 };
    struct replay *p = rp_new(&h, 0);
    (void)state;
    assert_non_null(p);
    for (int i = 0; i < 5000; i++) {
        struct rd_item it = { .kind = RD_EVENT, .time = T0 + (uint64_t)i, .tid = 1 };
        it.ev = lb_ev_alloc(LF_FN_MALLOC, it.time, 0x10000 + 16 * (uint64_t)i, 1, 1);
        assert_int_equal(rp_feed(p, &it), 0);
    }
    rp_finish(p);
    const struct rp_timeline *tl = rp_timeline(p);
    assert_int_equal(tl->shift, 3);
    assert_int_equal(tl->n, 625);
    assert_true(tl->pt[0].max == 8 && tl->pt[0].min == 0 && tl->pt[0].end == 8);
    for (int j = 1; j < tl->n; j++)
        if (tl->pt[j].max != 8 * j + 8 || tl->pt[j].min != 8 * j || tl->pt[j].end != 8 * j + 8)
            fail_msg("bucket %d: %g/%g/%g", j, tl->pt[j].max, tl->pt[j].min, tl->pt[j].end);
    rp_free(p);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(at_end),
        cmocka_unit_test(at_peak),
        cmocka_unit_test(at_markers),
        cmocka_unit_test(paused_at_each_marker),
        cmocka_unit_test(at_time),
        cmocka_unit_test(unweighted_and_replaced),
        cmocka_unit_test(aggregate_at_marker),
        cmocka_unit_test(timeline),
        cmocka_unit_test(timeline_halves),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
