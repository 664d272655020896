/*
 * shim.c - the entry points libheapspan.so exports: every allocator function, C++
 * operators new and delete, jemalloc's non-standard API, and the process events the log
 * must survive (fork, exec, _exit, dlclose, fatal signals). Each allocation hook calls
 * the real function first and records after it returns; each release hook records
 * before the real call (style.md 5.8), so the log never shows an address reused before
 * its free. Recording never fails the caller: any trouble drops the event and counts it.
 *
 * Start-up runs in two phases. Phase A (the first hooked call, or the constructor if it
 * comes first) resolves the real functions, reads the settings and opens the log, so
 * allocations made by other libraries' constructors are seen. Phase B (our constructor)
 * does what is unsafe from inside an arbitrary malloc call: module scan, signal
 * handlers, fork handlers and the writer thread.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "preload/fdguard.h"
#include "preload/modmap.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/stacks.h"
#include "preload/tbuf.h"
#include "preload/writer.h"

#define EXPORT      __attribute__((visibility("default")))
#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Mean bytes between blocks whose zero bytes are counted, in full-trace mode: a few
 * thousand blocks per GiB allocated, enough for a per-site share, cheap enough to
 * leave on. */
#define ZERO_SAMPLE_BYTES (256 * 1024)

__thread int rt_in_shim __attribute__((tls_model("initial-exec")));
/* A fatal asynchronous signal that arrived while this thread was inside the shim:
 * acted on as the hook returns (flushing from inside the shim could deadlock). */
static __thread int pending_signal __attribute__((tls_model("initial-exec")));
/* Set by an operator new hook around the real operator new: the allocation inside it
 * (libstdc++'s malloc or aligned_alloc) is the same block, recorded once by the hook.
 * Cleared by the first allocation call it meets, even a failed one, so that the
 * exception object a failed new throws is recorded like any block - except in sampled
 * mode when that call takes its fast path, which looks at nothing but the countdown:
 * there the hook clears it when the real operator new returns or throws, and an
 * exception object allocated in between goes unrecorded and uncharged. */
static __thread int suppress_next __attribute__((tls_model("initial-exec")));
static __thread int in_new __attribute__((tls_model("initial-exec")));
/* Sampled mode's countdown: bytes this thread may still allocate before the next
 * sample point. The allocation hooks' fast paths test nothing else, so it is positive
 * only when a call may skip everything: in sampled mode, once the thread's first event
 * has drawn its first interval; 0 before that, and always in full-trace mode. */
static __thread int64_t sample_left __attribute__((tls_model("initial-exec")));

/* Each function the shim passes calls on to, once: its member of real, the symbol it is
 * looked up by, its type. real's members and resolve_real's dlsym calls are both made
 * from this list, in its order. calloc comes first: once it is known, the callocs dlsym
 * makes while the rest are resolved are served by the real calloc, not the arena. */
#define REAL_FUNCTIONS(X)                                                               \
    X(calloc, "calloc", void *, (size_t, size_t))                                       \
    X(malloc, "malloc", void *, (size_t))                                               \
    X(realloc, "realloc", void *, (void *, size_t))                                     \
    X(reallocarray, "reallocarray", void *, (void *, size_t, size_t))                   \
    X(free, "free", void, (void *))                                                     \
    X(posix_memalign, "posix_memalign", int, (void **, size_t, size_t))                 \
    X(aligned_alloc, "aligned_alloc", void *, (size_t, size_t))                         \
    X(memalign, "memalign", void *, (size_t, size_t))                                   \
    X(valloc, "valloc", void *, (size_t))                                               \
    X(pvalloc, "pvalloc", void *, (size_t))                                             \
    X(malloc_usable_size, "malloc_usable_size", size_t, (void *))                       \
    X(dlclose, "dlclose", int, (void *))                                                \
    X(sigaction, "sigaction", int, (int, const struct sigaction *, struct sigaction *)) \
    X(signal, "signal", sighandler_t, (int, sighandler_t))                              \
    X(execve, "execve", int, (const char *, char *const[], char *const[]))              \
    X(execv, "execv", int, (const char *, char *const[]))                               \
    X(execvp, "execvp", int, (const char *, char *const[]))                             \
    X(execvpe, "execvpe", int, (const char *, char *const[], char *const[]))            \
    X(fexecve, "fexecve", int, (int, char *const[], char *const[]))                     \
    X(exit_, "_exit", void, (int), __attribute__((noreturn)))                           \
    X(Exit_, "_Exit", void, (int), __attribute__((noreturn)))

#define REAL_MEMBER(name, symbol, ret, params, ...) ret(*name) params __VA_ARGS__;
static struct {
    REAL_FUNCTIONS(REAL_MEMBER)
} real;

static int real_state;       /* 0 unresolved, 1 resolving, 2 resolved */
static int started;          /* phase A: 0 not yet, 1 running or done */
static bool late_done;       /* phase B */
static bool recording;       /* the hot flag: events are recorded */
static uint64_t sample_mean; /* 0: every allocation */
static int max_depth;
static int my_pid;
static struct smp_set *sampled; /* sampled mode: the sampled live blocks */
/* Its filter, for the hooks' fast paths (kept current by the set as it grows). Until
 * there is a set, one that says "maybe" for every address, so that every call takes
 * the slow path. */
static const struct smp_filter *sampled_filter = &smp_all_maybe;

static inline const struct smp_filter *current_filter(void)
{
    return __atomic_load_n(&sampled_filter, __ATOMIC_ACQUIRE);
}
static struct smp_set *zero_set; /* full mode: blocks picked for zero counting */

/* For good: every free takes the slow path (see arena_alloc). */
static void unpin_filter(void)
{
    smp_unpublish(sampled);
    __atomic_store_n(&sampled_filter, &smp_all_maybe, __ATOMIC_RELEASE);
}

/* ---- bootstrap arena: dlsym() may calloc before the real allocator is known ---- */

#define ARENA_BYTES (128 * 1024)
static _Alignas(64) char arena[ARENA_BYTES];
static size_t arena_used;

static inline bool in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)arena < ARENA_BYTES; /* one compare */
}

/* Sampled mode's free hook trusts the filter alone, so arena blocks are pinned into
 * it (sampler.h) when the set is made. The lock orders that against a late arena
 * allocation: a thread that saw the real allocator unresolved while another resolved
 * it and started. That block cannot be pinned any more, and sampled mode falls back
 * to the slow path for every free. Signals are blocked while it is held, so that a
 * handler's allocation cannot spin on its own thread's lock. */
static bool arena_lock, arena_pinned;

