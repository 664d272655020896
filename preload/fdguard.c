/* fdguard.c - see fdguard.h. */
#include "preload/fdguard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/rt.h"
#include "preload/writer.h"

#define EXPORT __attribute__((visibility("default")))

static struct {
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
} real;

void fdg_init(void)
{
    *(void **)&real.close = dlsym(RTLD_NEXT, "close");
    *(void **)&real.close_range = dlsym(RTLD_NEXT, "close_range");
    *(void **)&real.closefrom = dlsym(RTLD_NEXT, "closefrom");
    *(void **)&real.dup2 = dlsym(RTLD_NEXT, "dup2");
    *(void **)&real.dup3 = dlsym(RTLD_NEXT, "dup3");
}

/* ---- the shim's pipe (libunwind's, the only pipe2 caller in the shim) ---- */

static int pipe_end[2] = { -1, -1 };
static bool pipe_taken; /* the program has dup2'ed onto an end: read says closed */
static bool end_taken[2];

int __real_pipe2(int fds[2], int flags);
int __real_close(int fd);
ssize_t __real_read(int fd, void *buf, size_t n);

int __wrap_pipe2(int fds[2], int flags);
int __wrap_pipe2(int fds[2], int flags)
{
    int r = __real_pipe2(fds, flags);
    if (r != 0)
        return r;
    fds[0] = rt_fd_move_high(fds[0]);
    fds[1] = rt_fd_move_high(fds[1]);
    end_taken[0] = end_taken[1] = false;
    __atomic_store_n(&pipe_end[0], fds[0], __ATOMIC_RELEASE);
    __atomic_store_n(&pipe_end[1], fds[1], __ATOMIC_RELEASE);
    __atomic_store_n(&pipe_taken, false, __ATOMIC_RELEASE);
    return 0;
}

static int pipe_end_of(int fd)
{
    if (fd < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (__atomic_load_n(&pipe_end[i], __ATOMIC_ACQUIRE) == fd)
            return i;
    return -1;
}

/* The shim's own close: an end the program has taken is the program's descriptor now,
 * and is only forgotten. */
int __wrap_close(int fd);
int __wrap_close(int fd)
{
    int end = pipe_end_of(fd);
    if (end >= 0) {
        bool taken = end_taken[end];
        __atomic_store_n(&pipe_end[end], -1, __ATOMIC_RELEASE);
        if (taken)
            return 0;
    }
    return (int)syscall(SYS_close, fd);
}

/* The shim's own read: libunwind drains its pipe before each validation and opens a new
 * one when the read fails. */
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (__atomic_load_n(&pipe_taken, __ATOMIC_ACQUIRE) && pipe_end_of(fd) >= 0) {
        errno = EBADF;
        return -1;
    }
    return __real_read(fd, buf, n);
}

/* ---- the program's calls ---- */

static bool is_shim_fd(int fd)
{
    return pipe_end_of(fd) >= 0 || wr_is_log_fd(fd);
}

static int sys_close_range(unsigned first, unsigned last, int flags)
{
    if (first > last)
        return 0;
    if (real.close_range != NULL)
        return real.close_range(first, last, flags);
    return (int)syscall(SYS_close_range, first, last, flags);
}

/* Closes [first, last] except the shim's descriptors; the first error, or 0. */
static int close_around(unsigned first, unsigned last, int flags)
{
    int keep[3], n = 0;
    int cand[3] = { wr_log_fd(), __atomic_load_n(&pipe_end[0], __ATOMIC_ACQUIRE),
                    __atomic_load_n(&pipe_end[1], __ATOMIC_ACQUIRE) };
    for (int i = 0; i < 3; i++)
        if (cand[i] >= 0 && (unsigned)cand[i] >= first && (unsigned)cand[i] <= last &&
            is_shim_fd(cand[i]))
            keep[n++] = cand[i];
    for (int i = 1; i < n; i++) /* ascending: at most three */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    int err = 0;
    unsigned from = first;
    for (int i = 0; i < n; i++) {
        unsigned k = (unsigned)keep[i]; /* first <= k <= last, k < INT_MAX */
        int r = k > from ? sys_close_range(from, k - 1, flags) : 0;
        if (r != 0 && err == 0)
            err = r;
        from = k + 1;
    }
    int r = from <= last ? sys_close_range(from, last, flags) : 0;
    return err != 0 ? err : r;
}

EXPORT int close(int fd)
{
    if (__builtin_expect(is_shim_fd(fd), 0))
        return 0;
    if (real.close != NULL)
        return real.close(fd);
    return (int)syscall(SYS_close, fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    /* CLOSE_RANGE_CLOEXEC only marks descriptors close-on-exec: the shim's already are. */
    if (flags & CLOSE_RANGE_CLOEXEC)
        return sys_close_range(first, last, flags);
    return close_around(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
    close_around(lowfd < 0 ? 0 : (unsigned)lowfd, UINT_MAX, 0);
}

/* dup2/dup3 onto one of the shim's numbers (fdguard.h). The log moves first, and the
 * real call then replaces the old number (the log's duplicate) atomically; had the call
 * failed, that duplicate is closed here. If the log cannot move (no descriptor left),
 * recording stops: the program's descriptor must never receive the log. A pipe end is
 * given up: marked taken before the call, so libunwind's next read fails and it opens a
 * new pipe. */
static int onto(int oldfd, int newfd, int flags, bool three)
{
    int moved_from = wr_is_log_fd(newfd) ? wr_move_fd() : -1;
    int end = pipe_end_of(newfd);
    if (end >= 0 && oldfd != newfd) {
        end_taken[end] = true;
        __atomic_store_n(&pipe_taken, true, __ATOMIC_RELEASE);
    }
    int r;
    if (three)
        r = real.dup3 != NULL ? real.dup3(oldfd, newfd, flags)
                              : (int)syscall(SYS_dup3, oldfd, newfd, flags);
    else if (real.dup2 != NULL)
        r = real.dup2(oldfd, newfd);
    else if (oldfd == newfd) /* dup3 refuses what dup2 allows: equal numbers */
        r = fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
    else
        r = (int)syscall(SYS_dup3, oldfd, newfd, 0);
    if (r < 0 && moved_from >= 0) {
        int e = errno;
        syscall(SYS_close, moved_from);
        errno = e;
    }
    return r;
}

EXPORT int dup2(int oldfd, int newfd)
{
    return onto(oldfd, newfd, 0, false);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
    return onto(oldfd, newfd, flags, true);
}
