/*
 * test_snapshot.c - unit tests for analyzer/snapshot.c (format/snapfmt.h) and the
 * session's side of snapshots. A model made from a log (synthetic logs from
 * tests/lib/logbuild.h, and the committed logs of tests/golden/logs) or by hand is
 * written and read back, and must come back equal, field by field and byte for byte;
 * damaged snapshots (cut at every byte, a bad checksum, another version, random damage
 * behind valid checksums) must each give one message and no crash; every allocation
 * the reader and the writer make fails in turn and must come back as -ENOMEM with
 * nothing leaked. Also: typed keys keep apart names that share their first thousand
 * characters, and a session refuses a marker the log does not have.
 *
 * Built with ASan and UBSan, and -Wl,--wrap=malloc,calloc,realloc,strdup,free.
 */
#include <dirent.h>
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
#include <zstd.h>

#include <cmocka.h>

#include "analyzer/aggregate.h"
#include "analyzer/session.h"
#include "analyzer/snapshot.h"
#include "analyzer/suppress.h"
#include "format/logfmt.h"
#include "format/snapfmt.h"
#include "tests/lib/logbuild.h"

/* ---- allocation failures on purpose ---- */

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

static char tmp_dir[] = "/tmp/test_snapshot.XXXXXX";

#define T0 LB_START_TICKS

/* ---- comparing models ---- */

