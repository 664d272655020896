/* test_otlp.c - the OTLP trace (viz/otlp.c): W3C traceparent parsing, derived ids, the
 * encodings' details a decoder would accept anyway (UTF-8 repair, 64-bit integers as
 * JSON strings, fixed64 times); and the exporter's settings from the variables
 * (cli/otlp.c): endpoints, precedence, headers, resource attributes. The tests against
 * OpenTelemetry's own decoder are tests/otlp-tests.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/otlp.h"
#include "cli/otlp_resp.h"
#include "viz/otlp.h"

static void traceparent_rules(void **state)
{
    uint8_t t[16], s[8];
    (void)state;
    assert_true(
        otlp_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, s));
    assert_int_equal(t[0], 0x4b);
    assert_int_equal(t[15], 0x36);
    assert_int_equal(s[0], 0x00);
    assert_int_equal(s[7], 0xb7);
    /* a later version may carry more fields */
    assert_true(otlp_parse_traceparent(
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", t, s));
    static const char *const bad[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", /* v00: 55 exactly */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* version ff */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       /* zero span id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       /* uppercase */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",        /* short */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",       "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(otlp_parse_traceparent(bad[i], t, s));
    assert_false(otlp_parse_traceparent(NULL, t, s));
}

static void ids_are_derived(void **state)
{
    uint8_t a[16], b[16], c[16], d[16], s1[8], s2[8], s3[8];
    (void)state;
    otlp_trace_id(42, 1700000000000000000ull, "/bin/app", a);
    otlp_trace_id(42, 1700000000000000000ull, "/bin/app", b);
    assert_memory_equal(a, b, 16);
    otlp_trace_id(43, 1700000000000000000ull, "/bin/app", c);
    assert_memory_not_equal(a, c, 16);
    otlp_trace_id(42, 1700000000000000001ull, "/bin/app", c);
    assert_memory_not_equal(a, c, 16);
    otlp_trace_id(42, 1700000000000000000ull, "/bin/apq", d);
    assert_memory_not_equal(a, d, 16);
    otlp_span_id(a, OTLP_SPAN_INTERVAL, 3, s1);
    otlp_span_id(a, OTLP_SPAN_INTERVAL, 3, s2);
    assert_memory_equal(s1, s2, 8);
    otlp_span_id(a, OTLP_SPAN_INTERVAL, 4, s3);
    assert_memory_not_equal(s1, s3, 8);
    otlp_span_id(a, OTLP_SPAN_LEAK, 3, s3);
    assert_memory_not_equal(s1, s3, 8);
    otlp_span_id(c, OTLP_SPAN_INTERVAL, 3, s3);
    assert_memory_not_equal(s1, s3, 8);
}

/* A trace with a root, an interval, a bad-UTF-8 string and a negative int. */
static void small_trace(struct otlp_trace *t)
{
    uint8_t id[16];
    otlp_init(t);
    otlp_trace_id(7, 1000, "/x", id);
    otlp_set_ids(t, id, NULL, NULL, NULL);
    otlp_attr_string(t, &t->resource, "service.name",
                     "a\xff"
                     "b");
    struct otlp_span *root = otlp_add_span(t, OTLP_SPAN_PROCESS, 0, 1000, 5000);
    assert_non_null(root);
    otlp_attr_int(t, &root->attrs, "n", -5);
    struct otlp_interval iv = { .start_unix_ns = 1000, .end_unix_ns = 2000, .live_bytes = 64 };
    otlp_add_interval(t, 0, &iv, 0);
}

static void encodings(void **state)
{
    struct otlp_trace t;
    char *json = NULL;
    size_t len = 0;
    uint8_t *pb = NULL;
    size_t pb_len = 0;
    (void)state;
    small_trace(&t);
    assert_int_equal(t.spans[1].has_parent, true);
    assert_memory_equal(t.spans[1].parent_id, t.spans[0].span_id, 8);
    assert_false(t.spans[0].has_parent);

    FILE *f = open_memstream(&json, &len);
    assert_int_equal(otlp_encode_json(&t, f), 0);
    fclose(f);
    assert_non_null(strstr(json,
                           "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"a\xef\xbf\xbd"
                           "b\"}}"));
    assert_non_null(strstr(json, "{\"key\":\"n\",\"value\":{\"intValue\":\"-5\"}}"));
    assert_non_null(
        strstr(json, "\"kind\":1,\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":\"5000\""));
    assert_null(strstr(json, "\"status\"")); /* UNSET is left out */

    assert_int_equal(otlp_encode_protobuf(&t, &pb, &pb_len), 0);
    /* the replacement character, and start time 1000 as fixed64 (field 7, wire type 1) */
    assert_non_null(memmem(pb, pb_len,
                           "a\xef\xbf\xbd"
                           "b",
                           5));
    static const uint8_t start[] = { 0x39, 0xe8, 0x03, 0, 0, 0, 0, 0, 0 };
    assert_non_null(memmem(pb, pb_len, start, sizeof(start)));
    free(pb);
    free(json);
    otlp_fini(&t);
}

static void clear_env(void)
{
    static const char *const v[] = { "ENDPOINT",   "HEADERS",           "PROTOCOL",
                                     "TIMEOUT",    "COMPRESSION",       "CERTIFICATE",
                                     "CLIENT_KEY", "CLIENT_CERTIFICATE" };
    char name[64];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(name, sizeof(name), "OTEL_EXPORTER_OTLP_%s", v[i]);
        unsetenv(name);
        snprintf(name, sizeof(name), "OTEL_EXPORTER_OTLP_TRACES_%s", v[i]);
        unsetenv(name);
    }
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    unsetenv("TRACEPARENT");
}

static void endpoints(void **state)
{
    struct otlp_config c;
    struct otlp_cli cli = { .endpoint = "env", .timeout = -1 };
    char err[512];
    (void)state;
    clear_env();
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), 0);
    assert_string_equal(c.url, "http://localhost:4318/v1/traces");
    assert_int_equal(c.timeout_ms, 10000);
    assert_false(c.json);
    assert_false(c.gzip);
    otlp_config_fini(&c);

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1); /* beats the generic */
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), 0);
    assert_string_equal(c.url, "https://collector:4318/v1/traces");
    assert_false(c.json);
    assert_int_equal(c.timeout_ms, 2500);
    otlp_config_fini(&c);

    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://h:1", 1); /* as given, path "/" */
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), 0);
    assert_string_equal(c.url, "http://h:1/");
    otlp_config_fini(&c);

    /* the command line beats them all */
    struct otlp_cli given = { .endpoint = "http://127.0.0.1:9/base//",
                              .protocol = "http/json",
                              .compression = "gzip",
                              .timeout = 1.5 };
    assert_int_equal(otlp_config_init(&c, &given, err, sizeof(err)), 0);
    assert_string_equal(c.url, "http://127.0.0.1:9/base/v1/traces");
    assert_true(c.json);
    assert_true(c.gzip);
    assert_int_equal(c.timeout_ms, 1500);
    otlp_config_fini(&c);
    clear_env();
}

