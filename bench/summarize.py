#!/usr/bin/env python3
"""summarize.py [--meta FILE] [--out FILE] RUNS.tsv: the markdown report of bench/run.

RUNS.tsv has one line per run (bench/run writes it). Variants of a cell (one workload
at one size) ran interleaved, so each ratio is taken between runs of the same
repetition and then summarised: median (min-max) over the repetitions. A run whose
status is FAILED is kept: it shows as FAILED with its reason, and its numbers are left
out of medians and ratios.

--meta is a key=value file (machine, versions, commit, skipped variants) for the
header. The table goes to stdout, and to --out when given. Python 3 stdlib only.
"""
import argparse
import csv
import statistics
import sys
from collections import defaultdict

VARIANT_ORDER = ["plain", "interpose", "sampler-floor", "heapspan-hooks", "heapspan-512k-preload",
                 "heapspan", "heapspan-512k", "heaptrack", "jemalloc"]
WORKLOAD_ORDER = ["churn", "threads", "retain", "deep", "realloc", "pyext", "pyjson",
                  "sqlite", "cxxmap", "redis", "apichurn"]
WORKLOAD_WHAT = {
    "churn": "N malloc/free pairs, 16..512 bytes, 12 frames deep",
    "threads": "churn split over T threads (N pairs in all)",
    "retain": "N 96-byte nodes from 3 call sites; half freed, half leaked",
    "deep": "N malloc/free pairs from stacks 80..100 frames deep",
    "realloc": "N small-step reallocs plus calloc/posix_memalign/aligned_alloc",
    "pyext": "CPython calling a C extension: N malloc/free pairs, 1 MB leaked",
    "pyjson": "CPython json.dumps + json.loads of N records (PYTHONMALLOC=malloc)",
    "sqlite": "sqlite3 CLI: N single-row INSERTs into an indexed table, one transaction",
    "cxxmap": "C++ std::unordered_map<std::string, std::string> cache: N random inserts "
              "and erases of heap-allocated keys and values (g++ -O2, libstdc++)",
    "redis": "redis-server on loopback under redis-benchmark: N requests per test (set, "
             "get, lpush, lpop, incr; 50 connections, pipeline 16); time is the server's CPU",
    "apichurn": "churn's loop through malloc, a program's own allocator (own), or that "
                "allocator reporting through include/heapspan.h (api)",
}


