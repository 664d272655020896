/* pystacks.c - see pystacks.h. */
#include "preload/pystacks.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "preload/py311.h"
#include "preload/rt.h"
#include "preload/writer.h"

uint64_t py_eval_lo, py_eval_hi;

static uint64_t runtime; /* &_PyRuntime */
static uint64_t code_type, unicode_type, bytes_type;
static int detected; /* 0 not yet, 1 done (supported or not) */
static char reason[200];
static uint32_t py_version;

static void say_python(uint32_t version, bool on);

/* ---- reading ---- */

static inline bool plausible(uint64_t p)
{
    return p >= 4096 && p < (1ull << 47) && (p & 7) == 0;
}

static inline uint64_t rd64(uint64_t a)
{
    return *(const uint64_t *)(uintptr_t)a;
}

static inline int32_t rd32(uint64_t a)
{
    return *(const int32_t *)(uintptr_t)a;
}

/* Copies len bytes at a into buf through the kernel: fails instead of faulting. */
static bool safe_read(uint64_t a, void *buf, size_t len)
{
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)a, len };
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len;
}

/* The calling thread's PyThreadState, validated; 0 if it has none. */
static uint64_t my_tstate(struct py_thread *pt)
{
    uint64_t tss = runtime + PY311_RT_AUTOTSS;
    if (rd32(tss + PY311_TSS_INIT) != 1)
        return 0;
    pthread_key_t key = *(const pthread_key_t *)(uintptr_t)(tss + PY311_TSS_KEY);
    uint64_t ts = (uint64_t)(uintptr_t)pthread_getspecific(key);
    if (pt->self == 0) /* the thread's state is zeroed for each new thread */
        pt->self = (uint64_t)pthread_self();
    if (!plausible(ts) || rd64(ts + PY311_TS_THREAD_ID) != pt->self ||
        rd64(ts + PY311_TS_INTERP) != rd64(runtime + PY311_RT_INTERP_HEAD))
        return 0;
    return ts;
}

/* The frame at f, readable, when it is not in the chunk the last frame was found in
 * (*clo, *chi, 0 and 0 first, kept during one capture: the chunks do not change while
 * this thread is inside malloc): in place when it lies in another of the thread's data
 * stack chunks (mapped while linked), else copied into buf through the kernel (a
 * generator's frame, inside its object); NULL if it cannot be read. */
__attribute__((noinline)) static const uint8_t *
frame_elsewhere(uint64_t ts, uint64_t f, uint8_t *buf, uint64_t *clo, uint64_t *chi)
{
    int k = 0;
    for (uint64_t c = rd64(ts + PY311_TS_CHUNK); plausible(c) && k < 64;
         c = rd64(c + PY311_CHUNK_PREV), k++) {
        uint64_t size = rd64(c + PY311_CHUNK_SIZE);
        if (f >= c && size < (1ull << 40) && f + PY311_IF_READ <= c + size) {
            *clo = c;
            *chi = c + size;
            return (const uint8_t *)(uintptr_t)f;
        }
    }
    return safe_read(f, buf, PY311_IF_READ) ? buf : NULL;
}

/* ---- the code registry: code object -> id, each written to the log once ---- */

#define REG_SLOTS (1u << 20)
#define REG_PROBE 32

struct reg_slot {
    uint64_t addr; /* 0: empty */
    uint64_t fp;   /* fingerprint: a code object reborn at the same address differs */
    uint32_t id;   /* published last (0: being filled) */
};

static struct reg_slot *reg;
static uint32_t reg_next = 1;
static uint32_t reg_gen = 1; /* bumped when the registry starts over (fork) */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *reg_buf;
static size_t reg_buf_cap;

static uint32_t registry_id(uint64_t co, uint64_t fp);

static inline uint64_t code_fp(uint64_t co)
{
    uint64_t h = rd64(co + PY311_CO_QUALNAME) * 0x9E3779B97F4A7C15ull;
    h ^= rd64(co + PY311_CO_FILENAME) + (h << 6);
    h ^= rd64(co + PY311_CO_LINETABLE) * 0xff51afd7ed558ccdull;
    h ^= (uint64_t)(uint32_t)rd32(co + PY311_CO_FIRSTLINENO) << 17;
    return h | 1;
}

