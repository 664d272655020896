/*
 * rt.h - the shim's runtime floor: memory straight from mmap, whole writes, numbers
 * formatted by hand, one-line stderr messages, the event clock, and the settings read
 * from the environment. Everything here is safe to call from any thread, from inside a
 * hooked allocator call and (except rt_config_load) from a signal handler: nothing
 * allocates through malloc, takes a lock or uses stdio.
 */
#ifndef HEAPSPAN_RT_H
#define HEAPSPAN_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Settings, read once from HEAPSPAN_* at start (docs/cli.md lists them). */
struct rt_config {
    char output[4096];             /* HEAPSPAN_OUTPUT: path template, %p pid, %e exe name */
    uint64_t sample_bytes;         /* HEAPSPAN_SAMPLE_BYTES: 0 = record every allocation */
    int max_depth;                 /* HEAPSPAN_DEPTH: frames kept per stack */
    bool follow_children;          /* HEAPSPAN_FOLLOW_CHILDREN: forks and execs log too */
    int marker_signal;             /* HEAPSPAN_MARKER_SIGNAL: 0 = off */
    uint64_t snapshot_interval_ns; /* HEAPSPAN_SNAPSHOT_INTERVAL: 0 = off */
    int root_pid;                  /* HEAPSPAN_ROOT_PID: the pid `heapspan run` started */
    char manifest[4096];           /* HEAPSPAN_MANIFEST: file to append each log path to */
    char root_log[4096];           /* HEAPSPAN_ROOT_LOG: the root's log, made by `run` */
    bool quiet;                    /* HEAPSPAN_QUIET: no stderr line at start */
    bool memwatch;                 /* HEAPSPAN_SNAPSHOT_ON_RSS is set (preload/memwatch.h) */
    uint64_t snapshot_on_rss;      /* its step in bytes; 0: the cgroup's events only */
    char exe[4096];                /* /proc/self/exe, read once ("" if unreadable) */
};

extern struct rt_config rt_cfg;

/* Parses the environment into rt_cfg. A bad value gets one stderr line naming the
 * variable and the value, and the default is used. */
void rt_config_load(void);

/* Zeroed memory from mmap, rounded up to pages; NULL on failure. */
void *rt_map(size_t size);
void rt_unmap(void *p, size_t size);

/* Writes all of buf, retrying on EINTR and short writes. 0 or a negative errno. */
int rt_write_all(int fd, const void *buf, size_t len);

/* open(2) for the shim's own use: if the program has used every descriptor its soft
 * limit allows (EMFILE), once more with the soft limit raised to the hard one for the
 * call, then put back. mode as open's with O_CREAT. -1 and errno as open's. */
int rt_open_anyway(const char *path, int flags, int mode);

/* Moves a descriptor of the shim's out of the program's way, close-on-exec, so that the
 * program's own open() calls get the numbers they would get without the shim. Where the
 * soft descriptor limit is below 1024 - a program that may run out - at the soft limit
 * or above, where the program cannot open anything (the soft limit raised to the hard
 * one for the dup, then put back); otherwise, or if the hard limit leaves no room, at
 * half the limit, at most 1000 (a higher number would make the kernel grow the
 * descriptor table). Returns the new number, fd itself if it cannot move - or -1, fd
 * closed, if the limit is so low (below RT_FD_FEW, soft and hard) that taking any of its
 * numbers could make the program fail where it works without us. */
#define RT_FD_FEW 64
int rt_fd_move_high(int fd);

/* Decimal / hex formatting into a caller's buffer; returns the end (no NUL). */
char *rt_fmt_u64(char *p, uint64_t v);
char *rt_fmt_hex(char *p, uint64_t v);
char *rt_fmt_str(char *p, const char *end, const char *s);

/* "heapspan: " + the pieces + "\n" on stderr, in one write. NULL ends the list. */
void rt_say(const char *first, ...) __attribute__((sentinel));

/* The event clock. Ticks are TSC cycles when the kernel itself trusts the TSC (its
 * clocksource is "tsc": invariant and synchronised across cores), else CLOCK_MONOTONIC
 * nanoseconds. rdtscp waits for earlier loads, so an allocation's time is never taken
 * before the allocator handed out the block (a free's time precedes the real free). */
void rt_clock_init(void);
extern bool rt_clock_tsc;
uint64_t rt_monotonic_ns(void);
uint64_t rt_realtime_ns(void);

static inline uint64_t rt_ticks(void)
{
    if (__builtin_expect(rt_clock_tsc, 1)) {
        unsigned aux;
        return __builtin_ia32_rdtscp(&aux);
    }
    return rt_monotonic_ns();
}

/* For a time taken before a release: rdtsc may read early, never late, and the
 * release's stores cannot be seen by another thread before it retires, so the order
 * against a later reuse of the block is kept without rdtscp's wait (~9 ns here). */
static inline uint64_t rt_ticks_before(void)
{
    if (__builtin_expect(rt_clock_tsc, 1))
        return __builtin_ia32_rdtsc();
    return rt_monotonic_ns();
}

/* Set while this thread runs shim code, so whatever that code calls allocates from the
 * real allocator unrecorded. initial-exec: the first touch of a dynamic TLS slot can
 * itself allocate. Defined in shim_start.c. */
extern __thread int rt_in_shim __attribute__((tls_model("initial-exec")));

/* Thread id, without libc's caching quirks. */
int rt_gettid(void);

#endif
