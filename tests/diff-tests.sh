#!/usr/bin/env bash
# diff-tests.sh - `heapspan diff` as CI and services use it: a program built twice (a
# base and a head that adds a 1 MiB leak), the same build run twice and moved by five
# lines; a service under the shim, loaded from another process over loopback, diffed
# between two markers; a process killed after its resident set crossed
# HEAPSPAN_SNAPSHOT_ON_RSS, and one whose cgroup's memory.events "high" count rose; the
# recipes of docs/recipes/, run as they are written; bad input.
#
#   tests/diff-tests.sh [--list] [--keep] [TEST...]
#
# Builds nothing (tests/diff.mk does): the tools and programs come from the environment,
# paths relative to the current directory:
#   HEAPSPAN=build/heapspan  SHIM=build/libheapspan.so  PROGS=build/tests/progs
#   CIPROGS=build/tests/ci   PYTHON=<the real interpreter behind python3>
# Each test runs in its own temporary directory, kept when the test fails (--keep:
# always). Prints "PASS name" or "FAIL name: what differed (expected vs got)" per test,
# then "N passed, N failed"; exits 1 if a test failed, 2 on a usage error.
#
# Markers become snapshots once `heapspan snapshot` exists: diff_markers then diffs the
# snapshots `heapspan snapshot --all-markers` writes; until then it diffs the log at
# its two markers (--base-at/--new-at), which must give the same figures.
set -u -o pipefail

abspath() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
    esac
}

TOP=$(cd "$(dirname "$0")/.." && pwd)
HEAPSPAN=$(abspath "${HEAPSPAN:-build/heapspan}")
SHIM=$(abspath "${SHIM:-build/libheapspan.so}")
PROGS=$(abspath "${PROGS:-build/tests/progs}")
CIPROGS=$(abspath "${CIPROGS:-$(dirname "$PROGS")/ci}")
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
fi
TIMEOUT=${TEST_TIMEOUT:-60}
export HEAPSPAN_SHIM=$SHIM
unset LD_PRELOAD DEBUGINFOD_URLS

ALL_TESTS=(ci_leak ci_snapshots ci_same ci_moved ci_formats service rss_kill cgroup_high
    recipe_systemd recipe_entrypoint recipe_python recipe_ci
    bad_threshold bad_missing bad_not_log bad_marker)

# ---- checking ----

fail() {
    printf '%s\n' "$*" >>"$FAILS"
}

expect() {
    [[ $2 == "$3" ]] || fail "$1 (expected $2, got $3)"
}

expect_grep() {
    grep -Eq -- "$2" "$3" || fail "$1 (expected a line matching /$2/ in $(basename "$3"), got: $(head -c 300 "$3" | tr '\n' '|'))"
}

# jget FILE EXPR: EXPR evaluated by Python with d the JSON in FILE (lists of sites and
# functions as diff-json.md gives them); prints the result.
jget() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def fn(site):
    return site["frames"][0]["function"]
def site_of(lst, name):
    return [s for s in lst if s["frames"][0]["function"] == name]
print(eval(sys.argv[2]))
EOF
}

# within WHAT EXPECTED GOT PERCENT: |GOT - EXPECTED| <= PERCENT% of EXPECTED.
within() {
    "$PYTHON" -c "import sys; e, g, p = map(float, sys.argv[1:]); sys.exit(abs(g - e) > e * p / 100)" \
        "$2" "$3" "$4" || fail "$1 (expected $2 within $4%, got $3)"
}

# ---- running ----

# hs_run ARGS...: `heapspan run ARGS`; stderr to run.err, exit status in RC.
hs_run() {
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" run "$@" >run.out 2>run.err
    RC=$?
}

# hs_diff ARGS...: `heapspan diff ARGS`; stdout to diff.out, stderr to diff.err, RC.
hs_diff() {
    timeout -k 5 "$TIMEOUT" "$HEAPSPAN" diff "$@" >diff.out 2>diff.err
    RC=$?
}

