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
 * i and B after it: "524288", "512K", "512KiB". */
static inline bool hs_parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
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
