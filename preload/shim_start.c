/*
 * shim_start.c - start-up: the bootstrap arena, the real functions, and the two phases
 * that turn recording on. It defines the state shim.h declares.
 *
 * Start-up runs in two phases. Phase A (the first hooked call, or the constructor if it
 * comes first) resolves the real functions, reads the settings and opens the log, so
 * allocations made by other libraries' constructors are seen. Phase B (our constructor)
 * does what is unsafe from inside an arbitrary malloc call: module scan, signal
 * handlers, fork handlers and the writer thread.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/settings.h"
#include "preload/fdguard.h"
#include "preload/memwatch.h"
#include "preload/modmap.h"
#include "preload/pystacks.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/shim.h"
#include "preload/stacks.h"
#include "preload/tbuf.h"
#include "preload/writer.h"

/* The state shim.h declares, defined together here: the flags every slow path reads
 * (shim_real_state to shim_zero_set) then share a cache line, next to shim_real. */
__thread int rt_in_shim __attribute__((tls_model("initial-exec")));
__thread int shim_pending_signal __attribute__((tls_model("initial-exec")));
__thread int shim_suppress_next __attribute__((tls_model("initial-exec")));
__thread int64_t shim_sample_left __attribute__((tls_model("initial-exec")));

struct shim_real_functions shim_real;

int shim_real_state;
int shim_started;
static bool late_done; /* phase B */
bool shim_recording;
uint64_t shim_sample_mean;
int shim_max_depth;
int shim_my_pid;
struct smp_set *shim_sampled;
const struct smp_filter *shim_sampled_filter = &smp_all_maybe;
struct smp_set *shim_zero_set;
bool shim_counting_unwritten;

/* For good: every free takes the slow path (see shim_arena_alloc). */
static void unpin_filter(void)
{
    smp_unpublish(shim_sampled);
    __atomic_store_n(&shim_sampled_filter, &smp_all_maybe, __ATOMIC_RELEASE);
}

/* ---- bootstrap arena: dlsym() may calloc before the real allocator is known ---- */

_Alignas(64) char shim_arena[SHIM_ARENA_BYTES];
static size_t arena_used;

/* Sampled mode's free hook trusts the filter alone, so arena blocks are pinned into
 * it (sampler.h) when the set is made. The lock orders that against a late arena
 * allocation: a thread that saw the real allocator unresolved while another resolved
 * it and started. That block cannot be pinned any more, and sampled mode falls back
 * to the slow path for every free. Signals are blocked while it is held, so that a
 * handler's allocation cannot spin on its own thread's lock. */
static bool arena_lock, arena_pinned;

