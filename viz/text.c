/* text.c - the report for people at a terminal: the totals, the four rankings of call
 * sites with their stacks, the live blocks that are not leaks (the C runtime's, the
 * suppressed; only when there are some), the bloated sizes, then the warnings. See
 * render.h. */
#include "viz/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"
#include "viz/fmt.h"
#include "viz/rank.h"

static void text_stack_line(void *arg, const char *text)
{
    fprintf((FILE *)arg, "         %s\n", text);
}

/* A stack, innermost first, from frame `from` (render_stack_lines), indented. */
static void text_stack(FILE *o, const struct model_site *s, int from,
                       const struct render_options *opt)
{
    render_stack_lines(s, from, opt, text_stack_line, o);
}

/* " (95%: 1.00 MiB to 1.20 MiB)" for a sampled estimate made from k recorded blocks of
 * mean weight w (rank_interval); k_eff > 0: from that effective count instead; "" when
 * not sampled, or when the interval is the estimate. */
static const char *interval(char *buf, size_t cap, const struct model *m, double v, double k,
                            double w, double k_eff, bool bytes)
{
    char a[32], b[32];
    double lo, hi;

    buf[0] = '\0';
    if (!m->totals.sampled || (k <= 0 && k_eff <= 0))
        return buf;
    if (k_eff > 0)
        rank_poisson_interval(v, k_eff, &lo, &hi);
    else
        rank_interval(v, k, w, &lo, &hi);
    if (bytes) {
        fmt_bytes(a, sizeof(a), lo);
        fmt_bytes(b, sizeof(b), hi);
    } else {
        fmt_count(a, sizeof(a), lo);
        fmt_count(b, sizeof(b), hi);
    }
    if (strcmp(a, b) != 0)
        snprintf(buf, cap, " (95%%: %s to %s)", a, b);
    return buf;
}

static void text_site(FILE *o, const struct model *m, int rank, int i,
                      const struct rank_section *sec, double total,
                      const struct render_options *opt)
{
    const struct model_site *s = &m->sites[i];
    char v[32], b1[32], b2[32], c1[32], c2[32], fr[FMT_FRAME_MAX], iv[96];
    double val = sec->metric(&s->st);

    if (sec->bytes)
        fmt_bytes(v, sizeof(v), val);
    else
        fmt_count(v, sizeof(v), val);
    fmt_frame_ex(fr, sizeof(fr), s->frames[s->title], opt->full_names);
    fprintf(o, "  #%-2d %10s %5.1f%%  %s%s\n", rank, v, total > 0 ? 100 * val / total : 0, fr,
            interval(iv, sizeof(iv), m, val, rank_samples(sec, &s->st), rank_weight(&s->st), 0,
                     sec->bytes));
    fmt_bytes(b1, sizeof(b1), s->st.allocated_bytes);
    fmt_bytes(b2, sizeof(b2), s->st.leaked_bytes);
    fprintf(o, "       %s allocations, %s in all, %s %s in %s blocks",
            fmt_count(c1, sizeof(c1), s->st.allocations), b1, b2, rank_live_word(m),
            fmt_count(v, sizeof(v), s->st.leaked_allocations));
    if (!m->totals.sampled)
        fprintf(o, ", %s temporary", fmt_count(c2, sizeof(c2), s->st.temporary_allocations));
    fputc('\n', o);
    text_stack(o, s, 0, opt);
}

/* The sites whose leaks are set apart as kind, if any. */
static void text_set_apart(FILE *o, const struct model *m, enum model_leak_kind kind, int top,
                           int *idx, const struct render_options *opt)
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
        fmt_frame_ex(fr, sizeof(fr), s->frames[s->title], opt->full_names);
        fprintf(o, "  #%-2d %10s in %s blocks  %s\n", r + 1, b,
                fmt_count(c, sizeof(c), s->st.live_blocks), fr);
        /* A user's pattern, or a snapshot's string: escaped as a log's are. */
        fputs("       ", o);
        esc_fputs(s->leak_rule != NULL ? s->leak_rule : "", o);
        fputc('\n', o);
        text_stack(o, s, 0, opt);
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

static void text_bloat(FILE *o, const struct model *m, int top, const struct render_options *opt)
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
            const struct model_site *st = &m->sites[bl->sites[k]];
            fmt_frame_ex(fr, sizeof(fr), st->frames[st->title], opt->full_names);
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
    char name[4 * 256 + 1]; /* a name of at most 255 bytes (logfmt.h), every byte escaped */

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
                /* The program's string: escaped as the log's other strings are. */
                p->name[0] ? esc_text(name, sizeof(name), p->name) : "(unnamed)", p->pools,
                p->pools == 1 ? "" : "s", p->resets, p->resets == 1 ? "" : "s");
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
    if (p->truncated)
        return "log cut short";
    if (!p->ended)
        return "no end record: still running, killed or exec'd";
    return p->end_reason == MODEL_END_SIGNAL ? "killed by a signal" : "exited";
}

