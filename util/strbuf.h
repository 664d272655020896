/*
 * strbuf.h - a growing NUL-terminated string: text built a piece at a time (the
 * aggregator's keys, the reader's warnings). One thread per buffer. Appending
 * allocates, and fails with -ENOMEM leaving the text as it was; sb_fini frees it.
 * A zeroed struct strbuf (STRBUF_INIT) is an empty buffer.
 */
#ifndef HEAPSPAN_UTIL_STRBUF_H
#define HEAPSPAN_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *p; /* NULL until the first append */
    size_t len, cap;
};

#define STRBUF_INIT ((struct strbuf){ NULL, 0, 0 })

/* Appends n bytes of s; 0 or -ENOMEM. */
int sb_add(struct strbuf *b, const char *s, size_t n) __attribute__((warn_unused_result));
int sb_adds(struct strbuf *b, const char *s) __attribute__((warn_unused_result));
int sb_addc(struct strbuf *b, char c) __attribute__((warn_unused_result));
/* Appends printf's output, whatever its length; 0, -ENOMEM or -EINVAL (bad format). */
int sb_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
__attribute__((warn_unused_result));
int sb_vaddf(struct strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)))
__attribute__((warn_unused_result));

/* The text; "" for an empty buffer (never NULL). Valid until the next append. */
static inline const char *sb_str(const struct strbuf *b)
{
    return b->p != NULL ? b->p : "";
}

/* Cuts the text back to its first len bytes (len <= its length). */
static inline void sb_truncate(struct strbuf *b, size_t len)
{
    b->len = len;
    if (b->p != NULL)
        b->p[len] = '\0';
}

/* Empties the buffer, keeping its memory. */
static inline void sb_reset(struct strbuf *b)
{
    sb_truncate(b, 0);
}

void sb_fini(struct strbuf *b);

#endif
