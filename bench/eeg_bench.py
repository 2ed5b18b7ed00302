#!/usr/bin/python3
"""EEG speed: mmdx vs MNE-Python on the same work, in the same run.

usage: eeg_bench.py --build BUILD [--dir DIR] [--reps N] [--minutes 10,60]

Writes (once) 19-channel, 256 Hz EDF files of the given lengths into DIR
(default /tmp/mmdx-eeg-bench; pink noise plus a 10 Hz alpha rhythm, 1 s
records, 0.1 uV resolution), then for each file:

  mmdx raw      BUILD/bench/eeg_bench with pipelines/eeg-raw-psd.xml:
                load.eeg (lazy EDF, int16 -> uV in double) + eeg.features
                with families=band: Welch PSD (2 s periodic Hann, 50 %
                overlap, constant detrend, one-sided density; every
                segment transformed in full, the mean of the segments
                taken for the bins 0..45 Hz that the bands use) and the
                band powers: absolute [1,4) [4,8) [8,13) [13,30) [30,45),
                total [1,45) and relative, per channel, their mean and
                region means; the quality counts. No Hjorth, ratio,
                spectral edge, entropy or asymmetry.
  MNE           mne.io.read_raw_edf(preload=True) (int16 -> V in double)
                + psd_array_welch(fmin=0, fmax=45, n_fft = n_per_seg =
                512, n_overlap = 256, Hann; scipy's spectrogram transforms
                every segment in full, the mean is taken for the bins
                0..45 Hz) + band sums over the same bands, total and the
                mean relative alpha power
  mmdx default  the same file through pipelines/default.xml's
                eeg.features settings (average reference, 1-45 Hz
                band-pass, 50 Hz notch, artifact epochs, every feature
                family): more work than MNE does, shown for scale

Each side runs in its own process per file, under /usr/bin/time (peak
RSS = memory for that recording); times are medians over --reps runs
inside the process (the first, cold run included in neither: one
warm-up; process start, imports, pipeline loading and FFT planning are
outside the timing on both sides; OPENBLAS_NUM_THREADS=1 on both sides,
see ENV). Both process CPU time (the steadier
figure on a shared machine; it counts every thread) and wall time are
reported, each with its MNE/mmdx ratio. The mean relative alpha power of
both sides is printed as a check that they did the same work.

MNE's side does only what the task needs: the volts it returns are not
converted to uV sample by sample; the band powers are scaled by 1e12
instead (the same numbers, less work).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from scipy import signal

BANDS = [(1, 4), (4, 8), (8, 13), (13, 30), (30, 45)]
LABELS = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz",
          "C4", "T4", "T5", "P3", "Pz", "P4", "T6", "O1", "O2"]


def write_edf(path, minutes, fs=256, seed=1):
    rng = np.random.default_rng(seed)
    ns = len(LABELS)
    nrec = int(minutes * 60)
    n = nrec * fs
    # pink-ish noise: integrated white noise, leaky; plus alpha
    data = np.empty((ns, n), dtype=np.int16)
    t = np.arange(n) / fs
    for c in range(ns):
        w = rng.standard_normal(n)
        # leaky integrator: 1/f^2 above ~0.4 Hz
        x = signal.lfilter([0.8], [1.0, -0.995], w)
        x += 12 * np.sin(2 * np.pi * (9.5 + 0.05 * c) * t + c)
        x += 3 * rng.standard_normal(n)
        data[c] = np.clip(np.round(x * 10), -32768, 32767).astype(np.int16)
    hdr = bytearray(b" " * (256 * (ns + 1)))

    def put(off, w, s):
        b = s.encode("ascii")[:w]
        hdr[off:off + len(b)] = b

    put(0, 8, "0")
    put(8, 80, "X X X X")
    put(88, 80, "Startdate X X X X")
    put(168, 8, "01.01.85")
    put(176, 8, "00.00.00")
    put(184, 8, str(256 * (ns + 1)))
    put(236, 8, str(nrec))
    put(244, 8, "1")
    put(252, 4, str(ns))
    o = 256
    for i, lab in enumerate(LABELS):
        put(o + 16 * i, 16, "EEG " + lab)
    o += 16 * ns + 80 * ns
    for i in range(ns):
        put(o + 8 * i, 8, "uV")
    o += 8 * ns
    for vals in ("-3276.8", "3276.7", "-32768", "32767"):
        for i in range(ns):
            put(o + 8 * i, 8, vals)
        o += 8 * ns
    o += 80 * ns
    for i in range(ns):
        put(o + 8 * i, 8, str(fs))
    # records: ns x fs samples each
    rec = data.reshape(ns, nrec, fs).transpose(1, 0, 2)
    with open(path + ".tmp", "wb") as f:
        f.write(bytes(hdr))
        f.write(rec.astype("<i2").tobytes())
    os.replace(path + ".tmp", path)


def mne_one(path, reps):
    """Run in a child process: time MNE, print median_ms maxrss alpha."""
    import mne
    from mne.time_frequency import psd_array_welch

    mne.set_log_level("ERROR")
    times = []
    cpu = []
    alpha = float("nan")
    for r in range(reps + 1):
        c0 = time.process_time()
        t0 = time.perf_counter()
        raw = mne.io.read_raw_edf(path, preload=True, verbose=False)
        x = raw.get_data()  # V; the PSD is scaled to uV^2/Hz below
        sf = raw.info["sfreq"]
        psd, f = psd_array_welch(x, sf, fmin=0, fmax=45, n_fft=512,
                                 n_per_seg=512, n_overlap=256,
                                 window="hann", average="mean",
                                 verbose=False)
        df = (f[1] - f[0]) * 1e12  # V^2 -> uV^2
        bp = [psd[:, (f >= lo) & (f < hi)].sum(axis=1) * df
              for lo, hi in BANDS]
        tot = psd[:, (f >= 1) & (f < 45)].sum(axis=1) * df
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        if r:
            times.append(dt)
            cpu.append(dc)
        alpha = float(np.mean(bp[2] / tot))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("%.3f %d %.9g %.3f" % (1e3 * statistics.median(times), rss, alpha,
                                 1e3 * statistics.median(cpu)))


# OpenBLAS (linked by mmdx for the fusion area, and by numpy) starts a
# pool of threads that spin for a while waiting for work that never comes
# here; their CPU time would be counted against whichever side has them.
# One thread on both sides.
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def run_mmdx(build, pipeline, path, reps):
    r = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M",
                        os.path.join(build, "bench", "eeg_bench"), "--reps",
                        str(reps + 1), pipeline, path],
                       capture_output=True, text=True, env=ENV)
    if r.returncode:
        sys.exit("eeg_bench failed: " + r.stderr)
    f = r.stdout.split("\t")
    return float(f[2]), time_rss(r.stderr), float(f[6]), float(f[7])


def time_rss(err):
    """Peak RSS from /usr/bin/time: a child's own ru_maxrss would start
    from this (large) Python process's at fork time on Linux."""
    for line in err.splitlines():
        if line.startswith("maxrss_kb="):
            return int(line.split("=")[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--dir", default="/tmp/mmdx-eeg-bench")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--minutes", default="10,60")
    ap.add_argument("--mne-one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.mne_one:
        mne_one(a.mne_one[0], int(a.mne_one[1]))
        return 0
    if not a.build:
        ap.error("--build is required")
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    raw_p = os.path.join(src, "pipelines", "eeg-raw-psd.xml")
    os.makedirs(a.dir, exist_ok=True)
    # the default pipeline's EEG part alone (no other modality, no gate)
    def_p = os.path.join(a.dir, "eeg-default.xml")
    with open(def_p, "w") as f:
        f.write('<?xml version="1.0"?>\n<pipeline xmlns="urn:mmdx:pipeline:1"'
                ' name="eeg-default" format="1">\n  <stage name="load.eeg"/>\n'
                '  <stage name="eeg.features"/>\n</pipeline>\n')
    print("# load average before: %s" % " ".join(
        "%.2f" % v for v in os.getloadavg()))
    print("file\tminutes\tmmdx_raw_cpu_ms\tmne_cpu_ms\tspeedup_cpu\t"
          "mmdx_raw_wall_ms\tmne_wall_ms\tspeedup_wall\tmmdx_rss_kb\t"
          "mne_rss_kb\tmmdx_default_cpu_ms\tmmdx_default_wall_ms\t"
          "mmdx_alpha_rel\tmne_alpha_rel")
    for m in [float(x) for x in a.minutes.split(",")]:
        path = os.path.join(a.dir, "eeg19_256hz_%gmin.edf" % m)
        if not os.path.exists(path):
            write_edf(path, m)
        ours, ours_rss, ours_alpha, ours_cpu = run_mmdx(a.build, raw_p, path,
                                                        a.reps)
        r = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M",
                            sys.executable, os.path.abspath(__file__),
                            "--mne-one", path, str(a.reps)],
                           capture_output=True, text=True, env=ENV)
        if r.returncode:
            sys.exit("MNE failed: " + r.stderr)
        mne_ms, _, mne_alpha, mne_cpu = r.stdout.split()
        mne_rss = str(time_rss(r.stderr))
        full, _, _, full_cpu = run_mmdx(a.build, def_p, path, a.reps)
        print("%s\t%g\t%.2f\t%.2f\t%.1fx\t%.2f\t%.2f\t%.1fx\t%d\t%s\t"
              "%.2f\t%.2f\t%.6f\t%.6f"
              % (os.path.basename(path), m, ours_cpu, float(mne_cpu),
                 float(mne_cpu) / ours_cpu, ours, float(mne_ms),
                 float(mne_ms) / ours, ours_rss, mne_rss, full_cpu, full,
                 ours_alpha, float(mne_alpha)))
    print("# load average after: %s" % " ".join(
        "%.2f" % v for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
