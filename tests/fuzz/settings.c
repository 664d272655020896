/*
 * settings.c - fuzz target: any string as a value of a HEAPSPAN_* variable or a `heapspan
 * run` option (format/settingparse.h: the marker signal, the snapshot interval, a
 * number, a yes/no), and as a misspelled option (cli/opts.c's edit distance and "did
 * you mean"). The first byte picks which; the rest is the string.
 *
 * Checks: an accepted signal is what a plain reading of the string says (a reference
 * written from the header's contract), never SIGKILL or SIGSTOP; an accepted interval
 * is a plain decimal within the limits; the edit distance is a metric's worth of sane
 * (zero to itself, symmetric, within the lengths' bounds) and a suggestion is near.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/opts.h"
#include "format/settingparse.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* The signal a plain reading gives, or -1. */
static int reference_signal(const char *s)
{
    if (!strncmp(s, "SIG", 3) && s[3] >= 'A' && s[3] <= 'Z')
        s += 3;
    if (!strcmp(s, "USR1"))
        return SIGUSR1;
    if (!strcmp(s, "USR2"))
        return SIGUSR2;
    if (!strcmp(s, "off") || !strcmp(s, "none"))
        return 0;
    if (!strncmp(s, "RTMIN+", 6) && all_digits(s + 6) && strlen(s + 6) <= 4) {
        int n = 0;
        for (const char *p = s + 6; *p; p++)
            n = n * 10 + (*p - '0');
        return n <= SIGRTMAX - SIGRTMIN ? SIGRTMIN + n : -1;
    }
    if (all_digits(s) && strlen(s) <= 4) {
        int n = 0;
        for (const char *p = s; *p; p++)
            n = n * 10 + (*p - '0');
        return n <= SIGRTMAX && n != SIGKILL && n != SIGSTOP ? n : -1;
    }
    return -1;
}

static const char *const names[] = { "output",
                                     "sample",
                                     "depth",
                                     "no-follow-children",
                                     "marker-signal",
                                     "snapshot-interval",
                                     "snapshot-on-rss",
                                     "force",
                                     "help" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128];

    if (size < 1 || size > sizeof(s))
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    if (memchr(s, '\0', size - 1) != NULL && strlen(s) != size - 1)
        return 0; /* a C string ends at its first NUL: argv and getenv never hold one */
    switch (data[0] % 5) {
    case 0: {
        int got = -2, want = reference_signal(s);
        bool ok = hs_parse_signal(s, &got);
        /* The reference reads at most 4 digits; a longer number is out of range anyway
         * unless it has leading zeros, which both may read differently: skip those. */
        if (!ok && want >= 0)
            fz_fail("hs_parse_signal", "refused what a plain reading accepts", size);
        if (ok && (got == SIGKILL || got == SIGSTOP || got < 0 || got > SIGRTMAX))
            fz_fail("hs_parse_signal", "accepted a signal that cannot be a marker", size);
        if (ok && want >= 0 && got != want)
            fz_fail("hs_parse_signal", "read another signal", size);
        if (ok && want < 0 && strlen(s) <= 4)
            fz_fail("hs_parse_signal", "accepted what a plain reading refuses", size);
        break;
    }
    case 1: {
        double v = -1;
        if (hs_parse_interval(s, &v)) {
            if (!(v >= HS_SNAPSHOT_INTERVAL_MIN && v <= HS_SNAPSHOT_INTERVAL_MAX))
                fz_fail("hs_parse_interval", "accepted a value outside the limits", size);
            for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
                      *p == '+' || *p == '-'))
                    fz_fail("hs_parse_interval", "accepted a character no decimal has", size);
            if (s[0] == '-' || s[0] == '+')
                fz_fail("hs_parse_interval", "accepted a sign", size);
        }
        break;
    }
    case 2: {
        long v = 0;
        if (hs_parse_long(s, 1, 1024, &v) && (v < 1 || v > 1024))
            fz_fail("hs_parse_long", "accepted a value outside the limits", size);
        break;
    }
    case 3: {
        bool b;
        bool ok = hs_parse_bool(s, &b);
        bool known = !strcmp(s, "1") || !strcmp(s, "0") || !strcmp(s, "yes") || !strcmp(s, "no") ||
                     !strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "on") ||
                     !strcmp(s, "off");
        if (ok != known)
            fz_fail("hs_parse_bool", "disagrees with its list", size);
        break;
    }
    default: {
        size_t n = strlen(s);
        size_t self = opt_edit_distance(s, n, s, n);
        if (n < 64 && self != 0)
            fz_fail("opt_edit_distance", "a word is not at distance 0 from itself", size);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            size_t m = strlen(names[i]);
            size_t d = opt_edit_distance(s, n, names[i], m);
            size_t back = opt_edit_distance(names[i], m, s, n);
            if (d != back)
                fz_fail("opt_edit_distance", "not symmetric", size);
            if (n < 64 && (d > (n > m ? n : m) || d < (n > m ? n - m : m - n)))
                fz_fail("opt_edit_distance", "outside the bounds the lengths set", size);
        }
        const char *near = opt_nearest(s, names, sizeof(names) / sizeof(names[0]));
        if (near != NULL) {
            size_t d = opt_edit_distance(s, n, near, strlen(near));
            size_t limit = n / 3 < 1 ? 1 : n / 3 > 3 ? 3 : n / 3;
            if (d > limit)
                fz_fail("opt_nearest", "suggested a name that is not near", size);
        }
        break;
    }
    }
    return 0;
}
