/*
 * allocdetect.h - allocators compiled into a program or its libraries, whose calls
 * never reach malloc and so are invisible to the shim: tikv-jemallocator's _rjem_*,
 * mimalloc's mi_*, tcmalloc's tc_*, a jemalloc built with the je_ prefix or linked
 * into the executable (mallocx), an executable's own malloc, and a Rust
 * #[global_allocator] that is not the default one. When one is there and few
 * allocations went through malloc and the like, the report says so before anything
 * else, naming the allocator and how to see its calls (include/heapspan.h, or
 * bindings/rust's Tracked). docs/api.md lists the rules.
 *
 * Reads the symbol tables (.symtab, else .dynsym; a stripped file's debug file by
 * build-id under /usr/lib/debug) of the modules the log names, at the paths the
 * process loaded them from, with libelf; a file that is missing, unreadable or of
 * another build (its build-id differs from the log's) is skipped, silently. The shim
 * itself and glibc are never looked at.
 *
 * Called by session.c from one thread, after the whole log is read. Allocates; fails
 * with -ENOMEM only. ad_free frees what it returned.
 */
#ifndef HEAPSPAN_ALLOCDETECT_H
#define HEAPSPAN_ALLOCDETECT_H

#include <stdbool.h>

#include "analyzer/model.h"
#include "analyzer/reader.h"

/* Fewer allocations than this through malloc and the like, while a module defines an
 * allocator of its own, and nothing reported through the API: the allocator is taken
 * to be the program's, and the report warns. */
#define AD_FEW_LIBC_ALLOCATIONS 1000

struct ad_result;

/* The allocators of one file, whatever the counts: path as the process loaded it,
 * build_id (build_id_len 0: none to check), is_main for the executable (whose malloc
 * or mallocx is its own). Adds to *res (made if NULL). 0 or -ENOMEM. */
int ad_scan_file(const char *path, const uint8_t *build_id, int build_id_len, bool is_main,
                 struct ad_result **res) __attribute__((warn_unused_result));

/* The modules of r, read to its end, when libc_allocations (through malloc, operator new,
 * ...) are fewer than AD_FEW_LIBC_ALLOCATIONS and api_allocations is 0; else nothing.
 * *res is NULL when nothing was found. 0 or -ENOMEM. */
int ad_detect(struct rd_log *r, double libc_allocations, double api_allocations,
              struct ad_result **res) __attribute__((warn_unused_result));

/* How a program file is linked, for `heapspan run` to say before it starts that the
 * shim cannot be preloaded into it. */
struct ad_linkage {
    bool elf;        /* an ELF file (else a script, say: nothing is known) */
    bool is_static;  /* no program interpreter: LD_PRELOAD is never read */
    bool needs_libc; /* libc.so is among its DT_NEEDED (else its malloc may be no one's) */
};

/* Reads path's program headers and dynamic section. 0, or -errno when the file cannot
 * be read (a non-ELF file is not an error: l->elf is false). */
int ad_linkage(const char *path, struct ad_linkage *l) __attribute__((warn_unused_result));

/* What was found, one entry per allocator and module; valid until ad_free. */
int ad_count(const struct ad_result *res);
const struct model_unseen *ad_findings(const struct ad_result *res);

void ad_free(struct ad_result *res);

#endif
