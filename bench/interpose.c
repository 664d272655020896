/*
 * interpose.c - the floor of any LD_PRELOAD heap profiler, for bench/run's `interpose`
 * variant: malloc, calloc, realloc and free interposed and passed straight to glibc,
 * recording nothing. What a workload loses under it is what interposing costs before
 * a profiler does any work of its own (one more jump through the PLT per call); the
 * sampled variant's cost above it is heapspan's.
 *
 * glibc's __libc_* entry points are its allocator proper, so no dlsym (which itself
 * allocates) is needed.
 */
#include "glibc_alloc.h"

void *malloc(size_t size)
{
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}
