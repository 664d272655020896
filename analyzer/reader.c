/* reader.c - see reader.h. */
#include "analyzer/reader.h"

#include "analyzer/pools.h"
#include "format/evcodec.h"
#include "util/heap.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* One event chunk being merged: its raw payload, decoded a batch at a time (a tight
 * loop; the merge then only compares times) so that memory stays at the payload's
 * size. A realloc is two entries: the free of the old block at the time taken before
 * the real call, then the alloc of the new one (fn and old_addr kept) at the time
 * after it - each in its place among other threads' events. */
#define PEND_BATCH 256
struct pending {
    uint8_t *raw;
    size_t cap;                 /* of raw */
    struct pending *next_spare; /* on the reader's list of spares */
    const uint8_t *p, *end;     /* version 1: the records, in buffer form */
    uint64_t time;              /* version 1 decoder state */
    struct ec_dec dec;          /* version 2 */
    uint32_t n, i;
    uint32_t tid;
    bool done;       /* every record decoded (or the rest is unreadable) */
    uint64_t offset; /* of the chunk, for messages */
    size_t held;     /* its payload's bytes, counted in the reader's held while queued */
    uint64_t key;    /* time of ev[i] */
    struct lf_event ev[PEND_BATCH + 1];
};

/* A timed meta item waiting for its turn. */
struct meta_item {
    struct rd_item item;
    char *text;
    uint64_t seq; /* keeps equal times in file order */
    size_t cost;  /* counted in the reader's held bytes */
};

/* Items merged on the producer thread, handed over a batch at a time: one lock and one
 * wake-up per batch, not per item (a wake-up is an interrupt to the other core);
 * N_BATCHES bound the memory. An event is one cache line, as each line is written on
 * one core and read on the other; the rarer other items are kept whole beside. A
 * note's text would be freed by the producer's next item: the batch takes it over. */
#define BATCH_ITEMS 16384
#define N_BATCHES   4
struct slot {
    uint32_t tid;
    uint32_t other; /* 0: an event; else others[other - 1] is the item */
    struct lf_event ev;
};
struct batch {
    struct slot slots[BATCH_ITEMS];
    uint32_t n;
    int last; /* returned after the items: 1 if more batches follow, else 0 or -errno */
    struct rd_item *others;
    uint32_t n_others, cap_others;
};

/* An event chunk read, checked and decompressed ahead; see "reading ahead" below. */
#define AHEAD_CHUNKS  32
#define AHEAD_THREADS 2
#define AHEAD_BYTES   (32u << 20) /* of payloads held, about */
struct ahead {
    uint64_t off;
    uint32_t rawlen; /* from the header, for the bytes held */
    uint32_t len;    /* of raw: the records (version 1), the unpacked columns (2) */
    bool done;       /* its thread is through with it */
    bool ok;         /* the checksum matched and it decompressed */
    uint8_t *raw;
    size_t cap;
};

struct rd_log {
    char *path;
    int fd;
    char err[1024];
    struct strbuf warn;
    struct rd_header hdr;
    struct rd_stats st;
    uint64_t off;          /* next chunk's offset */
    uint64_t progress_off; /* r->off for rd_progress, from any thread (atomic) */
    bool eof;
    bool follow;        /* rd_set_follow: the end of the file is "no more yet" */
    uint64_t index_off; /* the index chunk's offset, once read */
    bool saw_trailer;
    bool warned_no_end, warned_undefined, warned_damage;
    uint32_t first_undefined;
    /* Damaged chunks skipped (see skip_damage): the first's offset and what was wrong
     * there, for the one warning at the end; the error, if nothing else could be read. */
    uint64_t damage_off[4];
    char damage_why[160];
    int damage_err; /* the first stack id an event named and no record defined */

    uint64_t from, to;
    bool windowed;
    int barriers_past_to;

    struct pl_tracker *pools; /* made when the log first shows a pool or an API block */

    /* Barriers: items below `safe` can be handed out. */
    uint64_t last_barrier, safe;
    uint64_t last_out;

    struct heap pend;       /* of struct pending, by key */
    struct pending *spares; /* consumed chunks, reused: no fresh pages per chunk */
    int n_spares;
    size_t spare_bytes;    /* their buffers' */
    size_t held, held_max; /* what the reader holds for what it read: see charge() */

    struct heap meta; /* of struct meta_item, by (time, seq) */
    uint64_t mseq;
    char *cur_text;

    struct rd_stack *stacks; /* by id */
    uint32_t cap_stacks, n_stacks_def;
    struct rd_module **modules;
    int n_modules, cap_modules;

    char *exe;
    char **argv;
    int argc;

    struct rd_pycode *pycodes; /* by id; qualname NULL where undefined */
    uint32_t cap_pycodes, n_pycodes_def;
    struct rd_python python;

    /* Clock calibration: first and latest (ticks, monotonic ns, realtime ns). */
    uint64_t c0_ticks, c0_mono, c1_ticks, c1_mono; /* CLOCK_REALTIME is in the header */
    int n_clock;

    uint8_t *buf, *raw;
    size_t buf_cap, raw_cap;
    ZSTD_DCtx *zd;

    /* The producer thread: batches [n_emptied, n_filled) are the consumer's. */
    bool no_thread, started, running;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t filled_cv, emptied_cv;
    uint64_t n_filled, n_emptied; /* under mu */
    bool stop;                    /* under mu */
    struct batch *batches[N_BATCHES];
    struct batch *cur; /* the consumer's, batches[n_emptied % N_BATCHES] */
    uint32_t pos;      /* its next item */

    /* The read-ahead threads: ahead[ah_head..ah_tail) are theirs, taken in turn. */
    pthread_t ah_threads[AHEAD_THREADS];
    int n_ah_threads;
    pthread_mutex_t ah_mu;
    pthread_cond_t ah_cv;
    struct ahead ahead[AHEAD_CHUNKS];
    uint64_t ah_head, ah_tail, ah_bytes; /* under ah_mu */
    uint64_t ah_off;                     /* the next chunk to take; under ah_mu */
    int ah_workers;                      /* under ah_mu */
    bool ah_end, ah_stop;                /* under ah_mu */
};

static int fail(struct rd_log *r, int err, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct rd_log *r, int err, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(r->err, sizeof(r->err), "%s: byte %llu: ", r->path, (unsigned long long)off);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(r->err))
        vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

