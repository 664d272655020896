/*
 * shim_signal.c - signals. The shim installs handlers only where the disposition is the
 * default: the marker signal, and the fatal signals (to flush before dying). A handler
 * the program installs later replaces ours, and the program is told the old disposition
 * was the default, as it would have been without us. The handlers run on any thread,
 * at any moment: a fatal asynchronous signal that interrupts the shim waits for the
 * hook to return (shim_pending_signal). sigaction and signal are the program's hooks:
 * they answer as the real calls would have without the shim.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/shim.h"
#include "preload/writer.h"

static const int fatal_signals[] = { SIGSEGV, SIGBUS,  SIGILL,  SIGFPE,  SIGABRT, SIGTERM, SIGINT,
                                     SIGHUP,  SIGQUIT, SIGXCPU, SIGXFSZ, SIGSYS,  SIGPIPE };
static bool owned[_NSIG];

static bool is_async_signal(int sig)
{
    return sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGSYS;
}

static void give_back(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    shim_real.sigaction(sig, &dfl, NULL);
    owned[sig] = false;
}

static void flush_for_signal(void)
{
    if (!shim_recording || getpid() != shim_my_pid)
        return;
    shim_recording = false;
    rt_in_shim++;
    wr_emergency(LF_END_SIGNAL);
    rt_in_shim--;
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    (void)uc;

    if (rt_in_shim && is_async_signal(sig) && shim_recording && shim_pending_signal != sig) {
        shim_pending_signal = sig; /* acted on as the interrupted hook returns */
        errno = saved;
        return;
    }
    /* The same signal again while the first waits: the hook is not returning (a
     * bug of ours must never make a process unkillable by SIGTERM or ^C). */
    if (!rt_in_shim)
        flush_for_signal();
    give_back(sig);
    /* A fault re-executes the faulting instruction and dies of it with SIG_DFL; a sent
     * signal must be sent again (it is blocked until we return). */
    if (!is_async_signal(sig) && si != NULL && si->si_code > 0)
        return;
    raise(sig);
    errno = saved;
}

void shim_deliver_pending_signal(void)
{
    int sig = shim_pending_signal;
    shim_pending_signal = 0;
    flush_for_signal();
    give_back(sig);
    raise(sig);
}

static void on_marker(int sig)
{
    int saved = errno;
    (void)sig;
    wr_request_marker();
    errno = saved;
}

static void install(int sig, void (*handler)(int, siginfo_t *, void *), void (*simple)(int))
{
    struct sigaction cur, act;

    if (shim_real.sigaction(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL ||
        (cur.sa_flags & SA_SIGINFO))
        return;
    memset(&act, 0, sizeof(act));
    sigemptyset(&act.sa_mask);
    if (handler != NULL) {
        act.sa_sigaction = handler;
        act.sa_flags = SA_SIGINFO | SA_RESTART;
    } else {
        act.sa_handler = simple;
        act.sa_flags = SA_RESTART;
    }
    if (shim_real.sigaction(sig, &act, NULL) == 0)
        owned[sig] = true;
}

void shim_install_signal_handlers(void)
{
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
        int sig = fatal_signals[i];
        if (sig == SIGPIPE)
            continue; /* listed for the program's view only: default stays default */
        if (sig != rt_cfg.marker_signal)
            install(sig, on_fatal, NULL);
    }
    if (rt_cfg.marker_signal > 0 && rt_cfg.marker_signal < _NSIG)
        install(rt_cfg.marker_signal, NULL, on_marker);
}

static void program_took(int sig)
{
    owned[sig] = false;
    if (sig == rt_cfg.marker_signal && shim_recording) {
        rt_in_shim++;
        wr_note(1, "the program installed its own handler for the marker signal; "
                   "snapshot markers by signal are off for this run");
        rt_in_shim--;
    }
}

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    shim_ensure_ready();
    if (sig <= 0 || sig >= _NSIG || !owned[sig])
        return shim_real.sigaction(sig, act, old);
    if (act == NULL) {
        if (old != NULL) {
            memset(old, 0, sizeof(*old));
            old->sa_handler = SIG_DFL;
        }
        return 0;
    }
    int r = shim_real.sigaction(sig, act, NULL);
    if (r == 0) {
        program_took(sig);
        if (old != NULL) {
            memset(old, 0, sizeof(*old));
            old->sa_handler = SIG_DFL;
        }
    }
    return r;
}

SHIM_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    shim_ensure_ready();
    if (sig <= 0 || sig >= _NSIG || !owned[sig])
        return shim_real.signal(sig, handler);
    sighandler_t r = shim_real.signal(sig, handler);
    if (r == SIG_ERR)
        return r;
    program_took(sig);
    return SIG_DFL;
}
