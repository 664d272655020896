/*
 * mklog.c - writes small logs made with tests/lib/logbuild.h, for the command-line tests
 * of hostile input (tests/hostile-tests.sh) and for the fuzzers' seed corpus
 * (tests/fuzz/README.md). Each log is what a writer could put in a file, values and
 * all, whether or not the shim ever would.
 *
 *   mklog OUT event-stack ID      an allocation naming stack ID, which no record defines
 *   mklog OUT meta-stack ID       a stack record with id ID, and an allocation naming it
 *   mklog OUT module PATH         a module at PATH holding the pcs of the log's stack
 *   mklog OUT escapes             control characters and bad UTF-8 in every string a log
 *                                 carries: the program, its arguments, a module's path,
 *                                 a note
 *   mklog OUT stopped LOST        recording stopped (a full disk) with LOST events not
 *                                 written; three blocks live when it stopped
 *   mklog OUT modules N           N module records in one meta chunk of a few KB (zstd)
 *   mklog OUT stacks N            N stacks (zstd meta chunks) and an allocation naming
 *                                 the last: each costs the aggregator half a KiB
 *   mklog OUT no-barriers K       K events chunks of 262,000 allocations each, a few
 *                                 hundred bytes apiece (zstd columns), and no barrier
 *   mklog OUT damaged             six events chunks, chunk K (0-5) allocating 10 blocks of
 *                                 1000 + K bytes, never freed; chunk 2's payload fails its
 *                                 checksum and chunk 4's header has lost its magic: a
 *                                 reader that skips them finds 40 blocks, 40,090 bytes
 *   mklog DIR seeds               one small log per record type and per kind of damage,
 *                                 as DIR/NAME.hsl
 *
 * Exits 0, or 2 with a message on a usage or write error.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/logfmt.h"
#include "tests/lib/logbuild.h"

#define T0 LB_START_TICKS

static const uint64_t stack_pcs[] = { 0x401010, 0x401234 };
static const struct lb_seg text_seg = { 0x1000, 0x1000, 5 };

/* The first meta chunk every log here has: the program, two clock records (a tick is a
 * nanosecond), and stack 1 in module 1 unless told otherwise. */
static void first_meta(struct lb_log *l, const char *module_path, bool stack1)
{
    static const char *const argv[] = { "prog", "--flag" };
    struct lb_buf c = { 0 };

    lb_meta_process(&c, "/bin/prog", 2, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, T0 + 1000000, 5001000000ull, 1700000000001000000ull);
    if (stack1)
        lb_meta_stack(&c, 1, 2, stack_pcs);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &text_seg, (const uint8_t *)"\xde\xad\xbe\xef", 4,
                   module_path);
    lb_meta_chunk(l, &c, 0);
    lb_buf_fini(&c);
}

static void end_meta(struct lb_log *l, uint64_t time, uint64_t lost, int reason)
{
    struct lb_buf c = { 0 };

    lb_meta_end(&c, time, lost, reason);
    lb_meta_chunk(l, &c, 0);
    lb_buf_fini(&c);
}

/* An allocation naming stack id, then a clean end. */
static void log_event_stack(struct lb_log *l, uint32_t id)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 64, id);

    lb_init(l, &f);
    first_meta(l, "/bin/prog", false);
    lb_events_chunk(l, 100, T0, &ev, 1, 0);
    end_meta(l, T0 + 20, 0, LF_END_EXIT);
    lb_close(l);
}

static void log_meta_stack(struct lb_log *l, uint32_t id)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 64, id);
    struct lb_buf c = { 0 };

    lb_init(l, &f);
    first_meta(l, "/bin/prog", false);
    lb_meta_stack(&c, id, 2, stack_pcs);
    lb_meta_chunk(l, &c, 0);
    lb_buf_fini(&c);
    lb_events_chunk(l, 100, T0, &ev, 1, 0);
    end_meta(l, T0 + 20, 0, LF_END_EXIT);
    lb_close(l);
}

static void log_module(struct lb_log *l, const char *path)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 64, 1);

    lb_init(l, &f);
    first_meta(l, path, true);
    lb_events_chunk(l, 100, T0, &ev, 1, 0);
    end_meta(l, T0 + 20, 0, LF_END_EXIT);
    lb_close(l);
}

/* ESC [ 2 J clears a terminal, ESC ] 0 ; ... BEL sets its title; 0xc2 0x9b is the C1
 * CSI; 0xff and a lone 0xc3 are not UTF-8. */
