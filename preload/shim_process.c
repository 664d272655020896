/*
 * shim_process.c - the process events the log must survive: exit (our destructor),
 * _exit and _Exit (the log is finished before the real call), dlclose (the module map
 * learns what was loaded and unloaded), and the exec family (the log is flushed and
 * marked; the new image logs on its own). Called by the program from any thread, or
 * from a signal handler that interrupted the shim (finish then does only the bounded
 * flush). None of these fails a call the real function would not fail, and a failed
 * exec leaves errno as the exec set it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "preload/modmap.h"
#include "preload/rt.h"
#include "preload/shim.h"
#include "preload/stacks.h"
#include "preload/writer.h"

static void finish(int reason)
{
    if (getpid() != shim_my_pid)
        return; /* a vfork child sharing our memory */
    bool interrupted = rt_in_shim != 0;
    if (!__atomic_exchange_n(&shim_recording, false, __ATOMIC_ACQ_REL)) {
        /* Not recording, or another thread is finishing - or recording stopped early:
         * then the log's end record gets the final count of what is not in it. */
        if (!interrupted &&
            __atomic_exchange_n(&shim_counting_unwritten, false, __ATOMIC_ACQ_REL)) {
            rt_in_shim++;
            wr_settle_lost(shim_unwritten_stateless());
            rt_in_shim--;
        }
        return;
    }
    rt_in_shim++;
    if (interrupted) {
        /* _exit from a signal handler that interrupted the shim: this thread's buffer
         * may be mid-record and our locks held by the code it interrupted, so only the
         * bounded flush of committed records. */
        wr_emergency(reason);
    } else {
        /* A library loaded since the writer's last look (it looks every 100 ms, or
         * when a thread has filled 1 MiB) still belongs in the module map. */
        mm_scan(false);
        shim_count_live_zeros();
        wr_finish(reason);
    }
    rt_in_shim--;
}

__attribute__((destructor)) static void shim_fini(void)
{
    finish(LF_END_EXIT);
}

SHIM_EXPORT void _exit(int status)
{
    shim_ensure_ready();
    finish(LF_END_UNDERSCORE_EXIT);
    shim_real.exit_(status);
}

SHIM_EXPORT void _Exit(int status)
{
    shim_ensure_ready();
    finish(LF_END_UNDERSCORE_EXIT);
    shim_real.Exit_(status);
}

SHIM_EXPORT int dlclose(void *handle)
{
    shim_ensure_ready();
    bool rec = shim_recording && !rt_in_shim;
    if (rec) {
        rt_in_shim++;
        mm_scan(false); /* catch what was loaded since the writer's last look */
        rt_in_shim--;
    }
    int r = shim_real.dlclose(handle);
    if (rec) {
        rt_in_shim++;
        mm_scan(false);
        st_flush_unwind_cache();
        rt_in_shim--;
    }
    return r;
}

/* exec: flush what this image recorded and mark the log; the new image loads the shim
 * again (LD_PRELOAD is inherited) and starts its own log. The configured name goes to
 * the newest image: this image's log is renamed to NAME.execN.hsl first, and back if
 * the exec fails; a log with no event in it is removed instead, and written again if
 * the exec fails. A vfork child (another pid in our memory) touches nothing. */
struct exec_state {
    bool renamed, discarded;
    char old_path[4096];
};

static void exec_begin(struct exec_state *s)
{
    s->renamed = s->discarded = false;
    if (!shim_recording || rt_in_shim || getpid() != shim_my_pid)
        return;
    rt_in_shim++;
    mm_scan(false);
    wr_marker(LF_MARKER_EXEC);
    wr_flush();
    /* An image that recorded nothing (a child between fork and exec) leaves no log of
     * its own: an empty .execN log per spawned command would say nothing but "0 B". */
    if (rt_cfg.follow_children)
        s->discarded = wr_discard_unused();
    if (rt_cfg.follow_children && !s->discarded) {
        const char *cur = wr_path();
        size_t n = strlen(cur);
        if (n < sizeof(s->old_path) - 32) {
            char to[4096];
            memcpy(s->old_path, cur, n + 1);
            const char *ext = n > 4 && !strcmp(cur + n - 4, ".hsl") ? cur + n - 4 : cur + n;
            for (int k = 1; k < 100 && !s->renamed; k++) {
                char *p = to;
                memcpy(p, cur, (size_t)(ext - cur));
                p += ext - cur;
                p = rt_fmt_str(p, to + sizeof(to) - 8, ".exec");
                p = rt_fmt_u64(p, (uint64_t)k);
                p = rt_fmt_str(p, to + sizeof(to) - 1, ext);
                *p = '\0';
                if (access(to, F_OK) != 0)
                    s->renamed = wr_rename(to) == 0;
            }
        }
    }
    rt_in_shim--;
}

static void exec_failed(struct exec_state *s)
{
    int saved = errno;

    if (s->discarded) {
        rt_in_shim++;
        wr_restore_unused();
        wr_note(1, "exec failed; this image goes on recording");
        rt_in_shim--;
    }
    if (s->renamed) {
        rt_in_shim++;
        (void)wr_rename(s->old_path);
        wr_note(1, "exec failed; this image goes on recording");
        rt_in_shim--;
    }
    errno = saved;
}

/* The array forms: the real call between exec_begin and exec_failed (it returns only
 * if the exec failed). */
#define EXEC_HOOK(name, params, args) \
    SHIM_EXPORT int name params       \
    {                                 \
        struct exec_state s;          \
        shim_ensure_ready();          \
        exec_begin(&s);               \
        int r = shim_real.name args;  \
        exec_failed(&s);              \
        return r;                     \
    }

EXEC_HOOK(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp))
EXEC_HOOK(execv, (const char *path, char *const argv[]), (path, argv))
EXEC_HOOK(execvp, (const char *file, char *const argv[]), (file, argv))
EXEC_HOOK(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))
EXEC_HOOK(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))

/* The execl family collects its arguments into an array and calls the array form. */
#define MAX_EXECL_ARGS 4096
#define COLLECT_ARGS(first, argv, ap)    \
    size_t n_ = 1;                       \
    argv[0] = (char *)(first);           \
    while (argv[n_ - 1] != NULL) {       \
        if (n_ == MAX_EXECL_ARGS) {      \
            errno = E2BIG;               \
            va_end(ap);                  \
            return -1;                   \
        }                                \
        argv[n_++] = va_arg(ap, char *); \
    }

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
    char *argv[MAX_EXECL_ARGS];
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, argv, ap);
    va_end(ap);
    return execve(path, argv, environ);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
    char *argv[MAX_EXECL_ARGS];
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, argv, ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
    char *argv[MAX_EXECL_ARGS];
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, argv, ap);
    va_end(ap);
    return execvp(file, argv);
}
