#!/usr/bin/python3
"""Cross-check mmdx's DICOM loader against pydicom on shared/data/dicom.

For every file, mmdx's voxels (dumped by dicom_dump as float32) are compared
with pydicom's pixel_array after the modality LUT and MONOCHROME1 inversion
(pydicom decodes JPEG/JPEG 2000 through Pillow). Lossless codecs must agree
exactly; lossy ones are compared with their decoded pydicom array when
pydicom can decode them, else with the uncompressed twin within a tolerance.

usage: dicom_crosscheck.py DICOM_DUMP_PROGRAM DATA_DIR
Prints one line per file and exits 1 on any mismatch.
"""
import os
import subprocess
import sys

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut

dump, data = sys.argv[1], sys.argv[2]

# compressed file -> uncompressed twin with the same pixels (exact when
# lossless)
TWINS = {
    "MR_small_jpeg_ls_lossless.dcm": "MR_small.dcm",
    "MR_small_jp2klossless.dcm": "MR_small.dcm",
    "emri_small_jpeg_ls_lossless.dcm": "emri_small.dcm",
    "emri_small_jpeg_2k_lossless.dcm": "emri_small.dcm",
    "emri_small_RLE.dcm": "emri_small.dcm",
    # 693_UNCI/693_J2KR and JPEG2000_UNC/JPEG-LL are NOT pixel-identical
    # pairs (checked: they differ in most pixels), so they are not twins.
    "JLSL_16_15_1_1F.dcm": None,
}


def mmdx_load(path):
    out = "/tmp/mmdx-crosscheck.f32"
    r = subprocess.run([dump, path, out], capture_output=True, text=True)
    if r.returncode:
        return None, r.stdout.strip()
    nx, ny, nz, nc = (int(v) for v in r.stdout.split()[:4])
    a = np.fromfile(out, dtype=np.float32).reshape(nz, ny, nx, nc)
    return a, None


def reference(path):
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    fg = ds.get("PerFrameFunctionalGroupsSequence")
    if fg and len(fg) > 1 and "PlanePositionSequence" in fg[0]:
        # mmdx keeps monotonic frame order; reverse when it descends along
        # the normal so that both are in the same order
        o = np.array(ds.SharedFunctionalGroupsSequence[0]
                     .PlaneOrientationSequence[0].ImageOrientationPatient
                     if "PlaneOrientationSequence" in
                     ds.SharedFunctionalGroupsSequence[0] else
                     fg[0].PlaneOrientationSequence[0]
                     .ImageOrientationPatient, float)
        n = np.cross(o[:3], o[3:])
        k = [float(np.dot(n, np.array(f.PlanePositionSequence[0]
                                      .ImagePositionPatient, float)))
             for f in fg]
        if not (all(a < b for a, b in zip(k, k[1:])) or
                all(a > b for a, b in zip(k, k[1:]))):
            arr = arr[np.argsort(k)]
    nf = int(getattr(ds, "NumberOfFrames", 1) or 1)
    spp = int(getattr(ds, "SamplesPerPixel", 1))
    pi = ds.PhotometricInterpretation
    if pi == "PALETTE COLOR":
        from pydicom.pixel_data_handlers.util import apply_color_lut
        arr = apply_color_lut(arr, ds).astype(np.float64)
        spp = 3
    elif spp == 3:
        if pi.startswith("YBR") and ds.file_meta.TransferSyntaxUID in (
                "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5"):
            from pydicom.pixel_data_handlers.util import convert_color_space
            arr = convert_color_space(arr, pi, "RGB")
        arr = arr.astype(np.float64)
    else:
        # pydicom 2.3 does not sign-extend signed data with BitsStored <
        # BitsAllocated; DICOM says the stored value has BitsStored bits.
        bs, ba = int(ds.BitsStored), int(ds.BitsAllocated)
        if int(ds.PixelRepresentation) and bs < ba:
            v = arr.astype(np.int64) & ((1 << bs) - 1)
            arr = np.where(v >> (bs - 1), v - (1 << bs), v)
        if "PerFrameFunctionalGroupsSequence" in ds or \
                "SharedFunctionalGroupsSequence" in ds:
            # Enhanced objects: rescale in the functional groups
            sl, ic = 1.0, 0.0
            sh = ds.get("SharedFunctionalGroupsSequence")
            if sh and "PixelValueTransformationSequence" in sh[0]:
                t = sh[0].PixelValueTransformationSequence[0]
                sl, ic = float(t.RescaleSlope), float(t.RescaleIntercept)
            arr = arr.astype(np.float64) * sl + ic
        else:
            arr = apply_modality_lut(arr, ds).astype(np.float64)
        if pi == "MONOCHROME1":
            bs = int(ds.BitsStored)
            if int(ds.PixelRepresentation):
                lo, hi = -(2 ** (bs - 1)), 2 ** (bs - 1) - 1
            else:
                lo, hi = 0, 2 ** bs - 1
            s = float(getattr(ds, "RescaleSlope", 1))
            i = float(getattr(ds, "RescaleIntercept", 0))
            arr = (lo * s + i) + (hi * s + i) - arr
    return arr.reshape(nf, int(ds.Rows), int(ds.Columns), spp)


