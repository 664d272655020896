/*
 * otlpresp.c - fuzz target: any bytes as an OTLP/HTTP server's answer (cli/otlp_resp.c),
 * as an ExportTraceServiceResponse and as a google.rpc.Status, in protobuf and in
 * OTLP/JSON. The message kept must be safe to print (no control characters, valid
 * UTF-8); and a response encoded here from the input's first bytes - rejected spans, a
 * message of plain text - must parse back to exactly those, in either form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/otlp_resp.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otlp_resp r;
    size_t at;

    if (otlp_resp_parse_export(data, size, &r) && !fz_text_safe(r.message, strlen(r.message), &at))
        fz_fail("otlp_resp_parse_export", "unsafe message", at);
    if (otlp_resp_parse_status(data, size, &r) && !fz_text_safe(r.message, strlen(r.message), &at))
        fz_fail("otlp_resp_parse_status", "unsafe message", at);
    if (otlp_resp_parse_export_json((const char *)data, size, &r) &&
        !fz_text_safe(r.message, strlen(r.message), &at))
        fz_fail("otlp_resp_parse_export_json", "unsafe message", at);
    if (otlp_resp_parse_status_json((const char *)data, size, &r) &&
        !fz_text_safe(r.message, strlen(r.message), &at))
        fz_fail("otlp_resp_parse_status_json", "unsafe message", at);

    /* A well-formed answer from the input's first bytes. */
    if (size < 8)
        return 0;
    uint64_t rejected;
    memcpy(&rejected, data, 8);
    rejected &= INT64_MAX;
    char msg[200];
    size_t n = 0;
    for (size_t i = 8; i < size && n < sizeof(msg) - 1; i++)
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\' && data[i] != '"')
            msg[n++] = (char)data[i];
    msg[n] = '\0';
    uint8_t inner[256], outer[300];
    size_t k = 0, o = 0;
    inner[k++] = 0x08;
    k += put_varint(inner + k, rejected);
    inner[k++] = 0x12;
    k += put_varint(inner + k, n);
    memcpy(inner + k, msg, n);
    k += n;
    outer[o++] = 0x0a;
    o += put_varint(outer + o, k);
    memcpy(outer + o, inner, k);
    o += k;
    if (!otlp_resp_parse_export(outer, o, &r) || !r.partial ||
        (uint64_t)r.rejected_spans != rejected || strcmp(r.message, msg) != 0)
        fz_fail("otlp_resp_parse_export", "a well-formed response read back differently", 0);
    char json[400];
    int jn = snprintf(json, sizeof(json),
                      "{\"partialSuccess\":{\"rejectedSpans\":\"%llu\",\"errorMessage\":\"%s\"}}",
                      (unsigned long long)rejected, msg);
    if (!otlp_resp_parse_export_json(json, (size_t)jn, &r) || !r.partial ||
        (uint64_t)r.rejected_spans != rejected || strcmp(r.message, msg) != 0)
        fz_fail("otlp_resp_parse_export_json", "a well-formed response read back differently", 0);
    return 0;
}
