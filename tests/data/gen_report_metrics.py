#!/usr/bin/python3
"""Reference values for tests/unit/test_report.c (metric functions).

Writes tests/data/report_metrics_in.tsv (dataset, prob, label) and
tests/data/report_metrics_ref.tsv (dataset, metric, value). Run from the
source tree:  /usr/bin/python3 tests/data/gen_report_metrics.py

References: scikit-learn 1.2 (Debian python3-sklearn) for roc_auc_score,
average_precision_score, brier_score_loss, confusion_matrix and the joint
logistic recalibration (LogisticRegression, no penalty, newton-cholesky); the
calibration intercept with logit(p) as an offset is solved with scipy's
brentq on the score equation; DeLong's variance is computed the slow way
(O(n1 n0) placements, straight from DeLong 1988); ECE with numpy (10
equal-width bins, p = 1 in the last bin).
"""
import numpy as np
from scipy.optimize import brentq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (average_precision_score, brier_score_loss,
                             confusion_matrix, roc_auc_score)

rng = np.random.default_rng(20261127)
sets = {}

# 1. 300 rows, moderately informative, scores rounded so ties occur
y = (rng.random(300) < 0.3).astype(int)
z = rng.normal(0, 1, 300) + 1.2 * y - 0.8
sets["ties300"] = (np.round(1 / (1 + np.exp(-z)), 2), y)

# 2. 12 rows by hand-ish, with ties across classes
sets["small12"] = (np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.2, 0.55, 0.9, 0.05,
                             0.4, 0.65, 0.3]),
                   np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0]))

# 3. 500 rows, miscalibrated (over-confident) probabilities
y = (rng.random(500) < 0.2).astype(int)
z = 2.0 * (rng.normal(0, 1, 500) + 1.0 * y - 1.2)
sets["overconf500"] = (1 / (1 + np.exp(-z)), y)


def logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def delong_var(p, y):
    pos, neg = p[y == 1], p[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    return v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def ece(p, y, bins=10):
    b = np.minimum((p * bins).astype(int), bins - 1)
    out = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            out += m.mean() * abs(p[m].mean() - y[m].mean())
    return out


def cal_intercept(p, y):
    x = logit(p)

    def score(a):
        return np.sum(y - 1 / (1 + np.exp(-(a + x))))
    return brentq(score, -20, 20, xtol=1e-14)


def cal_slope(p, y):
    lr = LogisticRegression(penalty=None, tol=1e-14, max_iter=1000,
                            solver="newton-cholesky")
    lr.fit(logit(p).reshape(-1, 1), y)
    return lr.coef_[0][0]


with open("tests/data/report_metrics_in.tsv", "w") as f:
    f.write("dataset\tprob\tlabel\n")
    for name, (p, y) in sets.items():
        for a, b in zip(p, y):
            f.write("%s\t%.17g\t%d\n" % (name, a, b))

with open("tests/data/report_metrics_ref.tsv", "w") as f:
    f.write("dataset\tmetric\tvalue\n")
    for name, (p, y) in sets.items():
        tn, fp, fn, tp = confusion_matrix(y, p >= 0.5).ravel()
        rows = [
            ("auroc", roc_auc_score(y, p)),
            ("delong_var", delong_var(p, y)),
            ("auprc", average_precision_score(y, p)),
            ("brier", brier_score_loss(y, p)),
            ("cal_intercept", cal_intercept(p, y)),
            ("cal_slope", cal_slope(p, y)),
            ("ece10", ece(p, y)),
            ("tp@0.5", tp), ("fp@0.5", fp), ("tn@0.5", tn), ("fn@0.5", fn),
        ]
        for m, v in rows:
            f.write("%s\t%s\t%.17g\n" % (name, m, v))
