/* report.c - see report.h. */
#include "viz/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void report_bytes(char *buf, size_t cap, double bytes)
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
}

/* 1234567 -> "1,234,567". */
static const char *count(char *buf, size_t cap, double v)
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

static void frame_text(char *buf, size_t cap, const struct agg_frame *f)
{
    if (f->function == NULL)
        snprintf(buf, cap, "%s+0x%" PRIx64, f->module, f->module_offset);
    else if (f->file != NULL && f->line > 0)
        snprintf(buf, cap, "%s (%s:%d)", f->function, base_name(f->file), f->line);
    else
        snprintf(buf, cap, "%s (%s)", f->function, f->module);
}

typedef double (*metric_fn)(const struct agg_stats *);

static double m_peak(const struct agg_stats *s)
{
    return s->peak_live_bytes;
}
static double m_leak(const struct agg_stats *s)
{
    return s->leaked_bytes;
}
static double m_allocs(const struct agg_stats *s)
{
    return s->allocations;
}
static double m_temp(const struct agg_stats *s)
{
    return s->temporary_allocations;
}
static double m_bytes(const struct agg_stats *s)
{
    return s->allocated_bytes;
}

static metric_fn sort_metric;
static const struct agg *sort_agg;

static int cmp_sites(const void *x, const void *y)
{
    double a = sort_metric(&agg_site(sort_agg, *(const int *)x)->st);
    double b = sort_metric(&agg_site(sort_agg, *(const int *)y)->st);
    if (a != b)
        return (a < b) - (a > b);
    return *(const int *)x - *(const int *)y;
}

/* Site indexes ranked by metric, those with a positive value only. */
static int ranked(const struct agg *a, metric_fn m, int *out, int top)
{
    int n = 0;
    for (int i = 0; i < agg_n_sites(a); i++)
        if (m(&agg_site(a, i)->st) > 0)
            out[n++] = i;
    sort_metric = m;
    sort_agg = a;
    qsort(out, (size_t)n, sizeof(*out), cmp_sites);
    return n < top ? n : top;
}

/* ---- text ---- */

struct section {
    const char *title, *explain;
    metric_fn metric;
    bool bytes;
};

static const struct section sections[] = {
    { "PEAK", "call sites holding memory at the moment of the peak", m_peak, true },
    { "LEAKS", "still live at the end of the log", m_leak, true },
    { "ALLOCATIONS", "most allocation calls", m_allocs, false },
    { "TEMPORARY", "freed before their thread allocated anything else", m_temp, false },
};

static void text_site(FILE *o, const struct agg *a, int rank, int i, const struct section *sec,
                      double total)
{
    const struct agg_site *s = agg_site(a, i);
    char v[32], b1[32], b2[32], c1[32], fr[1024];
    double val = sec->metric(&s->st);

    if (sec->bytes)
        report_bytes(v, sizeof(v), val);
    else
        count(v, sizeof(v), val);
    frame_text(fr, sizeof(fr), s->frames[0]);
    fprintf(o, "  #%-2d %10s %5.1f%%  %s\n", rank, v, total > 0 ? 100 * val / total : 0, fr);
    report_bytes(b1, sizeof(b1), s->st.allocated_bytes);
    report_bytes(b2, sizeof(b2), s->st.leaked_bytes);
    fprintf(o, "       %s allocations, %s in all, %s leaked in %s blocks, %s temporary\n",
            count(c1, sizeof(c1), s->st.allocations), b1, b2,
            count(v, sizeof(v), s->st.leaked_allocations),
            count(fr, sizeof(fr), s->st.temporary_allocations));
    for (int k = 0; k < s->n_frames && k < 12; k++) {
        frame_text(fr, sizeof(fr), s->frames[k]);
        fprintf(o, "         %s%s\n", s->frames[k]->inlined ? "(inlined) " : "", fr);
    }
    if (s->n_frames > 12)
        fprintf(o, "         ... %d more frames\n", s->n_frames - 12);
}

