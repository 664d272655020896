#!/usr/bin/env bash
# check-layers-test.sh - tests of tests/check-layers.sh, whatever state the real tree is
# in. A small synthetic tree that follows every rule must pass with no output; then,
# one case each, a copy of it with one wrong include added must fail, naming that file,
# line and include and the rule it breaks, and nothing else. Last, copies of the real
# tree's sources with a wrong include added must fail naming it (the real tree may
# have violations of its own: only the added one is looked for).
#
#   tests/check-layers-test.sh [CASE...]      run from the project's top directory
#
# Prints "PASS name" or "FAIL name: why" per case, then "N passed, N failed".
set -u -o pipefail

CHECK=${CHECK:-$PWD/tests/check-layers.sh}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-layers-test.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
pass=0
failed=0

R_INCLUDE="include/ includes nothing of the project"
R_FORMAT="format/ includes only format/"
R_PRELOAD="preload/ includes only preload/, format/ and include/"
R_ANALYZER="analyzer/ includes only analyzer/, format/ and util/"
R_UTIL="util/ includes only util/"
R_VIZ="viz/ includes only viz/, util/ and analyzer/model.h"
R_CLI="cli/ never includes preload/"
R_ROOT="not written from the project root"
R_PROJECT="not a project header"

# A tree that follows every rule, with each allowed arrow at least once, an include
# written "#  include", and files that are not C sources (never read).
make_clean_tree() {
    local t=$1
    mkdir -p "$t"/{include,format,preload,analyzer/sub,util,viz,cli,tests,docs}
    printf '#include <stdint.h>\n#include <dlfcn.h>\n' >"$t/include/heapspan.h"
    printf '#include <stdint.h>\n' >"$t/format/logfmt.h"
    printf '#include "format/logfmt.h"\n#  include "format/logfmt.h"\n' >"$t/format/evcodec.h"
    printf '#include "format/evcodec.h"\n' >"$t/format/evcodec.c"
    printf '#include "format/logfmt.h"\n' >"$t/preload/shim.h"
    printf '#include "preload/shim.h"\n#include "format/evcodec.h"\n#include <stdio.h>\n' \
        >"$t/preload/shim.c"
    printf '#include "include/heapspan.h"\n#include "preload/shim.h"\n' >"$t/preload/shim_api.c"
    printf '#include <stddef.h>\n' >"$t/util/strbuf.h"
    printf '#include "util/strbuf.h"\n' >"$t/util/strbuf.c"
    printf '#include "format/logfmt.h"\n' >"$t/analyzer/reader.h"
    printf '#include "analyzer/reader.h"\n#include "util/strbuf.h"\n#include <zstd.h>\n' \
        >"$t/analyzer/reader.c"
    printf '#include "util/strbuf.h"\n#include "format/logfmt.h"\n' >"$t/analyzer/model.h"
    printf '#include "analyzer/model.h"\n' >"$t/analyzer/sub/deep.c"
    printf '#include "analyzer/model.h"\n#include "util/strbuf.h"\n' >"$t/viz/text.h"
    printf '/* a comment line */\n#include "viz/text.h"\n#include <stdio.h>\n' >"$t/viz/text.c"
    printf '#include "cli/commands.h"\n#include "analyzer/reader.h"\n#include "viz/text.h"\n#include "util/strbuf.h"\n#include "format/logfmt.h"\n' \
        >"$t/cli/main.c"
    printf '#include <stdbool.h>\n' >"$t/cli/commands.h"
    printf '#include "preload/shim.h"\n#include "x.h"\n' >"$t/tests/not_checked.c"
    printf '#include "preload/shim.h"\n' >"$t/viz/notes.txt"
    printf '#include "../x.h"\n' >"$t/docs/example.c"
}

ok() {
    echo "PASS check-layers $1"
    pass=$((pass + 1))
}

bad() {
    echo "FAIL check-layers $1: $2"
    failed=$((failed + 1))
}

