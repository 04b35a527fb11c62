#!/usr/bin/env bash
# Static checks of the C sources: clang-tidy (.clang-tidy at the repository root, with the
# compile flags of BUILD/compile_commands.json) and cppcheck. Exits 1 on any finding.
# Usage: scripts/lint.sh BUILD
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:?usage: $0 BUILD}
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "lint: $db is missing: configure $build first" >&2; exit 1; }
files=(orchestrator/*.c orchestrator/util/*.c seccomp/*.c)
status=0

# One clang-tidy process per file: clang-tidy 14's valist checker keeps state from one file
# to the next and then reports every later va_list as uninitialised.
echo "lint: clang-tidy on ${#files[@]} files" >&2
if ! printf '%s\n' "${files[@]}" |
        xargs -P "$(nproc)" -n 1 clang-tidy -p "$build" --quiet -warnings-as-errors='*' \
            >"$build/clang-tidy.log" 2>&1; then
    grep -E -A3 '(warning|error):' "$build/clang-tidy.log" >&2 || cat "$build/clang-tidy.log" >&2
    echo "lint: clang-tidy found problems (all of it in $build/clang-tidy.log)" >&2
    status=1
fi

# cppcheck on the same files with the build's one configuration (_GNU_SOURCE, our include
# folders); .cppcheck-suppressions says why each file-wide suppression is a false positive.
echo "lint: cppcheck" >&2
mkdir -p "$build/cppcheck"
if ! cppcheck -D_GNU_SOURCE -Iorchestrator -Iseccomp --std=c11 --platform=unix64 \
        --library=posix --enable=warning,portability,performance --error-exitcode=1 \
        --inline-suppr --suppressions-list=.cppcheck-suppressions --quiet -j "$(nproc)" \
        --cppcheck-build-dir="$build/cppcheck" \
        --template='{file}:{line}: {severity}: {message} [{id}]' "${files[@]}" \
        2>"$build/cppcheck.log"; then
    cat "$build/cppcheck.log" >&2
    echo "lint: cppcheck found problems" >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "lint: clean" >&2
exit "$status"
