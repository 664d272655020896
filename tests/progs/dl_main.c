/*
 * dl_main.c - dlopen LIB, call its hsdl_leak(4) and hsdl_churn(3), dlclose it, then
 * leak 1 x 34569 from after_close, for the `dlopen` integration test. Argument: the
 * library's path. Exit 0, or 2-4 when a dl call fails. No stdio.
 */
#include <dlfcn.h>
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void after_close(void)
{
    ESCAPE(malloc(34569));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return 2;
    void (*leak)(int) = (void (*)(int))dlsym(h, "hsdl_leak");
    void (*churn)(int) = (void (*)(int))dlsym(h, "hsdl_churn");
    if (leak == NULL || churn == NULL)
        return 3;
    leak(4);
    churn(3);
    if (dlclose(h) != 0)
        return 4;
    after_close();
    return 0;
}
