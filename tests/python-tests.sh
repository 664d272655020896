#!/bin/bash
# python-tests.sh - Python programs under the shim: hybrid stacks (the Python frames a
# call of CPython's evaluation loop was running, in place of its native frames) and
# the allocator mode. Debian's /usr/bin/python3 (CPython 3.11, the interpreter linked
# into the executable) with numpy and cryptography (Rust through PyO3); the interpreter
# behind python3 when it is another 3.11 (pyenv's links libpython3.11.so); a 3.12 when
# one is found, for the fallback. Each test checks exact figures from `heapspan report
# --format json` (python3's json module) against the markers (# @name) of its program
# in tests/progs/py_*.py, and prints `PASS name`, `SKIP name: why` or `FAIL name: what:
# expected X vs got Y [files: DIR]`; the last line is `N passed, N failed`.
#
#   tests/python-tests.sh [--list] [--keep] [TEST...]
#
# TEST is a name or a shell pattern; none means all. Exits 1 if a test failed, 2 on a
# usage error or when the tools are missing.
#
# Environment (defaults for a run from the top directory):
#   HEAPSPAN  build/heapspan      SHIM  build/libheapspan.so      CC  cc
#   DEBIAN_PYTHON  /usr/bin/python3 (with python3-numpy, python3-cryptography)
#   PYTHON311      the interpreter behind python3, if it is a 3.11 other than Debian's
#   PYTHON312      a CPython 3.12 (default: the first of pyenv's), for the fallback
#   PY_TESTS_TIMEOUT  seconds a recorded program may run (default 60)
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
HEAPSPAN=$(abs "${HEAPSPAN:-build/heapspan}")
SHIM=$(abs "${SHIM:-build/libheapspan.so}")
CC=${CC:-cc}
SRC=$TOP/tests/progs
TIMEOUT=${PY_TESTS_TIMEOUT:-60}
DEBIAN_PYTHON=${DEBIAN_PYTHON:-/usr/bin/python3}
if [ -z "${PYTHON311+set}" ]; then
    PYTHON311=$(python3 -c 'import sys; print(sys.executable if sys.version_info[:2] == (3, 11) else "")' 2>/dev/null)
    [ "$(readlink -f "$PYTHON311" 2>/dev/null)" = "$(readlink -f "$DEBIAN_PYTHON")" ] && PYTHON311=
fi
if [ -z "${PYTHON312+set}" ]; then
    PYTHON312=$(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | head -n 1)
fi
export HEAPSPAN SHIM SRC TOP
export HEAPSPAN_SHIM=$SHIM
unset LD_PRELOAD DEBUGINFOD_URLS PYTHONMALLOC

for f in "$HEAPSPAN" "$SHIM"; do
    [ -e "$f" ] || {
        echo "python-tests.sh: $f: missing (make)" >&2
        exit 2
    }
done
[ -x "$DEBIAN_PYTHON" ] || {
    echo "python-tests.sh: $DEBIAN_PYTHON: missing (apt-get install python3)" >&2
    exit 2
}

RUN=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-python.XXXXXX") || exit 2
WORK=$RUN/.shared
mkdir -p "$WORK"
trap 'rm -rf "$WORK"; rmdir "$RUN" 2>/dev/null' EXIT

cat >"$WORK/pt.py" <<'EOF'
"""Helpers for the checks in python-tests.sh: a check raises Fail("what: expected X vs
got Y"); run() prints it and exits 1."""
import json
import os
import re
import sys


class Fail(Exception):
    pass


def expect(what, expected, got):
    if expected != got:
        raise Fail(f"{what}: expected {expected!r} vs got {got!r}")


def expect_true(what, cond, got):
    if not cond:
        raise Fail(f"{what}: expected true vs got {got!r}")


def load(path):
    """A report (docs/report-json.md), each site's "stack" resolved to its frames."""
    with open(path) as f:
        rep = json.load(f)
    frames = rep.get("frames")
    if frames is not None:
        for s in rep.get("sites", []):
            s["stack"] = [frames[i] for i in s["stack"]]
    return rep


