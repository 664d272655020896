/*
 * test_symbolize.c - unit tests for analyzer/symbolize.c. They run the sym_* programs
 * from tests/progs (built beforehand; directory from argv[1] or SYM_PROGS_DIR), which
 * print their own module map and call-site pcs at real, randomized load addresses,
 * then check the exact function, file and line of each. File-handling cases (missing,
 * stripped, rebuilt, truncated, not ELF) work on copies in a temporary directory made
 * with objcopy and strip from binutils. DEBUGINFOD_URLS is unset: no network. Link
 * with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (allocation failure tests).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer/symbolize.h"

#define MAX_SITES 8

/* Allocation failures on purpose: linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc, so the calls symbolize.c makes come here. fail_in counts calls down
 * to the one that fails; -1 never fails. */
static int fail_in = -1;
static bool failed;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static bool fail_now(void)
{
    if (fail_in < 0 || fail_in-- > 0)
        return false;
    failed = true;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

struct site {
    char name[32];
    uint64_t pc;
    int lines[3];
};

/* One run of a test program: its module entry as the shim would log it. */
struct run {
    char path[PATH_MAX];
    uint8_t build_id[64];
    struct sym_module m;
    struct site sites[MAX_SITES];
    int n_sites;
};

static const char *progs_dir;
static char tmp_dir[] = "/tmp/test_symbolize.XXXXXX";
static struct run c_run, cxx_run, rust_run;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "test_symbolize: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command built from fmt; any failure ends the test run. */
static void sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        die("command failed: %s", cmd);
}

static void start(struct run *r, const char *prog)
{
    char line[512], hex[256];
    unsigned long long bias, lo, hi;
    FILE *f;

    snprintf(r->path, sizeof(r->path), "%s/%s", progs_dir, prog);
    if (realpath(r->path, line) == NULL)
        die("%s: %s (build the test programs first)", r->path, strerror(errno));
    snprintf(r->path, sizeof(r->path), "%s", line);
    f = popen(r->path, "r");
    if (f == NULL)
        die("%s: %s", r->path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        struct site *s = &r->sites[r->n_sites];
        unsigned long long pc;

        if (sscanf(line, "module %llx %llx %llx %255s", &bias, &lo, &hi, hex) == 4) {
            r->m.path = r->path;
            r->m.bias = bias;
            r->m.lo = lo;
            r->m.hi = hi;
            for (size_t i = 0; hex[0] != '-' && 2 * i < strlen(hex) && i < 64; i++) {
                unsigned byte;

                sscanf(hex + 2 * i, "%2x", &byte);
                r->build_id[i] = (uint8_t)byte;
                r->m.build_id_len = i + 1;
            }
            r->m.build_id = r->build_id;
        } else if (r->n_sites < MAX_SITES &&
                   sscanf(line, "site %31s %llx %d %d %d", s->name, &pc, &s->lines[0], &s->lines[1],
                          &s->lines[2]) >= 3) {
            s->pc = pc;
            r->n_sites++;
        }
    }
    if (pclose(f) != 0 || r->m.path == NULL || r->n_sites == 0)
        die("%s: did not run or printed no module map", r->path);
}

static const struct site *site(const struct run *r, const char *name)
{
    for (int i = 0; i < r->n_sites; i++)
        if (strcmp(r->sites[i].name, name) == 0)
            return &r->sites[i];
    die("%s: no site %s", r->path, name);
}

static const char *base(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;

    return s ? s + 1 : path;
}

static int group_setup(void **state)
{
    (void)state;
    unsetenv("DEBUGINFOD_URLS");
    start(&c_run, "sym_inline");
    start(&cxx_run, "sym_cxx");
    /* rustc comes from rustup, not Debian: without it the Rust cases are skipped */
    snprintf(rust_run.path, sizeof(rust_run.path), "%s/sym_rust_prog", progs_dir);
    if (access(rust_run.path, X_OK) == 0)
        start(&rust_run, "sym_rust_prog");
    else
        fprintf(stderr, "test_symbolize: %s not built: skipping the Rust cases\n", rust_run.path);
    if (mkdtemp(tmp_dir) == NULL)
        die("mkdtemp: %s", strerror(errno));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sh("rm -rf '%s'", tmp_dir);
    return 0;
}

