# mkt serve at NP ranks: the propensity and strategy ops checked against the
# files (h5py/numpy), and a reload while a client queries in a loop: a model
# retrained with another seed (and an MLP propensity model) is renamed over
# the served file; every reply must be valid and come from one whole model
# set (old or new, never a mixture), the version must change, and a reload
# of a broken file must be refused while the old models keep serving.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 1500 --items 150 --days 20 --seed 3 --out shop.h5 >/dev/null
run_np "$NP" features --store shop.h5 >/dev/null
run_np "$NP" train mf --store shop.h5 --out model.h5 --rank 4 --iters 3 --seed 1 >/dev/null
run_np "$NP" train propensity --store shop.h5 --out model.h5 --epochs 20 >/dev/null
run_np "$NP" train mf --store shop.h5 --out model_b.h5 --rank 6 --iters 3 --seed 2 >/dev/null
run_np "$NP" train propensity --store shop.h5 --out model_b.h5 --model mlp --hidden 8,4 --optimizer adam --epochs 3 >/dev/null

# /strategy in the documented layout (user, segment, items, item_scores, price, promotion, ...)
"$PY" - <<'PY'
import h5py, numpy as np
s = h5py.File("shop.h5", "r"); U = len(s["ids/users"]); I = len(s["ids/items"])
rng = np.random.default_rng(1); K = 4
users = np.arange(0, U, 2, dtype=np.int64); N = len(users)
items = rng.integers(0, I, size=(N, K)).astype(np.int64); items[::3, 3] = -1
with h5py.File("strategy.h5", "w") as f:
    f.attrs["format"] = np.bytes_("mkt-model"); f.attrs["schema_version"] = np.int64(1)
    g = f.create_group("strategy")
    g["user"] = users; g["segment"] = (users % 5).astype(np.int32); g["items"] = items
    g["item_scores"] = rng.random((N, K)); g["price"] = rng.random((N, K)) * 100
    g["promotion"] = (users % 4 - 1).astype(np.int32)
    for k in ("expected_profit", "expected_cost", "uplift_conversion", "uplift_spend"):
        g[k] = rng.normal(size=N)
    g["message"] = np.array([("offer for user %d: é ✓" % u).encode() for u in users])
    g["arms"] = np.array([b"coupon5", b"coupon10", b"free_shipping"])
    g["segment_names"] = np.array([b"high value, frequent", b"browsers", b"new", b"at risk", b"regular buyers"])
PY
# a model file that does not fit the store (a reload of it must be refused)
"$PY" -c "
import h5py, numpy as np
with h5py.File('bad.h5', 'w') as f:
    f.attrs['format'] = np.bytes_('mkt-model'); f.attrs['schema_version'] = np.int64(1)
    f['models/mf/user_factors'] = np.zeros((3, 2)); f['models/mf/item_factors'] = np.zeros((3, 2))
    f['models/mf/user_bias'] = np.zeros(3); f['models/mf/item_bias'] = np.zeros(3)
"
cp model.h5 model_a.h5
# crafted models (io/validate.c): a NaN factor, an infinite propensity weight
"$PY" -c "
import h5py, numpy as np, shutil
for out, ds, at, v in (('nan.h5', 'models/mf/user_factors', (7, 1), np.nan), ('inf.h5', 'models/propensity/params', 3, np.inf)):
    shutil.copy('model.h5', out)
    with h5py.File(out, 'r+') as f:
        a = f[ds][()]; a[at] = v; f[ds][...] = a
"

umask 077
echo "reload-secret-$RANDOM-$RANDOM" > token
serve_start "$NP" --store shop.h5 --models model.h5 --strategy strategy.h5 --token-file token --reload-step-bytes 4096

ENDPOINT=$(cat ready) TOKEN=$(cat token) timeout 90 "$PY" - <<'PY'
import json, os, shutil, time, zmq, h5py, numpy as np

ctx = zmq.Context()
def sock():
    s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.RCVTIMEO, 10000); s.setsockopt(zmq.LINGER, 0)
    s.connect(os.environ["ENDPOINT"]); return s
