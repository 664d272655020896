/* symbolize.c - pc -> function, file:line, inline chain; struct layouts (libdw). */
#include "analyzer/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libiberty/demangle.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Arena chunk size: big enough that a typical run (thousands of frames) needs a few
 * dozen mallocs, small enough not to matter for a run that resolves ten addresses. */
#define SYM_CHUNK (64 * 1024)

/* DWARF nesting we follow while looking for types (namespaces, classes, functions,
 * blocks, imported units). Real code stays far below; the limit guards against cycles
 * through DW_AT_import in a corrupt file. */
#define SYM_MAX_DEPTH 64

/* Longest type name or qualified struct name we build; longer ones are cut with "...". */
#define SYM_NAME_MAX 512

struct sym_chunk {
    struct sym_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

/* Open addressing with linear probing; a slot is empty when val is NULL. The values
 * hold their own keys, so one table type serves modules, addresses, strings, demangled
 * names and struct lists, each with its own equality function. */
struct sym_slot {
    uint64_t hash;
    void *val;
};

struct sym_map {
    struct sym_slot *slots;
    size_t cap, n; /* cap is 0 or a power of two */
};

typedef bool (*sym_eq_fn)(const void *val, const void *key);

struct sym_mod {
    char *path; /* key: path, build-id, bias (arena copies) */
    uint8_t *build_id;
    size_t build_id_len;
    uint64_t bias;
    uint64_t lo, hi;  /* from the first sym_module seen with this key */
    const char *name; /* basename of path, what frames show */
    Dwfl *dwfl;       /* one per module, so each can sit at its own bias; NULL: no file */
    Dwfl_Module *dm;
    uint64_t dw_lo, dw_hi;                /* the range libdwfl gave the module */
    bool rebuilt;                         /* the file at its path is another build than the run's */
    bool no_dwarf;                        /* a file, but no DWARF */
    uint64_t addresses, unnamed, no_line; /* resolved in it; without a name; without a line */
};

struct sym_addr { /* a resolved (module, pc, is_exact) */
    const struct sym_mod *mod;
    uint64_t pc;
    bool exact;
    int n_frames;
    const struct sym_frame *frames;
};

struct sym_demangled {
    const char *mangled; /* interned, so compared by pointer */
    const char *demangled;
};

struct sym_struct_list { /* a sym_structs_of_size() result */
    const struct sym_mod *mod;
    const void *cu_dwarf; /* with cu_off: which compile unit */
    uint64_t cu_off;
    uint64_t size;
    int n;
    const struct sym_struct *structs;
};

struct sym_cache {
    char *debuginfo_path; /* libdwfl reads it through callbacks.debuginfo_path */
    Dwfl_Callbacks callbacks;
    bool debuginfod; /* allowed by the caller and DEBUGINFOD_URLS is set */
    FILE *warn;

    struct sym_chunk *chunks;
    struct sym_map mods, addrs, strings, demangled, structs, cus;
    struct sym_mod **all_mods; /* for sym_close */
    size_t n_mods, cap_mods;
    struct sym_mod *last_mod; /* consecutive calls are mostly for the same module */

    struct sym_frame *tmp; /* frames of the address being resolved */
    size_t cap_tmp;
    Dwarf_Die *chain; /* its subprogram, then inlined instances, outermost first */
    size_t n_chain, cap_chain;
    struct sym_stats stats;
};

static void *arena_alloc(struct sym_cache *c, size_t n)
{
    struct sym_chunk *k = c->chunks;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (k == NULL || k->cap - k->used < n) {
        size_t cap = n > SYM_CHUNK / 4 ? n : SYM_CHUNK;

        k = malloc(sizeof(*k) + cap);
        if (k == NULL)
            return NULL;
        k->used = 0;
        k->cap = cap;
        /* A large one-off block goes behind the current chunk, whose free space
         * stays usable for the small allocations that follow. */
        if (n > SYM_CHUNK / 4 && c->chunks != NULL) {
            k->next = c->chunks->next;
            c->chunks->next = k;
        } else {
            k->next = c->chunks;
            c->chunks = k;
        }
    }
    void *p = k->data + k->used;
    k->used += n;
    return p;
}

static void *arena_dup(struct sym_cache *c, const void *p, size_t n)
{
    void *q = arena_alloc(c, n);

    if (q != NULL && n > 0)
        memcpy(q, p, n);
    return q;
}

/* Makes room for one more element in a vector of elements of size sz. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t new_cap = *cap ? 2 * *cap : 16;
    void *p = realloc(*v, new_cap * sz);

    if (p == NULL)
        return -ENOMEM;
    *v = p;
    *cap = new_cap;
    return 0;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL; /* FNV-1a */
    return h;
}

static uint64_t hash_mix(uint64_t x)
{
    /* splitmix64 finalizer: pcs differ only in low bits, probing wants all bits used */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void *map_find(const struct sym_map *m, uint64_t h, sym_eq_fn eq, const void *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct sym_slot *s = &m->slots[i];

        if (s->val == NULL)
            return NULL;
        if (s->hash == h && eq(s->val, key))
            return s->val;
    }
}

/* Adds val, which must not be in the map yet. */
static int map_put(struct sym_map *m, uint64_t h, void *val)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        struct sym_slot *slots = calloc(cap, sizeof(*slots));

        if (slots == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->slots[i].val == NULL)
                continue;
            size_t j = m->slots[i].hash & (cap - 1);
            while (slots[j].val != NULL)
                j = (j + 1) & (cap - 1);
            slots[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = h & (m->cap - 1);
    while (m->slots[i].val != NULL)
        i = (i + 1) & (m->cap - 1);
    m->slots[i].hash = h;
    m->slots[i].val = val;
    m->n++;
    return 0;
}

static bool str_eq(const void *val, const void *key)
{
    return strcmp(val, key) == 0;
}

/* Returns the one arena copy of s, so equal names share memory and compare by pointer.
 * NULL if out of memory. */
static const char *intern(struct sym_cache *c, const char *s)
{
    size_t n = strlen(s);
    uint64_t h = hash_mix(hash_bytes(0xcbf29ce484222325ULL, s, n));
    char *p = map_find(&c->strings, h, str_eq, s);

    if (p != NULL)
        return p;
    p = arena_dup(c, s, n + 1);
    if (p == NULL || map_put(&c->strings, h, p) != 0)
        return NULL;
    return p;
}

/* intern() that lets NULL through; *err becomes -ENOMEM if a copy failed. */
static const char *intern_opt(struct sym_cache *c, const char *s, int *err)
{
    const char *p;

    if (s == NULL)
        return NULL;
    p = intern(c, s);
    if (p == NULL)
        *err = -ENOMEM;
    return p;
}

struct sym_buf {
    char s[SYM_NAME_MAX];
    size_t len;
};

