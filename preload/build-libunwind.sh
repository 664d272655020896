#!/bin/sh
# build-libunwind.sh DIR - builds libunwind as a position-independent static library
# from Debian's source package, into DIR/libunwind.
#
# Why: the shim links libunwind statically with hidden symbols, so it can neither clash
# with a libunwind the host program brings nor - as Debian's libunwind.so.8 would, being
# preloaded ahead of libgcc_s - interpose the host's _Unwind_* exception machinery.
# Debian ships libunwind.a built without -fPIC, which cannot go into a shared object,
# so we build the same source (with Debian's patches) once, with -fPIC.
set -eu
mkdir -p "$1"
dir=$(cd "$1" && pwd)
src=$dir/libunwind
stamp=$src/.built
[ -f "$stamp" ] && exit 0
mkdir -p "$dir"
if ! ls "$dir"/libunwind_*.dsc >/dev/null 2>&1; then
    # apt-get source needs a deb-src entry; add one for the running release if absent.
    if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
        cat > /etc/apt/sources.list.d/heapspan-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi
    (cd "$dir" && apt-get source --download-only -qq libunwind 2>&1 | grep -v 'unsandboxed' || true)
fi
dsc=$(ls "$dir"/libunwind_*.dsc | head -n1)
rm -rf "$src"
dpkg-source -x --no-check "$dsc" "$src" >/dev/null
cd "$src"
./configure --quiet CFLAGS="-O2 -g -fPIC -fvisibility=hidden" \
    --disable-shared --enable-static --disable-coredump --disable-ptrace \
    --disable-setjmp --disable-tests --disable-documentation \
    --disable-minidebuginfo --disable-zlibdebuginfo --disable-cxx-exceptions >/dev/null
make -s -j"$(nproc)" -C src >/dev/null 2>&1 || make -C src
touch "$stamp"
