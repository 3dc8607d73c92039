#!/usr/bin/env bash
# bench/strategy_accuracy.sh — how close `mkt strategy`'s predicted
# incremental profit comes to the planted truth of `mkt gen` shops: for every
# seed and budget, the predicted value, its 95% interval, the true value, the
# error in % of the truth and whether the truth lies inside the interval,
# beside the true values of the three reference policies; then the largest
# error and the coverage per budget.
#   bench/strategy_accuracy.sh                       3000 users, seeds 11-15, budgets 1000 and 300
#   USERS=8000 BUDGETS="2667 800" bench/strategy_accuracy.sh
#   EXTRA="--effects model" bench/strategy_accuracy.sh   (the uplift model's effects as they are)
# Environment: MKT (default build/mkt), NP (2), USERS, SEEDS, BUDGETS, EXTRA
# (more strategy options).  The shop is the one of tests/mpi/strategy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. scripts/env.sh
export MKT_QUIET=1
MKT=$(realpath "${MKT:-build/mkt}")
NP=${NP:-2}
USERS=${USERS:-3000}
SEEDS=${SEEDS:-"11 12 13 14 15"}
BUDGETS=${BUDGETS:-"1000 300"}
EXTRA=${EXTRA:-}
OUT=bench/out/strategy_accuracy; mkdir -p "$OUT"
run() { mpirun -np "$NP" "$MKT" "$@" >/dev/null 2>>"$OUT/log.txt"; }
: >"$OUT/log.txt"
rows="$OUT/rows.txt"; : >"$rows"
for seed in $SEEDS; do
  d="$OUT/s$seed-$USERS"; mkdir -p "$d"
  if [ ! -e "$d/model.h5" ]; then
    run gen --users "$USERS" --items 400 --days 14 --factors 4 --ratings-per-user 10 --seed "$seed" --out "$d/shop.h5"
    run features --store "$d/shop.h5"
    run train mf --store "$d/shop.h5" --out "$d/model.h5" --factors 4 --iters 6 --lambda 0.05
    run train uplift --store "$d/shop.h5" --out "$d/model.h5" --method t
    run train segments --store "$d/shop.h5" --out "$d/model.h5" --k 4
    run train propensity --store "$d/shop.h5" --out "$d/model.h5" --horizon-days 3
  fi
  for b in $BUDGETS; do
    # shellcheck disable=SC2086
    run strategy --store "$d/shop.h5" --models "$d/model.h5" --budget "$b" --out "$d/st.h5" --truth "$d/shop.h5" \
      --metrics-out "$d/m$b.json" $EXTRA
    echo "$seed $b $d/m$b.json" >>"$rows"
  done
done
"$PY" - "$rows" "$USERS" <<'PYEOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"mkt strategy against the planted truth, {sys.argv[2]} users (incremental profit)")
print(f"{'seed':>4} {'budget':>7} {'predicted':>9} {'lo':>8} {'hi':>8} {'true':>8} {'error%':>7} {'inside':>6}"
      f" {'no_promo':>8} {'cheapest':>9} {'prop_rank':>9}")
per = {}
for seed, b, path in rows:
    m = json.load(open(path)); t = m["totals"]; s = t["strategy"]["incremental_profit"]
    err = 100 * (s["value"] - s["true"]) / abs(s["true"]) if s["true"] else float("nan")
    inside = s["lo"] <= s["true"] <= s["hi"]
    ref = [t[p]["incremental_profit"]["true"] for p in ("no_promotion", "cheapest_promotion", "propensity_rank")]
    ref = [float("nan") if r is None else r for r in ref]
    print(f"{seed:>4} {b:>7} {s['value']:9.1f} {s['lo']:8.1f} {s['hi']:8.1f} {s['true']:8.1f} {err:7.1f} "
          f"{'yes' if inside else 'NO':>6} {ref[0]:8.1f} {ref[1]:9.1f} {ref[2]:9.1f}")
    per.setdefault(b, []).append((abs(err), inside, s["true"] - max(ref)))
for b, v in per.items():
    errs = sorted(e for e, _, _ in v)
    print(f"budget {b}: |error| median {errs[len(errs) // 2]:.1f}%, max {errs[-1]:.1f}%; truth inside the interval "
          f"{sum(i for _, i, _ in v)}/{len(v)}; strategy's true profit above the best reference by at least "
          f"{min(g for _, _, g in v):.1f}")
PYEOF
