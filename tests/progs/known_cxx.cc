/*
 * known_cxx.cc - C++ at -O2 with an allocating function inlined into its caller, for
 * tests/report-tests.sh (which holds the same numbers; each call's "@name" comment
 * gives it the line).
 *
 *   @inl_new   make_widget(), always inlined: new Widget (64 bytes)
 *   @inl_call  fill(), which calls make_widget 25 times; all leaked
 *   @plain     plain_new(), not inlined: new char[1000] x 3, leaked
 *
 * The site of the 25 widgets must be make_widget (inlined=true) at @inl_new, then fill
 * at @inl_call.
 */
#include <cstdlib>

struct Widget {
    long id;
    char name[56];
};

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;

static inline __attribute__((always_inline)) Widget *make_widget(long id)
{
    Widget *w = new Widget(); /* @inl_new */
    w->id = id;
    return w;
}

__attribute__((noipa)) static void fill(int n)
{
    for (int i = 0; i < n; i++)
        sink = make_widget(i); /* @inl_call */
}

__attribute__((noipa)) static void plain_new(int n)
{
    for (int i = 0; i < n; i++)
        sink = new char[1000]; /* @plain */
}

int main()
{
    fill(25);
    plain_new(3);
    sink = nullptr;
    return 0;
}
