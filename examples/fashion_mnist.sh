#!/bin/sh
# fashion_mnist.sh - train the Fashion-MNIST example (build/examples/
# fashion_mnist; needs zlib1g-dev at build time and the Debian package
# dataset-fashion-mnist) and plot its loss curve to fashion_mnist_loss.png
# with matplotlib or gnuplot when either is installed.
# Usage: examples/fashion_mnist.sh [EPOCHS] [OUTPUT_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${FASHION_MNIST:-$here/../build/examples/fashion_mnist}
epochs=${1:-15}
out=${2:-.}
csv="$out/fashion_mnist_curve.csv"
png="$out/fashion_mnist_loss.png"
status=0
"$bin" "$epochs" /usr/share/datasets/fashion-mnist "$csv" || status=$?
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    /usr/bin/python3 - "$csv" "$png" <<'PY'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
ep = [int(r["epoch"]) for r in rows]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(ep, [float(r["train_loss"]) for r in rows], "o-", label="training loss")
ax.set_xlabel("epoch"); ax.set_ylabel("cross-entropy")
ax2 = ax.twinx()
ax2.plot(ep, [float(r["test_accuracy"]) for r in rows], "s--", color="tab:orange",
         label="test accuracy")
ax2.set_ylabel("test accuracy")
fig.legend(loc="center right"); ax.set_title("libann: Fashion-MNIST 784-256-128-10")
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)
PY
    echo "loss curve: $png"
elif command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "set terminal png; set output '$png'; set datafile separator ',';
        set xlabel 'epoch'; set ylabel 'training loss';
        plot '$csv' every ::1 using 1:2 with linespoints title 'training loss'"
    echo "loss curve: $png"
else
    echo "no matplotlib or gnuplot: curve left as $csv"
fi
exit "$status"
