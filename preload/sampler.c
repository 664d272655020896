/* sampler.c - see sampler.h. */
#include "preload/sampler.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/rt.h"

struct slot {
    uint64_t addr; /* 0 empty, 1 deleted */
    uint64_t size;
};

struct smp_set {
    struct smp_filter *filter; /* changed under lock, read without */
    const struct smp_filter **publish;
    pthread_mutex_t lock;
    struct slot *slots;
    uint64_t cap, used; /* used counts deleted slots too, until the next rebuild */
    uint64_t members;
    uint64_t pins[SMP_MAX_PINS]; /* counted in every filter, never removed */
    unsigned n_pins;
};

#define FILTER_MIN_SHIFT   42 /* 2^22 buckets */
#define FILTER_START_SHIFT 48 /* 2^16 buckets */
#define BUCKETS_PER_MEMBER 64

static const uint16_t all_counts[2] = { 1, 1 };
const struct smp_filter smp_all_maybe = { .shift = 63,
                                          .count = (uint16_t *)all_counts,
                                          .summary = { ~0ull } };

static uint64_t buckets_at(uint32_t shift)
{
    return 1ull << (64 - shift);
}

static size_t filter_summary_bytes(uint32_t shift)
{
    uint64_t words = (buckets_at(shift) / 2 + 63) / 64;
    return words * sizeof(uint64_t);
}

static struct smp_filter *filter_new(uint32_t shift)
{
    size_t head = sizeof(struct smp_filter) + filter_summary_bytes(shift);
    struct smp_filter *f = rt_map(head + buckets_at(shift) * sizeof(uint16_t));

    if (f == NULL)
        return NULL;
    f->shift = shift;
    f->count = (uint16_t *)(void *)((char *)f + head);
    return f;
}

#define mix smp_mix

/* Both under the set's lock. A member is counted before its summary bit is set, and
 * the bit is cleared only when the bucket pair is empty: a reader that sees the bit
 * clear can only be asking about a block that is not in the set. */
static void filter_add(struct smp_filter *f, uint64_t addr)
{
    uint64_t b = smp_bucket(f, addr), bit = b >> 1;
    __atomic_add_fetch(&f->count[b], 1, __ATOMIC_RELAXED);
    __atomic_or_fetch(&f->summary[bit / 64], 1ull << (bit % 64), __ATOMIC_RELEASE);
}

static void filter_remove(struct smp_filter *f, uint64_t addr)
{
    uint64_t b = smp_bucket(f, addr), bit = b >> 1;
    __atomic_sub_fetch(&f->count[b], 1, __ATOMIC_RELAXED);
    if (f->count[b & ~1ull] == 0 && f->count[b | 1ull] == 0)
        __atomic_and_fetch(&f->summary[bit / 64], ~(1ull << (bit % 64)), __ATOMIC_RELAXED);
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

static void add_pins(struct smp_set *s, struct smp_filter *f)
{
    for (unsigned i = 0; i < s->n_pins; i++)
        filter_add(f, s->pins[i]);
}

struct smp_set *smp_set_new(const struct smp_filter **publish, const uint64_t *pins,
                            unsigned n_pins)
{
    struct smp_set *s = rt_map(sizeof(*s));

    if (s == NULL)
        return NULL;
    s->filter = filter_new(FILTER_START_SHIFT);
    if (s->filter == NULL) {
        rt_unmap(s, sizeof(*s));
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (n_pins > SMP_MAX_PINS)
        publish = NULL; /* the caller's "maybe" filter stays: slow, never wrong */
    else {
        memcpy(s->pins, pins, n_pins * sizeof(*pins));
        s->n_pins = n_pins;
        add_pins(s, s->filter);
    }
    s->publish = publish;
    if (publish != NULL)
        __atomic_store_n(publish, s->filter, __ATOMIC_RELEASE);
    return s;
}

void smp_unpublish(struct smp_set *s)
{
    pthread_mutex_lock(&s->lock);
    s->publish = NULL;
    pthread_mutex_unlock(&s->lock);
}

/* Under the lock: an eight times larger filter, built from the members and published.
 * On failure the old one stays: more false alarms, never a wrong answer. */
static void filter_grow(struct smp_set *s)
{
    struct smp_filter *f = filter_new(s->filter->shift - 3);

    if (f == NULL)
        return;
    for (uint64_t i = 0; i < s->cap; i++)
        if (s->slots[i].addr >= 2)
            filter_add(f, s->slots[i].addr);
    add_pins(s, f);
    __atomic_store_n(&s->filter, f, __ATOMIC_RELEASE);
    if (s->publish != NULL)
        __atomic_store_n(s->publish, f, __ATOMIC_RELEASE);
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
    s->members++;
    if (s->members * BUCKETS_PER_MEMBER > buckets_at(s->filter->shift) &&
        s->filter->shift > FILTER_MIN_SHIFT)
        filter_grow(s); /* the new member is in the slots: counted in */
    else
        filter_add(s->filter, addr);
    pthread_mutex_unlock(&s->lock);
}

bool smp_remove(struct smp_set *s, uint64_t addr, uint64_t *size)
{
    uint64_t h = mix(addr);
    bool found = false;

    if (!smp_filter_says_maybe(__atomic_load_n(&s->filter, __ATOMIC_ACQUIRE), addr))
        return false;
    pthread_mutex_lock(&s->lock);
    if (s->cap > 0) {
        uint64_t j = h & (s->cap - 1);
        while (s->slots[j].addr != 0) {
            if (s->slots[j].addr == addr) {
                *size = s->slots[j].size;
                s->slots[j].addr = 1;
                s->members--;
                filter_remove(s->filter, addr);
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
 * than written: a forked child would otherwise copy or fault in every page of a filter's
 * counts (128 KiB at the least), where its parent touched only those of members. */
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
    struct smp_filter *f = s->filter;
    memset(f->summary, 0, filter_summary_bytes(f->shift));
    zero_mapped(f->count, buckets_at(f->shift) * sizeof(*f->count));
    add_pins(s, f); /* the child has the parent's memory, pinned blocks included */
    s->members = 0;
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
