#!/usr/bin/env bash
# run-integration.sh - heapspan's integration tests: real programs from tests/progs, run
# under the shim, whose logs are checked against quantities known by construction (each
# program's header comment gives them; the numbers below are the same).
#
#   tests/run-integration.sh [--list] [--keep] [TEST...]
#
# Builds nothing: the tools and programs come from the environment (paths relative to the
# current directory):
#   HEAPSPAN=build/heapspan  SHIM=build/libheapspan.so  PROGS=build/tests/progs
#   PYTHON=<the real interpreter behind python3>  JEMALLOC=<libjemalloc.so.2>
# Each test runs in its own temporary directory, kept when the test fails (--keep: always).
# Prints "PASS name" or "FAIL name: what differed (expected vs got)" per test, then
# "N passed, N failed"; exits 1 if any test failed, 2 on a usage error.
#
# The checks read `heapspan dump` (records, --summary, --live) and resolve the innermost
# frame of a live stack with addr2line. Test programs avoid stdio where a test checks
# totals, so that the log holds their allocations and nothing else.
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
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
if [[ -z ${PYTHON:-} ]]; then
    # python3 may be a pyenv shim (a script that execs the interpreter): preload only
    # into the interpreter itself.
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
fi
TIMEOUT=${TEST_TIMEOUT:-60} # seconds for one program run under the shim

ALL_TESTS=(allocs cxx pyext threads manythreads fork fork_threads output_pid no_follow exec exec_child
    exec_fail exec_spawn exec_spawn_fail run_log_errors run_options dlopen jemalloc_preload jemalloc_api sigkill end_exit end_abort end_segv
    end_sigterm end_python_sigint end_pthread_exit fdclose fdraw sighandler sample regrow livezero marker marker_own
    disk_full fewfds output_special proctitle bad_env report_progress bad_log_empty bad_log_random bad_log_version bad_log_truncated
    bad_log_flipped demo)

# ---- checking ----

# Records a difference; a test passes when it records none.
fail() {
    printf '%s\n' "$*" >>"$FAILS"
}

# expect WHAT EXPECTED GOT
expect() {
    [[ $2 == "$3" ]] || fail "$1 (expected $2, got $3)"
}

expect_le() {
    [[ $3 =~ ^[0-9]+$ && $3 -le $2 ]] || fail "$1 (expected <= $2, got $3)"
}

expect_ge() {
    [[ $3 =~ ^[0-9]+$ && $3 -ge $2 ]] || fail "$1 (expected >= $2, got $3)"
}

# expect_grep WHAT PATTERN FILE: an extended regexp that must match a line of FILE.
expect_grep() {
    grep -Eq -- "$2" "$3" || fail "$1 (expected a line matching /$2/ in $(basename "$3"), got: $(head -c 300 "$3" | tr '\n' '|'))"
}

# ---- running ----

# hs_run ARGS...: `heapspan run ARGS` with a time limit; stdout to run.out, stderr to
# run.err, exit status in RC.
hs_run() {
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run "$@" >run.out 2>run.err
    RC=$?
    [[ $RC != 124 ]] || fail "heapspan run $* timed out after ${TIMEOUT}s"
}

# hs_run_bg ARGS...: the same in the background; HSPID is heapspan run's pid.
hs_run_bg() {
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run "$@" >run.out 2>run.err &
    HSPID=$!
}

# wait_file PATH: up to 15 s for PATH to appear.
wait_file() {
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -s $1 ]] && return 0
        sleep 0.05
    done
    fail "$1 never appeared (the program did not get ready in 15 s)"
    return 1
}

