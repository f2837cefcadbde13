#!/bin/sh
# check_abi.sh LIB [BASELINE] - the ABI gate: compare the built library
# (with debug info, -g) against the committed baseline abi/libann.abi.
# Added functions are allowed (--no-added-syms hides them); anything else
# abidiff reports - a removed or changed function, a changed type reachable
# from the public header - fails.  abidiff's exit status is a bit field:
#   1 error, 2 usage error, 4 ABI change, 8 incompatible ABI change.
# Types not defined in include/ (struct ann's body, internal helpers) are
# private and ignored.  To change the baseline on purpose: abi/README.md.
set -u
cd "$(dirname "$0")/.."
lib=$1
base=${2:-abi/libann.abi}
abidiff --headers-dir2 include --drop-private-types --no-added-syms \
    "$base" "$lib" > "${TMPDIR:-/tmp}/abidiff.$$" 2>&1
rc=$?
cat "${TMPDIR:-/tmp}/abidiff.$$"
rm -f "${TMPDIR:-/tmp}/abidiff.$$"
if [ $rc -eq 0 ]; then
    echo "abi: $lib matches $base (added functions allowed)"
    exit 0
fi
[ $((rc & 1)) -ne 0 ] && echo "abi: abidiff failed to run (exit $rc)"
[ $((rc & 2)) -ne 0 ] && echo "abi: abidiff usage error (exit $rc)"
[ $((rc & 8)) -ne 0 ] && echo "abi: INCOMPATIBLE change against $base (exit $rc)"
[ $((rc & 12)) -eq 4 ] && echo "abi: ABI change to existing functions or types (exit $rc)"
echo "abi: see abi/README.md to update the baseline if the change is intended"
exit 1
