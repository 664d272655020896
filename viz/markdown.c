/* markdown.c - the report for tickets and CI summaries: the totals and the rankings as
 * tables, the live blocks that are not leaks (only when there are some), the bloated
 * sizes as a list. See render.h. */
#include "viz/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"
#include "viz/fmt.h"
#include "viz/rank.h"

/* Text inside a table cell's code span: a '|' would end the cell, a '<' open a tag;
 * control characters and bad UTF-8 are escaped (util/escape.h). */
static void md_cell(FILE *o, const char *s)
{
    while (s && *s) {
        size_t run = strcspn(s, "|<");
        esc_fwrite(s, run, o);
        s += run;
        if (*s == '|')
            fputs("\\|", o);
        else if (*s == '<')
            fputs("&lt;", o);
        else
            break;
        s++;
    }
}

/* First of all: the allocator the shim could not see (allocdetect.h), and what to do. */
static void md_unseen(FILE *o, const struct model *m)
{
    char c[32];

    if (m->n_unseen == 0)
        return;
    fprintf(o,
            "> **Warning: most allocations are missing from this report.** Only %s went "
            "through malloc and the like, and the program allocates through an allocator of "
            "its own that heapspan does not see:\n>\n",
            fmt_count(c, sizeof(c), m->totals.allocations - m->totals.api_allocations));
    for (int i = 0; i < m->n_unseen; i++) {
        const struct model_unseen *u = &m->unseen[i];
        fprintf(o, "> - %s (`", u->allocator);
        md_cell(o, u->symbol);
        fprintf(o, "` in `");
        md_cell(o, u->module);
        fprintf(o, "`): to see its allocations, %s\n", u->advice);
    }
    fputc('\n', o);
}

static void md_python(FILE *o, const struct model *m)
{
    const struct model_python *py = &m->python;

    if (!py->seen)
        return;
    /* The allocator's name and the reason are the log's. */
    fprintf(o, "_Python: CPython %s, allocator `", py->version[0] ? py->version : "?");
    md_cell(o, py->allocator_mode);
    fprintf(o, "`: %s._\n\n", py->allocator_note);
    if (!py->stacks) {
        fputs("_Python stacks: native only: ", o);
        md_cell(o, py->reason);
        fputs("._\n\n", o);
    } else
        fprintf(o, "_Python stacks: Python frames %s._\n\n",
                py->internals_shown ? "follow the interpreter's loop frames"
                                    : "stand for the interpreter's own frames (hidden; "
                                      "`--python-internals` shows them)");
    if (py->dropped_frames > 0)
        fprintf(o,
                "_Python frames dropped: %" PRIu64 " in %" PRIu64
                " stacks could not be validated and are left out._\n\n",
                py->dropped_frames, py->dropped_stacks);
}

static void md_pools(FILE *o, const struct model *m, int top)
{
    char b1[32], b2[32], b3[32], c1[32], c2[32], c3[32], c4[32];

    if (m->n_pools == 0)
        return;
    fprintf(o, "\n## Pools: blocks reported through include/heapspan.h, by pool name\n\n");
    fprintf(o, "| pool | pools | resets | allocations | allocated | freed | freed by resets "
               "| peak live | leaked |\n");
    fprintf(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < m->n_pools && i < top; i++) {
        const struct model_pool *p = &m->pools[i];
        fmt_bytes(b1, sizeof(b1), p->allocated_bytes);
        fmt_bytes(b2, sizeof(b2), p->peak_live_bytes);
        fmt_bytes(b3, sizeof(b3), p->leaked_bytes);
        fprintf(o, "| `");
        md_cell(o, p->name[0] ? p->name : "(unnamed)");
        fprintf(o, "` | %" PRIu64 " | %" PRIu64 " | %s | %s | %s | %s | %s | %s in %s blocks |\n",
                p->pools, p->resets, fmt_count(c1, sizeof(c1), p->allocations), b1,
                fmt_count(c2, sizeof(c2), p->frees), fmt_count(c3, sizeof(c3), p->reset_frees), b2,
                b3, fmt_count(c4, sizeof(c4), p->leaked_allocations));
    }
}

