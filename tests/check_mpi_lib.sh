#!/bin/sh
# check_mpi_lib.sh LIBANN_MPI LIBANN - libann_mpi.so exports exactly the
# ann_mpi_* functions of its map, and libann.so does not depend on MPI.
set -eu
got=$(nm -D --defined-only "$1" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
want=$(printf '%s\n' ann_mpi_errmsg ann_mpi_fit ann_mpi_fit_labels)
if [ "$got" != "$want" ]; then
    echo "libann_mpi.so exports:"; echo "$got"; echo "expected:"; echo "$want"
    exit 1
fi
if readelf -d "$2" | grep -i 'NEEDED.*mpi'; then
    echo "libann.so depends on MPI"
    exit 1
fi
echo "libann_mpi.so exports only ann_mpi_*; libann.so has no MPI dependency"
