/*
 * known_sampled_cxx.cc - C++ allocation totals known by construction, for the sampled
 * C++ test in tests/report-tests.sh (which holds the same numbers; each call's "@name"
 * comment gives it the line). Run with --sample 65536.
 *
 *   @churn    200000 x new char[512], each deleted at once (sized delete[] off: plain)
 *   @mid      5000 x new Node (4096 bytes), leaked
 *   @aligned  5000 x new AlignedNode (4096 bytes, 256-byte aligned), leaked
 *
 * The operator new hooks record each block once, as new: the malloc inside libstdc++'s
 * operator new is not recorded again and its bytes are not charged twice to the sample
 * countdown. A second record or a second charge would show as a biased estimate.
 */
#include <cstddef>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;

struct Node {
    char bytes[4096];
};

struct alignas(256) AlignedNode {
    char bytes[4096];
};

__attribute__((noipa)) static void churn()
{
    for (int i = 0; i < 200000; i++) {
        char *p = new char[512]; /* @churn */
        sink = p;
        delete[] p;
    }
}

__attribute__((noipa)) static void leak_mid()
{
    for (int i = 0; i < 5000; i++)
        sink = new Node; /* @mid */
}

__attribute__((noipa)) static void leak_aligned()
{
    for (int i = 0; i < 5000; i++)
        sink = new AlignedNode; /* @aligned */
}

int main()
{
    churn();
    leak_mid();
    leak_aligned();
    return 0;
}