/* A cache that looks only in dir (or nowhere) for debug files. */
static struct sym_cache *open_in(const char *dir)
{
    char path[PATH_MAX + 8];
    struct sym_options opt = { .debuginfo_path = path, .debuginfod = true };
    struct sym_cache *c;

    snprintf(path, sizeof(path), "-:%s", dir ? dir : "");
    c = sym_open(&opt);
    assert_non_null(c);
    return c;
}

/* "<tmp>/<name>", made if needed. */
static const char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", tmp_dir, name);
    return buf;
}

/* The run's module entry, with another path. */
static struct sym_module at_path(const struct run *r, const char *path)
{
    struct sym_module m = r->m;

    m.path = path;
    return m;
}

static void check_frame(const struct sym_frame *f, const char *function, const char *file, int line,
                        bool inlined)
{
    assert_non_null(f->function);
    assert_string_equal(f->function, function);
    assert_non_null(f->file);
    assert_string_equal(base(f->file), file);
    assert_true(f->file[0] == '/');
    assert_int_equal(f->line, line);
    assert_int_equal(f->inlined, inlined);
}

/* The C program's two-level inline chain, innermost first. */
static void check_inline_chain(const struct sym_frame *f, int n)
{
    const struct site *s = site(&c_run, "inline");

    assert_int_equal(n, 3);
    check_frame(&f[0], "inner", "sym_inline.c", s->lines[0], true);
    check_frame(&f[1], "middle", "sym_inline.c", s->lines[1], true);
    check_frame(&f[2], "outer", "sym_inline.c", s->lines[2], false);
    for (int i = 0; i < 3; i++) {
        assert_null(f[i].linkage_name);
        assert_string_equal(f[i].module, "sym_inline");
        assert_int_equal(f[i].module_offset, s->pc - c_run.m.bias);
        assert_true(f[i].column > 0);
    }
}

static void inline_chain_innermost_first(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_frame *f;

    (void)state;
    assert_non_null(c);
    check_inline_chain(f, sym_resolve(c, &c_run.m, site(&c_run, "inline")->pc, false, &f));
    sym_close(c);
}

static void plain_calls(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct site *s;
    const struct sym_frame *f;

    (void)state;
    s = site(&c_run, "make_node");
    assert_int_equal(sym_resolve(c, &c_run.m, s->pc, false, &f), 1);
    check_frame(&f[0], "make_node", "sym_inline.c", s->lines[0], false);
    s = site(&c_run, "make_padded");
    assert_int_equal(sym_resolve(c, &c_run.m, s->pc, false, &f), 1);
    check_frame(&f[0], "make_padded", "sym_inline.c", s->lines[0], false);
    sym_close(c);
}

/* A function's own address is exact; as a return address it would be looked up one byte
 * earlier, before the function, and must not come back as outer. */
static void exact_pc_is_not_adjusted(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct site *s = site(&c_run, "outer_entry");
    const struct sym_frame *f;

    (void)state;
    assert_int_equal(sym_resolve(c, &c_run.m, s->pc, true, &f), 1);
    check_frame(&f[0], "outer", "sym_inline.c", s->lines[0], false);
    assert_int_equal(f[0].column, 1);
    assert_true(sym_resolve(c, &c_run.m, s->pc, false, &f) >= 1);
    assert_true(f[0].function == NULL || strcmp(f[0].function, "outer") != 0);
    sym_close(c);
}

static void results_are_cached(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_frame *f1, *f2;
    struct sym_stats st;
    uint64_t pc = site(&c_run, "inline")->pc;

    (void)state;
    assert_int_equal(sym_resolve(c, &c_run.m, pc, false, &f1), 3);
    assert_int_equal(sym_resolve(c, &c_run.m, pc, false, &f2), 3);
    assert_ptr_equal(f1, f2);
    assert_int_equal(sym_resolve(c, &cxx_run.m, site(&cxx_run, "make_box")->pc, false, &f2), 1);
    /* the same module passed again, in a copy of its entry */
    struct sym_module again = c_run.m;
    assert_int_equal(sym_resolve(c, &again, pc, false, &f2), 3);
    assert_ptr_equal(f1, f2);
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules, 2);
    assert_int_equal(st.n_addresses, 2);
    assert_int_equal(st.n_unknown, 0);
    assert_int_equal(st.n_modules_no_file + st.n_modules_by_id + st.n_modules_no_dwarf, 0);
    sym_close(c);
}

