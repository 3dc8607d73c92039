# `mkt strategy` and `mkt report` with a boosted-tree propensity model
# (model = "gbdt"), made by hand from a trained logistic one
# (tests/gbdt_craft.py):
#  - the strategy scores users with the forest (its metrics say so), the
#    propensity_rank reference policy follows the forest's ranking (negated
#    leaves change it, the strategy's own totals stay), and /strategy is the
#    same at NP ranks and at 1;
#  - corrupt forests (a child outside its tree, a NaN threshold) end the
#    strategy with a message naming the file and the dataset;
#  - the report shows the forest's feature importance by gain (the features
#    by name, in the order and shares of the hand-made gains) and the
#    learning curve per boosting round from the metrics history
#    [{"round", "train_loss", "val_loss"}, ...].
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 1200 --items 150 --days 14 --factors 4 --ratings-per-user 10 --seed 11 --out shop.h5 >/dev/null 2>&1
run_np "$NP" features --store shop.h5 >/dev/null 2>&1
run_np "$NP" train mf --store shop.h5 --out model.h5 --rank 4 --iters 4 >/dev/null 2>&1
run_np "$NP" train uplift --store shop.h5 --out model.h5 --method t >/dev/null 2>&1
run_np "$NP" train propensity --store shop.h5 --out model.h5 --horizon-days 3 >/dev/null 2>&1
# the strategy scores /features/users with the model's standardization
for v in good negated child nan; do
  "$PY" "$SRC/tests/gbdt_craft.py" model.h5 "$v.h5" shop.h5 features/users "$v" > "$v.features"
done

strat() {  # MODEL OUT [NP]
  run_np "${3:-$NP}" strategy --store shop.h5 --models "$1" --budget 450 --out "s_$2.h5" --bootstrap 20 \
    --metrics-out "$2.json" 2>"$2.log" || { cat "$2.log"; fail "strategy on $1 failed"; }
}
strat model.h5 logistic
strat good.h5 gbdt
strat negated.h5 negated
strat good.h5 gbdt1 1
"$MKT" digest s_gbdt.h5 | grep '^/strategy/' > np.digest
"$MKT" digest s_gbdt1.h5 | grep '^/strategy/' > one.digest
[ -s np.digest ] && diff np.digest one.digest || fail "/strategy with a gbdt model differs between $NP ranks and 1"

SRC="$SRC" "$PY" - <<'EOF' || fail "strategy metrics with a gbdt propensity model"
import json, os, sys
import numpy as np
sys.path.insert(0, os.path.join(os.environ["SRC"], "tests"))
import gbdt_craft
m = {k: json.load(open(k + ".json")) for k in ("logistic", "gbdt", "negated")}
assert m["gbdt"]["propensity"] == "from /models/propensity (gbdt forest) on /features/users", m["gbdt"]["propensity"]
assert m["logistic"]["propensity"] == "from /models/propensity on /features/users", m["logistic"]["propensity"]
tot = {k: v["totals"] for k, v in m.items()}
for k in m:
    assert isinstance(m[k].get("propensity_threshold"), float), (k, m[k].get("propensity_threshold"))
# the strategy itself does not use propensity: the same totals under every propensity model
for k in ("gbdt", "negated"):
    assert tot[k]["strategy"] == tot["logistic"]["strategy"], k
# the propensity_rank policy follows the model: the forest's ranking, reversed by negated leaves
pr = {k: (tot[k]["propensity_rank"]["incremental_profit"]["value"], m[k]["propensity_threshold"]) for k in m}
print("propensity_rank (profit, threshold):", pr)
assert pr["gbdt"] != pr["negated"] and pr["gbdt"] != pr["logistic"], pr
# a forest gives a few distinct probabilities, and the threshold the policy bisects for
# sits on one of them (the hand-computed ones, not the logistic model's)
for k in ("gbdt", "negated"):
    v = np.unique(gbdt_craft.probability(k.replace("gbdt", "good") + ".h5", "shop.h5", "features/users"))
    tau = m[k]["propensity_threshold"]
    assert len(v) >= 4 and np.min(np.abs(v - tau)) < 1e-7, (k, tau, v)
assert tot["gbdt"]["propensity_rank"]["promotion_cost"]["value"] > 0, tot["gbdt"]["propensity_rank"]
EOF