#define NASTY                                               \
    "\x1b[2J\x1b]0;owned\x07|<b>\ttab\nnew\rcr\x7f\xc2\x9b" \
    "31m\xff\xc3"

static void log_escapes(struct lb_log *l)
{
    static const char *const argv[] = { "/bin/" NASTY, "--arg=" NASTY };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf c = { 0 };
    struct lf_event ev = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 64, 1);

    lb_init(l, &f);
    lb_meta_process(&c, "/bin/" NASTY, 2, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_stack(&c, 1, 2, stack_pcs);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &text_seg, NULL, 0, "/lib/" NASTY ".so");
    lb_meta_note(&c, T0 + 5, 1, "note " NASTY);
    lb_meta_chunk(l, &c, 0);
    lb_buf_fini(&c);
    lb_events_chunk(l, 100, T0, &ev, 1, 0);
    end_meta(l, T0 + 20, 0, LF_END_EXIT);
    lb_close(l);
}

/* Four blocks allocated, one freed, then recording stopped at T0 + 500 ms: the other
 * three were live then, and may have been freed later, unrecorded. */
static void log_stopped(struct lb_log *l, uint64_t lost)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev[5];

    lb_init(l, &f);
    first_meta(l, "/bin/prog", true);
    for (int i = 0; i < 4; i++)
        ev[i] = lb_ev_alloc(LF_FN_MALLOC, T0 + 10 + (uint64_t)i, 0x10000 + 0x100 * (uint64_t)i,
                            1000, 1);
    ev[4] = lb_ev_free(T0 + 20, 0x10000);
    lb_events_chunk(l, 100, T0, ev, 5, 0);
    end_meta(l, T0 + 500000000, lost, LF_END_STOPPED);
}

static void log_damaged(struct lb_log *l)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event ev[10];

    lb_init(l, &f);
    first_meta(l, "/bin/prog", true);
    for (uint64_t k = 0; k < 6; k++) {
        for (uint64_t i = 0; i < 10; i++)
            ev[i] = lb_ev_alloc(LF_FN_MALLOC, T0 + 100 * k + i, 0x100000 + 0x1000 * (10 * k + i),
                                1000 + k, 1);
        lb_events_chunk(l, 100, T0 + 100 * k, ev, 10, 0);
    }
    end_meta(l, T0 + 1000, 0, LF_END_EXIT);
    lb_damage_payload(l, 3, 5, 0x08, false);  /* events chunk 2 (after the meta chunk) */
    lb_set_chunk_field(l, 5, LB_CH_MAGIC, 0); /* events chunk 4 */
}

/* Records that decompress to far more than they take: what a reader holds for them
 * must stay bounded by the file's size. */
static void log_modules(struct lb_log *l, int n)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf c = { 0 };

    lb_init(l, &f);
    for (int i = 0; i < n; i++)
        lb_meta_module(&c, T0, 1, 0x400000, 0, NULL, NULL, 0, "");
    lb_meta_chunk(l, &c, LB_ZSTD_CHUNK);
    lb_buf_fini(&c);
}

static void log_stacks(struct lb_log *l, uint32_t n)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf c = { 0 };
    struct lf_event ev = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 16, n);

    lb_init(l, &f);
    for (uint32_t i = 1; i <= n; i++) {
        lb_meta_stack(&c, i, 1, stack_pcs);
        if (c.len > (15u << 20) || i == n) {
            lb_meta_chunk(l, &c, LB_ZSTD_CHUNK);
            c.len = 0;
        }
    }
    lb_events_chunk(l, 100, T0, &ev, 1, 0);
    lb_buf_fini(&c);
}

static void log_no_barriers(struct lb_log *l, int k)
{
    enum { N = 262000 };
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lf_event *ev = malloc(N * sizeof(*ev));
    struct lb_buf p = { 0 };

    if (ev == NULL)
        exit(2);
    lb_init(l, &f);
    first_meta(l, "/bin/prog", true);
    for (int i = 0; i < N; i++)
        ev[i] = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 16, 1);
    lb_events_payload(&p, LF_VERSION, T0, ev, N, true);
    for (int i = 0; i < k; i++)
        lb_chunk(l, LF_CHUNK_EVENTS, 100 + (uint32_t)i, T0, &p, 0);
    lb_buf_fini(&p);
    free(ev);
}

/* ---- seeds ---- */

static int write_log(const struct lb_log *l, const char *path)
{
    int err = lb_write(l, path);
    if (err < 0)
        fprintf(stderr, "mklog: %s: %s\n", path, strerror(-err));
    return err;
}

