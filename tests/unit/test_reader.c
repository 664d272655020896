/*
 * test_reader.c - unit tests for analyzer/reader.c on small logs the test makes itself:
 * a synthetic log built with tests/lib/logbuild.h, whose every item is known,
 * and a real one, recorded by running `ls /` under the shim (zstd chunks as the writer
 * makes them). The shim is argv[1], else $HEAPSPAN_SHIM, else build/libheapspan.so (the
 * test runs from the top directory); it is preloaded into ls only, never into this
 * binary, which may be built with sanitizers.
 *
 * Bad input must never crash the reader: a log cut at any byte is read up to the cut
 * with a warning, or refused with a message naming the byte offset; a flipped payload
 * byte is a checksum error at its chunk; unknown meta records and chunk kinds are
 * skipped; a newer version, an empty file and random bytes are refused clearly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer/reader.h"
#include "format/logfmt.h"
#include "tests/lib/logbuild.h"

/* ---- the synthetic logs (tests/lib/logbuild.h) ---- */

#define START_TICKS LB_START_TICKS

/* Options for synth(): what to put in, and where to break it. */
struct synth_opts {
    unsigned version;
    bool unknown_meta;      /* a record of type 99 between the clock and the stacks */
    bool unknown_chunk;     /* a chunk of kind 9 between the two event chunks */
    bool unknown_event;     /* an event record of type 6 inside the first event chunk */
    bool index_and_trailer; /* close the log as the writer does at a clean exit */
};

/*
 * The log, in file order (times in ticks; items in the order a reader hands them out):
 *
 *   meta     process, 2 clocks, [type 99], stack 1 (2 pcs), stack 2 (1 pc), module 1 @1000
 *   events   tid 100, zstd (the chunk in version 1, its columns after): alloc 0x10000
 *            (100 B, stack 1) @1110, alloc 0x10100 (200 B, calloc, stack 2) @1120, free
 *            0x10000 @1130, [type 6, unknown], realloc 0x10100 -> 0x10200 (300 B,
 *            stack 1) @1150, its free half @1145
 *   [kind 9]
 *   events   tid 101, raw: alloc 0x20000 (50 B, stack 2) @1105, lost 3 @1135,
 *            free 0x20000 @1235
 *   meta     note "a note" @1240, end @1300 (3 lost, exit)
 *   index    one entry; then the trailer
 */
static void synth(struct lb_log *l, const struct synth_opts *o)
{
    static const char *const argv[] = { "synthetic", "--flag" };
    static const uint64_t pcs1[] = { 0x401010, 0x401234 }, pcs2[] = { 0x401020 };
    static const struct lb_seg seg = { 0x1000, 0x1000, 5 };
    struct lb_file f = lb_file_default(o->version);
    struct lb_buf c = { 0 };

    lb_init(l, &f);
    lb_meta_process(&c, "/bin/synthetic", 2, argv);
    lb_meta_clock(&c, START_TICKS, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, START_TICKS + 1000, 5000001000ull, 1700000000000001000ull);
    if (o->unknown_meta)
        lb_meta_raw(&c, 99, "from a newer writer", 19);
    lb_meta_stack(&c, 1, 2, pcs1);
    lb_meta_stack(&c, 2, 1, pcs2);
    lb_meta_module(&c, START_TICKS, 1, 0x400000, 1, &seg, (const uint8_t *)"\xde\xad\xbe\xef", 4,
                   "/bin/synthetic");
    lb_meta_chunk(l, &c, 0);

    const uint64_t t0 = START_TICKS + 100, t1 = START_TICKS + 105;
    struct lf_event ev[8];
    int n = 0;
    ev[n++] = lb_ev_alloc(LF_FN_MALLOC, t0 + 10, 0x10000, 100, 1);
    ev[n++] = lb_ev_alloc(LF_FN_CALLOC, t0 + 20, 0x10100, 200, 2);
    ev[n++] = lb_ev_free(t0 + 30, 0x10000);
    if (o->unknown_event) /* a type this reader does not know: the rest is skipped */
        ev[n++] = (struct lf_event){ .type = 6, .time = t0 + 31, .time_before = t0 + 31 };
    ev[n++] = lb_ev_realloc(t0 + 45, t0 + 50, 0x10100, 0x10200, 300, 1);
    lb_events_chunk(l, 100, t0, ev, n, o->version < 2 ? LB_ZSTD_CHUNK : LB_ZSTD_COLUMNS);

    if (o->unknown_chunk) {
        c.len = 0;
        lb_put(&c, "a chunk kind from a newer writer", 32);
        lb_chunk(l, 9, 0, 0, &c, 0);
    }

    n = 0;
    ev[n++] = lb_ev_alloc(LF_FN_MALLOC, t1, 0x20000, 50, 2);
    ev[n++] = lb_ev_lost(t1 + 30, 3);
    ev[n++] = lb_ev_free(t1 + 130, 0x20000);
    lb_events_chunk(l, 101, t1, ev, n, 0);

    c.len = 0;
    lb_meta_note(&c, START_TICKS + 240, 1, "a note");
    lb_meta_end(&c, START_TICKS + 300, 3, LF_END_EXIT);
    lb_meta_chunk(l, &c, 0);

    if (o->index_and_trailer) {
        struct lf_index_entry e = { l->ch[1].off, START_TICKS + 105, START_TICKS + 235 };
        lb_index(l, &e, 1);
    }
    lb_buf_fini(&c);
}

static const struct synth_opts plain = { LF_VERSION, false, false, false, true };

/* A longer log, for the reader's thread: more items than it hands over at once, more
 * event chunks than it reads ahead. Per 1000-tick cycle: three threads' chunks whose
 * events interleave in time (allocs, frees, reallocs, a lost count), a meta chunk with
 * a note and a marker among them and the cycle's barrier; from the third cycle on, a
 * fourth thread's chunk of events from two cycles back (late ones). */
#define LONG_CYCLES 48
#define LONG_EVENTS 600 /* per chunk */

