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

struct smp_set *smp_set_new(void);
/* Adds a sampled block. */
void smp_add(struct smp_set *s, uint64_t addr, uint64_t size);
/* False when addr is certainly not in the set: one load, no lock. The hash and the
 * filter are here so that the free hook's common case is inlined into it. */
#define SMP_FILTER_SLOTS 65536

static inline uint64_t smp_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* The set's filter: counts of members per hash bucket, SMP_FILTER_SLOTS of them. */
const uint16_t *smp_filter(const struct smp_set *s);

static inline bool smp_filter_says_maybe(const uint16_t *filter, uint64_t addr)
{
    return __atomic_load_n(&filter[smp_mix(addr) % SMP_FILTER_SLOTS], __ATOMIC_RELAXED) != 0;
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