# Workloads whose time is the CPU (user + sys) of the measured process tree, not its
# wall time: a server's wall time is how long it was up, which the load generator sets.
CPU_TIMED = {"redis"}


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med_range(vals):
    """(median, min, max) of the values that are not None, or None."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt_s(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_ratio(x):
    if x is None:
        return "-"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def fmt_pct(x):
    # + 0.0 turns the -0 that rounding a tiny negative share gives into 0.
    return "-" if x is None else f"{round(100 * x) + 0.0:.0f} %"


def fmt_mb(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}"


def fmt_bytes(b):
    if b is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def fmt_bpe(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}"


def with_range(mr, f):
    """"median (min-max)" with the formatter f; just the median when all agree."""
    if mr is None:
        return "-"
    m, lo, hi = mr
    if f(lo) == f(hi):
        return f(m)
    return f"{f(m)} ({f(lo)}–{f(hi)})"


def size_label(wl, size):
    n, _, t = size.partition(":")
    label = f"{int(n):,}"
    if wl == "threads":
        label += f" ({t} thr)"
    elif wl == "apichurn":
        label += f" ({t})"
    return label


APICHURN_MODES = {"malloc": 0, "own": 1, "api": 2}


def size_key(size):
    n, _, t = size.partition(":")
    return (int(n), APICHURN_MODES[t] if t in APICHURN_MODES else int(t or 0))


def read_meta(path):
    meta = defaultdict(list)
    if path:
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    meta[key].append(value)
    return meta


class Cell:
    """One workload at one size: its runs by variant, and per-repetition pairings."""

    def __init__(self, wl, size):
        self.wl, self.size = wl, size
        self.runs = defaultdict(list)

    def ok(self, variant):
        return [r for r in self.runs.get(variant, []) if r["status"] == "ok"]

    def by_rep(self, variant):
        return {r["rep"]: r for r in self.ok(variant)}

    def wall(self, variant):
        return med_range([num(r["wall_s"]) for r in self.ok(variant)])

    def cpu_timed(self):
        return self.wl in CPU_TIMED

    def time(self, r):
        """The run's time as this cell measures it: wall, or CPU for CPU_TIMED."""
        if self.cpu_timed():
            u, s = num(r["user_s"]), num(r["sys_s"])
            return None if u is None or s is None else u + s
        return num(r["wall_s"])

    def times(self, variant):
        return med_range([self.time(r) for r in self.ok(variant)])

    def ratio_to_plain(self, variant):
        plain, runs = self.by_rep("plain"), self.by_rep(variant)
        return med_range([self.time(r) / self.time(plain[k])
                          for k, r in runs.items()
                          if k in plain and self.time(plain[k]) and self.time(r) is not None])

    def share_of_heaptrack(self, variant):
        """(variant - plain) / (heaptrack - plain), paired within each repetition."""
        plain, ht, runs = self.by_rep("plain"), self.by_rep("heaptrack"), self.by_rep(variant)
        vals = []
        for k, r in runs.items():
            if k in plain and k in ht:
                p = self.time(plain[k])
                added_ht = self.time(ht[k]) - p
                if added_ht > 0:
                    vals.append((self.time(r) - p) / added_ht)
        return med_range(vals)

    def added_over(self, variant, base):
        """(variant - base) / plain, paired within each repetition: the points of plain's
        time the variant adds above base."""
        plain, b, runs = self.by_rep("plain"), self.by_rep(base), self.by_rep(variant)
        return med_range([(self.time(r) - self.time(b[k])) / self.time(plain[k])
                          for k, r in runs.items()
                          if k in plain and k in b and self.time(plain[k])])

    def time_to_report(self, variant, ref):
        """(time + analysis) of variant over that of ref, paired within each repetition,
        over the runs analysed by each one's usual tool."""
        tools = {variant: self.analysis_tool(variant), ref: self.analysis_tool(ref)}

        def total(r, v):
            a = num(r["analysis_s"])
            if a is None or r["analysis_tool"] != tools[v] or self.time(r) is None:
                return None
            return self.time(r) + a
        mine, theirs = self.by_rep(variant), self.by_rep(ref)
        vals = []
        for k, r in mine.items():
            if k in theirs:
                a, b = total(r, variant), total(theirs[k], ref)
                if a is not None and b:
                    vals.append(a / b)
        return med_range(vals)

    def rps(self, variant):
        return med_range([num(r.get("rps")) for r in self.ok(variant)])

    def field(self, variant, key):
        return med_range([num(r[key]) for r in self.ok(variant)])

    def analysis(self, variant, key):
        """Like field(), over the runs analysed by analysis_tool(): the CLI being measured
        can gain its report command between two runs."""
        tool = self.analysis_tool(variant)
        return med_range([num(r[key]) for r in self.ok(variant) if r["analysis_tool"] == tool])

    def analysis_mixed(self, variant):
        return len({r["analysis_tool"] for r in self.ok(variant)}) > 1

    def cpu(self, variant):
        return med_range([num(r["user_s"]) + num(r["sys_s"]) for r in self.ok(variant)
                          if num(r["user_s"]) is not None])

    def bytes_per_event(self, variant):
        return med_range([num(r["log_bytes"]) / num(r["events"]) for r in self.ok(variant)
                          if num(r["log_bytes"]) and num(r["events"])])

    def analysis_tool(self, variant):
        tools = [r["analysis_tool"] for r in self.ok(variant) if r["analysis_tool"]]
        return tools[-1] if tools else ""

    def failures(self, variant):
        return [r for r in self.runs.get(variant, []) if r["status"] != "ok"]


def load(paths):
    cells = {}
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                key = (r["workload"], r["size"])
                cells.setdefault(key, Cell(*key)).runs[r["variant"]].append(r)

    def order(key):
        wl, size = key
        rank = WORKLOAD_ORDER.index(wl) if wl in WORKLOAD_ORDER else len(WORKLOAD_ORDER)
        return (rank, wl, size_key(size))

    return [cells[k] for k in sorted(cells, key=order)]


