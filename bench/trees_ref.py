"""trees_ref.py — the reference for bench/trees.sh: XGBoost (Debian's
python3-xgboost) with tree_method=hist on the same LIBSVM files as mkt's
trees_driver, with the same parameters, printing one JSON object: test AUC,
training seconds (wall and CPU of all threads; xgboost.train alone: the quantile sketch it builds on its
first round included, reading the text and building the DMatrix excluded),
the rounds and the thread count.

  /usr/bin/python3 bench/trees_ref.py TRAIN.svm TEST.svm FEATURES NTHREAD key=value...
  keys: rounds depth eta lambda min_child_weight bins gamma repeat
  (repeat: trainings on the matrix loaded once, the fastest reported)

The rows are read densely (sklearn's load_svmlight_file): an absent
"index:value" is the value 0, as in mkt's driver, not a missing value (the
export leaves zeros out); only NaN would be missing, and the export has none.
base_score is the training rows' mean label, as mkt starts from it.
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_svmlight_file
from sklearn.metrics import roc_auc_score


def main():
    train, test, features, nthread = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kv = dict(a.split("=", 1) for a in sys.argv[5:])
    t = time.perf_counter()
    xt, yt = load_svmlight_file(train, n_features=features)
    xs, ys = load_svmlight_file(test, n_features=features)
    xt, xs = np.asarray(xt.todense()), np.asarray(xs.todense())
    dtrain = xgb.DMatrix(xt, label=yt, missing=np.nan, nthread=nthread)
    dtest = xgb.DMatrix(xs, label=ys, missing=np.nan, nthread=nthread)
    load = time.perf_counter() - t
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "grow_policy": "depthwise",
        "max_depth": int(kv.get("depth", 6)),
        "eta": float(kv.get("eta", 0.1)),
        "lambda": float(kv.get("lambda", 1.0)),
        "alpha": 0.0,
        "gamma": float(kv.get("gamma", 0.0)),
        "min_child_weight": float(kv.get("min_child_weight", 1.0)),
        "max_bin": int(kv.get("bins", 255)),
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "max_delta_step": 0.0,
        "base_score": float(np.mean(yt)),
        "nthread": nthread,
        "verbosity": 0,
    }
    rounds = int(kv.get("rounds", 300))
    seconds = cpu = float("inf")
    for _ in range(max(1, int(kv.get("repeat", 1)))):
        t, c = time.perf_counter(), time.process_time()
        booster = xgb.train(params, dtrain, num_boost_round=rounds)
        seconds, cpu = min(seconds, time.perf_counter() - t), min(cpu, time.process_time() - c)
    p = booster.predict(dtest)
    print(json.dumps({"xgboost": xgb.__version__, "nthread": nthread, "rounds": rounds, "train_rows": int(xt.shape[0]),
                      "test_rows": int(xs.shape[0]), "features": features, "auc": float(roc_auc_score(ys, p)),
                      "seconds_train": seconds, "cpu_seconds_train": cpu, "seconds_load": load}))


if __name__ == "__main__":
    main()
