#!/usr/bin/env bash
# snapshot-tests.sh - `heapspan snapshot` and the leaks reports set apart, on real
# programs under the shim: snapshots at markers of a log that is still being written and
# after, every marker, a marker the log does not have, snapshots read back by `report`
# as the log reads, damaged snapshots; the C runtime's one-time allocations of the
# sqlite3 shell (valgrind sees none of them live at exit), and a user's suppressions
# file on known leaks (tests/progs/known_c.c's table).
#
#   tests/snapshot-tests.sh [--keep] [TEST...]
#
# Builds nothing. Environment, paths relative to the current directory:
#   HEAPSPAN=build/heapspan  SHIM=build/libheapspan.so  PROGS=build/tests/progs
# JSON reports are read with python3's json module. Each test runs in its own
# temporary directory, kept when it fails (--keep: always). Prints "PASS name" or
# "FAIL name: what (expected X, got Y)", then "N passed, N failed"; exits 1 if a test
# failed, 2 on a usage error.
set -u -o pipefail

abspath() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
    esac
}

HEAPSPAN=$(abspath "${HEAPSPAN:-build/heapspan}")
SHIM=$(abspath "${SHIM:-build/libheapspan.so}")
PROGS=$(abspath "${PROGS:-build/tests/progs}")
TIMEOUT=${TEST_TIMEOUT:-60}
export HEAPSPAN_SHIM=$SHIM
unset LD_PRELOAD DEBUGINFOD_URLS

ALL_TESTS=(markers live_log report_of_snapshot bad_snapshots sqlite_runtime user_suppressions)

fail() {
    printf '%s\n' "$*" >>"$FAILS"
}

expect() {
    [[ $2 == "$3" ]] || fail "$1 (expected $2, got $3)"
}

expect_grep() {
    grep -Eq -- "$2" "$3" || fail "$1 (expected a line matching /$2/ in $(basename "$3"), got: $(head -c 300 "$3" | tr '\n' '|'))"
}

# hs CMD ARGS...: heapspan CMD with its stdout in out.txt, stderr in err.txt, status in RC.
hs() {
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" "$@" >out.txt 2>err.txt
    RC=$?
}

