/*
 * model.h - what a report is made of: the recorded process, the totals, the call sites
 * with their stacks, the same numbers by function and by line, the sizes held in large
 * numbers with the struct layouts DWARF gives for them, and the warnings. It is the one
 * input of every renderer (viz/): they read a struct model and never the log, so any
 * source of these numbers - a log (analyzer/session.h), a snapshot file - feeds every
 * output format. A diff of two models (struct model_diff, made by analyzer/diff.h) is
 * plain data of the same kind, the one input of the diff renderers.
 *
 * Plain data with no functions: whoever builds a model owns everything it points to
 * and keeps it valid and unchanged while it is read (a session's model lives until
 * session_close). Read-only once built, so any number of threads may read one model.
 * Times are nanoseconds since the start of the log, already converted from the log's
 * clock. Counts and byte totals are doubles: in a sampled log they are estimates.
 *
 * A model describes one point of a log (model_process.point): the end, the peak, a
 * marker or a time. A model at point P describes the log as if it ended at P: every
 * figure counts the events up to P, and what is live at P is what it calls leaked -
 * except the blocks of sites whose leaks are set apart (enum model_leak_kind): the C
 * runtime's one-time allocations and the user's suppressions are live, not leaked.
 *
 * Nothing here depends on the log's format, the reader or the symbolizer: the model
 * has its own types for what those describe. analyzer/aggregate.c fills them from a
 * log, analyzer/snapshot.c from a snapshot file.
 */
#ifndef HEAPSPAN_MODEL_H
#define HEAPSPAN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define MODEL_HIST_BUCKETS     40   /* log2 size classes: [2^k, 2^(k+1)) */
#define MODEL_BLOAT_SITES      8    /* sites listed per bloated size */
#define MODEL_TIMELINE_POINTS  1024 /* buckets of the heap over time, at most */
#define MODEL_TIMELINE_MARKERS 256  /* markers kept with their times (all are counted) */

/* Numbers for one site, function or line. */
struct model_stats {
    double allocations, allocated_bytes;
    double frees;
    double peak_live_bytes;                  /* live at the moment of the global peak */
    double leaked_bytes, leaked_allocations; /* live at the end of the log (or window, or
                                              * point), unless the site's leaks are set
                                              * apart (model_site.leak_kind): then 0 */
    double live_bytes, live_blocks;          /* live at the model's point, set apart or not */
    double temporary_allocations;            /* freed before the thread allocated anything else */
    double max_live_blocks;                  /* the site's own largest live block count */
    double slack_bytes;                    /* allocator's usable size minus requested, allocated */
    double zero_sampled_bytes, zero_bytes; /* contents of the blocks sampled for zeros */
    double hist[MODEL_HIST_BUCKETS];
    uint64_t common_size; /* the size of most allocations, if >= 90% share one; else 0 */
    /* Recorded blocks behind the estimates of a sampled log (each stands for several):
     * allocated; live at the global peak; live at the point; of those, leaked. The
     * estimates' intervals come from them (docs/cli.md, "Sampling"). In a model read
     * from a snapshot they are 0: no interval. */
    double samples, peak_samples, live_samples, leaked_samples;
};

/* What a frame is to the reader of a report (analyzer/wrappers.h says how it is told). */
enum model_frame_kind {
    MODEL_FRAME_CODE = 0, /* the program's own code, or a library's that is not below */
    MODEL_FRAME_WRAPPER,  /* an allocator wrapper (xmalloc, sqlite3Malloc, std::allocator):
                           * kept in the stack, never a site's title */
    MODEL_FRAME_RUNTIME,  /* start-up and runtime plumbing (_start, __libc_start_main,
                           * Rust's lang_start and catch_unwind): collapsed when shown */
};

