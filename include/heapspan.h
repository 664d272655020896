/*
 * heapspan.h - report allocations heapspan cannot see by itself: a program's own
 * allocator (an arena, a pool, a memory context, a statically linked jemalloc or
 * mimalloc), whose calls never reach malloc. Header-only, C and C++: nothing to link.
 * docs/api.md is the guide; this comment is the contract.
 *
 * Under `heapspan run` (libheapspan.so preloaded) each call records an event with the
 * caller's stack, exactly as the shim records a malloc: the site is the function that
 * calls heapspan_alloc (this header's frames are trimmed from every stack, like
 * malloc's own). Without the shim each call costs one load and one predictable
 * branch, and the program runs as it would without this header.
 *
 * How the shim is found: libheapspan.so exports one table, heapspan_api_v1. Each file
 * that includes this header looks it up once with dlsym(RTLD_DEFAULT), from a
 * constructor as the program loads (one lookup, about a microsecond), and keeps its
 * entry points in static storage: a function pointer that is NULL when there is no
 * shim is the one branch. A weak undefined symbol would cost nothing at all, but the
 * dynamic linker binds it to a preloaded library only if the program was linked
 * against one; dlsym finds it whatever the link. A call made before that constructor
 * runs (from another constructor) looks the table up itself; one that comes while a
 * lookup is under way (dlsym calling your own malloc, which reports) is not recorded.
 * glibc 2.34 and later have dlsym in libc; older ones need -ldl.
 *
 * The rules:
 *   - Threads: any thread may call any function at any time; nothing here locks except
 *     heapspan_pool_name and heapspan_pool_reset (the shim's record queue, briefly).
 *   - Signal handlers: heapspan_alloc, _free, _resize, _pool_alloc, _pool_resize,
 *     _ignore_begin/_end and _active are as safe as a malloc under the shim is: an
 *     event from a handler that interrupted the shim on the same thread is counted as
 *     lost, never recorded half-way. heapspan_pool_name and heapspan_pool_reset take a
 *     lock: not from a signal handler.
 *   - Order: report an allocation after your allocator has returned the block, and its
 *     free before your allocator can hand the memory out again (inside its lock, if it
 *     has one). Otherwise another thread's report of the same address can come first.
 *   - ptr: any address unique among the live blocks you report; NULL is ignored (a
 *     failed allocation is not reported). Reporting an address that is already live
 *     replaces that block: one address is one block.
 *   - size 0: a block of no bytes, counted as one allocation (as malloc(0) is).
 *   - Resizes: heapspan_resize(old, new, size) is a realloc that has happened: the old
 *     block is freed and the new one allocated (new may equal old). old NULL is an
 *     allocation; new NULL means the old block was freed and nothing allocated. For an
 *     allocator that may hand the old address to another thread before you can report,
 *     report heapspan_free(old) before the resize and heapspan_alloc(new) after it.
 *   - Memory malloc returned: the shim already records it. If your allocator takes its
 *     memory from malloc (or operator new), put heapspan_ignore_begin() and
 *     heapspan_ignore_end() around those calls - and around the calls that give it
 *     back - so that its bytes are counted once, as your blocks. Calls on this thread
 *     between the two are not recorded (they nest). Without them, a pointer malloc
 *     returned and you report again is one block (the rule above): live, peak and
 *     leaked bytes count it once, but the malloc call and yours are both counted as
 *     allocations, and the free() after heapspan_free as a free of an unknown block.
 *   - Pools: a pool is named by any address unique among live pools, typically its own
 *     struct. heapspan_pool_reset(pool) frees every block reported into it at once (a
 *     memory context's reset, an arena's rewind); blocks freed one by one before that
 *     are fine. Report the reset before the pool's memory can be reused. A pool
 *     handle of NULL is no pool. The report lists pools by name.
 *   - Recording off or sampled: calls return at once when the shim is loaded but not
 *     recording (a write error, a child not followed). In sampled mode (--sample) your
 *     blocks are sampled by bytes exactly like malloc's, and a resize charges its new
 *     size (the old one is not known to the shim).
 *   - Memory: the shim never reads or writes your blocks (no zero-byte counting while
 *     the program runs), so ptr may name memory that is not ordinary host memory.
 *
 * Define HEAPSPAN_DISABLE before including this header to compile every call to
 * nothing. HEAPSPAN_TABLE_ONLY declares the table alone (libheapspan.so implements it).
 */
