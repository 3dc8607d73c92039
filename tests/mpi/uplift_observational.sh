# test-ranks: 2
# Observational campaigns (train uplift --design observational): a `mkt gen`
# shop whose campaign was targeted by loyalty, which also raises conversion
# (--targeting-bias 3), so the untargeted users are a biased comparison
# group.  The naive difference of conversion rates must be wrong by at least
# 0.03 for every arm, and the planted mean effect over the overlap must lie
# inside the 95% intervals of the IPW and DR estimates; trimmed rows are
# counted; the numbers are the same at 1 rank and at NP; the randomized
# default is refused nothing and says "randomized"; bad options are named.
. "$SRC/tests/lib.sh"
export MKT_QUIET=1
run_np "$NP" gen --users 8000 --items 50 --days 3 --ratings-per-user 0 --sessions-per-user 1 --seed 3 \
  --targeting-bias 3 --out obs.h5 >/dev/null
run_np "$NP" train uplift --store obs.h5 --out m.h5 --method dr --design observational --valid-fraction 0 \
  --metrics-out obs.json >/dev/null
run_np 1 train uplift --store obs.h5 --out m1.h5 --method t --design observational --valid-fraction 0 \
  --metrics-out obs1.json >/dev/null

"$PY" - <<'PY'
import json, h5py, numpy as np
m = json.load(open("obs.json")); m1 = json.load(open("obs1.json"))
assert m["design"] == "observational" and "not randomized" in m["observational"]["caveat"], m.get("observational")
# the estimates use their own fits, whatever the learner: the same at 1 rank (method t) and NP (dr)
assert m["observational"] == m1["observational"], "observational estimates differ between 1 rank and NP"
with h5py.File("obs.h5", "r") as f:
    treat = f["campaigns/treatment"][:]
arms = m["observational"]["arms"]
assert sorted(arms) == ["coupon5", "free_shipping", "pct10"], sorted(arms)
for t, (name, a) in enumerate(sorted(arms.items()), start=1):
    truth = a["truth_mean_effect_overlap"]
    # every treated and untargeted row is counted, and the overlap trimming left some out
    assert a["rows_treated"] == int((treat == t).sum()) and a["rows_untargeted"] == int((treat == 0).sum()), a
    assert a["trimmed_treated"] + a["trimmed_untargeted"] > 0, a
    assert a["propensity_min"] < 0.05 and a["propensity_max"] > 0.5, a
    # targeting by loyalty inflates the naive difference by at least 0.03
    assert a["naive_difference"] - truth >= 0.03, (name, a["naive_difference"], truth)
    for est in ("ipw", "dr"):
        lo, hi = a[est + "_lo"], a[est + "_hi"]
        assert lo <= truth <= hi, (name, est, lo, hi, truth)
        assert hi - lo < 0.12, (name, est, "interval too wide to mean anything", lo, hi)
    print(f"{name}: naive {a['naive_difference']:.4f}, IPW {a['ipw']:.4f} [{a['ipw_lo']:.4f}, {a['ipw_hi']:.4f}], "
          f"DR {a['dr']:.4f} [{a['dr_lo']:.4f}, {a['dr_hi']:.4f}], planted {truth:.4f}")
PY

# the model records the design
"$PY" -c "import h5py; a = h5py.File('m.h5', 'r')['models/uplift'].attrs['design']; assert (a.decode() if isinstance(a, bytes) else a) == 'observational', a"

# the default design is randomized and reports no observational block
run_np "$NP" train uplift --store obs.h5 --out r.h5 --method t --valid-fraction 0 --metrics-out r.json >/dev/null
"$PY" -c "import json; m = json.load(open('r.json')); assert m['design'] == 'randomized' and 'observational' not in m, m.get('design')"

# bad options are named
expect_fail "$NP" train uplift --store obs.h5 --out x.h5 --design guessed
grep -q "design" "$WORK/err.txt" || fail "bad --design not named: $(cat "$WORK/err.txt")"
expect_fail "$NP" train uplift --store obs.h5 --out x.h5 --design observational --method transformed
grep -q "design observational needs method" "$WORK/err.txt" || fail "transformed refused without a reason: $(cat "$WORK/err.txt")"
expect_fail "$NP" train uplift --store obs.h5 --out x.h5 --design observational --trim 0.6
grep -q "trim" "$WORK/err.txt" || fail "bad --trim not named: $(cat "$WORK/err.txt")"
# gen: the bias option is validated
expect_fail 1 gen --users 10 --items 5 --days 1 --targeting-bias -1 --out bad.h5
grep -q "targeting-bias" "$WORK/err.txt" || fail "bad --targeting-bias not named: $(cat "$WORK/err.txt")"

# a shop's own log: events, and a list of the users a mail was sent to (no
# control group), chosen by their purchases before the campaign, which also
# predict buying in the window; the mail adds 0.08 to the chance of buying
"$PY" - <<'PY'
import csv, numpy as np
rng = np.random.default_rng(5)
start = 1767225600 + 30 * 86400          # 2026-01-31: 30 days before, 14 days of campaign
act = rng.gamma(2.0, 0.5, 3000)
with open("log.csv", "w", newline="") as ev, open("targets.csv", "w", newline="") as tg:
    w, t = csv.writer(ev), csv.writer(tg)
    w.writerow(["user", "item", "type", "ts", "value"]); t.writerow(["user", "offer", "redeemed"])
    for u in range(3000):
        name = "h%05d" % u
        pre = rng.poisson(act[u] * 1.5)
        for k in range(pre):
            w.writerow([name, "i%02d" % rng.integers(30), "purchase", start - int(rng.integers(1, 30 * 86400)), 20])
        w.writerow([name, "i00", "view", start - 31 * 86400 + int(rng.integers(86400)), 0])
        targeted = rng.random() < 1 / (1 + np.exp(-1.2 * (pre - 2.5)))
        if targeted:
            t.writerow([name, "mail", int(rng.random() < 0.3)])
        if rng.random() < 1 - np.exp(-0.25 * act[u]) + (0.08 if targeted else 0):
            w.writerow([name, "i%02d" % rng.integers(30), "purchase", start + int(rng.integers(14 * 86400)), 25])