static void md_totals(FILE *o, const struct model *m)
{
    const struct model_totals *t = &m->totals;
    char b1[32], b2[32], b3[32], c1[32], c2[32], c3[64];

    char pt[96];

    fputs("# Heap report: `", o);
    esc_fputs(m->process.exe, o);
    fputs("`\n\n", o);
    if (m->process.snapshot_path != NULL || m->process.point.at != MODEL_AT_END) {
        fprintf(o, "_At %s of `", fmt_point(pt, sizeof(pt), &m->process.point));
        esc_fputs(m->process.log_path, o);
        fputs("`._\n\n", o);
    }
    md_unseen(o, m);
    md_python(o, m);
    if (t->sampled)
        fprintf(o, "_Sampled: one allocation per %" PRIu64 " bytes; numbers are estimates._\n\n",
                m->process.sample_bytes);
    if (rank_stopped(m))
        fprintf(o,
                "_Recording stopped at %.3f s (a write error: a full disk?); %s events after "
                "it were not written. Blocks live then are shown as live at the stop, not as "
                "leaks._\n\n",
                m->process.end_ns / 1e9,
                fmt_count(c1, sizeof(c1), (double)m->process.end_lost_events));
    fmt_bytes(b1, sizeof(b1), t->allocated_bytes);
    fmt_bytes(b2, sizeof(b2), t->peak_live_bytes);
    fmt_bytes(b3, sizeof(b3), t->leaked_bytes);
    fprintf(o, "| allocations | allocated | peak live | %s | temporary | lost events |\n",
            rank_stopped(m) ? "live at stop" : "leaked");
    fprintf(o, "|---:|---:|---:|---:|---:|---:|\n");
    fprintf(o, "| %s | %s | %s | %s in %s blocks | %s | %" PRIu64 " |\n",
            fmt_count(c1, sizeof(c1), t->allocations), b1, b2, b3,
            fmt_count(c2, sizeof(c2), t->leaked_allocations),
            fmt_count(c3, sizeof(c3), t->temporary_allocations), t->lost_events);
    if (t->runtime_allocations > 0) {
        fmt_bytes(b3, sizeof(b3), t->runtime_bytes);
        fprintf(o, "\n_Not leaks: %s in %s blocks made once by the C runtime._\n", b3,
                fmt_count(c2, sizeof(c2), t->runtime_allocations));
    }
    if (t->suppressed_allocations > 0) {
        fmt_bytes(b3, sizeof(b3), t->suppressed_bytes);
        fprintf(o, "\n_Suppressed: %s in %s blocks matching `--suppressions`._\n", b3,
                fmt_count(c2, sizeof(c2), t->suppressed_allocations));
    }
    if (t->api_allocations > 0)
        fprintf(o, "\nOf the allocations, %s were reported through include/heapspan.h.\n",
                fmt_count(c1, sizeof(c1), t->api_allocations));
}

/* The sites whose leaks are set apart as kind, if any. */
static void md_set_apart(FILE *o, const struct model *m, enum model_leak_kind kind, int top,
                         int *idx)
{
    char b1[32], c1[32], fr[1024];
    int n = rank_set_apart(m, kind, idx);

    if (n == 0)
        return;
    fprintf(o, "\n## %s\n\n",
            kind == MODEL_LEAK_RUNTIME ? "One-time runtime allocations: live at the end, not leaks"
                                       : "Suppressed: live at the end, matching `--suppressions`");
    fprintf(o, "| # | bytes | blocks | call site | why |\n");
    fprintf(o, "|---:|---:|---:|---|---|\n");
    for (int r = 0; r < n && r < top; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        fmt_bytes(b1, sizeof(b1), s->st.live_bytes);
        fmt_frame(fr, sizeof(fr), s->frames[0]);
        fprintf(o, "| %d | %s | %s | `", r + 1, b1, fmt_count(c1, sizeof(c1), s->st.live_blocks));
        md_cell(o, fr);
        fputs("` | ", o);
        md_cell(o, s->leak_rule);
        fputs(" |\n", o);
    }
}

