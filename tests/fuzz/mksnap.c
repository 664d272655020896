/*
 * mksnap.c - the snapshot fuzz target's seeds (tests/fuzz/snapshot.c): a snapshot of a
 * model made by hand, which holds every record type and field (bloated sizes with struct
 * layouts, warnings, argv, each kind of leak, frames with and without names, strings
 * with escapes and bad UTF-8), and for it and every snapshot already in DIR (fuzz.mk
 * writes the golden logs' there with `heapspan snapshot`) the damaged and unusual
 * variants a reader must handle: the body stored rather than compressed, a newer minor
 * version (an unknown record type, fields after the known ones), cuts, each checksum
 * wrong, another major version, unknown flags, a wrong record count, a byte after the
 * body, a damaged body behind checksums that match.
 *
 *   mksnap DIR
 *
 * Exits 0, or 2 with a message on a read or write error.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "analyzer/model.h"
#include "analyzer/snapshot.h"
#include "format/logfmt.h"
#include "format/snapfmt.h"

static int failed;

static void write_bytes(const char *dir, const char *stem, const char *variant, const uint8_t *b,
                        size_t n)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s%s%s.hsnap", dir, stem, variant[0] ? "." : "", variant);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "mksnap: %s: %s\n", path, strerror(errno));
        failed = 2;
    }
}

/* ---- the model by hand ---- */

static void hand_snapshot(const char *dir)
{
    static struct model_frame frames[] = {
        { "load_config", "/src/app/config.c", 42, "app", 0x1234, false, "load_config",
          "/opt/app/bin/app", "00112233445566778899aabbccddeeff00112233", MODEL_FRAME_CODE },
        { "std::vector<int>::push_back(int const&)", "/usr/include/c++/12/bits/stl_vector.h", 1287,
          "app", 0x2345, true, "_ZNSt6vectorIiSaIiEE9push_backERKi", "/opt/app/bin/app", NULL,
          MODEL_FRAME_CODE },
        { "main", "/src/app/main.c", 7, "app", 0x3456, false, NULL, "/opt/app/bin/app", NULL,
          MODEL_FRAME_CODE },
        { "_IO_file_doallocate", "filedoalloc.c", 101, "libc.so.6", 0x7a000, false, NULL,
          "/lib/x86_64-linux-gnu/libc.so.6", "beef", MODEL_FRAME_CODE },
        { NULL, NULL, 0, "libplugin.so", 0x99, false, NULL, "/usr/lib/libplugin.so", NULL,
          MODEL_FRAME_CODE },
        { "esc\x1b[2Jape\xff",
          "/src/\x07"
          "bell\xc3.c",
          3,
          "m\x9b"
          "od",
          1, false, NULL, "/x\ty", NULL, MODEL_FRAME_CODE },
    };
    static const struct model_frame *stacks[][3] = {
        { &frames[0], &frames[2], NULL }, { &frames[1], &frames[0], &frames[2] },
        { &frames[3], &frames[2], NULL }, { &frames[4], NULL, NULL },
        { &frames[5], &frames[2], NULL },
    };
    static struct model_site sites[5];
    static struct model_member members[] = {
        { "next", "struct node *", 0, 8, 0, 0, 0 },
        { "flag", "unsigned int", 8, 4, 64, 1, 0 },
        { "", "char[3]", 9, 3, 0, 0, 4 },
    };
    static struct model_struct types[] = {
        { "struct", "node", 16, 3, members, 4, 0 },
        { "union", "empty", 0, 0, NULL, 0, 0 },
    };
    static struct model_bloat bloats[] = {
        { .size = 16,
          .blocks_at_peak = 1000,
          .bytes_at_peak = 16000,
          .slack_bytes_per_block = 8,
          .zero_share = 0.25,
          .n_sites = 2,
          .sites = { 1, 0 },
          .n_types = 2,
          .types = types },
        { .size = 4096,
          .blocks_at_peak = 3,
          .bytes_at_peak = 12288,
          .n_sites = 12,
          .sites = { 0, 1, 2, 3, 4, 0, 1, 2 } },
    };
    static const char *argv[] = { "app", "", "--name=\xe2\x80\xae\x1b]0;x\x07" };
    static const char *warnings[] = { "app.hsl: byte 99: the log ends inside a chunk",
                                      "\x1b[31mred\x1b[0m" };
    struct model m = { 0 };
    uint8_t *b;
    size_t n;

    for (int i = 0; i < 5; i++) {
        int k = 0;
        while (k < 3 && stacks[i][k] != NULL)
            k++;
        sites[i] = (struct model_site){
            .n_frames = k,
            .frames = stacks[i],
            .st = { .allocations = 10.0 * (i + 1),
                    .allocated_bytes = 1000.5 * (i + 1),
                    .frees = 3,
                    .peak_live_bytes = 700,
                    .leaked_bytes = 400.25,
                    .leaked_allocations = 4,
                    .live_bytes = 400.25,
                    .live_blocks = 4,
                    .temporary_allocations = 1.5,
                    .max_live_blocks = 7,
                    .slack_bytes = 12,
                    .zero_sampled_bytes = 64,
                    .zero_bytes = 60,
                    .hist = { [0] = 1, [3] = 2, [MODEL_HIST_BUCKETS - 1] = 8.125 },
                    .common_size = 4096 },
        };
    }
    sites[2].leak_kind = MODEL_LEAK_RUNTIME;
    sites[2].leak_rule = "stdio buffer";
    sites[3].leak_kind = MODEL_LEAK_SUPPRESSED;
    sites[3].leak_rule = "libplugin";
    for (int i = 2; i < 4; i++)
        sites[i].st.leaked_bytes = sites[i].st.leaked_allocations = 0;
    m.process = (struct model_process){ .log_path = "run/app.hsl",
                                        .pid = 4242,
                                        .ppid = 1,
                                        .exe = "/opt/app/bin/app",
                                        .argc = 3,
                                        .argv = argv,
                                        .start_unix_ns = 1700000000123456789ull,
                                        .sample_bytes = 524288,
                                        .ended = true,
                                        .truncated = true,
                                        .end_reason = MODEL_END_SIGNAL,
                                        .log_bytes = 1 << 30,
                                        .bytes_read = 123456789,
                                        .point = { MODEL_AT_MARKER, 3, 7, "interval", 2.5e9 } };
    m.totals = (struct model_totals){ .allocations = 150,
                                      .frees = 15,
                                      .allocated_bytes = 15007.5,
                                      .peak_live_bytes = 3500,
                                      .peak_ns = 1.25e9,
                                      .leaked_bytes = 1201,
                                      .leaked_allocations = 12,
                                      .live_bytes = 2001.25,
                                      .live_blocks = 20,
                                      .runtime_bytes = 400.25,
                                      .runtime_allocations = 4,
                                      .suppressed_bytes = 400.25,
                                      .suppressed_allocations = 4,
                                      .temporary_allocations = 7.5,
                                      .lost_events = 3,
                                      .unknown_frees = 2,
                                      .markers = 5,
                                      .first_ns = 1000,
                                      .last_ns = 3e9,
                                      .sampled = true };
    m.n_sites = 5;
    m.sites = sites;
    m.n_bloats = 2;
    m.bloats = bloats;
    m.n_warnings = 2;
    m.warnings = warnings;
    if (snap_encode(&m, &b, &n) != 0) {
        fprintf(stderr, "mksnap: snap_encode failed\n");
        failed = 2;
        return;
    }
    write_bytes(dir, "hand", "", b, n);
    free(b);
}

