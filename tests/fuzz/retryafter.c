/*
 * retryafter.c - fuzz target: any bytes as the value of a server's Retry-After header
 * (cli/http.c's http_parse_retry_after, which the OTLP and Pyroscope pushes obey). A
 * server is outside input: the wait it asks for must be read exactly or refused.
 *
 * Checks: the result is -1 (refused) or a finite number of seconds >= 0; a value of
 * digits alone (around spaces) is read as exactly that number when it fits 64 bits and
 * refused when it does not; a date that was accepted and lies in the future, written
 * again as an IMF-fixdate, is read as the same wait.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cli/http.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed "now", so that an input replays alike: 2026-01-01T00:00:00Z. */
#define FUZZ_NOW 1767225600.0

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Delta-seconds as RFC 9110 reads them: digits, with blanks around. Returns false when
 * s is not digits alone; *fits says whether the number fits 64 bits. */
static bool reference_delta(const char *s, unsigned __int128 *v, bool *fits)
{
    size_t i = 0, digits = 0;

    while (s[i] == ' ' || s[i] == '\t')
        i++;
    *v = 0;
    *fits = true;
    for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (*fits) {
            *v = *v * 10 + (unsigned)(s[i] - '0');
            if (*v > UINT64_MAX)
                *fits = false;
        }
    }
    while (is_blank(s[i]))
        i++;
    return digits > 0 && s[i] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[256];

    if (size >= sizeof(s) || memchr(data, '\0', size) != NULL)
        return 0; /* the header callback keeps values under 256 bytes, NUL-free */
    memcpy(s, data, size);
    s[size] = '\0';

    double got = http_parse_retry_after(s, FUZZ_NOW);
    if (got != -1 && !(isfinite(got) && got >= 0))
        fz_fail("http_parse_retry_after", "a wait that is neither -1 nor finite and >= 0", size);

    unsigned __int128 v;
    bool fits;
    if (reference_delta(s, &v, &fits)) {
        if (!fits && got != -1)
            fz_fail("http_parse_retry_after", "accepted seconds that do not fit 64 bits", size);
        if (fits && got != (double)(uint64_t)v)
            fz_fail("http_parse_retry_after", "read other seconds than written", size);
        return 0;
    }

    if (got > 0 && got < 1e10) {
        /* An accepted date in the future: the same instant, written canonically. */
        time_t at = (time_t)(FUZZ_NOW + got);
        struct tm tm;
        char again[64];
        if (gmtime_r(&at, &tm) == NULL ||
            strftime(again, sizeof(again), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
            return 0;
        if (http_parse_retry_after(again, FUZZ_NOW) != got)
            fz_fail("http_parse_retry_after", "a date read back as another wait", size);
    }
    return 0;
}
