/*
 * suppress.c - fuzz target: any bytes as a suppressions file (analyzer/suppress.c,
 * LeakSanitizer's leak:PATTERN format), loaded by sup_load as `--suppressions FILE`
 * loads it, then matched with sup_match against a few fixed sites; and the same bytes
 * split at their first NUL into a pattern and a text for sup_template_match.
 *
 * Checked against a reference written from suppress.h's contract, not from suppress.c:
 * - the file: a line (up to a newline) trimmed of spaces and tabs before, and of
 *   spaces, tabs and carriage returns after; blank and `#` lines skipped; a NUL, a line
 *   without `:`, or `leak:` without a pattern refused at that line, in one message
 *   "FILE:LINE: ..." safe for a terminal; `TYPE:` lines of other types ignored; every
 *   `leak:PATTERN` kept, PATTERN as written;
 * - a pattern: a leading `^` anchors the start, a trailing `$` the end, `*` is any
 *   text, and the rest is found as a substring of a non-empty text. In particular a
 *   pattern without a `*` matches exactly the texts that contain it (that begin with
 *   it after `^`, end with it before `$`, are it with both), as in LSan;
 * - a site is set apart when some pattern matches the function, mangled name, source
 *   file, module path or module name of some frame, and then its rule is such a
 *   pattern; the built-in rules take the site whose innermost frames are the C
 *   runtime's stdio buffer, and no other site here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/suppress.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the reference ---- */

/* pattern as suppress.h reads it: anchors, then the text between them. */
struct pat {
    bool start, end;
    const char *core;
    size_t n;
};

static struct pat parse_pattern(const char *p)
{
    struct pat r = { false, false, p, strlen(p) };

    if (r.n > 0 && r.core[0] == '^') {
        r.start = true;
        r.core++;
        r.n--;
    }
    if (r.n > 0 && r.core[r.n - 1] == '$') {
        r.end = true;
        r.n--;
    }
    return r;
}

/* Whether t[0..tn) is p[0..pn) with each '*' standing for any text: the textbook
 * backtracking match, which tries every length for the last '*' seen. */
static bool glob(const char *p, size_t pn, const char *t, size_t tn)
{
    size_t pi = 0, ti = 0, star = SIZE_MAX, mark = 0;

    while (ti < tn) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = ti;
        } else if (pi < pn && p[pi] == t[ti]) {
            pi++;
            ti++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static bool ref_match(const char *pattern, const char *text)
{
    if (text == NULL || text[0] == '\0')
        return false;
    struct pat p = parse_pattern(pattern);
    /* An unanchored side is a '*' there. */
    char *full = malloc(p.n + 3), *o = full;
    if (full == NULL)
        abort();
    if (!p.start)
        *o++ = '*';
    memcpy(o, p.core, p.n);
    o += p.n;
    if (!p.end)
        *o++ = '*';
    bool m = glob(full, (size_t)(o - full), text, strlen(text));
    free(full);
    return m;
}

/* The plain reading of a pattern without '*': substring, prefix, suffix or equality. */
static bool plain_match(const struct pat *p, const char *text)
{
    size_t tn = strlen(text);

    if (tn == 0 || p->n > tn)
        return false;
    if (p->start && p->end)
        return tn == p->n && memcmp(text, p->core, p->n) == 0;
    if (p->start)
        return memcmp(text, p->core, p->n) == 0;
    if (p->end)
        return memcmp(text + tn - p->n, p->core, p->n) == 0;
    for (size_t i = 0; i + p->n <= tn; i++)
        if (memcmp(text + i, p->core, p->n) == 0)
            return true;
    return false;
}

/* The file as suppress.h describes it: the patterns, or the line refused (from 1). */
struct ref_file {
    char **patterns;
    int n;
    int bad_line;
};

static void ref_load(const uint8_t *data, size_t size, struct ref_file *f)
{
    const uint8_t *p = data, *end = data + size;
    int lineno = 0;

    memset(f, 0, sizeof(*f));
    f->patterns = malloc((size / 5 + 1) * sizeof(*f->patterns)); /* "leak:x" is 6 bytes */
    if (f->patterns == NULL)
        abort();
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *s = p, *e = nl != NULL ? nl : end;
        p = nl != NULL ? nl + 1 : end;
        lineno++;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (s == e || *s == '#')
            continue;
        const uint8_t *colon = memchr(s, ':', (size_t)(e - s));
        if (memchr(s, '\0', (size_t)(e - s)) != NULL || colon == NULL ||
            (colon - s == 4 && memcmp(s, "leak", 4) == 0 && colon + 1 == e)) {
            f->bad_line = lineno;
            return;
        }
        if (colon - s == 4 && memcmp(s, "leak", 4) == 0)
            f->patterns[f->n++] = strndup((const char *)colon + 1, (size_t)(e - colon - 1));
    }
}

