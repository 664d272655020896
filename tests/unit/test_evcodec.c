/*
 * test_evcodec.c - unit tests for preload/evcodec.c, the stored form of events chunks.
 *
 * Every event stream must decode to exactly what was encoded: random mixes of every
 * record type, addresses of any width, sizes in and beyond the size classes, reuse the
 * model predicts and reuse it cannot, columns compressed or stored. The predictions
 * must pay off where malloc's reuse is regular (a churn-like stream codes almost no
 * address bytes), and a damaged payload must be refused or decoded to some events -
 * never read out of bounds (the sanitizer build of the reader runs the same decoder).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include <cmocka.h>

#include "format/evcodec.h"

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct coded {
    uint8_t *p;
    size_t len;
    uint32_t records;
};

/* Encodes n events from base; as many as fit in one chunk. */
static struct coded encode(const struct lf_event *ev, int n, uint64_t base, ZSTD_CCtx *zc,
                           int *used)
{
    struct ec_enc *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    ec_enc_begin(e, base);
    int i = 0;
    while (i < n && ec_enc_room(e))
        ec_enc_add(e, &ev[i++]);
    *used = i;
    struct coded c = { malloc(ec_enc_bound(e)), 0, e->records };
    assert_non_null(c.p);
    c.len = ec_enc_finish(e, c.p, zc, 3);
    assert_true(c.len <= ec_enc_bound(e));
    free(e);
    return c;
}

/* Decodes c and compares with ev[0..n); returns the bytes the columns took raw. */
static size_t decode_same(const struct coded *c, const struct lf_event *ev, int n, uint64_t base,
                          ZSTD_DCtx *zd)
{
    struct ec_dec *d = calloc(1, sizeof(*d));
    size_t need = ec_unpacked_size(c->p, c->len);
    assert_non_null(d);
    assert_true(need != SIZE_MAX);
    uint8_t *cols = malloc(need + 1);
    assert_non_null(cols);
    assert_true(ec_unpack(c->p, c->len, zd, cols));
    assert_true(ec_dec_begin(d, cols, need, base));
    for (int i = 0; i < n; i++) {
        struct lf_event got;
        int k = ec_dec_next(d, &got);
        if (k != 1)
            fail_msg("record %d of %d: expected a record vs got %d", i, n, k);
        const struct lf_event *w = &ev[i];
        if (got.type != w->type || got.fn != w->fn || got.time != w->time ||
            got.time_before != w->time_before || got.addr != w->addr ||
            (w->type == LF_EV_REALLOC && got.old_addr != w->old_addr) || got.size != w->size ||
            got.stack != w->stack || got.count != w->count)
            fail_msg("record %d: type %d addr %#llx old %#llx size %llu time %llu vs wanted "
                     "type %d addr %#llx old %#llx size %llu time %llu",
                     i, got.type, (unsigned long long)got.addr, (unsigned long long)got.old_addr,
                     (unsigned long long)got.size, (unsigned long long)got.time, w->type,
                     (unsigned long long)w->addr, (unsigned long long)w->old_addr,
                     (unsigned long long)w->size, (unsigned long long)w->time);
    }
    struct lf_event extra;
    assert_int_equal(ec_dec_next(d, &extra), 0);
    free(cols);
    free(d);
    return need;
}

/* A random stream: a pool of live blocks, freed and reallocated at random, addresses
 * reused the way malloc reuses them (often the last freed of the size) or not. */