def marker(src, name):
    """The line of `# @name` in tests/progs/src."""
    path = os.path.join(os.environ["SRC"], src)
    lines = [i for i, t in enumerate(open(path), 1) if re.search(r"# @" + re.escape(name) + r"$", t.rstrip("\n"))]
    if len(lines) != 1:
        raise Fail(f"marker @{name} in {src}: expected 1 line vs got {lines}")
    return lines[0]


def is_py(f):
    return f["module"] == "python"


def py_frames(site):
    return [f for f in site["stack"] if is_py(f)]


def at_line(rep, src, function, name):
    """Sites whose innermost Python frame is function at the marker's line of src."""
    line = marker(src, name)
    path = os.path.realpath(os.path.join(os.environ["SRC"], src))
    out = []
    for s in rep["sites"]:
        py = py_frames(s)
        if py and py[0]["function"] == function and py[0]["line"] == line:
            expect(f"@{name}: file", path, os.path.realpath(py[0]["file"] or ""))
            out.append(s)
    return out


def exact(rep, src, function, name, count, size):
    """The sites of function at @name: count allocations of size bytes, no other."""
    at = at_line(rep, src, function, name)
    n = sum(s["allocations"] for s in at)
    b = sum(s["allocated_bytes"] for s in at)
    if n != count or b != count * size:
        near = sorted({(py_frames(s)[0]["function"], py_frames(s)[0]["line"])
                       for s in rep["sites"] if py_frames(s)})
        raise Fail(f"@{name} ({function}): expected {count} allocations of {size} bytes vs got "
                   f"{n} allocations, {b} bytes (sites' innermost Python frames: {near[:30]})")
    return at


def caller(site, function):
    """The Python frame after function's in the site's stack."""
    py = py_frames(site)
    for i, f in enumerate(py):
        if f["function"] == function:
            return py[i + 1] if i + 1 < len(py) else None
    return None


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
    { echo 'from pt import *'; cat; } >"$T/check.py"
    PYTHONPATH=$WORK "$DEBIAN_PYTHON" "$T/check.py" "$@"
}

fail() {
    printf '%s\n' "$*" | tr '\n' ' ' | sed 's/ *$//'
    echo
    return 1
}

skip() {
    echo "SKIP: $*"
    return 3
}

# record NAME [OPTIONS] -- PROG ARGS: runs PROG under `heapspan run` in $T, then writes
# NAME.json (report), NAME.txt (text report) and NAME.out (the program's stdout).
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
    "$HEAPSPAN" report --format json "$name.hsl" >"$name.json" 2>"$name.rerr" &&
        "$HEAPSPAN" report "$name.hsl" >"$name.txt" 2>>"$name.rerr" || {
        fail "heapspan report $name.hsl: expected exit status 0 vs got $?: $(cat "$name.rerr")"
        return 1
    }
}

# The program's output without the shim must be what it printed under it.
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

# ---- the interpreter's layout and line tables ----

