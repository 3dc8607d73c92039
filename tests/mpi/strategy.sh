# At NP ranks: `mkt strategy` on a generated shop (3000 users, 500 items)
# with every model trained on it, checked against the planted truth:
#  - the expected promotion cost never exceeds the budget (also a tight one),
#    and an unconstrained budget gives multiplier 0;
#  - the predicted incremental profit of the strategy is within 25% of its
#    true value and the truth lies inside the reported 95% interval (refits of
#    the effect model); measured -7.1% at this seed, |error| median 7.9%,
#    max 68% over seeds 11-15 (bench/strategy_accuracy.sh, docs/strategy.md);
#  - the strategy's true incremental profit beats every reference policy's
#    true profit by at least 20% of the strategy's own true profit;
#  - /strategy has the documented schema, the CSV one row per user;
#  - bad input (missing model group, negative budget, unknown template
#    placeholder, an arm without a cost) fails with a clear message.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 3000 --items 400 --days 14 --factors 4 --ratings-per-user 10 --seed 11 --out shop.h5 >/dev/null 2>&1
run_np "$NP" features --store shop.h5 >/dev/null 2>&1
run_np "$NP" train mf --store shop.h5 --out model.h5 --rank 4 --iters 6 --lambda 0.05 >/dev/null 2>&1
run_np "$NP" train uplift --store shop.h5 --out model.h5 --method t >/dev/null 2>&1
run_np "$NP" train segments --store shop.h5 --out model.h5 --k 4 >/dev/null 2>&1
run_np "$NP" train propensity --store shop.h5 --out model.h5 --horizon-days 3 >/dev/null 2>&1

BUDGET=1000
run_np "$NP" strategy --store shop.h5 --models model.h5 --budget $BUDGET --out strategy.h5 --csv strategy.csv \
  --truth shop.h5 --k 4 --max-per-category 2 --bootstrap 50 --metrics-out m.json \
  --template 'Hi {segment}! {item1} for {price1}. {discount} "{arm}"' 2>log.txt || { cat log.txt; fail "strategy failed"; }
cat log.txt
"$PY" - m.json $BUDGET <<'EOF' || fail "strategy totals against the planted truth"
import json, sys
m = json.load(open(sys.argv[1])); budget = float(sys.argv[2])
t = m["totals"]
s = t["strategy"]["incremental_profit"]
print(f"strategy: predicted {s['value']:.1f} [{s['lo']:.1f}, {s['hi']:.1f}], true {s['true']:.1f}; "
      f"cost {m['promotion_cost']:.1f} of {budget}; lambda {m['lambda']:.4g}; {m['users_treated']} users")
for p in ("no_promotion", "cheapest_promotion", "propensity_rank"):
    print(f"  {p}: predicted {t[p]['incremental_profit']['value']:.1f}, true {t[p]['incremental_profit']['true']:.1f}")
assert m["promotion_cost"] <= budget, m["promotion_cost"]
assert t["strategy"]["promotion_cost"]["value"] <= budget
assert m["lambda"] > 0 and m["users_treated"] > 0
assert s["lo"] <= s["value"] <= s["hi"]
# THRESHOLDS (measured at seed 11, 1/2/4 ranks alike: predicted 1334 [960, 1789], true 1437;
# references true 0, -3246, -1506)
assert s["true"] > 0, s
assert abs(s["value"] - s["true"]) <= 0.25 * abs(s["true"]), (s["value"], s["true"])
assert s["lo"] <= s["true"] <= s["hi"], ("truth outside the interval", s)
assert s["hi"] - s["lo"] < s["value"], ("interval wider than the prediction", s)
e = m["effects"]
assert e["refits"] == 30 and all(0 < e[a]["mean_shrinkage_weight"] <= 1 for a in ("coupon5", "free_shipping", "pct10")), e
for p in ("no_promotion", "cheapest_promotion", "propensity_rank"):
    ref = t[p]["incremental_profit"]["true"]
    assert s["true"] - ref >= 0.2 * s["true"], (p, ref, s["true"])
assert t["no_promotion"]["incremental_profit"]["value"] == 0
o = m["ope"]
assert o["rows"] > 500 and o["ipw"]["lo"] <= o["ipw"]["hi"] and o["dr"]["lo"] <= o["dr"]["hi"]
EOF

