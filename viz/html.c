/* html.c - the whole report as one HTML page, for people who would rather look: the
 * summary, the heap over time (an SVG chart drawn here from the model's timeline, with
 * the peak and each marker), the rankings of call sites with their stacks, the leaks set
 * apart, the bloated sizes with their struct layouts, the flame graph with its metric
 * switch (viz/flame.h), and the warnings. Offline: styles and the flame graph's script
 * are inline, and the page's Content-Security-Policy lets nothing be fetched. Its size
 * follows the rankings (opt->top rows each) and the flame graph's pruned tree, not the
 * log's events. See render.h. */
#include "viz/render.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "viz/flame.h"
#include "viz/fmt.h"
#include "viz/rank.h"
#include "viz/web.h"

#define HTML_FRAMES 24 /* of a site's stack, shown */

static void h(FILE *o, const char *s)
{
    web_html(o, s);
}

static void bytes_cell(FILE *o, double v)
{
    char b[32], c[32];
    fprintf(o, "<td class=\"num\" title=\"%s bytes\">%s</td>", fmt_count(c, sizeof(c), v),
            fmt_bytes(b, sizeof(b), v));
}

/* Exact bytes and the short form: the tables that name amounts people check. */
static void exact_bytes_cell(FILE *o, double v)
{
    char b[32], c[32];
    fprintf(o,
            "<td class=\"num\"><span class=\"exact\">%s B</span> <span "
            "class=\"short\">(%s)</span></td>",
            fmt_count(c, sizeof(c), v), fmt_bytes(b, sizeof(b), v));
}

static void count_cell(FILE *o, double v)
{
    char c[32];
    fprintf(o, "<td class=\"num\">%s</td>", fmt_count(c, sizeof(c), v));
}

static const char *base_name(const char *path)
{
    const char *s = path != NULL ? strrchr(path, '/') : NULL;
    return s != NULL ? s + 1 : path != NULL ? path : "";
}

static void frame_html(FILE *o, const struct model_frame *f)
{
    if (f->inlined)
        fputs("<span class=\"inl\" title=\"inlined into the next frame\">(inlined)</span> ", o);
    if (f->function == NULL) {
        fputs("<span class=\"fn unknown\">", o);
        h(o, f->module);
        fprintf(o, "+0x%" PRIx64 "</span>", f->module_offset);
        return;
    }
    fputs("<span class=\"fn\">", o);
    h(o, f->function);
    fputs("</span>", o);
    if (f->file != NULL) {
        fputs(" <span class=\"loc\" title=\"", o);
        h(o, f->file);
        fputs("\">", o);
        h(o, base_name(f->file));
        if (f->line > 0)
            fprintf(o, ":%d", f->line);
        fputs("</span>", o);
    }
    if (f->module != NULL) {
        fputs(" <span class=\"mod\">", o);
        h(o, f->module);
        fputs("</span>", o);
    }
}

static void stack_html(FILE *o, const struct model_site *s)
{
    fputs("<ol class=\"stack\">", o);
    for (int k = 0; k < s->n_frames && k < HTML_FRAMES; k++) {
        fputs("<li>", o);
        frame_html(o, s->frames[k]);
        fputs("</li>", o);
    }
    if (s->n_frames > HTML_FRAMES)
        fprintf(o, "<li class=\"more\">... %d more frames</li>", s->n_frames - HTML_FRAMES);
    fputs("</ol>", o);
}

/* ---- summary ---- */

static void row(FILE *o, const char *name, const char *value)
{
    fputs("<tr><th>", o);
    h(o, name);
    fputs("</th><td>", o);
    h(o, value);
    fputs("</td></tr>\n", o);
}

static const char *ending(const struct model_process *p)
{
    if (p->truncated || !p->ended)
        return "log cut short (no end record)";
    switch (p->end_reason) {
    case MODEL_END_SIGNAL:
        return "ended by a signal";
    case MODEL_END_STOPPED:
        return "recording stopped on a write error";
    case MODEL_END_UNDERSCORE_EXIT:
        return "exited (_exit)";
    default:
        return "exited";
    }
}

