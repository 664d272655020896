/* own_malloc.c - an executable that defines malloc itself (as a program with an
 * allocator linked in statically does): the dynamic linker binds every malloc call in
 * the process to it, ahead of the shim, which so sees none. A bump allocator over a
 * static arena; free does nothing. The report must say "the program's own malloc". No
 * stdio, no thread: only glibc's own calls, if any, use it besides main.
 */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

static _Alignas(16) char arena[1 << 20];
static size_t used;

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);

void *malloc(size_t n)
{
    if (used + n + 16 > sizeof(arena))
        return NULL;
    char *p = arena + used;
    memcpy(p, &n, sizeof(n));
    used += (n + 16 + 15) & ~(size_t)15;
    return p + 16;
}

void *calloc(size_t n, size_t size)
{
    void *p = malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    void *q = malloc(n);
    if (p != NULL && q != NULL) {
        size_t old;
        memcpy(&old, (char *)p - 16, sizeof(old));
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

void free(void *p)
{
    (void)p;
}

int main(void)
{
    for (int i = 0; i < 100; i++) {
        char *volatile p = malloc(64);
        p[0] = (char)i;
        free(p);
    }
    return write(1, "own_malloc: done\n", 17) == 17 ? 0 : 1;
}
