# At NP ranks, how explicit `mkt train mf` chooses its own settings on a shop
# with planted factors: --lambda auto lands within 10% of the best fixed
# lambda of a grid (held-out RMSE), equals a plain run with the lambda it
# chose, and chooses the same lambda on another rank count; early stopping
# writes the best validation iteration's factors and stops `patience`
# iterations after it; the validation ratings are disjoint from training
# and hold-out; bad values of the new options are named.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 2000 --items 200 --days 10 --factors 4 --rating-noise 0.5 --ratings-per-user 40 \
  --seed 7 --out shop.h5 >/dev/null 2>&1
other=$([ "$NP" = 1 ] && echo 2 || echo 1)
datasets() { "$MKT" digest "$1" | grep '^/models/mf/'; }

# a grid of fixed lambdas, every run early-stopped on the same validation split
for l in 0.001 0.003 0.01 0.03 0.1 0.3 1; do
  run_np "$NP" train mf --store shop.h5 --out g$l.h5 --rank 4 --lambda $l --metrics-out g$l.json 2>/dev/null
done
run_np "$NP" train mf --store shop.h5 --out auto.h5 --rank 4 --metrics-out auto.json 2>/dev/null
"$PY" - <<'PY' || fail "lambda auto: $(cat auto.json)"
import json, glob
grid = {f[1:-5]: json.load(open(f)) for f in glob.glob("g*.json")}
a = json.load(open("auto.json"))
best = min(grid.values(), key=lambda m: m["rmse"])
print("grid held-out RMSE:", {k: round(m["rmse"], 4) for k, m in sorted(grid.items(), key=lambda x: float(x[0]))})
print("auto: lambda", a["lambda"], "RMSE", a["rmse"], "best fixed", best["lambda"], best["rmse"],
      "biases only", a["baseline"]["bias_rmse"], "(lambda", a["baseline"]["bias_lambda"], ")")
assert a["lambda_mode"] == "auto" and len(a["lambda_search"]) >= 5
assert a["rmse"] <= 1.10 * best["rmse"], (a["rmse"], best["rmse"])
# the chosen lambda is the trial with the lowest validation RMSE
t = min(a["lambda_search"], key=lambda t: t["validation_rmse"])
assert t["lambda"] == a["lambda"], (t, a["lambda"])
assert a["rmse"] < a["baseline"]["bias_rmse"] < a["baseline"]["global_mean_rmse"]
s = a["selection"]
assert s["metric"] == "rmse" and s["goal"] == "min" and s["split"] == "validation" and s["value"] == a["validation_rmse"]
assert a["validation_entries"] > 0.05 * (a["train_entries"] + a["validation_entries"])
PY
chosen=$(json_get auto.json '["lambda"]')
run_np "$NP" train mf --store shop.h5 --out fixed.h5 --rank 4 --lambda "$chosen" 2>/dev/null
diff <(datasets auto.h5) <(datasets fixed.h5) || fail "lambda auto differs from --lambda $chosen"
run_np "$other" train mf --store shop.h5 --out auto$other.h5 --rank 4 2>/dev/null
diff <(datasets auto.h5) <(datasets auto$other.h5) || fail "lambda auto at $NP ranks differs from $other"

# early stopping: a small lambda overfits; the model written is the best
# validation iteration's, equal to a run of exactly that many iterations
run_np "$NP" train mf --store shop.h5 --out all.h5 --rank 8 --lambda 0.002 --iters 14 --patience 0 \
  --metrics-out all.json 2>/dev/null
run_np "$NP" train mf --store shop.h5 --out es.h5 --rank 8 --lambda 0.002 --iters 14 --patience 2 \
  --metrics-out es.json 2>/dev/null
best=$("$PY" - <<'PY'
import json
a = json.load(open("all.json")); e = json.load(open("es.json"))
v = [h["validation_rmse"] for h in a["history"]]
b = v.index(min(v)) + 1
assert len(v) == 14 and a["best_iteration"] == b and 1 < b < 12, (v, a["best_iteration"])
assert e["best_iteration"] == b and e["iterations_run"] == b + 2, (e["best_iteration"], e["iterations_run"])
assert abs(a["validation_rmse"] - min(v)) < 1e-12 and a["rmse"] == a["history"][b - 1]["rmse"]
print(b)
PY
) || fail "early stopping: $(cat all.json)"
run_np "$NP" train mf --store shop.h5 --out cut.h5 --rank 8 --lambda 0.002 --iters "$best" --patience 0 2>/dev/null
diff <(datasets all.h5 | grep factors) <(datasets cut.h5 | grep factors) || fail "patience 0 did not write iteration $best"
diff <(datasets es.h5 | grep factors) <(datasets cut.h5 | grep factors) || fail "early stop did not write iteration $best"
run_np "$NP" eval mf --store shop.h5 --model es.h5 --metrics-out ees.json 2>/dev/null
"$PY" -c "
import json; m = json.load(open('es.json')); e = json.load(open('ees.json'))
assert abs(e['rmse'] - m['rmse']) < 1e-12, (e['rmse'], m['rmse'])" || fail "eval of an early-stopped model differs"

# implicit: lambda auto by validation NDCG (each validation user's last
# training item), the same model as a plain run with the chosen lambda,
# beating popularity on the held-out items
run_np "$NP" train mf --store shop.h5 --out iauto.h5 --implicit --rank 8 --metrics-out iauto.json 2>/dev/null
"$PY" - <<'PY' || fail "implicit lambda auto: $(cat iauto.json)"
import json
a = json.load(open("iauto.json"))
t = max(a["lambda_search"], key=lambda t: t["validation_ndcg"])
print("implicit auto: lambda", a["lambda"], "validation NDCG", a["validation"]["ndcg@10"], "held-out NDCG",
      a["model"]["ndcg@10"], "popularity", a["popularity"]["ndcg@10"])
assert t["lambda"] == a["lambda"] and len(a["lambda_search"]) >= 5
assert a["selection"] == {"metric": "ndcg@10", "value": a["validation"]["ndcg@10"], "goal": "max", "split": "validation"}
assert 0 < a["validation_entries"] <= a["users"]
assert a["model"]["ndcg@10"] > a["popularity"]["ndcg@10"]
PY
ichosen=$(json_get iauto.json '["lambda"]')
run_np "$NP" train mf --store shop.h5 --out ifixed.h5 --implicit --rank 8 --lambda "$ichosen" 2>/dev/null
diff <(datasets iauto.h5) <(datasets ifixed.h5) || fail "implicit lambda auto differs from --lambda $ichosen"

# bad values
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --lambda soon
grep -q -- "--lambda must be a number in (0, 1e9\] or auto (got 'soon')" err.txt || fail "bad --lambda: $(cat err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --lambda -1
grep -q -- "--lambda must be" err.txt || fail "negative --lambda: $(cat err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --valid-fraction 0
grep -q -- "--lambda auto .* needs --valid-fraction > 0" err.txt || fail "auto without validation: $(cat err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --patience -1 --lambda 0.1
grep -q "patience" err.txt || fail "bad --patience: $(cat err.txt)"
[ ! -e bad.h5 ] || fail "a failed run left bad.h5"
echo "mf_select OK at $NP ranks"
