/*
 * fdraw.c - a program that closes every descriptor from 3 up with the raw close_range
 * system call, as binaries built against glibc before 2.34 do (the shim's close_range
 * hook never sees it), then opens files of its own until they take every number the
 * shim had: the shim must notice that its descriptors are no longer its own and never
 * write into the program's files (the `fdraw` integration test).
 *
 * usage: fdraw DIR
 *   - fd_before: 5 x malloc(7101), kept;
 *   - notes the highest regular file /proc/self/fd lists (the shim's log; else the
 *     highest descriptor), and waits until it grows, or 2 s: the shim's writer has just
 *     written, and will not again for about 100 ms;
 *   - syscall(SYS_close_range, 3, ~0U, 0);
 *   - opens DIR/f.0, DIR/f.1, ... until one gets that number or above (or no descriptor
 *     is left), and writes "f N\n" to each, keeping them open;
 *   - twice: a new thread runs fd_after, 9 x malloc(7102), kept, and main sleeps 300 ms
 *     (the writer writes meanwhile). The thread's stack is new memory, and the stacks
 *     are walked with libunwind (no frame pointers, no unwind tables: tests.mk), which
 *     tests such addresses before reading them - through a pipe, unless the shim can
 *     do without;
 *   - closes the files.
 * Exit status 0 when every step worked. No stdio.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void fd_before(void)
{
    for (int i = 0; i < 5; i++)
        ESCAPE(malloc(7101));
}

__attribute__((noipa)) static void *fd_after(void *arg)
{
    for (int i = 0; i < 9; i++)
        ESCAPE(malloc(7102));
    return arg;
}

/* The highest descriptor open now, and the highest regular file (opendir allocates:
 * its allocation and free are libc's, and come before the counted ones). */
static int highest_fd(int *file)
{
    DIR *d = opendir("/proc/self/fd");
    int top = -1;
    struct dirent *e;
    struct stat st;
    if (d == NULL)
        return -1;
    *file = -1;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d))
            continue;
        if (fd > top)
            top = fd;
        if (fd > 2 && fd > *file && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            *file = fd;
    }
    closedir(d);
    return top;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

static void wait_for_growth(int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return;
    off_t size = st.st_size;
    for (int i = 0; i < 2000 && fstat(fd, &st) == 0 && st.st_size == size; i++)
        sleep_ms(1);
}

int main(int argc, char **argv)
{
    static int fds[65536];
    int n = 0;

    if (argc < 2)
        return 2;
    fd_before();
    int log;
    int top = highest_fd(&log);
    if (top < 3)
        return 3;
    if (log > 2)
        top = log;
    wait_for_growth(log);
    if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
        return 4;
    for (;;) {
        char path[4096], line[32];
        snprintf(path, sizeof(path), "%s/f.%d", argv[1], n);
        int len = snprintf(line, sizeof(line), "f %d\n", n);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 && errno == EMFILE)
            break;
        if (fd < 0 || write(fd, line, (size_t)len) != len)
            return 5;
        fds[n++] = fd;
        if (fd >= top || n == 65536)
            break;
    }
    for (int round = 0; round < 2; round++) {
        pthread_t t;
        if (pthread_create(&t, NULL, fd_after, NULL) != 0 || pthread_join(t, NULL) != 0)
            return 6;
        sleep_ms(300);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}
