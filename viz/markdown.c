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

/* The longest run of backticks in s. */
static size_t backtick_run(const char *s)
{
    size_t best = 0, run = 0;
    for (; s && *s; s++) {
        run = *s == '`' ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

/* s as a code span inside a table cell: fenced by one backtick more than its longest
 * run (padded by a space when it starts or ends with one), a '|' escaped as "\|" (a
 * table's rule, which holds inside code spans too). Nothing else is escaped: a code
 * span shows '<' and '&' as they are. Control characters and bad UTF-8 are escaped
 * (util/escape.h). */
static void md_code(FILE *o, const char *s)
{
    size_t fence = backtick_run(s) + 1, n = s ? strlen(s) : 0;
    bool pad = n > 0 && (s[0] == '`' || s[n - 1] == '`');

    for (size_t i = 0; i < fence; i++)
        fputc('`', o);
    if (pad)
        fputc(' ', o);
    while (s && *s) {
        size_t run = strcspn(s, "|");
        esc_fwrite(s, run, o);
        s += run;
        if (*s != '|')
            break;
        fputs("\\|", o);
        s++;
    }
    if (pad)
        fputc(' ', o);
    for (size_t i = 0; i < fence; i++)
        fputc('`', o);
}

/* s as plain text in a table cell or a paragraph: Markdown's punctuation escaped with
 * a backslash, so that a name shows as it is. */
static void md_text(FILE *o, const char *s)
{
    while (s && *s) {
        size_t run = strcspn(s, "\\`*_[]<>|#&!~");
        esc_fwrite(s, run, o);
        s += run;
        if (*s == '\0')
            break;
        fputc('\\', o);
        fputc(*s, o);
        s++;
    }
}

/* s inside HTML (a <summary>): &, < and > as entities. */
static void md_html(FILE *o, const char *s)
{
    while (s && *s) {
        size_t run = strcspn(s, "&<>");
        esc_fwrite(s, run, o);
        s += run;
        if (*s == '\0')
            break;
        fputs(*s == '&' ? "&amp;" : *s == '<' ? "&lt;" : "&gt;", o);
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
        fprintf(o, "> - %s (", u->allocator);
        md_code(o, u->symbol);
        fprintf(o, " in ");
        md_code(o, u->module);
        fprintf(o, "): to see its allocations, %s\n", u->advice);
    }
    fputc('\n', o);
}

static void md_python(FILE *o, const struct model *m)
{
    const struct model_python *py = &m->python;

    if (!py->seen)
        return;
    /* The allocator's name and the reason are the log's. */
    fprintf(o, "_Python: CPython %s, allocator ", py->version[0] ? py->version : "?");
    md_code(o, py->allocator_mode);
    fprintf(o, ": %s._\n\n", py->allocator_note);
    if (!py->stacks) {
        fputs("_Python stacks: native only: ", o);
        md_text(o, py->reason);
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
        fprintf(o, "| ");
        md_code(o, p->name[0] ? p->name : "(unnamed)");
        fprintf(o, " | %" PRIu64 " | %" PRIu64 " | %s | %s | %s | %s | %s | %s in %s blocks |\n",
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

    fputs("# Heap report: ", o);
    md_code(o, m->process.exe);
    fputs("\n\n", o);
    if (m->process.argc > 1) {
        fputs("Arguments:", o);
        for (int i = 1; i < m->process.argc; i++) {
            fputc(' ', o);
            md_code(o, m->process.argv[i]);
        }
        fputs("\n\n", o);
    }
    if (m->process.snapshot_path != NULL || m->process.point.at != MODEL_AT_END) {
        fprintf(o, "_At %s of ", fmt_point(pt, sizeof(pt), &m->process.point));
        md_code(o, m->process.log_path);
        fputs("._\n\n", o);
    }
    if (m->n_processes > 0) {
        fprintf(o,
                "%d logs of one run; the totals are their sums (the peak: the sum of each "
                "one's peak).\n\n",
                m->n_processes);
        for (int i = 0; i < m->n_processes; i++) {
            const struct model_member_process *mp = &m->processes[i];
            fprintf(o, "%*s- pid %u (ppid %u) ", 2 * mp->depth, "", mp->process.pid,
                    mp->process.ppid);
            md_code(o, mp->process.exe);
            fprintf(o, ": peak %s, %s allocations\n",
                    fmt_bytes(b1, sizeof(b1), mp->totals.peak_live_bytes),
                    fmt_count(c1, sizeof(c1), mp->totals.allocations));
        }
        fputc('\n', o);
    }
    if (m->unfiltered_sites > 0)
        fprintf(o,
                "_Filtered: `--focus`/`--ignore` kept %d of %d sites; the totals are theirs._\n\n",
                m->filtered_sites, m->unfiltered_sites);
    md_unseen(o, m);
    md_python(o, m);
    if (t->sampled)
        fprintf(o,
                "_Sampled: one allocation per %" PRIu64 " bytes; counts and bytes are "
                "estimates with their 95%% interval; temporary allocations cannot be estimated "
                "from samples and are not shown._\n\n",
                m->process.sample_bytes);
    if (rank_stopped(m))
        fprintf(o,
                "_Recording stopped at %.3f s (a write error: a full disk?); %s events after "
                "it were not written. Blocks live then are shown as live at the stop, not as "
                "leaks._\n\n",
                m->process.end_ns / 1e9,
                fmt_count(c1, sizeof(c1), (double)m->process.end_lost_events));
    else if (!rank_leaks_known(m) && m->process.point.at == MODEL_AT_END)
        fprintf(o, "_The log has no exit: the process was still running, killed or exec'd. "
                   "Blocks live at its end are not known to leak._\n\n");
    fmt_bytes(b1, sizeof(b1), t->allocated_bytes);
    fmt_bytes(b2, sizeof(b2), t->peak_live_bytes);
    fmt_bytes(b3, sizeof(b3), t->leaked_bytes);
    fprintf(o, "| allocations | allocated | peak live | %s |%s lost events | recorded |\n",
            rank_live_word(m), t->sampled ? "" : " temporary |");
    fprintf(o, "|---:|---:|---:|---:|%s---:|---:|\n", t->sampled ? "" : "---:|");
    fprintf(o, "| %s | %s | %s | %s in %s blocks |", fmt_count(c1, sizeof(c1), t->allocations), b1,
            b2, b3, fmt_count(c2, sizeof(c2), t->leaked_allocations));
    if (!t->sampled)
        fprintf(o, " %s |", fmt_count(c3, sizeof(c3), t->temporary_allocations));
    fprintf(o, " %" PRIu64 " | %.3f s |\n", t->lost_events, fmt_duration_ns(m) / 1e9);
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
                         int *idx, const struct render_options *opt)
{
    char b1[32], c1[32], fr[FMT_FRAME_MAX];
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
        fmt_frame_ex(fr, sizeof(fr), s->frames[s->title], opt->full_names);
        fprintf(o, "| %d | %s | %s | ", r + 1, b1, fmt_count(c1, sizeof(c1), s->st.live_blocks));
        md_code(o, fr);
        fputs(" | ", o);
        md_text(o, s->leak_rule);
        fputs(" |\n", o);
    }
}

static void md_stack_line(void *arg, const char *text)
{
    fprintf((FILE *)arg, "%s\n", text);
}

/* A site's stack in a collapsible block, its lines as render_stack_lines makes them,
 * in a code fence longer than any run of backticks in them. */
static void md_stack(FILE *o, int rank, const struct model_site *s,
                     const struct render_options *opt)
{
    char fr[FMT_FRAME_MAX];
    int max = render_frames(opt);
    size_t fence = 3;

    /* A fence longer than any run of backticks in the names. */
    for (int k = 0; k < s->n_frames && k < 4 * max; k++) {
        fmt_frame_ex(fr, sizeof(fr), s->frames[k], opt->full_names);
        size_t r = backtick_run(fr) + 1;
        if (r > fence)
            fence = r;
    }
    fmt_frame_ex(fr, sizeof(fr), s->frames[s->title], opt->full_names);
    fprintf(o, "<details><summary>#%d ", rank);
    md_html(o, fr);
    fputs("</summary>\n\n", o);
    for (size_t i = 0; i < fence; i++)
        fputc('`', o);
    fputc('\n', o);
    render_stack_lines(s, 0, opt, md_stack_line, o);
    for (size_t i = 0; i < fence; i++)
        fputc('`', o);
    fputs("\n\n</details>\n\n", o);
}

static void md_section(FILE *o, const struct model *m, const struct rank_section *sec,
                       const int *idx, int n, const struct render_options *opt)
{
    char b1[32], b2[32], c1[32], c2[32], fr[FMT_FRAME_MAX];

    fprintf(o, "\n## %s: %s\n\n", rank_title(sec, m), rank_explain(sec, m));
    if (!rank_section_known(sec, m)) {
        fprintf(o, "Not shown: a sampled log cannot tell which allocations were temporary.\n");
        return;
    }
    if (n == 0) {
        fprintf(o, "None.\n");
        return;
    }
    fprintf(o, "| # | %s | call site | allocations | %s |%s\n", sec->bytes ? "bytes" : "count",
            rank_live_word(m), m->totals.sampled ? "" : " temporary |");
    fprintf(o, "|---:|---:|---|---:|---:|%s\n", m->totals.sampled ? "" : "---:|");
    for (int r = 0; r < n; r++) {
        const struct model_site *s = &m->sites[idx[r]];
        double val = sec->metric(&s->st);
        if (sec->bytes)
            fmt_bytes(b1, sizeof(b1), val);
        else
            fmt_count(b1, sizeof(b1), val);
        fmt_frame_ex(fr, sizeof(fr), s->frames[s->title], opt->full_names);
        fmt_bytes(b2, sizeof(b2), s->st.leaked_bytes);
        fprintf(o, "| %d | %s", r + 1, b1);
        double k = rank_samples(sec, &s->st), lo, hi;
        if (m->totals.sampled && k > 0) {
            char l[32], h[32];
            rank_interval(val, k, rank_weight(&s->st), &lo, &hi);
            if (sec->bytes)
                fprintf(o, " (95%%: %s to %s)", fmt_bytes(l, sizeof(l), lo),
                        fmt_bytes(h, sizeof(h), hi));
            else
                fprintf(o, " (95%%: %s to %s)", fmt_count(l, sizeof(l), lo),
                        fmt_count(h, sizeof(h), hi));
        }
        fputs(" | ", o);
        md_code(o, fr);
        fprintf(o, " | %s | %s |", fmt_count(c1, sizeof(c1), s->st.allocations), b2);
        if (!m->totals.sampled)
            fprintf(o, " %s |", fmt_count(c2, sizeof(c2), s->st.temporary_allocations));
        fputc('\n', o);
    }
    fputc('\n', o);
    for (int r = 0; r < n; r++)
        md_stack(o, r + 1, &m->sites[idx[r]], opt);
}

static void md_bloats(FILE *o, const struct model *m, int top, const struct render_options *opt)
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
            const struct model_site *st = &m->sites[b->sites[k]];
            fmt_frame_ex(fr, sizeof(fr), st->frames[st->title], opt->full_names);
            fprintf(o, "%s ", k ? "," : "");
            md_code(o, fr);
        }
        for (int t = 0; t < b->n_types && t < 2; t++) {
            fputs("; ", o);
            md_text(o, b->types[t].kind);
            fputs(" ", o);
            md_code(o, b->types[t].name);
            fprintf(o, ": %" PRIu64 " B of holes, %" PRIu64 " B of padding", b->types[t].hole_bytes,
                    b->types[t].padding_bytes);
        }
        fputc('\n', o);
    }
}