static void md_section(FILE *o, const struct model *m, const struct rank_section *sec,
                       const int *idx, int n)
{
    char b1[32], b2[32], c1[32], c2[32], fr[FMT_FRAME_MAX];

    fprintf(o, "\n## %s: %s\n\n", rank_title(sec, m), rank_explain(sec, m));
    if (n == 0) {
        fprintf(o, "None.\n");
        return;
    }
    fprintf(o, "| # | %s | call site | allocations | %s | temporary |\n",
            sec->bytes ? "bytes" : "count", rank_stopped(m) ? "live at stop" : "leaked");
    fprintf(o, "|---:|---:|---|---:|---:|---:|\n");
    for (int r = 0; r < n; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        double val = sec->metric(&s->st);
        if (sec->bytes)
            fmt_bytes(b1, sizeof(b1), val);
        else
            fmt_count(b1, sizeof(b1), val);
        fmt_frame(fr, sizeof(fr), s->frames[0]);
        fmt_bytes(b2, sizeof(b2), s->st.leaked_bytes);
        fprintf(o, "| %d | %s | `", r + 1, b1);
        md_cell(o, fr);
        fprintf(o, "` | %s | %s | %s |\n", fmt_count(c1, sizeof(c1), s->st.allocations), b2,
                fmt_count(c2, sizeof(c2), s->st.temporary_allocations));
    }
}

static void md_bloats(FILE *o, const struct model *m, int top)
{
    char b1[32], c1[32], fr[FMT_FRAME_MAX];

    fprintf(o, "\n## Bloated: many live blocks of one size\n\n");
    if (m->n_bloats == 0)
        fprintf(o, "None.\n");
    for (int j = 0; j < m->n_bloats && j < top; j++) {
        const struct model_bloat *b = &m->bloats[j];
        fmt_bytes(b1, sizeof(b1), b->bytes_at_peak);
        fprintf(o, "- **%s x %" PRIu64 " B** = %s at the peak, slack %.0f B/block",
                fmt_count(c1, sizeof(c1), b->blocks_at_peak), b->size, b1,
                b->slack_bytes_per_block);
        if (b->zero_share >= 0)
            fprintf(o, ", %.0f%% zero bytes", 100 * b->zero_share);
        fprintf(o, "; from");
        for (int k = 0; k < b->n_sites && k < MODEL_BLOAT_SITES; k++) {
            fmt_frame(fr, sizeof(fr), m->sites[b->sites[k]].frames[0]);
            fprintf(o, "%s `", k ? "," : "");
            md_cell(o, fr);
            fputc('`', o);
        }
        for (int t = 0; t < b->n_types && t < 2; t++) {
            fputs("; ", o);
            esc_fputs(b->types[t].kind, o);
            fputs(" `", o);
            esc_fputs(b->types[t].name, o);
            fprintf(o, "`: %" PRIu64 " B of holes, %" PRIu64 " B of padding",
                    b->types[t].hole_bytes, b->types[t].padding_bytes);
        }
        fputc('\n', o);
    }
}

int render_markdown(FILE *o, const struct model *m, const struct render_options *opt)
{
    int *idx = malloc(((size_t)m->n_sites + 1) * sizeof(*idx));

    if (idx == NULL)
        return -ENOMEM;
    md_totals(o, m);
    md_pools(o, m, opt->top);
    for (int k = 0; k < rank_n_sections; k++) {
        int n = rank_sites(m, rank_sections[k].metric, true, idx);
        md_section(o, m, &rank_sections[k], idx, n < opt->top ? n : opt->top);
    }
    md_set_apart(o, m, MODEL_LEAK_RUNTIME, opt->top, idx);
    md_set_apart(o, m, MODEL_LEAK_SUPPRESSED, opt->top, idx);
    md_bloats(o, m, opt->top);
    free(idx);
    return 0;
}
