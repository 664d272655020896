#!/usr/bin/env bash
# flame-tests.sh - the flame graphs, the HTML report and the exports, checked by the
# tools people use them with: go tool pprof reads the pprof export, Pyroscope's ingest
# is stood in for by a loopback receiver, speedscope's own schema validates its export,
# and real headless Chromium opens the pages from file:// (tests/browser/pages.js).
# Programs with known leaks (tests/progs/known_c, the CI program's two builds) are
# recorded first. Prints "PASS name" or "FAIL name: why", then "N passed, N failed".
#
#   tests/flame-tests.sh [--keep] [TEST...]      (TEST: a name or a shell pattern)
#
# Environment (defaults for a run from the top directory; tests/flame.mk passes them):
#   HEAPSPAN   build/heapspan          SHIM       build/libheapspan.so
#   PROGS      build/tests/progs       CI_PROGS   build/tests/ci (BASE and NEW ciprog)
#   NODE_DIR   build/tests/node (npm ci of tests/browser/package-lock.json)
#   ARTIFACTS  build/tests/artifacts (screenshots, the pages, the exports)
#   GO         go (Debian's golang-go, for `go tool pprof`)
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
HEAPSPAN=$(abs "${HEAPSPAN:-build/heapspan}")
SHIM=$(abs "${SHIM:-build/libheapspan.so}")
PROGS=$(abs "${PROGS:-build/tests/progs}")
CI_PROGS=$(abs "${CI_PROGS:-build/tests/ci}")
NODE_DIR=$(abs "${NODE_DIR:-build/tests/node}")
ARTIFACTS=$(abs "${ARTIFACTS:-build/tests/artifacts}")
GO=${GO:-go}
export HEAPSPAN_SHIM=$SHIM NODE_PATH=$NODE_DIR/node_modules
unset LD_PRELOAD DEBUGINFOD_URLS

keep=0
if [[ ${1:-} == --keep ]]; then
    keep=1
    shift
fi
patterns=("$@")

