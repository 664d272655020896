/* strbuf.c - see strbuf.h. */
#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL. */
static int sb_room(struct strbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = (b->cap + n + 1) * 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (sb_room(b, n) < 0)
        return -ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int sb_adds(struct strbuf *b, const char *s)
{
    return sb_add(b, s, strlen(s));
}

int sb_addc(struct strbuf *b, char c)
{
    return sb_add(b, &c, 1);
}

int sb_vaddf(struct strbuf *b, const char *fmt, va_list ap)
{
    va_list again;
    char tmp[256];

    /* Most pieces fit the stack buffer: one formatting pass, one copy. */
    va_copy(again, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    if (n < 0) {
        va_end(again);
        return -EINVAL;
    }
    if ((size_t)n < sizeof(tmp)) {
        va_end(again);
        return sb_add(b, tmp, (size_t)n);
    }
    if (sb_room(b, (size_t)n) < 0) {
        va_end(again);
        return -ENOMEM;
    }
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
    va_end(again);
    b->len += (size_t)n;
    return 0;
}

int sb_addf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = sb_vaddf(b, fmt, ap);
    va_end(ap);
    return err;
}

void sb_fini(struct strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
