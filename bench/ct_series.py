#!/usr/bin/python3
"""Write an N-slice CT series made from one slice, for the image benches.

usage: ct_series.py SLICE.dcm OUT_DIR N
Slice k is the source slice shifted k columns with k % 7 HU added, stored
as 16-bit signed values, k mm along the normal of an axial orientation,
InstanceNumber k + 1, all in one new series.
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.uid import generate_uid

src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out)
arr = pydicom.dcmread(src).pixel_array.astype(np.int16)
series = generate_uid()
for k in range(n):
    d = pydicom.dcmread(src)
    d.BitsStored, d.HighBit = 16, 15
    d.PixelData = (np.roll(arr, k, axis=1) + np.int16(k % 7)).astype("<i2").tobytes()
    d.ImagePositionPatient = [0.0, 0.0, float(k)]
    d.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    d.InstanceNumber = k + 1
    d.SeriesInstanceUID = series
    d.SOPInstanceUID = generate_uid()
    d.save_as(os.path.join(out, f"{k:03d}.dcm"))