static void cxx_template_demangled(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct site *s = site(&cxx_run, "make_box");
    const struct sym_frame *f;

    (void)state;
    assert_int_equal(sym_resolve(c, &cxx_run.m, s->pc, false, &f), 1);
    check_frame(&f[0], "heapspan_test::box<long>* heapspan_test::make_box<long>(long)",
                "sym_cxx.cc", s->lines[0], false);
    assert_string_equal(f[0].linkage_name, "_ZN13heapspan_test8make_boxIlEEPNS_3boxIT_EES2_");
    assert_string_equal(f[0].module, "sym_cxx");
    sym_close(c);
}

static void rust_legacy_demangled_without_hash(void **state)
{
    struct sym_cache *c;
    const struct site *s;
    const struct sym_frame *f;

    (void)state;
    if (rust_run.n_sites == 0)
        skip();
    c = sym_open(NULL);
    s = site(&rust_run, "leaky_function");
    assert_int_equal(sym_resolve(c, &rust_run.m, s->pc, false, &f), 1);
    check_frame(&f[0], "sym_rust_prog::leaky_function", "sym_rust_prog.rs", s->lines[0], false);
    assert_non_null(f[0].linkage_name);
    assert_int_equal(strncmp(f[0].linkage_name, "_ZN13sym_rust_prog14leaky_function17h", 37), 0);
    sym_close(c);
}

/* Rust's prebuilt std in the same binary has v0 names (_R...). */
static void rust_v0_demangled(void **state)
{
    struct sym_cache *c;
    const struct sym_frame *f;
    int n;

    (void)state;
    if (rust_run.n_sites == 0)
        skip();
    c = sym_open(NULL);
    n = sym_resolve(c, &rust_run.m, site(&rust_run, "std_process_id")->pc, true, &f);
    assert_true(n >= 1);
    assert_string_equal(f[n - 1].function, "std::process::id");
    assert_non_null(f[n - 1].linkage_name);
    assert_int_equal(strncmp(f[n - 1].linkage_name, "_RNv", 4), 0);
    /* std carries line tables only: its file and line are whatever got inlined first */
    assert_non_null(f[n - 1].file);
    sym_close(c);
}

static void check_unknown_in(const struct sym_frame *f, int n, const char *module,
                             const struct run *r, uint64_t pc)
{
    assert_int_equal(n, 1);
    assert_null(f[0].function);
    assert_null(f[0].linkage_name);
    assert_null(f[0].file);
    assert_int_equal(f[0].line, 0);
    assert_false(f[0].inlined);
    assert_string_equal(f[0].module, module);
    assert_int_equal(f[0].module_offset, pc - r->m.bias);
}

static void check_unknown(const struct sym_frame *f, int n, const struct run *r, uint64_t pc)
{
    check_unknown_in(f, n, base(r->path), r, pc);
}

static void missing_file_gives_module_offset(void **state)
{
    struct sym_cache *c = open_in(NULL);
    struct sym_module m = at_path(&c_run, "/nonexistent/dir/sym_inline");
    uint64_t pc = site(&c_run, "inline")->pc;
    const struct sym_frame *f;
    struct sym_stats st;

    (void)state;
    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    /* no build-id either: nothing to look up */
    m.build_id_len = 0;
    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    m.path = "";
    assert_int_equal(sym_resolve(c, &m, pc, false, &f), 1);
    assert_string_equal(f[0].module, "[main]");
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules, 3);
    assert_int_equal(st.n_modules_no_file, 3);
    assert_int_equal(st.n_unknown, 3);
    sym_close(c);
}

static void pc_outside_module(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_frame *f;

    (void)state;
    check_unknown(f, sym_resolve(c, &c_run.m, c_run.m.hi + 0x1000, false, &f), &c_run,
                  c_run.m.hi + 0x1000);
    check_unknown(f, sym_resolve(c, &c_run.m, c_run.m.lo - 0x10, true, &f), &c_run,
                  c_run.m.lo - 0x10);
    check_unknown(f, sym_resolve(c, &c_run.m, 0, false, &f), &c_run, 0);
    sym_close(c);
}

