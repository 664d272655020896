/*
 * stacks.h - call stacks: capture with libunwind and deduplication into ids.
 *
 * st_capture() walks the calling thread's stack with unw_backtrace(), libunwind's
 * cached fast tracer (the unw_step loop costs ~85x more and masks signals per frame),
 * and drops the frames inside the shim itself. st_intern() turns a stack into a small
 * id: a per-thread direct-mapped cache answers repeats with no lock; a miss goes to the
 * process-wide table under a mutex held only for table work (no call out). Stacks
 * are compared in full, never by hash alone, so an id always means one exact stack.
 * Entries are never freed or moved while the process runs, so the writer reads them
 * without the lock once their id is below st_count().
 */
#ifndef HEAPSPAN_STACKS_H
#define HEAPSPAN_STACKS_H

#include <stdint.h>

#include "tbuf.h"

struct st_entry {
    uint64_t hash;
    uint32_t id;
    uint32_t depth;
    uint64_t pcs[];
};

/* Reserves the table; warms up libunwind so that its one-time setup (which may
 * allocate and take locks) happens now and not inside a host's malloc. */
int st_init(void);

/* Records [lo, hi) as the shim's own code, trimmed from the top of every stack. */
void st_set_self_range(uint64_t lo, uint64_t hi);

/* Captures up to max frames of the caller's stack into pcs; returns the count. */
int st_capture(uint64_t *pcs, int max);

/* Captures the caller's stack (at most max frames, into t->pcs) and returns its id:
 * what the allocation hooks call. */
uint32_t st_capture_id(struct tb_thread *t, int max);

/* The id of this exact stack (ids start at 1); 0 when the table is out of memory. */
uint32_t st_intern(struct tb_thread *t, const uint64_t *pcs, int depth);

/* Number of ids handed out + 1 (acquire); st_get(id) for 1 <= id < st_count(). */
uint32_t st_count(void);
const struct st_entry *st_get(uint32_t id);

/* Forget which ids the log has seen: a forked child writes them all again. */
void st_fork_prepare(void);
void st_fork_parent(void);
void st_fork_child(void);

/* After dlclose: libunwind's per-pc caches may describe code that is gone. */
void st_flush_unwind_cache(void);

#endif
