#!/bin/sh
# bench/run.sh - build and run the libann peer benchmark, interleaved, and
# regenerate bench/RESULTS.md and bench/results.png.  See bench/README.md.
#
#   bench/run.sh [--quick] [--reps N] [--epochs E] [--no-sweeps] [--acc-seeds S]
#
# Repeat r runs every implementation with seed r (BENCH_SEED).  Test
# accuracy after 2 epochs moves by ~2 points between seeds, so accuracy is
# compared over S seeds (default 5): after the repeats, seeds N+1..S run the
# 1-thread accuracy configurations once more (tagged fmnist-acc).
#
# --quick: 10000 training rows, 1 epoch, float32, 1 thread, short sweeps
# (a development loop of a few minutes).  Default: the full suite.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
QUICK=0 REPS=3 EPOCHS=2 SWEEPS=1 ACCSEEDS=5
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --reps) REPS=$2; shift ;;
    --epochs) EPOCHS=$2; shift ;;
    --no-sweeps) SWEEPS=0 ;;
    --acc-seeds) ACCSEEDS=$2; shift ;;
    *) echo "usage: $0 [--quick] [--reps N] [--epochs E] [--no-sweeps] [--acc-seeds S]" >&2; exit 2 ;;
    esac
    shift
done
if [ $QUICK = 1 ]; then
    ROWS=10000 EPOCHS=1 PRECS=f32 THREADS=1 TINY_EPOCHS=1 ACCSEEDS=0
    WIDTHS="16 256 2048" BATCHES="1 32 1024" ROWSWEEP="1000 10000 100000"
else
    ROWS=60000 PRECS="f32 f64" THREADS="1 2" TINY_EPOCHS=2
    WIDTHS="16 64 256 1024 2048" BATCHES="1 4 16 64 256 1024" ROWSWEEP="1000 10000 100000 1000000"
fi

[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" -Dbuildtype=release >/dev/null
ninja -C "$BUILD" >/dev/null
B=$BUILD/bench
OUT=$BUILD/bench-out
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: >"$RES"
"$B/bench_ann" gen-tiny "$OUT"

# Versions of everything measured.
pkgv() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo missing; }
{
    $PY "$ROOT/bench/peers.py" versions
    printf '{"work":"env","fann":"%s","openblas":"%s","libann":"%s","cpu":"%s","cores":"%s","coretype":"%s","quick":%s,"epochs":%s,"rows":%s,"reps":%s}\n' \
        "$(pkgv libfann-dev)" "$(pkgv libopenblas0-pthread)" \
        "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$(nproc)" \
        "${OPENBLAS_CORETYPE:-auto}" $QUICK "$EPOCHS" "$ROWS" "$REPS"
} >>"$RES"

# Run one measurement with a thread count; the threads of every library
# are pinned through the environment of that process only.
SEED=1
run() { # threads cmd...
    t=$1; shift
    BENCH_SEED=$SEED OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$@" >>"$RES" ||
        echo "bench: failed: $*" >&2
}
# The accuracy-only runs of the extra seeds: same programs, records tagged.
run_acc() { # cmd...
    BENCH_SEED=$SEED OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$@" |
        sed -E 's/"work": ?"fmnist"/"work": "fmnist-acc"/' >>"$RES" ||
        echo "bench: failed: $*" >&2
}

for rep in $(seq 1 "$REPS"); do
    echo "== repeat $rep/$REPS" >&2
    SEED=$rep
    for t in $THREADS; do
        for p in $PRECS; do
            run "$t" "$B/bench_roofline" "$p" "$t" "$ROWS"
            for o in sgd momentum adam; do
                run "$t" "$B/bench_ann" fmnist "$DATA" "$p" "$o" "$EPOCHS" "$ROWS"
                [ $o = sgd ] && [ $QUICK = 0 ] && continue   # peers: momentum and Adam
                # scikit-learn initialises with Glorot's uniform: libann with
                # the same (ANN_INIT_XAVIER), for the accuracy comparison
                [ "$t" = 1 ] && BENCH_INIT=xavier run "$t" "$B/bench_ann" fmnist "$DATA" "$p" "$o" "$EPOCHS" "$ROWS"
                run "$t" $PY "$ROOT/bench/peers.py" torch-fmnist "$DATA" "$p" "$o" "$EPOCHS" "$t" "$ROWS"
                run "$t" $PY "$ROOT/bench/peers.py" sklearn-fmnist "$DATA" "$p" "$o" "$EPOCHS" "$t" "$ROWS"
            done
        done
    done
    [ -x "$B/bench_fann_f" ] && run 1 "$B/bench_fann_f" fmnist "$DATA" "$EPOCHS" "$ROWS"
    for p in $PRECS; do
        fb=$B/bench_fann_f; [ $p = f64 ] && fb=$B/bench_fann_d
        for bs in 1 32; do
            run 1 "$B/bench_ann" tiny "$OUT" "$p" $bs $TINY_EPOCHS
            run 1 $PY "$ROOT/bench/peers.py" torch-tiny "$OUT" "$p" $bs $TINY_EPOCHS
            run 1 $PY "$ROOT/bench/peers.py" sklearn-tiny "$OUT" "$p" $bs $TINY_EPOCHS
        done
        [ -x "$fb" ] && run 1 "$fb" tiny "$OUT" $TINY_EPOCHS
        [ -x "$fb" ] && run 1 "$fb" tiny-pair "$OUT" $TINY_EPOCHS
    done
    if [ $SWEEPS = 1 ]; then
        for w in $WIDTHS; do run 1 "$B/bench_ann" sweep-width "$w" 128 20000; done
        for bs in $BATCHES; do run 1 "$B/bench_ann" sweep-width 256 "$bs" 20000; done
        for r in $ROWSWEEP; do
            # peak RSS of the whole process (data + model + work buffers)
            /usr/bin/time -v -o "$OUT/time.txt" "$B/bench_ann" sweep-rows "$r" >"$OUT/line.json" &&
                $PY - "$OUT/line.json" "$OUT/time.txt" >>"$RES" <<'PYEOF'
import json, sys
d = json.loads(open(sys.argv[1]).read())
for l in open(sys.argv[2]):
    if "Maximum resident set size" in l:
        d["max_rss_mib"] = int(l.split(":")[1]) / 1024
print(json.dumps(d))
PYEOF
        done
    fi
done

# Accuracy over more seeds (1 thread; speed is not read from these runs).
if [ "$ACCSEEDS" -gt "$REPS" ]; then
    for SEED in $(seq $((REPS + 1)) "$ACCSEEDS"); do
        echo "== accuracy, seed $SEED/$ACCSEEDS" >&2
        for p in $PRECS; do
            for o in momentum adam; do
                run_acc "$B/bench_ann" fmnist "$DATA" "$p" "$o" "$EPOCHS" "$ROWS"
                BENCH_INIT=xavier run_acc "$B/bench_ann" fmnist "$DATA" "$p" "$o" "$EPOCHS" "$ROWS"
                run_acc $PY "$ROOT/bench/peers.py" torch-fmnist "$DATA" "$p" "$o" "$EPOCHS" 1 "$ROWS"
                run_acc $PY "$ROOT/bench/peers.py" sklearn-fmnist "$DATA" "$p" "$o" "$EPOCHS" 1 "$ROWS"
            done
        done
    done
fi
$PY "$ROOT/bench/report.py" "$RES" "$ROOT/bench"
