/*
 * test_flame.c - unit tests for the flame graph and the exports (viz/flame.c,
 * viz/folded.c, viz/speedscope.c, viz/pprof.c, viz/web.c) on a model built by hand:
 * escaping for HTML and for JSON inside <script> (names holding </script>, quotes and
 * bytes that are not UTF-8), the page's data (merged frames, pruned nodes, own values
 * in base 36), folded stacks (names with ';', inlined frames, equal stacks summed), and
 * the pprof profile decoded here (string_table[0], Go's sample types). Built with ASan
 * and UBSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "viz/export.h"
#include "viz/flame.h"
#include "viz/web.h"

/* Five sites of one program: main -> work -> {alloc_a, alloc_b; with ;}, main ->
 * tiny (pruned below the min width), and one in libc (the runtime). */
struct fixture {
    struct model m;
    struct model_site s[5];
    struct model_frame f[7];
    const struct model_frame *stacks[5][4];
};

static struct fixture fx;

static void site(int i, double peak, int n, const int *frames)
{
    struct model_site *s = &fx.s[i];
    for (int k = 0; k < n; k++)
        fx.stacks[i][k] = &fx.f[frames[k]];
    s->n_frames = n;
    s->frames = fx.stacks[i];
    s->st.peak_live_bytes = peak;
    s->st.leaked_bytes = peak / 2;
    s->st.leaked_allocations = 1;
    s->st.allocations = 2;
    s->st.allocated_bytes = peak * 2;
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    fx.m.process = (struct model_process){ .log_path = "app.hsl", .exe = "/opt/app", .pid = 7 };
    fx.f[0] = (struct model_frame){ .function = "main",
                                    .file = "/src/main.c",
                                    .line = 10,
                                    .module = "app",
                                    .module_path = "/opt/app" };
    fx.f[1] =
        (struct model_frame){ .function = "work", .file = "/src/w.c", .line = 20, .module = "app" };
    fx.f[2] = (struct model_frame){ .function = "alloc_a</script>\"",
                                    .file = "/src/w.c",
                                    .line = 30,
                                    .module = "app",
                                    .inlined = true };
    fx.f[3] = (struct model_frame){ .function = "alloc;b\xff",
                                    .file = "/src/w.c",
                                    .line = 40,
                                    .module = "app",
                                    .linkage_name = "_Z7alloc_bv" };
    fx.f[4] = (struct model_frame){ .function = "tiny", .module = "app" };
    fx.f[5] = (struct model_frame){ .function = "malloc_helper", .module = "libc.so.6" };
    fx.f[6] =
        (struct model_frame){ .function = NULL, .module = "libx.so", .module_offset = 0x1234 };
    /* innermost first */
    site(0, 1000000, 3, (const int[]){ 2, 1, 0 });
    site(1, 3000000, 3, (const int[]){ 3, 1, 0 });
    site(2, 1, 2, (const int[]){ 4, 0 });
    fx.s[2].st.allocations = 0; /* narrow in every metric */
    site(3, 500000, 3, (const int[]){ 5, 6, 0 });
    site(4, 1000000, 3, (const int[]){ 3, 1, 0 }); /* the same stack as site 1 */
    fx.m.n_sites = 5;
    fx.m.sites = fx.s;
    return 0;
}

/* Runs fn into memory; the text (NUL-terminated, to free). */
static char *capture(int (*fn)(FILE *, void *), void *arg, int *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    assert_non_null(o);
    *err = fn(o, arg);
    fclose(o);
    return buf;
}

static int do_folded(FILE *o, void *arg)
{
    return export_folded(o, &fx.m, *(enum flame_metric *)arg);
}

static int do_html(FILE *o, void *arg)
{
    return flame_html(o, &fx.m, arg);
}

static int do_json_str(FILE *o, void *arg)
{
    web_json_str(o, arg);
    return 0;
}

static int do_html_text(FILE *o, void *arg)
{
    web_html(o, arg);
    return 0;
}

