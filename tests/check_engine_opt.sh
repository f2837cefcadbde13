#!/bin/sh
# check_engine_opt.sh BUILD_DIR OPTIMIZATION - the engine (lib/engine.c, in
# every instruction-set build) is compiled at -O3 in an optimised build,
# whatever -O the rest of the library and the caller's CFLAGS carry (the
# last -O on a command line is the one that counts), and at the build's
# own level in a debug build (lib/meson.build says why).  Reads the
# compile_commands.json meson writes.
set -eu
db=$1/compile_commands.json
opt=$2
[ -r "$db" ] || { echo "no $db"; exit 1; }
cmds=$(grep '"command"' "$db" | grep 'engine\.c\.o' || true)
n=$(printf '%s\n' "$cmds" | grep -c 'engine\.c\.o' || true)
[ "$n" -ge 1 ] || { echo "no compile command for lib/engine.c in $db"; exit 1; }
case $opt in 0|g|1) want=none ;; *) want=-O3 ;; esac
bad=0
printf '%s\n' "$cmds" | while IFS= read -r c; do
    last=$(printf '%s\n' "$c" | tr ' ' '\n' | grep -E '^-O([0-3sgz]|fast)?$' | tail -n 1 || true)
    obj=$(printf '%s\n' "$c" | tr ' ' '\n' | grep 'engine\.c\.o$' | head -n 1)
    if [ "$want" = none ]; then
        [ "$last" != -O3 ] || { echo "$obj: -O3 in a debug build (optimization=$opt)"; exit 1; }
    else
        [ "$last" = -O3 ] || { echo "$obj: last -O is '${last:-none}', want -O3 (optimization=$opt)"; exit 1; }
    fi
    echo "$obj: ${last:-no -O} (optimization=$opt)"
done || bad=1
exit $bad
