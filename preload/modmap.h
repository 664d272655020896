/*
 * modmap.h - the module map: which objects are loaded where. The shim records raw pcs;
 * the analyzer needs, per pc, the file, its build-id and load bias to symbolize -
 * possibly after the object was unloaded, or on another machine with the same binaries.
 *
 * mm_scan() walks dl_iterate_phdr and queues an LF_META_MODULE record for each object
 * not seen before and an LF_META_UNLOAD for each one gone. It runs at start, from the
 * writer thread when the loader's add/remove counters move, and around every dlclose
 * (before it, so an object loaded and unloaded between two writer cycles is still
 * recorded). The scan mutex is never taken on an allocation path, so holding it across
 * dl_iterate_phdr (which takes the loader's lock) cannot deadlock with a thread that
 * allocates inside dlopen.
 */
#ifndef HEAPSPAN_MODMAP_H
#define HEAPSPAN_MODMAP_H

#include <stdbool.h>
#include <stdint.h>

/* Scans if the loader's counters changed since the last scan, or always if force. */
void mm_scan(bool force);

/* The address range of the object containing addr (for trimming the shim's own frames
 * from stacks). false if none. */
bool mm_range_of(const void *addr, uint64_t *lo, uint64_t *hi);

void mm_fork_prepare(void);
void mm_fork_parent(void);
/* The child's log starts empty: every module is reported again. */
void mm_fork_child(void);

#endif
