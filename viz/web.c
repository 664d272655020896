/* web.c - see web.h. */
#include "viz/web.h"

#include <math.h>
#include <stdint.h>

int web_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    uint32_t cp, min;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void web_html(FILE *o, const char *s)
{
    if (s == NULL)
        return;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        const char *rep = NULL;
        int n = 1;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if (*p < 0x20 && *p != '\t' && *p != '\n')
                rep = "\xef\xbf\xbd";
            else if ((n = web_utf8_len(p)) == 0)
                rep = "\xef\xbf\xbd", n = 1;
            break;
        }
        if (rep == NULL) {
            p += n;
            continue;
        }
        fwrite(run, 1, (size_t)(p - run), o);
        fputs(rep, o);
        p += n;
        run = p;
    }
    fwrite(run, 1, (size_t)(p - run), o);
}

void web_json_str(FILE *o, const char *s)
{
    if (s == NULL) {
        fputs("null", o);
        return;
    }
    const unsigned char *p = (const unsigned char *)s, *run = p;
    fputc('"', o);
    while (*p) {
        int n = 1;
        if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != '<' && (n = web_utf8_len(p)) > 0) {
            p += n;
            continue;
        }
        fwrite(run, 1, (size_t)(p - run), o);
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == '<')
            fprintf(o, "\\u%04x", *p);
        else
            fputs("\\ufffd", o);
        p++;
        run = p;
    }
    fwrite(run, 1, (size_t)(p - run), o);
    fputc('"', o);
}

void web_num(FILE *o, double v)
{
    if (isnan(v))
        v = 0;
    if (v == 0) {
        fputc('0', o);
        return;
    }
    fprintf(o, "%.0f", v);
}
