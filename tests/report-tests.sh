#!/bin/bash
# report-tests.sh - `heapspan report` on programs with known truth (tests/progs/known_*,
# bench/workloads/retain.c) and on bad input. Each test checks exact numbers from the
# JSON report (read with python3's json module) and prints `PASS name` or
# `FAIL name: what: expected X vs got Y [files: DIR]`; the last line is
# `N passed, N failed`.
#
#   tests/report-tests.sh [--list] [--keep] [TEST...]
#
# TEST is a name or a shell pattern ('bad_*'); none means all. A failed test's directory
# is kept (--keep: every test's). Exits 1 if a test failed, 2 on a usage error or when
# the tools or programs are missing (nothing is built here: `make test-report` builds
# them, tests/report.mk).
#
# Environment (defaults for a run from the top directory):
#   HEAPSPAN       build/heapspan            SHIM   build/libheapspan.so
#   PROGS          build/tests/progs         PYTHON the real interpreter behind python3
#   HEAPSPAN_ASAN  an analyzer built with -fsanitize=address,undefined, for the bad input
#                  tests (tests/report.mk builds one); without it they use HEAPSPAN
#   REPORT_TESTS_TIMEOUT  seconds a recorded program may run (default 20): a program
#                  that hangs under the shim is killed, with its process group, and fails
#
# Expected lines come from the "@name" comments in the programs' sources, so editing a
# program cannot make it and this script disagree. Each test runs in its own temporary
# directory; a recording that several tests read is made once, by the first of them.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
HEAPSPAN=$(abs "${HEAPSPAN:-build/heapspan}")
SHIM=$(abs "${SHIM:-build/libheapspan.so}")
PROGS=$(abs "${PROGS:-build/tests/progs}")
HEAPSPAN_ASAN=$(abs "${HEAPSPAN_ASAN:-$HEAPSPAN}")
SRC=$TOP/tests/progs
TIMEOUT=${REPORT_TESTS_TIMEOUT:-20}
if [ -z "${PYTHON:-}" ]; then
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
fi
export HEAPSPAN HEAPSPAN_ASAN SHIM PROGS SRC TOP PYTHON
# The analyzer runs without the shim; programs get it from `heapspan run` only.
export HEAPSPAN_SHIM=$SHIM
unset LD_PRELOAD DEBUGINFOD_URLS
# Sanitizer reports go to stderr, where the bad input tests look for them; a leak the
# analyzer makes on an error path is reported too, and changes the exit status.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# One directory per test under RUN; recordings several tests read, and the python
# helpers, beside them.
RUN=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-report.XXXXXX") || exit 2
WORK=$RUN/.shared
CACHE=$WORK/recordings
mkdir -p "$CACHE"
trap 'rm -rf "$WORK"; rmdir "$RUN" 2>/dev/null' EXIT

# ---- python side: helpers every check imports ----

cat >"$WORK/rt.py" <<'EOF'
"""Helpers for the checks in report-tests.sh. A check raises Fail("what: expected X vs
got Y"); run() prints that message and exits 1."""
import json
import math
import os
import re
import struct
import sys


class Fail(Exception):
    pass


def expect(what, expected, got):
    if expected != got:
        raise Fail(f"{what}: expected {expected!r} vs got {got!r}")


def expect_true(what, cond, got):
    if not cond:
        raise Fail(f"{what}: expected true vs got {got!r}")


def within(what, expected, got, tol):
    if not abs(got - expected) <= tol:
        raise Fail(f"{what}: expected {expected} +- {tol:.6g} vs got {got}")


def load(path):
    """A report (docs/report-json.md), its references resolved for the checks: each
    site's "stack" as its frames, each bloated size's "sites" as the sites."""
    with open(path) as f:
        rep = json.load(f)
    frames = rep.get("frames")
    if frames is not None:
        for s in rep.get("sites", []):
            s["stack"] = [frames[i] for i in s["stack"]]
        for b in rep.get("bloated", []):
            b["sites"] = [rep["sites"][i] for i in b["sites"] if i is not None]
    return rep


def marker_line(src, name):
    """The line of the "@name" comment in tests/progs/src: the call's line."""
    path = os.path.join(os.environ["SRC"], src)
    pat = re.compile(r"(/\*|//) @" + re.escape(name) + r"( \*/|$)")
    lines = [i for i, text in enumerate(open(path), 1) if pat.search(text.rstrip("\n"))]
    if len(lines) != 1:
        raise Fail(f"marker @{name} in {src}: expected 1 line vs got {lines}")
    return lines[0]


def src_path(src):
    return os.path.realpath(os.path.join(os.environ["SRC"], src))


def sites_at(rep, function, line=None):
    """Sites whose innermost frame (after allocator frames) is function[:line]."""
    return [s for s in rep["sites"] if s["function"] == function and
            (line is None or s["line"] == line)]


def site_sum(sites, key):
    return sum(s[key] for s in sites)


def check_site(rep, src, function, marker, blocks, size, leaked_blocks):
    """The sites at function, at the marker's line in src: the file is the source's
    full path, and counts and bytes are exact."""
    line = marker_line(src, marker)
    at = sites_at(rep, function, line)
    if not at:
        near = [(s["function"], s["file"], s["line"]) for s in rep["sites"]
                if s["allocated_bytes"] == blocks * size or s["function"] == function]
        raise Fail(f"@{marker}: expected a site {function} at {src}:{line} vs got "
                   f"{near or 'none'}")
    for s in at:
        f = s["file"] or ""
        expect(f"@{marker}: file", src_path(src),
               os.path.realpath(f) if os.path.isabs(f) else f)
    expect(f"@{marker}: allocations", blocks, site_sum(at, "allocations"))
    expect(f"@{marker}: allocated_bytes", blocks * size, site_sum(at, "allocated_bytes"))
    expect(f"@{marker}: leaked_allocations", leaked_blocks,
           site_sum(at, "leaked_allocations"))
    expect(f"@{marker}: leaked_bytes", leaked_blocks * size, site_sum(at, "leaked_bytes"))
    return at


def var_blocks(n, s, R):
    """Sampling by bytes at mean interval R: n blocks of s bytes, each sampled with
    probability p = 1 - exp(-s/R) and standing for 1/p, give an estimate of n blocks
    with this variance."""
    p = -math.expm1(-s / R)
    return n * (1 - p) / p


def check_sampled_sites(rep, src, R, truth, tot):
    """truth: (function, marker, blocks, size, leaked) for sites of independent blocks.
    Each site's estimates must be within 5 standard deviations of the truth (and a
    little for rounding when sigma is ~0: blocks of 16 x R bytes). Adds the means and
    variances to tot[key] = [mean, variance]."""
    for fn, marker, n, s, leaked in truth:
        at = sites_at(rep, fn, marker_line(src, marker))
        if not at:
            raise Fail(f"@{marker}: expected a site {fn} vs got "
                       f"{[(x['function'], x['line']) for x in rep['sites']]}")
        v = var_blocks(n, s, R)
        within(f"@{marker}: allocations", n, site_sum(at, "allocations"),
               5 * math.sqrt(v) + 1e-6 * n)
        within(f"@{marker}: allocated_bytes", n * s, site_sum(at, "allocated_bytes"),
               5 * s * math.sqrt(v) + 1e-6 * n * s)
        if leaked:
            within(f"@{marker}: leaked_bytes", n * s, site_sum(at, "leaked_bytes"),
                   5 * s * math.sqrt(v) + 1e-6 * n * s)
        else:
            expect(f"@{marker}: leaked_bytes", 0, site_sum(at, "leaked_bytes"))
        for key, (mean, var) in (("allocations", (n, v)), ("allocated_bytes", (n * s, s * s * v)),
                                 ("leaked_bytes", (n * s if leaked else 0,
                                                   s * s * v if leaked else 0))):
            tot[key][0] += mean
            tot[key][1] += var


