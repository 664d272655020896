/* pyline.c - see pyline.h. */
#include "analyzer/pyline.h"

#include <stdbool.h>

static bool varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 6) {
        if (*pp >= end || (**pp & 0x80))
            return false; /* ran into the next entry or the end */
        uint8_t b = *(*pp)++;
        v |= (uint64_t)(b & 0x3f) << shift;
        if (!(b & 0x40)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool svarint(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    uint64_t v;
    if (!varint(pp, end, &v))
        return false;
    *out = (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
    return true;
}

int pyl_line(const uint8_t *table, size_t len, int first_line, int64_t instr)
{
    const uint8_t *p = table, *end = table + len;
    int64_t line = first_line, at = 0;

    if (instr < 0)
        return first_line;
    while (p < end) {
        uint8_t b = *p++;
        if (!(b & 0x80))
            return 0; /* not the start of an entry */
        int code = (b >> 3) & 15;
        int64_t units = (b & 7) + 1, delta = 0;
        uint64_t skip;
        bool none = false;
        switch (code) {
        case 15:
            none = true;
            break;
        case 14:
            if (!svarint(&p, end, &delta) || !varint(&p, end, &skip) || !varint(&p, end, &skip) ||
                !varint(&p, end, &skip))
                return 0;
            break;
        case 13:
            if (!svarint(&p, end, &delta))
                return 0;
            break;
        case 10:
        case 11:
        case 12:
            delta = code - 10;
            if (end - p < 2 || (p[0] & 0x80) || (p[1] & 0x80))
                return 0;
            p += 2;
            break;
        default:
            if (p >= end || (p[0] & 0x80))
                return 0;
            p++;
            break;
        }
        line += delta;
        if (line < -((int64_t)1 << 40) || line > ((int64_t)1 << 40))
            return 0;
        if (instr < at + units)
            return none || line <= 0 || line > INT32_MAX ? 0 : (int)line;
        at += units;
    }
    return 0;
}
