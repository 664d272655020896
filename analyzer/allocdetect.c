/* allocdetect.c - see allocdetect.h. */
#include "analyzer/allocdetect.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/symbolize.h"

struct ad_result {
    struct model_unseen *v;
    int n, cap;
};

static const char advice_c[] =
    "report its blocks through include/heapspan.h (heapspan_alloc, heapspan_free; "
    "docs/api.md)";
static const char advice_rust[] =
    "wrap it: #[global_allocator] static A: heapspan_alloc::Tracked<YourAllocator> = "
    "heapspan_alloc::Tracked::new(YourAllocator); (bindings/rust/heapspan-alloc)";

/* The allocators, by the symbol that names each. main: only the executable's own
 * definition counts (libc and jemalloc's shared library define these too, and the
 * shim sees calls into those). */
static const struct known {
    const char *symbol;
    const char *allocator;
    bool main;
} known[] = {
    { "_rjem_malloc", "jemalloc (tikv-jemallocator)", false },
    { "_rjem_mallocx", "jemalloc (tikv-jemallocator)", false },
    { "mi_malloc", "mimalloc", false },
    { "tc_malloc", "tcmalloc", false },
    { "je_malloc", "jemalloc (built with the je_ prefix)", false },
    { "je_mallocx", "jemalloc (built with the je_ prefix)", false },
    { "mallocx", "jemalloc, linked into the program", true },
    { "malloc", "the program's own malloc", true },
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

/* What one file's symbols say. */
struct seen {
    int found[N_KNOWN]; /* 1 when defined */
    bool rust_alloc, rdl_alloc, rg_alloc;
    GElf_Addr rust_alloc_at, rdl_alloc_at;
};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* A symbol of rustc's allocator shim: the plain name (rustc before 1.7x), or its v0
 * mangling in the crate `__rustc` ("..._7___rustc12___rust_alloc"). */
static bool rust_shim_symbol(const char *name, const char *plain)
{
    char tail[64];
    size_t n = strlen(name);

    if (!strcmp(name, plain))
        return true;
    int k = snprintf(tail, sizeof(tail), "%zu_%s", strlen(plain), plain);
    return k > 0 && (size_t)k < n && !strcmp(name + n - (size_t)k, tail) &&
           !strncmp(name, "_R", 2) && strstr(name, "7___rustc") != NULL;
}

static void note_symbol(struct seen *s, const char *name, const GElf_Sym *sym, bool is_main)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (!strcmp(name, known[i].symbol) && (!known[i].main || is_main))
            s->found[i] = 1;
    if (rust_shim_symbol(name, "__rust_alloc")) {
        s->rust_alloc = true;
        s->rust_alloc_at = sym->st_value;
    } else if (rust_shim_symbol(name, "__rdl_alloc")) {
        s->rdl_alloc = true;
        s->rdl_alloc_at = sym->st_value;
    } else if (rust_shim_symbol(name, "__rg_alloc")) {
        s->rg_alloc = true;
    }
}

/* Reads the defined functions of every symbol table of e; true if it has a .symtab. */
static bool read_symbols(Elf *e, bool is_main, struct seen *s)
{
    Elf_Scn *scn = NULL;
    bool symtab = false;

    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL ||
            (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || sh.sh_entsize == 0)
            continue;
        symtab |= sh.sh_type == SHT_SYMTAB;
        Elf_Data *d = elf_getdata(scn, NULL);
        size_t n = d != NULL ? sh.sh_size / sh.sh_entsize : 0;
        for (size_t i = 0; i < n; i++) {
            GElf_Sym sym;
            if (gelf_getsym(d, (int)i, &sym) == NULL || sym.st_shndx == SHN_UNDEF ||
                (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
                 GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC))
                continue;
            const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
            if (name != NULL && name[0] != '\0')
                note_symbol(s, name, &sym, is_main);
        }
    }
    return symtab;
}

/* Whether the code at vaddr jumps or calls to target within its first bytes: how
 * rustc's __rust_alloc hands over to __rdl_alloc (the default, System) when there is no
 * #[global_allocator]. x86-64's rel32 jmp and call. */
