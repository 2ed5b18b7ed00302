#!/usr/bin/python3
"""Compare mmdx's EEG Welch PSD and band powers with scipy.signal.welch.

Usage:
  eeg_scipy_compare.py --mmdx BUILD/mmdx --data DIR [--pipeline P]
                       [--tol 1e-4] [--write-reference TSV]

For every EDF/BDF file in DIR this script
  1. decodes the samples itself (digital -> physical in float64, volts
     converted to uV; the same formula as the EDF spec and mmdx),
  2. runs scipy.signal.welch on the channels mmdx analyses (2 s periodic
     Hann windows, 50 % overlap = nperseg // 2, constant detrend, one-sided
     density, mean of segments: pipelines/eeg-raw-psd.xml),
  3. runs `mmdx run` with that pipeline (write_psd=true, per_channel=all)
     on a cohort of the same files,
  4. compares every PSD bin and every band power (sum of bins in [lo, hi)
     times the bin width).

A bin is compared relatively when it holds at least 1e-9 of its channel's
largest bin; smaller bins (numerically zero: a constant or band-limited
channel) are compared absolutely against 1e-9 of that maximum. The run
fails (exit 1) when any relative difference exceeds --tol.

--write-reference writes the scipy band powers and a few PSD bins as the
TSV the unit test compares against (tests/data/eeg_scipy_reference.tsv).
Needs Debian's python3-numpy and python3-scipy; run with /usr/bin/python3.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from scipy import signal

BANDS = [("delta", 1, 4), ("theta", 4, 8), ("alpha", 8, 13),
         ("beta", 13, 30), ("gamma", 30, 45), ("total", 1, 45)]
VOLT = {"v": 1e6, "mv": 1e3, "uv": 1.0, "nv": 1e-3}


def read_edf(path):
    """Minimal EDF/BDF decoder: list of (label, fs, unit, float64 uV)."""
    with open(path, "rb") as f:
        raw = f.read()
    bdf = raw[0] == 0xFF
    ns = int(raw[252:256])
    nrec = int(raw[236:244])
    dur = float(raw[244:252])
    h = raw[256:256 * (ns + 1)]

    def fld(off, w):
        return [h[off * ns + i * w: off * ns + (i + 1) * w] for i in range(ns)]

    labels = [x.decode("ascii").strip() for x in fld(0, 16)]
    dims = [x.replace(b"\xb5", b"u").decode("ascii").strip()
            for x in fld(96, 8)]
    pmin = [float(x) for x in fld(104, 8)]
    pmax = [float(x) for x in fld(112, 8)]
    dmin = [float(x) for x in fld(120, 8)]
    dmax = [float(x) for x in fld(128, 8)]
    spr = [int(x) for x in fld(216, 8)]
    sb = 3 if bdf else 2
    rec_bytes = sum(spr) * sb
    data = np.frombuffer(raw, dtype=np.uint8, offset=256 * (ns + 1),
                         count=nrec * rec_bytes).reshape(nrec, rec_bytes)
    out = []
    off = 0
    for i in range(ns):
        block = data[:, off:off + spr[i] * sb].reshape(-1)
        off += spr[i] * sb
        if labels[i] in ("EDF Annotations", "BDF Annotations"):
            continue
        if bdf:
            b = block.reshape(-1, 3).astype(np.int32)
            d = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            d = np.where(d >= 1 << 23, d - (1 << 24), d).astype(np.float64)
        else:
            d = block.view("<i2").astype(np.float64)
        gain = (pmax[i] - pmin[i]) / (dmax[i] - dmin[i])
        x = (d - dmin[i]) * gain + pmin[i]
        unit = dims[i]
        if unit.lower() in VOLT:
            x = x * VOLT[unit.lower()]
            unit = "uV"
        out.append((labels[i], spr[i] / dur if dur > 0 else 0.0, unit, x))
    return out


def read_tsv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], rows[1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmdx", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--pipeline", default=None)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--write-reference", default=None)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pipe_in = a.pipeline or os.path.join(src, "pipelines", "eeg-raw-psd.xml")
    files = sorted(f for f in os.listdir(a.data)
                   if f.endswith((".edf", ".bdf")))
    worst = 0.0
    ref_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(pipe_in) as f:
            text = f.read()
        text = text.replace(
            '<param name="window" value="hann"/>',
            '<param name="window" value="hann"/>\n'
            '    <param name="write_psd" value="true"/>\n'
            '    <param name="per_channel" value="all"/>')
        pipe = os.path.join(tmp, "p.xml")
        with open(pipe, "w") as f:
            f.write(text)
        man = os.path.join(tmp, "manifest.tsv")
        with open(man, "w") as f:
            f.write("patient_id\timage\tecg\teeg\trecord\tlabel\tsplit\n")
            for i, fn in enumerate(files):
                # manifest paths are relative to the manifest's folder
                # (copies: links out of the cohort folder are refused)
                shutil.copyfile(os.path.join(a.data, fn),
                                os.path.join(tmp, fn))
                f.write("P%02d\t\t\t%s\t\t\t\n" % (i, fn))
        out = os.path.join(tmp, "out")
        r = subprocess.run([a.mmdx, "run", pipe, "--cohort", man, "--out",
                            out, "--jobs", "1", "--quiet"],
                           capture_output=True, text=True)
        if r.returncode not in (0, 3):
            sys.stderr.write(r.stderr)
            return 1
        fhead, frows = read_tsv(os.path.join(out, "features.tsv"))
        feats = {row[0]: dict(zip(fhead, row)) for row in frows}
        for i, fn in enumerate(files):
            pid = "P%02d" % i
            psd_path = os.path.join(out, "patients", pid, "eeg_psd.tsv")
            if not os.path.exists(psd_path):
                print("%-28s no EEG channel analysed (see errors.tsv)" % fn)
                continue
            head, rows = read_tsv(psd_path)
            m = np.array([[float(v) for v in row] for row in rows])
            freqs = m[:, 0]
            chans = {lab: x for lab, fs, unit, x in read_edf(
                os.path.join(a.data, fn))}
            fs_of = {lab: fs for lab, fs, unit, x in read_edf(
                os.path.join(a.data, fn))}
            # mmdx's columns carry normalised labels; map by position of
            # the raw label read back from the same order of analysis
            raw_labels = [lab for lab, fs, unit, x in read_edf(
                os.path.join(a.data, fn))]
            norm = mmdx_labels(a.mmdx, os.path.join(a.data, fn))
            file_worst = 0.0
            file_band_worst = 0.0
            for j, lab in enumerate(head[1:]):
                raw = raw_labels[norm.index(lab)]
                x = chans[raw]
                fs = fs_of[raw]
                nper = int(np.floor(2.0 * fs + 0.5))
                f, p = signal.welch(x, fs=fs, window="hann", nperseg=nper,
                                    noverlap=nper // 2, detrend="constant",
                                    scaling="density", average="mean")
                ours = m[:, j + 1]
                if len(p) != len(ours) or np.max(np.abs(f - freqs)) > 1e-9:
                    print("%s %s: frequency grids differ" % (fn, lab))
                    return 1
                pmax = np.max(p)
                big = p >= 1e-9 * pmax
                rel = np.abs(ours[big] - p[big]) / p[big]
                tiny_ok = np.all(np.abs(ours[~big] - p[~big]) <= 1e-9 * pmax)
                e = float(np.max(rel)) if rel.size else 0.0
                if a.verbose and rel.size:
                    k = np.flatnonzero(big)[int(np.argmax(rel))]
                    print("  %s: worst bin %g Hz rel %.2e (bin/max %.1e)"
                          % (lab, f[k], e, p[k] / pmax))
                if not tiny_ok:
                    e = max(e, 1.0)
                file_worst = max(file_worst, e)
                df = f[1] - f[0]
                for name, lo, hi in BANDS:
                    sel = (f >= lo) & (f < hi)
                    if not np.any(sel):
                        continue
                    ref = float(np.sum(p[sel]) * df)
                    key = "eeg.band.%s_abs_uv2.%s" % (name, lab)
                    got = float(feats[pid][key])
                    # same rule as the bins: relative above 1e-9 of the
                    # channel's power, absolute below
                    floor = 1e-9 * float(np.sum(p) * df)
                    if ref >= floor:
                        be = abs(got - ref) / ref
                    else:
                        be = 0.0 if abs(got - ref) <= floor else 1.0
                    file_band_worst = max(file_band_worst, be)
                    ref_rows.append((fn, lab, name, "%.12g" % ref))
                for fq in (2.0, 10.0, 20.0):
                    k = int(round(fq / df))
                    if k < len(p):
                        ref_rows.append((fn, lab, "psd@%g" % (k * df),
                                         "%.12g" % p[k]))
            print("%-28s %3d ch  max rel diff: PSD bins %.2e, band powers %.2e"
                  % (fn, len(head) - 1, file_worst, file_band_worst))
            worst = max(worst, file_worst, file_band_worst)
    print("worst relative difference %.3e (tolerance %.0e): %s"
          % (worst, a.tol, "PASS" if worst <= a.tol else "FAIL"))
    if a.write_reference:
        with open(a.write_reference, "w") as f:
            f.write("# scipy.signal.welch reference for tests/unit/test_eeg.c"
                    "\n# made by bench/eeg_scipy_compare.py --write-reference"
                    " (scipy %s, numpy %s)\n# file\tchannel\tquantity\tvalue"
                    " (band powers uV^2; psd@F uV^2/Hz)\n"
                    % (signal.__name__ and __import__("scipy").__version__,
                       np.__version__))
            for row in ref_rows:
                f.write("\t".join(row) + "\n")
    return 0 if worst <= a.tol else 1


def mmdx_labels(mmdx, path):
    """Normalised labels of the file's data signals, in file order, from
    `mmdx inspect` (edf.signal.N = "<label> (<raw>) ...")."""
    r = subprocess.run([mmdx, "inspect", path], capture_output=True,
                       text=True, check=True)
    labels = []
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].startswith("edf.signal."):
            labels.append(parts[2].split(" (")[0])
    return labels


if __name__ == "__main__":
    sys.exit(main())
