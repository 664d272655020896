#!/usr/bin/env bash
# stress.sh - the shim under load: thousands of threads, blocks freed by other threads,
# forks from several threads while others allocate, signal handlers that allocate,
# dlopen/dlclose loops, exec chains, and every way of ending while threads allocate.
# Each test runs its program without the shim and under it, checks that the program's
# output and exit status are the same, and checks the log's counts - exact where the
# program knows them by construction, lost_events 0 unless the test says why not.
#
#   tests/stress.sh [--full] [--list] [--keep] [TEST...]
#
# Quick by default (`make test` runs this, about 12 s on 2 cores: pool and signals are
# left to the integration tests' smaller forms, manythreads and sighandler); --full is
# `make stress`, a few minutes: every test, 10,000 threads, 600 threads x 20,000 pairs,
# longer storms and loops.
# Needs, as run-integration.sh: HEAPSPAN, SHIM, PROGS (the integration programs, for
# manythreads, sighandler and libhsdl.so), and STRESS (this suite's programs, built
# from tests/stress/ by tests/tests.mk). Prints "PASS name" or "FAIL name: what differed
# (expected vs got)" per test and its time, then "N passed, N failed".
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
STRESS=$(abspath "${STRESS:-build/tests/stress}")
TIMEOUT=${TEST_TIMEOUT:-120} # seconds for one program run
FULL=0

ALL_TESTS=(threads pool xfree handoff forkstorm signals dlloop execchain endings)
QUICK_TESTS=(threads xfree handoff forkstorm dlloop execchain endings)

# ---- checking (as run-integration.sh) ----

fail() {
    printf '%s\n' "$*" >>"$FAILS"
}

expect() {
    [[ $2 == "$3" ]] || fail "$1 (expected $2, got $3)"
}

expect_le() {
    [[ $3 =~ ^[0-9]+$ && $3 -le $2 ]] || fail "$1 (expected <= $2, got $3)"
}

expect_ge() {
    [[ $3 =~ ^[0-9]+$ && $3 -ge $2 ]] || fail "$1 (expected >= $2, got $3)"
}

summary() {
    [[ -f $1.sum ]] && return 0
    timeout 300 "$HEAPSPAN" dump --summary "$1" >"$1.sum" 2>"$1.sum.err"
    local rc=$?
    [[ $rc == 0 ]] || fail "dump --summary $(basename "$1") exited $rc: $(head -c 300 "$1.sum.err")"
}

sget() {
    summary "$1"
    sed -n "s/^$2=//p" "$1.sum"
}

# n_alloc LOG SIZE: allocation records of SIZE bytes; n_free_of LOG SIZE: frees of blocks
# allocated with SIZE bytes.
records() {
    [[ -f $1.txt ]] && return 0
    timeout 600 "$HEAPSPAN" dump "$1" >"$1.txt" 2>"$1.txt.err" ||
        fail "dump $(basename "$1") failed: $(head -c 300 "$1.txt.err")"
}

n_alloc() {
    records "$1"
    LC_ALL=C awk -v sz="size=$2" '$3 == "alloc" && $6 == sz { n++ } END { print n + 0 }' "$1.txt"
}

n_free_of() {
    records "$1"
    LC_ALL=C awk -v sz="size=$2" '
        $3 == "alloc" { if ($6 == sz) live[$5] = 1; else delete live[$5] }
        $3 == "free" { if ($5 in live) { n++; delete live[$5] } }
        END { print n + 0 }' "$1.txt"
}

# ---- running ----

# both NAME PROGRAM ARGS...: PROGRAM without the shim (output in NAME.plain.out, status
# in PLAIN_RC), then under it with the log at NAME.hsl (NAME.out, RC), from this test's
# directory; the two outputs and statuses must agree.
both() {
    local name=$1
    shift
    timeout -k 5 "$TIMEOUT" "$@" >"$name.plain.out" 2>"$name.plain.err"
    PLAIN_RC=$?
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_QUIET=1 \
        HEAPSPAN_OUTPUT="$PWD/$name.hsl" "$@" >"$name.out" 2>"$name.err"
    RC=$?
    [[ $RC != 124 ]] || fail "$name: timed out after ${TIMEOUT}s under the shim"
    expect "$name: exit status, plain and under the shim" "$PLAIN_RC" "$RC"
    expect "$name: stdout, plain and under the shim" "$(cat "$name.plain.out")" "$(cat "$name.out")"
    expect "$name: stderr under the shim" "" "$(grep -v '^heapspan: wrote ' "$name.err" | head -c 300)"
}

