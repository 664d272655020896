/* sampler.c - see sampler.h. */
#include "sampler.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt.h"

struct slot {
    uint64_t addr; /* 0 empty, 1 deleted */
    uint64_t size;
};

struct smp_set {
    struct smp_filter filter; /* the counts' mask and address, never changed */
    uint8_t *count;           /* the same counts, writable: under lock */
    pthread_mutex_t lock;
    struct slot *slots;
    uint64_t cap, used;          /* used counts deleted slots too, until the next rebuild */
    uint64_t pins[SMP_MAX_PINS]; /* counted in the filter, never removed */
    unsigned n_pins;
};

const uint8_t smp_stuck_bucket[1] = { SMP_STUCK };

static inline uint64_t bucket_of(uint64_t addr)
{
    return (addr >> SMP_GRANULE_SHIFT) & (SMP_FILTER_BUCKETS - 1);
}

#define mix smp_mix

/* Both under the set's lock; readers see each count change whole. A stuck count
 * neither grows nor shrinks. */
static void filter_add(struct smp_set *s, uint64_t addr)
{
    uint8_t *c = &s->count[bucket_of(addr)];
    if (*c != SMP_STUCK)
        __atomic_store_n(c, (uint8_t)(*c + 1), __ATOMIC_RELEASE);
}

static void filter_remove(struct smp_set *s, uint64_t addr)
{
    uint8_t *c = &s->count[bucket_of(addr)];
    if (*c != SMP_STUCK)
        __atomic_store_n(c, (uint8_t)(*c - 1), __ATOMIC_RELAXED);
}

/* Counts as a new set has them: bucket 0 stuck, the pins counted in. */
static void filter_start(struct smp_set *s)
{
    s->count[0] = SMP_STUCK;
    for (unsigned i = 0; i < s->n_pins; i++)
        filter_add(s, s->pins[i]);
}