static void buf_add(struct sym_buf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->len + n >= sizeof(b->s)) {
        n = sizeof(b->s) - 1 - b->len;
        if (n >= 3) {
            memcpy(b->s + b->len, s, n - 3);
            memcpy(b->s + b->len + n - 3, "...", 3);
            b->len += n;
            b->s[b->len] = '\0';
            return;
        }
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_fmt(struct sym_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_fmt(struct sym_buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_add(b, tmp);
}

static void hex_id(char *out, const uint8_t *id, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sym_warn(struct sym_cache *c, const struct sym_mod *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line naming the module by path and build-id, then the cause. */
static void sym_warn(struct sym_cache *c, const struct sym_mod *mod, const char *fmt, ...)
{
    char id[2 * 64 + 1] = "none";
    va_list ap;

    if (c->warn == NULL)
        return;
    if (mod->build_id_len > 0 && mod->build_id_len <= 64)
        hex_id(id, mod->build_id, mod->build_id_len);
    fprintf(c->warn, "symbolize: %s (build-id %s): ", mod->path[0] ? mod->path : mod->name, id);
    va_start(ap, fmt);
    vfprintf(c->warn, fmt, ap);
    va_end(ap);
    fputc('\n', c->warn);
}

/* Opens path for libelf or libdwfl only if it is a regular file that can hold an ELF
 * header: paths come from the log, and a FIFO's open waits for a writer for ever, a
 * device's open or read can do anything, and /proc's files say they are empty while
 * some block on read. stat() before the open, fstat() after it for a path swapped in
 * between. Returns the descriptor, or -1 with the reason in *why. */
int sym_open_elf_file(const char *path, const char **why)
{
    struct stat st;
    int fd;

    if (stat(path, &st) != 0) {
        *why = strerror(errno); /* "No such file or directory", as libdwfl said it */
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf32_Ehdr)) {
        *why = S_ISREG(st.st_mode) ? "too small for an ELF file" : "not a regular file";
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the ELF file open on fd carries this GNU build-id. */
static bool fd_has_build_id(int fd, const uint8_t *id, size_t len)
{
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *p;
    bool ok = false;

    if (e == NULL)
        return false;
    if (elf_kind(e) == ELF_K_ELF) {
        ssize_t n = dwelf_elf_gnu_build_id(e, &p);
        ok = n > 0 && (size_t)n == len && memcmp(p, id, len) == 0;
    }
    elf_end(e);
    return ok;
}

/*
 * find_debuginfo callback used unless debuginfod is allowed: what
 * dwfl_standard_find_debuginfo does, minus the debuginfod query it makes whenever
 * libdebuginfod.so is installed (libdw decides from DEBUGINFOD_URLS, and the caller
 * may have said no). First the build-id tree (also finds dwz alt files), then the
 * .gnu_debuglink name in the main file's directory, its "relative" subdirectories and
 * under each absolute root. A candidate must carry the module's build-id when the
 * module has one; with none, the name is all we have ('-' mode: no CRC).
 */
static int find_debuginfo_local(Dwfl_Module *dm, void **userdata, const char *modname,
                                GElf_Addr base, const char *file_name, const char *debuglink,
                                GElf_Word crc, char **debuginfo_file_name)
{
    struct sym_cache *c = *userdata;
    const unsigned char *id = NULL;
    GElf_Addr id_vaddr;
    struct stat main_st;
    int fd;

    fd = dwfl_build_id_find_debuginfo(dm, userdata, modname, base, file_name, debuglink, crc,
                                      debuginfo_file_name);
    /* An alt file's name comes with a directory: only the build-id lookup applies. */
    if (fd >= 0 || c == NULL || debuglink == NULL || file_name == NULL ||
        strchr(debuglink, '/') != NULL || stat(file_name, &main_st) != 0)
        return fd;

    int id_len = dwfl_module_build_id(dm, &id, &id_vaddr);
    const char *slash = strrchr(file_name, '/');
    int dir_len = slash ? (int)(slash - file_name) : 1;
    const char *dir = slash ? file_name : ".";

    for (const char *p = c->debuginfo_path;; p++) {
        int n = (int)strcspn(p, ":");
        const char *e = p;
        int e_len = n;
        char *cand = NULL;
        int r = -1;

        if (e_len > 0 && (e[0] == '-' || e[0] == '+')) {
            e++;
            e_len--;
        }
        if (e_len == 0)
            r = asprintf(&cand, "%.*s/%s", dir_len, dir, debuglink);
        else if (e[0] != '/')
            r = asprintf(&cand, "%.*s/%.*s/%s", dir_len, dir, e_len, e, debuglink);
        else if (dir[0] == '/')
            r = asprintf(&cand, "%.*s%.*s/%s", e_len, e, dir_len, dir, debuglink);
        const char *why;
        fd = r < 0 ? -1 : sym_open_elf_file(cand, &why);
        if (fd >= 0) {
            struct stat st;

            if (fstat(fd, &st) == 0 &&
                !(st.st_dev == main_st.st_dev && st.st_ino == main_st.st_ino) &&
                (id_len <= 0 || fd_has_build_id(fd, id, (size_t)id_len))) {
                *debuginfo_file_name = cand;
                return fd;
            }
            close(fd);
        }
        if (r >= 0)
            free(cand);
        p += n;
        if (*p != ':')
            break;
    }
    errno = 0; /* nothing found is not an error for libdwfl */
    return -1;
}

/* Makes d, whose one module is dm spanning [low, high), mod's session. */
static int adopt_session(struct sym_cache *c, struct sym_mod *mod, Dwfl *d, Dwfl_Module *dm,
                         void **userdata, Dwarf_Addr low, Dwarf_Addr high)
{
    *userdata = c;
    mod->dwfl = d;
    mod->dm = dm;
    mod->dw_lo = low;
    mod->dw_hi = high;
    return 1;
}

/*
 * Opens file as mod's ELF at mod->bias, in a Dwfl of its own. It is accepted only if
 * it is the run's file: same build-id, or, with none logged, the same PT_LOAD span
 * (a rebuilt binary would give wrong lines for the old addresses, silently). Returns
 * 1 if accepted, 0 if not (with the reason in *why), -ENOMEM.
 */
static int report_file(struct sym_cache *c, struct sym_mod *mod, const char *file, const char **why)
{
    Dwfl *d = dwfl_begin(&c->callbacks);
    Dwfl_Module *dm;
    const unsigned char *id;
    GElf_Addr id_vaddr;
    Dwarf_Addr low, high;
    void **userdata;

    if (d == NULL)
        return -ENOMEM;
    /* libdwfl is given the descriptor, never the path to open: it would open a FIFO. */
    int fd = sym_open_elf_file(file, why);
    if (fd < 0) {
        dwfl_end(d);
        return 0;
    }
    dwfl_report_begin(d);
    /* add_p_vaddr: base is the bias, ELF vaddr + bias = runtime address, as dlpi_addr.
     * The module reported owns fd (dwfl_end closes it); without one it is still ours. */
    dm = dwfl_report_elf(d, mod->name, file, fd, mod->bias, true);
    if (dm == NULL) {
        *why = dwfl_errmsg(-1); /* "not a valid ELF file" */
        close(fd);
    }
    if (dwfl_report_end(d, NULL, NULL) != 0 || dm == NULL)
        goto reject;
    int id_len = dwfl_module_build_id(dm, &id, &id_vaddr);
    dwfl_module_info(dm, &userdata, &low, &high, NULL, NULL, NULL, NULL);
    if (mod->build_id_len > 0) {
        if (id_len != (int)mod->build_id_len || memcmp(id, mod->build_id, mod->build_id_len)) {
            *why = id_len > 0 ? "build-id differs from the run's" : "file has no build-id";
            if (id_len > 0 && file == mod->path)
                mod->rebuilt = true;
            goto reject;
        }
    } else if (mod->hi != 0 && (high != mod->hi || low > mod->lo)) {
        *why = "PT_LOAD span differs from the run's (no build-id to check)";
        if (file == mod->path)
            mod->rebuilt = true;
        goto reject;
    }
    return adopt_session(c, mod, d, dm, userdata, low, high);
reject:
    dwfl_end(d);
    return 0;
}

/* Asks libdwfl, which asks debuginfod, for the ELF with mod's build-id. libdwfl places
 * a module reported by range at its lowest PT_LOAD rounded down to p_align; lo is that
 * for every ELF the linkers make (first p_vaddr 0 or page-aligned), and the bias is
 * checked anyway. libdwfl does not check what the server sent: the build-id is, here.
 * Returns as report_file(). */
static int fetch_by_debuginfod(struct sym_cache *c, struct sym_mod *mod, const char **why)
{
    Dwfl *d = dwfl_begin(&c->callbacks);
    Dwfl_Module *dm;
    const unsigned char *id;
    GElf_Addr id_vaddr;
    Dwarf_Addr bias, low, high;
    void **userdata;

    if (d == NULL)
        return -ENOMEM;
    dwfl_report_begin(d);
    dm = dwfl_report_module(d, mod->name, mod->lo, mod->hi > mod->lo ? mod->hi : mod->lo + 1);
    if (dm != NULL && dwfl_module_report_build_id(dm, mod->build_id, mod->build_id_len, 0) != 0)
        dm = NULL;
    if (dwfl_report_end(d, NULL, NULL) != 0 || dm == NULL || dwfl_module_getelf(dm, &bias) == NULL)
        goto reject;
    if (bias != mod->bias) {
        *why = "debuginfod's file does not fit the run's load address";
        goto reject;
    }
    int id_len = dwfl_module_build_id(dm, &id, &id_vaddr);
    if (id_len != (int)mod->build_id_len || memcmp(id, mod->build_id, mod->build_id_len) != 0) {
        *why = "debuginfod sent a file with another build-id";
        goto reject;
    }
    dwfl_module_info(dm, &userdata, &low, &high, NULL, NULL, NULL, NULL);
    return adopt_session(c, mod, d, dm, userdata, low, high);
reject:
    dwfl_end(d);
    return 0;
}

/* Looks for mod's ELF by build-id: .build-id/xx/rest, then the separate debug file
 * .build-id/xx/rest.debug (its symbols and DWARF are all we need; Debian's -dbgsym
 * packages install only those), under each absolute root of the debuginfo path; then
 * debuginfod. Returns as report_file(). */
static int find_by_build_id(struct sym_cache *c, struct sym_mod *mod, const char **why)
{
    static const char *const suffixes[] = { "", ".debug" };
    char id[2 * 64 + 1];

    if (mod->build_id_len < 2 || mod->build_id_len > 64)
        return 0;
    hex_id(id, mod->build_id, mod->build_id_len);
    for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
        const char *p = c->debuginfo_path;

        for (;;) {
            size_t n = strcspn(p, ":");
            const char *e = p;
            size_t e_len = n;

            if (e_len > 0 && (e[0] == '-' || e[0] == '+')) {
                e++;
                e_len--;
            }
            if (e_len > 0 && e[0] == '/') {
                char *cand;
                int r;

                if (asprintf(&cand, "%.*s/.build-id/%.2s/%s%s", (int)e_len, e, id, id + 2,
                             suffixes[s]) < 0)
                    return -ENOMEM;
                r = access(cand, R_OK) == 0 ? report_file(c, mod, cand, why) : 0;
                free(cand);
                if (r != 0)
                    return r;
            }
            p += n;
            if (*p != ':')
                break;
            p++;
        }
    }
    if (c->debuginfod)
        return fetch_by_debuginfod(c, mod, why);
    return 0;
}

/* Opens mod's file, once. Leaves mod->dm NULL if nothing fits: every pc in it is then
 * module+offset. Fails only with -ENOMEM. */
static int mod_open(struct sym_cache *c, struct sym_mod *mod)
{
    const char *why = "no path";
    int r = 0;

    /* "" is the main program in dl_iterate_phdr; "[vdso]" and the like are no files. */
    if (mod->path[0] != '\0' && mod->path[0] != '[')
        r = report_file(c, mod, mod->path, &why);
    if (r == 0 && mod->build_id_len > 0) {
        const char *why_id = why; /* the path's problem is the one worth reporting */

        r = find_by_build_id(c, mod, &why_id);
        if (r == 1)
            c->stats.n_modules_by_id++;
    }
    if (r < 0)
        return r;
    if (r == 0) {
        c->stats.n_modules_no_file++;
        sym_warn(c, mod, "%s, and no file with its build-id; frames show %s+0xoffset", why,
                 mod->name);
        return 0;
    }

    Dwarf_Addr bias;
    if (dwfl_module_getdwarf(mod->dm, &bias) == NULL) {
        c->stats.n_modules_no_dwarf++;
        mod->no_dwarf = true;
    }
    return 0;
}

static uint64_t mod_hash(const struct sym_module *m, const char *path)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ULL, path, strlen(path));

    h = hash_bytes(h, m->build_id, m->build_id_len);
    return hash_mix(h ^ m->bias);
}

static bool mod_eq(const void *val, const void *key)
{
    const struct sym_mod *a = val;
    const struct sym_module *m = key;
    const char *path = m->path ? m->path : "";

    return a->bias == m->bias && a->build_id_len == m->build_id_len &&
           (m->build_id_len == 0 || memcmp(a->build_id, m->build_id, m->build_id_len) == 0) &&
           strcmp(a->path, path) == 0;
}

/* The module for m, opened on first use. NULL only if out of memory. */
static struct sym_mod *mod_get(struct sym_cache *c, const struct sym_module *m)
{
    const char *path = m->path ? m->path : "";
    struct sym_mod *mod;

    if (c->last_mod != NULL && mod_eq(c->last_mod, m))
        return c->last_mod;
    uint64_t h = mod_hash(m, path);
    mod = map_find(&c->mods, h, mod_eq, m);
    if (mod != NULL)
        return c->last_mod = mod;

    if (c->n_mods == c->cap_mods) {
        size_t cap = c->cap_mods ? 2 * c->cap_mods : 16;
        struct sym_mod **all = realloc(c->all_mods, cap * sizeof(*all));

        if (all == NULL)
            return NULL;
        c->all_mods = all;
        c->cap_mods = cap;
    }
    mod = arena_alloc(c, sizeof(*mod));
    if (mod == NULL)
        return NULL;
    memset(mod, 0, sizeof(*mod));
    mod->path = arena_dup(c, path, strlen(path) + 1);
    mod->build_id = arena_dup(c, m->build_id ? (const void *)m->build_id : "", m->build_id_len);
    mod->build_id_len = m->build_id_len;
    mod->bias = m->bias;
    mod->lo = m->lo;
    mod->hi = m->hi;
    if (mod->path == NULL || mod->build_id == NULL)
        return NULL;
    const char *base = strrchr(path, '/');
    mod->name = intern(c, path[0] == '\0' ? "[main]" : base ? base + 1 : path);
    if (mod->name == NULL || map_put(&c->mods, h, mod) != 0)
        return NULL;
    c->all_mods[c->n_mods++] = mod;
    c->stats.n_modules++;
    if (mod_open(c, mod) != 0)
        return NULL;
    return c->last_mod = mod;
}

/* Whether addr can be looked up in mod: it has a file, and addr is in the run's range
 * (when the log gave one) and in the file's. */
static bool mod_holds(const struct sym_mod *mod, uint64_t addr)
{
    return mod->dm != NULL && (mod->hi == 0 || (addr >= mod->lo && addr < mod->hi)) &&
           addr >= mod->dw_lo && addr < mod->dw_hi;
}

/* DWARF file names can be relative to the compile unit's directory; frames carry the
 * full path when DWARF has it, as eu-addr2line prints it. */
static const char *full_path(struct sym_cache *c, Dwarf_Die *cu, const char *file, int *err)
{
    Dwarf_Attribute a;
    const char *dir;
    char *joined;
    const char *r;

    if (file == NULL || file[0] == '/' || cu == NULL)
        return intern_opt(c, file, err);
    dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
    if (dir == NULL)
        return intern_opt(c, file, err);
    if (asprintf(&joined, "%s/%s", dir, file) < 0) {
        *err = -ENOMEM;
        return NULL;
    }
    r = intern_opt(c, joined, err);
    free(joined);
    return r;
}

static bool demangled_eq(const void *val, const void *key)
{
    return ((const struct sym_demangled *)val)->mangled == key;
}

/* Sets f->function and f->linkage_name from name, a DWARF linkage name or ELF symbol.
 * Only _Z (C++, Rust legacy) and _R (Rust v0) names go to the demangler, so C names
 * stay as they are even when another scheme would accept them. */
static void set_names(struct sym_cache *c, struct sym_frame *f, const char *name, const char *plain,
                      int *err)
{
    const char *mangled = NULL;

    if (name != NULL && name[0] == '_' && (name[1] == 'Z' || name[1] == 'R'))
        mangled = intern_opt(c, name, err);
    if (mangled != NULL) {
        uint64_t h = hash_mix((uint64_t)(uintptr_t)mangled);
        struct sym_demangled *d = map_find(&c->demangled, h, demangled_eq, mangled);

        if (d == NULL) {
            /* auto style: C++ and both Rust schemes; DMGL_VERBOSE would keep Rust hashes */
            char *s = cplus_demangle(mangled, DMGL_PARAMS | DMGL_ANSI);

            d = arena_alloc(c, sizeof(*d));
            if (d != NULL) {
                d->mangled = mangled;
                d->demangled = s ? intern(c, s) : NULL;
                if ((s != NULL && d->demangled == NULL) || map_put(&c->demangled, h, d) != 0)
                    d = NULL;
            }
            free(s);
            if (d == NULL) {
                *err = -ENOMEM;
                return;
            }
        }
        if (d->demangled != NULL) {
            f->linkage_name = mangled;
            f->function = d->demangled;
            return;
        }
    }
    f->function = intern_opt(c, plain ? plain : name, err);
}

static const char *die_linkage_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));

    return s ? s : dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
}