static int md_modules(FILE *o, const struct model *m, int top)
{
    struct rank_module *mods = malloc(((size_t)m->n_sites + 1) * sizeof(*mods));
    char b1[32], b2[32], c1[32];

    if (mods == NULL)
        return -ENOMEM;
    int n = rank_modules(m, mods);
    if (n > 1) {
        fprintf(o, "\n## Modules: the sites summed by the module of their title\n\n");
        fprintf(o, "| # | module | sites | peak | %s | allocations |\n", rank_live_word(m));
        fprintf(o, "|---:|---|---:|---:|---:|---:|\n");
        for (int i = 0; i < n && i < top; i++) {
            fprintf(o, "| %d | ", i + 1);
            md_code(o, mods[i].module);
            fprintf(o, " | %d | %s | %s | %s |\n", mods[i].n_sites,
                    fmt_bytes(b1, sizeof(b1), mods[i].st.peak_live_bytes),
                    fmt_bytes(b2, sizeof(b2), mods[i].st.leaked_bytes),
                    fmt_count(c1, sizeof(c1), mods[i].st.allocations));
        }
    }
    free(mods);
    return 0;
}

static void md_threads(FILE *o, const struct model *m, int top)
{
    char b1[32], c1[32], c2[32];

    if (m->n_threads < 2)
        return;
    fprintf(o, "\n## Threads: allocations by thread\n\n");
    fprintf(o, "| tid | allocated | allocations | frees |\n|---:|---:|---:|---:|\n");
    for (int i = 0; i < m->n_threads && i < top; i++)
        fprintf(o, "| %u | %s | %s | %s |\n", m->threads[i].tid,
                fmt_bytes(b1, sizeof(b1), m->threads[i].allocated_bytes),
                fmt_count(c1, sizeof(c1), m->threads[i].allocations),
                fmt_count(c2, sizeof(c2), m->threads[i].frees));
}