static bool str_eq0(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void expect_str(const char *what, const char *got, const char *want)
{
    if (!str_eq0(got, want))
        fail_msg("%s: expected %s%s%s vs got %s%s%s", what, want ? "'" : "", want ? want : "NULL",
                 want ? "'" : "", got ? "'" : "", got ? got : "NULL", got ? "'" : "");
}

static void expect_num(const char *what, double got, double want)
{
    /* Exactly: a snapshot keeps every double's bits. */
    if (memcmp(&got, &want, sizeof(got)) != 0)
        fail_msg("%s: expected %.17g vs got %.17g", what, want, got);
}

static void expect_stats(const char *what, const struct model_stats *g, const struct model_stats *w)
{
    char name[160];
#define F(f)                                              \
    do {                                                  \
        snprintf(name, sizeof(name), "%s: %s", what, #f); \
        expect_num(name, (double)g->f, (double)w->f);     \
    } while (0)
    F(allocations);
    F(allocated_bytes);
    F(frees);
    F(peak_live_bytes);
    F(leaked_bytes);
    F(leaked_allocations);
    F(live_bytes);
    F(live_blocks);
    F(temporary_allocations);
    F(max_live_blocks);
    F(slack_bytes);
    F(zero_sampled_bytes);
    F(zero_bytes);
    F(common_size);
#undef F
    for (int b = 0; b < MODEL_HIST_BUCKETS; b++) {
        snprintf(name, sizeof(name), "%s: hist[%d]", what, b);
        expect_num(name, g->hist[b], w->hist[b]);
    }
}

static void expect_frame(const char *what, const struct model_frame *g, const struct model_frame *w)
{
    char name[256];
    snprintf(name, sizeof(name), "%s: function", what);
    expect_str(name, g->function, w->function);
    snprintf(name, sizeof(name), "%s: file", what);
    expect_str(name, g->file, w->file);
    snprintf(name, sizeof(name), "%s: module", what);
    expect_str(name, g->module, w->module);
    snprintf(name, sizeof(name), "%s: linkage name", what);
    expect_str(name, g->linkage_name, w->linkage_name);
    snprintf(name, sizeof(name), "%s: module path", what);
    expect_str(name, g->module_path, w->module_path);
    snprintf(name, sizeof(name), "%s: build-id", what);
    expect_str(name, g->build_id, w->build_id);
    assert_int_equal(g->line, w->line);
    assert_int_equal(g->module_offset, w->module_offset);
    assert_int_equal(g->inlined, w->inlined);
}

static void expect_groups(const char *what, const struct model_group *g, int ng,
                          const struct model_group *w, int nw)
{
    char name[160];

    assert_int_equal(ng, nw);
    for (int i = 0; i < ng; i++) {
        snprintf(name, sizeof(name), "%s %d", what, i);
        expect_str(name, g[i].function, w[i].function);
        expect_str(name, g[i].file, w[i].file);
        expect_str(name, g[i].module, w[i].module);
        assert_int_equal(g[i].line, w[i].line);
        assert_int_equal(g[i].n_sites, w[i].n_sites);
        expect_stats(name, &g[i].st, &w[i].st);
    }
}

/* Every field of got equals want's, but the snapshot's own path. */
static void expect_models(const struct model *g, const struct model *w)
{
    char name[160];
    const struct model_process *gp = &g->process, *wp = &w->process;

    expect_str("log path", gp->log_path, wp->log_path);
    expect_str("exe", gp->exe, wp->exe);
    assert_int_equal(gp->argc, wp->argc);
    for (int i = 0; i < gp->argc; i++)
        expect_str("argv", gp->argv[i], wp->argv[i]);
    assert_int_equal(gp->pid, wp->pid);
    assert_int_equal(gp->ppid, wp->ppid);
    assert_int_equal(gp->start_unix_ns, wp->start_unix_ns);
    assert_int_equal(gp->sample_bytes, wp->sample_bytes);
    assert_int_equal(gp->ended, wp->ended);
    assert_int_equal(gp->truncated, wp->truncated);
    assert_int_equal(gp->end_reason, wp->end_reason);
    assert_int_equal(gp->log_bytes, wp->log_bytes);
    assert_int_equal(gp->bytes_read, wp->bytes_read);
    assert_int_equal(gp->point.at, wp->point.at);
    assert_int_equal(gp->point.marker, wp->point.marker);
    assert_int_equal(gp->point.marker_serial, wp->point.marker_serial);
    expect_str("marker kind", gp->point.marker_kind, wp->point.marker_kind);
    expect_num("point time", gp->point.ns, wp->point.ns);

    const struct model_totals *gt = &g->totals, *wt = &w->totals;
#define T(f) expect_num("totals: " #f, (double)gt->f, (double)wt->f)
    T(allocations);
    T(frees);
    T(allocated_bytes);
    T(peak_live_bytes);
    T(peak_ns);
    T(leaked_bytes);
    T(leaked_allocations);
    T(live_bytes);
    T(live_blocks);
    T(runtime_bytes);
    T(runtime_allocations);
    T(suppressed_bytes);
    T(suppressed_allocations);
    T(temporary_allocations);
    T(lost_events);
    T(unknown_frees);
    T(markers);
    T(first_ns);
    T(last_ns);
    T(sampled);
#undef T

    assert_int_equal(g->n_sites, w->n_sites);
    for (int i = 0; i < g->n_sites; i++) {
        const struct model_site *gs = &g->sites[i], *ws = &w->sites[i];
        snprintf(name, sizeof(name), "site %d", i);
        expect_stats(name, &gs->st, &ws->st);
        assert_int_equal(gs->n_frames, ws->n_frames);
        for (int k = 0; k < gs->n_frames; k++) {
            snprintf(name, sizeof(name), "site %d frame %d", i, k);
            expect_frame(name, gs->frames[k], ws->frames[k]);
        }
        assert_int_equal(gs->leak_kind, ws->leak_kind);
        expect_str("leak rule", gs->leak_rule, ws->leak_rule);
    }
    expect_groups("function", g->functions, g->n_functions, w->functions, w->n_functions);
    expect_groups("line", g->lines, g->n_lines, w->lines, w->n_lines);
    assert_int_equal(g->n_bloats, w->n_bloats);
    for (int i = 0; i < g->n_bloats; i++) {
        const struct model_bloat *gb = &g->bloats[i], *wb = &w->bloats[i];
        assert_int_equal(gb->size, wb->size);
        expect_num("bloat blocks", gb->blocks_at_peak, wb->blocks_at_peak);
        expect_num("bloat bytes", gb->bytes_at_peak, wb->bytes_at_peak);
        expect_num("bloat slack", gb->slack_bytes_per_block, wb->slack_bytes_per_block);
        expect_num("bloat zero share", gb->zero_share, wb->zero_share);
        assert_int_equal(gb->n_sites, wb->n_sites);
        for (int k = 0; k < gb->n_sites && k < MODEL_BLOAT_SITES; k++)
            assert_int_equal(gb->sites[k], wb->sites[k]);
        assert_int_equal(gb->n_types, wb->n_types);
        for (int t = 0; t < gb->n_types; t++) {
            const struct model_struct *gy = &gb->types[t], *wy = &wb->types[t];
            expect_str("type kind", gy->kind, wy->kind);
            expect_str("type name", gy->name, wy->name);
            assert_int_equal(gy->size, wy->size);
            assert_int_equal(gy->hole_bytes, wy->hole_bytes);
            assert_int_equal(gy->padding_bytes, wy->padding_bytes);
            assert_int_equal(gy->n_members, wy->n_members);
            for (int k = 0; k < gy->n_members; k++) {
                expect_str("member", gy->members[k].name, wy->members[k].name);
                expect_str("member type", gy->members[k].type_name, wy->members[k].type_name);
                assert_int_equal(gy->members[k].offset, wy->members[k].offset);
                assert_int_equal(gy->members[k].size, wy->members[k].size);
                assert_int_equal(gy->members[k].bit_offset, wy->members[k].bit_offset);
                assert_int_equal(gy->members[k].bit_size, wy->members[k].bit_size);
                assert_int_equal(gy->members[k].hole_after, wy->members[k].hole_after);
            }
        }
    }
    assert_int_equal(g->n_warnings, w->n_warnings);
    for (int i = 0; i < g->n_warnings; i++)
        expect_str("warning", g->warnings[i], w->warnings[i]);
}

/* m -> bytes -> model: equal to m; and the bytes again are the same bytes. Returns
 * the bytes (the caller frees them). */
static uint8_t *round_trip(const struct model *m, size_t *len, const char *name)
{
    uint8_t *b1, *b2, *b3;
    size_t n1, n2, n3;
    struct snap *s;
    char msg[512];

    assert_int_equal(snap_encode(m, &b1, &n1), 0);
    assert_int_equal(snap_encode(m, &b2, &n2), 0);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        fail_msg("%s: expected the same bytes from the same model twice", name);
    int err = snap_read_mem(b1, n1, name, &s, msg, sizeof(msg));
    if (err != 0)
        fail_msg("%s: expected the snapshot read back vs got %d: %s", name, err, msg);
    expect_models(snap_model(s), m);
    expect_str("snapshot path", snap_model(s)->process.snapshot_path, name);
    /* The model read back writes the same bytes. */
    assert_int_equal(snap_encode(snap_model(s), &b3, &n3), 0);
    if (n1 != n3 || memcmp(b1, b3, n1) != 0)
        fail_msg("%s: expected the snapshot of the snapshot's model to be the same bytes", name);
    snap_free(s);
    free(b2);
    free(b3);
    *len = n1;
    return b1;
}

/* ---- logs ---- */

static void program(struct lb_log *l, int n_stacks)
{
    static const char *const argv[] = { "synthetic", "--flag" };
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 };
    struct lb_buf c = { 0 };

    lb_meta_process(&c, "/bin/synthetic", 2, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, T0 + 1000000, 5001000000ull, 1700000000001000000ull);
    for (int i = 0; i < n_stacks; i++) {
        uint64_t pcs[2] = { 0x401000 + 16 * ((uint64_t)i + 1), 0x401800 };
        lb_meta_stack(&c, (uint32_t)i + 1, 2, pcs);
    }
    lb_meta_module(&c, T0, 1, 0x400000, 1, &seg, (const uint8_t *)"\xab\xcd\x01", 3,
                   "/bin/synthetic");
    lb_meta_chunk(l, &c, LB_ZSTD_CHUNK);
    lb_buf_fini(&c);
}

/* Two threads over four stacks, two markers, a lost count, a zeros record; cut short
 * when cut (a warning) and sampled when sample_bytes. */
static void write_log(const char *name, uint64_t sample_bytes, bool cut, char *path, size_t cap)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event t1[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 100, 0x10000, 100, 1),
        lb_ev_alloc(LF_FN_MALLOC, T0 + 110, 0x10100, 5000, 2),
        lb_ev_free(T0 + 120, 0x10000),
        lb_ev_alloc(LF_FN_CALLOC, T0 + 140, 0x10200, 300, 3),
        lb_ev_realloc(T0 + 165, T0 + 170, 0x10200, 0x10400, 500, 4),
        lb_ev_free(T0 + 210, 0x10400),
    };
    struct lf_event t2[] = {
        lb_ev_alloc(LF_FN_MALLOC, T0 + 105, 0x20000, 50, 2),
        lb_ev_lost(T0 + 135, 5),
        lb_ev_alloc(LF_FN_NEW, T0 + 158, 0x20400, 64, 1),
        lb_ev_zeros(T0 + 180, 0x20000, 50, 20),
    };
    struct lb_buf c = { 0 };
    struct lb_log l;

    f.sample_bytes = sample_bytes;
    lb_init(&l, &f);
    program(&l, 4);
    lb_events_chunk(&l, 100, T0 + 100, t1, 6, LB_ZSTD_COLUMNS);
    lb_events_chunk(&l, 101, T0 + 105, t2, 4, 0);
    lb_meta_marker(&c, T0 + 130, LF_MARKER_SIGNAL, 1);
    lb_meta_marker(&c, T0 + 190, LF_MARKER_SIGNAL, 2);
    lb_meta_end(&c, T0 + 300, 2, LF_END_EXIT);
    int last = lb_meta_chunk(&l, &c, 0);
    lb_close(&l);
    if (cut)
        lb_cut(&l, l.ch[last].end - 3);
    snprintf(path, cap, "%s/%s", tmp_dir, name);
    assert_int_equal(lb_write(&l, path), 0);
    lb_buf_fini(&c);
    lb_fini(&l);
}