wait_file() {
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -s $1 ]] && return 0
        sleep 0.05
    done
    fail "$1 never appeared (the program did not get ready in 15 s)"
    return 1
}

# markers LOG: how many markers the log holds so far (it may still be written).
markers() {
    "$HEAPSPAN" dump --summary "$1" 2>/dev/null | sed -n 's/^markers=//p'
}

# wait_markers LOG N: up to 5 s for the writer to put the Nth marker on disk.
wait_markers() {
    local i
    for ((i = 0; i < 100; i++)); do
        [[ $(markers "$1") -ge $2 ]] 2>/dev/null && return 0
        sleep 0.05
    done
    fail "$1: marker $2 not written within 5 s (markers: $(markers "$1"))"
    return 1
}

# have_snapshots: whether this heapspan has the snapshot command.
have_snapshots() {
    "$HEAPSPAN" snapshot --help >/dev/null 2>&1
}

# diff_markers LOG M N ARGS...: the diff from marker M to marker N of LOG, with ARGS
# (e.g. --format json); output and status as hs_diff's.
diff_markers() {
    local log=$1 m=$2 n=$3
    shift 3
    if have_snapshots; then
        rm -rf snaps
        timeout -k 5 "$TIMEOUT" "$HEAPSPAN" snapshot --all-markers "$log" -o snaps >snap.out 2>snap.err ||
            fail "snapshot --all-markers $log failed: $(head -c 300 snap.err)"
        local files
        mapfile -t files < <(find snaps -type f | sort -V)
        hs_diff "${files[$((m - 1))]}" "${files[$((n - 1))]}" "$@"
    else
        hs_diff --base-at "marker:$m" --new-at "marker:$n" "$log" "$log" "$@"
    fi
}

# ---- the CI scenario (tests/progs/ciprog.c, built by tests/diff.mk) ----

# ci_record NAME BUILD: BUILD's ciprog recorded into NAME.hsl.
ci_record() {
    hs_run -o "$1.hsl" -- "$CIPROGS/$2/ciprog"
    expect "$1: exit status" 0 "$RC"
}

# The head adds a 1 MiB leak in a new function: it ranks first, and the budget fails.
t_ci_leak() {
    ci_record base base
    ci_record new new
    hs_diff base.hsl new.hsl --fail-on-growth 512KiB
    expect "exit status over the budget" 1 "$RC"
    expect "stderr" "heapspan diff: peak grew by 1.00 MiB (+336%), over the budget of 512 KiB" \
        "$(cat diff.err)"
    expect_grep "first site that grew" '^ +1 +\+1\.00 MiB +0 B +1\.00 MiB  leak_more \(ciprog\.c:[0-9]+\) < main \(ciprog\.c:[0-9]+\)' diff.out
    hs_diff base.hsl new.hsl --fail-on-growth 512KiB --format json -o diff.json
    expect "exit status with -o" 1 "$RC"
    expect "first function that grew" leak_more "$(jget diff.json 'd["functions"]["grown"][0]["function"]')"
    expect "first site that grew" leak_more "$(jget diff.json 'fn(d["sites"]["grown"][0])')"
    expect "its match" new "$(jget diff.json 'd["sites"]["grown"][0]["match"]')"
    expect "its peak delta" 1048576 "$(jget diff.json 'd["sites"]["grown"][0]["peak"]["delta"]')"
    expect "peak total delta" 1048576 "$(jget diff.json 'd["totals"]["peak"]["delta"]')"
    expect "sites matched exactly, new, vanished, changed" "3 1 0 1" \
        "$(jget diff.json '" ".join(str(d["matched"][k]) for k in ("exact", "new", "vanished", "changed"))')"
    expect "budgets breached" 1 "$(jget diff.json 'd["breached"]')"
    # The same leak by the leaked metric, and a budget it stays within.
    hs_diff base.hsl new.hsl --metric leaked --fail-on-growth leaked:2MiB --format json
    expect "exit status within 2 MiB" 0 "$RC"
    expect "leaked delta" 1048576 "$(jget diff.out 'd["totals"]["leaked"]["delta"]')"
    expect "stderr within the budget" "" "$(cat diff.err)"
    # PCT%,SIZE fails only over both; --warn-only reports and passes.
    hs_diff base.hsl new.hsl --fail-on-growth 300%,2MiB
    expect "exit status over 300% but not 2 MiB" 0 "$RC"
    hs_diff base.hsl new.hsl --fail-on-growth 300%,512KiB
    expect "exit status over 300% and 512 KiB" 1 "$RC"
    hs_diff base.hsl new.hsl --fail-on-growth 512KiB --warn-only
    expect "exit status with --warn-only" 0 "$RC"
    expect_grep "--warn-only's line" 'over the budget of 512 KiB; --warn-only: not failed$' diff.err
}