/* Every record type, every event type, both compressions, a barrier, an index. */
static void seed_full(struct lb_log *l, unsigned version, unsigned zstd)
{
    static const char *const argv[] = { "prog", "a" };
    struct lb_file f = lb_file_default(version);
    struct lb_buf c = { 0 };
    struct lf_event ev[8];
    int n = 0;

    lb_init(l, &f);
    lb_meta_process(&c, "/bin/prog", 2, argv);
    lb_meta_clock(&c, T0, 5000000000ull, 1700000000000000000ull);
    lb_meta_clock(&c, T0 + 1000, 5000001000ull, 1700000000000001000ull);
    lb_meta_stack(&c, 1, 2, stack_pcs);
    lb_meta_stack(&c, 2, 1, stack_pcs + 1);
    lb_meta_module(&c, T0, 1, 0x400000, 1, &text_seg, (const uint8_t *)"\x01\x02\x03\x04", 4,
                   "/bin/prog");
    lb_meta_module(&c, T0 + 1, 2, 0x7f0000000000, 1, &text_seg, NULL, 0, "/lib/libx.so");
    lb_meta_thread(&c, T0 + 2, 100, "main");
    lb_meta_marker(&c, T0 + 3, LF_MARKER_SIGNAL, 1);
    lb_meta_note(&c, T0 + 4, 0, "a note");
    lb_meta_chunk(l, &c, zstd & LB_ZSTD_CHUNK);
    ev[n++] = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 100, 1);
    ev[n++] = lb_ev_alloc(LF_FN_CALLOC, T0 + 11, 0x10100, 24, 2);
    ev[n++] = lb_ev_realloc(T0 + 12, T0 + 13, 0x10100, 0x10200, 48, 2);
    ev[n++] = lb_ev_zeros(T0 + 14, 0x10000, 100, 60);
    ev[n++] = lb_ev_free(T0 + 14, 0x10000);
    ev[n++] = lb_ev_lost(T0 + 15, 2);
    ev[n++] = lb_ev_alloc(LF_FN_NEW, T0 + 16, 0x7fff00001000ull, 8, 1);
    ev[n++] = lb_ev_free(T0 + 17, 0x123456);
    lb_events_chunk(l, 100, T0 + 10, ev, n, zstd);
    n = 0;
    ev[n++] = lb_ev_alloc(LF_FN_MALLOCX, T0 + 12, 0x20000, 4096, 2);
    ev[n++] = lb_ev_free(T0 + 18, 0x10200);
    lb_events_chunk(l, 101, T0 + 12, ev, n, 0);
    c.len = 0;
    lb_meta_barrier(&c, T0 + 19);
    lb_meta_unload(&c, T0 + 20, 2);
    lb_meta_marker(&c, T0 + 21, LF_MARKER_INTERVAL, 2);
    lb_meta_chunk(l, &c, 0);
    ev[0] = lb_ev_free(T0 + 22, 0x20000);
    lb_events_chunk(l, 101, T0 + 22, ev, 1, zstd);
    c.len = 0;
    lb_meta_end(&c, T0 + 30, 1, LF_END_EXIT);
    lb_meta_chunk(l, &c, 0);
    lb_buf_fini(&c);
    lb_close(l);
}

/* One file of DIR/<kind>/, from a first byte (none if first < 0) and a buffer. */
static int write_seed(const char *dir, const char *kind, const char *name, int first,
                      const struct lb_buf *b)
{
    char path[PATH_MAX];
    struct lb_buf out = { 0 };
    int err;

    if (first >= 0)
        lb_put_u8(&out, (uint8_t)first);
    lb_put(&out, b->p, b->len);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, kind, name);
    err = lb_write_bytes(path, out.p, out.len);
    if (err < 0)
        fprintf(stderr, "mklog: %s: %s\n", path, strerror(-err));
    lb_buf_fini(&out);
    return err < 0 ? 2 : 0;
}

