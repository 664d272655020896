/*
 * debuginfo.h - the modules whose frames came out without names or source lines, and
 * for each what would give them: the list a report ends with (model.h's struct
 * model_nodebug).
 *
 * From the symbolizer's account of each module (symbolize.h's sym_module_info): no
 * file with the run's build-id, a file at the path that is another build (rebuilt
 * since the run), or a file without DWARF. The fix that applies, in this order:
 *   - rebuilt: the binary that ran is gone; point --debuginfo-path at a directory
 *     holding it (or its debug file) by build-id, or record again;
 *   - a file a Debian package owns (found as `dpkg -S` finds it, in dpkg's file
 *     lists, through the path's symbolic links and /usr merge): install
 *     PACKAGE-dbgsym from the debian-debug archive (libc6-dbg for libc6), or let
 *     libdw's debuginfod client fetch it (DEBUGINFOD_URLS=https://debuginfod.debian.net);
 *   - anything else: build it with -g, or keep its separate debug file and give
 *     --debuginfo-path DIR, or DEBUGINFOD_URLS naming a server that has it.
 * The main program's entry without a path and the vDSO are left out; so are modules
 * with no address in any stack.
 *
 * One thread; allocates; dbg_free frees it all.
 */
#ifndef HEAPSPAN_DEBUGINFO_H
#define HEAPSPAN_DEBUGINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "analyzer/model.h"
#include "analyzer/symbolize.h"

struct dbg_options {
    bool debuginfod;        /* the symbolizer may ask debuginfod servers (session.h) */
    const char *dpkg_dir;   /* dpkg's file lists; NULL: /var/lib/dpkg/info */
    const char *os_release; /* NULL: /etc/os-release (for the Debian release's name) */
};

struct dbg_list;

/* The list for c's modules (c may be NULL: an empty list). NULL when out of memory. */
struct dbg_list *dbg_missing(const struct sym_cache *c, const struct dbg_options *o)
    __attribute__((warn_unused_result));

/* The entries, most unnamed addresses first; *n their number. Valid until dbg_free. */
const struct model_nodebug *dbg_entries(const struct dbg_list *l, int *n);

/* The Debian package whose file list (the text of one NAME.list, n bytes) holds path:
 * whether one of its lines is exactly path. */
bool dbg_list_has(const char *text, size_t n, const char *path);

/* The package a dpkg file list's name stands for: "libsqlite3-0:amd64.list" gives
 * "libsqlite3-0" (the architecture dropped). False, out untouched, when name does not
 * end in ".list", the package part is empty or longer than cap - 1. */
bool dbg_list_package(const char *name, char *out, size_t cap);

/* The Debian release's code name in an os-release file's text (n bytes, may hold NULs):
 * the value of the last line VERSION_CODENAME=VALUE (os-release(5): the key at the line's
 * start, the value bare or in matching single or double quotes). False, out untouched,
 * when there is none or the value is empty, longer than cap - 1 or holds anything but
 * a-z, 0-9, '.', '_' and '-'. */
bool dbg_os_codename(const char *text, size_t n, char *out, size_t cap);

void dbg_free(struct dbg_list *l);

#endif
