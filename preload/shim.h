/*
 * shim.h - what the shim's entry-point files (shim_*.c) share: the real functions the
 * hooks pass calls on to, the state start-up sets and every hook reads, and the fast
 * paths of recording, inline so that a hook's fast path makes no call (shim_libc.c says
 * why every instruction there counts). Nothing here is exported: everything between the
 * visibility pragmas is hidden, and the only names libheapspan.so exports are the hooks,
 * marked SHIM_EXPORT.
 *
 * The hooks are libheapspan.so's entry points: every allocator function, C++ operators
 * new and delete, jemalloc's non-standard API, and the process events the log must
 * survive (fork, exec, _exit, dlclose, fatal signals). Each allocation hook calls the
 * real function first and records after it returns; each release hook records before
 * the real call (docs/architecture.md, shim rule 8), so the log never shows an address reused
 * before its free. Recording never fails the caller: any trouble drops the event and counts it.
 *
 *   shim_start.c     bootstrap arena, the real functions, start-up phases A and B;
 *                    defines the state declared here
 *   shim_record.c    the recording core: enter/leave, an allocation's, a free's and a
 *                    resize's records, zero-byte counts of blocks live at exit
 *   shim_libc.c      the C allocator: malloc, free, calloc, realloc and the rest
 *   shim_cxx.c       C++ operators new and delete
 *   shim_jemalloc.c  jemalloc's API (mallocx, rallocx, xallocx, ...)
 *   shim_process.c   process events: exit, _exit, _Exit, dlclose, the exec family
 *   shim_signal.c    the shim's signal handlers; the program's sigaction and signal
 *   shim_fork.c      the pthread_atfork handlers
 *
 * Any thread may be in any of these at any moment, signal handlers included
 * (docs/architecture.md, the shim's rules): the state below is written at start-up, at fork and
 * when recording stops, and read without locks. Nothing here allocates through the hooked functions
 * or fails the caller.
 */
#ifndef HEAPSPAN_SHIM_H
#define HEAPSPAN_SHIM_H

#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "preload/rt.h"
#include "preload/sampler.h"

#define SHIM_EXPORT      __attribute__((visibility("default")))
#define SHIM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SHIM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Declarations, not only definitions, must say hidden: -fvisibility=hidden covers
 * definitions alone, and a variable declared with default visibility is reached through
 * the GOT, one more instruction in every hook that reads it (malloc's fast path would
 * take 8 instead of 7). */
#pragma GCC visibility push(hidden)

/* ---- the real functions ---- */

/* Each function the shim passes calls on to, once: its member of shim_real, the symbol
 * it is looked up by, its type. shim_real's members and shim_resolve_real's dlsym calls
 * are both made from this list, in its order. calloc comes first: once it is known, the
 * callocs dlsym makes while the rest are resolved are served by the real calloc, not the
 * arena. The C++ operators and jemalloc's API are not here: they may arrive later by
 * dlopen, and are looked up on first use (shim_next_symbol). */
#define SHIM_REAL_FUNCTIONS(X)                                                          \
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

#define SHIM_REAL_MEMBER(name, symbol, ret, params, ...) ret(*name) params __VA_ARGS__;

/* NULL until shim_resolve_real has run (and for a function nothing after us defines). */
extern struct shim_real_functions {
    SHIM_REAL_FUNCTIONS(SHIM_REAL_MEMBER)
} shim_real;

/* ---- state: defined in shim_start.c, set by start-up (shim_start) ---- */

extern int shim_real_state;       /* 0 unresolved, 1 resolving, 2 resolved */
extern int shim_started;          /* phase A: 0 not yet, 1 running or done */
extern bool shim_recording;       /* the hot flag: events are recorded */
extern uint64_t shim_sample_mean; /* 0: every allocation */
extern int shim_max_depth;
extern int shim_my_pid;
extern struct smp_set *shim_sampled; /* sampled mode: the sampled live blocks */
/* Its filter, for the hooks' fast paths (kept current by the set as it grows). Until
 * there is a set, one that says "maybe" for every address, so that every call takes
 * the slow path. */
extern const struct smp_filter *shim_sampled_filter;
extern struct smp_set *shim_zero_set; /* full mode: blocks picked for zero counting */
/* Recording stopped early (a write failed, or the log's descriptor was lost): the hooks
 * go on counting the events they would have recorded (SHIM_COUNT_UNWRITTEN), and the
 * log's end record gets the total at exit. Set by the stop; read only on the paths that
 * record nothing, so recording pays nothing for it. */
extern bool shim_counting_unwritten;

/* A fatal asynchronous signal that arrived while this thread was inside the shim:
 * acted on as the hook returns (flushing from inside the shim could deadlock). */
