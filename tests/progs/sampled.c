/*
 * sampled.c - a workload of known bytes for the `sample` integration test (run with
 * --sample 4096). No stdio. sample_small: 200000 x malloc(1000) + free; sample_big:
 * 100 x malloc(100000) + free. 210,000,000 bytes in all, nothing live at exit.
 */
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void sample_small(void)
{
    for (int i = 0; i < 200000; i++) {
        void *p = malloc(1000);
        ESCAPE(p);
        free(p);
    }
}

__attribute__((noipa)) static void sample_big(void)
{
    for (int i = 0; i < 100; i++) {
        void *p = malloc(100000);
        ESCAPE(p);
        free(p);
    }
}

int main(void)
{
    sample_small();
    sample_big();
    return 0;
}