static void arena_acquire(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
    while (__atomic_test_and_set(&arena_lock, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void arena_release(const sigset_t *old)
{
    __atomic_clear(&arena_lock, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void *arena_alloc(size_t size)
{
    size_t need = ((size + 15) & ~(size_t)15) + 16;
    void *p = NULL;
    sigset_t mask;

    arena_acquire(&mask);
    if (size <= ARENA_BYTES && arena_used + need <= ARENA_BYTES) {
        memcpy(arena + arena_used, &size, sizeof(size));
        p = arena + arena_used + 16; /* arena memory is static, hence zeroed: calloc-ready */
        arena_used += need;
    }
    bool late = p != NULL && arena_pinned;
    arena_release(&mask);
    if (UNLIKELY(late))
        unpin_filter();
    return p;
}

/* The arena's blocks, for pinning (under the arena lock): how many there are (any
 * number), at most cap of them in pins[]. */
static unsigned arena_blocks(uint64_t *pins, unsigned cap)
{
    unsigned n = 0;

    for (size_t at = 0; at < arena_used; n++) {
        size_t size;
        memcpy(&size, arena + at, sizeof(size));
        if (n < cap)
            pins[n] = (uint64_t)(uintptr_t)(arena + at + 16);
        at += ((size + 15) & ~(size_t)15) + 16;
    }
    return n;
}

static size_t arena_size(const void *p)
{
    size_t size;
    memcpy(&size, (const char *)p - 16, sizeof(size));
    return size;
}

/* The allocator is glibc's (not jemalloc, tcmalloc or glibc's debugging malloc): a
 * block's chunk size is then in the word before it. */
static bool glibc_heap;

/* Another allocator's usable size, out of line: the realloc fast path then needs no
 * frame for the glibc case. */
__attribute__((noinline, cold)) static size_t usable_size_other(void *p)
{
    return real.malloc_usable_size != NULL ? real.malloc_usable_size(p) : 0;
}

/* Usable bytes of a live block of the real allocator. glibc's malloc_usable_size also
 * checks that the block is in use by reading the next chunk's header - a cache miss
 * that cost 5% of a realloc-heavy program's time in sampled mode; the block is known
 * to be in use here, so its own header is enough (low bits: flags, bit 1 = mmapped,
 * whose header is 16 bytes, not 8). */
static inline size_t usable_size(void *p)
{
    if (glibc_heap) {
        size_t h;
        memcpy(&h, (const char *)p - sizeof(h), sizeof(h));
        return (h & ~(size_t)7) - ((h & 2) ? 16 : 8);
    }
    return usable_size_other(p);
}

static void resolve_real(void)
{
    int expect = 0;

    if (!__atomic_compare_exchange_n(&real_state, &expect, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return; /* resolved, or being resolved by this very call chain */
    rt_in_shim++;
#define RESOLVE(name, symbol, ...) *(void **)&real.name = dlsym(RTLD_NEXT, symbol);
    REAL_FUNCTIONS(RESOLVE)
#undef RESOLVE
    fdg_init();
    void *libc_malloc = dlsym(RTLD_NEXT, "__libc_malloc");
    glibc_heap = libc_malloc != NULL && (void *)real.malloc == libc_malloc;
    rt_in_shim--;
    __atomic_store_n(&real_state, 2, __ATOMIC_RELEASE);
}

static void start(void);

static inline void ensure_ready(void)
{
    if (UNLIKELY(real_state != 2))
        resolve_real();
    if (UNLIKELY(!started) && real_state == 2)
        start();
}

/* ---- recording ---- */

/* An event arriving while this thread is recording another one: a signal handler
 * that interrupted the shim. It cannot be recorded (the buffer is mid-record), so it
 * is counted, with an atomic add the interrupted code cannot tear. */
static void count_reentry(void)
{
    struct tb_thread *t = tb_current_thread;
    if (t != NULL && t->in_record)
        __atomic_add_fetch(&t->lost_async, 1, __ATOMIC_RELAXED);
}

/* in_record brackets rt_in_shim on both sides, so at every instant a signal handler's
 * event is either recorded normally (the flag is not yet, or no longer, set) or
 * counted. It is a depth: a handler that records between the two stores leaves it as
 * it found it. */
static inline struct tb_thread *enter(void)
{
    if (!recording)
        return NULL;
    if (UNLIKELY(rt_in_shim)) {
        count_reentry();
        return NULL;
    }
    struct tb_thread *t = tb_current_thread;
    if (LIKELY(t != NULL)) {
        t->in_record++;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        rt_in_shim = 1;
        return t;
    }
    rt_in_shim = 1;
    t = tb_self(); /* first event on this thread */
    if (UNLIKELY(t == NULL)) {
        rt_in_shim = 0;
        return NULL;
    }
    if (sample_mean != 0) /* the thread's first interval */
        sample_left = smp_draw(&t->rng, sample_mean);
    t->in_record++;
    return t;
}

static void deliver_pending_signal(void);

static inline void leave(struct tb_thread *t)
{
    rt_in_shim = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->in_record--;
    if (UNLIKELY(pending_signal))
        deliver_pending_signal();
}

/* The event's time, never before the thread's previous one (a migration between
 * cores whose counters differ by a few cycles must not make a negative delta). */
static inline uint64_t event_time(struct tb_thread *t, uint64_t now)
{
    return now < t->last_time ? t->last_time : now;
}

static inline bool has_lost(const struct tb_thread *t)
{
    return (t->lost | __atomic_load_n(&t->lost_async, __ATOMIC_RELAXED)) != 0;
}

static inline uint8_t *put_lost(struct tb_thread *t, uint8_t *w, uint64_t now)
{
    *w++ = LF_EV_LOST;
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_varint(w, t->lost + __atomic_exchange_n(&t->lost_async, 0, __ATOMIC_RELAXED));
    t->last_time = now;
    t->lost = 0;
    return w;
}

/* The tag for a record of type whose addresses are a (and b): wide if either needs it. */
static inline uint8_t *put_tag(uint8_t *w, int type, int fn, uint64_t a, uint64_t b, int *width)
{
    bool wide = UNLIKELY((a | b) >= LF_ADDR_LIMIT);
    *width = wide ? 8 : LF_ADDR_BYTES;
    *w++ = (uint8_t)(type | (wide ? LF_EV_WIDE : 0) | fn << 4);
    return w;
}

static inline uint8_t *put_zeros(struct tb_thread *t, uint8_t *w, uint64_t now, uint64_t addr,
                                 uint64_t size, uint64_t zeros)
{
    int width;
    w = put_tag(w, LF_EV_ZEROS, 0, addr, 0, &width);
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_addr(w, addr, width);
    w = lf_put_varint(w, size);
    w = lf_put_varint(w, zeros);
    t->last_time = now;
    return w;
}

static inline uint32_t capture(struct tb_thread *t)
{
    return st_capture_id(t, max_depth);
}

/* Sampled mode's common case: this allocation is not sampled. One TLS load and a
 * subtraction; the rest (and the clock) only for the allocation that crosses zero. The
 * comparison is unsigned, so that a size of 2^63 or more (a call that fails) is never
 * taken for a negative charge, and a call that crosses zero leaves the countdown as it
 * was: full-trace mode's 0 never moves. A signal handler's malloc that interrupts this
 * after the load can lose its bytes from the countdown: a sampling error of one
 * allocation, never a wrong record. */
static inline bool not_sampled(size_t size)
{
    uint64_t left = (uint64_t)sample_left;

    if (LIKELY(left > size)) {
        sample_left = (int64_t)(left - size);
        return true;
    }
    return false;
}

static void note_alloc_slow(int fn, void *p, size_t size);

/* Every allocation hook calls this with what the real call returned, NULL included. */
static inline void note_alloc(int fn, void *p, size_t size)
{
    if (UNLIKELY(suppress_next)) {
        suppress_next = 0;
        return;
    }
    if (UNLIKELY(p == NULL) || not_sampled(size))
        return;
    note_alloc_slow(fn, p, size);
}

static void note_alloc_slow(int fn, void *p, size_t size)
{
    uint64_t now = rt_ticks();
    struct tb_thread *t = enter();

    if (t == NULL)
        return;
    uint64_t addr = (uint64_t)(uintptr_t)p;
    if (sample_mean != 0) {
        if (!smp_take(&sample_left, &t->rng, sample_mean, size)) {
            leave(t);
            return;
        }
        smp_add(sampled, addr, size);
    } else if (smp_take(&t->zero_left, &t->rng, ZERO_SAMPLE_BYTES, size)) {
        smp_add(zero_set, addr, size);
    }
    uint32_t sid = capture(t);
    if (!tb_reserve(t)) {
        t->lost++;
        leave(t);
        return;
    }
    now = event_time(t, now);
    uint8_t *w = t->pos;
    if (UNLIKELY(has_lost(t)))
        w = put_lost(t, w, now);
    int width;
    w = put_tag(w, LF_EV_ALLOC, fn, addr, 0, &width);
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_addr(w, addr, width);
    w = lf_put_varint(w, size);
    w = lf_put_varint(w, sid);
    t->last_time = now;
    tb_commit(t, w);
    leave(t);
}

/* Whether the block at addr is one the log knows about (sampled mode), and - for a
 * block picked for zero counting - how many of its bytes are zero. */
static bool free_side(uint64_t addr, uint64_t *size, uint64_t *zeros)
{
    *zeros = UINT64_MAX;
    if (sample_mean != 0) {
        if (!smp_remove(sampled, addr, size))
            return false;
        *zeros = smp_count_zeros((const void *)(uintptr_t)addr, *size);
        return true;
    }
    if (smp_remove(zero_set, addr, size))
        *zeros = smp_count_zeros((const void *)(uintptr_t)addr, *size);
    return true;
}

static void note_free_slow(int fn, void *p);

static inline void note_free(int fn, void *p)
{
    /* Sampled mode: most blocks were never sampled, and one load says so. */
    if (sample_mean != 0 && !smp_filter_says_maybe(current_filter(), (uint64_t)(uintptr_t)p))
        return;
    note_free_slow(fn, p);
}

static void note_free_slow(int fn, void *p)
{
    struct tb_thread *t = enter();
    uint64_t size = 0, zeros;

    if (t == NULL)
        return;
    uint64_t addr = (uint64_t)(uintptr_t)p;
    if (!free_side(addr, &size, &zeros) || !tb_reserve(t)) {
        if (sample_mean == 0)
            t->lost++;
        leave(t);
        return;
    }
    uint64_t now = event_time(t, rt_ticks_before());
    uint8_t *w = t->pos;
    if (UNLIKELY(has_lost(t)))
        w = put_lost(t, w, now);
    if (zeros != UINT64_MAX)
        w = put_zeros(t, w, now, addr, size, zeros);
    int width;
    w = put_tag(w, LF_EV_FREE, fn, addr, 0, &width);
    w = lf_put_varint(w, now - t->last_time);
    w = lf_put_addr(w, addr, width);
    t->last_time = now;
    tb_commit(t, w);
    leave(t);
}

/* What a resize knows of the old block before the real call. */
struct resize_old {
    bool known;    /* the log knows the block (always, in full-trace mode) */
    bool picked;   /* full-trace mode: picked for zero counting */
    uint64_t size; /* sampled, or picked: its size */
};

/* Before a resize: the old block leaves the sampled set (or the set picked for zero
 * counting) now, before the real call can hand its address to another thread. It is
 * not counted: its contents live on in the new block, which takes its place in the
 * set and is counted when it is finally freed. */
static void resize_begin(void *old, struct resize_old *o)
{
    uint64_t addr = (uint64_t)(uintptr_t)old;

    *o = (struct resize_old){ 0 };
    if (!recording || rt_in_shim)
        return;
    rt_in_shim = 1;
    if (sample_mean != 0) {
        o->known = smp_remove(sampled, addr, &o->size);
    } else {
        o->known = true;
        o->picked = zero_set != NULL && smp_remove(zero_set, addr, &o->size);
    }
    rt_in_shim = 0;
}

/* A resize that did not happen: the old block is still live, and still in its set. */
static void resize_undo(void *old, const struct resize_old *o)
{
    uint64_t addr = (uint64_t)(uintptr_t)old;

    if (o->known && sample_mean != 0)
        smp_add(sampled, addr, o->size);
    else if (o->picked)
        smp_add(zero_set, addr, o->size);
}

/* After a resize that returned p (NULL: failed, or freed for size 0). */
static void resize_end(int fn, void *old, const struct resize_old *o, void *p, size_t size,
                       uint64_t growth, uint64_t t_before, bool freed_on_null)
{
    uint64_t now = rt_ticks();
    struct tb_thread *t = enter();

    if (t == NULL)
        return;
    uint64_t oaddr = (uint64_t)(uintptr_t)old, naddr = (uint64_t)(uintptr_t)p;
    if (p == NULL && !freed_on_null) {
        resize_undo(old, o); /* failed: the old block lives on */
        leave(t);
        return;
    }
    bool old_known = o->known, new_known = p != NULL;
    if (p != NULL && sample_mean != 0) {
        if (old_known)
            new_known = smp_keep_resized(&t->rng, sample_mean, o->size, size);
        else
            new_known = smp_take(&sample_left, &t->rng, sample_mean, growth);
        if (new_known)
            smp_add(sampled, naddr, size);
    } else if (p != NULL &&
               (o->picked || smp_take(&t->zero_left, &t->rng, ZERO_SAMPLE_BYTES, growth))) {
        smp_add(zero_set, naddr, size); /* picked as the allocation of its size would be */
    }
    if (!old_known && !new_known) {
        leave(t);
        return;
    }
    uint32_t sid = new_known ? capture(t) : 0;
    if (!tb_reserve(t)) {
        t->lost++;
        leave(t);
        return;
    }
    now = event_time(t, now);
    t_before = t_before < t->last_time ? t->last_time : t_before;
    uint8_t *w = t->pos;
    if (UNLIKELY(has_lost(t)))
        w = put_lost(t, w, t_before);
    int width;
    if (old_known && new_known) {
        w = put_tag(w, LF_EV_REALLOC, fn, oaddr, naddr, &width);
        w = lf_put_varint(w, now - t->last_time);
        w = lf_put_varint(w, now - t_before);
        w = lf_put_addr(w, oaddr, width);
        w = lf_put_addr(w, naddr, width);
        w = lf_put_varint(w, size);
        w = lf_put_varint(w, sid);
        t->last_time = now;
    } else if (old_known) {
        w = put_tag(w, LF_EV_FREE, fn, oaddr, 0, &width);
        w = lf_put_varint(w, t_before - t->last_time);
        w = lf_put_addr(w, oaddr, width);
        t->last_time = t_before;
    } else {
        w = put_tag(w, LF_EV_ALLOC, fn, naddr, 0, &width);
        w = lf_put_varint(w, now - t->last_time);
        w = lf_put_addr(w, naddr, width);
        w = lf_put_varint(w, size);
        w = lf_put_varint(w, sid);
        t->last_time = now;
    }
    tb_commit(t, w);
    leave(t);
}

/* ---- the C allocator ----
 *
 * Each hook is a fast path and a slow one. The fast path is sampled mode's common
 * case, a call that is not sampled: it decides before the real call and tail-calls the
 * real function, with no frame of its own (a bare malloc/free pair costs glibc about
 * 6 ns, and every instruction here shows). Anything else - full-trace mode, start-up,
 * a sampled call - goes to the slow path, a separate function, so that the fast one
 * saves no registers. The slow path is reached by a tail call too (or, if the compiler
 * declined one, from a frame with a frame pointer): either way the stack walk from it
 * meets the caller's return address. */

__attribute__((noinline)) static void *malloc_slow(size_t size)
{
    ensure_ready();
    if (UNLIKELY(real.malloc == NULL))
        return arena_alloc(size);
    void *p = real.malloc(size);
    note_alloc(LF_FN_MALLOC, p, size);
    return p;
}

EXPORT void *malloc(size_t size)
{
    if (LIKELY(not_sampled(size)))
        return real.malloc(size);
    return malloc_slow(size);
}

__attribute__((noinline)) static void *calloc_slow(size_t n, size_t size)
{
    ensure_ready();
    if (UNLIKELY(real.calloc == NULL)) {
        if (size != 0 && n > SIZE_MAX / size)
            return NULL;
        return arena_alloc(n * size);
    }
    void *p = real.calloc(n, size);
    note_alloc(LF_FN_CALLOC, p, n * size);
    return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
    size_t total;
    if (LIKELY(!__builtin_mul_overflow(n, size, &total) && not_sampled(total)))
        return real.calloc(n, size);
    return calloc_slow(n, size);
}

/* Whether a block is certainly not sampled: the fast paths' question, false for every
 * block until there is a sampled set (sampled_filter). Blocks of the bootstrap arena,
 * never the real allocator's to free, are pinned into the filter: it says "maybe" for
 * them, and the slow paths know them. */
static inline bool surely_unsampled(void *p)
{
    return !smp_summary_says_maybe(current_filter(), (uint64_t)(uintptr_t)p);
}

__attribute__((noinline)) static void free_slow(void *p)
{
    if (p == NULL || in_arena(p))
        return;
    ensure_ready();
    if (recording)
        note_free(LF_FN_FREE, p);
    real.free(p);
}

EXPORT void free(void *p)
{
    if (LIKELY(surely_unsampled(p))) {
        real.free(p);
        return;
    }
    free_slow(p);
}

/* Sampled mode: what a resize to size bytes of a block with usable bytes charges to the
 * sample countdown (sampler.h says why only growth counts). */
static inline uint64_t growth_beyond(size_t usable, size_t size)
{
    return size > usable ? size - usable : 0;
}

static inline uint64_t resize_growth(void *old, size_t size)
{
    return growth_beyond(usable_size(old), size);
}

static void *resize(int fn, void *old, size_t size, void *(*call)(void *, size_t, size_t), size_t a,
                    size_t b)
{
    if (old == NULL) {
        void *p = call(NULL, a, b);
        note_alloc(fn, p, size);
        return p;
    }
    /* Only the bytes a block grows by count toward the next sample point, or in
     * full-trace mode toward the next block picked for zero counting (sampler.h says
     * why). Sampled mode's common case: the old block is not sampled and its growth
     * does not reach the next sample point. */
    uint64_t growth = size != 0 ? resize_growth(old, size) : 0;
    if (sample_mean != 0 && size != 0 &&
        !smp_filter_says_maybe(current_filter(), (uint64_t)(uintptr_t)old) && not_sampled(growth))
        return call(old, a, b);
    struct resize_old o;
    uint64_t t_before = rt_ticks_before();
    resize_begin(old, &o);
    void *p = call(old, a, b);
    /* realloc(p, 0) returning NULL freed p (glibc); jemalloc returns a block instead. */
    resize_end(fn, old, &o, p, size, growth, t_before, size == 0);
    return p;
}

static void *call_realloc(void *old, size_t size, size_t unused)
{
    (void)unused;
    return real.realloc(old, size);
}

static void leave_guard(int *unused);

/* glibc's reallocarray calls realloc through the PLT, that is our realloc: the guard
 * keeps it from being recorded twice. */
static void *call_reallocarray(void *old, size_t n, size_t size)
{
    void *p;
    int guard_ __attribute__((cleanup(leave_guard))) = (rt_in_shim++, 0);
    (void)guard_;
    p = real.reallocarray(old, n, size);
    return p;
}

__attribute__((noinline)) static void *realloc_slow(void *old, size_t size)
{
    ensure_ready();
    if (UNLIKELY(in_arena(old) || real.realloc == NULL)) {
        void *p = malloc(size);
        if (p != NULL && old != NULL) {
            size_t n = in_arena(old) ? arena_size(old) : 0;
            memcpy(p, old, n < size ? n : size);
        }
        return p;
    }
    if (!recording || rt_in_shim)
        return real.realloc(old, size);
    return resize(LF_FN_REALLOC, old, size, call_realloc, size, 0);
}

EXPORT void *realloc(void *old, size_t size)
{
    /* The fast path: an unsampled block whose growth does not reach the next sample
     * point (sampler.h says why only growth counts). */
    if (LIKELY(old != NULL && size != 0 && surely_unsampled(old)) &&
        not_sampled(resize_growth(old, size)))
        return real.realloc(old, size);
    return realloc_slow(old, size);
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    ensure_ready();
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    if (UNLIKELY(in_arena(old) || real.reallocarray == NULL))
        return realloc(old, n * size);
    if (!recording || rt_in_shim)
        return real.reallocarray(old, n, size);
    return resize(LF_FN_REALLOCARRAY, old, n * size, call_reallocarray, n, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    ensure_ready();
    if (UNLIKELY(real.posix_memalign == NULL))
        return ENOMEM;
    int r = real.posix_memalign(out, align, size);
    note_alloc(LF_FN_POSIX_MEMALIGN, r == 0 ? *out : NULL, size);
    return r;
}

#define ALIGNED_HOOK(name, fn_id, params, args, size_expr) \
    EXPORT void *name params                               \
    {                                                      \
        ensure_ready();                                    \
        if (UNLIKELY(real.name == NULL)) {                 \
            errno = ENOMEM;                                \
            return NULL;                                   \
        }                                                  \
        void *p = real.name args;                          \
        note_alloc(fn_id, p, size_expr);                   \
        return p;                                          \
    }

ALIGNED_HOOK(aligned_alloc, LF_FN_ALIGNED_ALLOC, (size_t align, size_t size), (align, size), size)
ALIGNED_HOOK(memalign, LF_FN_MEMALIGN, (size_t align, size_t size), (align, size), size)
ALIGNED_HOOK(valloc, LF_FN_VALLOC, (size_t size), (size), size)
ALIGNED_HOOK(pvalloc, LF_FN_PVALLOC, (size_t size), (size), size)

EXPORT size_t malloc_usable_size(void *p)
{
    if (p == NULL)
        return 0;
    if (in_arena(p))
        return arena_size(p);
    ensure_ready();
    return real.malloc_usable_size != NULL ? real.malloc_usable_size(p) : 0;
}

/* ---- C++ operators and jemalloc's API: resolved on first use ----
 * libstdc++ or jemalloc may arrive later by dlopen, so these are looked up when first
 * called rather than at start. */

static void *next_symbol(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

    if (LIKELY(f != NULL))
        return f;
    rt_in_shim++;
    f = dlsym(RTLD_NEXT, name);
    rt_in_shim--;
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

#define NEXT(type, name) ((type)next_symbol(&next_##name, #name))

static void leave_guard(int *unused)
{
    (void)unused;
    rt_in_shim--;
}

/* The real operator new may throw; the cleanup runs as the exception passes (the shim
 * is built with -fexceptions), so the recursion flag is never left set. While it is
 * set, the libstdc++ new's own malloc call is not recorded a second time. */
#define CALL_GUARDED(expr)                                                    \
    do {                                                                      \
        int guard_ __attribute__((cleanup(leave_guard))) = (rt_in_shim++, 0); \
        (void)guard_;                                                         \
        expr;                                                                 \
    } while (0)

static void *new_fallback(size_t size)
{
    /* Only reachable if nothing after us defines operator new, which a program calling
     * it cannot be: keep the host alive all the same. */
    return real.malloc != NULL ? real.malloc(size ? size : 1) : arena_alloc(size);
}

/* The allocation inside the real operator new may have charged the sample countdown
 * on its fast path (without seeing suppress_next): the countdown goes back to what it
 * was, and the hook charges the block once, as new. */
static void new_leave(int64_t *saved_left)
{
    in_new = 0;
    suppress_next = 0;
    sample_left = *saved_left;
}

/* libstdc++'s nothrow new calls the throwing one: only the outermost hook records. */
#define NEW_HOOK(sym, fn_id, params, args, size_arg)                               \
    static void *next_##sym;                                                       \
    EXPORT void *sym params;                                                       \
    EXPORT void *sym params                                                        \
    {                                                                              \
        void *p;                                                                   \
        void *(*f)params = NEXT(void *(*)params, sym);                             \
        ensure_ready();                                                            \
        if (UNLIKELY(f == NULL))                                                   \
            return new_fallback(size_arg);                                         \
        if (!recording || rt_in_shim || in_new)                                    \
            return f args;                                                         \
        {                                                                          \
            int64_t saved_left_ __attribute__((cleanup(new_leave))) = sample_left; \
            in_new = 1;                                                            \
            suppress_next = 1;                                                     \
            p = f args;                                                            \
        }                                                                          \
        note_alloc(fn_id, p, size_arg);                                            \
        return p;                                                                  \
    }

#define DELETE_HOOK(sym, fn_id, params, args)        \
    static void *next_##sym;                         \
    EXPORT void sym params;                          \
    EXPORT void sym params                           \
    {                                                \
        void(*f) params = NEXT(void(*) params, sym); \
        if (p == NULL || in_arena(p))                \
            return;                                  \
        ensure_ready();                              \
        if (recording && !rt_in_shim)                \
            note_free(fn_id, p);                     \
        if (UNLIKELY(f == NULL)) {                   \
            real.free(p);                            \
            return;                                  \
        }                                            \
        CALL_GUARDED(f args);                        \
    }

/* The nothrow and align_val_t arguments are passed through untouched; align_val_t is
 * an enum class over size_t, passed as one. */
struct nothrow_t;
NEW_HOOK(_Znwm, LF_FN_NEW, (size_t size), (size), size)
NEW_HOOK(_Znam, LF_FN_NEW_ARRAY, (size_t size), (size), size)
NEW_HOOK(_ZnwmRKSt9nothrow_t, LF_FN_NEW, (size_t size, const struct nothrow_t *nt), (size, nt),
         size)
NEW_HOOK(_ZnamRKSt9nothrow_t, LF_FN_NEW_ARRAY, (size_t size, const struct nothrow_t *nt),
         (size, nt), size)
NEW_HOOK(_ZnwmSt11align_val_t, LF_FN_NEW, (size_t size, size_t al), (size, al), size)
NEW_HOOK(_ZnamSt11align_val_t, LF_FN_NEW_ARRAY, (size_t size, size_t al), (size, al), size)
NEW_HOOK(_ZnwmSt11align_val_tRKSt9nothrow_t, LF_FN_NEW,
         (size_t size, size_t al, const struct nothrow_t *nt), (size, al, nt), size)
NEW_HOOK(_ZnamSt11align_val_tRKSt9nothrow_t, LF_FN_NEW_ARRAY,
         (size_t size, size_t al, const struct nothrow_t *nt), (size, al, nt), size)

DELETE_HOOK(_ZdlPv, LF_FN_NEW, (void *p), (p))
DELETE_HOOK(_ZdaPv, LF_FN_NEW_ARRAY, (void *p), (p))
DELETE_HOOK(_ZdlPvm, LF_FN_NEW, (void *p, size_t n), (p, n))
DELETE_HOOK(_ZdaPvm, LF_FN_NEW_ARRAY, (void *p, size_t n), (p, n))
DELETE_HOOK(_ZdlPvRKSt9nothrow_t, LF_FN_NEW, (void *p, const struct nothrow_t *nt), (p, nt))
DELETE_HOOK(_ZdaPvRKSt9nothrow_t, LF_FN_NEW_ARRAY, (void *p, const struct nothrow_t *nt), (p, nt))
DELETE_HOOK(_ZdlPvSt11align_val_t, LF_FN_NEW, (void *p, size_t al), (p, al))
DELETE_HOOK(_ZdaPvSt11align_val_t, LF_FN_NEW_ARRAY, (void *p, size_t al), (p, al))
DELETE_HOOK(_ZdlPvmSt11align_val_t, LF_FN_NEW, (void *p, size_t n, size_t al), (p, n, al))
DELETE_HOOK(_ZdaPvmSt11align_val_t, LF_FN_NEW_ARRAY, (void *p, size_t n, size_t al), (p, n, al))
DELETE_HOOK(_ZdlPvSt11align_val_tRKSt9nothrow_t, LF_FN_NEW,
            (void *p, size_t al, const struct nothrow_t *nt), (p, al, nt))
DELETE_HOOK(_ZdaPvSt11align_val_tRKSt9nothrow_t, LF_FN_NEW_ARRAY,
            (void *p, size_t al, const struct nothrow_t *nt), (p, al, nt))

/* jemalloc. Without jemalloc in the process these behave like it on top of libc, so a
 * library that probes for mallocx by weak symbol still works (and jemalloc's mallctl,
 * which we do not export, tells such probes that jemalloc is absent). */
#define JE_LG_ALIGN(flags) ((flags)&0x3f)
#define JE_ZERO            0x40

/* jemalloc's declarations (we do not include its header: it may be absent). */
EXPORT void *mallocx(size_t size, int flags);
EXPORT void *rallocx(void *ptr, size_t size, int flags);
EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
EXPORT size_t sallocx(const void *ptr, int flags);
EXPORT size_t nallocx(size_t size, int flags);
EXPORT void dallocx(void *ptr, int flags);
EXPORT void sdallocx(void *ptr, size_t size, int flags);

static void *next_mallocx, *next_rallocx, *next_xallocx, *next_sallocx, *next_dallocx,
    *next_sdallocx, *next_nallocx;

static void *je_emulate_alloc(size_t size, int flags)
{
    size_t align = JE_LG_ALIGN(flags) ? (size_t)1 << JE_LG_ALIGN(flags) : 0;
    void *p = NULL;

    if (align > sizeof(void *)) {
        if (real.posix_memalign(&p, align, size) != 0)
            return NULL;
        if (flags & JE_ZERO)
            memset(p, 0, size);
        return p;
    }
    return (flags & JE_ZERO) ? real.calloc(1, size) : real.malloc(size);
}

EXPORT void *mallocx(size_t size, int flags)
{
    void *(*f)(size_t, int) = NEXT(void *(*)(size_t, int), mallocx);
    ensure_ready();
    void *p;
    if (f == NULL)
        p = je_emulate_alloc(size, flags);
    else if (!recording || rt_in_shim)
        return f(size, flags);
    else
        CALL_GUARDED(p = f(size, flags));
    note_alloc(LF_FN_MALLOCX, p, size);
    return p;
}

EXPORT void *rallocx(void *ptr, size_t size, int flags)
{
    void *(*f)(void *, size_t, int) = NEXT(void *(*)(void *, size_t, int), rallocx);
    ensure_ready();
    if (!recording || rt_in_shim)
        return f != NULL ? f(ptr, size, flags) : real.realloc(ptr, size ? size : 1);
    uint64_t growth = resize_growth(ptr, size);
    struct resize_old o;
    uint64_t t_before = rt_ticks_before();
    resize_begin(ptr, &o);
    void *p;
    if (f == NULL)
        p = real.realloc(ptr, size ? size : 1);
    else
        CALL_GUARDED(p = f(ptr, size, flags));
    resize_end(LF_FN_RALLOCX, ptr, &o, p, size, growth, t_before, false);
    return p;
}

EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags)
{
    size_t (*f)(void *, size_t, size_t, int) =
        NEXT(size_t(*)(void *, size_t, size_t, int), xallocx);
    ensure_ready();
    if (f == NULL)
        return real.malloc_usable_size(ptr); /* libc cannot resize in place */
    if (!recording || rt_in_shim)
        return f(ptr, size, extra, flags);
    size_t usable = usable_size(ptr);
    struct resize_old o;
    uint64_t t_before = rt_ticks_before();
    resize_begin(ptr, &o);
    size_t got;
    CALL_GUARDED(got = f(ptr, size, extra, flags));
    if (got < size) {
        /* Not resized: the block is as it was. */
        rt_in_shim++;
        resize_undo(ptr, &o);
        rt_in_shim--;
        return got;
    }
    /* Resized in place; the block now holds what was asked for, up to size + extra. */
    size_t now_size = got < size + extra ? got : size + extra;
    resize_end(LF_FN_XALLOCX, ptr, &o, ptr, now_size, growth_beyond(usable, now_size), t_before,
               false);
    return got;
}

EXPORT size_t sallocx(const void *ptr, int flags)
{
    size_t (*f)(const void *, int) = NEXT(size_t(*)(const void *, int), sallocx);
    ensure_ready();
    return f != NULL ? f(ptr, flags) : real.malloc_usable_size((void *)ptr);
}

EXPORT size_t nallocx(size_t size, int flags)
{
    size_t (*f)(size_t, int) = NEXT(size_t(*)(size_t, int), nallocx);
    (void)flags;
    return f != NULL ? f(size, flags) : (size + 15) & ~(size_t)15;
}

EXPORT void dallocx(void *ptr, int flags)
{
    void (*f)(void *, int) = NEXT(void (*)(void *, int), dallocx);
    ensure_ready();
    if (recording && !rt_in_shim)
        note_free(LF_FN_MALLOCX, ptr);
    if (f == NULL)
        real.free(ptr);
    else
        CALL_GUARDED(f(ptr, flags));
}

EXPORT void sdallocx(void *ptr, size_t size, int flags)
{
    void (*f)(void *, size_t, int) = NEXT(void (*)(void *, size_t, int), sdallocx);
    ensure_ready();
    if (recording && !rt_in_shim)
        note_free(LF_FN_MALLOCX, ptr);
    if (f == NULL)
        real.free(ptr);
    else
        CALL_GUARDED(f(ptr, size, flags));
}

/* ---- zero-byte counts of blocks still live ---- */

struct zero_scan {
    struct tb_thread *t;
};

/* A live block is cut into spans, and as at a free the first SMP_ZERO_PREFIX bytes of
 * each span stand for the span - so that a buffer filled only at its start is not taken
 * for all data. Spans are 64 KiB, or for a block over 4 MiB a 64th of it: a huge block
 * costs 64 reads of 4 KiB at exit, where reading all of it would copy gigabytes (and
 * fault in pages the program never touched) in a service with a large heap. */
#define LIVE_SPAN_MIN  (64 * 1024)
#define LIVE_SPANS_MAX 64

/* Reads through process_vm_readv, which fails with EFAULT instead of crashing if
 * another thread frees (and unmaps) the block meanwhile. */
static void count_live_block(uint64_t addr, uint64_t size, void *arg)
{
    struct zero_scan *z = arg;
    static uint8_t buf[SMP_ZERO_PREFIX];
    uint64_t span = (size + LIVE_SPANS_MAX - 1) / LIVE_SPANS_MAX, zeros = 0;

    if (span < LIVE_SPAN_MIN)
        span = LIVE_SPAN_MIN;
    for (uint64_t at = 0; at < size; at += span) {
        uint64_t n = size - at < span ? size - at : span;
        uint64_t read = n < sizeof(buf) ? n : sizeof(buf);
        struct iovec local = { buf, read }, remote = { (void *)(uintptr_t)(addr + at), read };
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)read)
            return;
        zeros += smp_count_zeros(buf, n); /* reads the first `read` bytes only */
    }
    if (!tb_reserve(z->t))
        return;
    uint64_t now = event_time(z->t, rt_ticks());
    tb_commit(z->t, put_zeros(z->t, z->t->pos, now, addr, size, zeros));
}

/* At exit: the blocks picked for zero counting that were never freed. */
static void count_live_zeros(void)
{
    struct tb_thread *t;
    struct smp_set *set = sample_mean != 0 ? sampled : zero_set;

    if (set == NULL || (t = tb_self()) == NULL)
        return;
    struct zero_scan z = { t };
    smp_each(set, count_live_block, &z);
}

/* ---- process events ---- */

static void finish(int reason)
{
    if (getpid() != my_pid)
        return; /* a vfork child sharing our memory */
    bool interrupted = rt_in_shim != 0;
    if (!__atomic_exchange_n(&recording, false, __ATOMIC_ACQ_REL))
        return; /* not recording, or another thread is finishing */
    rt_in_shim++;
    if (interrupted) {
        /* _exit from a signal handler that interrupted the shim: this thread's buffer
         * may be mid-record and our locks held by the code it interrupted, so only the
         * bounded flush of committed records. */
        wr_emergency(reason);
    } else {
        /* A library loaded since the writer's last look (it looks every 100 ms, or
         * when a thread has filled 1 MiB) still belongs in the module map. */
        mm_scan(false);
        count_live_zeros();
        wr_finish(reason);
    }
    rt_in_shim--;
}

__attribute__((destructor)) static void shim_fini(void)
{
    finish(LF_END_EXIT);
}

EXPORT void _exit(int status)
{
    ensure_ready();
    finish(LF_END_UNDERSCORE_EXIT);
    real.exit_(status);
}

EXPORT void _Exit(int status)
{
    ensure_ready();
    finish(LF_END_UNDERSCORE_EXIT);
    real.Exit_(status);
}

EXPORT int dlclose(void *handle)
{
    ensure_ready();
    bool rec = recording && !rt_in_shim;
    if (rec) {
        rt_in_shim++;
        mm_scan(false); /* catch what was loaded since the writer's last look */
        rt_in_shim--;
    }
    int r = real.dlclose(handle);
    if (rec) {
        rt_in_shim++;
        mm_scan(false);
        st_flush_unwind_cache();
        rt_in_shim--;
    }
    return r;
}

/* exec: flush what this image recorded and mark the log; the new image loads the shim
 * again (LD_PRELOAD is inherited) and starts its own log. The configured name goes to
 * the newest image: this image's log is renamed to NAME.execN.hsl first, and back if
 * the exec fails. A vfork child (another pid in our memory) touches nothing. */
struct exec_state {
    bool renamed;
    char old_path[4096];
};

static void exec_begin(struct exec_state *s)
{
    s->renamed = false;
    if (!recording || rt_in_shim || getpid() != my_pid)
        return;
    rt_in_shim++;
    mm_scan(false);
    wr_marker(LF_MARKER_EXEC);
    wr_flush();
    if (rt_cfg.follow_children) {
        const char *cur = wr_path();
        size_t n = strlen(cur);
        if (n < sizeof(s->old_path) - 32) {
            char to[4096];
            memcpy(s->old_path, cur, n + 1);
            const char *ext = n > 4 && !strcmp(cur + n - 4, ".hsl") ? cur + n - 4 : cur + n;
            for (int k = 1; k < 100 && !s->renamed; k++) {
                char *p = to;
                memcpy(p, cur, (size_t)(ext - cur));
                p += ext - cur;
                p = rt_fmt_str(p, to + sizeof(to) - 8, ".exec");
                p = rt_fmt_u64(p, (uint64_t)k);
                p = rt_fmt_str(p, to + sizeof(to) - 1, ext);
                *p = '\0';
                if (access(to, F_OK) != 0)
                    s->renamed = wr_rename(to) == 0;
            }
        }
    }
    rt_in_shim--;
}

static void exec_failed(struct exec_state *s)
{
    int saved = errno;

    if (s->renamed) {
        rt_in_shim++;
        (void)wr_rename(s->old_path);
        wr_note(1, "exec failed; this image goes on recording");
        rt_in_shim--;
    }
    errno = saved;
}

/* The array forms: the real call between exec_begin and exec_failed (it returns only
 * if the exec failed). */
#define EXEC_HOOK(name, params, args) \
    EXPORT int name params            \
    {                                 \
        struct exec_state s;          \
        ensure_ready();               \
        exec_begin(&s);               \
        int r = real.name args;       \
        exec_failed(&s);              \
        return r;                     \
    }

EXEC_HOOK(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp))
EXEC_HOOK(execv, (const char *path, char *const argv[]), (path, argv))
EXEC_HOOK(execvp, (const char *file, char *const argv[]), (file, argv))
EXEC_HOOK(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))
EXEC_HOOK(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))

/* The execl family collects its arguments into an array and calls the array form. */
#define MAX_EXECL_ARGS 4096
#define COLLECT_ARGS(first, argv, ap)    \
    size_t n_ = 1;                       \
    argv[0] = (char *)(first);           \
    while (argv[n_ - 1] != NULL) {       \
        if (n_ == MAX_EXECL_ARGS) {      \
            errno = E2BIG;               \
            va_end(ap);                  \
            return -1;                   \
        }                                \
        argv[n_++] = va_arg(ap, char *); \
    }

EXPORT int execl(const char *path, const char *arg, ...)
{
    char *argv[MAX_EXECL_ARGS];
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, argv, ap);
    va_end(ap);
    return execve(path, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char *argv[MAX_EXECL_ARGS];
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, argv, ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    char *argv[MAX_EXECL_ARGS];
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, argv, ap);
    va_end(ap);
    return execvp(file, argv);
}

/* ---- signals ----
 * The shim installs handlers only where the disposition is the default: the marker
 * signal, and the fatal signals (to flush before dying). A handler the program
 * installs later replaces ours, and the program is told the old disposition was the
 * default, as it would have been without us. */

static const int fatal_signals[] = { SIGSEGV, SIGBUS,  SIGILL,  SIGFPE,  SIGABRT, SIGTERM, SIGINT,
                                     SIGHUP,  SIGQUIT, SIGXCPU, SIGXFSZ, SIGSYS,  SIGPIPE };
static bool owned[_NSIG];

static bool is_async_signal(int sig)
{
    return sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGSYS;
}

static void give_back(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    real.sigaction(sig, &dfl, NULL);
    owned[sig] = false;
}

static void flush_for_signal(void)
{
    if (!recording || getpid() != my_pid)
        return;
    recording = false;
    rt_in_shim++;
    wr_emergency(LF_END_SIGNAL);
    rt_in_shim--;
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    (void)uc;

    if (rt_in_shim && is_async_signal(sig) && recording && pending_signal != sig) {
        pending_signal = sig; /* acted on as the interrupted hook returns */
        errno = saved;
        return;
    }
    /* The same signal again while the first waits: the hook is not returning (a
     * bug of ours must never make a process unkillable by SIGTERM or ^C). */
    if (!rt_in_shim)
        flush_for_signal();
    give_back(sig);
    /* A fault re-executes the faulting instruction and dies of it with SIG_DFL; a sent
     * signal must be sent again (it is blocked until we return). */
    if (!is_async_signal(sig) && si != NULL && si->si_code > 0)
        return;
    raise(sig);
    errno = saved;
}

static void deliver_pending_signal(void)
{
    int sig = pending_signal;
    pending_signal = 0;
    flush_for_signal();
    give_back(sig);
    raise(sig);
}

static void on_marker(int sig)
{
    int saved = errno;
    (void)sig;
    wr_request_marker();
    errno = saved;
}

static void install(int sig, void (*handler)(int, siginfo_t *, void *), void (*simple)(int))
{
    struct sigaction cur, act;

    if (real.sigaction(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL ||
        (cur.sa_flags & SA_SIGINFO))
        return;
    memset(&act, 0, sizeof(act));
    sigemptyset(&act.sa_mask);
    if (handler != NULL) {
        act.sa_sigaction = handler;
        act.sa_flags = SA_SIGINFO | SA_RESTART;
    } else {
        act.sa_handler = simple;
        act.sa_flags = SA_RESTART;
    }
    if (real.sigaction(sig, &act, NULL) == 0)
        owned[sig] = true;
}

static void install_signal_handlers(void)
{
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
        int sig = fatal_signals[i];
        if (sig == SIGPIPE)
            continue; /* listed for the program's view only: default stays default */
        if (sig != rt_cfg.marker_signal)
            install(sig, on_fatal, NULL);
    }
    if (rt_cfg.marker_signal > 0 && rt_cfg.marker_signal < _NSIG)
        install(rt_cfg.marker_signal, NULL, on_marker);
}

static void program_took(int sig)
{
    owned[sig] = false;
    if (sig == rt_cfg.marker_signal && recording) {
        rt_in_shim++;
        wr_note(1, "the program installed its own handler for the marker signal; "
                   "snapshot markers by signal are off for this run");
        rt_in_shim--;
    }
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    ensure_ready();
    if (sig <= 0 || sig >= _NSIG || !owned[sig])
        return real.sigaction(sig, act, old);
    if (act == NULL) {
        if (old != NULL) {
            memset(old, 0, sizeof(*old));
            old->sa_handler = SIG_DFL;
        }
        return 0;
    }
    int r = real.sigaction(sig, act, NULL);
    if (r == 0) {
        program_took(sig);
        if (old != NULL) {
            memset(old, 0, sizeof(*old));
            old->sa_handler = SIG_DFL;
        }
    }
    return r;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    ensure_ready();
    if (sig <= 0 || sig >= _NSIG || !owned[sig])
        return real.signal(sig, handler);
    sighandler_t r = real.signal(sig, handler);
    if (r == SIG_ERR)
        return r;
    program_took(sig);
    return SIG_DFL;
}

/* ---- fork ---- */

static void fork_prepare(void)
{
    rt_in_shim++;
    st_fork_quiesce();
    mm_fork_prepare();
    wr_fork_prepare();
    tb_fork_prepare();
    st_fork_prepare();
    if (sampled != NULL)
        smp_fork_prepare(sampled);
    if (zero_set != NULL)
        smp_fork_prepare(zero_set);
}

static void fork_parent(void)
{
    if (zero_set != NULL)
        smp_fork_parent(zero_set);
    if (sampled != NULL)
        smp_fork_parent(sampled);
    st_fork_parent();
    tb_fork_parent();
    wr_fork_parent();
    mm_fork_parent();
    rt_in_shim--;
}

static void fork_child(void)
{
    int parent = my_pid;

    my_pid = getpid();
    if (zero_set != NULL)
        smp_fork_child(zero_set);
    if (sampled != NULL)
        smp_fork_child(sampled);
    st_fork_child();
    tb_fork_child();
    mm_fork_child();
    if (!rt_cfg.follow_children || !recording) {
        recording = false;
        wr_fork_parent(); /* unlock; the inherited log is never written here */
        rt_in_shim--;
        return;
    }
    if (wr_fork_child(parent) < 0) {
        recording = false;
    } else {
        mm_scan(true);
    }
    rt_in_shim--;
}

/* ---- start-up ---- */

static void on_writer_stop(void)
{
    recording = false;
}

static void on_writer_tick(void)
{
    mm_scan(false);
}

/* The program's last thread has exited (writer.h): glibc ends a process whose last
 * thread leaves by pthread_exit with exit(0), atexit handlers and all, and so does this,
 * from the writer thread. From here on it is the program's last thread: what the exit
 * handlers allocate and free is recorded, and the final flush is the normal one (it
 * cycles no more, so nothing waits for it). Its signals stay blocked: the program is
 * gone, and a signal sent now is one it would never have seen. */
static void on_program_gone(void)
{
    rt_in_shim = 0;
    exit(0);
}

static void start(void)
{
    int expect = 0;
    uint64_t lo, hi;

    if (environ == NULL)
        return; /* libc not initialised yet: its settings are unreadable; next call */
    if (!__atomic_compare_exchange_n(&started, &expect, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    rt_in_shim++;
    rt_config_load();
    rt_clock_init();
    my_pid = getpid();
    sample_mean = rt_cfg.sample_bytes > 1 ? rt_cfg.sample_bytes : 0;
    max_depth = rt_cfg.max_depth;
    wr_on_stop = on_writer_stop;
    wr_on_tick = on_writer_tick;
    wr_on_program_gone = on_program_gone;
    tb_on_buffer_full = wr_wake;
    if (tb_init() < 0 || st_init() < 0) {
        rt_say("cannot set up (out of memory); not recording", NULL);
        goto out;
    }
    if (mm_range_of((const void *)(uintptr_t)&start, &lo, &hi))
        st_set_self_range(lo, hi);
    if (sample_mean != 0) {
        uint64_t pins[SMP_MAX_PINS];
        sigset_t mask;
        arena_acquire(&mask); /* a new arena block from now on unpins (arena_alloc) */
        sampled = smp_set_new(&sampled_filter, pins, arena_blocks(pins, SMP_MAX_PINS));
        arena_pinned = sampled != NULL;
        arena_release(&mask);
    } else {
        zero_set = smp_set_new(NULL, NULL, 0);
    }
    if ((sample_mean != 0 && sampled == NULL) || (sample_mean == 0 && zero_set == NULL))
        goto out;
    if (wr_open(getppid()) < 0)
        goto out;
    recording = true;
out:
    rt_in_shim--;
}

/* LD_PRELOAD without the shim, for --no-follow-children: edited in place (no
 * allocation), so children the program execs run without it. */
static void drop_self_from_preload(void)
{
    Dl_info info;
    char *env = getenv("LD_PRELOAD");

    if (env == NULL || !dladdr((void *)(uintptr_t)&drop_self_from_preload, &info) ||
        info.dli_fname == NULL)
        return;
    const char *self = strrchr(info.dli_fname, '/');
    self = self != NULL ? self + 1 : info.dli_fname;
    char *out = env;
    for (char *p = env; *p != '\0';) {
        while (*p == ' ' || *p == ':')
            p++;
        char *tok = p;
        while (*p != '\0' && *p != ' ' && *p != ':')
            p++;
        size_t len = (size_t)(p - tok);
        const char *base = tok;
        for (char *q = tok; q < p; q++)
            if (*q == '/')
                base = q + 1;
        if (len == 0 ||
            ((size_t)(p - base) == strlen(self) && !memcmp(base, self, (size_t)(p - base))))
            continue;
        if (out != env)
            *out++ = ':';
        memmove(out, tok, len);
        out += len;
    }
    *out = '\0';
}

__attribute__((constructor)) static void shim_init(void)
{
    ensure_ready();
    if (late_done || !recording)
        return;
    late_done = true;
    rt_in_shim++;
    mm_scan(true);
    install_signal_handlers();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (rt_cfg.root_pid == 0) {
        char pid[24];
        *rt_fmt_u64(pid, (uint64_t)my_pid) = '\0';
        setenv(HS_ENV_ROOT_PID, pid, 0);
    }
    if (!rt_cfg.follow_children)
        drop_self_from_preload();
    wr_start();
    rt_in_shim--;
}