static void synth_long(struct lb_log *l)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf c = { 0 };
    char note[32];

    lb_init(l, &f);
    lb_meta_clock(&c, START_TICKS, 5000000000ull, 1700000000000000000ull);
    for (uint32_t id = 1; id <= 3; id++) {
        uint64_t pc = 0x401000 + id;
        lb_meta_stack(&c, id, 1, &pc);
    }
    lb_meta_chunk(l, &c, 0);
    for (int cy = 0; cy < LONG_CYCLES; cy++) {
        uint64_t t0 = START_TICKS + 1000 * (uint64_t)cy;
        for (uint32_t t = 0; t < 3 + (cy >= 2); t++) {
            uint64_t base = t < 3 ? t0 + t : t0 - 2000 + 5; /* the fourth: late */
            int n = t < 3 ? LONG_EVENTS : 20;
            uint64_t a = 0x100000 * (t + 1) + 0x1000 * (uint64_t)cy;
            struct lf_event *ev = calloc(LONG_EVENTS, sizeof(*ev));
            uint64_t time = base;
            assert_non_null(ev);
            for (int i = 0; i < n; i++) {
                time += i == 0 ? 0 : i % 3 == 0 ? 0 : 1; /* equal times too */
                if (i % 97 == 96)
                    ev[i] = lb_ev_lost(time, 2);
                else if (i % 50 == 49)
                    ev[i] = lb_ev_realloc(time, time, a + 16 * (uint64_t)(i - 1),
                                          a + 16 * (uint64_t)i, 64, 3);
                else if (i % 2 == 1)
                    ev[i] = lb_ev_free(time, a + 16 * (uint64_t)(i - 1));
                else
                    ev[i] = lb_ev_alloc(LF_FN_MALLOC, time, a + 16 * (uint64_t)i, 16 + (uint64_t)i,
                                        1 + (uint32_t)i % 3);
            }
            /* The third thread's raw, the others' compressed twice over (columns and
             * chunk): both paths of the reader, with and without its threads. */
            lb_events_chunk(l, 100 + t, base, ev, n, t != 2 ? LB_ZSTD_CHUNK | LB_ZSTD_COLUMNS : 0);
            free(ev);
        }
        c.len = 0;
        snprintf(note, sizeof(note), "cycle %d", cy);
        lb_meta_note(&c, t0 + 300, cy % 2, note);
        lb_meta_marker(&c, t0 + 400, LF_MARKER_INTERVAL, (uint32_t)cy);
        lb_meta_barrier(&c, t0 + 999);
        lb_meta_chunk(l, &c, 0);
    }
    c.len = 0;
    lb_meta_end(&c, START_TICKS + 1000 * LONG_CYCLES, 0, LF_END_EXIT);
    lb_meta_chunk(l, &c, 0);
    lb_index(l, NULL, 0); /* an index of no entries, and the trailer: a cleanly closed log */
    lb_buf_fini(&c);
}

/* ---- reading ---- */

static char tmp_dir[] = "/tmp/test_reader.XXXXXX";