def sampled_totals():
    """[mean, variance] of the truth per total, for check_sampled_sites to add to."""
    return {"allocations": [0, 0], "allocated_bytes": [0, 0], "leaked_bytes": [0, 0]}


def check_sampled_totals(rep, tot):
    for key, (mean, var) in tot.items():
        within(f"totals.{key}", mean, rep["totals"][key], 5 * math.sqrt(var) + 1e-6 * mean)


def chunks(path):
    """(offset, header size, stored length, kind) of each chunk, and the trailer's
    offset (None if the log has none), from the framing in format/logfmt.h."""
    data = open(path, "rb").read()
    off = struct.unpack_from("<H", data, 10)[0]
    out, trailer = [], None
    while off + 8 <= len(data):
        if data[off:off + 8] == b"HSINDEX1":
            trailer = off
            break
        magic, kind, _flags, hsize, stored = struct.unpack_from("<IBBHI", data, off)
        if magic != 0x4B435348:
            raise Fail(f"{path}: chunk at byte {off}: expected the chunk magic vs got "
                       f"{magic:#x}")
        out.append((off, hsize, stored, kind))
        off += hsize + stored
    return data, out, trailer


SANITIZER = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:")


def sanitizer_report(err):
    for line in err.splitlines():
        if SANITIZER.search(line):
            return line.strip()
    return None


MESSAGE = re.compile(r"^heapspan report: (.+): byte ([0-9]+): (.+); (.+)$")


def check_error(what, rc, err, path):
    """Exit status 2 and one message `heapspan report: FILE: byte OFFSET: what; what to
    do`. Returns the offset."""
    expect(f"{what}: exit status", 2, rc)
    lines = [l for l in err.splitlines() if l.startswith("heapspan")]
    if len(lines) != 1:
        raise Fail(f"{what}: expected one 'heapspan report: {path}: byte N: what; what to do' "
                   f"line vs got {err.strip()!r}")
    m = MESSAGE.match(lines[0])
    if m is None or m.group(1) != path:
        raise Fail(f"{what}: expected 'heapspan report: {path}: byte N: what; what to do' vs "
                   f"got {lines[0]!r}")
    return int(m.group(2))


def run(check):
    try:
        check()
    except Fail as e:
        print(e)
        sys.exit(1)
    except Exception as e:  # a report without a field the check reads, say
        import traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"the check itself failed at line {where.lineno}: {type(e).__name__}: {e}")
        sys.exit(1)
EOF

# ---- shell helpers ----

# Runs a check: python code on stdin, with rt.py's helpers imported.
check() {
    { echo 'from rt import *'; cat; } >"$T/check.py"
    PYTHONPATH=$WORK "$PYTHON" "$T/check.py" "$@"
}

# Fails the current test with a message, on one line.
fail() {
    printf '%s\n' "$*" | tr '\n' ' ' | sed 's/ *$//'
    echo
    return 1
}

