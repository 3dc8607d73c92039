"""propensity_ref.py — reference logistic regressions for bench/propensity.sh.

  propensity_ref.py sklearn TRAIN.svm VALID.svm FEATURES C
      loads TRAIN and VALID once, then fits scikit-learn's
      LogisticRegression(solver="lbfgs", C=C, tol=1e-6) and
      LogisticRegression(solver="liblinear", C=C, tol=0.01,
      intercept_scaling=1) — LIBLINEAR's -s 0 solver on one core, with
      liblinear-train's default stopping tolerance and its -B 1 penalized
      bias — on the same dense matrix, and prints JSON {lbfgs: {auc,
      fit_seconds, iterations}, liblinear: {...}, load_seconds}.  fit_seconds
      is the solver alone (the liblinear fit includes copying the matrix into
      LIBLINEAR's row format, a fraction of a second).
  propensity_ref.py auc VALID.svm PREDICTIONS
      held-out AUC of `liblinear-predict -b 1` output (JSON {auc}).
"""
import json
import sys
import time

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def sklearn_fit(train, valid, features, c):
    t0 = time.perf_counter()
    xt, yt = load_svmlight_file(train, n_features=features)
    xv, yv = load_svmlight_file(valid, n_features=features)
    xt, xv = xt.toarray(), xv.toarray()
    out = {"load_seconds": time.perf_counter() - t0}
    for name, model in (("lbfgs", LogisticRegression(solver="lbfgs", C=c, max_iter=1000, tol=1e-6)),
                        ("liblinear", LogisticRegression(solver="liblinear", C=c, max_iter=1000, tol=0.01,
                                                         intercept_scaling=1.0))):
        t1 = time.perf_counter()
        model.fit(xt, yt)
        t2 = time.perf_counter()
        auc = roc_auc_score(yv, model.predict_proba(xv)[:, 1])
        out[name] = {"auc": auc, "fit_seconds": t2 - t1, "iterations": int(np.max(model.n_iter_))}
    print(json.dumps(out))


def liblinear_auc(valid, pred):
    yv = load_svmlight_file(valid)[1]
    with open(pred) as f:
        head = f.readline().split()
        assert head[0] == "labels", head
        col = head[1:].index("1") + 1  # probability column of label 1
        p = np.array([float(line.split()[col]) for line in f])
    print(json.dumps({"auc": roc_auc_score(yv, p)}))


if __name__ == "__main__":
    if sys.argv[1] == "sklearn":
        sklearn_fit(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif sys.argv[1] == "auc":
        liblinear_auc(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: propensity_ref.py sklearn TRAIN VALID FEATURES C | auc VALID PREDICTIONS")