/* Names from the ELF symbol table, for code without DWARF. */
static void set_symtab_names(struct sym_cache *c, const struct sym_mod *mod, uint64_t addr,
                             struct sym_frame *f, int *err)
{
    GElf_Off off;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod->dm, addr, &off, &sym, NULL, NULL, NULL);

    if (name != NULL && name[0] != '\0')
        set_names(c, f, name, NULL, err);
}

/* Where the inlined instance inl was called from: its DW_AT_call_* attributes, whose
 * file indexes the file table of inl's own compile unit. */
static void call_site(struct sym_cache *c, Dwarf_Die *inl, const char **file, int *line,
                      int *column, int *err)
{
    Dwarf_Attribute a;
    Dwarf_Word v;
    Dwarf_Die cu;
    Dwarf_Files *files;
    size_t n_files;

    *file = NULL;
    *line = *column = 0;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &v) == 0 &&
        dwarf_diecu(inl, &cu, NULL, NULL) != NULL && dwarf_getsrcfiles(&cu, &files, &n_files) == 0)
        *file = full_path(c, &cu, dwarf_filesrc(files, v, NULL, NULL), err);
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &a), &v) == 0 && v <= INT32_MAX)
        *line = (int)v;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_column, &a), &v) == 0 && v <= INT32_MAX)
        *column = (int)v;
}

