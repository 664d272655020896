/*
 * test_escape.c - unit tests for util/escape.c and the strings of util/json.c: what a
 * log's bytes become on a terminal (control characters and bad UTF-8 as C-style
 * escapes, everything else as it is) and in JSON (always valid UTF-8: a bad byte is
 * \ufffd). Built with the sanitizers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/escape.h"
#include "util/json.h"

/* ---- UTF-8 ---- */

static void utf8_lengths(void **state)
{
    static const struct {
        const char *s;
        int len;
    } cases[] = {
        { "a", 1 },
        { "\x7f", 1 },
        { "\xc3\xa9", 2 },         /* é */
        { "\xc2\x80", 2 },         /* U+0080, the first C1 control */
        { "\xe2\x82\xac", 3 },     /* € */
        { "\xef\xbf\xbd", 3 },     /* U+FFFD */
        { "\xf0\x9f\x98\x80", 4 }, /* U+1F600 */
        { "\xf4\x8f\xbf\xbf", 4 }, /* U+10FFFF, the last code point */
        { "\x80", 0 },             /* a continuation byte alone */
        { "\xbf", 0 },
        { "\xc0\x80", 0 }, /* overlong NUL */
        { "\xc1\xbf", 0 },
        { "\xe0\x80\x80", 0 }, /* overlong */
        { "\xe0\x9f\xbf", 0 },
        { "\xed\xa0\x80", 0 }, /* U+D800, a surrogate */
        { "\xed\xbf\xbf", 0 },
        { "\xf0\x8f\xbf\xbf", 0 }, /* overlong */
        { "\xf4\x90\x80\x80", 0 }, /* U+110000 */
        { "\xf5\x80\x80\x80", 0 },
        { "\xff", 0 },
        { "\xc3", 0 }, /* cut short */
        { "\xe2\x82", 0 },
        { "\xc3\x28", 0 }, /* not a continuation */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].s;
        int got = esc_utf8_len((const unsigned char *)s, strlen(s));
        if (got != cases[i].len)
            fail_msg("case %zu: expected %d vs got %d", i, cases[i].len, got);
    }
}

/* ---- text ---- */

static void text_escapes(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "plain /usr/lib/libc.so.6", "plain /usr/lib/libc.so.6" },
        { "caf\xc3\xa9 \xe2\x82\xac back\\slash", "caf\xc3\xa9 \xe2\x82\xac back\\slash" },
        { "\x1b[2J", "\\x1b[2J" },
        { "a\nb\tc\rd", "a\\nb\\tc\\rd" },
        { "bell\x07 del\x7f", "bell\\x07 del\\x7f" },
        { "csi\xc2\x9b"
          "31m",
          "csi\\xc2\\x9b31m" },
        { "\xff\xc3", "\\xff\\xc3" },
        { "\xed\xa0\x80", "\\xed\\xa0\\x80" },
        { "", "" },
    };
    char buf[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(esc_text(buf, sizeof(buf), cases[i].in), cases[i].out);

    /* The stream form writes the same. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&p, &n);
        assert_non_null(f);
        esc_fputs(cases[i].in, f);
        fclose(f);
        assert_string_equal(p, cases[i].out);
        free(p);
    }
}

/* Cut to fit, never inside an escape or a character. */
static void text_cut_whole(void **state)
{
    char buf[8];

    (void)state;
    assert_string_equal(esc_text(buf, sizeof(buf), "abcd\x1b"), "abcd");
    assert_string_equal(esc_text(buf, sizeof(buf), "abc\x1bx"), "abc\\x1b");
    assert_string_equal(esc_text(buf, sizeof(buf), "abcde\xe2\x82\xac"), "abcde");
    assert_string_equal(esc_text(buf, 1, "abc"), "");
}

/* Every byte value, alone and after each lead byte: the text form holds no control
 * character, no C1 control and only valid UTF-8. */
static bool text_is_safe(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    while (n > 0) {
        int len = esc_utf8_len(p, n);
        if (len == 0 || p[0] < 0x20 || p[0] == 0x7f || (p[0] == 0xc2 && p[1] < 0xa0))
            return false;
        p += len;
        n -= (size_t)len;
    }
    return true;
}

static void text_always_safe(void **state)
{
    char in[4], out[64];

    (void)state;
    for (int a = 1; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            in[0] = (char)a;
            in[1] = (char)b;
            in[2] = (char)0x80;
            in[3] = '\0';
            if (!text_is_safe(esc_text(out, sizeof(out), in)))
                fail_msg("bytes %02x %02x 80: unsafe text '%s'", a, b, out);
        }
    }
}

/* ---- JSON ---- */

/* s as a JSON string value. */
static char *json_of(const char *s)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    struct json j;

    assert_non_null(f);
    json_init(&j, f);
    json_string(&j, s);
    fclose(f);
    return p;
}

static void json_strings(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "plain", "\"plain\"" },
        { "q\"b\\", "\"q\\\"b\\\\\"" },
        { "\x1b[2J\n", "\"\\u001b[2J\\u000a\"" },
        { "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
        { "\xc2\x9b", "\"\xc2\x9b\"" }, /* valid UTF-8: JSON allows it */
        { "bad\xff\xc3!", "\"bad\\ufffd\\ufffd!\"" },
        { "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = json_of(cases[i].in);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

/* Any two bytes after any lead byte: the JSON string is valid UTF-8 with no raw
 * control character. */
static void json_always_utf8(void **state)
{
    char in[4];

    (void)state;
    for (int a = 1; a < 256; a++) {
        for (int b = 1; b < 256; b++) {
            in[0] = (char)a;
            in[1] = (char)b;
            in[2] = (char)0xe2;
            in[3] = '\0';
            char *out = json_of(in);
            const unsigned char *p = (const unsigned char *)out;
            size_t n = strlen(out);
            while (n > 0) {
                int len = esc_utf8_len(p, n);
                if (len == 0 || p[0] < 0x20)
                    fail_msg("bytes %02x %02x e2: invalid JSON string %s", a, b, out);
                p += len;
                n -= (size_t)len;
            }
            free(out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_lengths),   cmocka_unit_test(text_escapes),
        cmocka_unit_test(text_cut_whole), cmocka_unit_test(text_always_safe),
        cmocka_unit_test(json_strings),   cmocka_unit_test(json_always_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