# Two runs of the same build: nothing changed, the budget holds.
# The same CI check on snapshots (what a pipeline keeps as a baseline artifact, with no
# binary or debug info): the leak still ranks first and fails the budget; a user's
# suppression of it passes the leaked budget; a snapshot has no other point to cut at.
t_ci_snapshots() {
    ci_record base base
    ci_record new new
    "$HEAPSPAN" snapshot base.hsl -o base.hsnap 2>snap.err || fail "snapshot base: $(cat snap.err)"
    "$HEAPSPAN" snapshot new.hsl -o new.hsnap 2>>snap.err || fail "snapshot new: $(cat snap.err)"
    hs_diff base.hsnap new.hsnap --metric leaked --fail-on-growth 512KiB --format json
    expect "exit status over the budget, from snapshots" 1 "$RC"
    expect "leaked delta" 1048576 "$(jget diff.out 'd["totals"]["leaked"]["delta"]')"
    expect "first function that grew" leak_more "$(jget diff.out 'd["functions"]["grown"][0]["function"]')"
    printf 'leak:leak_more\n' >known.supp
    hs_diff base.hsnap new.hsnap --metric leaked --fail-on-growth 512KiB --suppressions known.supp
    expect "exit status with the leak suppressed" 0 "$RC"
    hs_diff base.hsnap new.hsnap --new-at marker:1
    expect "exit status of --new-at on a snapshot" 2 "$RC"
    expect_grep "the message names the snapshot" "^heapspan diff: .*new\.hsnap" diff.err
}

t_ci_same() {
    ci_record base base
    ci_record again base
    hs_diff base.hsl again.hsl --fail-on-growth 512KiB
    expect "exit status" 0 "$RC"
    expect "stderr" "" "$(cat diff.err)"
    expect_grep "text says so" '^No site changed\.$' diff.out
    hs_diff base.hsl again.hsl --format json
    expect "sites matched exactly, by function, new, vanished, changed" "3 0 0 0 0" \
        "$(jget diff.out '" ".join(str(d["matched"][k]) for k in ("exact", "function", "new", "vanished", "changed"))')"
    expect "lists" "0 0 0 0" \
        "$(jget diff.out '" ".join(str(len(d["sites"][k])) for k in ("grown", "shrunk", "new", "vanished"))')"
}

# The same build with five blank lines above its functions: every line moved, every
# site matches by function, nothing changed.
t_ci_moved() {
    ci_record base base
    ci_record moved moved
    hs_diff base.hsl moved.hsl --fail-on-growth 512KiB --format json
    expect "exit status" 0 "$RC"
    expect "sites matched exactly, by function, new, vanished, changed" "0 3 0 0 0" \
        "$(jget diff.out '" ".join(str(d["matched"][k]) for k in ("exact", "function", "new", "vanished", "changed"))')"
    # Without the second pass they would all be new and vanished: the lines did move.
    hs_diff base.hsl moved.hsl
    expect_grep "text says so" '^Sites: 0 matched exactly, 3 by function \(lines moved\), 0 new, 0 vanished; 0 changed\.$' diff.out
    "$HEAPSPAN" report --format json base.hsl >base.json 2>/dev/null
    "$HEAPSPAN" report --format json moved.hsl >moved.json 2>/dev/null
    expect "load_table's line moved by 5" 5 \
        "$("$PYTHON" -c 'import json,sys
b, m = (json.load(open(p)) for p in sys.argv[1:])
line = lambda r: [s["line"] for s in r["sites"] if s["function"] == "load_table"][0]
print(line(m) - line(b))' base.json moved.json)"
}