static struct session *open_log(const char *path, enum model_at at, uint32_t marker)
{
    struct session_options o = {
        .path = path, .to = -1, .aggregate = true, .at = at, .at_marker = marker
    };
    struct session *s;
    if (session_open(&o, &s) != 0)
        fail_msg("%s: expected the log opened vs got: %s", path, session_error(s));
    return s;
}

/* log -> model -> snapshot -> model: the log's model, at each point. */
static void round_trip_synthetic(void **state)
{
    char path[PATH_MAX];
    size_t len;

    (void)state;
    const struct {
        const char *name;
        uint64_t sample_bytes;
        bool cut;
    } logs[] = { { "plain.hsl", 0, false },
                 { "sampled.hsl", 4096, false },
                 { "cut.hsl", 0, true } };
    for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
        write_log(logs[i].name, logs[i].sample_bytes, logs[i].cut, path, sizeof(path));
        for (int at = MODEL_AT_END; at <= MODEL_AT_MARKER; at++) {
            if (logs[i].cut && at == MODEL_AT_MARKER)
                continue; /* the markers are in the part cut off */
            struct session *s = open_log(path, (enum model_at)at, 1);
            const struct model *m = session_model(s);
            if (logs[i].cut)
                assert_true(m->n_warnings > 0);
            assert_int_equal(m->process.point.at, at);
            free(round_trip(m, &len, path));
            session_close(s);
        }
    }
}

/* The same on every committed golden log. */
static void round_trip_golden_logs(void **state)
{
    DIR *d = opendir("tests/golden/logs");
    struct dirent *e;
    int n = 0;
    size_t len;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t k = strlen(e->d_name);
        if (k < 5 || strcmp(e->d_name + k - 4, ".hsl") != 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "tests/golden/logs/%s", e->d_name);
        struct session *s = open_log(path, MODEL_AT_END, 0);
        free(round_trip(session_model(s), &len, path));
        session_close(s);
        n++;
    }
    closedir(d);
    assert_true(n >= 8);
}

/* ---- a model by hand: every field, names longer than any buffer ---- */