# schema of /strategy and the CSV
"$PY" - strategy.h5 strategy.csv <<'EOF' || fail "/strategy or the CSV does not have the documented layout"
import csv, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); g = f["strategy"]; N = 3000; K = 4
for name, shape in (("user", (N,)), ("segment", (N,)), ("items", (N, K)), ("item_scores", (N, K)), ("price", (N, K)),
                    ("promotion", (N,)), ("expected_profit", (N,)), ("expected_cost", (N,)),
                    ("uplift_conversion", (N,)), ("uplift_spend", (N,)), ("message", (N,)), ("arms", (4,))):
    assert g[name].shape == shape, (name, g[name].shape)
assert (g["user"][:] == np.arange(N)).all()
pol = [x.decode() for x in g["totals/policies"][:]]
assert pol == ["strategy", "no_promotion", "cheapest_promotion", "propensity_rank"], pol
met = [x.decode() for x in g["totals/metric_names"][:]]
assert met == ["incremental_conversions", "incremental_revenue", "incremental_margin", "promotion_cost",
               "incremental_profit", "roi"], met
for d in ("value", "lo", "hi", "true_value"):
    assert g["totals/" + d].shape == (4, 6), d
assert g["budget_curve/budget"].shape == (20,)
c = g["budget_curve/promotion_cost"][:]; b = g["budget_curve/budget"][:]; p = g["budget_curve/incremental_profit"][:]
assert (c <= b + 1e-9).all() and p[-1] >= p[0], (c, b, p)
lo = g["totals/lo"][:]; hi = g["totals/hi"][:]; val = g["totals/value"][:]
assert (lo[0, :5] <= val[0, :5] + 1e-9).all() and (val[0, :5] <= hi[0, :5] + 1e-9).all(), (lo[0], val[0], hi[0])
assert [x.decode() for x in g["ope/names"][:]] == ["ipw", "dr"]
for a in ("budget", "lambda", "schema_version", "k"):
    assert a in g.attrs, a
promo = g["promotion"][:]; ep = g["expected_profit"][:]; ec = g["expected_cost"][:]
assert set(np.unique(promo)) <= {-1, 1, 2, 3}
assert (ep[promo > 0] > 0).all() and (ep[promo < 0] == 0).all()
assert abs(ec.sum() - g["totals/value"][0, 3]) < 1e-6 * (1 + ec.sum())
items = g["items"][:]; cat = f.get("items/category")
sc = g["item_scores"][:]
assert (items[:, 0] >= 0).all() and (np.diff(sc, axis=1) <= 1e-12).all()
pr = g["price"][:]
rows = list(csv.reader(open(sys.argv[2], newline="")))
assert rows[0] == ["user", "segment", "promotion", "expected_profit", "items", "prices", "message"], rows[0]
assert len(rows) == N + 1, len(rows)
arms = [x.decode() for x in g["arms"][:]]
msgs = [x.decode() for x in g["message"][:]]
for i, r in enumerate(rows[1:]):
    assert r[2] == (arms[promo[i]] if promo[i] > 0 else "none"), (i, r)
    assert r[6] == msgs[i] and '"' in r[6] and "\n" not in r[6], r
    assert len(r[4].split(";")) == K
print("schema ok;", (promo > 0).sum(), "users treated; message:", msgs[int(np.argmax(promo))])
EOF

# items of one category at most max-per-category, none already bought
"$PY" - shop.h5 strategy.h5 <<'EOF' || fail "recommended items break the category limit or include bought items"
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r"); g = h5py.File(sys.argv[2], "r")["strategy"]
cat = s["items/category"][:]; items = g["items"][:]
ip = s["events/by_user/indptr"][:]; it = s["events/by_user/item"][:]; ty = s["events/by_user/type"][:]
for u in range(0, items.shape[0], 7):
    c = cat[items[u]]
    assert np.bincount(c).max() <= 2, (u, c)
    bought = set(it[ip[u]:ip[u + 1]][ty[ip[u]:ip[u + 1]] == 4])
    assert not bought & set(items[u]), u
EOF