# Every log in the test directory is announced once by `heapspan: wrote PATH`, and
# nothing else is.
check_wrote() {
    local want got
    want=$(printf '%s\n' "$PWD"/*.hsl | sort | tr '\n' ' ')
    got=$(sed -n 's/^heapspan: wrote //p' run.err | sort | tr '\n' ' ')
    expect "'heapspan: wrote' lines" "${want% }" "${got% }"
}

# sorted_words WORDS...: the words, sorted by number then name, on one line.
sorted_words() {
    printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort -n | tr '\n' ' ' | sed 's/ $//'
}

# The logs in the test directory, by name.
logs_here() {
    printf '%s\n' ./*.hsl | sed 's|^\./||' | tr '\n' ' ' | sed 's/ $//'
}

# summary LOG: `dump --summary` into LOG.sum, checking that it succeeds.
summary() {
    [[ -f $1.sum ]] && return 0
    timeout 120 "$HEAPSPAN" dump --summary "$1" >"$1.sum" 2>"$1.sum.err"
    local rc=$?
    [[ $rc == 0 ]] || fail "dump --summary $(basename "$1") exited $rc: $(head -c 300 "$1.sum.err")"
}

# sget LOG KEY: one value of LOG's summary.
sget() {
    summary "$1"
    sed -n "s/^$2=//p" "$1.sum"
}

# records LOG: `dump LOG` into LOG.txt.
records() {
    [[ -f $1.txt ]] && return 0
    timeout 300 "$HEAPSPAN" dump "$1" >"$1.txt" 2>"$1.txt.err"
    local rc=$?
    [[ $rc == 0 ]] || fail "dump $(basename "$1") exited $rc: $(head -c 300 "$1.txt.err")"
}

# n_alloc LOG FN SIZE: allocation records of function FN and SIZE bytes (SIZE "*": any).
n_alloc() {
    records "$1"
    LC_ALL=C awk -v fn="fn=$2" -v sz="size=$3" \
        '$3 == "alloc" && $4 == fn && (sz == "size=*" || $6 == sz) { n++ } END { print n + 0 }' "$1.txt"
}

# n_free LOG FN: free records of function FN (free, delete, delete[], dallocx, or the
# freeing side of realloc and friends).
n_free() {
    records "$1"
    LC_ALL=C awk -v fn="fn=$2" '$3 == "free" && $4 == fn { n++ } END { print n + 0 }' "$1.txt"
}

# frees_of LOG SIZE: frees (of any kind) of blocks that were allocated with SIZE bytes.
frees_of() {
    records "$1"
    LC_ALL=C awk -v sz="size=$2" '
        $3 == "alloc" { if ($6 == sz) live[$5] = 1; else delete live[$5] }
        $3 == "free" { if ($5 in live) { n++; delete live[$5] } }
        END { print n + 0 }' "$1.txt"
}

# own_allocs LOG MODULE: allocation records whose innermost frame is in MODULE (the
# object's basename), leaving out what libraries allocate for themselves.
own_allocs() {
    records "$1"
    timeout 120 "$HEAPSPAN" dump --stacks "$1" >"$1.stacks" 2>"$1.stacks.err" ||
        fail "dump --stacks $(basename "$1") failed: $(head -c 300 "$1.stacks.err")"
    LC_ALL=C awk -v m="$2+0x" '
        FNR == NR { split($3, f, ","); if (index(f[1], m) == 1) own["stack=" $2] = 1; next }
        $3 == "alloc" && ($7 in own) { n++ }
        END { print n + 0 }' "$1.stacks" "$1.txt"
}

# live_funcs LOG OBJECT...: for the stacks still live at the end whose innermost frame is
# in one of the OBJECTs (matched by basename), "FUNCTION BLOCKS BYTES" per function, from
# addr2line. Written to LOG.funcs too.
live_funcs() {
    local log=$1 line blocks bytes frames first mod off obj fn
    shift
    timeout 120 "$HEAPSPAN" dump --live "$log" >"$log.live" 2>"$log.live.err" ||
        fail "dump --live $(basename "$log") exited $?: $(head -c 300 "$log.live.err")"
    while read -r line; do
        blocks=$(sed -n 's/.* blocks=\([0-9]*\) .*/\1/p' <<<"$line")
        bytes=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' <<<"$line")
        frames=${line##* frames=}
        first=${frames%%,*}
        mod=${first%+0x*}
        off=${first##*+}
        obj=
        for o in "$@"; do
            [[ $(basename "$o") == "$mod" ]] && obj=$o
        done
        [[ -n $obj && $off == 0x* ]] || continue
        fn=$(addr2line -f -e "$obj" "$(printf '0x%x' $((off - 1)))" | head -n 1)
        echo "$fn $blocks $bytes"
    done <"$log.live" | awk '{ b[$1] += $2; s[$1] += $3 } END { for (f in b) print f, b[f], s[f] }' |
        sort >"$log.funcs"
    cat "$log.funcs"
}

# live_func_names LOG: the functions with live blocks (after live_funcs), on one line.
live_func_names() {
    # shellcheck disable=SC2046
    sorted_words $(awk '{ print $1 }' "$1.funcs")
}

# live_of LOG FUNCTION: "BLOCKS blocks BYTES bytes" still live from FUNCTION (after
# live_funcs), or "none".
live_of() {
    local r
    r=$(awk -v f="$2" '$1 == f { print $2 " blocks " $3 " bytes" }' "$1.funcs")
    echo "${r:-none}"
}

# ---- the tests ----

# 1. Every C allocation function, exact counts, totals and leaks (tests/progs/allocs.c).
t_allocs() {
    hs_run -o out.hsl -- "$PROGS/allocs"
    expect "exit status" 0 "$RC"
    check_wrote
    local spec fn size n total_bytes=0
    for spec in malloc:10001:11 malloc:10004:1 malloc:10005:1 calloc:3027:5 \
        realloc:10003:1 realloc:20003:1 realloc:30003:1 realloc:40004:1 \
        reallocarray:10031:1 reallocarray:12897:1 realloc:10031:0 realloc:12897:0 \
        posix_memalign:10007:2 \
        aligned_alloc:10240:2 memalign:10009:2 valloc:10011:2 pvalloc:10013:2; do
        IFS=: read -r fn size n <<<"$spec"
        expect "fn=$fn size=$size allocations" "$n" "$(n_alloc out.hsl "$fn" "$size")"
        total_bytes=$((total_bytes + size * n))
    done
    for spec in malloc:13 calloc:5 realloc:4 reallocarray:2 posix_memalign:2 aligned_alloc:2 \
        memalign:2 valloc:2 pvalloc:2; do
        IFS=: read -r fn n <<<"$spec"
        expect "fn=$fn allocations (any size)" "$n" "$(n_alloc out.hsl "$fn" '*')"
    done
    expect "free() calls" 19 "$(n_free out.hsl free)"
    expect "allocations" 34 "$(sget out.hsl allocations)"
    # A resize of a live block is the free of the old block and a new allocation.
    expect "frees (19 free(), realloc(p, 0), the old side of 4 resizes)" 24 "$(sget out.hsl frees)"
    expect "unknown_frees" 0 "$(sget out.hsl unknown_frees)"
    expect "allocated_bytes" "$total_bytes" "$(sget out.hsl allocated_bytes)"
    expect "live_blocks" 10 "$(sget out.hsl live_blocks)"
    expect "live_bytes" 123314 "$(sget out.hsl live_bytes)"
    expect "peak_live_bytes" 123314 "$(sget out.hsl peak_live_bytes)"
    expect "lost_events" 0 "$(sget out.hsl lost_events)"
    expect "ended" exit "$(sget out.hsl ended)"
    live_funcs out.hsl "$PROGS/allocs" >/dev/null
    expect "live from leak_malloc" "3 blocks 30003 bytes" "$(live_of out.hsl leak_malloc)"
    expect "live from leak_calloc" "1 blocks 3027 bytes" "$(live_of out.hsl leak_calloc)"
    expect "live from leak_realloc" "1 blocks 40004 bytes" "$(live_of out.hsl leak_realloc)"
    expect "live from leak_aligned" "5 blocks 50280 bytes" "$(live_of out.hsl leak_aligned)"
    expect "functions with live blocks" "leak_aligned leak_calloc leak_malloc leak_realloc" \
        "$(live_func_names out.hsl)"
}

# 2. C++: new/delete in all their forms, container growth (tests/progs/cxx_ops.cc).
t_cxx() {
    hs_run -o out.hsl -- "$PROGS/cxx_ops"
    expect "exit status" 0 "$RC"
    check_wrote
    local spec fn size n
    for spec in new:1111:21 'new[]:2219:11' new:3392:7 new:4441:4 'new[]:4443:2' new:5000:50 \
        new:37:1 new:74:1 new:148:1 new:296:1 new:592:1 new:1184:1 new:2368:1 new:4736:1 \
        new:9472:1 new:18944:1 new:37888:1 \
        new:31:1 new:61:1 new:121:1 new:241:1 new:481:1 new:961:1 new:1921:1; do
        IFS=: read -r fn size n <<<"$spec"
        expect "fn=$fn size=$size allocations" "$n" "$(n_alloc out.hsl "$fn" "$size")"
    done
    expect "fn=new allocations (any size)" 100 "$(n_alloc out.hsl new '*')"
    expect "fn=new[] allocations (any size)" 13 "$(n_alloc out.hsl 'new[]' '*')"
    expect "delete records" 98 "$(n_free out.hsl delete)"
    expect "delete[] records" 12 "$(n_free out.hsl 'delete[]')"
    expect "frees of 1111-byte blocks" 20 "$(frees_of out.hsl 1111)"
    expect "frees of 3392-byte (aligned) blocks" 6 "$(frees_of out.hsl 3392)"
    expect "unknown_frees" 0 "$(sget out.hsl unknown_frees)"
    expect "lost_events" 0 "$(sget out.hsl lost_events)"
    live_funcs out.hsl "$PROGS/cxx_ops" >/dev/null
    expect "live from cxx_leak" "3 blocks 6722 bytes" "$(live_of out.hsl cxx_leak)"
    for fn in churn_objects throw_bad_alloc grow_containers; do
        expect "live from $fn" none "$(live_of out.hsl "$fn")"
    done
}

# 3. A CPython extension's own mallocs, in the real interpreter (tests/progs/hsext.c).
t_pyext() {
    if [[ -z $PYTHON || ! -x $PYTHON ]]; then
        fail "no Python interpreter (PYTHON=$PYTHON)"
        return
    fi
    local code="import sys; sys.path.insert(0, '$PROGS'); import hsext"
    # Control: the interpreter and the import alone make no 23457-byte allocation.
    hs_run -o control.hsl -- "$PYTHON" -c "$code"
    expect "control run exit status" 0 "$RC"
    expect "control run: malloc size=23457 allocations" 0 "$(n_alloc control.hsl malloc 23457)"
    rm -f control.hsl*

    hs_run -o out.hsl -- "$PYTHON" -c "$code; hsext.work(40, 10, 23457)"
    expect "exit status" 0 "$RC"
    check_wrote
    expect "exe" "$(readlink -f "$PYTHON")" "$(sget out.hsl exe)"
    expect "malloc size=23457 allocations" 40 "$(n_alloc out.hsl malloc 23457)"
    expect "frees of 23457-byte blocks" 30 "$(frees_of out.hsl 23457)"
    live_funcs out.hsl "$PROGS/hsext.so" >/dev/null
    expect "live from hsext_leak" "10 blocks 234570 bytes" "$(live_of out.hsl hsext_leak)"
    expect "live from hsext_churn" none "$(live_of out.hsl hsext_churn)"
    expect "ended" exit "$(sget out.hsl ended)"

    # The depth limit: every stack of the 40 allocations, taken under the interpreter's
    # frames (which keep no frame pointer), has exactly --depth frames, whichever way the
    # shim took it (a frame-pointer walk, libunwind's trace from where it stopped, or
    # unw_backtrace, which counts the shim's own frames before they are dropped).
    hs_run --depth 8 -o depth.hsl -- "$PYTHON" -c "$code; hsext.work(40, 10, 23457)"
    expect "exit status (--depth 8)" 0 "$RC"
    records depth.hsl
    timeout 120 "$HEAPSPAN" dump --stacks depth.hsl >depth.hsl.stacks 2>depth.hsl.stacks.err ||
        fail "dump --stacks depth.hsl failed: $(head -c 300 depth.hsl.stacks.err)"
    expect "--depth 8: frames of the stacks of the 23457-byte allocations" "40 of 8" \
        "$(LC_ALL=C awk 'FNR == NR { depth["stack=" $2] = split($3, f, ","); next }
            $3 == "alloc" && $6 == "size=23457" { n[depth[$7]]++ }
            END { for (d in n) print n[d] " of " d }' depth.hsl.stacks depth.hsl.txt)"
}

# 4. 8 threads x 1,000,000 malloc/free pairs of 4321 bytes (tests/progs/threads.c).
t_threads() {
    local t0=$SECONDS
    hs_run -o out.hsl -- "$PROGS/threads" 8 1000000 4321
    expect "exit status" 0 "$RC"
    check_wrote
    expect "lost_events" 0 "$(sget out.hsl lost_events)"
    expect "ended" exit "$(sget out.hsl ended)"
    # One pass over the 16M records: allocations of 4321 bytes per thread, and the frees
    # that match them by address.
    timeout 300 "$HEAPSPAN" dump out.hsl 2>dump.err | LC_ALL=C awk '
        $3 == "alloc" { if ($6 == "size=4321") { live[$5] = 1; n[$2]++; total++ } else delete live[$5] }
        $3 == "free" { if ($5 in live) { freed++; delete live[$5] } }
        END {
            print "allocations", total + 0
            print "frees", freed + 0
            for (t in n) if (n[t] == 1000000) full++
            print "threads", length(n), full + 0
        }' >counts
    [[ ${PIPESTATUS[0]} == 0 ]] || fail "dump out.hsl failed: $(head -c 300 dump.err)"
    expect "malloc size=4321 allocations" 8000000 "$(awk '$1 == "allocations" { print $2 }' counts)"
    expect "frees of 4321-byte blocks" 8000000 "$(awk '$1 == "frees" { print $2 }' counts)"
    expect "threads with 4321-byte allocations, and with exactly 1000000 each" "8 8" \
        "$(awk '$1 == "threads" { print $2, $3 }' counts)"
    [[ -s $FAILS ]] || rm -f out.hsl # 10+ MB; kept when something differed
    echo "threads: $((SECONDS - t0)) s" >&2
}

# More live threads than the shim once had buffers for (tests/progs/manythreads.c): 600
# threads, all alive, each doing 4,000 malloc/free pairs of 100 bytes (more than one
# buffer's worth), twice, idle for 400 ms in between. Every event is in the log: the
# counts above a control run with no pairs are exact, nothing is lost. And an idle
# recorded thread costs little: the RSS the shim adds per thread (the slope between 500
# and 1000 idle threads, so that fixed costs cancel, less a plain run's slope) stays
# under 56 KiB. Measured with manythreads_nofp, whose stacks go through libunwind's
# tracer: 41 KiB (6 pages of thread state, a page of buffer, a page of the tracer's
# cache, and the stack the walks reach); before, 413 KiB.
t_manythreads() {
    local t0 k n sum0 sum1
    mkdir control
    hs_run -o control/out.hsl -- "$PROGS/manythreads" 600 0 100 - 256 2
    expect "control run: exit status" 0 "$RC"
    t0=$SECONDS
    hs_run -o out.hsl -- "$PROGS/manythreads" 600 4000 100 - 256 2
    expect "exit status" 0 "$RC"
    echo "manythreads: 600 threads x 4000 pairs x 2: $((SECONDS - t0)) s" >&2
    check_wrote
    expect "lost_events" 0 "$(sget out.hsl lost_events)"
    expect "unknown_frees" 0 "$(sget out.hsl unknown_frees)"
    expect "ended" exit "$(sget out.hsl ended)"
    for k in allocations frees; do
        sum0=$(sget control/out.hsl $k)
        sum1=$(sget out.hsl $k)
        expect "$k beyond the control run's" 4800000 "$((sum1 - sum0))"
    done
    expect "allocated_bytes beyond the control run's" 480000000 \
        "$(($(sget out.hsl allocated_bytes) - $(sget control/out.hsl allocated_bytes)))"
    expect "live_blocks (as in the control run)" "$(sget control/out.hsl live_blocks)" \
        "$(sget out.hsl live_blocks)"
    [[ -s $FAILS ]] || rm -f out.hsl

    local mode rss plain_slope shim_slope
    for mode in plain shim; do
        for n in 500 1000; do
            if [[ $mode == plain ]]; then
                timeout -k 5 "$TIMEOUT" "$PROGS/manythreads_nofp" $n 4000 100 "rss.$mode.$n"
            else
                timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_QUIET=1 \
                    HEAPSPAN_OUTPUT="$PWD/rss.$n.hsl" "$PROGS/manythreads_nofp" $n 4000 100 \
                    "rss.$mode.$n"
            fi
            expect "$mode run of $n threads: exit status" 0 $?
        done
    done
    rss() { awk '{ print $1 }' "rss.$1.$2" 2>/dev/null || echo 0; }
    plain_slope=$((($(rss plain 1000) - $(rss plain 500)) / 500))
    shim_slope=$((($(rss shim 1000) - $(rss shim 500)) / 500))
    echo "manythreads: RSS per idle thread: plain $plain_slope KiB, under the shim $shim_slope KiB" >&2
    expect_le "KiB of RSS the shim adds per idle recorded thread" 56 $((shim_slope - plain_slope))
    rm -f rss.*.hsl
}

# 5. fork: a parent and 4 children, each with its own log and leak (tests/progs/forks.c).
t_fork() {
    hs_run -o out.hsl -- "$PROGS/forks"
    expect "exit status" 0 "$RC"
    check_wrote
    local ppid
    ppid=$(sget out.hsl pid)
    expect "parent: allocations" 6 "$(sget out.hsl allocations)"
    expect "parent: frees" 1 "$(sget out.hsl frees)"
    expect "parent: unknown_frees" 0 "$(sget out.hsl unknown_frees)"
    expect "parent: live_blocks" 5 "$(sget out.hsl live_blocks)"
    expect "parent: live_bytes" 350250 "$(sget out.hsl live_bytes)"
    expect "parent: ended" exit "$(sget out.hsl ended)"
    live_funcs out.hsl "$PROGS/forks" >/dev/null
    expect "parent: live from parent_leak" "5 blocks 350250 bytes" "$(live_of out.hsl parent_leak)"
    expect "parent: functions with live blocks" parent_leak "$(live_func_names out.hsl)"

    local logs=(out.*.hsl) log pid i seen=''
    expect "child logs" 4 "$([[ -e ${logs[0]} ]] && echo ${#logs[@]} || echo 0)"
    for log in "${logs[@]}"; do
        [[ -e $log ]] || continue
        pid=${log#out.}
        pid=${pid%.hsl}
        expect "$log: pid in the name" "$pid" "$(sget "$log" pid)"
        expect "$log: ppid" "$ppid" "$(sget "$log" ppid)"
        # Which child it is, from the size of its leak.
        records "$log"
        i=$(LC_ALL=C awk '$3 == "alloc" && $6 ~ /^size=7000[1-4]$/ { print substr($6, 10); exit }' \
            "$log.txt")
        if [[ ! $i =~ ^[1-4]$ ]]; then
            fail "$log: no child_leak allocation of 70001..70004 bytes"
            continue
        fi
        seen="$seen $i"
        expect "$log (child $i): allocations" $((i + 1)) "$(sget "$log" allocations)"
        expect "$log (child $i): malloc size=$((70000 + i))" "$i" "$(n_alloc "$log" malloc $((70000 + i)))"
        expect "$log (child $i): malloc size=$((70100 + i))" 1 "$(n_alloc "$log" malloc $((70100 + i)))"
        expect "$log (child $i): frees" 1 "$(sget "$log" frees)"
        expect "$log (child $i): unknown_frees (the inherited block)" 1 "$(sget "$log" unknown_frees)"
        expect "$log (child $i): live_bytes" $((i * (70000 + i))) "$(sget "$log" live_bytes)"
        expect "$log (child $i): ended" exit "$(sget "$log" ended)"
        live_funcs "$log" "$PROGS/forks" >/dev/null
        expect "$log (child $i): live from child_leak" "$i blocks $((i * (70000 + i))) bytes" "$(live_of "$log" child_leak)"
    done
    # shellcheck disable=SC2086
    expect "children seen" "1 2 3 4" "$(sorted_words $seen)"
}

# fork while 4 threads allocate (tests/progs/fork_busy.c): no deadlock, and each of the
# 20 children's logs holds its one allocation and nothing of the threads'.
t_fork_threads() {
    hs_run -o out.hsl -- "$PROGS/fork_busy" "$PWD/counts"
    expect "exit status" 0 "$RC"
    check_wrote
    local pairs ppid log sizes=''
    read -r pairs <counts || {
        fail "the program wrote no counts"
        return
    }
    ppid=$(sget out.hsl pid)
    expect "parent: malloc size=2221 allocations" "$pairs" "$(n_alloc out.hsl malloc 2221)"
    expect "parent: frees of 2221-byte blocks" "$pairs" "$(frees_of out.hsl 2221)"
    expect "parent: lost_events" 0 "$(sget out.hsl lost_events)"
    expect "parent: ended" exit "$(sget out.hsl ended)"
    local logs=(out.*.hsl)
    expect "child logs" 20 "$([[ -e ${logs[0]} ]] && echo ${#logs[@]} || echo 0)"
    for log in "${logs[@]}"; do
        [[ -e $log ]] || continue
        expect "$log: ppid" "$ppid" "$(sget "$log" ppid)"
        expect "$log: allocations" 1 "$(sget "$log" allocations)"
        expect "$log: ended" exit "$(sget "$log" ended)"
        records "$log"
        sizes="$sizes $(LC_ALL=C awk '$3 == "alloc" { print substr($6, 6) }' "$log.txt")"
    done
    # shellcheck disable=SC2086
    expect "the children's allocation sizes" "$(sorted_words $(seq 80001 80020))" \
        "$(sorted_words $sizes)"
}

# -o with %p: every process's log is named by its own pid, once (tests/progs/forks.c).
t_output_pid() {
    hs_run -o 'out.%p.hsl' -- "$PROGS/forks"
    expect "exit status" 0 "$RC"
    check_wrote
    local log pid root='' n_root=0 n_child=0
    for log in *.hsl; do
        pid=$(sed -n 's/^out\.\([0-9]*\)\.hsl$/\1/p' <<<"$log")
        expect "$log: named out.PID.hsl" yes "$([[ -n $pid ]] && echo yes || echo no)"
        expect "$log: the pid in the name" "$pid" "$(sget "$log" pid)"
        if [[ $(sget "$log" allocations) == 6 ]]; then
            root=$pid
            n_root=$((n_root + 1))
        fi
    done
    expect "logs with the parent's 6 allocations" 1 "$n_root"
    for log in *.hsl; do
        [[ $log == "out.$root.hsl" ]] && continue
        n_child=$((n_child + 1))
        expect "$log: ppid" "$root" "$(sget "$log" ppid)"
    done
    expect "children's logs" 4 "$n_child"
}

# --no-follow-children: the children write nothing, the parent's log is the same.
t_no_follow() {
    hs_run --no-follow-children -o out.hsl -- "$PROGS/forks"
    expect "exit status" 0 "$RC"
    check_wrote
    expect "logs written" out.hsl "$(logs_here)"
    expect "allocations" 6 "$(sget out.hsl allocations)"
    expect "frees" 1 "$(sget out.hsl frees)"
    expect "live_bytes" 350250 "$(sget out.hsl live_bytes)"
    expect "children's allocations in the parent's log" 0 \
        "$(records out.hsl; LC_ALL=C awk '$3 == "alloc" && $6 ~ /^size=70(0[0-9][1-9]|10[1-4])$/' out.hsl.txt | wc -l)"
}

# 6. exec in the root process: the old image's log becomes out.exec1.hsl.
t_exec() {
    hs_run -o out.hsl -- "$PROGS/exec_a" root "$PROGS/exec_b"
    expect "exit status" 0 "$RC"
    check_wrote
    expect "logs written" "out.exec1.hsl out.hsl" "$(logs_here)"
    [[ -f out.exec1.hsl && -f out.hsl ]] || return
    local pid
    pid=$(sget out.exec1.hsl pid)
    expect "new image: pid" "$pid" "$(sget out.hsl pid)"
    expect "old image: exe" "$PROGS/exec_a" "$(sget out.exec1.hsl exe)"
    expect "old image: allocations" 2 "$(sget out.exec1.hsl allocations)"
    expect "old image: exec markers" 1 "$(records out.exec1.hsl; grep -c ' marker kind=exec ' out.exec1.hsl.txt)"
    expect "old image: markers" 1 "$(sget out.exec1.hsl markers)"
    live_funcs out.exec1.hsl "$PROGS/exec_a" >/dev/null
    expect "old image: live from before_exec" "2 blocks 120002 bytes" "$(live_of out.exec1.hsl before_exec)"
    expect "new image: exe" "$PROGS/exec_b" "$(sget out.hsl exe)"
    expect "new image: allocations" 3 "$(sget out.hsl allocations)"
    expect "new image: markers" 0 "$(sget out.hsl markers)"
    expect "new image: ended" exit "$(sget out.hsl ended)"
    live_funcs out.hsl "$PROGS/exec_b" >/dev/null
    expect "new image: live from after_exec" "3 blocks 180006 bytes" "$(live_of out.hsl after_exec)"
}

# exec in a forked child: the child's images log to out.PID.exec1.hsl and out.PID.hsl.
t_exec_child() {
    hs_run -o out.hsl -- "$PROGS/exec_a" child "$PROGS/exec_b"
    expect "exit status" 0 "$RC"
    check_wrote
    local ppid logs cpid
    ppid=$(sget out.hsl pid)
    expect "parent: exe" "$PROGS/exec_a" "$(sget out.hsl exe)"
    expect "parent: allocations" 1 "$(sget out.hsl allocations)"
    expect "parent: markers" 0 "$(sget out.hsl markers)"
    live_funcs out.hsl "$PROGS/exec_a" >/dev/null
    expect "parent: live from parent_after_fork" "1 blocks 60004 bytes" "$(live_of out.hsl parent_after_fork)"
    logs=$(printf '%s\n' *.hsl | grep -vx 'out\.hsl' | tr '\n' ' ' | sed 's/ $//')
    cpid=$(sed -n 's/^out\.\([0-9]*\)\.hsl$/\1/p' <<<"${logs// /$'\n'}")
    expect "logs besides out.hsl" "out.$cpid.exec1.hsl out.$cpid.hsl" "$logs"
    [[ -n $cpid && -f out.$cpid.hsl ]] || return
    expect "child, new image: pid" "$cpid" "$(sget "out.$cpid.hsl" pid)"
    expect "child, new image: ppid" "$ppid" "$(sget "out.$cpid.hsl" ppid)"
    expect "child, new image: exe" "$PROGS/exec_b" "$(sget "out.$cpid.hsl" exe)"
    expect "child, new image: allocations" 3 "$(sget "out.$cpid.hsl" allocations)"
    expect "child, new image: ended" exit "$(sget "out.$cpid.hsl" ended)"
    live_funcs "out.$cpid.hsl" "$PROGS/exec_b" >/dev/null
    expect "child, new image: live from after_exec" "3 blocks 180006 bytes" "$(live_of "out.$cpid.hsl" after_exec)"
    [[ -f out.$cpid.exec1.hsl ]] || return
    expect "child, old image: pid" "$cpid" "$(sget "out.$cpid.exec1.hsl" pid)"
    expect "child, old image: ppid" "$ppid" "$(sget "out.$cpid.exec1.hsl" ppid)"
    expect "child, old image: allocations" 1 "$(sget "out.$cpid.exec1.hsl" allocations)"
    expect "child, old image: exec markers" 1 "$(records "out.$cpid.exec1.hsl"; grep -c ' marker kind=exec ' "out.$cpid.exec1.hsl.txt")"
    live_funcs "out.$cpid.exec1.hsl" "$PROGS/exec_a" >/dev/null
    expect "child, old image: live from child_before_exec" "1 blocks 60003 bytes" "$(live_of "out.$cpid.exec1.hsl" child_before_exec)"
}

# An exec that fails: one log, which goes on.
t_exec_fail() {
    hs_run -o out.hsl -- "$PROGS/exec_a" fail
    expect "exit status" 0 "$RC"
    check_wrote
    expect "logs written" out.hsl "$(logs_here)"
    expect "allocations" 2 "$(sget out.hsl allocations)"
    expect "ended" exit "$(sget out.hsl ended)"
    live_funcs out.hsl "$PROGS/exec_a" >/dev/null
    expect "live from before_failed_exec" "1 blocks 60005 bytes" "$(live_of out.hsl before_failed_exec)"
    expect "live from after_failed_exec" "1 blocks 60006 bytes" "$(live_of out.hsl after_failed_exec)"
}

# fork then exec at once, twice (a pre-exec child that allocates nothing): each child
# leaves the one log of the program it became, no empty out.PID.exec1.hsl.
t_exec_spawn() {
    hs_run -o out.hsl -- "$PROGS/exec_a" spawn "$PROGS/exec_b"
    expect "exit status" 0 "$RC"
    check_wrote
    local logs l
    logs=$(printf '%s\n' *.hsl | grep -vx 'out\.hsl' | tr '\n' ' ' | sed 's/ $//')
    expect "logs besides out.hsl: two, no exec1" 2 "$(wc -w <<<"$logs")"
    [[ $logs != *exec* ]] || fail "an .execN log was left: $logs"
    for l in $logs; do
        expect "$l: exe" "$PROGS/exec_b" "$(sget "$l" exe)"
        expect "$l: allocations" 3 "$(sget "$l" allocations)"
        expect "$l: ended" exit "$(sget "$l" ended)"
        expect "$l: ppid" "$(sget out.hsl pid)" "$(sget "$l" ppid)"
    done
    expect "parent: allocations" 1 "$(sget out.hsl allocations)"
}

# A pre-exec child whose exec fails: the log removed before the exec is written again,
# and goes on with what the child allocates after.
t_exec_spawn_fail() {
    hs_run -o out.hsl -- "$PROGS/exec_a" spawnfail
    expect "exit status" 0 "$RC"
    check_wrote
    local logs
    logs=$(printf '%s\n' *.hsl | grep -vx 'out\.hsl' | tr '\n' ' ' | sed 's/ $//')
    expect "logs besides out.hsl" 1 "$(wc -w <<<"$logs")"
    [[ -f $logs ]] || return
    expect "child: allocations" 1 "$(sget "$logs" allocations)"
    expect "child: ended" _exit "$(sget "$logs" ended)"
    expect "child: exe" "$PROGS/exec_a" "$(sget "$logs" exe)"
    records "$logs"
    expect "child: the exec marker and the note" "1 1" \
        "$(grep -c ' marker kind=exec ' "$logs.txt") $(grep -c 'exec failed; this image goes on recording' "$logs.txt")"
    live_funcs "$logs" "$PROGS/exec_a" >/dev/null
    expect "child: live from child_after_failed_exec" "1 blocks 60007 bytes" "$(live_of "$logs" child_after_failed_exec)"
}

# `heapspan run` and its log: every failure before the program starts, exit 2, and the
# program never runs (it would write ran.txt).
t_run_log_errors() {
    local prog=$PWD/prog.sh
    printf '#!/bin/sh\necho ran >>"%s/ran.txt"\n' "$PWD" >"$prog"
    chmod +x "$prog"

    hs_run -o "$PWD/no/such/dir/out.hsl" -- "$prog"
    expect "missing directory: exit status" 2 "$RC"
    expect_grep "missing directory: the message" "^heapspan run: cannot create the log .*/no/such/dir/out\.hsl: No such file or directory; choose a writable place with -o" run.err
    expect "missing directory: stderr lines" 1 "$(wc -l <run.err)"

    mkdir ro && chmod 555 ro
    if [[ $(id -u) != 0 ]]; then
        hs_run -o ro/out.hsl -- "$prog"
        expect "unwritable directory: exit status" 2 "$RC"
        expect_grep "unwritable directory: the message" "cannot create the log ro/out\.hsl: Permission denied" run.err
    fi
    hs_run -o /proc/version -- "$prog"
    expect "/proc/version: exit status" 2 "$RC"
    hs_run -o /dev/null -- "$prog"
    expect "/dev/null: exit status" 2 "$RC"
    expect_grep "/dev/null: the message" "/dev/null is a character device; the log must be a regular file" run.err
    [[ -e /dev/null-2 ]] && fail "/dev/null-2 exists"
    [[ -e ran.txt ]] && fail "the program ran after a log error: $(cat ran.txt)"
    rm -f ran.txt

    # A directory, or a name ending in /: the default name inside it (made if missing).
    mkdir logs
    hs_run -o logs -- "$PROGS/exec_b"
    expect "-o logs: exit status" 0 "$RC"
    expect "-o logs: one log named heapspan.PID.hsl" 1 "$(ls logs | grep -Ec '^heapspan\.[0-9]+\.hsl$')"
    hs_run -o newdir/sub/ -- "$PROGS/exec_a" child "$PROGS/exec_b"
    expect "-o newdir/sub/: exit status" 0 "$RC"
    expect "-o newdir/sub/: heapspan.PID.hsl for the parent, its child's two images" 3 \
        "$(ls newdir/sub | grep -Ec '^heapspan\.[0-9]+(\.exec1)?\.hsl$')"
    expect "-o newdir/sub/: nothing else" 3 "$(ls -A newdir/sub | wc -l)"

    # An existing log is refused, untouched; --force replaces it.
    hs_run -o out.hsl -- "$PROGS/exec_b"
    expect "first run: exit status" 0 "$RC"
    local sum
    sum=$(cksum <out.hsl)
    hs_run -o out.hsl -- "$prog"
    expect "existing log: exit status" 2 "$RC"
    expect_grep "existing log: the message" "^heapspan run: out\.hsl exists .*pass --force to replace it" run.err
    expect "existing log: untouched" "$sum" "$(cksum <out.hsl)"
    [[ -e ran.txt ]] && fail "the program ran over an existing log"
    expect "no out-2.hsl" "" "$(ls out-2.hsl 2>/dev/null)"
    hs_run --force -o out.hsl -- "$PROGS/exec_a" fail
    expect "--force: exit status" 0 "$RC"
    expect "--force: the new run's log" "$PROGS/exec_a 2" "$(sget out.hsl exe) $(sget out.hsl allocations)"

    # %p and %e are the program's pid and name.
    hs_run -o '%e-%p.hsl' -- "$PROGS/exec_b"
    local named=(exec_b-*.hsl)
    expect "%e-%p: one log" 1 "$([[ -e ${named[0]} ]] && echo ${#named[@]} || echo 0)"
    [[ -e ${named[0]} ]] && expect "%e-%p: the pid in the name" "exec_b-$(sget "${named[0]}" pid).hsl" "${named[0]}"

    # A program that cannot run: 127 (not found) or 126 (not executable), no log left.
    hs_run -o gone.hsl -- "$PWD/no-such-program"
    expect "no such program: exit status" 127 "$RC"
    [[ -e gone.hsl ]] && fail "gone.hsl was left behind"
    touch notexec
    hs_run -o gone.hsl -- "$PWD/notexec"
    expect "not executable: exit status" 126 "$RC"
    [[ -e gone.hsl ]] && fail "gone.hsl was left behind (126)"
    # (A program the shim never loads into leaves no empty log: api-tests.sh's run_static.)
    return 0
}

# Every option checked by run itself, naming the option; a bad inherited HEAPSPAN_*
# value named as such; near misses get "did you mean", on every command.
t_run_options() {
    local prog=$PWD/prog.sh a opt val want
    printf '#!/bin/sh\necho ran >>"%s/ran.txt"\n' "$PWD" >"$prog"
    chmod +x "$prog"
    while IFS='|' read -r opt val want; do
        hs_run "$opt" "$val" -o x.hsl -- "$prog"
        expect "$opt $val: exit status" 2 "$RC"
        expect "$opt $val: stderr's first line" "heapspan run: $opt $val: expected $want" "$(head -1 run.err)"
        grep -q HEAPSPAN_ run.err && fail "$opt $val: a variable is named: $(head -1 run.err)"
    done <<'END'
--marker-signal|FOO|USR1, USR2, RTMIN+N, a signal number, or off
--marker-signal|9|USR1, USR2, RTMIN+N, a signal number, or off
--marker-signal|RTMIN+999|USR1, USR2, RTMIN+N, a signal number, or off
--snapshot-interval|-3|seconds from 0.001 to 86400 (e.g. 30 or 0.5)
--snapshot-interval|0|seconds from 0.001 to 86400 (e.g. 30 or 0.5)
--snapshot-interval|nan|seconds from 0.001 to 86400 (e.g. 30 or 0.5)
--snapshot-interval|1e9|seconds from 0.001 to 86400 (e.g. 30 or 0.5)
--sample|-1|a byte count like 524288 or 512K
--sample|12Q|a byte count like 524288 or 512K
--snapshot-on-rss|lots|a byte count like 512M or 2G
--depth|0|1 to 1024 frames
--depth|2000|1 to 1024 frames
-o||a file or directory name
END
    [[ -e ran.txt ]] && fail "the program ran after a bad option"
    [[ -e x.hsl ]] && fail "a log was made after a bad option"
    for a in "--marker-signal USR1" "--marker-signal SIGRTMIN+2" "--marker-signal off" \
        "--snapshot-interval 0.5" "--sample 512K" "--snapshot-on-rss 2G" "--depth 1024"; do
        rm -f x.hsl
        # shellcheck disable=SC2086
        hs_run $a -o x.hsl -- "$PROGS/exec_b"
        expect "$a: exit status" 0 "$RC"
        expect "$a: stderr (the wrote line only)" "heapspan: wrote $PWD/x.hsl" "$(cat run.err)"
    done

    HEAPSPAN_MARKER_SIGNAL=BOGUS hs_run -o y.hsl -- "$prog"
    expect "inherited bad value: exit status" 2 "$RC"
    expect "inherited bad value: the message" \
        "heapspan run: HEAPSPAN_MARKER_SIGNAL=BOGUS in the environment: expected USR1, USR2, RTMIN+N, a signal number, or off; unset it, or give --marker-signal" \
        "$(head -1 run.err)"
    HEAPSPAN_MARKER_SIGNAL=BOGUS hs_run --marker-signal USR1 -o y.hsl -- "$PROGS/exec_b"
    expect "inherited bad value replaced by the option: exit status" 0 "$RC"
    [[ -e ran.txt ]] && fail "the program ran after a bad inherited value"

    local cmd near
    while read -r cmd opt near; do
        "$HEAPSPAN" "$cmd" "$opt" x >out.txt 2>err.txt
        expect "$cmd $opt: exit status" 2 $?
        expect "$cmd $opt: the message" "heapspan $cmd: unrecognized option '$opt'; did you mean $near?" "$(head -1 err.txt)"
    done <<'END'
run --ouptut --output
run --snapshot-intervall --snapshot-interval
report --fromm --from
report --formta --format
diff --metrik --metric
snapshot --all-makers --all-markers
dump --sumary --summary
flame --inverse --inverted
export --prof --pprof
END
    "$HEAPSPAN" run --snap 1 -- true 2>err.txt
    expect "ambiguous: the message" "heapspan run: option '--snap' is ambiguous: it could be --snapshot-interval, --snapshot-on-rss" "$(head -1 err.txt)"
    "$HEAPSPAN" run --frobnicate -- true 2>err.txt
    expect "far from every option: no guess" "heapspan run: unrecognized option '--frobnicate'" "$(head -1 err.txt)"
    "$HEAPSPAN" reprot x 2>err.txt
    expect "a command: the message" "heapspan: unknown command 'reprot'; did you mean 'report'?" "$(head -1 err.txt)"
    "$HEAPSPAN" report a.hsl b.hsl 2>err.txt
    expect "report A B: exit status" 2 $?
    expect_grep "report A B: logs of one run, each opened" "^heapspan report: a\.hsl: cannot open" err.txt
}

# 7. dlopen, allocate from the library, dlclose (tests/progs/dl_main.c, libhsdl.c).
t_dlopen() {
    local lib="$PROGS/libhsdl.so" bid id
    hs_run -o out.hsl -- "$PROGS/dl_main" "$lib"
    expect "exit status" 0 "$RC"
    check_wrote
    bid=$(readelf -n "$lib" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
    [[ -n $bid ]] || fail "no build-id in $lib (readelf -n)"
    records out.hsl
    id=$(grep -F " path=$lib " out.hsl.txt | awk '$2 == "module" { sub("id=", "", $3); print $3; exit }')
    expect "module records for $lib with its build-id" 1 \
        "$(awk -v p="path=$lib" -v b="build_id=$bid" '$2 == "module" && $4 == p && $7 == b' out.hsl.txt | wc -l)"
    expect "unload records for $lib (id ${id:-?}) with its build-id" 1 \
        "$(awk -v p="path=$lib" -v b="build_id=$bid" -v i="id=$id" '$2 == "unload" && $3 == i && $4 == p && $7 == b' out.hsl.txt | wc -l)"
    expect "malloc size=34567 allocations" 4 "$(n_alloc out.hsl malloc 34567)"
    expect "frees of 34568-byte blocks" 3 "$(frees_of out.hsl 34568)"
    live_funcs out.hsl "$lib" "$PROGS/dl_main" >/dev/null
    expect "live from hsdl_leak (innermost frame in libhsdl.so)" "4 blocks 138268 bytes" "$(live_of out.hsl hsdl_leak)"
    expect "live from after_close" "1 blocks 34569 bytes" "$(live_of out.hsl after_close)"
    expect "live stacks whose innermost frame is libhsdl.so" 1 "$(grep -c ' frames=libhsdl\.so+0x' out.hsl.live)"
}

# 8a. jemalloc preloaded after the shim (tests/progs/je_preload.cc).
t_jemalloc_preload() {
    if [[ ! -f $JEMALLOC ]]; then
        fail "$JEMALLOC is missing (apt-get install libjemalloc2)"
        return
    fi
    LD_PRELOAD=$JEMALLOC hs_run -o out.hsl -- "$PROGS/je_preload"
    expect "exit status" 0 "$RC"
    check_wrote
    records out.hsl
    expect "module records for libjemalloc" 1 "$(awk -v p="path=$JEMALLOC" '$2 == "module" && $4 == p' out.hsl.txt | wc -l)"
    expect "malloc size=7001 allocations" 10 "$(n_alloc out.hsl malloc 7001)"
    expect "frees of 7001-byte blocks" 10 "$(frees_of out.hsl 7001)"
    expect "malloc size=7005 allocations" 2 "$(n_alloc out.hsl malloc 7005)"
    expect "fn=new size=7003 allocations" 11 "$(n_alloc out.hsl new 7003)"
    expect "frees of 7003-byte blocks" 10 "$(frees_of out.hsl 7003)"
    expect "malloc size=7003 allocations (new recorded twice)" 0 "$(n_alloc out.hsl malloc 7003)"
    expect "delete records" 10 "$(n_free out.hsl delete)"
    expect "lost_events" 0 "$(sget out.hsl lost_events)"
    live_funcs out.hsl "$PROGS/je_preload" >/dev/null
    expect "live from je_leak" "3 blocks 21013 bytes" "$(live_of out.hsl je_leak)"
    expect "live from je_churn" none "$(live_of out.hsl je_churn)"
}

# 8b. jemalloc's own API, linked directly (tests/progs/je_direct.c).
t_jemalloc_api() {
    hs_run -o out.hsl -- "$PROGS/je_direct"
    expect "exit status" 0 "$RC"
    check_wrote
    local spec fn size n
    for spec in mallocx:5001:3 mallocx:5003:3 mallocx:5005:1 xallocx:5100:3 rallocx:9001:3 \
        malloc:5007:3; do
        IFS=: read -r fn size n <<<"$spec"
        expect "fn=$fn size=$size allocations" "$n" "$(n_alloc out.hsl "$fn" "$size")"
    done
    for spec in mallocx:7 xallocx:3 rallocx:3; do
        IFS=: read -r fn n <<<"$spec"
        expect "fn=$fn allocations (any size)" "$n" "$(n_alloc out.hsl "$fn" '*')"
    done
    expect "dallocx records (3 sdallocx, 3 dallocx)" 6 "$(n_free out.hsl dallocx)"
    expect "free() records" 3 "$(n_free out.hsl free)"
    # jemalloc pulls in libstdc++, whose start-up malloc is not ours: count by stack.
    expect "allocations made by je_direct" 16 "$(own_allocs out.hsl je_direct)"
    expect "frees" 15 "$(sget out.hsl frees)"
    expect "unknown_frees" 0 "$(sget out.hsl unknown_frees)"
    live_funcs out.hsl "$PROGS/je_direct" >/dev/null
    expect "live from je_api_leak" "1 blocks 5005 bytes" "$(live_of out.hsl je_api_leak)"
    expect "functions of je_direct with live blocks" je_api_leak "$(live_func_names out.hsl)"
}

# 9. SIGKILL after the allocations: everything up to the last flush is in the log.
t_sigkill() {
    hs_run_bg -o out.hsl -- "$PROGS/killme" "$PWD/ready"
    if wait_file ready; then
        sleep 1.6 # > 1.5 s since start; the shim flushes at least every 100 ms
        kill -KILL "$(cat ready)"
    else
        kill -TERM "$HSPID"
    fi
    wait "$HSPID"
    RC=$?
    expect "exit status" 137 "$RC"
    check_wrote
    summary out.hsl
    expect_grep "dump --summary warns that there is no end record" 'out\.hsl.*no end record' out.hsl.sum.err
    expect "ended" none "$(sget out.hsl ended)"
    expect "malloc size=9001 allocations" 200 "$(n_alloc out.hsl malloc 9001)"
    expect "frees of 9001-byte blocks" 100 "$(frees_of out.hsl 9001)"
    expect "malloc size=9003 allocations (other thread)" 50 "$(n_alloc out.hsl malloc 9003)"
    live_funcs out.hsl "$PROGS/killme" >/dev/null
    expect "live from main_allocs" "100 blocks 900100 bytes" "$(live_of out.hsl main_allocs)"
    expect "live from thread_allocs" "50 blocks 450150 bytes" "$(live_of out.hsl thread_allocs)"
}

# The checks shared by the endings tests (tests/progs/endings.c).
check_ending() {
    local log=$1 ended=$2
    expect "$log: ended" "$ended" "$(sget "$log" ended)"
    expect "$log: allocations" 15 "$(sget "$log" allocations)"
    expect "$log: frees" 5 "$(sget "$log" frees)"
    expect "$log: malloc size=8101" 10 "$(n_alloc "$log" malloc 8101)"
    expect "$log: malloc size=8102" 5 "$(n_alloc "$log" malloc 8102)"
    expect "$log: lost_events" 0 "$(sget "$log" lost_events)"
    live_funcs "$log" "$PROGS/endings" >/dev/null
    expect "$log: live from ending_leak" "10 blocks 81010 bytes" "$(live_of "$log" ending_leak)"
}

# 10. _exit and _Exit.
t_end_exit() {
    hs_run -o out.hsl -- "$PROGS/endings" _exit
    expect "_exit: exit status" 3 "$RC"
    check_wrote
    check_ending out.hsl _exit
    mkdir Exit && cd Exit || return
    hs_run -o out.hsl -- "$PROGS/endings" _Exit
    expect "_Exit: exit status" 4 "$RC"
    check_ending out.hsl _exit
}

t_end_abort() {
    hs_run -o out.hsl -- "$PROGS/endings" abort
    expect "exit status (SIGABRT)" 134 "$RC"
    check_wrote
    check_ending out.hsl signal
}

t_end_segv() {
    hs_run -o out.hsl -- "$PROGS/endings" segv
    expect "exit status (SIGSEGV)" 139 "$RC"
    check_wrote
    check_ending out.hsl signal
}

# SIGTERM from outside, default disposition.
t_end_sigterm() {
    hs_run_bg -o out.hsl -- "$PROGS/endings" term "$PWD/ready"
    if wait_file ready; then
        kill -TERM "$(cat ready)"
    else
        kill -TERM "$HSPID"
    fi
    wait "$HSPID"
    RC=$?
    expect "exit status (SIGTERM)" 143 "$RC"
    check_wrote
    check_ending out.hsl signal
}

# ^C of a Python program: CPython turns SIGINT into KeyboardInterrupt, and once that
# has unwound the program, sets SIGINT back to the default and kills itself with it
# (Modules/main.c, exit_sigint) - past every exit handler. The shim takes the default
# back, so the log gets its end record (reason signal) and holds what Python allocated;
# heapspan run exits 130 as the shell would. PYTHONMALLOC=malloc: pymalloc would keep
# small objects out of malloc's sight (12 bytearrays of 77777 bytes: 77778 each). The
# log ends without its index, as after any fatal signal (the end record is there).
t_end_python_sigint() {
    if [[ -z $PYTHON || ! -x $PYTHON ]]; then
        fail "no Python interpreter (PYTHON=$PYTHON)"
        return
    fi
    PYTHONMALLOC=malloc hs_run_bg -o out.hsl -- "$PYTHON" -c "
import os, time
keep = [bytearray(77777) for _ in range(12)]
open('$PWD/ready.tmp', 'w').write(str(os.getpid()))
os.rename('$PWD/ready.tmp', '$PWD/ready')
time.sleep(60)"
    if wait_file ready; then
        kill -INT "$(cat ready)"
    else
        kill -TERM "$HSPID"
    fi
    wait "$HSPID"
    RC=$?
    expect "exit status (SIGINT)" 130 "$RC"
    expect_grep "the program's KeyboardInterrupt" '^KeyboardInterrupt' run.err
    check_wrote
    expect "ended" signal "$(sget out.hsl ended)"
    expect_ge "blocks of 77778 bytes (bytearray grows by realloc)" 12 \
        "$(($(n_alloc out.hsl malloc 77778) + $(n_alloc out.hsl realloc 77778)))"
}

# main leaves by pthread_exit, the last thread later: the process ends with exit(0) as
# without the shim (whose writer thread is then the only one left), atexit handlers run,
# and the log is complete.
t_end_pthread_exit() {
    hs_run -o out.hsl -- "$PROGS/endings" pthread_exit "$PWD/atexit"
    expect "exit status" 0 "$RC"
    check_wrote
    expect "atexit handler" "atexit ran" "$(cat atexit 2>/dev/null)"
    local log=out.hsl
    expect "ended" exit "$(sget "$log" ended)"
    expect "malloc size=8101" 10 "$(n_alloc "$log" malloc 8101)"
    expect "malloc size=8102" 5 "$(n_alloc "$log" malloc 8102)"
    expect "malloc size=8104 (after main left)" 3 "$(n_alloc "$log" malloc 8104)"
    expect "frees of 8102-byte blocks" 5 "$(frees_of "$log" 8102)"
    expect "lost_events" 0 "$(sget "$log" lost_events)"
    "$HEAPSPAN" dump "$log" >/dev/null 2>dump.err || fail "dump failed: $(head -c 300 dump.err)"
    [[ ! -s dump.err ]] || fail "dump complained: $(head -c 300 dump.err)"
    live_funcs "$log" "$PROGS/endings" >/dev/null
    expect "live from ending_leak" "10 blocks 81010 bytes" "$(live_of "$log" ending_leak)"
    expect "live from ending_late" "3 blocks 24312 bytes" "$(live_of "$log" ending_late)"
}

# A program that closes every descriptor it did not open (close, close_range, closefrom,
# dup2 over whatever is left), in a forked child and then in the parent, and opens 20
# files of its own each time (tests/progs/fdclose.c): the logs are complete, and the
# program's files hold what it wrote, nothing of the log and no byte of libunwind's.
t_fdclose() {
    mkdir files || return
    hs_run -o out.hsl -- "$PROGS/fdclose" "$PWD/files"
    expect "exit status" 0 "$RC"
    expect "stderr lines other than 'wrote'" "" "$(grep -v '^heapspan: wrote ' run.err)"
    local role i bad=0
    for role in child parent; do
        for ((i = 0; i < 20; i++)); do
            [[ $(cat "files/$role.$i" 2>/dev/null) == "$role $i" ]] || bad=$((bad + 1))
        done
    done
    expect "program files not holding exactly what the program wrote" 0 "$bad"
    local logs=(out.*.hsl)
    expect "child logs" 1 "$([[ -e ${logs[0]} ]] && echo ${#logs[@]} || echo 0)"
    [[ -e ${logs[0]} ]] || return
    local child=${logs[0]}
    expect "parent: ended" exit "$(sget out.hsl ended)"
    expect "parent: lost_events" 0 "$(sget out.hsl lost_events)"
    expect "parent: malloc size=7001 (before the fork)" 7 "$(n_alloc out.hsl malloc 7001)"
    expect "parent: malloc size=7003 (after closing everything)" 13 "$(n_alloc out.hsl malloc 7003)"
    expect "parent: malloc size=7002 (the child's)" 0 "$(n_alloc out.hsl malloc 7002)"
    expect "child: ended" exit "$(sget "$child" ended)"
    expect "child: lost_events" 0 "$(sget "$child" lost_events)"
    expect "child: malloc size=7002 (after closing everything)" 11 "$(n_alloc "$child" malloc 7002)"
    expect "child: malloc size=7003 (the parent's)" 0 "$(n_alloc "$child" malloc 7003)"
    live_funcs out.hsl "$PROGS/fdclose" >/dev/null
    expect "parent: live from fd_parent_late" "13 blocks 91039 bytes" "$(live_of out.hsl fd_parent_late)"
    live_funcs "$child" "$PROGS/fdclose" >/dev/null
    expect "child: live from fd_child_leak" "11 blocks 77022 bytes" "$(live_of "$child" fd_child_leak)"
}

# Handlers that allocate: synchronously (all recorded) and from a timer that interrupts
# the shim (recorded + counted as lost = handler runs) (tests/progs/sighandler.c).
# A raw close_range past the shim's hooks, then the program's own files on every number
# the shim had (tests/progs/fdraw.c), with 64 descriptors at most (soft and hard, so that the
# log sits at half the limit, 32) so that they get there
# at once. The shim finds its log's number naming another file, says so in one line,
# stops recording, and never writes into the program's files; libunwind's memory checks,
# made from new stacks with no unwind tables meanwhile, take no descriptor at all. The
# log ends at the last write before the close, with an end record saying "stopped".
t_fdraw() {
    mkdir files || return
    (ulimit -n 64 && exec timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run -o out.hsl -- \
        "$PROGS/fdraw" "$PWD/files") >run.out 2>run.err
    RC=$?
    expect "exit status" 0 "$RC"
    local f n bad=0 files=0
    for f in files/f.*; do
        n=${f##*.}
        files=$((files + 1))
        [[ $(cat "$f") == "f $n" && $(stat -c %s "$f") == $((${#n} + 3)) ]] || bad=$((bad + 1))
    done
    expect_ge "files the program opened" 30 "$files"
    expect "program files not holding exactly what the program wrote" 0 "$bad"
    grep -v -e '^heapspan: wrote ' -e '^heapspan: recording to ' run.err >other.err
    expect "stderr lines besides the start and 'wrote' lines" 1 "$(wc -l <other.err)"
    expect_grep "the line says the log's descriptor is no longer the log" \
        "^heapspan: the log's descriptor [0-9]+ no longer refers to .*out\.hsl.*recording stopped" other.err
    expect "ended" stopped "$(sget out.hsl ended)"
    expect "malloc size=7101 (before the close)" 5 "$(n_alloc out.hsl malloc 7101)"
}

t_sighandler() {
    hs_run -o out.hsl -- "$PROGS/sighandler" "$PWD/counts"
    expect "exit status" 0 "$RC"
    check_wrote
    local alarms loops
    read -r alarms loops <counts || {
        fail "the program wrote no counts"
        return
    }
    expect_ge "timer signals handled (a precondition of the test)" 50 "$alarms"
    expect "malloc size=6101 allocations (SIGUSR1 handler, raise())" 10 "$(n_alloc out.hsl malloc 6101)"
    local rec lost
    rec=$(n_alloc out.hsl malloc 6103)
    lost=$(sget out.hsl lost_events)
    expect "SIGALRM handler allocations: recorded ($rec) + lost_events ($lost)" "$alarms" $((rec + lost))
    expect "malloc size=1003 allocations (main loop)" $((loops + 100)) "$(n_alloc out.hsl malloc 1003)"
    expect "frees of 1003-byte blocks" $((loops + 100)) "$(frees_of out.hsl 1003)"
    expect "ended" exit "$(sget out.hsl ended)"
    live_funcs out.hsl "$PROGS/sighandler" >/dev/null
    expect "live from on_usr1" "10 blocks 61010 bytes" "$(live_of out.hsl on_usr1)"
    expect "live from on_alarm" "$rec blocks $((rec * 6103)) bytes" "$(live_of out.hsl on_alarm | sed 's/^none$/0 blocks 0 bytes/')"
}

# --sample 4096 on 200000 x 1000 + 100 x 100000 bytes (tests/progs/sampled.c). An s-byte
# allocation is sampled with probability p = 1 - exp(-s/4096), independently (Poisson
# sampling by bytes): the number of 1000-byte samples K is Binomial(200000, p), the
# estimate K*1000/p has standard deviation 1000*sqrt(200000(1-p)/p) (850 KB, 0.4% of
# the total); the 100000-byte blocks are missed with probability 2.5e-11 each.
t_sample() {
    hs_run --sample 4096 -o out.hsl -- "$PROGS/sampled"
    expect "exit status" 0 "$RC"
    check_wrote
    expect "sample_bytes" 4096 "$(sget out.hsl sample_bytes)"
    local k_small k_big verdict
    k_small=$(n_alloc out.hsl malloc 1000)
    k_big=$(n_alloc out.hsl malloc 100000)
    expect "100000-byte allocations sampled" 100 "$k_big"
    verdict=$(awk -v k="$k_small" -v kb="$k_big" 'BEGIN {
        R = 4096; n = 200000; s = 1000; S = 100000; nb = 100
        p = 1 - exp(-s / R); pb = 1 - exp(-S / R)
        est = k * s / p + kb * S / pb; truth = n * s + nb * S
        sd = sqrt(n * s * s * (1 - p) / p + nb * S * S * (1 - pb) / pb)
        printf "%s estimate %.0f bytes, truth %d, 5 sd = %.0f (samples %d of %d, mean %.0f)\n",
            (est - truth <= 5 * sd && truth - est <= 5 * sd) ? "ok" : "off", est, truth, 5 * sd, k, n, n * p
    }')
    [[ $verdict == ok* ]] || fail "sampled estimate outside 5 standard deviations: ${verdict#off }"
    echo "sample: $verdict" >&2
    expect "allocations (only sampled ones)" $((k_small + k_big)) "$(sget out.hsl allocations)"
    expect "frees (of sampled blocks only)" $((k_small + k_big)) "$(sget out.hsl frees)"
    expect "unknown_frees" 0 "$(sget out.hsl unknown_frees)"
    expect "live_blocks" 0 "$(sget out.hsl live_blocks)"
}

# run_full_and_sampled PROG: PROG under the shim twice, into full.hsl (full trace) and
# sampled.hsl (--sample 16: nearly every block of 1000 bytes or more sampled); each run
# must exit 0.
run_full_and_sampled() {
    hs_run -o full.hsl -- "$1"
    expect "exit status" 0 "$RC"
    hs_run --sample 16 -o sampled.hsl -- "$1"
    expect "exit status (--sample 16)" 0 "$RC"
}

# n_zeros LOG SIZE ZERO_BYTES: zero-count records of blocks of SIZE bytes that counted
# exactly ZERO_BYTES zero bytes.
n_zeros() {
    records "$1"
    grep -c " zeros addr=0x[0-9a-f]* size=$2 zero_bytes=$3\$" "$1.txt"
}

# Resizes of blocks the log knows (tests/progs/regrow.c): a 1000-byte buffer grown by 100
# reallocs to 101,000 bytes and left live, a 4 MiB calloc block grown to 5 MiB and
# freed, and a 16-byte block grown to 8 MiB and freed. Each realloc takes its own stack,
# so the buffer left live belongs to grow_buffer, in full-trace mode and sampled
# (--sample 16: a block of 1000 bytes or more is sampled with probability 1 - e^-62, and
# a sampled block stays sampled while it grows). Blocks picked for zero counting (every
# sampled block, or in full-trace mode by bytes allocated, one per 256 KiB on average)
# stay picked when resized and are counted at their free, at their new size; growth
# counts as bytes allocated, so the 16-byte block is picked by its growth to 8 MiB
# (probability 1 - e^-32). Its first 4 KiB hold 16 non-zero bytes: the count, scaled
# from that prefix, is 4080 / 4096 of 8 MiB.
t_regrow() {
    local log
    run_full_and_sampled "$PROGS/regrow"
    for log in full.hsl sampled.hsl; do
        expect "$log: 1000-byte mallocs" 1 "$(n_alloc "$log" malloc 1000)"
        expect "$log: reallocs (100 of the buffer, 1 of each big block)" 102 "$(n_alloc "$log" realloc '*')"
        expect "$log: the buffer's last size" 1 "$(n_alloc "$log" realloc 101000)"
        expect "$log: zero counts of the grown 5 MiB block (all of its first 4 KiB zero)" 1 \
            "$(n_zeros "$log" 5242880 5242880)"
        expect "$log: zero counts at the old size" 0 "$(grep -c ' zeros .* size=4194304 ' "$log.txt")"
        expect "$log: zero counts of the 16-byte block grown to 8 MiB" 1 \
            "$(n_zeros "$log" 8388608 8355840)"
        live_funcs "$log" "$PROGS/regrow" >/dev/null
        expect "$log: functions with live blocks" "grow_buffer" "$(live_func_names "$log")"
        expect "$log: live from grow_buffer" "1 blocks 101000 bytes" "$(live_of "$log" grow_buffer)"
    done
}

# Zero counts of blocks still live at exit (tests/progs/livezero.c), in full-trace mode and
# sampled. As at a free, the first 4 KiB of a span stand for the span; a live block is cut
# into spans of 64 KiB, and past 64 of those into 64 equal spans, so that a huge block
# costs 64 reads of 4 KiB at exit rather than a copy of all of it:
#   4 MiB, 16 non-zero bytes at the start of every 64 KiB and the second half non-zero:
#     32 spans of 64 KiB with 4080 / 4096 zero = 2,088,960 zero bytes;
#   64 MiB, 16 non-zero bytes at the start of every MiB: 64 spans of 1 MiB with
#     4080 / 4096 zero = 66,846,720 (reading every 64 KiB would say 67,092,480).
t_livezero() {
    local log
    run_full_and_sampled "$PROGS/livezero"
    for log in full.hsl sampled.hsl; do
        expect "$log: zero counts of the live 4 MiB block" 1 "$(n_zeros "$log" 4194304 2088960)"
        expect "$log: zero counts of the live 64 MiB block" 1 \
            "$(n_zeros "$log" 67108864 66846720)"
    done
}

# marker_run MODE: tests/progs/marker in MODE under `heapspan run`, sent SIGUSR2 once it
# is ready; its exit status in RC.
marker_run() {
    hs_run_bg -o out.hsl -- "$PROGS/marker" "$1" "$PWD/ready" "$PWD/go"
    wait_file ready && kill -USR2 "$(cat ready)"
    touch go # the program goes on (or gives up waiting) when it sees this
    wait "$HSPID"
    RC=$?
}

# SIGUSR2: a marker, in time order between the allocations before and after it.
t_marker() {
    marker_run plain
    expect "exit status" 0 "$RC"
    check_wrote
    expect "markers" 1 "$(sget out.hsl markers)"
    records out.hsl
    expect "the marker's kind and its place (after the 5501s, before the 5502s)" \
        "5501 5501 5501 5501 5501 signal 5502 5502 5502 5502 5502" \
        "$(LC_ALL=C awk '$3 == "alloc" && ($6 == "size=5501" || $6 == "size=5502") { printf "%s ", substr($6, 6) }
                         $2 == "marker" { printf "%s ", substr($3, 6) }' out.hsl.txt | sed 's/ $//')"
    live_funcs out.hsl "$PROGS/marker" >/dev/null
    expect "live from before_signal" "5 blocks 27505 bytes" "$(live_of out.hsl before_signal)"
    expect "live from after_signal" "5 blocks 27510 bytes" "$(live_of out.hsl after_signal)"
}

# The program's own SIGUSR2 handler wins, and the log says so.
t_marker_own() {
    marker_run own
    expect "exit status (7: the program's handler did not run)" 0 "$RC"
    expect "stdout" "handled SIGUSR2" "$(cat run.out)"
    check_wrote
    expect "markers" 0 "$(sget out.hsl markers)"
    records out.hsl
    expect "warning notes" 1 "$(grep -c ' note warning ' out.hsl.txt)"
    live_funcs out.hsl "$PROGS/marker" >/dev/null
    expect "live from before_signal" "5 blocks 27505 bytes" "$(live_of out.hsl before_signal)"
    expect "live from after_signal" "5 blocks 27510 bytes" "$(live_of out.hsl after_signal)"
}

# A full disk: the program runs on with its own output and status; one line on stderr.
t_disk_full() {
    mkdir full
    if ! mount -t tmpfs -o size=64k heapspan-test "$PWD/full" 2>mount.err; then
        fail "cannot mount a 64 KiB tmpfs (needs root): $(cat mount.err)"
        return
    fi
    # shellcheck disable=SC2064
    trap "umount '$PWD/full' 2>/dev/null" EXIT
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_OUTPUT="$PWD/full/out.hsl" \
        "$PROGS/fullout" >run.out 2>run.err
    RC=$?
    cp full/out.hsl out.hsl 2>/dev/null
    umount "$PWD/full"
    trap - EXIT
    expect "exit status" 7 "$RC"
    expect "stdout" "fullout: 300000 allocations done" "$(cat run.out)"
    grep -v '^heapspan: recording to ' run.err >other.err
    expect "stderr lines besides the start line" 1 "$(wc -l <other.err)"
    expect_grep "the stderr line names the log and the failure" "^heapspan: .*$PWD/full/out\.hsl.*(No space|ENOSPC|space)" other.err
    [[ -f out.hsl ]] || {
        fail "no log on the full disk"
        return
    }
    summary out.hsl # exits 0: readable up to the failure
    # Every event is either in the log or counted as lost: fullout makes 300,000
    # malloc/free pairs and one malloc (stdout's buffer), and the count of those not
    # written, events after the stop included, is put into the end record at exit.
    expect "ended" stopped "$(sget out.hsl ended)"
    expect "allocations + frees + lost_events" 600001 \
        "$(($(sget out.hsl allocations) + $(sget out.hsl frees) + $(sget out.hsl lost_events)))"
}

# RLIMIT_NOFILE 5 (tests/progs/fewfds.c opens descriptors 3 and 4, then forks): with a
# higher hard limit the log goes above the soft one, and the program gets every
# descriptor it would without the shim; its child, with every descriptor taken, still
# opens its log and - under `heapspan run`, which learns of logs from a file the shim
# appends their paths to - gets it named. With the hard limit at 5 too there is no room,
# and the shim does not record, in one line, rather than take one.
t_fewfds() {
    (ulimit -S -n 5 && exec timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" \
        HEAPSPAN_OUTPUT="$PWD/out.hsl" "$PROGS/fewfds" 2) >run.out 2>run.err
    expect "soft limit 5: exit status" 0 $?
    expect "soft limit 5: malloc size=7201" 3 "$(n_alloc out.hsl malloc 7201)"
    local child=(out.*.hsl)
    expect "soft limit 5: the child's log, malloc size=7202" 1 \
        "$([[ -e ${child[0]} ]] && n_alloc "${child[0]}" malloc 7202 || echo none)"
    mkdir run && cd run || return
    (ulimit -S -n 5 && exec timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run -o out.hsl -- \
        "$PROGS/fewfds" 2) >run.out 2>run.err
    expect "heapspan run, soft limit 5: exit status" 0 $?
    check_wrote
    expect "heapspan run, soft limit 5: logs" 2 "$(ls ./*.hsl | wc -l)"
    cd .. || return
    mkdir hard && cd hard || return
    (ulimit -n 5 && exec timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" \
        HEAPSPAN_OUTPUT="$PWD/out.hsl" "$PROGS/fewfds" 2) >run.out 2>run.err
    expect "soft and hard limit 5: exit status" 0 $?
    expect "soft and hard limit 5: stderr lines" 1 "$(wc -l <run.err)"
    expect_grep "soft and hard limit 5: the line" \
        '^heapspan: the program may open only 5 descriptors .*not recording' run.err
    expect "soft and hard limit 5: logs" "" "$(ls ./*.hsl 2>/dev/null)"
}

# HEAPSPAN_OUTPUT naming something other than a regular file: /dev/null and a FIFO are
# refused with one line (before, the "-2" suffix made /dev/null-2); a directory gets the
# log inside it under the default name. exec_b makes 3 allocations.
t_output_special() {
    local had_devnull2=0 what
    [[ -e /dev/null-2 ]] && had_devnull2=1
    mkfifo fifo
    for what in /dev/null "$PWD/fifo"; do
        timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_OUTPUT="$what" \
            "$PROGS/exec_b" >run.out 2>run.err
        expect "$what: exit status" 0 $?
        expect "$what: stderr lines" 1 "$(wc -l <run.err)"
        expect_grep "$what: the line" "^heapspan: HEAPSPAN_OUTPUT=$what is a (character device|FIFO); .*not recording" run.err
    done
    if ((!had_devnull2)) && [[ -e /dev/null-2 ]]; then
        fail "/dev/null-2 was created"
        rm -f /dev/null-2
    fi
    expect "files besides the FIFO and the output" fifo "$(ls | grep -v '^run\.')"
    mkdir logs
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_OUTPUT="$PWD/logs" "$PROGS/exec_b" \
        >run.out 2>run.err
    expect "a directory: exit status" 0 $?
    local logs=(logs/heapspan.*.hsl)
    expect "a directory: logs in it named heapspan.PID.hsl" 1 \
        "$([[ -e ${logs[0]} ]] && echo ${#logs[@]} || echo 0)"
    [[ -e ${logs[0]} ]] || return
    expect "a directory: the pid in the name" "$(sget "${logs[0]}" pid)" \
        "$(sed -n 's/.*heapspan\.\([0-9]*\)\.hsl$/\1/p' <<<"${logs[0]}")"
    expect "a directory: allocations" 3 "$(sget "${logs[0]}" allocations)"
}

# A process that wrote its title over its arguments (setproctitle style), no NUL left
# in the argv area, then forked (tests/progs/proctitle.c): the child's log gives the
# title as its one argument, read no further than the argv area - not the environment
# that follows it, which /proc/self/cmdline reads on into.
t_proctitle() {
    HS_TEST_SECRET=not-for-the-log hs_run -o out.hsl -- "$PROGS/proctitle" one two-padding
    expect "exit status" 0 "$RC"
    local logs=(out.*.hsl)
    expect "child logs" 1 "$([[ -e ${logs[0]} ]] && echo ${#logs[@]} || echo 0)"
    [[ -e ${logs[0]} ]] || return
    expect "child: malloc size=7301" 1 "$(n_alloc "${logs[0]}" malloc 7301)"
    timeout 60 "$HEAPSPAN" report --format json "${logs[0]}" >child.json 2>child.err ||
        fail "report --format json ${logs[0]} failed: $(head -c 300 child.err)"
    expect "child: argv" "proctitle-master + spaces" "$("$PYTHON" -c '
import json, sys
argv = json.load(open(sys.argv[1]))["log"]["argv"]
ok = len(argv) == 1 and argv[0].startswith("proctitle-master ") and argv[0].strip() == "proctitle-master"
print("proctitle-master + spaces" if ok else repr(argv))' child.json)"
}

# The progress line: on a terminal (script(1) gives the command a pty) a report that
# takes more than 2 s - here held up by a debuginfod server that answers each request
# after 3 s, for a stripped program whose debug info it is asked for - draws
# "heapspan report: ..." lines on stderr, and erases the last; the same report with
# stderr in a file, and a quick one on a terminal, draw none.
t_report_progress() {
    local port
    printf '#include <stdlib.h>\nint main(void) { void *volatile p = malloc(1234); (void)p; return 0; }\n' >s.c
    cc -O0 -s -o stripped s.c || {
        fail "cannot build the stripped program"
        return
    }
    hs_run -o st.hsl -- ./stripped
    expect "recording: exit status" 0 "$RC"
    cat >slow.py <<'EOF'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(3)
        self.send_response(404)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open("port.tmp", "w").write(str(s.server_address[1]))
__import__("os").rename("port.tmp", "port")
s.serve_forever()
EOF
    "$PYTHON" slow.py &
    local srv=$!
    wait_file port || {
        kill "$srv"
        return
    }
    port=$(cat port)
    mkdir cache1 cache2 cache3
    DEBUGINFOD_CACHE_PATH=$PWD/cache1 DEBUGINFOD_URLS=http://127.0.0.1:$port \
        script -qec "'$HEAPSPAN' report st.hsl >report.out" /dev/null >tty.out 2>&1
    expect "on a terminal: exit status" 0 $?
    grep -q 'heapspan report: read st.hsl; symbolizing (debug info, asking debuginfod), [0-9]* s' tty.out ||
        fail "on a terminal: no progress line (got: $(tr '\r\033' '|~' <tty.out | head -c 300))"
    [[ $(tail -c 4 tty.out | od -An -c | tr -d ' ') == '\r033[K' ]] ||
        fail "on a terminal: the last line was not erased (ends with: $(tail -c 20 tty.out | od -An -c))"
    grep -q 'TOTALS' report.out || fail "on a terminal: no report on stdout"
    DEBUGINFOD_CACHE_PATH=$PWD/cache2 DEBUGINFOD_URLS=http://127.0.0.1:$port \
        "$HEAPSPAN" report st.hsl >report2.out 2>file.err
    expect "stderr in a file: exit status" 0 $?
    expect "stderr in a file: no progress line" "" "$(grep -c 'symbolizing' file.err | grep -v '^0$')"
    kill "$srv"
    wait "$srv" 2>/dev/null
    DEBUGINFOD_CACHE_PATH=$PWD/cache3 script -qec "'$HEAPSPAN' report --no-debuginfod st.hsl >report3.out" \
        /dev/null >quick.out 2>&1
    expect "a quick report on a terminal: exit status" 0 $?
    expect "a quick report on a terminal: nothing on stderr" "" "$(tr -d '\r\n' <quick.out)"
}

# A bad value in the environment: one line, the default, and recording as usual
# (exec_b: 3 allocations).
t_bad_env() {
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_OUTPUT="$PWD/out.hsl" \
        HEAPSPAN_SAMPLE_BYTES=banana "$PROGS/exec_b" >run.out 2>run.err
    RC=$?
    expect "exit status" 0 "$RC"
    grep -v '^heapspan: recording to ' run.err >other.err
    expect "stderr lines besides the start line" 1 "$(wc -l <other.err)"
    expect_grep "the line names the variable and its value" '^heapspan: ignoring HEAPSPAN_SAMPLE_BYTES=banana' other.err
    expect "sample_bytes (the default)" 0 "$(sget out.hsl sample_bytes)"
    expect "allocations" 3 "$(sget out.hsl allocations)"

    mkdir more && cd more || return
    timeout -k 5 "$TIMEOUT" env LD_PRELOAD="$SHIM" HEAPSPAN_OUTPUT="$PWD/out.hsl" \
        HEAPSPAN_DEPTH=lots HEAPSPAN_FOLLOW_CHILDREN=perhaps HEAPSPAN_MARKER_SIGNAL=SIGNOPE \
        HEAPSPAN_SNAPSHOT_INTERVAL=-1 "$PROGS/exec_b" >run.out 2>run.err
    RC=$?
    expect "four bad values: exit status" 0 "$RC"
    grep -v '^heapspan: recording to ' run.err >other.err
    expect "four bad values: stderr lines besides the start line" 4 "$(wc -l <other.err)"
    local v
    for v in HEAPSPAN_DEPTH=lots HEAPSPAN_FOLLOW_CHILDREN=perhaps HEAPSPAN_MARKER_SIGNAL=SIGNOPE \
        HEAPSPAN_SNAPSHOT_INTERVAL=-1; do
        expect "lines 'heapspan: ignoring $v'" 1 "$(grep -c "^heapspan: ignoring $v" other.err)"
    done
    records out.hsl
    expect "max_depth (the default)" 128 "$(sed -n '1s/.* max_depth \([0-9]*\) .*/\1/p' out.hsl.txt)"
    expect "allocations" 3 "$(sget out.hsl allocations)"
    expect "markers" 0 "$(sget out.hsl markers)"
}

# ---- bad log input ----

# A small, complete log to damage: the allocs program's.
make_small_log() {
    hs_run -o good.hsl -- "$PROGS/allocs"
    [[ $RC == 0 && -s good.hsl ]] || {
        fail "could not record a log to damage (exit $RC)"
        return 1
    }
}

# dump_bad FILE: `dump --summary FILE` must exit 2 with one message naming FILE and a
# byte offset, and must not crash.
dump_bad() {
    local f=$1 what=$2 rc
    timeout 30 "$HEAPSPAN" dump --summary "$f" >bad.out 2>bad.err
    rc=$?
    if [[ $rc != 2 ]]; then
        fail "$what: dump --summary exit status (expected 2, got $rc$( ((rc >= 124)) && echo ': crashed or hung'))"
        return
    fi
    grep -Eq -- "$(basename "$f").*(byte|offset) [0-9]+" bad.err ||
        fail "$what: message (expected the file name and a byte offset, got: $(head -c 200 bad.err | tr '\n' '|'))"
}

t_bad_log_empty() {
    : >empty.hsl
    dump_bad "$PWD/empty.hsl" "empty file"
}

t_bad_log_random() {
    "$PYTHON" -c 'import random, sys; random.seed(1234); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(4096)))' >random.hsl
    dump_bad "$PWD/random.hsl" "4096 random bytes"
    make_small_log || return
    # A valid file header, then garbage.
    { head -c 64 good.hsl && head -c 4096 random.hsl; } >hdr-random.hsl
    dump_bad "$PWD/hdr-random.hsl" "a valid header and 4096 random bytes"
}

t_bad_log_version() {
    make_small_log || return
    cp good.hsl v99.hsl
    printf '\x63\x00' | dd of=v99.hsl bs=1 seek=8 conv=notrunc status=none
    dump_bad "$PWD/v99.hsl" "version 99"
    grep -q 99 bad.err || fail "version 99: the message does not give the version: $(head -c 200 bad.err)"
}

# Cut at every 7th byte, at every chunk boundary and in the trailer: inside the 64-byte file header a
# log is unreadable (exit 2), after it readable up to the cut (exit 0, a warning), with
# counts that only grow with the cut.
t_bad_log_truncated() {
    make_small_log || return
    local size cuts n rc prev=0 allocs bad=0 chunks
    size=$(stat -c %s good.hsl)
    chunks=$("$PYTHON" - good.hsl <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
off = 64
while off + 48 <= len(d) and d[off:off + 4] == b"HSCK":
    hsize, stored = struct.unpack_from("<HI", d, off + 6)
    off += hsize + stored
    print(off)
EOF
)
    # ... and inside the 16-byte trailer that ends a cleanly closed log.
    cuts=$( (seq 0 7 $((size - 1)); echo "$chunks"; echo $((size - 8)) $((size - 1))) |
        tr ' ' '\n' | sort -n | uniq | awk -v s="$size" '$1 < s')
    for n in $cuts; do
        head -c "$n" good.hsl >cut.hsl
        timeout 30 "$HEAPSPAN" dump --summary cut.hsl >cut.out 2>cut.err
        rc=$?
        if ((n < 64)); then
            if [[ $rc != 2 ]] || ! grep -Eq 'cut\.hsl.*(byte|offset) [0-9]+' cut.err; then
                fail "cut at $n (inside the header): expected exit 2 and a message with the file and offset, got exit $rc: $(head -c 150 cut.err | tr '\n' '|')"
                bad=$((bad + 1))
            fi
            continue
        fi
        if [[ $rc != 0 ]]; then
            fail "cut at $n of $size: dump --summary exit status (expected 0, got $rc): $(head -c 150 cut.err | tr '\n' '|')"
            bad=$((bad + 1))
        elif ! grep -q 'cut\.hsl' cut.err; then
            fail "cut at $n of $size: expected a warning naming the file on stderr, got none"
            bad=$((bad + 1))
        else
            allocs=$(sed -n 's/^allocations=//p' cut.out)
            if ((allocs < prev)); then
                fail "cut at $n: allocations went down from $prev to $allocs"
                bad=$((bad + 1))
            fi
            prev=$allocs
        fi
        ((bad < 8)) || break # enough to go on
    done
    timeout 30 "$HEAPSPAN" dump --summary good.hsl >full.out 2>full.err
    expect "the whole log: exit status" 0 $?
    expect "the whole log: warnings" "" "$(cat full.err)"
    expect_le "allocations of the longest cut vs the whole log" "$(sed -n 's/^allocations=//p' full.out)" "$prev"
}

# One payload byte flipped, in each chunk in turn: that chunk is skipped and the rest
# read - `report` and `dump` exit 0 with one warning on stderr naming the chunk's byte
# offset and what it held; an events chunk's allocations are missing, no more.
t_bad_log_flipped() {
    make_small_log || return
    local off at kind nrec total got
    "$PYTHON" - good.hsl <<'EOF' >chunks
import struct, sys
d = open(sys.argv[1], "rb").read()
off = 64
while off + 48 <= len(d) and d[off:off + 4] == b"HSCK":
    kind = d[off + 4]
    hsize, stored = struct.unpack_from("<HI", d, off + 6)
    nrec = struct.unpack_from("<I", d, off + 44)[0]
    if stored:
        print(off, off + hsize + stored // 2, {1: "events", 2: "meta", 3: "index"}.get(kind, kind), nrec)
    off += hsize + stored
EOF
    [[ -s chunks ]] || fail "no chunks found in the log"
    total=$(sget good.hsl allocations)
    while read -r off at kind nrec; do
        cp good.hsl "flip-$at.hsl"
        "$PYTHON" -c 'import sys
f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x40]))' "flip-$at.hsl" "$at"
        timeout 60 "$HEAPSPAN" report "flip-$at.hsl" >rep.out 2>rep.err
        expect "byte $at flipped ($kind chunk): report's exit status" 0 $?
        expect "byte $at flipped: stderr lines" 1 "$(wc -l <rep.err)"
        expect_grep "byte $at flipped: the warning" "^flip-$at\.hsl: skipped 1 damaged chunk \([0-9]+ bytes.*\) at byte $off: checksum mismatch" rep.err
        grep -q "skipped 1 damaged chunk" rep.out || fail "byte $at flipped: the report's own warnings lack it"
        sget "flip-$at.hsl" damaged_chunks >/dev/null
        expect "byte $at flipped: dump --summary damaged_chunks" 1 "$(sget "flip-$at.hsl" damaged_chunks)"
        if [[ $kind == events ]]; then
            expect_grep "byte $at flipped: the events it held" ", $nrec events?\)" rep.err
            got=$(sget "flip-$at.hsl" allocations)
            expect_le "byte $at flipped: allocations" "$total" "$got"
            expect_ge "byte $at flipped: allocations" $((total - nrec)) "$got"
        fi
    done <chunks
}

# The bundled demo (tests/progs/demo_service.c): its leak and its ever-growing cache.
t_demo() {
    hs_run -o out.hsl -- "$PROGS/demo_service"
    expect "exit status" 0 "$RC"
    check_wrote
    expect_grep "stdout" '^demo_service: 80000 requests on 4 threads; cache holds 8000 entries' run.out
    expect "lost_events" 0 "$(sget out.hsl lost_events)"
    live_funcs out.hsl "$PROGS/demo_service" >/dev/null
    expect "live from session_open" "800 blocks 409600 bytes" "$(live_of out.hsl session_open)"
    expect "live from cache_put" "8000 blocks 1536000 bytes" "$(live_of out.hsl cache_put)"
    expect "live from cache_init" "1 blocks 32768 bytes" "$(live_of out.hsl cache_init)"
    expect "live from parse_request" none "$(live_of out.hsl parse_request)"
}

# ---- main ----

usage() {
    echo "usage: $0 [--list] [--keep] [TEST...]" >&2
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
((${#selected[@]})) || selected=("${ALL_TESTS[@]}")

for f in "$HEAPSPAN" "$SHIM"; do
    [[ -f $f ]] || {
        echo "$0: $f is missing: run make first" >&2
        exit 2
    }
done
[[ -d $PROGS ]] || {
    echo "$0: $PROGS is missing: run make test-progs first" >&2
    exit 2
}

ulimit -c 0 # the abort and segv tests must not leave cores
WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-it.XXXXXX")
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
