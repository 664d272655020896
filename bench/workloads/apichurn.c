/* apichurn: churn's loop (churn_loop.h: N pairs of sizes 16..512, a window of 64 live
 * blocks, 12 frames deep) through one of three allocators, MODE:
 *   malloc  glibc's malloc and free: churn itself;
 *   own     a program's own allocator (per-size free lists over mmap'd chunks, LIFO
 *           like glibc's tcache), reporting nothing: the bare loop;
 *   api     the same allocator, each block reported through include/heapspan.h
 *           (heapspan_alloc after the allocation, heapspan_free before the free).
 * Under the shim, api against malloc is what reporting through the API costs next to
 * the shim's own hooks; without it, api against own is what the header's calls cost
 * when nothing listens (one load and a branch each).
 * usage: apichurn [N=10000000] [MODE=api]                                        */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "include/heapspan.h"

#define DEPTH    9
#define WINDOW   64
#define CLASSES  34 /* 16-byte classes of glibc's bins, up to 528 bytes */
#define CHUNK    (1 << 20)

static void *free_list[CLASSES];
static char *chunk, *chunk_end;

/* glibc's bins (a chunk of n + 8 bytes rounded up to 16): the log's coder predicts a
 * new block's address from the blocks just freed in its size class (format/evcodec.h),
 * with glibc's classes. An allocator whose classes differ costs more log bytes and
 * writer time per block, whatever it reports through; here the comparison is the
 * reporting alone. */
static inline unsigned class_of(size_t n)
{
    return (unsigned)((n + 8 + 15) >> 4);
}

static inline void *own_alloc(size_t n)
{
    unsigned c = class_of(n);
    void *p = free_list[c];
    if (__builtin_expect(p != NULL, 1)) {
        free_list[c] = *(void **)p;
        return p;
    }
    if (chunk == NULL || chunk + (c << 4) > chunk_end) {
        chunk = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED)
            abort();
        chunk_end = chunk + CHUNK;
    }
    p = chunk;
    chunk += c << 4;
    return p;
}

/* The block's class is its size's, which the caller knows (a sized free, as in C++'s
 * delete and Rust's dealloc). */
static inline void own_free(void *p, size_t n)
{
    unsigned c = class_of(n);
    *(void **)p = free_list[c];
    free_list[c] = p;
}

/* churn_loop.h's loop, its allocator given: the same machine code around it. */
#define CHURN(name, ALLOC, FREE)                                   \
    __attribute__((noinline)) static unsigned long name(long n, uint64_t seed) \
    {                                                              \
        void *live[WINDOW] = { 0 };                                \
        size_t size[WINDOW] = { 0 };                               \
        unsigned long bytes = 0;                                   \
        for (long i = 0; i < n; i++) {                             \
            uint64_t r = xs64(&seed);                              \
            size_t sz = 16 + r % 497; /* 16..512 */                \
            unsigned slot = (r >> 32) % WINDOW;                    \
            if (live[slot] != NULL)                                \
                FREE(live[slot], size[slot]);                      \
            char *p = ALLOC(sz);                                   \
            p[0] = (char)i; /* touch it */                         \
            live[slot] = p;                                        \
            size[slot] = sz;                                       \
            bytes += sz;                                           \
        }                                                          \
        for (int i = 0; i < WINDOW; i++)                           \
            if (live[i] != NULL)                                   \
                FREE(live[i], size[i]);                            \
        return bytes;                                              \
    }

#define MALLOC_ALLOC(n)   malloc(n)
#define MALLOC_FREE(p, n) ((void)(n), free(p))
#define OWN_ALLOC(n)      own_alloc(n)
#define OWN_FREE(p, n)    own_free((p), (n))
#define API_ALLOC(n)                 \
    ({                               \
        void *b_ = own_alloc(n);     \
        heapspan_alloc(b_, (n));     \
        b_;                          \
    })
#define API_FREE(p, n)           \
    do {                         \
        heapspan_free(p);        \
        own_free((p), (n));      \
    } while (0)

CHURN(loop_malloc, MALLOC_ALLOC, MALLOC_FREE)
CHURN(loop_own, OWN_ALLOC, OWN_FREE)
CHURN(loop_api, API_ALLOC, API_FREE)

typedef unsigned long (*loop_fn)(long n, uint64_t seed);

__attribute__((noinline)) static unsigned long descend(int depth, loop_fn loop, long n,
                                                       uint64_t seed)
{
    unsigned long r = depth > 0 ? descend(depth - 1, loop, n, seed) : loop(n, seed);
    NO_TAILCALL();
    return r;
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 10000000);
    const char *mode = argc > 2 ? argv[2] : "api";
    loop_fn loop = !strcmp(mode, "malloc") ? loop_malloc
                   : !strcmp(mode, "own")  ? loop_own
                   : !strcmp(mode, "api")  ? loop_api
                                           : NULL;
    if (loop == NULL) {
        fprintf(stderr, "apichurn: MODE is malloc, own or api, not %s\n", mode);
        return 2;
    }
    unsigned long bytes = descend(DEPTH, loop, n, 0x9E3779B97F4A7C15ull);
    /* allocs= counts what a full trace must hold: own reports none. */
    printf("apichurn: mode=%s allocs=%ld frees=%ld bytes=%lu maxrss_kb=%ld cpu_s=%.3f\n", mode,
           loop == loop_own ? 0 : n, loop == loop_own ? 0 : n, bytes, maxrss_kb(), cpu_s());
    return 0;
}
