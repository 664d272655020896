/*
 * glibc_alloc.h - what bench's preloaded floors (interpose.c, sampler_floor.c) call and
 * define: glibc's allocator under its __libc_* names, reachable without dlsym (which
 * itself allocates), and the four entry points they interpose.
 */
#ifndef BENCH_GLIBC_ALLOC_H
#define BENCH_GLIBC_ALLOC_H

#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

#endif