PY
ntarget=$(($(wc -l <targets.csv) - 1))
expect_fail "$NP" ingest --format events --input log.csv --campaign targets.csv --treatment-col offer \
  --visit-col '' --conversion-col redeemed --out t0.h5
grep -q "no control group" "$WORK/err.txt" || fail "a log without control was not refused by default: $(cat "$WORK/err.txt")"
expect_fail "$NP" ingest --format events --input log.csv --campaign targets.csv --control untargeted \
  --treatment-col offer --visit-col '' --conversion-col redeemed --out t0.h5
grep -q "campaign-start" "$WORK/err.txt" || fail "missing --campaign-start not named: $(cat "$WORK/err.txt")"
expect_fail "$NP" ingest --format campaign --input targets.csv --campaign-user-col user --control untargeted \
  --treatment-col offer --visit-col '' --conversion-col redeemed --campaign-start 2026-01-31 --campaign-days 14 --out t0.h5
grep -q "no comparison group" "$WORK/err.txt" || fail "a list without the shop's events: $(cat "$WORK/err.txt")"
run_np "$NP" ingest --format events --input log.csv --campaign targets.csv --control untargeted --treatment-col offer \
  --visit-col '' --conversion-col redeemed --campaign-start 2026-01-31 --campaign-days 14 --out tg.h5 \
  --metrics-out ingest.json >/dev/null
# the same store at 1 rank, dataset by dataset
run_np 1 ingest --format events --input log.csv --campaign targets.csv --control untargeted --treatment-col offer \
  --visit-col '' --conversion-col redeemed --campaign-start 2026-01-31 --campaign-days 14 --out tg1.h5 >/dev/null
"$MKT" digest tg.h5 | grep /campaigns >d.txt
"$MKT" digest tg1.h5 | grep /campaigns >d1.txt
[ -s d.txt ] && cmp -s d.txt d1.txt || fail "the observational campaign differs between NP and 1 rank: $(diff d.txt d1.txt)"
expect_fail "$NP" train uplift --store tg.h5 --out x.h5
grep -q "give --design observational" "$WORK/err.txt" || fail "randomized training of a targeted log: $(cat "$WORK/err.txt")"
run_np "$NP" train uplift --store tg.h5 --out tm.h5 --method dr --design observational --valid-fraction 0 \
  --metrics-out tg.json >/dev/null
run_np "$NP" train uplift --store tg.h5 --out tr.h5 --outcome redeemed --design observational --valid-fraction 0 \
  --metrics-out tr.json >/dev/null
NTARGET=$ntarget "$PY" - <<'PY'
import json, os, h5py, numpy as np
ing = json.load(open("ingest.json"))["inputs"]["campaign"]["rows"]
assert ing["read"] == ing["stored"] == int(os.environ["NTARGET"]) and ing["rejected"] == 0, ing
with h5py.File("tg.h5", "r") as f:
    arms = [a.decode() for a in f["ids/treatments"][:]]
    treat, red = f["campaigns/treatment"][:], f["campaigns/redeemed"][:]
    assert arms == ["untargeted", "mail"], arms
    assert len(treat) == len(f["ids/users"]) == 3000                       # every store user has a row
    assert int((treat == 1).sum()) == int(os.environ["NTARGET"]) and red[treat == 0].sum() == 0
    names = [n.decode() for n in f["campaigns/attr_names"][:]]
    assert names[0] == "pre_purchases", names
a = json.load(open("tg.json"))["observational"]["arms"]["mail"]
assert a["naive_difference"] - 0.08 >= 0.05, a                  # targeting the frequent buyers inflates it
for est in ("ipw", "dr"):
    assert a[est + "_lo"] <= 0.08 <= a[est + "_hi"], (est, a)
r = json.load(open("tr.json"))["observational"]["arms"]["mail"]
rate = red[treat == 1].mean()
assert abs(r["ipw"] - rate) < 0.1 and r["ipw_lo"] > 0.15, (r, rate)   # untargeted users cannot redeem
print(f"targeted log: naive {a['naive_difference']:.4f}, IPW {a['ipw']:.4f} [{a['ipw_lo']:.4f}, {a['ipw_hi']:.4f}], "
      f"DR {a['dr']:.4f} [{a['dr_lo']:.4f}, {a['dr_hi']:.4f}], planted 0.08; redemption IPW {r['ipw']:.4f}")
PY

# the report says that the estimate is observational, with the effects beside the naive difference
run_np "$NP" report --store tg.h5 --models tm.h5 --out rep >/dev/null 2>&1
grep -q "Observational estimate" rep/index.html || fail "the report does not say the estimate is observational"
grep -q "<th>naive difference</th><th>IPW effect" rep/index.html || fail "the report lacks the observational effects"
