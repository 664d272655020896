/*
 * test_sampler.c - the sampled set's filter (preload/sampler.c): what the free hook's
 * fast path trusts alone. A member or a pinned address must read "maybe" through
 * every change of the filter: growth, removals around it, a fork's reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "preload/sampler.h"

#define N_PINS 5

static const uint64_t pins[N_PINS] = { 0x7f0000001010, 0x7f0000001030, 0x7f0000001050,
                                       0x55550000a010, 0x55550000a0f0 };

static void assert_pins_maybe(const struct smp_filter *f)
{
    for (int i = 0; i < N_PINS; i++)
        assert_true(smp_summary_says_maybe(f, pins[i]) && smp_filter_says_maybe(f, pins[i]));
}

/* Pins survive growth (20,000 members: the filter grows from 65,536 buckets twice),
 * the removal of every member, and a fork child's reset; they are never members. */
static void pins_stay_maybe(void **state)
{
    (void)state;
    const struct smp_filter *published = &smp_all_maybe;
    struct smp_set *s = smp_set_new(&published, pins, N_PINS);
    assert_non_null(s);
    const struct smp_filter *first = published;
    assert_ptr_not_equal(first, &smp_all_maybe);
    assert_pins_maybe(published);

    for (uint64_t i = 0; i < 20000; i++)
        smp_add(s, 0x600000000000 + i * 4096, 100);
    assert_ptr_not_equal(published, first); /* grown and republished */
    assert_pins_maybe(published);
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t size = 0;
        assert_true(smp_remove(s, 0x600000000000 + i * 4096, &size));
        assert_int_equal(size, 100);
    }
    assert_pins_maybe(published);
    for (int i = 0; i < N_PINS; i++) {
        uint64_t size = 0;
        assert_false(smp_remove(s, pins[i], &size));
    }
    assert_pins_maybe(published);

    smp_add(s, 0x600000000000, 7);
    smp_fork_child(s);
    assert_pins_maybe(published);
    uint64_t size = 0;
    assert_false(smp_remove(s, 0x600000000000, &size));
}

/* More pins than the set keeps: nothing is published, every address stays "maybe". */
static void too_many_pins_publish_nothing(void **state)
{
    (void)state;
    uint64_t many[SMP_MAX_PINS + 1];
    for (int i = 0; i <= SMP_MAX_PINS; i++)
        many[i] = 0x7f0000001010 + 32 * (uint64_t)i;
    const struct smp_filter *published = &smp_all_maybe;
    struct smp_set *s = smp_set_new(&published, many, SMP_MAX_PINS + 1);
    assert_non_null(s);
    for (uint64_t i = 0; i < 2000; i++)
        smp_add(s, 0x600000000000 + i * 4096, 100);
    assert_ptr_equal(published, &smp_all_maybe);
    assert_true(smp_summary_says_maybe(published, 0x123456789010));
}

/* Unpublished: a grown filter is no longer handed out. */
static void unpublish_stops_growth_publishing(void **state)
{
    (void)state;
    const struct smp_filter *published = &smp_all_maybe;
    struct smp_set *s = smp_set_new(&published, NULL, 0);
    const struct smp_filter *first = published;
    smp_unpublish(s);
    for (uint64_t i = 0; i < 20000; i++)
        smp_add(s, 0x600000000000 + i * 4096, 100);
    assert_ptr_equal(published, first);
}

/* A few live sampled blocks leave nearly every other address "certainly not": at most
 * 1 address in 1,000 reaches the count (32 members in 65,536 buckets: ~1 in 2,000).
 * The hooks meet the same few hot addresses millions of times, so a filter started
 * small (4,096 buckets: ~1 in 128) would send whole streams of frees to the mutex. */
static void few_members_few_false_alarms(void **state)
{
    (void)state;
    const struct smp_filter *published = &smp_all_maybe;
    struct smp_set *s = smp_set_new(&published, NULL, 0);
    assert_non_null(s);
    for (uint64_t i = 0; i < 32; i++)
        smp_add(s, 0x7f3a00000010 + i * 1048576, 1048576);
    int maybe = 0;
    for (uint64_t a = 0x55d000000010; a < 0x55d000000010 + 1000000 * 48; a += 48)
        maybe += smp_filter_says_maybe(published, a);
    assert_true(maybe <= 1000);
    for (uint64_t i = 0; i < 32; i++)
        assert_true(smp_filter_says_maybe(published, 0x7f3a00000010 + i * 1048576));
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
        cmocka_unit_test(unpublish_stops_growth_publishing),
        cmocka_unit_test(few_members_few_false_alarms),
        cmocka_unit_test(draws_have_the_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
