/* rt.c - see rt.h. */
#include "preload/rt.h"

#include "format/bytesize.h"
#include "format/settingparse.h"
#include "format/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct rt_config rt_cfg;
bool rt_clock_tsc;

void *rt_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void rt_unmap(void *p, size_t size)
{
    if (p != NULL)
        munmap(p, size);
}

int rt_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

char *rt_fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

char *rt_fmt_hex(char *p, uint64_t v)
{
    char tmp[16];
    int n = 0;

    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    *p++ = '0';
    *p++ = 'x';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

char *rt_fmt_str(char *p, const char *end, const char *s)
{
    while (*s != '\0' && p < end)
        *p++ = *s++;
    return p;
}

int rt_open_anyway(const char *path, int flags, int mode)
{
    struct rlimit r, raised;
    int f = open(path, flags, mode);

    if (f >= 0 || errno != EMFILE || getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max)
        return f;
    raised = r;
    raised.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
        return -1;
    f = open(path, flags, mode);
    int saved = errno;
    setrlimit(RLIMIT_NOFILE, &r);
    errno = saved;
    return f;
}

int rt_fd_move_high(int fd)
{
    struct rlimit r, raised;
    int high = -1;

    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &r) != 0)
        return fd;
    if (r.rlim_cur < r.rlim_max && r.rlim_cur < 1024) {
        raised = r;
        raised.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            high = fcntl(fd, F_DUPFD_CLOEXEC, (int)r.rlim_cur);
            setrlimit(RLIMIT_NOFILE, &r);
        }
    }
    if (high < 0 && r.rlim_cur < RT_FD_FEW) {
        syscall(SYS_close, fd);
        return -1;
    }
    if (high < 0)
        high = fcntl(fd, F_DUPFD_CLOEXEC, r.rlim_cur > 2000 ? 1000 : (int)(r.rlim_cur / 2));
    if (high < 0)
        return fd;
    syscall(SYS_close, fd);
    return high;
}

void rt_say(const char *first, ...)
{
    char buf[1024];
    char *end = buf + sizeof(buf) - 1;
    char *p = rt_fmt_str(buf, end, "heapspan: ");
    va_list ap;
    int saved = errno;

    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
        p = rt_fmt_str(p, end, s);
    va_end(ap);
    *p++ = '\n';
    (void)rt_write_all(2, buf, (size_t)(p - buf));
    errno = saved;
}

uint64_t rt_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t rt_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rt_clock_init(void)
{
    char buf[32] = { 0 };
    int fd = rt_open_anyway("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                            O_RDONLY | O_CLOEXEC, 0);

    rt_clock_tsc = false;
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    rt_clock_tsc = n >= 3 && memcmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

int rt_gettid(void)
{
    return (int)syscall(SYS_gettid);
}

/* ---- configuration ---- */

static void bad_value(const char *var, const char *val, const char *expect, const char *dflt)
{
    rt_say("ignoring ", var, "=", val, ": expected ", expect, "; using ", dflt, NULL);
}

static void copy_path(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void rt_config_load(void)
{
    const char *v;
    long l;

    memset(&rt_cfg, 0, sizeof(rt_cfg));
    ssize_t n = readlink("/proc/self/exe", rt_cfg.exe, sizeof(rt_cfg.exe) - 1);
    rt_cfg.exe[n > 0 ? n : 0] = '\0';
    copy_path(rt_cfg.output, sizeof(rt_cfg.output), HS_DEFAULT_OUTPUT);
    rt_cfg.max_depth = HS_DEFAULT_DEPTH;
    rt_cfg.follow_children = true;
    rt_cfg.marker_signal = HS_DEFAULT_MARKER_SIGNAL;

    if ((v = getenv(HS_ENV_OUTPUT)) != NULL && v[0] != '\0')
        copy_path(rt_cfg.output, sizeof(rt_cfg.output), v);
    if ((v = getenv(HS_ENV_SAMPLE_BYTES)) != NULL && v[0] != '\0' &&
        !hs_parse_bytes(v, &rt_cfg.sample_bytes)) {
        bad_value(HS_ENV_SAMPLE_BYTES, v, "a byte count like 524288 or 512K", "0 (all)");
        rt_cfg.sample_bytes = 0;
    }
    if ((v = getenv(HS_ENV_DEPTH)) != NULL && v[0] != '\0') {
        if (hs_parse_long(v, 1, HS_MAX_DEPTH, &l))
            rt_cfg.max_depth = (int)l;
        else
            bad_value(HS_ENV_DEPTH, v, "a frame count from 1 to " HS_XSTR(HS_MAX_DEPTH),
                      HS_XSTR(HS_DEFAULT_DEPTH));
    }
    if ((v = getenv(HS_ENV_FOLLOW_CHILDREN)) != NULL && v[0] != '\0' &&
        !hs_parse_bool(v, &rt_cfg.follow_children)) {
        bad_value(HS_ENV_FOLLOW_CHILDREN, v, "1 or 0", "1");
        rt_cfg.follow_children = true;
    }
    if ((v = getenv(HS_ENV_MARKER_SIGNAL)) != NULL && v[0] != '\0' &&
        !hs_parse_signal(v, &rt_cfg.marker_signal)) {
        bad_value(HS_ENV_MARKER_SIGNAL, v, HS_SIGNAL_EXPECTED, "USR2");
        rt_cfg.marker_signal = HS_DEFAULT_MARKER_SIGNAL;
    }
    if ((v = getenv(HS_ENV_SNAPSHOT_INTERVAL)) != NULL && v[0] != '\0') {
        double secs;
        if (hs_parse_interval(v, &secs))
            rt_cfg.snapshot_interval_ns = (uint64_t)(secs * 1e9);
        else
            bad_value(HS_ENV_SNAPSHOT_INTERVAL, v, HS_INTERVAL_EXPECTED, "off");
    }
    if ((v = getenv(HS_ENV_ROOT_PID)) != NULL && hs_parse_long(v, 1, 1L << 30, &l))
        rt_cfg.root_pid = (int)l;
    if ((v = getenv(HS_ENV_MANIFEST)) != NULL && v[0] != '\0')
        copy_path(rt_cfg.manifest, sizeof(rt_cfg.manifest), v);
    if ((v = getenv(HS_ENV_ROOT_LOG)) != NULL && v[0] != '\0')
        copy_path(rt_cfg.root_log, sizeof(rt_cfg.root_log), v);
    if ((v = getenv(HS_ENV_QUIET)) != NULL)
        (void)hs_parse_bool(v, &rt_cfg.quiet);
    if ((v = getenv(HS_ENV_SNAPSHOT_ON_RSS)) != NULL && v[0] != '\0') {
        rt_cfg.memwatch = hs_parse_bytes(v, &rt_cfg.snapshot_on_rss);
        if (!rt_cfg.memwatch)
            bad_value(HS_ENV_SNAPSHOT_ON_RSS, v, "a byte count like 512M or 2G", "off");
    }
}
