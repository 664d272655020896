#!/usr/bin/env bash
# otlp-tests.sh - OpenTelemetry export (`heapspan export --otlp`, `heapspan run --otlp`)
# against a real OTLP/HTTP receiver on the loopback, tests/otlp-receiver.js, which
# decodes with the OpenTelemetry project's own generated protobuf code. Programs with
# known allocations are recorded first (tests/progs/marker: 5 x 5501 bytes, a SIGUSR2
# marker, 5 x 5502 bytes, all leaked; tests/progs/svc_cache: 200 bytes per new key).
# Prints "PASS name" or "FAIL name: why", then "N passed, N failed".
#
#   tests/otlp-tests.sh [--keep] [TEST...]      (TEST: a name or a shell pattern)
#
# Environment (defaults for a run from the top directory; tests/otlp.mk passes them):
#   HEAPSPAN   build/heapspan          SHIM       build/libheapspan.so
#   PROGS      build/tests/progs       OTLP_NODE  build/tests/otlp-node (npm ci of
#                                                 tests/otlp/package-lock.json)
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
HEAPSPAN=$(abs "${HEAPSPAN:-build/heapspan}")
SHIM=$(abs "${SHIM:-build/libheapspan.so}")
PROGS=$(abs "${PROGS:-build/tests/progs}")
OTLP_NODE=$(abs "${OTLP_NODE:-build/tests/otlp-node}")
export HEAPSPAN_SHIM=$SHIM NODE_PATH=$OTLP_NODE/node_modules
unset LD_PRELOAD DEBUGINFOD_URLS TRACEPARENT TRACESTATE OTEL_SERVICE_NAME \
    OTEL_RESOURCE_ATTRIBUTES
for v in ENDPOINT HEADERS PROTOCOL TIMEOUT COMPRESSION CERTIFICATE CLIENT_KEY \
    CLIENT_CERTIFICATE; do
    unset "OTEL_EXPORTER_OTLP_$v" "OTEL_EXPORTER_OTLP_TRACES_$v"
done

keep=0
if [[ ${1:-} == --keep ]]; then
    keep=1
    shift
fi
patterns=("$@")