static void write_file(const char *path, const void *p, size_t n)
{
    assert_int_equal(lb_write_bytes(path, p, n), 0);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

#define MAX_ITEMS 4096

/* What a whole read of one file gave. */
struct outcome {
    int open_err, next_err;
    char error[1100];
    char warnings[4096];
    int n_items, n_events;
    struct rd_item items[64]; /* the first ones */
    bool ended, truncated;
    uint32_t stack1_depth;
    uint64_t stack1_pcs[2];
    uint32_t n_stacks;
    int n_modules;
    char exe[64];
    char note[64]; /* the text of the last note: an item's text lasts until rd_next */
    int argc;
};

static void read_all(const char *path, struct outcome *o)
{
    int err = 0;
    struct rd_log *r = rd_open(path, &err);

    memset(o, 0, sizeof(*o));
    assert_non_null(r);
    o->open_err = err;
    if (err == 0) {
        struct rd_item it;
        int k;
        while ((k = rd_next(r, &it)) > 0) {
            assert_true(o->n_items < MAX_ITEMS);
            if (o->n_items < 64)
                o->items[o->n_items] = it;
            o->n_items++;
            o->n_events += it.kind == RD_EVENT;
            if (it.kind == RD_NOTE)
                snprintf(o->note, sizeof(o->note), "%s", it.text);
        }
        o->next_err = k;
        const struct rd_stack *s = rd_stack(r, 1);
        if (s != NULL) {
            o->stack1_depth = s->depth;
            for (uint32_t i = 0; i < s->depth && i < 2; i++)
                o->stack1_pcs[i] = s->pcs[i];
        }
        o->n_stacks = rd_n_stacks(r);
        o->n_modules = rd_n_modules(r);
        snprintf(o->exe, sizeof(o->exe), "%s", rd_exe(r));
        o->argc = rd_argc(r);
        o->ended = rd_stats(r)->ended;
        o->truncated = rd_stats(r)->truncated;
    }
    snprintf(o->error, sizeof(o->error), "%s", rd_error(r));
    snprintf(o->warnings, sizeof(o->warnings), "%s", rd_warnings(r));
    rd_close(r);
}

static void read_bytes(const char *name, const void *p, size_t n, struct outcome *o)
{
    char path[PATH_MAX];
    tmp_path(path, sizeof(path), name);
    write_file(path, p, n);
    read_all(path, o);
}

/* The error names the file and a byte offset no later than `before`:
 * "<path>: byte <offset>: <what>". Returns the offset. */
static unsigned long long error_offset(const struct outcome *o, const char *path,
                                       unsigned long long before)
{
    char prefix[PATH_MAX + 16];
    unsigned long long off;
    char *end;

    snprintf(prefix, sizeof(prefix), "%s: byte ", path);
    if (strncmp(o->error, prefix, strlen(prefix)) != 0)
        fail_msg("expected an error '%s<offset>: ...' vs got '%s'", prefix, o->error);
    off = strtoull(o->error + strlen(prefix), &end, 10);
    if (end == o->error + strlen(prefix) || strncmp(end, ": ", 2) != 0 || end[2] == '\0')
        fail_msg("expected an error '%s<offset>: <what>' vs got '%s'", prefix, o->error);
    if (off > before)
        fail_msg("expected an offset up to %llu vs got '%s'", before, o->error);
    return off;
}

static bool failed(const struct outcome *o)
{
    return o->open_err < 0 || o->next_err < 0;
}

/* ---- the synthetic log, whole ---- */

static void check_item(const struct rd_item *it, enum rd_kind kind, uint64_t time, uint32_t tid,
                       int type, uint64_t addr, uint64_t size, uint32_t stack)
{
    assert_int_equal(it->kind, kind);
    assert_int_equal(it->time, time);
    if (kind != RD_EVENT)
        return;
    assert_int_equal(it->tid, tid);
    assert_int_equal(it->ev.type, type);
    if (type == LF_EV_LOST) {
        assert_int_equal(it->ev.count, size);
        return;
    }
    assert_int_equal(it->ev.addr, addr);
    if (type == LF_EV_ALLOC) {
        assert_int_equal(it->ev.size, size);
        assert_int_equal(it->ev.stack, stack);
    }
}

static void check_synthetic_items(const struct outcome *o, bool unknown_event)
{
    const struct rd_item *it = o->items;

    assert_int_equal(o->n_items, unknown_event ? 9 : 11);
    check_item(it++, RD_MODULE, START_TICKS, 0, 0, 0, 0, 0);
    check_item(it++, RD_EVENT, START_TICKS + 105, 101, LF_EV_ALLOC, 0x20000, 50, 2);
    check_item(it++, RD_EVENT, START_TICKS + 110, 100, LF_EV_ALLOC, 0x10000, 100, 1);
    assert_int_equal(o->items[2].ev.fn, LF_FN_MALLOC);
    check_item(it++, RD_EVENT, START_TICKS + 120, 100, LF_EV_ALLOC, 0x10100, 200, 2);
    assert_int_equal(o->items[3].ev.fn, LF_FN_CALLOC);
    check_item(it++, RD_EVENT, START_TICKS + 130, 100, LF_EV_FREE, 0x10000, 0, 0);
    check_item(it++, RD_EVENT, START_TICKS + 135, 101, LF_EV_LOST, 0, 3, 0);
    if (!unknown_event) {
        check_item(it++, RD_EVENT, START_TICKS + 145, 100, LF_EV_FREE, 0x10100, 0, 0);
        check_item(it++, RD_EVENT, START_TICKS + 150, 100, LF_EV_ALLOC, 0x10200, 300, 1);
    }
    check_item(it++, RD_EVENT, START_TICKS + 235, 101, LF_EV_FREE, 0x20000, 0, 0);
    check_item(it++, RD_NOTE, START_TICKS + 240, 0, 0, 0, 0, 0);
    assert_string_equal(o->note, "a note");
    check_item(it, RD_END, START_TICKS + 300, 0, 0, 0, 0, 0);
    assert_int_equal(it->count, 3);
    assert_int_equal(it->end_reason, LF_END_EXIT);
}

static void synthetic_reads_exactly(void **state)
{
    struct lb_log l;
    struct outcome o;

    (void)state;
    synth(&l, &plain);
    read_bytes("synthetic.hsl", l.b.p, l.b.len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    assert_string_equal(o.warnings, "");
    check_synthetic_items(&o, false);
    assert_int_equal(o.stack1_depth, 2);
    assert_int_equal(o.stack1_pcs[0], 0x401010);
    assert_int_equal(o.stack1_pcs[1], 0x401234);
    assert_int_equal(o.n_stacks, 2);
    assert_int_equal(o.n_modules, 1);
    assert_string_equal(o.exe, "/bin/synthetic");
    assert_int_equal(o.argc, 2);
    assert_true(o.ended);
    assert_false(o.truncated);
    lb_fini(&l);
}

/* Version 1 logs stored events in the buffer form; readers still read them. */
static void reader_reads_version_1(void **state)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    struct outcome o;

    (void)state;
    opt.version = 1;
    synth(&l, &opt);
    read_bytes("version1.hsl", l.b.p, l.b.len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    assert_string_equal(o.warnings, "");
    check_synthetic_items(&o, false);
    lb_fini(&l);
}

/* Version 3: an events chunk whose header says its times were rounded (byte 32) reads
 * as any other and is counted; the same byte in a version 2 log, where it was reserved,
 * is not taken for it. */
static void rounded_of(unsigned version, uint64_t *chunks, unsigned *shift)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    struct outcome o;
    char path[256];
    int err = 0;

    opt.version = version;
    synth(&l, &opt);
    int marked = 0;
    for (int i = 0; i < l.n_ch; i++)
        if (l.ch[i].kind == LF_CHUNK_EVENTS && marked++ == 0)
            l.b.p[l.ch[i].off + 32] = 18;
    assert_int_equal(marked, 2);
    read_bytes("rounded.hsl", l.b.p, l.b.len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    check_synthetic_items(&o, false);
    tmp_path(path, sizeof(path), "rounded.hsl");
    struct rd_log *r = rd_open(path, &err);
    assert_non_null(r);
    assert_int_equal(err, 0);
    struct rd_item it;
    while (rd_next(r, &it) > 0)
        ;
    *chunks = rd_stats(r)->rounded_chunks;
    *shift = rd_stats(r)->time_shift;
    rd_close(r);
    lb_fini(&l);
}

static void reader_counts_rounded_chunks(void **state)
{
    uint64_t chunks;
    unsigned shift;

    (void)state;
    rounded_of(3, &chunks, &shift);
    assert_int_equal(chunks, 1);
    assert_int_equal(shift, 18);
    rounded_of(2, &chunks, &shift);
    assert_int_equal(chunks, 0);
    assert_int_equal(shift, 0);
}

/* A meta record type from a newer writer is skipped by its length: the records after
 * it (the stacks, the module) are still read. */
static void reader_skips_unknown_meta_record(void **state)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    struct outcome o;

    (void)state;
    opt.unknown_meta = true;
    synth(&l, &opt);
    read_bytes("unknown-meta.hsl", l.b.p, l.b.len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    check_synthetic_items(&o, false);
    assert_int_equal(o.stack1_depth, 2);
    assert_int_equal(o.n_stacks, 2);
    assert_int_equal(o.n_modules, 1);
    lb_fini(&l);
}

/* A chunk kind from a newer writer is skipped whole: the chunks after it are read. */
static void reader_skips_unknown_chunk_kind(void **state)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    struct outcome o;

    (void)state;
    opt.unknown_chunk = true;
    synth(&l, &opt);
    read_bytes("unknown-chunk.hsl", l.b.p, l.b.len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    assert_string_equal(o.warnings, "");
    check_synthetic_items(&o, false);
    lb_fini(&l);
}

/* An event record type the reader does not know ends its chunk (event records carry no
 * length), with a warning naming the chunk; other chunks are unaffected. */
static void reader_stops_chunk_at_unknown_event(void **state)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    struct outcome o;
    char want[64];

    (void)state;
    opt.unknown_event = true;
    synth(&l, &opt);
    read_bytes("unknown-event.hsl", l.b.p, l.b.len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    check_synthetic_items(&o, true);
    snprintf(want, sizeof(want), "byte %zu:", l.ch[1].off);
    if (strstr(o.warnings, want) == NULL)
        fail_msg("expected a warning naming '%s' vs got '%s'", want, o.warnings);
    lb_fini(&l);
}

static void reader_refuses_newer_version(void **state)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    struct outcome o;
    char path[PATH_MAX], want[64];

    (void)state;
    opt.version = LF_VERSION + 1;
    synth(&l, &opt);
    tmp_path(path, sizeof(path), "newer.hsl");
    write_file(path, l.b.p, l.b.len);
    read_all(path, &o);
    assert_int_equal(o.open_err, -ENOTSUP);
    assert_int_equal(error_offset(&o, path, 8), 8);
    snprintf(want, sizeof(want), "version %u", LF_VERSION + 1);
    if (strstr(o.error, want) == NULL)
        fail_msg("expected the message to name '%s' vs got '%s'", want, o.error);
    lb_fini(&l);
}

static void reader_refuses_empty_file(void **state)
{
    struct outcome o;
    char path[PATH_MAX];

    (void)state;
    tmp_path(path, sizeof(path), "empty.hsl");
    write_file(path, "", 0);
    read_all(path, &o);
    assert_true(o.open_err < 0);
    assert_int_equal(error_offset(&o, path, 0), 0);
    if (strstr(o.error, "empty") == NULL)
        fail_msg("expected the message to say the file is empty vs got '%s'", o.error);
}

/* The RD_EVENT items a reader makes of chunk c. */
static int chunk_events(const struct lb_log *l, int c)
{
    return l->ch[c].n_events - (c > 0 ? l->ch[c - 1].n_events : 0);
}

/* A byte flipped anywhere in a chunk's payload: that chunk is skipped, the rest read,
 * and one warning names the chunk's offset, the checksum and the events it held. */
static void reader_skips_flipped_payload_byte(void **state)
{
    struct lb_log l;
    struct outcome o, whole;
    char path[PATH_MAX], want[160];

    (void)state;
    synth(&l, &plain);
    tmp_path(path, sizeof(path), "flipped.hsl");
    write_file(path, l.b.p, l.b.len);
    read_all(path, &whole);
    assert_false(failed(&whole));
    for (int c = 0; c < l.n_ch; c++) {
        uint32_t n_records = lf_get_u32(l.b.p + l.ch[c].off + 44);
        int kind = l.ch[c].kind;
        for (size_t i = l.ch[c].off + LF_CHUNK_HDR_SIZE; i < l.ch[c].end; i++) {
            l.b.p[i] ^= 0x40;
            write_file(path, l.b.p, l.b.len);
            read_all(path, &o);
            l.b.p[i] ^= 0x40;
            if (failed(&o))
                fail_msg("byte %zu of chunk %d flipped: expected it skipped vs got '%s'", i, c,
                         o.error);
            snprintf(want, sizeof(want), "skipped 1 damaged chunk (%zu bytes",
                     l.ch[c].end - l.ch[c].off);
            if (strstr(o.warnings, want) == NULL)
                fail_msg("byte %zu of chunk %d flipped: expected '%s' vs got '%s'", i, c, want,
                         o.warnings);
            snprintf(want, sizeof(want), "at byte %zu: checksum mismatch", l.ch[c].off);
            if (strstr(o.warnings, want) == NULL)
                fail_msg("byte %zu of chunk %d flipped: expected '%s' vs got '%s'", i, c, want,
                         o.warnings);
            if (kind == LF_CHUNK_EVENTS) {
                snprintf(want, sizeof(want), ", %u event%s)", n_records, n_records == 1 ? "" : "s");
                if (strstr(o.warnings, want) == NULL)
                    fail_msg("chunk %d: expected its %u events counted vs got '%s'", c, n_records,
                             o.warnings);
                assert_int_equal(o.n_events, whole.n_events - chunk_events(&l, c));
            } else if (kind == LF_CHUNK_INDEX) {
                assert_int_equal(o.n_events, whole.n_events);
            }
        }
    }
    lb_fini(&l);
}

/* A chunk header overwritten: the reader finds the next chunk by its checksum and reads
 * on from there; what lay between is one damaged stretch, named by its offset. */
static void reader_resyncs_after_bad_header(void **state)
{
    struct lb_log l;
    struct outcome o, whole;
    char path[PATH_MAX], want[160];

    (void)state;
    synth(&l, &plain);
    tmp_path(path, sizeof(path), "badhdr.hsl");
    write_file(path, l.b.p, l.b.len);
    read_all(path, &whole);
    for (int c = 0; c < l.n_ch; c++) {
        if (l.ch[c].kind != LF_CHUNK_EVENTS)
            continue;
        uint32_t n_records = lf_get_u32(l.b.p + l.ch[c].off + 44);
        for (int field = 0; field < 3; field++) {
            /* The magic; the stored length made impossible; the stored length one byte
             * longer - plausible, so only the checksum (and what follows) tells. */
            size_t at = l.ch[c].off + (field == 0 ? 0 : 8);
            uint8_t saved[4], longer[4];
            memcpy(saved, l.b.p + at, 4);
            lf_put_u32(longer, lf_get_u32(saved) + 1);
            if (field == 2 && (l.b.p[l.ch[c].off + 5] & LF_CHUNK_ZSTD) == 0)
                continue; /* a stored chunk's lengths must agree: caught as impossible */
            memcpy(l.b.p + at,
                   field == 0   ? (const uint8_t *)"XXXX"
                   : field == 1 ? (const uint8_t *)"\xff\xff\xff\x7f"
                                : longer,
                   4);
            write_file(path, l.b.p, l.b.len);
            read_all(path, &o);
            memcpy(l.b.p + at, saved, 4);
            if (failed(&o))
                fail_msg("chunk %d, field %d: expected it skipped vs got '%s'", c, field, o.error);
            snprintf(want, sizeof(want), "skipped 1 damaged chunk (%zu bytes) at byte %zu: %s",
                     l.ch[c].end - l.ch[c].off, l.ch[c].off,
                     field == 0   ? "not a chunk"
                     : field == 1 ? "implausible chunk lengths"
                                  : "checksum mismatch");
            if (strstr(o.warnings, want) == NULL)
                fail_msg("chunk %d, field %d: expected '%s' vs got '%s'", c, field, want,
                         o.warnings);
            assert_int_equal(o.n_events, whole.n_events - chunk_events(&l, c));
            (void)n_records;
        }
    }
    lb_fini(&l);
}

/* Damage throughout: nothing could be read, and that is an error at the first damage. */
static void reader_refuses_all_damaged(void **state)
{
    struct lb_log l;
    struct outcome o;
    char path[PATH_MAX];

    (void)state;
    synth(&l, &plain);
    tmp_path(path, sizeof(path), "alldamaged.hsl");
    for (int c = 0; c < l.n_ch; c++)
        l.b.p[l.ch[c].off + LF_CHUNK_HDR_SIZE] ^= 0x40;
    write_file(path, l.b.p, l.b.len);
    read_all(path, &o);
    assert_true(failed(&o));
    assert_int_equal(error_offset(&o, path, l.ch[0].off), l.ch[0].off);
    if (strstr(o.error, "nothing in the log could be read") == NULL)
        fail_msg("expected 'nothing in the log could be read' vs got '%s'", o.error);
    lb_fini(&l);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random bytes, alone or after a valid header: refused with a message, never a crash. */
static void reader_refuses_random_bytes(void **state)
{
    static const size_t sizes[] = { 1, 7, 8, 9, 63, 64, 65, 100, 1000, 4096, 65536 };
    struct lb_log l;
    struct outcome o;
    char path[PATH_MAX];
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    (void)state;
    synth(&l, &plain);
    tmp_path(path, sizeof(path), "random.hsl");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int with_header = 0; with_header < 2; with_header++) {
            size_t head = with_header ? LF_FILE_HDR_SIZE : 0, n = head + sizes[s];
            uint8_t *p = malloc(n);
            assert_non_null(p);
            memcpy(p, l.b.p, head);
            for (size_t i = head; i < n; i++)
                p[i] = (uint8_t)xorshift(&seed);
            write_file(path, p, n);
            read_all(path, &o);
            free(p);
            if (!with_header) {
                if (!failed(&o))
                    fail_msg("%zu random bytes: expected an error vs got none", n);
                assert_int_equal(error_offset(&o, path, 0), 0);
            } else if (sizes[s] >= LF_CHUNK_HDR_SIZE) {
                if (!failed(&o))
                    fail_msg("a header and %zu random bytes: expected an error vs got none",
                             sizes[s]);
                assert_int_equal(error_offset(&o, path, n), LF_FILE_HDR_SIZE);
            } else if (!failed(&o) && o.warnings[0] == '\0') {
                /* Fewer than a chunk header's bytes: a log cut short is also fine. */
                fail_msg("a header and %zu random bytes: expected an error or a warning vs "
                         "got neither",
                         sizes[s]);
            }
        }
    }
    lb_fini(&l);
}