# record NAME [--sample N] -- PROG ARGS: runs PROG under `heapspan run` (once per
# script run: other tests reuse it) and reports its log as JSON in $CACHE/NAME.json.
# A program still running after $TIMEOUT seconds is killed with its process group.
record() {
    local name=$1 rc
    shift
    local opts=()
    while [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    shift
    if [ ! -e "$CACHE/$name.done" ]; then
        (
            cd "$CACHE" || exit 2
            # --force: a log left by a run cut short is replaced, not kept beside.
            timeout -s KILL "$TIMEOUT" "$HEAPSPAN" run --force "${opts[@]}" -o "$name.hsl" -- "$@" \
                >"$name.out" 2>"$name.err"
            echo $? >"$name.rc"
            # A killed `heapspan run` leaves its manifest (the logs it wrote) in /tmp.
            if [ "$(cat "$name.rc")" = 137 ]; then
                grep -l -x -F "$CACHE/$name.hsl" /tmp/heapspan-manifest-* 2>/dev/null |
                    xargs -r rm -f
            fi
            if [ -f "$name.hsl" ]; then
                "$HEAPSPAN" report --format json "$name.hsl" >"$name.json" 2>"$name.rerr"
                echo $? >"$name.rrc"
            fi
        )
        touch "$CACHE/$name.done"
    fi
    rc=$(cat "$CACHE/$name.rc")
    if [ "$rc" = 137 ]; then
        fail "recording $*: expected it to end within ${TIMEOUT}s vs got killed at" \
            "${TIMEOUT}s (hung under the shim?)"
        return 1
    fi
    if [ "$rc" != 0 ]; then
        fail "recording $*: expected exit status 0 vs got $rc: $(tail -n 3 "$CACHE/$name.err")"
        return 1
    fi
    if [ ! -f "$CACHE/$name.hsl" ]; then
        fail "recording $*: expected a log $name.hsl vs got none: $(cat "$CACHE/$name.err")"
        return 1
    fi
    if [ "$(cat "$CACHE/$name.rrc")" != 0 ]; then
        fail "heapspan report $name.hsl: expected exit status 0 vs got" \
            "$(cat "$CACHE/$name.rrc"): $(cat "$CACHE/$name.rerr")"
        return 1
    fi
    cp "$CACHE/$name.hsl" "$CACHE/$name.json" "$T/"
}

# ---- known truth ----

t_c_leaks() {
    record known_c -- "$PROGS/known_c" || return
    check known_c.json <<'EOF'
def c():
    r = load("known_c.json")
    src = "known_c.c"
    check_site(r, src, "leak_plain", "plain", 7, 1000, 7)
    check_site(r, src, "leak_zeroed", "zeroed", 5, 333, 5)
    check_site(r, src, "leak_list", "head", 1, 48, 1)
    node = check_site(r, src, "list_node", "node", 4, 40, 4)
    expect("@node: caller", "leak_list", node[0]["stack"][1]["function"])
    check_site(r, src, "keep_reachable", "kept", 3, 2000, 3)
    check_site(r, src, "keep_inside", "inside", 1, 512, 1)
    churn = check_site(r, src, "churn", "churn", 100, 64, 0)
    expect("@churn: temporary_allocations", 100, site_sum(churn, "temporary_allocations"))
    grow = sites_at(r, "leak_grown", marker_line(src, "grow"))
    expect("@grow: leaked_bytes", 5000, site_sum(grow, "leaked_bytes"))
    expect("@grow: leaked_allocations", 1, site_sum(grow, "leaked_allocations"))
    expect("@grow: allocations (one per realloc)", 4, site_sum(grow, "allocations"))
    # Nothing but the program's own blocks: the totals are the table's.
    expect("totals.leaked_bytes", 20385, r["totals"]["leaked_bytes"])
    expect("totals.leaked_allocations", 22, r["totals"]["leaked_allocations"])
    expect("totals.lost_events", 0, r["totals"]["lost_events"])
    expect("log.ended", True, r["log"]["ended"])
    expect("log.truncated", False, r["log"]["truncated"])
    expect("warnings", [], r["warnings"])
run(c)
EOF
}

# valgrind's definitely + indirectly + possibly lost + still reachable, on the same
# binary without the shim, is what heapspan calls leaked.
# valgrind_check NAME TOTAL [VALGRIND OPTIONS]: NAME.json against valgrind's summary of
# $PROGS/NAME, and both against the TOTAL its source's table gives (- for none).
valgrind_check() {
    local name=$1 total=$2
    shift 2
    command -v valgrind >/dev/null || {
        fail "valgrind: expected it installed (apt-get install valgrind) vs got none"
        return
    }
    timeout -s KILL 120 valgrind --leak-check=full --show-leak-kinds=all "$@" \
        --log-file=valgrind.txt "$PROGS/$name" >/dev/null 2>&1
    check "$name" "$total" <<'EOF'
import re, sys
def c():
    name, total = sys.argv[1], sys.argv[2]
    r = load(f"{name}.json")
    text = open("valgrind.txt").read()
    kinds = {}
    for kind in ("definitely lost", "indirectly lost", "possibly lost", "still reachable",
                 "suppressed"):
        m = re.search(kind + r": ([0-9,]+) bytes in ([0-9,]+) blocks", text)
        kinds[kind] = tuple(int(x.replace(",", "")) for x in m.groups()) if m else (0, 0)
    if not any(kinds.values()) and "All heap blocks were freed" not in text:
        raise Fail(f"valgrind's LEAK SUMMARY: expected it in valgrind.txt vs got {text[-300:]!r}")
    four = ("definitely lost", "indirectly lost", "possibly lost", "still reachable")
    vg_bytes = sum(kinds[k][0] for k in four)
    vg_blocks = sum(kinds[k][1] for k in four)
    expect(f"leaked_bytes, against valgrind {kinds}", vg_bytes, r["totals"]["leaked_bytes"])
    expect(f"leaked_allocations, against valgrind {kinds}", vg_blocks,
           r["totals"]["leaked_allocations"])
    if total != "-":
        expect(f"valgrind's total, against {name}'s table", int(total), vg_bytes)
run(c)
EOF
}

t_c_valgrind() {
    record known_c -- "$PROGS/known_c" || return
    valgrind_check known_c 20385
}

# C++: libstdc++ allocates its emergency exception pool (72704 bytes with gcc 12) at
# startup and frees it only in __gnu_cxx::__freeres(), which valgrind calls at exit and
# a normal exit does not. It is live at exit; heapspan sets it apart as one of the C
# runtime's one-time allocations (not a leak), as valgrind's default, which frees it,
# does. With --no-builtin-suppressions heapspan counts it as leaked, and then agrees
# with valgrind --run-cxx-freeres=no, which sees the same process. (The pool's size
# depends on the libstdc++, hence no total from the table here; cxx_inline checks the
# program's.)
t_cxx_valgrind() {
    record known_cxx -- "$PROGS/known_cxx" || return
    valgrind_check known_cxx -
    "$HEAPSPAN" report --format json --no-builtin-suppressions known_cxx.hsl >known_cxx.json ||
        fail "report --no-builtin-suppressions known_cxx.hsl: expected exit status 0 vs got $?"
    valgrind_check known_cxx - --run-cxx-freeres=no
}

t_peak() {
    record known_peak -- "$PROGS/known_peak" || return
    check <<'EOF'
def c():
    r = load("known_peak.json")
    src = "known_peak.c"
    base = check_site(r, src, "alloc_base", "base", 3, 1000, 3)
    big = check_site(r, src, "alloc_big", "big", 10, 50000, 0)
    small = check_site(r, src, "alloc_small", "small", 4, 30000, 4)
    expect("totals.peak_live_bytes", 3000 + 500000, r["totals"]["peak_live_bytes"])
    expect("@big: peak_live_bytes", 500000, site_sum(big, "peak_live_bytes"))
    expect("@small: peak_live_bytes", 0, site_sum(small, "peak_live_bytes"))
    expect("@base: peak_live_bytes", 3000, site_sum(base, "peak_live_bytes"))
    expect("sum of the sites' peak_live_bytes", r["totals"]["peak_live_bytes"],
           site_sum(r["sites"], "peak_live_bytes"))
    expect("totals.leaked_bytes", 123000, r["totals"]["leaked_bytes"])
run(c)
EOF
}

t_temporary() {
    record known_temp -- "$PROGS/known_temp" || return
    check <<'EOF'
def c():
    r = load("known_temp.json")
    src = "known_temp.c"
    temp = check_site(r, src, "temporaries", "temp", 250, 24, 0)
    expect("@temp: temporary_allocations", 250, site_sum(temp, "temporary_allocations"))
    first = check_site(r, src, "alloc_first", "first", 41, 32, 0)
    expect("@first: temporary_allocations", 0, site_sum(first, "temporary_allocations"))
    last = check_site(r, src, "rolling", "last", 1, 48, 1)
    expect("@last: temporary_allocations", 0, site_sum(last, "temporary_allocations"))
    worker = check_site(r, src, "worker", "worker", 1, 777, 0)
    expect("@worker: temporary_allocations (the other thread's allocation does not count)",
           1, site_sum(worker, "temporary_allocations"))
    between = check_site(r, src, "other_thread", "between", 1, 555, 1)
    expect("@between: temporary_allocations", 0, site_sum(between, "temporary_allocations"))
    expect("totals.temporary_allocations", 251, r["totals"]["temporary_allocations"])
run(c)
EOF
}

# known_phases: phase one at once after start, phase two after a 1 s sleep.
window_check() {
    check "$@" <<'EOF'
import sys
def c():
    full, part, which, rc, err = sys.argv[1:6]
    expect(f"report {which}: exit status", "0", rc)
    r, w = load(full), load(part)
    src = "known_phases.c"
    check_site(r, src, "phase_one", "phase_one", 1000, 300, 1000)
    check_site(r, src, "phase_two", "phase_two", 700, 500, 700)
    keep, drop = (("phase_two", 700, 500), "phase_one") if which.startswith("--from") \
        else (("phase_one", 1000, 300), "phase_two")
    check_site(w, src, keep[0], keep[0], keep[1], keep[2], keep[1])
    expect(f"{which}: sites of {drop}", [], sites_at(w, drop))
    expect(f"{which}: totals.allocations", keep[1], w["totals"]["allocations"])
    expect(f"{which}: totals.allocated_bytes", keep[1] * keep[2],
           w["totals"]["allocated_bytes"])
    expect(f"{which}: warnings (the log is complete)", [], w["warnings"])
    expect(f"{which}: stderr (the log is complete)", "", open(err).read())
run(c)
EOF
}

t_window_from() {
    record known_phases -- "$PROGS/known_phases" || return
    "$HEAPSPAN" report --format json --from 0.5 known_phases.hsl >from.json 2>from.err
    window_check known_phases.json from.json "--from 0.5" $? from.err
}

t_window_to() {
    record known_phases -- "$PROGS/known_phases" || return
    "$HEAPSPAN" report --format json --to 0.5 known_phases.hsl >to.json 2>to.err
    window_check known_phases.json to.json "--to 0.5" $? to.err
}

# Sampled mode: each estimate within 5 sigma of the truth, sigma derived from the
# sampling law (known_sampled.c's header).
t_sampled() {
    record known_sampled --sample 65536 -- "$PROGS/known_sampled" || return
    check <<'EOF'
def c():
    r = load("known_sampled.json")
    R = 65536
    expect("log.sampled", True, r["log"]["sampled"])
    expect("log.sample_bytes", R, r["log"]["sample_bytes"])
    expect("log.estimates", True, r["log"]["estimates"])
    src = "known_sampled.c"
    tot = sampled_totals()
    # (function, marker, blocks, size, leaked)
    check_sampled_sites(r, src, R, [("churn", "churn", 200000, 512, False),
                                    ("leak_mid", "mid", 5000, 4096, True),
                                    ("leak_huge", "huge", 40, 1 << 20, True),
                                    ("hold", "hold", 20000, 4096, False)], tot)
    # @grow: a buffer's calls are not independent (once sampled, a growing block stays
    # sampled), but each call is recorded with probability p(new size) and weighted 1/p:
    # every sum is unbiased, and a buffer's variance is at most the square of the sum
    # of its calls' standard deviations (Cauchy-Schwarz), buffers being independent.
    at = sites_at(r, "grow", marker_line(src, "grow"))
    if not at:
        raise Fail(f"@grow: expected a site grow vs got "
                   f"{[(x['function'], x['line']) for x in r['sites']]}")
    sizes = [i << 10 for i in range(1, 65)]
    sd_calls = sum(math.sqrt(var_blocks(1, s, R)) for s in sizes)
    sd_bytes = sum(s * math.sqrt(var_blocks(1, s, R)) for s in sizes)
    n = 1000
    for key, mean, sd in (("allocations", n * 64, math.sqrt(n) * sd_calls),
                          ("allocated_bytes", n * sum(sizes), math.sqrt(n) * sd_bytes),
                          ("leaked_bytes", n * 65536, 65536 * math.sqrt(var_blocks(n, 65536, R))),
                          ("leaked_allocations", n, math.sqrt(var_blocks(n, 65536, R)))):
        within(f"@grow: {key}", mean, site_sum(at, key), 5 * sd)
        if key in tot:
            tot[key][0] += mean
            tot[key][1] += sd * sd
    check_sampled_totals(r, tot)
run(c)
EOF
}

# The same law for C++'s operators: each block recorded once, as new, and its bytes
# charged once to the sample countdown (known_sampled_cxx.cc's header).
t_sampled_cxx() {
    record known_sampled_cxx --sample 65536 -- "$PROGS/known_sampled_cxx" || return
    check <<'EOF'
def c():
    r = load("known_sampled_cxx.json")
    R = 65536
    expect("log.sample_bytes", R, r["log"]["sample_bytes"])
    tot = sampled_totals()
    check_sampled_sites(r, "known_sampled_cxx.cc", R,
                        [("churn", "churn", 200000, 512, False),
                         ("leak_mid", "mid", 5000, 4096, True),
                         ("leak_aligned", "aligned", 5000, 4096, True)], tot)
    check_sampled_totals(r, tot)
run(c)
EOF
}

t_cxx_inline() {
    record known_cxx -- "$PROGS/known_cxx" || return
    check <<'EOF'
def c():
    r = load("known_cxx.json")
    src = "known_cxx.cc"
    at = check_site(r, src, "make_widget", "inl_new", 25, 64, 25)
    for s in at:
        st = s["stack"]
        expect("@inl_new: frame 0", ("make_widget", marker_line(src, "inl_new"), True),
               (st[0]["function"], st[0]["line"], st[0]["inlined"]))
        expect("@inl_new: frame 1, the caller it was inlined into",
               ("fill", marker_line(src, "inl_call"), False),
               (st[1]["function"], st[1]["line"], st[1]["inlined"]))
        expect("@inl_new: the frames' module", st[0]["module"], st[1]["module"])
    check_site(r, src, "plain_new", "plain", 3, 1000, 3)
run(c)
EOF
}

# rust_check NAME MANGLING: leaky_function's leak, demangled, from a plain rustc build.
rust_check() {
    local name=$1 mangling=$2
    [ -x "$PROGS/$name" ] || {
        fail "$PROGS/$name: expected a program (tests/report.mk builds it with rustc) vs got none"
        return
    }
    nm "$PROGS/$name" >nm.txt 2>&1
    record "$name" -- "$PROGS/$name" || return
    check "$name" "$mangling" <<'EOF'
import re, sys
def c():
    name, mangling = sys.argv[1:3]
    syms = [l.split()[-1] for l in open("nm.txt") if "leaky_function" in l]
    legacy = [s for s in syms if re.fullmatch(r"_ZN.*17h[0-9a-f]{16}E", s)]
    v0 = [s for s in syms if s.startswith("_R")]
    expect(f"{name}: mangling of leaky_function's symbol {syms}", True,
           bool(legacy) if mangling == "legacy" else bool(v0))
    r = load(f"{name}.json")
    check_site(r, "known_rust.rs", "known_rust::leaky_function", "rust_alloc", 12, 3000, 12)
    bad = sorted({f["function"] for s in r["sites"] for f in s["stack"] if f["function"] and
                  (re.search(r"::h[0-9a-f]{16}$", f["function"]) or
                   re.match(r"_(ZN|R)[0-9A-Za-z_]", f["function"]) or
                   re.search(r"\[[0-9a-f]+\]::", f["function"]))})
    expect(f"{name}: frames still mangled, or with hashes", [], bad)
run(c)
EOF
}

t_rust_legacy() {
    rust_check known_rust legacy
}

t_rust_v0() {
    rust_check known_rust_v0 v0
}

# Box::new and std::alloc::alloc are Rust's `new`: the frames below them, in alloc and
# std, are allocator frames, never a site's function. A Vec's site may be its method.
t_rust_trim() {
    record known_rust -- "$PROGS/known_rust" || return
    check <<'EOF'
import re
ALLOCATOR = re.compile(r"^(__rust_|__rdl_|__rg_|alloc::alloc::|<alloc::alloc::Global[ >]|"
                       r"alloc::raw_vec::|<alloc::raw_vec::|malloc$)")
def c():
    r = load("known_rust.json")
    check_site(r, "known_rust.rs", "known_rust::boxed_function", "rust_box", 5, 640, 5)
    line = marker_line("known_rust.rs", "rust_vec")
    vec = [s for s in r["sites"] if any(f["function"] == "known_rust::vec_function" and
                                        f["line"] == line for f in s["stack"])]
    expect("@rust_vec: leaked_bytes of the sites under vec_function", 7 * 800,
           site_sum(vec, "leaked_bytes"))
    bad = sorted({(s["function"], s["file"], s["line"]) for s in r["sites"]
                  if ALLOCATOR.match(s["function"] or "")})
    expect("sites whose function is an allocator frame", [], bad)
run(c)
EOF
}

t_pyext() {
    [ -n "$PYTHON" ] || {
        fail "python3: expected an interpreter vs got none"
        return
    }
    record known_pyext -- "$PYTHON" "$PROGS/known_pyext.py" || return
    check <<'EOF'
def c():
    r = load("known_pyext.json")
    src = "known_pyext.c"
    check_site(r, src, "known_leak_malloc", "py_malloc", 9, 54321, 9)
    check_site(r, src, "known_leak_raw", "py_raw", 4, 43210, 4)
    churn = check_site(r, src, "known_churn", "py_churn", 30, 32109, 0)
    expect("@py_churn: temporary_allocations", 30, site_sum(churn, "temporary_allocations"))
run(c)
EOF
}

# bench/workloads/retain.c: 2,000,000 96-byte nodes, mostly zero, from three sites.
t_retain() {
    record retain -- "$PROGS/bench_retain" 2000000 || return
    check <<'EOF'
def c():
    r = load("retain.json")
    b = [x for x in r["bloated"] if x["size"] == 96]
    expect("bloated entries of size 96", 1, len(b))
    b = b[0]
    within("blocks_at_peak", 2000000, b["blocks_at_peak"], 20000)
    expect_true("zero_byte_share > 0.5", b["zero_byte_share"] > 0.5, b["zero_byte_share"])
    expect("functions of the sites", ["make_calloc", "make_malloc_init", "make_malloc_memset"],
           sorted(s["function"] for s in b["sites"]))
    node = [t for t in b["types"] if t["name"] == "node" and t["size"] == 96]
    expect_true("a type node of 96 bytes in bloated.types", node,
                [(t["name"], t["size"]) for t in b["types"]])
    leaked = sum(s["leaked_bytes"] for s in r["sites"] if s["function"] in
                 ("make_calloc", "make_malloc_memset", "make_malloc_init"))
    expect("leaked_bytes of the three sites (odd ids freed)", 1000000 * 96, leaked)
run(c)
EOF
}

# render_check FORMAT: the other formats render the same log, top site included.
render_check() {
    record known_c -- "$PROGS/known_c" || return
    "$HEAPSPAN" report --format "$1" known_c.hsl >out.txt 2>err.txt
    check "$1" $? <<'EOF'
import sys
def c():
    fmt, rc = sys.argv[1:3]
    expect(f"{fmt}: exit status", "0", rc)
    top = load("known_c.json")["sites"][0]
    text = open("out.txt").read()
    expect_true(f"{fmt}: non-empty", text.strip(), len(text))
    want = f"{top['function']} (known_c.c:{top['line']})"
    expect_true(f"{fmt}: contains the top site {want!r}", want in text, text[:300])
    expect(f"{fmt}: stderr", "", open("err.txt").read())
run(c)
EOF
}

t_render_text() {
    render_check text
}

t_render_markdown() {
    render_check markdown
}

# The sanitized analyzer on good logs: the same report, and no sanitizer report.
t_sanitized_report() {
    record known_c -- "$PROGS/known_c" || return
    record known_temp -- "$PROGS/known_temp" || return
    for log in known_c known_temp; do
        for fmt in json text markdown; do
            "$HEAPSPAN_ASAN" report --format $fmt $log.hsl >$log.san.$fmt 2>$log.san.$fmt.err
            echo $? >$log.san.$fmt.rc
        done
    done
    check <<'EOF'
def c():
    for log in ("known_c", "known_temp"):
        for fmt in ("json", "text", "markdown"):
            name = f"{log}.san.{fmt}"
            err = open(f"{name}.err").read()
            what = f"{log}, --format {fmt}"
            expect(f"{what}: exit status ({err[-300:]!r})", "0",
                   open(f"{name}.rc").read().strip())
            expect(f"{what}: sanitizer report", None, sanitizer_report(err))
        expect(f"{log}: totals, against the unsanitized analyzer's",
               load(f"{log}.json")["totals"], load(f"{log}.san.json")["totals"])
run(c)
EOF
}

# ---- bad input (HEAPSPAN_ASAN: no sanitizer report, no crash) ----

# bad_report FILE [ARGS]: the analyzer's report as JSON, status in rc.txt.
bad_report() {
    local f=$1
    shift
    "$HEAPSPAN_ASAN" report --format json "$@" "$f" >out.json 2>err.txt
    echo $? >rc.txt
}

bad_error_check() {
    check "$@" <<'EOF'
import sys
def c():
    what, path, offset, words = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    rc = int(open("rc.txt").read())
    err = open("err.txt").read()
    expect_true(f"{what}: no crash", rc < 128, f"exit status {rc}: {err[-500:]!r}")
    got = check_error(what, rc, err, path)
    expect(f"{what}: offset in the message", offset, got)
    for w in words:
        expect_true(f"{what}: message mentions {w!r}", w in err, err.strip())
    expect(f"{what}: sanitizer report", None, sanitizer_report(err))
run(c)
EOF
}

t_bad_empty() {
    : >empty.hsl
    bad_report empty.hsl
    bad_error_check "empty file" empty.hsl 0 empty
}

t_bad_random() {
    "$PYTHON" -c 'import random; random.seed(7); open("random.hsl", "wb").write(random.randbytes(4096))'
    bad_report random.hsl
    bad_error_check "random bytes" random.hsl 0 magic
}

# A valid header, then random bytes where the first chunk should be.
t_bad_random_chunks() {
    record known_c -- "$PROGS/known_c" || return
    "$PYTHON" -c 'import random; random.seed(8); h = open("known_c.hsl", "rb").read(64)
open("garbage.hsl", "wb").write(h + random.randbytes(4096))'
    bad_report garbage.hsl
    bad_error_check "random chunks" garbage.hsl 64 chunk
}

t_bad_version() {
    record known_c -- "$PROGS/known_c" || return
    local v
    v=$("$PYTHON" -c 'import struct; b = bytearray(open("known_c.hsl", "rb").read())
v = struct.unpack_from("<H", b, 8)[0] + 1; struct.pack_into("<H", b, 8, v)
open("newer.hsl", "wb").write(b); print(v)')
    bad_report newer.hsl
    bad_error_check "newer version" newer.hsl 8 "version $v"
}

# One payload byte flipped in an events chunk: the chunk is skipped, the report made of
# the rest (exit 0, valid JSON, under the sanitizers), and stderr says once which
# chunk, at which byte, and how many events it held; the allocations the report counts
# are the whole log's less those.
t_bad_checksum() {
    record known_c -- "$PROGS/known_c" || return
    "$HEAPSPAN_ASAN" report --format json known_c.hsl >whole.json 2>whole.err ||
        fail "the undamaged log: $(head -c 300 whole.err)"
    local off
    off=$(check <<'EOF'
def c():
    data, cs, _ = chunks("known_c.hsl")
    ev = [c for c in cs if c[3] == 1]
    expect_true("an event chunk in known_c.hsl", ev, cs)
    off, hsize, stored, _ = ev[0]
    b = bytearray(data)
    b[off + hsize + stored // 2] ^= 0x20
    open("flipped.hsl", "wb").write(b)
    print(off)
run(c)
EOF
    ) || {
        fail "$off"
        return
    }
    bad_report flipped.hsl
    check "$off" <<'EOF'
import json, re, struct, sys
def c():
    off = int(sys.argv[1])
    rc = int(open("rc.txt").read())
    err = open("err.txt").read()
    expect("flipped payload byte: exit status", 0, rc)
    expect("flipped payload byte: sanitizer report", None, sanitizer_report(err))
    lines = [l for l in err.splitlines() if "damaged chunk" in l]
    expect("flipped payload byte: one warning about it", 1, len(lines))
    if not lines:
        return
    m = re.search(r"skipped 1 damaged chunk \((\d+) bytes, (\d+) events?\) at byte (\d+): checksum mismatch", lines[0])
    expect_true("flipped payload byte: the warning's words", m, lines[0])
    if not m:
        return
    expect("flipped payload byte: the offset", off, int(m.group(3)))
    data = open("known_c.hsl", "rb").read()
    hsize, stored = struct.unpack_from("<HI", data, off + 6)
    nrec = struct.unpack_from("<I", data, off + 44)[0]
    expect("flipped payload byte: the bytes skipped", hsize + stored, int(m.group(1)))
    expect("flipped payload byte: the events it held", nrec, int(m.group(2)))
    whole = json.load(open("whole.json"))["totals"]["allocations"]
    got = json.load(open("out.json"))["totals"]["allocations"]
    expect_true("flipped payload byte: allocations of the rest", whole - nrec <= got < whole,
                f"{got} of {whole}, {nrec} events skipped")
run(c)
EOF
}

# Cut short at every chunk boundary and inside each chunk's header and payload: either
# exit 0 with the complete chunks before the cut and a warning, or exit 2 with a message
# naming the byte offset. known_temp: two threads, so two event streams.
t_bad_truncated() {
    record known_temp -- "$PROGS/known_temp" || return
    check <<'EOF'
import subprocess, os
def c():
    data, cs, trailer = chunks("known_temp.hsl")
    expect_true("chunks in known_temp.hsl", len(cs) >= 3, cs)
    ends = [off + h + s for off, h, s, _ in cs]
    cuts = {1, 7, 8, 11, 12, 40, 63}
    for off, h, s, _ in cs:
        cuts |= {off, off + 1, off + 4, off + h // 2, off + h - 1, off + h, off + h + 1,
                 off + h + s // 2, off + h + s - 1}
    if trailer is not None:
        cuts |= {trailer, trailer + 4, trailer + 8, trailer + 15}
    cuts = sorted(x for x in cuts if 0 < x < len(data))
    heapspan = os.environ["HEAPSPAN_ASAN"]
    full = load("known_temp.json")
    for cut in cuts:
        path = f"cut-{cut}.hsl"
        with open(path, "wb") as f:
            f.write(data[:cut])
        p = subprocess.run([heapspan, "report", "--format", "json", path],
                           capture_output=True, text=True)
        what = f"cut at byte {cut} of {len(data)}"
        expect_true(f"{what}: no crash", p.returncode < 128,
                    f"exit status {p.returncode}: {p.stderr[-500:]!r}")
        if cut < 64:
            check_error(what, p.returncode, p.stderr, path)
        else:
            expect(f"{what}: exit status ({p.stderr.strip()!r})", 0, p.returncode)
            r = json.loads(p.stdout)
            whole = [e for e in ends if e <= cut]
            # Read up to the cut: the chunks wholly before it, counted at a clean cut.
            if whole and whole[-1] < cut and f"cut-{whole[-1]}.hsl" in done:
                expect(f"{what}: totals.allocations, as cut at byte {whole[-1]}",
                       done[f"cut-{whole[-1]}.hsl"], r["totals"]["allocations"])
            done[path] = r["totals"]["allocations"]
            if len(whole) == len(cs):
                expect(f"{what}: totals.allocations", full["totals"]["allocations"],
                       r["totals"]["allocations"])
            expect_true(f"{what}: a warning that the log is cut short",
                        r["warnings"] and p.stderr.strip(), (r["warnings"], p.stderr))
            if any("no end record" in w for w in r["warnings"]):
                expect(f"{what}: log.ended, with the warning {r['warnings']}", False,
                       r["log"]["ended"])
        expect(f"{what}: sanitizer report", None, sanitizer_report(p.stderr))
        os.unlink(path)
done = {}
run(c)
EOF
}

# ---- what the report says of real programs: titles, debug info, words ----

# sqlite3's own allocator wrappers (sqlite3Malloc, and the stripped sqlite3MemMalloc
# under it) are kept in each stack but never a site's title; its modules without
# debug info are listed with their Debian package; the JSON report is smaller than
# the log (frames stored once).
t_sqlite_wrapper() {
    command -v sqlite3 >/dev/null || {
        fail "sqlite3: expected the Debian package (the Makefile's deps) vs got none"
        return
    }
    cat >work.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<200000)
INSERT INTO t SELECT x, printf('name-%d', x), x*1.5 FROM c;
CREATE INDEX ti ON t(name);
SELECT count(*), sum(val) FROM t WHERE name LIKE 'name-1%';
SQL
    "$HEAPSPAN" run -o sqlite.hsl -- sqlite3 :memory: <work.sql >run.out 2>&1 || {
        fail "heapspan run sqlite3: expected exit status 0 vs got $?: $(tail -n 3 run.out)"
        return
    }
    "$HEAPSPAN" report --format json sqlite.hsl >sqlite.json 2>report.err || {
        fail "report: expected exit status 0 vs got $?: $(cat report.err)"
        return
    }
    "$HEAPSPAN" report sqlite.hsl >sqlite.txt 2>>report.err || return
    check <<'EOF'
import os
def c():
    r = load("sqlite.json")
    sq = [s for s in r["sites"] if s["stack"][0]["module"].startswith("libsqlite3")]
    expect_true("sites allocating in libsqlite3", len(sq) > 50, len(sq))
    # The frames under which sqlite allocates (sqlite3MemMalloc, sqlite3Malloc, ...):
    # the innermost of every such site is a wrapper, and no title is one.
    inner = {(s["stack"][0]["function"], s["stack"][0]["module_offset"]): s["stack"][0]
             for s in sq}
    expect("innermost sqlite frames that are not wrappers", [],
           sorted((k[0], hex(k[1])) for k, f in inner.items() if f["kind"] != "wrapper"))
    bad = [(s["function"], s["module"]) for s in sq
           if s["stack"][s["title"]]["kind"] == "wrapper"]
    expect("sites titled by a wrapper", [], bad)
    expect("sites titled at their innermost frame", [],
           [(s["function"], s["module"]) for s in sq if s["title"] == 0])
    # Frames are stored once (schema 2): a site's stack holds indices into "frames".
    with open("sqlite.json") as f:
        raw = json.load(f)
    expect("site stacks that are not frame indices", [],
           [s["function"] for s in raw["sites"]
            if not all(isinstance(i, int) and 0 <= i < len(raw["frames"]) for i in s["stack"])])
    keys = [(f["function"], f["file"], f["line"], f["module"], f["module_offset"], f["inlined"])
            for f in r["frames"]]
    expect("frames listed twice", [], sorted({k for k in keys if keys.count(k) > 1}, key=str))
    lib = [d for d in r["missing_debuginfo"]
           if os.path.basename(d["path"]).startswith("libsqlite3")]
    have_dbg = any(d["build_id"] and os.path.exists(
        f"/usr/lib/debug/.build-id/{d['build_id'][:2]}/{d['build_id'][2:]}.debug") for d in lib)
    if not have_dbg:
        expect("libsqlite3 in the missing debug info", 1, len(lib))
        expect("its package", "libsqlite3-0", lib[0]["package"])
        expect_true("its fix names the -dbgsym package and debuginfod",
                    "libsqlite3-0-dbgsym" in lib[0]["fix"] and
                    "DEBUGINFOD_URLS" in lib[0]["fix"], lib[0]["fix"])
        txt = open("sqlite.txt").read()
        expect_true("the text report lists the missing debug info",
                    "MISSING DEBUG INFO" in txt and "libsqlite3-0-dbgsym" in txt, txt[-400:])
run(c)
EOF
}

# A stripped binary is named in the debug-info list, with its build-id; the same path
# rebuilt after the run is named as rebuilt.
t_stripped_debuginfo() {
    cat >prog.c <<'C'
#include <stdlib.h>
#include <string.h>
static void *volatile keep[64];
__attribute__((noinline)) static void fill(int n)
{
    for (int i = 0; i < n; i++) {
        keep[i] = malloc(100 + i);
        memset(keep[i], 1, 100);
    }
}
int main(void)
{
    fill(VERSION);
    return 0;
}
C
    gcc -O1 -g -DVERSION=10 -o app prog.c && strip app || {
        fail "gcc: expected a program vs got none"
        return
    }
    "$HEAPSPAN" run -o app.hsl -- ./app >run.out 2>&1 || {
        fail "heapspan run ./app: expected exit status 0 vs got $?: $(tail -n 3 run.out)"
        return
    }
    "$HEAPSPAN" report --format json app.hsl >stripped.json 2>report.err || return
    gcc -O1 -g -DVERSION=20 -o app prog.c || return
    "$HEAPSPAN" report --format json app.hsl >rebuilt.json 2>>report.err || return
    "$HEAPSPAN" report app.hsl >rebuilt.txt 2>>report.err || return
    readelf -n app >notes.txt
    check "$(realpath app)" <<'EOF'
import sys
def c():
    path = sys.argv[1]
    r = load("stripped.json")
    d = [x for x in r["missing_debuginfo"] if x["path"] == path]
    expect(f"{path} in the missing debug info", 1, len(d))
    expect("why", "no_debuginfo", d[0]["why"])
    expect_true("unnamed addresses", d[0]["unnamed"] >= 1, d[0]["unnamed"])
    expect_true("fix: build with -g", "build it with -g" in d[0]["fix"], d[0]["fix"])
    expect_true("a build-id of 40 hex digits", len(d[0]["build_id"] or "") == 40, d[0]["build_id"])
    r = load("rebuilt.json")
    d = [x for x in r["missing_debuginfo"] if x["path"] == path]
    expect(f"{path} rebuilt: in the list", 1, len(d))
    expect("why", "rebuilt", d[0]["why"])
    expect_true("its build-id is the run's, not the new file's",
                d[0]["build_id"] not in open("notes.txt").read(), d[0]["build_id"])
    expect_true("the text says rebuilt", "rebuilt since the run" in open("rebuilt.txt").read(), "")
run(c)
EOF
}

# `sleep 1.2` recorded 1.2 s (to its end record, not to its last allocation); a window
# past the end is an error that says where the log ends.
t_duration_window() {
    "$HEAPSPAN" run -o sleep.hsl -- sleep 1.2 >run.out 2>&1 || {
        fail "heapspan run sleep 1.2: expected exit status 0 vs got $?: $(tail -n 3 run.out)"
        return
    }
    "$HEAPSPAN" report --format json sleep.hsl >sleep.json 2>report.err || return
    "$HEAPSPAN" report sleep.hsl >sleep.txt 2>>report.err || return
    "$HEAPSPAN" report --from 100 sleep.hsl >from.out 2>from.err
    echo $? >from.rc
    check <<'EOF'
def c():
    r = load("sleep.json")
    within("duration_ns", 1.25e9, r["log"]["duration_ns"], 0.2e9)
    expect("leaks_known", True, r["totals"]["leaks_known"])
    head = open("sleep.txt").read().split("\n")[1]
    expect_true("text: 1.2 s recorded", "(pid " in head and " 1.2" in head, head)
    expect("--from 100: exit status", "2", open("from.rc").read().strip())
    err = open("from.err").read()
    expect_true("--from 100: says it is past the end", "past the end of the log" in err, err)
    expect("--from 100: no report", "", open("from.out").read())
run(c)
EOF
}

# A process killed (no end record): live at the end, never "leaked".
t_killed_live() {
    cat >hold.c <<'C'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
    for (int i = 0; i < 100; i++) {
        char *p = malloc(1000);
        memset(p, 1, 1000);
    }
    sleep(30);
    return 0;
}
C
    gcc -O1 -g -o hold hold.c || return
    "$HEAPSPAN" run -o hold.hsl -- ./hold >run.out 2>&1 &
    local pid=$! child=""
    for _ in $(seq 50); do
        child=$(pgrep -P "$pid" -x hold) && [ -s hold.hsl ] && break
        sleep 0.1
    done
    sleep 0.5
    [ -n "$child" ] && kill -KILL "$child"
    wait "$pid"
    "$HEAPSPAN" report --format json hold.hsl >hold.json 2>report.err || {
        fail "report: expected exit status 0 vs got $?: $(cat report.err)"
        return
    }
    "$HEAPSPAN" report hold.hsl >hold.txt 2>>report.err
    check <<'EOF'
def c():
    r = load("hold.json")
    expect("leaks_known", False, r["totals"]["leaks_known"])
    expect_true("100 blocks live", r["totals"]["leaked_allocations"] >= 100,
                r["totals"]["leaked_allocations"])
    t = open("hold.txt").read()
    expect_true("LIVE AT END, not LEAKS", "LIVE AT END:" in t and "\nLEAKS:" not in t, t[:600])
    expect("lines with 'leaked'", [], [l for l in t.split("\n") if "leaked" in l])
run(c)
EOF
}

# The demo service's four workers and its main thread, each with what it allocated;
# --focus and --ignore keep the sites pprof's would, with their totals.
t_views() {
    record demo -- "$PROGS/demo_service" || return
    "$HEAPSPAN" report --format json --focus 'cache_put' demo.hsl >focus.json 2>focus.err ||
        return
    "$HEAPSPAN" report --format json --ignore '^session_' --ignore 'cache_' demo.hsl \
        >ignore.json 2>ignore.err || return
    "$HEAPSPAN" report --focus '(' demo.hsl >bad.out 2>bad.err
    echo $? >bad.rc
    # The same options on flame, export and diff (cli/opts.h's site options).
    "$HEAPSPAN" export --metric allocations --focus cache_put --folded fa.txt demo.hsl \
        2>fa.err || return
    "$HEAPSPAN" export --focus cache_put --folded fp.txt demo.hsl 2>fp.err || return
    "$HEAPSPAN" export --metric allocations --folded all.txt demo.hsl 2>all.err || return
    "$HEAPSPAN" export --metric allocations --ignore cache_put --alloc-fn session_open \
        --no-wrapper-detection --folded fi.txt demo.hsl 2>fi.err || return
    "$HEAPSPAN" flame --focus cache_put -o focus.svg demo.hsl 2>flame.err || return
    "$HEAPSPAN" diff --format json --focus cache_put --base-at time:0 demo.hsl demo.hsl \
        >diff.json 2>diff.err || return
    for cmd in "flame -o x.svg" "export --folded x.txt" diff; do
        # shellcheck disable=SC2086 # the command and its options, split
        "$HEAPSPAN" $cmd --ignore '(' demo.hsl $([[ $cmd == diff ]] && echo demo.hsl) \
            >/dev/null 2>>bad-cmds.err
        echo $? >>bad-cmds.rc
    done
    check "$SRC" <<'EOF'
import re, sys
def c():
    src = open(sys.argv[1] + "/demo_service.c").read()
    n_threads = int(re.search(r"#define N_THREADS\s+(\d+)", src).group(1))
    r = load("demo.json")
    th = r["threads"]
    expect("threads: the workers and main", n_threads + 1, len(th))
    expect("threads' allocations sum to the total", r["totals"]["allocations"],
           sum(t["allocations"] for t in th))
    expect("threads' frees sum to the total", r["totals"]["frees"], sum(t["frees"] for t in th))
    expect("threads' bytes sum to the total", r["totals"]["allocated_bytes"],
           sum(t["allocated_bytes"] for t in th))
    workers = th[:n_threads]
    expect("the workers made the same calls", 1, len({t["allocations"] for t in workers}))
    expect_true("main allocated least", th[-1]["allocations"] < workers[0]["allocations"], th)
    mods = {m["module"]: m for m in r["modules"]}
    expect_true("the program's module holds most at the peak",
                r["modules"][0]["module"] == "demo_service", [m["module"] for m in r["modules"]])
    expect("modules' peak shares sum to the total", r["totals"]["peak_live_bytes"],
           sum(m["peak_live_bytes"] for m in r["modules"]))
    f = load("focus.json")
    expect_true("focus: kept sites", f["log"]["filtered"]["sites_kept"] >= 1, f["log"])
    expect("focus: every site has cache_put in its stack", [],
           [s["function"] for s in f["sites"]
            if not any(x["function"] == "cache_put" for x in s["stack"])])
    want = sum(s["allocations"] for s in r["sites"]
               if any(x["function"] == "cache_put" for x in s["stack"]))
    expect("focus: totals are the kept sites'", want, f["totals"]["allocations"])
    g = load("ignore.json")
    expect("ignore: no site with session_* or cache_*", [],
           [s["function"] for s in g["sites"] if any(
               x["function"] and (x["function"].startswith("session_") or "cache_" in x["function"])
               for x in s["stack"])])
    # flame, export, diff: 4 workers x 20000 requests, each key 10 times: 8000 192-byte
    # cache entries, all live at the peak (demo_service.c)
    n_workers, n_req = n_threads, int(re.search(r"#define N_REQUESTS\s+(\d+)", src).group(1))
    repeats = int(re.search(r"#define REPEATS\s+(\d+)", src).group(1))
    n_cache = n_workers * n_req // repeats
    def folded(path):
        rows = [l.rsplit(" ", 1) for l in open(path).read().splitlines()]
        return [(st.split(";"), int(v)) for st, v in rows]
    fa = folded("fa.txt")
    expect("export --focus: only stacks through cache_put", [],
           [st for st, v in fa if "cache_put" not in st])
    expect("export --focus: cache_put's calls", n_cache, sum(v for st, v in fa))
    # All 8000 entries are live at the end; the peak may come a few entries before the
    # last (workers' temporaries in flight then can outweigh them), so the bytes at the
    # peak are checked against the report's own figure for the focused sites.
    expect("report --focus: cache_put's bytes live at the end", n_cache * 192,
           sum(s["leaked_bytes"] for s in f["sites"]))
    peak_focus = sum(s["peak_live_bytes"] for s in f["sites"])
    expect_true("report --focus: cache_put's bytes at the peak, at most all entries",
                0 < peak_focus <= n_cache * 192, peak_focus)
    expect("export --focus: cache_put's bytes at the peak, as the report's", peak_focus,
           sum(v for st, v in folded("fp.txt")))
    fi, al = folded("fi.txt"), folded("all.txt")
    expect("export --ignore: no stack through cache_put", [],
           [st for st, v in fi if "cache_put" in st])
    expect("export --ignore: the rest's calls", sum(v for st, v in al) - n_cache,
           sum(v for st, v in fi))
    svg = open("focus.svg").read()
    expect_true("flame --focus: cache_put drawn", "cache_put" in svg, "")
    expect_true("flame --focus: session_open not drawn", "session_open" not in svg, "")
    d = load("diff.json")
    expect("diff --focus: no site at time 0, one at the end", [0, 1],
           [d["base"]["sites"], d["new"]["sites"]])
    expect("diff --focus: cache_put's calls", n_cache, d["totals"]["allocations"]["new"])
    expect("diff --focus: cache_put's bytes at the peak, as the report's", peak_focus,
           d["totals"]["peak"]["new"])
    expect("flame, export, diff: a bad pattern's exit status", ["2", "2", "2"],
           open("bad-cmds.rc").read().split())
    errs = open("bad-cmds.err").read()
    expect("flame, export, diff: the option named", 3, errs.count("--ignore (: not a regular"))
    expect("a bad pattern: exit status", "2", open("bad.rc").read().strip())
    expect_true("a bad pattern: the option named", "--focus (" in open("bad.err").read(),
                open("bad.err").read())
run(c)
EOF
}

# A shell and the programs it runs: one report over their logs, as a tree.
t_process_tree() {
    "$HEAPSPAN" run -o tree.hsl -- sh -c 'ls / >/dev/null; echo x | sort >/dev/null' \
        >run.out 2>&1 || {
        fail "heapspan run sh: expected exit status 0 vs got $?: $(tail -n 3 run.out)"
        return
    }
    local logs=(tree*.hsl)
    "$HEAPSPAN" report --format json "${logs[@]}" >tree.json 2>tree.err || {
        fail "report ${logs[*]}: expected exit status 0 vs got $?: $(cat tree.err)"
        return
    }
    for l in "${logs[@]}"; do
        "$HEAPSPAN" report --format json "$l" >"$l.json" 2>/dev/null || return
    done
    "$HEAPSPAN" report "${logs[@]}" >tree.txt 2>>tree.err || return
    check "${logs[@]}" <<'EOF'
import sys
def c():
    logs = sys.argv[1:]
    r = load("tree.json")
    p = r["processes"]
    expect("processes", len(logs), len(p))
    expect("the root first, at depth 0", 0, p[0]["depth"])
    root = p[0]["pid"]
    kids = [x for x in p if x["depth"] == 1]
    expect_true("children of the shell at depth 1", kids and all(x["ppid"] == root for x in kids),
                [(x["pid"], x["ppid"], x["depth"]) for x in p])
    each = [load(l + ".json") for l in logs]
    expect("allocations: the sum of each log's", sum(e["totals"]["allocations"] for e in each),
           r["totals"]["allocations"])
    expect("sites: every log's", sum(len(e["sites"]) for e in each), len(r["sites"]))
    expect_true("the text shows the tree", "processes: %d logs of one run" % len(logs)
                in open("tree.txt").read(), open("tree.txt").read()[:400])
run(c)
EOF
}

# ---- the runner ----

TESTS="c_leaks c_valgrind cxx_valgrind peak temporary window_from window_to sampled sampled_cxx cxx_inline
       rust_legacy rust_v0 rust_trim pyext retain render_text render_markdown sanitized_report
       sqlite_wrapper stripped_debuginfo duration_window killed_live views process_tree
       bad_empty bad_random bad_random_chunks bad_version bad_checksum bad_truncated"

usage() {
    echo "usage: $0 [--list] [--keep] [TEST...]" >&2
    # shellcheck disable=SC2086 # the names on one line
    echo "tests:" $TESTS >&2
    exit 2
}

KEEP=0
patterns=()
for a in "$@"; do
    case $a in
    --list)
        # shellcheck disable=SC2086 # one name per line
        printf '%s\n' $TESTS
        exit 0
        ;;
    --keep) KEEP=1 ;;
    -*) usage ;;
    *) patterns+=("$a") ;;
    esac