static bool code_reaches(Elf *e, GElf_Addr vaddr, GElf_Addr target)
{
    Elf_Scn *scn = NULL;

    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_PROGBITS || vaddr < sh.sh_addr ||
            vaddr >= sh.sh_addr + sh.sh_size)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (d == NULL || d->d_buf == NULL)
            return false;
        size_t off = (size_t)(vaddr - sh.sh_addr), end = off + 64;
        const uint8_t *b = d->d_buf;
        if (end > d->d_size)
            end = d->d_size;
        for (size_t i = off; i + 5 <= end; i++) {
            if (b[i] != 0xe8 && b[i] != 0xe9)
                continue;
            int32_t rel = (int32_t)((uint32_t)b[i + 1] | (uint32_t)b[i + 2] << 8 |
                                    (uint32_t)b[i + 3] << 16 | (uint32_t)b[i + 4] << 24);
            if (sh.sh_addr + i + 5 + (GElf_Addr)(int64_t)rel == target)
                return true;
        }
        return false;
    }
    return false;
}

static bool build_id_matches(Elf *e, const uint8_t *id, int len)
{
    Elf_Scn *scn = NULL;

    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_NOTE)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        GElf_Nhdr nh;
        size_t off = 0, name_off, desc_off;
        while (d != NULL && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0)
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                !memcmp((const char *)d->d_buf + name_off, "GNU", 4))
                return (int)nh.n_descsz == len &&
                       !memcmp((const char *)d->d_buf + desc_off, id, (size_t)len);
    }
    return false;
}

static int add(struct ad_result **res, const char *allocator, const char *symbol,
               const char *module, const char *advice)
{
    struct ad_result *r = *res;

    if (r == NULL && (r = *res = calloc(1, sizeof(*r))) == NULL)
        return -ENOMEM;
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].allocator, allocator) && !strcmp(r->v[i].module, module))
            return 0;
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 4;
        struct model_unseen *v = realloc(r->v, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    struct model_unseen *u = &r->v[r->n];
    u->allocator = allocator;
    u->advice = advice;
    u->symbol = strdup(symbol);
    u->module = strdup(module);
    if (u->symbol == NULL || u->module == NULL) {
        free((char *)u->symbol);
        free((char *)u->module);
        return -ENOMEM;
    }
    r->n++;
    return 0;
}

/* Opens path with libelf: fd and handle, or false. */
static bool open_elf(const char *path, int *fd, Elf **e)
{
    const char *why;
    *fd = sym_open_elf_file(path, &why);
    if (*fd < 0)
        return false;
    *e = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
    if (*e == NULL || elf_kind(*e) != ELF_K_ELF) {
        elf_end(*e);
        close(*fd);
        return false;
    }
    return true;
}

/* A stripped file's symbols from its debug file, by build-id (Debian's -dbgsym). */
static void read_debug_file(const uint8_t *id, int len, bool is_main, struct seen *s)
{
    char path[512];
    int n = snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%02x/", id[0]);
    for (int i = 1; i < len && n > 0 && (size_t)n < sizeof(path) - 8; i++)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x", id[i]);
    snprintf(path + n, sizeof(path) - (size_t)n, ".debug");
    int fd;
    Elf *e;
    if (!open_elf(path, &fd, &e))
        return;
    read_symbols(e, is_main, s);
    elf_end(e);
    close(fd);
}

int ad_scan_file(const char *path, const uint8_t *build_id, int build_id_len, bool is_main,
                 struct ad_result **res)
{
    struct seen s;
    int fd, err = 0;
    Elf *e;

