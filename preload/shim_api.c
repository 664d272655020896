/*
 * shim_api.c - the entry points of include/heapspan.h: the table libheapspan.so
 * exports as heapspan_api_v1, which the header and bindings/rust find with dlsym, and
 * the functions in it. Each records like the libc hooks (shim_record.c), with fn
 * LF_FN_API, from any thread and from signal handlers (pool_name and pool_reset
 * excepted: they take the writer's meta lock); none fails or blocks the caller for
 * long. The shim's stack walk drops these frames with its own, so a block's site is
 * the code that called the header's function.
 *
 * Sampled mode keeps, besides the sampled set, which sampled blocks belong to which
 * pool: a reset frees them with no call per block, and each must leave the sampled set
 * with it, or the set would keep (and later report, and charge to the next block at
 * that address) blocks the log has freed. Two small sets under one lock: block ->
 * pool, and pool -> how many of its blocks are sampled, whose filter answers most
 * resets (a pool with no sampled block) with one load and no lock. Full-trace mode
 * needs none of it: a reader turns a reset into frees (analyzer/pools.h).
 */
#define HEAPSPAN_TABLE_ONLY
#include "include/heapspan.h"

#include <pthread.h>
#include <stdint.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/shim.h"

/* ---- sampled mode: the pools of sampled blocks ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smp_set *members; /* sampled block -> its pool; under pool_lock */
static struct smp_set *counts;  /* pool -> its blocks in members; under pool_lock */
static const struct smp_filter *members_filter = &smp_all_maybe;
static const struct smp_filter *counts_filter = &smp_all_maybe;

static void pools_fork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
    smp_fork_prepare(members);
    smp_fork_prepare(counts);
}

static void pools_fork_parent(void)
{
    smp_fork_parent(counts);
    smp_fork_parent(members);
    pthread_mutex_unlock(&pool_lock);
}

/* The child logs afresh (or not at all): its sampled set starts empty, and so do these. */
static void pools_fork_child(void)
{
    smp_fork_child(counts);
    smp_fork_child(members);
    pthread_mutex_init(&pool_lock, NULL);
}

/* The pool-tracking paths hold pool_lock with rt_in_shim set, so that a signal handler's
 * call on this thread records nothing and never waits for the lock its thread holds. */
static bool guard_enter(void)
{
    if (rt_in_shim)
        return false;
    rt_in_shim = 1;
    pthread_mutex_lock(&pool_lock);
    return true;
}

static void guard_leave(void)
{
    pthread_mutex_unlock(&pool_lock);
    rt_in_shim = 0;
    if (SHIM_UNLIKELY(shim_pending_signal))
        shim_deliver_pending_signal();
}

/* Under pool_lock: one block fewer in pool. */
static void count_down(uint64_t pool)
{
    uint64_t n;
    if (smp_remove(counts, pool, &n) && n > 1)
        smp_add(counts, pool, n - 1);
}

/* Under pool_lock: addr leaves its pool, if it was in one. */
static void drop_locked(uint64_t addr)
{
    uint64_t pool;
    if (smp_remove(members, addr, &pool))
        count_down(pool);
}

/* A sampled block of pool. The sets are made on the first one: a program that reports
 * no pool never has them. */
static void member_add(uint64_t addr, uint64_t pool)
{
    uint64_t n = 0;

    if (!guard_enter())
        return;
    if (members == NULL) {
        members = smp_set_new(&members_filter, NULL, 0);
        counts = smp_set_new(&counts_filter, NULL, 0);
        if (members == NULL || counts == NULL) {
            members = counts = NULL; /* no tracking: a reset then leaves its blocks */
            guard_leave();
            return;
        }
        pthread_atfork(pools_fork_prepare, pools_fork_parent, pools_fork_child);
    }
    drop_locked(addr); /* a block the log lost the free of: not counted twice */
    smp_add(members, addr, pool);
    smp_remove(counts, pool, &n);
    smp_add(counts, pool, n + 1);
    guard_leave();
}

/* A block freed or resized: it leaves its pool. */
static void member_drop(uint64_t addr)
{
    if (!smp_filter_says_maybe(__atomic_load_n(&members_filter, __ATOMIC_ACQUIRE), addr) ||
        __atomic_load_n(&members, __ATOMIC_ACQUIRE) == NULL || !guard_enter())
        return;
    drop_locked(addr);
    guard_leave();
}

#define COLLECT_MAX 256

struct collect {
    uint64_t pool;
    unsigned n;
    uint64_t addr[COLLECT_MAX];
};

static void collect_member(uint64_t addr, uint64_t pool, void *arg)
{
    struct collect *c = arg;
    if (pool == c->pool && c->n < COLLECT_MAX)
        c->addr[c->n++] = addr;
}

/* A reset: the pool's sampled blocks leave both sets. Only a pool with sampled blocks
 * (the counts' filter says so) scans the members. */
