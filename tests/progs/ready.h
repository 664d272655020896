/* ready.h - how a test program tells its test it is ready: it writes "PID\n" to a file
 * through a temporary name, so the test never reads half of it. No allocation (snprintf
 * of an int does not allocate): the programs count their allocations exactly. */
#ifndef HEAPSPAN_TEST_READY_H
#define HEAPSPAN_TEST_READY_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int say_ready(const char *path)
{
    char tmp[4096], line[32];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -1;
    int len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0)
        return -1;
    return rename(tmp, path);
}

#endif