static void headers_and_resource(void **state)
{
    struct otlp_config c;
    struct otlp_cli cli = { .endpoint = "env", .timeout = -1 };
    char err[512];
    (void)state;
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_HEADERS", " Authorization = tok%2Cen ,x-b=c=d,", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,service.name=from-attrs", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), 0);
    assert_int_equal(c.n_headers, 2);
    assert_string_equal(c.headers[0], "Authorization: tok,en");
    assert_string_equal(c.headers[1], "x-b: c=d");
    assert_null(c.headers[2]);

    struct otlp_trace t;
    const char *argv[] = { "/bin/app", "-v" };
    otlp_init(&t);
    otlp_config_trace(&c, &t, 9, 100, "/bin/app", 2, argv);
    const struct otlp_attr *a = otlp_attr_find(&t.resource, "service.name");
    assert_string_equal(a->s, "from-attrs");
    assert_string_equal(otlp_attr_find(&t.resource, "a")->s, "1");
    assert_string_equal(otlp_attr_find(&t.resource, "process.command_line")->s, "/bin/app -v");
    assert_int_equal(otlp_attr_find(&t.resource, "process.command_args")->n_strings, 2);
    assert_int_equal(t.resource.a[0].type, OTLP_STRING); /* service.name first */
    assert_string_equal(t.resource.a[0].key, "service.name");
    otlp_fini(&t);
    otlp_config_fini(&c);

    setenv("OTEL_SERVICE_NAME", "svc", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), 0);
    otlp_init(&t);
    otlp_config_trace(&c, &t, 9, 100, "/bin/app", 2, argv);
    assert_string_equal(otlp_attr_find(&t.resource, "service.name")->s, "svc");
    otlp_fini(&t);
    otlp_config_fini(&c);

    /* A bad entry: an error naming its place, never its text. */
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,Authorization sekrit-value", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_HEADERS: entry 2"));
    assert_null(strstr(err, "sekrit"));
    otlp_config_fini(&c);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "bad name=sekrit-value", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "sekrit"));
    otlp_config_fini(&c);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x=line%0Abreak", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), -EINVAL);
    otlp_config_fini(&c);

    /* A bad OTEL_RESOURCE_ATTRIBUTES is set aside whole, with a warning. */
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=%zz", 1);
    assert_int_equal(otlp_config_init(&c, &cli, err, sizeof(err)), 0);
    assert_int_equal(c.n_res, 0);
    assert_non_null(strstr(c.warning, "entry 2"));
    otlp_config_fini(&c);
    clear_env();
}

