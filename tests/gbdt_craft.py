# gbdt_craft.py — a boosted-tree propensity model made by hand from a trained
# logistic one, for the tests of the readers of /models/propensity with
# model = "gbdt" (gateway, strategy, report, validation), and its margin
# computed here independently of mkt (src/gbdt.c).
#
#   /usr/bin/python3 gbdt_craft.py SRC_MODEL OUT_MODEL STORE FEATURES VARIANT
#
# copies SRC_MODEL to OUT_MODEL, sets attribute model = "gbdt", deletes
# params and writes a two-tree forest (io/forest_io.h layout) on three
# features that vary over the users of FEATURES (a dataset of STORE, e.g.
# features_propensity/users), with thresholds halfway between two z-values.
# VARIANT: good; negated (leaf values negated: the reverse ranking); and the
# corrupt ones: child (a child index outside its tree), shape (threshold one
# value too long), nan (a NaN threshold), features (attribute features off
# by one).  Must not: call mkt.
import shutil
import sys

import h5py
import numpy as np

BASE = -1.0
# tree 0: node 0 splits feature a (missing left), 1 leaf, 2 splits feature b, 3 and 4 leaves
# tree 1: node 0 splits feature c, 1 and 2 leaves
LEAVES = {1: -0.5, 3: 0.2, 4: 1.1, 6: 0.3, 7: -0.25}
GAIN = {0: 5.0, 2: 2.0, 5: 7.0}


def standardize(X, mean, std):
    """z as the gateway computes it: (x - mean) / std, 0 where std <= 0 or not finite"""
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = np.where(std > 0, (X - mean) / np.where(std > 0, std, 1), 0.0)
    Z[~np.isfinite(Z)] = 0
    return Z


def forest(model_path, store_path, features):
    """the forest arrays for the model's standardization over the store's features"""
    g = h5py.File(model_path, "r")["models/propensity"]
    mean, std = g["feature_mean"][:], g["feature_std"][:]
    Z = standardize(h5py.File(store_path, "r")[features][:], mean, std)
    picked, cuts = [], []
    for j in range(Z.shape[1]):
        u = np.unique(Z[:, j])
        if len(u) >= 4:
            k = len(u) // 2
            picked.append(j)
            cuts.append(0.5 * (u[k - 1] + u[k]))
        if len(picked) == 3:
            break
    assert len(picked) == 3, "fewer than three varying features"
    a, b, c = picked
    n = 8
    f = dict(tree_start=np.array([0, 5, 8], dtype=np.int64),
             feature=np.array([a, -1, b, -1, -1, c, -1, -1], dtype=np.int32),
             left=np.array([1, 0, 3, 0, 0, 1, 0, 0], dtype=np.int32),
             right=np.array([2, 0, 4, 0, 0, 2, 0, 0], dtype=np.int32),
             default_left=np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=np.int8),
             threshold=np.array([cuts[0], 0, cuts[1], 0, 0, cuts[2], 0, 0], dtype=np.float64),
             value=np.array([LEAVES.get(k, 0.0) for k in range(n)], dtype=np.float64),
             gain=np.array([GAIN.get(k, 0.0) for k in range(n)], dtype=np.float64),
             cover=np.full(n, 10.0))
    return f, picked


def margin(f, Z):
    """base + the trees' outputs for rows Z (x < threshold goes left)"""
    m = np.full(Z.shape[0], BASE)
    ts = f["tree_start"]
    for i in range(Z.shape[0]):
        for t in range(len(ts) - 1):
            s, k = ts[t], ts[t]
            while f["feature"][k] >= 0:
                v = Z[i, f["feature"][k]]
                left = f["default_left"][k] if np.isnan(v) else v < f["threshold"][k]
                k = s + (f["left"][k] if left else f["right"][k])
            m[i] += f["value"][k]
    return m


def probability(model_path, store_path, features):
    """P(buy) of every user under the gbdt model at model_path"""
    g = h5py.File(model_path, "r")["models/propensity"]
    fo = {k: g["forest"][k][:] for k in g["forest"]}
    Z = standardize(h5py.File(store_path, "r")[features][:], g["feature_mean"][:], g["feature_std"][:])
    return 1 / (1 + np.exp(-margin(fo, Z)))


def craft(src, out, store, features, variant):
    f, picked = forest(src, store, features)
    if variant == "negated":
        f["value"] = -f["value"]
    shutil.copy(src, out)
    with h5py.File(out, "r+") as h:
        g = h["models/propensity"]
        g.attrs["model"] = np.bytes_("gbdt")
        for k in ("params", "forest"):
            if k in g:
                del g[k]
        fo = g.create_group("forest")
        for k, v in f.items():
            fo[k] = v
        fo.attrs["features"] = np.int64(len(g["feature_mean"]) + (variant == "features"))
        fo.attrs["trees"] = np.int64(2)
        fo.attrs["base_score"] = np.float64(BASE)
        fo.attrs["loss"] = np.bytes_("logistic")
        if variant == "child":
            a = fo["right"][()]; a[2] = 7; fo["right"][...] = a   # tree 0 has nodes 0..4
        elif variant == "shape":
            a = fo["threshold"][()]; del fo["threshold"]; fo["threshold"] = np.append(a, 0.0)
        elif variant == "nan":
            a = fo["threshold"][()]; a[2] = np.nan; fo["threshold"][...] = a
        else:
            assert variant in ("good", "negated", "features"), variant
    return picked


if __name__ == "__main__":
    print(" ".join(map(str, craft(*sys.argv[1:6]))))