pass=0
failed=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-flame.XXXXXX") || exit 2
cleanup() {
    if ((keep || failed)); then
        echo "files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
mkdir -p "$ARTIFACTS"

selected() {
    ((${#patterns[@]} == 0)) && return 0
    local p
    for p in "${patterns[@]}"; do
        # shellcheck disable=SC2053 # a pattern on purpose
        [[ $1 == $p ]] && return 0
    done
    return 1
}

ok() {
    echo "PASS $1"
    pass=$((pass + 1))
}

ko() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

for tool in "$HEAPSPAN" "$PROGS/known_c" "$PROGS/known_cxx" "$PROGS/sym_cxx" \
    "$CI_PROGS/base/ciprog" "$CI_PROGS/new/ciprog"; do
    if [[ ! -x $tool ]]; then
        echo "flame-tests: $tool is missing (make test builds it)" >&2
        echo "0 passed, 1 failed"
        exit 2
    fi
done

# ---- recordings ----

record() { # record NAME PROG ARGS...
    local name=$1
    shift
    timeout -s KILL 30 "$HEAPSPAN" run -o "$WORK/$name.hsl" -- "$@" >"$WORK/$name.run" 2>&1
}

if ! record known_c "$PROGS/known_c" || ! record base "$CI_PROGS/base/ciprog" ||
    ! record new "$CI_PROGS/new/ciprog"; then
    ko recordings "heapspan run failed: $(tail -n 3 "$WORK"/*.run)"
    echo "$pass passed, $failed failed"
    exit 1
fi
KNOWN=$WORK/known_c.hsl
# known_c.c's leak_plain: 7 blocks of 1000 bytes (its header's table).
LEAK_FN=leak_plain
LEAK_BYTES=7000

# ---- pprof ----

# The fields of a pprof profile, decoded here with no code of ours: string_table[0],
# the functions' names and system names, and the locations' line counts.
cat >"$WORK/pprof_fields.py" <<'EOF'
import gzip, json, sys

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return v, i

def fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif w == 1:
            v = b[i:i + 8]; i += 8
        elif w == 5:
            v = b[i:i + 4]; i += 4
        out.append((f, v))
    return out

p = fields(gzip.open(sys.argv[1]).read())
strings = [v.decode() for f, v in p if f == 6]
funcs = []
for f, v in p:
    if f == 5:
        d = dict(fields(v))
        funcs.append({"name": strings[d.get(2, 0)], "system_name": strings[d.get(3, 0)]})
locs = [sum(1 for g, _ in fields(v) if g == 4) for f, v in p if f == 4]
print(json.dumps({"string0": strings[0], "functions": funcs, "max_lines": max(locs or [0]),
                  "default_sample_type": sum(1 for f, _ in p if f == 14)}))
EOF

if selected pprof_top; then
    out=$("$HEAPSPAN" export --pprof "$WORK/known_c.pb.gz" "$KNOWN" 2>&1) || ko pprof_top "export: $out"
    top=$("$GO" tool pprof -top -unit=B -sample_index=inuse_space "$WORK/known_c.pb.gz" 2>&1)
    first=$(printf '%s\n' "$top" | awk '/flat%/ { getline; print; exit }')
    if [[ $first =~ ^[[:space:]]*${LEAK_BYTES}B[[:space:]].*[[:space:]]${LEAK_FN}$ ]] &&
        printf '%s\n' "$top" | grep -q "Type: inuse_space"; then
        ok pprof_top
    else
        ko pprof_top "expected the first row to be ${LEAK_BYTES}B ... $LEAK_FN vs got '$first' in: $top"
    fi
    cp "$WORK/known_c.pb.gz" "$ARTIFACTS/" 2>/dev/null
fi

if selected pprof_layout; then
    raw=$("$GO" tool pprof -raw "$WORK/known_c.pb.gz" 2>&1)
    why=""
    printf '%s\n' "$raw" | grep -qx 'alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes' ||
        why="sample types not Go's four in order;"
    printf '%s\n' "$raw" | grep -qx 'PeriodType: space bytes' || why="$why period type not space/bytes;"
    printf '%s\n' "$raw" | grep -qx 'Period: 1' || why="$why period not 1 (every allocation);"
    printf '%s\n' "$raw" | grep -Eq "^1: .*/known_c [0-9a-f]{40} \[FN\]\[FL\]\[LN\]\[IN\]$" ||
        why="$why mapping 1 is not known_c with its build-id;"
    fields=$(python3 "$WORK/pprof_fields.py" "$WORK/known_c.pb.gz" 2>&1)
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["string0"] == "" and d["default_sample_type"] == 0' "$fields" 2>/dev/null ||
        why="$why string_table[0] not \"\" or a default sample type set: $fields;"
    if [[ -z $why ]]; then ok pprof_layout; else ko pprof_layout "$why"; fi
fi

# C++: known_cxx has a frame inlined at -O2 (a location of two lines), sym_cxx a
# namespaced template (a mangled system_name beside the demangled name).
if selected pprof_cxx_inline_mangled; then
    if record cxx "$PROGS/known_cxx" && record symcxx "$PROGS/sym_cxx" &&
        "$HEAPSPAN" export --pprof "$WORK/cxx.pb.gz" "$WORK/cxx.hsl" >"$WORK/cxx.err" 2>&1 &&
        "$HEAPSPAN" export --pprof "$WORK/symcxx.pb.gz" "$WORK/symcxx.hsl" >>"$WORK/cxx.err" 2>&1; then
        inl=$(python3 "$WORK/pprof_fields.py" "$WORK/cxx.pb.gz" 2>&1)
        names=$(python3 "$WORK/pprof_fields.py" "$WORK/symcxx.pb.gz" 2>&1)
        if python3 - "$inl" "$names" <<'EOF'; then
import json, sys
inl, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert inl["max_lines"] >= 2, "no location with an inlined line in known_cxx"
f = [f for f in names["functions"] if "heapspan_test::make_box<long>(long)" in f["name"]]
assert f and f[0]["system_name"].startswith("_ZN13heapspan_test8make_box"), f
EOF
            ok pprof_cxx_inline_mangled
        else
            ko pprof_cxx_inline_mangled "known_cxx: $inl; sym_cxx: $names"
        fi
    else
        ko pprof_cxx_inline_mangled "$(cat "$WORK/cxx.err" "$WORK/cxx.run" "$WORK/symcxx.run" 2>/dev/null | tail -n 3)"
    fi
fi

# A sampled log: the export's values are the model's estimates, scaled up, not the
# recorded bytes.
if selected pprof_sampled_scaled; then
    log=$TOP/tests/golden/logs/sampled.hsl
    "$HEAPSPAN" export --no-symbols --pprof "$WORK/sampled.pb.gz" "$log" 2>"$WORK/s.err"
    "$HEAPSPAN" report --no-symbols --format json "$log" >"$WORK/sampled.json" 2>/dev/null
    recorded=$("$HEAPSPAN" dump --summary "$log" | sed -n 's/^allocated_bytes=//p')
    raw=$("$GO" tool pprof -raw "$WORK/sampled.pb.gz" 2>&1)
    if python3 - "$WORK/sampled.json" "$recorded" "$raw" <<'EOF'; then
import json, re, sys
rep = json.load(open(sys.argv[1]))
recorded = int(sys.argv[2])
raw = sys.argv[3]
period = int(re.search(r"^Period: (\d+)$", raw, re.M).group(1))
assert period == rep["log"]["sample_bytes"] == 65536, f"period {period}"
rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+): ", raw, re.M)
alloc_space = sum(int(r[1]) for r in rows)
inuse_space = sum(int(r[3]) for r in rows)
want_alloc = sum(round(s["allocated_bytes"]) for s in rep["sites"])
want_inuse = rep["totals"]["leaked_bytes"]
assert alloc_space == want_alloc, f"alloc_space {alloc_space} vs the model's {want_alloc}"
assert abs(inuse_space - want_inuse) <= len(rows), f"inuse_space {inuse_space} vs {want_inuse}"
assert alloc_space > 2 * recorded, f"alloc_space {alloc_space} is not scaled from the recorded {recorded}"
EOF
        ok pprof_sampled_scaled
    else
        ko pprof_sampled_scaled "see above ($(head -c 300 "$WORK/s.err"))"
    fi
fi

# ---- speedscope's schema ----

if selected speedscope_schema; then
    "$HEAPSPAN" export --speedscope "$WORK/known_c.speedscope.json" "$KNOWN" 2>/dev/null
    "$HEAPSPAN" export --speedscope "$WORK/sampled.speedscope.json" \
        "$TOP/tests/golden/logs/sampled.hsl" 2>/dev/null
    "$HEAPSPAN" export --metric leaked --speedscope "$WORK/cxx.speedscope.json" \
        "$TOP/tests/golden/logs/cxx.hsl" 2>/dev/null
    printf '{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{},"profiles":[]}' \
        >"$WORK/broken.speedscope.json"
    out=$(node "$TOP/tests/browser/schema.js" "$WORK/known_c.speedscope.json" \
        "$WORK/sampled.speedscope.json" "$WORK/cxx.speedscope.json" 2>&1)
    rc=$?
    bad=$(node "$TOP/tests/browser/schema.js" "$WORK/broken.speedscope.json" 2>&1)
    if ((rc == 0)) && [[ $bad == FAIL* ]]; then
        ok speedscope_schema
    else
        ko speedscope_schema "$out / the broken file: $bad"
    fi
fi

# ---- Pyroscope ----

# start_receiver DIR [STATUS]: a receiver in the background; its port in $port.
start_receiver() {
    mkdir -p "$1"
    python3 "$TOP/tests/pyroscope-receiver.py" "$1/port" "$1" "${2:-200}" &
    receiver=$!
    for _ in $(seq 100); do
        [[ -s $1/port ]] && break
        sleep 0.05
    done
    port=$(cat "$1/port" 2>/dev/null)
}

if selected pyroscope_push; then
    d=$WORK/pyro
    start_receiver "$d"
    out=$("$HEAPSPAN" export --pyroscope "http://127.0.0.1:$port" --label env=test \
        --label team.name=mem "$KNOWN" 2>&1)
    rc=$?
    wait "$receiver"
    if ((rc != 0)); then
        ko pyroscope_push "exit $rc: $out"
    elif ! python3 - "$d/request.json" <<'EOF'; then
import json, sys
r = json.load(open(sys.argv[1]))
q = r["query"]
assert r["path"] == "/ingest", r["path"]
assert q["name"] == ["known_c{env=test,team.name=mem}"], q["name"]
assert q["format"] == ["pprof"], q
frm, until = int(q["from"][0]), int(q["until"][0])
assert 1.6e9 < frm <= until < frm + 60, (frm, until)
assert r["headers"]["Content-Type"].startswith("multipart/form-data; boundary="), r["headers"]
assert r["parts"] == ["profile"], r.get("parts")
EOF
        ko pyroscope_push "the request: $(cat "$d/request.json")"
    else
        top=$("$GO" tool pprof -top -unit=B -sample_index=inuse_space "$d/profile.pb.gz" 2>&1)
        if printf '%s\n' "$top" | grep -Eq "^[[:space:]]*${LEAK_BYTES}B .* ${LEAK_FN}$"; then
            ok pyroscope_push
        else
            ko pyroscope_push "go tool pprof on the pushed body: $top"
        fi
    fi
fi

if selected pyroscope_refused; then
    # A port nothing listens on: take one, then close it.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    out=$("$HEAPSPAN" export --pyroscope "http://127.0.0.1:$port" --timeout 1 "$KNOWN" 2>&1)
    rc=$?
    if ((rc == 2)) && [[ $out == "heapspan export: cannot push to Pyroscope: "*"127.0.0.1:$port"* ]]; then
        ok pyroscope_refused
    else
        ko pyroscope_refused "expected exit 2 and 'heapspan export: cannot push to Pyroscope: ...' vs exit $rc: $out"
    fi
fi

if selected pyroscope_rejected; then
    d=$WORK/pyro400
    start_receiver "$d" 400
    out=$("$HEAPSPAN" export --pyroscope "http://127.0.0.1:$port/" --timeout 5 "$KNOWN" 2>&1)
    rc=$?
    wait "$receiver"
    if ((rc == 2)) && [[ $out == *"answered HTTP 400: bad profile: the receiver says no" ]]; then
        ok pyroscope_rejected
    else
        ko pyroscope_rejected "expected exit 2 and the server's answer vs exit $rc: $out"
    fi
fi

# ---- the pages in Chromium ----

if selected 'browser*'; then
    "$HEAPSPAN" flame -o "$ARTIFACTS/flame.html" "$KNOWN" 2>"$WORK/f.err" &&
        "$HEAPSPAN" flame -o "$ARTIFACTS/flame.svg" "$KNOWN" 2>>"$WORK/f.err" &&
        "$HEAPSPAN" flame --diff "$WORK/base.hsl" -o "$ARTIFACTS/flame-diff.html" \
            "$WORK/new.hsl" 2>>"$WORK/f.err" &&
        "$HEAPSPAN" report --format html -o "$ARTIFACTS/report.html" "$KNOWN" 2>>"$WORK/f.err"
    if (($? != 0)); then
        ko browser_pages "writing the pages: $(cat "$WORK/f.err")"
    else
        cat >"$WORK/pages.json" <<EOF
{"artifacts": "$ARTIFACTS", "flame": "$ARTIFACTS/flame.html", "svg": "$ARTIFACTS/flame.svg",
 "diff": "$ARTIFACTS/flame-diff.html", "report": "$ARTIFACTS/report.html",
 "leak": {"function": "$LEAK_FN", "bytes": $LEAK_BYTES}, "zoomFunction": "leak_list",
 "search": "^leak_", "newFunction": "leak_more", "keptFunction": "load_table"}
EOF
        out=$(timeout 120 node "$TOP/tests/browser/pages.js" "$WORK/pages.json" 2>&1)
        while IFS= read -r line; do
            case $line in
            "PASS "*) ok "browser ${line#PASS }" ;;
            "FAIL "*)
                line=${line#FAIL }
                ko "browser ${line%%: *}" "${line#*: }"
                ;;
            *) [[ -n $line ]] && echo "  $line" ;;
            esac
        done <<<"$out"
        if ! printf '%s\n' "$out" | grep -q '^PASS\|^FAIL'; then
            ko browser "the page tests ran none: $out"
        fi
    fi
fi

echo "$pass passed, $failed failed"
[[ $failed -eq 0 ]]