for c in "child.h5: /models/propensity/forest: left/right: node 2 of tree 0 points outside its tree" \
         "nan.h5: /models/propensity/forest/threshold[2] is nan, not a finite number"; do
  f=${c%%:*}
  expect_fail "$NP" strategy --store shop.h5 --models "$f" --budget 450 --out bad.h5
  grep -qF "$c" err.txt || fail "strategy on $f: expected '$c', got: $(grep error err.txt)"
done

# the report: importance by gain and the learning curve of a gbdt model
mkdir -p metrics
"$PY" - <<'EOF'
import json, math
h = [{"round": r, "train_loss": 0.6 * math.exp(-r / 8) + 0.3, "val_loss": 0.5 + 0.002 * (r - 12) ** 2 / 10}
     for r in range(1, 31)]
json.dump({"model": "gbdt", "history": h, "best_round": 12}, open("metrics/train_propensity.json", "w"))
EOF
run_np "$NP" report --models good.h5 --metrics-dir metrics --out rep 2>report.err || { cat report.err; fail "report failed"; }
"$PY" - good.h5 "$(cat good.features)" <<'EOF' || fail "report: importance section or learning curve"
import html, re, sys, h5py
names = [x.decode() for x in h5py.File(sys.argv[1], "r")["models/propensity/feature_names"][:]]
a, b, c = (int(x) for x in sys.argv[2].split())
page = open("rep/index.html", encoding="utf-8").read()
sec = page[page.index('id="propensity"'):]
assert 'src="propensity_importance.png"' in sec, "no importance plot in section 2"
rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)%</td></tr>", sec)
# hand-made gains: feature c 7, a 5, b 2 (gbdt_craft.GAIN)
want = [(names[c], 50.0), (names[a], 100 * 5 / 14), (names[b], 100 * 2 / 14)]
assert [html.unescape(r[1]) for r in rows] == [w[0] for w in want], (rows, want)
assert all(abs(float(r[3]) - w[1]) < 0.06 for r, w in zip(rows, want)), (rows, want)
assert "top feature by gain" in page[:page.index('id="training"')], "no key number for the importance"
dat = [l.split() for l in open("rep/propensity_importance.dat") if not l.startswith("#")]
assert [int(l[1]) for l in dat] == [c, a, b], dat
tr = [l.split() for l in open("rep/propensity_training.dat") if not l.startswith("#")]
assert len(tr) == 30 and tr[0][0] == "1" and tr[-1][0] == "30", tr[:2]
assert "boosting round" in open("rep/propensity_training.gp").read()
assert 'src="propensity_training.png"' in page and "after round 12 (of 30)" in page
print("importance:", rows)
EOF
# A gbdt uplift model (boosted-tree T-learner): with --effects model the
# strategy applies its forests to every user, so a promoted user's effect of
# the chosen arm equals the model's own prediction for the user's campaign row.
cp model.h5 upl.h5
run_np "$NP" train uplift --store shop.h5 --out upl.h5 --method t --learner gbdt --rounds 40 >/dev/null 2>&1 ||
  fail "train uplift --learner gbdt"
run_np "$NP" strategy --store shop.h5 --models upl.h5 --budget 450 --effects model --out s_upl.h5 \
  --metrics-out s_upl.json >/dev/null 2>strategy_upl.err || { cat strategy_upl.err; fail "strategy with a gbdt uplift model"; }
"$PY" - <<'EOF' || fail "strategy: the gbdt uplift effects"
import json, h5py
m = json.load(open("s_upl.json"))
assert m["effects"]["model"] == "the forests of /models/uplift as they are", m["effects"]
s, u = h5py.File("s_upl.h5", "r")["strategy"], h5py.File("upl.h5", "r")["models/uplift"]
row = {int(x): i for i, x in enumerate(u["user"][:])}
pred, pro, uc = u["predicted_conversion"][:], s["promotion"][:], s["uplift_conversion"][:]
k = [j for j, x in enumerate(s["user"][:]) if pro[j] > 0 and int(x) in row]
assert len(k) >= 20, len(k)
worst = max(abs(uc[j] - pred[row[int(s["user"][j])], pro[j] - 1]) for j in k)
assert worst < 1e-12, worst
print("gbdt uplift in the strategy:", len(k), "promoted users, effects as the model's, worst", worst)
EOF
echo "ok: strategy and report with a gbdt propensity model at $NP ranks"