bad = 0
names = sorted(n for n in os.listdir(data) if n.endswith(".dcm"))
for name in names:
    path = os.path.join(data, name)
    got, err = mmdx_load(path)
    if got is None:
        print(f"FAIL {name}: mmdx error: {err}")
        bad += 1
        continue
    ts = str(pydicom.dcmread(path, stop_before_pixels=True)
             .file_meta.TransferSyntaxUID)
    lossy = ts in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
                   "1.2.840.10008.1.2.4.91")
    ref_name = name
    # JPEG and JPEG-LS: pydicom 2.3 needs plugins this machine lacks (and
    # Pillow's colour handling differs), so decode with DCMTK's command
    # line tools into an uncompressed file that pydicom then reads.
    tool = {"1.2.840.10008.1.2.4.50": "dcmdjpeg",
            "1.2.840.10008.1.2.4.51": "dcmdjpeg",
            "1.2.840.10008.1.2.4.57": "dcmdjpeg",
            "1.2.840.10008.1.2.4.70": "dcmdjpeg",
            "1.2.840.10008.1.2.4.80": "dcmdjpls",
            "1.2.840.10008.1.2.4.81": "dcmdjpls"}.get(ts)
    try:
        if tool:
            tmp = "/tmp/mmdx-crosscheck-ref.dcm"
            subprocess.run([tool, path, tmp], check=True)
            ref = reference(tmp)
            ref_name = f"{tool}({name})"
        else:
            ref = reference(path)
    except Exception as e:  # nothing decodes it: use the twin
        if name not in TWINS or TWINS[name] is None:
            print(f"SKIP {name}: no reference decoder ({type(e).__name__})")
            continue
        ref_name = TWINS[name]
        ref = reference(os.path.join(data, ref_name))
    if name in TWINS and TWINS[name] and ref_name != TWINS[name]:
        twin = reference(os.path.join(data, TWINS[name]))
        if twin.shape == got.shape:
            d = np.abs(twin - got.astype(np.float64)).max()
            print(f"     {name}: against uncompressed twin {TWINS[name]}: "
                  f"max|diff| {d:.4g}")
    if ref.shape != got.shape:
        print(f"FAIL {name}: shape {got.shape} vs pydicom {ref.shape}")
        bad += 1
        continue
    diff = np.abs(ref - got.astype(np.float64))
    tol = 2.0 if lossy else 1e-3 * max(1.0, float(np.abs(ref).max()) * 1e-4)
    # lossy JPEG: decoders may round differently (IDCT); mean must agree
    ok = (diff.max() <= tol) if not lossy else (diff.mean() <= tol)
    print(f"{'OK  ' if ok else 'FAIL'} {name}: {got.shape} vs pydicom "
          f"{ref_name} max|diff| {diff.max():.4g} mean {diff.mean():.3g}"
          f"{' (lossy)' if lossy else ''}")
    bad += not ok
for sub in ("series_CT2",):
    d = os.path.join(data, sub)
    got, err = mmdx_load(d)
    files = [pydicom.dcmread(os.path.join(d, n)) for n in sorted(os.listdir(d))]
    nrm = np.cross(np.array(files[0].ImageOrientationPatient[:3], float),
                   np.array(files[0].ImageOrientationPatient[3:], float))
    files.sort(key=lambda ds: float(np.dot(nrm, np.array(
        ds.ImagePositionPatient, float))))
    ref = np.stack([apply_modality_lut(ds.pixel_array, ds) for ds in files])
    ok = got is not None and np.abs(ref - got[..., 0]).max() == 0
    print(f"{'OK  ' if ok else 'FAIL'} {sub}/ (series of {len(files)})")
    bad += not ok
print(f"{len(names) + 1 - bad} agree, {bad} differ")
sys.exit(1 if bad else 0)
