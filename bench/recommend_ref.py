# bench/recommend_ref.py — the numpy reference of bench/recommend.sh: the
# top k items of every user from /models/mf as U @ V.T in blocks of users,
# plus the biases, the user's purchases masked out, argpartition for the k
# best and a sort of those: what one writes by hand in numpy.
#   python3 recommend_ref.py STORE MODEL K [USERS]   (USERS: only the first USERS users)
# Prints one JSON line: users, seconds (ranking only, after loading), users_per_s.
import json, sys, time
import h5py, numpy as np

store, model, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
with h5py.File(model, "r") as f:
    g = f["models/mf"]
    U = g["user_factors"][:]; V = g["item_factors"][:]
    bu = g["user_bias"][:]; bi = g["item_bias"][:]; mu = float(g.attrs.get("global_mean", 0.0))
n = int(sys.argv[4]) if len(sys.argv) > 4 else U.shape[0]
n = min(n, U.shape[0])
with h5py.File(store, "r") as s:
    ev = s["events/by_user"]; ptr = ev["indptr"][: n + 1]
    typ = ev["type"][: ptr[-1]]; item = ev["item"][: ptr[-1]]
buy = typ == 4
rows = np.repeat(np.arange(n), np.diff(ptr))[buy]; cols = item[buy]
t0 = time.perf_counter()
B = 1024
out_items = np.empty((n, k), dtype=np.int64); out_scores = np.empty((n, k))
for a in range(0, n, B):
    b = min(a + B, n)
    S = U[a:b] @ V.T
    S += bi[None, :]
    S += (mu + bu[a:b])[:, None]
    sel = (rows >= a) & (rows < b)
    S[rows[sel] - a, cols[sel]] = -np.inf
    top = np.argpartition(-S, k - 1, axis=1)[:, :k]
    ts = np.take_along_axis(S, top, axis=1)
    order = np.argsort(-ts, axis=1, kind="stable")
    out_items[a:b] = np.take_along_axis(top, order, axis=1)
    out_scores[a:b] = np.take_along_axis(ts, order, axis=1)
dt = time.perf_counter() - t0
print(json.dumps({"users": n, "seconds": dt, "users_per_s": n / dt}))