extern __thread int shim_pending_signal __attribute__((tls_model("initial-exec")));
/* Set by an operator new hook around the real operator new: the allocation inside it
 * (libstdc++'s malloc or aligned_alloc) is the same block, recorded once by the hook.
 * Cleared by the first allocation call it meets, even a failed one, so that the
 * exception object a failed new throws is recorded like any block - except in sampled
 * mode when that call takes its fast path, which looks at nothing but the countdown:
 * there the hook clears it when the real operator new returns or throws, and an
 * exception object allocated in between goes unrecorded and uncharged. */
extern __thread int shim_suppress_next __attribute__((tls_model("initial-exec")));
/* Sampled mode's countdown: bytes this thread may still allocate before the next
 * sample point. The allocation hooks' fast paths test nothing else, so it is positive
 * only when a call may skip everything: in sampled mode, once the thread's first event
 * has drawn its first interval; 0 before that, and always in full-trace mode. */
extern __thread int64_t shim_sample_left __attribute__((tls_model("initial-exec")));

static inline const struct smp_filter *shim_current_filter(void)
{
    return __atomic_load_n(&shim_sampled_filter, __ATOMIC_ACQUIRE);
}

/* ---- bootstrap: dlsym() may calloc before the real allocator is known ---- */

#define SHIM_ARENA_BYTES (128 * 1024)
extern char shim_arena[SHIM_ARENA_BYTES];

static inline bool shim_in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)shim_arena < SHIM_ARENA_BYTES; /* one compare */
}

/* A block of the arena (zeroed, 16-aligned), or NULL when the arena is full. */
void *shim_arena_alloc(size_t size);

static inline size_t shim_arena_size(const void *p)
{
    size_t size;
    memcpy(&size, (const char *)p - 16, sizeof(size));
    return size;
}

/* The allocator is glibc's (not jemalloc, tcmalloc or glibc's debugging malloc): a
 * block's chunk size is then in the word before it. */
extern bool shim_glibc_heap;

/* Another allocator's usable size, out of line (shim_libc.c): the realloc fast path
 * then needs no frame for the glibc case. */
__attribute__((cold)) size_t shim_usable_size_other(void *p);

/* Usable bytes of a live block of the real allocator. glibc's malloc_usable_size also
 * checks that the block is in use by reading the next chunk's header - a cache miss
 * that cost 5% of a realloc-heavy program's time in sampled mode; the block is known
 * to be in use here, so its own header is enough (low bits: flags, bit 1 = mmapped,
 * whose header is 16 bytes, not 8). */
static inline size_t shim_usable_size(void *p)
{
    if (shim_glibc_heap) {
        size_t h;
        memcpy(&h, (const char *)p - sizeof(h), sizeof(h));
        return (h & ~(size_t)7) - ((h & 2) ? 16 : 8);
    }
    return shim_usable_size_other(p);
}

/* Start-up (shim_start.c). Phase A, on the first hooked call or from the constructor if
 * it comes first: resolve the real functions (shim_resolve_real), then read the
 * settings and open the log (shim_start). Both are safe to run twice. */
void shim_resolve_real(void);
void shim_start(void);

static inline void shim_ensure_ready(void)
{
    if (SHIM_UNLIKELY(shim_real_state != 2))
        shim_resolve_real();
    if (SHIM_UNLIKELY(!shim_started) && shim_real_state == 2)
        shim_start();
}

/* Phase B's parts, run by the constructor once recording. */
void shim_install_signal_handlers(void);
void shim_install_fork_handlers(void);

/* ---- recording (shim_record.c) ---- */

/* Sampled mode's common case: this allocation is not sampled. One TLS load and a
 * subtraction; the rest (and the clock) only for the allocation that crosses zero. The
 * comparison is unsigned, so that a size of 2^63 or more (a call that fails) is never
 * taken for a negative charge, and a call that crosses zero leaves the countdown as it
 * was: full-trace mode's 0 never moves. A signal handler's malloc that interrupts this
 * after the load can lose its bytes from the countdown: a sampling error of one
 * allocation, never a wrong record. */
static inline bool shim_not_sampled(size_t size)
{
    uint64_t left = (uint64_t)shim_sample_left;

    if (SHIM_LIKELY(left > size)) {
        shim_sample_left = (int64_t)(left - size);
        return true;
    }
    return false;
}

void shim_note_alloc_slow(int fn, void *p, size_t size);
void shim_note_free_slow(int fn, void *p);

/* Every allocation hook calls this with what the real call returned, NULL included. */
static inline void shim_note_alloc(int fn, void *p, size_t size)
{
    if (SHIM_UNLIKELY(shim_suppress_next)) {
        shim_suppress_next = 0;
        return;
    }
    if (SHIM_UNLIKELY(p == NULL) || shim_not_sampled(size))
        return;
    shim_note_alloc_slow(fn, p, size);
}

