/*
 * symbolize.h - map code addresses to function, file and line with libdw, using the
 * log's module map; and list the struct layouts of one size for the "bloated structs"
 * report. Called by aggregate.c from one thread: a struct sym_cache is not
 * thread-safe. Caches per module and per address and allocates; everything it hands
 * out stays valid until sym_close(), which frees it all. Fails with a negative errno:
 * -EINVAL for a bad argument, -ENOMEM (after which the cache can still be closed, but
 * a module that was being opened may stay without its file). Missing files or debug
 * info are not failures: the frame comes back as module+0xoffset with function NULL,
 * and sym_get_stats() counts such modules for the one summary line.
 *
 * A module is identified by (path, build-id, bias); lo and hi are taken from the first
 * struct sym_module seen with that key. Its file is opened at the path the process
 * loaded, but only if its build-id matches the run's (or, with no build-id logged, its
 * PT_LOAD span matches); otherwise it is looked up by build-id under the debuginfo
 * path, then with debuginfod if allowed. Debug info comes from the file itself, else
 * from a separate file found by build-id or .gnu_debuglink.
 */
#ifndef HEAPSPAN_SYMBOLIZE_H
#define HEAPSPAN_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sym_cache;

struct sym_options {
    /* Where separate debug files and build-id trees are looked for, in libdwfl's syntax:
     * ':'-separated; "" is the module's directory, a relative entry a subdirectory of
     * it, an absolute one a root holding .build-id/xx/rest(.debug) and mirrored paths;
     * a leading '-' skips .gnu_debuglink CRC checks. NULL means
     * SYM_DEFAULT_DEBUGINFO_PATH. */
    const char *debuginfo_path;
    /* Let libdw fetch missing files from debuginfod servers. It only does so when
     * DEBUGINFOD_URLS is set; false means never, whatever the environment says. */
    bool debuginfod;
    /* One line per module whose file cannot be used (missing, or a different build),
     * or NULL for none; the counts in sym_get_stats() are kept either way. */
    FILE *warn;
};

#define SYM_DEFAULT_DEBUGINFO_PATH "-:.debug:/usr/lib/debug"

/* One loaded object as the log recorded it; filled by the caller from the module map.
 * The strings and bytes are only read during the call. */
struct sym_module {
    const char *path; /* as the process loaded it; "" (main program) or "[vdso]" possible */
    const uint8_t *build_id;
    size_t build_id_len; /* 0 if the log has none */
    uint64_t bias;       /* load bias (dlpi_addr): runtime address = ELF vaddr + bias */
    uint64_t lo, hi;     /* runtime range: min and max of bias + PT_LOAD p_vaddr (+ p_memsz) */
};

/* One source-level frame. Owned by the cache; valid until sym_close(). */
struct sym_frame {
    const char *function;     /* demangled (C++, Rust legacy and v0) or NULL if unknown */
    const char *linkage_name; /* the mangled name, or NULL (C names, or unknown) */
    const char *file;         /* source path, absolute when DWARF gives a comp_dir; or NULL */
    int line, column;         /* 0 if unknown */
    const char *module;       /* basename of the module's path */
    uint64_t module_offset;   /* pc as passed, minus bias: for "module+0xoffset" display */
    bool inlined;             /* inlined into the next frame of the same result */
};

/* Member of a struct as pahole shows it. Bit-fields give the bytes they touch in
 * offset and size, and their exact place in bit_offset (from the start of the struct)
 * and bit_size. */
struct sym_member {
    const char *name;      /* "" for an anonymous member; "<base>" for a C++ base class */
    const char *type_name; /* e.g. "char", "struct node *", "char[80]" */
    uint64_t offset, size; /* bytes */
    uint64_t bit_offset;   /* bit-fields only */
    uint32_t bit_size;     /* 0 unless a bit-field */
    uint64_t hole_after;   /* unused bytes between this member and the next one */
};