struct hand {
    char long_a[2101], long_b[2101];
    struct model_frame frames[5];
    const struct model_frame *site_frames[3][3];
    struct model_site sites[3];
    struct model_member members[3];
    struct model_struct types[1];
    struct model_bloat bloats[1];
    const char *argv[3];
    const char *warnings[2];
    struct model_group *funcs, *lines;
    struct model m;
};

/* Two C++ instantiations whose names share their first 2000 characters. */
static void make_hand(struct hand *h)
{
    memset(h, 0, sizeof(*h));
    memset(h->long_a, 'x', 2000);
    memcpy(h->long_a, "ns::box<", 8);
    strcpy(h->long_a + 2000, "int>::push(int)");
    memcpy(h->long_b, h->long_a, 2000);
    strcpy(h->long_b + 2000, "long>::push(long)");
    h->frames[0] = (struct model_frame){ h->long_a,
                                         "/src/box.h",
                                         12,
                                         "libbox.so",
                                         0x1010,
                                         true,
                                         "_ZN2ns3boxIiE4pushEi",
                                         "/usr/lib/libbox.so",
                                         "00112233445566778899aabbccddeeff00112233",
                                         MODEL_FRAME_CODE };
    h->frames[1] = (struct model_frame){ h->long_b,
                                         "/src/box.h",
                                         12,
                                         "libbox.so",
                                         0x1020,
                                         true,
                                         "_ZN2ns3boxIlE4pushEl",
                                         "/usr/lib/libbox.so",
                                         "00112233445566778899aabbccddeeff00112233",
                                         MODEL_FRAME_CODE };
    h->frames[2] =
        (struct model_frame){ "main", "/src/main.cc", 40,         "app", 0x2000,
                              false,  NULL,           "/opt/app", NULL,  MODEL_FRAME_CODE };
    h->frames[3] = (struct model_frame){ NULL,  NULL, 0,          "app", 0x2abc,
                                         false, NULL, "/opt/app", NULL,  MODEL_FRAME_CODE };
    h->frames[4] = (struct model_frame){ "_IO_file_doallocate",
                                         "filedoalloc.c",
                                         101,
                                         "libc.so.6",
                                         0x7a000,
                                         false,
                                         NULL,
                                         "/lib/x86_64-linux-gnu/libc.so.6",
                                         "beef",
                                         MODEL_FRAME_CODE };
    const int stacks[3][3] = { { 0, 2, -1 }, { 1, 2, -1 }, { 4, 3, 2 } };
    for (int i = 0; i < 3; i++) {
        int n = 0;
        for (int k = 0; k < 3 && stacks[i][k] >= 0; k++)
            h->site_frames[i][n++] = &h->frames[stacks[i][k]];
        h->sites[i].n_frames = n;
        h->sites[i].frames = h->site_frames[i];
        h->sites[i].st = (struct model_stats){ .allocations = 10.0 * (i + 1),
                                               .allocated_bytes = 1000.5 * (i + 1),
                                               .frees = 3,
                                               .peak_live_bytes = 700,
                                               .leaked_bytes = i == 2 ? 0 : 400.25,
                                               .leaked_allocations = i == 2 ? 0 : 4,
                                               .live_bytes = 400.25,
                                               .live_blocks = 4,
                                               .temporary_allocations = 1.5,
                                               .max_live_blocks = 7,
                                               .slack_bytes = 12,
                                               .zero_sampled_bytes = 64,
                                               .zero_bytes = 60,
                                               .hist = { [3] = 2, [39] = 8.125 },
                                               .common_size = 4096 };
    }
    h->sites[2].leak_kind = MODEL_LEAK_RUNTIME;
    h->sites[2].leak_rule = "stdio buffer";
    h->members[0] = (struct model_member){ "next", "struct node *", 0, 8, 0, 0, 0 };
    h->members[1] = (struct model_member){ "flag", "unsigned int", 8, 4, 64, 1, 0 };
    h->members[2] = (struct model_member){ "", "char[3]", 9, 3, 0, 0, 4 };
    h->types[0] = (struct model_struct){ "struct", "node", 16, 3, h->members, 4, 0 };
    h->bloats[0] = (struct model_bloat){ .size = 16,
                                         .blocks_at_peak = 1000,
                                         .bytes_at_peak = 16000,
                                         .slack_bytes_per_block = 8,
                                         .zero_share = -1,
                                         .n_sites = 2,
                                         .sites = { 1, 0 },
                                         .n_types = 1,
                                         .types = h->types };
    h->argv[0] = "app";
    h->argv[1] = "";
    h->argv[2] = "--ünïcode";
    h->warnings[0] = "app.hsl: byte 99: the log ends inside a chunk";
    h->warnings[1] = "a second warning";
    struct model *m = &h->m;
    m->process = (struct model_process){ .log_path = "run/app.hsl",
                                         .pid = 4242,
                                         .ppid = 1,
                                         .exe = "/opt/app",
                                         .argc = 3,
                                         .argv = h->argv,
                                         .start_unix_ns = 1700000000123456789ull,
                                         .sample_bytes = 524288,
                                         .ended = false,
                                         .truncated = true,
                                         .end_reason = MODEL_END_NONE,
                                         .log_bytes = 1 << 30,
                                         .bytes_read = 123456789,
                                         .point = { MODEL_AT_MARKER, 3, 7, "interval", 2.5e9 } };
    m->totals = (struct model_totals){ .allocations = 60,
                                       .frees = 9,
                                       .allocated_bytes = 6003,
                                       .peak_live_bytes = 2100,
                                       .peak_ns = 1.25e9,
                                       .leaked_bytes = 800.5,
                                       .leaked_allocations = 8,
                                       .live_bytes = 1200.75,
                                       .live_blocks = 12,
                                       .runtime_bytes = 400.25,
                                       .runtime_allocations = 4,
                                       .temporary_allocations = 4.5,
                                       .lost_events = 3,
                                       .unknown_frees = 2,
                                       .markers = 5,
                                       .first_ns = 1000,
                                       .last_ns = 3e9,
                                       .sampled = true };
    m->n_sites = 3;
    m->sites = h->sites;
    m->n_bloats = 1;
    m->bloats = h->bloats;
    m->n_warnings = 2;
    m->warnings = h->warnings;
    assert_int_equal(
        agg_group_sites(h->sites, 3, &h->funcs, &m->n_functions, &h->lines, &m->n_lines), 0);
    m->functions = h->funcs;
    m->lines = h->lines;
}