# The formats a CI job publishes: markdown for a PR comment or step summary, JUnit XML
# for test reports (valid against tests/junit.xsd), JSON with its version.
t_ci_formats() {
    ci_record base base
    ci_record new new
    hs_diff base.hsl new.hsl --fail-on-growth 512KiB --fail-on-growth live:1MiB --format markdown -o diff.md
    expect "exit status" 1 "$RC"
    expect "stderr lines, one per breached budget" 1 "$(wc -l <diff.err)"
    expect_grep "markdown title" '^## Heap diff: `base\.hsl` → `new\.hsl`$' diff.md
    expect_grep "markdown totals row" '^\| \*\*peak\*\* \| 305 KiB \| 1\.30 MiB \| \+1\.00 MiB \| \+336% \|$' diff.md
    expect_grep "markdown budget" '^- :x: peak grew by 1\.00 MiB \(\+336%\), over the budget of 512 KiB$' diff.md
    expect_grep "markdown budget kept" '^- :white_check_mark: live grew by 1\.00 MiB \(\+2097%\), within the budget of 1\.00 MiB$' diff.md
    expect_grep "markdown site" '^\| 1 \| \+1\.00 MiB \| 0 B \| 1\.00 MiB \| `leak_more \(ciprog\.c:[0-9]+\) < main' diff.md
    hs_diff base.hsl new.hsl --fail-on-growth 512KiB --fail-on-growth live:1MiB --format junit -o diff.xml
    expect "junit: exit status" 1 "$RC"
    if command -v xmllint >/dev/null; then
        xmllint --noout --schema "$TOP/tests/junit.xsd" diff.xml 2>xmllint.err ||
            fail "diff.xml is not valid against tests/junit.xsd: $(head -c 300 xmllint.err)"
    else
        fail "xmllint is missing (Debian: libxml2-utils)"
    fi
    expect "junit testcases, failures" "2 1" \
        "$("$PYTHON" -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
cases = r.findall("testsuite/testcase")
print(len(cases), sum(1 for c in cases if c.find("failure") is not None))' diff.xml)"
    expect "junit failure message" "peak grew by 1.00 MiB (+336%), over the budget of 512 KiB" \
        "$("$PYTHON" -c 'import sys, xml.etree.ElementTree as E
print(E.parse(sys.argv[1]).getroot().find("testsuite/testcase/failure").get("message"))' diff.xml)"
    hs_diff base.hsl new.hsl --format json
    expect "json version" 1 "$(jget diff.out 'd["heapspan_diff"]')"
    expect "json budgets without any" "[]" "$(jget diff.out 'd["budgets"]')"
}

# ---- a service (tests/progs/svc_cache.c) ----