struct sym_struct {
    const char *kind; /* "struct", "class", "union"; "enum" for a Rust enum, whose variants
                       * overlap like a union's members */
    const char *name; /* qualified for C++/Rust ("ns::box<long int>"); a typedef's name
                       * for an anonymous struct; "" if it has neither */
    uint64_t size;
    int n_members;
    const struct sym_member *members; /* in offset order */
    uint64_t hole_bytes;              /* unused bytes between members (and before the first) */
    uint64_t padding_bytes;           /* tail padding */
};

struct sym_stats {
    uint64_t n_modules;          /* distinct (path, build-id, bias) seen */
    uint64_t n_modules_no_file;  /* no file matched: all their frames are module+offset */
    uint64_t n_modules_by_id;    /* file found by build-id, not at its path */
    uint64_t n_modules_no_dwarf; /* file found but no DWARF: names from the symbol table */
    uint64_t n_addresses;        /* distinct (module, pc) resolved */
    uint64_t n_unknown;          /* of those, how many got no function name */
};

/* Returns a new cache, or NULL (errno set) if out of memory. opt may be NULL. */
struct sym_cache *sym_open(const struct sym_options *opt) __attribute__((warn_unused_result));

/*
 * Resolves pc, an address in module m. A return address captured by the unwinder is
 * looked up as pc - 1, the call instruction, unless is_exact (the first frame, a signal
 * frame, a function's address). Returns the number of frames, at least 1, and sets
 * *out to them: inlined frames first, innermost first, the real function last. The
 * first frame's file:line comes from the line table, each later one's from the call
 * site of the frame before it. Each (module, pc, is_exact) is resolved once; repeated
 * calls return the same array. A pc outside [m->lo, m->hi), a missing or different
 * file or missing debug info give one frame with only module and module_offset set
 * (function from the ELF symbol table if there is one). Fails with -EINVAL or -ENOMEM.
 */
int sym_resolve(struct sym_cache *c, const struct sym_module *m, uint64_t pc, bool is_exact,
                const struct sym_frame **out) __attribute__((warn_unused_result));

/*
 * Struct, class and union types of exactly size bytes visible in the compile unit that
 * holds pc (looked up as sym_resolve() does), with their members, holes and tail
 * padding. Returns how many and sets *out; 0 when there are none or no DWARF. Results
 * are cached per (module, compile unit, size). Fails with -EINVAL or -ENOMEM.
 */
int sym_structs_of_size(struct sym_cache *c, const struct sym_module *m, uint64_t pc, bool is_exact,
                        uint64_t size, const struct sym_struct **out)
    __attribute__((warn_unused_result));

void sym_get_stats(const struct sym_cache *c, struct sym_stats *out);

/* What the cache found for each module it was asked about, in the order first seen. */
struct sym_module_info {
    const char *path; /* as the process loaded it; "" for the main program's entry */
    const char *name; /* its file name */
    const uint8_t *build_id;
    size_t build_id_len;
    enum {
        SYM_MOD_OK,       /* its file, with DWARF */
        SYM_MOD_NO_FILE,  /* no file with the run's build-id (missing, or found nowhere) */
        SYM_MOD_REBUILT,  /* the file at its path is another build than the run's */
        SYM_MOD_NO_DWARF, /* its file, without DWARF: names from the symbol table only */
    } status;
    uint64_t addresses, unnamed, no_line; /* resolved in it; of them without a function
                                           * name; without a source line */
};
size_t sym_n_modules(const struct sym_cache *c);
/* i < sym_n_modules(c). The strings are the cache's, valid until sym_close. */
void sym_module_info(const struct sym_cache *c, size_t i, struct sym_module_info *out);

/* Opens path read-only for libelf only if it is a regular file that can hold an ELF
 * header (module paths come from the log: a FIFO's open would wait for ever, a
 * device's read can do anything). The descriptor, or -1 with the reason in *why (a
 * static string or strerror's). Every module file the analyzer reads is opened here. */
int sym_open_elf_file(const char *path, const char **why) __attribute__((warn_unused_result));

/* Frees the cache and everything it returned. NULL is a no-op. */
void sym_close(struct sym_cache *c);

#endif
