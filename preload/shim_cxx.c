/*
 * shim_cxx.c - C++ operators new and delete (the eight news and twelve deletes, by
 * their mangled names), for programs whose operators come from libstdc++ or any other
 * library after us. Each operator is looked up on first use (libstdc++ may arrive later
 * by dlopen). A new records the block once, as new, though the real operator new
 * allocates it through malloc or aligned_alloc; a real operator new that throws passes
 * through the hook with the shim's flags restored. Called from any thread; the caller
 * gets the real operator's result, or its exception, unchanged.
 */
#include <stddef.h>
#include <stdint.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/shim.h"

static __thread int in_new __attribute__((tls_model("initial-exec")));

static void *new_fallback(size_t size)
{
    /* Only reachable if nothing after us defines operator new, which a program calling
     * it cannot be: keep the host alive all the same. */
    return shim_real.malloc != NULL ? shim_real.malloc(size ? size : 1) : shim_arena_alloc(size);
}

/* The allocation inside the real operator new may have charged the sample countdown
 * on its fast path (without seeing shim_suppress_next): the countdown goes back to what
 * it was, and the hook charges the block once, as new. */
static void new_leave(int64_t *saved_left)
{
    in_new = 0;
    shim_suppress_next = 0;
    shim_sample_left = *saved_left;
}

/* libstdc++'s nothrow new calls the throwing one: only the outermost hook records. */
#define NEW_HOOK(sym, fn_id, params, args, size_arg)                                    \
    static void *next_##sym;                                                            \
    SHIM_EXPORT void *sym params;                                                       \
    SHIM_EXPORT void *sym params                                                        \
    {                                                                                   \
        void *p;                                                                        \
        void *(*f)params = SHIM_NEXT(void *(*)params, sym);                             \
        shim_ensure_ready();                                                            \
        if (SHIM_UNLIKELY(f == NULL))                                                   \
            return new_fallback(size_arg);                                              \
        if (!shim_recording || rt_in_shim || in_new)                                    \
            return f args;                                                              \
        {                                                                               \
            int64_t saved_left_ __attribute__((cleanup(new_leave))) = shim_sample_left; \
            in_new = 1;                                                                 \
            shim_suppress_next = 1;                                                     \
            p = f args;                                                                 \
        }                                                                               \
        shim_note_alloc(fn_id, p, size_arg);                                            \
        return p;                                                                       \
    }

#define DELETE_HOOK(sym, fn_id, params, args)             \
    static void *next_##sym;                              \
    SHIM_EXPORT void sym params;                          \
    SHIM_EXPORT void sym params                           \
    {                                                     \
        void(*f) params = SHIM_NEXT(void(*) params, sym); \
        if (p == NULL || shim_in_arena(p))                \
            return;                                       \
        shim_ensure_ready();                              \
        if (shim_recording && !rt_in_shim)                \
            shim_note_free(fn_id, p);                     \
        else                                              \
            SHIM_COUNT_UNWRITTEN(LF_EV_FREE, p, 0);       \
        if (SHIM_UNLIKELY(f == NULL)) {                   \
            shim_real.free(p);                            \
            return;                                       \
        }                                                 \
        SHIM_CALL_GUARDED(f args);                        \
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
