/*
 * stackhash.h - the hash that names a captured stack in the shim's stack table
 * (preload/stacks.c), taken in pieces. The frames are taken from the outermost in,
 * four lanes each a multiply chain over every fourth frame, folded with the depth at
 * the end: the chains run side by side (one chain over every frame waits a multiply's
 * latency per frame), and a stack's outer part - the same from one capture to the next
 * under an interpreter, where only the innermost frames change - can be hashed once
 * and its state kept (preload/pystacks.c). Taken in one piece or in several, the same
 * frames give the same hash. Never written to the log.
 */
#ifndef HEAPSPAN_STACKHASH_H
#define HEAPSPAN_STACKHASH_H

#include <stdint.h>

struct sh_state {
    uint64_t lane[4];
    uint32_t k; /* frames taken */
};

#define SH_MUL 0xff51afd7ed558ccdull

static inline void sh_init(struct sh_state *s)
{
    s->lane[0] = 0x9E3779B97F4A7C15ull;
    s->lane[1] = 0xC2B2AE3D27D4EB4Full;
    s->lane[2] = 0x165667B19E3779F9ull;
    s->lane[3] = 0x27D4EB2F165667C5ull;
    s->k = 0;
}

static inline uint64_t sh_mix(uint64_t lane, uint64_t v)
{
    lane = (lane ^ v) * SH_MUL;
    return lane ^ (lane >> 29);
}

/* Takes p[len - 1], p[len - 2] ... p[0], in that order: the frames of p, outermost
 * first, p being the part of a stack just inside the part already taken. */
static inline void sh_take(struct sh_state *s, const uint64_t *p, int len)
{
    int i = len;
    while (i > 0 && (s->k & 3) != 0) {
        i--;
        s->lane[s->k & 3] = sh_mix(s->lane[s->k & 3], p[i]);
        s->k++;
    }
    uint64_t a = s->lane[0], b = s->lane[1], c = s->lane[2], d = s->lane[3];
    for (; i >= 4; i -= 4) {
        a = sh_mix(a, p[i - 1]);
        b = sh_mix(b, p[i - 2]);
        c = sh_mix(c, p[i - 3]);
        d = sh_mix(d, p[i - 4]);
        s->k += 4;
    }
    s->lane[0] = a;
    s->lane[1] = b;
    s->lane[2] = c;
    s->lane[3] = d;
    while (i > 0) {
        i--;
        s->lane[s->k & 3] = sh_mix(s->lane[s->k & 3], p[i]);
        s->k++;
    }
}

/* The hash of the frames taken (never 0: 0 names no stack). */
static inline uint64_t sh_end(const struct sh_state *s)
{
    uint64_t a = s->lane[0], b = s->lane[1], c = s->lane[2], d = s->lane[3];
    uint64_t h = a ^ (b << 17 | b >> 47) ^ (c << 31 | c >> 33) ^ (d << 47 | d >> 17);
    h ^= (uint64_t)s->k * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h *= SH_MUL;
    h ^= h >> 29;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 32;
    return h | 1;
}

static inline uint64_t sh_hash(const uint64_t *pcs, int depth)
{
    struct sh_state s;
    sh_init(&s);
    sh_take(&s, pcs, depth);
    return sh_end(&s);
}

#endif
