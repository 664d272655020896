/* suppress.c - see suppress.h. */
#include "analyzer/suppress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

struct user_rule {
    char *pattern;
};

struct sup_rules {
    bool builtin;
    struct user_rule *user;
    int n_user, cap_user;
};

/* A built-in rule: a pattern on a frame's function name, or on its source file's base
 * name, in the run of runtime frames nearest the allocation (suppress.h). Source files
 * need the runtime's debug info; the function names are those its symbol tables give
 * without it, where there are any. */
enum on { ON_FUNCTION, ON_FILE };

struct builtin_rule {
    enum on on;
    const char *pattern;
    const char *why;
};

#define WHY_STDIO   "stdio buffer"
#define WHY_NSS     "NSS configuration, modules and result buffers"
#define WHY_LOADER  "the dynamic loader's own (link maps, TLS and DTVs, runtime initialization)"
#define WHY_LOCALE  "locale data and message catalogs"
#define WHY_GCONV   "gconv (iconv) configuration and modules"
#define WHY_TZ      "timezone data"
#define WHY_EXIT    "atexit and thread_local destructor lists"
#define WHY_RESOLV  "resolver configuration"
#define WHY_DLERROR "dlerror() result"
#define WHY_ENV     "environment set by setenv()"
#define WHY_TSD     "per-thread result buffer (strerror, strsignal)"
#define WHY_CXX     "C++ runtime's static allocations (emergency exception pool)"

static const struct builtin_rule builtin_rules[] = {
    /* stdio: the buffers of stdin, stdout and stderr, allocated on first use. */
    { ON_FUNCTION, "^_IO_file_doallocate$", WHY_STDIO },
    { ON_FUNCTION, "^_IO_wfile_doallocate$", WHY_STDIO },
    { ON_FILE, "^filedoalloc.c$", WHY_STDIO },
    { ON_FILE, "^wfiledoalloc.c$", WHY_STDIO },
    /* NSS: nsswitch.conf's tables, the modules, and the static result buffers of the
     * non-reentrant lookups (getpwnam and kin: getXXbyYY.c). */
    { ON_FUNCTION, "^__nss_", WHY_NSS },
    { ON_FILE, "^nss_", WHY_NSS },
    { ON_FILE, "^nsswitch.c$", WHY_NSS },
    { ON_FILE, "^getXXbyYY.c$", WHY_NSS },
    { ON_FILE, "^getXXent.c$", WHY_NSS },
    { ON_FUNCTION, "^getpw", WHY_NSS },
    { ON_FUNCTION, "^getgr", WHY_NSS },
    { ON_FUNCTION, "^getsp", WHY_NSS },
    { ON_FUNCTION, "^gethostby", WHY_NSS },
    { ON_FUNCTION, "^getservby", WHY_NSS },
    { ON_FUNCTION, "^getprotoby", WHY_NSS },
    { ON_FUNCTION, "^getnetby", WHY_NSS },
    { ON_FUNCTION, "^getrpcby", WHY_NSS },
    { ON_FUNCTION, "^getaliasby", WHY_NSS },
    { ON_FUNCTION, "^initgroups$", WHY_NSS },
    /* The loader: dlopen's link maps, thread DTVs and TLS blocks (pthread_create,
     * __tls_get_addr), and what runtime libraries allocate in their initializers as
     * _dl_init runs them (libstdc++'s emergency exception pool). */
    { ON_FUNCTION, "^_dl_", WHY_LOADER },
    { ON_FUNCTION, "^__tls_get_addr$", WHY_LOADER },
    { ON_FUNCTION, "^dlopen", WHY_LOADER },
    { ON_FUNCTION, "^dlmopen", WHY_LOADER },
    { ON_FUNCTION, "^__libc_dlopen_mode$", WHY_LOADER },
    { ON_FILE, "^dl-tls.c$", WHY_LOADER },
    { ON_FUNCTION, "^dlerror$", WHY_DLERROR },
    { ON_FILE, "^dlerror.c$", WHY_DLERROR },
    /* Locales and message catalogs: loaded once, kept (even freelocale keeps them). */
    { ON_FUNCTION, "^_nl_", WHY_LOCALE },
    { ON_FUNCTION, "^setlocale$", WHY_LOCALE },
    { ON_FUNCTION, "^__dcigettext$", WHY_LOCALE },
    { ON_FUNCTION, "^gettext$", WHY_LOCALE },
    { ON_FUNCTION, "^dgettext$", WHY_LOCALE },
    { ON_FUNCTION, "^dcgettext$", WHY_LOCALE },
    { ON_FUNCTION, "^ngettext$", WHY_LOCALE },
    { ON_FUNCTION, "^dngettext$", WHY_LOCALE },
    { ON_FUNCTION, "^dcngettext$", WHY_LOCALE },
    { ON_FUNCTION, "^bindtextdomain$", WHY_LOCALE },
    { ON_FUNCTION, "^bind_textdomain_codeset$", WHY_LOCALE },
    { ON_FUNCTION, "^textdomain$", WHY_LOCALE },
    { ON_FILE, "^findlocale.c$", WHY_LOCALE },
    { ON_FILE, "^loadlocale.c$", WHY_LOCALE },
    { ON_FILE, "^loadarchive.c$", WHY_LOCALE },
    { ON_FILE, "^setlocale.c$", WHY_LOCALE },
    { ON_FILE, "^l10nflist.c$", WHY_LOCALE },
    { ON_FILE, "^finddomain.c$", WHY_LOCALE },
    { ON_FILE, "^loadmsgcat.c$", WHY_LOCALE },
    { ON_FILE, "^localealias.c$", WHY_LOCALE },
    { ON_FILE, "^bindtextdom.c$", WHY_LOCALE },
    { ON_FILE, "^textdomain.c$", WHY_LOCALE },
    /* gconv: iconv's configuration, cache, derivations and modules (not the iconv_t
     * iconv_open returns: gconv_open.c, the program's to close). */
    { ON_FUNCTION, "^__gconv_read_conf$", WHY_GCONV },
    { ON_FUNCTION, "^__gconv_load_cache$", WHY_GCONV },
    { ON_FILE, "^gconv_conf.c$", WHY_GCONV },
    { ON_FILE, "^gconv_cache.c$", WHY_GCONV },
    { ON_FILE, "^gconv_db.c$", WHY_GCONV },
    { ON_FILE, "^gconv_dl.c$", WHY_GCONV },
    /* Timezone data, read once by tzset and everything that calls it. */
    { ON_FUNCTION, "^tzset", WHY_TZ },
    { ON_FUNCTION, "^__tzfile_", WHY_TZ },
    { ON_FUNCTION, "^localtime", WHY_TZ },
    { ON_FUNCTION, "^mktime$", WHY_TZ },
    { ON_FUNCTION, "^ctime", WHY_TZ },
    { ON_FUNCTION, "^strftime", WHY_TZ },
    { ON_FILE, "^tzset.c$", WHY_TZ },
    { ON_FILE, "^tzfile.c$", WHY_TZ },
    /* atexit, __cxa_atexit (C++ static destructors), thread_local destructors. */
    { ON_FUNCTION, "^__new_exitfn$", WHY_EXIT },
    { ON_FUNCTION, "^__cxa_atexit$", WHY_EXIT },
    { ON_FUNCTION, "^atexit$", WHY_EXIT },
    { ON_FUNCTION, "^on_exit$", WHY_EXIT },
    { ON_FUNCTION, "^__cxa_thread_atexit_impl$", WHY_EXIT },
    { ON_FILE, "^cxa_atexit.c$", WHY_EXIT },
    { ON_FILE, "^cxa_thread_atexit_impl.c$", WHY_EXIT },
    /* The resolver's configuration and the interface cache getaddrinfo keeps. */
    { ON_FILE, "^resolv_conf.c$", WHY_RESOLV },
    { ON_FILE, "^check_pf.c$", WHY_RESOLV },
    { ON_FILE, "^setenv.c$", WHY_ENV },
    { ON_FILE, "^strsignal.c$", WHY_TSD },
    { ON_FILE, "^strerror_l.c$", WHY_TSD },
    { ON_FUNCTION, "pool::pool", WHY_CXX },
    { ON_FILE, "^eh_alloc.cc$", WHY_CXX },
};

