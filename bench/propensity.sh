#!/usr/bin/env bash
# bench/propensity.sh — logistic regression for purchase propensity: mkt
# (L-BFGS, exact data-parallel gradients) at 1 and 2 ranks against
# scikit-learn's LogisticRegression(lbfgs) and LIBLINEAR (`liblinear-train
# -s 0`) on the same exported, standardized feature matrix of a generated
# shop of USERS users (default 1,000,000); held-out AUC of each and training
# time ratios.  Then the MLP's examples/s per rank beside OpenBLAS dgemm's
# rate measured in the same run.
#   bench/propensity.sh              1,000,000 users
#   USERS=100000 bench/propensity.sh a quick run
# Regularization: mkt minimizes (1/n)·Σ loss + (λ/2)·|θ|² (θ includes the
# bias); LIBLINEAR -s 0 -B 1 minimizes C·Σ loss + ½|w|² with the bias a
# penalized weight of a constant feature, and scikit-learn C·Σ loss + ½|w|²
# with an unpenalized intercept.  Dividing mkt's objective by λ gives
# C = 1 / (n·λ), n = training rows.
# Targets: mkt's AUC within 0.002 of scikit-learn's; mkt at 2 ranks faster
# than LIBLINEAR on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. scripts/env.sh
export MKT_QUIET=1
MKT=${MKT:-build/mkt}
[ -x "$MKT" ] || scripts/setup.sh
USERS=${USERS:-1000000}
L2=${L2:-0.0001}
OUT=bench/out/propensity; mkdir -p "$OUT"
store=$OUT/shop_$USERS.h5

cc -O2 bench/dgemm_rate.c -o "$OUT/dgemm_rate" $(pkg-config --cflags --libs openblas)
DGEMM=$(OPENBLAS_NUM_THREADS=1 "$OUT/dgemm_rate" 1024)

if [ ! -f "$store" ]; then
  t=$(date +%s.%N)
  mpirun -np 2 "$MKT" gen --users "$USERS" --items 2000 --days 30 --sessions-per-user 2 --ratings-per-user 0 \
    --campaign-share 0 --seed 7 --out "$store" >/dev/null
  echo "gen: $USERS users in $($PY -c "print(f'{$(date +%s.%N) - $t:.1f}')") s (2 ranks), $(du -h "$store" | cut -f1)"
fi
LR="--epochs 200 --patience 5 --l2 $L2"
# 1 rank (also computes the features and exports the examples), then 2 ranks
mpirun -np 1 "$MKT" train propensity --store "$store" --out "$OUT/model.h5" $LR --export "$OUT/ex" \
  --metrics-out "$OUT/mkt1.json" >/dev/null
mpirun -np 2 "$MKT" train propensity --store "$store" --out "$OUT/model.h5" $LR --metrics-out "$OUT/mkt2.json" >/dev/null
read -r N F <<<"$($PY -c "import json; d=json.load(open('$OUT/mkt1.json')); print(d['train_examples'], d['features'])")"
C=$($PY -c "print(repr(1.0 / ($N * $L2)))")
$PY bench/propensity_ref.py sklearn "$OUT/ex.train.svm" "$OUT/ex.valid.svm" "$F" "$C" > "$OUT/sklearn.json"
t=$(date +%s.%N)
liblinear-train -q -s 0 -c "$C" -B 1 "$OUT/ex.train.svm" "$OUT/liblinear.model" >/dev/null
LL_SEC=$($PY -c "print($(date +%s.%N) - $t)")
liblinear-predict -b 1 "$OUT/ex.valid.svm" "$OUT/liblinear.model" "$OUT/liblinear.pred" >/dev/null
$PY bench/propensity_ref.py auc "$OUT/ex.valid.svm" "$OUT/liblinear.pred" > "$OUT/liblinear.json"

# MLP 64-32, Adam, one epoch, at 2 ranks
mpirun -np 2 "$MKT" train propensity --store "$store" --out "$OUT/mlp.h5" --model mlp --hidden 64,32 \
  --optimizer adam --epochs 1 --batch 256 --lr 0.003 --metrics-out "$OUT/mlp.json" >/dev/null

$PY - "$OUT" "$N" "$F" "$C" "$LL_SEC" "$DGEMM" "$L2" <<'PY'
import json, sys
out, n, f, c, ll_sec, dgemm, l2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
j = lambda name: json.load(open(f"{out}/{name}.json"))
m1, m2, sk, ll, mlp = j("mkt1"), j("mkt2"), j("sklearn"), j("liblinear"), j("mlp")
print(f"\n{n} training rows, {m1['validation_examples']} held out, {f} features; l2 {l2}, C = 1/(n*l2) = {c:.6g}")
print(f"{'trainer':<34} {'held-out AUC':>12} {'train s':>8} {'vs LIBLINEAR':>12}  note")
rows = [
    ("mkt L-BFGS, 1 rank", m1["validation"]["auc"], m1["seconds_train"], f"{m1['epochs_run']} iterations (early stop)"),
    ("mkt L-BFGS, 2 ranks", m2["validation"]["auc"], m2["seconds_train"], f"{m2['epochs_run']} iterations"),
    ("scikit-learn lbfgs (1 core)", sk["auc"], sk["fit_seconds"], f"{sk['iterations']} iterations; fit only (loading {sk['load_seconds']:.1f} s)"),
    ("liblinear-train -s 0 (1 core)", ll["auc"], ll_sec, "wall time, includes parsing the text file"),
]
for name, auc, sec, note in rows:
    print(f"{name:<34} {auc:12.5f} {sec:8.2f} {sec / ll_sec:12.2f}  {note}")
d = m1["validation"]["auc"] - sk["auc"]
print(f"AUC mkt - scikit-learn: {d:+.5f} (target |.| <= 0.002: {'met' if abs(d) <= 0.002 else 'NOT met'}); "
      f"mkt 2 ranks vs LIBLINEAR: {ll_sec / m2['seconds_train']:.2f}x faster (target > 1: {'met' if m2['seconds_train'] < ll_sec else 'NOT met'})")
p = mlp["parameters"]
rate = mlp["examples_per_second"] / 2
print(f"MLP 64-32 (Adam, batch 256, {p} parameters): {rate:.0f} examples/s per rank = "
      f"{rate * 6 * p / 1e9:.2f} GFLOP/s per rank (~6 flops/parameter/example) vs dgemm {dgemm} GFLOP/s (one thread, N=1024)")
PY
