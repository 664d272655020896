#!/bin/bash
# python-stacks.sh - what reading CPython's frames at every captured stack costs on the
# CPython workloads (pyext, pyjson), before and after: two heapspan builds (BEFORE, a
# build without Python stacks; AFTER, this tree's) run full-trace and sampled at 512
# KiB, with the workload alone, interleaved in every repetition (plain, before, after,
# before-512k, after-512k), as bench/run interleaves its variants. Prints a markdown
# table of medians (min-max) of wall time and CPU time (user + sys of the process tree)
# and their ratios to plain, each ratio taken within its repetition, and writes it to
# OUT. On a machine shared with other work, CPU time is the steadier of the two.
#
#   bench/python-stacks.sh BEFORE_HEAPSPAN [REPS] [OUT]
#   CELLS='pyjson 50000' bench/python-stacks.sh ...    only these cells
#
# BEFORE_HEAPSPAN: the `heapspan` of the other build (its libheapspan.so beside it).
# Needs `make bench-build` (build/bench). The interpreter is python3 resolved to the
# real executable, as bench/run does; pyjson runs with PYTHONMALLOC=malloc, as there.
set -u

BEFORE=${1:?usage: bench/python-stacks.sh BEFORE_HEAPSPAN [REPS] [OUT]}
REPS=${2:-5}
OUT=${3:-bench/results/python-stacks.md}
AFTER=build/heapspan
BD=build/bench
PY=$(python3 -c 'import sys; print(sys.executable)')
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-pystacks.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

for f in "$BEFORE" "$AFTER" "$BD/runstat" "$BD/benchext.so"; do
    [ -e "$f" ] || {
        echo "python-stacks.sh: $f: missing (make; make bench-build)" >&2
        exit 2
    }
done

# CELLS="pyjson 50000" (a comma-separated list) measures only those.
IFS=, read -r -a CELLS <<<"${CELLS:-pyext 5000000,pyjson 50000}"
VARIANTS=(plain before after before-512k after-512k)

# run CELL VARIANT: one run; appends "cell variant rep wall" to $TMP/runs.
run() {
    local w=$1 n=$2 v=$3 rep=$4 env=() cmd
    case $w in
    pyext) cmd=("$PY" "$BD/pyext_run.py" "$n") ;;
    pyjson)
        env=(PYTHONMALLOC=malloc)
        cmd=("$PY" "$BD/pyjson.py" "$n")
        ;;
    esac
    local pre=()
    case $v in
    before) pre=("$BEFORE" run -o "$TMP/log.hsl" --) ;;
    after) pre=("$AFTER" run -o "$TMP/log.hsl" --) ;;
    before-512k) pre=("$BEFORE" run --sample 524288 -o "$TMP/log.hsl" --) ;;
    after-512k) pre=("$AFTER" run --sample 524288 -o "$TMP/log.hsl" --) ;;
    esac
    env "${env[@]}" "$BD/runstat" "$TMP/stat" "${pre[@]}" "${cmd[@]}" >"$TMP/out" 2>"$TMP/err" ||
        { echo "python-stacks.sh: $w $n $v failed: $(tail -n 2 "$TMP/err")" >&2; exit 1; }
    grep -q "^$w: " "$TMP/out" || { echo "python-stacks.sh: $w: no summary line" >&2; exit 1; }
    rm -f "$TMP"/log*.hsl
    echo "$w:$n $v $rep $(cut -d' ' -f1-3 "$TMP/stat")" >>"$TMP/runs"
}

for rep in $(seq 1 "$REPS"); do
    for cell in "${CELLS[@]}"; do
        for v in "${VARIANTS[@]}"; do
            echo "rep $rep: $cell $v" >&2
            # shellcheck disable=SC2086
            run $cell "$v" "$rep"
        done
    done
done

python3 - "$TMP/runs" "$REPS" "$BEFORE" "$PY" >"$OUT" <<'EOF'
import statistics, sys, collections, platform, subprocess
runs = collections.defaultdict(dict)
cpu = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    cell, v, rep, wall, user, sys_s = line.split()
    runs[(cell, int(rep))][v] = float(wall)
    cpu[(cell, int(rep))][v] = float(user) + float(sys_s)
cells = sorted({c for c, _ in runs}, key=lambda c: ("pyext" not in c, c))
def mm(xs):
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"
print("# Python stacks: what reading CPython's frames costs\n")
print(f"`bench/python-stacks.sh {sys.argv[3]} {sys.argv[2]}`: {sys.argv[2]} repetitions, "
      "the five variants interleaved in each; interpreter "
      f"`{sys.argv[4]}`; commit {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}; "
      f"{platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores.\n")
for title, t in (("Wall time", runs), ("CPU time (user + sys)", cpu)):
    print(f"\n{title}:\n")
    print("| cell | variant | s | ratio to plain | after / before |")
    print("|---|---|---|---|---|")
    for c in cells:
        reps = [r for (cc, r) in t if cc == c]
        for v in ("plain", "before", "after", "before-512k", "after-512k"):
            xs = [t[(c, r)][v] for r in reps]
            ratios = [t[(c, r)][v] / t[(c, r)]["plain"] for r in reps]
            rel = ""
            if v.startswith("after"):
                b = v.replace("after", "before")
                rel = mm([t[(c, r)][v] / t[(c, r)][b] for r in reps])
            print(f"| {c} | {v} | {mm(xs)} | {mm(ratios) if v != 'plain' else ''} | {rel} |")
EOF
cat "$OUT"