def variants_shown(cells, meta):
    """The variants that ran, and those skipped: they get columns saying so."""
    seen = {v for c in cells for v in c.runs}
    seen |= {s.split(":", 1)[0] for s in meta.get("skip_variant", [])}
    return [v for v in VARIANT_ORDER if v in seen] + sorted(seen - set(VARIANT_ORDER))


def header(meta, out):
    def one(key, default="?"):
        return meta[key][0] if meta.get(key) else default

    out.append("# heapspan benchmark\n")
    out.append(f"Measured {one('date')} on {one('cpu')}, {one('cores')} cores, "
               f"{one('memory')}, Linux {one('kernel')} ({one('os')}).  ")
    out.append(f"Commit {one('commit')}; heapspan {one('heapspan')}.  ")
    extra = "".join(f", {name} {one(key)}" for key, name in (("gxx", "g++"), ("redis", "redis-server"))
                    if meta.get(key))
    out.append(f"heaptrack {one('heaptrack')}, jemalloc {one('jemalloc')}, "
               f"gcc {one('gcc')}, Python {one('python')}, sqlite3 {one('sqlite3')}{extra}.  ")
    elapsed = int(num(one("elapsed_s", "0")) or 0)
    reps = one("reps")
    out.append(f"{reps} repetition{'' if reps == '1' else 's'} per cell, variants interleaved; "
               f"all runs took {elapsed // 60} min {elapsed % 60} s "
               f"(`{one('command', 'bench/run')}`).\n")
    notes = [f"**Variant {s.split(':', 1)[0]} SKIPPED:**{s.split(':', 1)[1]}"
             for s in meta.get("skip_variant", [])]
    notes += [f"**Workload {s.split(':', 1)[0]} SKIPPED:**{s.split(':', 1)[1]}"
              for s in meta.get("skip_workload", [])]
    notes += [f"**Note:** {s}" for s in meta.get("note", [])]
    for n in notes:
        out.append(f"- {n}")
    if notes:
        out.append("")


def summary_table(cells, variants, out):
    has = set(variants)
    fallback = False
    out.append("## Summary\n")
    out.append("Medians over the repetitions; the ranges are in the details below. "
               "*× plain* is wall time over the plain run's; *share of heaptrack* is the "
               "time heapspan adds over the time heaptrack adds (100 % = as slow as "
               "heaptrack, lower is better).\n")
    cols = ["workload", "size", "plain s"]
    cols += [f"{v} × plain" for v in variants if v != "plain"]
    if "heaptrack" in has:
        cols += [f"{v} share of heaptrack" for v in ("heapspan", "heapspan-512k") if v in has]
    rss_variants = [v for v in ("plain", "heapspan", "heapspan-512k", "heaptrack") if v in has]
    cols += ["peak RSS MB: " + " / ".join(rss_variants)]
    if "heapspan" in has or "heaptrack" in has:
        cols += ["B/event: " + " / ".join(v for v in ("heapspan", "heaptrack") if v in has)]
        cols += ["analysis s: " + " / ".join(
            t for v, t in (("heapspan", "report"), ("heaptrack", "heaptrack_print"))
            if v in has)]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "---|" * len(cols))
    shares = []
    cpu_rows = False
    for c in cells:
        plain_s = cell_or_failed(c, "plain", fmt_s, c.times("plain"))
        if c.cpu_timed():
            plain_s += " CPU*"
            cpu_rows = True
        row = [c.wl, size_label(c.wl, c.size), plain_s]
        for v in variants:
            if v != "plain":
                row.append(cell_or_failed(c, v, fmt_ratio, c.ratio_to_plain(v)))
        if "heaptrack" in has:
            for v in ("heapspan", "heapspan-512k"):
                if v in has:
                    mr = c.share_of_heaptrack(v)
                    row.append(cell_or_failed(c, v, fmt_pct, mr))
                    if v == "heapspan" and mr:
                        shares.append(mr[0])
        row.append(" / ".join(cell_or_failed(c, v, fmt_mb, c.field(v, "rss_kb"))
                              for v in rss_variants))
        if "heapspan" in has or "heaptrack" in has:
            row.append(" / ".join(cell_or_failed(c, v, fmt_bpe, c.bytes_per_event(v))
                                  for v in ("heapspan", "heaptrack") if v in has))
            parts = []
            for v in ("heapspan", "heaptrack"):
                if v not in has:
                    continue
                s = cell_or_failed(c, v, fmt_s, c.analysis(v, "analysis_s"))
                if v == "heapspan" and c.analysis_tool(v) not in ("", "report"):
                    s += "†"
                    fallback = True
                parts.append(s)
            row.append(" / ".join(parts))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    if shares:
        out.append(f"**heapspan (full trace) adds a median {fmt_pct(statistics.median(shares))} "
                   f"of heaptrack's added time** over {len(shares)} cell{'s' if len(shares) > 1 else ''} "
                   f"(from {fmt_pct(min(shares))} to {fmt_pct(max(shares))}).\n")
    if cpu_rows:
        out.append("\\* The time of this row is the CPU (user + sys) of the server's process "
                   "tree, the profiler's helpers included, for the fixed load, not wall time: "
                   "its × plain and share of heaptrack are of CPU.\n")
    if fallback:
        out.append("† `heapspan report` was not available (the CLI answered "
                   "\"unknown command\"), so this is the time of `heapspan dump --summary`, "
                   "which only reads the log: **not** an analysis, and not comparable to "
                   "heaptrack_print.\n")


