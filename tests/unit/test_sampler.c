/*
 * test_sampler.c - the sampled set's filter (preload/sampler.c): what the free hook's
 * fast path trusts alone. A member or a pinned address must read "maybe" through
 * every change of the filter: members added and removed around it, counts that stick,
 * a fork's reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sampler.h"

#define N_PINS 5
#define WINDOW ((uint64_t)SMP_FILTER_BUCKETS << SMP_GRANULE_SHIFT) /* 64 MiB */

static const uint64_t pins[N_PINS] = { 0x7f0000001010, 0x7f0000001030, 0x7f0000001050,
                                       0x55550000a010, 0x55550000a0f0 };

static void assert_pins_maybe(const struct smp_filter *f)
{
    for (int i = 0; i < N_PINS; i++)
        assert_true(smp_filter_says_maybe(f, pins[i]));
}

/* Pins survive 20,000 members, members in their very buckets (a multiple of 64 MiB
 * away) coming and going, the removal of every member, and a fork child's reset; they
 * are never members. */
static void pins_stay_maybe(void **state)
{
    (void)state;
    struct smp_filter published = SMP_FILTER_ALL_MAYBE;
    struct smp_set *s = smp_set_new(&published, pins, N_PINS);
    assert_non_null(s);
    assert_int_equal(published.mask, SMP_FILTER_BUCKETS - 1);
    assert_pins_maybe(&published);

    for (uint64_t i = 0; i < 20000; i++)
        smp_add(s, 0x600000000010 + i * 4096, 100);
    for (int i = 0; i < N_PINS; i++)
        smp_add(s, pins[i] + 3 * WINDOW, 64);
    assert_pins_maybe(&published);
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t size = 0;
        assert_true(smp_remove(s, 0x600000000010 + i * 4096, &size));
        assert_int_equal(size, 100);
    }
    for (int i = 0; i < N_PINS; i++) {
        uint64_t size = 0;
        assert_true(smp_remove(s, pins[i] + 3 * WINDOW, &size));
        assert_false(smp_remove(s, pins[i], &size));
    }
    assert_pins_maybe(&published);
    assert_false(smp_filter_says_maybe(&published, 0x600000000010));

    smp_add(s, 0x600000000010, 7);
    smp_fork_child(s);
    assert_pins_maybe(&published);
    assert_false(smp_filter_says_maybe(&published, 0x600000000010));
    uint64_t size = 0;
    assert_false(smp_remove(s, 0x600000000010, &size));
}

/* More pins than the set keeps: nothing is published, every address stays "maybe". */
static void too_many_pins_publish_nothing(void **state)
{
    (void)state;
    uint64_t many[SMP_MAX_PINS + 1];
    for (int i = 0; i <= SMP_MAX_PINS; i++)
        many[i] = 0x7f0000001010 + 32 * (uint64_t)i;
    struct smp_filter published = SMP_FILTER_ALL_MAYBE;
    struct smp_set *s = smp_set_new(&published, many, SMP_MAX_PINS + 1);
    assert_non_null(s);
    for (uint64_t i = 0; i < 2000; i++)
        smp_add(s, 0x600000000010 + i * 4096, 100);
    assert_int_equal(published.mask, 0);
    assert_true(smp_filter_says_maybe(&published, 0x123456789010));
    uint64_t size = 0;
    assert_true(smp_remove(s, 0x600000000010, &size)); /* the set itself works */
}

/* A published filter turned to "maybe" for good (a late bootstrap block) stays so, with
 * the set still adding and removing behind it. */
static void all_maybe_is_for_good(void **state)
{
    (void)state;
    struct smp_filter published = SMP_FILTER_ALL_MAYBE;
    struct smp_set *s = smp_set_new(&published, NULL, 0);
    assert_false(smp_filter_says_maybe(&published, 0x55d000000010));
    smp_filter_all_maybe(&published);
    for (uint64_t i = 0; i < 1000; i++)
        smp_add(s, 0x600000000010 + i * 4096, 100);
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t size = 0;
        assert_true(smp_remove(s, 0x600000000010 + i * 4096, &size));
    }
    assert_true(smp_filter_says_maybe(&published, 0x55d000000010));
    assert_true(smp_filter_says_maybe(&published, 0x600000000010));
}