static void md_nodebug(FILE *o, const struct model *m)
{
    static const char *const why[] = { "no file with its build-id", "rebuilt since the run",
                                       "no debug info" };
    if (m->n_nodebug == 0)
        return;
    fprintf(o, "\n## Missing debug info\n\n");
    fprintf(o, "| module | build-id | why | unnamed addresses | fix |\n");
    fprintf(o, "|---|---|---|---:|---|\n");
    for (int i = 0; i < m->n_nodebug; i++) {
        const struct model_nodebug *d = &m->nodebug[i];
        fputs("| ", o);
        md_code(o, d->path);
        fputs(" | ", o);
        md_code(o, d->build_id ? d->build_id : "none");
        fprintf(o, " | %s | %" PRIu64 " of %" PRIu64 " | ", why[d->why], d->unnamed, d->addresses);
        md_text(o, d->fix);
        fputs(" |\n", o);
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
        const struct rank_section *sec =
            opt->sort != RANK_SORT_DEFAULT ? rank_section_of(opt->sort) : &rank_sections[k];
        int n = rank_sites(m, sec->metric, true, idx);
        md_section(o, m, sec, idx, n < opt->top ? n : opt->top, opt);
        if (opt->sort != RANK_SORT_DEFAULT)
            break;
    }
    if (md_modules(o, m, opt->top) < 0) {
        free(idx);
        return -ENOMEM;
    }
    md_threads(o, m, opt->top);
    md_set_apart(o, m, MODEL_LEAK_RUNTIME, opt->top, idx, opt);
    md_set_apart(o, m, MODEL_LEAK_SUPPRESSED, opt->top, idx, opt);
    md_bloats(o, m, opt->top, opt);
    md_nodebug(o, m);
    free(idx);
    return 0;
}
