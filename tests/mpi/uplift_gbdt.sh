# At NP ranks: `train uplift --learner gbdt` (boosted-tree base models).
# On a generated shop with planted heterogeneous effects (/truth/effect_*),
# the gbdt T-learner's predicted conversion effects correlate with the truth
# (>= 0.7 per arm) and not worse than the linear T-learner's by more than 0.1
# (the planted effect is a difference of two logistic curves, which the
# linear T-learner represents exactly: it is the ceiling here), its top 10%
# has at least twice the mean planted effect and its held-out Qini is
# positive; the gbdt X- and DR-learners correlate >= 0.6.  The models hold
# forests and no coefficients, eval uplift recomputes the held-out metrics
# from the forests, the gateway's uplift op serves a gbdt model's per-user
# predictions, the T- and DR-learners' models are the same bits on 1 rank, and
# a run stopped between fits resumes from its checkpoint to the same model.  Bad gbdt options give exit 2 naming the option.
#
# Measured (any rank count), correlation with the planted conversion effect,
# linear T / gbdt T / gbdt X / gbdt DR at the defaults: coupon5 0.864 / 0.814
# / 0.837 / 0.858, free_shipping 0.963 / 0.903 / 0.963 / 0.928, pct10 0.932 /
# 0.872 / 0.912 / 0.854.  About 25 s at 4 ranks on 2 cores.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 20000 --items 50 --days 7 --ratings-per-user 0 --seed 3 --out shop.h5 >/dev/null 2>&1
run_np "$NP" train uplift --store shop.h5 --out lin.h5 --method t --metrics-out lin.json >/dev/null 2>&1
for m in t x dr; do
  run_np "$NP" train uplift --store shop.h5 --out "g$m.h5" --method "$m" --learner gbdt --metrics-out "g$m.json" \
    >/dev/null 2>&1
done

"$PY" - lin.json gt.json gx.json gdr.json <<'EOF' || fail "the gbdt learners do not recover the planted effects"
import json, sys
lin, t, x, dr = (json.load(open(f)) for f in sys.argv[1:5])
assert t["learner"] == "gbdt" and "learner" not in lin, (t.get("learner"), lin.get("learner"))
for arm in ("coupon5", "free_shipping", "pct10"):
    l, g = lin["arms"][arm]["conversion"], t["arms"][arm]["conversion"]
    gx, gd = x["arms"][arm]["conversion"], dr["arms"][arm]["conversion"]
    print(arm, f"linear t corr {l['truth_correlation']:.3f} u30 {l['uplift_at_30']:.4f} | gbdt t corr "
          f"{g['truth_correlation']:.3f} u30 {g['uplift_at_30']:.4f} qini {g['qini']:.5f} | gbdt x corr "
          f"{gx['truth_correlation']:.3f} | gbdt dr corr {gd['truth_correlation']:.3f}")
    assert g["truth_correlation"] >= 0.7, (arm, g)
    assert g["truth_correlation"] >= l["truth_correlation"] - 0.1, (arm, g, l)
    assert g["qini"] > 0 and g["truth_mean_effect_top10"] >= 2 * g["truth_mean_effect"], (arm, g)
    assert gx["truth_correlation"] >= 0.6 and gd["truth_correlation"] >= 0.6, (arm, gx, gd)
    # spend: a squared-loss forest per arm
    assert t["arms"][arm]["spend"]["truth_correlation"] >= 0.3, (arm, t["arms"][arm]["spend"])
for m in (t, x, dr):
    assert m["selection"]["split"] == "validation" and m["selection"]["value"] > 0, m["selection"]
EOF

# the model file: forests (one per fit), learner = gbdt, no coefficients
"$PY" - gt.h5 gx.h5 gdr.h5 <<'EOF' || fail "gbdt model layout"
import h5py, sys
for path, want in zip(sys.argv[1:4], (["forest_conversion_arm0", "forest_spend_arm3"],
                                      ["forest_conversion_x1_1", "forest_conversion_x0_3", "forest_spend_x1_2"],
                                      ["forest_conversion_fold1_arm2", "forest_conversion_base", "forest_spend_dr_3"])):
    g = h5py.File(path, "r")["models/uplift"]
    learner = g.attrs["learner"]
    assert (learner.decode() if isinstance(learner, bytes) else learner) == "gbdt", path
    assert not [k for k in g if k.startswith("coef_")], (path, list(g))
    for w in want:
        assert w in g and g[w]["forest"].attrs["trees"] >= 1, (path, w)
    if "x1_1" in want[0]:
        assert 0 < g["forest_conversion_x1_1"].attrs["share"] < 1
    assert g["predicted_conversion"].shape == (len(g["user"]), 3)
