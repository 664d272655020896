/* fmt.c - see fmt.h. */
#include "viz/fmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
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

/* ---- readable names ---- */

/* Whole spellings the standard libraries' names are written in, and how people write
 * them. Applied first, longest first where one holds another. */
static const char *const spellings[][2] = {
    { "std::__cxx11::", "std::" },
    { "std::__1::", "std::" },
    { "std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string" },
    { "std::basic_string<wchar_t, std::char_traits<wchar_t>, std::allocator<wchar_t> >",
      "std::wstring" },
    { "std::basic_string<char16_t, std::char_traits<char16_t>, std::allocator<char16_t> >",
      "std::u16string" },
    { "std::basic_string<char32_t, std::char_traits<char32_t>, std::allocator<char32_t> >",
      "std::u32string" },
    { "std::basic_string_view<char, std::char_traits<char> >", "std::string_view" },
    { "std::basic_ostringstream<char, std::char_traits<char>, std::allocator<char> >",
      "std::ostringstream" },
    { "std::basic_istringstream<char, std::char_traits<char>, std::allocator<char> >",
      "std::istringstream" },
    { "std::basic_stringstream<char, std::char_traits<char>, std::allocator<char> >",
      "std::stringstream" },
    { "std::basic_ostream<char, std::char_traits<char> >", "std::ostream" },
    { "std::basic_istream<char, std::char_traits<char> >", "std::istream" },
    { "std::basic_iostream<char, std::char_traits<char> >", "std::iostream" },
    { "std::basic_ifstream<char, std::char_traits<char> >", "std::ifstream" },
    { "std::basic_ofstream<char, std::char_traits<char> >", "std::ofstream" },
    { "alloc::string::String", "String" },
    { "alloc::vec::Vec<", "Vec<" },
    { "alloc::boxed::Box<", "Box<" },
    { "alloc::rc::Rc<", "Rc<" },
    { "alloc::sync::Arc<", "Arc<" },
    { "core::option::Option<", "Option<" },
    { "core::result::Result<", "Result<" },
};

/* Template arguments a name may leave out: the defaults of the standard containers. */
static const char *const default_args[] = {
    "std::allocator<", "std::char_traits<",    "std::less<",           "std::hash<",
    "std::equal_to<",  "std::default_delete<", "alloc::alloc::Global", "Global",
};

/* A growing copy into a fixed buffer; cut at the end. */
struct nbuf {
    char *p;
    size_t n, cap;
};

static void put(struct nbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap)
        n = b->cap > b->n + 1 ? b->cap - b->n - 1 : 0;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* The length of an operator's name at s ("operator<<", "operator->"): its brackets are
 * no template's. 0 if s is not one. */
static size_t operator_len(const char *s, size_t n)
{
    static const char *const ops[] = { "<=>", "<<=", ">>=", "->*", "<<", ">>", "<=",
                                       ">=",  "->",  "<",   ">",   "()", "[]" };
    if (n < 8 || strncmp(s, "operator", 8) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t k = strlen(ops[i]);
        if (n >= 8 + k && strncmp(s + 8, ops[i], k) == 0)
            return 8 + k;
    }
    return 8;
}

/* The index of the bracket closing the one at s[i] ('<' or '('), or n. */
static size_t closing(const char *s, size_t n, size_t i)
{
    int depth = 0;
    for (size_t j = i; j < n; j++) {
        size_t op = operator_len(s + j, n - j);
        if (op > 0) {
            j += op - 1;
            continue;
        }
        if (s[j] == '<' || s[j] == '(' || s[j] == '[')
            depth++;
        else if ((s[j] == '>' || s[j] == ')' || s[j] == ']') && --depth == 0)
            return j;
    }
    return n;
}

/* Copies s[0, n) dropping default template arguments after the first, and writing
 * lists nested deeper than max_depth as "<...>" (max_depth < 0: none). */