static void warn(struct rd_log *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Out of memory, the warning is lost whole: never half a line. */
static void warn(struct rd_log *r, const char *fmt, ...)
{
    size_t len = r->warn.len;
    va_list ap;
    va_start(ap, fmt);
    int err = sb_vaddf(&r->warn, fmt, ap);
    va_end(ap);
    if (err == 0)
        err = sb_addc(&r->warn, '\n');
    if (err < 0)
        sb_truncate(&r->warn, len);
}

const char *rd_error(const struct rd_log *r)
{
    return r->err;
}

const char *rd_warnings(const struct rd_log *r)
{
    return sb_str(&r->warn);
}

const struct rd_header *rd_header(const struct rd_log *r)
{
    return &r->hdr;
}

const struct rd_stats *rd_stats(const struct rd_log *r)
{
    return &r->st;
}

void rd_progress(const struct rd_log *r, uint64_t *done, uint64_t *total)
{
    *done = __atomic_load_n(&r->progress_off, __ATOMIC_RELAXED);
    *total = r->st.file_bytes; /* set by rd_open, before any thread */
}

/* Reads exactly n bytes at off; returns n, fewer at end of file, or -errno. */
static ssize_t pread_full(int fd, void *dst, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static ssize_t read_at(struct rd_log *r, void *dst, size_t n, uint64_t off)
{
    ssize_t got = pread_full(r->fd, dst, n, off);
    if (got > 0)
        r->st.bytes_read += (uint64_t)got;
    return got;
}

/* What a file that is not a regular one is, for the message that refuses it. */
static const char *file_kind(mode_t mode)
{
    return S_ISFIFO(mode)   ? "a FIFO"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a file";
}

struct rd_log *rd_open(const char *path, int *err)
{
    static const char header_cut[] = "log ends inside its header; the process died before its "
                                     "first write - record it again";
    struct rd_log *r = calloc(1, sizeof(*r));
    uint8_t h[LF_FILE_HDR_SIZE];
    struct stat sb;

    if (r == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    r->fd = -1;
    r->path = strdup(path);
    r->to = UINT64_MAX;
    if (r->path == NULL) {
        free(r);
        *err = -ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->filled_cv, NULL);
    pthread_cond_init(&r->emptied_cv, NULL);
    pthread_mutex_init(&r->ah_mu, NULL);
    pthread_cond_init(&r->ah_cv, NULL);
    /* Only a regular file is opened: opening a FIFO waits for a writer, and opening a
     * device can do anything. stat() first, then O_NONBLOCK and fstat() for a path
     * that changed in between. */
    if (stat(path, &sb) != 0) {
        *err = -errno;
        snprintf(r->err, sizeof(r->err), "%s: cannot open: %s", path, strerror(errno));
        return r;
    }
    if (S_ISREG(sb.st_mode))
        r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (S_ISREG(sb.st_mode) && r->fd < 0) {
        *err = -errno;
        snprintf(r->err, sizeof(r->err), "%s: cannot open: %s", path, strerror(errno));
        return r;
    }
    if (!S_ISREG(sb.st_mode) || fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *err = -EINVAL;
        snprintf(r->err, sizeof(r->err),
                 "%s: not a regular file (%s); give the log file itself, not a pipe or a "
                 "device",
                 path, file_kind(sb.st_mode));
        return r;
    }
    r->st.file_bytes = (uint64_t)sb.st_size;
    r->held_max = RD_HELD_FLOOR + (r->st.file_bytes < (SIZE_MAX - RD_HELD_FLOOR) / RD_HELD_PER_BYTE
                                       ? (size_t)r->st.file_bytes * RD_HELD_PER_BYTE
                                       : SIZE_MAX - RD_HELD_FLOOR);
    /* A file that says it is empty is not read: /proc's files say so, and some block. */
    ssize_t n = sb.st_size > 0 ? read_at(r, h, sizeof(h), 0) : 0;
    if (n < 0) {
        *err = fail(r, (int)n, 0, "cannot read: %s", strerror((int)-n));
        return r;
    }
    if (n == 0) {
        *err = fail(r, -EINVAL, 0,
                    "empty file, not a heapspan log; the process died before its first "
                    "write - record it again, or check the path");
        return r;
    }
    if ((size_t)n < 8 || memcmp(h, LF_MAGIC, 8) != 0) {
        *err = fail(r, -EINVAL, 0,
                    "not a heapspan log (bad magic); give a .hsl file written by "
                    "`heapspan run` or libheapspan.so");
        return r;
    }
    if ((size_t)n < 12) {
        *err = fail(r, -EINVAL, (uint64_t)n, "%s", header_cut);
        return r;
    }
    r->hdr.version = lf_get_u16(h + 8);
    if (r->hdr.version > LF_VERSION || r->hdr.version < LF_VERSION_OLDEST) {
        *err = fail(r, -ENOTSUP, 8,
                    "log format version %u is not supported by this heapspan (it reads "
                    "versions %u to %u); use a heapspan as new as the one that recorded it",
                    r->hdr.version, (unsigned)LF_VERSION_OLDEST, (unsigned)LF_VERSION);
        return r;
    }
    unsigned hsize = lf_get_u16(h + 10);
    if (hsize < LF_FILE_HDR_SIZE || hsize > 4096) {
        *err = fail(r, -EINVAL, 10, "bad header size %u", hsize);
        return r;
    }
    if ((size_t)n < LF_FILE_HDR_SIZE) {
        *err = fail(r, -EINVAL, (uint64_t)n, "%s", header_cut);
        return r;
    }
    r->hdr.flags = lf_get_u32(h + 12);
    r->hdr.pid = lf_get_u32(h + 16);
    r->hdr.ppid = lf_get_u32(h + 20);
    r->hdr.start_realtime_ns = lf_get_u64(h + 24);
    r->hdr.start_ticks = lf_get_u64(h + 32);
    r->hdr.sample_bytes = lf_get_u64(h + 40);
    r->hdr.max_depth = lf_get_u32(h + 48);
    r->off = hsize;
    r->zd = ZSTD_createDCtx();
    if (r->zd == NULL) {
        *err = fail(r, -ENOMEM, 0, "out of memory");
        return r;
    }
    *err = 0;
    return r;
}

void rd_set_window(struct rd_log *r, uint64_t from, uint64_t to)
{
    r->from = from;
    r->to = to;
    r->windowed = true;
}

/* ---- stacks, modules, process ---- */

const struct rd_stack *rd_stack(const struct rd_log *r, uint32_t id)
{
    if (id == 0 || id >= r->cap_stacks || r->stacks[id].pcs == NULL)
        return NULL;
    return &r->stacks[id];
}

uint32_t rd_n_stacks(const struct rd_log *r)
{
    return r->n_stacks_def;
}

int rd_n_modules(const struct rd_log *r)
{
    return r->n_modules;
}

const struct rd_module *rd_module(const struct rd_log *r, int i)
{
    return r->modules[i];
}

const struct rd_module *rd_module_at(const struct rd_log *r, uint64_t pc, uint64_t time)
{
    const struct rd_module *best = NULL;
    uint64_t best_dist = UINT64_MAX;

    for (int i = 0; i < r->n_modules; i++) {
        const struct rd_module *m = r->modules[i];
        if (pc < m->lo || pc >= m->hi)
            continue;
        uint64_t dist = time < m->load_time     ? m->load_time - time
                        : time > m->unload_time ? time - m->unload_time
                                                : 0;
        if (dist < best_dist) {
            best = m;
            best_dist = dist;
        }
    }
    return best;
}

const char *rd_exe(const struct rd_log *r)
{
    return r->exe != NULL ? r->exe : "";
}

int rd_argc(const struct rd_log *r)
{
    return r->argc;
}

const char *rd_argv(const struct rd_log *r, int i)
{
    return r->argv[i];
}

/* ---- time ---- */

/* Nanoseconds per tick, from the first and latest clock records when both clocks went
 * forward between them (so the rate is finite and above 0, whatever the log says). */
static double ns_per_tick(const struct rd_log *r)
{
    if (r->n_clock >= 2 && r->c1_ticks > r->c0_ticks && r->c1_mono > r->c0_mono)
        return (double)(r->c1_mono - r->c0_mono) / (double)(r->c1_ticks - r->c0_ticks);
    if (r->hdr.flags & LF_FILE_CLOCK_TSC)
        return 1.0 / 2.5; /* a guess, only for logs of under 100 ms */
    return 1.0;
}

double rd_ticks_to_ns(const struct rd_log *r, uint64_t ticks)
{
    return ((double)ticks - (double)r->hdr.start_ticks) * ns_per_tick(r);
}

/* ---- what the reader holds ---- */

/* Stacks, modules, items waiting for their time and event chunks waiting for a
 * barrier cost memory in proportion to what their records decompress to, which a
 * few bytes of zstd can make 16 MiB a chunk, and each stack costs its consumers too
 * (RD_STACK_COST): the reader counts what it and they hold and
 * refuses a log that needs more than RD_HELD_FLOOR + RD_HELD_PER_BYTE times its size,
 * far beyond any log heapspan writes (its chunks compress 1.2 to 10 times). */
static void charge(struct rd_log *r, size_t n)
{
    r->held += n;
}

static int check_held(struct rd_log *r, uint64_t off)
{
    if (r->held <= r->held_max)
        return 0;
    return fail(r, -EINVAL, off,
                "reading up to here takes more than the %zu MiB allowed for a log of its size "
                "(%zu MiB and %u bytes per byte): its records decompress far beyond anything "
                "heapspan writes - the file is damaged or was made by hand",
                r->held_max >> 20, RD_HELD_FLOOR >> 20, (unsigned)RD_HELD_PER_BYTE);
}

/* ---- heaps ---- */

static bool pend_less(const void *a, const void *b)
{
    return ((const struct pending *)a)->key < ((const struct pending *)b)->key;
}

static inline struct pending *pend_top(const struct rd_log *r)
{
    return r->pend.items[0];
}

static bool mq_less(const void *x, const void *y)
{
    const struct meta_item *a = x, *b = y;
    return a->item.time < b->item.time || (a->item.time == b->item.time && a->seq < b->seq);
}

static void mq_free(struct meta_item *m)
{
    free(m->text);
    free(m);
}

static int mq_push(struct rd_log *r, const struct rd_item *it, const char *text, size_t tlen)
{
    struct meta_item *m = malloc(sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->item = *it;
    m->text = NULL;
    m->seq = r->mseq++;
    m->cost = sizeof(*m) + (text != NULL ? tlen + 1 : 0);
    if (text != NULL) {
        m->text = malloc(tlen + 1);
        if (m->text == NULL) {
            free(m);
            return -ENOMEM;
        }
        memcpy(m->text, text, tlen);
        m->text[tlen] = '\0';
    }
    if (heap_push(&r->meta, m, mq_less) < 0) {
        mq_free(m);
        return -ENOMEM;
    }
    charge(r, m->cost);
    return 0;
}

/* ---- meta records ---- */

struct cur {
    const uint8_t *p, *end;
    const uint8_t *payload, *rec; /* the chunk's payload, and where the record starts */
    char where[64];               /* "record at payload byte N: ", made by rec_at */
};

/* Where in its chunk the record being read starts, for a message. */
static const char *rec_at(struct cur *c)
{
    snprintf(c->where, sizeof(c->where),
             "meta record at payload byte %zu: ", (size_t)(c->rec - c->payload));
    return c->where;
}

static bool get(struct cur *c, uint64_t *v)
{
    return lf_get_varint(&c->p, c->end, v);
}

static bool get_bytes(struct cur *c, uint64_t n, const uint8_t **out)
{
    if (n > (uint64_t)(c->end - c->p))
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

static int meta_stack(struct rd_log *r, struct cur *c, uint64_t off)
{
    uint64_t id = 0, depth = 0, v;

    if (!get(c, &id) || !get(c, &depth) || id == 0 || depth > LF_MAX_STACK_DEPTH)
        return fail(r, -EINVAL, off, "%smalformed stack record (id %llu, depth %llu)", rec_at(c),
                    (unsigned long long)id, (unsigned long long)depth);
    /* The table is by id: an id far beyond the stacks defined would cost memory for
     * stacks the log does not have, here and in every consumer. */
    if (id > (uint64_t)r->n_stacks_def + RD_STACK_ID_SLACK)
        return fail(r, -EINVAL, off,
                    "%sstack record with id %llu, after %u stacks were defined (the ids "
                    "run 1, 2, 3, ...; at most %u ahead is read): not a log heapspan "
                    "wrote - the file is damaged or was made by hand",
                    rec_at(c), (unsigned long long)id, r->n_stacks_def,
                    (unsigned)RD_STACK_ID_SLACK);
    if (id >= r->cap_stacks) {
        uint32_t cap = r->cap_stacks ? r->cap_stacks : 1024;
        while (cap <= id)
            cap *= 2;
        struct rd_stack *s = realloc(r->stacks, cap * sizeof(*s));
        if (s == NULL)
            return -ENOMEM;
        memset(s + r->cap_stacks, 0, (cap - r->cap_stacks) * sizeof(*s));
        charge(r, (cap - r->cap_stacks) * sizeof(*s));
        r->stacks = s;
        r->cap_stacks = cap;
    }
    if (r->stacks[id].pcs != NULL)
        return 0; /* defined twice: the first stands */
    uint64_t *pcs = malloc((depth ? depth : 1) * sizeof(*pcs));
    if (pcs == NULL)
        return -ENOMEM;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < depth; i++) {
        if (!get(c, &v)) {
            free(pcs);
            return fail(r, -EINVAL, off, "%sstack record %llu is cut short at frame %llu",
                        rec_at(c), (unsigned long long)id, (unsigned long long)i);
        }
        prev += (uint64_t)lf_unzigzag(v);
        pcs[i] = prev;
    }
    r->stacks[id].pcs = pcs;
    r->stacks[id].depth = (uint32_t)depth;
    charge(r, RD_STACK_COST + (depth ? depth : 1) * sizeof(*pcs));
    r->n_stacks_def++;
    return 0;
}

static char *dup_bytes(const uint8_t *s, uint64_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int meta_pycode(struct rd_log *r, struct cur *c, uint64_t off)
{
    uint64_t id, line, units, qlen, flen, tlen;
    const uint8_t *q, *f, *t;

    if (!get(c, &id) || !get(c, &line) || !get(c, &units) || !get(c, &qlen) ||
        qlen > LF_PY_NAME_MAX || !get_bytes(c, qlen, &q) || !get(c, &flen) || flen > LF_MAX_PATH ||
        !get_bytes(c, flen, &f) || !get(c, &tlen) || tlen > LF_PY_LINETABLE_MAX ||
        !get_bytes(c, tlen, &t) || id == 0 || line > INT32_MAX || units > LF_PY_INSTR_MAX)
        return fail(r, -EINVAL, off, "%smalformed Python code record", rec_at(c));
    if (id > (uint64_t)r->n_pycodes_def + RD_STACK_ID_SLACK)
        return fail(r, -EINVAL, off,
                    "%sPython code record with id %llu, after %u were defined (the ids run "
                    "1, 2, 3, ...): not a log heapspan wrote - the file is damaged or was "
                    "made by hand",
                    rec_at(c), (unsigned long long)id, r->n_pycodes_def);
    if (id >= r->cap_pycodes) {
        uint32_t cap = r->cap_pycodes ? r->cap_pycodes : 256;
        while (cap <= id)
            cap *= 2;
        struct rd_pycode *g = realloc(r->pycodes, cap * sizeof(*g));
        if (g == NULL)
            return -ENOMEM;
        memset(g + r->cap_pycodes, 0, (cap - r->cap_pycodes) * sizeof(*g));
        charge(r, (cap - r->cap_pycodes) * sizeof(*g));
        r->pycodes = g;
        r->cap_pycodes = cap;
    }
    struct rd_pycode *pc = &r->pycodes[id];
    if (pc->qualname != NULL)
        return 0; /* defined twice: the first stands */
    pc->first_line = (int)line;
    pc->code_units = (uint32_t)units;
    pc->qualname = dup_bytes(q, qlen);
    pc->filename = dup_bytes(f, flen);
    pc->linetable = (uint8_t *)dup_bytes(t, tlen);
    pc->linetable_len = (uint32_t)tlen;
    if (pc->qualname == NULL || pc->filename == NULL || pc->linetable == NULL)
        return -ENOMEM;
    charge(r, qlen + flen + tlen + 3 + RD_STACK_COST);
    r->n_pycodes_def++;
    return 0;
}

static int meta_python(struct rd_log *r, struct cur *c, uint64_t off)
{
    uint64_t time, version, flags, alen, rlen;
    const uint8_t *a, *why;

    if (!get(c, &time) || !get(c, &version) || version > UINT32_MAX || !get(c, &flags) ||
        !get(c, &alen) || alen > 64 || !get_bytes(c, alen, &a) || !get(c, &rlen) || rlen > 512 ||
        !get_bytes(c, rlen, &why))
        return fail(r, -EINVAL, off, "%smalformed Python interpreter record", rec_at(c));
    if (r->python.seen)
        return 0; /* one per process: the first stands */
    r->python.allocator = dup_bytes(a, alen);
    r->python.reason = dup_bytes(why, rlen);
    if (r->python.allocator == NULL || r->python.reason == NULL)
        return -ENOMEM;
    r->python.seen = true;
    r->python.version = (uint32_t)version;
    r->python.stacks = (flags & LF_PYTHON_STACKS) != 0;
    charge(r, alen + rlen + 2);
    return 0;
}

static int meta_module(struct rd_log *r, struct cur *c, uint64_t off)
{
    uint64_t time, id, bias, n_segs, v, blen, plen;
    const uint8_t *b, *p;
    struct rd_module *m;

    if (!get(c, &time) || !get(c, &id) || !get(c, &bias) || !get(c, &n_segs))
        return fail(r, -EINVAL, off, "%smalformed module record", rec_at(c));
    if (id > UINT32_MAX || n_segs > RD_MAX_SEGS)
        return fail(r, -EINVAL, off,
                    "%smodule record with id %llu and %llu segments (at most %u): not a "
                    "log heapspan wrote - the file is damaged or was made by hand",
                    rec_at(c), (unsigned long long)id, (unsigned long long)n_segs,
                    (unsigned)RD_MAX_SEGS);
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->id = (uint32_t)id;
    m->load_time = time;
    m->unload_time = UINT64_MAX;
    m->bias = bias;
    m->n_segs = (int)n_segs;
    m->lo = UINT64_MAX;
    for (uint64_t i = 0; i < n_segs; i++) {
        if (!get(c, &m->segs[i].vaddr) || !get(c, &m->segs[i].memsz) || !get(c, &v))
            goto bad;
        m->segs[i].flags = (uint32_t)v;
        uint64_t lo = bias + m->segs[i].vaddr, hi = lo + m->segs[i].memsz;
        if (lo < m->lo)
            m->lo = lo;
        if (hi > m->hi)
            m->hi = hi;
    }
    if (!get(c, &blen) || blen > sizeof(m->build_id) || !get_bytes(c, blen, &b))
        goto bad;
    memcpy(m->build_id, b, blen);
    m->build_id_len = (int)blen;
    if (!get(c, &plen) || plen > LF_MAX_PATH || !get_bytes(c, plen, &p))
        goto bad;
    m->path = malloc(plen + 1);
    if (m->path == NULL) {
        free(m);
        return -ENOMEM;
    }
    memcpy(m->path, p, plen);
    m->path[plen] = '\0';
    if (r->n_modules == r->cap_modules) {
        int cap = r->cap_modules ? r->cap_modules * 2 : 64;
        struct rd_module **a = realloc(r->modules, (size_t)cap * sizeof(*a));
        if (a == NULL) {
            free(m->path);
            free(m);
            return -ENOMEM;
        }
        r->modules = a;
        r->cap_modules = cap;
    }
    r->modules[r->n_modules++] = m;
    charge(r, sizeof(*m) + plen + 1 + sizeof(m));
    struct rd_item it = { .kind = RD_MODULE, .time = time, .module = m };
    return mq_push(r, &it, NULL, 0);
bad:
    free(m);
    return fail(r, -EINVAL, off, "%smalformed module record", rec_at(c));
}

static int meta_record(struct rd_log *r, int type, struct cur *c, uint64_t off)
{
    uint64_t a, b, d, len;
    const uint8_t *s;
    struct rd_item it;

    memset(&it, 0, sizeof(it));
    switch (type) {
    case LF_META_STACK:
        return meta_stack(r, c, off);
    case LF_META_MODULE:
        return meta_module(r, c, off);
    case LF_META_PYCODE:
        return meta_pycode(r, c, off);
    case LF_META_PYTHON:
        return meta_python(r, c, off);
    case LF_META_UNLOAD:
        if (!get(c, &a) || !get(c, &b))
            break;
        for (int i = r->n_modules - 1; i >= 0; i--)
            if (r->modules[i]->id == b && r->modules[i]->unload_time == UINT64_MAX) {
                r->modules[i]->unload_time = a;
                it.kind = RD_UNLOAD;
                it.time = a;
                it.module = r->modules[i];
                return mq_push(r, &it, NULL, 0);
            }
        return 0;
    case LF_META_CLOCK:
        if (!get(c, &a) || !get(c, &b) || !get(c, &d))
            break;
        if (r->n_clock == 0) {
            r->c0_ticks = a;
            r->c0_mono = b;
        }
        if (a >= r->c1_ticks) {
            r->c1_ticks = a;
            r->c1_mono = b;
        }
        r->n_clock++;
        return 0;
    case LF_META_BARRIER:
        if (!get(c, &a))
            break;
        /* Hand out up to the previous barrier: events of the last cycle that were
         * committed just after its snapshot still arrive before the next barrier. */
        if (a > r->last_barrier) {
            r->safe = r->last_barrier;
            r->last_barrier = a;
        }
        if (r->windowed && a >= r->to)
            r->barriers_past_to++;
        return 0;
    case LF_META_MARKER:
        if (!get(c, &a) || !get(c, &b) || !get(c, &d))
            break;
        it.kind = RD_MARKER;
        it.time = a;
        it.marker_kind = (int)b;
        it.serial = (uint32_t)d;
        return mq_push(r, &it, NULL, 0);
    case LF_META_NOTE:
        if (!get(c, &a) || !get(c, &b) || !get(c, &len) || !get_bytes(c, len, &s))
            break;
        it.kind = RD_NOTE;
        it.time = a;
        it.severity = (int)b;
        return mq_push(r, &it, (const char *)s, len);
    case LF_META_PROCESS: {
        uint64_t n;
        if (!get(c, &len) || len > LF_MAX_PATH || !get_bytes(c, len, &s) || !get(c, &n) || n > 4096)
            break;
        free(r->exe);
        r->exe = strndup((const char *)s, len);
        charge(r, len + 1 + (n + 1) * sizeof(*r->argv));
        for (int i = 0; i < r->argc; i++)
            free(r->argv[i]);
        free(r->argv);
        r->argc = 0;
        r->argv = calloc(n + 1, sizeof(*r->argv));
        if (r->exe == NULL || r->argv == NULL)
            return -ENOMEM;
        for (uint64_t i = 0; i < n; i++) {
            if (!get(c, &len) || !get_bytes(c, len, &s))
                break;
            r->argv[r->argc] = strndup((const char *)s, len);
            charge(r, len + 1);
            if (r->argv[r->argc] == NULL)
                return -ENOMEM;
            r->argc++;
        }
        return 0;
    }
    case LF_META_POOL: {
        uint64_t tid, op;
        if (!get(c, &a) || !get(c, &tid) || tid > UINT32_MAX || !get(c, &op) || !get(c, &b))
            break;
        it.kind = RD_POOL;
        it.time = a;
        it.tid = (uint32_t)tid;
        it.pool = b;
        it.pool_op = op == LF_POOL_NAME || op == LF_POOL_RESET ? (int)op : 0;
        if (op != LF_POOL_NAME)
            return mq_push(r, &it, NULL, 0);
        if (!get(c, &len) || !get_bytes(c, len, &s))
            break;
        return mq_push(r, &it, (const char *)s, len);
    }
    case LF_META_END:
        if (!get(c, &a) || !get(c, &b) || !get(c, &d))
            break;
        r->st.ended = true;
        r->st.end_reason = (int)d;
        r->st.end_time = a;
        r->st.end_lost = b;
        if (d == LF_END_STOPPED)
            warn(r,
                 "%s: byte %llu: recording stopped on a write error (a full disk?); %llu "
                 "events after this point are not in the log",
                 r->path, (unsigned long long)off, (unsigned long long)b);
        it.kind = RD_END;
        it.time = a;
        it.count = b;
        it.end_reason = (int)d;
        return mq_push(r, &it, NULL, 0);
    default:
        return 0; /* a record type from a newer writer: skipped by its length */
    }
    return fail(r, -EINVAL, off, "%smalformed meta record of type %d", rec_at(c), type);
}

static int parse_meta(struct rd_log *r, const uint8_t *p, size_t len, uint64_t off)
{
    const uint8_t *end = p + len;

    while (p < end) {
        int type = *p;
        const uint8_t *q = p + 1;
        uint64_t blen;
        if (!lf_get_varint(&q, end, &blen) || blen > (uint64_t)(end - q))
            return fail(r, -EINVAL, off,
                        "malformed meta chunk (record at payload byte %zu runs past its end)",
                        (size_t)(p - (end - len)));
        struct cur c = { .p = q, .end = q + blen, .payload = end - len, .rec = p };
        int err = meta_record(r, type, &c, off);
        if (err == 0)
            err = check_held(r, off);
        if (err < 0)
            return err;
        p = q + blen;
    }
    return 0;
}

/* ---- event chunks ---- */

static void pend_free(struct pending *p)
{
    free(p->raw);
    free(p);
}

/* Spares are kept for their buffers, up to a bound: a log of many chunks that each
 * decompress to 16 MiB would otherwise hold 64 of them for nothing. */
#define MAX_SPARES      64
#define MAX_SPARE_BYTES (32u << 20)

static void pend_done(struct rd_log *r, struct pending *p)
{
    if (r->n_spares >= MAX_SPARES || r->spare_bytes + p->cap > MAX_SPARE_BYTES) {
        pend_free(p);
        return;
    }
    p->next_spare = r->spares;
    r->spares = p;
    r->n_spares++;
    r->spare_bytes += p->cap;
}

/* Makes *buf hold at least need bytes (at least 1, so that it is never NULL after);
 * false when out of memory, *buf then unchanged. Contents are kept. */
static bool reserve_bytes(uint8_t **buf, size_t *cap, size_t need)
{
    if (*buf != NULL && *cap >= need)
        return true;
    size_t n = need ? need : 1;
    uint8_t *b = realloc(*buf, n);
    if (b == NULL)
        return false;
    *buf = b;
    *cap = n;
    return true;
}

/* A pending chunk with room for len raw bytes, or NULL. */
static struct pending *pend_get(struct rd_log *r, size_t len)
{
    struct pending *p = r->spares;
    if (p != NULL) {
        r->spares = p->next_spare;
        r->n_spares--;
        r->spare_bytes -= p->cap;
    } else {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            return NULL;
    }
    if (!reserve_bytes(&p->raw, &p->cap, len)) {
        pend_free(p);
        return NULL;
    }
    return p;
}

/* The chunk's records are all decoded (status 0), or the rest cannot be: -1 malformed,
 * -2 a record type this reader does not know. */
static void chunk_done(struct rd_log *r, struct pending *p, int status)
{
    if (status < 0)
        warn(r,
             "%s: byte %llu: %s event record in a chunk of thread %u; the rest of that chunk "
             "is skipped",
             r->path, (unsigned long long)p->offset, status == -2 ? "unknown" : "malformed",
             p->tid);
    p->done = true;
}

/* Decodes the next batch; false when the chunk is exhausted. */
static bool pend_refill(struct rd_log *r, struct pending *p)
{
    p->n = 0;
    p->i = 0;
    if (r->hdr.version >= 2 && !p->done) {
        int status;
        p->n = (uint32_t)ec_dec_batch(&p->dec, p->ev, PEND_BATCH + 1, &status);
        if (status <= 0)
            chunk_done(r, p, status);
    }
    while (r->hdr.version < 2 && !p->done && p->n < PEND_BATCH) {
        struct lf_event *e = &p->ev[p->n];
        int k;
        if (p->p < p->end) {
            k = lf_decode_event(&p->p, p->end, &p->time, e);
            k = k == 0 ? -2 : k;
        } else {
            k = 0;
        }
        if (k <= 0) {
            chunk_done(r, p, k);
            break;
        }
        if (e->type == LF_EV_REALLOC) {
            lf_split_realloc(e);
            p->n++;
        }
        p->n++;
    }
    if (p->n == 0)
        return false;
    p->key = p->ev[0].time;
    return true;
}

/* Queues p, whose raw payload is filled, for merging. */
static int add_event_chunk(struct rd_log *r, struct pending *p, size_t len, uint32_t tid,
                           uint64_t base_time, uint64_t off)
{
    p->p = p->raw;
    p->end = p->raw + len;
    p->time = base_time;
    p->tid = tid;
    p->offset = off;
    p->done = false;
    if (!pend_refill(r, p)) {
        pend_done(r, p);
        return 0;
    }
    if (heap_push(&r->pend, p, pend_less) < 0) {
        pend_free(p);
        return -ENOMEM;
    }
    p->held = len;
    charge(r, len);
    return check_held(r, off);
}

/* A chunk header's fields (logfmt.h gives the layout). */
struct chunk_head {
    int kind, flags;
    unsigned hsize;
    uint32_t stored, rawlen, tid, crc, span, n_records;
    uint64_t base_time;
    unsigned time_shift; /* version 3 events: times rounded down to 2^time_shift ticks */
};

static struct chunk_head chunk_head_of(const uint8_t h[LF_CHUNK_HDR_SIZE])
{
    return (struct chunk_head){
        .kind = h[4],
        .flags = h[5],
        .hsize = lf_get_u16(h + 6),
        .stored = lf_get_u32(h + 8),
        .rawlen = lf_get_u32(h + 12),
        .tid = lf_get_u32(h + 16),
        .crc = lf_get_u32(h + 20),
        .base_time = lf_get_u64(h + 24),
        .time_shift = h[32],
        .span = lf_get_u32(h + 40),
        .n_records = lf_get_u32(h + 44),
    };
}

/* ---- reading ahead ---- */

/* Whether an events chunk with these flags is one the threads read ahead: one that
 * needs decompressing (in version 2, every events chunk: its columns do). */
static bool ahead_kind(const struct rd_log *r, uint8_t flags)
{
    return r->hdr.version >= 2 ? !(flags & LF_CHUNK_ZSTD) : (flags & LF_CHUNK_ZSTD) != 0;
}

/* What the read-ahead threads may hold: AHEAD_BYTES, but no more than a quarter of what
 * the reader may hold for the log's size (held_max): a small hostile log must not get
 * 32 MiB read ahead before the merge finds it too big (the memory bound would then
 * depend on how far the threads got first). */
static uint64_t ahead_budget(const struct rd_log *r)
{
    return r->held_max / 4 < AHEAD_BYTES ? r->held_max / 4 : AHEAD_BYTES;
}

/* While the merge works through one cycle's events, threads of their own read, check
 * and decompress the event chunks after them (a third of the reader's time), so that
 * read_chunk, which decides everything as before, finds them done. They take the next
 * chunk in turn, following the chunk headers alone, and stop at anything unusual:
 * read_chunk meets it and says so. */
static void *read_ahead(void *arg)
{
    struct rd_log *r = arg;
    ZSTD_DCtx *zd = ZSTD_createDCtx();
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    uint8_t h[LF_CHUNK_HDR_SIZE];

    pthread_mutex_lock(&r->ah_mu);
    while (zd != NULL) {
        while (!r->ah_stop && !r->ah_end &&
               (r->ah_tail - r->ah_head == AHEAD_CHUNKS || r->ah_bytes >= ahead_budget(r)))
            pthread_cond_wait(&r->ah_cv, &r->ah_mu);
        if (r->ah_stop || r->ah_end)
            break;
        uint64_t at = r->ah_off;
        if (pread_full(r->fd, h, sizeof(h), at) != (ssize_t)sizeof(h) ||
            lf_get_u32(h) != LF_CHUNK_MAGIC) {
            r->ah_end = true;
            break;
        }
        struct chunk_head c = chunk_head_of(h);
        unsigned hsize = c.hsize;
        uint32_t stored = c.stored, rawlen = c.rawlen, crc = c.crc;
        if (hsize < LF_CHUNK_HDR_SIZE || hsize > 4096 || stored > LF_MAX_CHUNK_RAW ||
            rawlen > LF_MAX_CHUNK_RAW || at + hsize + stored > r->st.file_bytes) {
            r->ah_end = true;
            break;
        }
        r->ah_off = at + hsize + stored;
        if (c.kind != LF_CHUNK_EVENTS || !ahead_kind(r, (uint8_t)c.flags))
            continue;
        struct ahead *a = &r->ahead[r->ah_tail++ % AHEAD_CHUNKS];
        a->off = at;
        a->rawlen = rawlen;
        a->done = false;
        r->ah_bytes += rawlen;
        pthread_mutex_unlock(&r->ah_mu);
        bool ok = reserve_bytes(&buf, &buf_cap, stored);
        ok = ok && pread_full(r->fd, buf, stored, at + hsize) == (ssize_t)stored &&
             lf_crc32c(0, buf, stored) == crc;
        /* Version 1: a zstd frame of the records; 2: columns, each its own frame. */
        size_t len = !ok ? 0 : r->hdr.version < 2 ? rawlen : ec_unpacked_size(buf, stored);
        if (ok && len != SIZE_MAX && len > rawlen) {
            /* Columns unpack to more than the header's raw length says: what is held is
             * the unpacked size, and the budget counts that. */
            pthread_mutex_lock(&r->ah_mu);
            r->ah_bytes += len - rawlen;
            a->rawlen = (uint32_t)len;
            pthread_mutex_unlock(&r->ah_mu);
        }
        ok = ok && len != SIZE_MAX && reserve_bytes(&a->raw, &a->cap, len);
        if (ok && r->hdr.version < 2)
            ok = ZSTD_decompressDCtx(zd, a->raw, rawlen, buf, stored) == rawlen;
        else if (ok)
            ok = ec_unpack(buf, stored, zd, a->raw);
        a->len = (uint32_t)len;
        pthread_mutex_lock(&r->ah_mu);
        a->ok = ok;
        a->done = true;
        pthread_cond_broadcast(&r->ah_cv);
    }
    r->ah_workers--;
    pthread_cond_broadcast(&r->ah_cv);
    pthread_mutex_unlock(&r->ah_mu);
    free(buf);
    ZSTD_freeDCtx(zd);
    return NULL;
}

/* The event chunk at off, if read ahead and sound: its payload becomes p's (and p's
 * buffer goes to one read ahead later). */
static bool take_ahead(struct rd_log *r, uint64_t off, struct pending *p, uint32_t *len)
{
    bool took = false;

    pthread_mutex_lock(&r->ah_mu);
    for (;;) {
        struct ahead *a = &r->ahead[r->ah_head % AHEAD_CHUNKS];
        if (r->ah_head < r->ah_tail && a->off > off)
            break;
        if (r->ah_head < r->ah_tail && a->done) {
            r->ah_head++;
            r->ah_bytes -= a->rawlen;
            pthread_cond_broadcast(&r->ah_cv);
            if (a->off < off)
                continue;
            if (a->ok) {
                uint8_t *raw = p->raw;
                size_t cap = p->cap;
                p->raw = a->raw;
                p->cap = a->cap;
                a->raw = raw;
                a->cap = cap;
                *len = a->len;
                took = true;
            }
            break;
        }
        if (r->ah_head == r->ah_tail && (r->ah_end || r->ah_workers == 0))
            break;
        pthread_cond_wait(&r->ah_cv, &r->ah_mu);
    }
    pthread_mutex_unlock(&r->ah_mu);
    return took;
}

static void start_ahead(struct rd_log *r)
{
    r->ah_off = r->off;
    r->ah_workers = AHEAD_THREADS; /* each takes itself off at its end */
    for (int i = 0; i < AHEAD_THREADS; i++) {
        if (pthread_create(&r->ah_threads[r->n_ah_threads], NULL, read_ahead, r) == 0) {
            r->n_ah_threads++;
            continue;
        }
        pthread_mutex_lock(&r->ah_mu);
        r->ah_workers--;
        pthread_mutex_unlock(&r->ah_mu);
    }
}

static void stop_ahead(struct rd_log *r)
{
    pthread_mutex_lock(&r->ah_mu);
    r->ah_stop = true;
    pthread_cond_broadcast(&r->ah_cv);
    pthread_mutex_unlock(&r->ah_mu);
    for (int i = 0; i < r->n_ah_threads; i++)
        pthread_join(r->ah_threads[i], NULL);
    r->n_ah_threads = 0;
}

/* ---- damage ---- */

/* A chunk whose payload fails its checksum or does not decode is damage (a disk or copy
 * error): chunks are self-contained, so the reader skips it, counts what it held, and
 * reads on; one warning at the end says what was lost and where. A chunk header that
 * is not one (bad magic, impossible sizes) is skipped by finding the next chunk whose
 * payload matches its checksum. Only when nothing at all could be read is damage an
 * error. */
static void note_damage(struct rd_log *r, uint64_t off, uint64_t bytes, uint64_t events,
                        const char *why)
{
    if (r->st.damaged_chunks < sizeof(r->damage_off) / sizeof(r->damage_off[0]))
        r->damage_off[r->st.damaged_chunks] = off;
    if (r->st.damaged_chunks == 0)
        snprintf(r->damage_why, sizeof(r->damage_why), "%s", why);
    r->st.damaged_chunks++;
    r->st.damaged_bytes += bytes;
    r->st.damaged_events += events;
}

/* The one warning, at the end of the read. */
static void warn_damage(struct rd_log *r)
{
    char where[160] = "";
    size_t n = 0;
    uint64_t shown = r->st.damaged_chunks < 4 ? r->st.damaged_chunks : 4;

    if (r->warned_damage || r->st.damaged_chunks == 0)
        return;
    r->warned_damage = true;
    for (uint64_t i = 0; i < shown && n < sizeof(where); i++) {
        int w = snprintf(where + n, sizeof(where) - n, "%s%llu", i == 0 ? "" : ", ",
                         (unsigned long long)r->damage_off[i]);
        if (w > 0)
            n += (size_t)w;
    }
    char events[64] = "";
    if (r->st.damaged_events > 0)
        snprintf(events, sizeof(events), ", %llu event%s", (unsigned long long)r->st.damaged_events,
                 r->st.damaged_events == 1 ? "" : "s");
    warn(r,
         "%s: skipped %llu " RD_DAMAGE_WORDS "%s (%llu bytes%s) at byte%s %s%s: %s; the report "
         "covers the rest - blocks whose frees were in them count as live, and allocations "
         "in them are missing",
         r->path, (unsigned long long)r->st.damaged_chunks, r->st.damaged_chunks == 1 ? "" : "s",
         (unsigned long long)r->st.damaged_bytes, events, shown == 1 ? "" : "s", where,
         r->st.damaged_chunks > shown ? ", ..." : "", r->damage_why);
}

/* Skips the chunk at off (its header sound, its payload not): 0, reading on. */
static int skip_damaged(struct rd_log *r, uint64_t off, const struct chunk_head *c, int err,
                        const char *why)
{
    char text[160];

    snprintf(text, sizeof(text), "%s, in %s", why,
             c->kind == LF_CHUNK_EVENTS ? "an events chunk"
             : c->kind == LF_CHUNK_META ? "a meta chunk: stacks or modules may be missing"
                                        : "a chunk of another kind");
    if (r->st.damaged_chunks == 0)
        r->damage_err = err;
    if (c->kind == LF_CHUNK_INDEX)
        r->index_off = off; /* the trailer names it still: damaged, it was the index */
    note_damage(r, off, (uint64_t)c->hsize + c->stored,
                c->kind == LF_CHUNK_EVENTS ? c->n_records : 0, text);
    return 0;
}

/* A plausible chunk at q whose payload matches its checksum, or the trailer at the
 * file's end: where reading resumes after a damaged header. */
static bool chunk_sound_at(struct rd_log *r, uint64_t q, uint64_t *checked)
{
    uint8_t h[LF_CHUNK_HDR_SIZE];

    if (q + LF_TRAILER_SIZE == r->st.file_bytes && read_at(r, h, 8, q) == 8 &&
        memcmp(h, LF_TRAILER_MAGIC, 8) == 0)
        return true;
    if (read_at(r, h, sizeof(h), q) != (ssize_t)sizeof(h) || lf_get_u32(h) != LF_CHUNK_MAGIC)
        return false;
    struct chunk_head c = chunk_head_of(h);
    if (c.hsize < LF_CHUNK_HDR_SIZE || c.hsize > 4096 || c.stored > LF_MAX_CHUNK_RAW ||
        c.rawlen > LF_MAX_CHUNK_RAW || (!(c.flags & LF_CHUNK_ZSTD) && c.stored != c.rawlen) ||
        q + c.hsize + c.stored > r->st.file_bytes || !reserve_bytes(&r->buf, &r->buf_cap, c.stored))
        return false;
    *checked += c.stored;
    return read_at(r, r->buf, c.stored, q + c.hsize) == (ssize_t)c.stored &&
           lf_crc32c(0, r->buf, c.stored) == c.crc;
}

/* The header at off is not a chunk's: finds the next sound chunk and goes on from
 * there, or ends the read if there is none. What lies between is counted as damage.
 * The search checks at most RESYNC_CHECK bytes of candidate payloads, so that a file
 * of made-up headers costs no more than reading it a few times. */
#define RESYNC_CHECK ((uint64_t)256 << 20)

static int resync(struct rd_log *r, uint64_t off, int err, const char *why)
{
    uint8_t block[65536];
    uint64_t checked = 0;
    uint64_t q = off + 1;

    if (r->st.damaged_chunks == 0)
        r->damage_err = err;
    while (q + 4 <= r->st.file_bytes && checked < RESYNC_CHECK) {
        ssize_t n = read_at(r, block, sizeof(block), q);
        if (n < 4)
            break;
        size_t i;
        for (i = 0; i + 4 <= (size_t)n; i++) {
            if ((block[i] != 'H' || block[i + 1] != 'S') ||
                (block[i + 2] != 'C' && block[i + 2] != 'I'))
                continue;
            checked += LF_CHUNK_HDR_SIZE;
            if (chunk_sound_at(r, q + i, &checked)) {
                note_damage(r, off, q + i - off, 0, why);
                r->off = q + i;
                return 0;
            }
        }
        q += i; /* the last 3 bytes are looked at again with the next block */
        if ((size_t)n < sizeof(block))
            break;
    }
    note_damage(r, off, r->st.file_bytes - off, 0, why);
    r->off = r->st.file_bytes;
    r->st.truncated = false;
    r->eof = true;
    return 0;
}

/* Reads the chunk at r->off. Sets r->eof at the end of the log. */
static void follow_size(struct rd_log *r);

static int read_chunk(struct rd_log *r)
{
    uint8_t h[LF_CHUNK_HDR_SIZE];
    uint64_t off = r->off;

    if (r->follow) {
        follow_size(r);
        /* A chunk (or the trailer) cut short at the end is one still being written:
         * each of its paths below returns -EAGAIN instead of ending. */
        if (off >= r->st.file_bytes)
            return -EAGAIN;
    }
    if (off == r->st.file_bytes) {
        if (r->index_off != 0 && !r->saw_trailer) {
            r->st.truncated = true;
            warn(r,
                 "%s: byte %llu: the log ends after its index chunk without the trailer "
                 "(cut after its end record: no event is missing)",
                 r->path, (unsigned long long)off);
        } else if (r->st.ended && !r->saw_trailer && r->st.end_reason != LF_END_STOPPED) {
            r->st.truncated = true;
            warn(r,
                 "%s: byte %llu: the log ends after its end record without the index "
                 "(cut short: no event is missing)",
                 r->path, (unsigned long long)off);
        }
        r->eof = true;
        return 0;
    }
    ssize_t n = read_at(r, h, sizeof(h), off);
    if (n < 0)
        return fail(r, (int)n, off, "read error: %s", strerror((int)-n));
    if (n >= 8 && memcmp(h, LF_TRAILER_MAGIC, 8) == 0) {
        /* The trailer closes a cleanly ended log: it must be the last 16 bytes and
         * name the index chunk just read. */
        if (off + LF_TRAILER_SIZE > r->st.file_bytes) {
            if (r->follow)
                return -EAGAIN;
            r->st.truncated = true;
            warn(r,
                 "%s: byte %llu: the log ends inside its index trailer (cut after its "
                 "end record: no event is missing)",
                 r->path, (unsigned long long)off);
        } else if (off + LF_TRAILER_SIZE < r->st.file_bytes) {
            return fail(r, -EINVAL, off + LF_TRAILER_SIZE,
                        "data after the index trailer: the file is damaged or two logs "
                        "were concatenated");
        } else if (lf_get_u64(h + 8) != r->index_off &&
                   r->st.damaged_chunks == 0 /* else the index may be in what was skipped */) {
            return fail(r, -EINVAL, off + 8,
                        "the index trailer names offset %llu, not the index chunk's; the "
                        "log is damaged",
                        (unsigned long long)lf_get_u64(h + 8));
        }
        r->saw_trailer = true;
        r->eof = true;
        return 0;
    }
    if ((size_t)n < 8 || lf_get_u32(h) != LF_CHUNK_MAGIC) {
        if ((size_t)n < sizeof(h) && r->st.file_bytes - off < sizeof(h)) {
            if (r->follow)
                return -EAGAIN;
            r->st.truncated = true;
            r->eof = true;
            warn(r,
                 "%s: byte %llu: the log ends inside a chunk header (the process was "
                 "killed or is still running); read up to there",
                 r->path, (unsigned long long)off);
            return 0;
        }
        return resync(r, off, -EINVAL, "not a chunk (bad chunk magic)");
    }
    if ((size_t)n < sizeof(h)) {
        if (r->follow)
            return -EAGAIN;
        r->st.truncated = true;
        r->eof = true;
        warn(r,
             "%s: byte %llu: the log ends inside a chunk header (the process was killed "
             "or is still running); read up to there",
             r->path, (unsigned long long)off);
        return 0;
    }
    struct chunk_head c = chunk_head_of(h);
    int kind = c.kind, flags = c.flags;
    unsigned hsize = c.hsize;
    uint32_t stored = c.stored, rawlen = c.rawlen, tid = c.tid, crc = c.crc, span = c.span;
    uint64_t base_time = c.base_time;

    if (hsize < LF_CHUNK_HDR_SIZE || hsize > 4096) {
        char why[96];
        snprintf(why, sizeof(why), "bad chunk header size %u", hsize);
        return resync(r, off, -EINVAL, why);
    }
    if (rawlen > LF_MAX_CHUNK_RAW || stored > LF_MAX_CHUNK_RAW ||
        (!(flags & LF_CHUNK_ZSTD) && stored != rawlen)) {
        char why[96];
        snprintf(why, sizeof(why), "implausible chunk lengths (stored %u, raw %u)", stored, rawlen);
        return resync(r, off, -EINVAL, why);
    }
    if (off + hsize + stored > r->st.file_bytes) {
        if (r->follow)
            return -EAGAIN;
        r->st.truncated = true;
        r->eof = true;
        warn(r,
             "%s: byte %llu: the log ends inside a chunk (the process was killed or is "
             "still running); read up to there",
             r->path, (unsigned long long)off);
        return 0;
    }
    r->off = off + hsize + stored;
    __atomic_store_n(&r->progress_off, r->off, __ATOMIC_RELAXED);
    r->st.chunks++;

    bool is_events = kind == LF_CHUNK_EVENTS;
    if (is_events && r->hdr.version >= 3 && c.time_shift != 0) {
        /* Only reported: a rounded time decodes as any other. */
        unsigned k = c.time_shift < 63 ? c.time_shift : 63;
        r->st.rounded_chunks++;
        if (k > r->st.time_shift)
            r->st.time_shift = k;
    }
    if (is_events && r->windowed &&
        (base_time + span < r->from || base_time >= r->to || r->barriers_past_to >= 2)) {
        return 0; /* outside the window: its payload is never read */
    }
    if (is_events && r->n_ah_threads > 0 && ahead_kind(r, flags)) {
        struct pending *pend = pend_get(r, 0);
        uint32_t len;
        if (pend == NULL)
            return -ENOMEM;
        if (take_ahead(r, off, pend, &len) &&
            (r->hdr.version < 2 || ec_dec_begin(&pend->dec, pend->raw, len, base_time))) {
            r->st.bytes_read += stored;
            r->st.event_chunks++;
            return add_event_chunk(r, pend, len, tid, base_time, off);
        }
        pend_done(r, pend); /* not read ahead, or damaged: read here, as without */
    }
    if (!reserve_bytes(&r->buf, &r->buf_cap, stored))
        return -ENOMEM;
    n = read_at(r, r->buf, stored, off + hsize);
    if (n < 0)
        return fail(r, (int)n, off + hsize, "read error: %s", strerror((int)-n));
    if (lf_crc32c(0, r->buf, stored) != crc) {
        /* The damage may be in the header's length itself: the chunk ends where its
         * header says only if a sound chunk (or the end) follows; else search. */
        uint64_t checked = 0;
        if (r->off != r->st.file_bytes && !chunk_sound_at(r, r->off, &checked))
            return resync(r, off, -EINVAL, "checksum mismatch (a disk or copy error)");
        return skip_damaged(r, off, &c, -EINVAL, "checksum mismatch (a disk or copy error)");
    }
    if (kind == LF_CHUNK_INDEX) {
        if (stored % LF_INDEX_ENTRY_SIZE != 0 || (flags & LF_CHUNK_ZSTD))
            return fail(r, -EINVAL, off, "malformed index chunk");
        r->index_off = off;
        return 0;
    }
    if (kind != LF_CHUNK_EVENTS && kind != LF_CHUNK_META)
        return 0; /* a kind from a newer writer: checked, then skipped */
    /* Version 1 events decompress straight into the buffer they are merged from;
     * version 2 events (columns) and meta records go through r->raw. */
    bool v1_events = is_events && r->hdr.version < 2;
    struct pending *pend = NULL;
    uint8_t *raw = r->buf;
    if (v1_events) {
        pend = pend_get(r, rawlen);
        if (pend == NULL)
            return -ENOMEM;
        raw = pend->raw;
    } else if (flags & LF_CHUNK_ZSTD) {
        if (!reserve_bytes(&r->raw, &r->raw_cap, rawlen))
            return -ENOMEM;
        raw = r->raw;
    }
    if (flags & LF_CHUNK_ZSTD) {
        size_t got = ZSTD_decompressDCtx(r->zd, raw, rawlen, r->buf, stored);
        if (ZSTD_isError(got) || got != rawlen) {
            if (pend != NULL)
                pend_done(r, pend);
            return skip_damaged(r, off, &c, -EINVAL, "chunk does not decompress");
        }
    } else if (v1_events) {
        memcpy(raw, r->buf, rawlen);
    }
    if (is_events && !v1_events) {
        size_t need = ec_unpacked_size(raw, rawlen);
        if (need == SIZE_MAX)
            return skip_damaged(r, off, &c, -EINVAL,
                                "malformed events chunk: its column table is damaged");
        pend = pend_get(r, need);
        if (pend == NULL)
            return -ENOMEM;
        if (!ec_unpack(raw, rawlen, r->zd, pend->raw) ||
            !ec_dec_begin(&pend->dec, pend->raw, need, base_time)) {
            pend_done(r, pend);
            return skip_damaged(r, off, &c, -EINVAL, "events chunk: a column does not decompress");
        }
        rawlen = (uint32_t)need;
    }
    if (is_events) {
        r->st.event_chunks++;
        return add_event_chunk(r, pend, rawlen, tid, base_time, off);
    }
    r->st.meta_chunks++;
    return parse_meta(r, raw, rawlen, off);
}

uint64_t rd_seconds_to_ticks(struct rd_log *r, double seconds)
{
    /* Clock records come in the first cycle and every 100 ms; read meta ahead until
     * two are known, without consuming events (they stay queued). */
    while (r->n_clock < 2 && !r->eof && r->err[0] == '\0')
        if (read_chunk(r) < 0)
            break;
    double t = (double)r->hdr.start_ticks + seconds * 1e9 / ns_per_tick(r);
    return !(t > 0) ? 0 : t >= 1.8e19 ? UINT64_MAX : (uint64_t)t;
}

/* ---- merging ---- */

/* An item handed out at time t: one earlier than an item already handed out is late
 * (the stats count it). */
static inline void note_order(struct rd_log *r, uint64_t t)
{
    if (t < r->last_out)
        r->st.late++;
    else
        r->last_out = t;
}

/* An event about to be handed out names a stack the log defined, or none (0): the
 * shim defines a stack in the meta chunk of the cycle that writes its first event, or
 * of the next one (a thread may take an id between the two), and events are handed out
 * a cycle behind. Any other id - damage, a log cut short before the definition, a hand
 * made log - becomes 0, counted, so that no consumer ever indexes by a wild id. */
static inline void check_stack(struct rd_log *r, struct lf_event *e)
{
    uint32_t id = e->stack;

    if (__builtin_expect(id != 0 && (id >= r->cap_stacks || r->stacks[id].pcs == NULL), 0)) {
        if (r->st.undefined_stacks++ == 0)
            r->first_undefined = id;
        e->stack = 0;
    }
}

/* An event handed out: the stats count it. */
static inline void count_event(struct rd_log *r, const struct lf_event *e)
{
    if (e->type == LF_EV_LOST)
        r->st.lost += e->count;
    else if (e->type != LF_EV_ZEROS)
        r->st.events++;
}

/* The top chunk p has handed out events up to p->i: it takes its place in the heap by
 * its next event, or leaves it when it has none. */
static void top_moved_on(struct rd_log *r, struct pending *p)
{
    if (p->i < p->n || pend_refill(r, p)) {
        p->key = p->ev[p->i].time;
        if (r->pend.n > 1)
            heap_down(&r->pend, 0, pend_less);
    } else {
        heap_pop(&r->pend, pend_less);
        r->held -= p->held;
        pend_done(r, p);
    }
}

static int next_item(struct rd_log *r, struct rd_item *out)
{
    for (;;) {
        const struct meta_item *mq = heap_top(&r->meta);
        bool have_ev = r->pend.n > 0, have_meta = mq != NULL;
        uint64_t tev = have_ev ? pend_top(r)->key : UINT64_MAX;
        uint64_t tmeta = have_meta ? mq->item.time : UINT64_MAX;
        uint64_t t = tev < tmeta ? tev : tmeta;
        bool have = have_ev || have_meta;

        if (have && (r->eof || t < r->safe)) {
            note_order(r, t);
            if (have_meta && tmeta <= tev) {
                struct meta_item *m = heap_pop(&r->meta, mq_less);
                r->held -= m->cost;
                free(r->cur_text);
                r->cur_text = m->text;
                *out = m->item;
                out->text = r->cur_text;
                free(m);
                return 1;
            }
            struct pending *p = pend_top(r);
            const struct lf_event *e = &p->ev[p->i];
            out->kind = RD_EVENT;
            out->tid = p->tid;
            out->ev = *e;
            out->time = e->time;
            check_stack(r, &out->ev);
            count_event(r, e);
            p->i++;
            top_moved_on(r, p);
            if (r->windowed && (out->time < r->from || out->time >= r->to) && out->kind == RD_EVENT)
                continue;
            return 1;
        }
        if (r->eof) {
            if (r->st.damaged_chunks > 0 && r->st.event_chunks + r->st.meta_chunks == 0 &&
                r->err[0] == '\0')
                return fail(r, r->damage_err, r->damage_off[0],
                            "%s; nothing in the log could be read: it is damaged throughout, "
                            "or not a heapspan log",
                            r->damage_why);
            warn_damage(r);
            if (r->st.undefined_stacks > 0 && !r->warned_undefined)
                warn(r,
                     "%s: %llu event%s a stack id the log never defined (the first: %u); "
                     "counted under an unknown stack",
                     r->path, (unsigned long long)r->st.undefined_stacks,
                     r->st.undefined_stacks == 1 ? " names" : "s name", r->first_undefined);
            r->warned_undefined = true;
            if (!r->st.ended && !r->st.truncated && r->err[0] == '\0' && !r->warned_no_end)
                warn(r,
                     "%s: the log has no end record: the process was killed, exec'd "
                     "or is still running; everything up to its last flush is here",
                     r->path);
            r->warned_no_end = true;
            return 0;
        }
        if (r->windowed && r->barriers_past_to >= 2 && r->pend.n == 0) {
            /* Past the window: nothing later can fall inside it. The end record is
             * not read, and not missed. */
            r->eof = true;
            r->warned_no_end = true;
            continue;
        }
        int err = read_chunk(r);
        if (err < 0)
            return err;
    }
}

/* Up to max events as next_item would give them, without its work per event: the top
 * chunk's decoded ones that come before the other chunks' next ones, the next meta
 * item and the safe time. 0: ask next_item. The reader's tests hold the two to the
 * same items. */
static uint32_t take_run(struct rd_log *r, struct slot *out, uint32_t max)
{
    if (r->pend.n == 0 || r->windowed)
        return 0;
    struct pending *p = pend_top(r);
    const struct meta_item *mq = heap_top(&r->meta);
    uint64_t le = UINT64_MAX, lt = mq != NULL ? mq->item.time : UINT64_MAX;
    if (!r->eof && r->safe < lt)
        lt = r->safe;
    /* heap_down moves the top only below a smaller key, and a meta item goes first on a
     * tie with an event: <= le, < lt. */
    for (size_t c = 1; c <= 2 && c < r->pend.n; c++) {
        const struct pending *q = r->pend.items[c];
        if (q->key < le)
            le = q->key;
    }
    uint32_t k = 0;
    while (k < max && p->i < p->n) {
        const struct lf_event *e = &p->ev[p->i];
        if (e->time > le || e->time >= lt)
            break;
        note_order(r, e->time);
        count_event(r, e);
        out[k].tid = p->tid;
        out[k].other = 0;
        out[k].ev = *e;
        check_stack(r, &out[k].ev);
        k++;
        p->i++;
    }
    if (k == 0)
        return 0;
    top_moved_on(r, p);
    return k;
}

/* ---- the producer thread ---- */

void rd_set_thread(struct rd_log *r, bool on)
{
    r->no_thread = !on;
}

void rd_set_follow(struct rd_log *r, bool on)
{
    if (r->follow && !on)
        follow_size(r); /* what was appended since the last look is part of the log */
    r->follow = on;
}

/* Follow mode: the file's size now, and what the reader may hold for it. */
static void follow_size(struct rd_log *r)
{
    struct stat sb;
    if (fstat(r->fd, &sb) < 0 || (uint64_t)sb.st_size <= r->st.file_bytes)
        return;
    r->st.file_bytes = (uint64_t)sb.st_size;
    r->held_max = RD_HELD_FLOOR + (r->st.file_bytes < (SIZE_MAX - RD_HELD_FLOOR) / RD_HELD_PER_BYTE
                                       ? (size_t)r->st.file_bytes * RD_HELD_PER_BYTE
                                       : SIZE_MAX - RD_HELD_FLOOR);
}

static void batch_clear(struct batch *b)
{
    for (uint32_t i = 0; i < b->n_others; i++)
        if (b->others[i].kind == RD_NOTE || b->others[i].kind == RD_POOL)
            free((char *)b->others[i].text);
    b->n_others = 0;
}

/* Fills b with the next items; returns b->last. */
static int fill(struct rd_log *r, struct batch *b)
{
    struct rd_item it;

    batch_clear(b);
    for (b->n = 0; b->n < BATCH_ITEMS;) {
        struct slot *s = &b->slots[b->n];
        uint32_t run = take_run(r, s, BATCH_ITEMS - b->n);
        if (run > 0) {
            b->n += run;
            continue;
        }
        int k = next_item(r, &it);
        if (k <= 0)
            return b->last = k;
        s->tid = it.tid;
        s->other = 0;
        if (it.kind == RD_EVENT) {
            s->ev = it.ev;
            b->n++;
            continue;
        }
        if (b->n_others == b->cap_others) {
            uint32_t cap = b->cap_others ? b->cap_others * 2 : 16;
            struct rd_item *o = realloc(b->others, cap * sizeof(*o));
            if (o == NULL)
                return b->last = -ENOMEM;
            b->others = o;
            b->cap_others = cap;
        }
        if (it.kind == RD_NOTE || it.kind == RD_POOL)
            r->cur_text = NULL; /* the batch's now */
        b->others[b->n_others++] = it;
        s->other = b->n_others;
        b->n++;
    }
    return b->last = 1;
}

static void *produce(void *arg)
{
    struct rd_log *r = arg;

    for (uint64_t k = 0;; k++) {
        pthread_mutex_lock(&r->mu);
        while (k - r->n_emptied == N_BATCHES && !r->stop)
            pthread_cond_wait(&r->emptied_cv, &r->mu);
        bool stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            return NULL;
        int last = fill(r, r->batches[k % N_BATCHES]);
        pthread_mutex_lock(&r->mu);
        r->n_filled++;
        pthread_cond_signal(&r->filled_cv);
        pthread_mutex_unlock(&r->mu);
        if (last <= 0)
            return NULL;
    }
}

/* Without a thread (turned off, or none to be had) rd_next merges on its own. */
static void start(struct rd_log *r)
{
    r->started = true;
    if (r->no_thread)
        return;
    for (int i = 0; i < N_BATCHES; i++) {
        void *b;
        if (posix_memalign(&b, 64, sizeof(struct batch)) != 0)
            return;
        r->batches[i] = b;
        r->batches[i]->others = NULL;
        r->batches[i]->n_others = r->batches[i]->cap_others = 0;
    }
    if (!r->windowed)
        start_ahead(r); /* a window skips chunks: reading ahead would read them */
    r->running = pthread_create(&r->thread, NULL, produce, r) == 0;
    if (!r->running)
        stop_ahead(r);
}

static void stop_threads(struct rd_log *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->emptied_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->running = false;
    stop_ahead(r);
}

static int next_merged(struct rd_log *r, struct rd_item *out)
{
    if (!r->started)
        start(r);
    if (!r->running)
        return next_item(r, out);
    for (;;) {
        struct batch *b = r->cur;
        if (b != NULL && r->pos < b->n) {
            const struct slot *s = &b->slots[r->pos++];
            if (s->other != 0) {
                *out = b->others[s->other - 1];
                return 1;
            }
            out->kind = RD_EVENT;
            out->time = s->ev.time;
            out->tid = s->tid;
            out->ev = s->ev;
            return 1;
        }
        if (b != NULL && b->last <= 0) {
            /* The producer has ended: what it leaves (stats, warnings, stacks) is the
             * caller's now, and any later call merges on this thread, as before. */
            stop_threads(r);
            return b->last;
        }
        pthread_mutex_lock(&r->mu);
        if (b != NULL) {
            r->n_emptied++;
            pthread_cond_signal(&r->emptied_cv);
        }
        while (r->n_filled == r->n_emptied)
            pthread_cond_wait(&r->filled_cv, &r->mu);
        r->cur = r->batches[r->n_emptied % N_BATCHES];
        pthread_mutex_unlock(&r->mu);
        r->pos = 0;
    }
}

/* Pools: the frees of a reset first, then the next item, which the tracker sees if it
 * may concern a pool. Until the log shows a pool or an API block there is no tracker,
 * and an item costs two compares here; after, a few loads (pl_wants, inline): this is
 * the aggregate's hottest loop. A reset
 * outside the window frees nothing: the blocks it would free are outside it too, or
 * must stay live at its end. */
static int feed_pools(struct rd_log *r, struct rd_item *out)
{
    if (out->kind == RD_POOL && out->pool_op == LF_POOL_RESET && r->windowed &&
        (out->time < r->from || out->time >= r->to))
        return 1;
    int k = pl_feed(r->pools, out);
    return k < 0 ? k : 1;
}

int rd_next(struct rd_log *r, struct rd_item *out)
{
    if (r->pools != NULL) {
        if (pl_queued(r->pools) && pl_next_free(r->pools, out))
            return 1;
        int k = next_merged(r, out);
        return k != 1 || !pl_wants(r->pools, out) ? k : feed_pools(r, out);
    }
    int k = next_merged(r, out);
    if (k != 1 || (out->kind == RD_EVENT ? out->ev.fn != LF_FN_API : out->kind != RD_POOL))
        return k;
    if ((r->pools = pl_new(r->hdr.sample_bytes)) == NULL)
        return -ENOMEM;
    return feed_pools(r, out);
}

struct pl_tracker *rd_pools(const struct rd_log *r)
{
    return r->pools;
}

const struct rd_pycode *rd_pycode(const struct rd_log *r, uint32_t id)
{
    return id < r->cap_pycodes && r->pycodes[id].qualname != NULL ? &r->pycodes[id] : NULL;
}

const struct rd_python *rd_python(const struct rd_log *r)
{
    return &r->python;
}

void rd_close(struct rd_log *r)
{
    if (r == NULL)
        return;
    for (uint32_t i = 0; i < r->cap_pycodes; i++) {
        free(r->pycodes[i].qualname);
        free(r->pycodes[i].filename);
        free(r->pycodes[i].linetable);
    }
    free(r->pycodes);
    free(r->python.allocator);
    free(r->python.reason);
    pl_free(r->pools);
    if (r->running)
        stop_threads(r);
    for (int i = 0; i < N_BATCHES; i++) {
        if (r->batches[i] == NULL)
            continue;
        batch_clear(r->batches[i]);
        free(r->batches[i]->others);
        free(r->batches[i]);
    }
    for (int i = 0; i < AHEAD_CHUNKS; i++)
        free(r->ahead[i].raw);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->filled_cv);
    pthread_cond_destroy(&r->emptied_cv);
    pthread_mutex_destroy(&r->ah_mu);
    pthread_cond_destroy(&r->ah_cv);
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->pend.n; i++)
        pend_free(r->pend.items[i]);
    heap_fini(&r->pend);
    while (r->spares != NULL) {
        struct pending *p = r->spares;
        r->spares = p->next_spare;
        pend_free(p);
    }
    for (size_t i = 0; i < r->meta.n; i++)
        mq_free(r->meta.items[i]);
    heap_fini(&r->meta);
    free(r->cur_text);
    for (uint32_t i = 0; i < r->cap_stacks; i++)
        free((void *)r->stacks[i].pcs);
    free(r->stacks);
    for (int i = 0; i < r->n_modules; i++) {
        free(r->modules[i]->path);
        free(r->modules[i]);
    }
    free(r->modules);
    for (int i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->argv);
    free(r->exe);
    free(r->buf);
    free(r->raw);
    sb_fini(&r->warn);
    free(r->path);
    ZSTD_freeDCtx(r->zd);
    free(r);
}
