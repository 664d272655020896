#!/usr/bin/env bash
# flame-scale.sh - the flame graph and the HTML report at scale: their size, the time to
# write them, and the time Chromium takes to draw them (make bench-flame runs it; not a
# timed test).
#
#   bench/flame-scale.sh [--build-dir DIR] [--stacks N] [--events N]
#
#  1. bench/flame_scale: a model of N unique stacks (default 100,000) -> flame.html,
#     flame.svg, flame-diff.html, report.html; sizes and write times.
#  2. bench/flame_render.js: each page opened from file:// in headless Chromium, three
#     times: the time from navigation to the first drawing, the frames in the DOM.
#  3. A log of N events (default 10,000,000: the churn workload's N/2 malloc/free
#     pairs) -> `heapspan report --format html`: the time to write it, its size, and
#     Chromium's time to draw it.
# Chromium and playwright-core come from the flame tests' dependencies (make
# test-flame-deps). Output in DIR/bench/flame/.
set -eu

BUILD=build
STACKS=100000
EVENTS=10000000
while (($#)); do
    case $1 in
    --build-dir) BUILD=$2; shift 2 ;;
    --stacks) STACKS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--stacks N] [--events N]" >&2; exit 2 ;;
    esac
done
OUT=$BUILD/bench/flame
mkdir -p "$OUT"
export NODE_PATH=$BUILD/tests/node/node_modules
if [[ ! -d $NODE_PATH/playwright-core ]]; then
    make -s test-flame-deps BUILD="$BUILD"
fi

echo "== $STACKS unique stacks"
"$BUILD/bench/flame_scale" --stacks "$STACKS" --out "$OUT"
echo "== drawn in Chromium"
node bench/flame_render.js "$OUT/flame.html" "$OUT/flame-diff.html"

echo "== a log of $EVENTS events"
make -s "$BUILD/bench/churn" BUILD="$BUILD" >/dev/null
rm -f "$OUT/churn.hsl"
"$BUILD/heapspan" run -o "$OUT/churn.hsl" -- "$BUILD/bench/churn" $((EVENTS / 2)) >/dev/null
ls -l "$OUT/churn.hsl" | awk '{ printf "log: %.1f MB\n", $5 / 1e6 }'
start=$(date +%s.%N)
"$BUILD/heapspan" report --format html -o "$OUT/churn-report.html" "$OUT/churn.hsl"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "heapspan report --format html: %.2f s\n", e - s }'
ls -l "$OUT/churn-report.html" | awk '{ printf "report.html: %.2f MB\n", $5 / 1e6 }'
node bench/flame_render.js "$OUT/churn-report.html"
