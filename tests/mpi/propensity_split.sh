# At NP ranks: the training / validation / test users of `mkt train
# propensity`, the kept epoch, the selection metric, the baselines and the
# refusal to report on an empty test set.
# * split: the exported training, validation and test rows are the same
#   bytes at NP ranks and at 1 rank, and are exactly the rows of the users a
#   reimplementation of the hash (splitmix64 of seed and user) puts in each
#   set, in user order, with labels recomputed from the events — so the three
#   sets are disjoint, cover every user and do not depend on the rank count;
#   the model's test_label is the test users' labels; eval finds the same
#   test users;
# * baselines: the base rate is the training rows' rate and its log loss,
#   the recency-frequency rule's AUC equals one recomputed from the events,
#   and the model beats both on the planted shop (measured: test AUC 0.669
#   against the rule's 0.611);
# * kept epoch: with a large Adam step the validation loss goes up and down;
#   the kept epoch is the one of least validation loss, the selection value
#   is that loss, and the stored parameters are bitwise those of a run
#   stopped at that epoch — logistic regression and the MLP, both targets;
# * errors: --test-fraction 0, fractions adding up to 1, a test set with no
#   users (train and eval), a resume with another --test-fraction.
. "$SRC/tests/lib.sh"
export MKT_QUIET=1
run_np "$NP" gen --users 3000 --items 200 --days 30 --seed 3 --out shop.h5
S="--store shop.h5 --horizon-days 7"

# --- the split and the baselines (defaults: test 0.2, validation 0.15, seed 1)
run_np "$NP" train propensity $S --out m.h5 --export ex --metrics-out m.json
run_np 1 train propensity $S --out m1.h5 --export ex1
for s in train valid test; do
  cmp "ex.$s.svm" "ex1.$s.svm" || fail "exported $s rows differ between $NP ranks and 1 rank"
done
[ "$("$MKT" digest m.h5 | grep '^/models/propensity/')" = "$("$MKT" digest m1.h5 | grep '^/models/propensity/')" ] \
  || fail "model at $NP ranks differs from 1 rank"
run_np "$NP" eval propensity --store shop.h5 --model m.h5 --metrics-out e.json
"$PY" - <<'PY' || fail "split or baselines wrong"
import json, h5py, numpy as np
M = (1 << 64) - 1
def mix(x):
    x = (x + 0x9e3779b97f4a7c15) & M
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
d, ev = json.load(open("m.json")), json.load(open("e.json"))
f = h5py.File("shop.h5", "r")
g = h5py.File("m.h5", "r")["models/propensity"]
T, H = int(g.attrs["cutoff_ts"]), 7 * 86400
U = f["features_propensity/users"][:]
st = f["features_propensity/user_stats"][:]
with np.errstate(divide="ignore", invalid="ignore"):
    Z = np.where(st[1] > 0, (U - st[0]) / st[1], 0.0)
