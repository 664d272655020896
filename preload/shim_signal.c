/*
 * shim_signal.c - signals. The shim installs handlers only where the disposition is the
 * default: the marker signal, and the fatal signals (to flush before dying). A handler
 * the program installs later replaces ours, and the program is told the old disposition
 * was the default, as it would have been without us; a fatal signal the program sets back
 * to the default is the shim's again (take_back). The handlers run on any thread,
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

/* A fatal signal the program gives back to the default disposition, as CPython does
 * before it kills itself with SIGINT after an uncaught KeyboardInterrupt (Modules/main.c,
 * exit_sigint): the default it asks for is "die", and dying must flush the log, so the
 * shim's handler takes the signal again - and dies of it, by the default, after the
 * flush. The program is told the disposition it had, and from then on that it has the
 * default. Returns whether the shim took it (the real call's result in *r). */
static bool takes_back(int sig)
{
    bool fatal = false;

    if (!shim_recording || sig == rt_cfg.marker_signal)
        return false;
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
        fatal = fatal || (fatal_signals[i] == sig && sig != SIGPIPE);
    return fatal;
}

static bool take_back(int sig, bool dfl, struct sigaction *prev, int *r)
{
    if (!dfl || !takes_back(sig))
        return false;
    *r = shim_real.sigaction(sig, NULL, prev);
    if (*r != 0)
        return false;
    struct sigaction dfl_act;
    memset(&dfl_act, 0, sizeof(dfl_act));
    dfl_act.sa_handler = SIG_DFL;
    if (shim_real.sigaction(sig, &dfl_act, NULL) != 0)
        return false;
    install(sig, on_fatal, NULL); /* from the default just set; owned[sig] if it took */
    return true;
}

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    shim_ensure_ready();
    if (sig > 0 && sig < _NSIG && !owned[sig] && act != NULL) {
        struct sigaction prev;
        int r;
        if (take_back(sig, act->sa_handler == SIG_DFL && !(act->sa_flags & SA_SIGINFO), &prev,
                      &r)) {
            if (old != NULL)
                *old = prev;
            return 0;
        }
    }
    if (sig <= 0 || sig >= _NSIG || !owned[sig])
        return shim_real.sigaction(sig, act, old);
    /* A query, or the default asked for again while ours stands in for it. */
    if (act == NULL ||
        (act->sa_handler == SIG_DFL && !(act->sa_flags & SA_SIGINFO) && takes_back(sig))) {
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
    if (sig > 0 && sig < _NSIG && !owned[sig]) {
        struct sigaction prev;
        int r;
        if (take_back(sig, handler == SIG_DFL, &prev, &r))
            return (prev.sa_flags & SA_SIGINFO) ? (sighandler_t)(void *)prev.sa_sigaction
                                                : prev.sa_handler;
    }
    if (sig <= 0 || sig >= _NSIG || !owned[sig])
        return shim_real.signal(sig, handler);
    if (handler == SIG_DFL && takes_back(sig))
        return SIG_DFL;
    sighandler_t r = shim_real.signal(sig, handler);
    if (r == SIG_ERR)
        return r;
    program_took(sig);
    return SIG_DFL;
}