/* One source-level frame. */
struct model_frame {
    const char *function; /* NULL: unknown; shown as module+0xoffset */
    const char *file;     /* NULL if unknown */
    int line;             /* 0 if unknown */
    const char *module;   /* the module's file name, without its directory */
    uint64_t module_offset;
    bool inlined;             /* inlined into the next frame of the stack */
    const char *linkage_name; /* the mangled (linkage) name, NULL for C names or unknown */
    const char *module_path;  /* the module as the process loaded it; NULL if unknown */
    const char *build_id;     /* the module's GNU build-id in lowercase hex; NULL if none */
    enum model_frame_kind kind;
};

/* Whether a site's live blocks at the end count as leaked. */
enum model_leak_kind {
    MODEL_LEAK = 0,        /* the program's: leaked */
    MODEL_LEAK_RUNTIME,    /* one-time allocations of the C runtime (stdio buffers, NSS,
                            * TLS, the loader's, locale data, the C++ emergency pool) */
    MODEL_LEAK_SUPPRESSED, /* matched by a user's suppression (leak:PATTERN) */
};

struct model_site {
    struct model_stats st;
    int n_frames;                            /* at least 1 */
    const struct model_frame *const *frames; /* innermost first, allocator frames trimmed;
                                              * a frame may be shared between sites */
    int title; /* frames[title] names the site: the first frame that is not an allocator
                * wrapper (0 when every frame is one); the wrappers stay before it */
    enum model_leak_kind leak_kind;
    const char *leak_rule; /* what set it apart: a description of the runtime's
                            * allocation, or the user's pattern; NULL for MODEL_LEAK */
};

/* A row of the by-function or by-line tables: the innermost frame's function, or its
 * function + file + line. */
struct model_group {
    struct model_stats st;
    const char *function, *file, *module; /* file NULL in the by-function table */
    int line;                             /* 0 in the by-function table */
    int n_sites;
};

/* Member of a struct as pahole shows it. Bit-fields give the bytes they touch in
 * offset and size, and their exact place in bit_offset (from the start of the struct)
 * and bit_size. */
struct model_member {
    const char *name;      /* "" for an anonymous member; "<base>" for a C++ base class */
    const char *type_name; /* e.g. "char", "struct node *", "char[80]" */
    uint64_t offset, size; /* bytes */
    uint64_t bit_offset;   /* bit-fields only */
    uint32_t bit_size;     /* 0 unless a bit-field */
    uint64_t hole_after;   /* unused bytes between this member and the next one */
};

struct model_struct {
    const char *kind; /* "struct", "class", "union"; "enum" for a Rust enum */
    const char *name; /* qualified for C++/Rust; "" if it has none */
    uint64_t size;
    int n_members;
    const struct model_member *members; /* in offset order */
    uint64_t hole_bytes;                /* unused bytes between members (and before the first) */
    uint64_t padding_bytes;             /* tail padding */
};

/* A size of block held in large numbers, and the types of that size. */
struct model_bloat {
    uint64_t size;
    double blocks_at_peak; /* of this size, at the global peak, from these sites */
    double bytes_at_peak;
    double slack_bytes_per_block;
    double zero_share;            /* -1 when no block of these sites was sampled */
    int n_sites;                  /* may exceed MODEL_BLOAT_SITES: only the first are in sites[] */
    int sites[MODEL_BLOAT_SITES]; /* indexes into model.sites */
    int n_types;
    const struct model_struct *types;
};

/* Pools of blocks the program reported through include/heapspan.h, by name: every pool
 * that bore the name (a pool named again starts over under its new name). */
struct model_pool {
    const char *name; /* "" for pools never named */
    uint64_t pools;   /* pools that bore the name */
    uint64_t resets;  /* resets of those pools */
    double allocations, allocated_bytes;
    double frees;                            /* blocks freed one by one */
    double reset_frees;                      /* blocks freed by a reset */
    double peak_live_bytes;                  /* the most live in these pools at once */
    double leaked_bytes, leaked_allocations; /* live at the end of the log (or window) */
};

/* An allocator compiled into the program or a library whose calls do not go through
 * malloc, with few that did: the report says so first. */
