#!/usr/bin/env bash
# fuzz-tests.sh - the fuzz suite's part of `make test`: for each target that
# tests/fuzz/fuzz.mk lists in FUZZ_DIR/targets, its committed crash inputs
# (tests/fuzz/regressions/TARGET/, each once) and a short run from its seeds, each
# counted as a test. The short run's corpus is a scratch copy: `make test` leaves the
# standing corpus (FUZZ_DIR/corpus) as it was.
#
#   tests/fuzz-tests.sh [TARGET...]
#
# Environment: FUZZ_DIR=build/fuzz (the targets, and the list `make fuzz-build` writes),
# FUZZ_TEST_SECONDS=10 (per target). Prints "PASS fuzz ..." or "FAIL fuzz ...: why",
# then "N passed, N failed"; exits 1 if any failed.
set -u -o pipefail

FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
SECONDS_EACH=${FUZZ_TEST_SECONDS:-10}
REGRESSIONS=tests/fuzz/regressions

if [[ ! -f $FUZZ_DIR/targets ]]; then
    echo "$0: $FUZZ_DIR/targets is missing: run make fuzz-build first" >&2
    exit 2
fi

pass=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() {
    echo "PASS fuzz $1"
    pass=$((pass + 1))
}

ko() {
    echo "FAIL fuzz $1"
    failed=$((failed + 1))
}

while read -r name max_len seeds; do
    [[ -n $name ]] || continue
    if [[ $# -gt 0 && " $* " != *" $name "* ]]; then
        continue
    fi
    bin=$FUZZ_DIR/$name
    if [[ ! -x $bin ]]; then
        ko "$name: $bin is missing"
        continue
    fi
    # The crash inputs found before, replayed once each: none may crash again.
    mapfile -t inputs < <(find "$REGRESSIONS/$name" -type f 2>/dev/null | sort)
    if ((${#inputs[@]})); then
        if timeout 300 "$bin" -timeout=20 -rss_limit_mb=2048 "${inputs[@]}" >"$tmp/$name.replay" 2>&1; then
            ok "$name regressions (${#inputs[@]} inputs)"
        else
            tail -n 25 "$tmp/$name.replay"
            ko "$name regressions: an input crashed again ($tmp/$name.replay)"
        fi
    else
        ok "$name regressions (none yet)"
    fi
    # A short run from the seeds, bounded in time whatever happens.
    mkdir -p "$tmp/$name.corpus"
    # shellcheck disable=SC2086 # seeds is a list of directories
    if timeout $((SECONDS_EACH + 60)) "$bin" -max_total_time="$SECONDS_EACH" -max_len="$max_len" \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$tmp/$name-" \
        "$tmp/$name.corpus" $seeds >"$tmp/$name.log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$name.log")
        ok "$name: ${execs:-?} inputs in ${SECONDS_EACH} s"
    else
        tail -n 25 "$tmp/$name.log"
        crash=$(ls "$tmp/$name-"* 2>/dev/null | head -n 1)
        [[ -n $crash ]] && mkdir -p "$FUZZ_DIR/crashes/$name" && cp "$crash" "$FUZZ_DIR/crashes/$name/"
        ko "$name: the short run failed${crash:+ (input kept in $FUZZ_DIR/crashes/$name/)}"
    fi
done <"$FUZZ_DIR/targets"

echo "$pass passed, $failed failed"
[[ $failed -eq 0 ]]
