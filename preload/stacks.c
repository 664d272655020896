/* stacks.c - see stacks.h. */
#define UNW_LOCAL_ONLY
#include "preload/stacks.h"

#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "format/logfmt.h"
#include "preload/pystacks.h"
#include "preload/rt.h"
#include "preload/stackhash.h"

#define CACHE_SLOTS 4096 /* per thread; must match tbuf.c */
#define MAX_IDS     (16u << 20)
#define ARENA_BLOCK (4u << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct st_entry **table; /* open addressing by hash, power-of-two size */
static uint32_t table_cap, table_used;
static struct st_entry **by_id; /* reserved MAX_IDS slots, touched as ids grow */
static uint32_t next_id = 1;
static uint8_t *arena, *arena_end;
static uint64_t self_lo, self_hi;

/* ---- the validated frame-pointer fast path ----
 *
 * unw_backtrace costs ~7 ns a frame; following saved frame pointers costs under one.
 * But a frame pointer can only be followed out of a function that keeps one, and most
 * libraries (libc among them) are built without. So a return address is trusted for
 * the walk only once libunwind's slow walk has (a) found its function's start in the
 * unwind tables, (b) seen the standard prologue there (push %rbp; mov %rsp,%rbp, after
 * an optional endbr64) with the call after it, and (c) seen the frame it unwinds to
 * agree with the frame pointer. Such code keeps %rbp as its frame base at every call.
 *
 * The walk ends at the first frame without a frame pointer - at the bottom, libc's
 * start-up code or start_thread, whose frames do not change while the program runs.
 * For those, a per-thread memo keeps what libunwind found above that frame, keyed by
 * its pc, %rsp and %rbp and checked against a copy of the stack bytes from there to
 * the top: libunwind's walk of those frames depends only on those values (the unwind
 * tables are fixed while no object is unloaded), so equal inputs give an equal stack.
 * Any miss - an unclassified pc, a stack switch, a changed suffix - goes to libunwind
 * for the frames it cannot vouch for (its tracer from where the walk stopped, or
 * unw_backtrace from the top); nothing is guessed.
 *
 * Learning is dear: a slow walk costs 5-10 us over warm code and 30-300 us over code
 * libunwind has not met yet (a CPython start-up stack is 80-128 frames deep), where a
 * warm unw_backtrace costs ~0.3 us. So it is rationed (capture_slow). Sampled mode
 * learns too: it captures few stacks at allocations, but a sampled block stays
 * sampled while it grows, and a buffer grown by many small reallocs records a stack
 * at each one (bench's realloc: doing without the fast walk cost 2% more time). */

#define CLASS_SLOTS (1u << 18) /* pcs classified, process-wide */
#define MEMO_SPAN   1024       /* stack bytes a memo may cover */
#define MEMO_FRAMES 48

enum { PC_UNKNOWN = 0, PC_FP = 1, PC_NOT_FP = 2 };

struct pc_class {
    uint64_t pc;
    uint32_t gen;
    uint32_t cls;
};

static struct pc_class *classes;
static uint32_t class_gen = 1;              /* bumped when code is unloaded */
static uint32_t classify_budget = 1u << 20; /* slow walks allowed, process-wide */

struct memo {
    uint64_t pc, rsp, rbp;
    uint32_t gen, span, n;
    uint32_t misses;
    uint64_t suffix[MEMO_FRAMES];
    uint8_t bytes[MEMO_SPAN];
};

#define N_MEMOS 4
/* Ordered by when a thread touches its parts, so that a thread that has captured a few
 * shallow stacks keeps few pages resident (tbuf.h counts them): the fields every
 * capture reads and the first frames of the last chain share a page; the memos, the
 * slow walk's frames and the deep ends of the arrays are reached only as needed. */
