/*
 * wrappers.h - which frames of a stack are the program's own code, which are allocator
 * wrappers and which are runtime plumbing; and each site's title, the first frame of
 * its stack (innermost first) that is not a wrapper. The wrappers stay in the stack:
 * only the title skips them.
 *
 * A frame is a wrapper (MODEL_FRAME_WRAPPER) when
 *   - its function is in the built-in list: the allocation functions of common
 *     libraries and runtimes (sqlite3Malloc*, jv_mem_alloc*, zmalloc*, xmalloc*,
 *     g_malloc*, PyMem_*, ...), and any function of a language's standard library -
 *     C++'s std:: and __gnu_cxx:: (std::allocator, _Hashtable_alloc,
 *     basic_string::_M_construct, vector::_M_realloc_insert), Rust's std::, core::,
 *     alloc:: and hashbrown:: - since a user asks which of *their* lines allocated;
 *   - its function matches a pattern of the user's (--alloc-fn PATTERN: fnmatch(3)
 *     wildcards, against the function's name, or "module+0xOFFSET" for a frame
 *     without one);
 *   - or, detected from the stacks (unless turned off): at the title position in at
 *     least WRAP_DETECT_SITES sites, at that position in at least 90% of the sites
 *     whose stacks hold it, and with at least WRAP_DETECT_CALLERS distinct frames in
 *     one of the three positions above it. That is how an allocator wrapper looks -
 *     sqlite's, stripped, is libsqlite3.so.0+0xa7504 under every one of 600 sites -
 *     and how a function that merely allocates, called from a few places, does not.
 *     Detection repeats (up to WRAP_DETECT_ROUNDS times), so that a chain of wrappers
 *     (sqlite3MemMalloc <- sqlite3Malloc <- sqlite3DbMallocRawNN) is peeled whole.
 * A frame is runtime (MODEL_FRAME_RUNTIME) when its function is start-up or runtime
 * glue: _start, __libc_start_main, __libc_start_call_main, start_thread, clone3,
 * Rust's std::rt::lang_start*, std::panicking::try*, catch_unwind,
 * __rust_begin_short_backtrace, FnOnce::call_once shims. Reports collapse them.
 *
 * Pure functions over the model's types; one thread; wrap_sites allocates scratch
 * memory and fails with -ENOMEM.
 */
#ifndef HEAPSPAN_WRAPPERS_H
#define HEAPSPAN_WRAPPERS_H

#include <stdbool.h>

#include "analyzer/model.h"

#define WRAP_DETECT_SITES   16
#define WRAP_DETECT_CALLERS 8
#define WRAP_DETECT_ROUNDS  6

struct wrap_rules {
    int n_patterns;
    const char *const *patterns; /* --alloc-fn, fnmatch(3) patterns */
    bool no_detect;              /* no detection from the stacks' shape */
};

/* The kind of f by the built-in lists and r's patterns (r may be NULL). */
enum model_frame_kind wrap_frame_kind(const struct wrap_rules *r, const struct model_frame *f);

/* Detects wrappers by the stacks' shape (unless r->no_detect), marking their frames
 * MODEL_FRAME_WRAPPER (the frames must be the caller's to change: the aggregator's or
 * the snapshot reader's), then sets every site's title. The frames' kinds must have
 * been set by wrap_frame_kind. 0 or -ENOMEM. */
int wrap_sites(const struct wrap_rules *r, struct model_site *sites, int n_sites);

#endif
