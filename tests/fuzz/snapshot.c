/*
 * snapshot.c - fuzz target: any bytes as a snapshot file (analyzer/snapshot.c, the layout
 * format/snapfmt.h's). snap_read_mem reads them; a snapshot it refuses must say so in one
 * message naming the file and a byte, safe for a terminal. One it reads must round-trip:
 * snap_encode of its model, read again and encoded again, gives the same bytes (the
 * format promises determinism, and whatever a reader accepts a writer must be able to
 * write back). Then the bytes as `heapspan report SNAPSHOT` reads them: through the
 * session, which must agree with snap_read_mem, with the built-in rules applied (or
 * not, one input in two), into every renderer (fz_render), and that model round-trips
 * too, as `heapspan snapshot SNAPSHOT -o` writes it.
 *
 * A snapshot is guarded by two checksums and its body is a zstd frame, so that most
 * byte mutations would stop at the header. The custom mutator below mutates the
 * structure instead: the decompressed body, rebuilt into a file with lengths, record
 * count and checksums that match. Inputs stay plain snapshot files: a crash replays
 * with `heapspan report` as with this target.
 *
 * Seeds: snapshots of the golden logs, with and without symbols, a hand-made model's
 * (every record type and field), and damaged variants of each (tests/fuzz/mksnap.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "analyzer/session.h"
#include "analyzer/snapshot.h"
#include "format/logfmt.h"
#include "format/snapfmt.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);

#define NAME "fuzz.hsnap"

/* ---- the properties ---- */

/* A refusal: one message, naming the file and a byte (out of memory excepted), with
 * nothing a terminal would obey. */
static void check_refusal(int err, const char *name, const char *msg)
{
    size_t n = strlen(name), at;

    if (err != -EINVAL && err != -ENOTSUP && err != -ENOMEM && err != -EIO)
        fz_fail("a refusal", "an errno snapshot.h does not list", 0);
    if (msg[0] == '\0')
        fz_fail("a refusal", "no message", 0);
    if (!fz_text_safe(msg, strlen(msg), &at))
        fz_fail("the message", "a control character or bad UTF-8", at);
    if (err != -ENOMEM && (strncmp(msg, name, n) != 0 || strncmp(msg + n, ": byte ", 7) != 0))
        fz_fail("the message", "does not begin with the file's name and a byte", 0);
}

static uint8_t *encode(const struct model *m, size_t *len, const char *what)
{
    uint8_t *b;

    if (snap_encode(m, &b, len) != 0)
        fz_fail(what, "snap_encode failed", 0);
    return b;
}

/* m encoded, read back and encoded again: the same bytes. */
static void round_trip(const struct model *m, const char *what)
{
    size_t n1, n2;
    uint8_t *b1 = encode(m, &n1, what), *b2;
    struct snap *s = NULL;
    char msg[1024] = "";

    if (snap_read_mem(b1, n1, NAME, &s, msg, sizeof(msg)) != 0)
        fz_fail(what, "its snapshot is refused when read back", 0);
    b2 = encode(snap_model(s), &n2, what);
    for (size_t i = 0; i < n1 || i < n2; i++)
        if (i >= n1 || i >= n2 || b1[i] != b2[i])
            fz_fail(what, "encoded, read and encoded again: other bytes", i);
    snap_free(s);
    free(b1);
    free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snap *snap = NULL;
    char msg[1024] = "";
    int err = snap_read_mem(data, size, NAME, &snap, msg, sizeof(msg));

    if (err < 0) {
        if (snap != NULL)
            fz_fail("snap_read_mem", "failed and returned a snapshot", 0);
        check_refusal(err, NAME, msg);
    } else {
        if (err != 0 || snap == NULL)
            fz_fail("snap_read_mem", "succeeded without a snapshot", 0);
        round_trip(snap_model(snap), "the snapshot's model");
    }

    /* As `heapspan report` reads it. Bytes without the magic are a log to the session:
     * the reader target's. */
    if (snap_is_snapshot(data, size)) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < size; i++)
            h = (h ^ data[i]) * 16777619u;
        const char *path = fz_file(data, size);
        struct session_options opt = { .path = path,
                                       .aggregate = true,
                                       .keep_runtime_leaks = (h & 1) != 0 };
        struct session *s = NULL;
        int serr = session_open(&opt, &s);
        if (serr < 0) {
            if (err == 0 && serr != -ENOMEM)
                fz_fail("the session", "refuses what snap_read_mem reads", 0);
            check_refusal(serr, path, session_error(s));
        } else {
            if (err < 0)
                fz_fail("the session", "reads what snap_read_mem refuses", 0);
            fz_render(session_model(s));
            round_trip(session_model(s), "the session's model");
        }
        session_close(s);
    }
    snap_free(snap);
    return 0;
}

