# `mkt train mf` (explicit, implicit by Cholesky and by CG) on 1, 2 and 4 ranks writes
# byte-identical /models/mf datasets (`mkt digest`), and the same metrics,
# with the factor rows exchanged by allgather or by the targeted exchange.
. "$SRC/tests/lib.sh"
run_np 2 gen --users 1500 --items 200 --days 5 --factors 4 --ratings-per-user 20 --seed 4 --out shop.h5 >/dev/null 2>&1
for np in 1 2 4; do
  run_np $np train mf --store shop.h5 --out e$np.h5 --rank 4 --iters 5 --lambda 0.01 --metrics-out e$np.json 2>/dev/null
  run_np $np train mf --store shop.h5 --out i$np.h5 --implicit --rank 6 --iters 4 --lambda 1 --metrics-out i$np.json 2>/dev/null
  run_np $np train mf --store shop.h5 --out c$np.h5 --implicit --solver cg --rank 6 --iters 4 --lambda 1 \
    --metrics-out c$np.json 2>/dev/null
  for m in e i c; do "$MKT" digest $m$np.h5 | grep '^/models/mf/' > $m$np.digest; done
done
# the targeted exchange (only the rows a rank reads) gives the same bits
for np in 2 4; do
  run_np $np train mf --store shop.h5 --out te$np.h5 --rank 4 --iters 5 --lambda 0.01 --exchange targeted \
    --metrics-out te$np.json 2>/dev/null
  run_np $np train mf --store shop.h5 --out tc$np.h5 --implicit --solver cg --rank 6 --iters 4 --lambda 1 \
    --exchange targeted --metrics-out tc$np.json 2>/dev/null
  "$MKT" digest te$np.h5 | grep '^/models/mf/' | diff - e1.digest || fail "targeted explicit model at $np ranks differs"
  "$MKT" digest tc$np.h5 | grep '^/models/mf/' | diff - c1.digest || fail "targeted implicit CG model at $np ranks differs"
  "$PY" -c "
import json
for m in ('te', 'tc'):
    x = json.load(open(m + '$np.json'))['exchange']
    assert x['user_rows'] == x['item_rows'] == 'targeted', x
    assert 0 < x['bytes_per_iteration'] == x['targeted_bytes_per_iteration'] <= x['allgather_bytes_per_iteration'], x" \
    || fail "targeted exchange metrics at $np ranks"
done
[ "$(wc -l < e1.digest)" -eq 4 ] || fail "expected 4 model datasets: $(cat e1.digest)"
for np in 2 4; do
  for m in e i c; do diff $m$np.digest ${m}1.digest || fail "$m model at $np ranks differs from 1 rank"; done
  "$PY" -c "
import json, sys
for m in 'eic':
    a = json.load(open(m + '1.json')); b = json.load(open(m + '$np.json'))
    for k in ('rmse', 'mae', 'train_rmse', 'model', 'popularity', 'users_evaluated'):
        assert a.get(k) == b.get(k), (m, k, a.get(k), b.get(k))" || fail "metrics differ at $np ranks"
done
echo "ok: identical mf models on 1, 2 and 4 ranks"
