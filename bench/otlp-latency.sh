#!/usr/bin/env bash
# otlp-latency.sh - what `heapspan run --otlp` costs the service it profiles when the
# trace backend is down: tests/progs/svc_cache serving a fixed-rate load from
# bench/otlp_load.c (round-trip p50 and p99, open loop), under
#   heapspan        heapspan run -o LOG -- svc_cache serve
#   otlp-down       heapspan run -o LOG --otlp http://127.0.0.1:<a closed port>
#                   --otlp-interval 1 -- svc_cache serve
#   plain           svc_cache alone (for scale)
# in turn, REPS times (A B C A B C: drift hits all alike). Prints a markdown table of the
# medians (min-max) over the repetitions and writes it to OUT.
#
#   bench/otlp-latency.sh [REPS [N [RATE [OUT]]]]    (defaults 5, 20000, 4000,
#                                                     bench/results/otlp.md)
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
REPS=${1:-5}
N=${2:-20000}
RATE=${3:-4000}
OUT=${4:-$TOP/bench/results/otlp.md}
B=$TOP/build
make -C "$TOP" -s all "$B/tests/progs/svc_cache" >/dev/null || exit 2
mkdir -p "$B/bench"
cc -std=gnu11 -O2 -Wall -Wextra -o "$B/bench/otlp_load" "$TOP/bench/otlp_load.c" || exit 2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-otlp-bench.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
down=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

run_one() { # VARIANT REP -> "p50 p99 max" on stdout
    local v=$1 r=$2 d=$WORK/$1.$2
    mkdir -p "$d"
    case $v in
    plain) "$B/tests/progs/svc_cache" serve "$d/ready" >/dev/null 2>&1 & ;;
    heapspan) "$B/heapspan" run -o "$d/log.hsl" -- "$B/tests/progs/svc_cache" serve "$d/ready" \
        >/dev/null 2>"$d/err" & ;;
    otlp-down) "$B/heapspan" run -o "$d/log.hsl" --otlp "http://127.0.0.1:$down" --otlp-interval 1 \
        -- "$B/tests/progs/svc_cache" serve "$d/ready" >/dev/null 2>"$d/err" & ;;
    esac
    local pid=$! i
    for ((i = 0; i < 400; i++)); do
        [[ -s $d/ready ]] && break
        sleep 0.025
    done
    local port
    port=$(awk '{print $2}' "$d/ready")
    local res
    res=$("$B/bench/otlp_load" "$port" "$N" "$RATE" $((r * 1000000)))
    "$B/tests/progs/svc_cache" quit "$port" >/dev/null 2>&1
    wait "$pid"
    echo "$res"
}

variants=(heapspan otlp-down plain)
: >"$WORK/all.tsv"
for ((r = 1; r <= REPS; r++)); do
    for v in "${variants[@]}"; do
        res=$(run_one "$v" "$r")
        echo "rep $r $v: n p50 p99 max (us) = $res" >&2
        printf '%s\t%s\t%s\n' "$v" "$r" "$res" >>"$WORK/all.tsv"
    done
done

HS_TOP=$(cd "$(dirname "$0")/.." && pwd) python3 - "$WORK/all.tsv" "$OUT" "$REPS" "$N" "$RATE" <<'PY'
import statistics, sys, subprocess, datetime, platform, os
tsv, out, reps, n, rate = sys.argv[1:]
rows = {}
for line in open(tsv):
    v, r, res = line.rstrip("\n").split("\t")
    cnt, p50, p99, mx = res.split()
    rows.setdefault(v, []).append((float(p50), float(p99), float(mx)))
def cell(xs):
    return "%.0f (%.0f-%.0f)" % (statistics.median(xs), min(xs), max(xs))
# The commit measured is the checkout this script runs from, wherever OUT is written.
commit = subprocess.run(["git", "-C", os.environ["HS_TOP"], "rev-parse", "--short", "HEAD"],
                        capture_output=True, text=True).stdout.strip()
lines = ["# svc_cache's request latency under `heapspan run --otlp` with the backend down", "",
         "%s, %s, %d CPUs, commit %s. `bench/otlp-latency.sh %s %s %s`: %s requests at %s/s over one loopback "
         "connection (open loop, bench/otlp_load.c), %s repetitions, variants in turn; median (min-max) "
         "over the repetitions, microseconds." % (datetime.date.today(), platform.node(), os.cpu_count(),
                                                commit, reps, n, rate, n, rate, reps), "",
         "| variant | p50 us | p99 us | max us |", "|---|---|---|---|"]
for v in ("plain", "heapspan", "otlp-down"):
    if v in rows:
        xs = rows[v]
        lines.append("| %s | %s | %s | %s |" % (v, cell([x[0] for x in xs]), cell([x[1] for x in xs]),
                                             cell([x[2] for x in xs])))
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
