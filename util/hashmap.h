/*
 * hashmap.h - a hash map of fixed-size entries, open addressing with linear probing.
 * The caller defines the entry (its key and value together), computes the hash and
 * gives an equality test; the map stores the entries inline, with each slot's hash
 * beside it, so that a probe compares keys only when the hashes agree and growing never
 * hashes a key again. No deletion: every user so far only adds, then frees it all.
 *
 * Used by the analyzer's tables (aggregate.c: strings -> ids, threads, pcs -> frames).
 * Not the live-block map: analyzer/liveset.h says why that one is its own.
 *
 * One thread per map; no locks. hmap_put allocates (the slots double when half full)
 * and returns NULL when out of memory, leaving the map as it was. An entry's address
 * is stable until the next hmap_put. hmap_get and hmap_put are inline: with a constant
 * equality function the compiler inlines it too.
 */
#ifndef HEAPSPAN_UTIL_HASHMAP_H
#define HEAPSPAN_UTIL_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Whether entry (in the map) holds key (as given to hmap_get or hmap_put). */
typedef bool (*hmap_eq_fn)(const void *entry, const void *key);

/* Only this module's functions use the fields. */
struct hmap {
    uint64_t *hashes; /* per slot; 0: empty */
    unsigned char *entries;
    size_t entry_size;
    size_t cap, n; /* cap: 0 or a power of two */
    int shift;     /* 64 - log2(cap) */
};

/* An empty map of entries of entry_size bytes; allocates nothing. */
void hmap_init(struct hmap *m, size_t entry_size);
/* Frees the slots (not what the entries point to: iterate first). */
void hmap_fini(struct hmap *m);
/* Makes room for n entries without growing; 0 or -ENOMEM. */
int hmap_reserve(struct hmap *m, size_t n) __attribute__((warn_unused_result));

static inline size_t hmap_count(const struct hmap *m)
{
    return m->n;
}

/* Iteration in slot order: i from 0 while it returns non-NULL. */
void *hmap_next(const struct hmap *m, size_t *i);

/* FNV-1a: strings are short (function names, file paths) and this is cheap. */
static inline uint64_t hmap_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

/* 0 marks an empty slot: a hash of 0 is stored as 1. */
static inline uint64_t hmap_stored_hash(uint64_t hash)
{
    return hash != 0 ? hash : 1;
}

/* Fibonacci hashing: the slot comes from the product's high bits, which depend on
 * every bit of the hash. So an integer key (a tid, an address) may be its own hash:
 * its low bits alone, aligned pointers or small ids, would crowd a few slots. */
static inline size_t hmap_home(const struct hmap *m, uint64_t hash)
{
    return (size_t)((hash * 0x9E3779B97F4A7C15ull) >> m->shift);
}

/* The entry holding key, or NULL. */
static inline void *hmap_get(const struct hmap *m, uint64_t hash, const void *key, hmap_eq_fn eq)
{
    if (m->n == 0)
        return NULL;
    hash = hmap_stored_hash(hash);
    for (size_t j = hmap_home(m, hash);; j = (j + 1) & (m->cap - 1)) {
        if (m->hashes[j] == 0)
            return NULL;
        if (m->hashes[j] == hash && eq(m->entries + j * m->entry_size, key))
            return m->entries + j * m->entry_size;
    }
}

/* The entry holding key; if there is none, a new one, zeroed, and *added is set (the
 * caller then fills in the key: eq must find it there). NULL when out of memory. */
static inline void *hmap_put(struct hmap *m, uint64_t hash, const void *key, hmap_eq_fn eq,
                             bool *added)
{
    *added = false;
    if ((m->n + 1) * 2 > m->cap && hmap_reserve(m, m->n + 1) < 0)
        return NULL;
    hash = hmap_stored_hash(hash);
    size_t j = hmap_home(m, hash);
    for (; m->hashes[j] != 0; j = (j + 1) & (m->cap - 1))
        if (m->hashes[j] == hash && eq(m->entries + j * m->entry_size, key))
            return m->entries + j * m->entry_size;
    m->hashes[j] = hash;
    m->n++;
    *added = true;
    memset(m->entries + j * m->entry_size, 0, m->entry_size);
    return m->entries + j * m->entry_size;
}

#endif