def fmt_pct1(x):
    return f"{100 * x:+.1f} %"


def redis_section(cells, variants, out):
    """The server rows: CPU for the fixed load and the request rate the client saw."""
    rcells = [c for c in cells if c.wl == "redis"]
    if not rcells:
        return
    out.append("## redis-server: server CPU for a fixed load, and requests per second\n")
    out.append("redis-server runs under each variant on a free loopback port (`--save '' "
               "--appendonly no`), redis-benchmark sends N requests per test (set, get, lpush, "
               "lpop, incr: 5 N in all; 50 connections, pipelines of 16, random keys among "
               "100,000, 64-byte values), and `redis-cli shutdown nosave` stops it, so that the "
               "profiler writes its log at that exit. *Server CPU* is user + sys of the server's "
               "process tree (the profiler's helpers included) from start to exit, measured by "
               "bench/runstat; *+ CPU* is its excess over the plain run's, paired by "
               "repetition; *share of heaptrack* is that excess over heaptrack's; *req/s* is "
               "5 N over the sum of the tests' times, from redis-benchmark's figures. "
               "interpose and sampler-floor pass malloc to glibc, while Debian's redis-server "
               "allocates with jemalloc: they are not run here.\n")
    has = set(variants)
    cols = ["size", "variant", "runs ok", "server CPU s", "+ CPU", "share of heaptrack",
            "req/s", "B/event", "analysis", "analysis s"]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "---|" * len(cols))
    for c in rcells:
        for v in variants:
            runs = c.runs.get(v)
            if not runs:
                continue
            ok_n = len(c.ok(v))
            if ok_n == 0:
                out.append(f"| {size_label(c.wl, c.size)} | {v} | 0/{len(runs)} | **FAILED** "
                           + "| " * (len(cols) - 4) + "|")
                continue
            plus = c.ratio_to_plain(v)
            share = c.share_of_heaptrack(v) if "heaptrack" in has else None
            bpe = c.bytes_per_event(v)
            row = [size_label(c.wl, c.size), v, f"{ok_n}/{len(runs)}",
                   with_range(c.times(v), fmt_s),
                   "-" if v == "plain" or plus is None else
                   with_range(tuple(x - 1 for x in plus), fmt_pct1),
                   "-" if v == "plain" else with_range(share, fmt_pct),
                   with_range(c.rps(v), lambda x: f"{x:,.0f}"),
                   "-" if v in ("plain", "jemalloc") or bpe is None else with_range(bpe, fmt_bpe),
                   c.analysis_tool(v) or "-",
                   with_range(c.analysis(v, "analysis_s"), fmt_s)]
            out.append("| " + " | ".join(row) + " |")
    out.append("")