static void hand_fini(struct hand *h)
{
    free(h->funcs);
    free(h->lines);
}

static void round_trip_by_hand(void **state)
{
    struct hand *h = malloc(sizeof(*h));
    size_t len;

    (void)state;
    assert_non_null(h);
    make_hand(h);
    /* Typed keys: the two instantiations are two functions and two lines. */
    assert_int_equal(h->m.n_functions, 3);
    assert_int_equal(h->m.n_lines, 3);
    free(round_trip(&h->m, &len, "hand.hsnap"));
    hand_fini(h);
    free(h);
}

/* ---- damaged snapshots ---- */

static void expect_error(const uint8_t *b, size_t n, int want_err, const char *want_words)
{
    struct snap *s = NULL;
    char msg[512] = "";
    int err = snap_read_mem(b, n, "x.hsnap", &s, msg, sizeof(msg));

    if (err >= 0)
        fail_msg("%zu bytes: expected an error vs got none", n);
    if (want_err != 0 && err != want_err)
        fail_msg("%zu bytes: expected error %d vs got %d: %s", n, want_err, err, msg);
    assert_null(s);
    if (strncmp(msg, "x.hsnap: byte ", 14) != 0)
        fail_msg("expected the message to name the file and a byte vs got '%s'", msg);
    if (want_words != NULL && strstr(msg, want_words) == NULL)
        fail_msg("expected '%s' in the message vs got '%s'", want_words, msg);
}

static uint8_t *hand_snapshot(size_t *len)
{
    struct hand *h = malloc(sizeof(*h));
    uint8_t *b;

    assert_non_null(h);
    make_hand(h);
    assert_int_equal(snap_encode(&h->m, &b, len), 0);
    hand_fini(h);
    free(h);
    return b;
}

/* The snapshot with its body replaced (and its header's lengths, counts, version
 * and checksums made to match). */
static uint8_t *rebuild(const uint8_t *body, size_t raw, uint32_t n_records, unsigned major,
                        unsigned minor, size_t *len)
{
    size_t bound = ZSTD_compressBound(raw);
    uint8_t *f = malloc(SF_HDR_SIZE + bound);
    assert_non_null(f);
    size_t stored = ZSTD_compress(f + SF_HDR_SIZE, bound, body, raw, 3);
    assert_false(ZSTD_isError(stored));
    memset(f, 0, SF_HDR_SIZE);
    memcpy(f, SF_MAGIC, 8);
    lf_put_u16(f + 8, (uint16_t)major);
    lf_put_u16(f + 10, (uint16_t)minor);
    lf_put_u16(f + 12, SF_HDR_SIZE);
    lf_put_u16(f + 14, SF_FLAG_ZSTD);
    lf_put_u64(f + 16, stored);
    lf_put_u64(f + 24, raw);
    lf_put_u32(f + 32, lf_crc32c(0, f + SF_HDR_SIZE, stored));
    lf_put_u32(f + 36, n_records);
    lf_put_u32(f + 40, lf_crc32c(0, f, 40));
    *len = SF_HDR_SIZE + stored;
    return f;
}

static uint8_t *body_of(const uint8_t *b, size_t n, size_t *raw)
{
    (void)n;
    *raw = lf_get_u64(b + 24);
    uint8_t *body = malloc(*raw);
    assert_non_null(body);
    assert_int_equal(ZSTD_decompress(body, *raw, b + SF_HDR_SIZE, lf_get_u64(b + 16)), *raw);
    return body;
}

