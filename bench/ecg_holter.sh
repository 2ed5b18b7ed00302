#!/bin/sh
# ecg_holter.sh - a 24-hour 2-lead record (MIT-BIH 103 repeated 48 times,
# format 212, 31.2 M frames, 94 MB) through `mmdx features`: CPU time and
# peak memory show that long records stream (load.ecg reads records above
# 8 M samples lazily) instead of being loaded.
#   cd build && ../bench/ecg_holter.sh [MITDB_DIR]
set -e
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$here/../../shared/data/ecg/mitdb}
mmdx=${MMDX:-./mmdx}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ $i -lt 48 ]; do cat "$src/103.dat" >> "$tmp/h24.dat"; i=$((i + 1)); done
# checksums 0: not verified on the lazy path
printf 'h24 2 360 31200000\nh24.dat 212 200 11 1024 949 0 0 MLII\nh24.dat 212 200 11 1024 1034 0 0 V2\n' > "$tmp/h24.hea"
/usr/bin/time -v "$mmdx" features "$tmp/h24.hea" 2>"$tmp/time.txt" \
    | grep -E 'beats_n|hr_bpm'
grep -E 'User time|Elapsed|Maximum resident' "$tmp/time.txt"
echo "expected beats: 48 x 2084 = 100032 (103 has 2084 annotated beats)"