# Issue 21's targets for sampled mode (--sample 512K), by workload: added time at most
# LIMIT of plain's, or at most LIMIT above sampler-floor ("floor").
SAMPLED_TARGET = {"pyjson": ("plain", 0.02), "sqlite": ("plain", 0.02), "redis": ("plain", 0.02),
                  "cxxmap": ("plain", 0.02), "retain": ("plain", 0.03),
                  "churn": ("floor", 0.03), "pyext": ("floor", 0.03)}


def verdict(value, limit, show):
    """"met", or "not met (value vs limit)", or "not measured". show(x, d) formats x with
    d more decimals than usual: added until value and limit no longer print alike."""
    if value is None:
        return "not measured"
    if value <= limit:
        return "met"
    d = 0
    while d < 4 and show(value, d) == show(limit, d):
        d += 1
    return f"not met ({show(value, d)} vs ≤ {show(limit, d)})"


def targets_section(cells, variants, out):
    has = set(variants)
    if "heapspan" not in has and "heapspan-512k" not in has:
        return
    out.append("## Targets (issue: smaller logs, faster reports, cheaper recording)\n")
    out.append("Each cell against issue 21's targets, from the medians of this run: "
               "(1) heapspan's log bytes per event at most heaptrack's; (2) `heapspan report` "
               "at most 1/3 of heaptrack_print's time, and record + report at most 1/2 of "
               "heaptrack's record + heaptrack_print (paired by repetition); (3) the full "
               "trace's added time at most 1/4 of heaptrack's, and the median over all cells "
               "at most 1/6; (4) heapspan-512k's added time at most 2 % of plain on real "
               "programs (pyjson, sqlite, redis, cxxmap) and 3 % on retain, and on bare "
               "malloc/free loops (churn, pyext) at most 3 points of plain above "
               "sampler-floor (paired by repetition), when that variant ran. The redis row's "
               "times are the server's CPU. "
               "*no target*: the issue sets none for that workload.\n")
    cols = ["workload", "size", "1. B/event ≤ heaptrack's", "2. report ≤ 1/3 heaptrack_print",
            "2. record + report ≤ 1/2 heaptrack's", "3. full-trace added ≤ 1/4 heaptrack's",
            "4. sampled added"]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "---|" * len(cols))
    shares = []
    for c in cells:
        def med(mr):
            return None if mr is None else mr[0]
        hs_bpe, ht_bpe = med(c.bytes_per_event("heapspan")), med(c.bytes_per_event("heaptrack"))
        t1 = verdict(hs_bpe, ht_bpe, lambda x, d: f"{x:.{3 + d}f}" if x < 1 else f"{x:.{2 + d}f}") if ht_bpe is not None else "not measured"
        rep_s = (med(c.analysis("heapspan", "analysis_s"))
                 if c.analysis_tool("heapspan") == "report" else None)
        print_s = med(c.analysis("heaptrack", "analysis_s"))
        t2a = (verdict(rep_s, print_s / 3, lambda x, d: f"{x:.{3 + d}f} s")
               if print_s is not None else "not measured")
        ttr = (med(c.time_to_report("heapspan", "heaptrack"))
               if c.analysis_tool("heapspan") == "report" else None)
        t2b = verdict(ttr, 0.5, lambda x, d: f"{100 * x:.{1 + d}f} %")
        share = med(c.share_of_heaptrack("heapspan"))
        if share is not None:
            shares.append(share)
        t3 = verdict(share, 0.25, lambda x, d: f"{100 * x:.{1 + d}f} %")
        kind = SAMPLED_TARGET.get(c.wl)
        if kind is None:
            t4 = "no target"
        elif kind[0] == "plain":
            r = med(c.ratio_to_plain("heapspan-512k"))
            t4 = verdict(None if r is None else r - 1, kind[1],
                         lambda x, d: f"{100 * x:+.{1 + d}f} %")
        elif "sampler-floor" not in c.runs:
            t4 = "not measured (no sampler-floor run)"
        else:
            d = med(c.added_over("heapspan-512k", "sampler-floor"))
            t4 = verdict(d, kind[1], lambda x, dd: f"{100 * x:+.{1 + dd}f} points")
        out.append(f"| {c.wl} | {size_label(c.wl, c.size)} | {t1} | {t2a} | {t2b} | {t3} | {t4} |")
    out.append("")
    if shares:
        m = statistics.median(shares)
        v = "met" if m <= 1 / 6 else f"not met ({100 * m:.1f} % vs ≤ 16.7 %)"
        out.append(f"Full-trace added time, median over {len(shares)} "
                   f"cell{'s' if len(shares) > 1 else ''}: {fmt_pct(m)} of heaptrack's; "
                   f"target (3) median ≤ 1/6: **{v}**.\n")


