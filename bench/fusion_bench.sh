#!/bin/sh
# fusion_bench.sh - `mmdx train` / `mmdx predict` side by side with
# scikit-learn (MLPClassifier, LogisticRegression) on the same synthetic
# cohort: 20,000 patients x 150 features (bench/fusion_synth.h), test AUROC
# against the Bayes optimum, whole-process time of each tool, and applying
# a model to 1,000,000 patients.
#
#   bench/fusion_bench.sh BUILD_DIR [WORK_DIR] [RUNS]
#
# BUILD_DIR holds mmdx and bench/fusion_gen (make check builds it). Every
# tool runs RUNS times (default 3); medians are reported. BLAS and OpenMP
# are pinned to one thread for both sides (OPENBLAS_NUM_THREADS=1,
# OMP_NUM_THREADS=1), the rest of the environment is shared. Times are
# wall clock and CPU (user + sys) of the whole process, from
# /usr/bin/time; on a loaded machine compare CPU times.
set -eu
B0=$(cd "$1" && pwd)
W=${2:-/tmp/mmdx-fusion-bench}
RUNS=${3:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$W/bin/bench"
# run copies, so that a rebuild during the benchmark cannot disturb it
cp "$B0/mmdx" "$W/bin/mmdx"
cp "$B0/bench/fusion_gen" "$W/bin/bench/fusion_gen"
B="$W/bin"

col() { awk -v c="$2" '{ print $c }' "$1" | median; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# timed OUT CMD...: run, keep stdout+stderr in OUT, append "wall cpu" to OUT.time
timed() {
    out=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$out.t" "$@" >"$out" 2>&1
    awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$out.t" >>"$out.time"
}

echo "== cohort: 20000 patients, 150 features"
"$B/bench/fusion_gen" "$W" --n 20000 --drop ecg >"$W/gen.txt"
cat "$W/gen.txt"
bayes=$(awk '$1 == "bayes_auroc" { print $2 }' "$W/gen.txt")

rm -f "$W"/*.time
i=1
while [ "$i" -le "$RUNS" ]; do
    timed "$W/mmdx_joint" "$B/mmdx" train --features "$W/features.tsv" \
        --labels "$W/labels.tsv" --out "$W/joint.mmdx" --seed "$i"
    awk '$1 == "auroc_test" { print $2 }' "$W/mmdx_joint" >>"$W/mmdx_joint.auc"
    grep -o 'train [0-9.]* s (cpu [0-9.]* s)' "$W/mmdx_joint" |
        awk '{ print $2, substr($5, 1) }' >>"$W/mmdx_joint.fit"
    timed "$W/sk_mlp" $PY "$SRC/bench/fusion_sklearn.py" "$W/features.tsv" \
        "$W/labels.tsv" --model mlp --seed "$i"
    awk '{ print $3 }' "$W/sk_mlp" >>"$W/sk_mlp.auc"
    awk '{ print $8, $11 }' "$W/sk_mlp" >>"$W/sk_mlp.fit"
    i=$((i + 1))
done
timed "$W/mmdx_early" "$B/mmdx" train --features "$W/features.tsv" \
    --labels "$W/labels.tsv" --out "$W/early.mmdx" --arch early
timed "$W/sk_lr" $PY "$SRC/bench/fusion_sklearn.py" "$W/features.tsv" \
    "$W/labels.tsv" --model lr

# the first epoch at which mmdx's validation AUROC reaches the AUROC
# scikit-learn's MLP reaches on the test split (a proxy for "time to the
# same AUROC"; the seconds are mmdx's training clock at that epoch)
sk_auc=$(median <"$W/sk_mlp.auc")
reach=$(awk -v t="$sk_auc" '/valid AUROC/ { for (i = 1; i <= NF; i++) { if ($i == "AUROC") a = $(i + 1); if ($i == "(cpu") c = $(i + 1) } if (a + 0 >= t + 0 && !done) { print c; done = 1 } }' "$W/mmdx_joint")

echo "== predict: 1,000,000 patients (the cohort's rows 50 times over)"
big="$W/features_1m.tsv"
if [ ! -s "$big" ]; then
    head -1 "$W/features.tsv" >"$big"
    k=1
    while [ "$k" -le 50 ]; do
        tail -n +2 "$W/features.tsv" | sed "s/^P/R${k}_/" >>"$big"
        k=$((k + 1))
    done
fi
rm -f "$W/predict.time"
i=1
while [ "$i" -le "$RUNS" ]; do
    timed "$W/predict" "$B/mmdx" predict --model "$W/joint.mmdx" \
        --features "$big" --out "$W/risks_1m.tsv"
    i=$((i + 1))
done
timed "$W/predict_drop" "$B/mmdx" predict --model "$W/joint.mmdx" \
    --features "$W/features_drop.tsv" --out "$W/risks_drop.tsv" \
    --labels "$W/labels.tsv"

mj_auc=$(median <"$W/mmdx_joint.auc")
mj_wall=$(col "$W/mmdx_joint.time" 1)
mj_cpu=$(col "$W/mmdx_joint.time" 2)
mj_fit=$(col "$W/mmdx_joint.fit" 1)
mj_fitc=$(col "$W/mmdx_joint.fit" 2)
sk_wall=$(col "$W/sk_mlp.time" 1)
sk_cpu=$(col "$W/sk_mlp.time" 2)
sk_fit=$(col "$W/sk_mlp.fit" 1)
sk_fitc=$(col "$W/sk_mlp.fit" 2)
echo
echo "== results (medians of $RUNS runs; Bayes-optimal test AUROC $bayes)"
printf '%-26s %8s %9s %9s %9s %9s\n' tool AUROC "fit s" "fit cpu" "proc s" "proc cpu"
printf '%-26s %8.4f %9.3f %9.3f %9.3f %9.3f\n' "mmdx train (joint)" "$mj_auc" \
    "$mj_fit" "$mj_fitc" "$mj_wall" "$mj_cpu"
printf '%-26s %8.4f %9s %9s %9.3f %9.3f\n' "mmdx train --arch early" \
    "$(awk '$1 == "auroc_test" { print $2 }' "$W/mmdx_early")" - - \
    "$(col "$W/mmdx_early.time" 1)" "$(col "$W/mmdx_early.time" 2)"
printf '%-26s %8.4f %9.3f %9.3f %9.3f %9.3f\n' "sklearn MLPClassifier" "$sk_auc" \
    "$sk_fit" "$sk_fitc" "$sk_wall" "$sk_cpu"
printf '%-26s %8.4f %9.3f %9.3f %9.3f %9.3f\n' "sklearn LogisticRegression" \
    "$(awk '{ print $3 }' "$W/sk_lr")" "$(awk '{ print $8 }' "$W/sk_lr")" \
    "$(awk '{ print $11 }' "$W/sk_lr")" \
    "$(col "$W/sk_lr.time" 1)" "$(col "$W/sk_lr.time" 2)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
echo "joint gap to Bayes: $(awk -v a="$mj_auc" -v b="$bayes" 'BEGIN { printf "%.4f", b - a }')"
echo "whole process (python load+fit vs mmdx train incl. TSV read), sklearn MLP / mmdx: wall x$(ratio "$sk_wall" "$mj_wall"), cpu x$(ratio "$sk_cpu" "$mj_cpu")"
echo "fit only, sklearn MLP / mmdx: wall x$(ratio "$sk_fit" "$mj_fit"), cpu x$(ratio "$sk_fitc" "$mj_fitc")"
echo "mmdx's validation AUROC first reached sklearn's test AUROC $sk_auc after ${reach:-n/a} s of training CPU (cpu ratio x$(ratio "$sk_fitc" "${reach:-1e9}"))"
echo "predict 1,000,000 patients (read + score + contributions + write): wall $(col "$W/predict.time" 1) s, cpu $(col "$W/predict.time" 2) s"
echo "without ecg at test time: $(grep '^auroc' "$W/predict_drop" | tr '\t' ' ') (Bayes without ecg $(awk '$1 == "bayes_auroc_without_ecg" { print $2 }' "$W/gen.txt"))"
