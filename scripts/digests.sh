#!/usr/bin/env bash
# digests.sh — the digest of every store, model and strategy that a fixed set
# of commands writes on two small synthetic shops, one line per dataset:
#     bash scripts/digests.sh OUTDIR [NP]   (prints to stdout)
# Two builds give the same output when they write the same bits: a change
# meant to leave results alone (a refactoring) is checked by diffing this
# script's output before and after it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: digests.sh OUTDIR [NP]}
np=${2:-2}
MKT=${MKT:-$here/build/mkt}
. "$here/scripts/env.sh" >/dev/null 2>&1 || true
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MKT_QUIET=1
mkdir -p "$out"
cd "$out"
m() { mpirun --oversubscribe -np "$np" "$MKT" "$@" >/dev/null; }
m gen --users 1500 --items 300 --days 20 --seed 11 --out gen.h5 --csv csv
m ingest --format events --input csv/events.csv --items csv/items.csv --campaign csv/campaign.csv --out shop.h5
m features --store shop.h5
m train mf --store shop.h5 --out mf_explicit.h5 --rank 4 --iters 5
m train mf --store shop.h5 --out mf_implicit.h5 --implicit 1 --rank 4 --iters 4
m train mf --store shop.h5 --out models.h5 --rank 4 --iters 5
m train propensity --store shop.h5 --out models.h5
m train propensity --store shop.h5 --out prop_mlp.h5 --model mlp
m train propensity --store shop.h5 --out prop_item.h5 --target user_item
for meth in t s transformed x dr; do
  m train uplift --store shop.h5 --out uplift_$meth.h5 --method $meth
done
m train uplift --store shop.h5 --out models.h5 --method t
m train effect --store shop.h5 --out effect.h5
m train elasticity --store shop.h5 --out models.h5
m train segments --store shop.h5 --out models.h5 --k 4
m strategy --store shop.h5 --models models.h5 --out strategy.h5 --csv strategy.csv --budget 500 --truth gen.h5
m strategy --store shop.h5 --models models.h5 --out strategy_model.h5 --budget 500 --effects model
for f in gen shop mf_explicit mf_implicit models prop_mlp prop_item uplift_t uplift_s uplift_transformed \
         uplift_x uplift_dr effect strategy strategy_model; do
  "$MKT" digest "$f.h5" | sed "s|^|$f.h5 |"
done
echo "strategy.csv $(md5sum < strategy.csv | cut -d' ' -f1)"
