/*
 * debuginfo.c - fuzz target: the readers of files analyzer/debuginfo.c takes from the
 * system, dpkg's file lists (/var/lib/dpkg/info/NAME.list: a list's name and its text)
 * and /etc/os-release. The input splits at its first NUL into a name (a path to look
 * for, and a list file's name) and a text (a file list, and an os-release file).
 * Each answer is checked against a reference written from debuginfo.h:
 *   - dbg_list_has: true exactly when one of the text's lines is the path;
 *   - dbg_list_package: the name less ".list" and from its first ':' on;
 *   - dbg_os_codename: the last VERSION_CODENAME= line's value, quotes taken off,
 *     only when it is a-z, 0-9, '.', '_', '-' and fits.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/debuginfo.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Line k of text (0-based), as [*b, *e); false past the last. A final empty segment
 * (after a trailing newline, or an empty text) is no line. */
static bool line_at(const char *t, size_t n, size_t k, size_t *b, size_t *e)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || t[i] == '\n') {
            if (k == 0) {
                if (i == n && start == n)
                    return false;
                *b = start;
                *e = i;
                return true;
            }
            k--;
            start = i + 1;
            if (start > n)
                return false;
        }
    }
    return false;
}

static bool ref_has(const char *t, size_t n, const char *path)
{
    size_t b, e, len = strlen(path);
    for (size_t k = 0; line_at(t, n, k, &b, &e); k++)
        if (e - b == len && memcmp(t + b, path, len) == 0)
            return true;
    return false;
}

static bool ref_codename(const char *t, size_t n, char *out, size_t cap)
{
    size_t b, e, last_b = 0, last_e = 0;
    bool found = false;
    for (size_t k = 0; line_at(t, n, k, &b, &e); k++) {
        if (e - b >= 17 && strncmp(t + b, "VERSION_CODENAME=", 17) == 0) {
            found = true;
            last_b = b + 17;
            last_e = e;
        }
    }
    if (!found)
        return false;
    if (last_e - last_b >= 2 && (t[last_b] == '"' || t[last_b] == '\'') &&
        t[last_e - 1] == t[last_b]) {
        last_b++;
        last_e--;
    }
    if (last_e == last_b || last_e - last_b >= cap)
        return false;
    for (size_t i = last_b; i < last_e; i++)
        if (strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", t[i]) == NULL || t[i] == '\0')
            return false;
    memcpy(out, t + last_b, last_e - last_b);
    out[last_e - last_b] = '\0';
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t nlen = nul != NULL ? (size_t)(nul - data) : size;
    char *name = malloc(nlen + 1);
    size_t tlen = nul != NULL ? size - nlen - 1 : 0;
    char *text = malloc(tlen + 1); /* exactly tlen bytes are read; +1 for malloc(0) */

    if (name == NULL || text == NULL)
        abort();
    memcpy(name, data, nlen);
    name[nlen] = '\0';
    if (tlen > 0)
        memcpy(text, nul + 1, tlen);

    if (dbg_list_has(text, tlen, name) != ref_has(text, tlen, name))
        fz_fail("dbg_list_has disagrees with the reference for", name, 0);

    char pkg[16] = "untouched", want[16];
    bool got = dbg_list_package(name, pkg, sizeof(pkg));
    bool ok = false;
    if (nlen >= 5 && strcmp(name + nlen - 5, ".list") == 0) {
        size_t k = strcspn(name, ":");
        if (k > nlen - 5)
            k = nlen - 5;
        if (k > 0 && k < sizeof(want)) {
            memcpy(want, name, k);
            want[k] = '\0';
            ok = true;
        }
    }
    if (got != ok || (got && strcmp(pkg, want) != 0) || (!got && strcmp(pkg, "untouched") != 0))
        fz_fail("dbg_list_package disagrees with the reference for", name, 0);

    char cn[12] = "untouched", cw[12];
    got = dbg_os_codename(text, tlen, cn, sizeof(cn));
    ok = ref_codename(text, tlen, cw, sizeof(cw));
    if (got != ok || (got && strcmp(cn, cw) != 0) || (!got && strcmp(cn, "untouched") != 0))
        fz_fail("dbg_os_codename disagrees with the reference, giving", got ? cn : "(none)", 0);

    free(name);
    free(text);
    return 0;
}
