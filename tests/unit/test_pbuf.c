/*
 * test_pbuf.c - the protobuf wire writer (util/pbuf.c) and gzip (util/gzip.c) against
 * bytes worked out by hand from the encoding rules (docs: protobuf's "Encoding" page;
 * ../shared/docs/formats.md's primer gives the same examples), and gzip against zlib's
 * own inflate. The exports' end-to-end tests decode real output with go tool pprof and
 * OpenTelemetry's decoder; these pin the encoder's corner cases.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "util/gzip.h"
#include "util/pbuf.h"

static void expect_bytes(const struct pbuf *p, const uint8_t *want, size_t n)
{
    assert_int_equal(pb_error(p), 0);
    assert_int_equal(pb_len(p), n);
    assert_memory_equal(pb_data(p), want, n);
}

static void scalars(void **state)
{
    (void)state;
    struct pbuf p;
    pb_init(&p);
    pb_uint(&p, 1, 150);       /* 08 96 01 */
    pb_string(&p, 6, "");      /* 32 00: an empty string element is still written */
    pb_fixed64(&p, 7, 0x0102); /* 39 + 8 bytes LE */
    pb_int(&p, 2, -1);         /* 10 + ten bytes: sign-extended, no zigzag */
    pb_fixed32(&p, 16, 1);     /* field 16: a two-byte key, 85 01 */
    pb_uint(&p, 3, 0);         /* 18 00 */
    static const uint8_t want[] = { 0x08, 0x96, 0x01, 0x32, 0x00, 0x39, 0x02, 0x01, 0,
                                    0,    0,    0,    0,    0,    0x10, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x85, 0x01,
                                    0x01, 0,    0,    0,    0x18, 0x00 };
    expect_bytes(&p, want, sizeof(want));
    pb_fini(&p);
}

static void doubles_and_bytes(void **state)
{
    (void)state;
    struct pbuf p;
    pb_init(&p);
    pb_double(&p, 4, 1.0); /* 21 + IEEE 754 1.0 = 00 00 00 00 00 00 f0 3f */
    static const uint8_t blob[3] = { 0xde, 0xad, 0x00 };
    pb_bytes(&p, 5, blob, sizeof(blob)); /* 2a 03 de ad 00 */
    static const uint8_t want[] = {
        0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x2a, 0x03, 0xde, 0xad, 0x00
    };
    expect_bytes(&p, want, sizeof(want));
    pb_fini(&p);
}

static void nested_lengths_are_minimal(void **state)
{
    (void)state;
    struct pbuf p;
    pb_init(&p);
    pb_begin(&p, 1);       /* 0a LEN */
    pb_uint(&p, 1, 150);   /* 08 96 01 */
    pb_begin(&p, 2);       /* 12 LEN */
    pb_string(&p, 1, "a"); /* 0a 01 61 */
    pb_end(&p);
    pb_begin(&p, 3); /* an empty message: 1a 00 */
    pb_end(&p);
    pb_end(&p);
    static const uint8_t want[] = { 0x0a, 0x0a, 0x08, 0x96, 0x01, 0x12,
                                    0x03, 0x0a, 0x01, 0x61, 0x1a, 0x00 };
    expect_bytes(&p, want, sizeof(want));
    pb_fini(&p);
}

static void long_body_takes_two_length_bytes(void **state)
{
    (void)state;
    struct pbuf p;
    char s[201];
    memset(s, 'x', 200);
    s[200] = '\0';
    pb_init(&p);
    pb_begin(&p, 1);
    pb_string(&p, 2, s); /* 12 c8 01 + 200 bytes = 203 bytes */
    pb_end(&p);
    assert_int_equal(pb_error(&p), 0);
    assert_int_equal(pb_len(&p), 1 + 2 + 203);
    const uint8_t *d = pb_data(&p);
    assert_int_equal(d[0], 0x0a);
    assert_int_equal(d[1], 0xcb); /* 203 = 0xcb: varint cb 01 */
    assert_int_equal(d[2], 0x01);
    assert_int_equal(d[3], 0x12);
    assert_int_equal(d[4], 0xc8);
    assert_int_equal(d[5], 0x01);
    assert_int_equal(d[6 + 199], 'x');
    pb_fini(&p);
}

static void packed(void **state)
{
    (void)state;
    struct pbuf p;
    pb_init(&p);
    pb_packed_begin(&p, 1); /* 0a LEN: 01 96 01 ff..01 (ten bytes for -1) */
    pb_packed_uint(&p, 1);
    pb_packed_uint(&p, 150);
    pb_packed_int(&p, -1);
    pb_end(&p);
    pb_packed_begin(&p, 2); /* empty: 12 00 */
    pb_end(&p);
    static const uint8_t want[] = { 0x0a, 0x0d, 0x01, 0x96, 0x01, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x12, 0x00 };
    expect_bytes(&p, want, sizeof(want));
    pb_fini(&p);
}

/* Allocation failure: realloc fails from the n-th call on. */
static int fail_after = -1;
void *__real_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size)
{
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return __real_realloc(ptr, size);
}

static void out_of_memory_is_sticky(void **state)
{
    (void)state;
    struct pbuf p;
    char big[1000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pb_init(&p);
    fail_after = 1; /* the first buffer, then no growth */
    pb_begin(&p, 1);
    pb_string(&p, 2, big);
    pb_uint(&p, 3, 7);
    pb_end(&p);
    fail_after = -1;
    assert_int_equal(pb_error(&p), -ENOMEM);
    pb_uint(&p, 4, 1); /* later calls do nothing */
    assert_int_equal(pb_error(&p), -ENOMEM);
    pb_fini(&p);
}

static void gzip_round_trip(void **state)
{
    (void)state;
    static const char text[] = "heapspan heapspan heapspan: a profile, gzip'd";
    uint8_t *gz, *gz2;
    size_t n, n2;
    assert_int_equal(gz_compress(text, sizeof(text), &gz, &n), 0);
    assert_true(n > 18);
    assert_int_equal(gz[0], 0x1f); /* gzip magic */
    assert_int_equal(gz[1], 0x8b);
    assert_int_equal(gz[4] | gz[5] | gz[6] | gz[7], 0); /* mtime 0: reproducible */
    assert_int_equal(gz_compress(text, sizeof(text), &gz2, &n2), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(gz, gz2, n);

    char back[sizeof(text)];
    z_stream z = { 0 };
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = gz;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)back;
    z.avail_out = sizeof(back);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, sizeof(text));
    inflateEnd(&z);
    assert_memory_equal(back, text, sizeof(text));
    free(gz);
    free(gz2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars),
        cmocka_unit_test(doubles_and_bytes),
        cmocka_unit_test(nested_lengths_are_minimal),
        cmocka_unit_test(long_body_takes_two_length_bytes),
        cmocka_unit_test(packed),
        cmocka_unit_test(out_of_memory_is_sticky),
        cmocka_unit_test(gzip_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