/* ---- the mutator ---- */

static uint32_t next_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 16;
}

/* The header's fields that can be trusted enough to find the body: 0 when not. */
static bool find_body(const uint8_t *data, size_t size, size_t *hdr, size_t *stored)
{
    if (size < SF_HDR_SIZE || !snap_is_snapshot(data, size))
        return false;
    *hdr = lf_get_u16(data + 12);
    uint64_t st = lf_get_u64(data + 16);
    if (*hdr < SF_HDR_SIZE || *hdr > size || st > size - *hdr)
        return false;
    *stored = (size_t)st;
    return true;
}

/* The checksums made to match the bytes as they are (the body's only when the header
 * says where it is). */
static void fix_checksums(uint8_t *data, size_t size)
{
    size_t hdr, stored;

    if (size < SF_HDR_SIZE || !snap_is_snapshot(data, size))
        return;
    if (find_body(data, size, &hdr, &stored))
        lf_put_u32(data + 32, lf_crc32c(0, data + hdr, stored));
    lf_put_u32(data + 40, lf_crc32c(0, data, 40));
}

/* The records a reader finds walking the body by their lengths. */
static uint32_t count_records(const uint8_t *body, size_t len)
{
    const uint8_t *p = body, *end = body + len;
    uint32_t n = 0;
    uint64_t type, rlen;

    while (p < end && lf_get_varint(&p, end, &type) && lf_get_varint(&p, end, &rlen) &&
           rlen <= (uint64_t)(end - p)) {
        p += rlen;
        n++;
    }
    return n;
}

/* The body decompressed, mutated, and the file rebuilt around it: the same header but
 * for the flags (compressed or stored, at random), lengths, record count and
 * checksums. 0 when data holds no body to work on. */
static size_t mutate_body(uint8_t *data, size_t size, size_t max, uint32_t *rnd)
{
    size_t hdr, stored, raw, cap;
    uint8_t *body, *out;

    if (!find_body(data, size, &hdr, &stored) || hdr >= max)
        return 0;
    uint64_t raw64 = lf_get_u64(data + 24);
    if (lf_get_u16(data + 14) & SF_FLAG_ZSTD) {
        if (ZSTD_getFrameContentSize(data + hdr, stored) != raw64 || raw64 > 4 * max)
            return 0;
    } else if (raw64 != stored) {
        return 0;
    }
    raw = (size_t)raw64;
    cap = 2 * raw + 256 < 4 * max ? 2 * raw + 256 : 4 * max;
    if (cap < raw + 1)
        cap = raw + 1;
    body = malloc(cap);
    if (body == NULL)
        return 0;
    if (lf_get_u16(data + 14) & SF_FLAG_ZSTD) {
        size_t got = ZSTD_decompress(body, raw, data + hdr, stored);
        if (ZSTD_isError(got) || got != raw) {
            free(body);
            return 0;
        }
    } else {
        memcpy(body, data + hdr, raw);
    }
    raw = LLVMFuzzerMutate(body, raw, cap);

    bool zstd = next_rand(rnd) & 1;
    size_t bound = zstd ? ZSTD_compressBound(raw) : raw;
    out = malloc(hdr + bound);
    if (out == NULL) {
        free(body);
        return 0;
    }
    memcpy(out, data, hdr);
    if (zstd) {
        stored = ZSTD_compress(out + hdr, bound, body, raw, 1);
        if (ZSTD_isError(stored))
            stored = SIZE_MAX;
    } else {
        memcpy(out + hdr, body, raw);
        stored = raw;
    }
    size_t len = 0;
    if (stored != SIZE_MAX && hdr + stored <= max) {
        uint16_t flags = lf_get_u16(out + 14);
        lf_put_u16(out + 14, zstd ? (flags | SF_FLAG_ZSTD) : (flags & ~SF_FLAG_ZSTD));
        lf_put_u64(out + 16, stored);
        lf_put_u64(out + 24, raw);
        lf_put_u32(out + 32, lf_crc32c(0, out + hdr, stored));
        lf_put_u32(out + 36, count_records(body, raw));
        lf_put_u32(out + 40, lf_crc32c(0, out, 40));
        len = hdr + stored;
        memcpy(data, out, len);
    }
    free(out);
    free(body);
    return len;
}

/* A quarter of the mutations change the bytes as they are (damage anywhere, checksums
 * as they fall), a quarter change them behind checksums made to match (the header's
 * fields), half change the decompressed body (the records). */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
    uint32_t rnd = seed;
    unsigned how = next_rand(&rnd) & 3;

    if (how >= 2) {
        size_t n = mutate_body(data, size, max, &rnd);
        if (n > 0)
            return n;
    }
    size = LLVMFuzzerMutate(data, size, max);
    if (how != 0)
        fix_checksums(data, size);
    return size;
}