Z[~np.isfinite(Z)] = 0.0
n = U.shape[0]
h0 = mix(1 ^ 0x70726f70656e7369)
u = np.array([(mix(h0 ^ k) >> 11) * 2.0 ** -53 for k in range(n)])
sets = {"test": u < 0.2, "valid": (u >= 0.2) & (u < 0.2 + 0.15), "train": u >= 0.35}
assert sum(s.sum() for s in sets.values()) == n and not (sets["test"] & sets["valid"]).any()
# labels and the recency-frequency rule from the events
ip = f["events/by_user/indptr"][:]
ts, ty, q = f["events/by_user/ts"][:], f["events/by_user/type"][:], f["events/by_user/qty"][:]
buy = (ty == 4) & (q > 0)
y = np.zeros(n, int); rf = np.zeros(n)
for k in range(n):
    a, b = ip[k], ip[k + 1]
    t = ts[a:b][buy[a:b]]
    y[k] = ((t >= T) & (t < T + H)).any()
    before = t[t < T]
    if len(before):
        days = len(set((before[before >= T - 90 * 86400] // 86400).tolist()))
        rf[k] = days + 1.0 / (2.0 + (T - before.max()) / 86400)
def read_svm(path, dim):
    X, L = [], []
    for line in open(path):
        p = line.split(); L.append(int(p[0])); r = np.zeros(dim)
        for kv in p[1:]:
            i, v = kv.split(":"); r[int(i) - 1] = float(v)
        X.append(r)
    return np.array(X).reshape(-1, dim), np.array(L)
for name, key in (("train", "train_examples"), ("valid", "validation_examples"), ("test", "test_examples")):
    X, L = read_svm(f"ex.{name}.svm", Z.shape[1])
    s = sets[name]
    assert len(L) == s.sum() == d[key], (name, len(L), s.sum(), d[key])
    assert np.array_equal(X, Z[s]), name + ": rows are not the hash's users in user order"
    assert np.array_equal(L, y[s]), name + ": labels"
assert np.array_equal(g["test_label"][:], y[sets["test"]])
def auc(s, l):
    order = np.argsort(s, kind="mergesort"); r = np.empty(len(s)); r[order] = np.arange(1, len(s) + 1)
    for v in np.unique(s):
        r[s == v] = r[s == v].mean()
    p = l.sum(); return (r[l == 1].sum() - p * (p + 1) / 2) / (p * (len(l) - p))
yt, rt = y[sets["test"]], rf[sets["test"]]
b = d["baseline"]
rate = y[sets["train"]].mean()
assert abs(b["base_rate"]["rate"] - rate) < 1e-15 and b["base_rate"]["auc"] == 0.5
ll = -np.mean(yt * np.log(rate) + (1 - yt) * np.log(1 - rate))
assert abs(b["base_rate"]["log_loss"] - ll) < 1e-12, (b["base_rate"]["log_loss"], ll)
assert abs(b["recency_frequency"]["auc"] - auc(rt, yt)) < 1e-12, (b["recency_frequency"]["auc"], auc(rt, yt))
t = d["test"]
assert t["auc"] > b["recency_frequency"]["auc"] + 0.02, (t["auc"], b["recency_frequency"]["auc"])
assert t["log_loss"] < b["base_rate"]["log_loss"], (t["log_loss"], b["base_rate"]["log_loss"])
# eval: the same test users, numbers and baselines
assert ev["test"]["examples"] == d["test_examples"] and ev["test"]["auc"] == t["auc"], (ev["test"], t["auc"])
assert ev["baseline"] == b
s = d["selection"]
assert (s["metric"], s["goal"], s["split"]) == ("log_loss", "min", "validation"), s
assert s["value"] == d["history"][d["best_epoch"] - 1]["val_loss"] and s["epoch"] == d["best_epoch"]
print("split %d/%d/%d; test AUC %.4f, RF rule %.4f, base-rate log loss %.4f vs %.4f" % (
    sets["train"].sum(), sets["valid"].sum(), sets["test"].sum(), t["auc"], b["recency_frequency"]["auc"], ll, t["log_loss"]))
PY

# --- the kept epoch is the best validation epoch, for both models and targets
kept() {  # NAME GROUP ARGS...: train, check the kept epoch, retrain to it and compare the parameters
  local name=$1 group=$2; shift 2
  run_np "$NP" train propensity $S --out "$name.h5" "$@" --patience 0 --metrics-out "$name.json"
  best=$("$PY" - "$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = [h["val_loss"] for h in d["history"]]
b = d["best_epoch"]
assert len(v) == d["epochs_run"] and b < d["epochs_run"], ("validation loss never rose", b, v)
assert v[b - 1] == min(v) and v.index(min(v)) == b - 1, (b, v)
assert d["selection"]["value"] == v[b - 1], (d["selection"], v)
assert d["test_examples"] > 0 and "baseline" in d and "recency_frequency" in d["baseline"]
print(b)
PY
) || fail "$name: kept epoch"
  # the run to the kept epoch only: same epochs, so the same parameters
  local args=("$@") i
  for i in "${!args[@]}"; do [ "${args[$i]}" = --epochs ] && args[$((i + 1))]=$best; done
  run_np 1 train propensity $S --out "$name.best.h5" "${args[@]}" --patience 0
  [ "$("$MKT" digest "$name.h5" | grep "^$group/params")" = "$("$MKT" digest "$name.best.h5" | grep "^$group/params")" ] \
    || fail "$name: stored parameters are not those of the best epoch $best"
  "$PY" -c "import h5py,sys; g=h5py.File('$name.h5','r')['$group']; sys.exit(0 if g.attrs['best_epoch'] == $best else 1)" \
    || fail "$name: best_epoch attribute"
  echo "$name: kept epoch $best"
}
kept lr /models/propensity --optimizer adam --lr 0.5 --batch 64 --epochs 10
kept mlp /models/propensity --model mlp --hidden 8 --optimizer adam --lr 0.1 --batch 64 --epochs 8
kept item /models/propensity_item --target user_item --model mlp --hidden 8 --optimizer adam --lr 0.1 --batch 64 --epochs 8

# --- errors: no test users
expect_fail "$NP" train propensity $S --out x.h5 --test-fraction 0
grep -q "test-fraction: 0 is not in (0, 1)" err.txt || fail "no clear message for --test-fraction 0: $(cat err.txt)"
expect_fail "$NP" train propensity $S --out x.h5 --test-fraction 0.5 --valid-fraction 0.5
grep -q "valid-fraction 0.5 + test-fraction 0.5 must be below 1" err.txt || fail "fractions adding up to 1 accepted"
expect_fail "$NP" train propensity $S --out x.h5 --test-fraction 1e-9
grep -q "no test users (test-fraction 1e-09)" err.txt || fail "an empty test set was not refused: $(cat err.txt)"
expect_fail "$NP" train propensity $S --out x.h5 --target user_item --test-fraction 1e-9
grep -q "no test user x item rows" err.txt || fail "an empty user x item test set was not refused: $(cat err.txt)"
cp m.h5 tiny.h5
"$PY" -c "import h5py; h5py.File('tiny.h5', 'r+')['models/propensity'].attrs['test_fraction'] = 1e-9"
expect_fail "$NP" eval propensity --store shop.h5 --model tiny.h5
grep -q "eval propensity: no test users" err.txt || fail "eval reported on an empty test set: $(cat err.txt)"

# --- a checkpoint names the test fraction: resuming with another one is refused
set +e
MKT_TEST_STOP_AFTER_ITER=3 timeout -k 5 120 mpirun -np "$NP" "$MKT" train propensity $S --out ck.h5 \
  --optimizer adam --epochs 6 >/dev/null 2>&1
status=$?
set -e
[ "$status" -eq 75 ] || fail "expected preemption (75), got $status"
expect_fail "$NP" train propensity $S --out ck.h5 --optimizer adam --epochs 6 --test-fraction 0.25 --resume
[ "$status" -eq 2 ] && grep -q "test_fraction = 0.2.*test_fraction = 0.25" err.txt \
  || fail "resume with another test fraction: status $status $(cat err.txt)"
echo "ok: propensity split, kept epoch, baselines and errors at $NP ranks"
