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
# --factors is the option's name, --rank its former one: the same model
run_np "$NP" train mf --store shop.h5 --out m2.h5 --factors 4 --iters 15 --lambda 0.005 --seed 1
cmp -s <("$MKT" digest m.h5) <("$MKT" digest m2.h5) || fail "--factors 4 and --rank 4 give different models"

# --until: only events before the cut-off train (and are held out); the
# training plus held-out entries are exactly the rating events (explicit) or
# the distinct positive-weight user-item pairs (implicit) before it, counted
# here with h5py; the model records until_ts (without --until: the store's
# end_ts); the factors are the same on another rank count; eval rebuilds
# the same split from the model
other=$([ "$NP" = 1 ] && echo 2 || echo 1)
for np in "$NP" "$other"; do
  run_np "$np" train mf --store shop.h5 --out mu$np.h5 --rank 4 --iters 4 --lambda 0.005 --seed 1 \
    --until 2026-01-06 --metrics-out mu$np.json
  run_np "$np" train mf --store shop.h5 --out miu$np.h5 --implicit --rank 6 --iters 3 --lambda 1 \
    --until 2026-01-05T12:00:00Z --metrics-out miu$np.json
done
for m in mu miu; do
  diff <("$MKT" digest $m$NP.h5 | grep '^/models/mf/') <("$MKT" digest $m$other.h5 | grep '^/models/mf/') \
    || fail "--until model $m at $NP ranks differs from $other"
done
"$PY" - <<'PY' || fail "--until counts"
import json, h5py, numpy as np
s = h5py.File("shop.h5", "r"); e = s["events/by_user"]
ts, typ, user, item = e["ts"][:], e["type"][:], e["user"][:], e["item"][:]
t_ex, t_im = 1767657600, 1767614400          # 2026-01-06, 2026-01-05T12:00:00Z
m = json.load(open("mu1.json")); mi = json.load(open("miu1.json")); full = json.load(open("m.json"))
ratings = int(((typ == 5) & (ts < t_ex)).sum())
print("until: ratings before", ratings, "of", int((typ == 5).sum()), "train", m["train_entries"], "held out",
      m["heldout_entries"])
assert 0 < ratings < full["train_entries"] + full["validation_entries"] + full["heldout_entries"]
assert m["train_entries"] + m["validation_entries"] + m["heldout_entries"] == ratings, \
    (m["train_entries"], m["validation_entries"], m["heldout_entries"], ratings)
assert m["validation_entries"] > 0 and mi["validation_entries"] > 0
val = e["value"][:]
keep = ((typ < 5) | ((typ == 5) & (val > 0))) & (ts < t_im)  # default weights: every type counts, ratings > 0 too
pairs = len(np.unique(user[keep].astype(np.int64) * 1000003 + item[keep]))
print("until: implicit pairs before", pairs, "train", mi["train_entries"], "held out", mi["heldout_entries"])
assert mi["train_entries"] + mi["validation_entries"] + mi["heldout_entries"] == pairs
assert m["until_ts"] == t_ex and mi["until_ts"] == t_im and full["until_ts"] == s.attrs["end_ts"]
assert h5py.File("mu1.h5", "r")["models/mf"].attrs["until_ts"] == t_ex
assert h5py.File("m.h5", "r")["models/mf"].attrs["until_ts"] == s.attrs["end_ts"]
assert all(ts < s.attrs["end_ts"])           # end_ts is exclusive: the default until_ts uses every event
# the fixed cost of the process is reported beside the peak
assert 0 < full["baseline_rss_mb"] <= min(full["peak_rss_mb_per_rank"])
assert len(full["baseline_rss_mb_per_rank"]) == len(full["peak_rss_mb_per_rank"])
PY
run_np "$NP" eval mf --store shop.h5 --model mu$NP.h5 --metrics-out eu.json
"$PY" -c "
import json; m = json.load(open('mu$NP.json')); e = json.load(open('eu.json'))
assert e['heldout_entries'] == m['heldout_entries'] and abs(e['rmse'] - m['rmse']) < 1e-12, (e, m)" \
  || fail "eval of an --until model differs from train"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --until 2026-13-01
grep -q "until: not a timestamp: '2026-13-01'" err.txt || fail "bad --until not named: $(cat err.txt)"
[ "$status" -eq 2 ] || fail "bad --until: status $status, expected 2"
expect_fail "$NP" train mf --store shop.h5 --out bad.h5 --until 2025-12-01
grep -q "no training ratings.*before --until" err.txt || fail "--until before the log not reported: $(cat err.txt)"
# a checkpoint of one cut-off is not resumed with another
set +e
MKT_TEST_STOP_AFTER_ITER=1 timeout -k 5 120 mpirun -np "$NP" "$MKT" train mf --store shop.h5 --out mk.h5 \
  --rank 4 --iters 3 --lambda 0.005 --until 2026-01-06 >/dev/null 2>err.txt
status=$?
set -e
[ "$status" -eq 75 ] || fail "--until run not preempted (status $status): $(tail -3 err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out mk.h5 --rank 4 --iters 3 --lambda 0.005 --until 2026-01-07 --resume
grep -q "until_ts" err.txt || fail "checkpoint of another --until resumed: $(cat err.txt)"

# implicit
run_np "$NP" train mf --store shop.h5 --out mi.h5 --implicit --rank 8 --iters 8 --lambda 1 --alpha 10 --patience 0 \
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
run_np "$NP" train mf --store shop.h5 --out mc.h5 --implicit --rank 8 --iters 8 --lambda 1 --alpha 10 --patience 0 \
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
