/*
 * test_report.c - unit tests for what a report says of a model built by hand: names
 * made readable (viz/fmt.c), allocator wrappers and runtime frames told apart and
 * sites titled past them (analyzer/wrappers.c), sampled estimates' intervals and
 * which words a process's ending allows (viz/rank.c), Markdown's code spans and
 * collapsible stacks, JSON's frames stored once and its --sort, the text report's
 * collapsed runtime frames and --frames (the renderers), and dpkg's file lists
 * (analyzer/debuginfo.c). Built with ASan and UBSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/debuginfo.h"
#include "analyzer/wrappers.h"
#include "viz/fmt.h"
#include "viz/rank.h"
#include "viz/render.h"

static const char *fn(const char *name)
{
    static char buf[4096];
    return fmt_function(buf, sizeof(buf), name, false);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(fn("std::__cxx11::basic_string<char, std::char_traits<char>, "
                           "std::allocator<char> >::_M_construct<char const*>(char const*, "
                           "char const*, std::forward_iterator_tag)"),
                        "std::string::_M_construct<char const*>(char const*, char const*, "
                        "std::forward_iterator_tag)");
    assert_string_equal(fn("std::vector<int, std::allocator<int> >::push_back(int const&)"),
                        "std::vector<int>::push_back(int const&)");
    assert_string_equal(fn("std::map<int, long, std::less<int>, std::allocator<std::pair<int "
                           "const, long> > >::operator[](int const&)"),
                        "std::map<int, long>::operator[](int const&)");
    assert_string_equal(fn("std::vector<std::vector<int, std::allocator<int> >, "
                           "std::allocator<std::vector<int, std::allocator<int> > > >::size()"),
                        "std::vector<std::vector<int> >::size()");
    /* Operators' brackets are no template's. */
    assert_string_equal(fn("operator<<(std::basic_ostream<char, std::char_traits<char> >&, "
                           "Foo const&)"),
                        "operator<<(std::ostream&, Foo const&)");
    assert_string_equal(fn("bool operator< <int>(a<int>, a<int>)"),
                        "bool operator< <int>(a<int>, a<int>)");
    assert_string_equal(fn("<alloc::vec::Vec<u8> as core::clone::Clone>::clone"),
                        "<Vec<u8> as core::clone::Clone>::clone");
    assert_string_equal(fn("main"), "main");
    /* Past the width: the deepest arguments go first. */
    char longname[1024] = "ns::outer<ns::mid<ns::inner<";
    for (int i = 0; i < 20; i++)
        strcat(longname, "long_argument_name, ");
    strcat(longname, "int> > >::run()");
    const char *r = fn(longname);
    assert_true(strlen(r) <= FMT_NAME_WIDTH);
    assert_string_equal(r, "ns::outer<ns::mid<ns::inner<...> > >::run()");
    /* --full-names: as given. */
    char buf[256];
    assert_string_equal(
        fmt_function(buf, sizeof(buf), "std::vector<int, std::allocator<int> >::x", true),
        "std::vector<int, std::allocator<int> >::x");
}

static enum model_frame_kind kind(const char *function)
{
    struct model_frame f = { .function = function, .module = "app" };
    return wrap_frame_kind(NULL, &f);
}