struct st_thread {
    /* Above the outermost frame libunwind has walked on this thread: no frame pointer
     * the fast walk follows may point at or past it. Learnt from slow walks, never
     * asked of libc - pthread_getattr_np holds the thread's lock while it allocates,
     * and a program calling it would deadlock against its own malloc hook. */
    uint64_t stack_hi;
    /* The last stack the fast walk produced: the frame chain it followed (last[], frame
     * pointers and return addresses, the shim's own frames included) and the memo it
     * ended in (or NULL); its entry is last_entry. A capture whose chain and memo bytes
     * are the same is the same stack - the common case of a loop allocating at one call
     * site. */
    uint32_t last_n, last_gen;
    struct memo *last_memo;
    /* The entry this thread's last capture interned (the fast walk's, while last_n is
     * set): a loop allocating at one call site meets the same stack again, and an
     * equal compare costs less than the hash that finds its cache slot. */
    const struct st_entry *last_entry;
    /* Where the last fast walk met a frame without a frame pointer: that frame's pc,
     * %rsp and %rbp, and the frames found up to it (its own pc the last). */
    uint64_t stop_ip, stop_sp, stop_bp;
    int stop_n;
    /* Set while this thread is inside libunwind; fork waits for it (see st_fork_*). */
    int in_unwind;
    /* The last capture ran through the Python interpreter's loop: its Python frames
     * may differ under an equal native chain, so same_as_last alone cannot stand for
     * it - but the native frames it took are still in t->pcs, last_native of them, and
     * only the Python frames need reading again. */
    bool last_py;
    int last_native;
    /* The entry of the last stack py_augment returned (NULL: none known). */
    const struct st_entry *py_entry;
    struct {
        uint64_t fp, ra;
    } last[LF_MAX_STACK_DEPTH + 32];
    struct memo memo[N_MEMOS];
    struct walked {
        uint64_t ip, sp, rbp;
        bool fp_ok; /* this frame's function keeps %rbp as frame base at ip */
    } walk[LF_MAX_STACK_DEPTH + 32];
    /* Python frames (pystacks.h): the chain read, and the stack with them inserted.
     * Touched only by threads that run Python code. */
    uint64_t py_stack[LF_MAX_STACK_DEPTH];
    struct py_thread py;
};

