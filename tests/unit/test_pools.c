/*
 * test_pools.c - unit tests for analyzer/pools.c through the reader: synthetic logs
 * (tests/lib/logbuild.h) with blocks reported through the API into pools, their names
 * and resets (LF_META_POOL), read with rd_next into the aggregator. Checked exactly:
 * the items a reset becomes (its RD_POOL item, then one free per live block of the
 * pool, at the reset's time and thread), a reset that ties with the next allocation
 * (the reset goes first), a pool block replaced by another allocator's (no longer the
 * pool's), a renamed pool, a window, the per-name figures, and the aggregate's totals.
 *
 * Built with ASan and UBSan and -Wl,--wrap=malloc,...: each allocation the reader, the
 * tracker and the aggregator make fails in turn, and must come back as -ENOMEM with
 * nothing leaked.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer/aggregate.h"
#include "analyzer/pools.h"
#include "analyzer/reader.h"
#include "format/logfmt.h"
#include "tests/lib/logbuild.h"

/* ---- allocation failures on purpose ---- */

static int fail_in = -1;
static bool failed;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

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

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

/* ---- the log ---- */

#define T0   LB_START_TICKS
#define P1   0x5000ull /* the pool's handle */
#define TID1 100
#define TID2 101

static char tmp_dir[] = "/tmp/test_pools.XXXXXX";

static void meta_pool(struct lb_buf *c, uint64_t time, uint32_t tid, int op, uint64_t pool,
                      const char *name)
{
    struct lb_buf b = { 0 };
    lb_put_varint(&b, time);
    lb_put_varint(&b, tid);
    lb_put_varint(&b, (uint64_t)op);
    lb_put_varint(&b, pool);
    if (op == LF_POOL_NAME)
        lb_put_str(&b, name);
    lb_meta_raw(c, LF_META_POOL, b.p, b.len);
    lb_buf_fini(&b);
}

static struct lf_event api_alloc(uint64_t time, uint64_t addr, uint64_t size, uint64_t pool)
{
    struct lf_event e = lb_ev_alloc(LF_FN_API, time, addr, size, 1);
    e.pool = pool;
    return e;
}

static struct lf_event api_free(uint64_t time, uint64_t addr)
{
    struct lf_event e = lb_ev_free(time, addr);
    e.fn = LF_FN_API;
    return e;
}

/*
 * Thread 100 reports into pool P1 ("ctx", then "ctx2"); thread 101 uses malloc. Times
 * are T0 + the figure.
 *
 *   time  event                                        pool ctx live
 *      5  P1 named "ctx"
 *     10  api alloc 0x1000 16  P1                       16
 *     20  api alloc 0x1010 32  P1                       48
 *     30  api alloc 0x1030 48  P1                       96 (the pool's peak)
 *     40  api free  0x1010                              64
 *     50  P1 reset: frees 0x1030, 0x1000 (newest first)  0
 *     50  api alloc 0x1000 64  P1 (ties with the reset,  64
 *         which goes first: this block survives it)
 *     60  api alloc 0x2000 100, no pool                 64
 *     70  api alloc 0x3000 24  P1                       88
 *     80  thread 101: malloc 0x3000 200 (0x3000's free   64
 *         was lost: no longer the pool's)
 *     90  P1 reset: frees 0x1000                         0
 *     95  P1 named "ctx2"
 *    100  api alloc 0x4000 8   P1 (ctx2's)
 *    200  end
 *
 * Totals: 8 allocations, 5 frees (0x1010, the reset's 0x1030 and 0x1000 at 50, 0x3000
 * replaced at 80, 0x1000 at 90); leaked 0x2000 (100), 0x3000 (200), 0x4000 (8): 308 B in
 * 3 blocks; the peak is at 80: 64 + 100 + 200 = 364 B.
 */
static void pool_log(const char *path, uint64_t sample_bytes)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_log l;
    struct lb_buf c = { 0 };
    static const uint64_t pcs[] = { 0x401010 };
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 };
    static const char *const argv[] = { "synthetic" };

    f.sample_bytes = sample_bytes;
    lb_init(&l, &f);
    lb_meta_process(&c, "/bin/synthetic", 1, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_stack(&c, 1, 1, pcs);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &seg, NULL, 0, "/bin/synthetic");
    meta_pool(&c, T0 + 5, TID1, LF_POOL_NAME, P1, "ctx");
    meta_pool(&c, T0 + 50, TID1, LF_POOL_RESET, P1, NULL);
    meta_pool(&c, T0 + 90, TID1, LF_POOL_RESET, P1, NULL);
    meta_pool(&c, T0 + 95, TID1, LF_POOL_NAME, P1, "ctx2");
    lb_meta_chunk(&l, &c, LB_ZSTD_CHUNK);
    lb_buf_fini(&c);

    struct lf_event t1[] = {
        api_alloc(T0 + 10, 0x1000, 16, P1), api_alloc(T0 + 20, 0x1010, 32, P1),
        api_alloc(T0 + 30, 0x1030, 48, P1), api_free(T0 + 40, 0x1010),
        api_alloc(T0 + 50, 0x1000, 64, P1), api_alloc(T0 + 60, 0x2000, 100, 0),
        api_alloc(T0 + 70, 0x3000, 24, P1), api_alloc(T0 + 100, 0x4000, 8, P1),
    };
    struct lf_event t2[] = { lb_ev_alloc(LF_FN_MALLOC, T0 + 80, 0x3000, 200, 1) };
    lb_events_chunk(&l, TID1, T0, t1, (int)(sizeof(t1) / sizeof(t1[0])), LB_ZSTD_COLUMNS);
    lb_events_chunk(&l, TID2, T0, t2, 1, LB_ZSTD_COLUMNS);
    lb_meta_end(&c, T0 + 200, 0, LF_END_EXIT);
    lb_meta_chunk(&l, &c, 0);
    lb_buf_fini(&c);
    lb_close(&l);
    assert_int_equal(lb_write(&l, path), 0);
    lb_fini(&l);
}