static void test_frame_kinds(void **state)
{
    (void)state;
    assert_int_equal(kind("sqlite3Malloc"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("sqlite3DbMallocRawNN"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("jv_mem_alloc"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("ztrymalloc_usable"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("xmalloc"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("g_malloc0"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("PyObject_Malloc"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("std::__cxx11::basic_string<char, std::char_traits<char>, "
                          "std::allocator<char> >::_M_create(unsigned long&, unsigned long)"),
                     MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("std::__detail::_Hashtable_alloc<std::allocator<int> >::"
                          "_M_allocate_buckets(unsigned long)"),
                     MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int>("
                          "int&&)"),
                     MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("hashbrown::raw::alloc::inner::do_alloc"), MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("<alloc::vec::Vec<T> as core::clone::Clone>::clone"),
                     MODEL_FRAME_WRAPPER);
    assert_int_equal(kind("<[T] as alloc::slice::hack::ConvertVec>::to_vec"), MODEL_FRAME_WRAPPER);
    /* The program's own, even when a standard trait is implemented or a std type is
     * taken. */
    assert_int_equal(kind("<main::Book as core::clone::Clone>::clone"), MODEL_FRAME_CODE);
    assert_int_equal(kind("main::build_book"), MODEL_FRAME_CODE);
    assert_int_equal(kind("parse(std::string const&)"), MODEL_FRAME_CODE);
    assert_int_equal(kind("node_new"), MODEL_FRAME_CODE);
    assert_int_equal(kind("__libc_start_main"), MODEL_FRAME_RUNTIME);
    assert_int_equal(kind("_start"), MODEL_FRAME_RUNTIME);
    assert_int_equal(kind("std::rt::lang_start_internal"), MODEL_FRAME_RUNTIME);
    assert_int_equal(kind("std::rt::lang_start::{{closure}}"), MODEL_FRAME_RUNTIME);
    assert_int_equal(kind("std::sys_common::backtrace::__rust_begin_short_backtrace<fn(), ()>"),
                     MODEL_FRAME_RUNTIME);
    assert_int_equal(kind("std::panicking::try::do_call"), MODEL_FRAME_RUNTIME);
    /* --alloc-fn: by name with wildcards, or module+offset. */
    const char *pats[] = { "my_alloc*", "libfoo.so+0x1234" };
    struct wrap_rules r = { 2, pats, false };
    struct model_frame f = { .function = "my_alloc_node", .module = "app" };
    assert_int_equal(wrap_frame_kind(&r, &f), MODEL_FRAME_WRAPPER);
    f = (struct model_frame){ .module = "libfoo.so", .module_offset = 0x1234 };
    assert_int_equal(wrap_frame_kind(&r, &f), MODEL_FRAME_WRAPPER);
    f.module_offset = 0x1235;
    assert_int_equal(wrap_frame_kind(&r, &f), MODEL_FRAME_CODE);
}

/* Sites made of frames by index: 0 is a stripped wrapper (unnamed) under 20 callers;
 * 1 is a helper called from 3 places; the rest callers. */
#define N_FR 64
#define N_ST 32
struct shapes {
    struct model_frame fr[N_FR];
    const struct model_frame *stacks[N_ST][4];
    struct model_site sites[N_ST];
    int n;
};

static void shape_site(struct shapes *s, int a, int b, int c)
{
    const struct model_frame **st = s->stacks[s->n];
    st[0] = &s->fr[a];
    st[1] = &s->fr[b];
    st[2] = &s->fr[c];
    s->sites[s->n] = (struct model_site){ .n_frames = 3, .frames = st };
    s->n++;
}

static void test_detection(void **state)
{
    (void)state;
    static struct shapes s;
    memset(&s, 0, sizeof(s));
    s.fr[0] = (struct model_frame){ .module = "libsqlite3.so.0", .module_offset = 0xa7504 };
    s.fr[1] = (struct model_frame){ .function = "node_new", .module = "app" };
    for (int i = 2; i < N_FR; i++)
        s.fr[i] = (struct model_frame){ .function = "caller", .module = "app", .line = i };
    s.fr[63] = (struct model_frame){ .function = "main", .module = "app" };
    for (int i = 0; i < 20; i++)
        shape_site(&s, 0, 10 + i, 63);
    for (int i = 0; i < 12; i++)
        shape_site(&s, 1, 40 + i % 3, 63);
    for (int i = 0; i < N_FR; i++)
        s.fr[i].kind = wrap_frame_kind(NULL, &s.fr[i]);
    assert_int_equal(wrap_sites(NULL, s.sites, s.n), 0);
    assert_int_equal(s.fr[0].kind, MODEL_FRAME_WRAPPER);
    assert_int_equal(s.fr[1].kind, MODEL_FRAME_CODE);
    for (int i = 0; i < 20; i++)
        assert_int_equal(s.sites[i].title, 1);
    for (int i = 20; i < s.n; i++)
        assert_int_equal(s.sites[i].title, 0);

    /* Without detection, the frame stays the title. */
    s.fr[0].kind = MODEL_FRAME_CODE;
    struct wrap_rules off = { 0, NULL, true };
    assert_int_equal(wrap_sites(&off, s.sites, s.n), 0);
    assert_int_equal(s.sites[0].title, 0);
}

static void test_interval(void **state)
{
    (void)state;
    double lo, hi;
    /* 100 samples of weight 1000 (rare sampling): about Poisson's +-20%. */
    rank_interval(100000, 100, 1000, &lo, &hi);
    assert_true(lo > 80500 && lo < 82000);   /* exact Garwood: 81.37 */
    assert_true(hi > 121000 && hi < 122500); /* exact Garwood: 121.63 */
    /* Blocks recorded for sure: no width. */
    rank_interval(40, 40, 1, &lo, &hi);
    assert_true(lo == 40 && hi == 40);
    /* Nothing sampled. */
    rank_interval(0, 0, 5, &lo, &hi);
    assert_true(lo == 0 && hi == 0);
    /* The truth of the sampled leak the issue met (234 KiB in 3,000 blocks estimated
     * as 512 KiB in 6,554) must fall in a 95% interval made from its samples: 6,554
     * blocks of weight ~13 are ~500 samples. */
    rank_interval(512.0, 500, 13.1, &lo, &hi);
    assert_true(hi > 460 && lo < 512 && lo > 400);
}

/* A model of one site whose names hold Markdown's and HTML's specials. */
struct mini {
    struct model m;
    struct model_site site[2];
    struct model_frame fr[6];
    const struct model_frame *st0[5], *st1[2];
    const char *argv[12];
};

static void mini_model(struct mini *x, bool ended)
{
    memset(x, 0, sizeof(*x));
    x->fr[0] = (struct model_frame){ .function = "sqlite3Malloc",
                                     .module = "libsqlite3.so.0",
                                     .kind = MODEL_FRAME_WRAPPER };
    x->fr[1] = (struct model_frame){
        .function = "tmpl<a|b>::`run`", .file = "/s/a.cc", .line = 7, .module = "app"
    };
    x->fr[2] =
        (struct model_frame){ .function = "main", .file = "/s/a.cc", .line = 9, .module = "app" };
    x->fr[3] = (struct model_frame){ .function = "__libc_start_call_main",
                                     .module = "libc.so.6",
                                     .kind = MODEL_FRAME_RUNTIME };
    x->fr[4] = (struct model_frame){ .function = "__libc_start_main",
                                     .module = "libc.so.6",
                                     .kind = MODEL_FRAME_RUNTIME };
    x->fr[5] = (struct model_frame){ .function = "other", .module = "app" };
    for (int i = 0; i < 5; i++)
        x->st0[i] = &x->fr[i];
    x->st1[0] = &x->fr[5];
    x->st1[1] = &x->fr[2];
    x->site[0] = (struct model_site){ .n_frames = 5, .frames = x->st0, .title = 1 };
    x->site[0].st.allocations = 10;
    x->site[0].st.allocated_bytes = 100;
    x->site[0].st.peak_live_bytes = 0;
    x->site[0].st.leaked_bytes = 50;
    x->site[1] = (struct model_site){ .n_frames = 2, .frames = x->st1 };
    x->site[1].st.allocations = 1;
    x->site[1].st.allocated_bytes = 10;
    x->site[1].st.peak_live_bytes = 10;
    for (int i = 0; i < 12; i++)
        x->argv[i] = i == 11 ? "last-arg" : "a";
    x->m.process = (struct model_process){ .log_path = "x.hsl",
                                           .exe = "/bin/app",
                                           .argc = 12,
                                           .argv = x->argv,
                                           .ended = ended,
                                           .end_reason = ended ? MODEL_END_EXIT : MODEL_END_NONE,
                                           .end_ns = 1.2e9 };
    x->m.totals.allocations = 11;
    x->m.totals.peak_live_bytes = 10;
    x->m.totals.leaked_bytes = 50;
    x->m.totals.last_ns = 1e6;
    x->m.n_sites = 2;
    x->m.sites = x->site;
}

static char *render(const struct model *m, const char *format, struct render_options ro)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(render_write(render_find(format), f, m, &ro), 0);
    fclose(f);
    return buf;
}

static void test_text(void **state)
{
    (void)state;
    static struct mini x;
    mini_model(&x, true);
    char *t = render(&x.m, "text", (struct render_options){ .top = 10 });
    /* Titled by the program's frame, the wrapper kept in the stack and marked. */
    assert_non_null(strstr(t, "50 B 100.0%  tmpl<a|b>::`run` (a.cc:7)\n"));
    assert_non_null(strstr(t, "(wrapper) sqlite3Malloc (libsqlite3.so.0)"));
    assert_non_null(strstr(t, "... 2 runtime frames (--runtime-frames shows them)"));
    /* Every argument, the real duration, "leaked" for an exit. */
    assert_non_null(strstr(t, " a last-arg  (pid 0, 1.200 s recorded, exited)"));
    assert_non_null(strstr(t, "LEAKS: not freed before the program exited"));
    free(t);
    t = render(&x.m, "text",
               (struct render_options){ .top = 10, .frames = 2, .runtime_frames = true });
    assert_non_null(strstr(t, "... 3 more frames (--frames N shows more)"));
    free(t);
    /* --sort: that ranking alone. */
    t = render(&x.m, "text", (struct render_options){ .top = 1, .sort = RANK_SORT_ALLOCATED });
    assert_non_null(strstr(t, "ALLOCATED: most bytes allocated in all (top 1 of 2 sites)"));
    assert_null(strstr(t, "PEAK:"));
    free(t);
    /* No end record: live at the end, not leaked. */
    mini_model(&x, false);
    t = render(&x.m, "text", (struct render_options){ .top = 10 });
    assert_non_null(strstr(t, "LIVE AT END: live when the log ends"));
    assert_non_null(strstr(t, "no end record: still running, killed or exec'd"));
    assert_null(strstr(t, "leaked"));
    free(t);
}

static void test_markdown(void **state)
{
    (void)state;
    static struct mini x;
    mini_model(&x, true);
    char *t = render(&x.m, "markdown", (struct render_options){ .top = 10 });
    /* In a code span: '<' as it is, '|' as \|, a backtick fence longer than its run. */
    assert_non_null(strstr(t, "| ``tmpl<a\\|b>::`run` (a.cc:7)`` |"));
    assert_null(strstr(t, "`tmpl&lt;"));
    /* The stacks, collapsible; the summary is HTML. */
    assert_non_null(strstr(t, "<details><summary>#1 tmpl&lt;a|b&gt;::`run` (a.cc:7)</summary>"));
    assert_non_null(strstr(t, "(wrapper) sqlite3Malloc (libsqlite3.so.0)\n"));
    free(t);
}

static void test_json(void **state)
{
    (void)state;
    static struct mini x;
    mini_model(&x, true);
    /* Peak first by default: --top 1 is the site holding the peak. */
    char *t = render(&x.m, "json", (struct render_options){ .top = 1 });
    assert_non_null(strstr(t, "\"sort\":\"peak\",\"sites\":[{\"function\":\"other\""));
    assert_non_null(strstr(t, "\"heapspan_report\":2"));
    free(t);
    t = render(&x.m, "json", (struct render_options){ .sort = RANK_SORT_LEAKED });
    assert_non_null(strstr(t, "\"sort\":\"leaked\",\"sites\":[{\"function\":\"tmpl<a|b>::`run`\""));
    /* main is in both stacks and listed once. */
    char *fr = strstr(t, "\"frames\":[");
    assert_non_null(fr);
    int mains = 0;
    for (char *p = fr; (p = strstr(p, "\"function\":\"main\"")) != NULL; p++)
        mains++;
    assert_int_equal(mains, 1);
    assert_non_null(strstr(t, "\"stack\":[0,1,2,3,4]"));
    assert_non_null(strstr(t, "\"stack\":[5,2]"));
    free(t);
}

static void test_dpkg_list(void **state)
{
    (void)state;
    const char list[] = "/.\n/usr\n/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n/usr/lib/x";
    assert_true(
        dbg_list_has(list, sizeof(list) - 1, "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"));
    assert_true(dbg_list_has(list, sizeof(list) - 1, "/usr/lib/x"));
    assert_false(dbg_list_has(list, sizeof(list) - 1, "/usr/lib"));
    assert_false(dbg_list_has(list, sizeof(list) - 1, "/usr/lib/x86_64-linux-gnu/libsqlite3.so"));
    assert_false(dbg_list_has("", 0, "/x"));

    char pkg[32];
    assert_true(dbg_list_package("libsqlite3-0:amd64.list", pkg, sizeof(pkg)));
    assert_string_equal(pkg, "libsqlite3-0");
    assert_true(dbg_list_package("coreutils.list", pkg, sizeof(pkg)));
    assert_string_equal(pkg, "coreutils");
    assert_false(dbg_list_package("coreutils.md5sums", pkg, sizeof(pkg)));
    assert_false(dbg_list_package(":amd64.list", pkg, sizeof(pkg)));
    assert_false(dbg_list_package(".list", pkg, sizeof(pkg)));
}

static void test_os_release(void **state)
{
    (void)state;
    char cn[16];
    const char debian[] = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION=\"12 "
                          "(bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
    assert_true(dbg_os_codename(debian, sizeof(debian) - 1, cn, sizeof(cn)));
    assert_string_equal(cn, "bookworm");
    /* quoted, as os-release(5) allows; the key only at a line's start; the last wins */
    const char quoted[] = "XVERSION_CODENAME=no\n# VERSION_CODENAME=no\nVERSION_CODENAME=\"jammy\"";
    assert_true(dbg_os_codename(quoted, sizeof(quoted) - 1, cn, sizeof(cn)));
    assert_string_equal(cn, "jammy");
    const char twice[] = "VERSION_CODENAME=buster\nVERSION_CODENAME='trixie'\n";
    assert_true(dbg_os_codename(twice, sizeof(twice) - 1, cn, sizeof(cn)));
    assert_string_equal(cn, "trixie");
    const char bad[] = "VERSION_CODENAME=x;rm -rf\n";
    assert_false(dbg_os_codename(bad, sizeof(bad) - 1, cn, sizeof(cn)));
    const char empty[] = "VERSION_CODENAME=\"\"\n";
    assert_false(dbg_os_codename(empty, sizeof(empty) - 1, cn, sizeof(cn)));
    const char toolong[] = "VERSION_CODENAME=abcdefghijklmnopqrstuvwxyz\n";
    assert_false(dbg_os_codename(toolong, sizeof(toolong) - 1, cn, sizeof(cn)));
    assert_false(dbg_os_codename("", 0, cn, sizeof(cn)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),      cmocka_unit_test(test_frame_kinds),
        cmocka_unit_test(test_detection),  cmocka_unit_test(test_interval),
        cmocka_unit_test(test_text),       cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_json),       cmocka_unit_test(test_dpkg_list),
        cmocka_unit_test(test_os_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
