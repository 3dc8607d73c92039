# At NP ranks, a benchmark's official split end to end: a MovieLens-layout
# train file and test file (planted low-rank ratings, written here; the test
# file has users and items the train file lacks), the test file ingested
# through the training store's ids, an explicit model trained with
# --holdout 0 and scored by `eval mf --test` (beats biases only; counts every
# stored test rating), an implicit model on the ratings alone (confidence
# from the value, and the threshold form), and the errors: a test store of
# another training store, a model without a hold-out evaluated without
# --test.
. "$SRC/tests/lib.sh"
"$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(11)
U, I, K = 600, 120, 3
P, Q = rng.normal(0, 1, (U, K)), rng.normal(0, 1, (I, K))
bu, bi = rng.normal(0, 0.3, U), rng.normal(0, 0.3, I)
rows = []
for u in range(U):
    for i in rng.choice(I, 40, replace=False):
        r = 3.5 + bu[u] + bi[i] + P[u] @ Q[i] * 0.6 + rng.normal(0, 0.4)
        rows.append((u, int(i), int(min(5, max(1, round(r)))), 880000000 + len(rows)))
rng.shuffle(rows)
test = rows[: len(rows) // 5]
train = [r for r in rows[len(rows) // 5:] if r[0] < U - 20 and r[1] < I - 5]  # the last users/items: test only
with open("u.base", "w") as f:
    f.writelines("%d\t%d\t%d\t%d\n" % r for r in train)
with open("u.test", "w") as f:
    f.writelines("%d\t%d\t%d\t%d\n" % r for r in test)
known = sum(1 for r in test if r[0] < U - 20 and r[1] < I - 5)
open("known.txt", "w").write("%d\n" % known)
PY
run_np "$NP" ingest --format movielens --delimiter tab --input u.base --out train.h5 >/dev/null 2>&1
run_np "$NP" ingest --as test --into train.h5 --format movielens --delimiter tab --input u.test --out test.h5 \
  --metrics-out ti.json >/dev/null 2>&1
run_np "$NP" train mf --store train.h5 --out m.h5 --holdout 0 --rank 4 --metrics-out m.json 2>/dev/null
"$PY" -c "
import json; m = json.load(open('m.json'))
assert m['heldout_entries'] == 0 and 'rmse' not in m and m['validation_entries'] > 0, m" \
  || fail "--holdout 0 training reports a held-out RMSE"
run_np "$NP" eval mf --store train.h5 --model m.h5 --test test.h5 --metrics-out e.json 2>/dev/null
"$PY" - <<'PY' || fail "eval --test: $(cat e.json)"
import json
e = json.load(open("e.json")); known = int(open("known.txt").read())
print("test RMSE", e["rmse"], "biases only", e["baseline"]["bias_rmse"], "global mean", e["baseline"]["global_mean_rmse"],
      "over", e["heldout_entries"], "of", known, "known test ratings")
assert e["heldout_entries"] == known, (e["heldout_entries"], known)
assert e["rmse"] < e["baseline"]["bias_rmse"] < e["baseline"]["global_mean_rmse"]
assert e["test_store"] == "test.h5"
PY

# implicit on the ratings alone: confidence 1 + alpha * r, beats popularity on the test items
run_np "$NP" train mf --store train.h5 --out mi.h5 --implicit --rank 8 --lambda 1 --metrics-out mi.json 2>/dev/null
run_np "$NP" eval mf --store train.h5 --model mi.h5 --test test.h5 --metrics-out ei.json 2>/dev/null
"$PY" - <<'PY' || fail "implicit on ratings: $(cat ei.json)"
import json
m = json.load(open("mi.json")); e = json.load(open("ei.json"))
print("implicit on ratings: train pairs", m["train_entries"], "test HR@10", e["model"]["hr@10"],
      "popularity", e["popularity"]["hr@10"])
assert m["train_entries"] > 0 and e["users_evaluated"] > 0
assert e["model"]["ndcg@10"] > e["popularity"]["ndcg@10"]
PY
# threshold form: only ratings >= 4 are positives (pairs counted with h5py)
run_np "$NP" train mf --store train.h5 --out mt.h5 --implicit --rank 8 --lambda 1 --rating-threshold 4 \
  --metrics-out mt.json 2>/dev/null
"$PY" - <<'PY' || fail "rating threshold: $(cat mt.json)"
import json, h5py, numpy as np
m = json.load(open("mt.json")); e = h5py.File("train.h5", "r")["events/by_user"]
v, u, i = e["value"][:], e["user"][:], e["item"][:]
pairs = len(np.unique(u[v >= 4].astype(np.int64) * 100003 + i[v >= 4]))
assert m["train_entries"] + m["validation_entries"] + m["heldout_entries"] == pairs, \
    (m["train_entries"], m["validation_entries"], m["heldout_entries"], pairs)
PY

# errors: a test store of another training store; no hold-out and no --test
run_np "$NP" ingest --format movielens --delimiter tab --input u.test --out other.h5 >/dev/null 2>&1
run_np "$NP" ingest --as test --into other.h5 --format movielens --delimiter tab --input u.base --out othertest.h5 \
  >/dev/null 2>&1
expect_fail "$NP" eval mf --store train.h5 --model m.h5 --test othertest.h5
grep -q "othertest.h5" err.txt || fail "foreign test store not named: $(cat err.txt)"
expect_fail "$NP" eval mf --store train.h5 --model m.h5
grep -q "no held-out ratings.*--test" err.txt || fail "eval without hold-out: $(cat err.txt)"
# crafted stores: an index out of range, a non-finite rating, a row pointer
# out of order, in a test store and in a training store: a named error,
# never a crash or a silent result
"$PY" - <<'PY'
import h5py, numpy as np, shutil
def craft(src, dst, group, column, pos, value):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        d = f["events/%s/%s" % (group, column)]; a = d[:]; a[pos] = value; d[...] = a
craft("test.h5", "t_item.h5", "by_user", "item", 3, 10**6)
craft("test.h5", "t_nan.h5", "by_user", "value", 5, np.nan)
craft("test.h5", "t_ptr.h5", "by_user", "indptr", 2, -7)
craft("train.h5", "s_item.h5", "by_user", "item", 7, -5)
craft("train.h5", "s_inf.h5", "by_item", "value", 9, np.inf)
PY
expect_fail "$NP" eval mf --store train.h5 --model m.h5 --test t_item.h5
grep -q "t_item.h5: /events/by_user/item\[3\] = 1000000 is out of range" err.txt || fail "bad index: $(cat err.txt)"
expect_fail "$NP" eval mf --store train.h5 --model m.h5 --test t_nan.h5
grep -q "t_nan.h5: /events/by_user/value\[5\] is nan" err.txt || fail "NaN rating: $(cat err.txt)"
expect_fail "$NP" eval mf --store train.h5 --model m.h5 --test t_ptr.h5
grep -q "t_ptr.h5: /events/by_user/indptr\[2\] = -7 is outside the events" err.txt || fail "bad indptr: $(cat err.txt)"
expect_fail "$NP" train mf --store s_item.h5 --out bad.h5 --rank 4
grep -q "s_item.h5: /events/by_user/item\[7\] = -5 is out of range" err.txt || fail "bad train index: $(cat err.txt)"
expect_fail "$NP" train mf --store s_inf.h5 --out bad.h5 --rank 4
grep -q "s_inf.h5: /events/by_item/value\[9\] is inf" err.txt || fail "Inf rating: $(cat err.txt)"
expect_fail "$NP" train mf --store s_inf.h5 --out bad.h5 --rank 4 --implicit
grep -q "s_inf.h5: /events/by_item/value\[9\] is inf, not a finite number" err.txt || fail "Inf implicit: $(cat err.txt)"
[ ! -e bad.h5 ] || fail "a refused training wrote bad.h5"
echo "mf_testset OK at $NP ranks"
