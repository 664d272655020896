/*
 * libhsdl.c - the shared library dl_main dlopens, for the `dlopen` integration test:
 * hsdl_leak(n) mallocs n blocks of 34567 bytes and keeps them; hsdl_churn(n) mallocs and
 * frees n blocks of 34568. No stdio.
 */
#include <stdlib.h>

void hsdl_leak(int n);
void hsdl_churn(int n);

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) void hsdl_leak(int n)
{
    for (int i = 0; i < n; i++)
        ESCAPE(malloc(34567));
}

__attribute__((noipa)) void hsdl_churn(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(34568);
        ESCAPE(p);
        free(p);
    }
}
