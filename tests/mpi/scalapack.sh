# At NP ranks: `mkt train effect` and `mkt train elasticity` on a generated shop.
# (The 1e-8 comparison of the solver with a serial LAPACKE_dgels is
# tests/unit/test_scalapack_ls.c, run by ctest at 1, 2 and 4 ranks.)
#
# Effect: 40,000 campaign users; the estimated main effect of each arm (the
# effect at the mean attributes) must have the sign of the mean planted spend
# effect (/truth/effect_spend, docs/gen.md) for every arm whose planted mean is
# at least 4 standard errors from 0 (with seed 7: free_shipping +2.16 and
# pct10 +3.53 against standard errors of about 0.42; coupon5 at -0.86 is
# only about 2 standard errors and is checked for consistency only), and
# every arm's estimate must lie within 5 standard errors of the planted mean.
# gels and normal must agree to 1e-8 relative.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 40000 --items 100 --days 3 --sessions-per-user 1 --ratings-per-user 0 --seed 7 --out shop.h5 >/dev/null
run_np "$NP" train effect --store shop.h5 --out model.h5 --metrics-out effect.json
run_np "$NP" train effect --store shop.h5 --out normal.h5 --method normal --block 8 --metrics-out normal.json
run_np "$NP" train elasticity --store shop.h5 --out model.h5 --metrics-out elasticity.json
h5ls model.h5/models/effect/coef >/dev/null || fail "no /models/effect/coef"
h5ls model.h5/models/elasticity/elasticity >/dev/null || fail "no /models/elasticity (added to an existing model file)"
"$PY" - <<'PY' || fail "effect or elasticity check"
import json, h5py, numpy as np
e = json.load(open("effect.json")); nrm = json.load(open("normal.json"))
f = h5py.File("shop.h5", "r")
arms = [a.decode() for a in f["ids/treatments"][:]]
planted = f["truth/effect_spend"][:][f["campaigns/user"][:]].mean(0)
checked = 0
for t, name in enumerate(arms[1:]):
    est = e["treatment_effects"][name]
    b, se = est["effect_at_mean"], est["stderr"]
    print(f"{name}: estimate {b:+.3f} (se {se:.3f}), planted mean {planted[t]:+.3f}")
    assert se > 0 and abs(b - planted[t]) < 5 * se, name
    if abs(planted[t]) >= 4 * se:
        assert np.sign(b) == np.sign(planted[t]), name
        checked += 1
    assert abs(b - nrm["treatment_effects"][name]["effect_at_mean"]) <= 1e-8 * max(1, abs(b)), "gels vs normal"
assert checked >= 2, f"only {checked} arms with a clear planted sign"
m = h5py.File("model.h5", "r")
names = [s.decode() for s in m["models/effect/names"][:]]
assert len(names) == len(m["models/effect/coef"][:]) == len(m["models/effect/stderr"][:]) == e["d"]
assert names[0] == "intercept" and "arm:pct10" in names
el = json.load(open("elasticity.json"))
assert el["fitted_categories"] >= 1
es, ss = m["models/elasticity/elasticity"][:], m["models/elasticity/stderr"][:]
n = m["models/elasticity/n"][:]
assert len(es) == len(ss) == len(n) == el["categories"]
fit = np.isfinite(es)
assert fit.sum() == el["fitted_categories"] and (ss[fit] > 0).all() and n.sum() >= el["rows"]
# gen's quantity does not depend on price: elasticities are near 0
assert (np.abs(es[fit]) < 6 * ss[fit] + 0.05).all(), es[fit]
PY
expect_fail "$NP" train effect --store shop.h5 --out x.h5 --method svd
grep -q "neither gels nor normal" err.txt || fail "bad --method not reported"
echo "ok: scalapack regressions at $NP ranks"
