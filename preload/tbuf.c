/* tbuf.c - see tbuf.h. */
#include "preload/tbuf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload/rt.h"
#include "preload/stacks.h"

#define STACK_CACHE_SLOTS  4096 /* must match stacks.c */
#define CACHE_BYTES        (STACK_CACHE_SLOTS * sizeof(void *))
#define THREAD_STATE_BYTES (sizeof(struct tb_thread) + CACHE_BYTES + st_thread_size())
/* 512 x 64 KiB = 32 MiB of unwritten records before allocating threads wait for the
 * writer: the bound on what profiling adds to the host's memory when more threads
 * allocate than there are cores for them and the writer. */
#define POOL_LIMIT 512

__thread struct tb_thread *tb_current_thread __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tb_thread *threads;      /* live and dead-but-unwritten states */
static struct tb_thread *free_threads; /* recycled states */
static struct tb_buf *free_bufs;
static uint64_t bufs_in_use;
static pthread_key_t exit_key;
static bool key_ok;

void (*tb_on_buffer_full)(void);

static void on_thread_exit(void *arg)
{
    struct tb_thread *t = arg;
    __atomic_store_n(&t->dead, 1, __ATOMIC_RELEASE);
}

int tb_init(void)
{
    key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
    return 0;
}

static struct tb_buf *buf_get_locked(void)
{
    struct tb_buf *b = free_bufs;

    if (b != NULL) {
        free_bufs = b->next;
    } else {
        b = rt_map(TB_BUF_BYTES);
        if (b == NULL)
            return NULL;
    }
    b->next = NULL;
    b->committed = 0;
    b->flushed = 0;
    b->cap = TB_BUF_BYTES - (uint32_t)sizeof(struct tb_buf);
    __atomic_store_n(&bufs_in_use, bufs_in_use + 1, __ATOMIC_RELAXED);
    return b;
}

static struct tb_buf *buf_get(void)
{
    struct tb_buf *b = NULL;

    /* Back-pressure: past the limit the writer is behind (a slow disk); wait for it
     * rather than grow without bound, but never forever - after a second the event
     * is dropped and counted. */
    for (int tries = 0; tries < 1000; tries++) {
        pthread_mutex_lock(&lock);
        /* Decided under the lock: read again after it, the count could have fallen
         * meanwhile and made a full pool look like a failed mapping. */
        bool full = bufs_in_use >= POOL_LIMIT;
        if (!full)
            b = buf_get_locked();
        pthread_mutex_unlock(&lock);
        if (!full)
            return b; /* NULL only if no memory could be mapped */
        if (tb_on_buffer_full != NULL)
            tb_on_buffer_full();
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return NULL;
}

void tb_buf_release(struct tb_buf *b)
{
    pthread_mutex_lock(&lock);
    b->next = free_bufs;
    free_bufs = b;
    __atomic_store_n(&bufs_in_use, bufs_in_use - 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
}

uint64_t tb_buffers_in_use(void)
{
    return __atomic_load_n(&bufs_in_use, __ATOMIC_RELAXED);
}

/* fresh: the state was just mapped, hence zeroed - clearing the stack cache would only
 * fault in its eight pages before the thread needs them. */
static void thread_reset(struct tb_thread *t, struct tb_buf *b, bool fresh)
{
    struct st_entry **cache = t->stack_cache;
    struct st_thread *unwind = t->unwind;

    memset(t, 0, sizeof(*t));
    if (!fresh)
        memset(cache, 0, CACHE_BYTES);
    st_thread_init(unwind);
    t->stack_cache = cache;
    t->unwind = unwind;
    t->cur = b;
    t->flush_buf = b;
    t->pos = b->data;
    t->end = b->data + b->cap;
    t->tid = rt_gettid();
    t->rng = ((uint64_t)t->tid << 32) ^ rt_ticks() ^ 0x9E3779B97F4A7C15ull;
    t->zero_left = INT64_MIN;
}

struct tb_thread *tb_self(void)
{
    struct tb_thread *t = tb_current_thread;

    if (__builtin_expect(t != NULL, 1))
        return t;

    pthread_mutex_lock(&lock);
    t = free_threads;
    if (t != NULL)
        free_threads = t->next_thread;
    struct tb_buf *b = buf_get_locked();
    pthread_mutex_unlock(&lock);

    bool fresh = t == NULL;
    if (fresh) {
        t = rt_map(THREAD_STATE_BYTES);
        if (t != NULL) {
            t->stack_cache = (struct st_entry **)(t + 1);
            t->unwind = (struct st_thread *)((char *)t->stack_cache + CACHE_BYTES);
        }
    }
    if (t == NULL || b == NULL) {
        if (b != NULL)
            tb_buf_release(b);
        if (t != NULL) {
            pthread_mutex_lock(&lock);
            t->next_thread = free_threads;
            free_threads = t;
            pthread_mutex_unlock(&lock);
        }
        return NULL;
    }
    thread_reset(t, b, fresh);

    pthread_mutex_lock(&lock);
    t->next_thread = threads;
    threads = t;
    pthread_mutex_unlock(&lock);

    tb_current_thread = t;
    if (key_ok)
        pthread_setspecific(exit_key, t);
    return t;
}

bool tb_make_room(struct tb_thread *t)
{
    struct tb_buf *b = buf_get();

    if (b == NULL)
        return false;
    /* Order matters: the final committed was stored by tb_commit; next goes after. */
    __atomic_store_n(&t->cur->next, b, __ATOMIC_RELEASE);
    __atomic_store_n(&t->cur, b, __ATOMIC_RELEASE); /* the writer reads it (stop point) */
    t->pos = b->data;
    t->end = b->data + b->cap;
    if (++t->filled_since_wake >= TB_WAKE_BUFFERS && tb_on_buffer_full != NULL) {
        t->filled_since_wake = 0;
        tb_on_buffer_full();
    }
    return true;
}

void tb_for_each(void (*fn)(struct tb_thread *t, void *arg), void *arg)
{
    pthread_mutex_lock(&lock);
    for (struct tb_thread *t = threads; t != NULL; t = t->next_thread)
        fn(t, arg);
    pthread_mutex_unlock(&lock);
}

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
    pthread_mutex_lock(&lock);
    for (struct tb_thread **pp = &threads; *pp != NULL;) {
        struct tb_thread *t = *pp;
        if (reapable(t)) {
            *pp = t->next_thread;
            struct tb_buf *b = t->flush_buf;
            b->next = free_bufs;
            free_bufs = b;
            __atomic_store_n(&bufs_in_use, bufs_in_use - 1, __ATOMIC_RELAXED);
            t->next_thread = free_threads;
            free_threads = t;
        } else {
            pp = &t->next_thread;
        }
    }
    pthread_mutex_unlock(&lock);
}

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
    /* Only this thread exists now. The other states and every inherited buffer hold
     * the parent's records: drop them from view (their memory stays mapped, shared
     * copy-on-write with the parent, so dropping costs nothing real). */
    threads = NULL;
    bufs_in_use = 0;
    if (me != NULL) {
        struct tb_buf *b = buf_get_locked();
        if (b == NULL) {
            tb_current_thread = NULL;
            return;
        }
        thread_reset(me, b, false);
        threads = me;
    }
}