def api_section(cells, variants, out):
    """apichurn's three modes at one N, paired by repetition: api over malloc (what
    reporting through include/heapspan.h costs next to the shim's own malloc hooks) and
    api over own (what the header's calls cost next to the bare loop)."""
    by_n = defaultdict(dict)
    for c in cells:
        if c.wl == "apichurn":
            n, _, mode = c.size.partition(":")
            by_n[n][mode] = c
    rows = []
    for n, modes in sorted(by_n.items(), key=lambda kv: int(kv[0])):
        if "api" not in modes:
            continue
        for v in variants:
            cols = []
            for base in ("malloc", "own"):
                for what in ("wall", "cpu"):
                    if base not in modes:
                        cols.append("-")
                        continue
                    a, b = modes["api"].by_rep(v), modes[base].by_rep(v)
                    t = ((lambda r: num(r["wall_s"])) if what == "wall" else
                         (lambda r: num(r["user_s"]) + num(r["sys_s"])))
                    vals = [t(a[k]) / t(b[k]) for k in a if k in b and t(b[k])]
                    cols.append(with_range(med_range(vals), fmt_ratio))
            if any(x != "-" for x in cols):
                rows.append(f"| {int(n):,} | {v} | " + " | ".join(cols) + " |")
    if not rows:
        return
    out.append("## apichurn: the API next to malloc, and next to the bare loop\n")
    out.append("Wall time of the `api` mode over the `malloc` and `own` modes of the same "
               "variant, paired by repetition: under heapspan, *api ÷ malloc* is what a "
               "block reported through include/heapspan.h costs next to one the shim's "
               "malloc hook records; in the plain runs, *api ÷ own* is what the header's "
               "calls cost when no shim is loaded (a load and a branch each). The modes are "
               "cells of their own: only with `--interleave-cells` do they alternate within "
               "each repetition, so that the pairing takes out the machine's drift. CPU "
               "time (user + sys of the process tree, which a neighbour's load moves less) "
               "is given beside wall time.\n")
    out.append("| N | variant | api ÷ malloc, wall | CPU | api ÷ own, wall | CPU |")
    out.append("|---|---|---|---|---|---|")
    out.extend(rows)
    out.append("")


def cell_or_failed(c, variant, f, mr):
    """f(median of mr), or why there is none: the variant was skipped or every run FAILED."""
    if variant not in c.runs:
        return "skipped"
    if not c.ok(variant):
        return "FAILED"
    text = "-" if mr is None else f(mr[0])
    failed = len(c.failures(variant))
    return text + (f" ({failed} FAILED)" if failed else "")


