/*
 * writer.h - the log file: naming and opening it, the background writer thread, and
 * the flushes at exit, exec, fork and fatal signals.
 *
 * One writer thread (all signals blocked, never recording) wakes when a thread buffer
 * fills and at least every 100 ms. Each wake is a cycle: new stacks and queued meta
 * records go out as a meta chunk, then every thread's committed records as event
 * chunks (zstd level 1, batched up to 1 MiB raw), then a barrier; the cycle's bytes
 * leave in one large write(). Allocating threads never wait for it, but for
 * back-pressure when 32 MiB of filled buffers wait (tbuf.h). Each 100 ms cycle also
 * gives back idle threads' buffers (tb_trim_idle) and recycles the states of threads
 * gone (tb_reap), both under the flush lock.
 *
 * The flush lock serialises cycles; it is taken by the writer thread, by the exit and
 * exec paths, by fork's prepare handler, and - with a bounded wait - from a fatal signal
 * handler. No allocating path takes it. On a write error the writer stops recording,
 * says so once on stderr, and the host runs on.
 */
#ifndef HEAPSPAN_WRITER_H
#define HEAPSPAN_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the log named by rt_cfg.output for this process and writes the header and the
 * process record. ppid goes into the header. 0 or a negative errno (after one stderr
 * line saying what failed). */
int wr_open(int ppid);

/* Starts the writer thread. 0 or a negative errno. */
int wr_start(void);

/* Wakes the writer (a buffer filled). Async-signal-safe. */
void wr_wake(void);

/* Queues one complete meta record (tag, length, body), for the next cycle. Thread-safe;
 * the meta lock is held only for the copy. */
void wr_meta(const uint8_t *rec, size_t len);

/* Helpers that build and queue common meta records. */
void wr_note(int severity, const char *text);
void wr_marker(int kind);

/* Asks for a snapshot marker from a signal handler: the writer records it with the
 * signal's time on its next cycle. Async-signal-safe. */
void wr_request_marker(void);

/* Writes everything recorded so far, now (exec: the image is about to go). */
void wr_flush(void);

/* Final flush: all records, the end record, the index and the trailer. Recording must
 * already be off for new events. Idempotent. */
void wr_finish(int reason);

/* At exit, when recording stopped early (a write error, or the log's descriptor lost):
 * puts the final count of events not in the log - those in the stage when it stopped,
 * in the threads' buffers, and `counted` more (the hooks' own count) - into the end
 * record written then, in place. */
void wr_settle_lost(uint64_t counted);

/* From a fatal signal handler: a bounded wait for the flush lock, then an uncompressed
 * flush and the end record. Never blocks for more than ~200 ms. */
void wr_emergency(int reason);

/* The log's descriptor, -1 if none (fdguard.h). */
int wr_log_fd(void);
/* Whether f is this process's log descriptor. Async-signal-safe. */
bool wr_is_log_fd(int f);
/* Moves the log to another descriptor, for a dup2 onto its number; returns the old
 * number (still open, now the program's to replace), or -1 (no log, or it could not move
 * and recording stopped). */
int wr_move_fd(void);

/* The path of this process's log. */
const char *wr_path(void);

/* Renames the log (exec keeps the final image's log at the configured name). */
int wr_rename(const char *to);

/* Before an exec, after wr_flush: if this image's log holds no event (a forked child
 * that execs before it allocates anything, as posix_spawn and subprocess do), removes
 * it - the new image logs under the same name - and returns true. The descriptor stays
 * open until the exec closes it. */
bool wr_discard_unused(void);
/* After a failed exec whose log wr_discard_unused removed: writes what it held under
 * the name again and goes on recording there (or stops, saying so). */
void wr_restore_unused(void);

void wr_fork_prepare(void);
void wr_fork_parent(void);
/* In the child: a new log (pid in its name, parent pid in its header), and a new
 * writer thread. Returns 0, or a negative errno when the child cannot log. */
int wr_fork_child(int ppid);

/* Set by shim_start.c: turns recording off for good (write error). */
extern void (*wr_on_stop)(void);

/* Set by shim_start.c: run by the writer thread before each cycle, outside the flush lock
 * (the module map check). */
extern void (*wr_on_tick)(void);

/* Set by shim_start.c: run by the writer thread, outside the flush lock, when it finds itself
 * the last thread of the process (every program thread has exited, the main one by
 * pthread_exit). Ends the process as glibc would have; does not return. */
extern void (*wr_on_program_gone)(void);

#endif