selected() {
    local c
    [[ ${#only[@]} -eq 0 ]] && return 0
    for c in "${only[@]}"; do
        [[ $c == "$1" ]] && return 0
    done
    return 1
}

only=("$@")

# The checker on dir: sets out and rc.
run_check() {
    out=$("$CHECK" "$1" 2>&1)
    rc=$?
}

clean="$tmp/clean"
make_clean_tree "$clean"

if selected clean_tree_passes; then
    run_check "$clean"
    if [[ $rc -eq 0 && -z $out ]]; then
        ok clean_tree_passes
    else
        bad clean_tree_passes "expected exit 0 and no output vs got exit $rc: $out"
    fi
fi

# inject NAME FILE TEXT RULE: FILE (relative) gets TEXT as a new last line, in a copy of
# the clean tree; the checker must exit 1 with exactly one line, naming FILE, that line,
# the include as written and RULE.
inject() {
    local name=$1 file=$2 text=$3 rule=$4 t="$tmp/$1"
    selected "$name" || return 0
    cp -r "$clean" "$t"
    mkdir -p "$(dirname "$t/$file")"
    printf '%s\n' "$text" >>"$t/$file"
    local line inc
    line=$(wc -l <"$t/$file")
    inc=$(printf '%s\n' "$text" | sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*//')
    run_check "$t"
    local expect="$file:$line: includes $inc: $rule"
    if [[ $rc -ne 1 ]]; then
        bad "$name" "expected exit 1 vs got $rc ($out)"
    elif [[ $(printf '%s\n' "$out" | wc -l) -ne 1 ]]; then
        bad "$name" "expected one line vs got: $out"
    elif [[ $out != "$expect"* ]]; then
        bad "$name" "expected '$expect...' vs got '$out'"
    else
        ok "$name"
    fi
}

inject include_includes_format include/heapspan.h '#include "format/logfmt.h"' "$R_INCLUDE"
inject include_includes_itself include/heapspan.h '#include "include/heapspan.h"' "$R_INCLUDE"
inject analyzer_includes_include analyzer/reader.c '#include "include/heapspan.h"' "$R_ANALYZER"
inject preload_includes_reader preload/shim.c '#include "analyzer/reader.h"' "$R_PRELOAD"
inject preload_includes_util preload/shim.h '#include "util/strbuf.h"' "$R_PRELOAD"
inject preload_includes_angled_reader preload/shim.c '#include <analyzer/reader.h>' "$R_PRELOAD"
inject format_includes_util format/logfmt.h '#include "util/strbuf.h"' "$R_FORMAT"
inject format_includes_preload format/evcodec.c '#include "preload/shim.h"' "$R_FORMAT"
inject analyzer_includes_viz analyzer/reader.c '#include "viz/text.h"' "$R_ANALYZER"
inject analyzer_includes_cli analyzer/model.h '#include "cli/commands.h"' "$R_ANALYZER"
inject analyzer_includes_preload analyzer/reader.h '#include "preload/shim.h"' "$R_ANALYZER"
inject analyzer_subdir_includes_viz analyzer/sub/deep.c '#include "viz/text.h"' "$R_ANALYZER"
inject util_includes_analyzer util/strbuf.c '#include "analyzer/model.h"' "$R_UTIL"
inject util_includes_format util/strbuf.h '#include "format/logfmt.h"' "$R_UTIL"
inject viz_includes_reader viz/text.c '#include "analyzer/reader.h"' "$R_VIZ"
inject viz_header_includes_aggregate viz/text.h '#include "analyzer/aggregate.h"' "$R_VIZ"
inject viz_includes_model_lookalike viz/text.c '#include "analyzer/model.hpp"' "$R_VIZ"
inject viz_includes_cli viz/text.c '#include "cli/commands.h"' "$R_VIZ"
inject viz_includes_preload viz/new.c '#include "preload/shim.h"' "$R_VIZ"
inject cli_includes_preload cli/main.c '#include "preload/shim.h"' "$R_CLI"
inject spaced_include viz/text.c '  #   include "analyzer/reader.h"' "$R_VIZ"
inject bare_include analyzer/reader.c '#include "reader.h"' "$R_ROOT"
inject parent_relative_include viz/text.c '#include "../analyzer/model.h"' "$R_ROOT"
inject dot_relative_include util/strbuf.c '#include "./strbuf.h"' "$R_ROOT"
inject inner_relative_include cli/main.c '#include "viz/../preload/shim.h"' "$R_ROOT"
inject absolute_include cli/main.c '#include "/usr/include/stdio.h"' "$R_ROOT"
inject system_header_in_quotes analyzer/reader.c '#include "elfutils/libdw.h"' "$R_PROJECT"

# Two wrong includes in one file: two lines, in file order.
if selected two_in_one_file; then
    t="$tmp/two"
    cp -r "$clean" "$t"
    printf '#include "analyzer/reader.h"\n#include "cli/commands.h"\n' >>"$t/viz/text.c"
    run_check "$t"
    n=$(wc -l <"$t/viz/text.c")
    expect="viz/text.c:$((n - 1)): includes \"analyzer/reader.h\": $R_VIZ"
    expect2="viz/text.c:$n: includes \"cli/commands.h\": $R_VIZ"
    if [[ $rc -eq 1 && $(printf '%s\n' "$out" | sed -n 1p) == "$expect"* &&
        $(printf '%s\n' "$out" | sed -n 2p) == "$expect2"* &&
        $(printf '%s\n' "$out" | wc -l) -eq 2 ]]; then
        ok two_in_one_file
    else
        bad two_in_one_file "expected exit 1 and the two lines '$expect...', '$expect2...' vs got exit $rc: $out"
    fi
fi

if selected no_layer_directories; then
    mkdir -p "$tmp/empty/docs"
    run_check "$tmp/empty"
    if [[ $rc -eq 2 && $out == *"has none of"* ]]; then
        ok no_layer_directories
    else
        bad no_layer_directories "expected exit 2 and a message vs got exit $rc: $out"
    fi
fi

# The real tree's sources, copied, with a wrong include appended to one of its files.
real_case() {
    local name=$1 dir=$2 text=$3 rule=$4 t="$tmp/real-$1" d file line inc
    selected "$name" || return 0
    mkdir -p "$t"
    for d in include format preload analyzer util viz cli; do
        [[ -d $d ]] && cp -r "$d" "$t/"
    done
    file=$(cd "$t" && find "$dir" -type f -name '*.c' 2>/dev/null | sort | head -n 1)
    if [[ -z $file ]]; then
        bad "$name" "no .c file in the tree's $dir/"
        return
    fi
    printf '%s\n' "$text" >>"$t/$file"
    line=$(wc -l <"$t/$file")
    inc=$(printf '%s\n' "$text" | sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*//')
    run_check "$t"
    local expect="$file:$line: includes $inc: $rule"
    if [[ $rc -eq 1 ]] && printf '%s\n' "$out" | grep -qF -- "$expect"; then
        ok "$name"
    else
        bad "$name" "expected exit 1 and a line '$expect...' vs got exit $rc: $out"
    fi
}

real_case real_preload_includes_reader preload '#include "analyzer/reader.h"' "$R_PRELOAD"
real_case real_viz_includes_reader viz '#include "analyzer/reader.h"' "$R_VIZ"
real_case real_analyzer_includes_viz analyzer '#include "viz/report.h"' "$R_ANALYZER"
real_case real_relative_include analyzer '#include "liveset.h"' "$R_ROOT"
real_case real_cli_includes_preload cli '#include "preload/rt.h"' "$R_CLI"

echo "$pass passed, $failed failed"
[[ $failed -eq 0 ]]
