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

struct smp_set *smp_set_new(void);
/* Adds a sampled block. */
void smp_add(struct smp_set *s, uint64_t addr, uint64_t size);
/* False when addr is certainly not in the set, with no lock. The hash and the filter
 * are here so that the free hook's common case is inlined into it.
 *
 * The filter counts set members per hash bucket (SMP_FILTER_SLOTS of them, 128 KiB),
 * and a 4 KiB summary has a bit per pair of buckets, set while either is non-zero.
 * The summary stays in L1 cache: a free of a block never sampled costs one L1 load,
 * where the counts alone missed L1 on most frees (measured: 2/3 of the free hook's
 * time on churn at 512 KiB sampling). The bucket is the top 16 bits of the address
 * times an odd constant (Fibonacci hashing: every address bit reaches them), one
 * multiply on the free hook's path. */
#define SMP_FILTER_SLOTS 65536
#define SMP_SUMMARY_BITS (SMP_FILTER_SLOTS / 2)

struct smp_filter {
    uint64_t summary[SMP_SUMMARY_BITS / 64];
    uint16_t count[SMP_FILTER_SLOTS];
};

static inline uint32_t smp_bucket(uint64_t addr)
{
    return (uint32_t)((addr * 0x9E3779B97F4A7C15ull) >> 48);
}

static inline uint64_t smp_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

const struct smp_filter *smp_filter(const struct smp_set *s);

/* The summary alone: false when addr is certainly not in the set. */
static inline bool smp_summary_says_maybe(const uint64_t *summary, uint64_t addr)
{
    uint32_t bit = smp_bucket(addr) >> 1;
    return (__atomic_load_n(&summary[bit / 64], __ATOMIC_RELAXED) >> (bit % 64)) & 1;
}

static inline bool smp_filter_says_maybe(const struct smp_filter *f, uint64_t addr)
{
    return smp_summary_says_maybe(f->summary, addr) &&
           __atomic_load_n(&f->count[smp_bucket(addr)], __ATOMIC_RELAXED) != 0;
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