static void text_bloat(FILE *o, const struct agg *a, int top)
{
    int n = agg_n_bloats(a);
    char c[32], b[32], fr[1024];

    fprintf(o, "\nBLOATED: many live blocks of one size (%d)\n", n);
    if (n == 0)
        fprintf(o, "  none: no call site held 1,000 or more blocks of one size\n");
    for (int j = 0; j < n && j < top; j++) {
        const struct agg_bloat *bl = agg_bloat(a, j);
        report_bytes(b, sizeof(b), bl->bytes_at_peak);
        fprintf(o, "  %s x %" PRIu64 " B = %s at the peak", count(c, sizeof(c), bl->blocks_at_peak),
                bl->size, b);
        fprintf(o, ", allocator slack %.0f B/block", bl->slack_bytes_per_block);
        if (bl->zero_share >= 0)
            fprintf(o, ", %.0f%% zero bytes", 100 * bl->zero_share);
        fprintf(o, "\n    from %d site%s:", bl->n_sites, bl->n_sites == 1 ? "" : "s");
        for (int k = 0; k < bl->n_sites && k < 8; k++) {
            frame_text(fr, sizeof(fr), agg_site(a, bl->sites[k])->frames[0]);
            fprintf(o, "%s %s", k ? "," : "", fr);
        }
        fputc('\n', o);
        for (int t = 0; t < bl->n_types && t < 4; t++) {
            const struct sym_struct *st = &bl->types[t];
            fprintf(o, "    %s %s (%" PRIu64 " B): ", st->kind,
                    st->name[0] ? st->name : "<anonymous>", st->size);
            for (int m = 0; m < st->n_members && m < 12; m++)
                fprintf(o, "%s%s @%" PRIu64 " (%" PRIu64 ")", m ? ", " : "",
                        st->members[m].name[0] ? st->members[m].name : "<anon>",
                        st->members[m].offset, st->members[m].size);
            if (st->n_members > 12)
                fprintf(o, ", ... %d more", st->n_members - 12);
            fprintf(o, "; holes %" PRIu64 " B, padding %" PRIu64 " B\n", st->hole_bytes,
                    st->padding_bytes);
        }
    }
}

static void text_header(FILE *o, const struct report_input *in, const struct agg_totals *t)
{
    const struct rd_header *h = rd_header(in->log);
    const struct rd_stats *rs = rd_stats(in->log);
    char b1[32], b2[32], c1[32], c2[32];

    fprintf(o, "heapspan report: %s\n", in->log_path);
    fprintf(o, "program: %s", rd_exe(in->log)[0] ? rd_exe(in->log) : "?");
    for (int i = 1; i < rd_argc(in->log) && i < 8; i++)
        fprintf(o, " %s", rd_argv(in->log, i));
    fprintf(o, "  (pid %u, %.3f s recorded, %s)\n", h->pid,
            rd_ticks_to_ns(in->log, t->last_time) / 1e9 -
                rd_ticks_to_ns(in->log, t->first_time) / 1e9,
            rs->truncated || !rs->ended       ? "log cut short"
            : rs->end_reason == LF_END_SIGNAL ? "ended by a signal"
                                              : "exited");
    if (t->sampled)
        fprintf(o,
                "sampled: one allocation per %" PRIu64
                " bytes on average; every number is an unbiased estimate\n",
                t->sample_bytes);
    report_bytes(b1, sizeof(b1), t->allocated_bytes);
    fprintf(o, "\nTOTALS\n  allocations   %s (%s)\n", count(c1, sizeof(c1), t->allocations), b1);
    fprintf(o, "  frees         %s\n", count(c1, sizeof(c1), t->frees));
    report_bytes(b1, sizeof(b1), t->peak_live_bytes);
    fprintf(o, "  peak live     %s at %.3f s\n", b1, rd_ticks_to_ns(in->log, t->peak_time) / 1e9);
    report_bytes(b2, sizeof(b2), t->leaked_bytes);
    fprintf(o, "  leaked        %s in %s blocks\n", b2,
            count(c1, sizeof(c1), t->leaked_allocations));
    fprintf(o, "  temporary     %s allocations (%.1f%%)\n",
            count(c2, sizeof(c2), t->temporary_allocations),
            t->allocations > 0 ? 100 * t->temporary_allocations / t->allocations : 0);
    fprintf(o, "  lost events   %" PRIu64 "\n", t->lost_events);
}