struct model_unseen {
    const char *allocator; /* "mimalloc", "jemalloc (tikv-jemallocator)", ... */
    const char *symbol;    /* the symbol that names it, as the module defines it */
    const char *module;    /* the module's file name, without its directory */
    const char *advice;    /* one sentence: how to see its calls */
};

/* A module whose frames have no names or no source lines, and what would give them. */
struct model_nodebug {
    const char *path;     /* as the process loaded it */
    const char *module;   /* its file name */
    const char *build_id; /* lowercase hex; NULL if the log has none */
    enum {
        MODEL_NODEBUG_NO_FILE,  /* no file with the run's build-id: every frame is module+offset */
        MODEL_NODEBUG_REBUILT,  /* the file at the path is another build than the one that ran */
        MODEL_NODEBUG_NO_DWARF, /* the file, but no debug info: names from its symbol table
                                 * at best, no files or lines */
    } why;
    uint64_t addresses;  /* distinct addresses of it in the stacks */
    uint64_t unnamed;    /* of them, with no function name */
    const char *package; /* the Debian package that owns the file ("libsqlite3-0"); or NULL */
    const char *fix;     /* one sentence: what to do */
};

/* How the recorded process ended, as its log says. */
enum model_end {
    MODEL_END_NONE,            /* no end record (killed, exec'd, still running) */
    MODEL_END_EXIT,            /* exit() or return from main */
    MODEL_END_UNDERSCORE_EXIT, /* _exit / _Exit */
    MODEL_END_SIGNAL,          /* a fatal signal */
    MODEL_END_STOPPED,         /* recording stopped on a write error */
    MODEL_END_OTHER,           /* a reason this analyzer does not know */
};

/* Where in the log a model stands. */
enum model_at {
    MODEL_AT_END = 0, /* the end of the log (of the window, with --from/--to) */
    MODEL_AT_PEAK,    /* the moment of the highest live total */
    MODEL_AT_MARKER,  /* a marker: SIGUSR2, --snapshot-interval, an exec */
    MODEL_AT_TIME,    /* a time the user gave */
};

struct model_point {
    enum model_at at;
    uint32_t marker;         /* MODEL_AT_MARKER: the N-th marker of the log, from 1 */
    uint32_t marker_serial;  /* ... its serial in the log, and kind */
    const char *marker_kind; /* "signal", "interval", "exec" or "?" */
    double ns;               /* the point's time, ns since the start of the log */
};

struct model_process {
    const char *log_path;      /* as the user named it (for a snapshot: as recorded) */
    const char *snapshot_path; /* the snapshot file this model was read from, or NULL */
    struct model_point point;
    uint32_t pid, ppid;
    const char *exe; /* "" when not recorded */
    int argc;
    const char *const *argv;
    uint64_t start_unix_ns;
    uint64_t sample_bytes; /* mean sampling interval; 0: every allocation recorded */
    bool ended;            /* the log holds its end record */
    bool truncated;        /* the log is cut short (in a chunk, or after its end record) */
    enum model_end end_reason;
    /* The end record's time and the events it says were not written: with
     * MODEL_END_STOPPED, when recording stopped and what was lost after it (blocks
     * live then may have been freed later, unrecorded: they are not known leaks). */
    double end_ns;
    uint64_t end_lost_events;
    bool windowed;       /* --to cut the log before its end: what is live at the end of
                          * the window is not known to leak */
    uint64_t log_bytes;  /* the file's size */
    uint64_t bytes_read; /* of it, to make this model (less with a time window) */
};

struct model_totals {
    double allocations, frees, allocated_bytes;
    double peak_live_bytes;
    double peak_ns;                                  /* when the peak was reached */
    double leaked_bytes, leaked_allocations;         /* without the runtime's and suppressed */
    double live_bytes, live_blocks;                  /* at the model's point, all of them */
    double runtime_bytes, runtime_allocations;       /* live, MODEL_LEAK_RUNTIME sites' */
    double suppressed_bytes, suppressed_allocations; /* live, MODEL_LEAK_SUPPRESSED sites' */
    double temporary_allocations;
    uint64_t lost_events;
    uint64_t unknown_frees; /* frees of blocks never seen allocated (before recording) */
    uint64_t markers;
    double first_ns, last_ns; /* the first and last event (in the window) */
    bool sampled;             /* every count and byte total is an estimate */
    double api_allocations;   /* of allocations, those reported through the API */
};