#define N_BUILTIN ((int)(sizeof(builtin_rules) / sizeof(builtin_rules[0])))

/* The libraries whose frames make up the runtime's run of frames (suppress.h). */
static bool runtime_module(const char *module)
{
    static const char *const prefixes[] = {
        "libc.so",   "libc-2.",      "libc.musl",     "ld-linux",     "ld.so",
        "ld64.so",   "ld-2.",        "ld-musl",       "libstdc++.so", "libgcc_s.so",
        "libm.so",   "libm-2.",      "libpthread.so", "libpthread-",  "libdl.so",
        "libdl-2.",  "libresolv.so", "libresolv-2.",  "libnss_",      "librt.so",
        "libanl.so", "libcrypt.so",
    };
    if (module == NULL)
        return false;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(module, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

bool sup_template_match(const char *pattern, const char *text)
{
    if (pattern == NULL || text == NULL || text[0] == '\0')
        return false;
    bool anchor_start = pattern[0] == '^';
    if (anchor_start)
        pattern++;
    size_t plen = strlen(pattern);
    bool anchor_end = plen > 0 && pattern[plen - 1] == '$';
    if (anchor_end)
        plen--;
    const char *p = pattern, *pend = pattern + plen, *t = text;
    size_t tlen = strlen(text);
    for (bool first = true;; first = false) {
        const char *star = memchr(p, '*', (size_t)(pend - p));
        const char *seg_end = star != NULL ? star : pend;
        size_t n = (size_t)(seg_end - p);
        size_t left = tlen - (size_t)(t - text);
        if (first && anchor_start) {
            if (n > left || memcmp(t, p, n) != 0)
                return false;
            t += n;
        } else if (star == NULL && anchor_end) {
            /* The last piece ends the text. */
            if (n > left || memcmp(text + tlen - n, p, n) != 0)
                return false;
            t = text + tlen;
        } else if (n > 0) {
            const char *f = memmem(t, left, p, n);
            if (f == NULL)
                return false;
            t = f + n;
        }
        if (star == NULL)
            break;
        p = star + 1;
    }
    return !anchor_end || t == text + tlen;
}

struct sup_rules *sup_new(bool builtin)
{
    struct sup_rules *r = calloc(1, sizeof(*r));
    if (r != NULL)
        r->builtin = builtin;
    return r;
}

bool sup_builtin(const struct sup_rules *r)
{
    return r != NULL && r->builtin;
}

static int add_rule(struct sup_rules *r, const char *pattern, size_t n)
{
    if (r->n_user == r->cap_user) {
        int cap = r->cap_user ? 2 * r->cap_user : 16;
        struct user_rule *u = realloc(r->user, (size_t)cap * sizeof(*u));
        if (u == NULL)
            return -ENOMEM;
        r->user = u;
        r->cap_user = cap;
    }
    char *copy = strndup(pattern, n);
    if (copy == NULL)
        return -ENOMEM;
    r->user[r->n_user++].pattern = copy;
    return 0;
}

int sup_load(struct sup_rules *r, const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;

    if (f == NULL) {
        rc = -errno;
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        return rc;
    }
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *e = line + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        if (memchr(s, '\0', (size_t)(e - s)) != NULL) {
            snprintf(err, err_cap, "%s:%d: a NUL byte: not a suppressions file", path, lineno);
            rc = -EINVAL;
            break;
        }
        char *colon = memchr(s, ':', (size_t)(e - s));
        if (colon == NULL) {
            /* The line as a terminal may show it: a file's bytes, escaped, cut short. */
            char shown[64];
            *e = '\0';
            esc_text(shown, sizeof(shown), s);
            snprintf(err, err_cap, "%s:%d: expected TYPE:PATTERN, as leak:my_function, vs '%s'",
                     path, lineno, shown);
            rc = -EINVAL;
            break;
        }
        /* Other sanitizers' rule types share these files: not ours to read. */
        if (colon - s != 4 || memcmp(s, "leak", 4) != 0)
            continue;
        if (colon + 1 == e) {
            snprintf(err, err_cap, "%s:%d: leak: without a pattern", path, lineno);
            rc = -EINVAL;
            break;
        }
        if ((rc = add_rule(r, colon + 1, (size_t)(e - colon - 1))) < 0) {
            snprintf(err, err_cap, "%s: out of memory", path);
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        rc = errno != 0 ? -errno : -EIO;
        snprintf(err, err_cap, "%s: %s", path, strerror(-rc));
    }
    free(line);
    fclose(f);
    return rc;
}

static bool builtin_frame(const struct model_frame *f, const char **why)
{
    const char *file = f->file != NULL ? base_name(f->file) : NULL;

    if (f->function == NULL)
        return false;
    for (int i = 0; i < N_BUILTIN; i++) {
        const struct builtin_rule *b = &builtin_rules[i];
        if (sup_template_match(b->pattern, b->on == ON_FILE ? file : f->function)) {
            *why = b->why;
            return true;
        }
    }
    return false;
}

static bool user_frame(const struct sup_rules *r, const struct model_frame *f, const char **rule)
{
    for (int i = 0; i < r->n_user; i++) {
        const char *p = r->user[i].pattern;
        if (sup_template_match(p, f->function) || sup_template_match(p, f->linkage_name) ||
            sup_template_match(p, f->file) || sup_template_match(p, f->module_path) ||
            sup_template_match(p, f->module)) {
            *rule = p;
            return true;
        }
    }
    return false;
}

enum model_leak_kind sup_match(const struct sup_rules *r, const struct model_site *s,
                               const char **rule)
{
    *rule = NULL;
    if (r == NULL)
        return MODEL_LEAK;
    /* The runtime's run of frames: a frame of the program, or of any other library,
     * ends it, so that what the runtime does for the program (strdup, fopen, a
     * std::string) stays the program's. */
    for (int i = 0; r->builtin && i < s->n_frames && runtime_module(s->frames[i]->module); i++)
        if (builtin_frame(s->frames[i], rule))
            return MODEL_LEAK_RUNTIME;
    for (int i = 0; i < s->n_frames && r->n_user > 0; i++)
        if (user_frame(r, s->frames[i], rule))
            return MODEL_LEAK_SUPPRESSED;
    return MODEL_LEAK;
}

void sup_free(struct sup_rules *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->n_user; i++)
        free(r->user[i].pattern);
    free(r->user);
    free(r);
}