/* Stripped binary at its path; its DWARF in <dir>/.build-id/xx/rest.debug. */
static void stripped_with_debug_by_build_id(void **state)
{
    char bin[PATH_MAX], dbg[PATH_MAX], empty[PATH_MAX], id[129];
    struct sym_cache *c;
    struct sym_module m;
    const struct sym_frame *f;
    struct sym_stats st;
    uint64_t pc = site(&c_run, "inline")->pc;

    (void)state;
    for (size_t i = 0; i < c_run.m.build_id_len; i++)
        sprintf(id + 2 * i, "%02x", c_run.build_id[i]);
    tmp_path(bin, "stripped");
    tmp_path(dbg, "debug");
    tmp_path(empty, "empty");
    sh("mkdir -p %s/.build-id/%.2s %s %s", dbg, id, bin, empty);
    sh("objcopy --only-keep-debug %s %s/.build-id/%.2s/%s.debug", c_run.path, dbg, id, id + 2);
    sh("strip --strip-all -o %s/sym_inline %s", bin, c_run.path);
    strcat(bin, "/sym_inline");
    m = at_path(&c_run, bin);

    c = open_in(empty); /* no debug info anywhere: module+offset, from the right file */
    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules_no_file, 0);
    assert_int_equal(st.n_modules_no_dwarf, 1);
    sym_close(c);

    c = open_in(dbg);
    check_inline_chain(f, sym_resolve(c, &m, pc, false, &f));
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules_no_dwarf + st.n_modules_no_file + st.n_modules_by_id, 0);
    sym_close(c);

    /* the binary gone too: the .debug file alone serves as the module's ELF */
    m.path = "/nonexistent/sym_inline";
    c = open_in(dbg);
    check_inline_chain(f, sym_resolve(c, &m, pc, false, &f));
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules_by_id, 1);
    sym_close(c);
}

/* Stripped binary whose .gnu_debuglink names a file in the .debug subdirectory. */
static void stripped_with_debuglink(void **state)
{
    char dir[PATH_MAX], bin[PATH_MAX + 16];
    struct sym_cache *c;
    struct sym_module m;
    const struct sym_frame *f;
    uint64_t pc = site(&c_run, "inline")->pc;

    (void)state;
    tmp_path(dir, "linked");
    snprintf(bin, sizeof(bin), "%s/sym_inline", dir);
    sh("mkdir -p %s/.debug && objcopy --only-keep-debug %s %s/.debug/sym_inline.dbg", dir,
       c_run.path, dir);
    sh("strip --strip-all -o %s %s && objcopy --add-gnu-debuglink=%s/.debug/sym_inline.dbg %s", bin,
       c_run.path, dir, bin);
    m = at_path(&c_run, bin);

    c = open_in(NULL); /* only the binary's own directory: the link is not found */
    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    sym_close(c);

    struct sym_options opt = { .debuginfo_path = "-:.debug" };
    c = sym_open(&opt);
    assert_non_null(c);
    check_inline_chain(f, sym_resolve(c, &m, pc, false, &f));
    sym_close(c);
}

/* A binary rebuilt since the run sits at the path: its lines would be wrong for the old
 * addresses. It must be refused, and the run's build found by build-id if it exists. */
static void rebuilt_binary_not_used(void **state)
{
    char dir[PATH_MAX], ids[PATH_MAX], bin[PATH_MAX + 16], id[129];
    struct sym_cache *c;
    struct sym_module m;
    const struct sym_frame *f;
    struct sym_stats st;
    uint64_t pc = site(&c_run, "inline")->pc;

    (void)state;
    for (size_t i = 0; i < c_run.m.build_id_len; i++)
        sprintf(id + 2 * i, "%02x", c_run.build_id[i]);
    tmp_path(dir, "rebuilt");
    tmp_path(ids, "ids");
    snprintf(bin, sizeof(bin), "%s/sym_inline", dir);
    /* another build under the same name, as after a rebuild: its build-id differs */
    sh("mkdir -p %s && cp %s %s", dir, cxx_run.path, bin);
    m = at_path(&c_run, bin);

    c = open_in(NULL);
    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules_no_file, 1);
    sym_close(c);

    sh("mkdir -p %s/.build-id/%.2s && cp %s %s/.build-id/%.2s/%s", ids, id, c_run.path, ids, id,
       id + 2);
    c = open_in(ids);
    check_inline_chain(f, sym_resolve(c, &m, pc, false, &f));
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules_by_id, 1);
    sym_close(c);
}

