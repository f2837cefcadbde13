#!/bin/sh
# check_symbols.sh LIB HEADER MAP - the library exports exactly the functions
# the header declares, and the version script lists exactly those too.
set -eu
lib=$1 header=$2 map=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TW]$/ {print $3}' | sed 's/@.*//' | sort -u > "$tmp/exported"
grep -o '^ANN_API [^(]*(' "$header" | sed 's/.*[ *]\(ann_[a-z0-9_]*\)($/\1/' | sort -u > "$tmp/declared"
sed -n 's/^ *\(ann_[a-z0-9_]*\);$/\1/p' "$map" | sort -u > "$tmp/mapped"
status=0
if ! diff -u "$tmp/declared" "$tmp/exported"; then
    echo "FAIL: exported symbols differ from the header's declarations"; status=1
fi
if ! diff -u "$tmp/declared" "$tmp/mapped"; then
    echo "FAIL: version script differs from the header's declarations"; status=1
fi
# nothing else leaks: no internal ann__ helpers, no unversioned symbols
if nm -D --defined-only "$lib" | grep -q ' ann__'; then
    echo "FAIL: internal symbols exported"; status=1
fi
# the library imports no process-killing or printing functions
if nm -D --undefined-only "$lib" | grep -Ew 'exit|_exit|abort|printf|fprintf|puts|fputs|putchar|perror|vprintf|vfprintf|__printf_chk|__fprintf_chk|__assert_fail' ; then
    echo "FAIL: the library imports exit/abort/print functions"; status=1
fi
n=$(wc -l < "$tmp/exported")
[ $status -eq 0 ] && echo "1 passed, 0 failed: $n exported symbols = header = version script"
[ $status -eq 0 ] || echo "0 passed, 1 failed"
exit $status