int st_init(void)
{
    void *warm[8];

    by_id = mmap(NULL, (size_t)MAX_IDS * sizeof(*by_id), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (by_id == MAP_FAILED) {
        by_id = NULL;
        return -1;
    }
    classes = mmap(NULL, CLASS_SLOTS * sizeof(*classes), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (classes == MAP_FAILED)
        classes = NULL; /* no fast path: every stack goes through unw_backtrace */
    table_cap = 1u << 12;
    table = rt_map(table_cap * sizeof(*table));
    if (table == NULL)
        return -1;
    /* The per-thread trace cache setup of libunwind (pthread_once, a key, mmap). */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    (void)unw_backtrace(warm, 8);
    return 0;
}

void st_set_self_range(uint64_t lo, uint64_t hi)
{
    self_lo = lo;
    self_hi = hi;
}

static inline uint32_t class_slot(uint64_t pc)
{
    uint64_t h = pc * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 40) & (CLASS_SLOTS - 1);
}

static inline int class_of(uint64_t pc)
{
    uint32_t gen = __atomic_load_n(&class_gen, __ATOMIC_ACQUIRE);
    for (uint32_t j = class_slot(pc), k = 0; k < 16; j = (j + 1) & (CLASS_SLOTS - 1), k++) {
        uint64_t e = __atomic_load_n(&classes[j].pc, __ATOMIC_ACQUIRE);
        if (e == 0)
            return PC_UNKNOWN;
        if (e == pc)
            return __atomic_load_n(&classes[j].gen, __ATOMIC_ACQUIRE) == gen
                       ? (int)__atomic_load_n(&classes[j].cls, __ATOMIC_ACQUIRE)
                       : PC_UNKNOWN;
    }
    return PC_UNKNOWN;
}

static void class_set(uint64_t pc, int cls)
{
    uint32_t gen = __atomic_load_n(&class_gen, __ATOMIC_ACQUIRE);
    for (uint32_t j = class_slot(pc), k = 0; k < 16; j = (j + 1) & (CLASS_SLOTS - 1), k++) {
        uint64_t e = __atomic_load_n(&classes[j].pc, __ATOMIC_ACQUIRE);
        if (e == 0) {
            uint64_t zero = 0;
            /* Claim the slot; a racing thread classifying the same pc finds the same
             * answer, so either write is right. cls is stored before becoming visible
             * through gen. */
            if (!__atomic_compare_exchange_n(&classes[j].pc, &zero, pc, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE) &&
                zero != pc)
                continue;
            e = pc;
        }
        if (e == pc) {
            __atomic_store_n(&classes[j].gen, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&classes[j].cls, (uint32_t)cls, __ATOMIC_RELEASE);
            __atomic_store_n(&classes[j].gen, gen, __ATOMIC_RELEASE);
            return;
        }
    }
}

/* The frame-pointer prologue at a function's start: push %rbp first (after an optional
 * endbr64), then mov %rsp,%rbp within the next 24 bytes - gcc schedules unrelated
 * instructions in between, never one that moves %rsp. Returns the offset just past
 * the mov, or 0 if the function does not start that way. */
static int fp_prologue_len(uint64_t start)
{
    const uint8_t *p = (const uint8_t *)(uintptr_t)start;
    int off = 0;

    if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
        off = 4; /* endbr64 */
    if (p[off] != 0x55)
        return 0;
    for (int i = off + 1; i < off + 24; i++)
        if (p[i] == 0x48 &&
            ((p[i + 1] == 0x89 && p[i + 2] == 0xe5) || (p[i + 1] == 0x8b && p[i + 2] == 0xec)))
            return i + 3;
    return 0;
}

/* libunwind's exact step-by-step walk: classifies every return address it meets and
 * records a memo for the first frame without a frame pointer. Returns the pcs it found
 * (innermost first, the shim's own frames dropped), like unw_backtrace. */
static int slow_walk(struct st_thread *th, uint64_t *pcs, int max)
{
    struct walked *w = th->walk;
    unw_context_t uc;
    unw_cursor_t c;
    int n = 0;

    if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
        return -1;
    /* Frame 0 is this function; record from its caller on, as unw_backtrace does. */
    while (n < (int)(sizeof(th->walk) / sizeof(th->walk[0])) && unw_step(&c) > 0) {
        unw_word_t ip, sp, bp;
        unw_proc_info_t pi;
        unw_get_reg(&c, UNW_REG_IP, &ip);
        unw_get_reg(&c, UNW_REG_SP, &sp);
        unw_get_reg(&c, UNW_X86_64_RBP, &bp);
        w[n].ip = ip;
        w[n].sp = sp;
        w[n].rbp = bp;
        /* A pc already classified keeps its class, so only a new one costs the proc
         * info lookup (half the walk's time over warm code). A pc once found without
         * a usable frame pointer stays so; (c) below is checked again either way. */
        int known = class_of(ip);
        w[n].fp_ok = known == PC_FP;
        if (known == PC_UNKNOWN && unw_get_proc_info(&c, &pi) == 0 && pi.start_ip != 0 &&
            ip > pi.start_ip) {
            int len = fp_prologue_len(pi.start_ip);
            w[n].fp_ok = len > 0 && ip - 1 >= pi.start_ip + (uint64_t)len;
        }
        n++;
    }
    /* (c): the next frame must be where the frame pointer says. */
    for (int i = 0; i + 1 < n; i++) {
        const uint64_t *fp = (const uint64_t *)(uintptr_t)w[i].rbp;
        if (w[i].fp_ok && !(w[i].rbp >= w[i].sp && w[i + 1].sp == w[i].rbp + 16 &&
                            fp[1] == w[i + 1].ip && fp[0] == w[i + 1].rbp))
            w[i].fp_ok = false;
    }
    if (n > 0 && w[n - 1].sp + 16 > th->stack_hi)
        th->stack_hi = w[n - 1].sp + 16;
    int first = 0, out = 0;
    while (first < n && w[first].ip >= self_lo && w[first].ip < self_hi)
        first++;
    for (int i = first; i < n; i++) {
        if (out < max)
            pcs[out++] = w[i].ip;
        class_set(w[i].ip, w[i].fp_ok ? PC_FP : PC_NOT_FP);
    }
    /* The memo: the first frame below which the fast walk cannot go. */
    for (int k = first; k < n; k++) {
        if (w[k].fp_ok)
            continue;
        uint64_t top = w[n - 1].sp + 8;
        int nsuf = n - 1 - k;
        if (top <= w[k].sp || top - w[k].sp > MEMO_SPAN || nsuf > MEMO_FRAMES)
            break;
        if (th == NULL)
            break;
        struct memo *m = &th->memo[(w[k].ip >> 4) % N_MEMOS];
        m->pc = w[k].ip;
        m->rsp = w[k].sp;
        m->rbp = w[k].rbp;
        m->gen = __atomic_load_n(&class_gen, __ATOMIC_ACQUIRE);
        m->span = (uint32_t)(top - w[k].sp);
        m->n = (uint32_t)nsuf;
        memcpy(m->bytes, (const void *)(uintptr_t)w[k].sp, m->span);
        for (int i = 0; i < nsuf; i++)
            m->suffix[i] = w[k + 1 + i].ip;
        break;
    }
    return out;
}

/* The shim's own frames above a capture, at most (a hook, its slow path, the recorder,
 * st_capture_id and capture_slow); the pcs buffer has room for them past max. */
#define SELF_FRAMES_MAX 16
_Static_assert(sizeof(((struct tb_thread *)0)->pcs) >=
                   (LF_MAX_STACK_DEPTH + SELF_FRAMES_MAX) * sizeof(uint64_t),
               "the capture buffer holds the deepest stack and the shim's frames");

#define WALK_CANNOT    -1 /* another stack, or a frame pointer out of bounds */
#define WALK_UNKNOWN   -2 /* a pc never classified */
#define WALK_MEMO_MISS -3

/* The fast walk. Returns the frame count, or one of WALK_* when it cannot vouch for
 * the result (*memo is then the memo slot that did not match). */
__attribute__((noinline)) static int fast_walk(struct st_thread *th, uint64_t *pcs, int max,
                                               struct memo **memo)
{
    const uint64_t *fp = __builtin_frame_address(0);
    uint64_t lo = (uint64_t)(uintptr_t)fp, hi = th->stack_hi;
    int n = 0;

    th->last_n = 0;
    th->last_memo = NULL;
    if (lo >= hi)
        return WALK_CANNOT; /* no walk learnt yet, or on another stack (sigaltstack) */
    for (uint32_t k = 0;; k++) {
        uint64_t ra = fp[1], next = fp[0];
        if (k >= sizeof(th->last) / sizeof(th->last[0]))
            return WALK_CANNOT;
        th->last[k].fp = (uint64_t)(uintptr_t)fp;
        th->last[k].ra = ra;
        th->last_n = k + 1;
        bool self = ra >= self_lo && ra < self_hi;
        int cls = self ? PC_FP : class_of(ra);
        if (!self) {
            if (n == max)
                return n;
            pcs[n++] = ra;
        }
        if (cls == PC_UNKNOWN)
            return WALK_UNKNOWN;
        if (cls == PC_NOT_FP) {
            /* The caller keeps no frame pointer: its %rsp is just above our frame, its
             * %rbp what the callee saved. */
            uint64_t rsp = (uint64_t)(uintptr_t)(fp + 2);
            struct memo *m = &th->memo[(ra >> 4) % N_MEMOS];
            *memo = m;
            th->stop_ip = ra;
            th->stop_sp = rsp;
            th->stop_bp = next;
            th->stop_n = n;
            if (m->pc != ra || m->rsp != rsp || m->rbp != next ||
                m->gen != __atomic_load_n(&class_gen, __ATOMIC_ACQUIRE) || rsp + m->span > hi ||
                memcmp(m->bytes, (const void *)(uintptr_t)rsp, m->span))
                return WALK_MEMO_MISS;
            for (uint32_t i = 0; i < m->n && n < max; i++)
                pcs[n++] = m->suffix[i];
            th->last_memo = m;
            return n;
        }
        if (next <= (uint64_t)(uintptr_t)fp || next + 16 > hi || (next & 7))
            return -1;
        fp = (const uint64_t *)(uintptr_t)next;
    }
}

/* libunwind brackets each of its internal locks (memory pools, caches, the
 * dl_iterate_phdr walk) with two sigprocmask calls, so that a signal handler unwinding
 * on the same thread cannot deadlock on a lock the interrupted code holds. Cold code
 * makes it a thousand system calls and ~0.4 ms per stack, which dominated the cost of a
 * sampled run's first captures. In the shim no handler can re-enter this copy of
 * libunwind (it is linked in hidden, and a hook interrupting the shim records nothing:
 * rt_in_shim), so the shim is linked with --wrap=sigprocmask and libunwind's calls land
 * here, leaving the mask alone. The shim's own code uses pthread_sigmask. */
int __wrap_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int __wrap_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    (void)how;
    (void)set;
    if (old != NULL)
        sigemptyset(old);
    return 0;
}