#ifndef HEAPSPAN_H
#define HEAPSPAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPSPAN_API_VERSION 1
#define HEAPSPAN_API_SYMBOL  "heapspan_api_v1"

/* What libheapspan.so exports as heapspan_api_v1. Members are only ever added at the
 * end, and size says how many bytes of the table the shim has. Addresses travel as
 * integers: the shim never dereferences them (and a const pointer to a block just
 * allocated would look to gcc like a read of uninitialized memory). */
struct heapspan_api {
    uint32_t size;    /* sizeof the shim's table */
    uint32_t version; /* HEAPSPAN_API_VERSION */
    void (*alloc)(uintptr_t ptr, size_t size, uintptr_t pool);
    void (*free)(uintptr_t ptr);
    void (*resize)(uintptr_t old_ptr, uintptr_t new_ptr, size_t size, uintptr_t pool);
    void (*pool_name)(uintptr_t pool, const char *name);
    void (*pool_reset)(uintptr_t pool);
    void (*ignore_begin)(void);
    void (*ignore_end)(void);
    int (*active)(void);
};

#ifndef HEAPSPAN_TABLE_ONLY

#ifdef HEAPSPAN_DISABLE

static inline void heapspan_alloc(const void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
}
static inline void heapspan_free(const void *ptr)
{
    (void)ptr;
}
static inline void heapspan_resize(const void *old_ptr, const void *new_ptr, size_t new_size)
{
    (void)old_ptr;
    (void)new_ptr;
    (void)new_size;
}
static inline void heapspan_pool_alloc(const void *pool, const void *ptr, size_t size)
{
    (void)pool;
    (void)ptr;
    (void)size;
}
static inline void heapspan_pool_resize(const void *pool, const void *old_ptr, const void *new_ptr,
                                        size_t new_size)
{
    (void)pool;
    (void)old_ptr;
    (void)new_ptr;
    (void)new_size;
}
static inline void heapspan_pool_name(const void *pool, const char *name)
{
    (void)pool;
    (void)name;
}
static inline void heapspan_pool_reset(const void *pool)
{
    (void)pool;
}
static inline void heapspan_ignore_begin(void)
{
}
static inline void heapspan_ignore_end(void)
{
}
static inline int heapspan_active(void)
{
    return 0;
}

#else /* !HEAPSPAN_DISABLE */

#include <dlfcn.h>

/* Spelled for C and C++ alike, so that a C++ program's -Wold-style-cast and
 * -Wzero-as-null-pointer-constant find nothing here. */
#if defined(__cplusplus)
#if __cplusplus >= 201103L
#define HEAPSPAN__NULL nullptr
#else
#define HEAPSPAN__NULL 0
#endif
#define HEAPSPAN__ADDR(p)  reinterpret_cast<uintptr_t>(p)
#define HEAPSPAN__TABLE(p) static_cast<const struct heapspan_api *>(p)
#else
#define HEAPSPAN__NULL     ((void *)0)
#define HEAPSPAN__ADDR(p)  ((uintptr_t)(p))
#define HEAPSPAN__TABLE(p) ((const struct heapspan_api *)(p))
#endif

/* Not part of the API: this file's copy of the shim's entry points. Each starts as a
 * function that looks the table up (heapspan__boot_*), and becomes the shim's, or
 * NULL when there is no shim. */
struct heapspan__fns {
    void (*alloc)(uintptr_t ptr, size_t size, uintptr_t pool);
    void (*free)(uintptr_t ptr);
    void (*resize)(uintptr_t old_ptr, uintptr_t new_ptr, size_t size, uintptr_t pool);
    void (*pool_name)(uintptr_t pool, const char *name);
    void (*pool_reset)(uintptr_t pool);
    void (*ignore_begin)(void);
    void (*ignore_end)(void);
    int (*active)(void);
};

static void heapspan__boot_alloc(uintptr_t ptr, size_t size, uintptr_t pool);
static void heapspan__boot_free(uintptr_t ptr);
static void heapspan__boot_resize(uintptr_t old_ptr, uintptr_t new_ptr, size_t size,
                                  uintptr_t pool);
static void heapspan__boot_pool_name(uintptr_t pool, const char *name);
static void heapspan__boot_pool_reset(uintptr_t pool);
static void heapspan__boot_ignore_begin(void);
static void heapspan__boot_ignore_end(void);
static int heapspan__boot_active(void);

