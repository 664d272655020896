/* escape.c - see escape.h. */
#include "util/escape.h"

#include <string.h>

int esc_utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    int len;
    unsigned min, cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else {
        return 0; /* a continuation byte, 0xc0/0xc1 (always overlong), 0xf5 and up */
    }
    if ((size_t)len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The escape for the byte at p (n bytes left) into e, and how many bytes of s it
 * stands for; 0 escape bytes: the character is written as it is. */
static int escape_one(const unsigned char *p, size_t n, char e[16], int *used)
{
    static const char hex[] = "0123456789abcdef";
    unsigned c = p[0];
    int len = esc_utf8_len(p, n);

    if (c >= 0x20 && c < 0x7f) {
        *used = 1;
        return 0;
    }
    if (c == '\n' || c == '\t' || c == '\r') {
        e[0] = '\\';
        e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        *used = 1;
        return 2;
    }
    /* A C1 control is 0xc2 0x80 to 0xc2 0x9f: both its bytes are shown. */
    int k = len == 2 && c == 0xc2 && p[1] < 0xa0 ? 2 : len == 0 || c < 0x80 ? 1 : 0;
    if (k == 0) {
        *used = len;
        return 0;
    }
    for (int i = 0; i < k; i++) {
        e[4 * i] = '\\';
        e[4 * i + 1] = 'x';
        e[4 * i + 2] = hex[p[i] >> 4];
        e[4 * i + 3] = hex[p[i] & 15];
    }
    *used = k;
    return 4 * k;
}

char *esc_text(char *out, size_t cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0;

    while (n > 0) {
        char e[16];
        int used, k = escape_one(p, n, e, &used);
        const char *src = k > 0 ? e : (const char *)p;
        size_t len = k > 0 ? (size_t)k : (size_t)used;
        if (o + len + 1 > cap)
            break;
        memcpy(out + o, src, len);
        o += len;
        p += used;
        n -= (size_t)used;
    }
    out[o] = '\0';
    return out;
}

void esc_fputs(const char *s, FILE *o)
{
    esc_fwrite(s, strlen(s), o);
}

void esc_fwrite(const char *s, size_t n, FILE *o)
{
    const unsigned char *p = (const unsigned char *)s;

    while (n > 0) {
        /* The run that needs no escape goes out in one write. */
        size_t run = 0;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7f)
            run++;
        fwrite(p, 1, run, o);
        p += run;
        n -= run;
        if (n == 0)
            break;
        char e[16];
        int used, k = escape_one(p, n, e, &used);
        fwrite(k > 0 ? e : (const char *)p, 1, k > 0 ? (size_t)k : (size_t)used, o);
        p += used;
        n -= (size_t)used;
    }
}
