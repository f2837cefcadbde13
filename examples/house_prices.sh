#!/bin/sh
# house_prices.sh - the house-price demo (examples/house_prices.c) through
# the `ann` command-line tool alone: generate a CSV, fit, predict, eval.
#
#   price (thousands) = 50 + 1.6 area + 15 bedrooms - 45 ln(1 + distance)
#                       - 0.9 age + 0.002 area^2 + noise,  noise ~ N(0, 10^2)
#
# Usage: examples/house_prices.sh [ANN_BINARY] [EPOCHS]
#   ANN_BINARY defaults to $ANN, then build/tools/ann, then `ann` on PATH.
# Exits non-zero if the test RMSE misses the noise floor (10) by > 50%.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ann=${1:-${ANN:-}}
if [ -z "$ann" ]; then
    if [ -x "$here/../build/tools/ann" ]; then ann="$here/../build/tools/ann"; else ann=ann; fi
fi
epochs=${2:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. data: 4000 training and 1000 test houses (awk's generator, fixed seed)
awk -v seed=2024 'BEGIN {
    srand(seed); pi = 3.141592653589793
    print "area,bedrooms,distance,age,price"
    for (i = 0; i < 5000; i++) {
        area = 50 + 200 * rand(); bed = 1 + int(5 * rand())
        dist = 1 + 29 * rand(); age = 60 * rand()
        u1 = rand(); if (u1 < 1e-300) u1 = 1e-300
        noise = 10 * sqrt(-2 * log(u1)) * cos(2 * pi * rand())
        price = 50 + 1.6 * area + 15 * bed - 45 * log(1 + dist) - 0.9 * age \
                + 0.002 * area * area + noise
        printf "%.3f,%d,%.3f,%.3f,%.3f\n", area, bed, dist, age, price
    } }' > "$work/houses.csv"
head -n 4001 "$work/houses.csv" > "$work/train.csv"
{ head -n 1 "$work/houses.csv"; tail -n 1000 "$work/houses.csv"; } > "$work/test.csv"
echo "== data: $(($(wc -l < "$work/train.csv") - 1)) training rows, 1000 test rows"
head -n 3 "$work/train.csv"

# 2. fit: 4 -> 8 tanh -> 1; --standardize scales inputs and price for
#    training and folds the scaling into the saved weights
echo "== ann fit"
"$ann" fit "$work/train.csv" --target price --layers 8 --activation tanh \
    --optimizer adam --lr 0.01 --batch 32 --epochs "$epochs" --seed 1 \
    --standardize -o "$work/houses.ann" 2>&1 | awk 'NR % 20 == 0 || /saved/'
"$ann" info "$work/houses.ann" | head -n 6

# 3. predict: the test rows with a 'predicted' column appended
echo "== ann predict (first rows)"
"$ann" predict "$work/houses.ann" "$work/test.csv" --target price -o "$work/pred.csv"
head -n 4 "$work/pred.csv"

# 4. eval
echo "== ann eval"
"$ann" eval "$work/houses.ann" "$work/test.csv" --target price | tee "$work/eval.txt"
awk '/RMSE/ { rmse = $NF } END {
    printf "test RMSE %.2f thousand; the noise floor (the best any model can do) is 10.00\n", rmse
    exit !(rmse < 15) }' "$work/eval.txt"