/* One line per unusable module, naming its path, build-id and the cause. */
static void warns_once_per_module(void **state)
{
    char *text = NULL, id[129];
    size_t len = 0;
    FILE *w = open_memstream(&text, &len);
    struct sym_options opt = { .debuginfo_path = "-:", .warn = w };
    struct sym_cache *c;
    struct sym_module m = at_path(&c_run, cxx_run.path); /* another build-id at the path */
    const struct sym_frame *f;
    char want[PATH_MAX + 1024];

    (void)state;
    assert_non_null(w);
    c = sym_open(&opt);
    assert_non_null(c);
    assert_int_equal(sym_resolve(c, &m, site(&c_run, "inline")->pc, false, &f), 1);
    assert_int_equal(sym_resolve(c, &m, site(&c_run, "make_node")->pc, false, &f), 1);
    m.path = "/nonexistent/libgone.so";
    assert_int_equal(sym_resolve(c, &m, site(&c_run, "inline")->pc, false, &f), 1);
    assert_string_equal(f[0].module, "libgone.so");
    sym_close(c);
    fclose(w);
    for (size_t i = 0; i < c_run.m.build_id_len; i++)
        sprintf(id + 2 * i, "%02x", c_run.build_id[i]);
    snprintf(want, sizeof(want),
             "symbolize: %s (build-id %s): build-id differs from the run's, and no file with "
             "its build-id; frames show sym_cxx+0xoffset\n"
             "symbolize: /nonexistent/libgone.so (build-id %s): No such file or directory, and "
             "no file with its build-id; frames show libgone.so+0xoffset\n",
             cxx_run.path, id, id);
    assert_string_equal(text, want);
    free(text);
}

/* With no build-id logged, the file is checked by its PT_LOAD span. */
static void no_build_id_checks_span(void **state)
{
    struct sym_cache *c = open_in(NULL);
    struct sym_module m = c_run.m;
    const struct sym_frame *f;
    uint64_t pc = site(&c_run, "inline")->pc;

    (void)state;
    m.build_id_len = 0;
    check_inline_chain(f, sym_resolve(c, &m, pc, false, &f));
    sym_close(c);

    c = open_in(NULL); /* a module is keyed by path, build-id and bias: a new cache */
    m.hi += 0x1000;    /* the run's file was bigger: another build */
    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    sym_close(c);
}

static void bad_files_do_not_crash(void **state)
{
    char text[PATH_MAX], cut[PATH_MAX], hdr[PATH_MAX], junk[PATH_MAX];
    struct sym_cache *c = open_in(NULL);
    const struct sym_frame *f;
    uint64_t pc = site(&c_run, "inline")->pc;
    const char *paths[] = { tmp_path(text, "text"), tmp_path(cut, "cut"), tmp_path(hdr, "hdr"),
                            tmp_path(junk, "junk"), tmp_dir };

    (void)state;
    sh("echo 'not an ELF file' > %s", text);
    sh("head -c 3000 %s > %s", c_run.path, cut);
    sh("head -c 64 %s > %s", c_run.path, hdr);
    sh("(head -c 64 %s; head -c 100000 /dev/urandom) > %s", c_run.path, junk);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct sym_module m = at_path(&c_run, paths[i]);
        uint8_t saved = c_run.build_id[0];

        check_unknown_in(f, sym_resolve(c, &m, pc, false, &f), base(paths[i]), &c_run, pc);
        m.build_id_len = 0; /* nothing to check the file against */
        assert_int_equal(sym_resolve(c, &m, pc, false, &f), 1);
        assert_null(f[0].file);
        /* a build-id that matches nothing */
        c_run.build_id[0] ^= 0xff;
        m.build_id_len = c_run.m.build_id_len;
        check_unknown_in(f, sym_resolve(c, &m, pc, false, &f), base(paths[i]), &c_run, pc);
        c_run.build_id[0] = saved;
    }
    sym_close(c);
}

