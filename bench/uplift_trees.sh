#!/usr/bin/env bash
# uplift_trees.sh — the T-, X- and DR-learners with linear and boosted-tree
# (--learner gbdt) base models on the Hillstrom e-mail campaign: held-out
# uplift@30% and Qini on `visit` for both e-mail arms, mean over 5 hold-out
# seeds, printed as a Markdown table (docs/trees.md, "Uplift").  A benchmark,
# never a test.
#
#   bench/uplift_trees.sh                    every learner, seeds 1..5
#   METHODS="t" LEARNERS=gbdt GBDT_ARGS="--depth 2 --eta 0.03" bench/uplift_trees.sh
#
# Environment: MKT (build/mkt), NP (2), DATA (../shared/data), OUT (a
# temporary directory), SEEDS ("1 2 3 4 5"), METHODS ("t x dr"), LEARNERS
# ("linear gbdt"), GBDT_ARGS (extra options of the gbdt runs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MKT=${MKT:-$ROOT/build/mkt}
NP=${NP:-2}
DATA=${DATA:-$ROOT/../shared/data}
SEEDS=${SEEDS:-"1 2 3 4 5"}
METHODS=${METHODS:-"t x dr"}
LEARNERS=${LEARNERS:-"linear gbdt"}
GBDT_ARGS=${GBDT_ARGS:-}
PY=${PY:-/usr/bin/python3}
OUT=${OUT:-$(mktemp -d /tmp/uplift_trees.XXXXXX)}
[ -f "$DATA/hillstrom.csv" ] || { echo "uplift_trees.sh: $DATA/hillstrom.csv is missing" >&2; exit 1; }
[ -f "$ROOT/scripts/env.sh" ] && . "$ROOT/scripts/env.sh"
mk() { mpirun --oversubscribe -np "$NP" "$MKT" "$@" >>"$OUT/log" 2>&1; }

st=$OUT/hillstrom.h5
[ -f "$st" ] || mk ingest --format campaign --input "$DATA/hillstrom.csv" --out "$st"
echo "| method | learner | Womens uplift@30% (mean) | per seed | Womens Qini | Mens uplift@30% | Mens Qini | seconds per run |"
echo "|---|---|---|---|---|---|---|---|"
for method in $METHODS; do
  for learner in $LEARNERS; do
    files=()
    for seed in $SEEDS; do
      m=$OUT/${method}_${learner}_$seed.json
      extra=()
      # shellcheck disable=SC2206
      [ "$learner" = gbdt ] && extra=(--learner gbdt $GBDT_ARGS)
      mk train uplift --store "$st" --out "$OUT/model.h5" --method "$method" --outcome visit --seed "$seed" \
        "${extra[@]}" --metrics-out "$m"
      files+=("$m")
    done
    "$PY" - "$method" "$learner" "${files[@]}" <<'EOF'
import json, sys
method, learner, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(f)) for f in files]
def arm(name, key):
    return [r["arms"][name]["visit"][key] for r in runs]
mean = lambda v: sum(v) / len(v)
wu, wq = arm("Womens E-Mail", "uplift_at_30"), arm("Womens E-Mail", "qini")
mu, mq = arm("Mens E-Mail", "uplift_at_30"), arm("Mens E-Mail", "qini")
secs = mean([r["seconds"] for r in runs])
print(f"| {method} | {learner} | {mean(wu):.4f} | {' '.join(f'{v:.4f}' for v in wu)} | {mean(wq):.5f} "
      f"| {mean(mu):.4f} | {mean(mq):.5f} | {secs:.1f} |")
EOF
  done
done
