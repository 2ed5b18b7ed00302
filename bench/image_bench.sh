#!/bin/sh
# image_bench.sh - mmdx (C) against a pydicom + numpy baseline doing the same
# work (read, decode, rescale, ROI HU >= -500, FBN 32, 18 intensity
# statistics, 25 GLCM features of one 13-direction matrix), side by side in
# one run. Also: JPEG-LS and JPEG 2000 slices, where the features' cost is
# compared with the decoding cost. Each side reports the median of its
# repetitions (21 per slice, 5 for the volume) of process CPU time; the
# ratio is taken within the same run.
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
$PY - "$SLICE" "$T/vol" <<'PYEOF'
import os, sys
import numpy as np
import pydicom
from pydicom.uid import generate_uid
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
base = pydicom.dcmread(src)
arr = base.pixel_array.astype(np.int16)
series = generate_uid()
for k in range(100):
    d = pydicom.dcmread(src)
    a = np.roll(arr, k, axis=1) + np.int16(k % 7)
    d.BitsStored, d.HighBit = 16, 15
    d.PixelData = a.astype("<i2").tobytes()
    d.ImagePositionPatient = [0.0, 0.0, float(k)]
    d.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    d.InstanceNumber = k + 1
    d.SeriesInstanceUID = series
    d.SOPInstanceUID = generate_uid()
    d.save_as(os.path.join(out, f"{k:03d}.dcm"))
PYEOF

run() { # name path reps
    c=$("$T/image_bench" "$2" "$3")
    p=$($PY "$S/image_bench_numpy.py" "$2" "$3" 2>/dev/null || echo "load_ms NA features_ms NA total_ms NA checksum NA")
    echo "$1 mmdx:  $c"
    echo "$1 numpy: $p"
    echo "$c" "$p" | awk -v n="$1" '{ if ($14 != "NA") printf "%s total speed-up %.1fx (mmdx %.2f ms, numpy %.2f ms); mmdx features/decode %.0f%%\n", n, $14/$6, $6, $14, 100*$4/$2; else printf "%s mmdx features/decode %.0f%% (numpy baseline cannot decode)\n", n, 100*$4/$2 }'
}
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
run "512x512 CT slice (uncompressed)" "$SLICE" 21
run "512x512 CT slice (JPEG-LS)" "$T/slice_jls.dcm" 21
run "512x512 CT slice (JPEG 2000)" "$J2K" 21
run "512x512x100 CT volume" "$T/vol" 5