/* ---- variants ---- */

/* A file of header hdr (SF_HDR_SIZE bytes) around body: lengths, record count and both
 * checksums to match, compressed or stored. */
static uint8_t *rebuild(const uint8_t *hdr, const uint8_t *body, size_t raw, uint32_t n_records,
                        bool zstd, size_t *len)
{
    size_t bound = ZSTD_compressBound(raw), stored = raw;
    uint8_t *f = malloc(SF_HDR_SIZE + bound);

    if (f == NULL)
        abort();
    memcpy(f, hdr, SF_HDR_SIZE);
    lf_put_u16(f + 12, SF_HDR_SIZE);
    if (zstd) {
        stored = ZSTD_compress(f + SF_HDR_SIZE, bound, body, raw, SF_ZSTD_LEVEL);
        if (ZSTD_isError(stored))
            abort();
    } else {
        memcpy(f + SF_HDR_SIZE, body, raw);
    }
    lf_put_u16(f + 14, zstd ? SF_FLAG_ZSTD : 0);
    lf_put_u64(f + 16, stored);
    lf_put_u64(f + 24, raw);
    lf_put_u32(f + 32, lf_crc32c(0, f + SF_HDR_SIZE, stored));
    lf_put_u32(f + 36, n_records);
    lf_put_u32(f + 40, lf_crc32c(0, f, 40));
    *len = SF_HDR_SIZE + stored;
    return f;
}

/* The body of a newer minor version: a record type this reader does not know before the
 * end record, and two bytes after the fields of every record but the strings'. */
static uint8_t *newer_body(const uint8_t *body, size_t raw, size_t *len, uint32_t *n)
{
    uint8_t *nb = malloc(2 * raw + 64), *o = nb;
    const uint8_t *p = body;

    if (nb == NULL)
        abort();
    *n = 0;
    while (p < body + raw) {
        uint64_t type, rlen;
        if (!lf_get_varint(&p, body + raw, &type) || !lf_get_varint(&p, body + raw, &rlen))
            break;
        if (type == SF_REC_END) {
            o = lf_put_varint(o, 99);
            o = lf_put_varint(o, 3);
            memcpy(o, "new", 3);
            o += 3;
            (*n)++;
        }
        bool extend = type != SF_REC_STRING;
        o = lf_put_varint(o, type);
        o = lf_put_varint(o, rlen + (extend ? 2 : 0));
        memcpy(o, p, rlen);
        o += rlen;
        if (extend) {
            *o++ = 0x7f;
            *o++ = 0x01;
        }
        p += rlen;
        (*n)++;
    }
    *len = (size_t)(o - nb);
    return nb;
}