# ---- the tests ----

# Thousands of live threads (tests/progs/manythreads.c), each allocating, all alive at
# once, idle, then allocating again: the counts above a control run without pairs are
# exact and nothing is lost.
t_threads() {
    local n=2000 pairs=200
    ((FULL)) && n=10000
    both control "$PROGS/manythreads" "$n" 0 100 - 256 2
    both run "$PROGS/manythreads" "$n" "$pairs" 100 - 256 2
    expect "lost_events" 0 "$(sget run.hsl lost_events)"
    expect "allocations beyond the control run's" $((n * pairs * 2)) \
        "$(($(sget run.hsl allocations) - $(sget control.hsl allocations)))"
    expect "frees beyond the control run's" $((n * pairs * 2)) \
        "$(($(sget run.hsl frees) - $(sget control.hsl frees)))"
    expect "live_blocks, as in the control run" "$(sget control.hsl live_blocks)" \
        "$(sget run.hsl live_blocks)"
}

# More threads than the shim once had buffers for, each filling several (the 600 x
# 20,000 case that stalled it): exact counts of the 100-byte blocks.
t_pool() {
    local n=600 pairs=4000
    ((FULL)) && pairs=20000
    both run "$PROGS/manythreads" "$n" "$pairs" 100
    expect "lost_events" 0 "$(sget run.hsl lost_events)"
    expect "unknown_frees" 0 "$(sget run.hsl unknown_frees)"
    expect "allocations of 100 bytes" $((n * pairs)) "$(n_alloc run.hsl 100)"
    expect "allocations of 101 bytes (kept)" "$n" "$(n_alloc run.hsl 101)"
    rm -f run.hsl.txt
}

# Blocks allocated by 4 threads and freed by 4 others (tests/stress/xfree.c): every free
# matched to its allocation.
t_xfree() {
    local blocks=20000
    ((FULL)) && blocks=250000
    both control "$STRESS/xfree" 4 4 0 4401
    both run "$STRESS/xfree" 4 4 "$blocks" 4401
    expect "lost_events" 0 "$(sget run.hsl lost_events)"
    expect "unknown_frees" 0 "$(sget run.hsl unknown_frees)"
    expect "allocations beyond the control run's" $((4 * blocks)) \
        "$(($(sget run.hsl allocations) - $(sget control.hsl allocations)))"
    expect "frees beyond the control run's" $((4 * blocks)) \
        "$(($(sget run.hsl frees) - $(sget control.hsl frees)))"
    expect "live_blocks, as in the control run" "$(sget control.hsl live_blocks)" \
        "$(sget run.hsl live_blocks)"
}

# Two threads taking turns with one set of blocks (tests/stress/handoff.c): the writer
# stores rounded times, as only one thread allocates at a time, while each turn's first
# events depend on the other thread's last ones (frees and reallocs of its blocks,
# allocations at addresses it freed). In the merged log no address is allocated while
# it is live, and every block is freed, by a free or a realloc.
t_handoff() {
    local turns=300 blocks=200 size=4402
    ((FULL)) && turns=3000
    both control "$STRESS/handoff" 2 1 4403 0
    both run "$STRESS/handoff" "$turns" "$blocks" "$size" 300
    expect "lost_events" 0 "$(sget run.hsl lost_events)"
    expect "unknown_frees" 0 "$(sget run.hsl unknown_frees)"
    expect "live_blocks, as in the control run" "$(sget control.hsl live_blocks)" \
        "$(sget run.hsl live_blocks)"
    expect_ge "chunks with rounded times" 1 "$(sget run.hsl rounded_chunks)"
    expect "allocations of $size bytes" $((turns * blocks)) "$(n_alloc run.hsl "$size")"
    expect "frees (or reallocs) of the $size-byte blocks" $((turns * blocks)) \
        "$(n_free_of run.hsl "$size")"
    expect "allocations of $((2 * size)) bytes (the reallocs)" \
        $((turns * ((blocks + 2) / 3))) "$(n_alloc run.hsl $((2 * size)))"
    expect "allocations at an address still live, in time order" 0 "$(LC_ALL=C awk '
        $3 == "alloc" { if ($5 in live) bad++; live[$5] = 1 }
        $3 == "free" { delete live[$5] }
        END { print bad + 0 }' run.hsl.txt)"
    rm -f run.hsl.txt
}