static struct sym_frame *tmp_push(struct sym_cache *c, size_t n, const struct sym_frame *f)
{
    if (n == c->cap_tmp) {
        size_t cap = c->cap_tmp ? 2 * c->cap_tmp : 16;
        struct sym_frame *t = realloc(c->tmp, cap * sizeof(*t));

        if (t == NULL)
            return NULL;
        c->tmp = t;
        c->cap_tmp = cap;
    }
    c->tmp[n] = *f;
    return &c->tmp[n];
}

/* Function index of a compile unit: each address range of each concrete subprogram,
 * by start address. dwarf_getscopes would find the scopes of a pc without it, but walks
 * the whole compile unit on every call: 1 ms per pc in the big compile units of Rust's
 * std (measured), against one walk per compile unit here. */
struct sym_fn {
    uint64_t lo, hi; /* DWARF addresses */
    uint64_t max_hi; /* largest hi of this and all earlier entries: ends backward scans */
    Dwarf_Off off;   /* the subprogram DIE */
};

struct sym_cu_fns {
    const Dwarf *dw;
    Dwarf_Off cu_off;
    size_t n;
    const struct sym_fn *fns;
};

struct sym_fn_vec {
    struct sym_fn *v;
    size_t n, cap;
    int err;
};

static int index_fn(Dwarf_Die *die, void *arg)
{
    struct sym_fn_vec *x = arg;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;

    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (hi <= lo)
            continue;
        if (grow((void **)&x->v, &x->cap, x->n, sizeof(*x->v)) != 0) {
            x->err = -ENOMEM;
            return DWARF_CB_ABORT;
        }
        x->v[x->n++] = (struct sym_fn){ .lo = lo, .hi = hi, .off = dwarf_dieoffset(die) };
    }
    return DWARF_CB_OK;
}

static int fn_cmp(const void *pa, const void *pb)
{
    const struct sym_fn *a = pa, *b = pb;

    /* at the same start the outer (longer) range first, so that a backward scan meets
     * the innermost (a GNU C nested function) first */
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->hi > b->hi ? -1 : a->hi < b->hi;
}

static bool cu_fns_eq(const void *val, const void *key)
{
    const struct sym_cu_fns *a = val, *k = key;

    return a->dw == k->dw && a->cu_off == k->cu_off;
}

/* The function index of cu, built on first use. NULL only if out of memory. A compile
 * unit dwarf_getfuncs cannot walk gets an empty index: names come from the symbols. */
