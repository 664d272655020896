/* cmd_dump.c - `heapspan dump`: the records of a log as text, or a summary of them.
 * For debugging the recording side and for tests that check exact counts. Strings from
 * the log (paths, notes, the program) are escaped for the terminal (util/escape.h). */
#include "cli/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/liveset.h"
#include "analyzer/reader.h"
#include "analyzer/replay.h"
#include "analyzer/session.h"
#include "cli/opts.h"
#include "util/escape.h"

static const char dump_usage[] =
    "usage: heapspan dump [--summary] [--live] [--stacks] LOG\n"
    "Prints every record of LOG in time order (default), or totals as key=value lines\n"
    "(--summary), or the blocks still live at the end grouped by stack (--live), or the\n"
    "stacks (--stacks). Frames are shown as module+offset; `heapspan report` names them.\n";

#define DUMP_MAX_TIDS 4096

/* What --summary and --live report: the live blocks and their totals are the replay
 * engine's (every record counted as one block, sampled log or not); the rest is
 * counted here. */
struct tally {
    struct replay *rp;
    uint64_t zeros_records, zero_bytes, zero_of;
    uint32_t tids[DUMP_MAX_TIDS];
    int n_tids;
};

struct per_stack {
    uint64_t blocks, bytes;
};

static const char *fn_name(int type, int fn)
{
    static const char *alloc_names[] = { "malloc",       "calloc",         "realloc",
                                         "reallocarray", "posix_memalign", "aligned_alloc",
                                         "memalign",     "valloc",         "pvalloc",
                                         "new",          "new[]",          "mallocx",
                                         "rallocx",      "xallocx",        "api" };
    _Static_assert(sizeof(alloc_names) / sizeof(alloc_names[0]) == LF_FN_COUNT,
                   "a name for every allocator function");
    if (type == LF_EV_FREE) {
        switch (fn) {
        case LF_FN_FREE:
            return "free";
        case LF_FN_NEW:
            return "delete";
        case LF_FN_NEW_ARRAY:
            return "delete[]";
        case LF_FN_MALLOCX:
            return "dallocx";
        }
    }
    return fn < LF_FN_COUNT ? alloc_names[fn] : "?";
}

static const char *basename_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static void print_frame(const struct rd_log *r, uint64_t pc, uint64_t time)
{
    if (pc & LF_PY_FRAME) { /* a Python frame (format/logfmt.h): py:CODE@INSTR */
        if (LF_PY_CODE(pc) == 0)
            printf("py:dropped*%u", LF_PY_INSTR(pc));
        else
            printf("py:%u@%d%s", LF_PY_CODE(pc), (int)LF_PY_INSTR(pc) - 1,
                   (pc & LF_PY_ENTRY) ? "e" : "");
        return;
    }
    const struct rd_module *m = rd_module_at(r, pc, time);
    if (m != NULL) {
        esc_fputs(basename_of(m->path), stdout);
        printf("+0x%" PRIx64, pc - m->bias);
    } else
        printf("0x%" PRIx64, pc);
}

static void print_stack(const struct rd_log *r, uint32_t id, uint64_t time)
{
    const struct rd_stack *s = rd_stack(r, id);
    if (s == NULL) {
        printf("?");
        return;
    }
    for (uint32_t i = 0; i < s->depth; i++) {
        if (i > 0)
            putchar(',');
        print_frame(r, s->pcs[i], time);
    }
}

static const char *end_reason(int r)
{
    switch (r) {
    case LF_END_EXIT:
        return "exit";
    case LF_END_UNDERSCORE_EXIT:
        return "_exit";
    case LF_END_SIGNAL:
        return "signal";
    case LF_END_STOPPED:
        return "stopped";
    default:
        return "none";
    }
}

static const char *marker_kind(int kind)
{
    return kind == LF_MARKER_SIGNAL        ? "signal"
           : kind == LF_MARKER_INTERVAL    ? "interval"
           : kind == LF_MARKER_EXEC        ? "exec"
           : kind == LF_MARKER_RSS         ? "rss"
           : kind == LF_MARKER_CGROUP_HIGH ? "cgroup-high"
                                           : "?";
}

