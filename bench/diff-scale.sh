#!/bin/bash
# diff-scale.sh - `heapspan diff` at scale, for the numbers in bench/README.md (a
# benchmark, not a timed test: run it on a quiet machine).
#
#   bench/diff-scale.sh [--build-dir DIR] [--sites N]      (make bench-diff runs it)
#
# 1. analyzer/diff on two models of N sites (default 100,000) built in memory, as a
#    snapshot reader or the aggregator leaves them: the diff itself, and its renderers
#    (bench/diff_scale.c says what the models hold).
# 2. `heapspan diff` end to end on two logs of N stacks (tests/lib/logbuild), which
#    adds reading and aggregating both logs, beside `heapspan report` on one of them.
# 3. `heapspan diff` of the two logs' snapshots (what CI keeps as its baseline): the
#    target is under a second for 100,000 sites.
set -eu

build=build
sites=100000
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2 && shift 2 ;;
    --sites) sites=$2 && shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--sites N]" >&2 && exit 2 ;;
    esac
done
[ -x "$build/bench/diff_scale" ] && [ -x "$build/heapspan" ] || {
    echo "$0: run make bench-diff (or make all $build/bench/diff_scale) first" >&2
    exit 2
}

echo "== analyzer/diff on two models of $sites sites"
"$build/bench/diff_scale" --sites "$sites"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-diffscale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$build/bench/diff_scale" --sites "$sites" --logs "$tmp"
echo "== heapspan diff on two logs of $sites stacks ($(du -k "$tmp/base.hsl" | cut -f1) KiB each)"
# The best of three by wall time, with its CPU time (user + system): the machine may be
# shared, and then wall time measures the others too.
best() {
    local b= bc= r u s
    for _ in 1 2 3; do
        read -r r u s < <( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1)
        if [ -z "$b" ] || awk -v a="$r" -v b="$b" 'BEGIN { exit !(a < b) }'; then
            b=$r
            bc=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
        fi
    done
    echo "$b s (CPU $bc s)"
}
printf 'heapspan diff --format json:   '
best "$build/heapspan" diff --format json -o /dev/null "$tmp/base.hsl" "$tmp/new.hsl"
printf 'heapspan diff (text):          '
best "$build/heapspan" diff "$tmp/base.hsl" "$tmp/new.hsl"
printf 'heapspan report (one log):     '
best "$build/heapspan" report "$tmp/base.hsl"
"$build/heapspan" snapshot --no-symbols -o "$tmp/base.hsnap" "$tmp/base.hsl" >/dev/null 2>&1
"$build/heapspan" snapshot --no-symbols -o "$tmp/new.hsnap" "$tmp/new.hsl" >/dev/null 2>&1
echo "== heapspan diff on their snapshots ($(du -k "$tmp/base.hsnap" | cut -f1) KiB each)"
printf 'heapspan diff (text):          '
best "$build/heapspan" diff "$tmp/base.hsnap" "$tmp/new.hsnap"
printf 'heapspan diff --format json:   '
best "$build/heapspan" diff --format json -o /dev/null "$tmp/base.hsnap" "$tmp/new.hsnap"