/* Meta chunk payloads: each record type alone, then all of them together. */
static int meta_seeds(const char *dir)
{
    static const char *const argv[] = { "prog", "-v" };
    static const uint64_t deep[] = { 0x401000, 0x7fff00000000ull, 0x401000, 0 };
    struct lb_buf all = { 0 }, one = { 0 };
    int err = 0;

#define META(name, rec)                                 \
    do {                                                \
        one.len = 0;                                    \
        lb_meta_##rec;                                  \
        err |= write_seed(dir, "meta", name, -1, &one); \
        lb_put(&all, one.p, one.len);                   \
    } while (0)

    META("process", process(&one, "/bin/prog", 2, argv));
    META("clock", clock(&one, T0, 5000000000ull, 1700000000000000000ull));
    META("clock2", clock(&one, T0 + 1000, 5000001000ull, 1700000000000001000ull));
    META("stack1", stack(&one, 1, 2, stack_pcs));
    META("stack2", stack(&one, 2, 4, deep));
    META("stack3-empty", stack(&one, 3, 0, NULL));
    META("module",
         module(&one, T0, 1, 0x400000, 1, &text_seg, (const uint8_t *)"\x01\x02", 2, "/bin/prog"));
    META("unload", unload(&one, T0 + 5, 1));
    META("barrier", barrier(&one, T0 + 6));
    META("marker", marker(&one, T0 + 7, LF_MARKER_EXEC, 3));
    META("note", note(&one, T0 + 8, 1, "a note"));
    META("thread", thread(&one, T0 + 9, 100, "worker"));
    META("end-stopped", end(&one, T0 + 50, 99, LF_END_STOPPED));
    /* Python: a code object (3.11's table for a function of lines 10-12: RESUME at 10,
     * then 11 for 4 units, 12 for 3), the interpreter, and a stack with its frames: the
     * loop's pc, the code at unit 5 (line 12) as the outermost frame of that call, and
     * a count of 2 frames dropped behind another pc of the loop. */
    static const uint8_t table[] = { 0x80, 0x00, 0xdb, 0x02, 0x02, 0xda, 0x02, 0x04 };
    static const uint64_t py[] = { 0x401000, LF_PY_FRAME | LF_PY_ENTRY | 6ull << 32 | 1, 0x401010,
                                   LF_PY_FRAME | 2ull << 32, 0x402000 };
    META("pycode", pycode(&one, 1, 10, 8, "Outer.work", "app.py", table, sizeof(table)));
    META("python", python(&one, T0 + 10, 0x030b02f0, LF_PYTHON_STACKS, "malloc", ""));
    META("stack4-python", stack(&one, 4, 5, py));
#undef META
    err |= write_seed(dir, "meta", "all", -1, &all);
    lb_buf_fini(&all);
    lb_buf_fini(&one);
    return err;
}

/* Events chunk payloads, stored (columns compressed or not) and unpacked. */
static int evcodec_seeds(const char *dir)
{
    struct lf_event ev[16];
    struct lb_buf b = { 0 };
    int n = 0, err = 0;

    ev[n++] = lb_ev_alloc(LF_FN_MALLOC, T0 + 10, 0x10000, 100, 1);
    ev[n++] = lb_ev_alloc(LF_FN_CALLOC, T0 + 11, 0x10100, 24, 2);
    ev[n++] = lb_ev_free(T0 + 12, 0x10000);
    ev[n++] = lb_ev_alloc(LF_FN_NEW, T0 + 13, 0x10000, 100, 3);         /* a size class hit */
    ev[n++] = lb_ev_realloc(T0 + 14, T0 + 15, 0x10100, 0x10100, 30, 2); /* in place */
    ev[n++] = lb_ev_realloc(T0 + 16, T0 + 18, 0x10100, 0x7fff00001000ull, 5000, 2); /* moved */
    ev[n++] = lb_ev_zeros(T0 + 19, 0x10000, 100, 60);
    ev[n++] = lb_ev_free(T0 + 19, 0x10000);
    ev[n++] = lb_ev_lost(T0 + 20, 7);
    ev[n++] = lb_ev_free(T0 + 21, 0x123456789ull);
    ev[n++] = lb_ev_alloc(LF_FN_MALLOCX, T0 + 21, 0xffffffffffff0ull, 1ull << 40, UINT32_MAX);
    lb_events_payload(&b, LF_VERSION, T0, ev, n, false);
    err |= write_seed(dir, "evcodec", "raw-stored", 0, &b);
    err |= write_seed(dir, "evcodec", "raw-unpacked", 1, &b);
    b.len = 0;
    lb_events_payload(&b, LF_VERSION, T0, ev, n, true);
    err |= write_seed(dir, "evcodec", "zstd-stored", 0, &b);
    b.len = 0;
    for (n = 0; n < 16; n++) /* alike: zstd compresses the columns */
        ev[n] = lb_ev_alloc(LF_FN_MALLOC, T0 + (uint64_t)n, 0x10000 + 32 * (uint64_t)n, 24,
                            1 + (uint32_t)n % 3);
    lb_events_payload(&b, LF_VERSION, T0, ev, n, true);
    err |= write_seed(dir, "evcodec", "zstd-allocs", 0, &b);
    lb_buf_fini(&b);
    return err;
}

