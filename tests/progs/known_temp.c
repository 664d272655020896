/*
 * known_temp.c - temporary allocations known by construction, for
 * tests/report-tests.sh (which holds the same numbers; each call's "@name" comment
 * gives it the line). A block is temporary when it is freed before its thread
 * allocated anything else.
 *
 *   @temp     250 x malloc(24), each freed at once             250 temporary
 *   @first    41 x malloc(32), each freed once the next one     0: a later allocation
 *             is made (a rolling pair); then @last              of its thread each
 *   @last     1 x malloc(48), kept                              0
 *   @worker   a second thread: malloc(777), waits while the     1: another thread's
 *             main thread allocates @between (kept), frees      allocation does not count
 *
 * By that definition a block freed after other frees, but no allocation, of its thread
 * is still temporary; heaptrack, whose term it is, and aggregate.c today count it only
 * if nothing at all happened in between. This program avoids the case: both agree here.
 *
 * 251 temporaries in all. No stdio; the thread is the only other source of
 * allocations (glibc's, for its stack and TLS), none of them temporary.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static sem_t worker_has_block, main_has_allocated;
static void *between;

__attribute__((noipa)) static void temporaries(void)
{
    for (int i = 0; i < 250; i++) {
        void *p = malloc(24); /* @temp */
        ESCAPE(p);
        free(p);
    }
}

/* Not `return malloc(...)`: gcc would make that a jump, and the site its caller. */
__attribute__((noipa)) static void *alloc_first(void)
{
    void *p = malloc(32); /* @first */

    ESCAPE(p);
    return p;
}

static void *last;

/* Frees between an allocation and its free do not matter; allocations do. */
__attribute__((noipa)) static void rolling(void)
{
    void *prev = alloc_first();

    for (int i = 0; i < 40; i++) {
        void *next = alloc_first();
        free(prev);
        prev = next;
    }
    last = malloc(48); /* @last */
    ESCAPE(last);
    free(prev);
}

__attribute__((noipa)) static void *worker(void *arg)
{
    void *p = malloc(777); /* @worker */

    (void)arg;
    ESCAPE(p);
    sem_post(&worker_has_block);
    sem_wait(&main_has_allocated);
    free(p);
    return NULL;
}

__attribute__((noipa)) static void other_thread(void)
{
    pthread_t t;

    if (pthread_create(&t, NULL, worker, NULL) != 0)
        exit(2);
    sem_wait(&worker_has_block);
    between = malloc(555); /* @between */
    ESCAPE(between);
    sem_post(&main_has_allocated);
    pthread_join(t, NULL);
}

int main(void)
{
    sem_init(&worker_has_block, 0, 0);
    sem_init(&main_has_allocated, 0, 0);
    temporaries();
    rolling();
    other_thread();
    return 0;
}
