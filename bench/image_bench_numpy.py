#!/usr/bin/python3
"""Baseline for bench/image_bench.c: the same work with pydicom + numpy.

Read + decode + rescale (pydicom), ROI = HU >= -500, FBN 32 bins over the
ROI's [min, max], the 18 IBSI intensity statistics and the 25 GLCM
features of one symmetric matrix merged over the 13 3D directions
(Chebyshev distance 1).
usage: image_bench_numpy.py [--plain] FILE|DIR REPEATS
prints: "load_ms M features_ms M total_ms M checksum C" (medians of
process CPU time, like the C side: the machine is shared).
"""
import os
import sys
import time

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut

DIRS = [(1, 0, 0), (0, 1, 0), (1, 1, 0), (1, -1, 0), (0, 0, 1), (1, 0, 1),
        (1, 0, -1), (0, 1, 1), (0, 1, -1), (1, 1, 1), (1, 1, -1), (1, -1, 1),
        (1, -1, -1)]


def load(path):
    if os.path.isdir(path):
        dss = [pydicom.dcmread(os.path.join(path, n))
               for n in sorted(os.listdir(path))]
        o = np.array(dss[0].ImageOrientationPatient, float)
        nrm = np.cross(o[:3], o[3:])
        dss.sort(key=lambda d: float(np.dot(nrm, np.array(
            d.ImagePositionPatient, float))))
        return np.stack([apply_modality_lut(d.pixel_array, d)
                         .astype(np.float32) for d in dss])
    d = pydicom.dcmread(path)
    return apply_modality_lut(d.pixel_array, d).astype(np.float32)[None]


PLAIN = False  # --plain: powers written d ** 3, d ** 4 (see first_order)


def first_order(x):
    # third and fourth powers by multiplication: on float32 arrays numpy's
    # d ** 3 and d ** 4 call powf per element (~7 ms each on a CT slice,
    # 200 times d * d * d), which would make this baseline slow for no
    # reason. --plain keeps the powers as most people write them (the
    # "straightforward" baseline; reported beside the tuned one)
    m = x.mean()
    d = x - m
    d2 = d * d
    m2 = d2.mean()
    if PLAIN:
        p10, p25, p50, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
        r = x[(x >= p10) & (x <= p90)]
        return [m, (d ** 2).mean(), (d ** 3).mean() / m2 ** 1.5,
                (d ** 4).mean() / m2 ** 2 - 3, p50, x.min(), p10, p90,
                x.max(), p75 - p25, x.max() - x.min(), np.abs(d).mean(),
                np.abs(r - r.mean()).mean(), np.abs(x - p50).mean(),
                np.sqrt(m2) / m, (p75 - p25) / (p75 + p25),
                (x.astype(np.float64) ** 2).sum(),
                np.sqrt((x.astype(np.float64) ** 2).mean())]
    p10, p25, p50, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    r = x[(x >= p10) & (x <= p90)]
    return [m, m2, (d2 * d).mean() / m2 ** 1.5, (d2 * d2).mean() / m2 ** 2 - 3,
            p50, x.min(), p10, p90, x.max(), p75 - p25, x.max() - x.min(),
            np.abs(d).mean(), np.abs(r - r.mean()).mean(),
            np.abs(x - p50).mean(), np.sqrt(m2) / m,
            (p75 - p25) / (p75 + p25), (x.astype(np.float64) ** 2).sum(),
            np.sqrt((x.astype(np.float64) ** 2).mean())]


def glcm(q, ng):
    cnt = np.zeros(ng * ng, np.float64)
    nz, ny, nx = q.shape
    for dx, dy, dz in DIRS:
        z0, z1 = max(0, -dz), nz - max(0, dz)
        y0, y1 = max(0, -dy), ny - max(0, dy)
        x0, x1 = max(0, -dx), nx - max(0, dx)
        if z1 <= z0 or y1 <= y0 or x1 <= x0:
            continue
        a = q[z0:z1, y0:y1, x0:x1]
        b = q[z0 + dz:z1 + dz, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        k = (a > 0) & (b > 0)
        cnt += np.bincount(((a[k] - 1) * ng + (b[k] - 1)).ravel(),
                           minlength=ng * ng)
    m = cnt.reshape(ng, ng)
    m = m + m.T
    p = m / m.sum()
    i = np.arange(1, ng + 1, dtype=np.float64)[:, None]
    j = i.T
    pi = p.sum(1)
    mu = (i[:, 0] * pi).sum()
    var = ((i[:, 0] - mu) ** 2 * pi).sum()
    nzp = p[p > 0]
    hxy = -(nzp * np.log2(nzp)).sum()
    dd = np.abs(i - j)
    pd = np.bincount(dd.astype(int).ravel(), weights=p.ravel(), minlength=ng)
    ps = np.bincount((i + j - 2).astype(int).ravel(), weights=p.ravel(),
                     minlength=2 * ng - 1)
    k = np.arange(ng)
    ks = np.arange(2, 2 * ng + 1)
    da = (k * pd).sum()
    sa = (ks * ps).sum()
    ent = lambda v: -(v[v > 0] * np.log2(v[v > 0])).sum()
    pp = pi[:, None] * pi[None, :]
    hxy1 = -(p[pp > 0] * np.log2(pp[pp > 0])).sum()
    hxy2 = ent(pp.ravel())
    hx = ent(pi)
    c = i + j - 2 * mu
    off = dd > 0
    return [p.max(), mu, ((i - mu) ** 2 * p).sum(), hxy, da,
            ((k - da) ** 2 * pd).sum(), ent(pd), sa, ((ks - sa) ** 2 * ps).sum(),
            ent(ps), (p * p).sum(), (dd ** 2 * p).sum(), (dd * p).sum(),
            (p / (1 + dd)).sum(), (p / (1 + dd / ng)).sum(),
            (p / (1 + dd ** 2)).sum(), (p / (1 + dd ** 2 / ng ** 2)).sum(),
            (p[off] / dd[off] ** 2).sum(),
            ((i - mu) * (j - mu) * p).sum() / var, (i * j * p).sum(),
            (c ** 2 * p).sum(), (c ** 3 * p).sum(), (c ** 4 * p).sum(),
            (hxy - hxy1) / hx, np.sqrt(max(0.0, 1 - np.exp(-2 * (hxy2 - hxy))))]


def main():
    global PLAIN
    args = sys.argv[1:]
    if args and args[0] == "--plain":
        PLAIN = True
        args = args[1:]
    path, reps = args[0], int(args[1])
    tl, tf, tt = [], [], []
    acc = 0.0
    for _ in range(reps):
        t0 = time.process_time()
        img = load(path)
        t1 = time.process_time()
        roi = img >= -500
        x = img[roi]
        mn, mx = x.min(), x.max()
        q = np.zeros(img.shape, np.int64)
        lv = np.floor(32 * (x - mn) / (mx - mn)).astype(np.int64) + 1
        q[roi] = np.minimum(lv, 32)
        f = first_order(x) + glcm(q, int(q.max()))
        t2 = time.process_time()
        acc += float(np.nansum(f))
        tl.append((t1 - t0) * 1e3)
        tf.append((t2 - t1) * 1e3)
        tt.append((t2 - t0) * 1e3)
    med = lambda v: sorted(v)[len(v) // 2]
    print(f"load_ms {med(tl):.3f} features_ms {med(tf):.3f} "
          f"total_ms {med(tt):.3f} checksum {acc / reps:.6g}")


main()
