/*
 * settingparse.h - the values of the HEAPSPAN_* variables (settings.h) as people write
 * them: the one parser of each, for the shim (preload/rt.c, from its environment) and
 * for `heapspan run` (cli/cmd_run.c, which checks every option and every inherited
 * variable with these before it starts a program, so that the shim never has to
 * complain about a value). Byte counts are format/bytesize.h's.
 *
 * Header-only, no allocation, no I/O, no locale: the shim calls these before the real
 * allocator is known. Each returns false for anything it does not accept, and leaves
 * *out alone then.
 */
#ifndef HEAPSPAN_SETTINGPARSE_H
#define HEAPSPAN_SETTINGPARSE_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "format/settings.h"

/* A decimal integer from lo to hi, with nothing after it. */
static inline bool hs_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* 1, yes, true, on / 0, no, false, off. */
static inline bool hs_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off" };

    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(s, yes[i])) {
            *out = true;
            return true;
        }
        if (!strcmp(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

#define HS_SIGNAL_EXPECTED "USR1, USR2, RTMIN+N, a signal number, or off"

/* The marker signal: USR1, USR2 (with or without SIG), RTMIN+N (N from 0 to
 * SIGRTMAX - SIGRTMIN), a number up to SIGRTMAX but SIGKILL and SIGSTOP (which cannot
 * be caught), or off, none or 0 (0: no marker by signal). */
static inline bool hs_parse_signal(const char *s, int *out)
{
    long v;

    if (!strncmp(s, "SIG", 3) && s[3] >= 'A' && s[3] <= 'Z')
        s += 3;
    if (!strcmp(s, "USR1") || !strcmp(s, "USR2")) {
        *out = s[3] == '1' ? SIGUSR1 : SIGUSR2;
        return true;
    }
    if (!strcmp(s, "off") || !strcmp(s, "none")) {
        *out = 0;
        return true;
    }
    if (!strncmp(s, "RTMIN+", 6) && s[6] >= '0' && s[6] <= '9' &&
        hs_parse_long(s + 6, 0, SIGRTMAX - SIGRTMIN, &v)) {
        *out = SIGRTMIN + (int)v;
        return true;
    }
    if (s[0] >= '0' && s[0] <= '9' && hs_parse_long(s, 0, SIGRTMAX, &v) && v != SIGKILL &&
        v != SIGSTOP) {
        *out = (int)v;
        return true;
    }
    return false;
}

#define HS_INTERVAL_EXPECTED                                          \
    "seconds from " HS_XSTR(HS_SNAPSHOT_INTERVAL_MIN) " to " HS_XSTR( \
        HS_SNAPSHOT_INTERVAL_MAX) " (e.g. 30 or 0.5)"

/* The snapshot interval: decimal seconds from HS_SNAPSHOT_INTERVAL_MIN to
 * HS_SNAPSHOT_INTERVAL_MAX ("30", "0.5"; no hex, no inf or nan, no sign). */
static inline bool hs_parse_interval(const char *s, double *out)
{
    char *end;
    double v;

    if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '.' && s[1] >= '0' && s[1] <= '9')))
        return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' ||
        !(v >= HS_SNAPSHOT_INTERVAL_MIN && v <= HS_SNAPSHOT_INTERVAL_MAX))
        return false;
    *out = v;
    return true;
}

#endif