/* ---- hostile values and files ---- */

/* Runs fn(arg) in a child that must finish within `seconds`: a call that used to hang
 * (a FIFO opened for reading) fails the test instead of stalling it. */
static void bounded(void (*fn)(const void *), const void *arg, int seconds, const char *what)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        alarm((unsigned)seconds + 1);
        fn(arg);
        _exit(0);
    }
    int status = 0;
    for (int i = 0; i < seconds * 20; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("%s: the child failed (status 0x%x)", what, status);
            return;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("%s: still running after %d s", what, seconds);
}

/* In the child: the path is refused, with a message that says what it is. */
static void refused_as(const void *arg)
{
    const char *const *a = arg; /* path, the kind the message names */
    struct outcome o;

    read_all(a[0], &o);
    if (o.open_err != -EINVAL || strstr(o.error, "not a regular file") == NULL ||
        strstr(o.error, a[1]) == NULL) {
        fprintf(stderr, "%s: expected 'not a regular file (%s)' vs got %d '%s'\n", a[0], a[1],
                o.open_err, o.error);
        _exit(1);
    }
}

/* A FIFO, a directory or a device given as the log is refused before it is opened: a
 * FIFO's open would wait for a writer for ever. */
static void reader_refuses_non_regular_files(void **state)
{
    char fifo[PATH_MAX];

    (void)state;
    tmp_path(fifo, sizeof(fifo), "log.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *fifo_case[] = { fifo, "a FIFO" };
    bounded(refused_as, fifo_case, 5, "a FIFO as the log");
    const char *dir_case[] = { tmp_dir, "a directory" };
    bounded(refused_as, dir_case, 5, "a directory as the log");
    const char *dev_case[] = { "/dev/null", "a character device" };
    bounded(refused_as, dev_case, 5, "/dev/null as the log");
    unlink(fifo);
}

/* A file that says it is empty (as /proc's do) is not read: it is an empty log. */
static void reader_does_not_read_empty_files(void **state)
{
    struct outcome o;

    (void)state;
    read_all("/proc/self/status", &o);
    assert_int_equal(o.open_err, -EINVAL);
    if (strstr(o.error, "empty file") == NULL)
        fail_msg("expected 'empty file' vs got '%s'", o.error);
}

/* Events naming stacks no record defined - none, 2^31, the largest id - are handed out
 * with stack 0 and counted, with one warning; a defined stack is handed out as it is.
 * Consumers index tables by stack id: a wild id made the aggregator's table double past
 * 2^31 to 0 for ever, and 2^24 asked it for 17 GB. */
static void reader_zeroes_undefined_stack_ids(void **state)
{
    static const uint64_t pc = 0x401000;
    static const uint32_t ids[] = { 7, 1u << 20, 1u << 31, UINT32_MAX, 1 };
    const int n = sizeof(ids) / sizeof(ids[0]);
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf c = { 0 };
    struct lf_event ev[8];
    struct lb_log l;
    char path[PATH_MAX];

    (void)state;
    lb_init(&l, &f);
    lb_meta_stack(&c, 1, 1, &pc);
    lb_meta_chunk(&l, &c, 0);
    for (int i = 0; i < n; i++)
        ev[i] = lb_ev_alloc(LF_FN_MALLOC, START_TICKS + 10 + (uint64_t)i,
                            0x10000 + 0x100 * (uint64_t)i, 64, ids[i]);
    lb_events_chunk(&l, 100, START_TICKS, ev, n, 0);
    c.len = 0;
    lb_meta_end(&c, START_TICKS + 100, 0, LF_END_EXIT);
    lb_meta_chunk(&l, &c, 0);
    lb_close(&l);
    tmp_path(path, sizeof(path), "undefined-stacks.hsl");
    write_file(path, l.b.p, l.b.len);
    for (int thread = 0; thread < 2; thread++) {
        int err = 0, k, got = 0;
        struct rd_log *r = rd_open(path, &err);
        struct rd_item it;

        assert_non_null(r);
        assert_int_equal(err, 0);
        rd_set_thread(r, thread);
        while ((k = rd_next(r, &it)) > 0) {
            if (it.kind != RD_EVENT)
                continue;
            assert_true(got < n);
            uint32_t want = ids[got] == 1 ? 1 : 0;
            if (it.ev.stack != want)
                fail_msg("event %d naming stack %u: expected stack %u vs got %u", got, ids[got],
                         want, it.ev.stack);
            got++;
        }
        assert_int_equal(k, 0);
        assert_int_equal(got, n);
        assert_int_equal(rd_stats(r)->undefined_stacks, n - 1);
        const char *w = rd_warnings(r);
        if (strstr(w, "4 events name a stack id the log never defined (the first: 7)") == NULL ||
            strchr(w, '\n') != strrchr(w, '\n'))
            fail_msg("expected one warning counting 4 undefined stack ids vs got '%s'", w);
        rd_close(r);
    }
    lb_buf_fini(&c);
    lb_fini(&l);
}

/* A stack record whose id runs more than RD_STACK_ID_SLACK ahead of the stacks defined
 * is refused, naming the file, the chunk's offset and the id: one at 2^28 made the
 * reader ask for 8 GiB. Up to the slack, and ids defined in any order, are read. */
static void reader_bounds_stack_record_ids(void **state)
{
    static const uint64_t pc = 0x401000;
    static const uint64_t bad[] = { RD_STACK_ID_SLACK + 2, 1u << 28, 1ull << 40 };
    char path[PATH_MAX], want[128];
    struct lb_file f = lb_file_default(LF_VERSION);

    (void)state;
    tmp_path(path, sizeof(path), "stack-ids.hsl");
    for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_buf c = { 0 };
        struct lb_log l;
        struct outcome o;
        bool ok = i == sizeof(bad) / sizeof(bad[0]);

        lb_init(&l, &f);
        lb_meta_stack(&c, 1, 1, &pc);
        if (ok) {
            lb_meta_stack(&c, 3, 1, &pc);
            lb_meta_stack(&c, 2 + RD_STACK_ID_SLACK, 1, &pc); /* 2 defined before it */
        } else {
            /* lb_meta_stack takes 32-bit ids: the body by hand. */
            struct lb_buf b = { 0 };
            lb_put_varint(&b, bad[i]);
            lb_put_varint(&b, 1);
            lb_put_varint(&b, lf_zigzag((int64_t)pc));
            lb_meta_raw(&c, LF_META_STACK, b.p, b.len);
            lb_buf_fini(&b);
        }
        int k = lb_meta_chunk(&l, &c, 0);
        c.len = 0;
        lb_meta_end(&c, START_TICKS + 100, 0, LF_END_EXIT);
        lb_meta_chunk(&l, &c, 0);
        lb_close(&l);
        write_file(path, l.b.p, l.b.len);
        read_all(path, &o);
        if (ok) {
            assert_false(failed(&o));
            assert_int_equal(o.n_stacks, 3);
        } else {
            if (!failed(&o))
                fail_msg("a stack record with id %llu: expected an error vs got none",
                         (unsigned long long)bad[i]);
            assert_int_equal(error_offset(&o, path, l.ch[k].off), l.ch[k].off);
            snprintf(want, sizeof(want), "id %llu", (unsigned long long)bad[i]);
            if (strstr(o.error, want) == NULL)
                fail_msg("expected the message to name '%s' vs got '%s'", want, o.error);
        }
        lb_buf_fini(&c);
        lb_fini(&l);
    }
}