static double uniform01(uint64_t *rng) /* in (0, 1] */
{
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return ((double)(x >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

int64_t smp_draw(uint64_t *rng, uint64_t mean)
{
    /* -mean * ln(u), u uniform in (0, 1] */
    double d = -(double)mean * log(uniform01(rng));
    return d < 1.0 ? 1 : d > 9.0e18 ? INT64_MAX : (int64_t)d;
}

bool smp_take(int64_t *left, uint64_t *rng, uint64_t mean, size_t size)
{
    if (*left != INT64_MIN) {
        *left -= (int64_t)size;
        if (*left > 0)
            return false;
    }
    bool first = *left == INT64_MIN;
    *left = smp_draw(rng, mean);
    if (first) /* the first call only draws; this allocation counts against it */
        return smp_take(left, rng, mean, size);
    return true;
}

bool smp_keep_resized(uint64_t *rng, uint64_t mean, uint64_t from, uint64_t to)
{
    if (to >= from)
        return true;
    double keep = expm1(-(double)to / (double)mean) / expm1(-(double)from / (double)mean);
    return uniform01(rng) <= keep;
}

struct smp_set *smp_set_new(struct smp_filter *publish, const uint64_t *pins, unsigned n_pins)
{
    struct smp_set *s = rt_map(sizeof(*s));

    if (s == NULL)
        return NULL;
    s->count = rt_map(SMP_FILTER_BUCKETS);
    if (s->count == NULL) {
        rt_unmap(s, sizeof(*s));
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (n_pins > SMP_MAX_PINS)
        publish = NULL; /* the caller's "maybe" filter stays: slow, never wrong */
    else {
        memcpy(s->pins, pins, n_pins * sizeof(*pins));
        s->n_pins = n_pins;
    }
    filter_start(s);
    s->filter = (struct smp_filter){ SMP_FILTER_BUCKETS - 1, s->count };
    if (publish != NULL) {
        __atomic_store_n(&publish->count, s->count, __ATOMIC_RELEASE);
        __atomic_store_n(&publish->mask, s->filter.mask, __ATOMIC_RELEASE);
    }
    return s;
}

void smp_filter_all_maybe(struct smp_filter *f)
{
    __atomic_store_n(&f->mask, 0, __ATOMIC_RELEASE);
}

static bool rebuild_locked(struct smp_set *s, uint64_t cap)
{
    struct slot *n = rt_map(cap * sizeof(*n));

    if (n == NULL)
        return false;
    uint64_t live = 0;
    for (uint64_t i = 0; i < s->cap; i++) {
        if (s->slots[i].addr < 2)
            continue;
        uint64_t j = mix(s->slots[i].addr) & (cap - 1);
        while (n[j].addr != 0)
            j = (j + 1) & (cap - 1);
        n[j] = s->slots[i];
        live++;
    }
    rt_unmap(s->slots, s->cap * sizeof(*s->slots));
    s->slots = n;
    s->cap = cap;
    s->used = live;
    return true;
}

void smp_add(struct smp_set *s, uint64_t addr, uint64_t size)
{
    uint64_t h = mix(addr);

    pthread_mutex_lock(&s->lock);
    if ((s->used + 1) * 2 > s->cap) {
        uint64_t live = 0;
        for (uint64_t i = 0; i < s->cap; i++)
            live += s->slots[i].addr >= 2;
        uint64_t cap = s->cap ? s->cap : 1024;
        while ((live + 1) * 4 > cap)
            cap *= 2;
        if (!rebuild_locked(s, cap)) {
            pthread_mutex_unlock(&s->lock);
            return;
        }
    }
    uint64_t j = h & (s->cap - 1);
    while (s->slots[j].addr >= 2)
        j = (j + 1) & (s->cap - 1);
    if (s->slots[j].addr == 0)
        s->used++;
    s->slots[j] = (struct slot){ addr, size };
    filter_add(s, addr);
    pthread_mutex_unlock(&s->lock);
}

bool smp_remove(struct smp_set *s, uint64_t addr, uint64_t *size)
{
    uint64_t h = mix(addr);
    bool found = false;

    if (!smp_filter_says_maybe(&s->filter, addr))
        return false;
    pthread_mutex_lock(&s->lock);
    if (s->cap > 0) {
        uint64_t j = h & (s->cap - 1);
        while (s->slots[j].addr != 0) {
            if (s->slots[j].addr == addr) {
                *size = s->slots[j].size;
                s->slots[j].addr = 1;
                filter_remove(s, addr);
                found = true;
                break;
            }
            j = (j + 1) & (s->cap - 1);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void smp_each(struct smp_set *s, void (*fn)(uint64_t addr, uint64_t size, void *arg), void *arg)
{
    pthread_mutex_lock(&s->lock);
    for (uint64_t i = 0; i < s->cap; i++)
        if (s->slots[i].addr >= 2)
            fn(s->slots[i].addr, s->slots[i].size, arg);
    pthread_mutex_unlock(&s->lock);
}

void smp_fork_prepare(struct smp_set *s)
{
    pthread_mutex_lock(&s->lock);
}

void smp_fork_parent(struct smp_set *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* Zeroes [p, p + n) of an anonymous private mapping. Whole pages are given back rather
 * than written: a forked child would otherwise copy or fault in every page of the
 * filter's counts (4 MiB), where its parent touched only those of members. */
static void zero_mapped(void *p, size_t n)
{
    uintptr_t page = (uintptr_t)getpagesize(), lo = (uintptr_t)p, hi = lo + n;
    uintptr_t a = (lo + page - 1) & ~(page - 1), b = hi & ~(page - 1);

    if (a >= b || madvise((void *)a, b - a, MADV_DONTNEED) != 0) {
        memset(p, 0, n);
        return;
    }
    memset(p, 0, a - lo);
    memset((void *)b, 0, hi - b);
}

void smp_fork_child(struct smp_set *s)
{
    pthread_mutex_init(&s->lock, NULL);
    zero_mapped(s->count, SMP_FILTER_BUCKETS);
    filter_start(s); /* the child has the parent's memory, pinned blocks included */
    if (s->slots != NULL)
        zero_mapped(s->slots, s->cap * sizeof(*s->slots));
    s->used = 0;
}

uint64_t smp_count_zeros(const void *p, uint64_t size)
{
    const uint8_t *b = p;
    uint64_t n = size < SMP_ZERO_PREFIX ? size : SMP_ZERO_PREFIX;
    uint64_t zeros = 0, i = 0;

    /* Zero bytes of a word, eight at a time: the high bit of each byte of t is set
     * exactly where w has a zero byte (no carries cross bytes: 0x7f + 0x7f < 0x100). */
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        uint64_t t =
            ~(((w & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | w | 0x7f7f7f7f7f7f7f7full);
        zeros += ((t >> 7) * 0x0101010101010101ull) >> 56; /* popcount of 8 flag bits */
    }
    for (; i < n; i++)
        zeros += b[i] == 0;
    /* A block larger than the prefix: the prefix's share stands for the whole. */
    return n == size ? zeros : (uint64_t)((double)zeros * (double)size / (double)n);
}