# preload/py311.h against the installed 3.11 headers.
t_offsets() {
    local inc
    inc=$("$DEBIAN_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [ -f "$inc/internal/pycore_frame.h" ] ||
        { fail "$inc/internal/pycore_frame.h: expected CPython's internal headers (python3-dev) vs got none"; return; }
    "$CC" -std=gnu11 -I"$TOP" -I"$inc" -o offsets "$SRC/py311_offsets.c" 2>cc.err ||
        { fail "compiling py311_offsets.c: $(head -c 400 cc.err)"; return; }
    ./offsets >offsets.out || fail "py311.h against $inc: $(cat offsets.out)"
    if [ -n "$PYTHON311" ]; then
        inc=$("$PYTHON311" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
        if [ -f "$inc/internal/pycore_frame.h" ]; then
            "$CC" -std=gnu11 -I"$TOP" -I"$inc" -o offsets2 "$SRC/py311_offsets.c" 2>cc.err ||
                { fail "compiling py311_offsets.c against $inc: $(head -c 400 cc.err)"; return; }
            ./offsets2 >offsets2.out || fail "py311.h against $inc: $(cat offsets2.out)"
        fi
    fi
}

# analyzer/pyline.c against co_positions() for every code unit of every code object of
# a few standard modules (1,000 code objects, 100,000 units).
t_linetable() {
    "$CC" -std=gnu11 -O2 -I"$TOP" -o pyline_check "$SRC/pyline_check.c" "$TOP/analyzer/pyline.c" \
        2>cc.err || { fail "compiling pyline_check.c: $(head -c 400 cc.err)"; return; }
    "$DEBIAN_PYTHON" - >tables <<'EOF'
import importlib, types
def walk(co):
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            yield from walk(c)
for name in ["json.decoder", "asyncio.base_events", "argparse", "email.message", "typing",
             "dataclasses", "inspect"]:
    m = importlib.import_module(name)
    for co in walk(compile(open(m.__file__).read(), m.__file__, "exec")):
        lines = [p[0] or 0 for p in co.co_positions()]
        print(co.co_firstlineno, co.co_linetable.hex(), len(lines), *lines)
EOF
    ./pyline_check <tables >pyline.out || fail "line tables: $(head -c 600 pyline.out)"
}

# ---- Debian's python3 ----

# numpy: the 8 MiB array's site ranks first at the peak, with build_matrix at its exact
# line and handle_request, then the module, above it; the interpreter's frames hidden
# unless --python-internals; the folded export and a snapshot carry the Python frames.
t_numpy() {
    "$DEBIAN_PYTHON" -c 'import numpy' 2>/dev/null ||
        { fail "$DEBIAN_PYTHON: expected numpy (apt-get install python3-numpy) vs got none"; return; }
    record numpy -- "$DEBIAN_PYTHON" "$SRC/py_numpy.py" || return
    same_output numpy "$DEBIAN_PYTHON" "$SRC/py_numpy.py" || return
    "$HEAPSPAN" report --format json --python-internals numpy.hsl >internals.json 2>err.txt ||
        { fail "report --python-internals: $(cat err.txt)"; return; }
    "$HEAPSPAN" export --metric peak --folded numpy.folded numpy.hsl 2>err.txt ||
        { fail "export --folded: $(cat err.txt)"; return; }
    "$HEAPSPAN" snapshot -o numpy.hsnap numpy.hsl 2>err.txt &&
        "$HEAPSPAN" report --format json numpy.hsnap >snap.json 2>err.txt ||
        { fail "snapshot and its report: $(cat err.txt)"; return; }
    check <<'EOF'
def c():
    r = load("numpy.json")
    py = r["python"]
    expect("python.version starts with", "3.11.", py["version"][:5])
    expect("python.stacks", True, py["stacks"])
    expect("python.dropped_frames", 0, py["dropped_frames"])
    # The top site at the peak: the array (1024 x 1024 float64).
    top = max(r["sites"], key=lambda s: s["peak_live_bytes"])
    expect("top site: peak_live_bytes", 8 * 1024 * 1024, top["peak_live_bytes"])
    frames = [(f["function"], f["line"]) for f in top["stack"]]
    bm = [f for f in py_frames(top) if f["function"] == "build_matrix"]
    expect("build_matrix's frames in the top site", 1, len(bm))
    expect("build_matrix's line", marker("py_numpy.py", "np_alloc"), bm[0]["line"])
    expect("build_matrix's file", os.path.realpath(os.path.join(os.environ["SRC"], "py_numpy.py")),
           os.path.realpath(bm[0]["file"]))
    expect("the Python frame innermost: numpy's ones(), which build_matrix called", "ones",
           py_frames(top)[0]["function"])
    expect("caller of build_matrix", ("handle_request", marker("py_numpy.py", "np_call")),
           (caller(top, "build_matrix")["function"], caller(top, "build_matrix")["line"]))
    expect("caller of handle_request", ("<module>", marker("py_numpy.py", "np_module")),
           (caller(top, "handle_request")["function"], caller(top, "handle_request")["line"]))
    expect_true("numpy's own C frames innermost", "multiarray" in (top["stack"][0]["module"] or ""),
                frames)
    internal = [f["function"] for f in top["stack"] if f["function"] in
                ("_PyEval_EvalFrameDefault", "PyObject_Vectorcall", "PyEval_EvalCode")]
    expect("the interpreter's frames in the top site", [], internal)
    # --python-internals: the evaluation loop's frames stay, each before its Python frames.
    ri = load("internals.json")
    topi = max(ri["sites"], key=lambda s: s["peak_live_bytes"])
    names = [f["function"] for f in topi["stack"]]
    expect_true("--python-internals: _PyEval_EvalFrameDefault in the top site",
                "_PyEval_EvalFrameDefault" in names, names)
    i = names.index("build_matrix")
    expect("--python-internals: the frame before the first Python frame",
           "_PyEval_EvalFrameDefault", names[names.index("ones") - 1])
    expect("--python-internals: python.internals_shown", True, ri["python"]["internals_shown"])
    # The folded export: the array's stack reads root first, the Python frames in it.
    folded = [l for l in open("numpy.folded") if "build_matrix" in l and l.rstrip().endswith(" 8388608")]
    expect("folded lines of the array's stack", 1, len(folded))
    line = marker("py_numpy.py", "np_alloc")
    expect_true(f"folded: handle_request before build_matrix",
                folded[0].index("handle_request") < folded[0].index("build_matrix"), folded[0][:400])
    # A snapshot keeps them.
    s = load("snap.json")
    expect_true("snapshot: build_matrix at its line in a site's stack",
                any(f["function"] == "build_matrix" and f["line"] == line
                    for x in s["sites"] for f in x["stack"]), len(s["sites"]))
    text = open("numpy.txt").read()
    want = f"build_matrix (py_numpy.py:{line})"
    expect_true(f"text report shows {want!r}", want in text, text[:600])
    expect_true("text report: the allocator mode", "allocator pymalloc (the default)" in text, text[:600])
run(c)
EOF
}

# cryptography's Rust extension: its 500 signatures' allocations come from _rust.abi3.so
# under encode_many's line.
t_rust() {
    "$DEBIAN_PYTHON" -c 'import cryptography' 2>/dev/null ||
        { fail "$DEBIAN_PYTHON: expected cryptography (apt-get install python3-cryptography) vs got none"; return; }
    record rust -- "$DEBIAN_PYTHON" "$SRC/py_crypto.py" || return
    same_output rust "$DEBIAN_PYTHON" "$SRC/py_crypto.py" || return
    check <<'EOF'
def c():
    r = load("rust.json")
    line = marker("py_crypto.py", "rust_call")
    rust = [s for s in r["sites"] if "_rust" in (s["stack"][0]["module"] or "")]
    under = [s for s in rust if py_frames(s) and py_frames(s)[0]["function"] == "encode_many"]
    expect_true("sites in _rust.abi3.so under encode_many", under, len(rust))
    for s in under:
        expect("encode_many's line", line, py_frames(s)[0]["line"])
        expect("the caller of encode_many", "<module>", caller(s, "encode_many")["function"])
    # Each signature makes the same allocations in Rust: every site a multiple of 500.
    expect("allocations of those sites, each a multiple of 500", [],
           [s["allocations"] for s in under if s["allocations"] % 500])
    expect("python.dropped_frames", 0, r["python"]["dropped_frames"])
run(c)
EOF
}

# 4 threads allocating at once, each from a function of its own: every block at its
# own thread's function and line, and no other's.
threads_check() {
    check "$1" <<'EOF'
import sys
def c():
    r = load(sys.argv[1] + ".json")
    expect("python.stacks", True, r["python"]["stacks"])
    expect("python.dropped_frames", 0, r["python"]["dropped_frames"])
    for fn, name, size in (("alpha", "t_alpha", 10001), ("beta", "t_beta", 20001),
                           ("gamma", "t_gamma", 30001), ("delta", "t_delta", 40001)):
        for s in exact(r, "py_threads.py", fn, name, 300, size):
            up = caller(s, fn)
            expect(f"{fn}'s caller", ("run_thread", marker("py_threads.py", "t_run")),
                   (up["function"], up["line"]))
run(c)
EOF
}

t_threads() {
    record threads -- "$DEBIAN_PYTHON" "$SRC/py_threads.py" || return
    threads_check threads
}

# Exceptions through C (json's decoder, sorted), a generator, async functions, 50
# threads that start, allocate and exit while another allocates: each size at its own
# function and line only, nothing dropped, the program's output unchanged.
t_robust() {
    record robust -- "$DEBIAN_PYTHON" "$SRC/py_robust.py" || return
    same_output robust "$DEBIAN_PYTHON" "$SRC/py_robust.py" || return
    check <<'EOF'
def c():
    r = load("robust.json")
    src = "py_robust.py"
    expect("python.dropped_frames", 0, r["python"]["dropped_frames"])
    hook = exact(r, src, "hook", "r_hook", 100, 5002)
    expect("hook's caller (json's C decoder between)", "JSONDecoder.raw_decode",
           caller(hook[0], "hook")["function"])
    exact(r, src, "bad_key", "r_key", 100, 5003)
    for s in at_line(r, src, "bad_key", "r_key"):
        expect("bad_key's caller", ("raise_through_sort", marker(src, "r_sort")),
               (caller(s, "bad_key")["function"], caller(s, "bad_key")["line"]))
    exact(r, src, "blocks", "r_gen", 100, 5004)
    exact(r, src, "fetch", "r_async", 100, 5005)
    exact(r, src, "short_lived", "r_short", 50, 5006)
    churn = at_line(r, src, "churn", "r_churn")
    n = sum(s["allocations"] for s in churn)
    expect_true("churn: allocations", n > 0, n)
    expect("churn: bytes", n * 5007, sum(s["allocated_bytes"] for s in churn))
run(c)
EOF
}

# A forked child's log names its code objects anew.
t_fork() {
    record fork -- "$DEBIAN_PYTHON" "$SRC/py_fork.py" || return
    local child
    child=$(ls fork.*.hsl 2>/dev/null | grep -v '^fork.hsl$' | head -n 1)
    [ -n "$child" ] || { fail "the child's log: expected fork.PID.hsl vs got $(ls)"; return; }
    "$HEAPSPAN" report --format json "$child" >child.json 2>err.txt ||
        { fail "report $child: $(cat err.txt)"; return; }
    check <<'EOF'
def c():
    exact(load("fork.json"), "py_fork.py", "parent_work", "f_parent", 30, 6003)
    r = load("child.json")
    exact(r, "py_fork.py", "child_work", "f_child", 40, 6002)
    expect("child: python.stacks", True, r["python"]["stacks"])
run(c)
EOF
}

# --python-allocator: malloc shows every small object at its line; the default
# (pymalloc) hides them in its arenas, and the header says which it was.
t_allocator() {
    record objs_malloc --python-allocator malloc -- "$DEBIAN_PYTHON" "$SRC/py_objects.py" || return
    record objs_default -- "$DEBIAN_PYTHON" "$SRC/py_objects.py" || return
    "$HEAPSPAN" run --python-allocator jemalloc -o bad.hsl -- true >bad.out 2>bad.err
    local rc=$?
    check "$rc" <<'EOF'
import sys
def c():
    m = load("objs_malloc.json")
    expect("malloc: python.allocator", "malloc", m["python"]["allocator"])
    n = sum(s["allocations"] for s in at_line(m, "py_objects.py", "make_objects", "o_make"))
    expect_true("malloc: allocations at make_objects (20000 lists, their items)", n >= 20000, n)
    d = load("objs_default.json")
    expect("default: python.allocator_mode", "pymalloc (the default)", d["python"]["allocator_mode"])
    k = sum(s["allocations"] for s in at_line(d, "py_objects.py", "make_objects", "o_make"))
    expect_true("pymalloc: allocations at make_objects (its arenas only)", k < 1000, k)
    text = open("objs_malloc.txt").read()
    expect_true("malloc: the header says so", "allocator malloc: every Python object" in text, text[:500])
    expect("--python-allocator jemalloc: exit status", "2", sys.argv[1])
    err = open("bad.err").read()
    expect_true("--python-allocator jemalloc: the message",
                "--python-allocator" in err and "malloc" in err and "pymalloc" in err, err)
run(c)
EOF
}

# ---- other interpreters ----

# A libpython-linked 3.11 (pyenv's): the same exact attribution.
t_libpython() {
    [ -n "$PYTHON311" ] || { skip "no CPython 3.11 besides $DEBIAN_PYTHON (set PYTHON311)"; return; }
    ldd "$PYTHON311" | grep -q libpython3.11 ||
        { skip "$PYTHON311 does not link libpython3.11.so"; return; }
    record libpython -- "$PYTHON311" "$SRC/py_threads.py" || return
    threads_check libpython
}

# A version whose frames are not read: native stacks, and the report says why.
t_fallback() {
    [ -n "$PYTHON312" ] && [ -x "$PYTHON312" ] || { skip "no CPython 3.12 (set PYTHON312)"; return; }
    record fallback -- "$PYTHON312" -c 'x = [bytearray(7001) for _ in range(10)]' || return
    check <<'EOF'
def c():
    r = load("fallback.json")
    py = r["python"]
    expect("python.version starts with", "3.12.", py["version"][:5])
    expect("python.stacks", False, py["stacks"])
    expect_true("python.reason names 3.12", "3.12" in py["reason"], py["reason"])
    expect("sites with Python frames", 0, sum(1 for s in r["sites"] if py_frames(s)))
    text = open("fallback.txt").read()
    expect_true("the text report says why", "native only" in text and "3.12" in text, text[:800])
run(c)
EOF
}

ALL=(offsets linetable numpy rust threads robust fork allocator libpython fallback)

keep=false
names=()
for a in "$@"; do
    case $a in
    --list)
        printf '%s\n' "${ALL[@]}"
        exit 0
        ;;
    --keep) keep=true ;;
    -*)
        echo "usage: tests/python-tests.sh [--list] [--keep] [TEST...]" >&2
        exit 2
        ;;
    *) names+=("$a") ;;
    esac
done

pass=0 failed=0
for t in "${ALL[@]}"; do
    if [ ${#names[@]} -gt 0 ]; then
        hit=false
        for n in "${names[@]}"; do
            # shellcheck disable=SC2053
            [[ $t == $n ]] && hit=true
        done
        $hit || continue
    fi
    T=$RUN/$t
    mkdir -p "$T"
    out=$(cd "$T" && "t_$t" 2>&1)
    rc=$?
    if [ $rc = 3 ] || { [ $rc = 0 ] && [[ $out == SKIP:* ]]; }; then
        echo "SKIP $t: ${out#SKIP: }"
        rm -rf "$T"
    elif [ $rc = 0 ] && [ -z "$out" ]; then
        echo "PASS $t"
        pass=$((pass + 1))
        $keep || rm -rf "$T"
    else
        echo "FAIL $t: $out [files: $T]"
        failed=$((failed + 1))
    fi
done
$keep || rmdir "$RUN" 2>/dev/null
echo "$pass passed, $failed failed"
[ $failed = 0 ]
