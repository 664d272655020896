/* memwatch.c - see memwatch.h. */
#include "preload/memwatch.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "format/settings.h"
#include "preload/rt.h"
#include "preload/writer.h"

#define MW_PERIOD_NS 10000000u /* a check costs ~10 us; 10 ms bounds it to 0.1% of a core */

static uint64_t last_check; /* monotonic ns */
static uint64_t next_rss;   /* bytes: the step that writes the next marker; 0 before the first */

/* The cgroup's memory.events: unknown until the first check, then its path or none. */
enum { CG_UNKNOWN, CG_WATCH, CG_NONE };
static int cg_state;
static char cg_path[HS_MAX_PATH + 64];
static uint64_t cg_high;

/* The file's first cap - 1 bytes, NUL-terminated: their count, or -1. System calls, not
 * libc's wrappers: the shim is linked with --wrap=read and close (preload/fdguard.h),
 * and this descriptor is nobody's business but ours. */
static long read_file(const char *path, char *buf, size_t cap)
{
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long n = syscall(SYS_read, (int)fd, buf, cap - 1);
    syscall(SYS_close, (int)fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static const char *next_line(const char *p)
{
    const char *e = strchr(p, '\n');
    return e != NULL ? e + 1 : NULL;
}

/* The decimal number at s (leading spaces skipped); *end after it. */
static bool parse_u64(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    *out = v;
    if (end != NULL)
        *end = s;
    return true;
}

/* /proc/self/statm: size, then resident, in pages. */
static void check_rss(void)
{
    char buf[128];
    const char *p;
    uint64_t size, pages;
    uint64_t step = rt_cfg.snapshot_on_rss;

    if (read_file("/proc/self/statm", buf, sizeof(buf)) <= 0 || !parse_u64(buf, &size, &p) ||
        !parse_u64(p, &pages, NULL))
        return;
    uint64_t rss = pages * (uint64_t)sysconf(_SC_PAGESIZE);
    if (next_rss == 0)
        next_rss = step;
    if (rss < next_rss)
        return;
    wr_marker(LF_MARKER_RSS);
    next_rss = (rss / step + 1) * step; /* one marker however many steps were crossed */
}

/* The "high N" line of a memory.events file. */
static bool events_high(const char *path, uint64_t *out)
{
    char buf[1024];
    if (read_file(path, buf, sizeof(buf)) <= 0)
        return false;
    for (const char *p = buf; p != NULL && *p != '\0'; p = next_line(p))
        if (!strncmp(p, "high ", 5))
            return parse_u64(p + 5, out, NULL);
    return false;
}

/* Where this process's cgroup v2 keeps memory.events: the "0::PATH" line of
 * /proc/self/cgroup, under the unified hierarchy's mount - /sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid system. */
static void find_cgroup(void)
{
    static const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
    char buf[HS_MAX_PATH];
    const char *line = NULL;

    cg_state = CG_NONE;
    if (read_file("/proc/self/cgroup", buf, sizeof(buf)) <= 0)
        return;
    for (const char *p = buf; p != NULL && *p != '\0'; p = next_line(p))
        if (!strncmp(p, "0::", 3)) {
            line = p + 3;
            break;
        }
    if (line == NULL)
        return;
    size_t len = strcspn(line, "\n");
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        char *end = cg_path + sizeof(cg_path) - 1;
        char *q = rt_fmt_str(cg_path, end, roots[i]);
        for (size_t k = 0; k < len && q < end; k++)
            *q++ = line[k];
        q = rt_fmt_str(q, end, "/memory.events");
        *q = '\0';
        if (q < end && events_high(cg_path, &cg_high)) {
            cg_state = CG_WATCH;
            return;
        }
    }
}

static void check_cgroup(void)
{
    uint64_t high;

    if (cg_state == CG_UNKNOWN)
        find_cgroup(); /* the count at start is the baseline: no marker for it */
    if (cg_state != CG_WATCH || !events_high(cg_path, &high))
        return;
    if (high > cg_high)
        wr_marker(LF_MARKER_CGROUP_HIGH);
    cg_high = high;
}

void mw_tick(void)
{
    if (!rt_cfg.memwatch)
        return;
    uint64_t now = rt_monotonic_ns();
    if (last_check != 0 && now - last_check < MW_PERIOD_NS)
        return;
    last_check = now;
    if (rt_cfg.snapshot_on_rss > 0)
        check_rss();
    check_cgroup();
}