static struct heapspan__fns heapspan__f __attribute__((unused)) = {
    heapspan__boot_alloc,      heapspan__boot_free,       heapspan__boot_resize,
    heapspan__boot_pool_name,  heapspan__boot_pool_reset, heapspan__boot_ignore_begin,
    heapspan__boot_ignore_end, heapspan__boot_active,
};

/* 0: not looked up, 1: being looked up, 2: done. */
static int heapspan__state __attribute__((unused));

#define HEAPSPAN__LOAD(member) __atomic_load_n(&heapspan__f.member, __ATOMIC_RELAXED)
#define HEAPSPAN__STORE(member) \
    __atomic_store_n(&heapspan__f.member, t ? t->member : HEAPSPAN__NULL, __ATOMIC_RELAXED)

/* Looks the table up once; a caller that finds a lookup under way (its own, through
 * dlsym's malloc, or another thread's) goes on without it. */
static __attribute__((unused, noinline)) void heapspan__resolve(void)
{
    int expect = 0;
    const struct heapspan_api *t;

    if (!__atomic_compare_exchange_n(&heapspan__state, &expect, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return;
    /* RTLD_DEFAULT, which <dlfcn.h> defines only with _GNU_SOURCE: the null handle. */
    t = HEAPSPAN__TABLE(dlsym(HEAPSPAN__NULL, HEAPSPAN_API_SYMBOL));
    if (t && (t->version != HEAPSPAN_API_VERSION || t->size < sizeof(struct heapspan_api)))
        t = HEAPSPAN__NULL;
    HEAPSPAN__STORE(alloc);
    HEAPSPAN__STORE(free);
    HEAPSPAN__STORE(resize);
    HEAPSPAN__STORE(pool_name);
    HEAPSPAN__STORE(pool_reset);
    HEAPSPAN__STORE(ignore_begin);
    HEAPSPAN__STORE(ignore_end);
    HEAPSPAN__STORE(active);
    __atomic_store_n(&heapspan__state, 2, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void heapspan__init(void)
{
    heapspan__resolve();
}

/* The entry point after a lookup: the shim's, or NULL if there is none or the lookup
 * is still under way. */
#define HEAPSPAN__AFTER_LOOKUP(member, boot) \
    (heapspan__resolve(),                    \
     HEAPSPAN__LOAD(member) == (boot) ? HEAPSPAN__NULL : HEAPSPAN__LOAD(member))

static void heapspan__boot_alloc(uintptr_t ptr, size_t size, uintptr_t pool)
{
    void (*f)(uintptr_t, size_t, uintptr_t) = HEAPSPAN__AFTER_LOOKUP(alloc, heapspan__boot_alloc);
    if (f)
        f(ptr, size, pool);
}

static void heapspan__boot_free(uintptr_t ptr)
{
    void (*f)(uintptr_t) = HEAPSPAN__AFTER_LOOKUP(free, heapspan__boot_free);
    if (f)
        f(ptr);
}

static void heapspan__boot_resize(uintptr_t old_ptr, uintptr_t new_ptr, size_t size, uintptr_t pool)
{
    void (*f)(uintptr_t, uintptr_t, size_t, uintptr_t) =
        HEAPSPAN__AFTER_LOOKUP(resize, heapspan__boot_resize);
    if (f)
        f(old_ptr, new_ptr, size, pool);
}

static void heapspan__boot_pool_name(uintptr_t pool, const char *name)
{
    void (*f)(uintptr_t, const char *) =
        HEAPSPAN__AFTER_LOOKUP(pool_name, heapspan__boot_pool_name);
    if (f)
        f(pool, name);
}

static void heapspan__boot_pool_reset(uintptr_t pool)
{
    void (*f)(uintptr_t) = HEAPSPAN__AFTER_LOOKUP(pool_reset, heapspan__boot_pool_reset);
    if (f)
        f(pool);
}

static void heapspan__boot_ignore_begin(void)
{
    void (*f)(void) = HEAPSPAN__AFTER_LOOKUP(ignore_begin, heapspan__boot_ignore_begin);
    if (f)
        f();
}

static void heapspan__boot_ignore_end(void)
{
    void (*f)(void) = HEAPSPAN__AFTER_LOOKUP(ignore_end, heapspan__boot_ignore_end);
    if (f)
        f();
}

static int heapspan__boot_active(void)
{
    int (*f)(void) = HEAPSPAN__AFTER_LOOKUP(active, heapspan__boot_active);
    return f ? f() : 0;
}

/* Always inlined, so that the call into the shim is made from the caller's own code:
 * the shim's stack walk starts in the caller, and the report trims the inlined frames
 * of heapspan_* functions like those of malloc. access(none): the pointers are not
 * read (gcc 11 and later would warn of a block just allocated as uninitialized). */
#define HEAPSPAN__INLINE static inline __attribute__((always_inline, unused))
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define HEAPSPAN__NOREAD(...) __attribute__((access(none, __VA_ARGS__)))
#else
#define HEAPSPAN__NOREAD(...)
#endif
#define HEAPSPAN__CALL(member, args)                                \
    do {                                                            \
        __typeof__(heapspan__f.member) f_ = HEAPSPAN__LOAD(member); \
        if (__builtin_expect(f_ != HEAPSPAN__NULL, 0))              \
            f_ args;                                                \
    } while (0)

/* A block of size bytes at ptr, just allocated by your allocator. */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1) void heapspan_alloc(const void *ptr, size_t size)
{
    HEAPSPAN__CALL(alloc, (HEAPSPAN__ADDR(ptr), size, 0u));
}

/* The block at ptr, about to be freed (before your allocator can reuse it). */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1) void heapspan_free(const void *ptr)
{
    HEAPSPAN__CALL(free, (HEAPSPAN__ADDR(ptr)));
}

/* The block at old_ptr, now at new_ptr with new_size bytes. */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1)
    HEAPSPAN__NOREAD(2) void heapspan_resize(const void *old_ptr, const void *new_ptr,
                                             size_t new_size)
{
    HEAPSPAN__CALL(resize, (HEAPSPAN__ADDR(old_ptr), HEAPSPAN__ADDR(new_ptr), new_size, 0u));
}

/* heapspan_alloc of a block that belongs to pool (freed by heapspan_pool_reset). */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1)
    HEAPSPAN__NOREAD(2) void heapspan_pool_alloc(const void *pool, const void *ptr, size_t size)
{
    HEAPSPAN__CALL(alloc, (HEAPSPAN__ADDR(ptr), size, HEAPSPAN__ADDR(pool)));
}

