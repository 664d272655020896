/*
 * bytesize.h - byte counts as people write them ("512K"): the one parser for the
 * shim's HEAPSPAN_SAMPLE_BYTES and `heapspan run --sample`, so that the CLI accepts
 * exactly what the shim will.
 */
#ifndef HEAPSPAN_BYTESIZE_H
#define HEAPSPAN_BYTESIZE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Parses a byte count with an optional K/M/G suffix (powers of 1024) and an optional
 * i and B after it: "524288", "512K", "512KiB". False for anything else, and for a
 * count that does not fit 64 bits. */
static inline bool hs_parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    switch (*end) {
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
    if (shift != 0) {
        if (v > (UINT64_MAX >> shift))
            return false; /* "17179869184G" does not fit 64 bits: refused, not wrapped */
        v <<= shift;
        end++;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

#endif
