/*
 * evcodec.c - fuzz target: any bytes as an events chunk's payload (format/evcodec.c's
 * decoder). The first byte says which form: even, the payload as the log stores it
 * (columns maybe zstd-compressed: ec_unpacked_size, ec_unpack); odd, the unpacked form
 * ec_dec_begin takes. The records are decoded twice, by ec_dec_batch and ec_dec_next,
 * which must agree; a payload that decodes whole is encoded again with the writer's
 * encoder (ec_enc_*), which must decode to the same records: encoder and decoder can
 * never drift apart unnoticed. Seeds: the events payloads of tests/lib/mklog.c's logs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "format/evcodec.h"
#include "tests/fuzz/fuzzlib.h"

#define BASE_TIME 1000
#define MAX_EV    (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ZSTD_DCtx *zd;
static struct ec_dec dec;
static struct ec_enc enc;
static struct lf_event by_batch[MAX_EV + 64], by_next[MAX_EV + 64], again[MAX_EV + 64];

static bool same_event(const struct lf_event *a, const struct lf_event *b)
{
    return a->type == b->type && a->fn == b->fn && a->stack == b->stack && a->time == b->time &&
           a->time_before == b->time_before && a->addr == b->addr && a->old_addr == b->old_addr &&
           a->size == b->size && a->count == b->count;
}

/* Decodes the unpacked payload both ways: the number of records (reallocs unsplit) in
 * by_next, or -1 if it does not decode whole. by_batch gets the split form. */
static int decode(const uint8_t *p, size_t len, int *n_split)
{
    int n = 0, k, status = 1;

    *n_split = 0;
    if (!ec_dec_begin(&dec, p, len, BASE_TIME))
        return -1;
    while (status == 1 && *n_split < MAX_EV)
        *n_split += ec_dec_batch(&dec, by_batch + *n_split, 64, &status);
    if (status == 1)
        return -1; /* more than the arrays hold: not compared */
    if (!ec_dec_begin(&dec, p, len, BASE_TIME))
        fz_fail("ec_dec_begin", "accepted once, refused the second time", 0);
    int split = 0;
    while (n < MAX_EV + 64 && (k = ec_dec_next(&dec, &by_next[n])) == 1) {
        struct lf_event two[2] = { by_next[n] };
        int halves = 1;
        if (two[0].type == LF_EV_REALLOC) {
            lf_split_realloc(two);
            halves = 2;
        }
        for (int h = 0; h < halves; h++, split++)
            if (split >= *n_split || !same_event(&two[h], &by_batch[split]))
                fz_fail("ec_dec_batch and ec_dec_next", "disagree", (size_t)split);
        n++;
    }
    if (split != *n_split || (k == 1) != (status == 1) || (k == 0) != (status == 0))
        fz_fail("ec_dec_batch and ec_dec_next", "end differently", (size_t)split);
    return k == 0 ? n : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *unpacked = NULL;
    const uint8_t *p = data + 1;
    size_t len = size > 0 ? size - 1 : 0;
    int n_split;

    if (size == 0)
        return 0;
    if (zd == NULL && (zd = ZSTD_createDCtx()) == NULL)
        abort();
    if ((data[0] & 1) == 0) {
        size_t need = ec_unpacked_size(p, len);
        if (need == SIZE_MAX)
            return 0;
        if (need > LF_MAX_CHUNK_RAW)
            fz_fail("ec_unpacked_size", "above LF_MAX_CHUNK_RAW", need);
        unpacked = malloc(need ? need : 1);
        if (unpacked == NULL)
            abort();
        if (!ec_unpack(p, len, zd, unpacked)) {
            free(unpacked);
            return 0;
        }
        p = unpacked;
        len = need;
    }
    int n = decode(p, len, &n_split);

    /* Encode what was decoded; it must decode to the same records. */
    if (n > 0) {
        ec_enc_begin(&enc, BASE_TIME);
        int i;
        for (i = 0; i < n && ec_enc_room(&enc); i++)
            ec_enc_add(&enc, &by_next[i]);
        if (i == n) {
            uint8_t *out = malloc(ec_enc_bound(&enc));
            if (out == NULL)
                abort();
            size_t olen = ec_enc_finish(&enc, out, NULL, 0);
            memcpy(again, by_next, (size_t)n * sizeof(*again));
            int m = decode(out, olen, &n_split);
            if (m != n)
                fz_fail("encoded again", "does not decode to as many records", (size_t)m);
            for (int j = 0; j < n; j++)
                if (!same_event(&again[j], &by_next[j]))
                    fz_fail("encoded again", "decodes to another record", (size_t)j);
            free(out);
        }
    }
    free(unpacked);
    return 0;
}
