/* web.c - see web.h. */
#include "viz/web.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "util/escape.h"

int web_utf8_len(const unsigned char *s)
{
    return esc_utf8_len(s, strnlen((const char *)s, 4));
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
            /* Control characters, DEL and C1 controls (U+0080 to U+009F) from the
             * log have no place in a page: each is shown as U+FFFD, like a byte that
             * is not UTF-8. */
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
                rep = "\xef\xbf\xbd";
            else if ((n = web_utf8_len(p)) == 0)
                rep = "\xef\xbf\xbd", n = 1;
            else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
                rep = "\xef\xbf\xbd";
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
        /* DEL and C1 controls too are escaped: the page holds no raw control
         * character from the log, even inside its data. */
        if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != '<' && *p != 0x7f &&
            (n = web_utf8_len(p)) > 0 && !(n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { /* a C1 control: U+0080 to U+009F */
            fwrite(run, 1, (size_t)(p - run), o);
            fprintf(o, "\\u%04x", p[1]);
            p += 2;
            run = p;
            continue;
        }
        fwrite(run, 1, (size_t)(p - run), o);
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == '<' || *p == 0x7f)
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
