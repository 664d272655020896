/*
 * shim_libc.c - the C allocator's hooks: malloc, free, calloc, realloc, reallocarray,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc and malloc_usable_size. The
 * program calls them from any thread, a signal handler, or before our constructor; the
 * real allocator's answer is always what the caller gets.
 *
 * Each hook is a fast path and a slow one. The fast path is sampled mode's common
 * case, a call that is not sampled: it decides before the real call and tail-calls the
 * real function, with no frame of its own (a bare malloc/free pair costs glibc about
 * 6 ns, and every instruction here shows). Anything else - full-trace mode, start-up,
 * a sampled call - goes to the slow path, a separate function, so that the fast one
 * saves no registers. The slow path is reached by a tail call too (or, if the compiler
 * declined one, from a frame with a frame pointer): either way the stack walk from it
 * meets the caller's return address.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/shim.h"

__attribute__((noinline, cold)) size_t shim_usable_size_other(void *p)
{
    return shim_real.malloc_usable_size != NULL ? shim_real.malloc_usable_size(p) : 0;
}

__attribute__((noinline)) static void *malloc_slow(size_t size)
{
    shim_ensure_ready();
    if (SHIM_UNLIKELY(shim_real.malloc == NULL))
        return shim_arena_alloc(size);
    void *p = shim_real.malloc(size);
    shim_note_alloc(LF_FN_MALLOC, p, size);
    return p;
}

SHIM_EXPORT void *malloc(size_t size)
{
    if (SHIM_LIKELY(shim_not_sampled(size)))
        return shim_real.malloc(size);
    return malloc_slow(size);
}

__attribute__((noinline)) static void *calloc_slow(size_t n, size_t size)
{
    shim_ensure_ready();
    if (SHIM_UNLIKELY(shim_real.calloc == NULL)) {
        if (size != 0 && n > SIZE_MAX / size)
            return NULL;
        return shim_arena_alloc(n * size);
    }
    void *p = shim_real.calloc(n, size);
    shim_note_alloc(LF_FN_CALLOC, p, n * size);
    return p;
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
    size_t total;
    if (SHIM_LIKELY(!__builtin_mul_overflow(n, size, &total) && shim_not_sampled(total)))
        return shim_real.calloc(n, size);
    return calloc_slow(n, size);
}

/* Whether a block is certainly not sampled: the fast paths' question, false for every
 * block until there is a sampled set (shim_sampled_filter). Blocks of the bootstrap
 * arena, never the real allocator's to free, are pinned into the filter: it says
 * "maybe" for them, and the slow paths know them. */
static inline bool surely_unsampled(void *p)
{
    return !smp_summary_says_maybe(shim_current_filter(), (uint64_t)(uintptr_t)p);
}

__attribute__((noinline)) static void free_slow(void *p)
{
    if (p == NULL || shim_in_arena(p))
        return;
    shim_ensure_ready();
    if (shim_recording)
        shim_note_free(LF_FN_FREE, p);
    else
        SHIM_COUNT_UNWRITTEN(LF_EV_FREE, p, 0);
    shim_real.free(p);
}

SHIM_EXPORT void free(void *p)
{
    if (SHIM_LIKELY(surely_unsampled(p))) {
        shim_real.free(p);
        return;
    }
    free_slow(p);
}

static void *resize(int fn, void *old, size_t size, void *(*call)(void *, size_t, size_t), size_t a,
                    size_t b)
{
    if (old == NULL) {
        void *p = call(NULL, a, b);
        shim_note_alloc(fn, p, size);
        return p;
    }
    /* Only the bytes a block grows by count toward the next sample point, or in
     * full-trace mode toward the next block picked for zero counting (sampler.h says
     * why). Sampled mode's common case: the old block is not sampled and its growth
     * does not reach the next sample point. */
    uint64_t growth = size != 0 ? shim_resize_growth(old, size) : 0;
    if (shim_sample_mean != 0 && size != 0 &&
        !smp_filter_says_maybe(shim_current_filter(), (uint64_t)(uintptr_t)old) &&
        shim_not_sampled(growth))
        return call(old, a, b);
    struct shim_resize_old o;
    uint64_t t_before = rt_ticks_before();
    shim_resize_begin(old, &o);
    void *p = call(old, a, b);
    /* realloc(p, 0) returning NULL freed p (glibc); jemalloc returns a block instead. */
    shim_resize_end(fn, old, &o, p, size, growth, t_before, size == 0);
    return p;
}