/* One process of a report over several logs of one run (analyzer/view.h): its log's
 * process and its own totals. */
struct model_member_process {
    struct model_process process;
    struct model_totals totals;
    int n_sites;
    int depth; /* 0: no parent among the logs; a child: its parent's + 1 */
};

/* What one thread of the process did: its allocation calls and their bytes, the frees it
 * made (of blocks any thread allocated), its temporary allocations. */
struct model_thread {
    uint32_t tid;
    double allocations, allocated_bytes, frees, temporary_allocations;
};

/* One time bucket of the live total: [ns, ns + bucket_ns). */
struct model_timeline_point {
    double ns;                           /* the bucket's start, since the start of the log */
    double max_live, min_live, end_live; /* bytes live: highest, lowest, at its last event */
};

struct model_marker {
    double ns;
    uint32_t serial;
    const char *kind; /* "signal", "interval", "exec" or "?" */
};

/* Live bytes over time, for a chart: the log's events (up to the model's point) cut
 * into at most MODEL_TIMELINE_POINTS buckets of equal length; a bucket without events
 * holds the live total it inherits. The highest max_live is the peak, exactly. Empty
 * (n_points 0) for a model read from a snapshot, which keeps no history. */
struct model_timeline {
    double bucket_ns;
    int n_points;
    const struct model_timeline_point *points; /* in time order */
    int n_markers; /* the first MODEL_TIMELINE_MARKERS markers; totals.markers counts all */
    const struct model_marker *markers;
};

/* A CPython interpreter the process ran, as its log says (none: seen false). */
struct model_python {
    bool seen;
    const char *version;        /* "3.11.2"; "" when the interpreter did not say */
    bool stacks;                /* Python frames replace the interpreter's loop in stacks */
    const char *reason;         /* when !stacks: why the stacks are native only */
    const char *allocator;      /* PYTHONMALLOC as the process had it, "" if unset */
    const char *allocator_mode; /* "pymalloc (default)", "malloc", ... */
    const char *allocator_note; /* one sentence: what the mode means for the numbers */
    bool internals_shown;       /* the interpreter's own frames were kept */
    uint64_t dropped_frames;    /* Python frames the shim could not validate */
    uint64_t dropped_stacks;    /* distinct stacks that lost some */
};

struct model {
    struct model_process process;
    struct model_totals totals;
    int n_sites;
    const struct model_site *sites; /* in the order they were found: renderers rank them */
    int n_functions;
    const struct model_group *functions; /* in the order they were found, as lines */
    int n_lines;
    const struct model_group *lines;
    int n_bloats;
    const struct model_bloat *bloats; /* most bytes at the peak first */
    int n_warnings;
    const char *const *warnings; /* one line each, without its newline */
    int n_pools;
    const struct model_pool *pools; /* most bytes allocated first */
    int n_unseen;
    const struct model_unseen *unseen; /* none unless few allocations went through malloc */
    struct model_timeline timeline;
    /* A log's only: a model read from a snapshot has seen false (its frames keep the
     * Python frames all the same). */
    struct model_python python;
    int n_nodebug;
    const struct model_nodebug *nodebug; /* most unnamed addresses first */
    int n_threads;
    const struct model_thread *threads; /* most bytes allocated first; none from a snapshot */
    /* A report over several logs (analyzer/view.h): each log's process, parents before
     * their children; 0 for a report of one log. process is then the first's (the
     * root's) and totals the sums. */
    int n_processes;
    const struct model_member_process *processes;
    /* What --focus and --ignore kept (analyzer/view.h); 0 and 0 when not filtered. */
    int filtered_sites, unfiltered_sites;
};