client, operator = sock(), sock()
def ask(s, req):
    s.send(json.dumps(req).encode()); return json.loads(s.recv())
def code(r): return r.get("error", {}).get("code")

store = h5py.File("shop.h5", "r")
users = [x.decode() for x in store["ids/users"][:]]; items = [x.decode() for x in store["ids/items"][:]]
X = store["features_propensity/users"][:]

def propensity(path):
    """probabilities of every user under /models/propensity of path (logistic or MLP), as the trainer defines them"""
    g = h5py.File(path, "r")["models/propensity"]; p = g["params"][:]
    mean, std = g["feature_mean"][:], g["feature_std"][:]
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = np.where(std > 0, (X - mean) / np.where(std > 0, std, 1), 0.0)
    Z[~np.isfinite(Z)] = 0
    sizes = [g.attrs["hidden_%d" % (l + 1)] for l in range(g.attrs["hidden_layers"])] + [1]
    h, at, d = Z, 0, Z.shape[1]
    for l, out in enumerate(sizes):
        W = p[at:at + out * d].reshape(out, d); at += out * d; b = p[at:at + out]; at += out
        h = h @ W.T + b
        if l < len(sizes) - 1: h = np.maximum(h, 0)
        d = out
    assert at == len(p)
    return 1 / (1 + np.exp(-h[:, 0]))

def mf_scores(path):
    g = h5py.File(path, "r")["models/mf"]
    return g.attrs["global_mean"] + g["user_bias"][:][:, None] + g["item_bias"][:][None, :] + g["user_factors"][:] @ g["item_factors"][:].T

pa, pb = propensity("model_a.h5"), propensity("model_b.h5")
sa, sb = mf_scores("model_a.h5"), mf_scores("model_b.h5")
assert h5py.File("model_b.h5", "r")["models/propensity"].attrs["model"] == b"mlp"

# propensity: the served probability is the model's, for users on every rank
for u in [0, 1, 700, 1499]:
    r = ask(client, {"op": "propensity", "id": u, "user": users[u]})
    assert r["id"] == u and r["model"] == "logistic" and r["horizon_days"] == 7, r
    assert abs(r["probability"] - pa[u]) < 1e-12, (r, pa[u])
assert code(ask(client, {"op": "propensity", "user": "nobody"})) == "unknown_user"
assert code(ask(client, {"op": "propensity"})) == "missing_field"

# strategy: the stored row, with external ids, arm names and the message
st = h5py.File("strategy.h5", "r")["strategy"]
arms = [a.decode() for a in st["arms"][:]]
for row in [0, 1, 3, 749]:
    u = int(st["user"][row]); r = ask(client, {"op": "strategy", "user": users[u]})
    want_items = [items[i] for i in st["items"][row] if i >= 0]
    assert [x["item"] for x in r["items"]] == want_items, (r, want_items)
    assert [x["price"] for x in r["items"]] == [p for i, p in zip(st["items"][row], st["price"][row]) if i >= 0]
    assert [x["score"] for x in r["items"]] == [p for i, p in zip(st["items"][row], st["item_scores"][row]) if i >= 0]
    promo = int(st["promotion"][row])
    assert r["promotion"] == (arms[promo] if promo >= 0 else None), r
    g = int(st["segment"][row])   # named as the segment op names it, with the index beside
    assert r["segment"] == st["segment_names"][g].decode() and r["segment_index"] == g, r
    assert r["message"] == st["message"][row].decode(), r
    for k in ("expected_profit", "expected_cost", "uplift_conversion", "uplift_spend"):
        assert r[k] == st[k][row], (k, r)
assert code(ask(client, {"op": "strategy", "user": users[1]})) == "not_in_strategy"