static void damaged(void **state)
{
    size_t len, raw, n2;
    uint8_t *b = hand_snapshot(&len);

    (void)state;
    /* Cut at every byte: never read, always one message. */
    for (size_t n = 0; n < len; n++)
        expect_error(b, n, -EINVAL, NULL);
    expect_error(b, 30, -EINVAL, "truncated");
    expect_error(b, len - 1, -EINVAL, "truncated");

    uint8_t *c = malloc(len + 1);
    assert_non_null(c);
    /* Wrong magic. */
    memcpy(c, b, len);
    c[1] ^= 0x20;
    expect_error(c, len, -EINVAL, "not a heapspan snapshot");
    /* The body's checksum. */
    memcpy(c, b, len);
    c[SF_HDR_SIZE + 5] ^= 0x01;
    expect_error(c, len, -EINVAL, "checksum");
    /* The header's. */
    memcpy(c, b, len);
    c[20] ^= 0x01;
    expect_error(c, len, -EINVAL, "checksum");
    /* A byte after the body. */
    memcpy(c, b, len);
    c[len] = 0;
    expect_error(c, len + 1, -EINVAL, "after the body");
    free(c);

    /* Another major version, either way: refused, naming both. */
    uint8_t *body = body_of(b, len, &raw);
    uint32_t n_records = lf_get_u32(b + 36);
    for (unsigned major = 0; major <= 2; major += 2) {
        uint8_t *v = rebuild(body, raw, n_records, major, 0, &n2);
        char want[32];
        snprintf(want, sizeof(want), "version %u.0", major);
        expect_error(v, n2, -ENOTSUP, want);
        expect_error(v, n2, -ENOTSUP, "reads version 1.x");
        free(v);
    }
    /* A body that is not the length the header says, behind good checksums. */
    uint8_t *v = rebuild(body, raw - 1, n_records, SF_MAJOR, SF_MINOR, &n2);
    expect_error(v, n2, -EINVAL, "decompressed body");
    free(v);
    free(body);
    free(b);
}

/* A newer minor version: a record type this reader does not know, and fields after
 * the ones it knows in every record. Read as the same model. */
static void newer_minor_version(void **state)
{
    struct hand *h = malloc(sizeof(*h));
    size_t len, raw, n2;
    uint8_t *b;
    struct snap *s;
    char msg[512];

    (void)state;
    assert_non_null(h);
    make_hand(h);
    assert_int_equal(snap_encode(&h->m, &b, &len), 0);
    uint8_t *body = body_of(b, len, &raw);
    uint8_t *nb = malloc(raw * 2 + 64);
    assert_non_null(nb);
    uint8_t *o = nb;
    uint32_t n = 0;
    for (const uint8_t *p = body; p < body + raw; n++) {
        uint64_t type, rlen;
        assert_true(lf_get_varint(&p, body + raw, &type));
        assert_true(lf_get_varint(&p, body + raw, &rlen));
        if (type == SF_REC_END) { /* a new kind of record before the end */
            o = lf_put_varint(o, 99);
            o = lf_put_varint(o, 3);
            memcpy(o, "new", 3);
            o += 3;
            n++;
        }
        bool extend = type != SF_REC_STRING; /* a string's bytes are all its own */
        o = lf_put_varint(o, type);
        o = lf_put_varint(o, rlen + (extend ? 2 : 0));
        memcpy(o, p, rlen);
        o += rlen;
        if (extend) {
            *o++ = 0x7f;
            *o++ = 0x01;
        }
        p += rlen;
    }
    uint8_t *v = rebuild(nb, (size_t)(o - nb), n, SF_MAJOR, SF_MINOR + 5, &n2);
    int err = snap_read_mem(v, n2, "newer.hsnap", &s, msg, sizeof(msg));
    if (err != 0)
        fail_msg("expected a newer minor version read vs got %d: %s", err, msg);
    expect_models(snap_model(s), &h->m);
    snap_free(s);
    free(v);
    free(nb);
    free(body);
    free(b);
    hand_fini(h);
    free(h);
}

/* Random damage to the body, behind checksums that match: every read ends in a model
 * or a message, never a crash or a bad access (ASan). */