static void print_header(const struct rd_header *h)
{
    printf("# heapspan log version %u pid %u ppid %u sample_bytes %" PRIu64
           " max_depth %u clock %s\n",
           h->version, h->pid, h->ppid, h->sample_bytes, h->max_depth,
           (h->flags & LF_FILE_CLOCK_TSC) ? "tsc" : "ns");
    printf("# first column: milliseconds since the program started; size, zero_bytes: bytes\n");
}

static void print_event(const struct rd_item *it, double ms)
{
    const struct lf_event *e = &it->ev;

    switch (e->type) {
    case LF_EV_ALLOC:
        printf("%.6f tid=%u alloc fn=%s addr=0x%" PRIx64 " size=%" PRIu64 " stack=%u", ms, it->tid,
               fn_name(e->type, e->fn), e->addr, e->size, e->stack);
        if (e->old_addr != e->addr)
            printf(" from=0x%" PRIx64, e->old_addr);
        if (e->fn == LF_FN_API && e->pool != 0)
            printf(" pool=0x%" PRIx64, e->pool);
        putchar('\n');
        break;
    case LF_EV_FREE:
        printf("%.6f tid=%u free fn=%s addr=0x%" PRIx64, ms, it->tid, fn_name(e->type, e->fn),
               e->addr);
        if (e->pool != 0) /* made by the reader of a pool's reset */
            printf(" pool=0x%" PRIx64, e->pool);
        putchar('\n');
        break;
    case LF_EV_LOST:
        printf("%.6f tid=%u lost count=%" PRIu64 "\n", ms, it->tid, e->count);
        break;
    case LF_EV_ZEROS:
        printf("%.6f tid=%u zeros addr=0x%" PRIx64 " size=%" PRIu64 " zero_bytes=%" PRIu64 "\n", ms,
               it->tid, e->addr, e->size, e->count);
        break;
    }
}

/* One record as a line. A record's time is converted with the clock records read up
 * to it: the session reads in order (no read-ahead) for this. */
static void print_record(const struct rd_log *r, const struct rd_item *it)
{
    double ms = rd_ticks_to_ns(r, it->time) / 1e6;

    switch (it->kind) {
    case RD_EVENT:
        print_event(it, ms);
        break;
    case RD_MARKER:
        printf("%.6f marker kind=%s serial=%u\n", ms, marker_kind(it->marker_kind), it->serial);
        break;
    case RD_MODULE:
    case RD_UNLOAD: {
        const struct rd_module *m = it->module;
        printf("%.6f %s id=%u path=", ms, it->kind == RD_MODULE ? "module" : "unload", m->id);
        esc_fputs(m->path, stdout);
        printf(" bias=0x%" PRIx64 " range=0x%" PRIx64 "-0x%" PRIx64 " build_id=", m->bias, m->lo,
               m->hi);
        for (int i = 0; i < m->build_id_len; i++)
            printf("%02x", m->build_id[i]);
        putchar('\n');
        break;
    }
    case RD_NOTE:
        printf("%.6f note %s ", ms, it->severity ? "warning" : "info");
        esc_fputs(it->text, stdout);
        putchar('\n');
        break;
    case RD_END:
        printf("%.6f end reason=%s lost=%" PRIu64 "\n", ms, end_reason(it->end_reason), it->count);
        break;
    case RD_POOL:
        if (it->pool_op == LF_POOL_NAME)
            printf("%.6f tid=%u pool=0x%" PRIx64 " name=%s\n", ms, it->tid, it->pool, it->text);
        else if (it->pool_op == LF_POOL_RESET)
            printf("%.6f tid=%u pool=0x%" PRIx64 " reset blocks=%" PRIu64 "\n", ms, it->tid,
                   it->pool, it->count);
        break;
    }
}

