/* stacks.c - see stacks.h. */
#define UNW_LOCAL_ONLY
#include "stacks.h"

#include <libunwind.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "logfmt.h"
#include "rt.h"

#define CACHE_SLOTS 4096 /* per thread; must match tbuf.c */
#define MAX_IDS (16u << 20)
#define ARENA_BLOCK (4u << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct st_entry **table; /* open addressing by hash, power-of-two size */
static uint32_t table_cap, table_used;
static struct st_entry **by_id; /* reserved MAX_IDS slots, touched as ids grow */
static uint32_t next_id = 1;
static uint8_t *arena, *arena_end;
static uint64_t self_lo, self_hi;

int st_init(void)
{
    void *warm[8];

    by_id = mmap(NULL, (size_t)MAX_IDS * sizeof(*by_id), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (by_id == MAP_FAILED) {
        by_id = NULL;
        return -1;
    }
    table_cap = 1u << 12;
    table = rt_map(table_cap * sizeof(*table));
    if (table == NULL)
        return -1;
    /* The per-thread trace cache setup of libunwind (pthread_once, a key, mmap). */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    (void)unw_backtrace(warm, 8);
    return 0;
}

void st_set_self_range(uint64_t lo, uint64_t hi)
{
    self_lo = lo;
    self_hi = hi;
}

int st_capture(uint64_t *pcs, int max)
{
    /* unw_backtrace fills void*; uint64_t has the same size and representation on the
     * 64-bit targets the shim supports. */
    int n = unw_backtrace((void **)pcs, max);
    int skip = 0;

    while (skip < n && pcs[skip] >= self_lo && pcs[skip] < self_hi)
        skip++;
    if (skip > 0) {
        n -= skip;
        memmove(pcs, pcs + skip, (size_t)n * sizeof(*pcs));
    }
    return n;
}

static inline uint64_t hash_stack(const uint64_t *pcs, int depth)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)depth;

    for (int i = 0; i < depth; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h | 1; /* 0 never names a stack */
}

static inline bool same_stack(const struct st_entry *e, uint64_t h, const uint64_t *pcs,
                              int depth)
{
    return e->hash == h && e->depth == (uint32_t)depth &&
           memcmp(e->pcs, pcs, (size_t)depth * sizeof(*pcs)) == 0;
}

static bool grow_table_locked(void)
{
    uint32_t cap = table_cap * 2;
    struct st_entry **t = rt_map(cap * sizeof(*t));

    if (t == NULL)
        return false;
    for (uint32_t i = 0; i < table_cap; i++) {
        struct st_entry *e = table[i];
        if (e == NULL)
            continue;
        uint32_t j = (uint32_t)e->hash & (cap - 1);
        while (t[j] != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = e;
    }
    rt_unmap(table, table_cap * sizeof(*table));
    table = t;
    table_cap = cap;
    return true;
}

static struct st_entry *new_entry_locked(uint64_t h, const uint64_t *pcs, int depth)
{
    size_t need = sizeof(struct st_entry) + (size_t)depth * sizeof(*pcs);

    if (next_id >= MAX_IDS)
        return NULL;
    if (arena == NULL || (size_t)(arena_end - arena) < need) {
        arena = rt_map(ARENA_BLOCK);
        if (arena == NULL)
            return NULL;
        arena_end = arena + ARENA_BLOCK;
    }
    struct st_entry *e = (struct st_entry *)arena;
    arena += (need + 7) & ~(size_t)7;
    e->hash = h;
    e->depth = (uint32_t)depth;
    memcpy(e->pcs, pcs, (size_t)depth * sizeof(*pcs));
    e->id = next_id;
    by_id[next_id] = e;
    /* Publish: the writer reads entries below next_id without the lock. */
    __atomic_store_n(&next_id, next_id + 1, __ATOMIC_RELEASE);
    return e;
}

static struct st_entry *lookup_or_insert(uint64_t h, const uint64_t *pcs, int depth)
{
    struct st_entry *e = NULL;

    pthread_mutex_lock(&lock);
    if ((table_used + 1) * 4 > table_cap * 3 && !grow_table_locked())
        goto out;
    uint32_t j = (uint32_t)h & (table_cap - 1);
    while (table[j] != NULL) {
        if (same_stack(table[j], h, pcs, depth)) {
            e = table[j];
            goto out;
        }
        j = (j + 1) & (table_cap - 1);
    }
    e = new_entry_locked(h, pcs, depth);
    if (e != NULL) {
        table[j] = e;
        table_used++;
    }
out:
    pthread_mutex_unlock(&lock);
    return e;
}

uint32_t st_intern(struct tb_thread *t, const uint64_t *pcs, int depth)
{
    uint64_t h = hash_stack(pcs, depth);
    struct st_entry **slot = &t->stack_cache[(h >> 7) & (CACHE_SLOTS - 1)];
    struct st_entry *e = *slot;

    if (__builtin_expect(e != NULL && same_stack(e, h, pcs, depth), 1))
        return e->id;
    e = lookup_or_insert(h, pcs, depth);
    if (e == NULL)
        return 0;
    *slot = e;
    return e->id;
}

uint32_t st_count(void)
{
    return __atomic_load_n(&next_id, __ATOMIC_ACQUIRE);
}

const struct st_entry *st_get(uint32_t id)
{
    return by_id[id];
}

void st_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void st_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void st_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
}

void st_flush_unwind_cache(void)
{
    unw_flush_cache(unw_local_addr_space, 0, 0);
}