static bool export_json(const char *s, struct otlp_resp *r)
{
    return otlp_resp_parse_export_json(s, strlen(s), r);
}

static void json_answers(void **state)
{
    struct otlp_resp r;
    (void)state;
    assert_true(export_json("{}", &r));
    assert_false(r.partial);
    assert_true(export_json(" {\"partialSuccess\": null} ", &r));
    assert_false(r.partial);
    assert_true(export_json("{\"x\":[1,-2.5e3,{\"y\":\"\\\"\"}],\"partialSuccess\":"
                            "{\"rejectedSpans\":\"9223372036854775807\",\"errorMessage\":"
                            "\"caf\\u00e9 \\ud83d\\ude00\\n\"}}",
                            &r));
    assert_true(r.partial);
    assert_true(r.rejected_spans == INT64_MAX);
    assert_string_equal(r.message, "caf\xc3\xa9 \xf0\x9f\x98\x80\\n"); /* the newline escaped */
    assert_true(export_json("{\"partialSuccess\":{\"rejectedSpans\":4}}", &r));
    assert_int_equal(r.rejected_spans, 4);
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{}x",
        "{\"a\":}",
        "{\"a\":1,}",
        "{'a':1}",
        "{\"partialSuccess\":{\"rejectedSpans\":\"9223372036854775808\"}}",
        "{\"partialSuccess\":{\"rejectedSpans\":1.5}}",
        "{\"partialSuccess\":5}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":01}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(export_json(bad[i], &r));
    /* nesting past 64 is refused, not followed down */
    char deep[300];
    memset(deep, '[', 200);
    strcpy(deep + 200, "]");
    char doc[320];
    snprintf(doc, sizeof(doc), "{\"a\":%s}", deep);
    assert_false(export_json(doc, &r));
    const char st[] = "{\"code\":3,\"message\":\"no \\u001b[31m\",\"details\":[]}";
    assert_true(otlp_resp_parse_status_json(st, strlen(st), &r));
    assert_int_equal(r.code, 3);
    assert_string_equal(r.message, "no \\x1b[31m"); /* the escape shown, not obeyed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traceparent_rules),
        cmocka_unit_test(ids_are_derived),
        cmocka_unit_test(encodings),
        cmocka_unit_test(endpoints),
        cmocka_unit_test(headers_and_resource),
        cmocka_unit_test(json_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