static void note_thread(struct tally *t, uint32_t tid)
{
    for (int i = 0; i < t->n_tids; i++)
        if (t->tids[i] == tid)
            return;
    if (t->n_tids < DUMP_MAX_TIDS)
        t->tids[t->n_tids++] = tid;
}

/* Counts one item; 0 or -ENOMEM. */
static int tally_item(struct tally *t, const struct rd_item *it)
{
    if (it->kind == RD_EVENT) {
        note_thread(t, it->tid);
        if (it->ev.type == LF_EV_ZEROS) {
            t->zeros_records++;
            t->zero_bytes += it->ev.count;
            t->zero_of += it->ev.size;
        }
    }
    return rp_feed(t->rp, it) < 0 ? -ENOMEM : 0;
}

static void print_summary(const struct rd_log *r, const struct tally *t)
{
    const struct rd_header *h = rd_header(r);
    const struct rd_stats *st = rd_stats(r);
    struct rp_totals tot;

    rp_point_totals(t->rp, &tot);

    printf("pid=%u\nppid=%u\nversion=%u\nsample_bytes=%" PRIu64 "\n", h->pid, h->ppid, h->version,
           h->sample_bytes);
    fputs("exe=", stdout);
    esc_fputs(rd_exe(r), stdout);
    putchar('\n');
    printf("log_bytes=%" PRIu64 "\n", st->file_bytes);
    /* A block taken as freed because its address was allocated again is not a free
     * record: dump counts records. */
    printf("allocations=%" PRIu64 "\nfrees=%" PRIu64 "\nunknown_frees=%" PRIu64 "\n",
           (uint64_t)tot.allocations, (uint64_t)tot.frees - tot.replaced, tot.unknown_frees);
    printf("allocated_bytes=%" PRIu64 "\n", (uint64_t)tot.allocated_bytes);
    printf("live_blocks=%" PRIu64 "\nlive_bytes=%" PRIu64 "\n", ls_count(rp_live(t->rp)),
           (uint64_t)tot.live_bytes);
    printf("peak_live_bytes=%" PRIu64 "\n", (uint64_t)tot.peak_live_bytes);
    printf("lost_events=%" PRIu64 "\nlate_events=%" PRIu64 "\n", tot.lost_events, st->late);
    printf("threads=%d\nstacks=%u\nmodules=%d\nmarkers=%" PRIu64 "\n", t->n_tids, rd_n_stacks(r),
           rd_n_modules(r), tot.markers);
    printf("zero_samples=%" PRIu64 "\nzero_sample_bytes=%" PRIu64
           "\nzero_sample_zero_bytes=%" PRIu64 "\n",
           t->zeros_records, t->zero_of, t->zero_bytes);
    printf("chunks=%" PRIu64 "\ntruncated=%d\nended=%s\n", st->chunks, st->truncated,
           end_reason(st->end_reason));
    printf("damaged_chunks=%" PRIu64 "\ndamaged_bytes=%" PRIu64 "\ndamaged_events=%" PRIu64 "\n",
           st->damaged_chunks, st->damaged_bytes, st->damaged_events);
    /* How exact the times are: the writer rounds a chunk's times down to a tick where no
     * other thread's event depends on them (docs/format.md). */
    uint64_t tick = st->time_shift ? 1ull << st->time_shift : 0;
    printf("rounded_chunks=%" PRIu64 "\ntime_rounding_ns=%.0f\n", st->rounded_chunks,
           tick ? rd_ticks_to_ns(r, tick) - rd_ticks_to_ns(r, 0) : 0.0);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The live blocks grouped by stack id, in id order; 0 or -ENOMEM. */
static int print_live(const struct rd_log *r, const struct ls_map *live)
{
    uint32_t n_ids = rd_n_stacks(r) + 2;
    struct per_stack *ps = calloc(n_ids + 1, sizeof(*ps));
    uint32_t *ids = calloc(n_ids + 1, sizeof(*ids));
    uint32_t n = 0;
    uint64_t i = 0;
    const struct ls_block *b;

    if (ps == NULL || ids == NULL) {
        free(ps);
        free(ids);
        return -ENOMEM;
    }
    while ((b = ls_iter(live, &i)) != NULL) {
        uint32_t s = b->stack < n_ids ? b->stack : 0;
        if (ps[s].blocks++ == 0)
            ids[n++] = s;
        ps[s].bytes += b->size;
    }
    qsort(ids, n, sizeof(*ids), cmp_u32);
    for (uint32_t j = 0; j < n; j++) {
        printf("live stack=%u blocks=%" PRIu64 " bytes=%" PRIu64 " frames=", ids[j],
               ps[ids[j]].blocks, ps[ids[j]].bytes);
        print_stack(r, ids[j], UINT64_MAX);
        putchar('\n');
    }
    free(ps);
    free(ids);
    return 0;
}

static void print_stacks(const struct rd_log *r)
{
    for (uint32_t id = 1; id <= rd_n_stacks(r); id++) {
        printf("stack %u ", id);
        print_stack(r, id, UINT64_MAX);
        putchar('\n');
    }
}

struct dump_args {
    bool summary, live, stacks;
    const char *path;
};

/* Fills *a from the command line: -1 to go on, or the status to exit with. */
static int parse(int argc, char **argv, struct dump_args *a)
{
    static const struct option opts[] = {
        { "summary", no_argument, NULL, 's' },
        { "live", no_argument, NULL, 'l' },
        { "stacks", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct opt_parser p;
    int c;

    opt_init(&p, dump_usage, argc, argv, "h", opts);
    while ((c = opt_next(&p)) != OPT_END) {
        if (c == OPT_EXIT)
            return opt_status(&p);
        a->summary |= c == 's';
        a->live |= c == 'l';
        a->stacks |= c == 'k';
    }
    if (!opt_operands(&p, 1, 1, "one LOG"))
        return 2;
    a->path = argv[optind];
    return -1;
}

int cmd_dump(int argc, char **argv)
{
    struct dump_args a = { 0 };
    int rc = parse(argc, argv, &a), k;

    if (rc >= 0)
        return rc;
    bool records = !a.summary && !a.live && !a.stacks;
    struct session_options so = { .path = a.path, .in_order = records };
    struct session *s = NULL;
    struct tally *t = calloc(1, sizeof(*t));
    struct rd_item it;

    rc = 2;
    if (t == NULL) {
        opt_error("out of memory");
        goto out;
    }
    if (session_open(&so, &s) < 0) {
        opt_error("%s", session_error(s));
        goto out;
    }
    const struct rd_log *r = session_reader(s);
    if ((t->rp = rp_new(rd_header(r), RP_UNWEIGHTED)) == NULL) {
        opt_error("out of memory");
        goto out;
    }
    if (records)
        print_header(rd_header(r));
    while ((k = session_next(s, &it)) > 0) {
        if (tally_item(t, &it) < 0) {
            opt_error("%s: out of memory", a.path);
            goto out;
        }
        if (records)
            print_record(r, &it);
    }
    if (k < 0) {
        opt_error("%s", session_error(s));
        goto out;
    }
    rp_finish(t->rp);
    if (a.summary)
        print_summary(r, t);
    if (a.live && print_live(r, rp_live(t->rp)) < 0) {
        opt_error("%s: out of memory", a.path);
        goto out;
    }
    if (a.stacks)
        print_stacks(r);
    /* Line by line: the newlines are the reader's, anything else is escaped. */
    for (const char *w = rd_warnings(r); *w != '\0';) {
        size_t n = strcspn(w, "\n");
        esc_fwrite(w, n, stderr);
        fputc('\n', stderr);
        w += n + (w[n] == '\n');
    }
    rc = 0;
out:
    if (t != NULL)
        rp_free(t->rp);
    free(t);
    session_close(s);
    return rc;
}