# Forks from 4 threads at once while 4 others allocate (tests/stress/forkstorm.c):
# every child writes its own log with its one block, the parent's pairs are all there.
t_forkstorm() {
    local children=10 logs log f pairs sizes='' want=''
    ((FULL)) && children=50
    both run "$STRESS/forkstorm" 4 4 "$children" "$PWD/counts"
    read -r pairs <counts || {
        fail "the program wrote no counts"
        return
    }
    expect "parent: lost_events" 0 "$(sget run.hsl lost_events)"
    expect "parent: malloc size=2223" "$pairs" "$(n_alloc run.hsl 2223)"
    expect "parent: frees of 2223-byte blocks" "$pairs" "$(n_free_of run.hsl 2223)"
    logs=(run.*.hsl)
    expect "child logs" $((4 * children)) "$([[ -e ${logs[0]} ]] && echo ${#logs[@]} || echo 0)"
    for log in "${logs[@]}"; do
        [[ -e $log ]] || continue
        records "$log" # one dump a child: its records and its end record
        expect "$log: allocations, and its end" "1 reason=exit lost=0" \
            "$(LC_ALL=C awk '$3 == "alloc" { n++ } $2 == "end" { e = $3 " " $4 }
                END { print n + 0, e }' "$log.txt")"
        sizes="$sizes $(LC_ALL=C awk '$3 == "alloc" { print substr($6, 6) }' "$log.txt")"
    done
    for ((f = 0; f < 4; f++)); do
        for ((i = 0; i < children; i++)); do want="$want $((91000 + f))"; done
    done
    # shellcheck disable=SC2086
    expect "the children's blocks" "$(printf '%s\n' $want | sort -n | tr '\n' ' ')" \
        "$(printf '%s\n' $sizes | sort -n | tr '\n' ' ')"
}

# Signal handlers that allocate (tests/progs/sighandler.c): a handler that interrupts
# the shim cannot record (its event is counted as lost); every other is recorded, so
# recorded + lost is what the handlers did.
t_signals() {
    both run "$PROGS/sighandler" "$PWD/counts"
    local alarms loops
    read -r alarms loops <counts || {
        fail "the program wrote no counts"
        return
    }
    expect "malloc size=6101 (SIGUSR1 handler)" 10 "$(n_alloc run.hsl 6101)"
    expect "SIGALRM handler allocations: recorded + lost_events" "$alarms" \
        $(($(n_alloc run.hsl 6103) + $(sget run.hsl lost_events)))
    expect "malloc size=1003 (main loop)" $((loops + 100)) "$(n_alloc run.hsl 1003)"
    expect "frees of 1003-byte blocks" $((loops + 100)) "$(n_free_of run.hsl 1003)"
}

# dlopen/dlclose loops from 2 threads at once (tests/stress/dlloop.c, libhsdl.so).
t_dlloop() {
    local loops=100
    ((FULL)) && loops=1000
    both run "$STRESS/dlloop" "$PROGS/libhsdl.so" "$loops"
    expect "lost_events" 0 "$(sget run.hsl lost_events)"
    expect "unknown_frees" 0 "$(sget run.hsl unknown_frees)"
    expect "malloc size=34567 (kept)" $((2 * loops)) "$(n_alloc run.hsl 34567)"
    expect "malloc size=34568" $((4 * loops)) "$(n_alloc run.hsl 34568)"
    expect "frees of 34568-byte blocks" $((4 * loops)) "$(n_free_of run.hsl 34568)"
}