/* ---- a diff of two models: analyzer/diff.h makes it, viz/diff_*.c render it ---- */

/* What a diff compares, per site, per function and in total. */
enum model_metric {
    MODEL_METRIC_LIVE,        /* bytes live at the model's end (its end, marker or window) */
    MODEL_METRIC_PEAK,        /* bytes live at the moment of the global peak */
    MODEL_METRIC_LEAKED,      /* bytes live at the end of a process that ended; else 0 */
    MODEL_METRIC_ALLOCATIONS, /* allocation calls */
    MODEL_METRIC_TEMPORARY,   /* allocations freed before their thread allocated again */
    MODEL_N_METRICS,
};

/* The metrics' names, in enum order: as the CLI takes them and JSON writes them. */
#define MODEL_METRIC_NAMES                                   \
    {                                                        \
        "live", "peak", "leaked", "allocations", "temporary" \
    }
/* Whether a metric counts bytes (else allocation calls). */
#define MODEL_METRIC_IS_BYTES(m) ((m) <= MODEL_METRIC_LEAKED)

/* One number in BASE and in NEW. */
struct model_change {
    double before, after; /* BASE's and NEW's */
    double delta;         /* after - before */
    double percent;       /* 100 * delta / before; +-INFINITY when before is 0 and delta is not */
    /* Sampled models: half the width of the 95% band delta would fall in by sampling
     * alone (docs/cli.md, "Sampling noise"); 0 when neither side is sampled. */
    double noise;
    bool within_noise; /* delta != 0 and |delta| <= noise */
};

enum model_match {
    MODEL_MATCH_EXACT,    /* the same frames */
    MODEL_MATCH_FUNCTION, /* the same functions; lines moved */
    MODEL_MATCH_NEW,      /* only in NEW */
    MODEL_MATCH_VANISHED, /* only in BASE */
};

struct model_diff_site {
    enum model_match match;
    const struct model_site *before, *after; /* in each model; NULL where it has none */
    struct model_change m[MODEL_N_METRICS];
};

/* A row of the by-function tables: the innermost frame's function (in its module). */
struct model_diff_function {
    const char *function; /* NULL: unknown, shown by its module */
    const char *module;
    int n_sites;
    struct model_change m[MODEL_N_METRICS];
};

/* An allowance for growth of one metric's total, and how the diff measured up to it. */
struct model_budget {
    const char *spec; /* as the user wrote it: "10%", "512KiB", "10%,512KiB" */
    enum model_metric metric;
    double percent; /* growth allowed, in percent of BASE's total; < 0: no such part */
    double amount;  /* growth allowed, in the metric's unit (bytes, calls); < 0: none */
    /* Over every part given, and not within sampling noise: the gate fails. */
    bool breached;
    bool within_noise; /* over every part given, but within sampling noise: passed */
};

struct model_diff {
    const struct model *before, *after; /* BASE and NEW */
    enum model_metric metric;           /* the one the lists rank by */
    double min_change;                  /* the lists leave out |delta| below this */
    bool sampled;                       /* either side is sampled: deltas carry noise */
    struct model_change totals[MODEL_N_METRICS];
    int n_sites;
    const struct model_diff_site *sites;        /* every site of either model, BASE's order first */
    int n_exact, n_function, n_new, n_vanished; /* sites by match */
    int n_changed;                              /* sites new, vanished, or with any delta */
    /* Indexes into sites, by the metric: grown (delta > 0) most first, shrunk (delta < 0)
     * most first, new and vanished by their value, most first; each past min_change. */
    int n_grown, n_shrunk, n_new_listed, n_vanished_listed;
    const int *grown, *shrunk, *new_sites, *vanished_sites;
    int n_functions;
    const struct model_diff_function *functions;
    int n_functions_grown, n_functions_shrunk; /* indexes into functions, as for sites */
    const int *functions_grown, *functions_shrunk;
    int n_budgets;
    const struct model_budget *budgets; /* in the order given */
    int n_breached;
};

#endif
