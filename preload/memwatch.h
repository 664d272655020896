/*
 * memwatch.h - markers written before an OOM kill, so that the heap's state is on disk
 * before the kernel acts: when the process's resident set crosses the next step of
 * HEAPSPAN_SNAPSHOT_ON_RSS (SIZE, 2 x SIZE, ...), a marker of kind LF_MARKER_RSS; when
 * the "high" count of its cgroup v2 memory.events rises (the cgroup went over
 * memory.high and is being throttled: the step before memory.max's OOM kill), a marker
 * of kind LF_MARKER_CGROUP_HIGH. Each is an ordinary marker: `heapspan diff --new-at
 * marker:N` (and snapshots of markers) show the heap at that moment.
 *
 * Called only from the writer thread's tick (wr_on_tick, set in shim_start.c), at most
 * every 10 ms, before the cycle that writes the marker out: never from an allocation.
 * Reads /proc/self/statm and the cgroup's files with the open, read and close system
 * calls: no malloc, no stdio, no lock; a descriptor is held only while a file is read.
 * Off unless HEAPSPAN_SNAPSHOT_ON_RSS is set (rt_cfg.memwatch). A file that cannot be
 * read turns that half of the watch off, silently: not every system has cgroup v2.
 */
#ifndef HEAPSPAN_MEMWATCH_H
#define HEAPSPAN_MEMWATCH_H

void mw_tick(void);

#endif
