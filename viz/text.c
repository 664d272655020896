/* text.c - the report for people at a terminal: the totals, the four rankings of call
 * sites with their stacks, the live blocks that are not leaks (the C runtime's, the
 * suppressed; only when there are some), the bloated sizes, then the warnings. See
 * render.h. */
#include "viz/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "util/escape.h"
#include "viz/fmt.h"
#include "viz/rank.h"

#define TEXT_FRAMES 12 /* of a site's stack */

static void text_site(FILE *o, const struct model *m, int rank, int i,
                      const struct rank_section *sec, double total)
{
    const struct model_site *s = &m->sites[i];
    char v[32], b1[32], b2[32], c1[32], fr[FMT_FRAME_MAX];
    double val = sec->metric(&s->st);

    if (sec->bytes)
        fmt_bytes(v, sizeof(v), val);
    else
        fmt_count(v, sizeof(v), val);
    fmt_frame(fr, sizeof(fr), s->frames[0]);
    fprintf(o, "  #%-2d %10s %5.1f%%  %s\n", rank, v, total > 0 ? 100 * val / total : 0, fr);
    fmt_bytes(b1, sizeof(b1), s->st.allocated_bytes);
    fmt_bytes(b2, sizeof(b2), s->st.leaked_bytes);
    fprintf(o, "       %s allocations, %s in all, %s %s in %s blocks, %s temporary\n",
            fmt_count(c1, sizeof(c1), s->st.allocations), b1, b2,
            rank_stopped(m) ? "live at the stop" : "leaked",
            fmt_count(v, sizeof(v), s->st.leaked_allocations),
            fmt_count(fr, sizeof(fr), s->st.temporary_allocations));
    for (int k = 0; k < s->n_frames && k < TEXT_FRAMES; k++) {
        fmt_frame(fr, sizeof(fr), s->frames[k]);
        fprintf(o, "         %s%s\n", s->frames[k]->inlined ? "(inlined) " : "", fr);
    }
    if (s->n_frames > TEXT_FRAMES)
        fprintf(o, "         ... %d more frames\n", s->n_frames - TEXT_FRAMES);
}

/* The sites whose leaks are set apart as kind, if any. */
static void text_set_apart(FILE *o, const struct model *m, enum model_leak_kind kind, int top,
                           int *idx)
{
    static const char *const titles[] = {
        [MODEL_LEAK_RUNTIME] = "ONE-TIME RUNTIME ALLOCATIONS: live at the end, made once by the "
                               "C runtime; not leaks",
        [MODEL_LEAK_SUPPRESSED] = "SUPPRESSED: live at the end, matching --suppressions; not "
                                  "counted as leaks",
    };
    char b[32], c[32], fr[1024];
    int n = rank_set_apart(m, kind, idx);

    if (n == 0)
        return;
    fprintf(o, "\n%s (top %d of %d sites)\n", titles[kind], n < top ? n : top, n);
    for (int r = 0; r < n && r < top; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        fmt_bytes(b, sizeof(b), s->st.live_bytes);
        fmt_frame(fr, sizeof(fr), s->frames[0]);
        fprintf(o, "  #%-2d %10s in %s blocks  %s\n", r + 1, b,
                fmt_count(c, sizeof(c), s->st.live_blocks), fr);
        /* A user's pattern, or a snapshot's string: escaped as a log's are. */
        fputs("       ", o);
        esc_fputs(s->leak_rule != NULL ? s->leak_rule : "", o);
        fputc('\n', o);
        for (int k = 1; k < s->n_frames && k < TEXT_FRAMES; k++) {
            fmt_frame(fr, sizeof(fr), s->frames[k]);
            fprintf(o, "         %s%s\n", s->frames[k]->inlined ? "(inlined) " : "", fr);
        }
        if (s->n_frames > TEXT_FRAMES)
            fprintf(o, "         ... %d more frames\n", s->n_frames - TEXT_FRAMES);
    }
}

static void text_struct(FILE *o, const struct model_struct *st)
{
    fputs("    ", o);
    esc_fputs(st->kind, o); /* "struct" from DWARF; a snapshot's string: any bytes */
    fputc(' ', o);
    esc_fputs(st->name[0] ? st->name : "<anonymous>", o);
    fprintf(o, " (%" PRIu64 " B): ", st->size);
    for (int k = 0; k < st->n_members && k < 12; k++) {
        fputs(k ? ", " : "", o);
        esc_fputs(st->members[k].name[0] ? st->members[k].name : "<anon>", o);
        fprintf(o, " @%" PRIu64 " (%" PRIu64 ")", st->members[k].offset, st->members[k].size);
    }
    if (st->n_members > 12)
        fprintf(o, ", ... %d more", st->n_members - 12);
    fprintf(o, "; holes %" PRIu64 " B, padding %" PRIu64 " B\n", st->hole_bytes, st->padding_bytes);
}