static void summary(FILE *o, const struct model *m)
{
    const struct model_process *p = &m->process;
    const struct model_totals *t = &m->totals;
    char v[512], b1[32], b2[32], c1[32], pt[128];

    fputs("<section id=\"summary\"><h2>Summary</h2>\n<table class=\"summary\">\n", o);
    fmt_bytes(b1, sizeof(b1), t->peak_live_bytes);
    snprintf(v, sizeof(v), "%s at %.3f s", b1, t->peak_ns / 1e9);
    row(o, "peak live", v);
    fmt_bytes(b1, sizeof(b1), t->leaked_bytes);
    fmt_count(c1, sizeof(c1), t->leaked_allocations);
    snprintf(v, sizeof(v), "%s in %s blocks%s", b1, c1,
             p->ended ? "" : " (the process had not ended: live at the end of the log)");
    row(o, "leaked", v);
    fmt_bytes(b1, sizeof(b1), t->allocated_bytes);
    fmt_count(c1, sizeof(c1), t->allocations);
    snprintf(v, sizeof(v), "%s (%s in all)", c1, b1);
    row(o, "allocations", v);
    row(o, "frees", fmt_count(c1, sizeof(c1), t->frees));
    fmt_count(c1, sizeof(c1), t->temporary_allocations);
    snprintf(v, sizeof(v), "%s (%.1f%% of allocations)", c1,
             t->allocations > 0 ? 100 * t->temporary_allocations / t->allocations : 0);
    row(o, "temporary", v);
    if (t->runtime_allocations > 0) {
        fmt_bytes(b2, sizeof(b2), t->runtime_bytes);
        snprintf(v, sizeof(v), "%s in %s blocks, made once by the C runtime (not leaks)", b2,
                 fmt_count(c1, sizeof(c1), t->runtime_allocations));
        row(o, "runtime", v);
    }
    if (t->suppressed_allocations > 0) {
        fmt_bytes(b2, sizeof(b2), t->suppressed_bytes);
        snprintf(v, sizeof(v), "%s in %s blocks, matching --suppressions", b2,
                 fmt_count(c1, sizeof(c1), t->suppressed_allocations));
        row(o, "suppressed", v);
    }
    snprintf(v, sizeof(v), "%" PRIu64 "%s", t->lost_events,
             t->lost_events > 0 ? " (the figures miss these events)" : "");
    row(o, "lost events", v);
    snprintf(v, sizeof(v), "%.3f s (%s)", (t->last_ns - t->first_ns) / 1e9, ending(p));
    row(o, "duration", v);
    if (t->sampled)
        snprintf(v, sizeof(v),
                 "one allocation recorded per %" PRIu64
                 " bytes on average: every figure is an unbiased estimate",
                 p->sample_bytes);
    else
        snprintf(v, sizeof(v), "every allocation recorded: figures are exact");
    row(o, "sampling", v);
    snprintf(v, sizeof(v), "%" PRIu64, t->markers);
    row(o, "markers", v);
    row(o, "model at", fmt_point(pt, sizeof(pt), &p->point));
    if (m->python.seen) {
        const struct model_python *py = &m->python;
        snprintf(v, sizeof(v), "CPython %s, allocator %s: %s", py->version[0] ? py->version : "?",
                 py->allocator_mode, py->allocator_note);
        row(o, "python", v);
        if (!py->stacks)
            snprintf(v, sizeof(v), "native only: %s", py->reason);
        else
            snprintf(v, sizeof(v), "Python frames %s; %" PRIu64 " frames dropped (not validated)",
                     py->internals_shown ? "beside the interpreter's own"
                                         : "in place of the interpreter's own",
                     py->dropped_frames);
        row(o, "python stacks", v);
    }
    fputs("</table></section>\n", o);
}

/* ---- the heap over time ---- */

#define CH_W     960.0
#define CH_H     260.0
#define CH_LEFT  70.0
#define CH_RIGHT 20.0
#define CH_TOP   16.0
#define CH_BOT   34.0