static int write_text(FILE *o, const struct report_input *in)
{
    const struct agg *a = in->agg;
    const struct agg_totals *t = agg_totals(a);
    int *idx = malloc(((size_t)agg_n_sites(a) + 1) * sizeof(*idx));

    if (idx == NULL)
        return -ENOMEM;
    text_header(o, in, t);
    for (size_t k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
        const struct section *sec = &sections[k];
        int n = ranked(a, sec->metric, idx, in->top);
        double total = sec->metric == m_peak     ? t->peak_live_bytes
                       : sec->metric == m_leak   ? t->leaked_bytes
                       : sec->metric == m_allocs ? t->allocations
                                                 : t->temporary_allocations;
        fprintf(o, "\n%s: %s (top %d of %d sites)\n", sec->title, sec->explain, n, agg_n_sites(a));
        if (n == 0)
            fprintf(o, "  none\n");
        for (int r = 0; r < n; r++)
            text_site(o, a, r + 1, idx[r], sec, total);
    }
    text_bloat(o, a, in->top);
    if (in->warnings != NULL && in->warnings[0] != '\0')
        fprintf(o, "\nWARNINGS\n%s", in->warnings);
    free(idx);
    return 0;
}

/* ---- JSON ---- */

static void json_str(FILE *o, const char *s)
{
    if (s == NULL) {
        fputs("null", o);
        return;
    }
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(o, "\\u%04x", *p);
        else
            fputc(*p, o);
    }
    fputc('"', o);
}

/* Exact counts print as integers; estimates (sampled logs) keep one decimal. */
static void json_num(FILE *o, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        fprintf(o, "%.0f", v);
    else
        fprintf(o, "%.1f", v);
}

/* "key":value, with a comma before it unless it opens the object. */
static void json_field(FILE *o, const char *key, double v, bool first)
{
    fprintf(o, "%s\"%s\":", first ? "" : ",", key);
    json_num(o, v);
}

static void json_frame(FILE *o, const struct agg_frame *f)
{
    fputs("{\"function\":", o);
    json_str(o, f->function);
    fputs(",\"file\":", o);
    json_str(o, f->file);
    fprintf(o, ",\"line\":%d,\"module\":", f->line);
    json_str(o, f->module);
    fprintf(o, ",\"module_offset\":%" PRIu64 ",\"inlined\":%s}", f->module_offset,
            f->inlined ? "true" : "false");
}

static void json_stats(FILE *o, const struct agg_stats *s)
{
    json_field(o, "allocations", s->allocations, true);
    json_field(o, "allocated_bytes", s->allocated_bytes, false);
    json_field(o, "frees", s->frees, false);
    json_field(o, "peak_live_bytes", s->peak_live_bytes, false);
    json_field(o, "leaked_bytes", s->leaked_bytes, false);
    json_field(o, "leaked_allocations", s->leaked_allocations, false);
    json_field(o, "temporary_allocations", s->temporary_allocations, false);
    json_field(o, "max_live_blocks", s->max_live_blocks, false);
    json_field(o, "slack_bytes", s->slack_bytes, false);
    fputs(",\"zero_byte_share\":", o);
    if (s->zero_sampled_bytes > 0)
        fprintf(o, "%.4f", s->zero_bytes / s->zero_sampled_bytes);
    else
        fputs("null", o);
    fputs(",\"size_histogram\":[", o);
    bool first = true;
    for (int i = 0; i < AGG_HIST_BUCKETS; i++) {
        if (s->hist[i] <= 0)
            continue;
        fprintf(o, "%s{\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"count\":", first ? "" : ",",
                i == 0 ? 0 : (uint64_t)1 << i, ((uint64_t)2 << i) - 1);
        json_num(o, s->hist[i]);
        fputc('}', o);
        first = false;
    }
    fputc(']', o);
}

