/* tbuf.c - see tbuf.h. */
#include "preload/tbuf.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload/rt.h"
#include "preload/stacks.h"

#define STACK_CACHE_SLOTS  4096 /* must match stacks.c */
#define CACHE_BYTES        (STACK_CACHE_SLOTS * sizeof(void *))
#define THREAD_STATE_BYTES (sizeof(struct tb_thread) + CACHE_BYTES + st_thread_size())
#define PAGE               4096u
/* Filled buffers waiting for the writer that make a thread wake it early, whatever its
 * own count (TB_WAKE_BUFFERS): hundreds of threads that each fill a few buffers would
 * otherwise leave the writer asleep until the pending limit made them all wait. */
#define PENDING_WAKE 128
/* Written buffers, and states of threads gone, kept for reuse; the rest are unmapped,
 * so that memory goes back to the system when threads exit (4 MiB of buffers). */
#define POOL_KEEP   64
#define STATES_KEEP 64
/* How long a thread whose buffer filled waits for the writer before its event is dropped
 * and counted: a second once the writer's write() has not returned for that long (a
 * stuck disk must not stall the program for good), ten while the writer releases nothing
 * for any other reason. A writer merely short of CPU - hundreds of busy threads, a loaded
 * machine - is waited for: 600 threads filling buffers on a loaded 2-core machine left it
 * without a release for over a second. */
#define STUCK_WRITE_NS 1000000000ull
#define WRITE_CPU_NS   100000ull /* CPU a write blocked on a disk does not use in a second */
#define NO_PROGRESS_NS 10000000000ull

enum { IDLE_WATCHING, IDLE_CLAMPED, IDLE_TRIMMED };

__thread struct tb_thread *tb_current_thread __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tb_thread *threads;      /* live and dead-but-unwritten states */
static struct tb_thread *free_threads; /* recycled states */
static uint64_t registrations;         /* states ever put on `threads` (tb_registrations) */
static uint64_t reaped_last_time;      /* tb_reaped_last_time */
static unsigned n_free_threads;
static struct tb_buf *free_bufs;
static unsigned n_free_bufs;
static uint64_t bufs_in_use; /* written under the lock, read without it */
static uint64_t bufs_pending;
static pthread_key_t exit_key;
static bool key_ok;
static bool membarrier_ok;

/* Threads waiting for the writer to release a pending buffer: a futex word the
 * release bumps, how many wait on it, and when the writer last released one. */
static uint32_t space_seq;
static int space_waiters;
static uint64_t last_release_ns, gave_up_ns;

void (*tb_on_buffer_full)(void);
int tb_writer_alive;
uint64_t tb_writer_blocked_since;
clockid_t tb_writer_clock;
uint64_t tb_writer_cpu_at_block;

