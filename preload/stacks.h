/*
 * stacks.h - call stacks: capture and deduplication into ids. Called from the hooks
 * with rt_in_shim set; never allocates through malloc; takes the table mutex only on a
 * per-thread cache miss, never across a call out.
 *
 * st_capture_id() tries, in order: the thread's previous stack (same frame chain and
 * memo bytes: no walk at all), a frame-pointer walk over return addresses libunwind
 * has vouched for (see stacks.c), and libunwind itself - its cached fast tracer, run on
 * from the frame where that walk stopped or by unw_backtrace from the top, or once per
 * new pc the exact unw_step walk that teaches the fast path (the unw_step loop costs
 * ~85x unw_backtrace; it runs only to learn). The shim's own frames are dropped, and a
 * stack cut at the depth limit has that many frames whichever way it was taken. Stacks
 * are compared in full, never by hash alone, so an id always means one exact stack.
 * Entries are never freed or moved while the process runs, so the writer reads them
 * without the lock once their id is below st_count().
 */
#ifndef HEAPSPAN_STACKS_H
#define HEAPSPAN_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "preload/tbuf.h"

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

/* Per-thread unwinder state, kept with the thread's tb_thread and recycled with it. */
struct st_thread;
size_t st_thread_size(void);
void st_thread_init(struct st_thread *th);

/* Captures the caller's stack (at most max frames, into t->pcs) and returns its id:
 * what the allocation hooks call. */
uint32_t st_capture_id(struct tb_thread *t, int max);

/* Number of ids handed out + 1 (acquire); st_get(id) for 1 <= id < st_count(). */
uint32_t st_count(void);
const struct st_entry *st_get(uint32_t id);

/* Before fork's locks: waits until no thread is inside libunwind, and keeps them out
 * until st_fork_parent/st_fork_child. */
void st_fork_quiesce(void);
void st_fork_prepare(void);
void st_fork_parent(void);
void st_fork_child(void);

/* After dlclose: libunwind's per-pc caches may describe code that is gone. */
void st_flush_unwind_cache(void);

#endif
