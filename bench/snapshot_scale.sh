#!/usr/bin/env bash
# snapshot_scale.sh - `heapspan snapshot` against `heapspan report` on one large log:
# the churn workload's log of about 1 GB (330 million malloc/free pairs), each command
# run REPS times, alternating (report, snapshot, report, ...), each run started only
# when the machine's 1-minute load is below MAX_LOAD (a shared 2-core machine: a
# neighbour's build must not land in one column). Prints a markdown table of wall time,
# CPU and peak RSS (median, min-max), and the run lines.
#
#   bench/snapshot_scale.sh [--pairs N] [--reps R] [--max-load L] [--keep-log] [--out FILE]
#
# Defaults: N = 330000000, R = 3, L = 2.5. Needs `make` and `make bench-build` done
# (build/heapspan, build/bench/churn, build/bench/runstat). The log (about 1 GB) and the
# snapshot go to build/bench/tmp/ and are deleted at the end unless --keep-log.
set -u -o pipefail

BUILD=${BUILD:-build}
HEAPSPAN=$BUILD/heapspan
CHURN=$BUILD/bench/churn
RUNSTAT=$BUILD/bench/runstat
TMP=$BUILD/bench/tmp
pairs=330000000
reps=3
max_load=2.5
keep=0
out=

while [[ $# -gt 0 ]]; do
    case $1 in
    --pairs) pairs=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --max-load) max_load=$2; shift 2 ;;
    --keep-log) keep=1; shift ;;
    --out) out=$2; shift 2 ;;
    *)
        echo "usage: $0 [--pairs N] [--reps R] [--max-load L] [--keep-log] [--out FILE]" >&2
        exit 2
        ;;
    esac
done
for f in "$HEAPSPAN" "$CHURN" "$RUNSTAT"; do
    [[ -x $f ]] || {
        echo "$0: $f is missing: run make && make bench-build" >&2
        exit 2
    }
done
mkdir -p "$TMP"
log=$TMP/churn-scale.hsl
snap=$TMP/churn-scale.hsnap
runs=$TMP/snapshot-scale.runs

# Waits (up to 30 min) for the 1-minute load to drop below max_load.
wait_quiet() {
    local i
    for ((i = 0; i < 360; i++)); do
        awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$max_load" 'BEGIN { exit !(l < m) }' &&
            return 0
        sleep 5
    done
    echo "$0: the load stayed at or above $max_load for 30 minutes; measuring anyway" >&2
}

if [[ ! -s $log ]]; then
    echo "recording churn $pairs into $log" >&2
    rm -f "$log"
    "$HEAPSPAN" run -o "$log" -- "$CHURN" "$pairs" >&2 || exit 1
fi
log_bytes=$(stat -c %s "$log")

: >"$runs"
for ((r = 1; r <= reps; r++)); do
    for cmd in report snapshot; do
        wait_quiet
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [[ $cmd == report ]]; then
            "$RUNSTAT" "$TMP/stat" "$HEAPSPAN" report "$log" >/dev/null
        else
            rm -f "$snap"
            "$RUNSTAT" "$TMP/stat" "$HEAPSPAN" snapshot "$log" -o "$snap" 2>/dev/null
        fi
        echo "$cmd $r $load $(cat "$TMP/stat")" | tee -a "$runs" >&2
    done
done

python3 - "$runs" "$pairs" "$log_bytes" "$(stat -c %s "$snap")" "$reps" <<'EOF' | tee ${out:+"$out"}
import statistics, sys
runs, pairs, log_bytes, snap_bytes, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = {}
for line in open(runs):
    cmd, rep, load, wall, user, sys_, rss, status = line.split()
    rows.setdefault(cmd, []).append((float(wall), float(user) + float(sys_), int(rss), int(status), float(load)))
def cell(v, fmt):
    return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}–{fmt.format(max(v))})"
print(f"churn {pairs:,} pairs: log {log_bytes / 1e9:.2f} GB, snapshot {snap_bytes:,} bytes; "
      f"{reps} runs of each, alternating, each started at a 1-minute load below the limit.\n")
print("| command | wall s | CPU s | peak RSS MB | load at start | failed |")
print("|---|---|---|---|---|---|")
for cmd in ("report", "snapshot"):
    r = rows.get(cmd, [])
    if not r:
        continue
    print(f"| {cmd} | {cell([x[0] for x in r], '{:.2f}')} | {cell([x[1] for x in r], '{:.2f}')} | "
          f"{cell([x[2] / 1024 for x in r], '{:.0f}')} | {cell([x[4] for x in r], '{:.2f}')} | "
          f"{sum(1 for x in r if x[3] != 0)} |")
EOF
((keep)) || rm -f "$log" "$snap"