/* Runs fn(arg) in a child that must finish within `seconds`: a path that used to make
 * libdwfl wait for ever fails the test instead of stalling it. */
static void bounded(void (*fn)(const void *), const void *arg, int seconds, const char *what)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        alarm((unsigned)seconds + 1);
        fn(arg);
        _exit(0);
    }
    for (int i = 0; i < seconds * 20; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("%s: the child failed (status 0x%x)", what, status);
            return;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("%s: still running after %d s", what, seconds);
}

/* Open descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* In the child: the module at path (its pcs, the run's build-id) resolves to
 * module+offset, counted as a module without a file, and no descriptor is left open. */
static void no_file_at(const void *arg)
{
    const char *path = arg;
    int fds = open_fds();
    struct sym_cache *c = open_in(NULL);
    struct sym_module m = at_path(&c_run, path);
    uint64_t pc = site(&c_run, "inline")->pc;
    const struct sym_frame *f;
    struct sym_stats st;

    check_unknown_in(f, sym_resolve(c, &m, pc, false, &f), base(path), &c_run, pc);
    sym_get_stats(c, &st);
    assert_int_equal(st.n_modules_no_file, 1);
    sym_close(c);
    assert_int_equal(open_fds(), fds);
}

/* A module path from the log that names a FIFO, a device, a directory, a file of
 * /proc (which says it is empty) or a file too small for ELF: never handed to libdwfl,
 * whose open of a FIFO waited for a writer for ever. */
static void module_paths_that_are_not_files(void **state)
{
    char fifo[PATH_MAX], tiny[PATH_MAX];

    (void)state;
    tmp_path(fifo, "module.fifo");
    tmp_path(tiny, "tiny.so");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    sh("printf '\\177ELF' > %s", tiny);
    const char *paths[] = { fifo, "/dev/zero", tmp_dir, "/proc/self/status", tiny };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        bounded(no_file_at, paths[i], 10, paths[i]);
    unlink(fifo);
}

/* In the child: the stripped module resolves (with no symbols: module+offset), and no
 * descriptor is left open. */
static void stripped_resolves(const void *arg)
{
    const char *bin = arg;
    int fds = open_fds();
    struct sym_cache *c = open_in(NULL);
    struct sym_module m = at_path(&c_run, bin);
    uint64_t pc = site(&c_run, "inline")->pc;
    const struct sym_frame *f;

    check_unknown(f, sym_resolve(c, &m, pc, false, &f), &c_run, pc);
    sym_close(c);
    assert_int_equal(open_fds(), fds);
}

/* A .gnu_debuglink name that leads to a FIFO beside the module: skipped, not opened. */
static void debuglink_to_a_fifo(void **state)
{
    char dir[PATH_MAX], bin[PATH_MAX + 16], link[PATH_MAX + 16];

    (void)state;
    tmp_path(dir, "fifolink");
    snprintf(bin, sizeof(bin), "%s/sym_inline", dir);
    snprintf(link, sizeof(link), "%s/sym_inline.dbg", dir);
    sh("mkdir -p %s && objcopy --only-keep-debug %s %s", dir, c_run.path, link);
    sh("strip --strip-all -o %s %s && objcopy --add-gnu-debuglink=%s %s && rm %s", bin, c_run.path,
       link, bin, link);
    assert_int_equal(mkfifo(link, 0600), 0);
    bounded(stripped_resolves, bin, 10, "a debuglink to a FIFO");
}

static void bad_arguments(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_frame *f;
    const struct sym_struct *s;
    struct sym_module m = c_run.m;

    (void)state;
    assert_int_equal(sym_resolve(NULL, &c_run.m, 1, false, &f), -EINVAL);
    assert_int_equal(sym_resolve(c, NULL, 1, false, &f), -EINVAL);
    assert_int_equal(sym_resolve(c, &c_run.m, 1, false, NULL), -EINVAL);
    m.build_id = NULL;
    assert_int_equal(sym_resolve(c, &m, 1, false, &f), -EINVAL);
    assert_int_equal(sym_structs_of_size(c, NULL, 1, false, 24, &s), -EINVAL);
    m = c_run.m;
    m.path = NULL;
    assert_int_equal(sym_resolve(c, &m, 1, false, &f), 1);
    sym_close(c);
    sym_close(NULL);
}