static void ref_free(struct ref_file *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->patterns[i]);
    free(f->patterns);
}

/* ---- the sites ---- */

static const struct model_frame frames[] = {
    /* 0-2: the program's */
    { "load_config", "/src/app/config.c", 42, "app", 0x1234, false, NULL, "/opt/app/bin/app", NULL,
      MODEL_FRAME_CODE },
    { "std::vector<int, std::allocator<int> >::push_back(int const&)",
      "/usr/include/c++/12/bits/stl_vector.h", 1287, "app", 0x2345, true,
      "_ZNSt6vectorIiSaIiEE9push_backERKi", "/opt/app/bin/app", NULL, MODEL_FRAME_CODE },
    { "main", "/src/app/main.c", 7, "app", 0x3456, false, NULL, "/opt/app/bin/app", NULL,
      MODEL_FRAME_CODE },
    /* 3-4: the C runtime's stdio buffer */
    { "_IO_file_doallocate", "./libio/filedoalloc.c", 101, "libc.so.6", 0x7a000, false, NULL,
      "/lib/x86_64-linux-gnu/libc.so.6", NULL, MODEL_FRAME_CODE },
    { "_IO_doallocbuf", "./libio/genops.c", 347, "libc.so.6", 0x89000, false, NULL,
      "/lib/x86_64-linux-gnu/libc.so.6", NULL, MODEL_FRAME_CODE },
    /* 5-6: no symbols */
    { NULL, NULL, 0, "libplugin.so.1", 0x99, false, NULL, "/usr/lib/libplugin.so.1", NULL,
      MODEL_FRAME_CODE },
    { NULL, NULL, 0, "", 0x4000, false, NULL, NULL, NULL, MODEL_FRAME_CODE },
    /* 7: what a pattern's own characters look like in a name */
    { "operator new[](unsigned long)", "/src/ünï code/a*b$.c", 9, "lib^x$.so", 0x10, false, "_Znam",
      "/opt/lib^x$.so", NULL, MODEL_FRAME_CODE },
};

static const struct model_frame *const stack_program[] = { &frames[1], &frames[0], &frames[2] };
static const struct model_frame *const stack_runtime[] = { &frames[3], &frames[4], &frames[2] };
static const struct model_frame *const stack_nosym[] = { &frames[5], &frames[6] };
static const struct model_frame *const stack_odd[] = { &frames[7], &frames[2] };

static const struct model_site sites[] = {
    { .n_frames = 3, .frames = stack_program },
    { .n_frames = 3, .frames = stack_runtime },
    { .n_frames = 2, .frames = stack_nosym },
    { .n_frames = 2, .frames = stack_odd },
};
#define N_SITES      ((int)(sizeof(sites) / sizeof(sites[0])))
#define RUNTIME_SITE 1

static bool ref_frame(const char *pattern, const struct model_frame *f)
{
    return ref_match(pattern, f->function) || ref_match(pattern, f->linkage_name) ||
           ref_match(pattern, f->file) || ref_match(pattern, f->module_path) ||
           ref_match(pattern, f->module);
}

static bool ref_site(const char *pattern, const struct model_site *s)
{
    for (int k = 0; k < s->n_frames; k++)
        if (ref_frame(pattern, s->frames[k]))
            return true;
    return false;
}

/* ---- the target ---- */