/* ---- truncation at every byte ---- */

/* Cuts data at every offset from 0 to len and reads each prefix. A cut must be refused
 * with a message naming an offset up to the cut, or read with a warning; what is read
 * is what the complete chunks before the cut hold: n_events_at(cut) if given, else as
 * much as at the end of the last complete chunk. The whole log reads without warnings. */
static void cut_everywhere(const char *name, const uint8_t *data, size_t len, const size_t *ends,
                           const int *events_at_end, const bool *end_at_end, int n_chunks)
{
    char path[PATH_MAX];
    struct outcome *o = malloc(sizeof(*o));
    int *seen = calloc(len + 1, sizeof(*seen));

    assert_non_null(o);
    assert_non_null(seen);
    tmp_path(path, sizeof(path), name);
    for (size_t cut = 0; cut <= len; cut++) {
        write_file(path, data, cut);
        read_all(path, o);
        int whole = 0; /* complete chunks before the cut */
        while (whole < n_chunks && ends[whole] <= cut)
            whole++;
        if (failed(o)) {
            if (cut == len)
                fail_msg("%s, whole: expected no error vs got '%s'", name, o->error);
            error_offset(o, path, cut);
            seen[cut] = -1;
            continue;
        }
        seen[cut] = o->n_events;
        if (cut < len && o->warnings[0] == '\0')
            fail_msg("%s cut at byte %zu of %zu: expected a warning vs got none (%d events)", name,
                     cut, len, o->n_events);
        if (cut == len && o->warnings[0] != '\0')
            fail_msg("%s, whole: expected no warning vs got '%s'", name, o->warnings);
        int want = -1;
        if (whole == 0)
            want = 0;
        else if (events_at_end != NULL)
            want = events_at_end[whole - 1];
        else if (seen[ends[whole - 1]] >= 0)
            want = seen[ends[whole - 1]];
        if (want >= 0 && o->n_events != want)
            fail_msg("%s cut at byte %zu of %zu (%d complete chunks): expected %d events vs "
                     "got %d",
                     name, cut, len, whole, want, o->n_events);
        if (strstr(o->warnings, "no end record") != NULL && o->ended)
            fail_msg("%s cut at byte %zu of %zu: expected rd_stats()->ended false, as the "
                     "warning says, vs got true ('%s')",
                     name, cut, len, o->warnings);
        bool has_end = whole > 0 && end_at_end != NULL && end_at_end[whole - 1];
        if (end_at_end != NULL && o->ended != has_end)
            fail_msg("%s cut at byte %zu of %zu: expected rd_stats()->ended %s (the end "
                     "record %s) vs got %s",
                     name, cut, len, has_end ? "true" : "false",
                     has_end ? "was read" : "is cut off", o->ended ? "true" : "false");
    }
    free(seen);
    free(o);
}

