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

# ---- MPI (issue 9): only where Open MPI is installed (.ci/run installs it) --
# A separate build dir with -Dmpi=enabled: libann_mpi.so, its tests under
# mpirun -np 1/2/4, and libann.so's exported symbols re-checked there.
mpi_ok=0
if command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then
    echo "== MPI build (-Dmpi=enabled) =="
    [ -d "$build-mpi" ] || meson setup "$build-mpi" -Dmpi=enabled --werror >/dev/null
    meson compile -C "$build-mpi" >/dev/null
    meson test -C "$build-mpi" --suite mpi --suite abi --print-errorlogs
    mpi_ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$build-mpi/meson-logs/testlog.txt" | tail -1)
    # installed: ann-mpi.pc links a plain cc program; it runs on 2 ranks
    mprefix="$prefix/mpi"
    meson setup "$build-mpi-install" -Dmpi=enabled --prefix "$mprefix" --libdir lib \
        --reconfigure >/dev/null 2>&1 ||
        meson setup "$build-mpi-install" -Dmpi=enabled --prefix "$mprefix" --libdir lib >/dev/null
    meson install -C "$build-mpi-install" --quiet >/dev/null
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$mprefix/consumer_mpi" tests/consumer_mpi.c \
        $(PKG_CONFIG_PATH="$mprefix/lib/pkgconfig" pkg-config --cflags --libs ann-mpi)
    LD_LIBRARY_PATH="$mprefix/lib" timeout 120 mpirun --allow-run-as-root --oversubscribe \
        -np 2 "$mprefix/consumer_mpi"
    mpi_ok=$((mpi_ok + 1))
else
    echo "== MPI: mpicc/mpirun not found, skipped =="
fi
echo "summary: $((ok + 1 + mpi_ok)) passed, 0 failed"