# reload: refused without the token, refused for a bad file (old models keep serving)
assert code(ask(operator, {"op": "reload"})) == "forbidden"
r = ask(operator, {"op": "reload", "token": os.environ["TOKEN"], "models": "bad.h5"})
assert code(r) == "reload_failed" and "does not match the store" in r["error"]["message"], r
r = ask(operator, {"op": "reload", "token": os.environ["TOKEN"], "models": "no-such-file.h5"})
assert code(r) == "reload_failed", r
r = ask(operator, {"op": "reload", "token": os.environ["TOKEN"], "models": "strategy.h5"})  # no /models at all
assert code(r) == "reload_failed" and "has none of" in r["error"]["message"], r
stats = ask(operator, {"op": "stats"})
r = ask(operator, {"op": "reload", "token": os.environ["TOKEN"], "models": "nan.h5"})
assert code(r) == "reload_failed" and "nan.h5: /models/mf/user_factors[7][1] is nan, not a finite number" in r["error"]["message"], r
r = ask(operator, {"op": "reload", "token": os.environ["TOKEN"], "models": "inf.h5"})
assert code(r) == "reload_failed" and "/models/propensity/params[3] is inf" in r["error"]["message"], r
r = ask(client, {"op": "propensity", "user": users[700]})
assert abs(r["probability"] - pa[700]) < 1e-12, r  # the old models still serve
stats = ask(operator, {"op": "stats"})
assert stats["models"]["version"] == 1 and stats["models"]["reload"]["failed"] == 5, stats["models"]

# queries in a loop; the retrained file is renamed over the served path and reloaded mid-way
version, seen, during, n = 1, {1: 0, 2: 0}, 0, 0
t_end = time.time() + 60
reload_sent = False
while time.time() < t_end:
    u, i = (n * 7919) % len(users), (n * 31) % len(items)
    batch = [{"op": "score", "id": n, "user": users[u], "item": items[i]},
             {"op": "propensity", "user": users[u]},
             {"op": "recommend", "user": users[u], "k": 3}]
    r = ask(client, batch)
    assert all("error" not in x for x in r), r
    a = abs(r[0]["score"] - sa[u, i]) < 1e-9 and abs(r[1]["probability"] - pa[u]) < 1e-12
    b = abs(r[0]["score"] - sb[u, i]) < 1e-9 and abs(r[1]["probability"] - pb[u]) < 1e-12
    assert a or b, ("a reply from neither model (a half-loaded model?)", r, sa[u, i], sb[u, i])
    assert len(r[2]["items"]) == 3
    seen[2 if b and not a else 1] += 1
    if n == 40 and not reload_sent:
        shutil.copy("model_b.h5", "model.h5.new"); os.rename("model.h5.new", "model.h5")
        r = ask(operator, {"op": "reload", "id": "r1", "token": os.environ["TOKEN"]})
        assert r["started"] is True and r["version"] == 1, r
        reload_sent = True
    if reload_sent and version == 1:
        s = ask(operator, {"op": "stats"})["models"]
        version = s["version"]
        if s["reload"]["in_progress"]: during += 1
        if version == 2:
            assert s["propensity_model"] == "mlp" and s["factors"] == 6, s
            after = n
    if version == 2 and n > after + 40:
        break
    n += 1
assert version == 2, "the version did not change within 60 s"
assert seen[2] >= 40 and seen[1] >= 40, seen
# once swapped, only the new model answers
r = ask(client, {"op": "score", "user": users[5], "item": items[7]})
assert abs(r["score"] - sb[5, 7]) < 1e-9, r
# reload with a path: back to the first file (version 3)
r = ask(operator, {"op": "reload", "token": os.environ["TOKEN"], "models": "model_a.h5"})
assert r["started"] is True, r
for _ in range(200):
    s = ask(operator, {"op": "stats"})["models"]
    if s["version"] == 3: break
    time.sleep(0.02)
assert s["version"] == 3 and s["file"] == "model_a.h5", s
r = ask(client, {"op": "propensity", "user": users[9]})
assert abs(r["probability"] - pa[9]) < 1e-12 and r["model"] == "logistic", r
print("replies from version 1: %d, version 2: %d; stats polls that saw the reload in progress: %d" % (seen[1], seen[2], during))
assert ask(operator, {"op": "shutdown", "token": os.environ["TOKEN"]})["ok"] is True
PY

serve_wait_stopped
echo "ok: propensity, strategy and reload at $NP ranks"
