/*
 * test_suppress.c - unit tests for analyzer/suppress.c: LeakSanitizer's pattern match,
 * its suppressions file, and which stacks the built-in rules take for the C runtime's
 * one-time allocations (and which they must leave to the program). Built with ASan
 * and UBSan.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/suppress.h"

static char tmp_dir[] = "/tmp/test_suppress.XXXXXX";

static void template_match(void **state)
{
    static const struct {
        const char *pattern, *text;
        bool match;
    } cases[] = {
        { "foo", "foobar", true },
        { "bar", "foobar", true },
        { "oba", "foobar", true },
        { "^bar", "foobar", false },
        { "^foo", "foobar", true },
        { "bar$", "foobar", true },
        { "foo$", "foobar", false },
        { "f*r", "foobar", true },
        { "^f*o*r$", "foobar", true },
        { "^fo*x", "foobar", false },
        { "*", "x", true },
        { "", "x", true },
        { "x", "", false },
        { "^foobar$", "foobar", true },
        { "^foobar$", "foobarx", false },
        { "o*o", "foo", true },
        { "ab*ab$", "abab", true },
        { "ab*ab$", "ab", false },
        { "^ab*ab", "ab", false },
        { "b*a", "ab", false },
        { "::push(", "ns::box<int>::push(int)", true },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (sup_template_match(cases[i].pattern, cases[i].text) != cases[i].match)
            fail_msg("'%s' against '%s': expected %s vs got the other", cases[i].pattern,
                     cases[i].text, cases[i].match ? "a match" : "none");
    assert_false(sup_template_match("x", NULL));
}

/* A frame: function (NULL: unknown), file, module file name. */
#define FR(fn, file, mod)                                                     \
    {                                                                         \
        fn, file, 0, mod, 0, false, NULL, "/lib/" mod, NULL, MODEL_FRAME_CODE \
    }

static enum model_leak_kind kind_of(const struct sup_rules *r, const struct model_frame *f, int n,
                                    const char **rule)
{
    const struct model_frame *ptrs[8];
    for (int i = 0; i < n; i++)
        ptrs[i] = &f[i];
    struct model_site s = { .n_frames = n, .frames = ptrs };
    return sup_match(r, &s, rule);
}

