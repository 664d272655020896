/*
 * test_tbuf.c - the shim's threaded core under ThreadSanitizer: per-thread buffers
 * (preload/tbuf.c), the writer and its reaper (preload/writer.c), the stack table
 * (preload/stacks.c) and the recording core (preload/shim_record.c), linked into this
 * program and built with -fsanitize=thread (tests/unit/unit.mk).
 *
 * Why not the preloaded shim itself: TSan's runtime replaces malloc, free and the
 * thread and signal functions with its own interceptors, and must be the first object
 * the dynamic linker searches; libheapspan.so defines the same functions to interpose
 * on the program's, so one of the two would not see the calls it needs. The hooks
 * (shim_libc.c, shim_cxx.c, shim_process.c, shim_signal.c, fdguard.c) are thin and
 * single-threaded in what they do; the races live in what this program links: threads
 * appending to buffers while the writer flushes and recycles them, threads exiting,
 * and the final flush at exit. Here the threads call the recording core directly, as
 * the hooks would after the real malloc or before the real free.
 *
 * Each test runs in a forked child (the writer's state is one per process, and its
 * final flush happens once); a TSan report makes the child exit with status 66, and
 * the test fails. The shim's state that shim_start.c defines is defined here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/shim.h"
#include "preload/stacks.h"
#include "preload/tbuf.h"
#include "preload/writer.h"

/* One deliberate exception. tb_trim_idle reads each thread's in_record, which the
 * thread updates with plain stores (enter and leave in shim_record.c, on every event):
 * the read is ordered after those stores by the membarrier(2) that follows the clamp of
 * the thread's buffer, which TSan does not model. Reports of a race with that function,
 * from either side, are suppressed (it touches nothing else that threads share
 * without the tbuf lock or an atomic). */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "race:tb_trim_idle\n";
}

/* The suppression needs tb_trim_idle's side of the report, whose stack TSan restores
 * from its per-thread history: at the default size, a busy writer's read had left it
 * ("failed to restore the stack") in one run of threads_churn, and the known race was
 * reported. The largest history keeps it. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "history_size=7";
}

/* ---- the state shim_start.c would define ---- */

__thread int rt_in_shim __attribute__((tls_model("initial-exec")));
__thread int shim_pending_signal __attribute__((tls_model("initial-exec")));
__thread int shim_suppress_next __attribute__((tls_model("initial-exec")));
__thread int64_t shim_sample_left __attribute__((tls_model("initial-exec")));
struct shim_real_functions shim_real;
int shim_real_state = 2;
int shim_started = 1;
bool shim_recording;
uint64_t shim_sample_mean;
int shim_max_depth = 32;
int shim_my_pid;
struct smp_set *shim_sampled;
const struct smp_filter *shim_sampled_filter = &smp_all_maybe;
struct smp_set *shim_zero_set;
bool shim_counting_unwritten;
char shim_arena[SHIM_ARENA_BYTES];
bool shim_glibc_heap;

void shim_deliver_pending_signal(void)
{
    shim_pending_signal = 0;
}

size_t shim_usable_size_other(void *p)
{
    (void)p;
    return 0;
}

static void on_stop(void)
{
    __atomic_store_n(&shim_recording, false, __ATOMIC_RELEASE);
}

static char log_path[4096];

/* What shim_start does, minus the hooks: settings, the stack table, the log, the
 * writer thread. */
static int start(const char *name)
{
    char dir[] = "/tmp/heapspan-tbuf.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s/%s.hsl", dir, name);
    memset(&rt_cfg, 0, sizeof(rt_cfg));
    snprintf(rt_cfg.output, sizeof(rt_cfg.output), "%s", log_path);
    rt_cfg.max_depth = shim_max_depth;
    rt_cfg.quiet = true;
    rt_clock_init();
    shim_my_pid = getpid();
    wr_on_stop = on_stop;
    tb_on_buffer_full = wr_wake;
    if (tb_init() < 0 || st_init() < 0)
        return -1;
    shim_zero_set = smp_set_new(NULL, NULL, 0);
    if (shim_zero_set == NULL || wr_open(getppid()) < 0 || wr_start() < 0)
        return -1;
    __atomic_store_n(&shim_recording, true, __ATOMIC_RELEASE);
    return 0;
}

/* What shim_process.c's finish does at exit. */
static void finish(void)
{
    __atomic_store_n(&shim_recording, false, __ATOMIC_RELEASE);
    rt_in_shim++;
    shim_count_live_zeros();
    wr_finish(LF_END_EXIT);
    rt_in_shim--;
}

/* Records n malloc/free pairs of size bytes, as the hooks would. */
__attribute__((noinline)) static void pairs(long n, size_t size)
{
    for (long i = 0; i < n; i++) {
        void *p = malloc(size);
        if (p == NULL)
            continue;
        shim_note_alloc_slow(LF_FN_MALLOC, p, size);
        shim_note_free_slow(LF_FN_FREE, p);
        free(p);
    }
}