static void json_group(FILE *o, const struct agg_group *g, bool line)
{
    fputs("{\"function\":", o);
    json_str(o, g->function);
    fputs(",\"module\":", o);
    json_str(o, g->module);
    if (line) {
        fputs(",\"file\":", o);
        json_str(o, g->file);
        fprintf(o, ",\"line\":%d", g->line);
    }
    fprintf(o, ",\"sites\":%d,", g->n_sites);
    json_stats(o, &g->st);
    fputc('}', o);
}

static int write_json(FILE *o, const struct report_input *in)
{
    const struct agg *a = in->agg;
    const struct agg_totals *t = agg_totals(a);
    const struct rd_header *h = rd_header(in->log);
    const struct rd_stats *rs = rd_stats(in->log);
    int *idx = malloc(((size_t)agg_n_sites(a) + 1) * sizeof(*idx));

    if (idx == NULL)
        return -ENOMEM;
    fputs("{\"heapspan_report\":1,\"log\":{\"path\":", o);
    json_str(o, in->log_path);
    fprintf(o, ",\"pid\":%u,\"ppid\":%u,\"exe\":", h->pid, h->ppid);
    json_str(o, rd_exe(in->log));
    fputs(",\"argv\":[", o);
    for (int i = 0; i < rd_argc(in->log); i++) {
        if (i)
            fputc(',', o);
        json_str(o, rd_argv(in->log, i));
    }
    fprintf(o, "],\"sample_bytes\":%" PRIu64 ",\"sampled\":%s,\"estimates\":%s", h->sample_bytes,
            t->sampled ? "true" : "false", t->sampled ? "true" : "false");
    fprintf(o, ",\"start_unix_ns\":%" PRIu64 ",\"duration_ns\":%.0f", h->start_realtime_ns,
            rd_ticks_to_ns(in->log, t->last_time));
    fprintf(o, ",\"ended\":%s,\"truncated\":%s,\"bytes\":%" PRIu64 ",\"bytes_read\":%" PRIu64 "}",
            rs->ended && !rs->truncated ? "true" : "false", rs->truncated ? "true" : "false",
            rs->file_bytes, rs->bytes_read);
    fputs(",\"totals\":{", o);
    json_field(o, "allocations", t->allocations, true);
    json_field(o, "frees", t->frees, false);
    json_field(o, "allocated_bytes", t->allocated_bytes, false);
    json_field(o, "peak_live_bytes", t->peak_live_bytes, false);
    json_field(o, "peak_time_ns", round(rd_ticks_to_ns(in->log, t->peak_time)), false);
    json_field(o, "leaked_bytes", t->leaked_bytes, false);
    json_field(o, "leaked_allocations", t->leaked_allocations, false);
    json_field(o, "temporary_allocations", t->temporary_allocations, false);
    fprintf(o,
            ",\"lost_events\":%" PRIu64 ",\"unknown_frees\":%" PRIu64 ",\"markers\":%" PRIu64
            ",\"sites\":%d}",
            t->lost_events, t->unknown_frees, t->markers, agg_n_sites(a));

    /* Sites: every one with allocations, by peak then allocations. */
    int n = 0;
    for (int i = 0; i < agg_n_sites(a); i++)
        idx[n++] = i;
    sort_metric = m_bytes;
    sort_agg = a;
    qsort(idx, (size_t)n, sizeof(*idx), cmp_sites);
    if (in->top > 0 && n > in->top)
        n = in->top;
    fputs(",\"sites\":[", o);
    for (int r = 0; r < n; r++) {
        const struct agg_site *s = agg_site(a, idx[r]);
        const struct agg_frame *f = s->frames[0];
        fputs(r ? ",{" : "{", o);
        fputs("\"function\":", o);
        json_str(o, f->function);
        fputs(",\"file\":", o);
        json_str(o, f->file);
        fprintf(o, ",\"line\":%d,\"module\":", f->line);
        json_str(o, f->module);
        fputs(",\"stack\":[", o);
        for (int k = 0; k < s->n_frames; k++) {
            if (k)
                fputc(',', o);
            json_frame(o, s->frames[k]);
        }
        fputs("],", o);
        json_stats(o, &s->st);
        fputc('}', o);
    }
    fputs("],\"functions\":[", o);
    for (int i = 0; i < agg_n_functions(a); i++) {
        if (i)
            fputc(',', o);
        json_group(o, agg_function(a, i), false);
    }
    fputs("],\"lines\":[", o);
    for (int i = 0; i < agg_n_lines(a); i++) {
        if (i)
            fputc(',', o);
        json_group(o, agg_line(a, i), true);
    }
    fputs("],\"bloated\":[", o);
    for (int j = 0; j < agg_n_bloats(a); j++) {
        const struct agg_bloat *b = agg_bloat(a, j);
        fputs(j ? ",{" : "{", o);
        json_field(o, "size", (double)b->size, true);
        json_field(o, "blocks_at_peak", round(b->blocks_at_peak), false);
        json_field(o, "bytes_at_peak", b->bytes_at_peak, false);
        json_field(o, "slack_bytes_per_block", b->slack_bytes_per_block, false);
        fputs(",\"zero_byte_share\":", o);
        if (b->zero_share >= 0)
            fprintf(o, "%.4f", b->zero_share);
        else
            fputs("null", o);
        fputs(",\"sites\":[", o);
        for (int k = 0; k < b->n_sites && k < 8; k++) {
            if (k)
                fputc(',', o);
            json_frame(o, agg_site(a, b->sites[k])->frames[0]);
        }
        fputs("],\"types\":[", o);
        for (int t2 = 0; t2 < b->n_types; t2++) {
            const struct sym_struct *st = &b->types[t2];
            fputs(t2 ? ",{\"kind\":" : "{\"kind\":", o);
            json_str(o, st->kind);
            fputs(",\"name\":", o);
            json_str(o, st->name);
            fprintf(o,
                    ",\"size\":%" PRIu64 ",\"hole_bytes\":%" PRIu64 ",\"padding_bytes\":%" PRIu64
                    ",\"members\":[",
                    st->size, st->hole_bytes, st->padding_bytes);
            for (int m = 0; m < st->n_members; m++) {
                fputs(m ? ",{\"name\":" : "{\"name\":", o);
                json_str(o, st->members[m].name);
                fputs(",\"type\":", o);
                json_str(o, st->members[m].type_name);
                fprintf(o,
                        ",\"offset\":%" PRIu64 ",\"size\":%" PRIu64 ",\"hole_after\":%" PRIu64 "}",
                        st->members[m].offset, st->members[m].size, st->members[m].hole_after);
            }
            fputs("]}", o);
        }
        fputs("]}", o);
    }
    fputs("],\"warnings\":[", o);
    const char *w = in->warnings ? in->warnings : "";
    bool first = true;
    while (*w) {
        const char *e = strchr(w, '\n');
        size_t len = e ? (size_t)(e - w) : strlen(w);
        char *line = strndup(w, len);
        if (line != NULL) {
            if (!first)
                fputc(',', o);
            json_str(o, line);
            first = false;
            free(line);
        }
        w += len + (e != NULL);
    }
    fputs("]}\n", o);
    free(idx);
    return 0;
}