uint64_t tb_writer_cpu_ns(void)
{
    struct timespec ts;
    clockid_t c = __atomic_load_n(&tb_writer_clock, __ATOMIC_RELAXED);
    if (c == 0 || clock_gettime(c, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether the writer's write() has not returned for STUCK_WRITE_NS while its thread used
 * no CPU: blocked in the kernel (a stuck disk, a full pipe), not merely waiting for a
 * core. 600 threads allocating on a loaded 2-core machine kept the writer off the CPU
 * for over a second in the middle of a 4 MiB write, and took it for a stuck disk. */
static bool writer_stuck_in_write(uint64_t now)
{
    uint64_t blocked = __atomic_load_n(&tb_writer_blocked_since, __ATOMIC_RELAXED);
    if (blocked == 0 || now - blocked < STUCK_WRITE_NS)
        return false;
    uint64_t at = __atomic_load_n(&tb_writer_cpu_at_block, __ATOMIC_RELAXED),
             cpu = tb_writer_cpu_ns();
    return cpu == 0 || at == 0 || cpu - at < WRITE_CPU_NS;
}

/* The main thread has left by pthread_exit (its tid is the pid). */
static int main_exited;

static void on_thread_exit(void *arg)
{
    struct tb_thread *t = arg;
    if (t->tid == getpid())
        __atomic_store_n(&main_exited, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->dead, 1, __ATOMIC_RELEASE);
}

bool tb_main_may_have_exited(void)
{
    /* Without a state (and so a key) on the main thread its exit goes unseen: maybe. */
    return __atomic_load_n(&main_exited, __ATOMIC_ACQUIRE) || !key_ok;
}

int tb_init(void)
{
    key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
    /* Registration is for the process (and again in a forked child, tb_fork_child). */
    membarrier_ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    return 0;
}

static void count_in_use(int delta)
{
    __atomic_store_n(&bufs_in_use, bufs_in_use + (uint64_t)(int64_t)delta, __ATOMIC_RELAXED);
}

/* A buffer from the pool or a new mapping; under the lock. */
static struct tb_buf *buf_take_locked(void)
{
    struct tb_buf *b = free_bufs;

    if (b != NULL) {
        free_bufs = b->next;
        n_free_bufs--;
    } else {
        b = rt_map(TB_BUF_BYTES);
        if (b == NULL)
            return NULL;
    }
    __atomic_store_n(&b->next, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&b->committed, 0, __ATOMIC_RELAXED);
    b->flushed = 0;
    b->cap = TB_BUF_BYTES - (uint32_t)sizeof(struct tb_buf);
    b->flags &= ~TB_BUF_TRIMMED;
    count_in_use(1);
    return b;
}

/* Puts a buffer no thread holds any more back in the pool, under the lock; returns it if
 * the pool is full and it should be unmapped (after the lock is released). */
static struct tb_buf *buf_put_locked(struct tb_buf *b)
{
    count_in_use(-1);
    if (n_free_bufs >= POOL_KEEP)
        return b;
    if (b->committed + sizeof(*b) > PAGE && !(b->flags & TB_BUF_TRIMMED))
        b->flags |= TB_BUF_WARM;
    b->next = free_bufs;
    free_bufs = b;
    n_free_bufs++;
    return NULL;
}

static void futex_wait(uint32_t *word, uint32_t seen, uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

/* The next buffer for a thread whose current one is full. That one now waits for the
 * writer; past TB_PENDING_LIMIT of those, wait for the writer to release some - unless
 * there is no writer, or it looks stuck (STUCK_WRITE_NS): then the event is dropped and
 * counted. Each release wakes one waiter (waking all made hundreds of threads fight for
 * every buffer). */
static struct tb_buf *buf_next(void)
{
    uint64_t start = 0;

    for (;;) {
        pthread_mutex_lock(&lock);
        if (bufs_pending < TB_PENDING_LIMIT) {
            struct tb_buf *b = buf_take_locked();
            if (b != NULL)
                __atomic_store_n(&bufs_pending, bufs_pending + 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&lock);
            return b; /* NULL only if no memory could be mapped */
        }
        uint32_t seen = __atomic_load_n(&space_seq, __ATOMIC_RELAXED);
        __atomic_add_fetch(&space_waiters, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&lock);

        if (tb_on_buffer_full != NULL)
            tb_on_buffer_full();
        uint64_t now = rt_monotonic_ns();
        if (start == 0)
            start = now;
        /* Once a thread has given up, the others do not wait again until the writer
         * has released a buffer since: a stuck writer costs the program one wait. */
        uint64_t released = __atomic_load_n(&last_release_ns, __ATOMIC_RELAXED);
        bool stuck = !__atomic_load_n(&tb_writer_alive, __ATOMIC_RELAXED) ||
                     writer_stuck_in_write(now) ||
                     now - (released > start ? released : start) >= NO_PROGRESS_NS ||
                     released < __atomic_load_n(&gave_up_ns, __ATOMIC_RELAXED);
        if (!stuck)
            futex_wait(&space_seq, seen, 10000000);
        __atomic_sub_fetch(&space_waiters, 1, __ATOMIC_RELAXED);
        if (stuck) {
            __atomic_store_n(&gave_up_ns, now, __ATOMIC_RELAXED);
            return NULL;
        }
    }
}

void tb_buf_release(struct tb_buf *b)
{
    pthread_mutex_lock(&lock);
    __atomic_store_n(&bufs_pending, bufs_pending - 1, __ATOMIC_RELAXED);
    struct tb_buf *unmap = buf_put_locked(b);
    bool wake = __atomic_load_n(&space_waiters, __ATOMIC_RELAXED) > 0;
    __atomic_store_n(&last_release_ns, rt_monotonic_ns(), __ATOMIC_RELAXED);
    if (wake)
        __atomic_add_fetch(&space_seq, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
    if (wake)
        syscall(SYS_futex, &space_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    rt_unmap(unmap, TB_BUF_BYTES);
}

uint64_t tb_buffers_in_use(void)
{
    return __atomic_load_n(&bufs_in_use, __ATOMIC_RELAXED);
}

/* t's state is zero past its first page: just mapped, or given back when recycled
 * (tb_reap). Only what the thread needs at once is set; the stack cache and the
 * unwinder's arrays stay untouched, and cost nothing, until its captures use them. */
static void thread_reset(struct tb_thread *t, struct tb_buf *b)
{
    struct st_entry **cache = t->stack_cache;
    struct st_thread *unwind = t->unwind;

    memset(t, 0, offsetof(struct tb_thread, pcs));
    st_thread_init(unwind);
    t->stack_cache = cache;
    t->unwind = unwind;
    t->cur = b;
    t->flush_buf = b;
    t->pos = b->data;
    __atomic_store_n(&t->end, b->data + b->cap, __ATOMIC_RELAXED);
    t->tid = rt_gettid();
    t->rng = ((uint64_t)t->tid << 32) ^ rt_ticks() ^ 0x9E3779B97F4A7C15ull;
    t->zero_left = INT64_MIN;
}

/* A state is one mapping: the tb_thread, the unwinder's state, the stack cache, in the
 * order a thread comes to touch them (stacks.c orders st_thread the same way). */
static struct tb_thread *state_map(void)
{
    struct tb_thread *t = rt_map(THREAD_STATE_BYTES);

    if (t != NULL) {
        t->unwind = (struct st_thread *)(t + 1);
        t->stack_cache = (struct st_entry **)((char *)t->unwind + st_thread_size());
    }
    return t;
}

struct tb_thread *tb_self(void)
{
    struct tb_thread *t = tb_current_thread;

    if (__builtin_expect(t != NULL, 1))
        return t;

    pthread_mutex_lock(&lock);
    t = free_threads;
    if (t != NULL) {
        free_threads = t->next_thread;
        n_free_threads--;
    }
    struct tb_buf *b = buf_take_locked(); /* a thread's first buffer never waits */
    pthread_mutex_unlock(&lock);

    if (t == NULL)
        t = state_map();
    if (t == NULL || b == NULL) {
        pthread_mutex_lock(&lock);
        struct tb_buf *unmap = b != NULL ? buf_put_locked(b) : NULL;
        if (t != NULL) {
            t->next_thread = free_threads;
            free_threads = t;
            n_free_threads++;
        }
        pthread_mutex_unlock(&lock);
        rt_unmap(unmap, TB_BUF_BYTES);
        return NULL;
    }
    thread_reset(t, b);

    pthread_mutex_lock(&lock);
    t->next_thread = threads;
    threads = t;
    __atomic_add_fetch(&registrations, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);

    tb_current_thread = t;
    if (key_ok)
        pthread_setspecific(exit_key, t);
    return t;
}

bool tb_make_room(struct tb_thread *t)
{
    struct tb_buf *b = buf_next();

    if (b == NULL)
        return false;
    /* Order matters: the final committed was stored by tb_commit; next goes after. */
    __atomic_store_n(&t->cur->next, b, __ATOMIC_RELEASE);
    __atomic_store_n(&t->cur, b, __ATOMIC_RELEASE); /* the writer reads it (stop point) */
    t->pos = b->data;
    __atomic_store_n(&t->end, b->data + b->cap, __ATOMIC_RELAXED);
    if (tb_on_buffer_full != NULL &&
        (++t->filled_since_wake >= TB_WAKE_BUFFERS ||
         __atomic_load_n(&bufs_pending, __ATOMIC_RELAXED) >= PENDING_WAKE)) {
        t->filled_since_wake = 0;
        tb_on_buffer_full();
    }
    return true;
}

uint64_t tb_registrations(void)
{
    return __atomic_load_n(&registrations, __ATOMIC_ACQUIRE);
}

uint64_t tb_reaped_last_time(void)
{
    return __atomic_load_n(&reaped_last_time, __ATOMIC_RELAXED);
}

void tb_for_each(void (*fn)(struct tb_thread *t, void *arg), void *arg)
{
    pthread_mutex_lock(&lock);
    for (struct tb_thread *t = threads; t != NULL; t = t->next_thread)
        fn(t, arg);
    pthread_mutex_unlock(&lock);
}

/* ---- idle threads ---- */

static void drop_pages(uint8_t *from, uint8_t *to)
{
    uintptr_t lo = ((uintptr_t)from + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    uintptr_t hi = (uintptr_t)to & ~(uintptr_t)(PAGE - 1);
    if (lo < hi)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Drops the pages of a clamped buffer (tb_trim_idle) but the header's, and those from c
 * on that a record begun before the clamp could still be writing: none if `busy` is 0,
 * else up to TB_MAX_RECORD bytes. Everything before c is written out. */
static void trim(struct tb_buf *b, uint32_t c, int busy)
{
    uint8_t *end = (uint8_t *)b + TB_BUF_BYTES;
    uint8_t *keep_lo = end, *keep_hi = end;

    if (busy) {
        keep_lo = b->data + c;
        keep_hi = keep_lo + TB_MAX_RECORD < end ? keep_lo + TB_MAX_RECORD : end;
    }
    drop_pages((uint8_t *)b + PAGE, keep_lo);
    drop_pages(keep_hi, end);
    b->flags = (b->flags & ~TB_BUF_WARM) | TB_BUF_TRIMMED;
}

void tb_trim_idle(struct tb_thread *const *ts, size_t n)
{
    bool clamped = false;

    for (size_t i = 0; i < n; i++) {
        struct tb_thread *t = ts[i];
        if (__atomic_load_n(&t->dead, __ATOMIC_ACQUIRE))
            continue; /* reaped once written */
        /* in_record before committed. After the membarrier that followed the clamp, a
         * record begun before the clamp - the only kind that can still write into the
         * buffer - holds in_record non-zero until after it has committed; so 0 here,
         * then committed unchanged, means no byte of the buffer is written again.
         * Without the membarrier, or with a record open, the bytes it may write stay. */
        int busy = !membarrier_ok || (t->idle_state == IDLE_CLAMPED &&
                                      __atomic_load_n(&t->in_record, __ATOMIC_ACQUIRE) != 0);
        struct tb_buf *b = __atomic_load_n(&t->cur, __ATOMIC_ACQUIRE);
        uint32_t c = __atomic_load_n(&b->committed, __ATOMIC_ACQUIRE);
        if (b != t->idle_buf || c != t->idle_committed) {
            t->idle_buf = b;
            t->idle_committed = c;
            t->idle_state = IDLE_WATCHING;
            continue;
        }
        if (c != b->flushed || t->idle_state == IDLE_TRIMMED)
            continue;
        if (t->idle_state == IDLE_CLAMPED) {
            trim(b, c, busy);
            t->idle_state = IDLE_TRIMMED;
            continue;
        }
        /* Worth it only if pages past the first are resident. */
        if (!(b->flags & TB_BUF_WARM) && c + sizeof(*b) + TB_MAX_RECORD <= PAGE)
            continue;
        uint8_t *full = b->data + b->cap;
        if (__atomic_compare_exchange_n(&t->end, &full, b->data, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            t->idle_state = IDLE_CLAMPED;
            clamped = true;
        }
    }
    if (clamped && membarrier_ok)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

/* ---- threads gone ---- */

/* A dead state can be reused once all it wrote is out and its thread is really gone:
 * destructors that run after ours may still have recorded into it. */
static bool reapable(struct tb_thread *t)
{
    struct tb_buf *b = t->flush_buf;

    if (!__atomic_load_n(&t->dead, __ATOMIC_ACQUIRE))
        return false;
    if (b == NULL || __atomic_load_n(&b->next, __ATOMIC_ACQUIRE) != NULL ||
        __atomic_load_n(&b->committed, __ATOMIC_ACQUIRE) != b->flushed)
        return false;
    return syscall(SYS_tgkill, getpid(), t->tid, 0) < 0 && errno == ESRCH;
}

void tb_reap(void)
{
    struct tb_thread *gone = NULL, *keep = NULL;
    unsigned n_keep = 0;

    pthread_mutex_lock(&lock);
    for (struct tb_thread **pp = &threads; *pp != NULL;) {
        struct tb_thread *t = *pp;
        if (reapable(t)) {
            uint64_t last = __atomic_load_n(&t->last_time, __ATOMIC_RELAXED);
            if (last > reaped_last_time)
                __atomic_store_n(&reaped_last_time, last, __ATOMIC_RELAXED);
            *pp = t->next_thread;
            t->next_thread = gone;
            gone = t;
        } else {
            pp = &t->next_thread;
        }
    }
    unsigned room = n_free_threads < STATES_KEEP ? STATES_KEEP - n_free_threads : 0;
    pthread_mutex_unlock(&lock);

    /* Outside the lock: the states are off every list, and the system calls below
     * would hold up threads starting meanwhile. A kept state gives back all but its
     * first page, so that it costs a page until reused and needs no clearing then. */
    while (gone != NULL) {
        struct tb_thread *t = gone;
        gone = t->next_thread;
        pthread_mutex_lock(&lock);
        struct tb_buf *unmap = buf_put_locked(t->flush_buf);
        pthread_mutex_unlock(&lock);
        rt_unmap(unmap, TB_BUF_BYTES);
        if (n_keep < room) {
            drop_pages((uint8_t *)t + PAGE, (uint8_t *)t + THREAD_STATE_BYTES);
            t->next_thread = keep;
            keep = t;
            n_keep++;
        } else {
            rt_unmap(t, THREAD_STATE_BYTES);
        }
    }
    if (keep == NULL)
        return;
    pthread_mutex_lock(&lock);
    while (keep != NULL) {
        struct tb_thread *t = keep;
        keep = t->next_thread;
        t->next_thread = free_threads;
        free_threads = t;
        n_free_threads++;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- fork ---- */

void tb_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void tb_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void tb_fork_child(void)
{
    struct tb_thread *me = tb_current_thread;

    pthread_mutex_init(&lock, NULL);
    membarrier_ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    /* Only this thread exists now. The other states and every inherited buffer hold
     * the parent's records: drop them from view (their memory stays mapped, shared
     * copy-on-write with the parent, so dropping costs nothing real). */
    threads = NULL;
    bufs_in_use = 0;
    bufs_pending = 0;
    space_waiters = 0;
    main_exited = 0;     /* the forking thread is the child's main thread */
    tb_writer_alive = 0; /* until the child's own starts */
    tb_writer_blocked_since = 0;
    tb_writer_clock = 0;
    if (me != NULL) {
        struct tb_buf *b = buf_take_locked();
        if (b == NULL) {
            tb_current_thread = NULL;
            return;
        }
        struct st_entry **cache = me->stack_cache;
        memset(cache, 0, CACHE_BYTES);
        thread_reset(me, b);
        threads = me;
    }
}
