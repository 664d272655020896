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
 * The set answers "certainly not sampled" for most frees with no lock, from a filter:
 * a count of members per hash bucket, and a summary with a bit per pair of buckets,
 * set while either is non-zero. The free hook reads one summary word; only when its
 * bit is set does it read the count, and only when that is non-zero does it take the
 * set's mutex. The bucket is the top bits of the address times an odd constant
 * (Fibonacci hashing: every address bit reaches them), one multiply.
 *
 * The filter grows with the set, keeping at least 64 buckets per member, so that at
 * most 1 address in 32 of blocks never sampled reaches the count and 1 in 64 the
 * mutex. Those odds are per address, not per free: an allocator hands the same few
 * addresses out again and again, and one hot address that falls in a member's bucket
 * sends every free of it to the mutex (bench's pyext, 5M frees over a window of 64
 * blocks: 6,000 to 21,000 wasted slow paths a run, each ~100 ns, when the filter
 * started at 4,096 buckets). So it starts large enough that a program with a few
 * dozen live sampled blocks seldom meets one: 65,536 buckets (a 4 KiB summary, and
 * 128 KiB of counts of which only the pages holding members' buckets are touched). It
 * grows eightfold at a time, up to 2^22 buckets (a 256 KiB summary and 8 MiB of
 * counts: 65,536 live sampled blocks, 32 GiB of live heap at 512 KiB sampling, before
 * the rate of false alarms rises; a fixed filter of 65,536 buckets sent a quarter of
 * all frees to the mutex at 20,000). A grown filter is published through the pointer
 * given to smp_set_new; the old one stays mapped and correct for every block added
 * before it was replaced, which is every block a thread that still holds it can be
 * freeing.
 */
struct smp_filter {
    uint32_t shift;     /* bucket = (addr * SMP_HASH) >> shift */
    uint16_t *count;    /* per bucket */
    uint64_t summary[]; /* a bit per pair of buckets */
};

#define SMP_HASH 0x9E3779B97F4A7C15ull

/* A filter that says "maybe" for every address: what to read before a set exists. */
extern const struct smp_filter smp_all_maybe;

/* A new, empty set; *publish is kept pointing at its current filter. Pinned addresses
 * (at most SMP_MAX_PINS) are never members, but the filter says "maybe" for them for
 * good, so that a free hook which trusts the filter alone still sends them to its slow
 * path: the shim's bootstrap-arena blocks. With more pins than that, nothing is
 * published, and *publish keeps saying "maybe" for every address. */
#define SMP_MAX_PINS 64
struct smp_set *smp_set_new(const struct smp_filter **publish, const uint64_t *pins,
                            unsigned n_pins);
/* Stops publishing the set's filter: the caller's pointer is its own again. */
void smp_unpublish(struct smp_set *s);
/* Adds a sampled block. */
void smp_add(struct smp_set *s, uint64_t addr, uint64_t size);

static inline uint64_t smp_bucket(const struct smp_filter *f, uint64_t addr)
{
    return (addr * SMP_HASH) >> f->shift;
}

static inline uint64_t smp_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* The summary alone: false when addr is certainly not in the set. */
static inline bool smp_summary_says_maybe(const struct smp_filter *f, uint64_t addr)
{
    uint64_t bit = smp_bucket(f, addr) >> 1;
    return (__atomic_load_n(&f->summary[bit / 64], __ATOMIC_RELAXED) >> (bit % 64)) & 1;
}

/* Summary and count: false when addr is certainly not in the set. */
static inline bool smp_filter_says_maybe(const struct smp_filter *f, uint64_t addr)
{
    return smp_summary_says_maybe(f, addr) &&
           __atomic_load_n(&f->count[smp_bucket(f, addr)], __ATOMIC_RELAXED) != 0;
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
