/* common.h - small functions shared by the benchmark workloads. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>

/* xorshift64: fast, deterministic pseudo-random numbers. */
static inline uint64_t xs64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Size argument: argv[i] if given (accepts 1e6-style too), else dflt. */
static inline long arg_long(int argc, char **argv, int i, long dflt)
{
    return argc > i ? (long)strtod(argv[i], NULL) : dflt;
}

/* Peak RSS of this process in KiB, as the kernel reports it. */
static inline long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* CPU seconds (user + sys) this process has used so far: under a profiler
 * whose work happens partly in other processes, this is the in-process part. */
static inline double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* GCC deletes allocations whose memory is never used (malloc/free pairs,
 * and leaks whose pointer is dropped).  Storing the pointer through a
 * volatile makes it escape, so the call really happens. */
static void *volatile bench_sink;
#define ESCAPE(p) (bench_sink = (void *)(p))

/* Keep the compiler from turning recursion into a loop / tail call. */
#define NO_TAILCALL() __asm__ volatile("" ::: "memory")

#endif