/* Each allocation in turn fails: the call reports -ENOMEM (never a wrong answer), and
 * sym_close frees the rest (ASan's leak check). Ends at the first run with no failure. */
static void allocation_failures_are_reported(void **state)
{
    uint64_t pc = site(&c_run, "make_padded")->pc;
    int k;

    (void)state;
    for (k = 0; k < 10000; k++) {
        const struct sym_frame *f;
        const struct sym_struct *v;
        struct sym_cache *c;
        int r1 = 0, r2 = 0;

        failed = false;
        fail_in = k;
        c = sym_open(NULL);
        if (c != NULL) {
            r1 = sym_resolve(c, &c_run.m, pc, false, &f);
            if (r1 >= 0)
                r2 = sym_structs_of_size(c, &c_run.m, pc, false, 24, &v);
        }
        fail_in = -1;
        if (!failed) {
            assert_int_equal(r1, 1);
            assert_true(r2 >= 1);
            sym_close(c);
            break;
        }
        assert_true(c == NULL || r1 == -ENOMEM || r2 == -ENOMEM);
        sym_close(c);
    }
    assert_true(k > 10); /* the wrappers were linked in and saw the allocations */
    assert_true(k < 10000);
}

static const struct sym_struct *find_struct(const struct sym_struct *v, int n, const char *name)
{
    const struct sym_struct *found = NULL;

    for (int i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            assert_null(found); /* listed once */
            found = &v[i];
        }
    }
    assert_non_null(found);
    return found;
}

static void check_member(const struct sym_member *m, const char *name, const char *type,
                         uint64_t offset, uint64_t size, uint64_t hole_after)
{
    assert_string_equal(m->name, name);
    assert_string_equal(m->type_name, type);
    assert_int_equal(m->offset, offset);
    assert_int_equal(m->size, size);
    assert_int_equal(m->hole_after, hole_after);
    assert_int_equal(m->bit_size, 0);
}

static void struct_with_hole_and_padding(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_struct *v, *s, *again;
    int n;

    (void)state;
    n = sym_structs_of_size(c, &c_run.m, site(&c_run, "make_padded")->pc, false, 24, &v);
    assert_true(n >= 1);
    s = find_struct(v, n, "padded");
    assert_string_equal(s->kind, "struct");
    assert_int_equal(s->size, 24);
    assert_int_equal(s->n_members, 3);
    check_member(&s->members[0], "a", "char", 0, 1, 7);
    check_member(&s->members[1], "b", "long int", 8, 8, 0);
    check_member(&s->members[2], "c", "char", 16, 1, 0);
    assert_int_equal(s->hole_bytes, 7);
    assert_int_equal(s->padding_bytes, 7);
    assert_int_equal(
        sym_structs_of_size(c, &c_run.m, site(&c_run, "make_padded")->pc, false, 24, &again), n);
    assert_ptr_equal(again, v);

    n = sym_structs_of_size(c, &c_run.m, site(&c_run, "make_node")->pc, false, 96, &v);
    assert_true(n >= 1);
    s = find_struct(v, n, "node");
    assert_int_equal(s->n_members, 3);
    check_member(&s->members[0], "next", "struct node *", 0, 8, 0);
    check_member(&s->members[1], "id", "long int", 8, 8, 0);
    check_member(&s->members[2], "unused", "char[80]", 16, 80, 0);
    assert_int_equal(s->hole_bytes, 0);
    assert_int_equal(s->padding_bytes, 0);

    assert_int_equal(
        sym_structs_of_size(c, &c_run.m, site(&c_run, "make_node")->pc, false, 12345, &v), 0);
    sym_close(c);
}

