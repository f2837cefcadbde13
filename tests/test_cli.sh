#!/bin/sh
# tests/test_cli.sh ANN - the `ann` tool: the happy path on a generated CSV
# (fit, predict, eval, info; CSV and TSV; stdin) and every malformed-input
# error (message names line and column, non-zero exit, no output file).
set -u
case $1 in /*) ann=$1 ;; *) ann=$(pwd)/$1 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# expect_error NAME PATTERN CMD...: non-zero exit, stderr matches PATTERN
expect_error() {
    name=$1 pattern=$2
    shift 2
    if "$@" >out.txt 2>err.txt; then
        bad "$name: exit 0"
    elif grep -q -- "$pattern" err.txt; then
        ok "$name"
    else
        bad "$name: stderr was: $(cat err.txt)"
    fi
}

awk 'BEGIN { srand(7); print "a,b,c,y,label";
    for (i = 0; i < 600; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1; c = rand();
        printf "%.6f,%.6f,%.6f,%.6f,%d\n", a, b, c, 2 * a - b + 0.5 * c, (a > b) } }' > data.csv
head -1 data.csv > header.csv
cut -d, -f1-4 data.csv > reg.csv      # a,b,c,y
cut -d, -f1-3,5 data.csv > clf.csv    # a,b,c,label

# ---- happy path ----
check "help" '"$ann" --help | grep -q "commands:"'
for c in fit predict eval info; do
    check "$c --help" '"$ann" $c --help | grep -q "usage: ann $c"'
done
check "fit regression" '"$ann" fit reg.csv --target y --layers 8 --activation tanh \
    --epochs 60 --lr 0.01 --batch 16 --seed 3 -o reg.ann 2>fit.log && test -s reg.ann'
check "plain per-epoch lines when stderr is not a tty" 'grep -q "^epoch 60/60 train_loss" fit.log'
check "fit classification from stdin" '"$ann" fit --target label --classify --epochs 40 \
    --lr 0.01 -q -o clf.ann < clf.csv && test -s clf.ann'
check "info" '"$ann" info reg.ann | grep -q "layer 1     8 units, fan-in 3, tanh"'
check "predict appends a column" '"$ann" predict reg.ann data.csv --target y,label -o pred.csv &&
    test "$(head -1 pred.csv)" = "a,b,c,y,label,predicted" && test $(wc -l < pred.csv) = 601'
check "predict to stdout equals -o" '"$ann" predict reg.ann --target y,label < data.csv | cmp -s - pred.csv'
check "eval regression R^2 > 0.9" '"$ann" eval reg.ann reg.csv --target y > ev.txt &&
    awk "/R\\^2/ { exit !(\$4 > 0.9) }" ev.txt'
check "eval classification: accuracy and confusion matrix" '"$ann" eval clf.ann clf.csv --target label > ec.txt && grep -q "^accuracy" ec.txt &&
    grep -q "confusion matrix" ec.txt && awk "/^accuracy/ { exit !(\$2 > 0.9) }" ec.txt'
check "predict labels" '"$ann" predict clf.ann clf.csv --target label | tail -n +2 |
    awk -F, "\$5 != 0 && \$5 != 1 { exit 1 }"'
check "TSV input" 'tr , "\t" < reg.csv > reg.tsv && "$ann" predict reg.ann reg.tsv --target y |
    head -1 | grep -q "^a	b	c	y	predicted$"'
check "fit --standardize on raw-scale data" 'awk -F, "NR == 1 { print; next }
    { printf \"%f,%f,%f,%f\\n\", 100 * \$1 + 500, \$2, \$3, 1000 * \$4 + 3000 }" reg.csv > big.csv &&
    "$ann" fit big.csv --target y --standardize --epochs 60 --lr 0.01 -q -o big.ann &&
    "$ann" eval big.ann big.csv --target y | awk "/R\\^2/ { exit !(\$4 > 0.9) }"'

# ---- malformed input: error names line and column, nothing written ----
printf 'a,b,y\n1,2,3\n4,5\n' > ragged.csv
expect_error "ragged row (short)" "ragged.csv:3:3: ragged row" "$ann" fit ragged.csv --target y -o m1.ann
printf 'a,b,y\n1,2,3\n4,5,6,7\n' > ragged2.csv
expect_error "ragged row (long)" "ragged2.csv:3:4: ragged row" "$ann" fit ragged2.csv --target y -o m1.ann
printf 'a,b,y\n1,2,3\n4,abc,6\n' > nonnum.csv
expect_error "non-numeric cell" "nonnum.csv:3:2: column 'b': 'abc' is not a number" \
    "$ann" fit nonnum.csv --target y -o m1.ann
printf 'a,b,y\n1,,3\n' > emptycell.csv
expect_error "empty cell" "emptycell.csv:2:2:" "$ann" fit emptycell.csv --target y -o m1.ann
printf 'a,b,y\n1,nan,3\n' > nan.csv
expect_error "NaN cell" "nan.csv:2:2: .*not a finite number" "$ann" fit nan.csv --target y -o m1.ann
expect_error "missing target column" "data.csv:1: target column 'price' not found" \
    "$ann" fit data.csv --target price -o m1.ann
: > empty.csv
expect_error "empty input" "empty.csv:1:1: empty input" "$ann" fit empty.csv --target y -o m1.ann
expect_error "empty stdin" "<stdin>:1:1: empty input" sh -c "\"$ann\" fit --target y -o m1.ann < /dev/null"
expect_error "header only" "header.csv:2: no data rows" "$ann" fit header.csv --target y -o m1.ann
printf 'a,b,y\n1,2,0.5\n' > badlabel.csv
expect_error "non-integer class label" "badlabel.csv:2: target 'y' = 0.5" \
    "$ann" fit badlabel.csv --target y --classify -o m1.ann
check "no model written by any failed fit" 'test ! -e m1.ann && ! ls m1.ann.tmp* >/dev/null 2>&1'
{ cat reg.csv; echo "1,2,oops,4"; } > late_bad.csv
expect_error "predict: bad cell after many rows" "late_bad.csv:602:3:" \
    "$ann" predict reg.ann late_bad.csv --target y -o out.csv
expect_error "predict: empty input" "empty input" "$ann" predict reg.ann empty.csv -o out.csv
printf 'a,b,c\n1,2,3\n4,5\n' > ragged3.csv
expect_error "predict: ragged" "ragged3.csv:3:3:" "$ann" predict reg.ann ragged3.csv -o out.csv
check "no partial predict output" 'test ! -e out.csv && ! ls out.csv.tmp* >/dev/null 2>&1'
expect_error "predict: wrong column count" "5 input columns, the model expects 3" \
    "$ann" predict reg.ann data.csv -o out.csv
expect_error "eval: missing target" "target column 'zzz' not found" "$ann" eval reg.ann reg.csv --target zzz
expect_error "eval: non-numeric" "nonnum.csv:3:2:" "$ann" eval reg.ann nonnum.csv --target y
expect_error "not a model file" "data.csv:" "$ann" info data.csv
expect_error "missing model file" "nope.ann:" "$ann" info nope.ann
expect_error "unknown option" "unknown option '--bogus'" "$ann" fit data.csv --bogus 1
expect_error "unknown activation" "unknown activation 'swish'" "$ann" fit data.csv --target y --activation swish -o m1.ann
expect_error "bad parameter value" "lr" "$ann" fit data.csv --target y --lr -1 -o m1.ann
expect_error "unknown command" "unknown command 'train'" "$ann" train

echo "1..$n"
echo "summary: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
