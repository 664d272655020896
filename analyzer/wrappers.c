/* wrappers.c - see wrappers.h. */
#include "analyzer/wrappers.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"

/* Start-up and runtime glue, outermost in every stack: fnmatch(3) patterns. */
static const char *const runtime_fns[] = {
    "_start",
    "__libc_start_main*",
    "__libc_start_call_main",
    "start_thread",
    "clone",
    "clone3",
    "__clone*",
    "std::rt::*",
    "std::panicking::try*",
    "std::panicking::catch_unwind*",
    "std::panic::catch_unwind*",
    "std::sys::pal::unix::init",
    "std::sys::pal::unix::stack_overflow::*",
    "__rust_try",
    "std::sys_common::backtrace::__rust_begin_short_backtrace*",
    "std::sys::backtrace::__rust_begin_short_backtrace*",
    "core::ops::function::FnOnce::call_once*",
    "core::ops::function::impls::*",
    "<* as core::ops::function::FnOnce<*>>::call_once*",
    "std::thread::Builder::spawn_unchecked_*",
    "std::sys::*thread::Thread::new::thread_start*",
};

/* Allocation functions of common libraries and runtimes (fnmatch(3) patterns). The
 * standard libraries' namespaces are below (lib_prefix). */
static const char *const wrapper_fns[] = {
    /* sqlite */
    "sqlite3Malloc*",
    "sqlite3_malloc*",
    "sqlite3Realloc*",
    "sqlite3_realloc*",
    "sqlite3DbMalloc*",
    "sqlite3DbRealloc*",
    "sqlite3DbStrDup",
    "sqlite3DbStrNDup",
    "sqlite3DbSpanDup",
    "sqlite3MemMalloc",
    "sqlite3MemRealloc",
    "mallocWithAlarm",
    "dbMallocRawFinish",
    "dbReallocFinish",
    "sqlite3StrAccumEnlarge",
    "sqlite3_mprintf",
    /* jq */
    "jv_mem_alloc*",
    "jv_mem_calloc*",
    "jv_mem_realloc",
    "jv_mem_strdup*",
    /* redis, valkey */
    "zmalloc*",
    "zcalloc*",
    "zrealloc*",
    "ztrymalloc*",
    "ztrycalloc*",
    "ztryrealloc*",
    "zstrdup",
    "zmalloc_usable",
    "extend_to_usable",
    /* git, gnulib, libiberty */
    "xmalloc",
    "xcalloc",
    "xrealloc",
    "xstrdup",
    "xstrndup",
    "xmallocz",
    "xmallocz_gently",
    "xmemdupz",
    "xzalloc",
    "xnmalloc",
    "xcharalloc",
    "xmemdup",
    "xreallocarray",
    "xnrealloc",
    "x2nrealloc",
    "xpalloc",
    "ximalloc",
    "xicalloc",
    "xirealloc",
    "do_xmalloc",
    "do_xmallocz",
    /* GLib */
    "g_malloc*",
    "g_malloc0*",
    "g_realloc*",
    "g_try_malloc*",
    "g_try_realloc*",
    "g_slice_alloc*",
    "g_strdup*",
    "g_strndup",
    "g_memdup*",
    "g_new*",
    /* CPython */
    "PyMem_*",
    "_PyMem_*",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyObject_Malloc",
    "_PyObject_Calloc",
    "_PyObject_Realloc",
    "pymalloc_*",
    "_PyObject_GC_*",
    "gc_alloc",
    "PyType_GenericAlloc",
    "_PyType_AllocNoTrack",
    "PyObject_GC_*",
    /* C and C++ runtimes */
    "strdup",
    "strndup",
    "__strdup",
    "__strndup",
    "asprintf",
    "vasprintf",
    "__vasprintf*",
    "open_memstream",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "reallocarray",
    "__cxa_allocate_exception",
    /* Rust */
    "__rust_alloc*",
    "__rust_realloc",
    "__rdl_*",
    "__rg_*",
};

/* The standard libraries' namespaces: none of it is the user's code. */
static const char *const lib_prefixes[] = {
    "std::", "__gnu_cxx::", "__cxxabiv1::", "core::", "alloc::", "hashbrown::",
};

static bool any_match(const char *const *pats, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(pats[i], s, 0) == 0)
            return true;
    return false;
}

