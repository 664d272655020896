/*
 * test_stackhash.c - the stack hash taken in pieces (preload/stackhash.h): a stack's
 * hash must not depend on how its frames were split, or the same stack, built once
 * whole and once on a kept outer part (preload/pystacks.c), would be two entries of
 * the stack table; and stacks that differ in one frame, in their order or in depth
 * must differ in hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "preload/stackhash.h"

#define MAX 70

static void fill(uint64_t *pcs, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        pcs[i] = 0x7f0000000000ull + (seed >> 20);
    }
}

/* Every depth up to 70, split in two at every point and in three at every pair of
 * points: the outer part taken first, as py_augment does with its kept tail. */
static void pieces_give_the_whole(void **state)
{
    (void)state;
    uint64_t pcs[MAX];
    for (int n = 0; n <= MAX; n++) {
        fill(pcs, n, (uint64_t)n + 1);
        uint64_t whole = sh_hash(pcs, n);
        assert_true(whole != 0);
        for (int a = 0; a <= n; a++) {
            struct sh_state s;
            sh_init(&s);
            sh_take(&s, pcs + a, n - a);
            sh_take(&s, pcs, a);
            assert_true(sh_end(&s) == whole);
            for (int b = a; b <= n; b++) {
                sh_init(&s);
                sh_take(&s, pcs + b, n - b);
                sh_take(&s, pcs + a, b - a);
                struct sh_state kept = s; /* a copy goes on, as the kept state does */
                sh_take(&kept, pcs, a);
                assert_true(sh_end(&kept) == whole);
            }
        }
    }
}

/* One frame changed, two frames swapped, one frame more or less: another hash. */
static void different_stacks_differ(void **state)
{
    (void)state;
    uint64_t pcs[MAX], other[MAX + 1];
    for (int n = 1; n <= MAX; n++) {
        fill(pcs, n, 1000 + (uint64_t)n);
        uint64_t h = sh_hash(pcs, n);
        for (int i = 0; i < n; i++) {
            memcpy(other, pcs, sizeof(uint64_t) * (size_t)n);
            other[i] ^= 0x10;
            assert_true(sh_hash(other, n) != h);
            if (i + 1 < n && pcs[i] != pcs[i + 1]) {
                memcpy(other, pcs, sizeof(uint64_t) * (size_t)n);
                other[i] = pcs[i + 1];
                other[i + 1] = pcs[i];
                assert_true(sh_hash(other, n) != h);
            }
        }
        assert_true(sh_hash(pcs, n - 1) != h);
        memcpy(other, pcs, sizeof(uint64_t) * (size_t)n);
        other[n] = 0x7f0000001234ull;
        assert_true(sh_hash(other, n + 1) != h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pieces_give_the_whole),
        cmocka_unit_test(different_stacks_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
