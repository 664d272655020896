/*
 * fdclose.c - a program that closes every descriptor it did not open, as daemons and
 * Python's subprocess do, then opens files of its own: the shim's log must survive it
 * and never write into the program's files (the fdclose integration test).
 *
 * usage: fdclose DIR
 * Before anything: fd_parent_leak, 7 x malloc(7001), kept. A forked child, then the
 * parent after it, each:
 *   - closes every descriptor from 3 up: close() one by one, close_range(), closefrom();
 *   - dup2()s /dev/null onto every descriptor /proc/self/fd still lists from 3 up;
 *   - sleeps 250 ms (the writer writes in between), opens 20 files DIR/{child,parent}.N
 *     and writes "ROLE N\n" to each;
 *   - allocates: the child fd_child_leak, 11 x malloc(7002), the parent fd_parent_late,
 *     13 x malloc(7003), all kept.
 * Exit status 0 when every step worked. No stdio. Built without frame pointers or unwind
 * tables (tests.mk), so that stack walks out of these functions make libunwind test
 * addresses through its pipe, one of the shim's descriptors, after everything is closed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void fd_parent_leak(void)
{
    for (int i = 0; i < 7; i++)
        ESCAPE(malloc(7001));
}

__attribute__((noipa)) static void fd_child_leak(void)
{
    for (int i = 0; i < 11; i++)
        ESCAPE(malloc(7002));
}

__attribute__((noipa)) static void fd_parent_late(void)
{
    for (int i = 0; i < 13; i++)
        ESCAPE(malloc(7003));
}

/* Every descriptor /proc/self/fd lists from 3 up gets /dev/null on top. */
static int cover_all(void)
{
    int null = open("/dev/null", O_RDWR);
    DIR *d = opendir("/proc/self/fd"); /* allocates: counted by the test as libc's */
    if (null < 0 || d == NULL)
        return -1;
    int fds[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != null && fd != dirfd(d))
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        if (dup2(null, fds[i]) < 0)
            return -1;
    return 0;
}

static int close_everything(void)
{
    struct rlimit r;
    long top = getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < 65536 ? (long)r.rlim_cur : 65536;
    for (long fd = 3; fd < top; fd++)
        close((int)fd);
    if (close_range(3, ~0u, 0) != 0)
        return -1;
    closefrom(3);
    return cover_all();
}

static int write_files(const char *dir, const char *role)
{
    struct timespec wait = { 0, 250 * 1000 * 1000 };
    nanosleep(&wait, NULL);
    for (int i = 0; i < 20; i++) {
        char path[4096], line[64];
        snprintf(path, sizeof(path), "%s/%s.%d", dir, role, i);
        int len = snprintf(line, sizeof(line), "%s %d\n", role, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, line, (size_t)len) != len)
            return -1;
    }
    nanosleep(&wait, NULL); /* files stay open while the writer writes again */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    fd_parent_leak();
    pid_t child = fork();
    if (child < 0)
        return 3;
    if (child == 0) {
        if (close_everything() != 0 || write_files(argv[1], "child") != 0)
            _exit(4);
        fd_child_leak();
        exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 5;
    if (close_everything() != 0 || write_files(argv[1], "parent") != 0)
        return 6;
    fd_parent_late();
    return 0;
}
