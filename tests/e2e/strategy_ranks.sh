# `mkt strategy` on 1, 2 and 4 ranks writes the same strategy: identical
# `mkt digest` of every dataset of strategy.h5 (choices, items, prices,
# messages, totals, refit intervals, budget curve, off-policy estimates),
# byte-identical CSV files, and the same multiplier and totals in the metrics.
. "$SRC/tests/lib.sh"
run_np 2 gen --users 2000 --items 300 --days 10 --factors 4 --ratings-per-user 10 --seed 5 --out shop.h5 >/dev/null 2>&1
run_np 2 features --store shop.h5 >/dev/null 2>&1
run_np 2 train mf --store shop.h5 --out model.h5 --rank 4 --iters 4 --lambda 0.05 >/dev/null 2>&1
run_np 2 train uplift --store shop.h5 --out model.h5 --method t >/dev/null 2>&1
run_np 2 train segments --store shop.h5 --out model.h5 --k 3 >/dev/null 2>&1
run_np 2 train propensity --store shop.h5 --out model.h5 --horizon-days 3 >/dev/null 2>&1
for np in 1 2 4; do
  run_np $np strategy --store shop.h5 --models model.h5 --budget 250 --out s$np.h5 --csv s$np.csv --truth shop.h5 \
    --refits 12 --curve-points 8 --metrics-out m$np.json 2>/dev/null
  "$MKT" digest s$np.h5 > s$np.digest
done
[ "$(grep -c '^/strategy/' s1.digest)" -ge 25 ] || fail "too few /strategy datasets: $(cat s1.digest)"
for np in 2 4; do
  diff s1.digest s$np.digest || fail "strategy.h5 at $np ranks differs from 1 rank"
  cmp s1.csv s$np.csv || fail "strategy CSV at $np ranks differs from 1 rank"
  "$PY" -c "
import json
a = json.load(open('m1.json')); b = json.load(open('m$np.json'))
for k in ('lambda', 'bisection_steps', 'users_treated', 'totals', 'ope', 'budget_curve', 'users_per_promotion', 'effects'):
    assert a[k] == b[k], (k, a[k], b[k])" || fail "strategy metrics at $np ranks differ from 1 rank"
done
echo "ok: identical strategies on 1, 2 and 4 ranks"
