/*
 * suppress.h - which live blocks are not leaks: the C runtime's one-time allocations
 * (built in), and the user's suppressions in LeakSanitizer's file format. A site they
 * match keeps its live blocks (model_stats.live_*) but leaks nothing: its leak_kind
 * says why, and the model's totals count its blocks apart (runtime_*, suppressed_*).
 * Called by the aggregator (a log) and the snapshot reader when they build a model.
 *
 * Built in (sup_new(true)), as heaptrack's built-in suppressions and valgrind's
 * __libc_freeres do: blocks the runtime allocates once and keeps to the end - stdio
 * buffers, NSS modules and tables, the result buffers of getpwnam() and kin, thread
 * DTVs and TLS blocks and the dynamic loader's own, locale data and message
 * catalogs, gconv's tables, timezone data, atexit() blocks, the resolver's
 * configuration, dlerror() results, and the C++ runtime's static allocations (its
 * emergency exception pool). They are recognised by the frames of the runtime's own
 * code nearest the allocation - the run of frames in libc, the loader, libstdc++,
 * libgcc_s, libm, libpthread, libdl, libresolv and NSS modules before the first frame
 * of anything else - by the function or source file there (suppress.c lists them).
 * So they need symbols: with --no-symbols nothing is set apart.
 *
 * The user's file, LeakSanitizer's format (`--suppressions FILE`): one rule a line,
 * `leak:PATTERN`; `#` starts a comment; blank lines are skipped; rules of other types
 * (`race:`, `called_from_lib:` ...) are ignored, as a file shared between sanitizers
 * holds them. PATTERN matches a frame when it matches its function name (demangled,
 * or mangled), its source file or its module (path or file name): as in LSan, a
 * substring match where `*` stands for any text, a leading `^` anchors the start and
 * a trailing `$` the end. A site matches when any frame of its stack does.
 *
 * One thread per rule set; matching allocates nothing. sup_load fails with a negative
 * errno and one message ("FILE:LINE: ..."); sup_free frees everything.
 */
#ifndef HEAPSPAN_SUPPRESS_H
#define HEAPSPAN_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "analyzer/model.h"

struct sup_rules;

/* A rule set: the runtime's rules if builtin, none of the user's yet. NULL when out of
 * memory. */
struct sup_rules *sup_new(bool builtin) __attribute__((warn_unused_result));

/* Adds the leak: rules of the file at path. On failure, err holds "PATH:LINE: what"
 * or "PATH: why". */
int sup_load(struct sup_rules *r, const char *path, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* Whether the built-in rules are on. */
bool sup_builtin(const struct sup_rules *r);

/* The kind of a site's leaks, and in *rule what set it apart (a string owned by the
 * rules, valid until sup_free; NULL for MODEL_LEAK). r may be NULL: nothing is. */
enum model_leak_kind sup_match(const struct sup_rules *r, const struct model_site *s,
                               const char **rule);

/* LSan's template match of pattern against text (exposed for its tests). */
bool sup_template_match(const char *pattern, const char *text);

void sup_free(struct sup_rules *r);

#endif
