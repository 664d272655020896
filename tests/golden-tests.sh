#!/usr/bin/env bash
# golden-tests.sh - every analyzer command on the committed logs in tests/golden/logs,
# compared byte for byte with tests/golden/expected. The logs were recorded from
# tests/progs programs; frames are shown without symbols (--no-symbols, dump's
# module+offset), so the output depends on the log alone, not on this machine's binaries.
#
#   tests/golden-tests.sh [--update] [CASE...]
#
# HEAPSPAN=build/heapspan (relative to the current directory, which must be the
# repository's top: reports name the log by the path they were given). Each case is
# LOG.COMMAND; its stdout is expected/CASE.out, its stderr and exit status
# expected/CASE.err. --update rewrites the expected files from this build (for a change
# of output made on purpose: review the diff before committing it).
# Prints "PASS case" or "FAIL case" with a diff, then "N passed, N failed".
set -u -o pipefail

HEAPSPAN=${HEAPSPAN:-build/heapspan}
DIR=tests/golden
update=0
if [[ ${1:-} == --update ]]; then
    update=1
    shift
fi

# command name -> arguments before the log
declare -A CMDS=(
    [report]="report --no-symbols"
    [report_md]="report --no-symbols --format markdown"
    [report_json]="report --no-symbols --format json"
    [report_top2]="report --no-symbols --top 2"
    [dump]="dump"
    [dump_summary]="dump --summary"
    [dump_live]="dump --live"
    [dump_stacks]="dump --stacks"
)
CMD_ORDER=(report report_md report_json report_top2 dump dump_summary dump_live dump_stacks)
# Snapshots: LOG.CASE is `heapspan snapshot SNAPSHOT_ARGS LOG -o LOG.hsnap`, then the
# report command on LOG.hsnap, run in the directory that holds it (so that the header
# names it as LOG.hsnap). Its expected output is the report of the log itself, but for
# the header (and the JSON's "snapshot" and "point").
declare -A SNAPS=(
    [known_c.snap_report]="--no-symbols|report"
    [known_c.snap_report_json]="--no-symbols|report --format json"
    [sampled.snap_report]="--no-symbols|report"
    [cxx.snap_report_md]="--no-symbols|report --format markdown"
    [marker.snap_marker2_report]="--no-symbols --at marker:2|report"
    [known_peak.snap_peak_report_json]="--no-symbols --at peak|report --format json"
    [demo.snap_time_report]="--no-symbols --at time:0.03|report --top 3"
)
# Windows need a log long enough to have one: the demo runs about 0.07 s.
declare -A EXTRA=(
    [demo.report_window]="report --no-symbols --from 0.02 --to 0.05"
    [demo.report_json_window]="report --no-symbols --format json --from 0.02 --to 0.05"
    [known_c.export_folded]="export --no-symbols --folded -"
    [known_c.export_speedscope]="export --no-symbols --speedscope -"
    [sampled.export_folded_allocated]="export --no-symbols --metric allocated --folded -"
    [cxx.export_folded_leaked]="export --no-symbols --metric leaked --folded -"
    [marker.export_otlp_json]="export --no-symbols --otlp-json -"
    [known_c.export_otlp_json_top3]="export --no-symbols --otlp-top 3 --leak-threshold 1K --otlp-json -"
)
# The OTLP trace's resource names the host heapspan runs on: the variables (which the
# resource takes last) name a fixed one, and nothing else of OpenTelemetry's applies.
unset TRACEPARENT TRACESTATE OTEL_SERVICE_NAME OTEL_SDK_DISABLED
export OTEL_RESOURCE_ATTRIBUTES=host.name=golden

cases=()
for log in "$DIR"/logs/*.hsl; do
    name=$(basename "$log" .hsl)
    for c in "${CMD_ORDER[@]}"; do
        # The record-by-record dumps of the demo and the sampled run are 200,000 and
        # 50,000 lines: their summary, live and stacks dumps cover their reading.
        [[ ($name == demo || $name == sampled) && $c == dump ]] && continue
        cases+=("$name.$c")
    done
done
for k in "${!EXTRA[@]}" "${!SNAPS[@]}"; do
    cases+=("$k")
done
if [[ $# -gt 0 ]]; then
    cases=("$@")
fi

pass=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$DIR/expected"
HEAPSPAN_ABS=$(cd "$(dirname "$HEAPSPAN")" && pwd)/$(basename "$HEAPSPAN")
for c in "${cases[@]}"; do
    name=${c%%.*}
    cmd=${c#*.}
    if [[ -n ${SNAPS[$c]:-} ]]; then
        snap_args=${SNAPS[$c]%%|*}
        args=${SNAPS[$c]#*|}
        rm -f "$tmp/$name.hsnap"
        # shellcheck disable=SC2086 # args are lists of words
        "$HEAPSPAN" snapshot $snap_args "$DIR/logs/$name.hsl" -o "$tmp/$name.hsnap" 2>"$tmp/snap.err"
        (cd "$tmp" && "$HEAPSPAN_ABS" $args "$name.hsnap") >"$tmp/out" 2>"$tmp/err"
        echo "exit $?" >>"$tmp/err"
        if ((update)); then
            cp "$tmp/out" "$DIR/expected/$c.out"
            cp "$tmp/err" "$DIR/expected/$c.err"
            echo "UPDATED $c"
            pass=$((pass + 1))
        elif diff -u "$DIR/expected/$c.out" "$tmp/out" >"$tmp/diff" &&
            diff -u "$DIR/expected/$c.err" "$tmp/err" >>"$tmp/diff"; then
            echo "PASS golden $c"
            pass=$((pass + 1))
        else
            echo "FAIL golden $c: output differs from $DIR/expected/$c.*"
            cat "$tmp/snap.err"
            head -n 40 "$tmp/diff"
            failed=$((failed + 1))
        fi
        continue
    fi
    args=${EXTRA[$c]:-${CMDS[$cmd]:-}}
    if [[ -z $args ]]; then
        echo "FAIL $c: no such case"
        failed=$((failed + 1))
        continue
    fi
    # shellcheck disable=SC2086 # args is a list of words
    "$HEAPSPAN" $args "$DIR/logs/$name.hsl" >"$tmp/out" 2>"$tmp/err"
    echo "exit $?" >>"$tmp/err"
    if ((update)); then
        cp "$tmp/out" "$DIR/expected/$c.out"
        cp "$tmp/err" "$DIR/expected/$c.err"
        echo "UPDATED $c"
        pass=$((pass + 1))
        continue
    fi
    if diff -u "$DIR/expected/$c.out" "$tmp/out" >"$tmp/diff" &&
        diff -u "$DIR/expected/$c.err" "$tmp/err" >>"$tmp/diff"; then
        echo "PASS golden $c"
        pass=$((pass + 1))
    else
        echo "FAIL golden $c: output differs from $DIR/expected/$c.*"
        head -n 40 "$tmp/diff"
        failed=$((failed + 1))
    fi
done
echo "$pass passed, $failed failed"
[[ $failed -eq 0 ]]