# A cache server under the shim, loaded from another process over loopback; SIGUSR2
# before and after a phase that inserts 5000 new keys (and touches 1000 old ones): the
# diff of the two markers shows 5000 x 200 bytes at cache_insert, within 1%.
t_service() {
    "$HEAPSPAN" run -o svc.hsl -- "$PROGS/svc_cache" serve "$PWD/ready" >run.out 2>run.err &
    local hs=$! pid port
    if ! wait_file ready; then
        kill "$hs"
        return
    fi
    read -r pid port <ready
    "$PROGS/svc_cache" load "$port" 0 1000 || fail "warm-up load failed"
    kill -USR2 "$pid"
    wait_markers svc.hsl 1
    "$PROGS/svc_cache" load "$port" 1000 5000 || fail "growth load failed"
    "$PROGS/svc_cache" load "$port" 0 1000 || fail "repeat load failed"
    kill -USR2 "$pid"
    wait_markers svc.hsl 2
    "$PROGS/svc_cache" quit "$port" || fail "quit failed"
    wait "$hs"
    expect "server exit status" 0 "$?"
    diff_markers svc.hsl 1 2 --metric live --format json
    expect "diff exit status" 0 "$RC"
    expect "first site that grew" cache_insert "$(jget diff.out 'fn(d["sites"]["grown"][0])')"
    within "cache_insert's growth" 1000000 "$(jget diff.out 'd["sites"]["grown"][0]["live"]["delta"]')" 1
    within "live total's growth" 1000000 "$(jget diff.out 'd["totals"]["live"]["delta"]')" 1
    expect "sites that grew" 1 "$(jget diff.out 'len(d["sites"]["grown"])')"
    # A budget under the growth fails the gate; one over it passes.
    diff_markers svc.hsl 1 2 --metric live --fail-on-growth 900KiB
    expect "exit status over 900 KiB" 1 "$RC"
    expect_grep "its line" '^heapspan diff: live grew by 977 KiB \(\+[0-9]+%\), over the budget of 900 KiB$' diff.err
    diff_markers svc.hsl 1 2 --metric live --fail-on-growth 1MiB
    expect "exit status within 1 MiB" 0 "$RC"
}

# ---- before an OOM kill ----

# The resident set grows past HEAPSPAN_SNAPSHOT_ON_RSS, then the process is SIGKILLed:
# the log holds the marker, with the growing site live at it.
t_rss_kill() {
    "$HEAPSPAN" run --snapshot-on-rss 48M -o rss.hsl -- "$PROGS/rss_grow" 80 "$PWD/ready" >run.out 2>run.err &
    local hs=$!
    if wait_file ready; then
        wait_markers rss.hsl 1 # on disk within a writer cycle or two of the crossing
        kill -KILL "$(cat ready)"
    else
        kill "$hs"
    fi
    wait "$hs"
    expect "exit status (SIGKILL)" 137 "$?"
    "$HEAPSPAN" dump rss.hsl >rss.txt 2>/dev/null
    expect "markers, by kind" "rss" "$(awk '$2 == "marker" { sub("kind=", "", $3); printf "%s ", $3 }' rss.txt | sed 's/ $//')"
    # The heap at the marker, and at the end, each against the log's first microsecond
    # (nothing of grow_rss yet), so that grow_rss is listed whatever the two hold.
    hs_diff --base-at marker:1 --new-at time:0.000001 --metric live rss.hsl rss.hsl --format json
    expect "diff exit status (the marker)" 0 "$RC"
    local at end
    at=$(jget diff.out '[s for s in d["sites"]["shrunk"] if fn(s) == "grow_rss"][0]["live"]["base"]')
    # RSS >= 48 MiB at the marker, of which a few MiB are the program and the shim; the
    # writer looks every cycle (at least every 100 ms, 20 blocks' worth).
    "$PYTHON" -c "import sys; v = float(sys.argv[1]); sys.exit(not (40 << 20) <= v <= (80 << 20))" "$at" ||
        fail "grow_rss live at the marker (expected 40 to 80 MiB, got $at bytes)"
    hs_diff --base-at time:0.000001 --metric live rss.hsl rss.hsl --format json
    expect "diff exit status (the end)" 0 "$RC"
    # At the end: up to the last flush before the kill (a SIGKILL loses at most 100 ms).
    end=$(jget diff.out '[s for s in d["sites"]["grown"] if fn(s) == "grow_rss"][0]["live"]["new"]')
    "$PYTHON" -c "import sys; a, e = map(float, sys.argv[1:]); sys.exit(not a <= e <= (80 << 20))" "$at" "$end" ||
        fail "grow_rss live at the end (expected from $at to 80 MiB, got $end bytes)"
}