static void variants(const char *dir, const char *stem, const uint8_t *b, size_t len)
{
    uint8_t hdr[SF_HDR_SIZE], *c, *v;
    size_t raw, n2, nlen;
    uint32_t n_records, n_new;

    if (len < SF_HDR_SIZE)
        return;
    memcpy(hdr, b, SF_HDR_SIZE);
    raw = lf_get_u64(b + 24);
    n_records = lf_get_u32(b + 36);
    uint8_t *body = malloc(raw + 1);
    if (body == NULL || ZSTD_decompress(body, raw, b + SF_HDR_SIZE, len - SF_HDR_SIZE) != raw) {
        fprintf(stderr, "mksnap: %s: not a snapshot this program can read\n", stem);
        failed = 2;
        free(body);
        return;
    }
    c = malloc(len + 1);
    if (c == NULL)
        abort();

    v = rebuild(hdr, body, raw, n_records, false, &n2);
    write_bytes(dir, stem, "stored", v, n2);
    free(v);

    uint8_t *nb = newer_body(body, raw, &nlen, &n_new);
    lf_put_u16(hdr + 10, SF_MINOR + 9);
    v = rebuild(hdr, nb, nlen, n_new, true, &n2);
    write_bytes(dir, stem, "minor9", v, n2);
    free(v);
    free(nb);
    memcpy(hdr, b, SF_HDR_SIZE);

    for (unsigned major = 0; major <= 2; major += 2) {
        lf_put_u16(hdr + 8, (uint16_t)major);
        v = rebuild(hdr, body, raw, n_records, true, &n2);
        write_bytes(dir, stem, major ? "major2" : "major0", v, n2);
        free(v);
    }
    memcpy(hdr, b, SF_HDR_SIZE);

    lf_put_u16(hdr + 14, 0x80 | SF_FLAG_ZSTD);
    memcpy(c, hdr, SF_HDR_SIZE);
    memcpy(c + SF_HDR_SIZE, b + SF_HDR_SIZE, len - SF_HDR_SIZE);
    lf_put_u32(c + 40, lf_crc32c(0, c, 40));
    write_bytes(dir, stem, "flags", c, len);
    memcpy(hdr, b, SF_HDR_SIZE);

    v = rebuild(hdr, body, raw, n_records + 1, true, &n2);
    write_bytes(dir, stem, "count", v, n2);
    free(v);

    /* A record's byte changed behind checksums that match: the body stored, so the
     * decoder sees the change. */
    if (raw > 0) {
        body[raw / 2] ^= 0x41;
        v = rebuild(hdr, body, raw, n_records, false, &n2);
        write_bytes(dir, stem, "damaged-body", v, n2);
        free(v);
        body[raw / 2] ^= 0x41;
    }

    const size_t cuts[] = { 7, 30, SF_HDR_SIZE, SF_HDR_SIZE + (len - SF_HDR_SIZE) / 2, len - 1 };
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "cut-%zu", cuts[i]);
        write_bytes(dir, stem, name, b, cuts[i] < len ? cuts[i] : len);
    }

    memcpy(c, b, len);
    c[20] ^= 0x01;
    write_bytes(dir, stem, "header-crc", c, len);
    memcpy(c, b, len);
    c[len - 1] ^= 0x01;
    write_bytes(dir, stem, "body-crc", c, len);
    memcpy(c, b, len);
    c[len] = 0;
    write_bytes(dir, stem, "trailing", c, len + 1);
    free(c);
    free(body);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (b = malloc((size_t)n + 1)) == NULL ||
        fread(b, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "mksnap: %s: %s\n", path, strerror(errno));
        failed = 2;
        free(b);
        b = NULL;
    } else {
        *len = (size_t)n;
    }
    if (f != NULL)
        fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    char(*names)[NAME_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    DIR *d;
    struct dirent *e;

    if (argc != 2) {
        fprintf(stderr, "usage: mksnap DIR\n");
        return 2;
    }
    hand_snapshot(argv[1]);
    /* The snapshots in DIR now: their variants are written beside them. */
    d = opendir(argv[1]);
    if (d == NULL) {
        fprintf(stderr, "mksnap: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".hsnap") != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = realloc(names, cap * sizeof(*names));
            if (names == NULL)
                abort();
        }
        snprintf(names[n], sizeof(names[n]), "%.*s", (int)(len - 6), e->d_name);
        n++;
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s.hsnap", argv[1], names[i]);
        uint8_t *b = read_file(path, &len);
        if (b != NULL)
            variants(argv[1], names[i], b, len);
        free(b);
    }
    free(names);
    return failed;
}