size_t st_thread_size(void)
{
    return sizeof(struct st_thread);
}

void st_thread_init(struct st_thread *th)
{
    /* Only what must start empty: the big arrays are written before they are read. */
    th->stack_hi = 0;
    th->last_n = 0;
    th->last_memo = NULL;
    th->last_entry = NULL;
    th->in_unwind = 0;
    th->last_py = false;
    th->py_entry = NULL;
    for (int i = 0; i < N_MEMOS; i++) {
        th->memo[i].pc = 0;
        th->memo[i].misses = 0;
    }
}

/* fork and libunwind. libunwind registers no fork handlers: a thread inside its locked
 * slow paths when another thread forks would leave the child's copy of that lock held
 * forever, and the child's first unwind would hang. So fork waits until no thread is
 * inside libunwind, and none enters until the fork is done. Only the libunwind paths
 * pay for this (a store and a load with a fence, next to a walk of 100 ns and more);
 * the frame-pointer path never touches libunwind. */
static int forking;

static void unwind_enter(struct st_thread *th)
{
    for (;;) {
        __atomic_store_n(&th->in_unwind, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
            return;
        __atomic_store_n(&th->in_unwind, 0, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&forking, __ATOMIC_ACQUIRE))
            sched_yield();
    }
}

static void unwind_leave(struct st_thread *th)
{
    __atomic_store_n(&th->in_unwind, 0, __ATOMIC_RELEASE);
}

