/*
 * reader.c - fuzz target: any bytes as a log. The log reader (analyzer/reader.c) takes
 * them through rd_open and rd_next to the end - one input in eight with its threads
 * reading ahead, the rest on the caller's thread - then the aggregator and every
 * renderer (fz_report). Seeds: the golden logs and tests/lib/mklog.c's (one per record
 * type and per kind of damage).
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The same input always takes the same path: a crash replays. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    fz_report(fz_file(data, size), (h & 7) == 0);
    return 0;
}
