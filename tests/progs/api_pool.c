/* api_pool.c - a program with a memory-context style pool allocator that reports its
 * blocks through include/heapspan.h: blocks carved from chunks the pool takes from
 * malloc (inside heapspan_ignore_begin/end, so that only the blocks count), freed one
 * by one or all at once by a reset; and blocks of a hand-made allocator outside any
 * pool. No stdio: the only malloc calls are the pools' own structs, and the output is
 * one write(2), the same with and without the shim.
 *
 * Known truth (tests/api-tests.sh, markers @name below), in this order:
 *   two pools, "request" and "cache": 2 mallocs of sizeof(struct pool) = 536 bytes;
 *   fill_cache: 20 blocks of 100 bytes in "cache";
 *   grow_cache_entry: one of them resized to 300 bytes (a free and an allocation);
 *   plain_leak: 512 bytes of no pool, never freed;
 *   handle_request, ROUNDS times: 100 blocks of 48 bytes in "request", 10 freed one by
 *     one, then the pool reset (90 freed by it);
 *   big_buffer: 10,000 bytes of no pool, freed;
 *   the "request" pool deleted: reset (nothing live) and its struct freed.
 * With ROUNDS = 3 (no argument): 325 allocations, 303 frees, peak 13,784 bytes (during
 * big_buffer), 3,248 bytes leaked in 22 blocks ("cache" and its struct, plain_leak).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "include/heapspan.h"

#define CHUNK (64 * 1024)

struct pool {
    const char *name;
    char *chunks[64];
    int n_chunks;
    size_t used; /* in the last chunk */
};

static struct pool *pool_new(const char *name)
{
    struct pool *p = malloc(sizeof(*p)); /* @pool_struct */
    memset(p, 0, sizeof(*p));
    p->name = name;
    heapspan_pool_name(p, name);
    return p;
}

static void *pool_alloc(struct pool *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (p->n_chunks == 0 || p->used + n > CHUNK) {
        heapspan_ignore_begin(); /* the pool's own memory: its blocks are what counts */
        p->chunks[p->n_chunks++] = malloc(CHUNK);
        heapspan_ignore_end();
        p->used = 0;
    }
    char *b = p->chunks[p->n_chunks - 1] + p->used;
    p->used += n;
    return b;
}

/* The pool's entry points report each block as they hand it out. Macros, so that the
 * report's site is their caller's line: an inline function would be the innermost
 * (inlined) frame of every block (docs/api.md). pfree leaves the memory in its chunk
 * until the reset. */
#define palloc(p, n)                       \
    ({                                     \
        void *b_ = pool_alloc((p), (n));   \
        heapspan_pool_alloc((p), b_, (n)); \
        b_;                                \
    })
#define pfree(b) heapspan_free(b)
#define prealloc(p, old, old_n, n)                        \
    ({                                                    \
        void *b_ = pool_alloc((p), (n));                  \
        memcpy(b_, (old), (old_n) < (n) ? (old_n) : (n)); \
        heapspan_pool_resize((p), (old), b_, (n));        \
        b_;                                               \
    })

static void pool_reset(struct pool *p)
{
    heapspan_pool_reset(p);
    heapspan_ignore_begin();
    for (int i = 1; i < p->n_chunks; i++)
        free(p->chunks[i]);
    heapspan_ignore_end();
    p->n_chunks = p->n_chunks > 0 ? 1 : 0;
    p->used = 0;
}

static void pool_delete(struct pool *p)
{
    pool_reset(p);
    heapspan_ignore_begin();
    if (p->n_chunks > 0)
        free(p->chunks[0]);
    heapspan_ignore_end();
    free(p);
}

/* A hand-made allocator outside any pool: pages from mmap. */
static void *pages(size_t n)
{
    void *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return b == MAP_FAILED ? NULL : b;
}

static uint64_t sum;

static __attribute__((noinline)) char **fill_cache(struct pool *cache)
{
    static char *entries[20];
    for (int i = 0; i < 20; i++) {
        entries[i] = palloc(cache, 100); /* @api_cache */
        memset(entries[i], i, 100);
        sum += (uint8_t)entries[i][99];
    }
    return entries;
}

static __attribute__((noinline)) void grow_cache_entry(struct pool *cache, char **entries)
{
    entries[7] = prealloc(cache, entries[7], 100, 300); /* @api_grow */
    sum += (uint8_t)entries[7][50];
}

static __attribute__((noinline)) void plain_leak(void)
{
    char *b = pages(4096);
    heapspan_alloc(b, 512); /* @api_plain */
    b[511] = 1;
    sum += (uint8_t)b[511];
}

static __attribute__((noinline)) void handle_request(struct pool *req, int round)
{
    char *blocks[100];
    for (int i = 0; i < 100; i++) {
        blocks[i] = palloc(req, 48); /* @api_request */
        blocks[i][0] = (char)(i + round);
        sum += (uint8_t)blocks[i][0];
    }
    /* Ten freed one by one, others each round: an address the last reset freed is
     * freed one by one now (sampled mode must have forgotten it at the reset). */
    for (int i = 0; i < 10; i++)
        pfree(blocks[(i * 10 + round) % 100]);
    pool_reset(req);
}

static __attribute__((noinline)) void big_buffer(void)
{
    char *b = pages(16384);
    heapspan_alloc(b, 10000); /* @api_big */
    memset(b, 3, 10000);
    sum += (uint8_t)b[9999];
    heapspan_free(b);
    munmap(b, 16384);
}

static char *fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    _Static_assert(sizeof(struct pool) == 536, "the pool's struct is 536 bytes");

    struct pool *req = pool_new("request");
    struct pool *cache = pool_new("cache");
    char **entries = fill_cache(cache);
    grow_cache_entry(cache, entries);
    plain_leak();
    for (int r = 0; r < rounds; r++)
        handle_request(req, r);
    big_buffer();
    pool_delete(req);

    char line[64] = "api_pool: sum ", *p = line + strlen(line);
    p = fmt_u64(p, sum);
    *p++ = '\n';
    return write(1, line, (size_t)(p - line)) == p - line ? 0 : 1;
}
