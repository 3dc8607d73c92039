# mkt serve at NP ranks with a boosted-tree propensity model (model = "gbdt",
# a forest under /models/propensity/forest), made by hand from a trained
# logistic model (tests/gbdt_craft.py): the propensity op answers the
# logistic of the forest's margin on the standardized features, as computed
# by hand in Python, for users of every rank; corrupt forests (a child
# outside its tree, a dataset of the wrong length, a NaN threshold, a
# feature count that differs from the model's inputs) are refused at start
# and on reload with a message naming the file and the dataset, and the old
# model keeps serving; a reload swaps gbdt -> logistic -> gbdt.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 1500 --items 150 --days 20 --seed 3 --out shop.h5 >/dev/null 2>&1
run_np "$NP" features --store shop.h5 >/dev/null 2>&1
run_np "$NP" train propensity --store shop.h5 --out model.h5 --epochs 20 >/dev/null 2>&1
for v in good negated child shape nan features; do
  "$PY" "$SRC/tests/gbdt_craft.py" model.h5 "$v.h5" shop.h5 features_propensity/users "$v" >/dev/null
done

# refused at start, naming the file and the dataset (io/validate.c, io/forest_io.c)
for c in "child.h5: /models/propensity/forest: left/right: node 2 of tree 0 points outside its tree" \
         "shape.h5: /models/propensity/forest/threshold has 9 x 0 values, expected 8" \
         "nan.h5: /models/propensity/forest/threshold[2] is nan, not a finite number" \
         "features.h5: /models/propensity/forest: attribute features = 55, expected 54"; do
  f=${c%%:*}
  expect_fail "$NP" serve --store shop.h5 --models "$f" --bind 'tcp://127.0.0.1:*' --timeout-ms 5000
  grep -qF "$c" err.txt || fail "serve on $f: expected '$c', got: $(grep error err.txt)"
done

cp good.h5 served.h5
umask 077
echo "gbdt-secret-$RANDOM-$RANDOM" > token
serve_start "$NP" --store shop.h5 --models served.h5 --token-file token

ENDPOINT=$(cat ready) TOKEN=$(cat token) SRC="$SRC" timeout 90 "$PY" - <<'PY'
import json, os, sys, time, zmq, h5py, numpy as np
sys.path.insert(0, os.path.join(os.environ["SRC"], "tests"))
import gbdt_craft

ctx = zmq.Context()
def sock():
    s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.RCVTIMEO, 10000); s.setsockopt(zmq.LINGER, 0)
    s.connect(os.environ["ENDPOINT"]); return s
client, operator = sock(), sock()
def ask(s, req):
    s.send(json.dumps(req).encode()); return json.loads(s.recv())
def code(r): return r.get("error", {}).get("code")
tok = os.environ["TOKEN"]
users = [x.decode() for x in h5py.File("shop.h5", "r")["ids/users"][:]]
F = "features_propensity/users"
pg = gbdt_craft.probability("good.h5", "shop.h5", F)
pn = gbdt_craft.probability("negated.h5", "shop.h5", F)
# the logistic model, as the trainer defines it
g = h5py.File("model.h5", "r")["models/propensity"]
Z = gbdt_craft.standardize(h5py.File("shop.h5", "r")[F][:], g["feature_mean"][:], g["feature_std"][:])
w = g["params"][:]; pl = 1 / (1 + np.exp(-(Z @ w[:-1] + w[-1])))
# the crafted forest gives several distinct probabilities, all different from the logistic ones
assert len(set(np.round(pg, 12))) >= 4, sorted(set(pg))
probe = [0, 1, 2, 3, 700, 749, 750, 1125, 1499]

def check(p, kind):
    for u in probe:
        r = ask(client, {"op": "propensity", "id": u, "user": users[u]})
        assert r["id"] == u and r["model"] == kind and r["horizon_days"] == 7, r
        assert abs(r["probability"] - p[u]) < 1e-12, (u, r, p[u])

def reload(path):
    v0 = ask(operator, {"op": "stats"})["models"]["version"]
    r = ask(operator, {"op": "reload", "token": tok, "models": path})
    assert r.get("started") is True, r
    for _ in range(500):
        s = ask(operator, {"op": "stats"})["models"]
        if s["version"] == v0 + 1: return s
        time.sleep(0.02)
    raise AssertionError("reload of %s did not finish: %s" % (path, s))

check(pg, "gbdt")
assert ask(operator, {"op": "stats"})["models"]["propensity_model"] == "gbdt"
# corrupt forests: the reload is refused with the dataset named, the old forest keeps serving
for f, want in (("child.h5", "child.h5: /models/propensity/forest: left/right: node 2 of tree 0"),
                ("shape.h5", "shape.h5: /models/propensity/forest/threshold has 9 x 0 values, expected 8"),
                ("nan.h5", "nan.h5: /models/propensity/forest/threshold[2] is nan, not a finite number"),
                ("features.h5", "features.h5: /models/propensity/forest: attribute features = 55, expected 54")):
    r = ask(operator, {"op": "reload", "token": tok, "models": f})
    assert code(r) == "reload_failed" and want in r["error"]["message"], (f, r)
    check(pg, "gbdt")
s = ask(operator, {"op": "stats"})["models"]
assert s["version"] == 1 and s["reload"]["failed"] == 4 and "features.h5" in s["reload"]["last_error"], s
# gbdt -> logistic -> another forest
assert reload("model.h5")["propensity_model"] == "logistic"
check(pl, "logistic")
assert reload("negated.h5")["propensity_model"] == "gbdt"
check(pn, "gbdt")
print("gbdt probabilities match at %d users; %d distinct values" % (len(probe), len(set(np.round(pg, 12)))))
assert ask(operator, {"op": "shutdown", "token": tok})["ok"] is True
PY

serve_wait_stopped
echo "ok: gbdt propensity served, corrupt forests refused at start and on reload, at $NP ranks"