/* ---- markdown ---- */

static void md_cell(FILE *o, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", o);
        else if (*s == '<')
            fputs("&lt;", o);
        else
            fputc(*s, o);
    }
}

static int write_markdown(FILE *o, const struct report_input *in)
{
    const struct agg *a = in->agg;
    const struct agg_totals *t = agg_totals(a);
    int *idx = malloc(((size_t)agg_n_sites(a) + 1) * sizeof(*idx));
    char b1[32], b2[32], b3[32], c1[32], c2[32], fr[1024];

    if (idx == NULL)
        return -ENOMEM;
    fprintf(o, "# Heap report: `%s`\n\n", rd_exe(in->log));
    if (t->sampled)
        fprintf(o, "_Sampled: one allocation per %" PRIu64 " bytes; numbers are estimates._\n\n",
                t->sample_bytes);
    report_bytes(b1, sizeof(b1), t->allocated_bytes);
    report_bytes(b2, sizeof(b2), t->peak_live_bytes);
    report_bytes(b3, sizeof(b3), t->leaked_bytes);
    fprintf(o, "| allocations | allocated | peak live | leaked | temporary | lost events |\n");
    fprintf(o, "|---:|---:|---:|---:|---:|---:|\n");
    fprintf(o, "| %s | %s | %s | %s in %s blocks | %s | %" PRIu64 " |\n",
            count(c1, sizeof(c1), t->allocations), b1, b2, b3,
            count(c2, sizeof(c2), t->leaked_allocations),
            count(fr, sizeof(fr), t->temporary_allocations), t->lost_events);
    for (size_t k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
        const struct section *sec = &sections[k];
        int n = ranked(a, sec->metric, idx, in->top);
        fprintf(o, "\n## %c%s: %s\n\n", sec->title[0], sec->title + 1, sec->explain);
        if (n == 0) {
            fprintf(o, "None.\n");
            continue;
        }
        fprintf(o, "| # | %s | call site | allocations | leaked | temporary |\n",
                sec->bytes ? "bytes" : "count");
        fprintf(o, "|---:|---:|---|---:|---:|---:|\n");
        for (int r = 0; r < n; r++) {
            const struct agg_site *s = agg_site(a, idx[r]);
            double val = sec->metric(&s->st);
            if (sec->bytes)
                report_bytes(b1, sizeof(b1), val);
            else
                count(b1, sizeof(b1), val);
            frame_text(fr, sizeof(fr), s->frames[0]);
            report_bytes(b2, sizeof(b2), s->st.leaked_bytes);
            fprintf(o, "| %d | %s | `", r + 1, b1);
            md_cell(o, fr);
            fprintf(o, "` | %s | %s | %s |\n", count(c1, sizeof(c1), s->st.allocations), b2,
                    count(c2, sizeof(c2), s->st.temporary_allocations));
        }
    }
    fprintf(o, "\n## Bloated: many live blocks of one size\n\n");
    if (agg_n_bloats(a) == 0)
        fprintf(o, "None.\n");
    for (int j = 0; j < agg_n_bloats(a) && j < in->top; j++) {
        const struct agg_bloat *b = agg_bloat(a, j);
        report_bytes(b1, sizeof(b1), b->bytes_at_peak);
        fprintf(o, "- **%s x %" PRIu64 " B** = %s at the peak, slack %.0f B/block",
                count(c1, sizeof(c1), b->blocks_at_peak), b->size, b1, b->slack_bytes_per_block);
        if (b->zero_share >= 0)
            fprintf(o, ", %.0f%% zero bytes", 100 * b->zero_share);
        fprintf(o, "; from");
        for (int k = 0; k < b->n_sites && k < 8; k++) {
            frame_text(fr, sizeof(fr), agg_site(a, b->sites[k])->frames[0]);
            fprintf(o, "%s `", k ? "," : "");
            md_cell(o, fr);
            fputc('`', o);
        }
        for (int t2 = 0; t2 < b->n_types && t2 < 2; t2++)
            fprintf(o, "; %s `%s`: %" PRIu64 " B of holes, %" PRIu64 " B of padding",
                    b->types[t2].kind, b->types[t2].name, b->types[t2].hole_bytes,
                    b->types[t2].padding_bytes);
        fputc('\n', o);
    }
    free(idx);
    return 0;
}

int report_write(FILE *out, enum report_format fmt, const struct report_input *in)
{
    int err;
    switch (fmt) {
    case REPORT_JSON:
        err = write_json(out, in);
        break;
    case REPORT_MARKDOWN:
        err = write_markdown(out, in);
        break;
    default:
        err = write_text(out, in);
        break;
    }
    if (err == 0 && (fflush(out) != 0 || ferror(out)))
        err = -EIO;
    return err;
}