static bool lib_path(const char *s)
{
    for (size_t i = 0; i < sizeof(lib_prefixes) / sizeof(lib_prefixes[0]); i++)
        if (strncmp(s, lib_prefixes[i], strlen(lib_prefixes[i])) == 0)
            return true;
    return false;
}

/* The name without a leading return type ("void std::vector<int>::_M_realloc_insert"):
 * words followed by a space before any '<', '(' or ':'. */
static const char *skip_return_type(const char *fn)
{
    for (int k = 0; k < 4 && strncmp(fn, "operator", 8) != 0; k++) {
        size_t n = strcspn(fn, " <(:");
        if (fn[n] != ' ' || n == 0)
            break;
        fn += n + 1;
    }
    return fn;
}

/* A function of a standard library: in its namespace, or an impl of one of its types
 * ("<alloc::vec::Vec<T> as core::clone::Clone>::clone"), or of a primitive or slice
 * type for one of its traits ("<[T] as alloc::slice::hack::ConvertVec>::to_vec"). */
static bool library_function(const char *fn)
{
    fn = skip_return_type(fn);
    if (lib_path(fn))
        return true;
    if (fn[0] != '<')
        return false;
    fn++;
    while (*fn == '&' || *fn == '*' || *fn == ' ' || *fn == '<' || strncmp(fn, "mut ", 4) == 0)
        fn += *fn == 'm' ? 4 : 1;
    if (lib_path(fn))
        return true;
    const char *as = strstr(fn, " as ");
    const char *path = strstr(fn, "::");
    if (as == NULL || (*fn != '[' && path != NULL && path < as))
        return false; /* the program's own type */
    return lib_path(as + 4);
}

enum model_frame_kind wrap_frame_kind(const struct wrap_rules *r, const struct model_frame *f)
{
    if (r != NULL && r->n_patterns > 0) {
        char unnamed[512];
        const char *name = f->function;
        if (name == NULL) {
            snprintf(unnamed, sizeof(unnamed), "%s+0x%" PRIx64, f->module ? f->module : "?",
                     f->module_offset);
            name = unnamed;
        }
        if (any_match(r->patterns, (size_t)r->n_patterns, name))
            return MODEL_FRAME_WRAPPER;
    }
    if (f->function == NULL)
        return MODEL_FRAME_CODE;
    if (any_match(runtime_fns, sizeof(runtime_fns) / sizeof(runtime_fns[0]), f->function))
        return MODEL_FRAME_RUNTIME;
    if (any_match(wrapper_fns, sizeof(wrapper_fns) / sizeof(wrapper_fns[0]), f->function) ||
        library_function(f->function))
        return MODEL_FRAME_WRAPPER;
    return MODEL_FRAME_CODE;
}

/* ---- detection ---- */

struct fstat {
    const struct model_frame *f;
    int title, appear; /* sites with it at the title position; holding it from there on */
    int distinct[3];   /* distinct frames 1, 2 and 3 positions above it, where it is title */
    int last_site;     /* the last site that counted it in appear */
};

struct pair {
    const struct model_frame *f, *g;
    int d;
};

static bool fstat_eq(const void *e, const void *k)
{
    return ((const struct fstat *)e)->f == k;
}

static bool pair_eq(const void *e, const void *k)
{
    const struct pair *x = e, *y = k;
    return x->f == y->f && x->g == y->g && x->d == y->d;
}