static const struct sym_cu_fns *cu_fns(struct sym_cache *c, Dwarf_Die *cu)
{
    struct sym_cu_fns key = { .dw = dwarf_cu_getdwarf(cu->cu), .cu_off = dwarf_dieoffset(cu) };
    uint64_t h = hash_mix((uint64_t)(uintptr_t)key.dw ^ (key.cu_off * 0x9e3779b97f4a7c15ULL));
    struct sym_cu_fns *x = map_find(&c->cus, h, cu_fns_eq, &key);
    struct sym_fn_vec v = { .n = 0 };

    if (x != NULL)
        return x;
    if (dwarf_getfuncs(cu, index_fn, &v, 0) != 0 && v.err != 0) {
        free(v.v);
        return NULL;
    }
    if (v.n > 0)
        qsort(v.v, v.n, sizeof(*v.v), fn_cmp);
    for (size_t i = 0; i < v.n; i++)
        v.v[i].max_hi = i > 0 && v.v[i - 1].max_hi > v.v[i].hi ? v.v[i - 1].max_hi : v.v[i].hi;
    x = arena_alloc(c, sizeof(*x));
    if (x != NULL) {
        *x = key;
        x->n = v.n;
        x->fns = arena_dup(c, v.v, v.n * sizeof(*v.v));
        if ((v.n > 0 && x->fns == NULL) || map_put(&c->cus, h, x) != 0)
            x = NULL;
    }
    free(v.v);
    return x;
}

