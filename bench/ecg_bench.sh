#!/bin/sh
# ecg_bench.sh - mmdx's ECG path vs MNE-Python's find_ecg_events on the same
# lead (MLII) of the same 30-minute MIT-BIH record, in one run.
#   cd build && make bench/ecg_bench && ../bench/ecg_bench.sh [RECORD] [REPS]
# RECORD defaults to the shared MIT-BIH 208; needs python3-mne for the
# baseline (apt-get install python3-mne). Medians over REPS runs.
set -e
here=$(cd "$(dirname "$0")" && pwd)
rec=${1:-$here/../../shared/data/ecg/mitdb/208}
reps=${2:-5}
bin=${ECG_BENCH:-./bench/ecg_bench}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# record $(basename "$rec"), lead MLII, $(nproc) cpu(s), load $(cut -d' ' -f1 /proc/loadavg)"
"$bin" "$rec" --reps "$reps" 2>/dev/null | tee "$tmp/mmdx.tsv"
if /usr/bin/python3 -c 'import mne' 2>/dev/null; then
    /usr/bin/python3 "$here/ecg_mne.py" "$rec" "$tmp/mne_beats.tsv" 3 \
        | tee "$tmp/mne.tsv"
    m=$(awk -F'\t' '$1=="detect"{print $4}' "$tmp/mmdx.tsv")
    f=$(awk -F'\t' '$1=="detect_and_features"{print $4}' "$tmp/mmdx.tsv")
    b=$(cut -f4 "$tmp/mne.tsv")
    awk -v m="$m" -v f="$f" -v b="$b" 'BEGIN {
        printf "ratio\tdetect/mne\t%.1f\n", m / b
        printf "ratio\tdetect_and_features/mne\t%.1f\n", f / b }'
    printf 'mne_accuracy\t'
    "$bin" "$rec" --score "$tmp/mne_beats.tsv"
else
    echo "# python3-mne not installed: no baseline"
fi