static void struct_bit_fields_and_typedef_name(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_struct *v, *s;
    uint64_t pc = site(&c_run, "make_node")->pc;
    int n;

    (void)state;
    n = sym_structs_of_size(c, &c_run.m, pc, false, 16, &v);
    s = find_struct(v, n, "flags");
    assert_int_equal(s->n_members, 4);
    assert_string_equal(s->members[0].name, "a");
    assert_string_equal(s->members[0].type_name, "unsigned int");
    assert_int_equal(s->members[0].offset, 0);
    assert_int_equal(s->members[0].size, 1);
    assert_int_equal(s->members[0].bit_offset, 0);
    assert_int_equal(s->members[0].bit_size, 3);
    assert_int_equal(s->members[0].hole_after, 0);
    assert_string_equal(s->members[1].name, "b");
    assert_int_equal(s->members[1].offset, 0);
    assert_int_equal(s->members[1].size, 1);
    assert_int_equal(s->members[1].bit_offset, 3);
    assert_int_equal(s->members[1].bit_size, 5);
    check_member(&s->members[2], "c", "char", 1, 1, 6);
    check_member(&s->members[3], "d", "long int", 8, 8, 0);
    assert_int_equal(s->hole_bytes, 6);
    assert_int_equal(s->padding_bytes, 0);

    n = sym_structs_of_size(c, &c_run.m, pc, false, 8, &v);
    s = find_struct(v, n, "pair_t");
    assert_int_equal(s->n_members, 2);
    check_member(&s->members[0], "x", "int", 0, 4, 0);
    check_member(&s->members[1], "y", "char", 4, 1, 0);
    assert_int_equal(s->padding_bytes, 3);
    sym_close(c);
}

static void cxx_struct_qualified(void **state)
{
    struct sym_cache *c = sym_open(NULL);
    const struct sym_struct *v, *s;
    int n;

    (void)state;
    n = sym_structs_of_size(c, &cxx_run.m, site(&cxx_run, "make_box")->pc, false, 16, &v);
    assert_true(n >= 1);
    s = find_struct(v, n, "heapspan_test::box<long int>");
    assert_string_equal(s->kind, "struct");
    assert_int_equal(s->n_members, 2);
    check_member(&s->members[0], "value", "long int", 0, 8, 0);
    check_member(&s->members[1], "tag", "char", 8, 1, 0);
    assert_int_equal(s->hole_bytes, 0);
    assert_int_equal(s->padding_bytes, 7);
    sym_close(c);
}

static void structs_without_file(void **state)
{
    struct sym_cache *c = open_in(NULL);
    struct sym_module m = at_path(&c_run, "/nonexistent/sym_inline");
    const struct sym_struct *v;

    (void)state;
    assert_int_equal(sym_structs_of_size(c, &m, site(&c_run, "make_padded")->pc, false, 24, &v), 0);
    assert_int_equal(sym_structs_of_size(c, &c_run.m, c_run.m.hi + 1, false, 24, &v), 0);
    sym_close(c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inline_chain_innermost_first),
        cmocka_unit_test(plain_calls),
        cmocka_unit_test(exact_pc_is_not_adjusted),
        cmocka_unit_test(results_are_cached),
        cmocka_unit_test(cxx_template_demangled),
        cmocka_unit_test(rust_legacy_demangled_without_hash),
        cmocka_unit_test(rust_v0_demangled),
        cmocka_unit_test(missing_file_gives_module_offset),
        cmocka_unit_test(pc_outside_module),
        cmocka_unit_test(stripped_with_debug_by_build_id),
        cmocka_unit_test(stripped_with_debuglink),
        cmocka_unit_test(rebuilt_binary_not_used),
        cmocka_unit_test(warns_once_per_module),
        cmocka_unit_test(no_build_id_checks_span),
        cmocka_unit_test(bad_files_do_not_crash),
        cmocka_unit_test(module_paths_that_are_not_files),
        cmocka_unit_test(debuglink_to_a_fifo),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(allocation_failures_are_reported),
        cmocka_unit_test(struct_with_hole_and_padding),
        cmocka_unit_test(struct_bit_fields_and_typedef_name),
        cmocka_unit_test(cxx_struct_qualified),
        cmocka_unit_test(structs_without_file),
    };

    progs_dir = argc > 1 ? argv[1] : getenv("SYM_PROGS_DIR");
    if (progs_dir == NULL)
        die("usage: test_symbolize PROGS_DIR (or set SYM_PROGS_DIR): where sym_inline, "
            "sym_cxx and sym_rust_prog were built");
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
