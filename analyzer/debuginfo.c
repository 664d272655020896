/* debuginfo.c - see debuginfo.h. */
#include "analyzer/debuginfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dbg_list {
    struct model_nodebug *e;
    int n;
    char **strings; /* everything the entries point to */
    int n_strings, cap_strings;
};

/* A copy the list owns; NULL when out of memory (or s is NULL). */
static char *keep(struct dbg_list *l, const char *s)
{
    if (s == NULL)
        return NULL;
    if (l->n_strings == l->cap_strings) {
        int cap = l->cap_strings ? 2 * l->cap_strings : 16;
        char **g = realloc(l->strings, (size_t)cap * sizeof(*g));
        if (g == NULL)
            return NULL;
        l->strings = g;
        l->cap_strings = cap;
    }
    char *c = strdup(s);
    if (c != NULL)
        l->strings[l->n_strings++] = c;
    return c;
}

bool dbg_list_has(const char *text, size_t n, const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - text) : n;
        if (end - i == len && memcmp(text + i, path, len) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

/* The whole of a small regular file (at most 16 MiB), NUL-terminated; NULL if none. */
static char *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    char *buf = NULL;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (16 << 20) &&
        (buf = malloc((size_t)st.st_size + 1)) != NULL) {
        ssize_t got = read(fd, buf, (size_t)st.st_size);
        if (got < 0) {
            free(buf);
            buf = NULL;
        } else {
            buf[got] = '\0';
            *n = (size_t)got;
        }
    }
    close(fd);
    return buf;
}

/* The names dpkg may list a module under: its path, its real path, and each with and
 * without the /usr prefix (Debian's merged /usr: /lib is /usr/lib). */
static int candidates(const char *path, char out[4][PATH_MAX])
{
    int n = 0;
    char real[PATH_MAX];

    snprintf(out[n++], PATH_MAX, "%s", path);
    if (realpath(path, real) != NULL && strcmp(real, path) != 0)
        snprintf(out[n++], PATH_MAX, "%s", real);
    for (int i = 0, k = n; i < k && n < 4; i++) {
        size_t len = strnlen(out[i], PATH_MAX - 8);
        if (strncmp(out[i], "/usr/", 5) == 0)
            snprintf(out[n++], PATH_MAX, "%.*s", (int)(len - 4), out[i] + 4);
        else if (out[i][0] == '/')
            snprintf(out[n++], PATH_MAX, "/usr%.*s", (int)len, out[i]);
    }
    return n;
}

bool dbg_list_package(const char *name, char *out, size_t cap)
{
    size_t len = strlen(name);

    if (len < 5 || strcmp(name + len - 5, ".list") != 0)
        return false;
    size_t k = strcspn(name, ":"); /* "libsqlite3-0:amd64" */
    if (k > len - 5)
        k = len - 5;
    if (k == 0 || k >= cap)
        return false;
    memcpy(out, name, k);
    out[k] = '\0';
    return true;
}

/* Finds the package of each entry that has a file (in dpkg's lists). */
static void find_packages(struct dbg_list *l, const char *dir)
{
    DIR *d = opendir(dir != NULL ? dir : "/var/lib/dpkg/info");
    struct dirent *de;
    int left = 0;

    if (d == NULL)
        return;
    for (int i = 0; i < l->n; i++)
        left += l->e[i].why != MODEL_NODEBUG_REBUILT;
    while (left > 0 && (de = readdir(d)) != NULL) {
        char pkg[256];
        if (!dbg_list_package(de->d_name, pkg, sizeof(pkg)))
            continue;
        char file[PATH_MAX];
        size_t n = 0;
        snprintf(file, sizeof(file), "%s/%s", dir != NULL ? dir : "/var/lib/dpkg/info", de->d_name);
        char *text = slurp(file, &n);
        if (text == NULL)
            continue;
        for (int i = 0; i < l->n; i++) {
            struct model_nodebug *e = &l->e[i];
            if (e->package != NULL || e->why == MODEL_NODEBUG_REBUILT)
                continue;
            char names[4][PATH_MAX];
            int k = candidates(e->path, names);
            for (int c = 0; c < k; c++) {
                if (!dbg_list_has(text, n, names[c]))
                    continue;
                e->package = keep(l, pkg);
                left--;
                break;
            }
        }
        free(text);
    }
    closedir(d);
}

bool dbg_os_codename(const char *text, size_t n, char *out, size_t cap)
{
    static const char key[] = "VERSION_CODENAME=";
    const size_t klen = sizeof(key) - 1;
    const char *val = NULL;
    size_t vlen = 0;

    for (size_t i = 0; i < n;) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - text) : n;
        const char *line = text + i;
        size_t len = end - i;
        i = end + 1;
        if (len < klen || memcmp(line, key, klen) != 0)
            continue;
        line += klen;
        len -= klen;
        if (len >= 2 && (line[0] == '"' || line[0] == '\'') && line[len - 1] == line[0]) {
            line++;
            len -= 2;
        }
        val = line; /* the last assignment wins, as in a shell */
        vlen = len;
    }
    if (val == NULL || vlen == 0 || vlen >= cap)
        return false;
    for (size_t k = 0; k < vlen; k++) {
        char c = val[k];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    memcpy(out, val, vlen);
    out[vlen] = '\0';
    return true;
}

