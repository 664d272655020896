#!/bin/sh
# build-libunwind.sh DIR - builds libunwind as a position-independent static library
# from Debian's source package, into DIR/libunwind.
#
# Why: the shim links libunwind statically with hidden symbols, so it can neither clash
# with a libunwind the host program brings nor - as Debian's libunwind.so.8 would, being
# preloaded ahead of libgcc_s - interpose the host's _Unwind_* exception machinery.
# Debian ships libunwind.a built without -fPIC, which cannot go into a shared object,
# so we build the same source (with Debian's patches) once, with -fPIC.
#
# One constant changed: the x86_64 fast tracer (src/x86_64/Gtrace.c, what unw_backtrace
# runs) keeps a per-thread cache of frame descriptions that starts at 2^HASH_MIN_BITS
# slots of 16 bytes, mmap'ed and written in full when a thread first traces. Upstream
# starts at 2^14: 256 KiB of RSS for every thread that ever took a stack through it (400
# idle threads of a program built without frame pointers: 175 MB against 5 MB plain).
# We start at 2^8, one page; the table quadruples whenever it is half full, as upstream,
# so a thread that meets many pcs reaches the same size after three refills of at most
# 2,048 entries. Changing the patch below changes STAMP, and the next build rebuilds.
set -eu
STAMP="libunwind 1.6.2 PIC; Gtrace.c HASH_MIN_BITS 8"
mkdir -p "$1"
dir=$(cd "$1" && pwd)
src=$dir/libunwind
stamp=$src/.built
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$STAMP" ]; then
    touch "$stamp" # newer than this script: make need not ask again
    exit 0
fi
mkdir -p "$dir"
if ! ls "$dir"/libunwind_*.dsc >/dev/null 2>&1; then
    # apt-get source needs a deb-src entry. If apt has none, one is added for the running
    # release - said on stderr, not done behind the user's back - and removed again once
    # the source is downloaded. HEAPSPAN_NO_APT_CHANGES=1 refuses instead.
    added=
    if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
        entry=/etc/apt/sources.list.d/heapspan-deb-src.sources
        if [ -n "${HEAPSPAN_NO_APT_CHANGES:-}" ]; then
            echo "build-libunwind.sh: apt has no deb-src entry, which apt-get source needs for" \
                "libunwind's source; add one (Types: deb-src, Suites: $codename) or unset" \
                "HEAPSPAN_NO_APT_CHANGES" >&2
            exit 2
        fi
        echo "heapspan: adding $entry (a deb-src entry for Debian $codename: apt-get source" \
            "needs one to fetch libunwind's source) and running apt-get update; it is" \
            "removed after the download" >&2
        added=$entry
        cat > "$entry" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi
    (cd "$dir" && apt-get source --download-only -qq libunwind 2>&1 | grep -v 'unsandboxed' || true)
    if [ -n "$added" ]; then
        rm -f "$added"
        echo "heapspan: removed $added" >&2
    fi
fi
dsc=$(ls "$dir"/libunwind_*.dsc | head -n1)
rm -rf "$src"
dpkg-source -x --no-check "$dsc" "$src" >/dev/null
cd "$src"
sed -i 's/^#define HASH_MIN_BITS 14$/#define HASH_MIN_BITS 8/' src/x86_64/Gtrace.c
grep -q '^#define HASH_MIN_BITS 8$' src/x86_64/Gtrace.c || {
    echo "build-libunwind.sh: src/x86_64/Gtrace.c has no HASH_MIN_BITS 14 to change" >&2
    exit 1
}
./configure --quiet CFLAGS="-O2 -g -fPIC -fvisibility=hidden" \
    --disable-shared --enable-static --disable-coredump --disable-ptrace \
    --disable-setjmp --disable-tests --disable-documentation \
    --disable-minidebuginfo --disable-zlibdebuginfo --disable-cxx-exceptions >/dev/null
make -s -j"$(nproc)" -C src >/dev/null 2>&1 || make -C src
echo "$STAMP" >"$stamp"
