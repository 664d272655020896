/*
 * manythreads.c - many threads alive at once, each allocating, for the thread-scale
 * tests (run-integration.sh `manythreads`, tests/stress.sh). No stdio.
 *
 * usage: manythreads THREADS PAIRS SIZE [RSSFILE|- [STACK_KIB [ROUNDS]]]
 *
 * Starts THREADS threads (stacks of STACK_KIB KiB, default 256). In each of ROUNDS
 * rounds (default 1) every thread does PAIRS malloc(SIZE)/free pairs and waits until
 * all have; between rounds all threads are alive and idle for 400 ms (a profiler may
 * retire their buffers meanwhile, and must cope with their coming back). After the
 * last round each thread mallocs SIZE + 1 bytes and keeps the block; once all have,
 * main waits 1 s, writes "RSS_KIB THREADS\n" to RSSFILE (its VmRSS from
 * /proc/self/status; "-": no file, no wait), lets the threads go, and joins them.
 * Exit status 0 when every step worked, 3 when a thread could not be created.
 *
 * Built twice (tests.mk): manythreads, and manythreads_nofp, whose stacks the shim
 * must take through libunwind's tracer (HS_COUNTER_IN_MEMORY below).
 *
 * Known by construction: THREADS x PAIRS x ROUNDS allocations and frees of SIZE bytes,
 * and THREADS allocations of SIZE + 1 bytes, live at the end.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

static pthread_barrier_t idle, go;
static long pairs;
static size_t size;
static int rounds;

__attribute__((noipa)) static void *worker(void *arg)
{
    (void)arg;
    for (int r = 0; r < rounds; r++) {
        /* manythreads_nofp (tests.mk): no frame pointers, and a loop counter in memory,
         * so that every stack walk's bytes differ and go through libunwind's tracer. */
#ifdef HS_COUNTER_IN_MEMORY
        volatile long i;
        for (i = 0; i < pairs; i++) {
#else
        for (long i = 0; i < pairs; i++) {
#endif
            void *p = malloc(size);
            ESCAPE(p);
            free(p);
        }
        if (r + 1 < rounds) {
            pthread_barrier_wait(&idle);
            pthread_barrier_wait(&go);
        }
    }
    ESCAPE(malloc(size + 1));
    pthread_barrier_wait(&idle);
    pthread_barrier_wait(&go);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec wait = { ms / 1000, (ms % 1000) * 1000 * 1000 };
    nanosleep(&wait, NULL);
}

/* VmRSS in KiB, from /proc/self/status, without stdio's allocations. */
static long rss_kib(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strstr(buf, "\nVmRSS:");
    return p != NULL ? strtol(p + 7, NULL, 10) : -1;
}

static int write_rss(const char *path, long rss, int threads)
{
    char line[64];
    int len = snprintf(line, sizeof(line), "%ld %d\n", rss, threads);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, line, (size_t)len) == len;
    return close(fd) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int n = atoi(argv[1]);
    pairs = atol(argv[2]);
    size = (size_t)atol(argv[3]);
    const char *rss_path = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    size_t stack = (argc > 5 ? (size_t)atol(argv[5]) : 256) * 1024;
    rounds = argc > 6 ? atoi(argv[6]) : 1;
    if (n < 1 || pairs < 0 || size < 1 || rounds < 1)
        return 2;

    /* mmap'd rather than malloc'd: main's own allocations would blur the counts. */
    static pthread_t threads[100000];
    if (n > (int)(sizeof(threads) / sizeof(threads[0])))
        return 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pthread_attr_setstacksize(&attr, stack) != 0)
        return 2;
    pthread_barrier_init(&idle, NULL, (unsigned)n + 1);
    pthread_barrier_init(&go, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], &attr, worker, NULL) != 0)
            return 3;
    for (int r = 1; r < rounds; r++) {
        pthread_barrier_wait(&idle);
        sleep_ms(400);
        pthread_barrier_wait(&go);
    }
    pthread_barrier_wait(&idle);
    int bad = 0;
    if (rss_path != NULL) {
        sleep_ms(1000);
        bad = write_rss(rss_path, rss_kib(), n) != 0;
    }
    pthread_barrier_wait(&go);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    return bad ? 4 : 0;
}