static void escapes(void **state)
{
    (void)state;
    int err;
    char *s = capture(do_json_str, "a</script><!--\"\\\n\xff\xc3\xa9", &err);
    assert_string_equal(s, "\"a\\u003c/script>\\u003c!--\\\"\\\\\\u000a\\ufffd\xc3\xa9\"");
    free(s);
    s = capture(do_html_text, "<b>&'\"\xc0\xaf", &err);
    assert_string_equal(s, "&lt;b&gt;&amp;&#39;&quot;\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    /* overlong, surrogate, cut short */
    assert_int_equal(web_utf8_len((const unsigned char *)"\xe0\x80\x80"), 0);
    assert_int_equal(web_utf8_len((const unsigned char *)"\xed\xa0\x80"), 0);
    assert_int_equal(web_utf8_len((const unsigned char *)"\xe2\x82"), 0);
    assert_int_equal(web_utf8_len((const unsigned char *)"\xf0\x9f\x94\xa5"), 4);
}

static void metrics(void **state)
{
    (void)state;
    enum flame_metric m;
    assert_true(flame_parse_metric("allocated", &m));
    assert_int_equal(m, FLAME_ALLOCATED);
    assert_false(flame_parse_metric("live", &m));
    assert_string_equal(flame_metric_name(FLAME_TEMPORARY), "temporary");
    assert_true(flame_metric_bytes(FLAME_LEAKED));
    assert_false(flame_metric_bytes(FLAME_ALLOCATIONS));
    assert_int_equal(flame_frame_kind(&fx.m, &fx.f[0]), FLAME_KIND_PROGRAM);
    assert_int_equal(flame_frame_kind(&fx.m, &fx.f[5]), FLAME_KIND_RUNTIME);
    assert_int_equal(flame_frame_kind(&fx.m, &fx.f[6]), FLAME_KIND_LIBRARY);
    struct model_frame py = { .function = "PyEval", .module = "libpython3.11.so.1.0" };
    assert_int_equal(flame_frame_kind(&fx.m, &py), FLAME_KIND_INTERPRETER);
}

static void folded(void **state)
{
    (void)state;
    enum flame_metric m = FLAME_PEAK;
    int err;
    char *s = capture(do_folded, &m, &err);
    assert_int_equal(err, 0);
    /* sorted; ';' in a name as ':'; an inlined frame with _[i]; sites 1 and 4 summed */
    assert_string_equal(s, "main;libx.so+0x1234;malloc_helper 500000\n"
                           "main;tiny 1\n"
                           "main;work;alloc:b\xff 4000000\n"
                           "main;work;alloc_a</script>\"_[i] 1000000\n");
    free(s);
}

/* The JSON between the data element's tags. */
static char *page_data(const char *page)
{
    const char *b = strstr(page, "id=\"flame-data\">");
    assert_non_null(b);
    b = strchr(b, '>') + 1;
    const char *e = strstr(b, "</script>");
    assert_non_null(e);
    return strndup(b, (size_t)(e - b));
}

static void page(void **state)
{
    (void)state;
    struct flame_options o = { .metric = FLAME_LEAKED, .min_fraction = 1e-4 };
    int err;
    char *html = capture(do_html, &o, &err);
    assert_int_equal(err, 0);
    assert_non_null(strstr(html, "Content-Security-Policy"));
    assert_non_null(strstr(html, "HeapspanFlame.mount"));
    char *d = page_data(html);
    /* nothing in the data can end the script element */
    assert_null(strstr(d, "</"));
    assert_non_null(strstr(d, "\"alloc_a\\u003c/script>\\\"\""));
    assert_non_null(strstr(d, "\"alloc;b\\ufffd\""));
    assert_non_null(strstr(d, "\"libx.so+0x1234\""));
    assert_non_null(strstr(d, "\"metric\":1"));
    /* root, main, (smaller frames: tiny), work, alloc_a, alloc;b, libx, malloc_helper */
    assert_non_null(strstr(d, "\"n\":8,"));
    /* base 36, nothing for 0 */
    assert_non_null(strstr(d, "\"depth\":\",1,2,2,3,3,2,3\""));
    /* own peak bytes: only the leaves and the pruned block hold any (alloc;b: the two
     * sites of its stack, 4,000,000 = 2dqf4) */
    assert_non_null(strstr(d, "\"self\":[\",,1,,lfls,2dqf4,,apsw\""));
    assert_non_null(strstr(d, "\"(smaller frames)\""));
    free(d);
    free(html);
}

/* ---- a protobuf reader, enough for the profile's top level ---- */

static uint64_t varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int s = 0; *p < end; s += 7) {
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << s;
        if (c < 0x80)
            break;
    }
    return v;
}

static void pprof(void **state)
{
    (void)state;
    uint8_t *gz = NULL, raw[1 << 16];
    size_t len = 0;
    assert_int_equal(export_pprof(&fx.m, &gz, &len), 0);
    assert_true(len > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
    z_stream z = {
        .next_in = gz, .avail_in = (uInt)len, .next_out = raw, .avail_out = sizeof(raw)
    };
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = sizeof(raw) - z.avail_out;
    inflateEnd(&z);
    free(gz);

    const char *strings[256];
    int n_strings = 0, n_types = 0, n_samples = 0;
    uint64_t types[4][2];
    const uint8_t *p = raw, *end = raw + n;
    while (p < end) {
        uint64_t key = varint(&p, end);
        if ((key & 7) == 0) {
            varint(&p, end);
            continue;
        }
        assert_int_equal(key & 7, 2);
        uint64_t l = varint(&p, end);
        const uint8_t *v = p;
        p += l;
        if (key >> 3 == 6) {
            assert_true(n_strings < 256);
            strings[n_strings++] = strndup((const char *)v, l);
        } else if (key >> 3 == 1) {
            const uint8_t *q = v;
            assert_true(n_types < 4);
            while (q < v + l) {
                uint64_t k = varint(&q, v + l);
                types[n_types][(k >> 3) - 1] = varint(&q, v + l);
            }
            n_types++;
        } else if (key >> 3 == 2) {
            n_samples++;
        }
    }
    assert_true(n_strings > 0);
    assert_string_equal(strings[0], "");
    assert_int_equal(n_types, 4);
    static const char *const want[4][2] = { { "alloc_objects", "count" },
                                            { "alloc_space", "bytes" },
                                            { "inuse_objects", "count" },
                                            { "inuse_space", "bytes" } };
    for (int i = 0; i < 4; i++) {
        assert_string_equal(strings[types[i][0]], want[i][0]);
        assert_string_equal(strings[types[i][1]], want[i][1]);
    }
    assert_int_equal(n_samples, 5);
    bool mangled = false, cleaned = false;
    for (int i = 0; i < n_strings; i++) {
        mangled |= !strcmp(strings[i], "_Z7alloc_bv");
        cleaned |= !strcmp(strings[i], "alloc;b\xef\xbf\xbd");
        free((void *)strings[i]);
    }
    assert_true(mangled);
    assert_true(cleaned);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(escapes, setup), cmocka_unit_test_setup(metrics, setup),
        cmocka_unit_test_setup(folded, setup),  cmocka_unit_test_setup(page, setup),
        cmocka_unit_test_setup(pprof, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