static int random_stream(struct lf_event *ev, int n, uint64_t *seed, uint64_t base)
{
    enum { POOL = 200 };
    uint64_t live[POOL], live_size[POOL], freed[8];
    int n_live = 0, n_freed = 0, k = 0;
    uint64_t t = base, next_addr = 0x555555550000ull;

    while (k < n) {
        uint64_t r = xorshift(seed), prev = t;
        t += r % 3 == 0 ? 0 : r % 5000;
        struct lf_event *e = &ev[k++];
        memset(e, 0, sizeof(*e));
        e->time = e->time_before = t;
        e->fn = (uint8_t)(r >> 20) % LF_FN_COUNT;
        int what = (int)((r >> 8) % 16);
        uint64_t size = (r >> 24) % 5 == 0 ? (r >> 30) % 100000 : (r >> 24) % 600;
        uint64_t addr;
        if ((r >> 40) % 7 == 0)
            addr = 0xffff800000000000ull | (r & 0xfffffff0); /* needs all 64 bits */
        else if (n_freed > 0 && (r >> 44) % 2 == 0)
            addr = freed[--n_freed];
        else
            addr = next_addr += 16 + size;
        if (what < 6 || n_live == 0) {
            e->type = LF_EV_ALLOC;
            e->addr = e->old_addr = addr;
            e->size = size;
            e->stack = (uint32_t)(r >> 50) % 9;
            if (n_live < POOL) {
                live[n_live] = addr;
                live_size[n_live++] = size;
            }
        } else if (what < 11) {
            int i = (int)((r >> 32) % (uint64_t)n_live);
            e->type = LF_EV_FREE;
            e->addr = e->old_addr = live[i];
            if (n_freed < 8)
                freed[n_freed++] = live[i];
            live[i] = live[--n_live];
        } else if (what < 14) {
            int i = (int)((r >> 32) % (uint64_t)n_live);
            e->type = LF_EV_REALLOC;
            e->old_addr = live[i];
            e->addr = (r >> 36) % 3 == 0 ? live[i] : addr;
            e->size = size;
            e->stack = 1;
            e->time_before = t - (r % 7 == 0 ? 0 : (r >> 4) % (t - prev + 1));
            live[i] = e->addr;
            live_size[i] = size;
        } else if (what == 14) {
            e->type = LF_EV_LOST;
            e->fn = 0;
            e->count = r >> 50;
        } else {
            int i = (int)((r >> 32) % (uint64_t)n_live);
            e->type = LF_EV_ZEROS;
            e->fn = 0;
            e->addr = e->old_addr = live[i];
            e->size = live_size[i];
            e->count = live_size[i] ? (r >> 12) % (live_size[i] + 1) : 0;
        }
    }
    return k;
}

static void random_streams_round_trip(void **state)
{
    enum { N = 20000 };
    struct lf_event *ev = calloc(N, sizeof(*ev));
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    ZSTD_DCtx *zd = ZSTD_createDCtx();
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    (void)state;
    assert_non_null(ev);
    for (int round = 0; round < 20; round++) {
        uint64_t base = round == 0 ? 0 : xorshift(&seed) >> 2;
        int n = random_stream(ev, round % 5 == 0 ? 1 + round : N, &seed, base);
        int used;
        struct coded c = encode(ev, n, base, round % 2 ? zc : NULL, &used);
        assert_int_equal(used, n);
        assert_int_equal(c.records, (uint32_t)n);
        decode_same(&c, ev, n, base, zd);
        free(c.p);
    }
    ZSTD_freeCCtx(zc);
    ZSTD_freeDCtx(zd);
    free(ev);
}

/* The churn benchmark's pattern under glibc: the block a malloc returns is the last
 * one freed of its size class (a LIFO per class, as the tcache and fast bins are). The model must
 * name nearly all of them without an address: 10,000 allocations cost under a quarter byte of
 * addresses each. */
static void churn_reuse_codes_no_addresses(void **state)
{
    enum { N = 20000, WINDOW = 64 };
    struct lf_event *ev = calloc(N, sizeof(*ev));
    uint64_t live[WINDOW] = { 0 }, live_size[WINDOW] = { 0 }, freed[40][WINDOW];
    int n_freed[40] = { 0 };
    uint64_t seed = 42, t = 1000, top = 0x5555aaaa0000ull;
    int n = 0;

    (void)state;
    assert_non_null(ev);
    while (n < N) {
        uint64_t r = xorshift(&seed);
        uint64_t size = 16 + r % 497;
        int slot = (int)((r >> 32) % WINDOW), cls = (int)((size + 8 + 15) >> 4);
        if (live[slot] != 0) {
            int fcls = (int)((live_size[slot] + 8 + 15) >> 4);
            ev[n++] = (struct lf_event){ .type = LF_EV_FREE,
                                         .time = t,
                                         .time_before = t,
                                         .addr = live[slot],
                                         .old_addr = live[slot] };
            freed[fcls][n_freed[fcls]++] = live[slot];
        }
        uint64_t addr = n_freed[cls] > 0 ? freed[cls][--n_freed[cls]] : (top += 1024);
        t += 40;
        ev[n++] = (struct lf_event){ .type = LF_EV_ALLOC,
                                     .time = t,
                                     .time_before = t,
                                     .addr = addr,
                                     .old_addr = addr,
                                     .size = size,
                                     .stack = 1 };
        live[slot] = addr;
        live_size[slot] = size;
        t += 40;
        if (n >= N - 1)
            break;
    }
    struct ec_enc *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    ec_enc_begin(e, 1000);
    for (int i = 0; i < n; i++)
        ec_enc_add(e, &ev[i]);
    size_t addr_bytes = e->len[EC_NEW] + e->len[EC_OLD];
    if (addr_bytes * 4 > (size_t)n / 2) /* under a quarter byte per allocation */
        fail_msg("expected under %d address bytes for %d records vs got %zu", n / 8, n, addr_bytes);
    assert_true(e->len[EC_AGE] >= (size_t)n / 2 - WINDOW); /* frees by age: a byte each */
    uint8_t *out = malloc(ec_enc_bound(e));
    assert_non_null(out);
    struct coded c = { out, ec_enc_finish(e, out, NULL, 0), e->records };
    decode_same(&c, ev, n, 1000, NULL);
    free(out);
    free(e);
    free(ev);
}

