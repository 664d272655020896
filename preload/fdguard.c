/* fdguard.c - see fdguard.h. */
#include "preload/fdguard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
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

/* ---- libunwind's memory validation ----
 *
 * Before its heuristics dereference an address, libunwind tests that the address's page
 * is readable (x86_64/Ginit.c, write_validate): mincore, then a write of one byte from
 * it into a pipe of its own - EFAULT if unreadable - after draining the pipe with read().
 * A pipe is two descriptors, and the program can take their numbers from under it (a
 * raw close_range, then its own open()): libunwind's write would then put a byte of
 * memory into the program's file, and its read take one out.
 *
 * So libunwind gets no pipe. Its pipe2, read and close land in the __wrap_ functions
 * here, and its write, a syscall(SYS_write, ...), in __wrap_syscall (-Wl,--wrap,
 * Makefile): pipe2 hands back two numbers no descriptor can have, read says the pipe is
 * empty, close does nothing, and the write becomes a FUTEX_WAIT with a zero timeout on
 * the page's first word. The kernel reads that word to compare it, and fails with
 * EFAULT exactly where the write would have; otherwise it returns at once (EAGAIN, or
 * ETIMEDOUT), having changed nothing. No descriptor, no privilege, and no system call a
 * seccomp profile forbids (every threaded program waits on futexes). */

#define NO_FD_READ  (-1000)
#define NO_FD_WRITE (-1001)

int __real_pipe2(int fds[2], int flags);
int __real_close(int fd);
ssize_t __real_read(int fd, void *buf, size_t n);
long __real_syscall(long nr, ...);

/* Whether the page at addr (page-aligned, as libunwind passes it) can be read. */
static bool readable(const void *page)
{
    struct timespec zero = { 0, 0 };
    long r = __real_syscall(SYS_futex, page, FUTEX_WAIT_PRIVATE, 0, &zero, NULL, 0);
    return r == 0 || errno != EFAULT;
}

int __wrap_pipe2(int fds[2], int flags);
int __wrap_pipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = NO_FD_READ;
    fds[1] = NO_FD_WRITE;
    return 0;
}

int __wrap_close(int fd);
int __wrap_close(int fd)
{
    if (fd == NO_FD_READ || fd == NO_FD_WRITE)
        return 0;
    return (int)syscall(SYS_close, fd);
}

ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (fd == NO_FD_READ) {
        errno = EAGAIN; /* an empty pipe: libunwind goes on to write */
        return -1;
    }
    return __real_read(fd, buf, n);
}

/* Everything but libunwind's write is passed on (syscall takes at most six arguments
 * after the number; reading six is what glibc's syscall does with its registers).
 * libunwind retries while errno is EINTR, so it never sees that. */
long __wrap_syscall(long nr, ...);
long __wrap_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    /* The descriptor is an int: of its register, only the low half is the caller's. */
    if (nr == SYS_write && (int)a1 == NO_FD_WRITE) {
        if (readable((const void *)(uintptr_t)a2)) {
            if (errno == EINTR)
                errno = EAGAIN;
            return 1;
        }
        return -1; /* errno is EFAULT */
    }
    return __real_syscall(nr, a1, a2, a3, a4, a5, a6);
}

/* ---- the program's calls ---- */

static bool is_shim_fd(int fd)
{
    return wr_is_log_fd(fd);
}

static int sys_close_range(unsigned first, unsigned last, int flags)
{
    if (first > last)
        return 0;
    if (real.close_range != NULL)
        return real.close_range(first, last, flags);
    return (int)syscall(SYS_close_range, first, last, flags);
}

/* Closes [first, last] except the log; the first error, or 0. */
static int close_around(unsigned first, unsigned last, int flags)
{
    int log = wr_log_fd();
    if (log < 0 || (unsigned)log < first || (unsigned)log > last || !is_shim_fd(log))
        return sys_close_range(first, last, flags);
    unsigned k = (unsigned)log; /* first <= k <= last, k < INT_MAX */
    int r1 = k > first ? sys_close_range(first, k - 1, flags) : 0;
    int r2 = k < last ? sys_close_range(k + 1, last, flags) : 0;
    return r1 != 0 ? r1 : r2;
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

/* dup2/dup3 onto the log's number (fdguard.h). The log moves first, and the real call
 * then replaces the old number (the log's duplicate) atomically; had the call failed,
 * that duplicate is closed here. If the log cannot move (no descriptor left), recording
 * stops: the program's descriptor must never receive the log. */
static int onto(int oldfd, int newfd, int flags, bool three)
{
    int moved_from = wr_is_log_fd(newfd) ? wr_move_fd() : -1;
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