static void arena_acquire(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
    while (__atomic_test_and_set(&arena_lock, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void arena_release(const sigset_t *old)
{
    __atomic_clear(&arena_lock, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

void *shim_arena_alloc(size_t size)
{
    size_t need = ((size + 15) & ~(size_t)15) + 16;
    void *p = NULL;
    sigset_t mask;

    arena_acquire(&mask);
    if (size <= SHIM_ARENA_BYTES && arena_used + need <= SHIM_ARENA_BYTES) {
        memcpy(shim_arena + arena_used, &size, sizeof(size));
        p = shim_arena + arena_used + 16; /* arena memory is static, hence zeroed: calloc-ready */
        arena_used += need;
    }
    bool late = p != NULL && arena_pinned;
    arena_release(&mask);
    if (SHIM_UNLIKELY(late))
        unpin_filter();
    return p;
}

/* The arena's blocks, for pinning (under the arena lock): how many there are (any
 * number), at most cap of them in pins[]. */
static unsigned arena_blocks(uint64_t *pins, unsigned cap)
{
    unsigned n = 0;

    for (size_t at = 0; at < arena_used; n++) {
        size_t size;
        memcpy(&size, shim_arena + at, sizeof(size));
        if (n < cap)
            pins[n] = (uint64_t)(uintptr_t)(shim_arena + at + 16);
        at += ((size + 15) & ~(size_t)15) + 16;
    }
    return n;
}

bool shim_glibc_heap;

/* ---- the real functions ---- */

void shim_resolve_real(void)
{
    int expect = 0;

    if (!__atomic_compare_exchange_n(&shim_real_state, &expect, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return; /* resolved, or being resolved by this very call chain */
    rt_in_shim++;
#define RESOLVE(name, symbol, ...) *(void **)&shim_real.name = dlsym(RTLD_NEXT, symbol);
    SHIM_REAL_FUNCTIONS(RESOLVE)
#undef RESOLVE
    fdg_init();
    void *libc_malloc = dlsym(RTLD_NEXT, "__libc_malloc");
    shim_glibc_heap = libc_malloc != NULL && (void *)shim_real.malloc == libc_malloc;
    rt_in_shim--;
    __atomic_store_n(&shim_real_state, 2, __ATOMIC_RELEASE);
}

/* ---- start-up ---- */

/* Counting starts before recording stops: a hook that finds recording off then finds
 * counting on, and no event falls between the two (the other order lost one in about
 * a hundred runs of the disk_full test, under load). While both are on, a hook records:
 * it counts only on its not-recording path. */
static void on_writer_stop(void)
{
    __atomic_store_n(&shim_counting_unwritten, true, __ATOMIC_SEQ_CST);
    __atomic_store_n(&shim_recording, false, __ATOMIC_SEQ_CST);
}

static void on_writer_tick(void)
{
    mm_scan(false);
    py_detect(); /* a libpython loaded since (dlopen): once found, a load and a return */
    mw_tick();
}

/* The program's last thread has exited (writer.h): glibc ends a process whose last
 * thread leaves by pthread_exit with exit(0), atexit handlers and all, and so does this,
 * from the writer thread. From here on it is the program's last thread: what the exit
 * handlers allocate and free is recorded, and the final flush is the normal one (it
 * cycles no more, so nothing waits for it). Its signals stay blocked: the program is
 * gone, and a signal sent now is one it would never have seen. */
static void on_program_gone(void)
{
    rt_in_shim = 0;
    exit(0);
}

/* Phase A. */
void shim_start(void)
{
    int expect = 0;
    uint64_t lo, hi;

    if (environ == NULL)
        return; /* libc not initialised yet: its settings are unreadable; next call */
    if (!__atomic_compare_exchange_n(&shim_started, &expect, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    rt_in_shim++;
    rt_config_load();
    rt_clock_init();
    shim_my_pid = getpid();
    shim_sample_mean = rt_cfg.sample_bytes > 1 ? rt_cfg.sample_bytes : 0;
    shim_max_depth = rt_cfg.max_depth;
    wr_on_stop = on_writer_stop;
    wr_on_tick = on_writer_tick;
    wr_on_program_gone = on_program_gone;
    tb_on_buffer_full = wr_wake;
    if (tb_init() < 0 || st_init() < 0) {
        rt_say("cannot set up (out of memory); not recording", NULL);
        goto out;
    }
    if (mm_range_of((const void *)(uintptr_t)&shim_start, &lo, &hi))
        st_set_self_range(lo, hi);
    if (shim_sample_mean != 0) {
        uint64_t pins[SMP_MAX_PINS];
        sigset_t mask;
        arena_acquire(&mask); /* a new arena block from now on unpins (shim_arena_alloc) */
        shim_sampled = smp_set_new(&shim_sampled_filter, pins, arena_blocks(pins, SMP_MAX_PINS));
        arena_pinned = shim_sampled != NULL;
        arena_release(&mask);
    } else {
        shim_zero_set = smp_set_new(NULL, NULL, 0);
    }
    if ((shim_sample_mean != 0 && shim_sampled == NULL) ||
        (shim_sample_mean == 0 && shim_zero_set == NULL))
        goto out;
    if (wr_open(getppid()) < 0)
        goto out;
    shim_recording = true;
out:
    rt_in_shim--;
}

/* LD_PRELOAD without the shim, for --no-follow-children: edited in place (no
 * allocation), so children the program execs run without it. */
static void drop_self_from_preload(void)
{
    Dl_info info;
    char *env = getenv("LD_PRELOAD");

    if (env == NULL || !dladdr((void *)(uintptr_t)&drop_self_from_preload, &info) ||
        info.dli_fname == NULL)
        return;
    const char *self = strrchr(info.dli_fname, '/');
    self = self != NULL ? self + 1 : info.dli_fname;
    char *out = env;
    for (char *p = env; *p != '\0';) {
        while (*p == ' ' || *p == ':')
            p++;
        char *tok = p;
        while (*p != '\0' && *p != ' ' && *p != ':')
            p++;
        size_t len = (size_t)(p - tok);
        const char *base = tok;
        for (char *q = tok; q < p; q++)
            if (*q == '/')
                base = q + 1;
        if (len == 0 ||
            ((size_t)(p - base) == strlen(self) && !memcmp(base, self, (size_t)(p - base))))
            continue;
        if (out != env)
            *out++ = ':';
        memmove(out, tok, len);
        out += len;
    }
    *out = '\0';
}

/* Phase B. */
__attribute__((constructor)) static void shim_init(void)
{
    shim_ensure_ready();
    if (late_done || !shim_recording)
        return;
    late_done = true;
    rt_in_shim++;
    (void)tb_self(); /* the main thread's state, whose exit the writer watches for */
    mm_scan(true);
    py_detect();
    shim_install_signal_handlers();
    shim_install_fork_handlers();
    if (rt_cfg.root_pid == 0) {
        char pid[24];
        *rt_fmt_u64(pid, (uint64_t)shim_my_pid) = '\0';
        setenv(HS_ENV_ROOT_PID, pid, 0);
        /* And for this image's forked children, which never read the environment
         * again: without it they took themselves for the root of the run, and each took
         * the configured name with a "-N" suffix instead of ".PID". */
        rt_cfg.root_pid = shim_my_pid;
    }
    if (!rt_cfg.follow_children)
        drop_self_from_preload();
    wr_start();
    rt_in_shim--;
}