pass=0
failed=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-otlp.XXXXXX") || exit 2
receivers=()
cleanup() {
    local p
    for p in "${receivers[@]}"; do kill "$p" 2>/dev/null; done
    if ((keep || failed)); then
        echo "files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

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

# start_receiver DIR [STATUSES] [RETRY_AFTER]: a receiver in the background; its port in
# $port, its pid in $receiver.
start_receiver() {
    mkdir -p "$1"
    node "$TOP/tests/otlp-receiver.js" "$1/port" "$1" "${2:-}" "${3:-}" 2>"$1/receiver.err" &
    receiver=$!
    receivers+=("$receiver")
    for _ in $(seq 200); do
        [[ -s $1/port ]] && break
        sleep 0.05
    done
    port=$(cat "$1/port" 2>/dev/null)
}
stop_receiver() { kill "$receiver" 2>/dev/null; wait "$receiver" 2>/dev/null; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

for tool in "$HEAPSPAN" "$PROGS/marker" "$PROGS/svc_cache"; do
    if [[ ! -x $tool ]]; then
        echo "FAIL setup: $tool is missing (make test-otlp builds it)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
if [[ ! -f $OTLP_NODE/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js ]]; then
    echo "FAIL setup: $OTLP_NODE has no @opentelemetry/otlp-transformer (make test-otlp-deps)"
    echo "0 passed, 1 failed"
    exit 1
fi

# The marker program, recorded once: 5 x 5501 bytes, SIGUSR2, 5 x 5502 bytes.
cd "$WORK" || exit 2
"$HEAPSPAN" run -o marker.hsl -- "$PROGS/marker" plain "$WORK/ready" "$WORK/go" \
    >run.out 2>run.err &
hs=$!
for _ in $(seq 300); do
    [[ -s ready ]] && break
    sleep 0.05
done
MARKER_PID=$(cat ready 2>/dev/null)
kill -USR2 "$MARKER_PID" 2>/dev/null
touch go
wait "$hs"
if [[ ! -s marker.hsl ]]; then
    echo "FAIL setup: the marker program was not recorded: $(cat run.err)"
    echo "0 passed, 1 failed"
    exit 1
fi
LOG=$WORK/marker.hsl
VERSION=$("$HEAPSPAN" version | awk '{print $2}')
export MARKER_PID VERSION PROGS LOG

# check_trace FILE: the marker log's trace as docs/otlp.md describes it.
check_trace() {
    python3 - "$1" <<'EOF'
import json, os, socket, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == 200 and "error" not in r, r.get("error")
assert r["path"] == "/v1/traces", r["path"]
(rs,) = r["trace"]
progs, pid = os.environ["PROGS"], int(os.environ["MARKER_PID"])
exe = os.path.realpath(progs + "/marker")
args = [progs + "/marker", "plain", os.getcwd() + "/ready", os.getcwd() + "/go"]
want = {"service.name": "marker", "process.pid": pid, "process.executable.name": "marker",
        "process.executable.path": exe, "process.command_line": " ".join(args),
        "process.command_args": args, "host.name": socket.gethostname()}
assert rs["resource"] == want, (rs["resource"], want)
(ss,) = rs["scopeSpans"]
assert ss["scope"] == {"name": "heapspan", "version": os.environ["VERSION"]}, ss["scope"]
spans = ss["spans"]
names = [s["name"] for s in spans]
assert names[:3] == ["heap.process", "heap.interval", "heap.interval"], names
assert names[3:5] == ["heap.leak", "heap.leak"], names
assert set(names[5:]) <= {"heap.bloat"}, names
root, i0, i1, l0, l1 = spans[:5]
tid = root["traceId"]
assert len(tid) == 32 and int(tid, 16) != 0
ids = [s["spanId"] for s in spans]
assert len(set(ids)) == len(ids) and all(len(i) == 16 and int(i, 16) for i in ids), ids
assert all(s["traceId"] == tid and s["kind"] == 1 for s in spans)
assert root["parentSpanId"] == "" and all(s["parentSpanId"] == root["spanId"] for s in spans[1:])
a = root["attributes"]
for k, v in {"heap.leaked.bytes": 27505 + 27510, "heap.leaked.blocks": 10,
             "heap.live.bytes": 55015, "heap.live.blocks": 10, "heap.peak.bytes": 55015,
             "heap.sampling.interval_bytes": 0, "heap.sampled": False, "heap.markers": 1,
             "heap.process.end": "exit", "heap.log.path": os.environ["LOG"]}.items():
    assert a.get(k) == v, (k, a.get(k), v)
assert a["heap.allocations"] >= 10 and a["heap.allocated.bytes"] >= 55015, a
assert root["status"] == {"code": 0, "message": ""}, root["status"]
# The intervals: start -> the marker -> the end, the numbers the program's source gives.
b0, b1 = i0["attributes"], i1["attributes"]
assert b0["heap.interval.index"] == 0 and b1["heap.interval.index"] == 1
assert b0["heap.marker.kind"] == "signal" and b0["heap.marker.serial"] == 1, b0
assert "heap.marker.kind" not in b1, b1
assert b0["heap.live.bytes"] == 27505 and b0["heap.live.blocks"] == 5, b0
assert b0["heap.peak.bytes"] == 27505, b0
assert b1["heap.live.bytes"] == 55015 and b1["heap.peak.bytes"] == 55015, b1
assert b1["heap.allocations"] == 5 and b1["heap.allocated.bytes"] == 27510, b1
assert b1["heap.frees"] == 0, b1
assert b0["heap.allocations"] + b1["heap.allocations"] == a["heap.allocations"]
assert b0["heap.frees"] + b1["heap.frees"] == a["heap.frees"]
assert i0["start"] == root["start"] and i0["end"] == i1["start"], (i0, i1)
assert int(i1["end"]) <= int(root["end"]) and int(root["start"]) < int(i0["end"]) < int(i1["end"])
# The leaks: largest first, where the program's source says.
src = os.path.realpath(os.path.join(os.path.dirname(progs), "../../tests/progs/marker.c"))
lines = open(os.path.join(os.environ.get("TOP", "."), "tests/progs/marker.c")).read().split("\n")
for span, fn, size, rank in ((l0, "after_signal", 5502, 1), (l1, "before_signal", 5501, 2)):
    c = span["attributes"]
    assert c["heap.rank"] == rank and c["heap.leaked.bytes"] == 5 * size, c
    assert c["heap.leaked.blocks"] == 5 and c["code.function.name"] == fn, c
    assert c["code.file.path"].endswith("tests/progs/marker.c"), c
    assert "malloc(%d)" % size in lines[c["code.line.number"] - 1], c
    st = c["code.stacktrace"].split("\n")
    assert st[0].startswith(fn + " (marker.c:%d)" % c["code.line.number"]), st
    assert any(f.startswith("main (marker.c:") for f in st), st
    assert span["start"] == root["start"] and span["end"] == root["end"]
EOF
}
export TOP

# export_to DIR [ARGS...]: `heapspan export --otlp` of the marker log to a new receiver
# in DIR; its exit status in $rc, stderr in DIR/stderr.
export_to() {
    local d=$1
    shift
    start_receiver "$d"
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$@" "$LOG" >"$d/stdout" 2>"$d/stderr"
    rc=$?
    stop_receiver
}

# ---- the span model, four ways ----

if selected otlp_protobuf; then
    export_to "$WORK/pb"
    if ((rc != 0)); then
        ko otlp_protobuf "exit $rc: $(cat "$WORK/pb/stderr")"
    elif [[ $(python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["headers"]; print(h["content-type"], h.get("content-encoding"))' "$WORK/pb/request-1.json") != "application/x-protobuf None" ]]; then
        ko otlp_protobuf "headers: $(cat "$WORK/pb/request-1.json" | head -20)"
    elif [[ -e $WORK/pb/request-2.json ]]; then
        ko otlp_protobuf "more than one request"
    elif ! out=$(check_trace "$WORK/pb/request-1.json" 2>&1); then
        ko otlp_protobuf "$out"
    else
        ok otlp_protobuf
    fi
fi

# The same trace as JSON, gzip'd or not, by option or variable: decoded alike.
for variant in json:--otlp-protocol=http/json json_env:OTEL_EXPORTER_OTLP_PROTOCOL=http/json \
    protobuf_gzip:--otlp-compression=gzip json_gzip_env:OTEL_EXPORTER_OTLP_COMPRESSION=gzip; do
    name=otlp_${variant%%:*}
    setting=${variant#*:}
    selected "$name" || continue
    d=$WORK/$name
    if [[ $setting == --* ]]; then
        export_to "$d" "$setting"
    elif [[ $name == otlp_json_gzip_env ]]; then
        OTEL_EXPORTER_OTLP_PROTOCOL=http/json OTEL_EXPORTER_OTLP_COMPRESSION=gzip export_to "$d"
    else
        env "$setting" bash -c true # the variable's spelling is checked by the run below
        export "${setting%%=*}=${setting#*=}"
        export_to "$d"
        unset "${setting%%=*}"
    fi
    [[ -e $WORK/pb/request-1.json ]] || export_to "$WORK/pb"
    want_type=application/x-protobuf
    [[ $name == *json* ]] && want_type=application/json
    want_enc=None
    [[ $name == *gzip* ]] && want_enc=gzip
    got=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["headers"]; print(h["content-type"], h.get("content-encoding"))' "$d/request-1.json" 2>&1)
    if ((rc != 0)); then
        ko "$name" "exit $rc: $(cat "$d/stderr")"
    elif [[ $got != "$want_type $want_enc" ]]; then
        ko "$name" "content type and encoding: $got, expected $want_type $want_enc"
    elif ! out=$(check_trace "$d/request-1.json" 2>&1); then
        ko "$name" "$out"
    elif ! out=$(python3 -c 'import json,sys; a,b=(json.load(open(f))["trace"] for f in sys.argv[1:]); assert a == b, "differs from the protobuf export"' "$d/request-1.json" "$WORK/pb/request-1.json" 2>&1); then
        ko "$name" "$out"
    else
        ok "$name"
    fi
done

# --otlp-json FILE: the request's body, as sent with http/json, on one line.
if selected otlp_json_file; then
    d=$WORK/json_file
    export_to "$d" --otlp-protocol http/json --otlp-json "$d/trace.json"
    if ((rc != 0)); then
        ko otlp_json_file "exit $rc: $(cat "$d/stderr")"
    elif [[ $(wc -l <"$d/trace.json") != 1 ]] || ! cmp -s <(head -c -1 "$d/trace.json") "$d/request-1.body"; then
        ko otlp_json_file "the file differs from the JSON request's body"
    else
        ok otlp_json_file
    fi
fi

# A leak's code.* attributes name the site's title: with after_signal and before_signal
# given as allocator wrappers, their caller main (marker.c), the stack still whole.
if selected otlp_title; then
    d=$WORK/title
    mkdir -p "$d"
    if ! "$HEAPSPAN" export --otlp-json "$d/trace.json" --alloc-fn after_signal \
        --alloc-fn before_signal "$LOG" >"$d/stdout" 2>"$d/stderr"; then
        ko otlp_title "exit $?: $(cat "$d/stderr")"
    elif ! out=$(python3 - "$d/trace.json" "$TOP/tests/progs/marker.c" <<'EOF' 2>&1
import json, sys
t = json.load(open(sys.argv[1]))
spans = [s for r in t["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
def attrs(s):
    return {a["key"]: next(iter(a["value"].values())) for a in s["attributes"]}
leaks = [attrs(s) for s in spans if s["name"] == "heap.leak"]
lines = open(sys.argv[2]).read().split("\n")
got = [(a["code.function.name"], a["code.stacktrace"].split("\n")[0].split(" ")[0]) for a in leaks]
assert got == [("main", "after_signal"), ("main", "before_signal")], got
for a, fn in zip(leaks, ("after_signal", "before_signal")):
    assert lines[int(a["code.line.number"]) - 1].strip() == fn + "();", (a, fn)
EOF
    ); then
        ko otlp_title "$out"
    else
        ok otlp_title
    fi
fi

# ---- ids ----

if selected otlp_same_ids; then
    export_to "$WORK/ids1"
    rc1=$rc
    export_to "$WORK/ids2"
    if ((rc1 != 0 || rc != 0)); then
        ko otlp_same_ids "exit $rc1 / $rc"
    elif ! out=$(python3 - "$WORK/ids1/request-1.json" "$WORK/ids2/request-1.json" <<'EOF' 2>&1
import json, sys
a, b = (json.load(open(f))["trace"][0]["scopeSpans"][0]["spans"] for f in sys.argv[1:])
key = lambda s: (s["traceId"], s["spanId"], s["parentSpanId"], s["name"])
assert [key(s) for s in a] == [key(s) for s in b], "the ids differ between two exports"
assert a == b, "the spans differ between two exports"
EOF
    ); then
        ko otlp_same_ids "$out"
    else
        ok otlp_same_ids
    fi
fi

# OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2: the spans in requests of 2, each with the resource,
# all of them once and in order.
if selected otlp_batches; then
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2 export_to "$WORK/batches" --otlp-verbose
    [[ -e $WORK/pb/request-1.json ]] || export_to "$WORK/pb"
    if ((rc != 0)); then
        ko otlp_batches "exit $rc: $(cat "$WORK/batches/stderr")"
    elif ! out=$(python3 - "$WORK/batches" "$WORK/pb/request-1.json" <<'EOF' 2>&1
import json, os, sys
d = sys.argv[1]
reqs = sorted((json.load(open(os.path.join(d, f))) for f in os.listdir(d) if f.startswith("request-") and f.endswith(".json")),
              key=lambda r: r["n"])
whole = json.load(open(sys.argv[2]))["trace"][0]
spans = [s for r in reqs for s in r["trace"][0]["scopeSpans"][0]["spans"]]
n = len(whole["scopeSpans"][0]["spans"])
assert len(reqs) == (n + 1) // 2, (len(reqs), n)
assert all(len(r["trace"][0]["scopeSpans"][0]["spans"]) <= 2 for r in reqs)
assert all(r["trace"][0]["resource"] == whole["resource"] for r in reqs)
assert spans == whole["scopeSpans"][0]["spans"], "the batches' spans differ from the whole's"
EOF
    ); then
        ko otlp_batches "$out"
    elif [[ $(grep -c ", 2 spans, headers" "$WORK/batches/stderr") -lt 2 ]]; then
        ko otlp_batches "--otlp-verbose: $(cat "$WORK/batches/stderr")"
    else
        ok otlp_batches
    fi
fi

if selected otlp_traceparent; then
    tp_trace=4bf92f3577b34da6a3ce929d0e0e4736
    tp_span=00f067aa0ba902b7
    TRACEPARENT=00-$tp_trace-$tp_span-01 TRACESTATE=vendor=x export_to "$WORK/tp"
    [[ -e $WORK/pb/request-1.json ]] || export_to "$WORK/pb"
    if ((rc != 0)); then
        ko otlp_traceparent "exit $rc: $(cat "$WORK/tp/stderr")"
    elif ! out=$(python3 - "$WORK/tp/request-1.json" "$WORK/pb/request-1.json" "$tp_trace" "$tp_span" <<'EOF' 2>&1
import json, sys
tp, own = (json.load(open(f))["trace"][0]["scopeSpans"][0]["spans"] for f in sys.argv[1:3])
trace, span = sys.argv[3:5]
assert all(s["traceId"] == trace for s in tp), "not in the caller's trace"
assert tp[0]["parentSpanId"] == span, tp[0]["parentSpanId"]
assert all(s["parentSpanId"] == tp[0]["spanId"] for s in tp[1:])
assert all(s["traceState"] == "vendor=x" for s in tp)
# The span ids are the log's own, with or without a parent.
assert [s["spanId"] for s in tp] == [s["spanId"] for s in own]
assert own[0]["traceId"] != trace
EOF
    ); then
        ko otlp_traceparent "$out"
    else
        ok otlp_traceparent
    fi
fi

# ---- settings ----

if selected otlp_env_endpoint; then
    d=$WORK/envep
    start_receiver "$d"
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port/base/ "$HEAPSPAN" export --otlp env "$LOG" \
        2>"$d/stderr1"
    rc1=$?
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 \
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:$port/custom/traces \
        "$HEAPSPAN" export --otlp env "$LOG" 2>"$d/stderr2"
    rc2=$?
    stop_receiver
    paths=$(python3 -c 'import json,sys; print(" ".join(json.load(open(f))["path"] for f in sys.argv[1:]))' \
        "$d/request-1.json" "$d/request-2.json" 2>&1)
    if ((rc1 != 0 || rc2 != 0)); then
        ko otlp_env_endpoint "exit $rc1 / $rc2: $(cat "$d/stderr1" "$d/stderr2")"
    elif [[ $paths != "/base/v1/traces /custom/traces" ]]; then
        ko otlp_env_endpoint "paths: $paths"
    else
        ok otlp_env_endpoint
    fi
fi

if selected otlp_resource_env; then
    d=$WORK/resenv
    OTEL_SERVICE_NAME=checkout \
        OTEL_RESOURCE_ATTRIBUTES='deployment.environment=ci, team=heap%20team,service.name=ignored,host.name=builder%2C1' \
        export_to "$d"
    if ((rc != 0)); then
        ko otlp_resource_env "exit $rc: $(cat "$d/stderr")"
    elif ! out=$(python3 - "$d/request-1.json" <<'EOF' 2>&1
import json, sys
r = json.load(open(sys.argv[1]))["trace"][0]["resource"]
assert r["service.name"] == "checkout", r
assert r["deployment.environment"] == "ci" and r["team"] == "heap team", r
assert r["host.name"] == "builder,1", r
assert r["process.executable.name"] == "marker", r
EOF
    ); then
        ko otlp_resource_env "$out"
    else
        d=$WORK/resbad
        OTEL_RESOURCE_ATTRIBUTES='team=a%zz' export_to "$d"
        if ((rc != 0)) || ! grep -q "OTEL_RESOURCE_ATTRIBUTES: entry 1 .* ignored" "$d/stderr" ||
            ! python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["trace"][0]["resource"]; assert "team" not in r and r["service.name"] == "marker"' "$d/request-1.json"; then
            ko otlp_resource_env "a bad OTEL_RESOURCE_ATTRIBUTES: exit $rc, $(cat "$d/stderr")"
        else
            ok otlp_resource_env
        fi
    fi
fi

if selected otlp_threshold; then
    export_to "$WORK/th1" --leak-threshold 100K
    rc1=$rc
    export_to "$WORK/th2" --leak-threshold 50K
    if ((rc1 != 0 || rc != 0)); then
        ko otlp_threshold "exit $rc1 / $rc"
    elif ! out=$(python3 - "$WORK/th1/request-1.json" "$WORK/th2/request-1.json" <<'EOF' 2>&1
import json, sys
a, b = (json.load(open(f))["trace"][0]["scopeSpans"][0]["spans"][0] for f in sys.argv[1:])
assert a["status"]["code"] == 0, a["status"]
assert b["status"]["code"] == 2, b["status"]
assert b["status"]["message"] == "53.7 KiB leaked in 10 blocks, over the threshold of 50.0 KiB", b["status"]
EOF
    ); then
        ko otlp_threshold "$out"
    else
        ok otlp_threshold
    fi
fi

# ---- failures and retries ----

if selected otlp_retry; then
    d=$WORK/retry
    start_receiver "$d" 503,503,200
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$LOG" 2>"$d/stderr"
    rc=$?
    stop_receiver
    if ((rc != 0)); then
        ko otlp_retry "exit $rc: $(cat "$d/stderr")"
    elif ! out=$(python3 - "$d" <<'EOF' 2>&1
import json, os, sys
d = sys.argv[1]
reqs = [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d)) if f.startswith("request-") and f.endswith(".json")]
reqs.sort(key=lambda r: r["n"])
assert [r["status"] for r in reqs] == [503, 503, 200], [r["status"] for r in reqs]
assert all(r["trace"] == reqs[0]["trace"] for r in reqs), "the retries differ"
EOF
    ); then
        ko otlp_retry "$out"
    else
        ok otlp_retry
    fi
fi

if selected otlp_retry_after; then
    d=$WORK/retry_after
    start_receiver "$d" 503,200 2
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$LOG" 2>"$d/stderr"
    rc=$?
    stop_receiver
    gap=$(python3 -c 'import json,sys; a,b=(json.load(open(f))["ms"] for f in sys.argv[1:]); print(b-a)' \
        "$d/request-1.json" "$d/request-2.json" 2>&1)
    # Retry-After: 2 -> at least 2 s, where the backoff alone would wait 0.5 s +-25%.
    if ((rc != 0)); then
        ko otlp_retry_after "exit $rc: $(cat "$d/stderr")"
    elif ! [[ $gap =~ ^[0-9]+$ ]] || ((gap < 1950)); then
        ko otlp_retry_after "the retry came $gap ms after the 503 with Retry-After: 2"
    else
        ok otlp_retry_after
    fi
fi

if selected otlp_rejected; then
    d=$WORK/rejected
    start_receiver "$d" 400
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$LOG" 2>"$d/stderr"
    rc=$?
    stop_receiver
    msg=$(cat "$d/stderr")
    if ((rc != 2)); then
        ko otlp_rejected "exit $rc, expected 2: $msg"
    elif [[ $msg != "heapspan export: cannot send the trace: http://127.0.0.1:$port/v1/traces answered HTTP 400: bad request from the test" ]]; then
        ko otlp_rejected "message: $msg"
    elif [[ -e $d/request-2.json ]]; then
        ko otlp_rejected "a 400 was retried"
    else
        ok otlp_rejected
    fi
fi

if selected otlp_partial; then
    d=$WORK/partial
    PARTIAL='2:span quota exceeded' export_to "$d"
    if ((rc != 0)); then
        ko otlp_partial "exit $rc: $(cat "$d/stderr")"
    elif [[ $(cat "$d/stderr") != "heapspan: warning: http://127.0.0.1:$port/v1/traces took the trace in part: 2 spans rejected: span quota exceeded" ]]; then
        ko otlp_partial "stderr: $(cat "$d/stderr")"
    else
        ok otlp_partial
    fi
fi

# The same answers in OTLP/JSON: the Status's message, and the partial success.
if selected otlp_json_answers; then
    d=$WORK/json_answers
    start_receiver "$d/refused" 400
    msg_refused=$("$HEAPSPAN" export --otlp "http://127.0.0.1:$port" --otlp-protocol http/json \
        "$LOG" 2>&1)
    rc_refused=$?
    stop_receiver
    PARTIAL='3:too many spans' export_to "$d" --otlp-protocol http/json
    if ((rc_refused != 2)) || [[ $msg_refused != "heapspan export: cannot send the trace: http://127.0.0.1:"*"/v1/traces answered HTTP 400: bad request from the test" ]]; then
        ko otlp_json_answers "a JSON 400: exit $rc_refused: $msg_refused"
    elif ((rc != 0)) || [[ $(cat "$d/stderr") != "heapspan: warning: http://127.0.0.1:$port/v1/traces took the trace in part: 3 spans rejected: too many spans" ]]; then
        ko otlp_json_answers "a JSON partial success: exit $rc: $(cat "$d/stderr")"
    else
        ok otlp_json_answers
    fi
fi

if selected otlp_down; then
    p=$(free_port)
    start=$(date +%s.%N)
    msg=$(OTEL_EXPORTER_OTLP_TIMEOUT=1500 "$HEAPSPAN" export --otlp "http://127.0.0.1:$p" "$LOG" 2>&1)
    rc=$?
    took=$(python3 -c "import sys; print(round($(date +%s.%N) - $start, 2))")
    # The timeout bounds the retries: 1.5 s, and the log's reading before it.
    if ((rc != 2)); then
        ko otlp_down "exit $rc, expected 2: $msg"
    elif [[ $msg != "heapspan export: cannot send the trace: "*"127.0.0.1:$p"* ]]; then
        ko otlp_down "message: $msg"
    elif python3 -c "import sys; sys.exit(0 if $took < 6 else 1)"; then
        ok otlp_down
    else
        ko otlp_down "took $took s with a 1.5 s timeout"
    fi
fi

if selected otlp_bad_settings; then
    bad=()
    check_bad() { # WANT-IN-MESSAGE, then the command's environment and arguments
        local want=$1
        shift
        local out rc
        out=$(env "$@" 2>&1)
        rc=$?
        if ((rc != 2)) || [[ $out != *"$want"* ]] || [[ $out == *"ore dumped"* ]]; then
            bad+=("$* -> exit $rc: $out")
        fi
    }
    check_bad "--otlp localhost:4318: not a URL" "$HEAPSPAN" export --otlp localhost:4318 "$LOG"
    check_bad "--otlp ftp://x: not a URL" "$HEAPSPAN" export --otlp ftp://x "$LOG"
    check_bad "--otlp http://: not a URL" "$HEAPSPAN" export --otlp http:// "$LOG"
    check_bad "OTEL_EXPORTER_OTLP_ENDPOINT=nohost: not an http:// or https:// URL" \
        OTEL_EXPORTER_OTLP_ENDPOINT=nohost "$HEAPSPAN" export --otlp env "$LOG"
    check_bad "OTEL_EXPORTER_OTLP_PROTOCOL grpc: heapspan sends OTLP over HTTP only" \
        OTEL_EXPORTER_OTLP_PROTOCOL=grpc "$HEAPSPAN" export --otlp env "$LOG"
    check_bad "expected http/protobuf or http/json" \
        "$HEAPSPAN" export --otlp env --otlp-protocol thrift "$LOG"
    check_bad "OTEL_EXPORTER_OTLP_COMPRESSION zstd: expected gzip or none" \
        OTEL_EXPORTER_OTLP_COMPRESSION=zstd "$HEAPSPAN" export --otlp env "$LOG"
    check_bad "OTEL_EXPORTER_OTLP_TIMEOUT=soon: expected milliseconds" \
        OTEL_EXPORTER_OTLP_TIMEOUT=soon "$HEAPSPAN" export --otlp env "$LOG"
    check_bad "OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem: cannot read it" \
        OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem "$HEAPSPAN" export --otlp env "$LOG"
    check_bad "--leak-threshold lots: expected a byte count" \
        "$HEAPSPAN" export --otlp env --leak-threshold lots "$LOG"
    check_bad "--otlp-interval 0: expected seconds from 0.001" \
        "$HEAPSPAN" run --otlp env --otlp-interval 0 -- true
    check_bad "--otlp-interval, --otlp-protocol and --otlp-compression go with --otlp URL" \
        "$HEAPSPAN" run --otlp-interval 1 -- true
    if ((${#bad[@]} == 0)); then
        ok otlp_bad_settings
    else
        ko otlp_bad_settings "$(printf '%s\n' "${bad[@]}")"
    fi
fi

# Headers arrive, and their values are never printed: not on success (--otlp-verbose),
# not on a refusal, not on a bad entry, not with the backend down.
if selected otlp_headers_secret; then
    d=$WORK/headers
    token=pylf_v1_us_SECRETtoken0123456789
    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=$token,x-team=heap%20team"
    export_to "$d" --otlp-verbose
    rc_ok=$rc
    start_receiver "$d/refused" 400
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" --otlp-verbose "$LOG" >"$d/refused.out" 2>&1
    stop_receiver
    OTEL_EXPORTER_OTLP_TIMEOUT=500 "$HEAPSPAN" export --otlp "http://127.0.0.1:$(free_port)" \
        --otlp-verbose "$LOG" >"$d/down.out" 2>&1
    OTEL_EXPORTER_OTLP_TRACES_HEADERS="x-ok=1,Authorization $token" \
        "$HEAPSPAN" export --otlp env "$LOG" >"$d/bad.out" 2>&1
    rc_bad=$?
    unset OTEL_EXPORTER_OTLP_HEADERS
    got=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["headers"]; print(h.get("authorization"), h.get("x-team"))' "$d/request-1.json" 2>&1)
    if ((rc_ok != 0)); then
        ko otlp_headers_secret "exit $rc_ok: $(cat "$d/stderr")"
    elif [[ $got != "$token heap team" ]]; then
        ko otlp_headers_secret "headers received: $got"
    elif ! grep -q "headers \[Authorization, x-team\]: HTTP 200" "$d/stderr"; then
        ko otlp_headers_secret "--otlp-verbose: $(cat "$d/stderr")"
    elif ((rc_bad != 2)) || ! grep -q "OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 2 is not NAME=VALUE" "$d/bad.out"; then
        ko otlp_headers_secret "a bad entry: exit $rc_bad: $(cat "$d/bad.out")"
    elif grep -l "SECRETtoken" "$d/stderr" "$d/stdout" "$d/refused.out" "$d/down.out" "$d/bad.out"; then
        ko otlp_headers_secret "the token was printed"
    else
        ok otlp_headers_secret
    fi
fi

# ---- TLS: the CA, and a client certificate for mutual TLS ----

if selected otlp_tls; then
    t=$WORK/tls
    mkdir -p "$t"
    (
        cd "$t" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
            -subj /CN=heapspan-test-ca
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out server.pem -days 2 -extfile san.ext
        openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
            -subj /CN=heapspan-client
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out client.pem -days 2
    ) >"$t/openssl.log" 2>&1
    TLS_DIR=$t start_receiver "$t/recv"
    OTEL_EXPORTER_OTLP_CERTIFICATE=$t/ca.pem OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=$t/client.pem \
        OTEL_EXPORTER_OTLP_CLIENT_KEY=$t/client.key \
        "$HEAPSPAN" export --otlp "https://127.0.0.1:$port" "$LOG" 2>"$t/ok.err"
    rc_ok=$?
    # Without the client certificate the server refuses; without the CA, heapspan does.
    OTEL_EXPORTER_OTLP_CERTIFICATE=$t/ca.pem OTEL_EXPORTER_OTLP_TIMEOUT=2000 \
        "$HEAPSPAN" export --otlp "https://127.0.0.1:$port" "$LOG" 2>"$t/noclient.err"
    rc_noclient=$?
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=$t/client.pem OTEL_EXPORTER_OTLP_CLIENT_KEY=$t/client.key \
        OTEL_EXPORTER_OTLP_TIMEOUT=2000 \
        "$HEAPSPAN" export --otlp "https://127.0.0.1:$port" "$LOG" 2>"$t/noca.err"
    rc_noca=$?
    stop_receiver
    cn=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("client_cn"))' \
        "$t/recv/request-1.json" 2>&1)
    if [[ ! -s $t/server.pem ]]; then
        ko otlp_tls "openssl: $(cat "$t/openssl.log")"
    elif ((rc_ok != 0)); then
        ko otlp_tls "with the CA and a client certificate: exit $rc_ok: $(cat "$t/ok.err")"
    elif [[ $cn != heapspan-client ]] || ! check_trace "$t/recv/request-1.json" >/dev/null 2>&1; then
        ko otlp_tls "the request: client certificate $cn; $(check_trace "$t/recv/request-1.json" 2>&1 | tail -2)"
    elif ((rc_noclient != 2 || rc_noca != 2)); then
        ko otlp_tls "without a client certificate: exit $rc_noclient, without the CA: exit $rc_noca, both expected 2"
    elif ! grep -q "heapspan export: cannot send the trace: .*https://127.0.0.1:$port" "$t/noca.err"; then
        ko otlp_tls "without the CA: $(cat "$t/noca.err")"
    elif [[ -e $t/recv/request-2.json ]]; then
        ko otlp_tls "a request without mutual TLS arrived"
    else
        ok otlp_tls
    fi
fi

if selected otlp_sdk_disabled; then
    d=$WORK/disabled
    start_receiver "$d"
    msg=$(OTEL_SDK_DISABLED=true "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$LOG" 2>&1)
    rc=$?
    stop_receiver
    if ((rc != 0)) || [[ $msg != "heapspan: OTEL_SDK_DISABLED=true: nothing is sent to http://127.0.0.1:$port/v1/traces" ]]; then
        ko otlp_sdk_disabled "exit $rc: $msg"
    elif [[ -e $d/request-1.json ]]; then
        ko otlp_sdk_disabled "a request arrived"
    else
        ok otlp_sdk_disabled
    fi
fi

# A snapshot of the log: the same root and leak spans, ids included; no intervals.
if selected otlp_snapshot; then
    d=$WORK/snap
    mkdir -p "$d"
    "$HEAPSPAN" snapshot -o "$d/marker.hsnap" "$LOG" 2>"$d/snap.err"
    [[ -e $WORK/pb/request-1.json ]] || export_to "$WORK/pb"
    start_receiver "$d/recv"
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$d/marker.hsnap" 2>"$d/stderr"
    rc=$?
    stop_receiver
    if ((rc != 0)); then
        ko otlp_snapshot "exit $rc: $(cat "$d/snap.err" "$d/stderr")"
    elif ! out=$(python3 - "$d/recv/request-1.json" "$WORK/pb/request-1.json" <<'EOF' 2>&1
import json, sys
snap, log = (json.load(open(f))["trace"][0] for f in sys.argv[1:])
ss, ls = (t["scopeSpans"][0]["spans"] for t in (snap, log))
assert snap["resource"] == log["resource"], (snap["resource"], log["resource"])
assert "heap.interval" not in [s["name"] for s in ss]
no_iv = [s for s in ls if s["name"] != "heap.interval"]
key = lambda s: (s["traceId"], s["spanId"], s["parentSpanId"], s["name"], s["start"])
assert [key(s) for s in ss] == [key(s) for s in no_iv], "ids or times differ from the log's"
# A snapshot keeps the last event's time, not the end record's: its spans end there.
assert all(int(s["start"]) < int(s["end"]) <= int(l["end"]) for s, l in zip(ss, no_iv))
for a, b in zip(ss, no_iv):
    a, b = dict(a["attributes"]), dict(b["attributes"])
    a.pop("heap.log.path", None), b.pop("heap.log.path", None)
    assert a == b, (a, b)
EOF
    ); then
        ko otlp_snapshot "$out"
    else
        ok otlp_snapshot
    fi
fi

# ---- live: a server under `heapspan run --otlp` ----

# svc_live DIR ENDPOINT: svc_cache under `heapspan run --otlp ENDPOINT --otlp-interval 1`,
# loaded with 4 batches of 1000 new keys a second apart; run's exit status in $rc.
svc_live() {
    local d=$1 ep=$2
    mkdir -p "$d"
    rm -f "$d/ready"
    "$HEAPSPAN" run -o "$d/svc.hsl" --otlp "$ep" --otlp-interval 1 -- \
        "$PROGS/svc_cache" serve "$d/ready" >"$d/run.out" 2>"$d/run.err" &
    local hs=$! i
    for _ in $(seq 300); do
        [[ -s $d/ready ]] && break
        sleep 0.05
    done
    local sport
    sport=$(awk '{print $2}' "$d/ready")
    for i in 1 2 3 4; do
        "$PROGS/svc_cache" load "$sport" $((i * 1000)) 1000 || echo "load $i failed" >>"$d/load.err"
        sleep 1
    done
    date +%s%3N >"$d/load-done"
    "$PROGS/svc_cache" quit "$sport"
    wait "$hs"
    rc=$?
}

if selected otlp_live; then
    d=$WORK/live
    mkdir -p "$d"
    start_receiver "$d"
    svc_live "$d" "http://127.0.0.1:$port"
    stop_receiver
    # The same log exported afterwards: the intervals' spans must be those sent live.
    start_receiver "$d/after"
    "$HEAPSPAN" export --otlp "http://127.0.0.1:$port" "$d/svc.hsl" 2>"$d/export.err"
    rc_export=$?
    stop_receiver
    if ((rc != 0)) || [[ -s $d/load.err ]]; then
        ko otlp_live "run: exit $rc: $(cat "$d/run.err" "$d/load.err" 2>/dev/null)"
    elif ((rc_export != 0)); then
        ko otlp_live "export of the live log: $(cat "$d/export.err")"
    elif ! out=$(python3 - "$d" <<'EOF' 2>&1
import json, os, sys
d = sys.argv[1]
reqs = sorted((json.load(open(os.path.join(d, f))) for f in os.listdir(d) if f.startswith("request-") and f.endswith(".json")),
              key=lambda r: r["n"])
assert reqs and all(r["status"] == 200 for r in reqs), [r.get("error") for r in reqs]
spans = lambda r: r["trace"][0]["scopeSpans"][0]["spans"]
*live, final = reqs
# Interval spans while the load ran: requests of interval spans only, before the end.
during = [s for r in live for s in spans(r)]
assert all(s["name"] == "heap.interval" for s in during), [s["name"] for s in during]
assert len(during) >= 3, "%d interval spans while the server ran" % len(during)
# ... and at least 3 arrived while the load was still running
load_done = int(open(os.path.join(d, "load-done")).read())
early = [s for r in live if r["epoch_ms"] < load_done for s in spans(r)]
assert len(early) >= 3, "%d interval spans arrived before the load ended" % len(early)
idx = [s["attributes"]["heap.interval.index"] for s in during]
assert idx == list(range(len(idx))), idx
assert all(s["attributes"]["heap.marker.kind"] == "interval" for s in during)
# The live heap grew by 200 bytes per new key: never down, 800000 + the start at the end.
live_bytes = [s["attributes"]["heap.live.bytes"] for s in during]
assert live_bytes == sorted(live_bytes), live_bytes
names = [s["name"] for s in spans(final)]
assert names[0] == "heap.process" and "heap.leak" in names, names
root = spans(final)[0]
leak = [s for s in spans(final) if s["name"] == "heap.leak"][0]["attributes"]
assert leak["code.function.name"] == "cache_insert" and leak["heap.leaked.bytes"] == 800000, leak
# The export of the finished log sends the same spans, ids and numbers.
(after,) = [json.load(open(os.path.join(d, "after", f))) for f in os.listdir(os.path.join(d, "after"))
            if f.startswith("request-") and f.endswith(".json")]
exported = spans(after)
sent = during + spans(final)
key = lambda s: s["spanId"]
assert sorted(map(key, exported)) == sorted(map(key, sent)), "the ids differ from the export's"
by_id = {s["spanId"]: s for s in exported}
for s in sent:
    assert s == by_id[s["spanId"]], (s, by_id[s["spanId"]])
assert all(r["trace"][0]["resource"] == after["trace"][0]["resource"] for r in reqs)
EOF
    ); then
        ko otlp_live "$out"
    else
        ok otlp_live
    fi
fi

if selected otlp_live_down; then
    d=$WORK/live_down
    start=$(date +%s%3N)
    OTEL_EXPORTER_OTLP_TIMEOUT=2000 svc_live "$d" "http://127.0.0.1:$(free_port)"
    end=$(date +%s%3N)
    nmsg=$(grep -c "cannot send interval spans" "$d/run.err")
    if ((rc != 0)) || [[ -s $d/load.err ]]; then
        ko otlp_live_down "run: exit $rc: $(cat "$d/run.err" "$d/load.err" 2>/dev/null)"
    elif ((nmsg != 1)) || ! grep -q "cannot send the trace: " "$d/run.err"; then
        ko otlp_live_down "expected one message for the intervals and one for the trace: $(cat "$d/run.err")"
    elif (($(cat "$d/load-done") - start > 9000 || end - start > 15000)); then
        ko otlp_live_down "the load took $(($(cat "$d/load-done") - start)) ms, the whole $((end - start)) ms"
    else
        ok otlp_live_down
    fi
fi

echo "$pass passed, $failed failed"
((failed == 0))