/* A bucket's count: members a multiple of 64 MiB apart share it, and each removal
 * leaves it "maybe" while one is left; 255 members make it stick ("maybe" for good). */
static void shared_buckets_count_and_stick(void **state)
{
    (void)state;
    struct smp_filter published = SMP_FILTER_ALL_MAYBE;
    struct smp_set *s = smp_set_new(&published, NULL, 0);
    uint64_t base = 0x7f3a00000040, size = 0;
    for (uint64_t i = 0; i < 3; i++)
        smp_add(s, base + i * WINDOW, 16);
    for (uint64_t i = 0; i < 3; i++) {
        assert_true(smp_filter_says_maybe(&published, base));
        assert_true(smp_remove(s, base + i * WINDOW, &size));
    }
    assert_false(smp_filter_says_maybe(&published, base));

    uint64_t other = base + 0x100;
    for (uint64_t i = 0; i < 300; i++)
        smp_add(s, other + i * WINDOW, 16);
    for (uint64_t i = 0; i < 300; i++)
        assert_true(smp_remove(s, other + i * WINDOW, &size));
    assert_true(smp_filter_says_maybe(&published, other)); /* stuck */
    assert_false(smp_filter_says_maybe(&published, other + 16));
    assert_true(smp_filter_says_maybe(&published, 0x7f3a00000000)); /* bucket 0 */
}

/* A few live sampled blocks leave every other address of their 64 MiB windows
 * "certainly not", hot neighbours included: of 1,000,000 blocks 48 bytes apart in one
 * window, only those at a member's own address mod 64 MiB can read "maybe" (here at
 * most 32). The hooks meet the same few hot addresses millions of times; with a hashed
 * filter one unlucky hot address sent a whole stream of frees to the mutex. */
static void few_members_few_false_alarms(void **state)
{
    (void)state;
    struct smp_filter published = SMP_FILTER_ALL_MAYBE;
    struct smp_set *s = smp_set_new(&published, NULL, 0);
    assert_non_null(s);
    for (uint64_t i = 0; i < 32; i++)
        smp_add(s, 0x7f3a00000020 + i * 1048576, 1048576);
    int maybe = 0;
    for (uint64_t a = 0x55d000000010; a < 0x55d000000010 + 1000000 * 48; a += 48)
        maybe += smp_filter_says_maybe(&published, a);
    assert_true(maybe <= 32);
    for (uint64_t i = 0; i < 32; i++) {
        uint64_t m = 0x7f3a00000020 + i * 1048576;
        assert_true(smp_filter_says_maybe(&published, m));
        assert_false(smp_filter_says_maybe(&published, m + 16));
        assert_false(smp_filter_says_maybe(&published, m - 16));
    }
}

/* The countdown's draws: exponential with the given mean (the first moment within
 * 5 standard errors over 100,000 draws), never below 1. */
static void draws_have_the_mean(void **state)
{
    (void)state;
    uint64_t rng = 0x9E3779B97F4A7C15ull, mean = 524288;
    double sum = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        int64_t d = smp_draw(&rng, mean);
        assert_true(d >= 1);
        sum += (double)d;
    }
    double se = (double)mean / 316.227766; /* sd = mean; / sqrt(n) */
    assert_true(sum / n > mean - 5 * se && sum / n < mean + 5 * se);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pins_stay_maybe),
        cmocka_unit_test(too_many_pins_publish_nothing),
        cmocka_unit_test(all_maybe_is_for_good),
        cmocka_unit_test(shared_buckets_count_and_stick),
        cmocka_unit_test(few_members_few_false_alarms),
        cmocka_unit_test(draws_have_the_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
