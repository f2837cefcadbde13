#!/bin/sh
# check_lib_opt.sh BUILD_DIR OPTIMIZATION - libann's own sources (lib/*.c,
# in every library target: the shared library, the internal static one,
# the AVX2 engine, libann_mpi) are compiled at -O3 in an optimised build,
# whatever -O the build type or the caller's CFLAGS carry (the last -O on
# a command line is the one that counts), and at the build's own level in
# a debug or size-optimised build (lib/meson.build says why).  Reads the
# compile_commands.json meson writes.
set -eu
db=$1/compile_commands.json
opt=$2
[ -r "$db" ] || { echo "no $db"; exit 1; }
cmds=$(grep '"command"' "$db" | grep -E ' -c [^ ]*lib/[a-z0-9_]+\.c"' || true)
n=$(printf '%s\n' "$cmds" | grep -c ' -c ' || true)
[ "$n" -ge 16 ] || { echo "only $n compile commands for lib/*.c in $db"; exit 1; }
case $opt in plain|2|3) want=-O3 ;; *) want=none ;; esac
printf '%s\n' "$cmds" | while IFS= read -r c; do
    last=$(printf '%s\n' "$c" | tr ' ' '\n' | grep -E '^-O([0-3sgz]|fast)?$' | tail -n 1 || true)
    obj=$(printf '%s\n' "$c" | tr ' ' '\n' | grep '\.c\.o$' | head -n 1)
    if [ "$want" = none ]; then
        [ "$last" != -O3 ] || { echo "$obj: -O3 in a build with optimization=$opt"; exit 1; }
    elif [ "$last" != -O3 ]; then
        echo "$obj: last -O is '${last:-none}', want -O3 (optimization=$opt)"
        exit 1
    fi
done
echo "$n compile commands for lib/*.c, optimization=$opt: $( [ $want = none ] && echo 'no -O3' || echo 'all -O3')"