static void wait_unwinder(struct tb_thread *t, void *arg)
{
    struct st_thread *me = arg;
    if (t->unwind == me)
        return;
    while (__atomic_load_n(&t->unwind->in_unwind, __ATOMIC_SEQ_CST))
        sched_yield();
}

void st_fork_quiesce(void)
{
    struct tb_thread *t = tb_current_thread;
    __atomic_store_n(&forking, 1, __ATOMIC_SEQ_CST);
    tb_for_each(wait_unwinder, t != NULL ? t->unwind : NULL);
}

static struct st_thread *st_thread_state(struct tb_thread *t)
{
    return t->unwind;
}

/* libunwind's fast tracer (x86_64/Gtrace.c): what unw_backtrace runs once it has its
 * caller's context. Internal to libunwind, but to the copy this shim builds from a
 * pinned source and links in (build-libunwind.sh). */
extern int _ULx86_64_tdep_trace(unw_cursor_t *cursor, void **addresses, int *n);

/* After a memo miss: libunwind's trace from the frame where the fast walk stopped,
 * appended to the frames the walk found. unw_backtrace would walk the same frames
 * again from here, with the same result - the walk followed frame pointers only out of
 * functions libunwind itself found keeping them (so the caller's %rsp and %rbp are
 * what its step would compute) - at ~15 ns a frame and a context taken first; under an
 * interpreter that is a third of a stack. The tracer reads nothing of the context but
 * %rip, %rsp and %rbp (%rbx is cleared; it names no frame), and the lookup backs up
 * from the return address into its call, as for any caller's frame. Returns the total
 * depth, or -1 if the tracer gave up. */
