/*
 * pyline.c - fuzz target: any bytes as a CPython location table (analyzer/pyline.h;
 * the table comes from a log's LF_META_PYCODE record). The first 4 bytes are the first
 * line, the next 4 the instruction asked for (both little-endian, signed), the rest
 * the table. The answer must be the one a reference gives that reads the table another
 * way: cut into entries at each byte with bit 7 set first, then each entry's fields
 * read from its own bytes, and a line per code unit listed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "analyzer/pyline.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One varint of the entry's bytes [*i, n): false if it does not end within them. */
static bool ref_varint(const uint8_t *e, size_t n, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (int k = 0; k < 11; k++) {
        if (*i >= n)
            return false;
        uint8_t b = e[(*i)++];
        v |= (uint64_t)(b & 0x3f) << (6 * k);
        if (!(b & 0x40)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static int64_t ref_signed(uint64_t v)
{
    return (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
}

/* The line of unit `want` by the reference reading. */
static int reference(const uint8_t *t, size_t len, int first, int64_t want)
{
    if (want < 0)
        return first;
    int64_t line = first, unit = 0;
    size_t at = 0;
    while (at < len) {
        if (!(t[at] & 0x80))
            return 0; /* bytes outside any entry */
        size_t end = at + 1;
        while (end < len && !(t[end] & 0x80))
            end++;
        const uint8_t *e = t + at + 1;
        size_t n = end - at - 1, i = 0;
        int code = (t[at] >> 3) & 15;
        int64_t units = (t[at] & 7) + 1;
        uint64_t v;
        bool none = code == 15;
        if (code == 14) {
            if (!ref_varint(e, n, &i, &v))
                return 0;
            line += ref_signed(v);
            for (int k = 0; k < 3; k++)
                if (!ref_varint(e, n, &i, &v))
                    return 0;
        } else if (code == 13) {
            if (!ref_varint(e, n, &i, &v))
                return 0;
            line += ref_signed(v);
        } else if (code >= 10 && code <= 12) {
            if (n < 2)
                return 0;
            line += code - 10;
            i = 2;
        } else if (code < 10) {
            if (n < 1)
                return 0;
            i = 1;
        }
        if (line < -((int64_t)1 << 40) || line > ((int64_t)1 << 40))
            return 0;
        if (want < unit + units)
            return none || line <= 0 || line > INT32_MAX ? 0 : (int)line;
        unit += units;
        if (i != n)
            return 0; /* bytes left in the entry: the next one cannot be read */
        at = end;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    int32_t first, instr;
    memcpy(&first, data, 4);
    memcpy(&instr, data + 4, 4);
    int got = pyl_line(data + 8, size - 8, first, instr);
    int want = reference(data + 8, size - 8, first, instr);
    if (got != want) {
        char detail[96];
        snprintf(detail, sizeof(detail), "first line %d, unit %d: pyl_line %d, reference %d",
                 (int)first, (int)instr, got, want);
        fz_fail("pyl_line disagrees with the reference reading", detail, 0);
    }
    return 0;
}
