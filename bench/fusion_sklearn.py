#!/usr/bin/python3
"""Side-by-side baseline for `mmdx train`: scikit-learn's MLPClassifier and
LogisticRegression on the same features.tsv / labels.tsv, scored on the
labels' test split.

  fusion_sklearn.py FEATURES.tsv LABELS.tsv [--model mlp|lr|both] [--seed S]

Prints one line per model: name, test AUROC, load seconds, fit seconds
(wall and CPU), seconds since the interpreter started its imports. Missing values (NA) are imputed with the training median and the
features robustly scaled (RobustScaler), the closest sklearn analogue of
mmdx's own standardisation.
"""
import sys
import time

t_start = time.perf_counter()
import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler


def main():
    feats, labels = sys.argv[1], sys.argv[2]
    which = "both"
    seed = 1
    args = sys.argv[3:]
    while args:
        if args[0] == "--model":
            which = args[1]
            args = args[2:]
        elif args[0] == "--seed":
            seed = int(args[1])
            args = args[2:]
        else:
            sys.exit("bad argument " + args[0])
    t0 = time.perf_counter()
    with open(feats) as fp:
        header = fp.readline().rstrip("\n").split("\t")
        ids = []
        rows = fp.read().splitlines()
    ids = [r.split("\t", 1)[0] for r in rows]
    x = np.loadtxt(feats, delimiter="\t", skiprows=1,
                   usecols=range(1, len(header)), dtype=np.float64,
                   converters=None, comments=None,
                   encoding="ascii") if False else None
    # np.loadtxt cannot parse "NA"; genfromtxt can but is slow, so the
    # numeric part is parsed by np.array over split strings.
    x = np.array([r.split("\t")[1:] for r in rows], dtype=object)
    x[x == "NA"] = "nan"
    x = x.astype(np.float64)
    lab = {}
    with open(labels) as fp:
        h = fp.readline().rstrip("\n").split("\t")
        ii, il, isp = h.index("patient_id"), h.index("label"), h.index("split")
        for line in fp:
            c = line.rstrip("\n").split("\t")
            lab[c[ii]] = (int(c[il]), c[isp])
    y = np.array([lab[i][0] for i in ids])
    sp = np.array([lab[i][1] for i in ids])
    t_load = time.perf_counter() - t0
    tr = sp != "test"
    te = sp == "test"
    models = []
    if which in ("mlp", "both"):
        models.append(("sklearn_mlp", MLPClassifier(
            hidden_layer_sizes=(64, 32), early_stopping=True,
            random_state=seed, max_iter=200)))
    if which in ("lr", "both"):
        models.append(("sklearn_logreg", LogisticRegression(max_iter=1000)))
    for name, clf in models:
        pipe = make_pipeline(SimpleImputer(strategy="median"),
                             RobustScaler(), clf)
        t1 = time.perf_counter()
        c1 = time.process_time()
        pipe.fit(x[tr], y[tr])
        t_fit = time.perf_counter() - t1
        c_fit = time.process_time() - c1
        auc = roc_auc_score(y[te], pipe.predict_proba(x[te])[:, 1])
        print("%s\tauroc %.4f\tload %.3f s\tfit %.3f s\tfit_cpu %.3f s"
              "\tprocess %.3f s" %
              (name, auc, t_load, t_fit, c_fit,
               time.perf_counter() - t_start), flush=True)


main()