static void members_reset(uint64_t pool)
{
    static struct collect c; /* under pool_lock */
    uint64_t n, size;

    if (!smp_filter_says_maybe(__atomic_load_n(&counts_filter, __ATOMIC_ACQUIRE), pool) ||
        __atomic_load_n(&counts, __ATOMIC_ACQUIRE) == NULL || !guard_enter())
        return;
    if (smp_remove(counts, pool, &n)) {
        while (n > 0) {
            c.pool = pool;
            c.n = 0;
            smp_each(members, collect_member, &c);
            if (c.n == 0)
                break;
            for (unsigned i = 0; i < c.n; i++) {
                smp_remove(members, c.addr[i], &size);
                smp_remove(shim_sampled, c.addr[i], &size);
            }
            n -= c.n < n ? c.n : n;
        }
    }
    guard_leave();
}

/* ---- the entry points ---- */

static void api_alloc(uintptr_t ptr, size_t size, uintptr_t pool)
{
    if (ptr == 0 || SHIM_LIKELY(shim_not_sampled(size)))
        return;
    shim_ensure_ready();
    if (shim_note_api_alloc((void *)ptr, size, pool) && pool != 0 && shim_sample_mean != 0)
        member_add(ptr, pool);
}

static void api_free(uintptr_t ptr)
{
    if (ptr == 0)
        return;
    /* Sampled mode: most blocks were never sampled, and one load says so. */
    if (shim_sample_mean != 0 && !smp_filter_says_maybe(shim_current_filter(), ptr))
        return;
    shim_ensure_ready();
    if (!shim_recording)
        return;
    shim_note_free_slow(LF_FN_API, (void *)ptr);
    if (shim_sample_mean != 0)
        member_drop(ptr);
}

static void api_resize(uintptr_t old, uintptr_t ptr, size_t size, uintptr_t pool)
{
    struct shim_resize_old o;

    if (old == 0) {
        api_alloc(ptr, size, pool);
        return;
    }
    if (ptr == 0) {
        api_free(old);
        return;
    }
    /* Sampled mode's common case: an unsampled block that stays unsampled. The old
     * block's size is not known, so the new size is charged whole: each resize is then
     * sampled like an allocation of its new size, which keeps the estimates unbiased
     * at the cost of more records than realloc's charging of growth alone. */
    if (shim_sample_mean != 0 && !smp_filter_says_maybe(shim_current_filter(), old) &&
        shim_not_sampled(size))
        return;
    shim_ensure_ready();
    if (!shim_recording || rt_in_shim)
        return;
    uint64_t t_before = rt_ticks_before();
    shim_resize_begin((void *)old, &o);
    if (o.known && shim_sample_mean != 0)
        member_drop(old);
    if (shim_resize_end_api((void *)old, &o, (void *)ptr, size, size, t_before, pool) && pool != 0)
        member_add(ptr, pool);
}

static void api_pool_name(uintptr_t pool, const char *name)
{
    if (pool == 0)
        return;
    shim_ensure_ready();
    if (shim_recording)
        shim_note_pool(LF_POOL_NAME, pool, name);
}

static void api_pool_reset(uintptr_t pool)
{
    if (pool == 0)
        return;
    shim_ensure_ready();
    if (!shim_recording)
        return;
    shim_note_pool(LF_POOL_RESET, pool, NULL);
    if (shim_sample_mean != 0)
        members_reset(pool);
}

/* The sample countdown as it was when the outermost ignore began. */
static __thread int64_t ignored_left __attribute__((tls_model("initial-exec")));

/* The recursion flag, as the shim's own calls set it: whatever the program calls in
 * between reaches the real functions unrecorded. A fatal signal that arrives meanwhile
 * waits for the end, as it waits for a hook to return (shim_signal.c). The hooks' fast
 * paths count bytes down before they could look at the flag, so the countdown is put
 * back at the end: the bytes a wrapped allocator mallocs for a block are not charged
 * twice, once by malloc's hook and once by the block's report (Tracked<System> would
 * otherwise be sampled at twice the rate its weights assume). */
static void api_ignore_begin(void)
{
    if (rt_in_shim++ == 0)
        ignored_left = shim_sample_left;
}

static void api_ignore_end(void)
{
    if (rt_in_shim > 0 && --rt_in_shim == 0) {
        shim_sample_left = ignored_left;
        if (SHIM_UNLIKELY(shim_pending_signal))
            shim_deliver_pending_signal();
    }
}

static int api_active(void)
{
    shim_ensure_ready();
    return shim_recording;
}

SHIM_EXPORT extern const struct heapspan_api heapspan_api_v1;
const struct heapspan_api heapspan_api_v1 = {
    .size = sizeof(struct heapspan_api),
    .version = HEAPSPAN_API_VERSION,
    .alloc = api_alloc,
    .free = api_free,
    .resize = api_resize,
    .pool_name = api_pool_name,
    .pool_reset = api_pool_reset,
    .ignore_begin = api_ignore_begin,
    .ignore_end = api_ignore_end,
    .active = api_active,
};
