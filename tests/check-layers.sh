#!/usr/bin/env bash
# check-layers.sh - the include arrows of docs/architecture.md, as a test: every #include in
# include/, format/, preload/, analyzer/, util/, viz/ and cli/ (*.c and *.h, at any depth)
# must point the way the layers depend on each other:
#
#   include/   includes nothing of the project (the public header stands alone)
#   format/    includes only format/
#   preload/   includes only preload/, format/ and include/ (the API it implements)
#   analyzer/  includes only analyzer/, format/ and util/
#   util/      includes only util/
#   viz/       includes only viz/, util/ and analyzer/model.h
#   cli/       includes anything but preload/
#
# and a project header is named by its path from the project root, in quotes
# (`#include "format/logfmt.h"`): a bare "reader.h", "./x.h" or "../x.h" is a violation
# by itself, and so is a quoted name outside the project's directories (system headers
# take <>). A project header written with <> is held to the same arrows.
#
#   tests/check-layers.sh [ROOT]       ROOT: the project's top directory (default .)
#
# Prints one line per offending include, "FILE:LINE: includes "NAME": RULE", FILE
# relative to ROOT, and exits 1 if there is any, 0 if there is none, 2 if ROOT holds
# none of the directories. Lines are read as text: an #include inside a block comment
# counts too (commented-out code has no place in the sources either).
set -u -o pipefail

root=${1:-.}
dirs=()
for d in include format preload analyzer util viz cli; do
    [[ -d $root/$d ]] && dirs+=("$d")
done
if [[ ${#dirs[@]} -eq 0 ]]; then
    echo "check-layers: $root has none of include/ format/ preload/ analyzer/ util/ viz/ cli/" >&2
    exit 2
fi

cd "$root" || exit 2
mapfile -d '' files < <(find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
[[ ${#files[@]} -eq 0 ]] && exit 0
# One awk over every file: its status is ours (1: violations; 2: awk itself failed).
awk '
    BEGIN {
        split("include format preload analyzer util viz cli", names, " ")
        for (i in names)
            project[names[i]] = 1
        rule["include"] = "include/ includes nothing of the project (a program includes it alone)"
        rule["format"] = "format/ includes only format/"
        rule["preload"] = "preload/ includes only preload/, format/ and include/ (the shim links nothing else)"
        rule["analyzer"] = "analyzer/ includes only analyzer/, format/ and util/ (never viz/, cli/ or preload/)"
        rule["util"] = "util/ includes only util/"
        rule["viz"] = "viz/ includes only viz/, util/ and analyzer/model.h (it reads the model, never the log)"
        rule["cli"] = "cli/ never includes preload/ (the shim is a library of its own)"
        bad = 0
    }
    # Whether a file of layer src may include the project header at path (top: its
    # first directory).
    function allowed(src, top, path) {
        if (src == "include")
            return 0
        if (src == "format")
            return top == "format"
        if (src == "preload")
            return top == "preload" || top == "format" || top == "include"
        if (src == "analyzer")
            return top == "analyzer" || top == "format" || top == "util"
        if (src == "util")
            return top == "util"
        if (src == "viz")
            return top == "viz" || top == "util" || path == "analyzer/model.h"
        if (src == "cli")
            return top != "preload"
        return 1
    }
    function report(what) {
        printf "%s:%d: includes %s: %s\n", FILENAME, FNR, shown, what
        bad++
    }
    {
        sub(/\r$/, "")
        if ($0 !~ /^[ \t]*#[ \t]*include[ \t]*["<]/)
            next
        line = $0
        sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
        quoted = substr(line, 1, 1) == "\""
        close_at = index(substr(line, 2), quoted ? "\"" : ">")
        if (close_at == 0)
            next
        path = substr(line, 2, close_at - 1)
        shown = quoted ? "\"" path "\"" : "<" path ">"
        src = FILENAME
        sub(/\/.*/, "", src)
        top = index(path, "/") ? substr(path, 1, index(path, "/") - 1) : ""
        if (!quoted) {
            if (top in project && !allowed(src, top, path))
                report(rule[src])
            next
        }
        if (path ~ /(^|\/)\.\.?(\/|$)/ || substr(path, 1, 1) == "/" || top == "")
            report("not written from the project root (\"dir/name.h\", docs/architecture.md)")
        else if (!(top in project))
            report("not a project header (include/ format/ preload/ analyzer/ util/ viz/ cli/); system headers take <>")
        else if (!allowed(src, top, path))
            report(rule[src])
    }
    END {
        exit (bad > 0 ? 1 : 0)
    }' "${files[@]}"
