/*
 * endstress.c - every way of ending, while threads allocate (tests/stress.sh): the log
 * must hold what main allocated before the end, and the program must end as it would
 * without the shim.
 *
 * usage: endstress HOW
 * 4 threads do malloc(3001)/free pairs without end; main waits until they have done
 * 5,000 pairs between them, mallocs 10 x 8201 bytes in end_known (kept), then ends by HOW:
 *   exit      exit(3)                   _exit     _exit(4)
 *   abort     abort()                   segv      a store through a null pointer
 *   term      raise(SIGTERM)            pthread_exit
 *             main leaves by pthread_exit; the threads stop after 200 ms and return,
 *             and the process ends with status 0 when the last one has.
 * No stdio.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static long pairs;
static volatile int deadline_set;
static struct timespec deadline;

static int past_deadline(void)
{
    struct timespec now;
    if (!__atomic_load_n(&deadline_set, __ATOMIC_ACQUIRE))
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline.tv_sec ||
           (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
}

__attribute__((noipa)) static void *churn(void *arg)
{
    while (!past_deadline()) {
        void *p = malloc(3001);
        ESCAPE(p);
        free(p);
        __atomic_add_fetch(&pairs, 1, __ATOMIC_RELAXED);
    }
    return arg;
}

__attribute__((noipa)) static void end_known(void)
{
    for (int i = 0; i < 10; i++)
        ESCAPE(malloc(8201));
}

int main(int argc, char **argv)
{
    pthread_t t[4];
    if (argc < 2)
        return 2;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, churn, NULL) != 0)
            return 3;
    while (__atomic_load_n(&pairs, __ATOMIC_RELAXED) < 5000)
        sched_yield();
    end_known();
    const char *how = argv[1];
    if (!strcmp(how, "exit"))
        exit(3);
    if (!strcmp(how, "_exit"))
        _exit(4);
    if (!strcmp(how, "abort"))
        abort();
    if (!strcmp(how, "segv")) {
        volatile int *volatile np = NULL;
        *np = 1;
    }
    if (!strcmp(how, "term"))
        raise(SIGTERM);
    if (!strcmp(how, "pthread_exit")) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += 200 * 1000 * 1000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        __atomic_store_n(&deadline_set, 1, __ATOMIC_RELEASE);
        pthread_exit(NULL);
    }
    return 2;
}
