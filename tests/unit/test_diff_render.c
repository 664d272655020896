/*
 * test_diff_render.c - unit tests for the diff renderers (viz/diff_*.c): a diff of two
 * models built by hand, whose function names hold what Markdown, XML and JSON must
 * escape (C++ operators and templates with < > & |, a backtick, a quote), rendered to
 * memory and checked line by line. Built with ASan and UBSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/diff.h"
#include "viz/diff_render.h"

#define N_SITES 4

static const char *const names[N_SITES] = {
    "operator<<(std::ostream&, Foo|Bar)",
    "std::vector<int>::push_back",
    "`quoted",
    "tmpl<`x`>",
};

struct fixture {
    struct model base, head;
    struct model_site sb[N_SITES], sa[N_SITES + 1];
    struct model_frame fb[N_SITES], fa[N_SITES + 1];
    const struct model_frame *pb[N_SITES], *pa[N_SITES + 1];
    struct model_budget budget;
    struct model_diff *d;
};

static struct fixture fx;

static void add_site(struct model *m, struct model_site *s, struct model_frame *f,
                     const struct model_frame **p, const char *fn, int line, double live)
{
    *f = (struct model_frame){ .function = fn, .file = "/src/f.cc", .line = line, .module = "app" };
    *p = f;
    *s = (struct model_site){ .n_frames = 1, .frames = p };
    s->st.allocations = 1;
    s->st.allocated_bytes = live;
    s->st.peak_live_bytes = live;
    s->st.leaked_bytes = live;
    m->totals.allocations += 1;
    m->totals.peak_live_bytes += live;
    m->totals.leaked_bytes += live;
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    fx.base.process =
        (struct model_process){ .log_path = "a|b.hsl", .exe = "/bin/app", .ended = true };
    fx.head.process =
        (struct model_process){ .log_path = "new.hsl", .exe = "/bin/app", .ended = true };
    for (int i = 0; i < N_SITES; i++) {
        add_site(&fx.base, &fx.sb[i], &fx.fb[i], &fx.pb[i], names[i], 10 + i, 1000);
        add_site(&fx.head, &fx.sa[i], &fx.fa[i], &fx.pa[i], names[i], 10 + i, 1000 + 500 * (i + 1));
    }
    add_site(&fx.head, &fx.sa[N_SITES], &fx.fa[N_SITES], &fx.pa[N_SITES], "fresh<&\">", 99,
             1 << 20);
    fx.base.n_sites = N_SITES;
    fx.base.sites = fx.sb;
    fx.head.n_sites = N_SITES + 1;
    fx.head.sites = fx.sa;
    assert_true(diff_parse_budget("10%,512KiB", MODEL_METRIC_PEAK, &fx.budget));
    struct diff_options o = { .metric = MODEL_METRIC_PEAK, .n_budgets = 1, .budgets = &fx.budget };
    fx.d = diff_new(&fx.base, &fx.head, &o);
    assert_non_null(fx.d);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    diff_free(fx.d);
    return 0;
}

/* The diff rendered by the named renderer with top rows a list, as a string to free. */
static char *render(const char *name, int top)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct diff_render_options ro = { top };
    assert_int_equal(diff_render_write(diff_render_find(name), f, fx.d, &ro), 0);
    fclose(f);
    return buf;
}

static void contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("no \"%s\" in:\n%s", want, text);
}

static void lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted) != NULL)
        fail_msg("\"%s\" in:\n%s", unwanted, text);
}

/* In a code span < > & stay as they are (GFM prints a span literally), | is escaped
 * (it would end the table cell), a backtick lengthens the fence. */
static void markdown_code_spans(void **state)
{
    (void)state;
    char *md = render("markdown", 10);
    contains(md, "## Heap diff: `a\\|b.hsl` → `new.hsl`\n");
    contains(md, "| `operator<<(std::ostream&, Foo\\|Bar) (f.cc:10)` |");
    contains(md, "| ``tmpl<`x`> (f.cc:13)`` |");
    contains(md, "| `` `quoted (f.cc:12) `` |");
    contains(md, "| `fresh<&\"> (f.cc:99)` _new_ |");
    lacks(md, "&lt;");
    contains(md, "| **peak** | 3.91 KiB | 1.01 MiB | +1.00 MiB | +26339% |\n");
    contains(md, "- :x: peak grew by 1.00 MiB (+26339%), over the budget of 10% and 512 KiB\n");
    free(md);
}

/* Long lists fold: five rows open, the rest in <details>. */
static void markdown_folds_long_lists(void **state)
{
    (void)state;
    char *md = render("markdown", 10);
    contains(md, "### Sites that grew (peak)\n");
    contains(md, "<details><summary>New sites (peak): 1</summary>\n\n");
    free(md);
    md = render("markdown", 2);
    contains(md, "_3 more not shown._");
    free(md);
}

static void junit_escapes(void **state)
{
    (void)state;
    char *x = render("junit", 0);
    contains(x,
             "<testsuite name=\"heapspan diff a|b.hsl -&gt; new.hsl\" tests=\"1\" failures=\"1\"");
    contains(x, "<testcase classname=\"heapspan.diff.peak\" name=\"peak growth within 10% and 512 "
                "KiB\" time=\"0\">");
    contains(x, "<failure type=\"heapspan.budget\" message=\"peak grew by 1.00 MiB (+26339%), over "
                "the budget of 10% and 512 KiB\">");
    contains(x, "fresh&lt;&amp;&quot;&gt; (f.cc:99)");
    contains(x, "operator&lt;&lt;(std::ostream&amp;, Foo|Bar)");
    free(x);
}

static void json_escapes(void **state)
{
    (void)state;
    char *j = render("json", 0);
    contains(j, "{\"heapspan_diff\":1,");
    contains(j, "\"function\":\"fresh<&\\\">\"");
    contains(j, "\"percent\":null");
    contains(j, "\"budgets\":[{\"spec\":\"10%,512KiB\",\"metric\":\"peak\",\"percent\":10,"
                "\"amount\":524288,\"breached\":true,\"within_noise\":false,");
    contains(j, "\"breached\":1}\n");
    free(j);
}

static void text_lists(void **state)
{
    (void)state;
    char *t = render("text", 10);
    contains(t, "heapspan diff: a|b.hsl -> new.hsl (sites ranked by peak)\n");
    contains(t, "Sites: 4 matched exactly, 0 by function (lines moved), 1 new, 0 vanished; 5 "
                "changed.\n");
    contains(t, "  FAIL peak grew by 1.00 MiB (+26339%), over the budget of 10% and 512 KiB\n");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(markdown_code_spans), cmocka_unit_test(markdown_folds_long_lists),
        cmocka_unit_test(junit_escapes),       cmocka_unit_test(json_escapes),
        cmocka_unit_test(text_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
