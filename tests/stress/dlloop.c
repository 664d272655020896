/*
 * dlloop.c - dlopen and dlclose in a loop, from two threads at once, with calls into the
 * library in between (tests/stress.sh): each dlclose makes the shim rescan the module
 * map and forget what it learnt of unloaded code while the other thread walks stacks.
 *
 * usage: dlloop LIB LOOPS
 * Each of 2 threads, LOOPS times: dlopen LIB (tests/progs/libhsdl.c), hsdl_leak(1)
 * (one 34567-byte block, kept), hsdl_churn(2) (two 34568-byte blocks, freed), dlclose.
 * Known by construction: 2 x LOOPS allocations of 34567 bytes, live at the end; 4 x
 * LOOPS of 34568, freed. Exit status 0, or 3 when a dl call failed. No stdio.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

static const char *lib;
static long loops;
static int bad;

static void *loop(void *arg)
{
    for (long i = 0; i < loops; i++) {
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        void (*leak)(int) = h != NULL ? (void (*)(int))dlsym(h, "hsdl_leak") : NULL;
        void (*churn)(int) = h != NULL ? (void (*)(int))dlsym(h, "hsdl_churn") : NULL;
        if (leak == NULL || churn == NULL) {
            __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
            return arg;
        }
        leak(1);
        churn(2);
        if (dlclose(h) != 0)
            __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
    }
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t t[2];
    if (argc < 3)
        return 2;
    lib = argv[1];
    loops = atol(argv[2]);
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, loop, NULL) != 0)
            return 3;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return bad ? 3 : 0;
}
