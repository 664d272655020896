/* output.c - see output.h. */
#include "cli/output.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cli/opts.h"

FILE *out_open(const char *path)
{
    if (path == NULL || !strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        opt_error("cannot write %s: %s", path, strerror(errno));
    return f;
}

int out_close(FILE *f, const char *path, const char *what)
{
    bool is_stdout = f == stdout;
    const char *name = is_stdout ? "standard output" : path;
    int err = 0;

    errno = 0;
    if (fflush(f) != 0 || ferror(f))
        err = errno != 0 ? -errno : -EIO;
    if (!is_stdout && fclose(f) != 0 && err == 0)
        err = errno != 0 ? -errno : -EIO;
    if (err < 0)
        opt_error("cannot write %s to %s: %s", what, name, strerror(-err));
    return err;
}

bool out_has_ext(const char *path, const char *ext)
{
    size_t n = path != NULL ? strlen(path) : 0, e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}
