/*
 * otlpenv.c - fuzz target: any bytes as the OpenTelemetry variables heapspan reads
 * (cli/otlp.c, viz/otlp.c): split at NULs into TRACEPARENT, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_ENDPOINT, then
 * the settings read, a trace built with that resource, and encoded as OTLP/JSON and
 * protobuf. Checks: a header value (8 bytes or more) never appears in a message; a
 * traceparent taken is 55 characters of lowercase hex whose ids are not all zero; the
 * JSON is valid, in valid UTF-8.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/otlp.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vars[] = { "TRACEPARENT", "OTEL_RESOURCE_ATTRIBUTES",
                                    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME",
                                    "OTEL_EXPORTER_OTLP_ENDPOINT" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *part[5] = { 0 };
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    char *p = s;
    for (int i = 0; i < 5; i++) {
        part[i] = p;
        size_t n = strlen(p);
        p = p + n < s + size ? p + n + 1 : p + n;
    }
    for (int i = 0; i < 5; i++) {
        if (part[i][0] != '\0')
            setenv(vars[i], part[i], 1);
        else
            unsetenv(vars[i]);
    }

    uint8_t tid[16], sid[8];
    if (otlp_parse_traceparent(part[0], tid, sid)) {
        bool zt = true, zs = true;
        for (int i = 0; i < 16; i++)
            zt &= tid[i] == 0;
        for (int i = 0; i < 8; i++)
            zs &= sid[i] == 0;
        if (zt || zs || strlen(part[0]) < 55)
            fz_fail("otlp_parse_traceparent", "took an invalid traceparent", 0);
    }

    struct otlp_cli cli = { .endpoint = "env", .timeout = -1 };
    struct otlp_config c;
    char err[1536];
    if (otlp_config_init(&c, &cli, err, sizeof(err)) < 0) {
        /* A message names the variable, never a header's value. */
        for (char *q = part[2]; *q;) {
            size_t len = strcspn(q, ",");
            char *eq = memchr(q, '=', len);
            if (eq != NULL && (size_t)(q + len - eq - 1) >= 8) {
                char v[4096];
                size_t vn = (size_t)(q + len - eq - 1) < sizeof(v) - 1 ? (size_t)(q + len - eq - 1)
                                                                       : sizeof(v) - 1;
                memcpy(v, eq + 1, vn);
                v[vn] = '\0';
                /* (unless another variable, which a message may quote, holds it too) */
                bool elsewhere = false;
                for (int i = 0; i < 5; i++)
                    elsewhere |= i != 2 && strstr(part[i], v) != NULL;
                if (!elsewhere && strstr(err, v) != NULL)
                    fz_fail("otlp_config_init", "a header's value in the message", 0);
            }
            q += len + (q[len] == ',');
        }
    } else {
        struct otlp_trace t;
        const char *argv[] = { "/bin/prog", "--flag" };
        otlp_init(&t);
        otlp_config_trace(&c, &t, 42, 1700000000000000000ull, "/bin/prog", 2, argv);
        struct otlp_interval iv = { .start_unix_ns = 1, .end_unix_ns = 2, .live_bytes = 10 };
        otlp_add_span(&t, OTLP_SPAN_PROCESS, 0, 1, 3);
        otlp_add_interval(&t, 0, &iv, 0);
        char *json = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&json, &len);
        if (f == NULL)
            abort();
        int rc = otlp_encode_json(&t, f);
        fclose(f);
        const char *why;
        size_t at;
        if (rc == 0 && !fz_json_valid(json, len, &why, &at))
            fz_fail("otlp_encode_json", why, at);
        uint8_t *pb = NULL;
        size_t pb_len = 0;
        if (otlp_encode_protobuf(&t, &pb, &pb_len) < 0 && t.err == 0)
            fz_fail("otlp_encode_protobuf", "failed", 0);
        free(pb);
        free(json);
        otlp_fini(&t);
    }
    otlp_config_fini(&c);
    free(s);
    return 0;
}
