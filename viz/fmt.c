/* fmt.c - see fmt.h. */
#include "viz/fmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/escape.h"

const char *fmt_bytes(char *buf, size_t cap, double bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    double v = bytes < 0 ? -bytes : bytes;

    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (bytes < 0)
        v = -v;
    if (u == 0)
        snprintf(buf, cap, "%.0f B", v);
    else
        snprintf(buf, cap, "%.*f %s", fabs(v) < 10 ? 2 : fabs(v) < 100 ? 1 : 0, v, units[u]);
    return buf;
}

const char *fmt_count(char *buf, size_t cap, double v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%.0f", v < 0 ? -v : v);
    size_t n = strlen(tmp), o = 0;
    if (v < 0 && o + 1 < cap)
        buf[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        buf[o++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

static const char *base_name(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s != NULL ? s + 1 : path ? path : "";
}

const char *fmt_frame(char *buf, size_t cap, const struct model_frame *f)
{
    /* Names come from the log and from the binaries: escaped (util/escape.h). */
    char fn[FMT_FRAME_MAX], file[FMT_FRAME_MAX], mod[FMT_FRAME_MAX];

    esc_text(mod, sizeof(mod), f->module);
    if (f->function == NULL) {
        snprintf(buf, cap, "%s+0x%" PRIx64, mod, f->module_offset);
        return buf;
    }
    esc_text(fn, sizeof(fn), f->function);
    if (f->file != NULL && f->line > 0)
        snprintf(buf, cap, "%s (%s:%d)", fn, esc_text(file, sizeof(file), base_name(f->file)),
                 f->line);
    else
        snprintf(buf, cap, "%s (%s)", fn, mod);
    return buf;
}

const char *fmt_point(char *buf, size_t cap, const struct model_point *p)
{
    switch (p->at) {
    case MODEL_AT_PEAK:
        snprintf(buf, cap, "the peak (%.3f s)", p->ns / 1e9);
        break;
    case MODEL_AT_MARKER: {
        /* A snapshot's string: any bytes. */
        char kind[64];
        esc_text(kind, sizeof(kind), p->marker_kind != NULL ? p->marker_kind : "");
        snprintf(buf, cap, "marker %u (%s, serial %u, %.3f s)", p->marker, kind, p->marker_serial,
                 p->ns / 1e9);
        break;
    }
    case MODEL_AT_TIME:
        snprintf(buf, cap, "%.3f s", p->ns / 1e9);
        break;
    default:
        snprintf(buf, cap, "the end");
        break;
    }
    return buf;
}