/* One item as a line, for comparing what rd_next hands out. */
static void item_line(const struct rd_item *it, char *out, size_t cap)
{
    if (it->kind == RD_POOL)
        snprintf(out, cap, "%" PRIu64 " tid %u pool %d %" PRIx64 " %s %" PRIu64, it->time - T0,
                 it->tid, it->pool_op, it->pool, it->text != NULL ? it->text : "-", it->count);
    else if (it->kind == RD_EVENT)
        snprintf(out, cap, "%" PRIu64 " tid %u %s fn %d %" PRIx64 " pool %" PRIx64, it->time - T0,
                 it->tid, it->ev.type == LF_EV_ALLOC ? "alloc" : "free", it->ev.fn, it->ev.addr,
                 it->ev.pool);
    else
        snprintf(out, cap, "%" PRIu64 " kind %d", it->time - T0, it->kind);
}

struct run {
    struct rd_log *r;
    struct agg *a;
    char items[4096];
    int err;
};

/* Reads path (in [from, to) ticks if to) into the aggregator; run->err is the first
 * failure (or 0), the items' lines are in run->items. */
static void read_log(const char *path, uint64_t from, uint64_t to, struct run *run)
{
    struct rd_item it;
    size_t n = 0;
    int err = 0, k;

    memset(run, 0, sizeof(*run));
    run->r = rd_open(path, &err);
    if (run->r == NULL || err != 0) {
        run->err = run->r == NULL ? -ENOMEM : err;
        return;
    }
    rd_set_thread(run->r, false);
    if (to != 0)
        rd_set_window(run->r, from, to);
    run->a = agg_new(rd_header(run->r));
    if (run->a == NULL) {
        run->err = -ENOMEM;
        return;
    }
    while ((k = rd_next(run->r, &it)) > 0) {
        if ((err = agg_feed(run->a, &it)) < 0) {
            run->err = err;
            return;
        }
        if (it.kind == RD_POOL || it.kind == RD_EVENT) {
            char line[160];
            item_line(&it, line, sizeof(line));
            n += (size_t)snprintf(run->items + n, sizeof(run->items) - n, "%s\n", line);
        }
    }
    run->err = k < 0 ? k : agg_finish(run->a, run->r, NULL);
}

static void run_done(struct run *run)
{
    agg_free(run->a);
    rd_close(run->r);
}

static const struct model_pool *pool_named(struct rd_log *r, const char *name)
{
    int n;
    const struct model_pool *p = pl_pools(rd_pools(r), &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name))
            return &p[i];
    fail_msg("expected a pool named %s vs got none of %d", name, n);
    return NULL;
}

static void expect_num(const char *what, double got, double want)
{
    if (got != want)
        fail_msg("%s: expected %.17g vs got %.17g", what, want, got);
}