static int seeds(const char *top)
{
    char path[PATH_MAX + 64], dir[PATH_MAX];
    struct lb_log l;
    int err = meta_seeds(top) | evcodec_seeds(top);

    snprintf(dir, sizeof(dir), "%s/reader", top);

#define SEED(name, build)                                     \
    do {                                                      \
        build;                                                \
        snprintf(path, sizeof(path), "%s/%s.hsl", dir, name); \
        if (write_log(&l, path) < 0)                          \
            err = 2;                                          \
        lb_fini(&l);                                          \
    } while (0)

    SEED("full-v2-raw", seed_full(&l, 2, 0));
    SEED("full-v2-zstd", seed_full(&l, 2, LB_ZSTD_CHUNK | LB_ZSTD_COLUMNS));
    SEED("full-v2-columns", seed_full(&l, 2, LB_ZSTD_COLUMNS));
    SEED("full-v1-raw", seed_full(&l, 1, 0));
    SEED("full-v1-zstd", seed_full(&l, 1, LB_ZSTD_CHUNK));
    SEED("event-stack-undefined", log_event_stack(&l, 7));
    SEED("event-stack-2p31", log_event_stack(&l, 1u << 31));
    SEED("meta-stack-2p20", log_meta_stack(&l, 1u << 20));
    SEED("module-dev-null", log_module(&l, "/dev/null"));
    SEED("escapes", log_escapes(&l));
    SEED("stopped", log_stopped(&l, 12345));
    /* Damage: a cut inside the last chunk, a payload byte past its checksum, a field of
     * a header; the checksum of a damaged payload is fixed so that the decoder sees it. */
    SEED("cut", (seed_full(&l, 2, 0), lb_cut(&l, l.ch[2].end - 5)));
    SEED("damaged-meta", (seed_full(&l, 2, 0), lb_damage_payload(&l, 0, 3, 0x40, true)));
    SEED("damaged-events", (seed_full(&l, 2, 0), lb_damage_payload(&l, 1, 5, 0x08, true)));
    SEED("damaged-crc", (seed_full(&l, 2, 0), lb_damage_payload(&l, 1, 5, 0x08, false)));
    SEED("bad-hdr-size", (seed_full(&l, 2, 0), lb_set_chunk_field(&l, 1, LB_CH_HDR_SIZE, 4097)));
    SEED("bad-raw-len", (seed_full(&l, 2, 0), lb_set_chunk_field(&l, 1, LB_CH_RAW, 1u << 30)));
    SEED("bad-kind", (seed_full(&l, 2, 0), lb_set_chunk_field(&l, 1, LB_CH_KIND, 9)));
    SEED("no-trailer", (seed_full(&l, 2, 0), lb_cut(&l, l.b.len - LF_TRAILER_SIZE)));
    SEED("damaged-two", log_damaged(&l));
#undef SEED
    return err;
}

static unsigned long long number(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || end == s) {
        fprintf(stderr, "mklog: not a number: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct lb_log l;

    if (argc >= 3 && !strcmp(argv[2], "seeds"))
        return seeds(argv[1]);
    if (argc == 4 && !strcmp(argv[2], "event-stack"))
        log_event_stack(&l, (uint32_t)number(argv[3]));
    else if (argc == 4 && !strcmp(argv[2], "meta-stack"))
        log_meta_stack(&l, (uint32_t)number(argv[3]));
    else if (argc == 4 && !strcmp(argv[2], "module"))
        log_module(&l, argv[3]);
    else if (argc == 3 && !strcmp(argv[2], "escapes"))
        log_escapes(&l);
    else if (argc == 4 && !strcmp(argv[2], "stopped"))
        log_stopped(&l, number(argv[3]));
    else if (argc == 4 && !strcmp(argv[2], "modules"))
        log_modules(&l, (int)number(argv[3]));
    else if (argc == 4 && !strcmp(argv[2], "stacks"))
        log_stacks(&l, (uint32_t)number(argv[3]));
    else if (argc == 4 && !strcmp(argv[2], "no-barriers"))
        log_no_barriers(&l, (int)number(argv[3]));
    else if (argc == 3 && !strcmp(argv[2], "damaged"))
        log_damaged(&l);
    else {
        fprintf(stderr, "usage: mklog OUT event-stack ID | meta-stack ID | module PATH | "
                        "escapes | stopped LOST | modules N | stacks N | no-barriers K |\n"
                        "       damaged\n"
                        "       mklog DIR seeds\n");
        return 2;
    }
    int err = write_log(&l, argv[1]);
    lb_fini(&l);
    return err < 0 ? 2 : 0;
}