# The cgroup's memory.events "high" count rises: a marker. Inside a mount namespace of
# its own, the test puts a memory.events of its making where the unified hierarchy
# would be (the shim reads /sys/fs/cgroup/PATH/memory.events, or under
# /sys/fs/cgroup/unified on a hybrid system), and raises "high" while the program runs.
t_cgroup_high() {
    local cg
    cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
    mkdir -p "fake$cg"
    local events=$PWD/fake$cg/memory.events
    printf 'low 0\nhigh 3\nmax 0\noom 0\noom_kill 0\n' >"$events"
    if ! unshare -m --propagation private true 2>/dev/null; then
        fail "unshare -m is not allowed here (the test needs root and a mount namespace)"
        return
    fi
    # The fake tree hides the real one in this namespace only; the shim finds its
    # memory.events under /sys/fs/cgroup, as on a system with cgroup v2 alone.
    unshare -m --propagation private sh -c 'mount --bind "$1" /sys/fs/cgroup && shift && exec "$@"' \
        sh "$PWD/fake" "$HEAPSPAN" run --snapshot-on-rss 0 -o cg.hsl -- "$PROGS/rss_grow" 4 "$PWD/ready" \
        >run.out 2>run.err &
    local hs=$!
    if wait_file ready; then
        sleep 0.3
        expect "markers before the count rose" 0 "$(markers cg.hsl)"
        # In place: the shim reads the same inode through the bind mount.
        printf 'low 0\nhigh 5\nmax 0\noom 0\noom_kill 0\n' >"$events"
        wait_markers cg.hsl 1
        kill -KILL "$(cat ready)"
    else
        kill "$hs"
    fi
    wait "$hs"
    "$HEAPSPAN" dump cg.hsl >cg.txt 2>/dev/null
    expect "markers, by kind" "cgroup-high" "$(awk '$2 == "marker" { sub("kind=", "", $3); printf "%s ", $3 }' cg.txt | sed 's/ $//')"
}

# ---- the recipes in docs/recipes/, as written ----

# recipe_env FILE: the Environment= lines of a systemd drop-in, as NAME=VALUE lines
# with systemd's %% unescaped and the install paths pointed at this build.
recipe_env() {
    sed -n 's/^Environment=//p' "$1" | sed 's/%%/%/g' |
        sed "s|/usr/local/lib/heapspan/libheapspan.so|$SHIM|; s|/var/tmp|$PWD|"
}

# svc_phases PID PORT LOG: the service test's load, with its two markers.
svc_phases() {
    "$PROGS/svc_cache" load "$2" 0 1000 || fail "warm-up load failed"
    kill -USR2 "$1"
    wait_markers "$3" 1
    "$PROGS/svc_cache" load "$2" 1000 5000 || fail "growth load failed"
    kill -USR2 "$1"
    wait_markers "$3" 2
    "$PROGS/svc_cache" quit "$2" || fail "quit failed"
}

# The systemd drop-in's environment, given to the service as systemd would.
t_recipe_systemd() {
    local -a envs
    mapfile -t envs < <(recipe_env "$TOP/docs/recipes/heapspan.conf")
    expect "variables the drop-in sets" "LD_PRELOAD HEAPSPAN_OUTPUT HEAPSPAN_SNAPSHOT_ON_RSS" \
        "$(printf '%s\n' "${envs[@]}" | sed 's/=.*//' | tr '\n' ' ' | sed 's/ $//')"
    env "${envs[@]}" "$PROGS/svc_cache" serve "$PWD/ready" >run.out 2>run.err &
    local hs=$! pid port
    wait_file ready || {
        kill "$hs"
        return
    }
    read -r pid port <ready
    local log=$PWD/myservice.$pid.hsl
    expect_grep "the shim's start-up line" "^heapspan: recording to $log\$" run.err
    svc_phases "$pid" "$port" "$log"
    wait "$hs"
    diff_markers "$log" 1 2 --metric live --format json
    within "cache_insert's growth" 1000000 "$(jget diff.out 'd["sites"]["grown"][0]["live"]["delta"]')" 1
}