/* A round step for about n ticks over span. */
static double nice_step(double span, int n)
{
    if (!(span > 0))
        return 1;
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* A byte step that is a power of two times 1, 2 or 5 of a binary unit. */
static double nice_bytes_step(double span, int n)
{
    double unit = 1;
    while (span / unit >= 2048)
        unit *= 1024;
    return nice_step(span / unit, n) * unit;
}

static double chart_clamp(double v)
{
    return isfinite(v) ? fmin(fmax(v, -CH_W), 2 * CH_W) : 0;
}

static void chart(FILE *o, const struct model *m)
{
    const struct model_timeline *tl = &m->timeline;
    char b[32];

    fputs("<section id=\"timeline\"><h2>Heap over time</h2>\n", o);
    if (tl->n_points == 0) {
        fputs("<p class=\"note\">No timeline: a snapshot keeps no history, and a log without "
              "events has none.</p></section>\n",
              o);
        return;
    }
    double t0 = tl->points[0].ns, t1 = tl->points[tl->n_points - 1].ns + tl->bucket_ns;
    double ymax = m->totals.peak_live_bytes;
    for (int i = 0; i < tl->n_points; i++)
        if (tl->points[i].max_live > ymax)
            ymax = tl->points[i].max_live;
    if (!(ymax > 0))
        ymax = 1;
    double ystep = nice_bytes_step(ymax, 4);
    ymax = ceil(ymax * 1.05 / ystep) * ystep;
    double pw = CH_W - CH_LEFT - CH_RIGHT, ph = CH_H - CH_TOP - CH_BOT;
    /* Coordinates are clamped to a little beyond the chart: a hostile log's times or
     * sizes (1e300 ns) would otherwise print as numbers of hundreds of digits. */
#define X(ns) chart_clamp(CH_LEFT + ((ns)-t0) / (t1 - t0 > 0 ? t1 - t0 : 1) * pw)
#define Y(v)  chart_clamp(CH_TOP + ph - (v) / ymax * ph)
    fprintf(o,
            "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
            "aria-label=\"live bytes over time\">\n",
            CH_W, CH_H);
    /* grid and axes */
    /* nice_step makes about 4 and 8 steps; the guards stop a span so wide that adding a
     * step no longer moves the sum. */
    int guard = 0;
    for (double y = 0; y <= ymax + ystep / 2 && guard++ < 64; y += ystep) {
        fprintf(o, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                CH_LEFT, CH_W - CH_RIGHT, Y(y), Y(y));
        fprintf(o, "<text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", CH_LEFT - 6, Y(y) + 4,
                fmt_bytes(b, sizeof(b), y));
    }
    double span_s = (t1 - t0) / 1e9, xstep = nice_step(span_s, 8);
    guard = 0;
    for (double s = ceil(t0 / 1e9 / xstep) * xstep; s <= t1 / 1e9 + 1e-12 && guard++ < 64;
         s += xstep)
        fprintf(o, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%.*f s</text>\n", X(s * 1e9),
                CH_H - CH_BOT + 16,
                xstep < 0.001  ? 4
                : xstep < 0.01 ? 3
                : xstep < 0.1  ? 2
                : xstep < 1    ? 1
                               : 0,
                s);
    fprintf(o, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", CH_LEFT,
            CH_W - CH_RIGHT, Y(0), Y(0));
    /* the band between each bucket's lowest and highest, then the highest as a line */
    fputs("<path class=\"band\" d=\"", o);
    for (int i = 0; i < tl->n_points; i++) {
        const struct model_timeline_point *p = &tl->points[i];
        fprintf(o, "%s%.1f %.1fL%.1f %.1f", i ? "L" : "M", X(p->ns), Y(p->max_live),
                X(p->ns + tl->bucket_ns), Y(p->max_live));
    }
    for (int i = tl->n_points - 1; i >= 0; i--) {
        const struct model_timeline_point *p = &tl->points[i];
        fprintf(o, "L%.1f %.1fL%.1f %.1f", X(p->ns + tl->bucket_ns), Y(p->min_live), X(p->ns),
                Y(p->min_live));
    }
    fputs("Z\"/>\n<path class=\"live\" d=\"", o);
    for (int i = 0; i < tl->n_points; i++) {
        const struct model_timeline_point *p = &tl->points[i];
        fprintf(o, "%s%.1f %.1fL%.1f %.1f", i ? "L" : "M", X(p->ns), Y(p->max_live),
                X(p->ns + tl->bucket_ns), Y(p->max_live));
    }
    fputs("\"/>\n", o);
    /* Markers numbered at the foot of their line, clear of the peak's label. */
    for (int i = 0; i < tl->n_markers; i++) {
        const struct model_marker *mk = &tl->markers[i];
        fprintf(o,
                "<g class=\"marker\"><title>marker %d (%s, serial %" PRIu32
                ") at %.3f s</title><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">#%d</text></g>\n",
                i + 1, mk->kind, mk->serial, mk->ns / 1e9, X(mk->ns), X(mk->ns), CH_TOP, Y(0),
                X(mk->ns) + 3, Y(0) - 4, i + 1);
    }
    double px = X(m->totals.peak_ns), py = Y(m->totals.peak_live_bytes);
    fmt_bytes(b, sizeof(b), m->totals.peak_live_bytes);
    fprintf(
        o,
        "<g class=\"peak\"><title>peak: %s at %.3f s</title><circle cx=\"%.1f\" cy=\"%.1f\" "
        "r=\"4.5\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">peak %s at %.3f s</text></g>\n",
        b, m->totals.peak_ns / 1e9, px, py, px + (px > CH_W * 0.7 ? -8 : 8),
        py < CH_TOP + 14 ? py + 16 : py - 8, px > CH_W * 0.7 ? "end" : "start", b,
        m->totals.peak_ns / 1e9);
    fputs("</svg>\n", o);
#undef X
#undef Y
    fprintf(o,
            "<p class=\"note\">Live bytes: the line is each %.3g ms bucket's highest, the band "
            "its lowest to highest.",
            tl->bucket_ns / 1e6);
    if (m->totals.markers > (uint64_t)tl->n_markers)
        fprintf(o, " The first %d of %" PRIu64 " markers are drawn.", tl->n_markers,
                m->totals.markers);
    fputs("</p></section>\n", o);
}

/* ---- rankings ---- */

static const char *const section_ids[] = { "peak", "leaks", "allocations", "temporary" };

static void ranking(FILE *o, const struct model *m, int k, int top, int *idx)
{
    const struct rank_section *sec = &rank_sections[k];
    int n = rank_sites(m, sec->metric, true, idx);
    double total = sec->total(&m->totals);
    char c[32];

    fprintf(o, "<section id=\"%s\" class=\"ranking\"><h2>", k < 4 ? section_ids[k] : "ranking");
    h(o, sec->title);
    fputs(": ", o);
    h(o, sec->explain);
    fprintf(o, "</h2>\n<p class=\"note\">Top %d of %s sites.</p>\n", n < top ? n : top,
            fmt_count(c, sizeof(c), m->n_sites));
    if (n == 0) {
        fputs("<p>None.</p></section>\n", o);
        return;
    }
    fprintf(o,
            "<table class=\"sites\" data-metric=\"%s\"><thead><tr><th>#</th><th>%s</th>"
            "<th>share</th><th>site</th><th>allocations</th><th>allocated</th><th>leaked</th>"
            "<th>temporary</th></tr></thead><tbody>\n",
            k < 4 ? section_ids[k] : "", sec->bytes ? "bytes" : "count");
    for (int r = 0; r < n && r < top; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        double v = sec->metric(&s->st);
        fprintf(o, "<tr><td class=\"num\">%d</td>", r + 1);
        if (sec->bytes)
            exact_bytes_cell(o, v);
        else
            count_cell(o, v);
        fprintf(o, "<td class=\"num\">%.1f%%</td><td class=\"site\"><details><summary>",
                total > 0 ? 100 * v / total : 0);
        frame_html(o, s->frames[s->title]);
        fputs("</summary>", o);
        stack_html(o, s);
        fputs("</details></td>", o);
        count_cell(o, s->st.allocations);
        bytes_cell(o, s->st.allocated_bytes);
        bytes_cell(o, s->st.leaked_bytes);
        count_cell(o, s->st.temporary_allocations);
        fputs("</tr>\n", o);
    }
    fputs("</tbody></table></section>\n", o);
}

static void set_apart(FILE *o, const struct model *m, enum model_leak_kind kind, int top, int *idx)
{
    int n = rank_set_apart(m, kind, idx);
    if (n == 0)
        return;
    fprintf(o,
            "<section class=\"apart\"><h2>%s</h2>\n<table class=\"sites\"><thead><tr><th>#</th>"
            "<th>live bytes</th><th>blocks</th><th>site</th><th>why</th></tr></thead><tbody>\n",
            kind == MODEL_LEAK_RUNTIME
                ? "One-time runtime allocations: live at the end, made once by the C runtime; "
                  "not leaks"
                : "Suppressed: live at the end, matching --suppressions; not counted as leaks");
    for (int r = 0; r < n && r < top; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        fprintf(o, "<tr><td class=\"num\">%d</td>", r + 1);
        exact_bytes_cell(o, s->st.live_bytes);
        count_cell(o, s->st.live_blocks);
        fputs("<td class=\"site\"><details><summary>", o);
        frame_html(o, s->frames[s->title]);
        fputs("</summary>", o);
        stack_html(o, s);
        fputs("</details></td><td>", o);
        h(o, s->leak_rule != NULL ? s->leak_rule : "");
        fputs("</td></tr>\n", o);
    }
    fputs("</tbody></table></section>\n", o);
}

/* ---- bloat ---- */

static void layout(FILE *o, const struct model_struct *st)
{
    fputs("<details class=\"layout\"><summary><code>", o);
    h(o, st->kind);
    fputc(' ', o);
    h(o, st->name[0] ? st->name : "<anonymous>");
    fprintf(o, "</code> (%" PRIu64 " B; holes %" PRIu64 " B, padding %" PRIu64 " B)</summary>\n",
            st->size, st->hole_bytes, st->padding_bytes);
    fputs("<table class=\"members\"><thead><tr><th>offset</th><th>size</th><th>type</th>"
          "<th>member</th><th>hole after</th></tr></thead><tbody>\n",
          o);
    for (int k = 0; k < st->n_members; k++) {
        const struct model_member *mb = &st->members[k];
        fprintf(o, "<tr><td class=\"num\">%" PRIu64, mb->offset);
        if (mb->bit_size > 0)
            fprintf(o, " (bit %" PRIu64 ":%" PRIu32 ")", mb->bit_offset, mb->bit_size);
        fprintf(o, "</td><td class=\"num\">%" PRIu64 "</td><td><code>", mb->size);
        h(o, mb->type_name);
        fputs("</code></td><td><code>", o);
        h(o, mb->name[0] ? mb->name : "<anonymous>");
        fputs("</code></td>", o);
        if (mb->hole_after > 0)
            fprintf(o, "<td class=\"num hole\">%" PRIu64 " B</td>", mb->hole_after);
        else
            fputs("<td></td>", o);
        fputs("</tr>\n", o);
    }
    if (st->padding_bytes > 0)
        fprintf(o,
                "<tr><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%" PRIu64
                "</td><td colspan=\"3\" class=\"hole\">tail padding</td></tr>\n",
                st->size - st->padding_bytes, st->padding_bytes);
    fputs("</tbody></table></details>\n", o);
}

static void bloat(FILE *o, const struct model *m, int top)
{
    char c[32];
    fprintf(o, "<section id=\"bloat\"><h2>Bloated: many live blocks of one size (%d)</h2>\n",
            m->n_bloats);
    if (m->n_bloats == 0) {
        fputs("<p>None: no call site held 1,000 or more blocks of one size.</p></section>\n", o);
        return;
    }
    fputs("<table class=\"bloat\"><thead><tr><th>size</th><th>blocks at the peak</th>"
          "<th>bytes at the peak</th><th>slack per block</th><th>zero bytes</th><th>sites</th>"
          "<th>types of that size</th></tr></thead><tbody>\n",
          o);
    for (int j = 0; j < m->n_bloats && j < top; j++) {
        const struct model_bloat *bl = &m->bloats[j];
        fprintf(o, "<tr><td class=\"num\">%" PRIu64 " B</td>", bl->size);
        count_cell(o, bl->blocks_at_peak);
        bytes_cell(o, bl->bytes_at_peak);
        fprintf(o, "<td class=\"num\">%.0f B</td>", bl->slack_bytes_per_block);
        if (bl->zero_share >= 0)
            fprintf(o, "<td class=\"num\">%.0f%%</td>", 100 * bl->zero_share);
        else
            fputs("<td class=\"num\">-</td>", o);
        fprintf(o, "<td><span class=\"note\">%s site%s</span><ul class=\"plain\">",
                fmt_count(c, sizeof(c), bl->n_sites), bl->n_sites == 1 ? "" : "s");
        for (int k = 0; k < bl->n_sites && k < MODEL_BLOAT_SITES; k++) {
            fputs("<li>", o);
            frame_html(o, m->sites[bl->sites[k]].frames[m->sites[bl->sites[k]].title]);
            fputs("</li>", o);
        }
        fputs("</ul></td><td>", o);
        if (bl->n_types == 0)
            fputs("<span class=\"note\">none known (no DWARF type of that size)</span>", o);
        for (int t = 0; t < bl->n_types && t < 8; t++)
            layout(o, &bl->types[t]);
        fputs("</td></tr>\n", o);
    }
    fputs("</tbody></table></section>\n", o);
}

int render_html(FILE *o, const struct model *m, const struct render_options *opt)
{
    const struct model_process *p = &m->process;
    int top = opt->top > 0 ? opt->top : 10, err;
    int *idx = malloc(((size_t)m->n_sites + 1) * sizeof(*idx));
    char pt[128];

    if (idx == NULL)
        return -ENOMEM;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"generator\" content=\"heapspan\">\n<title>heapspan report: ",
          o);
    h(o, base_name(p->exe[0] ? p->exe : p->log_path));
    fputs("</title>\n<style>\n", o);
    fputs(web_report_css, o);
    fputs("</style>\n", o);
    flame_write_style(o);
    fputs("</head>\n<body class=\"hs-report\">\n<header><h1>heapspan report: ", o);
    h(o, base_name(p->exe[0] ? p->exe : p->log_path));
    fputs("</h1>\n<p class=\"sub\"><code>", o);
    h(o, p->exe[0] ? p->exe : "?");
    for (int i = 1; i < p->argc && i < 16; i++) {
        fputc(' ', o);
        h(o, p->argv[i]);
    }
    fprintf(o, "</code> (pid %" PRIu32 "), from <code>", p->pid);
    h(o, p->snapshot_path != NULL ? p->snapshot_path : p->log_path);
    fputs("</code>", o);
    if (p->snapshot_path != NULL || p->point.at != MODEL_AT_END) {
        fputs(" at ", o);
        h(o, fmt_point(pt, sizeof(pt), &p->point));
    }
    fputs("</p>\n<nav><a href=\"#summary\">summary</a> <a href=\"#timeline\">heap over time</a> "
          "<a href=\"#peak\">peak</a> <a href=\"#leaks\">leaks</a> <a "
          "href=\"#allocations\">allocations</a> <a href=\"#temporary\">temporary</a> <a "
          "href=\"#bloat\">bloat</a> <a href=\"#flame\">flame graph</a></nav></header>\n<main>\n",
          o);
    summary(o, m);
    chart(o, m);
    for (int k = 0; k < rank_n_sections; k++)
        ranking(o, m, k, top, idx);
    set_apart(o, m, MODEL_LEAK_RUNTIME, top, idx);
    set_apart(o, m, MODEL_LEAK_SUPPRESSED, top, idx);
    bloat(o, m, top);
    fputs("<section id=\"flame\"><h2>Flame graph</h2>\n", o);
    struct flame_options fo = { .metric = FLAME_PEAK, .title = "Call sites by metric" };
    if ((err = flame_write_widget(o, "flame-graph", NULL, m, &fo, true)) < 0) {
        free(idx);
        return err;
    }
    fputs("</section>\n", o);
    if (m->n_warnings > 0) {
        fputs("<section id=\"warnings\"><h2>Warnings</h2>\n<ul>", o);
        for (int i = 0; i < m->n_warnings; i++) {
            fputs("<li>", o);
            h(o, m->warnings[i]);
            fputs("</li>", o);
        }
        fputs("</ul></section>\n", o);
    }
    fputs("</main>\n</body>\n</html>\n", o);
    free(idx);
    return 0;
}
