/*
 * cxx_ops.cc - C++ allocation paths with counts known by construction, for the `cxx`
 * integration test (tests/run-integration.sh holds the same numbers). No iostream: the
 * only other allocations are libstdc++'s start-up malloc (its exception pool) and the
 * exception object of the one bad_alloc below, both through malloc, never operator new.
 *
 *   what                                  operator           size     news  deletes
 *   new Obj x 20, delete (sized)          new / delete       1111     20    20
 *   new Small[7] x 10, delete[]           new[] / delete[]   2219     10    10
 *   new Aligned (alignas 64) x 6, delete  new(align_val_t)   3392      6     6
 *   new (nothrow) Nt x 4, delete          new(nothrow)       4441      4     4
 *   new (nothrow) char[4443] x 2          new[](nothrow)     4443      2     2
 *   new char[1 << 62]: throws bad_alloc   -                  -         0     0
 *   vector<Elem> 1000 x push_back         new                37 << k, k = 0..10: 11 11
 *   string 1000 x push_back               new                31 61 121 241 481 961 1921
 *                                                                       7     7
 *   map<int, Big> 50 inserts              new                5000     50    50
 *   cxx_leak: new Obj, new Small[7], new Aligned, never deleted: 3 blocks, 6722 bytes
 *
 * Totals: fn=new 100 (21 Obj, 7 Aligned, 4 Nt, 11 vector, 7 string, 50 map), new[] 13,
 * delete 98, delete[] 12. The growth sizes are libstdc++'s (doubling).
 */
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

struct Obj {
    char b[1111];
};
struct Small { /* trivially destructible: new[] adds no array cookie */
    char b[317];
};
struct alignas(64) Aligned {
    char b[3392];
};
struct Nt {
    char b[4441];
};
struct Elem {
    char b[37];
};
struct Big {
    char b[4964];
};

static_assert(sizeof(Small) * 7 == 2219, "Small");
static_assert(sizeof(Aligned) == 3392, "Aligned");
static_assert(sizeof(Elem) == 37, "Elem");
/* libstdc++'s map node: the 32-byte node base, then the pair. */
static_assert(sizeof(std::_Rb_tree_node<std::pair<const int, Big>>) == 5000, "map node");

extern "C" {

__attribute__((noipa)) void churn_objects(void)
{
    for (int i = 0; i < 20; i++) {
        Obj *o = new Obj;
        ESCAPE(o);
        delete o;
    }
    for (int i = 0; i < 10; i++) {
        Small *s = new Small[7];
        ESCAPE(s);
        delete[] s;
    }
    for (int i = 0; i < 6; i++) {
        Aligned *a = new Aligned;
        ESCAPE(a);
        delete a;
    }
    for (int i = 0; i < 4; i++) {
        Nt *n = new (std::nothrow) Nt;
        ESCAPE(n);
        delete n;
    }
    for (int i = 0; i < 2; i++) {
        char *c = new (std::nothrow) char[4443];
        ESCAPE(c);
        delete[] c;
    }
}

__attribute__((noipa)) void throw_bad_alloc(void)
{
    try {
        volatile size_t huge = (size_t)1 << 62;
        char *c = new char[huge];
        ESCAPE(c);
        std::exit(30); /* not reached */
    } catch (const std::bad_alloc &) {
    }
}

__attribute__((noipa)) void grow_containers(void)
{
    {
        std::vector<Elem> v;
        for (int i = 0; i < 1000; i++)
            v.push_back(Elem());
        ESCAPE(v.data());
    }
    {
        std::string s;
        for (int i = 0; i < 1000; i++)
            s.push_back('x');
        ESCAPE(s.data());
    }
    {
        std::map<int, Big> m;
        for (int i = 0; i < 50; i++)
            m[i].b[0] = (char)i;
        ESCAPE(&m.begin()->second);
    }
}

__attribute__((noipa)) void cxx_leak(void)
{
    ESCAPE(new Obj);
    ESCAPE(new Small[7]);
    ESCAPE(new Aligned);
}
}

int main()
{
    churn_objects();
    throw_bad_alloc();
    grow_containers();
    cxx_leak();
    return 0;
}