/* A string object's text as UTF-8 (compact forms only); false if it is not one. */
static bool str_utf8(uint64_t s, const uint8_t **p, uint64_t *len)
{
    if (!plausible(s) || rd64(s + PY311_OB_TYPE) != unicode_type)
        return false;
    uint8_t state = *(const uint8_t *)(uintptr_t)(s + PY311_STR_STATE);
    bool compact = state & 0x20, ascii = state & 0x40;
    if (!compact)
        return false;
    if (ascii) {
        *p = (const uint8_t *)(uintptr_t)(s + PY311_STR_ASCII_DATA);
        *len = rd64(s + PY311_STR_LENGTH);
    } else {
        uint64_t u = rd64(s + PY311_STR_UTF8);
        if (u == 0)
            return false; /* not encoded yet: encoding would allocate */
        *p = (const uint8_t *)(uintptr_t)u;
        *len = rd64(s + PY311_STR_UTF8_LEN);
    }
    return *len < (1u << 20);
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *s, uint64_t n)
{
    p = lf_put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* Writes the LF_META_PYCODE record of co as id; false if its fields do not check. */
static bool write_code_locked(uint64_t co, uint32_t id)
{
    const uint8_t *qn, *fn;
    uint64_t qlen, flen;
    uint64_t lt = rd64(co + PY311_CO_LINETABLE);
    if (!str_utf8(rd64(co + PY311_CO_QUALNAME), &qn, &qlen) ||
        !str_utf8(rd64(co + PY311_CO_FILENAME), &fn, &flen) || !plausible(lt) ||
        rd64(lt + PY311_OB_TYPE) != bytes_type)
        return false;
    uint64_t ltlen = rd64(lt + PY311_OB_SIZE);
    if (ltlen > LF_PY_LINETABLE_MAX)
        ltlen = LF_PY_LINETABLE_MAX;
    if (qlen > LF_PY_NAME_MAX)
        qlen = LF_PY_NAME_MAX;
    if (flen > LF_MAX_PATH)
        flen = LF_MAX_PATH;
    size_t need = 96 + qlen + flen + ltlen;
    if (need > reg_buf_cap) {
        size_t cap = reg_buf_cap ? reg_buf_cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *b = rt_map(cap);
        if (b == NULL)
            return false;
        if (reg_buf != NULL)
            rt_unmap(reg_buf, reg_buf_cap);
        reg_buf = b;
        reg_buf_cap = cap;
    }
    uint8_t *body = reg_buf + 16, *p = body;
    p = lf_put_varint(p, id);
    p = lf_put_varint(p, (uint64_t)(uint32_t)rd32(co + PY311_CO_FIRSTLINENO));
    p = lf_put_varint(p, rd64(co + PY311_OB_SIZE));
    p = put_bytes(p, qn, qlen);
    p = put_bytes(p, fn, flen);
    p = put_bytes(p, (const uint8_t *)(uintptr_t)(lt + PY311_BYTES_DATA), ltlen);
    uint8_t hdr[12], *h = hdr;
    *h++ = LF_META_PYCODE;
    h = lf_put_varint(h, (uint64_t)(p - body));
    size_t hl = (size_t)(h - hdr);
    memcpy(body - hl, hdr, hl);
    wr_meta(body - hl, hl + (size_t)(p - body));
    return true;
}

/* The id of code object co (registering it on first sight), 0 if it cannot be. */
static uint32_t code_id(struct py_thread *pt, uint64_t co)
{
    uint64_t fp = code_fp(co);
    uint32_t gen = __atomic_load_n(&reg_gen, __ATOMIC_ACQUIRE);
    __typeof__(pt->memo[0]) *m = &pt->memo[(co >> 4) % PY_MEMO];
    if (m->co == co && m->fp == fp && m->gen == gen)
        return m->id;
    uint32_t id = registry_id(co, fp);
    if (id != 0)
        *m = (__typeof__(*m)){ co, fp, id, gen };
    return id;
}

/* The registry's id for co of fingerprint fp, registering it if new; 0 if it cannot. */
static uint32_t registry_id(uint64_t co, uint64_t fp)
{
    uint32_t j = (uint32_t)((co >> 4) * 0x9E3779B97F4A7C15ull >> 44) & (REG_SLOTS - 1);

    for (int k = 0; k < REG_PROBE; k++, j = (j + 1) & (REG_SLOTS - 1)) {
        uint64_t a = __atomic_load_n(&reg[j].addr, __ATOMIC_ACQUIRE);
        if (a == 0)
            break;
        if (a == co && reg[j].fp == fp) {
            uint32_t id = __atomic_load_n(&reg[j].id, __ATOMIC_ACQUIRE);
            if (id != 0)
                return id;
        }
    }
    /* New (or reborn): register under the lock, from the same probe start. */
    uint32_t id = 0;
    pthread_mutex_lock(&reg_lock);
    j = (uint32_t)((co >> 4) * 0x9E3779B97F4A7C15ull >> 44) & (REG_SLOTS - 1);
    for (int k = 0; k < REG_PROBE; k++, j = (j + 1) & (REG_SLOTS - 1)) {
        uint64_t a = reg[j].addr;
        if (a == co && reg[j].fp == fp && reg[j].id != 0) {
            id = reg[j].id;
            break;
        }
        /* An empty slot, or one whose code object died (same address, other
         * fingerprint): the new code object takes it. */
        if (a == 0 || a == co) {
            if (!write_code_locked(co, reg_next))
                break;
            __atomic_store_n(&reg[j].id, 0, __ATOMIC_RELEASE);
            reg[j].fp = fp;
            __atomic_store_n(&reg[j].addr, co, __ATOMIC_RELEASE);
            id = reg_next++;
            __atomic_store_n(&reg[j].id, id, __ATOMIC_RELEASE);
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return id;
}

void py_fork_child(bool recording)
{
    pthread_mutex_init(&reg_lock, NULL);
    if (reg == NULL)
        return;
    /* The child's log starts anew: its code objects are written to it again. */
    madvise(reg, (size_t)REG_SLOTS * sizeof(*reg), MADV_DONTNEED);
    reg_next = 1;
    __atomic_add_fetch(&reg_gen, 1, __ATOMIC_RELEASE);
    if (recording && detected)
        say_python(py_version, py_eval_lo != 0);
}

/* ---- capture ---- */

enum chain { CHAIN_WHOLE, CHAIN_LIMIT, CHAIN_BROKEN };

/* How a chain compares with the one read before it on the thread. */
enum { SAME_NOT, SAME_OUTER, SAME_ALL };

/* The entry of a frame not met at its depth last time (or met changed), from its code
 * object co and instruction pointer instr; 0 if they fail their checks. Kept out of
 * read_chain's loop, which runs for every frame of every stack. */
__attribute__((noinline)) static uint64_t frame_entry(struct py_thread *pt, uint64_t co,
                                                      uint64_t instr, bool entry)
{
    /* The code object is the frame's own reference: alive while the frame is. */
    if (!plausible(co) || rd64(co + PY311_OB_TYPE) != code_type)
        return 0;
    uint64_t units = rd64(co + PY311_OB_SIZE), start = co + PY311_CO_CODE;
    int64_t lasti = ((int64_t)instr - (int64_t)start) / 2;
    if (lasti >= (int64_t)units || units > LF_PY_INSTR_MAX)
        return 0;
    /* A frame whose prologue has not run yet (CPython's tracebacks skip these) is
     * still the function being entered: shown, at its first line. */
    uint32_t id = code_id(pt, co);
    if (id == 0)
        return 0;
    return LF_PY_FRAME | (entry ? LF_PY_ENTRY : 0) | (uint64_t)(lasti < 0 ? 0 : lasti + 1) << 32 |
           id;
}

/* The thread's Python frames into pt->chain as LF_PY_FRAME entries (LF_PY_ENTRY on the
 * outermost of each loop call), at most limit; returns how many, and sets *how: read to
 * its end, stopped at the limit (what was read is good), or cut where a frame failed
 * its checks; *segs: the entry frames read, *whole: the frames up to the last of them. */
__attribute__((noinline)) static int read_chain(struct py_thread *pt, int limit, enum chain *how,
                                                int *segs, int *whole, int *same)
{
    uint8_t buf[PY311_IF_READ];
    uint64_t clo = 0, chi = 0;
    uint32_t gen = __atomic_load_n(&reg_gen, __ATOMIC_ACQUIRE);
    int n = 0, entries = 0, upto = 0, missed = 0, missed_below = 0;

    *how = CHAIN_BROKEN;
    uint64_t ts = my_tstate(pt);
    uint64_t cf = ts != 0 ? rd64(ts + PY311_TS_CFRAME) : 0;
    uint64_t f = plausible(cf) ? rd64(cf + PY311_CF_CURRENT) : 0;
    if (f == 0 && (ts == 0 || !plausible(cf)))
        goto out;
    /* The chunk the innermost frames are in, as a rule: the thread's newest. */
    uint64_t c = rd64(ts + PY311_TS_CHUNK);
    if (plausible(c)) {
        uint64_t size = rd64(c + PY311_CHUNK_SIZE);
        if (size < (1ull << 40)) {
            clo = c;
            chi = c + size;
        }
    }
    for (;; n++) {
        if (f == 0) {
            *how = CHAIN_WHOLE;
            break;
        }
        if (n == limit) {
            *how = CHAIN_LIMIT;
            break;
        }
        if (!plausible(f))
            break;
        const uint8_t *fr = (const uint8_t *)(uintptr_t)f;
        if (f < clo || f + PY311_IF_READ > chi) {
            fr = frame_elsewhere(ts, f, buf, &clo, &chi);
            if (fr == NULL)
                break;
        }
        uint64_t co, prev, instr, func, globals;
        memcpy(&co, fr + PY311_IF_CODE, 8);
        memcpy(&prev, fr + PY311_IF_PREVIOUS, 8);
        memcpy(&instr, fr + PY311_IF_PREV_INSTR, 8);
        memcpy(&func, fr + PY311_IF_FUNC, 8);
        memcpy(&globals, fr + PY311_IF_GLOBALS, 8);
        bool entry = fr[PY311_IF_IS_ENTRY] != 0;
        /* The same frame as at this depth last time, running the same function with
         * the same globals and code object, at the same instruction: the same entry,
         * without its checks and without touching the code object, whose lines are
         * cold in a program that allocates much. (A code object that died and was
         * reborn at its address would have to come back with its function and its
         * globals at theirs, in a frame at the same place, to be taken for the old.) */
        __typeof__(pt->last[0]) *l = n < PY_LAST ? &pt->last[n] : NULL;
        uint64_t v;
        if (l != NULL && ((l->f ^ f) | (l->co ^ co) | (l->instr ^ instr) | (l->func ^ func) |
                          (l->globals ^ globals) | (uint64_t)(l->gen ^ gen) |
                          (uint64_t)(l->entry ^ entry)) == 0) { /* one branch for all */
            v = l->val;
        } else {
            missed++;
            missed_below += n > 0;
            v = frame_entry(pt, co, instr, entry);
            if (v == 0)
                break;
            if (l != NULL)
                *l = (__typeof__(*l)){ f, co, instr, func, globals, v, gen, entry };
        }
        pt->chain[n] = v;
        if (entry) {
            entries++;
            upto = n + 1;
        }
        f = prev;
    }
out:
    /* Every frame found as it was at its depth, as deep as before and ended the same
     * way: the chain read last time (the last[] entries below the depth read then are
     * that chain's) - or that chain but for its innermost frame, the one that runs. */
    *same = missed_below > 0 || n > PY_LAST || (uint32_t)n != pt->last_n ||
                    (uint32_t)*how != pt->last_how
                ? SAME_NOT
            : missed == 0 ? SAME_ALL
                          : SAME_OUTER;
    pt->last_n = (uint32_t)n;
    pt->last_how = (uint32_t)*how;
    *segs = entries;
    *whole = upto;
    return n;
}

static inline uint64_t dropped(uint64_t count)
{
    return LF_PY_FRAME | (count > LF_PY_INSTR_MAX ? LF_PY_INSTR_MAX : count) << 32;
}

#define MAX_EVALS 64 /* loop calls in one stack matched to the chain; more: dropped */

/* The native stack with a dropped-frames marker after each loop call's frame instead of
 * its Python frames: the chain and the native stack did not agree. */
static int augment_dropped(const uint64_t *pcs, int n, uint64_t *out, int cap, int nf)
{
    uint64_t lo = __atomic_load_n(&py_eval_lo, __ATOMIC_RELAXED);
    uint64_t size = __atomic_load_n(&py_eval_hi, __ATOMIC_RELAXED) - lo;
    int o = 0;
    bool first = true;

    for (int i = 0; i < n && o < cap; i++) {
        out[o++] = pcs[i];
        if (pcs[i] - 1 - lo < size && o < cap) {
            /* The first loop call's marker counts the frames read and not shown. */
            out[o++] = dropped(first && nf > 0 ? (uint64_t)nf : 1);
            first = false;
        }
    }
    return o;
}

int py_augment(const uint64_t *pcs, int n, bool cut, uint64_t *out, int cap, struct py_thread *pt,
               const uint64_t **stack, struct sh_state *hash, bool *again)
{
    /* The loop's return addresses: [lo, lo + size) holds pc - 1. No chain is read for a
     * stack without one. */
    uint64_t lo = __atomic_load_n(&py_eval_lo, __ATOMIC_RELAXED);
    uint64_t size = __atomic_load_n(&py_eval_hi, __ATOMIC_RELAXED) - lo;
    *again = false;
    int first = 0;
    while (first < n && pcs[first] - 1 - lo >= size)
        first++;
    if (first == n)
        return -1;

    enum chain how;
    const uint64_t *chain = pt->chain;
    int segs, whole; /* loop calls the chain accounts for, whole */
    int same;
    int nf = read_chain(pt, cap < PY_MAX_FRAMES ? cap : PY_MAX_FRAMES, &how, &segs, &whole, &same);
    if (same == SAME_NOT) {
        pt->tail_n = 0;
    } else if (pt->tail_n > 0 && pt->tail_cap == cap && n - first - 1 == pt->tail_native &&
               n + pt->tail_chain <= cap &&
               memcmp(pcs + first + 1, pt->tail_pcs, (size_t)pt->tail_native * sizeof(*pcs)) == 0) {
        /* The chain and the native frames out of the first loop call's are the
         * tail's: the stack is the inner native frames up to that loop call's (where
         * the loop called from differs with the opcode that allocates), then the tail.
         * (The tail was built with the chain whole and the stack within cap, which
         * holds again with the same tail, and the inner frames hold no loop call but
         * the last.) The tail starts with the chain's innermost frame. */
        uint64_t *tail = out + cap - pt->tail_n;
        int inner = first + 1;
        if (same == SAME_OUTER) {
            /* Only the innermost Python frame moved: put it in, and take the tail's
             * hash again from the state kept outside it. Not if it now ends a loop
             * call's segment where it did not, or the reverse: the segments would
             * fall apart differently. */
            if ((chain[0] ^ tail[0]) & LF_PY_ENTRY)
                goto build;
            tail[0] = chain[0];
            pt->tail_hash = pt->tail_hash_outer;
            sh_take(&pt->tail_hash, tail, 1);
        }
        uint64_t *start = tail - inner;
        /* Its inner native frames too as in the stack built last, still in place (a C
         * loop allocating): that stack again. */
        *again = same == SAME_ALL && inner == pt->tail_inner &&
                 memcmp(start, pcs, (size_t)inner * sizeof(*pcs)) == 0;
        if (!*again) {
            for (int i = 0; i < inner; i++)
                start[i] = pcs[i];
            pt->tail_inner = inner;
        }
        *stack = start;
        *hash = pt->tail_hash;
        return inner + pt->tail_n;
    }
build:;
    /* Each loop call in the native stack runs one segment of the chain, innermost
     * first: one pass inserts each segment after its loop call's frame, on the
     * assumption that the two agree, and counts the loop calls to check it. */
    int o = 0, f = 0, evals = 0, i = first;
    if (n + nf <= cap) {
        /* Room for all: blocks of native frames, each up to a loop call's and its
         * frames after it, without a bound to check at each. */
        int from = 0;
        for (;;) {
            for (int j = from; j <= i; j++)
                out[o++] = pcs[j];
            evals++;
            while (f < nf) {
                uint64_t v = chain[f++];
                out[o++] = v;
                if (v & LF_PY_ENTRY)
                    break;
            }
            from = ++i;
            while (i < n && pcs[i] - 1 - lo >= size)
                i++;
            if (i == n)
                break;
        }
        for (int j = from; j < n; j++)
            out[o++] = pcs[j];
    } else {
        for (i = 0; i < first && o < cap; i++)
            out[o++] = pcs[i];
        for (; i < n && o < cap; i++) {
            uint64_t pc = pcs[i];
            out[o++] = pc;
            if (pc - 1 - lo < size) {
                evals++;
                while (f < nf && o < cap) {
                    uint64_t v = chain[f++];
                    out[o++] = v;
                    if (v & LF_PY_ENTRY)
                        break;
                }
            }
        }
        for (; i < n; i++) /* past the depth limit: counted, not written */
            evals += pcs[i] - 1 - lo < size;
    }
    if (evals > MAX_EVALS)
        return -1; /* a recursion this deep through C: native frames only */
    /* A stack cut at the depth limit may have lost outer loop calls, never inner ones;
     * a chain read up to as many frames as the stack may hold fills it before its
     * unread part would be needed. Any other disagreement means the two do not
     * describe the same moment (or a frame failed its checks): nothing is matched by
     * guesswork. */
    bool ok = how == CHAIN_LIMIT ||
              (cut ? segs >= evals : segs == evals && how == CHAIN_WHOLE && whole == nf);
    if (!ok) {
        pt->tail_n = 0;
        o = augment_dropped(pcs, n, out, cap, nf);
        *stack = out;
        sh_init(hash);
        return o;
    }
    if (n + nf > cap || how != CHAIN_WHOLE) {
        pt->tail_n = 0;
        *stack = out;
        sh_init(hash);
        return o;
    }
    /* Whole and within cap: kept as the tail for the next stacks, at the buffer's end. */
    memmove(out + cap - o, out, (size_t)o * sizeof(*out));
    uint64_t *start = out + cap - o;
    int inner = first + 1; /* native frames before the tail, the loop call's the last */
    pt->tail_n = o - inner;
    pt->tail_inner = inner;
    pt->tail_native = n - inner;
    pt->tail_chain = nf;
    pt->tail_cap = cap;
    memcpy(pt->tail_pcs, pcs + inner, (size_t)(n - inner) * sizeof(*pcs));
    sh_init(&pt->tail_hash_outer);
    sh_take(&pt->tail_hash_outer, start + inner + 1, o - inner - 1);
    pt->tail_hash = pt->tail_hash_outer;
    sh_take(&pt->tail_hash, start + inner, 1);
    *stack = start;
    *hash = pt->tail_hash;
    return o;
}

/* ---- detection ---- */

static uint32_t symbol_size(void *addr)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || sym == NULL)
        return 0;
    return (uint32_t)sym->st_size;
}

static void say_python(uint32_t version, bool on)
{
    uint8_t body[512], rec[540], *p = body;
    const char *alloc = getenv("PYTHONMALLOC");
    size_t alen = alloc != NULL ? strnlen(alloc, 64) : 0, rlen = strlen(reason);

    p = lf_put_varint(p, rt_ticks());
    p = lf_put_varint(p, version);
    p = lf_put_varint(p, on ? LF_PYTHON_STACKS : 0);
    p = put_bytes(p, (const uint8_t *)(alloc != NULL ? alloc : ""), alen);
    p = put_bytes(p, (const uint8_t *)reason, rlen);
    uint8_t *r = rec;
    *r++ = LF_META_PYTHON;
    r = lf_put_varint(r, (uint64_t)(p - body));
    memcpy(r, body, (size_t)(p - body));
    wr_meta(rec, (size_t)(r - rec) + (size_t)(p - body));
}

static void set_reason(const char *a, uint32_t version, const char *b)
{
    char *p = reason, *end = reason + sizeof(reason) - 1;
    p = rt_fmt_str(p, end, a);
    if (version != 0 && end - p > 24) {
        p = rt_fmt_u64(p, version >> 24);
        *p++ = '.';
        p = rt_fmt_u64(p, (version >> 16) & 0xff);
    }
    p = rt_fmt_str(p, end, b);
    *p = '\0';
}

/* dlsym, leaving no error behind: a failed lookup keeps its message in a block glibc
 * allocates for this thread and frees at the thread's next dl call - in the program,
 * whose free of a block allocated here, unrecorded, would count as unknown. dlerror,
 * called twice, frees it here. */
static void *lookup(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    if (p == NULL) {
        (void)dlerror();
        (void)dlerror();
    }
    return p;
}

void py_detect(void)
{
    if (__atomic_load_n(&detected, __ATOMIC_ACQUIRE))
        return;
    const uint32_t *ver = lookup("Py_Version");
    void *eval = lookup("_PyEval_EvalFrameDefault");
    if (ver == NULL && eval == NULL)
        return; /* no interpreter (yet) */
    uint32_t version = ver != NULL ? *ver : 0;
    py_version = version;
    reason[0] = '\0';
    if (ver == NULL) {
        set_reason("a CPython older than 3.11 (it does not export Py_Version): only 3.11 "
                   "frames are read",
                   0, "");
    } else if ((version >> 16) != 0x030b) {
        set_reason("CPython ", version,
                   ": this heapspan reads the frames of CPython 3.11 only (3.12 keeps the "
                   "thread state in a C thread-local, 3.13 publishes _Py_DebugOffsets; "
                   "neither is read yet)");
    } else {
        void *rt = lookup("_PyRuntime");
        void *ct = lookup("PyCode_Type");
        void *ut = lookup("PyUnicode_Type");
        void *bt = lookup("PyBytes_Type");
        uint32_t size = eval != NULL ? symbol_size(eval) : 0;
        reg = mmap(NULL, (size_t)REG_SLOTS * sizeof(*reg), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (reg == MAP_FAILED)
            reg = NULL;
        if (rt == NULL || ct == NULL || ut == NULL || bt == NULL || size == 0) {
            set_reason("CPython ", version,
                       ": its symbols (_PyRuntime, _PyEval_EvalFrameDefault and its size, "
                       "PyCode_Type) are not exported, as in a static build without "
                       "--export-dynamic");
        } else if (reg == NULL) {
            set_reason("out of memory for the code object table", 0, "");
        } else {
            runtime = (uint64_t)(uintptr_t)rt;
            code_type = (uint64_t)(uintptr_t)ct;
            unicode_type = (uint64_t)(uintptr_t)ut;
            bytes_type = (uint64_t)(uintptr_t)bt;
            __atomic_store_n(&py_eval_hi, (uint64_t)(uintptr_t)eval + size, __ATOMIC_RELEASE);
            __atomic_store_n(&py_eval_lo, (uint64_t)(uintptr_t)eval, __ATOMIC_RELEASE);
        }
    }
    __atomic_store_n(&detected, 1, __ATOMIC_RELEASE);
    say_python(version, py_eval_lo != 0);
}
