#!/bin/sh
# ci-heap-diff.sh BASE_EXE HEAD_EXE [ARGS...] - a CI step that runs one workload with
# the base build and with the head build under heapspan and fails when the head's heap
# grew past a budget: exit 0 within it, 1 over it, 2 on an error (as `heapspan diff`).
#
# Writes to $HEAPSPAN_CI_DIR (default heap-diff/): base.hsl and new.hsl, the diff as
# heap-diff.md (for a pull-request comment), heap-diff.json and heap-diff.xml (JUnit,
# for the CI's test report). Under GitHub Actions the markdown is appended to the step
# summary ($GITHUB_STEP_SUMMARY); elsewhere, post heap-diff.md where you like.
#
#   HEAPSPAN         the heapspan executable (default: heapspan on PATH)
#   HEAPSPAN_BUDGET  --fail-on-growth's spelling: 512KiB, 10%, or 10%,512KiB (over both)
#                    (default 512KiB)
#   HEAPSPAN_METRIC  live, peak, leaked, allocations or temporary (default peak)
#
# tests/diff-tests.sh (recipe_ci) runs it on a base and a head that leaks 1 MiB.
set -eu

[ $# -ge 2 ] || {
    echo "usage: $0 BASE_EXE HEAD_EXE [ARGS...]" >&2
    exit 2
}
base=$1 head=$2
shift 2
hs=${HEAPSPAN:-heapspan}
case $hs in */*) hs=$(cd "$(dirname "$hs")" && pwd)/$(basename "$hs") ;; esac
dir=${HEAPSPAN_CI_DIR:-heap-diff}
budget=${HEAPSPAN_BUDGET:-512KiB}
metric=${HEAPSPAN_METRIC:-peak}

mkdir -p "$dir"
rm -f "$dir/base.hsl" "$dir/new.hsl"
"$hs" run -o "$dir/base.hsl" -- "$base" "$@"
"$hs" run -o "$dir/new.hsl" -- "$head" "$@"

# In the directory, so that the reports name the logs base.hsl and new.hsl.
cd "$dir"
set -- --metric "$metric" --fail-on-growth "$budget" base.hsl new.hsl
status=0
"$hs" diff "$@" --format markdown -o heap-diff.md || status=$?
[ "$status" -le 1 ] || exit "$status"
"$hs" diff "$@" --format json -o heap-diff.json 2>/dev/null || [ $? -eq 1 ]
"$hs" diff "$@" --format junit -o heap-diff.xml 2>/dev/null || [ $? -eq 1 ]
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat heap-diff.md >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
