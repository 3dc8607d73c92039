#!/usr/bin/env bash
# bench/quality.sh — every model with its default settings beside its simple
# baseline, on rows it never trained or tuned on, on real data and on
# synthetic shops of three sizes; with `mkt tune` where it is built; and
# explicit MF beside LIBMF on one train/test split (LIBMF measured in the same
# run when LIBMF_DIR holds its mf-train and mf-predict, built from its own
# source with its own Makefile).
#
#   bench/quality.sh              all sets
#   SETS="S M" bench/quality.sh   only some (S, M, L synthetic; retail, hillstrom real; libmf)
#
# Real data (DATA, default ../shared/data): online_retail.csv (implicit MF,
# propensity), hillstrom.csv (uplift on visits).  A benchmark, never a test.
# Output: one table (data set, model, metric, default, tuned, baseline,
# default/baseline ratio, whether the default beats the baseline) and
# OUT/quality.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. scripts/env.sh
export MKT_QUIET=1
MKT=${MKT:-build/mkt}
[ -x "$MKT" ] || scripts/setup.sh
OUT=${OUT:-bench/out/quality}; mkdir -p "$OUT"
DATA=${DATA:-../shared/data}
NP=${NP:-2}
SETS=${SETS:-"S M L retail hillstrom libmf"}
LIBMF_DIR=${LIBMF_DIR:-}
RES=$OUT/results.tsv; : >"$RES"
mk() { mpirun -np "$NP" "$MKT" "$@" >/dev/null 2>>"$OUT/stderr.log"; }
have_tune() { "$MKT" tune --help >/dev/null 2>&1; }
want() { [[ " $SETS " == *" $1 "* ]]; }
# record SET MODEL METRIC GOAL DEFAULT TUNED BASELINE BASELINE_NAME
record() { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$@" >>"$RES"; }
j() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }

# --- models on a store: explicit MF, implicit MF, propensity, uplift ---------
mf_explicit() { # set store
  local s=$1 st=$2 m=$OUT/$1_mf.json t="-"
  mk train mf --store "$st" --out "$OUT/${s}_mf.h5" --metrics-out "$m"
  if have_tune; then
    mk tune mf --store "$st" --grid "rank=8,32,64" --table "$OUT/${s}_tune_mf.json" --best "$OUT/${s}_tune_mf.ini" \
      --final-out "$OUT/${s}_mf_tuned.h5" --metrics-out "$OUT/${s}_tune_mf_final.json" || true
    [ -f "$OUT/${s}_mf_tuned.h5" ] && mk eval mf --store "$st" --model "$OUT/${s}_mf_tuned.h5" --metrics-out "$OUT/${s}_mf_tuned.json" \
      && t=$(j "$OUT/${s}_mf_tuned.json" 'd["rmse"]')
  fi
  record "$s" "MF explicit" rmse min "$(j "$m" 'd["rmse"]')" "$t" "$(j "$m" 'd["baseline"]["bias_rmse"]')" "biases only"
}
mf_implicit() { # set store
  local s=$1 st=$2 m=$OUT/$1_mfi.json
  mk train mf --store "$st" --out "$OUT/${s}_mfi.h5" --implicit --metrics-out "$m"
  record "$s" "MF implicit" hr@10 max "$(j "$m" 'd["model"]["hr@10"]')" - "$(j "$m" 'd["popularity"]["hr@10"]')" popularity
  record "$s" "MF implicit" ndcg@10 max "$(j "$m" 'd["model"]["ndcg@10"]')" - "$(j "$m" 'd["popularity"]["ndcg@10"]')" popularity
}
propensity() { # set store
  local s=$1 st=$2 m=$OUT/$1_prop.json
  mk features --store "$st"
  mk train propensity --store "$st" --out "$OUT/${s}_prop.h5" --metrics-out "$m"
  # the metrics of the rows the model was not fitted or stopped on, and the
  # baselines the trainer reports beside them (base rate: AUC 0.5)
  local auc rf
  auc=$(j "$m" '(d.get("test") or d["validation"])["auc"]')
  rf=$(j "$m" 'd.get("baseline", {}).get("recency_frequency", {}).get("auc", "-")')
  record "$s" "propensity" auc max "$auc" - 0.5 "base rate"
  [ "$rf" != "-" ] && record "$s" "propensity" auc max "$auc" - "$rf" "recency-frequency rule"
  return 0
}
uplift() { # set store outcome arm seeds...  (UPLIFT_EXTRA: more learners as method:l2-effect)
  local s=$1 st=$2 out=$3 arm=$4; shift 4
  local spec
  for spec in t s transformed x dr ${UPLIFT_EXTRA:-}; do
    local q=() u=() method=${spec%%:*} le=same
    [[ $spec == *:* ]] && le=${spec#*:}
    for seed in "$@"; do
      local m=$OUT/${s}_uplift_${method}_${le}_$seed.json
      if ! mk train uplift --store "$st" --out "$OUT/${s}_uplift.h5" --method "$method" --outcome "$out" --seed "$seed" \
        --l2-effect "$le" --metrics-out "$m"; then
        q=(); break
      fi
      q+=("$(j "$m" "d['arms']['$arm']['$out']['qini']")")
      u+=("$(j "$m" "d['arms']['$arm']['$out']['uplift_at_30']")")
    done
    [ ${#q[@]} -gt 0 ] || continue
    local mq mu
    mq=$($PY -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(sum(v)/len(v))" "${q[@]}")
    mu=$($PY -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(sum(v)/len(v))" "${u[@]}")
    local label="uplift $method"; [ "$method" = t ] && label="uplift t (default)"
    [ "$le" != same ] && label="uplift $method, l2-effect $le"
    record "$s" "$label: $arm" "qini ($out)" max "$mq" - 0 "random targeting"
    record "$s" "$label: $arm" "uplift@30% ($out)" max "$mu" - - ""
  done
}

# --- synthetic shops --------------------------------------------------------
for spec in "S 2000 300" "M 10000 2000" "L 40000 5000"; do
  read -r s users items <<<"$spec"
  want "$s" || continue
  st=$OUT/shop_$s.h5
  [ -f "$st" ] || mk gen --users "$users" --items "$items" --seed 1 --out "$st"
  mf_explicit "$s" "$st"
  mf_implicit "$s" "$st"
  propensity "$s" "$st"
  # the arms are named in the uplift metrics: the first (sorted) one
  m0=$OUT/${s}_uplift_probe.json
  mk train uplift --store "$st" --out "$OUT/${s}_uplift.h5" --metrics-out "$m0"
  arm=$(j "$m0" 'sorted(d["arms"])[0]')
  uplift "$s" "$st" conversion "$arm" 1 2 3
done

# --- Online Retail: implicit MF and propensity -------------------------------
if want retail && [ -f "$DATA/online_retail.csv" ]; then
  st=$OUT/retail.h5
  [ -f "$st" ] || mk ingest --format transactions --input "$DATA/online_retail.csv" --out "$st" --max-reject-rate 0.3
  mf_implicit retail "$st"
  propensity retail "$st"
fi

# --- Hillstrom: uplift of the Womens e-mail on visits, 5 splits -------------
if want hillstrom && [ -f "$DATA/hillstrom.csv" ]; then
  st=$OUT/hillstrom.h5
  [ -f "$st" ] || mk ingest --format campaign --input "$DATA/hillstrom.csv" --out "$st"
  # the effect regressions of x and dr with a strong ridge (docs/uplift.md)
  UPLIFT_EXTRA="x:100000 dr:10000" uplift hillstrom "$st" visit "Womens E-Mail" 1 2 3 4 5
fi

# --- explicit MF beside LIBMF on one train/test split ------------------------
if want libmf; then
  d=$OUT/libmf; mkdir -p "$d"
  st=$OUT/shop_M.h5
  [ -f "$st" ] || mk gen --users 10000 --items 2000 --seed 1 --out "$st"
  # the shop's ratings as MovieLens-layout files, 80/20 at random (seed 1)
  $PY - "$st" "$d" <<'PY'
import h5py, numpy as np, sys
e = h5py.File(sys.argv[1], "r")["events/by_user"]
t = e["type"][:] == 5
u, i, v, ts = e["user"][:][t], e["item"][:][t], e["value"][:][t], e["ts"][:][t]
rng = np.random.default_rng(1); test = rng.random(len(u)) < 0.2
for name, sel in (("train", ~test), ("test", test)):
    with open(f"{sys.argv[2]}/{name}.tsv", "w") as f:      # MovieLens layout for mkt
        for a, b, c, s in zip(u[sel], i[sel], v[sel], ts[sel]):
            f.write(f"{a}\t{b}\t{c:g}\t{s}\n")
    with open(f"{sys.argv[2]}/{name}.libmf", "w") as f:    # LIBMF's "user item rating"
        for a, b, c in zip(u[sel], i[sel], v[sel]):
            f.write(f"{a} {b} {c:g}\n")
PY
  mk ingest --format movielens --delimiter tab --input "$d/train.tsv" --out "$d/train.h5"
  mk ingest --as test --into "$d/train.h5" --format movielens --delimiter tab --input "$d/test.tsv" --out "$d/test.h5"
  mk train mf --store "$d/train.h5" --out "$d/mkt.h5" --holdout 0
  mk eval mf --store "$d/train.h5" --model "$d/mkt.h5" --test "$d/test.h5" --metrics-out "$d/mkt.json"
  mkt_def=$(j "$d/mkt.json" 'd["rmse"]'); mkt_tuned=-
  if have_tune; then
    mk tune mf --store "$d/train.h5" --grid "rank=8,16,32,64" --table "$d/tune.json" --best "$d/tune.ini" \
      --final-out "$d/mkt_tuned.h5" -- --holdout 0 || true
    if [ -f "$d/mkt_tuned.h5" ]; then
      mk eval mf --store "$d/train.h5" --model "$d/mkt_tuned.h5" --test "$d/test.h5" --metrics-out "$d/mkt_tuned.json"
      mkt_tuned=$(j "$d/mkt_tuned.json" 'd["rmse"]')
    fi
  fi
  if [ -n "$LIBMF_DIR" ] && [ -x "$LIBMF_DIR/mf-train" ]; then
    # LIBMF tuned: 5-fold cross-validation on the train file over k and l2,
    # then the best pair trained on the whole train file, RMSE on the test file
    best=$(for k in 16 32 64 128; do for l in 0.03 0.1 0.2 0.5 1; do
      r=$("$LIBMF_DIR/mf-train" -k $k -l2 $l -t 40 -s 2 -v 5 "$d/train.libmf" 2>/dev/null | awk '/^ *avg/ {x=$NF} END {print x}')
      echo "$r $k $l"; done; done | sort -g | head -1)
    read -r _ bk bl <<<"$best"
    "$LIBMF_DIR/mf-train" -k "$bk" -l2 "$bl" -t 40 -s 2 --quiet "$d/train.libmf" "$d/libmf.model"
    "$LIBMF_DIR/mf-predict" -e 0 "$d/test.libmf" "$d/libmf.model" "$d/libmf.out" | tee "$d/libmf.txt" >/dev/null
    lib=$(awk '/RMSE/ {print $NF}' "$d/libmf.txt")
    record "libmf split" "MF explicit (LIBMF k=$bk l2=$bl)" rmse min "$mkt_def" "$mkt_tuned" "$lib" "LIBMF tuned"
  else
    echo "LIBMF not measured: set LIBMF_DIR to a directory with LIBMF's mf-train and mf-predict" >&2
    record "libmf split" "MF explicit" rmse min "$mkt_def" "$mkt_tuned" "$(j "$d/mkt.json" 'd["baseline"]["bias_rmse"]')" "biases only"
  fi
fi

$PY - "$RES" "$OUT/quality.json" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
out = []
print(f"{'data':<12} {'model':<34} {'metric':<18} {'default':>9} {'tuned':>9} {'baseline':>9} {'ratio':>7}  beats  (baseline)")
for s, model, metric, goal, dv, tv, bv, bname in rows:
    f = lambda x: None if x in ("-", "") else float(x)
    d, t, b = f(dv), f(tv), f(bv)
    ratio = d / b if d is not None and b not in (None, 0) else None
    beats = None if b is None else (d < b if goal == "min" else d > b)
    fmt = lambda x: f"{x:9.4f}" if x is not None else f"{'-':>9}"
    print(f"{s:<12} {model:<34} {metric:<18} {fmt(d)} {fmt(t)} {fmt(b)} {(f'{ratio:7.3f}' if ratio else '      -')}  "
          f"{'-' if beats is None else ('yes' if beats else 'NO'):<5}  {bname}")
    out.append(dict(set=s, model=model, metric=metric, goal=goal, default=d, tuned=t, baseline=b, baseline_name=bname,
                    beats=beats))
json.dump(out, open(sys.argv[2], "w"), indent=1)
PY
