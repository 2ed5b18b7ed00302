#!/bin/sh
# report_cost.sh - what the report stage costs per patient against the
# loading + feature extraction it reports on, measured in the same run.
#
#   sh bench/report_cost.sh [BUILDDIR] [N] [REPEATS]
#
# Synthesises N patients (default 40; 5-minute ECG, 1-minute EEG, 8 CT
# slices of 256 px), then alternates REPEATS times (default 3, one worker
# each) between the default pipeline and the default pipeline plus the
# report stage, and prints the medians: seconds per patient for features,
# for features + report, the report's share and the ratio report/features.
set -e
B=${1:-build}
N=${2:-40}
R=${3:-3}
MMDX="$B/mmdx"
SRC=$(cd "$(dirname "$0")/.." && pwd)
export MMDX_DATADIR="$SRC"
T=$(mktemp -d /tmp/mmdx-bench-report-XXXXXX)
trap 'rm -rf "$T"' EXIT

"$MMDX" synth --n "$N" --seed 1 --out "$T/c" --ecg-seconds 300 \
    --eeg-seconds 60 --image-slices 8 --image-size 256 --mc 300 >/dev/null
sed 's|</pipeline>|  <stage name="report"/>\n</pipeline>|' \
    "$SRC/pipelines/default.xml" >"$T/rep.xml"

now() { date +%s.%N; }
i=0
: >"$T/feat"
: >"$T/both"
while [ $i -lt "$R" ]; do
    rm -rf "$T/o"
    t0=$(now)
    "$MMDX" run "$SRC/pipelines/default.xml" --cohort "$T/c/manifest.tsv" \
        --out "$T/o" --jobs 1 -q >/dev/null 2>&1 || true
    t1=$(now)
    rm -rf "$T/o"
    "$MMDX" run "$T/rep.xml" --cohort "$T/c/manifest.tsv" --out "$T/o" \
        --jobs 1 -q >/dev/null 2>&1 || true
    t2=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >>"$T/feat"
    awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }' >>"$T/both"
    i=$((i + 1))
done
med() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
F=$(med "$T/feat")
A=$(med "$T/both")
awk -v f="$F" -v a="$A" -v n="$N" -v r="$R" 'BEGIN {
    printf "patients\t%d\nrepeats\t%d\n", n, r;
    printf "features_s_per_patient\t%.4f\n", f / n;
    printf "features_plus_report_s_per_patient\t%.4f\n", a / n;
    printf "report_s_per_patient\t%.4f\n", (a - f) / n;
    printf "report_over_features\t%.3f\n", (a - f) / f;
}'
du -sh "$T/o/patients" | awk '{ print "report_output_size\t" $1 }'
