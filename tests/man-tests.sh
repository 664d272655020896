#!/usr/bin/env bash
# man-tests.sh HEAPSPAN - checks the manual page docs/heapspan.1:
#   - groff renders it without a single warning (-ww: every warning on), and man(1)
#     reads it (`man -l`) without one either;
#   - every long option each command's --help shows appears in it (so that a new
#     option without a line in the page fails here);
#   - `make install DESTDIR=... PREFIX=...` installs it as share/man/man1/heapspan.1,
#     beside bin/heapspan and lib/heapspan/libheapspan.so, and the installed command
#     finds the installed shim.
# Prints what differs; exits 1 on any failure, 0 when all hold. Run from the top
# directory (make test runs it as a check).
set -u -o pipefail

HEAPSPAN=${1:-build/heapspan}
PAGE=docs/heapspan.1
bad=0

complain() {
    printf 'man-tests: %s\n' "$*" >&2
    bad=1
}

out=$(groff -man -ww -z "$PAGE" 2>&1)
[[ $? == 0 && -z $out ]] || complain "groff -man -ww -z $PAGE: $out"
out=$(MANWIDTH=80 man --warnings -l "$PAGE" 2>&1 >/dev/null)
[[ -z $out ]] || complain "man --warnings -l $PAGE: $out"
rendered=$(MANWIDTH=200 man -l "$PAGE" 2>/dev/null | col -b)
[[ $rendered == *"heapspan run"* && $rendered == *"EXIT STATUS"* ]] ||
    complain "man -l $PAGE does not render the page"

for cmd in run report snapshot diff flame export dump; do
    help=$("$HEAPSPAN" "$cmd" --help) || {
        complain "$HEAPSPAN $cmd --help failed"
        continue
    }
    for opt in $(grep -oE -- '--[a-z][a-z-]*[a-z]' <<<"$help" | sort -u); do
        [[ $opt == --help ]] && continue
        grep -qF -- "${opt//-/\\-}" "$PAGE" ||
            complain "heapspan $cmd's $opt is not in $PAGE"
    done
done

dest=$(mktemp -d "${TMPDIR:-/tmp}/heapspan-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT
if make -s --no-print-directory install DESTDIR="$dest" PREFIX=/opt/hs >"$dest.log" 2>&1; then
    for f in bin/heapspan lib/heapspan/libheapspan.so share/man/man1/heapspan.1; do
        [[ -f $dest/opt/hs/$f ]] || complain "make install did not install $f"
    done
    cmp -s "$PAGE" "$dest/opt/hs/share/man/man1/heapspan.1" ||
        complain "the installed page differs from $PAGE"
    # The installed command runs a program with the installed shim beside it.
    (cd "$dest" && HEAPSPAN_SHIM= ./opt/hs/bin/heapspan run -o inst.hsl -- /bin/true \
        >run.out 2>run.err) || complain "the installed heapspan run failed: $(cat "$dest/run.err")"
    [[ -s $dest/inst.hsl ]] || complain "the installed heapspan run wrote no log"
    grep -q 'heapspan: wrote' "$dest/run.err" 2>/dev/null ||
        complain "the installed heapspan run did not say where the log went"
else
    complain "make install DESTDIR=$dest failed: $(tail -n 5 "$dest.log")"
fi
rm -f "$dest.log"
exit $bad