/* The innermost concrete subprogram whose ranges hold addr (a DWARF address). */
static bool find_function(const struct sym_cu_fns *x, uint64_t addr, Dwarf *dw, Dwarf_Die *out)
{
    size_t lo = 0, hi = x->n;

    while (lo < hi) { /* first entry starting after addr */
        size_t mid = lo + (hi - lo) / 2;

        if (x->fns[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = lo; j-- > 0 && x->fns[j].max_hi > addr;)
        if (addr < x->fns[j].hi)
            return dwarf_offdie(dw, x->fns[j].off, out) != NULL;
    return false;
}

static int chain_push(struct sym_cache *c, const Dwarf_Die *die)
{
    if (grow((void **)&c->chain, &c->cap_chain, c->n_chain, sizeof(*c->chain)) != 0)
        return -ENOMEM;
    c->chain[c->n_chain++] = *die;
    return 0;
}

/*
 * Appends to c->chain the inlined instances under parent whose ranges hold addr,
 * outermost first, as dwarf_getscopes_die would list them innermost first. Lexical
 * blocks are passed through; one without addresses is searched too, since gcc can emit
 * such a block around blocks that have them. Returns 1 if a scope under parent holds
 * addr, 0 if none, -ENOMEM.
 */
static int descend(struct sym_cache *c, Dwarf_Die *parent, Dwarf_Addr addr, int depth)
{
    Dwarf_Die child;

    if (depth > SYM_MAX_DEPTH || dwarf_child(parent, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
        int has, r;

        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_lexical_block)
            continue;
        has = dwarf_haspc(&child, addr);
        if (has > 0) {
            if (tag == DW_TAG_inlined_subroutine && chain_push(c, &child) != 0)
                return -ENOMEM;
            r = descend(c, &child, addr, depth + 1);
            return r < 0 ? r : 1;
        }
        if (has == 0 && !dwarf_hasattr(&child, DW_AT_low_pc) &&
            !dwarf_hasattr(&child, DW_AT_ranges)) {
            r = descend(c, &child, addr, depth + 1);
            if (r != 0)
                return r;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

/*
 * Fills c->tmp with the frames for addr (the address looked up; pc is what the caller
 * passed). The subprogram comes from the compile unit's function index, the inline
 * chain from descending into it: the concrete DIEs eu-addr2line -i reaches with
 * dwarf_getscopes and dwarf_getscopes_die. Returns the number of frames, or -ENOMEM.
 */
static int resolve_frames(struct sym_cache *c, const struct sym_mod *mod, uint64_t pc,
                          uint64_t addr)
{
    struct sym_frame f = { .module = mod->name, .module_offset = pc - mod->bias };
    const char *file = NULL;
    int line = 0, column = 0, err = 0;
    size_t n = 0;

    if (!mod_holds(mod, addr))
        return tmp_push(c, 0, &f) ? 1 : -ENOMEM;

    Dwfl_Line *ln = dwfl_module_getsrc(mod->dm, addr);
    if (ln != NULL) {
        const char *src = dwfl_lineinfo(ln, NULL, &line, &column, NULL, NULL);

        file = full_path(c, dwfl_linecu(ln), src, &err);
    }

    Dwarf_Addr dw_bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod->dm, addr, &dw_bias);
    Dwarf_Die fn;
    c->n_chain = 0;
    if (cu != NULL) {
        const struct sym_cu_fns *x = cu_fns(c, cu);

        if (x == NULL)
            return -ENOMEM;
        if (find_function(x, addr - dw_bias, dwarf_cu_getdwarf(cu->cu), &fn) &&
            (chain_push(c, &fn) != 0 || descend(c, &fn, addr - dw_bias, 0) < 0))
            return -ENOMEM;
    }
    for (size_t i = c->n_chain; i-- > 0;) {
        Dwarf_Die *die = &c->chain[i];

        f.function = f.linkage_name = NULL;
        set_names(c, &f, die_linkage_name(die), dwarf_diename(die), &err);
        if (f.function == NULL && i == 0)
            set_symtab_names(c, mod, addr, &f, &err);
        f.file = file;
        f.line = line;
        f.column = column;
        f.inlined = i > 0;
        if (tmp_push(c, n++, &f) == NULL)
            return -ENOMEM;
        if (f.inlined)
            call_site(c, die, &file, &line, &column, &err);
    }
    if (err != 0)
        return err;

    if (n == 0) { /* no DWARF function here: the symbol table's name, if any */
        set_symtab_names(c, mod, addr, &f, &err);
        f.file = file;
        f.line = line;
        f.column = column;
        if (err != 0 || tmp_push(c, n++, &f) == NULL)
            return err ? err : -ENOMEM;
    }
    return (int)n;
}

static bool addr_eq(const void *val, const void *key)
{
    const struct sym_addr *a = val, *k = key;

    return a->pc == k->pc && a->mod == k->mod && a->exact == k->exact;
}

int sym_resolve(struct sym_cache *c, const struct sym_module *m, uint64_t pc, bool is_exact,
                const struct sym_frame **out)
{
    struct sym_addr key, *a;
    int n;

    if (c == NULL || m == NULL || out == NULL || (m->build_id_len > 0 && m->build_id == NULL))
        return -EINVAL;
    key.mod = mod_get(c, m);
    if (key.mod == NULL)
        return -ENOMEM;
    key.pc = pc;
    key.exact = is_exact || pc == 0;
    uint64_t h = hash_mix(pc ^ ((uint64_t)(uintptr_t)key.mod << 1) ^ key.exact);
    a = map_find(&c->addrs, h, addr_eq, &key);
    if (a != NULL) {
        *out = a->frames;
        return a->n_frames;
    }

    n = resolve_frames(c, key.mod, pc, key.exact ? pc : pc - 1);
    if (n < 0)
        return n;
    a = arena_alloc(c, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    *a = key;
    a->n_frames = n;
    a->frames = arena_dup(c, c->tmp, (size_t)n * sizeof(*c->tmp));
    if (a->frames == NULL || map_put(&c->addrs, h, a) != 0)
        return -ENOMEM;
    c->stats.n_addresses++;
    struct sym_mod *counted = (struct sym_mod *)key.mod; /* the cache's own */
    counted->addresses++;
    if (a->frames[n - 1].function == NULL) {
        c->stats.n_unknown++;
        counted->unnamed++;
    }
    if (a->frames[0].file == NULL)
        counted->no_line++;
    *out = a->frames;
    return n;
}

struct sym_die_ref { /* a DIE by file and offset: Dwarf_Die copies cannot be compared */
    const Dwarf *dw;
    Dwarf_Off off;
};

struct sym_typedef_name {
    struct sym_die_ref target; /* an anonymous struct, class or union */
    const char *name;
};

struct sym_found {
    struct sym_die_ref ref;
    struct sym_struct s;
};

struct sym_walk {
    struct sym_cache *c;
    uint64_t size;
    bool c_lang; /* C: "struct x" in type names; no scopes to qualify names with */
    int err;
    struct sym_found *found;
    size_t n_found, cap_found;
    struct sym_typedef_name *typedefs;
    size_t n_typedefs, cap_typedefs;
    struct sym_die_ref *imports; /* partial units walked already */
    size_t n_imports, cap_imports;
    struct sym_member *members; /* of the struct being read */
    size_t cap_members;
};

static struct sym_die_ref die_ref(Dwarf_Die *die)
{
    return (struct sym_die_ref){ dwarf_cu_getdwarf(die->cu), dwarf_dieoffset(die) };
}

static bool die_type(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Attribute a;

    return dwarf_formref_die(dwarf_attr_integrate(die, DW_AT_type, &a), out) != NULL;
}

static bool is_record_tag(int tag)
{
    return tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type;
}

static const char *tag_keyword(int tag)
{
    switch (tag) {
    case DW_TAG_class_type:
        return "class";
    case DW_TAG_union_type:
        return "union";
    case DW_TAG_enumeration_type:
        return "enum";
    default:
        return "struct";
    }
}

static void type_name(struct sym_buf *b, Dwarf_Die *t, bool c_lang, int depth);

/* "ret (*)(int, char *)" for a pointer to function; mid is "(*)" or "". */
static void func_type_name(struct sym_buf *b, Dwarf_Die *fn, const char *mid, bool c_lang,
                           int depth)
{
    Dwarf_Die ret, p, t;
    bool first = true;

    type_name(b, die_type(fn, &ret) ? &ret : NULL, c_lang, depth + 1);
    buf_add(b, " ");
    buf_add(b, mid);
    buf_add(b, "(");
    if (dwarf_child(fn, &p) == 0) {
        do {
            int tag = dwarf_tag(&p);

            if (tag != DW_TAG_formal_parameter && tag != DW_TAG_unspecified_parameters)
                continue;
            if (!first)
                buf_add(b, ", ");
            first = false;
            if (tag == DW_TAG_unspecified_parameters)
                buf_add(b, "...");
            else
                type_name(b, die_type(&p, &t) ? &t : NULL, c_lang, depth + 1);
        } while (dwarf_siblingof(&p, &p) == 0);
    }
    buf_add(b, ")");
}

/* Readable rather than exact C declarator syntax: "char[80]", "struct node *",
 * "const char *", "void (*)(int)"; typedefs stay by name, as pahole prints them. */
static void type_name(struct sym_buf *b, Dwarf_Die *t, bool c_lang, int depth)
{
    Dwarf_Die inner, sub;
    Dwarf_Attribute a;
    Dwarf_Word v;
    const char *name;
    int tag;

    if (t == NULL) {
        buf_add(b, "void");
        return;
    }
    if (depth > 16) {
        buf_add(b, "...");
        return;
    }
    name = dwarf_diename(t);
    tag = dwarf_tag(t);
    switch (tag) {
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
        if (c_lang || name == NULL) {
            buf_add(b, tag_keyword(tag));
            buf_add(b, " ");
        }
        buf_add(b, name ? name : "{...}");
        return;
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type:
        if (name != NULL) { /* Rust names its pointers: "&str", "*const u8" */
            buf_add(b, name);
            return;
        }
        if (die_type(t, &inner) && dwarf_tag(&inner) == DW_TAG_subroutine_type) {
            func_type_name(b, &inner, tag == DW_TAG_pointer_type ? "(*)" : "(&)", c_lang, depth);
            return;
        }
        type_name(b, die_type(t, &inner) ? &inner : NULL, c_lang, depth + 1);
        buf_add(b, tag == DW_TAG_pointer_type ? " *" : tag == DW_TAG_reference_type ? " &" : " &&");
        return;
    case DW_TAG_const_type:
    case DW_TAG_volatile_type:
    case DW_TAG_restrict_type:
    case DW_TAG_atomic_type: {
        const char *q = tag == DW_TAG_const_type      ? "const"
                        : tag == DW_TAG_volatile_type ? "volatile"
                        : tag == DW_TAG_restrict_type ? "restrict"
                                                      : "_Atomic";
        bool has = die_type(t, &inner);

        if (has && dwarf_tag(&inner) == DW_TAG_pointer_type) { /* char *const */
            type_name(b, &inner, c_lang, depth + 1);
            buf_add(b, " ");
            buf_add(b, q);
        } else {
            buf_add(b, q);
            buf_add(b, " ");
            type_name(b, has ? &inner : NULL, c_lang, depth + 1);
        }
        return;
    }
    case DW_TAG_array_type:
        type_name(b, die_type(t, &inner) ? &inner : NULL, c_lang, depth + 1);
        if (dwarf_child(t, &sub) == 0) {
            do {
                if (dwarf_tag(&sub) != DW_TAG_subrange_type)
                    continue;
                if (dwarf_formudata(dwarf_attr(&sub, DW_AT_count, &a), &v) == 0)
                    buf_fmt(b, "[%llu]", (unsigned long long)v);
                else if (dwarf_formudata(dwarf_attr(&sub, DW_AT_upper_bound, &a), &v) == 0)
                    buf_fmt(b, "[%llu]", (unsigned long long)v + 1);
                else
                    buf_add(b, "[]");
            } while (dwarf_siblingof(&sub, &sub) == 0);
        }
        return;
    case DW_TAG_subroutine_type:
        func_type_name(b, t, "", c_lang, depth);
        return;
    case DW_TAG_ptr_to_member_type:
        type_name(b, die_type(t, &inner) ? &inner : NULL, c_lang, depth + 1);
        if (dwarf_formref_die(dwarf_attr(t, DW_AT_containing_type, &a), &sub) != NULL) {
            buf_add(b, " ");
            type_name(b, &sub, c_lang, depth + 1);
        }
        buf_add(b, "::*");
        return;
    default:
        buf_add(b, name ? name : "?");
        return;
    }
}

/* A member's offset in bytes. Absent in unions (0) and for DWARF 5 bit-fields; an
 * expression in DWARF 2 producers; false for a virtual base, placed at run time. */
static bool member_location(Dwarf_Die *m, Dwarf_Word *off)
{
    Dwarf_Attribute a;
    Dwarf_Op *ops;
    size_t n_ops;

    *off = 0;
    if (dwarf_attr_integrate(m, DW_AT_data_member_location, &a) == NULL)
        return true;
    if (dwarf_whatform(&a) != DW_FORM_exprloc && dwarf_whatform(&a) != DW_FORM_block1 &&
        dwarf_formudata(&a, off) == 0)
        return true;
    if (dwarf_getlocation(&a, &ops, &n_ops) == 0 && n_ops == 1 &&
        (ops[0].atom == DW_OP_plus_uconst || ops[0].atom == DW_OP_constu)) {
        *off = ops[0].number;
        return true;
    }
    return false;
}

static void sort_members(struct sym_member *v, int n)
{
    /* insertion sort: stable, and members almost always come in offset order already */
    for (int i = 1; i < n; i++) {
        struct sym_member m = v[i];
        uint64_t key = m.bit_size ? m.bit_offset : m.offset * 8;
        int j = i;

        while (j > 0 && (v[j - 1].bit_size ? v[j - 1].bit_offset : v[j - 1].offset * 8) > key) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = m;
    }
}

/* Appends the data members under parent to w->members[n...] and returns the new count
 * (w->err set on failure). Rust enums keep theirs in a DW_TAG_variant_part: the
 * discriminant, then one DW_TAG_variant per case; those overlap like a union's, and
 * *variant says so. */
static int read_members(struct sym_walk *w, Dwarf_Die *parent, int n, bool *variant, int depth)
{
    struct sym_cache *c = w->c;
    Dwarf_Die m, t;

    if (depth > 2 || dwarf_child(parent, &m) != 0)
        return n;
    do {
        int mtag = dwarf_tag(&m);
        struct sym_member *mem;
        struct sym_buf tn = { .len = 0 };
        Dwarf_Word off, sz = 0, v;
        Dwarf_Attribute a;
        int bits;

        if (mtag == DW_TAG_variant_part || mtag == DW_TAG_variant) {
            *variant = true;
            n = read_members(w, &m, n, variant, depth + 1);
            continue;
        }
        if ((mtag != DW_TAG_member && mtag != DW_TAG_inheritance) ||
            dwarf_hasattr(&m, DW_AT_declaration) || dwarf_hasattr(&m, DW_AT_external) ||
            !member_location(&m, &off))
            continue; /* static members (DWARF 4), virtual bases */
        if (grow((void **)&w->members, &w->cap_members, (size_t)n, sizeof(*w->members))) {
            w->err = -ENOMEM;
            return n;
        }
        mem = &w->members[n++];
        memset(mem, 0, sizeof(*mem));
        bool has_type = die_type(&m, &t);
        if (has_type && dwarf_aggregate_size(&t, &sz) != 0)
            sz = 0;
        type_name(&tn, has_type ? &t : NULL, w->c_lang, 0);
        mem->type_name = intern_opt(c, tn.s, &w->err);
        mem->name = intern_opt(c,
                               mtag == DW_TAG_inheritance ? "<base>"
                               : dwarf_diename(&m)        ? dwarf_diename(&m)
                                                          : "",
                               &w->err);
        mem->offset = off;
        mem->size = sz;
        bits = dwarf_bitsize(&m);
        if (bits > 0) {
            uint64_t pos = off * 8;

            if (dwarf_formudata(dwarf_attr(&m, DW_AT_data_bit_offset, &a), &v) == 0) {
                pos = v;
            } else {
                /* DWARF 2-4 count DW_AT_bit_offset from the storage unit's most
                 * significant bit; on little-endian that is its far end. */
                Dwarf_Word unit = sz;
                int bo = dwarf_bitoffset(&m);

                if (dwarf_formudata(dwarf_attr(&m, DW_AT_byte_size, &a), &v) == 0)
                    unit = v;
                if (bo >= 0 && unit * 8 >= (uint64_t)bo + (uint64_t)bits)
                    pos += unit * 8 - (uint64_t)bo - (uint64_t)bits;
            }
            mem->bit_offset = pos;
            mem->bit_size = (uint32_t)bits;
            mem->offset = pos / 8;
            mem->size = (pos % 8 + (uint64_t)bits + 7) / 8;
        }
    } while (w->err == 0 && dwarf_siblingof(&m, &m) == 0);
    return n;
}

/* Reads the members of die (a struct, class or union of w->size bytes) into a new
 * entry of w->found, with holes and tail padding. */
static void add_struct(struct sym_walk *w, Dwarf_Die *die, int tag, const char *name)
{
    struct sym_cache *c = w->c;
    struct sym_die_ref ref = die_ref(die);
    bool variant = false;
    int n;

    for (size_t i = 0; i < w->n_found; i++)
        if (w->found[i].ref.dw == ref.dw && w->found[i].ref.off == ref.off)
            return; /* reached twice through imported units */

    n = read_members(w, die, 0, &variant, 0);
    if (w->err != 0)
        return;

    struct sym_struct s = { .kind = variant ? "enum" : tag_keyword(tag),
                            .name = name,
                            .size = w->size };
    bool overlap = variant || tag == DW_TAG_union_type;
    uint64_t end = 0;

    sort_members(w->members, n);
    for (int i = 0; i < n; i++) {
        struct sym_member *mem = &w->members[i];

        if (!overlap && mem->offset > end) {
            if (i > 0)
                w->members[i - 1].hole_after = mem->offset - end;
            s.hole_bytes += mem->offset - end;
        }
        if (mem->offset + mem->size > end)
            end = mem->offset + mem->size;
    }
    s.padding_bytes = w->size > end ? w->size - end : 0;
    s.n_members = n;
    s.members = arena_dup(c, w->members, (size_t)n * sizeof(*w->members));
    if ((n > 0 && s.members == NULL) ||
        grow((void **)&w->found, &w->cap_found, w->n_found, sizeof(*w->found))) {
        w->err = -ENOMEM;
        return;
    }
    w->found[w->n_found++] = (struct sym_found){ ref, s };
}

/* "prefix::name" into q, for C++ and Rust scopes. */
static const char *qualify(struct sym_walk *w, struct sym_buf *q, const char *prefix,
                           const char *name)
{
    if (w->c_lang)
        return "";
    q->len = 0;
    q->s[0] = '\0';
    if (prefix[0] != '\0') {
        buf_add(q, prefix);
        buf_add(q, "::");
    }
    buf_add(q, name);
    return q->s;
}

/* Visits every DIE under parent that can hold a type definition: namespaces, records
 * (nested types), functions and blocks (local types), imported partial units (dwz). */
static void walk_types(struct sym_walk *w, Dwarf_Die *parent, const char *prefix, int depth)
{
    Dwarf_Die child, t;
    Dwarf_Attribute a;
    Dwarf_Word sz;

    if (w->err != 0 || depth > SYM_MAX_DEPTH || dwarf_child(parent, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        const char *name = dwarf_diename(&child);
        struct sym_buf q;

        switch (tag) {
        case DW_TAG_structure_type:
        case DW_TAG_class_type:
        case DW_TAG_union_type:
            if (!dwarf_hasattr(&child, DW_AT_declaration) &&
                !dwarf_hasattr(&child, DW_AT_signature) &&
                dwarf_formudata(dwarf_attr(&child, DW_AT_byte_size, &a), &sz) == 0 &&
                sz == w->size) {
                const char *full = NULL;

                if (name != NULL)
                    full =
                        intern_opt(w->c, w->c_lang ? name : qualify(w, &q, prefix, name), &w->err);
                add_struct(w, &child, tag, full);
            }
            walk_types(w, &child, name ? qualify(w, &q, prefix, name) : prefix, depth + 1);
            break;
        case DW_TAG_namespace:
            walk_types(w, &child, qualify(w, &q, prefix, name ? name : "(anonymous namespace)"),
                       depth + 1);
            break;
        case DW_TAG_subprogram:
        case DW_TAG_lexical_block:
            walk_types(w, &child, prefix, depth + 1);
            break;
        case DW_TAG_typedef:
            if (name != NULL && die_type(&child, &t) && is_record_tag(dwarf_tag(&t)) &&
                dwarf_diename(&t) == NULL) {
                if (grow((void **)&w->typedefs, &w->cap_typedefs, w->n_typedefs,
                         sizeof(*w->typedefs))) {
                    w->err = -ENOMEM;
                    return;
                }
                w->typedefs[w->n_typedefs].target = die_ref(&t);
                w->typedefs[w->n_typedefs++].name = intern_opt(w->c, name, &w->err);
            }
            break;
        case DW_TAG_imported_unit:
            if (dwarf_formref_die(dwarf_attr(&child, DW_AT_import, &a), &t) != NULL) {
                struct sym_die_ref r = die_ref(&t);
                bool seen = false;

                for (size_t i = 0; i < w->n_imports && !seen; i++)
                    seen = w->imports[i].dw == r.dw && w->imports[i].off == r.off;
                if (seen)
                    break;
                if (grow((void **)&w->imports, &w->cap_imports, w->n_imports,
                         sizeof(*w->imports))) {
                    w->err = -ENOMEM;
                    return;
                }
                w->imports[w->n_imports++] = r;
                walk_types(w, &t, prefix, depth + 1);
            }
            break;
        default:
            break;
        }
    } while (w->err == 0 && dwarf_siblingof(&child, &child) == 0);
}

static bool struct_list_eq(const void *val, const void *key)
{
    const struct sym_struct_list *a = val, *k = key;

    return a->mod == k->mod && a->cu_dwarf == k->cu_dwarf && a->cu_off == k->cu_off &&
           a->size == k->size;
}

static bool lang_is_c(int lang)
{
    return lang == DW_LANG_C89 || lang == DW_LANG_C || lang == DW_LANG_C99 || lang == DW_LANG_C11 ||
           lang == DW_LANG_ObjC;
}

int sym_structs_of_size(struct sym_cache *c, const struct sym_module *m, uint64_t pc, bool is_exact,
                        uint64_t size, const struct sym_struct **out)
{
    struct sym_struct_list key = { .size = size }, *list;
    struct sym_walk w = { .c = c, .size = size };
    struct sym_struct *v = NULL;
    Dwarf_Addr bias;
    Dwarf_Die *cu;

    if (c == NULL || m == NULL || out == NULL || (m->build_id_len > 0 && m->build_id == NULL))
        return -EINVAL;
    *out = NULL;
    key.mod = mod_get(c, m);
    if (key.mod == NULL)
        return -ENOMEM;

    uint64_t addr = is_exact || pc == 0 ? pc : pc - 1;
    if (!mod_holds(key.mod, addr) || (cu = dwfl_module_addrdie(key.mod->dm, addr, &bias)) == NULL)
        return 0;
    key.cu_dwarf = dwarf_cu_getdwarf(cu->cu);
    key.cu_off = dwarf_dieoffset(cu);
    uint64_t h = hash_mix(key.cu_off ^ (size << 20) ^ (uint64_t)(uintptr_t)key.mod);
    list = map_find(&c->structs, h, struct_list_eq, &key);
    if (list != NULL) {
        *out = list->structs;
        return list->n;
    }

    w.c_lang = lang_is_c(dwarf_srclang(cu));
    walk_types(&w, cu, "", 0);
    if (w.err == 0 && w.n_found > 0) {
        v = arena_alloc(c, w.n_found * sizeof(*v));
        if (v == NULL)
            w.err = -ENOMEM;
    }
    for (size_t i = 0; w.err == 0 && i < w.n_found; i++) {
        v[i] = w.found[i].s;
        for (size_t j = 0; v[i].name == NULL && j < w.n_typedefs; j++)
            if (w.typedefs[j].target.dw == w.found[i].ref.dw &&
                w.typedefs[j].target.off == w.found[i].ref.off)
                v[i].name = w.typedefs[j].name;
        if (v[i].name == NULL)
            v[i].name = "";
    }
    if (w.err == 0) {
        list = arena_alloc(c, sizeof(*list));
        if (list == NULL) {
            w.err = -ENOMEM;
        } else {
            *list = key;
            list->n = (int)w.n_found;
            list->structs = v;
            if (map_put(&c->structs, h, list) != 0)
                w.err = -ENOMEM;
        }
    }
    free(w.found);
    free(w.typedefs);
    free(w.imports);
    free(w.members);
    if (w.err != 0)
        return w.err;
    *out = v;
    return (int)w.n_found;
}

struct sym_cache *sym_open(const struct sym_options *opt)
{
    struct sym_cache *c = calloc(1, sizeof(*c));
    const char *urls = getenv("DEBUGINFOD_URLS");

    if (c == NULL)
        return NULL;
    c->debuginfo_path =
        strdup(opt && opt->debuginfo_path ? opt->debuginfo_path : SYM_DEFAULT_DEBUGINFO_PATH);
    if (c->debuginfo_path == NULL) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->debuginfod = opt && opt->debuginfod && urls != NULL && urls[0] != '\0';
    c->warn = opt ? opt->warn : NULL;
    c->callbacks.find_elf = dwfl_build_id_find_elf; /* only for debuginfod fetches */
    c->callbacks.find_debuginfo =
        c->debuginfod ? dwfl_standard_find_debuginfo : find_debuginfo_local;
    c->callbacks.debuginfo_path = &c->debuginfo_path;
    elf_version(EV_CURRENT);
    return c;
}

size_t sym_n_modules(const struct sym_cache *c)
{
    return c != NULL ? c->n_mods : 0;
}

void sym_module_info(const struct sym_cache *c, size_t i, struct sym_module_info *out)
{
    const struct sym_mod *m = c->all_mods[i];
    *out = (struct sym_module_info){
        .path = m->path,
        .name = m->name,
        .build_id = m->build_id,
        .build_id_len = m->build_id_len,
        .status = m->dm == NULL ? (m->rebuilt ? SYM_MOD_REBUILT : SYM_MOD_NO_FILE)
                  : m->no_dwarf ? SYM_MOD_NO_DWARF
                                : SYM_MOD_OK,
        .addresses = m->addresses,
        .unnamed = m->unnamed,
        .no_line = m->no_line,
    };
}

void sym_get_stats(const struct sym_cache *c, struct sym_stats *out)
{
    if (c != NULL && out != NULL)
        *out = c->stats;
}

void sym_close(struct sym_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_mods; i++)
        if (c->all_mods[i]->dwfl != NULL)
            dwfl_end(c->all_mods[i]->dwfl);
    free(c->all_mods);
    free(c->mods.slots);
    free(c->addrs.slots);
    free(c->strings.slots);
    free(c->demangled.slots);
    free(c->structs.slots);
    free(c->cus.slots);
    free(c->tmp);
    free(c->chain);
    while (c->chunks != NULL) {
        struct sym_chunk *k = c->chunks;

        c->chunks = k->next;
        free(k);
    }
    free(c->debuginfo_path);
    free(c);
}