static void builtin_rules(void **state)
{
    const struct model_frame stdio[] = { FR("_IO_file_doallocate", "filedoalloc.c", "libc.so.6"),
                                         FR("_IO_doallocbuf", "genops.c", "libc.so.6"),
                                         FR("_IO_fgets", "iofgets.c", "libc.so.6"),
                                         FR("main", "main.c", "app") };
    /* No debug info for libc: only the exported name. */
    const struct model_frame stdio_nodebug[] = { FR("_IO_file_doallocate", NULL, "libc.so.6"),
                                                 FR(NULL, NULL, "libc.so.6"),
                                                 FR("main", NULL, "app") };
    const struct model_frame nss[] = { FR("__nss_module_allocate", "nss_module.c", "libc.so.6"),
                                       FR("getpwuid", "getXXbyYY.c", "libc.so.6"),
                                       FR(NULL, NULL, "sqlite3") };
    const struct model_frame pool[] = { FR(NULL, NULL, "libstdc++.so.6"),
                                        FR("call_init", "dl-init.c", "ld-linux-x86-64.so.2"),
                                        FR("_dl_init", "dl-init.c", "ld-linux-x86-64.so.2"),
                                        FR("_dl_start_user", NULL, "ld-linux-x86-64.so.2") };
    const struct model_frame dtv[] = { FR("allocate_dtv", "dl-tls.c", "ld-linux-x86-64.so.2"),
                                       FR("_dl_allocate_tls", "dl-tls.c", "ld-linux-x86-64.so.2"),
                                       FR("pthread_create", "pthread_create.c", "libc.so.6"),
                                       FR("spawn", "app.c", "app") };
    /* What the runtime allocates for the program stays the program's. */
    const struct model_frame dup[] = { FR("strdup", "strdup.c", "libc.so.6"),
                                       FR("main", "main.c", "app") };
    const struct model_frame fopen_[] = { FR("__fopen_internal", "iofopen.c", "libc.so.6"),
                                          FR("main", "main.c", "app") };
    /* A program function named like a runtime one, outside the runtime: its own. */
    const struct model_frame own[] = { FR("_IO_file_doallocate", "mine.c", "app") };
    /* The runtime's run of frames ends at the program's first frame. */
    const struct model_frame under[] = { FR("strdup", "strdup.c", "libc.so.6"),
                                         FR("helper", "app.c", "app"),
                                         FR("tzset", "tzset.c", "libc.so.6") };
    /* Unsymbolized (--no-symbols): nothing is set apart. */
    const struct model_frame bare[] = { FR(NULL, NULL, "libc.so.6"), FR(NULL, NULL, "app") };
    const char *rule;

    (void)state;
    struct sup_rules *r = sup_new(true);
    assert_non_null(r);
    assert_true(sup_builtin(r));
    assert_int_equal(kind_of(r, stdio, 4, &rule), MODEL_LEAK_RUNTIME);
    assert_string_equal(rule, "stdio buffer");
    assert_int_equal(kind_of(r, stdio_nodebug, 3, &rule), MODEL_LEAK_RUNTIME);
    assert_int_equal(kind_of(r, nss, 3, &rule), MODEL_LEAK_RUNTIME);
    assert_int_equal(kind_of(r, pool, 4, &rule), MODEL_LEAK_RUNTIME);
    assert_int_equal(kind_of(r, dtv, 4, &rule), MODEL_LEAK_RUNTIME);
    assert_int_equal(kind_of(r, dup, 2, &rule), MODEL_LEAK);
    assert_null(rule);
    assert_int_equal(kind_of(r, fopen_, 2, &rule), MODEL_LEAK);
    assert_int_equal(kind_of(r, own, 1, &rule), MODEL_LEAK);
    assert_int_equal(kind_of(r, under, 3, &rule), MODEL_LEAK);
    assert_int_equal(kind_of(r, bare, 2, &rule), MODEL_LEAK);
    sup_free(r);

    r = sup_new(false);
    assert_non_null(r);
    assert_int_equal(kind_of(r, stdio, 4, &rule), MODEL_LEAK);
    sup_free(r);
    assert_int_equal(kind_of(NULL, stdio, 4, &rule), MODEL_LEAK);
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void user_rules(void **state)
{
    struct model_frame box[] = { FR("ns::box<int>::push(int)", "/src/box.h", "libbox.so"),
                                 FR("main", "/src/main.cc", "app") };
    const struct model_frame other[] = { FR("work", "/src/work.c", "app") };
    char path[PATH_MAX], err[PATH_MAX + 128];
    const char *rule;

    (void)state;
    box[0].linkage_name = "_ZN2ns3boxIiE4pushEi";
    write_file("s1.supp",
               "# LeakSanitizer's format\n"
               "\n"
               "  race:not_ours  \n"
               "called_from_lib:libfoo.so\n"
               "leak:box<int>::push\r\n",
               path, sizeof(path));
    struct sup_rules *r = sup_new(false);
    assert_non_null(r);
    assert_int_equal(sup_load(r, path, err, sizeof(err)), 0);
    assert_int_equal(kind_of(r, box, 2, &rule), MODEL_LEAK_SUPPRESSED);
    assert_string_equal(rule, "box<int>::push");
    assert_int_equal(kind_of(r, other, 1, &rule), MODEL_LEAK);
    sup_free(r);

    /* On the file, the module (path or name) and the mangled name. */
    const char *patterns[] = { "leak:/src/box.h\n", "leak:libbox.so$\n", "leak:^/lib/libbox\n",
                               "leak:_ZN2ns3box*4push\n", "leak:^main$\n" };
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        write_file("s2.supp", patterns[i], path, sizeof(path));
        r = sup_new(true);
        assert_non_null(r);
        assert_int_equal(sup_load(r, path, err, sizeof(err)), 0);
        if (kind_of(r, box, 2, &rule) != MODEL_LEAK_SUPPRESSED)
            fail_msg("'%s': expected the site suppressed", patterns[i]);
        assert_int_equal(kind_of(r, other, 1, &rule), MODEL_LEAK);
        sup_free(r);
    }

    /* Errors: the file and the line. */
    write_file("bad.supp", "leak:fine\n\nno colon\n", path, sizeof(path));
    r = sup_new(true);
    assert_non_null(r);
    assert_int_equal(sup_load(r, path, err, sizeof(err)), -EINVAL);
    char want[PATH_MAX + 8];
    snprintf(want, sizeof(want), "%s:3: ", path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("expected '%s...' vs got '%s'", want, err);
    sup_free(r);
    /* The bad line is shown escaped: a file's escape sequences never reach the terminal. */
    write_file("esc.supp", "\x1b]0;title\x07\x1b[2J\xc3 \xe2\x82\xac\n", path, sizeof(path));
    r = sup_new(true);
    assert_non_null(r);
    assert_int_equal(sup_load(r, path, err, sizeof(err)), -EINVAL);
    if (strstr(err, "vs '\\x1b]0;title\\x07\\x1b[2J\\xc3 \xe2\x82\xac'") == NULL)
        fail_msg("expected the line escaped vs got '%s'", err);
    sup_free(r);
    write_file("empty.supp", "leak:\n", path, sizeof(path));
    r = sup_new(true);
    assert_non_null(r);
    assert_int_equal(sup_load(r, path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":1: leak: without a pattern"));
    sup_free(r);
    snprintf(path, sizeof(path), "%s/missing.supp", tmp_dir);
    r = sup_new(true);
    assert_non_null(r);
    assert_int_equal(sup_load(r, path, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "No such file"));
    sup_free(r);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmp_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(template_match),
        cmocka_unit_test(builtin_rules),
        cmocka_unit_test(user_rules),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
