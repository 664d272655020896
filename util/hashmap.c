/* hashmap.c - see hashmap.h. */
#include "util/hashmap.h"

#include <errno.h>
#include <stdlib.h>

#define HMAP_MIN_CAP 64

void hmap_init(struct hmap *m, size_t entry_size)
{
    memset(m, 0, sizeof(*m));
    m->entry_size = entry_size;
    m->shift = 64;
}

void hmap_fini(struct hmap *m)
{
    free(m->hashes);
    free(m->entries);
    hmap_init(m, m->entry_size);
}

int hmap_reserve(struct hmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : HMAP_MIN_CAP;
    int shift = 64 - __builtin_ctzll(cap);

    while (n * 2 > cap) {
        cap *= 2;
        shift--;
    }
    if (cap == m->cap)
        return 0;
    uint64_t *hashes = calloc(cap, sizeof(*hashes));
    unsigned char *entries = malloc(cap * m->entry_size);
    if (hashes == NULL || entries == NULL) {
        free(hashes);
        free(entries);
        return -ENOMEM;
    }
    struct hmap grown = *m;
    grown.hashes = hashes;
    grown.entries = entries;
    grown.cap = cap;
    grown.shift = shift;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->hashes[i] == 0)
            continue;
        size_t j = hmap_home(&grown, m->hashes[i]);
        while (hashes[j] != 0)
            j = (j + 1) & (cap - 1);
        hashes[j] = m->hashes[i];
        memcpy(entries + j * m->entry_size, m->entries + i * m->entry_size, m->entry_size);
    }
    free(m->hashes);
    free(m->entries);
    *m = grown;
    return 0;
}

void *hmap_next(const struct hmap *m, size_t *i)
{
    for (; *i < m->cap; (*i)++)
        if (m->hashes[*i] != 0)
            return m->entries + (*i)++ * m->entry_size;
    return NULL;
}