static void simplify(struct nbuf *b, const char *s, size_t n, int depth, int max_depth)
{
    for (size_t i = 0; i < n;) {
        size_t op = operator_len(s + i, n - i);
        if (op > 0) {
            put(b, s + i, op);
            i += op;
            continue;
        }
        if (s[i] != '<') {
            put(b, s + i, 1);
            i++;
            continue;
        }
        size_t close = closing(s, n, i);
        if (close == n) { /* unbalanced: as it is */
            put(b, s + i, n - i);
            return;
        }
        if (max_depth >= 0 && depth >= max_depth) {
            put(b, "<...>", 5);
            i = close + 1;
            continue;
        }
        put(b, "<", 1);
        int k = 0;
        for (size_t a = i + 1; a < close;) {
            size_t e = a;
            while (e < close && s[e] != ',') {
                size_t op2 = operator_len(s + e, close - e);
                if (op2 > 0)
                    e += op2;
                else if (s[e] == '<' || s[e] == '(' || s[e] == '[')
                    e = closing(s, close, e) + 1;
                else
                    e++;
            }
            if (e > close)
                e = close;
            size_t t = a;
            while (t < e && s[t] == ' ')
                t++;
            bool dflt = false;
            for (size_t d = 0; k > 0 && d < sizeof(default_args) / sizeof(default_args[0]); d++) {
                size_t dl = strlen(default_args[d]);
                if (e - t >= dl && strncmp(s + t, default_args[d], dl) == 0 &&
                    (default_args[d][dl - 1] == '<' || e - t == dl ||
                     (e - t == dl + 1 && s[t + dl] == ' ')))
                    dflt = true;
            }
            if (!dflt) {
                if (k > 0)
                    put(b, ", ", 2);
                simplify(b, s + t, e - t, depth + 1, max_depth);
                k++;
            }
            a = e + 1;
        }
        /* "vector<int, std::allocator<int> >" made "vector<int >": no space left. */
        while (b->n > 0 && b->p[b->n - 1] == ' ')
            b->p[--b->n] = '\0';
        if (b->n > 0 && b->p[b->n - 1] == '>')
            put(b, " >", 2);
        else
            put(b, ">", 1);
        i = close + 1;
    }
}

static void replace_all(char *s, size_t cap, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to);
    char *p = s;
    while ((p = strstr(p, from)) != NULL) {
        size_t rest = strlen(p + lf);
        if (lt > lf && (size_t)(p - s) + lt + rest + 1 > cap)
            return;
        memmove(p + lt, p + lf, rest + 1);
        memcpy(p, to, lt);
        p += lt;
    }
}

const char *fmt_function(char *buf, size_t cap, const char *fn, bool full)
{
    char a[4096], b[4096];
    struct nbuf nb = { b, 0, sizeof(b) };

    if (full || cap == 0) {
        snprintf(buf, cap, "%s", fn);
        return buf;
    }
    snprintf(a, sizeof(a), "%s", fn);
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
        replace_all(a, sizeof(a), spellings[i][0], spellings[i][1]);
    b[0] = '\0';
    simplify(&nb, a, strlen(a), 0, -1);
    /* Past the width, the deepest template arguments go first, then the parameters. */
    for (int depth = 8; nb.n > FMT_NAME_WIDTH && depth >= 0; depth--) {
        snprintf(a, sizeof(a), "%s", b);
        nb.n = 0;
        b[0] = '\0';
        simplify(&nb, a, strlen(a), 0, depth);
    }
    if (nb.n > FMT_NAME_WIDTH) {
        char *open = strchr(b, '(');
        if (open != NULL) {
            size_t close = closing(b, nb.n, (size_t)(open - b));
            if (close < nb.n && close > (size_t)(open - b) + 1) {
                memmove(open + 4, b + close, nb.n - close + 1);
                memcpy(open + 1, "...", 3);
            }
        }
    }
    snprintf(buf, cap, "%s", b);
    return buf;
}

const char *fmt_frame_ex(char *buf, size_t cap, const struct model_frame *f, bool full)
{
    /* Names come from the log and from the binaries: escaped (util/escape.h). */
    char fn[FMT_FRAME_MAX], file[FMT_FRAME_MAX], mod[FMT_FRAME_MAX], name[FMT_FRAME_MAX];

    esc_text(mod, sizeof(mod), f->module);
    if (f->function == NULL) {
        snprintf(buf, cap, "%s+0x%" PRIx64, mod, f->module_offset);
        return buf;
    }
    esc_text(fn, sizeof(fn), fmt_function(name, sizeof(name), f->function, full));
    if (f->file != NULL && f->line > 0)
        snprintf(buf, cap, "%s (%s:%d)", fn, esc_text(file, sizeof(file), base_name(f->file)),
                 f->line);
    else
        snprintf(buf, cap, "%s (%s)", fn, mod);
    return buf;
}

const char *fmt_frame(char *buf, size_t cap, const struct model_frame *f)
{
    return fmt_frame_ex(buf, cap, f, false);
}

double fmt_duration_ns(const struct model *m)
{
    double end = m->totals.last_ns;
    if (m->process.ended && m->process.end_ns > end && m->process.point.at == MODEL_AT_END)
        end = m->process.end_ns;
    return end > 0 ? end : 0;
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