static uint64_t ptr_hash(const void *p)
{
    return (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
}

static struct fstat *stat_of(struct hmap *m, const struct model_frame *f)
{
    bool added;
    struct fstat *e = hmap_put(m, ptr_hash(f), f, fstat_eq, &added);
    if (e != NULL && added)
        *e = (struct fstat){ f, 0, 0, { 0, 0, 0 }, -1 };
    return e;
}

/* The first frame of s that is the program's: not a wrapper, not runtime glue (a
 * FnOnce shim called through a pointer); failing that, the first that is not a
 * wrapper; -1 if every frame is one. Frames without a name inner of a wrapper
 * (sqlite's stripped sqlite3MemRealloc under sqlite3Realloc) are the allocator's too:
 * skipped with it. */
static int first_code(const struct model_site *s)
{
    int fallback = -1;
    for (int k = 0; k < s->n_frames; k++) {
        const struct model_frame *f = s->frames[k];
        if (f->kind == MODEL_FRAME_WRAPPER)
            continue;
        if (f->kind == MODEL_FRAME_RUNTIME) {
            if (fallback < 0)
                fallback = k;
            continue;
        }
        if (f->function != NULL)
            return k;
        int j = k + 1;
        while (j < s->n_frames && s->frames[j]->function == NULL &&
               s->frames[j]->kind == MODEL_FRAME_CODE)
            j++;
        if (j == s->n_frames || s->frames[j]->kind != MODEL_FRAME_WRAPPER)
            return k;
        k = j;
    }
    return fallback;
}

/* One round: marks the frames that look like wrappers; how many, or -ENOMEM. */
static int detect_round(struct model_site *sites, int n_sites)
{
    struct hmap stats, pairs;
    int err = 0, marked = 0;

    hmap_init(&stats, sizeof(struct fstat));
    hmap_init(&pairs, sizeof(struct pair));
    for (int i = 0; i < n_sites && err == 0; i++) {
        const struct model_site *s = &sites[i];
        int t = first_code(s);
        if (t < 0)
            continue;
        const struct model_frame *f = s->frames[t];
        struct fstat *st = stat_of(&stats, f);
        if (st == NULL) {
            err = -ENOMEM;
            break;
        }
        st->title++;
        for (int d = 1; d <= 3 && t + d < s->n_frames; d++) {
            struct pair p = { f, s->frames[t + d], d }, *e;
            bool added;
            uint64_t h = ptr_hash(p.g) ^ (ptr_hash(f) >> 1) ^ (uint64_t)d;
            if ((e = hmap_put(&pairs, h, &p, pair_eq, &added)) == NULL) {
                err = -ENOMEM;
                break;
            }
            if (added) {
                *e = p;
                /* The map may have grown: find f's entry again. */
                st = stat_of(&stats, f);
                if (st == NULL) {
                    err = -ENOMEM;
                    break;
                }
                st->distinct[d - 1]++;
            }
        }
    }
    /* How many sites hold each candidate at or above their title. */
    for (int i = 0; i < n_sites && err == 0; i++) {
        const struct model_site *s = &sites[i];
        int t = first_code(s);
        for (int k = t < 0 ? s->n_frames : t; k < s->n_frames; k++) {
            struct fstat *st = hmap_get(&stats, ptr_hash(s->frames[k]), s->frames[k], fstat_eq);
            if (st != NULL && st->last_site != i) {
                st->last_site = i;
                st->appear++;
            }
        }
    }
    size_t it = 0;
    struct fstat *st;
    while (err == 0 && (st = hmap_next(&stats, &it)) != NULL) {
        int callers = st->distinct[0];
        if (st->distinct[1] > callers)
            callers = st->distinct[1];
        if (st->distinct[2] > callers)
            callers = st->distinct[2];
        if (st->f->kind == MODEL_FRAME_CODE && st->title >= WRAP_DETECT_SITES &&
            10 * (double)st->title >= 9 * (double)st->appear && callers >= WRAP_DETECT_CALLERS) {
            ((struct model_frame *)st->f)->kind = MODEL_FRAME_WRAPPER;
            marked++;
        }
    }
    hmap_fini(&stats);
    hmap_fini(&pairs);
    return err < 0 ? err : marked;
}

int wrap_sites(const struct wrap_rules *r, struct model_site *sites, int n_sites)
{
    for (int round = 0; (r == NULL || !r->no_detect) && round < WRAP_DETECT_ROUNDS; round++) {
        int k = detect_round(sites, n_sites);
        if (k < 0)
            return k;
        if (k == 0)
            break;
    }
    /* The unnamed frames skipped under a wrapper are the allocator's: marked, they
     * title no other site either. */
    for (int i = 0; i < n_sites; i++) {
        int t = first_code(&sites[i]);
        for (int k = 0; k < t; k++)
            if (sites[i].frames[k]->kind == MODEL_FRAME_CODE)
                ((struct model_frame *)sites[i].frames[k])->kind = MODEL_FRAME_WRAPPER;
    }
    for (int i = 0; i < n_sites; i++) {
        int t = first_code(&sites[i]);
        sites[i].title = t < 0 ? 0 : t;
    }
    return 0;
}
