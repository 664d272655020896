/*
 * sym_cxx.cc - test program for test_symbolize.c (C++, built with -O2 -g): a
 * namespaced function template, so the name must come back demangled with its
 * namespace, template argument and parameters, and a namespaced class template whose
 * layout the struct-size test checks.
 */
#include <cstdio>

#include "sym_progs.h"

namespace heapspan_test
{

template <typename T> struct box { /* 16 bytes for T = long: 7 bytes of tail padding */
    T value;
    char tag;
};

/* noipa: a real call with its own return address. */
__attribute__((noipa)) static void record(const char *name, int line)
{
    printf("site %s %lx %d\n", name, (unsigned long)__builtin_return_address(0), line);
}

static volatile int sink;

template <typename T> __attribute__((noinline)) box<T> *make_box(T v)
{
    box<T> *b = new box<T>();

    record("make_box", __LINE__);
    sink++;
    b->value = v;
    return b;
}

} // namespace heapspan_test

int main()
{
    sym_prog_print_map();

    heapspan_test::box<long> *b = heapspan_test::make_box<long>(3);

    delete b;
    return 0;
}