static void check_sites(const struct sup_rules *r, bool builtin, const struct ref_file *ref)
{
    for (int i = 0; i < N_SITES; i++) {
        const char *rule = "unset";
        enum model_leak_kind k = sup_match(r, &sites[i], &rule);
        if (builtin && i == RUNTIME_SITE) {
            if (k != MODEL_LEAK_RUNTIME || rule == NULL)
                fz_fail("sup_match", "the runtime's stdio buffer not set apart", (size_t)i);
            continue;
        }
        bool want = false;
        for (int p = 0; p < ref->n && !want; p++)
            want = ref_site(ref->patterns[p], &sites[i]);
        if (k == MODEL_LEAK_RUNTIME)
            fz_fail("sup_match", "a site not the runtime's taken for it", (size_t)i);
        if ((k == MODEL_LEAK_SUPPRESSED) != want)
            fz_fail("sup_match",
                    want ? "a site some pattern matches not set apart"
                         : "a site no pattern matches set apart",
                    (size_t)i);
        if (k == MODEL_LEAK && rule != NULL)
            fz_fail("sup_match", "a rule for a site not set apart", (size_t)i);
        if (k == MODEL_LEAK_SUPPRESSED) {
            bool found = false;
            for (int p = 0; p < ref->n && !found; p++)
                found = strcmp(ref->patterns[p], rule) == 0 && ref_site(rule, &sites[i]);
            if (!found)
                fz_fail("sup_match", "the rule given is not a pattern that matches the site",
                        (size_t)i);
        }
    }
}

static void check_file(const uint8_t *data, size_t size)
{
    const char *path = fz_file(data, size);
    struct sup_rules *r[2] = { sup_new(false), sup_new(true) };
    char err[2][512] = { "", "" };
    int rc[2];
    struct ref_file ref;

    if (r[0] == NULL || r[1] == NULL)
        abort();
    ref_load(data, size, &ref);
    for (int b = 0; b < 2; b++) {
        rc[b] = sup_load(r[b], path, err[b], sizeof(err[b]));
        if (rc[b] < 0 && ref.bad_line == 0)
            fz_fail("sup_load", "refuses a good file", 0);
        if (rc[b] == 0 && ref.bad_line != 0)
            fz_fail("sup_load", "reads a bad file", (size_t)ref.bad_line);
        if (rc[b] != 0 && rc[b] != -EINVAL)
            fz_fail("sup_load", "an error other than -EINVAL", 0);
    }
    if (rc[0] < 0) {
        char want[128];
        size_t at;
        snprintf(want, sizeof(want), "%s:%d: ", path, ref.bad_line);
        if (strncmp(err[0], want, strlen(want)) != 0)
            fz_fail("sup_load's message", "does not begin FILE:LINE of the bad line", 0);
        if (strcmp(err[0], err[1]) != 0)
            fz_fail("sup_load's message", "differs with the built-in rules on", 0);
        if (!fz_text_safe(err[0], strlen(err[0]), &at))
            fz_fail("sup_load's message", "a control character or bad UTF-8", at);
    } else {
        check_sites(r[0], false, &ref);
        check_sites(r[1], true, &ref);
    }
    ref_free(&ref);
    sup_free(r[0]);
    sup_free(r[1]);
}

/* The input split at its first NUL into a pattern and a text (up to the next NUL). */
static void check_template(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t pn = nul != NULL ? (size_t)(nul - data) : size;
    const uint8_t *t = nul != NULL ? nul + 1 : data + size;
    size_t tn = strnlen((const char *)t, (size_t)(data + size - t));
    char *pattern = strndup((const char *)data, pn), *text = strndup((const char *)t, tn);

    if (pattern == NULL || text == NULL)
        abort();
    bool got = sup_template_match(pattern, text);
    if (got != ref_match(pattern, text))
        fz_fail("sup_template_match",
                got ? "a match the contract does not give"
                    : "no match where the contract gives one",
                0);
    struct pat p = parse_pattern(pattern);
    if (memchr(p.core, '*', p.n) == NULL && got != plain_match(&p, text))
        fz_fail("sup_template_match", "a pattern without '*' read otherwise than plainly", 0);
    if (sup_template_match(pattern, "") || sup_template_match(pattern, NULL))
        fz_fail("sup_template_match", "a match of an empty text", 0);
    free(pattern);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_file(data, size);
    check_template(data, size);
    return 0;
}