def details(cells, variants, out):
    out.append("## Details\n")
    out.append("Median (min–max) over the repetitions. Ratios pair each run with the "
               "plain (and heaptrack) run of the same repetition.\n")
    cols = ["size", "variant", "runs ok", "wall s", "× plain", "share of heaptrack",
            "CPU s", "peak RSS MB", "log", "B/event", "analysis", "analysis s",
            "analysis RSS MB", "notes"]
    by_wl = defaultdict(list)
    for c in cells:
        by_wl[c.wl].append(c)
    for wl, wl_cells in by_wl.items():
        out.append(f"### {wl}: {WORKLOAD_WHAT.get(wl, '')}\n")
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "---|" * len(cols))
        for c in wl_cells:
            for v in variants:
                runs = c.runs.get(v)
                if not runs:
                    continue
                fails = c.failures(v)
                ok_n = len(runs) - len(fails)
                notes = "; ".join(f"FAILED rep {r['rep']}: {r['note']}" for r in fails)
                notes = notes.replace("|", "/")
                if ok_n == 0:
                    out.append(f"| {size_label(wl, c.size)} | {v} | 0/{len(runs)} | **FAILED** "
                               + "| " * (len(cols) - 5) + f"| {notes} |")
                    continue
                is_plain = v == "plain"
                bpe = c.bytes_per_event(v)
                bpe_s = with_range(bpe, fmt_bpe)
                if v == "jemalloc":
                    bpe_s = "n/a‡"
                elif v.startswith("heapspan-512k") and bpe:
                    bpe_s += "§"
                log = c.field(v, "log_bytes")
                tool = c.analysis_tool(v)
                if v.startswith("heapspan") and tool and tool != "report":
                    tool += "†"
                if c.analysis_mixed(v):
                    tool += " (only the runs using it)"
                row = [size_label(wl, c.size), v, f"{ok_n}/{len(runs)}",
                       with_range(c.wall(v), fmt_s),
                       "-" if is_plain else with_range(c.ratio_to_plain(v), fmt_ratio),
                       "-" if is_plain else with_range(c.share_of_heaptrack(v), fmt_pct),
                       with_range(c.cpu(v), fmt_s),
                       with_range(c.field(v, "rss_kb"), fmt_mb),
                       "-" if log is None else fmt_bytes(log[0]),
                       "-" if is_plain else bpe_s,
                       tool or "-",
                       with_range(c.analysis(v, "analysis_s"), fmt_s),
                       with_range(c.analysis(v, "analysis_rss_kb"), fmt_mb),
                       notes]
                out.append("| " + " | ".join(row) + " |")
        out.append("")


def legend(out):
    out.append("## Columns\n")
    out.append("""- **wall s**: elapsed time of the whole command (profiler wrapper included),
  from wait4 to the microsecond (bench/runstat.c). **CPU s** is user + sys of the process
  tree: on 2 cores a profiler that works in a second process (heaptrack_interpret) shows
  more CPU than wall.
- **× plain**: wall time over the plain run's in the same repetition. For redis, a
  server whose wall time is how long the load kept it up, this and the share of heaptrack
  are of **CPU s** instead.
- **share of heaptrack**: (variant − plain) / (heaptrack − plain), paired by repetition.
  heaptrack's own row is 100 % by definition.
- **peak RSS MB**: the largest single process of the run (ru_maxrss from wait4), which
  for heaptrack may be heaptrack_interpret rather than the program.
- **log**: the size of what the profiler wrote: the heapspan log, heaptrack's .zst trace,
  or jemalloc's heap files. **B/event**: log bytes per allocation event; for heapspan the
  event count is `allocations=` from `heapspan dump --summary`, for heaptrack the "calls to
  allocation functions" of heaptrack_print.
- § heapspan-512k writes only sampled allocations (Poisson, one per 512 KiB allocated on
  average): its B/event is per *recorded* event.
- ‡ jemalloc (`MALLOC_CONF=prof:true,lg_prof_sample:19`, plus prof_final to write the
  file) keeps a sampled snapshot of the live heap, not an event log: its log size is the
  heap file, which does not grow with the number of events.
- **analysis**: the tool run on the log of the same run, and its time and peak RSS:
  `heapspan report LOG --format json`, `heaptrack_print`, `jeprof --text`.
- A run is FAILED when it exits non-zero, times out, lacks the workload's summary line,
  writes no log, or its full-trace log holds fewer allocations than the workload made.
  FAILED runs are listed, never dropped, and left out of the medians.
""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meta")
    ap.add_argument("--out")
    ap.add_argument("runs", nargs="+")
    args = ap.parse_args()

    cells = load(args.runs)
    meta = read_meta(args.meta)
    variants = variants_shown(cells, meta)
    out = []
    header(meta, out)
    summary_table(cells, variants, out)
    targets_section(cells, variants, out)
    redis_section(cells, variants, out)
    api_section(cells, variants, out)
    details(cells, variants, out)
    legend(out)
    text = "\n".join(out).rstrip("\n") + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
