/*
 * meta.c - fuzz target: any bytes as the payload of a log's first meta chunk (stacks,
 * modules, clocks, notes, the process, markers, the end...: analyzer/reader.c's meta
 * record parser), followed by a fixed events chunk whose allocations name stacks 1 to
 * 5 and a last meta chunk with a barrier and the end. The log then goes through the
 * reader, the aggregator and every renderer (fz_report). Seeds: the meta payloads of
 * tests/lib/mklog.c's logs.
 */
#include <stddef.h>
#include <stdint.h>

#include "format/logfmt.h"
#include "tests/fuzz/fuzzlib.h"
#include "tests/lib/logbuild.h"

#define T0 LB_START_TICKS

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The events chunk's payload and the last meta chunk's, made once. */
static struct lb_buf events, last;

static void make_tail(void)
{
    struct lf_event ev[12];
    int n = 0;

    for (uint32_t s = 1; s <= 5; s++)
        ev[n++] = lb_ev_alloc(LF_FN_MALLOC, T0 + 10 + s, 0x10000 + 0x100 * s, 16 * s, s);
    ev[n++] = lb_ev_realloc(T0 + 20, T0 + 21, 0x10100, 0x20000, 4000, 2);
    ev[n++] = lb_ev_zeros(T0 + 22, 0x10200, 32, 10);
    ev[n++] = lb_ev_free(T0 + 22, 0x10200);
    ev[n++] = lb_ev_lost(T0 + 23, 4);
    ev[n++] = lb_ev_free(T0 + 24, 0x10300);
    lb_events_payload(&events, LF_VERSION, T0, ev, n, false);
    lb_meta_barrier(&last, T0 + 30);
    lb_meta_end(&last, T0 + 40, 1, LF_END_EXIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lb_file f = lb_file_default(LF_VERSION);
    struct lb_buf meta = { (uint8_t *)data, size, size };
    struct lb_log l;

    if (events.len == 0)
        make_tail();
    lb_init(&l, &f);
    lb_meta_chunk(&l, &meta, 0);
    lb_chunk(&l, LF_CHUNK_EVENTS, 100, T0, &events, 0);
    lb_meta_chunk(&l, &last, 0);
    fz_report(fz_file(l.b.p, l.b.len), false);
    lb_fini(&l);
    return 0;
}
