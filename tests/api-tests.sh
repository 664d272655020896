#!/bin/bash
# api-tests.sh - allocators the shim cannot see: include/heapspan.h (a pool allocator
# with resets, a pointer reported twice, sampled mode), the Rust crate (its own tests
# with cargo, offline; a program with an allocator of its own, bare and wrapped in
# Tracked), the report's warning about allocators compiled in, and `heapspan run` on a
# static program. Each test checks exact figures from `heapspan report --format json`
# and `heapspan dump --summary` (python3's json module) and prints `PASS name` or
# `FAIL name: what: expected X vs got Y [files: DIR]`; the last line is
# `N passed, N failed`.
#
#   tests/api-tests.sh [--list] [--keep] [TEST...]
#
# TEST is a name or a shell pattern; none means all. Exits 1 if a test failed, 2 on a
# usage error or when the tools or programs are missing (tests/api.mk builds them).
#
# Environment (defaults for a run from the top directory):
#   HEAPSPAN  build/heapspan      SHIM   build/libheapspan.so
#   PROGS     build/tests/progs   CARGO  cargo (its home and target go under build/)
#   API_TESTS_TIMEOUT  seconds a recorded program may run (default 30)
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
HEAPSPAN=$(abs "${HEAPSPAN:-build/heapspan}")
SHIM=$(abs "${SHIM:-build/libheapspan.so}")
PROGS=$(abs "${PROGS:-build/tests/progs}")
BUILD_DIR=$(dirname "$(dirname "$PROGS")")
CARGO=${CARGO:-cargo}
SRC=$TOP/tests/progs
TIMEOUT=${API_TESTS_TIMEOUT:-30}
PYTHON=$(command -v python3)
export HEAPSPAN SHIM PROGS SRC TOP
export HEAPSPAN_SHIM=$SHIM
unset LD_PRELOAD DEBUGINFOD_URLS

RUN=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-api.XXXXXX") || exit 2
WORK=$RUN/.shared
mkdir -p "$WORK"
trap 'rm -rf "$WORK"; rmdir "$RUN" 2>/dev/null' EXIT

cat >"$WORK/at.py" <<'EOF'
"""Helpers for the checks in api-tests.sh: a check raises Fail("what: expected X vs got
Y"); run() prints it and exits 1."""
import json
import math
import os
import re
import sys


class Fail(Exception):
    pass


def expect(what, expected, got):
    if expected != got:
        raise Fail(f"{what}: expected {expected!r} vs got {got!r}")


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


def summary(path):
    """`heapspan dump --summary` as a dict of ints (where they are)."""
    out = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        out[k] = int(v) if re.fullmatch(r"-?[0-9]+", v) else v
    return out


def marker_line(src, name):
    path = os.path.join(os.environ["SRC"], src)
    pat = re.compile(r"(/\*|//) @" + re.escape(name) + r"( \*/|$)")
    lines = [i for i, t in enumerate(open(path), 1) if pat.search(t.rstrip("\n"))]
    if len(lines) != 1:
        raise Fail(f"marker @{name} in {src}: expected 1 line vs got {lines}")
    return lines[0]


def check_site(rep, src, function, marker, blocks, size, leaked_blocks, frees=None):
    """The sites whose innermost frame is function at the marker's line: counts and
    bytes exact, the file the source's."""
    line = marker_line(src, marker)
    at = [s for s in rep["sites"] if s["function"] == function and s["line"] == line]
    if not at:
        near = [(s["function"], s["line"]) for s in rep["sites"]]
        raise Fail(f"@{marker}: expected a site {function} at {src}:{line} vs got {near}")
    for s in at:
        expect(f"@{marker}: file", os.path.realpath(os.path.join(os.environ["SRC"], src)),
               os.path.realpath(s["file"] or ""))
    tot = lambda k: sum(s[k] for s in at)
    expect(f"@{marker}: allocations", blocks, tot("allocations"))
    expect(f"@{marker}: allocated_bytes", blocks * size, tot("allocated_bytes"))
    expect(f"@{marker}: leaked_allocations", leaked_blocks, tot("leaked_allocations"))
    expect(f"@{marker}: leaked_bytes", leaked_blocks * size, tot("leaked_bytes"))
    if frees is not None:
        expect(f"@{marker}: frees", frees, tot("frees"))


def run(check):
    try:
        check()
    except Fail as e:
        print(e)
        sys.exit(1)
    except Exception as e:
        import traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"the check itself failed at line {where.lineno}: {type(e).__name__}: {e}")
        sys.exit(1)