static void damaged_body_fuzz(void **state)
{
    size_t len, raw, n2;
    uint8_t *b = hand_snapshot(&len);
    uint8_t *body = body_of(b, len, &raw);
    uint8_t *d = malloc(raw + 16);
    uint32_t n_records = lf_get_u32(b + 36);
    unsigned seed = 12345;
    int ok = 0, bad = 0;

    (void)state;
    assert_non_null(d);
    for (int i = 0; i < 3000; i++) {
        memcpy(d, body, raw);
        size_t n = raw;
        int edits = 1 + (int)(rand_r(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % n;
            switch (rand_r(&seed) % 3) {
            case 0:
                d[at] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
                break;
            case 1:
                d[at] = (uint8_t)rand_r(&seed);
                break;
            case 2: /* a byte lost */
                memmove(d + at, d + at + 1, n - at - 1);
                n--;
                break;
            }
        }
        uint8_t *v = rebuild(d, n, n_records, SF_MAJOR, SF_MINOR, &n2);
        struct snap *s = NULL;
        char msg[512] = "";
        int err = snap_read_mem(v, n2, "fuzz.hsnap", &s, msg, sizeof(msg));
        if (err == 0) {
            ok++;
            /* Whatever it read, it can write. */
            uint8_t *w;
            size_t wl;
            assert_int_equal(snap_encode(snap_model(s), &w, &wl), 0);
            free(w);
            snap_free(s);
        } else {
            bad++;
            assert_null(s);
            if (strncmp(msg, "fuzz.hsnap: byte ", 17) != 0)
                fail_msg("expected the file and a byte in '%s'", msg);
        }
        free(v);
    }
    assert_true(bad > 1000);
    free(d);
    free(body);
    free(b);
}

/* The hand model, changed by change, encoded: refused with want_words. */
static void expect_hand_refused(void (*change)(struct hand *), const char *want_words)
{
    struct hand *h = malloc(sizeof(*h));
    uint8_t *b;
    size_t len;

    assert_non_null(h);
    make_hand(h);
    change(h);
    assert_int_equal(snap_encode(&h->m, &b, &len), 0);
    expect_error(b, len, -EINVAL, want_words);
    free(b);
    hand_fini(h);
    free(h);
}

static void frees_beyond(struct hand *h)
{
    h->sites[1].st.frees = 0x1p129;
}

static void live_bytes_add_up(struct hand *h)
{
    for (int i = 0; i < 3; i++)
        h->sites[i].st.live_bytes = -0x1p127; /* in magnitude: a subset could add up */
}

/* Numbers no log could count were read, and sums of them made totals the writer wrote
 * and the reader then refused (inf and beyond); a denominator near 0 made a share
 * JSON cannot hold. Now any number beyond 2^128 is refused, and so is a sum the reader
 * would keep. */
static void numbers_bounded(void **state)
{
    (void)state;
    expect_hand_refused(frees_beyond, "site record: frees");
    expect_hand_refused(frees_beyond, "beyond 2^128");
    expect_hand_refused(live_bytes_add_up, "the sites' live bytes add up beyond 2^128");
}

/* A bloat listing fewer of its sites than it has left the renderers reading site 0,
 * or a site that is not there when there are none (a crash). */
static void bloat_sites_listed(void **state)
{
    size_t len, raw, n2;
    uint8_t *b = hand_snapshot(&len);
    uint8_t *body = body_of(b, len, &raw);
    bool found = false;

    (void)state;
    for (const uint8_t *p = body; p < body + raw;) {
        uint64_t type, rlen;
        assert_true(lf_get_varint(&p, body + raw, &type));
        assert_true(lf_get_varint(&p, body + raw, &rlen));
        if (type == SF_REC_BLOAT) {
            /* size u (16: one byte), four doubles, then n_sites u (2: one byte) */
            uint8_t *n_sites = body + (p - body) + 1 + 4 * 8;
            assert_int_equal(*n_sites, 2);
            *n_sites = 3;
            found = true;
            break;
        }
        p += rlen;
    }
    assert_true(found);
    uint8_t *v = rebuild(body, raw, lf_get_u32(b + 36), SF_MAJOR, SF_MINOR, &n2);
    expect_error(v, n2, -EINVAL, "2 sites listed of 3: the first 8 are");
    free(v);
    free(body);
    free(b);
}

/* ---- each allocation failing in turn ---- */

static void allocation_failures(void **state)
{
    struct hand *h = malloc(sizeof(*h));
    size_t len;
    uint8_t *b;
    int n_read = 0, n_write = 0;

    (void)state;
    assert_non_null(h);
    make_hand(h);
    assert_int_equal(snap_encode(&h->m, &b, &len), 0);
    for (int k = 0;; k++) {
        struct snap *s = NULL;
        char msg[512];
        live = 0;
        failed = false;
        counting = true;
        fail_in = k;
        int err = snap_read_mem(b, len, "x.hsnap", &s, msg, sizeof(msg));
        fail_in = -1;
        if (failed ? err != -ENOMEM : err != 0)
            fail_msg("reading, allocation %d failing: expected %d vs got %d (%s)", k,
                     failed ? -ENOMEM : 0, err, msg);
        if (failed && strstr(msg, "out of memory") == NULL)
            fail_msg("reading, allocation %d failing: expected 'out of memory' vs got '%s'", k,
                     msg);
        snap_free(s);
        counting = false;
        if (live != 0)
            fail_msg("reading, allocation %d failing: %ld blocks kept", k, live);
        if (!failed) {
            n_read = k;
            break;
        }
    }
    for (int k = 0;; k++) {
        uint8_t *w = NULL;
        size_t wl;
        live = 0;
        failed = false;
        counting = true;
        fail_in = k;
        int err = snap_encode(&h->m, &w, &wl);
        fail_in = -1;
        if (failed ? err != -ENOMEM : err != 0)
            fail_msg("writing, allocation %d failing: expected %d vs got %d", k,
                     failed ? -ENOMEM : 0, err);
        free(w);
        counting = false;
        if (live != 0)
            fail_msg("writing, allocation %d failing: %ld blocks kept", k, live);
        if (!failed) {
            n_write = k;
            break;
        }
    }
    if (n_read < 10 || n_write < 5)
        fail_msg("expected the wrappers to see the allocations vs %d reading, %d writing", n_read,
                 n_write);
    free(b);
    hand_fini(h);
    free(h);
}

/* ---- sessions ---- */

/* Two markers: marker 3 is one clear message, marker 2 a model. */
static void session_marker_beyond(void **state)
{
    char path[PATH_MAX];
    struct session_options o = { .to = -1, .aggregate = true, .at = MODEL_AT_MARKER };
    struct session *s;

    (void)state;
    write_log("two-markers.hsl", 0, false, path, sizeof(path));
    o.path = path;
    o.at_marker = 3;
    assert_int_equal(session_open(&o, &s), -ERANGE);
    if (strstr(session_error(s), "no marker 3: the log has 2") == NULL ||
        strstr(session_error(s), path) == NULL)
        fail_msg("expected the log and 'no marker 3: the log has 2' vs got '%s'", session_error(s));
    session_close(s);
    o.at_marker = 2;
    assert_int_equal(session_open(&o, &s), 0);
    const struct model *m = session_model(s);
    assert_int_equal(m->process.point.at, MODEL_AT_MARKER);
    assert_int_equal(m->process.point.marker, 2);
    assert_int_equal(m->process.point.marker_serial, 2);
    expect_str("marker kind", m->process.point.marker_kind, "signal");
    /* At 190: 0x10100 (5000, s2), 0x20000 (50, s2), 0x20400 (64, s1), 0x10400 (500,
     * s4) live. */
    expect_num("live at marker 2", m->totals.live_bytes, 5614);
    expect_num("leaked at marker 2", m->totals.leaked_bytes, 5614);
    session_close(s);
}

struct marker_seen {
    int n;
    double live[4];
};

static int on_marker(void *ctx, const struct model *m, uint32_t k)
{
    struct marker_seen *seen = ctx;
    assert_int_equal(k, (uint32_t)seen->n + 1);
    assert_int_equal(m->process.point.marker, k);
    seen->live[seen->n++] = m->totals.live_bytes;
    return 0;
}

static void session_every_marker(void **state)
{
    char path[PATH_MAX];
    struct marker_seen seen = { 0 };

    (void)state;
    write_log("every.hsl", 0, false, path, sizeof(path));
    struct session *s = open_log(path, MODEL_AT_END, 0);
    assert_int_equal(session_each_marker(s, on_marker, &seen), 0);
    assert_int_equal(seen.n, 2);
    /* At 130: 0x10100 5000, 0x20000 50. */
    expect_num("live at marker 1", seen.live[0], 5050);
    expect_num("live at marker 2", seen.live[1], 5614);
    session_close(s);
}

/* A snapshot opened by a session, with a user's suppressions applied on reading. */
static void session_snapshot_suppressions(void **state)
{
    char path[PATH_MAX], snap[PATH_MAX], supp[PATH_MAX], msg[512];
    FILE *f;

    (void)state;
    write_log("supp.hsl", 0, false, path, sizeof(path));
    struct session *s = open_log(path, MODEL_AT_END, 0);
    const struct model *m = session_model(s);
    double leaked = m->totals.leaked_bytes;
    snprintf(snap, sizeof(snap), "%s/supp.hsnap", tmp_dir);
    assert_int_equal(snap_write(m, snap, msg, sizeof(msg)), 0);
    session_close(s);

    /* Stack 2 (synthetic+0x1020) holds 5050 bytes at the end. */
    snprintf(supp, sizeof(supp), "%s/supp.txt", tmp_dir);
    f = fopen(supp, "w");
    assert_non_null(f);
    fputs("# a comment\n\nrace:whatever\nleak:synthetic+0x10*$\n", f);
    fclose(f);
    struct session_options o = { .path = snap, .to = -1, .aggregate = true };
    assert_int_equal(session_open(&o, &s), 0);
    assert_true(session_is_snapshot(s));
    expect_num("no rules: leaked", session_model(s)->totals.leaked_bytes, leaked);
    session_close(s);

    /* The pattern is on the module and offset: unsymbolized frames have no name. It
     * matches no frame (a module's file name is "synthetic"), so nothing changes; one
     * on the module does. */
    o.suppressions = supp;
    assert_int_equal(session_open(&o, &s), 0);
    expect_num("a pattern matching nothing: leaked", session_model(s)->totals.leaked_bytes, leaked);
    session_close(s);
    f = fopen(supp, "w");
    assert_non_null(f);
    fputs("leak:^synthetic$\n", f);
    fclose(f);
    assert_int_equal(session_open(&o, &s), 0);
    m = session_model(s);
    expect_num("all suppressed: leaked", m->totals.leaked_bytes, 0);
    expect_num("all suppressed: suppressed", m->totals.suppressed_bytes, leaked);
    for (int i = 0; i < m->n_sites; i++) {
        assert_int_equal(m->sites[i].leak_kind, MODEL_LEAK_SUPPRESSED);
        expect_str("rule", m->sites[i].leak_rule, "^synthetic$");
    }
    session_close(s);

    /* A bad line: its file and line. */
    f = fopen(supp, "w");
    assert_non_null(f);
    fputs("leak:ok\nno colon here\n", f);
    fclose(f);
    assert_int_equal(session_open(&o, &s), -EINVAL);
    char want[PATH_MAX + 8];
    snprintf(want, sizeof(want), "%s:2: ", supp);
    if (strncmp(session_error(s), want, strlen(want)) != 0)
        fail_msg("expected '%s...' vs got '%s'", want, session_error(s));
    session_close(s);

    /* A snapshot stands at its point; it has no records. */
    o.suppressions = NULL;
    o.at = MODEL_AT_PEAK;
    assert_int_equal(session_open(&o, &s), -EINVAL);
    session_close(s);
    o.at = MODEL_AT_END;
    o.aggregate = false;
    assert_int_equal(session_open(&o, &s), -EINVAL);
    session_close(s);
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
        cmocka_unit_test(round_trip_synthetic), cmocka_unit_test(round_trip_golden_logs),
        cmocka_unit_test(round_trip_by_hand),   cmocka_unit_test(damaged),
        cmocka_unit_test(newer_minor_version),  cmocka_unit_test(damaged_body_fuzz),
        cmocka_unit_test(numbers_bounded),      cmocka_unit_test(bloat_sites_listed),
        cmocka_unit_test(allocation_failures),  cmocka_unit_test(session_marker_beyond),
        cmocka_unit_test(session_every_marker), cmocka_unit_test(session_snapshot_suppressions),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