    memset(&s, 0, sizeof(s));
    elf_version(EV_CURRENT);
    if (!open_elf(path, &fd, &e))
        return 0;
    if (build_id_len > 0 && !build_id_matches(e, build_id, build_id_len))
        goto out; /* another build than the one that ran */
    if (!read_symbols(e, is_main, &s) && build_id_len > 0)
        read_debug_file(build_id, build_id_len, is_main, &s);
    const char *module = base_name(path);
    bool found = false;
    for (size_t i = 0; i < N_KNOWN && err == 0; i++) {
        /* An allocator's first symbol names it (add keeps one entry); a malloc beside
         * one of the others is that allocator's, as a jemalloc linked in defines both. */
        if (!s.found[i] || (!strcmp(known[i].symbol, "malloc") && found))
            continue;
        err = add(res, known[i].allocator, known[i].symbol, module,
                  s.rust_alloc ? advice_rust : advice_c);
        found = true;
    }
    /* A Rust program whose __rust_alloc is not the default's hand-over to __rdl_alloc
     * (System, that is malloc) has a #[global_allocator] of its own. */
    bool rust_own = s.rust_alloc && (s.rg_alloc || !s.rdl_alloc ||
                                     !code_reaches(e, s.rust_alloc_at, s.rdl_alloc_at));
    if (err == 0 && rust_own && !found)
        err = add(res, "a Rust #[global_allocator]", "__rust_alloc", module, advice_rust);
out:
    elf_end(e);
    close(fd);
    return err;
}

/* Never the shim's own file, the loader's, or glibc's: they define malloc and mallocx
 * themselves, and the shim sees the calls that reach them. */
static bool skipped(const char *path)
{
    static const char *const prefixes[] = { "libheapspan", "ld-linux", "libc.so", "libc-" };
    const char *b = base_name(path);

    if (path[0] == '[' || !strncmp(b, "linux-vdso", 10))
        return true;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(b, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

int ad_detect(struct rd_log *r, double libc_allocations, double api_allocations,
              struct ad_result **res)
{
    *res = NULL;
    if (api_allocations > 0 || libc_allocations >= AD_FEW_LIBC_ALLOCATIONS)
        return 0;
    for (int i = 0; i < rd_n_modules(r); i++) {
        const struct rd_module *m = rd_module(r, i);
        bool is_main = m->path[0] == '\0' || !strcmp(m->path, rd_exe(r));
        const char *path = m->path[0] == '\0' ? rd_exe(r) : m->path;
        bool dup = false;
        for (int j = 0; j < i && !dup; j++)
            dup = !strcmp(rd_module(r, j)->path, m->path);
        if (dup || path[0] == '\0' || skipped(path))
            continue;
        int err = ad_scan_file(path, m->build_id, m->build_id_len, is_main, res);
        if (err < 0)
            return err;
    }
    return 0;
}

int ad_linkage(const char *path, struct ad_linkage *l)
{
    size_t n;
    int fd;
    Elf *e;

    memset(l, 0, sizeof(*l));
    elf_version(EV_CURRENT);
    const char *why;
    errno = 0;
    fd = sym_open_elf_file(path, &why);
    if (fd < 0)
        return errno != 0 ? -errno : -EINVAL; /* not a regular file, or too small */
    e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (e == NULL || elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &n) != 0)
        goto out;
    l->elf = true;
    l->is_static = true;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(e, (int)i, &ph) != NULL && ph.p_type == PT_INTERP)
            l->is_static = false;
    }
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_DYNAMIC || sh.sh_entsize == 0)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        for (size_t i = 0; d != NULL && i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Dyn dyn;
            const char *name;
            if (gelf_getdyn(d, (int)i, &dyn) != NULL && dyn.d_tag == DT_NEEDED &&
                (name = elf_strptr(e, sh.sh_link, dyn.d_un.d_val)) != NULL &&
                (!strncmp(name, "libc.so", 7) || !strncmp(name, "libc.musl", 9)))
                l->needs_libc = true;
        }
    }
out:
    elf_end(e);
    close(fd);
    return 0;
}

int ad_count(const struct ad_result *res)
{
    return res != NULL ? res->n : 0;
}

const struct model_unseen *ad_findings(const struct ad_result *res)
{
    return res != NULL ? res->v : NULL;
}

void ad_free(struct ad_result *res)
{
    if (res == NULL)
        return;
    for (int i = 0; i < res->n; i++) {
        free((char *)res->v[i].symbol);
        free((char *)res->v[i].module);
    }
    free(res->v);
    free(res);
}
