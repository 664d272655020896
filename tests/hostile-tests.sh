#!/usr/bin/env bash
# hostile-tests.sh - `heapspan report` and `dump` on input made to hurt them: a FIFO or a
# directory given as the log, a module path that names a FIFO, stack ids no record
# defines or far beyond those it does, records that decompress to far more than the
# file holds, terminal escapes and bad UTF-8 in every string a log carries, a log whose
# recording stopped on a full disk. The logs come from
# tests/lib/mklog.c. Each command must finish within its time (a hang fails the test,
# never the run), use at most MAX_RSS_KB of memory, and say what it says plainly.
#
#   tests/hostile-tests.sh [TEST...]
#
# Environment (defaults for a run from the top directory): HEAPSPAN=build/heapspan,
# MKLOG=build/tests/mklog, PYTHON=python3, HOSTILE_TIMEOUT=20 (seconds per command).
# Prints "PASS name" or "FAIL name: what", then "N passed, N failed"; exits 1 if a test
# failed.
set -u -o pipefail

abspath() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
    esac
}

HEAPSPAN=$(abspath "${HEAPSPAN:-build/heapspan}")
MKLOG=$(abspath "${MKLOG:-$(dirname "$HEAPSPAN")/tests/mklog}")
PYTHON=${PYTHON:-python3}
TIMEOUT=${HOSTILE_TIMEOUT:-20}
MAX_RSS_KB=$((64 * 1024))

ALL_TESTS=(fifo_log dir_log fifo_module stack_id_2p31 stack_ids_rss meta_stack_id
    decompression_bombs escapes json_utf8 stopped damaged_chunks)

# ---- helpers ----


fail() {
    printf '%s\n' "$*" >>"$FAILS"
}