# a tight budget is respected; an unlimited one gives multiplier 0
run_np "$NP" strategy --store shop.h5 --models model.h5 --budget 15 --out tight.h5 --bootstrap 0 --metrics-out tight.json 2>/dev/null
"$PY" -c "
import json; m = json.load(open('tight.json'))
assert m['promotion_cost'] <= 15 and m['users_treated'] > 0, m['promotion_cost']
print('tight budget: cost', m['promotion_cost'], 'users', m['users_treated'])" || fail "tight budget exceeded"
run_np "$NP" strategy --store shop.h5 --models model.h5 --budget inf --out free.h5 --bootstrap 0 --metrics-out free.json 2>/dev/null
"$PY" -c "
import json; m = json.load(open('free.json')); assert m['lambda'] == 0 and m['bisection_steps'] == 1, m" || fail "unlimited budget"

# a job file with the [strategy] keys of jobs/demo.ini and an unlimited budget
cat > job.ini <<'INI'
[job]
name = strategy-test
stages = strategy
store = shop.h5
models = model.h5
metrics_dir = job-metrics

[strategy]
budget = inf
out = job.h5
csv = job.csv
truth = shop.h5
k = 5
max_per_category = 2
min_days_since_purchase = 3
template = Hello from the shop ({segment}): {items}. {discount}
INI
run_np "$NP" run job.ini >/dev/null 2>job_log.txt || { cat job_log.txt; fail "mkt run with a [strategy] section failed"; }
"$PY" - job.h5 <<'PYEOF' || fail "the job-file strategy"
import h5py, math, sys
g = h5py.File(sys.argv[1], "r")["strategy"]
assert math.isinf(g.attrs["budget"]) and g.attrs["lambda"] == 0 and g.attrs["k"] == 5, dict(g.attrs)
assert g["message"][0].decode().startswith("Hello from the shop ("), g["message"][0]
print("job file: unlimited budget,", int(g.attrs["users_treated"]), "users treated")
PYEOF

# the uplift model's effects as they are: a valid strategy within the budget, user-bootstrap interval
run_np "$NP" strategy --store shop.h5 --models model.h5 --budget $BUDGET --out asis.h5 --effects model --bootstrap 20 \
  --metrics-out asis.json 2>/dev/null
"$PY" -c "
import json; m = json.load(open('asis.json')); s = m['totals']['strategy']['incremental_profit']
assert m['promotion_cost'] <= $BUDGET and s['lo'] <= s['value'] <= s['hi'] and 'refits' not in m['effects'], m['effects']
print('effects = model: predicted', round(s['value'], 1))" || fail "effects = model"

# bad input
expect_fail "$NP" strategy --store shop.h5 --models model.h5 --budget 10 --out x.h5 --effects magic
grep -q "effects" err.txt || fail "a bad effects value is not named: $(cat err.txt)"
run_np 1 train mf --store shop.h5 --out only_mf.h5 --rank 2 --iters 1 >/dev/null 2>&1
expect_fail "$NP" strategy --store shop.h5 --models only_mf.h5 --budget 10 --out x.h5
grep -q "/models/uplift" err.txt || fail "a missing /models/uplift is not named: $(cat err.txt)"
expect_fail "$NP" strategy --store shop.h5 --models model.h5 --budget -5 --out x.h5
grep -q "budget" err.txt || fail "a negative budget is not named: $(cat err.txt)"
[ "$status" -eq 2 ] || fail "negative budget: exit $status, expected 2"
expect_fail "$NP" strategy --store shop.h5 --models model.h5 --budget 10 --out x.h5 --template 'Hi {first_name}'
grep -q "{first_name}" err.txt || fail "an unknown placeholder is not named: $(cat err.txt)"
expect_fail "$NP" strategy --store shop.h5 --models model.h5 --budget 10 --out x.h5 --template '{item9}' --k 3
grep -q "k = 3" err.txt || fail "an item placeholder above k is not reported: $(cat err.txt)"
expect_fail "$NP" strategy --store shop.h5 --models model.h5 --budget 10 --out x.h5 --arm-costs 'pct10=gift:3'
grep -q "kind" err.txt || fail "a bad arm cost is not reported: $(cat err.txt)"
[ ! -e x.h5 ] || fail "a failed run left x.h5"
echo "ok: strategy at $NP ranks"
