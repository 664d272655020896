/*
 * je_direct.c - jemalloc's own API called directly (linked with -ljemalloc), for the
 * `jemalloc_api` integration test. No stdio. Three rounds of:
 *
 *   p = mallocx(5001, 0)                 fn=mallocx size=5001 (size class 5120)
 *   xallocx(p, 5100, 0, 0)               resized in place within the class: fn=xallocx
 *                                        size=5100
 *   xallocx(p, 1 MiB, 0, 0)              cannot grow in place: no event
 *   p = rallocx(p, 9001, 0)              fn=rallocx size=9001
 *   sdallocx(p, 9001, 0)                 free fn=dallocx
 *   q = mallocx(5003, MALLOCX_ZERO)      fn=mallocx size=5003
 *   dallocx(q, 0)                        free fn=dallocx
 *   r = malloc(5007); free(r)            fn=malloc, free fn=free
 *
 * then je_api_leak: mallocx(5005, MALLOCX_ALIGN(4096)), never freed. Totals: 16
 * allocation events (7 mallocx, 3 xallocx, 3 rallocx, 3 malloc), 15 frees (6 dallocx,
 * 3 free, and the old side of 3 xallocx and 3 rallocx), 1 block live.
 */
#include <jemalloc/jemalloc.h>
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static int je_api_round(void)
{
    void *p = mallocx(5001, 0);
    if (p == NULL)
        return 1;
    ESCAPE(p);
    if (xallocx(p, 5100, 0, 0) < 5100)
        return 2;
    if (xallocx(p, 1 << 20, 0, 0) >= (size_t)1 << 20)
        return 3;
    p = rallocx(p, 9001, 0);
    if (p == NULL)
        return 4;
    ESCAPE(p);
    sdallocx(p, 9001, 0);

    void *q = mallocx(5003, MALLOCX_ZERO);
    if (q == NULL)
        return 5;
    ESCAPE(q);
    dallocx(q, 0);

    void *r = malloc(5007);
    ESCAPE(r);
    free(r);
    return 0;
}

__attribute__((noipa)) static void je_api_leak(void)
{
    ESCAPE(mallocx(5005, MALLOCX_ALIGN(4096)));
}

int main(void)
{
    for (int i = 0; i < 3; i++) {
        int r = je_api_round();
        if (r != 0)
            return 10 + r;
    }
    je_api_leak();
    return 0;
}
