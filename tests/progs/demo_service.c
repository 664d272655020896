/*
 * demo_service.c - the program `make demo` records: a small "service" with the heap
 * problems heapspan is for, each with a count known by construction (the `demo`
 * integration test checks them).
 *
 * 4 worker threads each handle 20000 requests. A request:
 *   - parses into a temporary buffer (parse_request: 64-4159 bytes, freed at once);
 *   - looks up its key in a cache that never evicts (cache_put: one 192-byte entry per
 *     new key; every key comes 10 times, so 8000 entries stay live: the cache only grows);
 *   - opens a session (session_open, 512 bytes) that the reply path closes - except on
 *     the error path, every 100th request, which forgets it: 800 sessions leak.
 * The cache's bucket table is one calloc in cache_init. Runs in well under 2 s.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_THREADS   4
#define N_REQUESTS  20000
#define N_BUCKETS   4096
#define REPEATS     10 /* requests per key */
#define ERROR_EVERY 100

struct entry {
    struct entry *next;
    uint64_t key;
    char value[176];
};
_Static_assert(sizeof(struct entry) == 192, "entry size is part of the demo's truth");

struct session {
    uint64_t id;
    char scratch[504];
};
_Static_assert(sizeof(struct session) == 512, "session size is part of the demo's truth");

static struct entry **buckets;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t n_entries, n_leaked;

__attribute__((noipa)) static void cache_init(void)
{
    buckets = calloc(N_BUCKETS, sizeof(*buckets));
    if (buckets == NULL)
        abort();
}

/* Inserts key unless present; entries are never evicted. */
__attribute__((noipa)) static void cache_put(uint64_t key)
{
    size_t b = (size_t)(key * 0x9e3779b97f4a7c15ull >> 52) % N_BUCKETS;

    pthread_mutex_lock(&cache_lock);
    for (struct entry *e = buckets[b]; e != NULL; e = e->next)
        if (e->key == key) {
            pthread_mutex_unlock(&cache_lock);
            return;
        }
    struct entry *e = malloc(sizeof(*e));
    if (e == NULL)
        abort();
    e->key = key;
    memset(e->value, 'v', sizeof(e->value));
    e->next = buckets[b];
    buckets[b] = e;
    n_entries++;
    pthread_mutex_unlock(&cache_lock);
}

/* A temporary: the parsed request, gone when parsing is done. Returns a checksum. */
__attribute__((noipa)) static unsigned parse_request(uint64_t id)
{
    size_t len = 64 + (size_t)(id * 2654435761u % 4096);
    unsigned char *buf = malloc(len);
    unsigned sum = 0;

    if (buf == NULL)
        abort();
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(id + i);
    for (size_t i = 0; i < len; i += 64)
        sum += buf[i];
    free(buf);
    return sum;
}

__attribute__((noipa)) static struct session *session_open(uint64_t id)
{
    struct session *s = malloc(sizeof(*s));
    if (s == NULL)
        abort();
    s->id = id;
    s->scratch[0] = 0;
    return s;
}

static void session_close(struct session *s)
{
    free(s);
}

static void *worker(void *arg)
{
    uint64_t t = (uint64_t)(uintptr_t)arg;
    unsigned sum = 0;

    for (uint64_t r = 0; r < N_REQUESTS; r++) {
        uint64_t id = t * N_REQUESTS + r;
        struct session *s = session_open(id);
        sum += parse_request(id);
        cache_put(id / REPEATS);
        if (r % ERROR_EVERY == ERROR_EVERY - 1) {
            /* error path: replies with an error and forgets to close the session */
            __atomic_add_fetch(&n_leaked, 1, __ATOMIC_RELAXED);
            continue;
        }
        session_close(s);
    }
    return (void *)(uintptr_t)sum;
}

int main(void)
{
    pthread_t th[N_THREADS];

    cache_init();
    for (uintptr_t i = 0; i < N_THREADS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
            return 1;
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    printf("demo_service: %d requests on %d threads; cache holds %llu entries (it never "
           "evicts); %llu sessions leaked by session_open's error path\n",
           N_THREADS * N_REQUESTS, N_THREADS, (unsigned long long)n_entries,
           (unsigned long long)n_leaked);
    return 0;
}
