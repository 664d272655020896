/* fake_allocs.c - a program that defines, and allocates through, the entry points of
 * allocators the shim cannot see, as if they were linked in: tikv-jemallocator's
 * _rjem_malloc, mimalloc's mi_malloc, tcmalloc's tc_malloc, a jemalloc built with the
 * je_ prefix, and jemalloc's mallocx in the executable. Each hands out bytes of one
 * static arena; no call reaches malloc. The report must name all five allocators
 * (analyzer/allocdetect.c) and tell how to see their calls. No stdio.
 */
#include <stddef.h>
#include <unistd.h>

static char arena[1 << 16];
static size_t used;

static void *take(size_t n)
{
    void *p = arena + used;
    used += (n + 15) & ~(size_t)15;
    return p;
}

/* Exported (the test program is not PIE-hidden): the names are the point. */
void *_rjem_malloc(size_t n);
void *mi_malloc(size_t n);
void *tc_malloc(size_t n);
void *je_malloc(size_t n);
void *mallocx(size_t n, int flags);

__attribute__((noinline)) void *_rjem_malloc(size_t n)
{
    return take(n);
}

__attribute__((noinline)) void *mi_malloc(size_t n)
{
    return take(n);
}

__attribute__((noinline)) void *tc_malloc(size_t n)
{
    return take(n);
}

__attribute__((noinline)) void *je_malloc(size_t n)
{
    return take(n);
}

__attribute__((noinline)) void *mallocx(size_t n, int flags)
{
    (void)flags;
    return take(n);
}

int main(void)
{
    char *p[5] = { _rjem_malloc(10), mi_malloc(20), tc_malloc(30), je_malloc(40), mallocx(50, 0) };
    for (int i = 0; i < 5; i++)
        p[i][0] = (char)i;
    return write(1, "fake_allocs: done\n", 18) == 18 ? 0 : 1;
}
