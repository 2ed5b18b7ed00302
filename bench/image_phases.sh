#!/bin/sh
# image_phases.sh - the image path's phases of one or more builds, one
# after the other (bench/image_phases.c): DICOM load of the CT slice,
# threshold ROI, the bench's features (statistics + GLCM), and GLRLM and
# the zone families on a 10-slice CT made from the slice. Fastest and
# median thread CPU times; compare builds run in the same sitting.
#
# usage: bench/image_phases.sh BUILD_DIR [BUILD_DIR...]   (SHARED_DATA:
#        ../shared/data by default, or $MMDX_SHARED_DATA)
# needs: python3-pydicom, python3-numpy (to write the 10-slice CT).
set -eu
S=$(cd "$(dirname "$0")" && pwd)
D=${MMDX_SHARED_DATA:-$S/../../shared/data}
T=$(mktemp -d /tmp/mmdx-phases-XXXXXX)
trap 'rm -rf "$T"' EXIT
SLICE="$D/dicom/693_UNCI.dcm"
/usr/bin/python3 "$S/ct_series.py" "$SLICE" "$T/vol" 10
for B in "$@"; do
    B=$(cd "$B" && pwd)
    gcc -std=c11 -O2 -I"$S/.." -I"$S/../include" -I"$S/../src" -I"$B" \
        -o "$T/image_phases" "$S/image_phases.c" "$B/.libs/libmmdx_int.a" \
        $(pkg-config --libs libxml-2.0 openblas libcrypto libopenjp2 kissfft-float zlib) \
        -ldcmimage -ldcmimgle -ldcmjpeg -ldcmjpls -ldcmdata -loflog -lofstd \
        -lstdc++ -lm -lpthread
    echo "== $B (load average $(cut -d' ' -f1 /proc/loadavg))"
    "$T/image_phases" load "$SLICE" 2001
    "$T/image_phases" roi "$SLICE" 2001
    "$T/image_phases" features "$SLICE" 1001 10
    "$T/image_phases" features "$T/vol" 5 16 0 1 2
    "$T/image_phases" features "$T/vol" 5 480 0 1 2
done