static void text_header(FILE *o, const struct model *m)
{
    const struct model_process *p = &m->process;
    const struct model_totals *t = &m->totals;
    char b1[32], b2[32], c1[32], c2[32], pt[96], iv[96];

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
    for (int i = 1; i < p->argc; i++) {
        fputc(' ', o);
        esc_fputs(p->argv[i], o);
    }
    fprintf(o, "  (pid %u, %.3f s recorded, %s)\n", p->pid, fmt_duration_ns(m) / 1e9, ending(p));
    text_python(o, m);
    if (m->n_processes > 0) {
        fprintf(o,
                "processes: %d logs of one run; the totals are their sums (the peak: the sum of "
                "each one's peak)\n",
                m->n_processes);
        for (int i = 0; i < m->n_processes; i++) {
            const struct model_member_process *mp = &m->processes[i];
            struct model tmp = { .process = mp->process };
            fprintf(o, "  %*spid %u (ppid %u) ", 2 * mp->depth, "", mp->process.pid,
                    mp->process.ppid);
            esc_fputs(mp->process.exe[0] ? mp->process.exe : "?", o);
            for (int k = 1; k < mp->process.argc; k++) {
                fputc(' ', o);
                esc_fputs(mp->process.argv[k], o);
            }
            fmt_bytes(b1, sizeof(b1), mp->totals.peak_live_bytes);
            fmt_bytes(b2, sizeof(b2), mp->totals.leaked_bytes);
            fprintf(o, ": peak %s, %s %s, %s allocations, %s\n", b1, b2, rank_live_word(&tmp),
                    fmt_count(c1, sizeof(c1), mp->totals.allocations), ending(&mp->process));
        }
    }
    if (m->unfiltered_sites > 0)
        fprintf(o,
                "filtered: --focus/--ignore kept %d of %d sites; the totals are theirs (the "
                "peak: their share of the program's)\n",
                m->filtered_sites, m->unfiltered_sites);
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
                " bytes on average; counts and bytes are estimates, each with its 95%%\n"
                "interval; temporary allocations cannot be estimated from samples and are not "
                "shown\n",
                p->sample_bytes);
    /* The totals' intervals: from the sum of their sites' variances. */
    double peak_v = 0, leak_v = 0;
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_stats *st = &m->sites[i].st;
        peak_v += rank_variance(st->peak_live_bytes, st->peak_samples, rank_weight(st));
        leak_v += rank_variance(st->leaked_bytes, st->leaked_samples, rank_weight(st));
    }
    double peak_k = peak_v > 0 ? t->peak_live_bytes * t->peak_live_bytes / peak_v : 0;
    double leak_k = leak_v > 0 ? t->leaked_bytes * t->leaked_bytes / leak_v : 0;
    fmt_bytes(b1, sizeof(b1), t->allocated_bytes);
    fprintf(o, "\nTOTALS\n  allocations   %s (%s)\n", fmt_count(c1, sizeof(c1), t->allocations),
            b1);
    fprintf(o, "  frees         %s\n", fmt_count(c1, sizeof(c1), t->frees));
    fmt_bytes(b1, sizeof(b1), t->peak_live_bytes);
    fprintf(o, "  peak live     %s at %.3f s%s\n", b1, t->peak_ns / 1e9,
            interval(iv, sizeof(iv), m, t->peak_live_bytes, 0, 1, peak_k, true));
    fmt_bytes(b2, sizeof(b2), t->leaked_bytes);
    fprintf(o, "  %-13s %s in %s blocks%s\n", rank_live_word(m), b2,
            fmt_count(c1, sizeof(c1), t->leaked_allocations),
            interval(iv, sizeof(iv), m, t->leaked_bytes, 0, 1, leak_k, true));
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
    if (!t->sampled)
        fprintf(o, "  temporary     %s allocations (%.1f%%)\n",
                fmt_count(c2, sizeof(c2), t->temporary_allocations),
                t->allocations > 0 ? 100 * t->temporary_allocations / t->allocations : 0);
    fprintf(o, "  lost events   %" PRIu64 "\n", t->lost_events);
    if (t->api_allocations > 0)
        fprintf(o, "  of the allocations, %s reported through include/heapspan.h\n",
                fmt_count(c1, sizeof(c1), t->api_allocations));
}