EOF

check() {
    { echo 'from at import *'; cat; } >"$T/check.py"
    PYTHONPATH=$WORK "$PYTHON" "$T/check.py" "$@"
}

fail() {
    printf '%s\n' "$*" | tr '\n' ' ' | sed 's/ *$//'
    echo
    return 1
}

need() {
    [ -x "$PROGS/$1" ] || fail "$PROGS/$1: expected a program (tests/api.mk builds it) vs got none"
}

# record NAME [OPTIONS] -- PROG ARGS: runs PROG under `heapspan run` in $T, then writes
# NAME.json (report), NAME.txt (text report), NAME.md (markdown), NAME.sum (dump
# --summary) and NAME.out (the program's stdout).
record() {
    local name=$1 rc
    shift
    local opts=()
    while [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    shift
    timeout -s KILL "$TIMEOUT" "$HEAPSPAN" run "${opts[@]}" -o "$name.hsl" -- "$@" \
        >"$name.out" 2>"$name.err"
    rc=$?
    [ $rc = 0 ] || {
        fail "recording $*: expected exit status 0 vs got $rc: $(tail -n 3 "$name.err")"
        return 1
    }
    [ -f "$name.hsl" ] || {
        fail "recording $*: expected a log vs got none: $(cat "$name.err")"
        return 1
    }
    "$HEAPSPAN" report --format json "$name.hsl" >"$name.json" 2>"$name.rerr" &&
        "$HEAPSPAN" report "$name.hsl" >"$name.txt" 2>>"$name.rerr" &&
        "$HEAPSPAN" report --format markdown "$name.hsl" >"$name.md" 2>>"$name.rerr" &&
        "$HEAPSPAN" dump --summary "$name.hsl" >"$name.sum" 2>>"$name.rerr" || {
        fail "heapspan report/dump $name.hsl: expected exit status 0 vs got $?: $(cat "$name.rerr")"
        return 1
    }
}

# The program's output, bare: it must be what it printed under the shim.
same_output() {
    local name=$1
    shift
    "$@" >"$name.bare" 2>/dev/null || {
        fail "$* without the shim: expected exit status 0 vs got $?"
        return 1
    }
    cmp -s "$name.bare" "$name.out" || fail "$name: expected the same output with and" \
        "without the shim vs got '$(cat "$name.bare")' and '$(cat "$name.out")'"
}

# ---- include/heapspan.h ----

# tests/progs/api_pool.c: a pool allocator with resets, blocks outside any pool, its
# chunks from malloc inside heapspan_ignore_begin/end. Every figure by construction.
t_api_pool() {
    need api_pool || return
    record api_pool -- "$PROGS/api_pool" || return
    same_output api_pool "$PROGS/api_pool" || return
    check <<'EOF'
def c():
    r = load("api_pool.json")
    t = r["totals"]
    for k, v in (("allocations", 325), ("frees", 303), ("allocated_bytes", 28284),
                 ("peak_live_bytes", 13784), ("leaked_bytes", 3248),
                 ("leaked_allocations", 22), ("unknown_frees", 0), ("lost_events", 0),
                 ("api_allocations", 323)):
        expect(f"totals.{k}", v, t[k])
    src = "api_pool.c"
    check_site(r, src, "fill_cache", "api_cache", 20, 100, 19, frees=1)
    check_site(r, src, "grow_cache_entry", "api_grow", 1, 300, 1)
    check_site(r, src, "plain_leak", "api_plain", 1, 512, 1)
    check_site(r, src, "handle_request", "api_request", 300, 48, 0, frees=300)
    check_site(r, src, "big_buffer", "api_big", 1, 10000, 0)
    check_site(r, src, "pool_new", "pool_struct", 2, 536, 1)
    pools = {p["name"]: p for p in r["pools"]}
    expect("pool names", ["cache", "request"], sorted(pools))
    expect("pool request", dict(pools=1, resets=4, allocations=300, allocated_bytes=14400,
                                frees=30, reset_frees=270, peak_live_bytes=4800,
                                leaked_bytes=0, leaked_allocations=0),
           {k: v for k, v in pools["request"].items() if k != "name"})
    expect("pool cache", dict(pools=1, resets=0, allocations=21, allocated_bytes=2300,
                              frees=1, reset_frees=0, peak_live_bytes=2200,
                              leaked_bytes=2200, leaked_allocations=20),
           {k: v for k, v in pools["cache"].items() if k != "name"})
    expect("unseen_allocators", None, r.get("unseen_allocators"))
    s = summary("api_pool.sum")
    for k, v in (("allocations", 325), ("frees", 303), ("unknown_frees", 0),
                 ("allocated_bytes", 28284), ("live_blocks", 22), ("live_bytes", 3248),
                 ("peak_live_bytes", 13784)):
        expect(f"dump --summary {k}", v, s[k])
    txt = open("api_pool.txt").read()
    expect("the text report's pools section", True, "POOLS:" in txt and "request" in txt)
    expect("the markdown report's pools table", True, "## Pools" in open("api_pool.md").read())
run(c)
EOF
}

# The same program sampled by bytes, with many rounds: a reset takes the pool's sampled
# blocks out of the shim's sampled set (else their addresses, handed out again by the
# pool, would make frees of blocks the log no longer has), and estimates stay unbiased.
t_api_pool_sampled() {
    need api_pool || return
    record api_sampled --sample 4096 -- "$PROGS/api_pool" 400 || return
    check <<'EOF'
def c():
    r = load("api_sampled.json")
    t = r["totals"]
    expect("totals.unknown_frees", 0, t["unknown_frees"])
    pools = {p["name"]: p for p in r["pools"]}
    expect("request pool: leaked_bytes", 0, pools["request"]["leaked_bytes"])
    R = 4096.0
    def var(n, s):
        p = -math.expm1(-s / R)
        return n * (1 - p) / p
    # 400 rounds of 100 blocks of 48 bytes: allocations and bytes within 5 sigma
    n = 40000
    within("request pool: allocations", n, pools["request"]["allocations"],
           5 * math.sqrt(var(n, 48)))
    within("request pool: allocated_bytes", n * 48, pools["request"]["allocated_bytes"],
           5 * 48 * math.sqrt(var(n, 48)))
    within("totals.leaked_bytes", 3248, t["leaked_bytes"],
           5 * math.sqrt(19 * 100**2 * var(1, 100) + 300**2 * var(1, 300) +
                         512**2 * var(1, 512) + 536**2 * var(1, 536)) + 1)
run(c)
EOF
}

# tests/progs/api_twice.c: a pointer malloc returned, reported again: one address, one
# block (live and leaked bytes count it once), and bracketed, counted once in all.
t_api_reported_twice() {
    need api_twice || return
    record api_twice -- "$PROGS/api_twice" || return
    same_output api_twice "$PROGS/api_twice" || return
    check <<'EOF'
def c():
    r = load("api_twice.json")
    t = r["totals"]
    for k, v in (("allocations", 5), ("frees", 3), ("leaked_bytes", 500),
                 ("leaked_allocations", 2), ("unknown_frees", 1), ("api_allocations", 3)):
        expect(f"totals.{k}", v, t[k])
    src = "api_twice.c"
    check_site(r, src, "unbracketed", "twice_malloc", 1, 100, 0, frees=1)
    check_site(r, src, "unbracketed", "twice_api", 1, 100, 0, frees=1)
    check_site(r, src, "unbracketed", "twice_malloc_leak", 1, 200, 0, frees=1)
    check_site(r, src, "unbracketed", "twice_api_leak", 1, 200, 1)
    check_site(r, src, "bracketed", "twice_bracketed", 1, 300, 1)
    expect("sites", 5, len(r["sites"]))
run(c)
EOF
}

# tests/progs/api_bracket.c: blocks taken from malloc inside ignore brackets and
# reported, as Tracked<System> does: once in every figure, and sampled at the rate the
# weights assume (the countdown malloc's hook ran down inside the brackets is given
# back; without that the estimates came out twice the truth).
t_api_bracket() {
    need api_bracket || return
    record bracket -- "$PROGS/api_bracket" || return
    record bracket_sampled --sample 4096 -- "$PROGS/api_bracket" || return
    check <<'EOF'
def c():
    r = load("bracket.json")
    t = r["totals"]
    for k, v in (("allocations", 20000), ("frees", 19900), ("leaked_bytes", 25600),
                 ("leaked_allocations", 100), ("unknown_frees", 0), ("api_allocations", 20000)):
        expect(f"totals.{k}", v, t[k])
    check_site(r, "api_bracket.c", "main", "bracket_block", 20000, 256, 100, frees=19900)
    r = load("bracket_sampled.json")
    t = r["totals"]
    R, s, n = 4096.0, 256, 20000
    p = -math.expm1(-s / R)
    sd = math.sqrt(n * (1 - p) / p)
    within("sampled: totals.allocations", n, t["allocations"], 5 * sd)
    within("sampled: totals.allocated_bytes", n * s, t["allocated_bytes"], 5 * s * sd)
    within("sampled: totals.leaked_bytes", 100 * s, t["leaked_bytes"],
           5 * s * math.sqrt(100 * (1 - p) / p))
    expect("sampled: totals.unknown_frees", 0, t["unknown_frees"])
run(c)
EOF
}

# ---- the Rust crate ----

# Its own tests and doc test, offline; CARGO_HOME and the target under build/.
t_rust_crate() {
    command -v "$CARGO" >/dev/null 2>&1 || {
        fail "cargo: expected it on PATH (or CARGO=) vs got none"
        return
    }
    CARGO_HOME=$BUILD_DIR/cargo-home CARGO_TARGET_DIR=$BUILD_DIR/rust/target \
        "$CARGO" test --offline --quiet \
        --manifest-path "$TOP/bindings/rust/heapspan-alloc/Cargo.toml" >cargo.out 2>&1 || {
        fail "cargo test: expected success vs got: $(grep -E 'error|FAILED|panicked' cargo.out | head -n 3)"
        return
    }
}

# tests/progs/rust_bump.rs, its allocator bare: the shim sees next to nothing, and every
# report says why first.
t_rust_unseen() {
    need rust_bump || return
    record rust_bump -- "$PROGS/rust_bump" || return
    same_output rust_bump "$PROGS/rust_bump" || return
    check <<'EOF'
def c():
    r = load("rust_bump.json")
    u = r.get("unseen_allocators")
    expect("unseen_allocators", [("a Rust #[global_allocator]", "__rust_alloc", "rust_bump")],
           [(x["allocator"], x["symbol"], x["module"]) for x in u or []])
    expect("the advice names the wrapper", True, "heapspan_alloc::Tracked" in u[0]["advice"])
    expect("the warning comes before the totals", True,
           list(r).index("unseen_allocators") < list(r).index("totals"))
    txt = open("rust_bump.txt").read()
    w = txt.find("WARNING: most allocations are missing")
    expect("the text report's warning, before its totals", True, 0 <= w < txt.find("TOTALS"))
    expect("the warning names the allocator", True, "a Rust #[global_allocator]" in txt[w:])
    md = open("rust_bump.md").read()
    expect("the markdown report's warning, first", True,
           0 <= md.find("**Warning") < md.find("| allocations"))
    expect("totals.allocations (glibc's own, a few)", True, r["totals"]["allocations"] < 100)
run(c)
EOF
}

# The same program with its allocator wrapped in heapspan_alloc::Tracked: each leak
# exact, at its function and line, demangled; no warning; the same output.
t_rust_tracked() {
    need rust_bump_tracked || return
    record rust_tracked -- "$PROGS/rust_bump_tracked" || return
    same_output rust_tracked "$PROGS/rust_bump_tracked" || return
    cmp -s rust_tracked.out <("$PROGS/rust_bump" 2>/dev/null) ||
        fail "rust_bump_tracked: expected the output of rust_bump vs got $(cat rust_tracked.out)" ||
        return
    check <<'EOF'
def c():
    r = load("rust_tracked.json")
    expect("unseen_allocators", None, r.get("unseen_allocators"))
    src = "rust_bump.rs"
    check_site(r, src, "rust_bump::leaky_vecs", "rust_bump_vec", 25, 3000, 25)
    check_site(r, src, "rust_bump::leaky_boxes", "rust_bump_box", 40, 96, 40)
    t = r["totals"]
    expect("totals: the churn's 20,000 blocks are there", True, t["api_allocations"] >= 20000)
    bad = sorted({f["function"] for s in r["sites"] for f in s["stack"][:1]
                  if f["function"] and ("heapspan" in f["function"] or
                                        f["function"].startswith("__rustc::"))})
    expect("sites whose function is the wrapper's or rustc's allocator shim", [], bad)
run(c)
EOF
}

# ---- allocators compiled in, and static programs ----

# tests/progs/fake_allocs.c defines tikv-jemallocator's, mimalloc's, tcmalloc's and
# prefixed jemalloc's entry points, and mallocx: all five named.
t_detect_compiled_in() {
    need fake_allocs || return
    record fake_allocs -- "$PROGS/fake_allocs" || return
    check <<'EOF'
def c():
    r = load("fake_allocs.json")
    got = [(x["allocator"], x["symbol"], x["module"]) for x in r.get("unseen_allocators") or []]
    expect("unseen_allocators", [
        ("jemalloc (tikv-jemallocator)", "_rjem_malloc", "fake_allocs"),
        ("mimalloc", "mi_malloc", "fake_allocs"),
        ("tcmalloc", "tc_malloc", "fake_allocs"),
        ("jemalloc (built with the je_ prefix)", "je_malloc", "fake_allocs"),
        ("jemalloc, linked into the program", "mallocx", "fake_allocs")], got)
    expect("advice for C", True, all("include/heapspan.h" in x["advice"]
                                     for x in r["unseen_allocators"]))
run(c)
EOF
}

# tests/progs/own_malloc.c: an executable that defines malloc, ahead of the shim.
t_detect_own_malloc() {
    need own_malloc || return
    record own_malloc -- "$PROGS/own_malloc" || return
    check <<'EOF'
def c():
    r = load("own_malloc.json")
    got = [(x["allocator"], x["symbol"]) for x in r.get("unseen_allocators") or []]
    expect("unseen_allocators", [("the program's own malloc", "malloc")], got)
run(c)
EOF
}

# No warning when the program reports through the API, or without symbols.
t_detect_quiet() {
    need api_pool || return
    record quiet -- "$PROGS/api_pool" || return
    need rust_bump || return
    record nosym -- "$PROGS/rust_bump" || return
    "$HEAPSPAN" report --no-symbols --format json nosym.hsl >nosym-nosym.json || {
        fail "report --no-symbols: expected exit status 0 vs got $?"
        return
    }
    check <<'EOF'
def c():
    expect("a program that reports through the API: unseen_allocators", None,
           load("quiet.json").get("unseen_allocators"))
    expect("--no-symbols reads no module: unseen_allocators", None,
           load("nosym-nosym.json").get("unseen_allocators"))
run(c)
EOF
}

# `heapspan run` refuses a static program before it starts, and runs it with --force.
t_run_static() {
    need static_prog || return
    "$HEAPSPAN" run -o st.hsl -- "$PROGS/static_prog" >st.out 2>st.err
    local rc=$?
    [ $rc = 2 ] || {
        fail "run static_prog: expected exit status 2 vs got $rc"
        return
    }
    [ ! -s st.out ] || {
        fail "run static_prog: expected the program not started vs got output $(cat st.out)"
        return
    }
    grep -q "^heapspan run: .*static_prog is statically linked: .*--force" st.err || {
        fail "run static_prog: expected 'heapspan run: ... is statically linked ... --force' vs" \
            "got $(cat st.err)"
        return
    }
    [ "$(wc -l <st.err)" = 1 ] || {
        fail "run static_prog: expected one message vs got $(cat st.err)"
        return
    }
    "$HEAPSPAN" run --force -o st.hsl -- "$PROGS/static_prog" >st.out 2>st.err
    rc=$?
    [ $rc = 3 ] && grep -q "static_prog: ran" st.out || {
        fail "run --force static_prog: expected it run, exit status 3 vs got $rc, $(cat st.out)"
        return
    }
    grep -q "statically linked: nothing will be recorded" st.err ||
        fail "run --force static_prog: expected a note vs got $(cat st.err)"
    grep -q "^heapspan: no log was written: the shim was never loaded" st.err ||
        fail "run --force static_prog: expected 'no log was written' vs got $(cat st.err)"
    [ ! -e st.hsl ] || fail "run --force static_prog: the empty log it made was left behind"
}

# ---- the runner ----

TESTS="api_pool api_pool_sampled api_reported_twice api_bracket rust_crate rust_unseen rust_tracked
       detect_compiled_in detect_own_malloc detect_quiet run_static"

usage() {
    echo "usage: $0 [--list] [--keep] [TEST...]" >&2
    # shellcheck disable=SC2086
    echo "tests:" $TESTS >&2
    exit 2
}

KEEP=0
patterns=()
for a in "$@"; do
    case $a in
    --list)
        # shellcheck disable=SC2086
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
        # shellcheck disable=SC2254
        case $t in $pat)
            selected+=("$t")
            break
            ;;
        esac
    done
done
# Names meant for another runner (make test passes TEST_ARGS to every one): none here.
if ((${#patterns[@]})) && ((${#selected[@]} == 0)); then
    echo "0 passed, 0 failed"
    exit 0
fi

for f in "$HEAPSPAN" "$SHIM"; do
    [ -f "$f" ] || {
        echo "$0: $f is missing: run make first" >&2
        exit 2
    }
done

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
