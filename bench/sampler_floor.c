/*
 * sampler_floor.c - the floor of any LD_PRELOAD heap profiler that samples, for
 * bench/run's `sampler-floor` variant: interpose.c plus the two checks that every
 * interposed call of a sampling profiler must make, and nothing else.
 *
 *   - malloc, calloc and realloc charge their bytes to a per-thread countdown (one TLS
 *     load, a subtract, a store and a branch). When it crosses zero the countdown is
 *     reset to 512 KiB - where a profiler would capture a stack and record the block.
 *   - free and realloc ask whether the block is one a sampler would know: here the
 *     cheapest test there is, a range check against a range that holds no block (two
 *     loads, a subtract, a compare and a branch). heapspan asks a hashed bit filter.
 *
 * No stack is captured, nothing is recorded, no thread or file is started. The time a
 * workload loses under this variant is what sampled mode cannot get below however
 * cheap its own work; heapspan-512k's cost above it is heapspan's.
 */
#include <stdint.h>

#include "glibc_alloc.h"

#define SAMPLE_MEAN_BYTES 524288

static __thread int64_t countdown __attribute__((tls_model("initial-exec"))) = SAMPLE_MEAN_BYTES;

/* volatile: the compiler must not fold the empty range into "never sampled". */
static volatile uintptr_t sampled_base = 1, sampled_len = 0;

/* Whether size bytes reach the next sample point; charges them if not. */
static inline int crosses(size_t size)
{
    int64_t left = countdown - (int64_t)size;
    if (__builtin_expect(left < 0, 0)) {
        countdown = SAMPLE_MEAN_BYTES;
        return 1;
    }
    countdown = left;
    return 0;
}

static inline int maybe_sampled(void *p)
{
    return (uintptr_t)p - sampled_base < sampled_len;
}

/* Out of line, as a profiler's slow path would be: the fast paths keep no frame. */
__attribute__((noinline)) static void *sample(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

void *malloc(size_t size)
{
    if (__builtin_expect(crosses(size), 0))
        return sample(__libc_malloc(size));
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    if (__builtin_expect(crosses(n * size), 0))
        return sample(__libc_calloc(n, size));
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    if (__builtin_expect(maybe_sampled(p) | crosses(size), 0))
        return sample(__libc_realloc(p, size));
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (__builtin_expect(maybe_sampled(p), 0)) {
        sample(p);
        __libc_free(p);
        return;
    }
    __libc_free(p);
}