static void resets_become_frees(void **state)
{
    char path[128];
    struct run run;

    (void)state;
    snprintf(path, sizeof(path), "%s/pools.hsl", tmp_dir);
    pool_log(path, 0);
    read_log(path, 0, 0, &run);
    assert_int_equal(run.err, 0);
    assert_string_equal(run.items, "5 tid 100 pool 1 5000 ctx 0\n"
                                   "10 tid 100 alloc fn 14 1000 pool 5000\n"
                                   "20 tid 100 alloc fn 14 1010 pool 5000\n"
                                   "30 tid 100 alloc fn 14 1030 pool 5000\n"
                                   "40 tid 100 free fn 14 1010 pool 0\n"
                                   "50 tid 100 pool 2 5000 - 2\n"
                                   "50 tid 100 free fn 14 1030 pool 5000\n"
                                   "50 tid 100 free fn 14 1000 pool 5000\n"
                                   "50 tid 100 alloc fn 14 1000 pool 5000\n"
                                   "60 tid 100 alloc fn 14 2000 pool 0\n"
                                   "70 tid 100 alloc fn 14 3000 pool 5000\n"
                                   "80 tid 101 alloc fn 0 3000 pool 0\n"
                                   "90 tid 100 pool 2 5000 - 1\n"
                                   "90 tid 100 free fn 14 1000 pool 5000\n"
                                   "95 tid 100 pool 1 5000 ctx2 0\n"
                                   "100 tid 100 alloc fn 14 4000 pool 5000\n");

    const struct agg_totals *t = agg_totals(run.a);
    expect_num("allocations", t->allocations, 8);
    expect_num("frees", t->frees, 5);
    expect_num("peak_live_bytes", t->peak_live_bytes, 364);
    expect_num("leaked_bytes", t->leaked_bytes, 308);
    expect_num("leaked_allocations", t->leaked_allocations, 3);
    assert_int_equal(t->unknown_frees, 0);
    expect_num("api_allocations", pl_api_allocations(rd_pools(run.r)), 7);

    const struct model_pool *ctx = pool_named(run.r, "ctx");
    assert_int_equal(ctx->pools, 1);
    assert_int_equal(ctx->resets, 2);
    expect_num("ctx allocations", ctx->allocations, 5);
    expect_num("ctx allocated_bytes", ctx->allocated_bytes, 16 + 32 + 48 + 64 + 24);
    expect_num("ctx frees", ctx->frees, 2); /* 0x1010, and 0x3000 replaced */
    expect_num("ctx reset_frees", ctx->reset_frees, 3);
    expect_num("ctx peak_live_bytes", ctx->peak_live_bytes, 96);
    expect_num("ctx leaked_bytes", ctx->leaked_bytes, 0);
    const struct model_pool *ctx2 = pool_named(run.r, "ctx2");
    assert_int_equal(ctx2->pools, 1);
    assert_int_equal(ctx2->resets, 0);
    expect_num("ctx2 allocations", ctx2->allocations, 1);
    expect_num("ctx2 leaked_bytes", ctx2->leaked_bytes, 8);
    expect_num("ctx2 leaked_allocations", ctx2->leaked_allocations, 1);
    int n;
    pl_pools(rd_pools(run.r), &n);
    assert_int_equal(n, 2); /* no unnamed group: P1 was named before its first block */
    run_done(&run);
}

/* A reset outside the window frees nothing: the blocks it would free are before the
 * window (unknown to it), or must stay live at its end. */
static void resets_outside_the_window(void **state)
{
    char path[128];
    struct run run;

    (void)state;
    snprintf(path, sizeof(path), "%s/pools.hsl", tmp_dir);
    pool_log(path, 0);
    read_log(path, T0 + 55, T0 + 95, &run);
    assert_int_equal(run.err, 0);
    assert_null(strstr(run.items, "free"));
    const struct agg_totals *t = agg_totals(run.a);
    expect_num("allocations", t->allocations, 3); /* 0x2000, 0x3000 twice */
    expect_num("leaked_bytes", t->leaked_bytes, 300);
    run_done(&run);
}

/* Sampled: each block weighs what the aggregate's weighs, as a float. */
static void sampled_weights(void **state)
{
    char path[128];
    struct run run;
    const double r = 1000;

    (void)state;
    snprintf(path, sizeof(path), "%s/pools-sampled.hsl", tmp_dir);
    pool_log(path, (uint64_t)r);
    read_log(path, 0, 0, &run);
    assert_int_equal(run.err, 0);
    const struct model_pool *ctx = pool_named(run.r, "ctx");
    double want = 0;
    static const int sizes[] = { 16, 32, 48, 64, 24 };
    for (int i = 0; i < 5; i++)
        want += (float)(1.0 / -expm1(-sizes[i] / r));
    expect_num("ctx allocations", ctx->allocations, want);
    expect_num("ctx leaked_bytes", ctx->leaked_bytes, 0);
    expect_num("aggregate leaked_bytes", agg_totals(run.a)->leaked_bytes,
               100 * (double)(float)(1.0 / -expm1(-100 / r)) +
                   200 * (double)(float)(1.0 / -expm1(-200 / r)) +
                   8 * (double)(float)(1.0 / -expm1(-8 / r)));
    run_done(&run);
}

static void allocation_failures(void **state)
{
    char path[128];
    struct run run;
    int seen_failure = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/pools.hsl", tmp_dir);
    pool_log(path, 0);
    for (int k = 0;; k++) {
        failed = false;
        fail_in = k;
        read_log(path, 0, 0, &run);
        fail_in = -1;
        if (!failed) {
            assert_int_equal(run.err, 0);
            run_done(&run);
            break;
        }
        seen_failure++;
        if (run.err != -ENOMEM && run.err != 0)
            fail_msg("allocation %d failing: expected -ENOMEM vs got %d", k, run.err);
        run_done(&run);
    }
    assert_true(seen_failure > 10);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmp_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char path[160];
    (void)state;
    snprintf(path, sizeof(path), "%s/pools.hsl", tmp_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/pools-sampled.hsl", tmp_dir);
    unlink(path);
    rmdir(tmp_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resets_become_frees),
        cmocka_unit_test(resets_outside_the_window),
        cmocka_unit_test(sampled_weights),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
