/*
 * tbuf.h - per-thread event buffers. Each recording thread appends encoded records to
 * its own buffer with no lock and no system call; the writer thread (writer.c) reads
 * the committed prefix of every buffer and writes it to the log.
 *
 * Protocol. The owner writes a record past `committed`, then publishes it with a
 * release store of the new `committed` (length written last), so a reader never sees
 * half a record. A full buffer is not reset in place: the owner links a fresh one
 * after it (`next`, stored after the final `committed`) and moves on; the writer frees
 * a buffer only once it has written all of it and seen `next`. Buffers come from a
 * pool of mmap'd blocks guarded by a mutex taken once per buffer (every 64 KiB of
 * records), never across a call out of this module.
 *
 * Scale. Nothing here has a fixed ceiling on threads: a thread's state and its current
 * buffer are mapped when it first records and recycled when it is gone, and the pool
 * keeps only a few spare buffers and states, unmapping the rest. Back-pressure applies
 * to records the writer has not written yet - filled buffers it has not released, at
 * most TB_PENDING_LIMIT (32 MiB) - never to the buffer every thread is filling, so any
 * number of threads can record at once. An idle thread's buffer is trimmed by the writer
 * (tb_trim_idle) down to the pages still in use. What a recording thread costs, idle:
 * its state's pages that stack captures touched (st_thread and the stack cache, a few
 * pages), one to three pages of buffer, and one page of libunwind's trace cache if its
 * stacks went through libunwind's tracer (preload/build-libunwind.sh).
 *
 * Thread states (struct tb_thread) live on a global list for the writer; a thread's
 * exit marks its state dead (pthread key destructor), and the writer recycles it once
 * its buffers are written and the kernel says the thread is gone.
 */
#ifndef HEAPSPAN_TBUF_H
#define HEAPSPAN_TBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "format/settings.h"

#define TB_BUF_BYTES (64 * 1024)
/* A thread wakes the writer once this many of its buffers are full (1 MiB: a chunk's
 * worth; the writer also comes every 100 ms): woken for every buffer, the writer would
 * make chunks of one buffer, which compress worse and cost readers more per event. */
#define TB_WAKE_BUFFERS 16
#define TB_MAX_RECORD   96 /* an encoded event never exceeds this (with its LOST) */

struct tb_buf {
    struct tb_buf *next; /* set by the owner when it moves on (release) */
    uint32_t committed;  /* bytes of complete records (owner: release store) */
    uint32_t flushed;    /* bytes the writer has written (writer only) */
    uint32_t cap;
    uint32_t flags; /* TB_BUF_*: pool (tbuf lock) and writer (a thread's current buffer) */
    uint8_t data[];
};

#define TB_BUF_WARM    1u /* pages past the first were written: resident */
#define TB_BUF_TRIMMED 2u /* the writer gave the unused pages back (tb_trim_idle) */

/* Filled buffers not yet written out, past which a thread that fills another waits for
 * the writer (a second at most, then the event is dropped and counted): 32 MiB, the
 * bound on what profiling adds to the host's memory when the writer falls behind. */
#define TB_PENDING_LIMIT 512

struct st_entry;
struct st_thread;

struct tb_thread {
    /* Owner-only, touched on every event. */
    uint8_t *pos, *end;
    struct tb_buf *cur;
    uint64_t last_time; /* encoder state: time deltas are from it */
    uint64_t rng;
    uint64_t lost;       /* events not recorded, reported in the next LF_EV_LOST */
    uint64_t lost_async; /* the same, counted by signal handlers (atomic) */
    uint64_t unwritten;  /* events after recording stopped early (atomic stores) */
    int in_record;       /* a hook is building a record on this thread */
    /* A resize is under way (shim_resize_begin to its end): the real call may already
     * have released the old block, whose record comes only after it. Stored before the
     * real call, cleared after the record is committed; the writer reads it. */
    uint32_t resizing;
    struct st_entry **stack_cache; /* per-thread cache in front of the stack table */
    struct st_thread *unwind;      /* the unwinder's per-thread state (stacks.c) */
    int tid;
    int64_t zero_left;          /* zero-byte sampling: bytes until the next sampled block */
    uint32_t filled_since_wake; /* buffers filled since this thread last woke the writer */

    /* Writer-only, on a cache line of its own: the owner's lines stay with the owner. */
    struct tb_buf *flush_buf __attribute__((aligned(64))); /* oldest buffer not yet written */
    uint64_t flush_time;                                   /* decoder state at flush_buf->flushed */
    uint64_t stored_time;    /* the log's time of the last record written (<= flush_time: times
                              * may be stored rounded down, writer.c) */
    struct tb_buf *idle_buf; /* tb_trim_idle: the current buffer and its committed bytes */
    uint32_t idle_committed; /* at the last look */
    int idle_state;          /* tbuf.c: watching, clamped, trimmed */

