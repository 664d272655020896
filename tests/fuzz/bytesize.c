/*
 * bytesize.c - fuzz target: any bytes as a byte count ("512K", HEAPSPAN_SAMPLE_BYTES
 * and `heapspan run --sample`: format/bytesize.h). An accepted string must mean exactly
 * what a plain reading of it says: digits in base 10, times 1024 per K, M or G, and no
 * count that does not fit 64 bits.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/bytesize.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference reading: false if s is not a byte count or does not fit 64 bits. */
static bool reference(const char *s, uint64_t *out)
{
    unsigned __int128 v = 0;
    size_t i = 0;

    if (s[0] < '0' || s[0] > '9')
        return false;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (unsigned)(s[i] - '0');
        if (v > UINT64_MAX)
            return false;
    }
    int shift = 0;
    switch (s[i]) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    }
    i += shift != 0;
    if (s[i] == 'i' || s[i] == 'I')
        i++;
    if (s[i] == 'b' || s[i] == 'B')
        i++;
    if (s[i] != '\0')
        return false;
    v <<= shift;
    if (v > UINT64_MAX)
        return false;
    *out = (uint64_t)v;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64];
    uint64_t got = 0, want = 0;

    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    bool ok = hs_parse_bytes(s, &got), ref = reference(s, &want);
    if (ok != ref)
        fz_fail("hs_parse_bytes", ok ? "accepted what does not fit or parse" : "refused a count",
                size);
    if (ok && got != want)
        fz_fail("hs_parse_bytes", "read another number", size);
    return 0;
}
