#!/bin/sh
# ecg_identical.sh - for speed work that must not change results: dump
# every ECG lead's beats (detector alone and inside the analysis),
# quality windows and ecg.* features/flags at %.17g (ecg_bench --dump),
# plus `mmdx ecg-eval` on the MIT-BIH records, for every shared and sample
# ECG file, into OUTDIR; with a second directory, diff the two.
#   cd build && make bench/ecg_bench
#   sh ../bench/ecg_identical.sh before          # on the old code
#   sh ../bench/ecg_identical.sh after before    # on the new code: diff
set -e
here=$(cd "$(dirname "$0")" && pwd)
data=${MMDX_DATA:-$here/../../shared/data}
bin=${ECG_BENCH:-./bench/ecg_bench}
out=${1:?usage: ecg_identical.sh OUTDIR [REFDIR]}
mkdir -p "$out"
n=0
for f in "$data"/ecg/mitdb/*.hea "$data"/ecg/ptbdb/*.hea \
         "$data"/ecg/wfdb-formats/*.hea "$data"/ecg/aecg/*.xml \
         "$data"/ecg/philips/*.XML "$data"/ecg/philips/*.xml \
         "$data"/ecg/dicom-waveform/*.dcm \
         "$here"/../samples/synthetic/*/ecg.hea \
         "$here"/../tests/data/wfdb-multiseg/?seg.hea; do
    [ -f "$f" ] || continue
    name=$(echo "$f" | sed 's|.*/\([^/]*/[^/]*\)$|\1|; s|/|_|g')
    "$bin" "$f" --dump >"$out/$name.tsv" 2>/dev/null || echo "exit $?" >>"$out/$name.tsv"
    n=$((n + 1))
done
./mmdx ecg-eval "$data"/ecg/mitdb/103 "$data"/ecg/mitdb/105 \
    "$data"/ecg/mitdb/106 "$data"/ecg/mitdb/208 >"$out/ecg-eval.txt" 2>&1
echo "$n files dumped to $out"
if [ -n "$2" ]; then
    if diff -r "$2" "$out" >"$out.diff"; then
        echo "identical to $2 ($(cat "$out"/*.tsv | wc -l) lines)"
    else
        echo "DIFFERENT from $2: $(wc -l <"$out.diff") diff lines in $out.diff"
        exit 1
    fi
fi
