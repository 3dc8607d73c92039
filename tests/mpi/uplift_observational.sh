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
run_np 1 train uplift --store obs.h5 --out m1.h5 --method dr --design observational --valid-fraction 0 \
  --metrics-out obs1.json >/dev/null

"$PY" - <<'PY'
import json, h5py, numpy as np
m = json.load(open("obs.json")); m1 = json.load(open("obs1.json"))
assert m["design"] == "observational" and "not randomized" in m["observational"]["caveat"], m.get("observational")
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
