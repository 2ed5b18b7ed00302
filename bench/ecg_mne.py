#!/usr/bin/python3
"""Baseline for bench/ecg_bench.sh (CPU time of the calling thread, like
ecg_bench; MNE/numpy may use more threads): MNE-Python's find_ecg_events on lead
MLII of a MIT-BIH record (format 212, read here with numpy; decoding is not
timed). Prints 'mne_find_ecg_events<TAB>samples<TAB>median_s<TAB>Msamples/s'
and writes the detected sample numbers to OUT_TSV for scoring."""
import sys
import time

import numpy as np
import mne


def read_212(record):
    head = open(record + ".hea").read().split("\n")
    nsig, fs, nsamp = head[0].split()[1:4]
    nsig, fs, nsamp = int(nsig), float(fs), int(nsamp)
    sig = head[1].split()
    gain, base = float(sig[2].split("(")[0].split("/")[0]), int(sig[4])
    raw = np.fromfile(record + ".dat", dtype=np.uint8).astype(np.int32)
    raw = raw[: (len(raw) // 3) * 3].reshape(-1, 3)
    a = raw[:, 0] | ((raw[:, 1] & 0x0F) << 8)
    b = raw[:, 2] | ((raw[:, 1] & 0xF0) << 4)
    x = np.empty(2 * len(a), dtype=np.int32)
    x[0::2], x[1::2] = a, b
    x[x >= 2048] -= 4096
    x = x.reshape(-1, nsig)[:nsamp, 0]
    return (x - base) / gain * 1e-3, fs  # volts, as MNE expects


def main():
    record, out = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    x, fs = read_212(record)
    info = mne.create_info(["MLII"], fs, ["ecg"])
    raw = mne.io.RawArray(x[np.newaxis, :], info, verbose="error")
    times = []
    for _ in range(reps):
        t0 = time.thread_time()
        ev, _, _ = mne.preprocessing.find_ecg_events(raw, ch_name="MLII",
                                                     verbose="error")
        times.append(time.thread_time() - t0)
    times.sort()
    med = times[len(times) // 2]
    with open(out, "w") as fp:
        fp.write("sample\n")
        for s in ev[:, 0]:
            fp.write("%d\n" % s)
    print("mne_find_ecg_events\t%d\t%.6f\t%.2f" % (len(x), med,
                                                  len(x) / med / 1e6))


if __name__ == "__main__":
    main()