# The container entrypoint, with the service as its command.
t_recipe_entrypoint() {
    HEAPSPAN_SHIM=$SHIM HEAPSPAN_DIR=$PWD/heapspan sh "$TOP/docs/recipes/entrypoint.sh" \
        "$PROGS/svc_cache" serve "$PWD/ready" >run.out 2>run.err &
    local hs=$! pid port
    wait_file ready || {
        kill "$hs"
        return
    }
    read -r pid port <ready
    local log=$PWD/heapspan/svc_cache.$pid.hsl
    svc_phases "$pid" "$port" "$log"
    wait "$hs"
    expect "entrypoint's exit status (the service's)" 0 "$?"
    diff_markers "$log" 1 2 --metric live --format json
    within "cache_insert's growth" 1000000 "$(jget diff.out 'd["sites"]["grown"][0]["live"]["delta"]')" 1
}

# The Python web service whose native extension leaks 23457 bytes per request: 40
# requests between the markers, from another process; the extension's leak ranks first.
t_recipe_python() {
    if [[ -z $PYTHON || ! -x $PYTHON || ! -f $PROGS/hsext.so ]]; then
        fail "no Python interpreter ($PYTHON) or no hsext.so in $PROGS"
        return
    fi
    local app=$TOP/docs/recipes/pyservice.py
    # The command docs/recipes/README.md gives, with this build's paths.
    PYTHONPATH=$PROGS PYTHONMALLOC=malloc HEAPSPAN_SHIM=$SHIM \
        "$HEAPSPAN" run -o py.hsl -- "$PYTHON" "$app" --port 0 --ready "$PWD/ready" >run.out 2>run.err &
    local hs=$! pid port
    wait_file ready || {
        kill "$hs"
        return
    }
    read -r pid port <ready
    get() {
        "$PYTHON" -c 'import sys, urllib.request
port, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()' "$port" "$1" "$2" ||
            fail "GET $1 failed"
    }
    get /work 10
    kill -USR2 "$pid"
    wait_markers py.hsl 1
    get /work 40
    kill -USR2 "$pid"
    wait_markers py.hsl 2
    get /quit 1
    wait "$hs"
    expect "service exit status" 0 "$?"
    diff_markers py.hsl 1 2 --metric live --format json
    expect "first site that grew" hsext_leak "$(jget diff.out 'fn(d["sites"]["grown"][0])')"
    within "hsext_leak's growth" $((40 * 23457)) "$(jget diff.out 'd["sites"]["grown"][0]["live"]["delta"]')" 1
    expect "first function that grew" hsext_leak "$(jget diff.out 'd["functions"]["grown"][0]["function"]')"
}