    /* Global list, under the tbuf lock. */
    struct tb_thread *next_thread;
    int dead; /* the thread has exited (atomic) */

    /* Scratch for one captured stack: kept here, not on the host's stack, which may
     * be small. Only the owner uses it, with rt_in_shim set. */
    uint64_t pcs[HS_MAX_DEPTH + 16];
};

/* Sets up the pool and the thread key. Called once at start, before any event. */
int tb_init(void);

/* The calling thread's state, created on first use; NULL if memory ran out. */
struct tb_thread *tb_self(void);

/* The calling thread's state if it has one, else NULL: one TLS load, for fast paths. */
extern __thread struct tb_thread *tb_current_thread __attribute__((tls_model("initial-exec")));

/* Makes room for one record of at most TB_MAX_RECORD bytes; false when no buffer can
 * be had (the event is then counted in t->lost). */
bool tb_make_room(struct tb_thread *t);

/* end is loaded atomically (a plain load on x86): the writer lowers it to retire an idle
 * thread's buffer (tb_trim_idle). */
static inline bool tb_reserve(struct tb_thread *t)
{
    if (__builtin_expect(__atomic_load_n(&t->end, __ATOMIC_RELAXED) - t->pos >= TB_MAX_RECORD, 1))
        return true;
    return tb_make_room(t);
}

/* Publishes the record that ends at p. */
static inline void tb_commit(struct tb_thread *t, uint8_t *p)
{
    t->pos = p;
    __atomic_store_n(&t->cur->committed, (uint32_t)(p - t->cur->data), __ATOMIC_RELEASE);
}

/* Whether the process's main thread may have left by pthread_exit: known from its
 * state's exit (tb_self must have run on it, as phase B sees to), else assumed. */
bool tb_main_may_have_exited(void);

/* Visits every thread state. fn runs under the tbuf lock: it must not take another
 * lock or allocate (fork's quiesce only yields while it waits). */
void tb_for_each(void (*fn)(struct tb_thread *t, void *arg), void *arg);

/* How many thread states were ever registered (an acquire load): the writer compares
 * two readings to learn that a thread started recording in between. A thread registers
 * before its first record is committed, so before anything it recorded can reach
 * another thread. */
uint64_t tb_registrations(void);

/* The latest `last_time` of the thread states recycled so far (tb_reap): their records
 * are written, but another thread may have acted on them after. */
uint64_t tb_reaped_last_time(void);

/* Writer side: returns a fully written buffer to the pool. */
void tb_buf_release(struct tb_buf *b);

/* Writer side: recycles dead threads whose buffers are all written. The caller holds
 * what serialises flushes (writer.c's flush lock): a flush walks the states it took from
 * tb_for_each, dead ones included, until it is done with them. */
void tb_reap(void);

/* Writer side, after a cycle that wrote every thread's current buffer (a tails cycle),
 * with the states that cycle flushed: gives back the memory of buffers whose thread
 * has recorded nothing since the previous such cycle. In two steps, a cycle apart: the
 * first lowers the thread's `end` (atomically, if it still belongs to that buffer), so
 * that the thread's next record moves to a fresh buffer; the second, if the thread
 * still recorded nothing, drops the buffer's pages (MADV_DONTNEED) except the one with
 * its header and those a record begun before the first step could still write. A
 * membarrier(2) after the first step, where the kernel allows it, makes every thread
 * see the new `end` by the second; without it, the cycle between them does in practice.
 * The caller holds the flush lock (no state is recycled meanwhile). */
void tb_trim_idle(struct tb_thread *const *ts, size_t n);

/* Buffers mapped and not in the pool (every thread's current one, and filled ones not
 * yet released): a bound on any chain's length. */
uint64_t tb_buffers_in_use(void);

/* fork: prepare takes the lock, parent releases it, child resets to the calling thread
 * alone with an empty buffer (the inherited records belong to the parent's log). */
void tb_fork_prepare(void);
void tb_fork_parent(void);
void tb_fork_child(void);

/* Set by writer.c: called when a buffer fills, to wake the writer. */
extern void (*tb_on_buffer_full)(void);
/* Set by writer.c, for back-pressure: whether its thread runs (a thread waits for buffer
 * space only if one does), since when its write() has not returned (0: not in one), the
 * writer thread's CPU clock and its reading when that write began: a write that has
 * taken a second but used CPU meanwhile is a writer short of CPU, not a stuck disk. */
extern int tb_writer_alive;
extern uint64_t tb_writer_blocked_since;
extern clockid_t tb_writer_clock;
extern uint64_t tb_writer_cpu_at_block;
/* The writer thread's CPU time in ns (0 if its clock cannot be read). */
uint64_t tb_writer_cpu_ns(void);

#endif