/* The Debian release's code name ("bookworm"), or "RELEASE". */
static void codename(const char *os_release, char *out, size_t cap)
{
    size_t n = 0;
    char *text = slurp(os_release != NULL ? os_release : "/etc/os-release", &n);

    if (text == NULL || !dbg_os_codename(text, n, out, cap))
        snprintf(out, cap, "RELEASE");
    free(text);
}

static int cmp_entries(const void *x, const void *y)
{
    const struct model_nodebug *a = x, *b = y;
    if (a->unnamed != b->unnamed)
        return a->unnamed < b->unnamed ? 1 : -1;
    if (a->addresses != b->addresses)
        return a->addresses < b->addresses ? 1 : -1;
    return strcmp(a->path, b->path);
}

static const char *fix_of(struct dbg_list *l, const struct model_nodebug *e,
                          const struct dbg_options *o, const char *release)
{
    char fix[1024];

    if (e->why == MODEL_NODEBUG_REBUILT) {
        snprintf(fix, sizeof(fix),
                 "rebuilt since the run: its build-id is not the one that ran; give "
                 "--debuginfo-path DIR with the build that ran (or its .debug file) under "
                 "DIR/.build-id/, or record again");
    } else if (e->package != NULL) {
        const char *urls = getenv("DEBUGINFOD_URLS");
        bool libc = strcmp(e->package, "libc6") == 0;
        char archive[160];
        if (libc)
            snprintf(archive, sizeof(archive), "in the main archive");
        else
            snprintf(archive, sizeof(archive),
                     "from the debian-debug archive: deb http://deb.debian.org/debian-debug "
                     "%s-debug main",
                     release);
        snprintf(fix, sizeof(fix),
                 "install %s%s (dpkg -S names %s as the file's package; %s), or let libdw's "
                 "debuginfod client fetch it: DEBUGINFOD_URLS=https://debuginfod.debian.net%s",
                 e->package, libc ? "-dbg" : "-dbgsym", e->package, archive,
                 urls == NULL || urls[0] == '\0' ? ""
                 : !o->debuginfod                ? " (it is set, but --no-debuginfod was given)"
                                  : " (it is set: its servers had nothing for this build-id)");
    } else {
        snprintf(fix, sizeof(fix),
                 "%s; or keep its separate debug file and give --debuginfo-path DIR; or set "
                 "DEBUGINFOD_URLS to a server that has build-id %s",
                 e->why == MODEL_NODEBUG_NO_FILE ? "the file that ran is gone: record again"
                                                 : "build it with -g (and do not strip it)",
                 e->build_id != NULL ? e->build_id : "(none: link with --build-id)");
    }
    return keep(l, fix);
}

struct dbg_list *dbg_missing(const struct sym_cache *c, const struct dbg_options *o)
{
    static const char digits[] = "0123456789abcdef";
    struct dbg_list *l = calloc(1, sizeof(*l));
    size_t n = sym_n_modules(c);
    char release[64];

    if (l == NULL)
        return NULL;
    if (n == 0)
        return l;
    l->e = calloc(n, sizeof(*l->e));
    if (l->e == NULL) {
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct sym_module_info mi;
        sym_module_info(c, i, &mi);
        if (mi.status == SYM_MOD_OK || mi.addresses == 0 || mi.path[0] != '/')
            continue;
        struct model_nodebug *e = &l->e[l->n];
        char hex[129];
        size_t bl = mi.build_id_len <= 64 ? mi.build_id_len : 64;
        for (size_t k = 0; k < bl; k++) {
            hex[2 * k] = digits[mi.build_id[k] >> 4];
            hex[2 * k + 1] = digits[mi.build_id[k] & 15];
        }
        hex[2 * bl] = '\0';
        *e = (struct model_nodebug){
            .path = keep(l, mi.path),
            .module = keep(l, mi.name),
            .build_id = bl > 0 ? keep(l, hex) : NULL,
            .why = mi.status == SYM_MOD_REBUILT   ? MODEL_NODEBUG_REBUILT
                   : mi.status == SYM_MOD_NO_FILE ? MODEL_NODEBUG_NO_FILE
                                                  : MODEL_NODEBUG_NO_DWARF,
            .addresses = mi.addresses,
            .unnamed = mi.unnamed,
        };
        if (e->path == NULL || e->module == NULL || (bl > 0 && e->build_id == NULL)) {
            dbg_free(l);
            return NULL;
        }
        l->n++;
    }
    if (l->n == 0)
        return l;
    find_packages(l, o->dpkg_dir);
    codename(o->os_release, release, sizeof(release));
    for (int i = 0; i < l->n; i++) {
        l->e[i].fix = fix_of(l, &l->e[i], o, release);
        if (l->e[i].fix == NULL) {
            dbg_free(l);
            return NULL;
        }
    }
    qsort(l->e, (size_t)l->n, sizeof(*l->e), cmp_entries);
    return l;
}

const struct model_nodebug *dbg_entries(const struct dbg_list *l, int *n)
{
    *n = l != NULL ? l->n : 0;
    return l != NULL ? l->e : NULL;
}

void dbg_free(struct dbg_list *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->n_strings; i++)
        free(l->strings[i]);
    free(l->strings);
    free(l->e);
    free(l);
}