EOF

# eval recomputes the held-out metrics from the forests
for m in t x dr; do
  run_np "$NP" eval uplift --store shop.h5 --model "g$m.h5" --metrics-out "e$m.json" >/dev/null 2>&1
  "$PY" - "g$m.json" "e$m.json" <<'EOF' || fail "eval uplift of a gbdt model differs from train's metrics"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a["arms"] == b["arms"] and b["learner"] == "gbdt", (a["arms"], b["arms"])
EOF
done

# the gateway's uplift op serves a gbdt model's per-user predictions
umask 077
echo "uplift-gbdt-token-$RANDOM-$RANDOM" > token
serve_start "$NP" --store shop.h5 --models gt.h5 --token-file token
ENDPOINT=$endpoint TOKEN=$(cat token) timeout 60 "$PY" - <<'EOF' || fail "gateway uplift op on a gbdt model"
import json, os, zmq, h5py, numpy as np
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.RCVTIMEO, 5000); sock.setsockopt(zmq.LINGER, 0)
sock.connect(os.environ["ENDPOINT"])
def ask(req):
    sock.send(json.dumps(req).encode()); return json.loads(sock.recv())
s = h5py.File("shop.h5", "r"); up = h5py.File("gt.h5", "r")["models/uplift"]
users = [x.decode() for x in s["ids/users"][:]]
for row in (3, 117):
    u = int(up["user"][row]); first = int(np.nonzero(up["user"][:] == u)[0][0])
    r = ask({"op": "uplift", "user": users[u]})
    assert [a["conversion"] for a in r["arms"]] == list(up["predicted_conversion"][first]), r
    assert [a["spend"] for a in r["arms"]] == list(up["predicted_spend"][first]), r
assert ask({"op": "shutdown", "token": os.environ["TOKEN"]})["ok"] is True
EOF
serve_wait_stopped

# rank independence: the same forests and predictions on 1 rank
if [ "$NP" -ne 1 ]; then
  for m in t dr; do
    run_np 1 train uplift --store shop.h5 --out "g${m}1.h5" --method "$m" --learner gbdt >/dev/null 2>&1
    diff <("$MKT" digest "g${m}1.h5" | grep '^/models/uplift/') <("$MKT" digest "g$m.h5" | grep '^/models/uplift/') \
      || fail "gbdt $m-learner model at $NP ranks differs from the 1-rank model"
  done
fi

# checkpoints between fits: stopped after fit 5 (preempted, exit 75), resumed,
# the same model as the uninterrupted run
export MKT_TEST_STOP_AFTER_ITER=5
expect_fail "$NP" train uplift --store shop.h5 --out gx2.h5 --method x --learner gbdt
unset MKT_TEST_STOP_AFTER_ITER
[ "$status" -eq 75 ] && [ -f gx2.h5.uplift.ckpt.h5 ] || fail "gbdt run not preempted with a checkpoint (exit $status)"
run_np "$NP" train uplift --store shop.h5 --out gx2.h5 --method x --learner gbdt --resume --metrics-out gx2.json \
  >/dev/null 2>&1
[ "$(json_get gx2.json '["resumed_from_iteration"]')" = 5 ] || fail "the gbdt run did not resume from fit 5"
diff <("$MKT" digest gx2.h5 | grep '^/models/uplift/') <("$MKT" digest gx.h5 | grep '^/models/uplift/') \
  || fail "the resumed gbdt X-learner differs from the uninterrupted run"

# bad gbdt options: exit 2 (usage) naming the option
check_bad() {
  local name=$1; shift
  expect_fail "$NP" train uplift --store shop.h5 --out bad.h5 "$@"
  [ "$status" -eq 2 ] || fail "$* gave exit $status, not 2"
  grep -q -- "$name" err.txt || fail "$* not refused by name ($name): $(cat err.txt)"
}
check_bad learner --learner forest
check_bad learner --learner gbdt --method s
check_bad depth --learner gbdt --depth 0
check_bad eta --learner gbdt --eta 0
check_bad rounds --learner gbdt --rounds 0
check_bad bins --learner gbdt --bins 1
check_bad subsample --learner gbdt --subsample 1.5
check_bad colsample --learner gbdt --colsample 0
check_bad min-child-weight --learner gbdt --min-child-weight -1
check_bad early-stop --learner gbdt --early-stop -1
echo "uplift_gbdt ok"
