/*
 * shim_jemalloc.c - jemalloc's non-standard API: mallocx, rallocx, xallocx, sallocx,
 * nallocx, dallocx, sdallocx. Each is looked up on first use (jemalloc may arrive later
 * by dlopen) and recorded like its libc counterpart. Without jemalloc in the process
 * these behave like it on top of libc, so a library that probes for mallocx by weak
 * symbol still works (and jemalloc's mallctl, which we do not export, tells such probes
 * that jemalloc is absent). Thread-safe like the libc hooks; the caller gets the real
 * function's answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/shim.h"

#define JE_LG_ALIGN(flags) ((flags)&0x3f)
#define JE_ZERO            0x40

/* jemalloc's declarations (we do not include its header: it may be absent). */
SHIM_EXPORT void *mallocx(size_t size, int flags);
SHIM_EXPORT void *rallocx(void *ptr, size_t size, int flags);
SHIM_EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
SHIM_EXPORT size_t sallocx(const void *ptr, int flags);
SHIM_EXPORT size_t nallocx(size_t size, int flags);
SHIM_EXPORT void dallocx(void *ptr, int flags);
SHIM_EXPORT void sdallocx(void *ptr, size_t size, int flags);

static void *next_mallocx, *next_rallocx, *next_xallocx, *next_sallocx, *next_dallocx,
    *next_sdallocx, *next_nallocx;

static void *je_emulate_alloc(size_t size, int flags)
{
    size_t align = JE_LG_ALIGN(flags) ? (size_t)1 << JE_LG_ALIGN(flags) : 0;
    void *p = NULL;

    if (align > sizeof(void *)) {
        if (shim_real.posix_memalign(&p, align, size) != 0)
            return NULL;
        if (flags & JE_ZERO)
            memset(p, 0, size);
        return p;
    }
    return (flags & JE_ZERO) ? shim_real.calloc(1, size) : shim_real.malloc(size);
}

SHIM_EXPORT void *mallocx(size_t size, int flags)
{
    void *(*f)(size_t, int) = SHIM_NEXT(void *(*)(size_t, int), mallocx);
    shim_ensure_ready();
    void *p;
    if (f == NULL)
        p = je_emulate_alloc(size, flags);
    else if (!shim_recording || rt_in_shim) {
        SHIM_COUNT_UNWRITTEN(LF_EV_ALLOC, NULL, size);
        return f(size, flags);
    } else
        SHIM_CALL_GUARDED(p = f(size, flags));
    shim_note_alloc(LF_FN_MALLOCX, p, size);
    return p;
}

SHIM_EXPORT void *rallocx(void *ptr, size_t size, int flags)
{
    void *(*f)(void *, size_t, int) = SHIM_NEXT(void *(*)(void *, size_t, int), rallocx);
    shim_ensure_ready();
    if (!shim_recording || rt_in_shim) {
        SHIM_COUNT_UNWRITTEN(LF_EV_REALLOC, ptr, size);
        return f != NULL ? f(ptr, size, flags) : shim_real.realloc(ptr, size ? size : 1);
    }
    uint64_t growth = shim_resize_growth(ptr, size);
    struct shim_resize_old o;
    uint64_t t_before = rt_ticks_before();
    shim_resize_begin(ptr, &o);
    void *p;
    if (f == NULL)
        p = shim_real.realloc(ptr, size ? size : 1);
    else
        SHIM_CALL_GUARDED(p = f(ptr, size, flags));
    shim_resize_end(LF_FN_RALLOCX, ptr, &o, p, size, growth, t_before, false);
    return p;
}

SHIM_EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags)
{
    size_t (*f)(void *, size_t, size_t, int) =
        SHIM_NEXT(size_t(*)(void *, size_t, size_t, int), xallocx);
    shim_ensure_ready();
    if (f == NULL)
        return shim_real.malloc_usable_size(ptr); /* libc cannot resize in place */
    if (!shim_recording || rt_in_shim) {
        SHIM_COUNT_UNWRITTEN(LF_EV_REALLOC, ptr, size);
        return f(ptr, size, extra, flags);
    }
    size_t usable = shim_usable_size(ptr);
    struct shim_resize_old o;
    uint64_t t_before = rt_ticks_before();
    shim_resize_begin(ptr, &o);
    size_t got;
    SHIM_CALL_GUARDED(got = f(ptr, size, extra, flags));
    if (got < size) {
        /* Not resized: the block is as it was. */
        rt_in_shim++;
        shim_resize_undo(ptr, &o);
        rt_in_shim--;
        return got;
    }
    /* Resized in place; the block now holds what was asked for, up to size + extra. */
    size_t now_size = got < size + extra ? got : size + extra;
    shim_resize_end(LF_FN_XALLOCX, ptr, &o, ptr, now_size, shim_growth_beyond(usable, now_size),
                    t_before, false);
    return got;
}

SHIM_EXPORT size_t sallocx(const void *ptr, int flags)
{
    size_t (*f)(const void *, int) = SHIM_NEXT(size_t(*)(const void *, int), sallocx);
    shim_ensure_ready();
    return f != NULL ? f(ptr, flags) : shim_real.malloc_usable_size((void *)ptr);
}

SHIM_EXPORT size_t nallocx(size_t size, int flags)
{
    size_t (*f)(size_t, int) = SHIM_NEXT(size_t(*)(size_t, int), nallocx);
    (void)flags;
    return f != NULL ? f(size, flags) : (size + 15) & ~(size_t)15;
}

SHIM_EXPORT void dallocx(void *ptr, int flags)
{
    void (*f)(void *, int) = SHIM_NEXT(void (*)(void *, int), dallocx);
    shim_ensure_ready();
    if (shim_recording && !rt_in_shim)
        shim_note_free(LF_FN_MALLOCX, ptr);
    else
        SHIM_COUNT_UNWRITTEN(LF_EV_FREE, ptr, 0);
    if (f == NULL)
        shim_real.free(ptr);
    else
        SHIM_CALL_GUARDED(f(ptr, flags));
}

SHIM_EXPORT void sdallocx(void *ptr, size_t size, int flags)
{
    void (*f)(void *, size_t, int) = SHIM_NEXT(void (*)(void *, size_t, int), sdallocx);
    shim_ensure_ready();
    if (shim_recording && !rt_in_shim)
        shim_note_free(LF_FN_MALLOCX, ptr);
    else
        SHIM_COUNT_UNWRITTEN(LF_EV_FREE, ptr, 0);
    if (f == NULL)
        shim_real.free(ptr);
    else
        SHIM_CALL_GUARDED(f(ptr, size, flags));
}