done
selected=()
for t in $TESTS; do
    ((${#patterns[@]})) || selected+=("$t")
    for pat in "${patterns[@]}"; do
        # shellcheck disable=SC2254 # a pattern on purpose
        case $t in $pat)
            selected+=("$t")
            break
            ;;
        esac
    done
done
for pat in "${patterns[@]}"; do
    match=0
    for t in $TESTS; do
        # shellcheck disable=SC2254
        case $t in $pat) match=1 ;; esac
    done
    ((match)) || {
        echo "$0: no test named '$pat'" >&2
        usage
    }
done

for f in "$HEAPSPAN" "$SHIM"; do
    [ -f "$f" ] || {
        echo "$0: $f is missing: run make first" >&2
        exit 2
    }
done
[ -d "$PROGS" ] || {
    echo "$0: $PROGS is missing: run make test-report-progs first" >&2
    exit 2
}

ulimit -c 0
pass=0
failed=0
for t in "${selected[@]}"; do
    T=$RUN/$t
    mkdir -p "$T"
    export T
    msg=$(cd "$T" && "t_$t" 2>&1)
    rc=$?
    if [ $rc = 0 ]; then
        echo "PASS $t"
        pass=$((pass + 1))
        ((KEEP)) || rm -rf "$T"
    else
        [ -n "$msg" ] || msg="the test exited with status $rc"
        echo "FAIL $t: $(printf '%s' "$msg" | tail -n 1) [files: $T]"
        failed=$((failed + 1))
    fi
done
echo "$pass passed, $failed failed"
[ $failed = 0 ]