static void *call_realloc(void *old, size_t size, size_t unused)
{
    (void)unused;
    return shim_real.realloc(old, size);
}

/* glibc's reallocarray calls realloc through the PLT, that is our realloc: the guard
 * keeps it from being recorded twice. */
static void *call_reallocarray(void *old, size_t n, size_t size)
{
    void *p;
    int guard_ __attribute__((cleanup(shim_leave_guard))) = (rt_in_shim++, 0);
    (void)guard_;
    p = shim_real.reallocarray(old, n, size);
    return p;
}

/* Not recorded: out of line, so that the recording path keeps its registers. */
__attribute__((noinline)) static void *realloc_unrecorded(void *old, size_t size)
{
    SHIM_COUNT_UNWRITTEN(LF_EV_REALLOC, old, size);
    return shim_real.realloc(old, size);
}

__attribute__((noinline)) static void *realloc_slow(void *old, size_t size)
{
    shim_ensure_ready();
    if (SHIM_UNLIKELY(shim_in_arena(old) || shim_real.realloc == NULL)) {
        void *p = malloc(size);
        if (p != NULL && old != NULL) {
            size_t n = shim_in_arena(old) ? shim_arena_size(old) : 0;
            memcpy(p, old, n < size ? n : size);
        }
        return p;
    }
    if (!shim_recording || rt_in_shim)
        return realloc_unrecorded(old, size);
    return resize(LF_FN_REALLOC, old, size, call_realloc, size, 0);
}

SHIM_EXPORT void *realloc(void *old, size_t size)
{
    /* The fast path: an unsampled block whose growth does not reach the next sample
     * point (sampler.h says why only growth counts). */
    if (SHIM_LIKELY(old != NULL && size != 0 && surely_unsampled(old)) &&
        shim_not_sampled(shim_resize_growth(old, size)))
        return shim_real.realloc(old, size);
    return realloc_slow(old, size);
}

SHIM_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    shim_ensure_ready();
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    if (SHIM_UNLIKELY(shim_in_arena(old) || shim_real.reallocarray == NULL))
        return realloc(old, n * size);
    if (!shim_recording || rt_in_shim) {
        SHIM_COUNT_UNWRITTEN(LF_EV_REALLOC, old, n * size);
        return shim_real.reallocarray(old, n, size);
    }
    return resize(LF_FN_REALLOCARRAY, old, n * size, call_reallocarray, n, size);
}

SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    shim_ensure_ready();
    if (SHIM_UNLIKELY(shim_real.posix_memalign == NULL))
        return ENOMEM;
    int r = shim_real.posix_memalign(out, align, size);
    shim_note_alloc(LF_FN_POSIX_MEMALIGN, r == 0 ? *out : NULL, size);
    return r;
}

#define ALIGNED_HOOK(name, fn_id, params, args, size_expr) \
    SHIM_EXPORT void *name params                          \
    {                                                      \
        shim_ensure_ready();                               \
        if (SHIM_UNLIKELY(shim_real.name == NULL)) {       \
            errno = ENOMEM;                                \
            return NULL;                                   \
        }                                                  \
        void *p = shim_real.name args;                     \
        shim_note_alloc(fn_id, p, size_expr);              \
        return p;                                          \
    }

ALIGNED_HOOK(aligned_alloc, LF_FN_ALIGNED_ALLOC, (size_t align, size_t size), (align, size), size)
ALIGNED_HOOK(memalign, LF_FN_MEMALIGN, (size_t align, size_t size), (align, size), size)
ALIGNED_HOOK(valloc, LF_FN_VALLOC, (size_t size), (size), size)
ALIGNED_HOOK(pvalloc, LF_FN_PVALLOC, (size_t size), (size), size)

SHIM_EXPORT size_t malloc_usable_size(void *p)
{
    if (p == NULL)
        return 0;
    if (shim_in_arena(p))
        return shim_arena_size(p);
    shim_ensure_ready();
    return shim_real.malloc_usable_size != NULL ? shim_real.malloc_usable_size(p) : 0;
}