# js FILE EXPR: a Python expression on the JSON document in FILE, named r.
js() {
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# report_json INPUT [ARGS]: `report --format json` of INPUT into INPUT.json.
report_json() {
    local in=$1
    shift
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" report --format json --no-debuginfod "$@" "$in" \
        >"$in.json" 2>"$in.json.err" || fail "report $in exited $?: $(head -c 300 "$in.json.err")"
}

# The live bytes and blocks of the sites whose innermost frame is FUNCTION.
live_at() {
    js "$1" "' '.join(str(int(sum(s[k] for s in r['sites'] if s['function'] == '$2'))) for k in ('leaked_allocations', 'leaked_bytes'))"
}

# ---- the marker program: 5 x 5501 before two SIGUSR2, 5 x 5502 after ----

wait_for() { # wait_for WHAT COMMAND...: up to 15 s for COMMAND to succeed
    local what=$1 i
    shift
    for ((i = 0; i < 300; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    fail "$what never happened in 15 s"
    return 1
}

# summary_is LOG KEY VALUE: the log, as written so far, says KEY=VALUE in its summary.
summary_is() {
    [[ $("$HEAPSPAN" dump --summary "$1" 2>/dev/null | sed -n "s/^$2=//p") == "$3" ]]
}

# marker_log [HOOK]: out.hsl from tests/progs/marker, sent SIGUSR2 twice; HOOK runs
# while the program waits, after the first marker is on disk.
marker_log() {
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run -o out.hsl -- "$PROGS/marker" plain "$PWD/ready" \
        "$PWD/go" >run.out 2>run.err &
    local pid=$!
    wait_for "the program's start" test -s ready || return 1
    # The writer sends a thread's last records out within 100 ms of them.
    wait_for "the first allocations on disk" summary_is out.hsl allocations 5 || return 1
    kill -USR2 "$(cat ready)"
    wait_for "the first marker" summary_is out.hsl markers 1 || return 1
    [[ -z ${1:-} ]] || "$1"
    kill -USR2 "$(cat ready)"
    wait_for "the second marker" summary_is out.hsl markers 2 || return 1
    touch go
    wait "$pid"
    expect "the program's exit status" 0 "$?"
}

t_markers() {
    marker_log || return
    # Two markers: a third is one clear message and status 2.
    hs snapshot --no-debuginfod --at marker:3 out.hsl -o m3.hsnap
    expect "--at marker:3: status" 2 "$RC"
    expect "--at marker:3: stderr lines" 1 "$(wc -l <err.txt)"
    expect_grep "--at marker:3: the message" "^heapspan snapshot: .*out.hsl: no marker 3: the log has 2 " err.txt
    [[ ! -e m3.hsnap ]] || fail "--at marker:3 wrote m3.hsnap"
    hs snapshot --at marker:x out.hsl
    expect "--at marker:x: status" 2 "$RC"
    expect_grep "--at marker:x: the message" "expected end, peak, marker:N" err.txt

    hs snapshot --no-debuginfod --at marker:2 out.hsl -o m2.hsnap
    expect "--at marker:2: status" 0 "$RC"
    report_json m2.hsnap
    expect "marker 2: before_signal" "5 27505" "$(live_at m2.hsnap.json before_signal)"
    expect "marker 2: after_signal" "0 0" "$(live_at m2.hsnap.json after_signal)"
    expect "marker 2: the point" "marker 2 signal 2" \
        "$(js m2.hsnap.json "'%s %d %s %d' % (r['log']['point']['at'], r['log']['point']['marker'], r['log']['point']['kind'], r['log']['point']['serial'])")"

    hs snapshot --no-debuginfod out.hsl -o end.hsnap
    report_json end.hsnap
    expect "the end: after_signal" "5 27510" "$(live_at end.hsnap.json after_signal)"

    mkdir sub
    hs snapshot --no-debuginfod --all-markers out.hsl -o sub/all
    expect "--all-markers: status" 0 "$RC"
    expect "--all-markers: files" "out.marker1.hsnap out.marker2.hsnap" "$(cd sub/all && echo *)"
    expect "--all-markers: the second is --at marker:2's" "same" \
        "$(cmp -s sub/all/out.marker2.hsnap m2.hsnap && echo same)"
    report_json sub/all/out.marker1.hsnap
    expect "marker 1: before_signal" "5 27505" "$(live_at sub/all/out.marker1.hsnap.json before_signal)"
    hs snapshot --all-markers --at peak out.hsl
    expect "--all-markers with --at: status" 2 "$RC"
}

# A log still being written: snapshotted up to its last complete chunk, and at its
# first marker, while the program waits.
snap_live() {
    hs snapshot --no-debuginfod out.hsl -o live.hsnap
    expect "the live log: status" 0 "$RC"
    cp out.hsl live-copy.hsl
    hs snapshot --no-debuginfod --at marker:1 out.hsl -o live-m1.hsnap
    expect "the live log at marker 1: status" 0 "$RC"
}

t_live_log() {
    marker_log snap_live || return
    report_json live.hsnap
    expect "live: before_signal" "5 27505" "$(live_at live.hsnap.json before_signal)"
    expect "live: after_signal" "0 0" "$(live_at live.hsnap.json after_signal)"
    expect "live: the log had not ended" "False" "$(js live.hsnap.json "r['log']['ended']")"
    report_json live-m1.hsnap
    expect "live, marker 1: before_signal" "5 27505" "$(live_at live-m1.hsnap.json before_signal)"
}

# report SNAPSHOT reads as report LOG (but its first line), and the same input gives the
# same bytes.
t_report_of_snapshot() {
    "$HEAPSPAN" run -o known.hsl -- "$PROGS/known_c" >run.out 2>run.err ||
        fail "heapspan run known_c: $(cat run.err)"
    for fmt in text markdown json; do
        hs snapshot --no-debuginfod known.hsl -o known.hsnap
        cp known.hsnap again.hsnap
        hs snapshot --no-debuginfod known.hsl -o known.hsnap
        expect "the same log twice: the same bytes" same "$(cmp -s known.hsnap again.hsnap && echo same)"
        "$HEAPSPAN" report --no-debuginfod --format $fmt known.hsl >log.$fmt 2>&1
        "$HEAPSPAN" report --format $fmt known.hsnap >snap.$fmt 2>&1
        if [[ $fmt == json ]]; then
            expect "json: all but the log object" same "$(python3 -c '
import json, sys
a, b = json.load(open("log.json")), json.load(open("snap.json"))
b["log"].pop("snapshot"); b["log"].pop("point")
print("same" if a == b else "differ")')"
        else
            # The first line, and markdown's "_At the end of ..._" line and the blank
            # after it.
            expect "$fmt: all but the header" same \
                "$(cmp -s <(sed -e '1d' -e '/^_At /{N;d}' log.$fmt) \
                        <(sed -e '1d' -e '/^_At /{N;d}' snap.$fmt) && echo same)"
        fi
    done
    expect_grep "the header" "^heapspan report: known.hsnap \(a snapshot of known.hsl at the end\)$" snap.text
}

t_bad_snapshots() {
    "$HEAPSPAN" run -o known.hsl -- "$PROGS/known_c" >run.out 2>run.err
    "$HEAPSPAN" snapshot --no-symbols known.hsl -o good.hsnap 2>/dev/null
    head -c 100 good.hsnap >cut.hsnap
    python3 - <<'EOF'
b = bytearray(open("good.hsnap", "rb").read())
c = bytearray(b); c[60] ^= 1; open("crc.hsnap", "wb").write(c)
v = bytearray(b); v[8] = 2; open("v2.hsnap", "wb").write(v)
EOF
    for f in cut crc v2; do
        hs report $f.hsnap
        expect "$f: status" 2 "$RC"
        expect "$f: stderr lines" 1 "$(wc -l <err.txt)"
        expect "$f: stdout" "" "$(cat out.txt)"
        cp err.txt $f.err
    done
    expect_grep "cut: the message" "^heapspan report: cut.hsnap: byte 100: .*truncated" cut.err
    expect_grep "crc: the message" "^heapspan report: crc.hsnap: byte 48: .*checksum" crc.err
    expect_grep "v2: the message" "^heapspan report: v2.hsnap: byte 8: snapshot format version 2\.[0-9]+; this heapspan reads version 1.x" v2.err
    hs dump good.hsnap
    expect "dump of a snapshot: status" 2 "$RC"
    hs report --from 1 good.hsnap
    expect "--from on a snapshot: status" 2 "$RC"
}

# The sqlite3 shell's one-time libc allocations (stdio buffers, NSS, getpwuid's
# buffer): live at exit, leaks of nobody's. valgrind, whose __libc_freeres frees them,
# sees nothing live at exit.
t_sqlite_runtime() {
    command -v sqlite3 >/dev/null || {
        fail "sqlite3: expected it installed (apt-get install sqlite3) vs got none"
        return
    }
    echo 'select 1;' | timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run -o sq.hsl -- sqlite3 :memory: \
        >run.out 2>run.err || fail "heapspan run sqlite3: $(head -c 300 run.err)"
    report_json sq.hsl
    expect "leaked bytes" 0 "$(js sq.hsl.json "r['totals']['leaked_bytes']")"
    expect "leaked blocks" 0 "$(js sq.hsl.json "r['totals']['leaked_allocations']")"
    expect "runtime blocks: some" True "$(js sq.hsl.json "r['totals'].get('runtime_allocations', 0) >= 10")"
    expect "runtime bytes: all that is live" True \
        "$(js sq.hsl.json "r['totals']['runtime_bytes'] == sum(s['not_leaked']['live_bytes'] for s in r['sites'] if 'not_leaked' in s) > 8192")"
    expect "every site with live blocks is the runtime's" True \
        "$(js sq.hsl.json "all(s.get('not_leaked', {}).get('kind') == 'runtime' for s in r['sites'] if s['not_leaked' if 'not_leaked' in s else 'leaked_allocations'])")"
    hs report --no-debuginfod sq.hsl
    expect_grep "text: the section" "^ONE-TIME RUNTIME ALLOCATIONS: " out.txt
    expect_grep "text: the totals line" "^  runtime +[0-9.]+ KiB in [0-9]+ blocks" out.txt
    expect_grep "text: a stdio buffer" "^       stdio buffer$" out.txt
    # Without the built-in rules, the same blocks are leaks.
    report_json sq.hsl --no-builtin-suppressions
    expect "--no-builtin-suppressions: leaked" True \
        "$(python3 -c 'import json; a = json.load(open("sq.hsl.json")); print(a["totals"]["leaked_allocations"] >= 10 and "runtime_bytes" not in a["totals"])')"
    # A snapshot keeps them apart.
    hs snapshot --no-debuginfod sq.hsl -o sq.hsnap
    report_json sq.hsnap
    expect "snapshot: leaked bytes" 0 "$(js sq.hsnap.json "r['totals']['leaked_bytes']")"
    if command -v valgrind >/dev/null; then
        echo 'select 1;' | timeout 120 valgrind --leak-check=full --show-leak-kinds=all \
            --log-file=vg.txt sqlite3 :memory: >/dev/null 2>&1
        expect_grep "valgrind: nothing in use at exit" "in use at exit: 0 bytes in 0 blocks" vg.txt
    fi
}

# known_c's table: 20385 bytes leaked in 22 blocks, 7 x 1000 of them by leak_plain.
t_user_suppressions() {
    "$HEAPSPAN" run -o known.hsl -- "$PROGS/known_c" >run.out 2>run.err ||
        fail "heapspan run known_c: $(cat run.err)"
    printf '# known_c: leak_plain leaks on purpose\nleak:leak_plain\nrace:ignored\n' >s.supp
    report_json known.hsl --suppressions s.supp
    expect "leaked" "13385 15" "$(js known.hsl.json "'%d %d' % (r['totals']['leaked_bytes'], r['totals']['leaked_allocations'])")"
    expect "suppressed" "7000 7" "$(js known.hsl.json "'%d %d' % (r['totals']['suppressed_bytes'], r['totals']['suppressed_allocations'])")"
    expect "the site" "suppressed leak_plain 7000" \
        "$(js known.hsl.json "' '.join('%s %s %d' % (s['not_leaked']['kind'], s['not_leaked']['rule'], s['not_leaked']['live_bytes']) for s in r['sites'] if s['function'] == 'leak_plain')")"
    hs report --no-debuginfod --suppressions s.supp known.hsl
    expect_grep "text: the section" "^SUPPRESSED: " out.txt
    expect_grep "text: the totals line" "^  suppressed    6.84 KiB in 7 blocks" out.txt
    # Given to snapshot, the snapshot remembers; given to report, a snapshot takes it.
    hs snapshot --no-debuginfod --suppressions s.supp known.hsl -o with.hsnap
    report_json with.hsnap
    expect "snapshot with them: leaked" 13385 "$(js with.hsnap.json "int(r['totals']['leaked_bytes'])")"
    hs snapshot --no-debuginfod known.hsl -o without.hsnap
    report_json without.hsnap
    expect "snapshot without them: leaked" 20385 "$(js without.hsnap.json "int(r['totals']['leaked_bytes'])")"
    report_json without.hsnap --suppressions s.supp
    expect "snapshot without, report with: leaked" 13385 "$(js without.hsnap.json "int(r['totals']['leaked_bytes'])")"
    # A bad file: its name and line, status 2.
    printf 'leak:fine\nnot a rule\n' >bad.supp
    hs report --suppressions bad.supp known.hsl
    expect "bad file: status" 2 "$RC"
    expect_grep "bad file: the message" "^heapspan report: bad.supp:2: expected TYPE:PATTERN" err.txt
}

KEEP=0
selected=()
for a in "$@"; do
    case $a in
    --keep) KEEP=1 ;;
    -*)
        echo "usage: $0 [--keep] [TEST...]" >&2
        exit 2
        ;;
    *) selected+=("$a") ;;
    esac
done
((${#selected[@]})) || selected=("${ALL_TESTS[@]}")
for f in "$HEAPSPAN" "$SHIM" "$PROGS/marker" "$PROGS/known_c"; do
    [[ -f $f ]] || {
        echo "$0: $f is missing: run make test-progs and make test-report-progs first" >&2
        exit 2
    }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-snap.XXXXXX")
passed=0
failed=0
for t in "${selected[@]}"; do
    dir=$WORK/$t
    mkdir -p "$dir"
    FAILS=$dir/.fails
    (cd "$dir" && "t_$t") >"$dir/.log" 2>&1
    rc=$?
    [[ $rc == 0 || -s $FAILS ]] || echo "the test itself exited with status $rc" >>"$FAILS"
    if [[ -s $FAILS ]]; then
        failed=$((failed + 1))
        echo "FAIL $t: $(paste -sd ';' "$FAILS" | sed 's/;/; /g') [files: $dir]"
    else
        passed=$((passed + 1))
        echo "PASS $t"
        ((KEEP)) || rm -rf "$dir"
    fi
done
rmdir "$WORK" 2>/dev/null
echo "$passed passed, $failed failed"
((failed == 0))
