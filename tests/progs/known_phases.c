/*
 * known_phases.c - two phases of allocations one second apart, for the --from/--to
 * test in tests/report-tests.sh (which holds the same numbers; each call's "@name"
 * comment gives it the line).
 *
 *   @phase_one  1000 x 300 bytes, at once after start; live to the end
 *               sleep(1)
 *   @phase_two  700 x 500 bytes; live to the end
 *
 * A window that starts in the sleep holds phase two and nothing of phase one; one
 * that ends in it, the reverse. No stdio: nothing else allocates.
 */
#include <stdlib.h>
#include <time.h>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void phase_one(void)
{
    for (int i = 0; i < 1000; i++)
        ESCAPE(malloc(300)); /* @phase_one */
}

__attribute__((noipa)) static void phase_two(void)
{
    for (int i = 0; i < 700; i++)
        ESCAPE(malloc(500)); /* @phase_two */
}

int main(void)
{
    struct timespec pause = { 1, 0 };

    phase_one();
    while (nanosleep(&pause, &pause) != 0)
        ;
    phase_two();
    return 0;
}