static int trace_from_stop(const struct st_thread *th, uint64_t *pcs, int max)
{
    unw_context_t uc;
    unw_cursor_t c;
    int n = th->stop_n, more = max - n;

    if (more <= 0)
        return n;
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)th->stop_ip;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)th->stop_sp;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)th->stop_bp;
    uc.uc_mcontext.gregs[REG_RBX] = 0;
    if (unw_init_local(&c, &uc) < 0 || _ULx86_64_tdep_trace(&c, (void **)(pcs + n), &more) < 0)
        return -1;
    return n + more;
}

static inline bool is_power_of_4(uint32_t x)
{
    return (x & (x - 1)) == 0 && (x & 0x55555555u) != 0;
}

static int capture_slow(struct st_thread *th, uint64_t *pcs, int max, int why, struct memo *memo)
{
    int n = -1;

    unwind_enter(th);
    /* Learn: once per new pc, and at a memo slot's 1st, 4th, 16th, 64th... miss - a
     * suffix that keeps changing, as under an interpreter, is left to unw_backtrace
     * after a few tries, and one that changed for good is learnt again later on. The
     * slow walk costs ~100x a fast one. */
    bool learn =
        classes != NULL && (why == WALK_UNKNOWN || (why == WALK_CANNOT && th->stack_hi == 0) ||
                            (why == WALK_MEMO_MISS && is_power_of_4(++memo->misses)));
    if (learn && __atomic_load_n(&classify_budget, __ATOMIC_RELAXED) > 0) {
        __atomic_sub_fetch(&classify_budget, 1, __ATOMIC_RELAXED);
        n = slow_walk(th, pcs, max);
    } else if (why == WALK_MEMO_MISS) {
        n = trace_from_stop(th, pcs, max);
    }
    if (n < 0) {
        /* unw_backtrace fills void*; uint64_t has the same size and representation
         * on the 64-bit targets the shim supports. It counts the shim's own frames,
         * dropped below, so it is asked for that many more: a stack cut at the depth
         * limit has max frames whichever path took it. */
        n = unw_backtrace((void **)pcs, max + SELF_FRAMES_MAX);
        int skip = 0;
        while (skip < n && pcs[skip] >= self_lo && pcs[skip] < self_hi)
            skip++;
        if (skip > 0) {
            n -= skip;
            memmove(pcs, pcs + skip, (size_t)n * sizeof(*pcs));
        }
        if (n > max)
            n = max;
    }
    unwind_leave(th);
    return n;
}

/* Whether the calling thread's stack is the one it captured last: the same chain of
 * frames, and above it the same memo bytes. Reads only addresses that were this
 * thread's stack frames last time, in order, so it cannot fault. */