/* heapspan_resize of a block of pool; the new block belongs to pool. */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1) HEAPSPAN__NOREAD(2)
    HEAPSPAN__NOREAD(3) void heapspan_pool_resize(const void *pool, const void *old_ptr,
                                                  const void *new_ptr, size_t new_size)
{
    HEAPSPAN__CALL(
        resize, (HEAPSPAN__ADDR(old_ptr), HEAPSPAN__ADDR(new_ptr), new_size, HEAPSPAN__ADDR(pool)));
}

/* Names pool from now on (the report groups pools by name; up to 255 bytes are kept). */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1) void heapspan_pool_name(const void *pool, const char *name)
{
    HEAPSPAN__CALL(pool_name, (HEAPSPAN__ADDR(pool), name));
}

/* Every block of pool still live is freed, now. */
HEAPSPAN__INLINE HEAPSPAN__NOREAD(1) void heapspan_pool_reset(const void *pool)
{
    HEAPSPAN__CALL(pool_reset, (HEAPSPAN__ADDR(pool)));
}

/* Calls on this thread until heapspan_ignore_end are not recorded: wrap your
 * allocator's own calls to malloc and free. Keep it short: a fatal signal that
 * arrives meanwhile waits for heapspan_ignore_end. */
HEAPSPAN__INLINE void heapspan_ignore_begin(void)
{
    HEAPSPAN__CALL(ignore_begin, ());
}

HEAPSPAN__INLINE void heapspan_ignore_end(void)
{
    HEAPSPAN__CALL(ignore_end, ());
}

/* Nonzero when the shim is loaded and recording. */
HEAPSPAN__INLINE int heapspan_active(void)
{
    int (*f)(void) = HEAPSPAN__LOAD(active);
    return __builtin_expect(f != HEAPSPAN__NULL, 0) ? f() : 0;
}

#endif /* HEAPSPAN_DISABLE */
#endif /* HEAPSPAN_TABLE_ONLY */

#ifdef __cplusplus
}
#endif

#endif
