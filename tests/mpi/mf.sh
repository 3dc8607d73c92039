# At NP ranks, `mkt train mf` / `mkt eval mf` on a shop with planted factors:
# explicit ALS reaches a held-out RMSE within 10% of the planted rating noise
# (0.5) and beats the bias-only baseline; eval recomputes the same RMSE from
# the saved model; implicit ALS at least doubles popularity's HR@10, by
# Cholesky and by CG; the targeted exchange gives the same model, also
# across a preemption and --resume; bad options and stores give clear errors.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 3000 --items 300 --days 10 --factors 4 --rating-noise 0.5 --ratings-per-user 60 \
  --seed 3 --out shop.h5 >/dev/null 2>&1

# explicit
run_np "$NP" train mf --store shop.h5 --out m.h5 --rank 4 --iters 15 --lambda 0.005 --seed 1 --metrics-out m.json
"$PY" - <<'PY' || fail "explicit metrics: $(cat m.json)"
import json, h5py
m = json.load(open("m.json"))
print("rmse", m["rmse"], "bias-only", m["baseline"]["bias_rmse"], "global mean", m["baseline"]["global_mean_rmse"])
assert m["rmse"] <= 0.55, m["rmse"]
assert m["rmse"] < 0.9 * m["baseline"]["bias_rmse"] < m["baseline"]["global_mean_rmse"]
assert len(m["history"]) == 15 and m["history"][-1]["rmse"] == m["rmse"]
f = h5py.File("m.h5", "r")["models/mf"]
assert f["user_factors"].shape == (3000, 4) and f["item_factors"].shape == (300, 4)
assert f["user_bias"].shape == (3000,) and f["item_bias"].shape == (300,)
assert f.attrs["rank"] == 4 and f.attrs["implicit"] == 0 and abs(f.attrs["global_mean"] - m["global_mean"]) < 1e-12
PY
run_np "$NP" eval mf --store shop.h5 --model m.h5 --metrics-out e.json
"$PY" -c "
import json; m = json.load(open('m.json')); e = json.load(open('e.json'))
assert abs(e['rmse'] - m['rmse']) < 1e-12 and abs(e['mae'] - m['mae']) < 1e-12, (e, m)" || fail "eval differs from train"

# implicit
run_np "$NP" train mf --store shop.h5 --out mi.h5 --implicit --rank 8 --iters 8 --lambda 1 --alpha 10 \
  --metrics-out mi.json
"$PY" - <<'PY' || fail "implicit metrics: $(cat mi.json)"
import json
m = json.load(open("mi.json"))
print("HR@10", m["model"]["hr@10"], "popularity", m["popularity"]["hr@10"])
assert m["users_evaluated"] > 2500
assert m["model"]["hr@10"] >= 2 * m["popularity"]["hr@10"] > 0
assert m["model"]["ndcg@10"] > m["popularity"]["ndcg@10"]
assert m["model"]["coverage@10"] > m["popularity"]["coverage@10"]
PY
# implicit, conjugate gradient (3 steps, warm start): HR@10 within 0.03 of
# Cholesky's, and the time per iteration reported
run_np "$NP" train mf --store shop.h5 --out mc.h5 --implicit --rank 8 --iters 8 --lambda 1 --alpha 10 \
  --solver cg --cg-iters 3 --metrics-out mc.json
"$PY" - <<'PY' || fail "implicit CG metrics: $(cat mc.json)"
import json
c = json.load(open("mc.json")); m = json.load(open("mi.json"))
print("CG HR@10", c["model"]["hr@10"], "Cholesky", m["model"]["hr@10"],
      "s/iter CG", c["seconds_per_iteration"], "Cholesky", m["seconds_per_iteration"])
assert c["solver"] == "cg" and c["cg_iters"] == 3 and m["solver"] == "cholesky"
assert abs(c["model"]["hr@10"] - m["model"]["hr@10"]) <= 0.03
assert c["model"]["hr@10"] >= 2 * c["popularity"]["hr@10"]
assert c["seconds_per_iteration"] > 0 and c["phase_seconds_per_iteration"]["solve"] > 0
assert all(h["seconds"] > 0 for h in c["history"]) and len(c["history"]) == 8
PY
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --solver cg
grep -q "implicit only" err.txt || fail "explicit --solver cg not refused: $(cat err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --implicit --solver lu
grep -q "cholesky or cg" err.txt || fail "bad --solver not named: $(cat err.txt)"
run_np "$NP" eval mf --store shop.h5 --model mi.h5 --metrics-out ei.json
"$PY" -c "
import json; m = json.load(open('mi.json')); e = json.load(open('ei.json'))
assert e['model'] == m['model'] and e['popularity'] == m['popularity'], (e, m)" || fail "implicit eval differs"

# targeted exchange: the same model as the allgather, also when stopped by a
# signal after iteration 2 and resumed (the checkpoint gathers every row)
run_np "$NP" train mf --store shop.h5 --out mt.h5 --implicit --rank 8 --iters 4 --lambda 1 --alpha 10 \
  --solver cg --exchange allgather --metrics-out mt.json
set +e
MKT_TEST_STOP_AFTER_ITER=2 timeout -k 5 120 mpirun -np "$NP" "$MKT" train mf --store shop.h5 --out mr.h5 \
  --implicit --rank 8 --iters 4 --lambda 1 --alpha 10 --solver cg --exchange targeted >/dev/null 2>err.txt
status=$?
set -e
[ "$status" -eq 75 ] || fail "targeted run not preempted (status $status): $(tail -3 err.txt)"
run_np "$NP" train mf --store shop.h5 --out mr.h5 --implicit --rank 8 --iters 4 --lambda 1 --alpha 10 \
  --solver cg --exchange targeted --resume --metrics-out mr.json
diff <("$MKT" digest mt.h5 | grep '^/models/mf/') <("$MKT" digest mr.h5 | grep '^/models/mf/') \
  || fail "targeted exchange after resume differs from the allgather run"
[ "$(json_get mr.json '["resumed_from_iteration"]')" = 2 ] || fail "not resumed from iteration 2"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --exchange ring
grep -q "allgather or targeted" err.txt || fail "bad --exchange not named: $(cat err.txt)"

# bad options and stores
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --rank 0
grep -q "rank" err.txt || fail "rank 0 not reported: $(cat err.txt)"
expect_fail "$NP" train mf --store nope.h5 --out bad.h5
grep -q "nope.h5" err.txt || fail "missing store not named: $(cat err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --lambda 0
grep -q "lambda" err.txt || fail "lambda 0 not reported: $(cat err.txt)"
run_np "$NP" gen --users 200 --items 50 --days 3 --ratings-per-user 0 --seed 3 --out norat.h5 >/dev/null 2>&1
expect_fail "$NP" train mf --store norat.h5 --out bad.h5
grep -q "no training ratings" err.txt || fail "store without ratings not reported: $(cat err.txt)"
[ ! -e bad.h5 ] || fail "a failed training published a model"
expect_fail "$NP" eval mf --store shop.h5 --model shop.h5
grep -q "no /models/mf" err.txt || fail "model without /models/mf not reported: $(cat err.txt)"
echo "ok: mf at $NP ranks"