static void text_bloat(FILE *o, const struct model *m, int top)
{
    char c[32], b[32], fr[FMT_FRAME_MAX];

    fprintf(o, "\nBLOATED: many live blocks of one size (%d)\n", m->n_bloats);
    if (m->n_bloats == 0)
        fprintf(o, "  none: no call site held 1,000 or more blocks of one size\n");
    for (int j = 0; j < m->n_bloats && j < top; j++) {
        const struct model_bloat *bl = &m->bloats[j];
        fmt_bytes(b, sizeof(b), bl->bytes_at_peak);
        fprintf(o, "  %s x %" PRIu64 " B = %s at the peak",
                fmt_count(c, sizeof(c), bl->blocks_at_peak), bl->size, b);
        fprintf(o, ", allocator slack %.0f B/block", bl->slack_bytes_per_block);
        if (bl->zero_share >= 0)
            fprintf(o, ", %.0f%% zero bytes", 100 * bl->zero_share);
        fprintf(o, "\n    from %d site%s:", bl->n_sites, bl->n_sites == 1 ? "" : "s");
        for (int k = 0; k < bl->n_sites && k < MODEL_BLOAT_SITES; k++) {
            fmt_frame(fr, sizeof(fr), m->sites[bl->sites[k]].frames[0]);
            fprintf(o, "%s %s", k ? "," : "", fr);
        }
        fputc('\n', o);
        for (int t = 0; t < bl->n_types && t < 4; t++)
            text_struct(o, &bl->types[t]);
    }
}

/* First of all: the allocator the shim could not see (allocdetect.h), and what to do. */
static void text_unseen(FILE *o, const struct model *m)
{
    char c[32];

    if (m->n_unseen == 0)
        return;
    fprintf(o,
            "\nWARNING: most allocations are missing from this report. Only %s went through\n"
            "malloc and the like, and the program allocates through an allocator of its own\n"
            "that heapspan does not see:\n",
            fmt_count(c, sizeof(c), m->totals.allocations - m->totals.api_allocations));
    for (int i = 0; i < m->n_unseen; i++) {
        const struct model_unseen *u = &m->unseen[i];
        fprintf(o, "  - %s (%s in %s)\n    to see its allocations, %s\n", u->allocator, u->symbol,
                u->module, u->advice);
    }
}

/* The Python interpreter: which allocator it ran with and what that means, and what
 * became of its frames. */
static void text_python(FILE *o, const struct model *m)
{
    const struct model_python *py = &m->python;

    if (!py->seen)
        return;
    /* The allocator's name and the reason are the log's: escaped (util/escape.h). */
    fprintf(o, "python: CPython %s, allocator ", py->version[0] ? py->version : "?");
    esc_fputs(py->allocator_mode, o);
    fprintf(o, ": %s\n", py->allocator_note);
    if (!py->stacks) {
        fputs("python stacks: native only (no Python frames): ", o);
        esc_fputs(py->reason, o);
        fputc('\n', o);
    } else if (py->internals_shown)
        fprintf(o, "python stacks: Python frames follow the interpreter's loop frames, shown "
                   "with the interpreter's own\n");
    else
        fprintf(o, "python stacks: Python frames stand for the interpreter's own frames, "
                   "hidden (--python-internals shows them)\n");
    if (py->dropped_frames > 0)
        fprintf(o,
                "python frames dropped: %" PRIu64 " in %" PRIu64
                " stack%s could not be validated (read while they changed, or unknown) and "
                "are left out, never guessed\n",
                py->dropped_frames, py->dropped_stacks, py->dropped_stacks == 1 ? "" : "s");
}

/* Pools of blocks reported through include/heapspan.h, by name. */
static void text_pools(FILE *o, const struct model *m, int top)
{
    char c1[32], c2[32], c3[32], b1[32], b2[32], b3[32];

    if (m->n_pools == 0)
        return;
    fprintf(o, "\nPOOLS: blocks reported through include/heapspan.h, by pool name (%d)\n",
            m->n_pools);
    for (int i = 0; i < m->n_pools && i < top; i++) {
        const struct model_pool *p = &m->pools[i];
        fmt_bytes(b1, sizeof(b1), p->allocated_bytes);
        fmt_bytes(b2, sizeof(b2), p->peak_live_bytes);
        fmt_bytes(b3, sizeof(b3), p->leaked_bytes);
        fprintf(o, "  %-24s %" PRIu64 " pool%s, %" PRIu64 " reset%s\n",
                p->name[0] ? p->name : "(unnamed)", p->pools, p->pools == 1 ? "" : "s", p->resets,
                p->resets == 1 ? "" : "s");
        fprintf(o, "       %s allocations (%s), %s freed one by one, %s by resets\n",
                fmt_count(c1, sizeof(c1), p->allocations), b1, fmt_count(c2, sizeof(c2), p->frees),
                fmt_count(c3, sizeof(c3), p->reset_frees));
        fprintf(o, "       peak live %s, leaked %s in %s blocks\n", b2, b3,
                fmt_count(c1, sizeof(c1), p->leaked_allocations));
    }
}

static const char *ending(const struct model_process *p)
{
    if (p->end_reason == MODEL_END_STOPPED)
        return "recording stopped";
    if (p->truncated || !p->ended)
        return "log cut short";
    return p->end_reason == MODEL_END_SIGNAL ? "ended by a signal" : "exited";
}