static inline void shim_note_free(int fn, void *p)
{
    /* Sampled mode: most blocks were never sampled, and one load says so. */
    if (shim_sample_mean != 0 &&
        !smp_filter_says_maybe(shim_current_filter(), (uint64_t)(uintptr_t)p))
        return;
    shim_note_free_slow(fn, p);
}

/* What a resize knows of the old block before the real call. */
struct shim_resize_old {
    bool known;    /* the log knows the block (always, in full-trace mode) */
    bool picked;   /* full-trace mode: picked for zero counting */
    uint64_t size; /* sampled, or picked: its size */
};

/* A resize (realloc, reallocarray, rallocx, xallocx) brackets the real call: begin
 * before it, then end after it, or undo if the block was not resized (shim_record.c
 * says what each does). */
void shim_resize_begin(void *old, struct shim_resize_old *o);
void shim_resize_undo(void *old, const struct shim_resize_old *o);
void shim_resize_end(int fn, void *old, const struct shim_resize_old *o, void *p, size_t size,
                     uint64_t growth, uint64_t t_before, bool freed_on_null);

/* Sampled mode: what a resize to size bytes of a block with usable bytes charges to the
 * sample countdown (sampler.h says why only growth counts). */
static inline uint64_t shim_growth_beyond(size_t usable, size_t size)
{
    return size > usable ? size - usable : 0;
}

static inline uint64_t shim_resize_growth(void *old, size_t size)
{
    return shim_growth_beyond(shim_usable_size(old), size);
}

/* The API's events (include/heapspan.h, shim_api.c), recorded with fn LF_FN_API and the
 * pool's handle (0: none). An allocation's sampling decision is the caller's
 * (shim_not_sampled); shim_note_api_alloc returns whether the block was recorded, and
 * shim_resize_end_api whether the new block is in the sampled set (sampled mode). */
bool shim_note_api_alloc(void *p, size_t size, uint64_t pool);
bool shim_resize_end_api(void *old, const struct shim_resize_old *o, void *p, size_t size,
                         uint64_t growth, uint64_t t_before, uint64_t pool);
/* A pool's name (op LF_POOL_NAME) or reset (LF_POOL_RESET), as a meta record. Takes the
 * writer's meta lock: not from a signal handler. */
void shim_note_pool(int op, uint64_t pool, const char *name);

/* At exit: the blocks picked for zero counting that were never freed. */
void shim_count_live_zeros(void);

/* An event of type kind (LF_EV_ALLOC, LF_EV_FREE, LF_EV_REALLOC) that was not recorded
 * because recording stopped early: counted, in sampled mode only if the sampler would
 * have taken it (a realloc's size is the new size; called before the real call). */
__attribute__((cold)) void shim_count_unwritten(int kind, void *p, size_t size);
/* What threads without a state of their own counted (at exit, for wr_settle_lost). */
uint64_t shim_unwritten_stateless(void);

#define SHIM_COUNT_UNWRITTEN(kind, p, size)                          \
    do {                                                             \
        if (SHIM_UNLIKELY(shim_counting_unwritten) && !rt_in_shim)   \
            shim_count_unwritten(kind, (void *)(p), (size_t)(size)); \
    } while (0)

/* The signal that arrived while this thread was in the shim (shim_pending_signal), as
 * the hook leaves (shim_signal.c). */
void shim_deliver_pending_signal(void);

/* ---- calls out: functions looked up on first use, and the recursion guard ---- */

/* The next definition of name after ours, looked up once into *slot: libstdc++ or
 * jemalloc may arrive later by dlopen, so the C++ operators and jemalloc's API are
 * looked up when first called rather than at start. Static but not inline: gcc inlines
 * it into every operator and the small jemalloc hooks, and calls it from mallocx,
 * rallocx and xallocx, which `inline` would make larger, with one more register saved,
 * for a lookup done once. Unused in the files that look nothing up. */
__attribute__((unused)) static void *shim_next_symbol(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

    if (SHIM_LIKELY(f != NULL))
        return f;
    rt_in_shim++;
    f = dlsym(RTLD_NEXT, name);
    rt_in_shim--;
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

#define SHIM_NEXT(type, name) ((type)shim_next_symbol(&next_##name, #name))

static inline void shim_leave_guard(int *unused)
{
    (void)unused;
    rt_in_shim--;
}

/* The real operator new may throw; the cleanup runs as the exception passes (the shim
 * is built with -fexceptions), so the recursion flag is never left set. While it is
 * set, the libstdc++ new's own malloc call is not recorded a second time. */
#define SHIM_CALL_GUARDED(expr)                                                    \
    do {                                                                           \
        int guard_ __attribute__((cleanup(shim_leave_guard))) = (rt_in_shim++, 0); \
        (void)guard_;                                                              \
        expr;                                                                      \
    } while (0)

#pragma GCC visibility pop

#endif
