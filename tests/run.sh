#!/bin/sh
# tests/run.sh - the project's test command (README "Quick start", .ci/run).
# Builds in build/ (or $BUILD_DIR), runs every meson test, then installs
# into a temporary prefix and builds a consumer with pkg-config, as a user
# would.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

if [ ! -d "$build" ]; then
    meson setup "$build" --werror
fi
meson compile -C "$build"
meson test -C "$build" --print-errorlogs
ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$build/meson-logs/testlog.txt" | tail -1)

echo "== clang, warnings as errors =="
if command -v clang >/dev/null 2>&1; then
    [ -d "$build-clang" ] || CC=clang CXX=clang++ meson setup "$build-clang" --werror >/dev/null
    meson compile -C "$build-clang" >/dev/null
    echo "clang build: clean"
fi

echo "== install + pkg-config consumer =="
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
meson setup "$build-install" --prefix "$prefix" --libdir lib --reconfigure >/dev/null 2>&1 ||
    meson setup "$build-install" --prefix "$prefix" --libdir lib >/dev/null
meson install -C "$build-install" --quiet >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$prefix/consumer" tests/consumer.c \
    $(pkg-config --cflags --libs ann)
LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer"
# the installed library carries its SONAME and nothing else is needed to link
readelf -d "$prefix/lib/libann.so" | grep -q 'SONAME.*libann.so.1'
echo "summary: $((ok + 1)) passed, 0 failed"