static void text_header(FILE *o, const struct model *m)
{
    const struct model_process *p = &m->process;
    const struct model_totals *t = &m->totals;
    char b1[32], b2[32], c1[32], c2[32], pt[96];

    /* The program's path and arguments and the log's path are the log's or the user's:
     * escaped (util/escape.h). */
    fputs("heapspan report: ", o);
    if (p->snapshot_path != NULL) {
        esc_fputs(p->snapshot_path, o);
        fputs(" (a snapshot of ", o);
        esc_fputs(p->log_path, o);
        fprintf(o, " at %s)", fmt_point(pt, sizeof(pt), &p->point));
    } else {
        esc_fputs(p->log_path, o);
        if (p->point.at != MODEL_AT_END)
            fprintf(o, " at %s", fmt_point(pt, sizeof(pt), &p->point));
    }
    fputs("\nprogram: ", o);
    esc_fputs(p->exe[0] ? p->exe : "?", o);
    for (int i = 1; i < p->argc && i < 8; i++) {
        fputc(' ', o);
        esc_fputs(p->argv[i], o);
    }
    fprintf(o, "  (pid %u, %.3f s recorded, %s)\n", p->pid, t->last_ns / 1e9 - t->first_ns / 1e9,
            ending(p));
    text_python(o, m);
    if (rank_stopped(m))
        fprintf(o,
                "recording stopped at %.3f s (a write error: a full disk?); %s events after "
                "it were not written, and blocks live then may have been freed since: they "
                "are shown as live at the stop, not as leaks\n",
                p->end_ns / 1e9, fmt_count(c1, sizeof(c1), (double)p->end_lost_events));
    text_unseen(o, m);
    if (t->sampled)
        fprintf(o,
                "sampled: one allocation per %" PRIu64
                " bytes on average; every number is an unbiased estimate\n",
                p->sample_bytes);
    fmt_bytes(b1, sizeof(b1), t->allocated_bytes);
    fprintf(o, "\nTOTALS\n  allocations   %s (%s)\n", fmt_count(c1, sizeof(c1), t->allocations),
            b1);
    fprintf(o, "  frees         %s\n", fmt_count(c1, sizeof(c1), t->frees));
    fmt_bytes(b1, sizeof(b1), t->peak_live_bytes);
    fprintf(o, "  peak live     %s at %.3f s\n", b1, t->peak_ns / 1e9);
    fmt_bytes(b2, sizeof(b2), t->leaked_bytes);
    fprintf(o, "  %s %s in %s blocks\n", rank_stopped(m) ? "live at stop " : "leaked       ", b2,
            fmt_count(c1, sizeof(c1), t->leaked_allocations));
    if (t->runtime_allocations > 0) {
        fmt_bytes(b2, sizeof(b2), t->runtime_bytes);
        fprintf(o, "  runtime       %s in %s blocks, made once by the C runtime (not leaks)\n", b2,
                fmt_count(c1, sizeof(c1), t->runtime_allocations));
    }
    if (t->suppressed_allocations > 0) {
        fmt_bytes(b2, sizeof(b2), t->suppressed_bytes);
        fprintf(o, "  suppressed    %s in %s blocks, matching --suppressions\n", b2,
                fmt_count(c1, sizeof(c1), t->suppressed_allocations));
    }
    fprintf(o, "  temporary     %s allocations (%.1f%%)\n",
            fmt_count(c2, sizeof(c2), t->temporary_allocations),
            t->allocations > 0 ? 100 * t->temporary_allocations / t->allocations : 0);
    fprintf(o, "  lost events   %" PRIu64 "\n", t->lost_events);
    if (t->api_allocations > 0)
        fprintf(o, "  of the allocations, %s reported through include/heapspan.h\n",
                fmt_count(c1, sizeof(c1), t->api_allocations));
}

int render_text(FILE *o, const struct model *m, const struct render_options *opt)
{
    int *idx = malloc(((size_t)m->n_sites + 1) * sizeof(*idx));

    if (idx == NULL)
        return -ENOMEM;
    text_header(o, m);
    text_pools(o, m, opt->top);
    for (int k = 0; k < rank_n_sections; k++) {
        const struct rank_section *sec = &rank_sections[k];
        int n = rank_sites(m, sec->metric, true, idx);
        if (n > opt->top)
            n = opt->top;
        fprintf(o, "\n%s: %s (top %d of %d sites)\n", rank_title(sec, m), rank_explain(sec, m), n,
                m->n_sites);
        if (n == 0)
            fprintf(o, "  none\n");
        for (int r = 0; r < n; r++)
            text_site(o, m, r + 1, idx[r], sec, sec->total(&m->totals));
    }
    text_set_apart(o, m, MODEL_LEAK_RUNTIME, opt->top, idx);
    text_set_apart(o, m, MODEL_LEAK_SUPPRESSED, opt->top, idx);
    text_bloat(o, m, opt->top);
    if (m->n_warnings > 0) {
        fprintf(o, "\nWARNINGS\n");
        for (int i = 0; i < m->n_warnings; i++) {
            esc_fputs(m->warnings[i], o);
            fputc('\n', o);
        }
    }
    free(idx);
    return 0;
}