__attribute__((noinline)) static bool same_as_last(const struct st_thread *th)
{
    const uint64_t *fp = __builtin_frame_address(0);

    if (th->last_n == 0 || th->last_gen != __atomic_load_n(&class_gen, __ATOMIC_ACQUIRE))
        return false;
    /* This function's frame stands where fast_walk's stood: both are called from
     * st_capture_id, so the chains start at the same place. */
    for (uint32_t k = 0; k < th->last_n; k++) {
        /* k = 0 is the callee's own frame: same place, but its return address is into
         * the other call site in st_capture_id. */
        if ((uint64_t)(uintptr_t)fp != th->last[k].fp || (k > 0 && fp[1] != th->last[k].ra))
            return false;
        if (k + 1 < th->last_n)
            fp = (const uint64_t *)(uintptr_t)fp[0];
    }
    const struct memo *m = th->last_memo;
    if (m == NULL)
        return true;
    return m->rbp == fp[0] && m->rsp == (uint64_t)(uintptr_t)(fp + 2) &&
           memcmp(m->bytes, (const void *)(uintptr_t)m->rsp, m->span) == 0;
}

static uint32_t intern(struct tb_thread *t, const uint64_t *pcs, int depth);
static uint32_t intern_hashed(struct tb_thread *t, const uint64_t *pcs, int depth, uint64_t h);
static inline bool same_pcs(const struct st_entry *e, const uint64_t *pcs, int depth);

/* intern(), with the Python frames of the interpreter's loop calls inserted when
 * the stack runs through it (pystacks.h). */
static uint32_t intern_native(struct tb_thread *t, struct st_thread *th, int n, int max)
{
    th->last_py = false;
    if (__atomic_load_n(&py_eval_lo, __ATOMIC_ACQUIRE) != 0 && n > 0) {
        const uint64_t *stack;
        struct sh_state h;
        bool again;
        int k = py_augment(t->pcs, n, n >= max, th->py_stack, max, &th->py, &stack, &h, &again);
        if (k >= 0) {
            th->last_py = true;
            th->last_native = n;
            const struct st_entry *last = th->py_entry;
            if (!(again && last != NULL)) {
                last = th->last_entry;
                if (last == NULL || !same_pcs(last, stack, k)) {
                    /* The hash, of the frames inside those py_augment has taken. */
                    sh_take(&h, stack, k - (int)h.k);
                    if (intern_hashed(t, stack, k, sh_end(&h)) == 0) {
                        th->py_entry = NULL;
                        return 0;
                    }
                    last = th->last_entry;
                }
            }
            th->last_entry = th->py_entry = last;
            return last->id;
        }
    }
    return intern(t, t->pcs, n);
}

uint32_t st_capture_id(struct tb_thread *t, int max)
{
    struct st_thread *th = st_thread_state(t);
    struct memo *memo = NULL;
    int n = WALK_CANNOT;

    if (classes != NULL) {
        if (same_as_last(th)) {
            if (!th->last_py)
                return th->last_entry->id;
            /* The same native frames (a C loop allocating under Python code): the
             * Python frames only are read again. */
            return intern_native(t, th, th->last_native, max);
        }
        n = fast_walk(th, t->pcs, max, &memo);
        if (n >= 0) {
            uint32_t id = intern_native(t, th, n, max);
            th->last_gen = __atomic_load_n(&class_gen, __ATOMIC_ACQUIRE);
            if (id == 0)
                th->last_n = 0;
            return id;
        }
        th->last_n = 0;
    }
    return intern_native(t, th, capture_slow(th, t->pcs, max, n, memo), max);
}

static inline bool same_pcs(const struct st_entry *e, const uint64_t *pcs, int depth)
{
    /* The innermost frames differ first, as a rule: no call to memcmp for them. */
    return e->depth == (uint32_t)depth && (depth == 0 || e->pcs[0] == pcs[0]) &&
           memcmp(e->pcs, pcs, (size_t)depth * sizeof(*pcs)) == 0;
}

static inline bool same_stack(const struct st_entry *e, uint64_t h, const uint64_t *pcs, int depth)
{
    return e->hash == h && same_pcs(e, pcs, depth);
}