static void synthetic_cut_at_every_byte(void **state)
{
    struct synth_opts opt = plain;
    struct lb_log l;
    size_t ends[LB_MAX_CHUNKS];
    int events[LB_MAX_CHUNKS];
    bool has_end[LB_MAX_CHUNKS];

    (void)state;
    opt.unknown_chunk = true;
    opt.unknown_meta = true;
    synth(&l, &opt);
    for (int c = 0; c < l.n_ch; c++) {
        ends[c] = l.ch[c].end;
        events[c] = l.ch[c].n_events;
        has_end[c] = l.ch[c].has_end;
    }
    cut_everywhere("synthetic-cut.hsl", l.b.p, l.b.len, ends, events, has_end, l.n_ch);
    lb_fini(&l);
}

/* ---- follow mode ---- */

/* Reads what a growing file holds: items until -EAGAIN; counts the events. */
static int follow_drain(struct rd_log *r, int *events)
{
    struct rd_item it;
    int k;
    while ((k = rd_next(r, &it)) == 1)
        *events += it.kind == RD_EVENT;
    return k;
}

/* A log appended to in steps that cut chunks anywhere: every step's end is "no more
 * yet" (-EAGAIN), never an error or a warning; once the writer is gone, the items are
 * exactly those of the whole log read at once. */