/* A chunk is cut when a column fills: every event lands in exactly one chunk. */
static void full_columns_split_chunks(void **state)
{
    enum { N = 400000 };
    struct lf_event *ev = calloc(N, sizeof(*ev));
    ZSTD_DCtx *zd = ZSTD_createDCtx();

    (void)state;
    assert_non_null(ev);
    for (int i = 0; i < N; i++) /* LOST records: 1 tag byte, 3 time, 3 count */
        ev[i] = (struct lf_event){
            .type = LF_EV_LOST, .time = 100000ull * i, .time_before = 100000ull * i, .count = 100000
        };
    int done = 0, chunks = 0;
    uint64_t base = 0;
    while (done < N) {
        int used;
        struct coded c = encode(ev + done, N - done, base, NULL, &used);
        assert_true(used > 0);
        decode_same(&c, ev + done, used, base, zd);
        base = ev[done + used - 1].time;
        done += used;
        chunks++;
        free(c.p);
    }
    assert_true(chunks >= 2);
    ZSTD_freeDCtx(zd);
    free(ev);
}

/* Damaged payloads: every byte flipped and every length cut must give an error or
 * some events, within bounds (run under ASan by the sanitizer build as well). */
static void damaged_payloads_are_refused_safely(void **state)
{
    enum { N = 300 };
    struct lf_event ev[N];
    uint64_t seed = 7;
    ZSTD_DCtx *zd = ZSTD_createDCtx();
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    struct ec_dec *d = calloc(1, sizeof(*d));

    (void)state;
    assert_non_null(d);
    int n = random_stream(ev, N, &seed, 5);
    for (int compressed = 0; compressed < 2; compressed++) {
        int used;
        struct coded c = encode(ev, n, 5, compressed ? zc : NULL, &used);
        for (size_t cut = 0; cut <= c.len; cut++) {
            for (size_t flip = 0; flip <= cut; flip += cut < 64 ? 1 : 7) {
                uint8_t *p = malloc(cut + 1);
                assert_non_null(p);
                memcpy(p, c.p, cut);
                if (flip < cut)
                    p[flip] ^= 0x5a;
                size_t need = ec_unpacked_size(p, cut);
                if (need != SIZE_MAX) {
                    uint8_t *cols = malloc(need + 1);
                    assert_non_null(cols);
                    if (ec_unpack(p, cut, zd, cols) && ec_dec_begin(d, cols, need, 5)) {
                        struct lf_event got;
                        int k, records = 0;
                        while ((k = ec_dec_next(d, &got)) == 1)
                            assert_true(++records <= n + 1000);
                        assert_true(k == 0 || k == -1 || k == -2);
                    }
                    free(cols);
                }
                free(p);
                if (cut != c.len && flip == cut)
                    break;
            }
        }
        free(c.p);
    }
    free(d);
    ZSTD_freeCCtx(zc);
    ZSTD_freeDCtx(zd);
}

/* A column that says it holds more than EC_COL_CAP bytes - what no encoder writes -
 * is refused before anything is allocated for it: a few stored bytes of zstd would
 * otherwise decompress to 16 MiB per chunk (and a reader holds many chunks). */
static void oversized_columns_are_refused(void **state)
{
    const size_t big = EC_COL_CAP + 1;
    uint8_t *col = calloc(1, big), *z = malloc(ZSTD_compressBound(big));
    uint8_t payload[256], *p = payload;

    (void)state;
    assert_non_null(col);
    assert_non_null(z);
    size_t zl = ZSTD_compress(z, ZSTD_compressBound(big), col, big, 19);
    assert_false(ZSTD_isError(zl));
    assert_true(zl < 100);
    p = lf_put_varint(p, EC_NCOLS);
    for (int c = 0; c < EC_NCOLS; c++) {
        size_t raw = c == EC_TAG ? big : 0;
        p = lf_put_varint(p, raw);
        p = lf_put_varint(p, c == EC_TAG ? zl : 0);
        if (c == EC_TAG) {
            memcpy(p, z, zl);
            p += zl;
        }
    }
    assert_int_equal(ec_unpacked_size(payload, (size_t)(p - payload)), SIZE_MAX);
    free(col);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_streams_round_trip),
        cmocka_unit_test(churn_reuse_codes_no_addresses),
        cmocka_unit_test(full_columns_split_chunks),
        cmocka_unit_test(damaged_payloads_are_refused_safely),
        cmocka_unit_test(oversized_columns_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