static bool grow_table_locked(void)
{
    uint32_t cap = table_cap * 2;
    struct st_entry **t = rt_map(cap * sizeof(*t));

    if (t == NULL)
        return false;
    for (uint32_t i = 0; i < table_cap; i++) {
        struct st_entry *e = table[i];
        if (e == NULL)
            continue;
        uint32_t j = (uint32_t)(e->hash >> 1) & (cap - 1); /* bit 0 is always set */
        while (t[j] != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = e;
    }
    rt_unmap(table, table_cap * sizeof(*table));
    table = t;
    table_cap = cap;
    return true;
}

static struct st_entry *new_entry_locked(uint64_t h, const uint64_t *pcs, int depth)
{
    size_t need = sizeof(struct st_entry) + (size_t)depth * sizeof(*pcs);

    if (next_id >= MAX_IDS)
        return NULL;
    if (arena == NULL || (size_t)(arena_end - arena) < need) {
        arena = rt_map(ARENA_BLOCK);
        if (arena == NULL)
            return NULL;
        arena_end = arena + ARENA_BLOCK;
    }
    struct st_entry *e = (struct st_entry *)arena;
    arena += (need + 7) & ~(size_t)7;
    e->hash = h;
    e->depth = (uint32_t)depth;
    memcpy(e->pcs, pcs, (size_t)depth * sizeof(*pcs));
    e->id = next_id;
    by_id[next_id] = e;
    /* Publish: the writer reads entries below next_id without the lock. */
    __atomic_store_n(&next_id, next_id + 1, __ATOMIC_RELEASE);
    return e;
}

static struct st_entry *lookup_or_insert(uint64_t h, const uint64_t *pcs, int depth)
{
    struct st_entry *e = NULL;

    pthread_mutex_lock(&lock);
    if ((table_used + 1) * 4 > table_cap * 3 && !grow_table_locked())
        goto out;
    uint32_t j = (uint32_t)(h >> 1) & (table_cap - 1);
    while (table[j] != NULL) {
        if (same_stack(table[j], h, pcs, depth)) {
            e = table[j];
            goto out;
        }
        j = (j + 1) & (table_cap - 1);
    }
    e = new_entry_locked(h, pcs, depth);
    if (e != NULL) {
        table[j] = e;
        table_used++;
    }
out:
    pthread_mutex_unlock(&lock);
    return e;
}

/* intern() of a stack whose hash (sh_hash) is known. */
static uint32_t intern_hashed(struct tb_thread *t, const uint64_t *pcs, int depth, uint64_t h)
{
    struct st_thread *th = st_thread_state(t);
    struct st_entry **slot = &t->stack_cache[(h >> 7) & (CACHE_SLOTS - 1)];
    struct st_entry *e = *slot;

    if (__builtin_expect(e == NULL || !same_stack(e, h, pcs, depth), 0)) {
        e = lookup_or_insert(h, pcs, depth);
        if (e == NULL)
            return 0;
        *slot = e;
    }
    th->last_entry = e;
    return e->id;
}

static uint32_t intern(struct tb_thread *t, const uint64_t *pcs, int depth)
{
    struct st_thread *th = st_thread_state(t);
    const struct st_entry *last = th->last_entry;

    if (last != NULL && same_pcs(last, pcs, depth))
        return last->id;
    return intern_hashed(t, pcs, depth, sh_hash(pcs, depth));
}

uint32_t st_count(void)
{
    return __atomic_load_n(&next_id, __ATOMIC_ACQUIRE);
}

const struct st_entry *st_get(uint32_t id)
{
    return by_id[id];
}

void st_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void st_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
    __atomic_store_n(&forking, 0, __ATOMIC_SEQ_CST);
}

void st_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    __atomic_store_n(&forking, 0, __ATOMIC_SEQ_CST);
}

void st_flush_unwind_cache(void)
{
    /* Code may be gone: what was learnt about its pcs no longer holds. */
    __atomic_add_fetch(&class_gen, 1, __ATOMIC_ACQ_REL);
    unw_flush_cache(unw_local_addr_space, 0, 0);
}
