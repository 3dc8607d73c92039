#!/usr/bin/env bash
# bench/strategy_speed.sh — speed of the item lists of `mkt strategy` (top-K
# unseen items per user with at most --max-per-category of a category): users
# per second against the catalogue size (1k, 20k, 100k items) at NP ranks,
# beside the former method measured in the same run (MKT_STRATEGY_ITEMS=
# reference: every score a scalar dot product, an insertion-sorted top 4k
# doubled until the limits are filled, which with 2 categories and k = 5 >
# 2 x 2 means the whole catalogue).  The former method is measured on a
# smaller shop with the same catalogue (REF_USERS users: it takes seconds per
# user at 100k items); users/s does not depend on the number of users.
# The lists of both methods are compared item by item on the small shop.
# The new method is timed REPEAT times (best kept: the machine may be
# shared); the load average is printed with the table, and beside the wall
# rate the rate by CPU time (users / the largest CPU time of a rank's
# process: what the run gives when every rank has a core to itself).
#   bench/strategy_speed.sh
#   ITEMS="20000" USERS=40000 bench/strategy_speed.sh
# Environment: MKT (default build/mkt), NP (2), ITEMS ("1000 20000 100000"),
# USERS (20000), RANK (MF factors, 32), REPEAT (3), REF_USERS ("1000:2000 20000:200
# 100000:40": users of the reference shop per catalogue size).
# Target: >= 50,000 users/s at 20k items on 2 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. scripts/env.sh
export MKT_QUIET=1
MKT=$(realpath "${MKT:-build/mkt}")
NP=${NP:-2}
ITEMS=${ITEMS:-"1000 20000 100000"}
USERS=${USERS:-20000}
RANK=${RANK:-32}
REPEAT=${REPEAT:-3}
REF_USERS=${REF_USERS:-"1000:2000 20000:200 100000:40"}
OUT=bench/out/strategy_speed; mkdir -p "$OUT"
run() { mpirun -np "$NP" "$MKT" "$@" >/dev/null 2>>"$OUT/log.txt"; }
: >"$OUT/log.txt"

# a shop of U users and I items in 2 categories, an MF model of rank RANK and a T-learner uplift model
shop() {
  local u=$1 i=$2 d=$OUT/u$1-i$2-r$RANK
  mkdir -p "$d"
  if [ ! -e "$d/model.h5" ]; then
    run gen --users "$u" --items "$i" --categories 2 --ratings-per-user 10 --sessions-per-user 0 --seed 7 \
      --out "$d/shop.h5"
    run train mf --store "$d/shop.h5" --out "$d/model.h5" --factors "$RANK" --iters 2 --lambda 0.05
    run train uplift --store "$d/shop.h5" --out "$d/model.h5" --method t --valid-fraction 0
  fi
  echo "$d"
}
strategy() { # dir metrics [env]
  env ${3:-} mpirun -np "$NP" "$MKT" strategy --store "$1/shop.h5" --models "$1/model.h5" --budget 1000 \
    --k 5 --max-per-category 2 --refits 2 --out "$1/st_${3:+ref}.h5" --metrics-out "$2" >/dev/null 2>>"$OUT/log.txt"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-7s %6s %3s %10s %12s %8s %14s %10s %8s %s\n" items users np "users/s" "u/s by CPU" "stage s" \
  "reference u/s" "ref users" ratio "same lists"
for items in $ITEMS; do
  ref_users=200
  for p in $REF_USERS; do [ "${p%%:*}" = "$items" ] && ref_users=${p#*:}; done
  big=$(shop "$USERS" "$items")
  small=$(shop "$ref_users" "$items")
  for rep in $(seq "$REPEAT"); do strategy "$big" "$big/m$rep.json"; done
  $PY - "$big" "$REPEAT" <<'PY'
import json, shutil, sys
d, n = sys.argv[1], int(sys.argv[2])
best = max(range(1, n + 1), key=lambda r: json.load(open(f"{d}/m{r}.json"))["items"]["users_per_second"])
shutil.copy(f"{d}/m{best}.json", f"{d}/m.json")
PY
  strategy "$small" "$small/m_new.json"
  strategy "$small" "$small/m_ref.json" MKT_STRATEGY_ITEMS=reference
  $PY - "$big/m.json" "$small/m_new.json" "$small/m_ref.json" "$small/st_.h5" "$small/st_ref.h5" "$items" "$NP" <<'PY'
import json, sys, h5py, numpy as np
big, new, ref = (json.load(open(f)) for f in sys.argv[1:4])
a, b = (h5py.File(f, "r")["strategy"] for f in sys.argv[4:6])
same = all(np.array_equal(a[n][...], b[n][...]) for n in ("items", "item_scores"))
items, np_ = int(sys.argv[6]), int(sys.argv[7])
it, ri = big["items"], ref["items"]
assert it["method"] == "blocked products" and ri["method"] == "reference", (it["method"], ri["method"])
ratio = it["users_per_second"] / ri["users_per_second"]
print(f"{items:<7d} {big['users']:6d} {np_:3d} {it['users_per_second']:10.0f} {it['users_per_cpu_second']:12.0f} "
      f"{big['seconds']:8.2f} "
      f"{ri['users_per_second']:14.1f} {ref['users']:10d} {ratio:7.0f}x {'yes' if same else 'NO'}")
if items == 20000 and np_ == 2:
    print(f"        target >= 50000 users/s at 20k items on 2 ranks: "
          f"{'met' if it['users_per_second'] >= 50000 else 'MISSED'} (wall), "
          f"{'met' if it['users_per_cpu_second'] >= 50000 else 'MISSED'} (CPU time, a core per rank)")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
