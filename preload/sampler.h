/*
 * sampler.h - Poisson sampling by bytes, and the set of sampled blocks still live.
 *
 * As in jemalloc and tcmalloc, each thread counts down bytes from an exponential draw
 * with mean R and samples the allocation that crosses zero, so an s-byte allocation is
 * sampled with probability 1 - exp(-s/R); the analyzer divides by that to estimate.
 * Frees must be matched to sampled blocks only, and the shim keeps no full live set:
 * a counting filter answers "certainly not sampled" for most frees with one load, and
 * an exact set behind a mutex (held for table work only) answers the rest.
 *
 * Two independent samplers share this code: the allocation sampler (--sample) and the
 * zero-byte sampler, which picks blocks whose contents are counted (how many bytes are
 * zero) when they are freed or still live at exit: evidence for bloated structs.
 */
#ifndef HEAPSPAN_SAMPLER_H
#define HEAPSPAN_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smp_set;

/* Whether the allocation of `size` bytes is sampled; *left is the thread's countdown
 * (INT64_MIN: draw a first interval), *rng its random state. */
bool smp_take(int64_t *left, uint64_t *rng, uint64_t mean, size_t size);
/* An interval to the next sample point: exponential with the given mean, at least 1. */
int64_t smp_draw(uint64_t *rng, uint64_t mean);

/*
 * A resize (realloc, rallocx, xallocx) keeps a block's chance of being sampled what an
 * allocation of its new size would have, without a fresh draw of the whole new size
 * per call - a buffer grown a few bytes at a time would otherwise be sampled at every
 * few steps, which costs a recorded event each and makes no estimate better:
 *   - a sampled block that grows stays sampled;
 *   - a block not sampled charges only its growth (new size minus usable old size) to
 *     the countdown, and is sampled if that crosses zero: by the Poisson process's
 *     lack of memory, a block grown from s0 to s1 bytes is then sampled with
 *     probability 1 - exp(-s1/R), as one allocated at s1 bytes would be;
 *   - a sampled block that shrinks stays sampled with probability p(s1) / p(s0).
 * So a resize call is recorded with probability p(new size), as an allocation is, and
 * the analyzer's weights (1/p of the new size) stay unbiased for counts, bytes
 * allocated, and live bytes. Charging the usable rather than the requested old size
 * undercounts growth by the allocator's slack (a few bytes) per call.
 */
/* Whether a sampled block resized from `from` to `to` bytes stays sampled. */
bool smp_keep_resized(uint64_t *rng, uint64_t mean, uint64_t from, uint64_t to);

/*
 * The set answers "certainly not sampled" for most frees with no lock, from a filter
 * with a count of members per 16-byte granule of a 64 MiB window of the address space:
 * the bucket is address bits 4..25, and the counts are a 4 MiB byte array whose pages
 * are touched only where members are. The free hook reads one byte; only when it is
 * non-zero does it take the set's mutex. Every instruction of that test is paid on
 * every free, hence no hash: bench's sampler-floor (a countdown and a range test, nothing
 * recorded) added 1.5 ms to 5M malloc/free pairs of a C extension under CPython, and
 * 4.4 ms with the hashed two-level bit filter this one replaced in its place.
 *
 * Address bits are a better key than a hash for this question. Within any 64 MiB
 * window two live blocks never share a bucket, so the hot addresses an allocator hands
 * out again and again beside a sampled block never read "maybe"; a false alarm needs an
 * address a multiple of 64 MiB away from a member's, and each one costs a free ~100 ns
 * at the mutex. 65,536 live sampled blocks (32 GiB of live heap at 512 KiB sampling)
 * fill 1.6% of the buckets at most. The filter never grows or moves, so the hooks read
 * it without a pointer to chase or swap.
 *
 * A count that reaches SMP_STUCK stays there (a bucket with 255 members a multiple of
 * 64 MiB apart says "maybe" for good: slower, never wrong). Bucket 0 is stuck from the
 * start, which makes a filter whose mask is 0 say "maybe" for every address: what the
 * hooks read before a set exists and after smp_filter_all_maybe.
 */
#define SMP_FILTER_BUCKETS (1u << 22)
#define SMP_GRANULE_SHIFT  4
#define SMP_STUCK          255

struct smp_filter {
    uint64_t mask;        /* SMP_FILTER_BUCKETS - 1; 0 while nothing is published */
    const uint8_t *count; /* members per bucket */
};

/* A filter that says "maybe" for every address: what to read before a set exists. */
extern const uint8_t smp_stuck_bucket[1];
#define SMP_FILTER_ALL_MAYBE \
    {                        \
        0, smp_stuck_bucket  \
    }

/* A new, empty set, whose counts are published into *publish (if not NULL: the mask
 * last, so that a reader that sees it sees the counts). Pinned addresses (at most
 * SMP_MAX_PINS) are never members, but the filter says "maybe" for them for good, so
 * that a free hook which trusts the filter alone still sends them to its slow path:
 * the shim's bootstrap-arena blocks. With more pins than that, nothing is published,
 * and *publish keeps saying "maybe" for every address. */
#define SMP_MAX_PINS 64
struct smp_set *smp_set_new(struct smp_filter *publish, const uint64_t *pins, unsigned n_pins);
/* For good: f says "maybe" for every address (whatever counts a reader holds). */
void smp_filter_all_maybe(struct smp_filter *f);
/* Adds a sampled block. */
void smp_add(struct smp_set *s, uint64_t addr, uint64_t size);

static inline uint64_t smp_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* False when addr is certainly not in the set. The mask is read first: with it 0, any
 * counts read say "maybe" (bucket 0 is stuck in all of them). */
static inline bool smp_filter_says_maybe(const struct smp_filter *f, uint64_t addr)
{
    uint64_t mask = __atomic_load_n(&f->mask, __ATOMIC_ACQUIRE);
    const uint8_t *count = __atomic_load_n(&f->count, __ATOMIC_RELAXED);
    return __atomic_load_n(&count[(addr >> SMP_GRANULE_SHIFT) & mask], __ATOMIC_RELAXED) != 0;
}

/* Removes addr if it is in the set; returns true and its size if it was. */
bool smp_remove(struct smp_set *s, uint64_t addr, uint64_t *size);
/* Calls fn for every block in the set (under the set's lock; fn must not call out). */
void smp_each(struct smp_set *s, void (*fn)(uint64_t addr, uint64_t size, void *arg), void *arg);

void smp_fork_prepare(struct smp_set *s);
void smp_fork_parent(struct smp_set *s);
void smp_fork_child(struct smp_set *s); /* emptied: the child logs afresh */

/* Zero bytes in the size bytes at p, counted on the first SMP_ZERO_PREFIX bytes and
 * scaled: the figure is a share for struct-sized blocks, not a census of buffers. */
#define SMP_ZERO_PREFIX 4096
uint64_t smp_count_zeros(const void *p, uint64_t size);

#endif