/* The sites summed by the module of their titles: which library holds the memory. */
static int text_modules(FILE *o, const struct model *m, int top)
{
    struct rank_module *mods = malloc(((size_t)m->n_sites + 1) * sizeof(*mods));
    char b1[32], b2[32], c1[32];

    if (mods == NULL)
        return -ENOMEM;
    int n = rank_modules(m, mods);
    if (n > 1) {
        fprintf(o, "\nMODULES: the sites summed by the module of their title (top %d of %d)\n",
                n < top ? n : top, n);
        for (int i = 0; i < n && i < top; i++) {
            fmt_bytes(b1, sizeof(b1), mods[i].st.peak_live_bytes);
            fmt_bytes(b2, sizeof(b2), mods[i].st.leaked_bytes);
            fprintf(o, "  #%-2d %10s at the peak, %s %s, %s allocations  ", i + 1, b1, b2,
                    rank_live_word(m), fmt_count(c1, sizeof(c1), mods[i].st.allocations));
            esc_fputs(mods[i].module, o);
            fprintf(o, " (%d site%s)\n", mods[i].n_sites, mods[i].n_sites == 1 ? "" : "s");
        }
    }
    free(mods);
    return 0;
}

/* What each thread allocated, when there are several. */
static void text_threads(FILE *o, const struct model *m, int top)
{
    char b1[32], c1[32], c2[32], c3[32];

    if (m->n_threads < 2)
        return;
    fprintf(o, "\nTHREADS: allocations by thread, most bytes first (top %d of %d)\n",
            m->n_threads < top ? m->n_threads : top, m->n_threads);
    for (int i = 0; i < m->n_threads && i < top; i++) {
        const struct model_thread *t = &m->threads[i];
        fprintf(o, "  tid %-8u %10s in %s allocations, %s frees", t->tid,
                fmt_bytes(b1, sizeof(b1), t->allocated_bytes),
                fmt_count(c1, sizeof(c1), t->allocations), fmt_count(c2, sizeof(c2), t->frees));
        if (!m->totals.sampled)
            fprintf(o, ", %s temporary", fmt_count(c3, sizeof(c3), t->temporary_allocations));
        fputc('\n', o);
    }
}

/* Modules whose frames lack names or lines, and what would give them. */
static void text_nodebug(FILE *o, const struct model *m)
{
    if (m->n_nodebug == 0)
        return;
    fprintf(o, "\nMISSING DEBUG INFO: %d module%s without %s\n", m->n_nodebug,
            m->n_nodebug == 1 ? "" : "s", "names or source lines for some frames");
    for (int i = 0; i < m->n_nodebug; i++) {
        const struct model_nodebug *d = &m->nodebug[i];
        static const char *const why[] = { "no file with its build-id", "rebuilt since the run",
                                           "no debug info" };
        fputs("  ", o);
        esc_fputs(d->path, o);
        fprintf(o, " (build-id %s): %s; %" PRIu64 " of %" PRIu64 " addresses unnamed\n",
                d->build_id ? d->build_id : "none", why[d->why], d->unnamed, d->addresses);
        fputs("    ", o);
        esc_fputs(d->fix, o);
        fputc('\n', o);
    }
}

int render_text(FILE *o, const struct model *m, const struct render_options *opt)
{
    int *idx = malloc(((size_t)m->n_sites + 1) * sizeof(*idx));

    if (idx == NULL)
        return -ENOMEM;
    text_header(o, m);
    text_pools(o, m, opt->top);
    for (int k = 0; k < rank_n_sections; k++) {
        const struct rank_section *sec =
            opt->sort != RANK_SORT_DEFAULT ? rank_section_of(opt->sort) : &rank_sections[k];
        if (!rank_section_known(sec, m)) {
            fprintf(o,
                    "\n%s: not shown: a sampled log cannot tell which allocations were "
                    "temporary\n",
                    rank_title(sec, m));
        } else {
            int n = rank_sites(m, sec->metric, true, idx);
            if (n > opt->top)
                n = opt->top;
            fprintf(o, "\n%s: %s (top %d of %d sites)\n", rank_title(sec, m), rank_explain(sec, m),
                    n, m->n_sites);
            if (n == 0)
                fprintf(o, "  none\n");
            for (int r = 0; r < n; r++)
                text_site(o, m, r + 1, idx[r], sec, sec->total(&m->totals), opt);
        }
        if (opt->sort != RANK_SORT_DEFAULT)
            break;
    }
    if (text_modules(o, m, opt->top) < 0) {
        free(idx);
        return -ENOMEM;
    }
    text_threads(o, m, opt->top);
    text_set_apart(o, m, MODEL_LEAK_RUNTIME, opt->top, idx, opt);
    text_set_apart(o, m, MODEL_LEAK_SUPPRESSED, opt->top, idx, opt);
    text_bloat(o, m, opt->top, opt);
    text_nodebug(o, m);
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
