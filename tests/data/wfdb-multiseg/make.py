#!/usr/bin/env python3
# make.py - writes the multi-segment WFDB test fixtures of this folder
# (see README.md). Deterministic: rerunning gives the same bytes.
import math
import struct

FS = 250


def ecg(n, t0, amp=1.0):
    """n samples (adu, 200 adu/mV) from sample t0: a Gaussian R wave
    (12 ms sd) every 0.8 s at phase 0.4 s, plus a 1 Hz 0.05 mV wave."""
    out = []
    for i in range(n):
        t = (t0 + i) / FS
        d = (t % 0.8) - 0.4
        v = amp * math.exp(-d * d / (2 * 0.012 * 0.012)) + \
            0.05 * math.sin(2 * math.pi * t)
        out.append(int(round(200 * v)))
    return out


def write16(name, sigs):
    """format 16, signals interleaved; returns the WFDB checksums."""
    b = bytearray()
    for i in range(len(sigs[0])):
        for s in sigs:
            b += struct.pack('<h', s[i])
    with open(name + '.dat', 'wb') as f:
        f.write(b)
    out = []
    for s in sigs:
        c = sum(s) & 0xffff
        out.append(c - 0x10000 if c >= 0x8000 else c)
    return out


def text(name, s):
    with open(name, 'w') as f:
        f.write(s)


# vseg: variable layout - layout header, segment 1 (II, V1, 500 samples),
# a null segment (250), segment 2 (V1 only, 500)
text('vseg_layout.hea', 'vseg_layout 2 250 0\n'
     '~ 0 200/mV 16 0 0 0 0 II\n~ 0 200/mV 16 0 0 0 0 V1\n')
a = ecg(500, 0)
b = [-x // 2 for x in ecg(500, 0)]
c = write16('vseg_0001', [a, b])
text('vseg_0001.hea', 'vseg_0001 2 250 500\n'
     'vseg_0001.dat 16 200/mV 16 0 0 %d 0 II\n'
     'vseg_0001.dat 16 200/mV 16 0 0 %d 0 V1\n' % (c[0], c[1]))
d = [-x // 2 for x in ecg(500, 750)]
c = write16('vseg_0002', [d])
text('vseg_0002.hea', 'vseg_0002 1 250 500\n'
     'vseg_0002.dat 16 200/mV 16 0 0 %d 0 V1\n' % c[0])
text('vseg.hea', 'vseg/4 2 250 1250\nvseg_layout 0\nvseg_0001 500\n'
     '~ 250\nvseg_0002 500\n')

# fseg: fixed layout - two segments with the same signal (II)
c = write16('fseg_1', [ecg(300, 0)])
text('fseg_1.hea', 'fseg_1 1 250 300\n'
     'fseg_1.dat 16 200/mV 16 0 0 %d 0 II\n' % c[0])
c = write16('fseg_2', [ecg(200, 300)])
text('fseg_2.hea', 'fseg_2 1 250 200\n'
     'fseg_2.dat 16 200/mV 16 0 0 %d 0 II\n' % c[0])
text('fseg.hea', 'fseg/2 1 250 500\nfseg_1 300\nfseg_2 200\n')