static void follow_reads_growing_log(const char *name, const uint8_t *bytes, size_t len,
                                     int want_events, size_t step)
{
    char path[PATH_MAX];
    int events = 0, err = 0;

    tmp_path(path, sizeof(path), name);
    assert_int_equal(lb_write_bytes(path, bytes, LF_FILE_HDR_SIZE), 0);
    struct rd_log *r = rd_open(path, &err);
    assert_non_null(r);
    assert_int_equal(err, 0);
    rd_set_thread(r, false);
    rd_set_follow(r, true);
    for (size_t have = LF_FILE_HDR_SIZE; have < len;) {
        assert_int_equal(follow_drain(r, &events), -EAGAIN);
        have = have + step < len ? have + step : len;
        FILE *f = fopen(path, "r+");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        size_t at = (size_t)ftell(f);
        assert_int_equal(fwrite(bytes + at, 1, have - at, f), have - at);
        fclose(f);
    }
    int k = follow_drain(r, &events);
    /* A cleanly closed log ends at its trailer, even when followed. */
    if (k == -EAGAIN) {
        rd_set_follow(r, false);
        k = follow_drain(r, &events);
    }
    assert_int_equal(k, 0);
    assert_string_equal(rd_error(r), "");
    assert_null(strstr(rd_warnings(r), "ends inside"));
    assert_int_equal(events, want_events);
    rd_close(r);
    unlink(path);
}

static void reader_follows_growing_log(void **state)
{
    struct lb_log l;
    (void)state;
    synth(&l, &plain);
    for (size_t step = 1; step < 200; step += 37)
        follow_reads_growing_log("follow-synth.hsl", l.b.p, l.b.len, l.n_events, step);
    lb_fini(&l);
}

/* ---- a real log ---- */

static const char *shim_path;
static uint8_t *real_log;
static size_t real_len;

/* Runs `ls /` with the shim preloaded, writing its log into the temporary directory. */
static int record_real_log(void)
{
    char out[PATH_MAX];
    struct stat sb;
    int status;

    if (access(shim_path, R_OK) != 0)
        return -ENOENT;
    tmp_path(out, sizeof(out), "real.hsl");
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        setenv("LD_PRELOAD", shim_path, 1);
        setenv("HEAPSPAN_OUTPUT", out, 1);
        setenv("HEAPSPAN_QUIET", "1", 1);
        setenv("HEAPSPAN_FOLLOW_CHILDREN", "0", 1);
        unsetenv("ASAN_OPTIONS");
        execlp("ls", "ls", "/", (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -ECHILD;
    int fd = open(out, O_RDONLY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) != 0 || sb.st_size <= 0) {
        close(fd);
        return -EIO;
    }
    real_len = (size_t)sb.st_size;
    real_log = malloc(real_len);
    if (real_log == NULL || read(fd, real_log, real_len) != (ssize_t)real_len) {
        close(fd);
        return -EIO;
    }
    close(fd);
    return 0;
}

static void need_real_log(void)
{
    if (real_log == NULL)
        fail_msg("no log from `ls /` under the shim %s: build it with `make`, or give its "
                 "path as the first argument",
                 shim_path);
}

/* Chunk ends of a log, from the framing in logfmt.h. */
static int frame(const uint8_t *p, size_t len, size_t *ends, int cap)
{
    size_t off = lf_get_u16(p + 10);
    int n = 0;

    while (off + LF_CHUNK_HDR_SIZE <= len && n < cap) {
        if (memcmp(p + off, LF_TRAILER_MAGIC, 8) == 0)
            break;
        assert_int_equal(lf_get_u32(p + off), LF_CHUNK_MAGIC);
        off += lf_get_u16(p + off + 6) + (size_t)lf_get_u32(p + off + 8);
        ends[n++] = off;
    }
    return n;
}

static void real_log_reads_clean(void **state)
{
    struct outcome o;

    (void)state;
    need_real_log();
    read_bytes("real-copy.hsl", real_log, real_len, &o);
    assert_int_equal(o.open_err, 0);
    assert_int_equal(o.next_err, 0);
    assert_string_equal(o.warnings, "");
    assert_true(o.n_events > 0);
    assert_true(o.n_modules > 0);
    assert_true(o.ended);
    assert_false(o.truncated);
}

static void real_log_cut_at_every_byte(void **state)
{
    size_t ends[4096];

    (void)state;
    need_real_log();
    int n = frame(real_log, real_len, ends, 4096);
    assert_true(n >= 2);
    cut_everywhere("real-cut.hsl", real_log, real_len, ends, NULL, NULL, n);
}

/* ---- the reader's thread ---- */

/* A read of path as text, an item a line, then what the reader says at the end. */
struct transcript {
    char *p;
    size_t len, cap;
    uint64_t late;
};

static void say(struct transcript *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct transcript *t, const char *fmt, ...)
{
    va_list ap;
    char line[1400];

    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(line));
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, line, (size_t)n + 1);
    t->len += (size_t)n;
}

/* Reads up to stop_after items (-1: all), [from, to) if to is not 0. */
static void transcribe(const char *path, bool thread, uint64_t from, uint64_t to, int stop_after,
                       struct transcript *t)
{
    int err = 0;
    struct rd_log *r = rd_open(path, &err);
    struct rd_item it;
    int k = 0;

