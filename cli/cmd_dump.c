/* cmd_dump.c - `heapspan dump`: the records of a log as text, or a summary of them.
 * For debugging the recording side and for tests that check exact counts. */
#include "cli/commands.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/liveset.h"
#include "analyzer/reader.h"

static const char dump_usage[] =
    "usage: heapspan dump [--summary] [--live] [--stacks] LOG\n"
    "Prints every record of LOG in time order (default), or totals as key=value lines\n"
    "(--summary), or the blocks still live at the end grouped by stack (--live), or the\n"
    "stacks (--stacks). Frames are shown as module+offset; `heapspan report` names them.\n";

static const char *fn_name(int type, int fn)
{
    static const char *alloc_names[] = { "malloc",       "calloc",         "realloc",
                                         "reallocarray", "posix_memalign", "aligned_alloc",
                                         "memalign",     "valloc",         "pvalloc",
                                         "new",          "new[]",          "mallocx",
                                         "rallocx",      "xallocx" };
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
    const struct rd_module *m = rd_module_at(r, pc, time);
    if (m != NULL)
        printf("%s+0x%" PRIx64, basename_of(m->path), pc - m->bias);
    else
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

struct per_stack {
    uint64_t blocks, bytes;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int cmd_dump(int argc, char **argv)
{
    static const struct option opts[] = {
        { "summary", no_argument, NULL, 's' },
        { "live", no_argument, NULL, 'l' },
        { "stacks", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool summary = false, live = false, stacks = false;
    int c, err;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            summary = true;
            break;
        case 'l':
            live = true;
            break;
        case 'k':
            stacks = true;
            break;
        case 'h':
            fputs(dump_usage, stdout);
            return 0;
        default:
            fputs(dump_usage, stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(dump_usage, stderr);
        return 2;
    }
    struct rd_log *r = rd_open(argv[optind], &err);
    if (r == NULL) {
        fprintf(stderr, "heapspan dump: out of memory\n");
        return 2;
    }
    if (err < 0) {
        fprintf(stderr, "heapspan: %s\n", rd_error(r));
        rd_close(r);
        return 2;
    }
    const struct rd_header *h = rd_header(r);
    bool records = !summary && !live && !stacks;
    if (records) {
        /* A record's time is converted with the clock records read up to it: the
         * reader must not read ahead of the printing. */
        rd_set_thread(r, false);
        printf("# heapspan log version %u pid %u ppid %u sample_bytes %" PRIu64
               " max_depth %u clock %s\n",
               h->version, h->pid, h->ppid, h->sample_bytes, h->max_depth,
               (h->flags & LF_FILE_CLOCK_TSC) ? "tsc" : "ns");
    }

    struct ls_map *ls = ls_new();
    uint64_t allocs = 0, frees = 0, unknown_frees = 0, bytes = 0, live_bytes = 0, peak = 0;
    uint64_t markers = 0, zeros_records = 0, zero_bytes = 0, zero_of = 0, end_lost = 0;
    uint32_t tids[4096];
    int n_tids = 0;
    struct rd_item it;
    int k;

    while ((k = rd_next(r, &it)) > 0) {
        double ms = records ? rd_ticks_to_ns(r, it.time) / 1e6 : 0;
        switch (it.kind) {
        case RD_EVENT: {
            const struct lf_event *e = &it.ev;
            bool seen = false;
            for (int i = 0; i < n_tids; i++)
                seen |= tids[i] == it.tid;
            if (!seen && n_tids < 4096)
                tids[n_tids++] = it.tid;
            if (e->type == LF_EV_ALLOC) {
                struct ls_block b = { e->addr, e->size, e->stack, 1.0f };
                struct ls_block old;
                int put = ls_put(ls, &b, &old);
                if (put == 1)
                    live_bytes -= old.size; /* a free the log missed */
                if (put < 0) {
                    fprintf(stderr, "heapspan dump: out of memory\n");
                    rd_close(r);
                    ls_free(ls);
                    return 2;
                }
                allocs++;
                bytes += e->size;
                live_bytes += e->size;
                if (live_bytes > peak)
                    peak = live_bytes;
                if (records) {
                    printf("%.6f tid=%u alloc fn=%s addr=0x%" PRIx64 " size=%" PRIu64 " stack=%u",
                           ms, it.tid, fn_name(e->type, e->fn), e->addr, e->size, e->stack);
                    if (e->old_addr != e->addr)
                        printf(" from=0x%" PRIx64, e->old_addr);
                    putchar('\n');
                }
            } else if (e->type == LF_EV_FREE) {
                struct ls_block old;
                if (ls_take(ls, e->addr, &old)) {
                    frees++;
                    live_bytes -= old.size;
                } else {
                    unknown_frees++;
                }
                if (records)
                    printf("%.6f tid=%u free fn=%s addr=0x%" PRIx64 "\n", ms, it.tid,
                           fn_name(e->type, e->fn), e->addr);
            } else if (e->type == LF_EV_LOST) {
                if (records)
                    printf("%.6f tid=%u lost count=%" PRIu64 "\n", ms, it.tid, e->count);
            } else if (e->type == LF_EV_ZEROS) {
                zeros_records++;
                zero_bytes += e->count;
                zero_of += e->size;
                if (records)
                    printf("%.6f tid=%u zeros addr=0x%" PRIx64 " size=%" PRIu64
                           " zero_bytes=%" PRIu64 "\n",
                           ms, it.tid, e->addr, e->size, e->count);
            }
            break;
        }
        case RD_MARKER:
            markers++;
            if (records)
                printf("%.6f marker kind=%s serial=%u\n", ms,
                       it.marker_kind == LF_MARKER_SIGNAL     ? "signal"
                       : it.marker_kind == LF_MARKER_INTERVAL ? "interval"
                       : it.marker_kind == LF_MARKER_EXEC     ? "exec"
                                                              : "?",
                       it.serial);
            break;
        case RD_MODULE:
        case RD_UNLOAD:
            if (records) {
                const struct rd_module *m = it.module;
                printf("%.6f %s id=%u path=%s bias=0x%" PRIx64 " range=0x%" PRIx64 "-0x%" PRIx64
                       " build_id=",
                       ms, it.kind == RD_MODULE ? "module" : "unload", m->id, m->path, m->bias,
                       m->lo, m->hi);
                for (int i = 0; i < m->build_id_len; i++)
                    printf("%02x", m->build_id[i]);
                putchar('\n');
            }
            break;
        case RD_NOTE:
            if (records)
                printf("%.6f note %s %s\n", ms, it.severity ? "warning" : "info", it.text);
            break;
        case RD_END:
            end_lost += it.count;
            if (records)
                printf("%.6f end reason=%s lost=%" PRIu64 "\n", ms, end_reason(it.end_reason),
                       it.count);
            break;
        }
    }
    if (k < 0) {
        fprintf(stderr, "heapspan: %s\n", rd_error(r));
        rd_close(r);
        ls_free(ls);
        return 2;
    }
    const struct rd_stats *st = rd_stats(r);
    if (summary) {
        printf("pid=%u\nppid=%u\nversion=%u\nsample_bytes=%" PRIu64 "\n", h->pid, h->ppid,
               h->version, h->sample_bytes);
        printf("exe=%s\n", rd_exe(r));
        printf("log_bytes=%" PRIu64 "\n", st->file_bytes);
        printf("allocations=%" PRIu64 "\nfrees=%" PRIu64 "\nunknown_frees=%" PRIu64 "\n", allocs,
               frees, unknown_frees);
        printf("allocated_bytes=%" PRIu64 "\n", bytes);
        printf("live_blocks=%" PRIu64 "\nlive_bytes=%" PRIu64 "\n", ls_count(ls), live_bytes);
        printf("peak_live_bytes=%" PRIu64 "\n", peak);
        printf("lost_events=%" PRIu64 "\nlate_events=%" PRIu64 "\n", st->lost + end_lost, st->late);
        printf("threads=%d\nstacks=%u\nmodules=%d\nmarkers=%" PRIu64 "\n", n_tids, rd_n_stacks(r),
               rd_n_modules(r), markers);
        printf("zero_samples=%" PRIu64 "\nzero_sample_bytes=%" PRIu64
               "\nzero_sample_zero_bytes=%" PRIu64 "\n",
               zeros_records, zero_of, zero_bytes);
        printf("chunks=%" PRIu64 "\ntruncated=%d\nended=%s\n", st->chunks, st->truncated,
               end_reason(st->end_reason));
    }
    if (live) {
        /* Group the live blocks by stack id. */
        uint32_t n_ids = rd_n_stacks(r) + 2;
        struct per_stack *ps = calloc(n_ids + 1, sizeof(*ps));
        uint32_t *ids = calloc(n_ids + 1, sizeof(*ids));
        uint32_t n = 0;
        uint64_t i = 0;
        const struct ls_block *b;
        if (ps == NULL || ids == NULL) {
            fprintf(stderr, "heapspan dump: out of memory\n");
            return 2;
        }
        while ((b = ls_iter(ls, &i)) != NULL) {
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
    }
    if (stacks) {
        for (uint32_t id = 1; id <= rd_n_stacks(r); id++) {
            printf("stack %u ", id);
            print_stack(r, id, UINT64_MAX);
            putchar('\n');
        }
    }
    if (rd_warnings(r)[0] != '\0')
        fprintf(stderr, "%s", rd_warnings(r));
    ls_free(ls);
    rd_close(r);
    return 0;
}