# run NAME CMD...: runs CMD with its stdout in NAME.out and stderr in NAME.err, killed
# after TIMEOUT seconds; NAME.rc gets its exit status (124: killed) and NAME.rss its
# peak resident memory in KB.
run() {
    local name=$1
    shift
    "$PYTHON" - "$name" "$TIMEOUT" "$@" <<'EOF'
import resource, subprocess, sys
name, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
with open(name + ".out", "wb") as out, open(name + ".err", "wb") as err:
    try:
        rc = subprocess.run(cmd, stdout=out, stderr=err, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = 124
open(name + ".rc", "w").write(f"{rc}\n")
open(name + ".rss", "w").write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
EOF
}

# expect_run NAME RC: the command ended in time with status RC, within MAX_RSS_KB.
expect_run() {
    local rc rss
    rc=$(cat "$1.rc")
    rss=$(cat "$1.rss")
    if [[ $rc == 124 ]]; then
        fail "$1: still running after $TIMEOUT s"
        return 1
    fi
    [[ $rc == "$2" ]] || fail "$1: exit status $rc, expected $2: $(tail -c 300 "$1.err")"
    ((rss <= MAX_RSS_KB)) || fail "$1: $rss KB of memory, expected at most $MAX_RSS_KB KB"
    [[ $rc == "$2" ]]
}

# expect_in NAME FILE TEXT: FILE holds TEXT.
expect_in() {
    grep -qF -- "$3" "$2" || fail "$1: expected '$3' in $2, got: $(head -c 400 "$2")"
}

expect_not_in() {
    ! grep -qF -- "$3" "$2" || fail "$1: did not expect '$3' in $2: $(grep -F -- "$3" "$2" | head -n 3)"
}

# ---- the tests ----

# A FIFO as the log: refused before it is opened (opening it waited for a writer).
t_fifo_log() {
    mkfifo log.hsl
    run report "$HEAPSPAN" report log.hsl
    expect_run report 2 && expect_in fifo report.err "log.hsl: not a regular file (a FIFO)"
    run dump "$HEAPSPAN" dump --summary log.hsl
    expect_run dump 2 && expect_in fifo dump.err "not a regular file (a FIFO)"
}

t_dir_log() {
    mkdir log.hsl
    run report "$HEAPSPAN" report log.hsl
    expect_run report 2 && expect_in dir report.err "log.hsl: not a regular file (a directory)"
}

# A module whose path names a FIFO, a device or a directory: the symbolizer never hands
# it to libdwfl (whose open of the FIFO waited for a writer for ever); its frames stay
# module+offset.
t_fifo_module() {
    local p
    mkfifo mod.fifo
    for p in "$PWD/mod.fifo" /dev/zero /dev/stdin "$PWD"; do
        "$MKLOG" log.hsl module "$p" || fail "mklog failed"
        run report "$HEAPSPAN" report log.hsl
        expect_run report 0 && expect_in "$p" report.out "$(basename "$p")+0x"
    done
}

# An allocation naming stack 2^31, which no record defines: the aggregator's table by id
# doubled past 2^31 to 0 and never returned.
t_stack_id_2p31() {
    "$MKLOG" log.hsl event-stack 2147483648 || fail "mklog failed"
    run report "$HEAPSPAN" report --no-symbols log.hsl
    expect_run report 0 || return
    expect_in report report.out "1 event names a stack id the log never defined (the first: 2147483648)"
    expect_in report report.out "1 allocations, 64 B in all"
    run json "$HEAPSPAN" report --no-symbols --format json log.hsl
    expect_run json 0
}

# Undefined stack ids of every size cost nothing: 2^20 took 1.08 GB, 2^24 17.7 GB. A
# stack record as far ahead as the reader allows (RD_STACK_ID_SLACK) is read, and costs
# a few MB.
t_stack_ids_rss() {
    local id
    for id in 4096 1048576 16777216 4294967295; do
        "$MKLOG" "ev-$id.hsl" event-stack "$id" || fail "mklog failed"
        run "ev-$id" "$HEAPSPAN" report --no-symbols "ev-$id.hsl"
        expect_run "ev-$id" 0 && expect_in "ev-$id" "ev-$id.out" "(the first: $id)"
    done
    "$MKLOG" meta-4096.hsl meta-stack 4096 || fail "mklog failed"
    run meta-4096 "$HEAPSPAN" report --no-symbols meta-4096.hsl
    expect_run meta-4096 0 && expect_not_in meta-4096 meta-4096.out "never defined"
}

# A stack record with id 2^28 asked for 8 GiB, then blamed memory: now an error naming
# the file, the byte and the id.
t_meta_stack_id() {
    "$MKLOG" log.hsl meta-stack 268435456 || fail "mklog failed"
    run report "$HEAPSPAN" report --no-symbols log.hsl
    expect_run report 2 || return
    expect_in report report.err "heapspan report: log.hsl: byte "
    expect_in report report.err "stack record with id 268435456"
    expect_not_in report report.err "memory"
}

# Records that decompress to far more than they take: 1.3 million module records in a
# 1.6 KB log took 944 MB and 4 s, a 27 KB log of events chunks with no barrier 190 MB,
# 600,000 stacks in 618 KB 585 MB (the aggregator's numbers per stack). The reader now
# refuses to hold, with its consumers' numbers per stack, more than 16 MiB + 256 times
# the file's size.
t_decompression_bombs() {
    "$MKLOG" stacks.hsl stacks 600000 || fail "mklog failed"
    run stacks "$HEAPSPAN" report --no-symbols stacks.hsl
    expect_run stacks 2 && expect_in stacks stacks.err "allowed for a log of its size"
    "$MKLOG" mods.hsl modules 1300000 || fail "mklog failed"
    run mods "$HEAPSPAN" report --no-symbols mods.hsl
    expect_run mods 2 && expect_in mods mods.err "allowed for a log of its size"
    "$MKLOG" nob.hsl no-barriers 100 || fail "mklog failed"
    run nob "$HEAPSPAN" report --no-symbols nob.hsl
    expect_run nob 2 && expect_in nob nob.err "allowed for a log of its size"
}

# safe_text NAME FILE...: each FILE holds only text a terminal shows as it is: no
# control character but the newline, no C1 control, nothing that is not UTF-8.
safe_text() {
    local name=$1
    shift
    "$PYTHON" - "$@" <<'EOF' || fail "$name: $(cat safe.txt)"
import re, sys
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        open("safe.txt", "w").write(f"{path}: not UTF-8 at byte {e.start}")
        sys.exit(1)
    m = re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    if m:
        open("safe.txt", "w").write(f"{path}: control character {m.group()!r} at {m.start()}")
        sys.exit(1)
EOF
}

# Terminal escapes, newlines and bad UTF-8 in the program's path and arguments, a
# module's path and a note reached the terminal as they were: now text, markdown and
# dump show them as C-style escapes.
t_escapes() {
    local i=0 args
    "$MKLOG" log.hsl escapes || fail "mklog failed"
    for args in "report --no-symbols" "report --no-symbols --format markdown" "dump" \
        "dump --summary" "dump --stacks" "dump --live"; do
        i=$((i + 1))
        # shellcheck disable=SC2086 # args is a list of words
        run "c$i" "$HEAPSPAN" $args log.hsl
        expect_run "c$i" 0 && safe_text "$args" "c$i.out" "c$i.err"
    done
    expect_in text c1.out 'program: /bin/\x1b[2J\x1b]0;owned\x07|<b>\ttab\nnew\rcr\x7f\xc2\x9b31m\xff\xc3'
    expect_in dump c3.out 'note warning note \x1b[2J'
}

# A path with bad UTF-8 made the JSON report invalid: each bad byte is now U+FFFD.
t_json_utf8() {
    "$MKLOG" log.hsl escapes || fail "mklog failed"
    run json "$HEAPSPAN" report --no-symbols --format json log.hsl
    expect_run json 0 || return
    "$PYTHON" - <<'EOF' || fail "json: $(cat check.txt)"
import json, sys
try:
    r = json.loads(open("json.out", "rb").read().decode("utf-8"))
    want = "/bin/\x1b[2J\x1b]0;owned\x07|<b>\ttab\nnew\rcr\x7f\x9b31m\ufffd\ufffd"
    assert r["log"]["exe"] == want, f"exe {r['log']['exe']!r}, expected {want!r}"
except Exception as e:
    open("check.txt", "w").write(f"{type(e).__name__}: {e}")
    sys.exit(1)
EOF
}

# Recording stopped on a full disk at 0.5 s with 21.8 M events not written: the report
# called the process "exited" and the blocks live then "leaked". Now it says recording
# stopped, when, and how much was lost, and shows those blocks as live at the stop.
# Two damaged chunks in the middle of a log (a checksum mismatch, a header without its
# magic): each command reads the rest and says once, on stderr, what it skipped and
# where; the report's numbers are those of the chunks left (mklog.c: 40 blocks, 40,090
# bytes).
t_damaged_chunks() {
    "$MKLOG" log.hsl damaged || fail "mklog failed"
    local offs
    offs=$("$PYTHON" - log.hsl <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
off, n, found = 64, 0, []
while off + 48 <= len(d):
    hsize, stored = struct.unpack_from("<HI", d, off + 6)
    if n in (3, 5):
        found.append(str(off))
    off += hsize + stored
    n += 1
print(" ".join(found))
EOF
)
    local first=${offs% *} second=${offs#* }
    run text "$HEAPSPAN" report --no-symbols log.hsl
    if expect_run text 0; then
        expect_in text text.out "live at end   39.2 KiB in 40 blocks"
        expect_in text text.out "allocations   40 (39.2 KiB)"
        [[ $(wc -l <text.err) == 1 ]] || fail "text: expected one line on stderr, got: $(cat text.err)"
        expect_in text text.err "log.hsl: skipped 2 damaged chunks ("
        expect_in text text.err ", 10 events) at bytes $first, $second: checksum mismatch (a disk or copy error), in an events chunk; the report covers the rest"
    fi
    run json "$HEAPSPAN" report --no-symbols --format json log.hsl
    if expect_run json 0; then
        "$PYTHON" -c 'import json, sys
r = json.load(open("json.out"))
t = r["totals"]
assert t["leaked_bytes"] == 40090 and t["allocations"] == 40, t' 2>check.txt ||
            fail "json: $(cat check.txt)"
        expect_in json json.err "skipped 2 damaged chunks"
    fi
    run sum "$HEAPSPAN" dump --summary log.hsl
    if expect_run sum 0; then
        expect_in sum sum.out "damaged_chunks=2"
        expect_in sum sum.out "damaged_events=10"
        expect_in sum sum.out "live_bytes=40090"
    fi
}

t_stopped() {
    "$MKLOG" log.hsl stopped 21800000 || fail "mklog failed"
    run text "$HEAPSPAN" report --no-symbols log.hsl
    if expect_run text 0; then
        expect_in text text.out "recording stopped)"
        expect_in text text.out "recording stopped at 0.500 s"
        expect_in text text.out "21,800,000 events after it were not written"
        expect_in text text.out "  live at stop  2.93 KiB in 3 blocks"
        expect_in text text.out "LIVE AT STOP: live when recording stopped"
        expect_in text text.out "2.93 KiB live at stop in 3 blocks"
        expect_not_in text text.out "exited"
        expect_not_in text text.out "leaked"
        expect_not_in text text.out "LEAKS"
    fi
    run md "$HEAPSPAN" report --no-symbols --format markdown log.hsl
    if expect_run md 0; then
        expect_in md md.out "_Recording stopped at 0.500 s"
        expect_in md md.out "| live at stop |"
        expect_not_in md md.out "leaked"
    fi
    run json "$HEAPSPAN" report --no-symbols --format json log.hsl
    expect_run json 0 || return
    "$PYTHON" - <<'EOF' || fail "json: $(cat check.txt)"
import json, sys
try:
    r = json.load(open("json.out"))
    s = r["log"].get("stopped")
    assert s == {"time_ns": 500000000, "lost_events": 21800000}, f"log.stopped {s!r}"
    assert r["totals"]["leaked_bytes"] == 3000, r["totals"]
    assert r["totals"]["lost_events"] == 21800000, r["totals"]
except Exception as e:
    open("check.txt", "w").write(f"{type(e).__name__}: {e}")
    sys.exit(1)
EOF
    # A log that ended as usual says nothing of a stop.
    "$MKLOG" exit.hsl event-stack 1 || fail "mklog failed"
    run exit "$HEAPSPAN" report --no-symbols --format json exit.hsl
    expect_run exit 0 && expect_not_in exit exit.out '"stopped"'
}

# ---- the runner ----

tests=("$@")
((${#tests[@]})) || tests=("${ALL_TESTS[@]}")
for f in "$HEAPSPAN" "$MKLOG"; do
    [[ -x $f ]] || {
        echo "$0: $f is missing: run make first" >&2
        exit 2
    }
done

pass=0
failed=0
RUN=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-hostile.XXXXXX") || exit 2
trap 'rm -rf "$RUN"' EXIT
for t in "${tests[@]}"; do
    if ! declare -F "t_$t" >/dev/null; then
        echo "FAIL $t: no such test"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$RUN/$t"
    FAILS=$RUN/$t.fails
    : >"$FAILS"
    (cd "$RUN/$t" && "t_$t") >"$RUN/$t.log" 2>&1
    if [[ -s $FAILS ]]; then
        echo "FAIL $t: $(head -n 3 "$FAILS" | tr '\n' ' ')"
        failed=$((failed + 1))
    else
        echo "PASS $t"
        pass=$((pass + 1))
    fi
done
echo "$pass passed, $failed failed"
[[ $failed -eq 0 ]]