    memset(t, 0, sizeof(*t));
    assert_non_null(r);
    assert_int_equal(err, 0);
    rd_set_thread(r, thread);
    if (to != 0)
        rd_set_window(r, from, to);
    for (int n = 0; n != stop_after && (k = rd_next(r, &it)) > 0; n++) {
        const struct lf_event *e = &it.ev;
        say(t, "%d %" PRIu64 " ", it.kind, it.time);
        switch (it.kind) {
        case RD_EVENT:
            say(t,
                "tid %u type %d fn %d stack %u before %" PRIu64 " addr %" PRIx64 " old %" PRIx64
                " size %" PRIu64 " count %" PRIu64 "\n",
                it.tid, e->type, e->fn, e->stack, e->time_before, e->addr, e->old_addr, e->size,
                e->count);
            assert_int_equal(it.time, e->time);
            break;
        case RD_MARKER:
            say(t, "marker %d %u\n", it.marker_kind, it.serial);
            break;
        case RD_MODULE:
        case RD_UNLOAD:
            say(t, "module %u %s\n", it.module->id, it.module->path);
            break;
        case RD_NOTE:
            say(t, "note %d %s\n", it.severity, it.text);
            break;
        case RD_END:
            say(t, "end %d %" PRIu64 "\n", it.end_reason, it.count);
            break;
        case RD_POOL:
            say(t, "pool %d %" PRIx64 " %s %" PRIu64 "\n", it.pool_op, it.pool,
                it.text != NULL ? it.text : "", it.count);
            break;
        }
    }
    if (stop_after < 0) {
        const struct rd_stats *st = rd_stats(r);
        say(t,
            "= %d stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
            " %" PRIu64 " %" PRIu64 " %d %d %d stacks %u modules %d\nerror %s\nwarnings %s",
            k, st->chunks, st->event_chunks, st->meta_chunks, st->events, st->late, st->lost,
            st->bytes_read, st->file_bytes, st->truncated, st->ended, st->end_reason,
            rd_n_stacks(r), rd_n_modules(r), rd_error(r), rd_warnings(r));
        t->late = st->late;
    }
    rd_close(r);
}

/* The same read with the thread and without gives the same, to the last item. */
static void same_either_way(const char *path, uint64_t from, uint64_t to)
{
    struct transcript on, off;

    transcribe(path, true, from, to, -1, &on);
    transcribe(path, false, from, to, -1, &off);
    const char *a = on.p, *b = off.p;
    for (int line = 1;; line++) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        if (ea == NULL || eb == NULL || ea - a != eb - b || memcmp(a, b, (size_t)(ea - a)) != 0) {
            if (strcmp(a, b) != 0)
                fail_msg("%s: item %d with the thread vs without: expected '%.*s' vs got "
                         "'%.*s'",
                         path, line, (int)(eb ? eb - b : (long)strlen(b)), b,
                         (int)(ea ? ea - a : (long)strlen(a)), a);
            break;
        }
        a = ea + 1;
        b = eb + 1;
    }
    free(on.p);
    free(off.p);
}

static void thread_reads_as_without(void **state)
{
    struct lb_log l;
    struct transcript t;
    char path[PATH_MAX];

    (void)state;
    synth_long(&l);
    tmp_path(path, sizeof(path), "long.hsl");
    write_file(path, l.b.p, l.b.len);
    transcribe(path, true, 0, 0, -1, &t);
    if (t.late == 0 || strstr(t.p, "note 1 cycle 47") == NULL || strstr(t.p, "\nwarnings \n") ||
        strstr(t.p, "= 0 stats") == NULL)
        fail_msg("expected a clean read with late events and every note vs got '%s'",
                 t.p + (t.len > 600 ? t.len - 600 : 0));
    free(t.p);
    same_either_way(path, 0, 0);
    same_either_way(path, START_TICKS + 5300, START_TICKS + 31700); /* a window */
    /* A damaged chunk late in the log, one read ahead: the same items before the same
     * error. */
    int d = l.n_ch - 20;
    while (l.ch[d].kind != LF_CHUNK_EVENTS || !(l.b.p[l.ch[d].off + 5] & LF_CHUNK_ZSTD))
        d--;
    size_t at = l.ch[d].off + LF_CHUNK_HDR_SIZE + 3;
    l.b.p[at] ^= 0x40;
    write_file(path, l.b.p, l.b.len);
    same_either_way(path, 0, 0);
    /* A log cut short. */
    write_file(path, l.b.p, at);
    same_either_way(path, 0, 0);
    lb_fini(&l);
}

static void real_log_reads_as_without_thread(void **state)
{
    char path[PATH_MAX];

    (void)state;
    need_real_log();
    tmp_path(path, sizeof(path), "real-copy.hsl");
    write_file(path, real_log, real_len);
    same_either_way(path, 0, 0);
}

/* A reader closed mid-log, its thread blocked on a full hand-over, or never started. */
static void thread_stops_on_close(void **state)
{
    struct lb_log l;
    struct transcript t;
    char path[PATH_MAX];
    int err;

    (void)state;
    synth_long(&l);
    tmp_path(path, sizeof(path), "long-close.hsl");
    write_file(path, l.b.p, l.b.len);
    for (int n = 0; n < 3; n++) {
        transcribe(path, true, 0, 0, n == 0 ? 1 : n == 1 ? 1000 : 40000, &t);
        free(t.p);
    }
    struct rd_log *r = rd_open(path, &err);
    assert_non_null(r);
    rd_close(r);
    lb_fini(&l);
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(tmp_dir) == NULL)
        return -1;
    record_real_log(); /* a failure shows in the tests that need it */
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];

    (void)state;
    free(real_log);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(synthetic_reads_exactly),
        cmocka_unit_test(reader_reads_version_1),
        cmocka_unit_test(reader_counts_rounded_chunks),
        cmocka_unit_test(reader_skips_unknown_meta_record),
        cmocka_unit_test(reader_skips_unknown_chunk_kind),
        cmocka_unit_test(reader_stops_chunk_at_unknown_event),
        cmocka_unit_test(reader_refuses_newer_version),
        cmocka_unit_test(reader_refuses_empty_file),
        cmocka_unit_test(reader_skips_flipped_payload_byte),
        cmocka_unit_test(reader_resyncs_after_bad_header),
        cmocka_unit_test(reader_refuses_all_damaged),
        cmocka_unit_test(reader_refuses_random_bytes),
        cmocka_unit_test(reader_refuses_non_regular_files),
        cmocka_unit_test(reader_does_not_read_empty_files),
        cmocka_unit_test(reader_zeroes_undefined_stack_ids),
        cmocka_unit_test(reader_bounds_stack_record_ids),
        cmocka_unit_test(synthetic_cut_at_every_byte),
        cmocka_unit_test(reader_follows_growing_log),
        cmocka_unit_test(real_log_reads_clean),
        cmocka_unit_test(real_log_cut_at_every_byte),
        cmocka_unit_test(thread_reads_as_without),
        cmocka_unit_test(real_log_reads_as_without_thread),
        cmocka_unit_test(thread_stops_on_close),
    };
    const char *env = getenv("HEAPSPAN_SHIM");

    shim_path = argc > 1 ? argv[1] : env != NULL && env[0] != '\0' ? env : "build/libheapspan.so";
    return cmocka_run_group_tests(tests, setup, teardown);
}
