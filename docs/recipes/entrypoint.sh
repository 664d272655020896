#!/bin/sh
# entrypoint.sh - a container entrypoint that runs the container's command under
# heapspan's shim: the logs go to $HEAPSPAN_DIR (mount a volume there to keep them after
# the container is gone), one per process, named after the program and its pid.
#
#   COPY --from=heapspan /usr/local/lib/heapspan/libheapspan.so /usr/local/lib/heapspan/
#   COPY entrypoint.sh /usr/local/bin/heapspan-entrypoint.sh
#   ENTRYPOINT ["/usr/local/bin/heapspan-entrypoint.sh"]
#   CMD ["/usr/bin/myservice", "--port", "8080"]
#
#   docker run -v heaplogs:/heapspan --memory 1g myimage
#   docker kill -s USR2 CONTAINER      # a marker: the heap at this moment
#
# Before an OOM kill: unless HEAPSPAN_SNAPSHOT_ON_RSS is set, it is a quarter of the
# container's memory limit (cgroup v2 memory.max), so markers are written at 25%, 50%,
# 75% and 100% of the limit, and whenever the cgroup goes over memory.high. The command
# is exec'd: it keeps the entrypoint's pid (1) and gets the signals the runtime sends.
# tests/diff-tests.sh (recipe_entrypoint) runs a service through this file.
set -eu

shim=${HEAPSPAN_SHIM:-/usr/local/lib/heapspan/libheapspan.so}
dir=${HEAPSPAN_DIR:-/heapspan}
mkdir -p "$dir"

if [ -z "${HEAPSPAN_SNAPSHOT_ON_RSS:-}" ]; then
    cg=$(sed -n 's/^0:://p' /proc/self/cgroup 2>/dev/null || true)
    max=$(cat "/sys/fs/cgroup$cg/memory.max" 2>/dev/null || echo max)
    case $max in
    '' | max | *[!0-9]*) ;;
    *) HEAPSPAN_SNAPSHOT_ON_RSS=$((max / 4)) && export HEAPSPAN_SNAPSHOT_ON_RSS ;;
    esac
fi

export LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}"
export HEAPSPAN_OUTPUT="${HEAPSPAN_OUTPUT:-$dir/%e.%p.hsl}"
exec "$@"
