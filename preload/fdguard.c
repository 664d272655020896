/* fdguard.c - see fdguard.h. */
#include "fdguard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "writer.h"

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

static int sys_close_range(unsigned first, unsigned last, int flags)
{
    if (first > last)
        return 0;
    if (real.close_range != NULL)
        return real.close_range(first, last, flags);
    return (int)syscall(SYS_close_range, first, last, flags);
}

EXPORT int close(int fd)
{
    if (__builtin_expect(wr_is_log_fd(fd), 0))
        return 0;
    if (real.close != NULL)
        return real.close(fd);
    return (int)syscall(SYS_close, fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    int log = wr_log_fd();
    /* CLOSE_RANGE_CLOEXEC only marks descriptors close-on-exec: the log already is. */
    if (log < 0 || (unsigned)log < first || (unsigned)log > last || (flags & CLOSE_RANGE_CLOEXEC) ||
        !wr_is_log_fd(log))
        return sys_close_range(first, last, flags);
    int below = (unsigned)log > first ? sys_close_range(first, (unsigned)log - 1, flags) : 0;
    int above = (unsigned)log < last ? sys_close_range((unsigned)log + 1, last, flags) : 0;
    return below != 0 ? below : above;
}

EXPORT void closefrom(int lowfd)
{
    int log = wr_log_fd();
    if (lowfd < 0)
        lowfd = 0;
    if (log < lowfd || !wr_is_log_fd(log)) {
        if (real.closefrom != NULL)
            real.closefrom(lowfd);
        else
            sys_close_range((unsigned)lowfd, UINT_MAX, 0);
        return;
    }
    sys_close_range((unsigned)lowfd, (unsigned)log - 1, 0);
    sys_close_range((unsigned)log + 1, UINT_MAX, 0);
}

/* dup2/dup3 onto the log's number: the log moves first; the real call then replaces
 * the old number (the log's duplicate) atomically. Had the call failed, that duplicate
 * is closed here. If the log cannot move (no descriptor left), recording stops: the
 * program's descriptor must never receive the log. */
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