# A process that execs itself while threads allocate (tests/stress/execchain.c): one log
# per image, each with its own blocks.
t_execchain() {
    local n=5 k log
    ((FULL)) && n=30
    both run "$STRESS/execchain" 0 "$n"
    expect "logs" $((n + 1)) "$(ls run*.hsl | wc -l)"
    for ((k = 0; k <= n; k++)); do
        log=run.exec$((k + 1)).hsl
        ((k == n)) && log=run.hsl
        [[ -f $log ]] || {
            fail "no log $log for image $k"
            continue
        }
        expect "$log: malloc size=$((20000 + k))" 1 "$(n_alloc "$log" $((20000 + k)))"
        expect "$log: malloc size=3301" 4000 "$(n_alloc "$log" 3301)"
        expect "$log: frees of 3301-byte blocks" 4000 "$(n_free_of "$log" 3301)"
        expect "$log: lost_events" 0 "$(sget "$log" lost_events)"
    done
}

# Every way of ending while 4 threads allocate (tests/stress/endstress.c): the same exit
# status as without the shim, main's 10 blocks in the log, the ending it had, and no
# more than the 4 blocks the threads had in hand left unfreed.
t_endings() {
    local how ended rounds=1 r
    ((FULL)) && rounds=5
    for ((r = 0; r < rounds; r++)); do
        for how in exit _exit abort segv term pthread_exit; do
            both "$how.$r" "$STRESS/endstress" "$how"
            case $how in
            exit | pthread_exit) ended=exit ;;
            _exit) ended=_exit ;;
            *) ended=signal ;;
            esac
            expect "$how: ended" "$ended" "$(sget "$how.$r.hsl" ended)"
            expect "$how: lost_events" 0 "$(sget "$how.$r.hsl" lost_events)"
            expect "$how: malloc size=8201" 10 "$(n_alloc "$how.$r.hsl" 8201)"
            expect_le "$how: 3001-byte blocks not freed" 4 \
                $(($(n_alloc "$how.$r.hsl" 3001) - $(n_free_of "$how.$r.hsl" 3001)))
            rm -f "$how.$r.hsl.txt"
        done
    done
}

# ---- main ----

usage() {
    echo "usage: $0 [--full] [--list] [--keep] [TEST...]" >&2
    echo "tests: ${ALL_TESTS[*]}" >&2
    exit 2
}

KEEP=0
selected=()
for a in "$@"; do
    case $a in
    --list)
        printf '%s\n' "${ALL_TESTS[@]}"
        exit 0
        ;;
    --keep) KEEP=1 ;;
    --full) FULL=1 ;;
    -*) usage ;;
    *)
        [[ " ${ALL_TESTS[*]} " == *" $a "* ]] || {
            echo "$0: no test named '$a'" >&2
            usage
        }
        selected+=("$a")
        ;;
    esac
done
if ((!${#selected[@]})); then
    if ((FULL)); then
        selected=("${ALL_TESTS[@]}")
    else
        selected=("${QUICK_TESTS[@]}")
    fi
fi

for f in "$HEAPSPAN" "$SHIM"; do
    [[ -f $f ]] || {
        echo "$0: $f is missing: run make first" >&2
        exit 2
    }
done
for d in "$PROGS" "$STRESS"; do
    [[ -d $d ]] || {
        echo "$0: $d is missing: run make test-progs first" >&2
        exit 2
    }
done

ulimit -c 0 # abort and segv must not leave cores
WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-stress.XXXXXX")
passed=0
failed=0
for t in "${selected[@]}"; do
    dir=$WORK/$t
    mkdir -p "$dir"
    FAILS=$dir/.fails
    t0=$SECONDS
    (cd "$dir" && "t_$t") >"$dir/.log" 2>&1
    rc=$?
    [[ $rc == 0 || -s $FAILS ]] || echo "the test itself exited with status $rc" >>"$FAILS"
    if [[ -s $FAILS ]]; then
        failed=$((failed + 1))
        echo "FAIL stress $t ($((SECONDS - t0)) s): $(paste -sd ';' "$FAILS" | sed 's/;/; /g') [files: $dir]"
    else
        passed=$((passed + 1))
        echo "PASS stress $t ($((SECONDS - t0)) s)"
        ((KEEP)) || rm -rf "$dir"
    fi
done
rmdir "$WORK" 2>/dev/null
echo "$passed passed, $failed failed"
((failed == 0))