# The CI step: the generic script on a base and a head build, and the GitHub Actions
# step's command (docs/recipes/github-actions.yml) with its step summary file.
t_recipe_ci() {
    local script=$TOP/docs/recipes/ci-heap-diff.sh
    HEAPSPAN=$HEAPSPAN HEAPSPAN_CI_DIR=$PWD/out sh "$script" "$CIPROGS/base/ciprog" "$CIPROGS/new/ciprog" \
        >ci.out 2>ci.err
    expect "script's exit status (over its default budget)" 1 "$?"
    expect_grep "its stderr" '^heapspan diff: peak grew by 1\.00 MiB \(\+336%\), over the budget of 512 KiB$' ci.err
    for f in base.hsl new.hsl heap-diff.md heap-diff.xml heap-diff.json; do
        [[ -s out/$f ]] || fail "the script did not write out/$f"
    done
    HEAPSPAN=$HEAPSPAN HEAPSPAN_CI_DIR=$PWD/same sh "$script" "$CIPROGS/base/ciprog" "$CIPROGS/moved/ciprog" \
        >same.out 2>same.err
    expect "exit status, lines moved only" 0 "$?"
    # The Actions step: its `run:` lines, in the repository's top directory as Actions
    # runs them, with the step summary file Actions gives.
    local yml=$TOP/docs/recipes/github-actions.yml
    awk '/- name: Heap diff$/ { step = 1 }
         step && /^ *run: \|/ { match($0, /^ */); indent = RLENGTH; lines = 1; next }
         lines { match($0, /^ */); if (RLENGTH <= indent) exit; sub(/^ */, ""); print }' "$yml" >step.sh
    [[ -s step.sh ]] || fail "no run: block in github-actions.yml"
    (cd "$TOP" && BASE_BIN=$CIPROGS/base/ciprog HEAD_BIN=$CIPROGS/new/ciprog HEAPSPAN=$HEAPSPAN \
        HEAPSPAN_CI_DIR=$OLDPWD/gh GITHUB_STEP_SUMMARY=$OLDPWD/summary.md bash -e "$OLDPWD/step.sh") \
        >gh.out 2>gh.err
    expect "Actions step's exit status" 1 "$?"
    expect_grep "step summary" '^## Heap diff: `base\.hsl` → `new\.hsl`$' summary.md
    expect_grep "step summary's verdict" '^- :x: peak grew by 1\.00 MiB' summary.md
}

# ---- bad input: one message each, exit 2 ----

# bad_case WHAT EXPECTED-STDERR ARGS...
bad_case() {
    local what=$1 want=$2
    shift 2
    hs_diff "$@"
    expect "$what: exit status" 2 "$RC"
    expect "$what: stderr" "$want" "$(cat diff.err)"
    expect "$what: stdout" "" "$(cat diff.out)"
}

t_bad_threshold() {
    ci_record base base
    bad_case "--fail-on-growth 5x" \
        "heapspan diff: --fail-on-growth 5x: expected PCT% (10%), SIZE (512KiB), or both as PCT%,SIZE (10%,512KiB: over both), optionally after METRIC: (peak:10%)" \
        base.hsl base.hsl --fail-on-growth 5x
    bad_case "--fail-on-growth 10%,20%" \
        "heapspan diff: --fail-on-growth 10%,20%: expected PCT% (10%), SIZE (512KiB), or both as PCT%,SIZE (10%,512KiB: over both), optionally after METRIC: (peak:10%)" \
        base.hsl base.hsl --fail-on-growth 10%,20%
    bad_case "--metric heap" \
        "heapspan diff: --metric heap: expected live, peak, leaked, allocations or temporary" \
        base.hsl base.hsl --metric heap
}

t_bad_missing() {
    ci_record base base
    bad_case "a missing file" \
        "heapspan diff: nosuch.hsl: cannot open: No such file or directory" base.hsl nosuch.hsl
}

t_bad_not_log() {
    ci_record base base
    printf 'live 1000\npeak 2000\n' >numbers.txt
    bad_case "a text file" \
        "heapspan diff: numbers.txt: byte 0: not a heapspan log (bad magic); give a .hsl file written by \`heapspan run\` or libheapspan.so" \
        numbers.txt base.hsl
}

t_bad_marker() {
    ci_record base base
    bad_case "--new-at marker:1 on a log without markers" \
        "heapspan diff: base.hsl: no marker 1: the log has 0 (\`kill -USR2 PID\` or --snapshot-interval writes them)" \
        base.hsl base.hsl --new-at marker:1
    bad_case "--base-at marker:0" \
        "heapspan diff: --base-at marker:0: expected end, peak, marker:N (N from 1) or time:SECONDS" \
        base.hsl base.hsl --base-at marker:0
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

for f in "$HEAPSPAN" "$SHIM" "$PROGS/svc_cache" "$PROGS/rss_grow" "$CIPROGS/base/ciprog"; do
    [[ -f $f ]] || {
        echo "$0: $f is missing: run make test-diff-progs first" >&2
        exit 2
    }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-diff.XXXXXX")
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