struct work {
    long pairs;
    size_t size;
};

static void *worker(void *arg)
{
    const struct work *w = arg;
    pairs(w->pairs, w->size);
    return NULL;
}

static int run_threads(int n, long n_pairs, size_t size)
{
    pthread_t t[64];
    struct work w = { n_pairs, size };
    if (n > 64)
        return -1;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, &w) != 0)
            return -1;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Runs fn in a forked child and returns its exit status (TSan's reports: 66). */
static int in_child(int (*fn)(long), long arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        exit(fn(arg));
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- the exit flush against the reaper ---- */

/* The writer's calls to tb_reap land here (-Wl,--wrap=tb_reap). Armed, the next call
 * says so and then waits until the program's final flush is done, or 300 ms: the final
 * flush then runs while the reaper is about to recycle the states it walks, the
 * interleaving that the scheduler produces only now and then. Flags, not semaphores:
 * a semaphore would order the two threads for TSan and hide the race it looks for. */
void __real_tb_reap(void);
void __wrap_tb_reap(void);

static int reap_armed, reap_entered, finish_done;

void __wrap_tb_reap(void)
{
    if (__atomic_exchange_n(&reap_armed, 0, __ATOMIC_RELAXED)) {
        __atomic_store_n(&reap_entered, 1, __ATOMIC_RELAXED);
        for (int i = 0; i < 300 && !__atomic_load_n(&finish_done, __ATOMIC_RELAXED); i++)
            sleep_ms(1);
    }
    __real_tb_reap();
}

/* Threads record and exit; as the writer next goes to reap their states, the program
 * ends. The final flush and the reaper must not both have the dead threads' states:
 * ThreadSanitizer reports it if they do. */
static int exit_while_reaping(long unused)
{
    (void)unused;
    if (start("exit") != 0)
        return 2;
    if (run_threads(16, 500, 48) != 0)
        return 3;
    __atomic_store_n(&reap_armed, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2000 && !__atomic_load_n(&reap_entered, __ATOMIC_RELAXED); i++)
        sleep_ms(1);
    finish();
    __atomic_store_n(&finish_done, 1, __ATOMIC_RELAXED);
    sleep_ms(50); /* the reaper runs now, if the final flush did not exclude it */
    struct stat st;
    if (stat(log_path, &st) != 0 || st.st_size <= LF_FILE_HDR_SIZE)
        return 4;
    unlink(log_path);
    return 0;
}

static void exit_flush_vs_reaper(void **state)
{
    (void)state;
    assert_int_equal(in_child(exit_while_reaping, 0), 0);
}

/* ---- threads coming and going ---- */

static void *flusher(void *arg)
{
    const int *stop = arg;
    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        wr_flush(); /* what an exec does */
        sleep_ms(3);
    }
    return NULL;
}

/* Waves of threads fill buffers (some past a buffer's 64 KiB) and exit, while the
 * writer flushes and reaps and another thread flushes as an exec would. */
static int churn(long unused)
{
    (void)unused;
    pthread_t f;
    int stop = 0;
    if (start("churn") != 0 || pthread_create(&f, NULL, flusher, &stop) != 0)
        return 2;
    for (int wave = 0; wave < 6; wave++) {
        if (run_threads(12, wave % 2 ? 4000 : 200, 64 + (size_t)wave) != 0)
            return 3;
        sleep_ms(wave * 30);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(f, NULL);
    pairs(100, 99);
    finish();
    unlink(log_path);
    return 0;
}

static void threads_churn(void **state)
{
    (void)state;
    assert_int_equal(in_child(churn, 0), 0);
}

/* ---- idle threads ---- */

static pthread_barrier_t idle_barrier;

static void *idler(void *arg)
{
    for (int round = 0; round < 3; round++) {
        pairs(3000, 72); /* past a page of buffer: worth trimming */
        pthread_barrier_wait(&idle_barrier);
        sleep_ms(400); /* the writer clamps, then trims, this thread's buffer */
    }
    return arg;
}

/* Threads that fill part of a buffer, go idle long enough for the writer to retire it
 * (tb_trim_idle: the clamp of `end`, then the pages dropped), and record again, three
 * times over, while the writer flushes. */
static int idle_and_back(long unused)
{
    (void)unused;
    pthread_t t[8];
    if (start("idle") != 0 || pthread_barrier_init(&idle_barrier, NULL, 8) != 0)
        return 2;
    for (int i = 0; i < 8; i++)
        if (pthread_create(&t[i], NULL, idler, NULL) != 0)
            return 3;
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    finish();
    unlink(log_path);
    return 0;
}

static void idle_threads_come_back(void **state)
{
    (void)state;
    assert_int_equal(in_child(idle_and_back, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_flush_vs_reaper),
        cmocka_unit_test(threads_churn),
        cmocka_unit_test(idle_threads_come_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
