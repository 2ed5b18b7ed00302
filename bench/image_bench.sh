#!/bin/sh
# image_bench.sh - mmdx (C) against a pydicom + numpy baseline doing the same
# work (read, decode, rescale, ROI HU >= -500, FBN 32, 18 intensity
# statistics, 25 GLCM features of one 13-direction matrix), side by side in
# one run. Also: JPEG-LS and JPEG 2000 slices, where the features' cost is
# compared with the decoding cost. Each side reports the median of its
# repetitions (21 per slice, 5 for the volume) of process CPU time; the
# ratio is taken within the same run (per round; see run() below).
#
# usage: bench/image_bench.sh BUILD_DIR [SHARED_DATA_DIR]
# needs: python3-pydicom, python3-numpy, dcmtk (dcmcjpls), a built tree.
set -eu
B=${1:?usage: image_bench.sh BUILD_DIR [SHARED_DATA]}
D=${2:-$(dirname "$0")/../../shared/data}
S=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/mmdx-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3

gcc -std=c11 -O2 -I"$S/.." -I"$S/../include" -I"$S/../src" -I"$B" \
    -o "$T/image_bench" "$S/image_bench.c" "$B/.libs/libmmdx_int.a" \
    $(pkg-config --libs libxml-2.0 openblas libcrypto libopenjp2 kissfft-float zlib) \
    -ldcmimage -ldcmimgle -ldcmjpeg -ldcmjpls -ldcmdata -loflog -lofstd \
    -lstdc++ -lm -lpthread

SLICE="$D/dicom/693_UNCI.dcm"
dcmcjpls "$SLICE" "$T/slice_jls.dcm"
J2K="$D/dicom/693_J2KR.dcm"
# a 512x512x100 CT series made from the slice (shifted, offset per slice)
$PY "$S/ct_series.py" "$SLICE" "$T/vol" 100

# One case: ROUNDS rounds, each running mmdx, the tuned numpy baseline and
# (slices) the plain one back to back, so that all sides sample the same
# state of this shared machine; each round gives ratios of its medians,
# and the medians of the rounds' figures are reported.
ROUNDS=${ROUNDS:-5}
med() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "NA" }'; }
run() { # name path reps rounds plain(0/1)
    : > "$T/rows"
    i=0
    while [ "$i" -lt "$4" ]; do
        c=$("$T/image_bench" "$2" "$3")
        p=$($PY "$S/image_bench_numpy.py" "$2" "$3" 2>/dev/null || echo "load_ms NA features_ms NA total_ms NA checksum NA")
        q="load_ms NA features_ms NA total_ms NA checksum NA"
        [ "$5" = 1 ] && q=$($PY "$S/image_bench_numpy.py" --plain "$2" "$3" 2>/dev/null || echo "$q")
        echo "$1 round $((i + 1)) mmdx:  $c"
        echo "$1 round $((i + 1)) numpy: $p"
        [ "$5" = 1 ] && echo "$1 round $((i + 1)) numpy (plain powers): $q"
        echo "$c $p $q" >> "$T/rows"
        i=$((i + 1))
    done
    # fields: mmdx 2 load 4 features 6 total; numpy 14 total; plain 22
    mt=$(awk '{ print $6 }' "$T/rows" | med)
    fd=$(awk '{ print 100 * $4 / $2 }' "$T/rows" | med)
    if [ "$(awk 'NR == 1 { print $14 }' "$T/rows")" = NA ]; then
        echo "$1: mmdx $mt ms; features/decode $(printf %.0f "$fd")% (numpy baseline cannot decode); medians of $4 rounds"
        return
    fi
    nt=$(awk '{ print $14 }' "$T/rows" | med)
    r=$(awk '{ print $14 / $6 }' "$T/rows" | med)
    rs=$(awk '{ printf "%.1f ", $14 / $6 }' "$T/rows")
    line="$1: total speed-up $(printf %.1f "$r")x (rounds: ${rs% }; mmdx $mt ms, numpy $nt ms)"
    if [ "$5" = 1 ] && [ "$(awk 'NR == 1 { print $22 }' "$T/rows")" != NA ]; then
        pt=$(awk '{ print $22 }' "$T/rows" | med)
        pr=$(awk '{ print $22 / $6 }' "$T/rows" | med)
        line="$line; against plain-powers numpy ($pt ms) $(printf %.1f "$pr")x"
    fi
    echo "$line; mmdx features/decode $(printf %.0f "$fd")%; medians of $4 rounds"
}
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
run "512x512 CT slice (uncompressed)" "$SLICE" 21 "$ROUNDS" 1
run "512x512 CT slice (JPEG-LS)" "$T/slice_jls.dcm" 21 "$ROUNDS" 0
run "512x512 CT slice (JPEG 2000)" "$J2K" 21 "$ROUNDS" 0
run "512x512x100 CT volume" "$T/vol" 5 1 0
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
