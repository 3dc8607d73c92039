#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# demo job (jobs/demo.ini) on 2 local ranks: generate a synthetic shop,
# ingest it from CSV, compute features, train the models, derive a strategy,
# and print what was done.  Everything it writes goes under out/demo (ignored
# by git).  -v: also print every solver iteration, checkpoint and the whole
# store layout.
set -euo pipefail
verbose=
for a in "$@"; do
  case $a in
    -v|--verbose) verbose=-v ;;
    -h|--help) echo "usage: bash scripts/demo.sh [-v]   (-v: solver iterations, checkpoints, store layout)"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$a' (usage: bash scripts/demo.sh [-v])" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
rm -rf out/demo
mpirun -np 2 build/mkt $verbose run jobs/demo.ini
echo
echo "== what the demo did (out/demo/metrics/*.json) =="
/usr/bin/python3 - <<'PY'
import json, glob
for f in sorted(glob.glob("out/demo/metrics/*.json"), key=lambda f: __import__("os").path.getmtime(f)):
    m = json.load(open(f))
    print(f"{m['stage']}: ranks={m['ranks']}", end="")
    for k in ("users", "items", "events", "campaign_rows", "user_features", "item_features"):
        if k in m: print(f" {k}={m[k]}", end="")
    for name, inp in m.get("inputs", {}).items():
        r = inp["rows"]; print(f"\n  {name}: read={r['read']} stored={r['stored']} rejected={r['rejected']}", end="")
    secs = m.get("seconds", m.get("seconds_total", 0))
    if isinstance(secs, dict):
        secs = secs.get("total", 0)
    for arm, a in sorted(m.get("arms", {}).items()) if isinstance(m.get("arms"), dict) else []:
        c = a.get("conversion", a.get("visit", {})) if isinstance(a, dict) else {}
        if c:
            print(f"\n  {arm} vs control (held out): Qini {c['qini']:.4f}, uplift@30% {c['uplift_at_30']:.3f}"
                  f" vs average {c['uplift_all']:.3f}", end="")
    if m["stage"] == "train_mf":
        print(f"\n  held-out RMSE {m['rmse']:.4f}, MAE {m['mae']:.4f} ({m['mode']}, rank {m['rank']}); "
              f"biases-only RMSE {m['baseline']['bias_rmse']:.4f}, global-mean RMSE {m['baseline']['global_mean_rmse']:.4f}", end="")
    if m["stage"] == "train_propensity":
        v = m.get("test", m.get("validation", {}))
        print(f"\n  buy within {m['horizon_days']} days: test AUC {v.get('auc', float('nan')):.4f}, "
              f"log loss {v.get('log_loss', float('nan')):.4f} ({m['model']}, {m['optimizer']})", end="")
    for seg in m.get("segments", []) if isinstance(m.get("segments"), list) else []:
        if isinstance(seg, dict):
            print(f"\n  segment {seg.get('name')}: {seg.get('size')} users", end="")
    print(f"\n  seconds={secs:.2f}  peak memory per rank (MB)={[round(x) for x in m.get('peak_rss_mb_per_rank', [])]}")
PY
echo
echo "== three users' features, read back from out/demo/shop.h5 with h5py =="
/usr/bin/python3 - <<'PY'
import h5py
with h5py.File("out/demo/shop.h5", "r") as f:
    names = [n.decode() for n in f["features/user_names"][:]]
    users = [u.decode() for u in f["ids/users"][:3]]
    rows = f["features/users"][:3]
    show = ["recency_purchase_days", "purchases", "spend", "conv_view_purchase", "price_ratio_category"]
    print(f"{'user':8}" + "".join(f"{n:>24}" for n in show))
    for u, r in zip(users, rows):
        print(f"{u:8}" + "".join(f"{r[names.index(n)]:24.3f}" for n in show))
PY
echo
if [ -n "$verbose" ]; then
  echo "== the store (h5ls) =="
  h5ls -r out/demo/shop.h5 | grep -v partition
else
  echo "== the store: groups of out/demo/shop.h5 (bash scripts/demo.sh -v lists every dataset) =="
  h5ls out/demo/shop.h5 | awk '{print "  /" $1}' | tr '\n' ' '; echo
fi

echo
echo "== the strategy (out/demo/strategy.csv, first rows; predicted totals beside the planted truth) =="
head -4 out/demo/strategy.csv | cut -c1-220
/usr/bin/python3 - <<'PY'
import json
m = json.load(open("out/demo/metrics/strategy.json"))
print(f"budget {m['budget']:.0f}: {m['users_treated']} users get a promotion, expected cost {m['promotion_cost']:.2f}")
print(f"{'policy':20}{'predicted profit':>18}{'95% interval':>24}{'true profit':>14}")
outside = []
for p in ("strategy", "no_promotion", "cheapest_promotion", "propensity_rank"):
    t = m["totals"][p]["incremental_profit"]
    tr = t.get("true")
    interval = "[%.2f, %.2f]" % (t["lo"], t["hi"])
    true = "%.2f" % tr if tr is not None else "-"
    mark = ""
    if tr is not None and not (t["lo"] <= tr <= t["hi"]):
        outside.append((p, tr, t["lo"], t["hi"])); mark = "  <- outside the interval"
    print(f"{p:20}{t['value']:18.2f}{interval:>24}{true:>14}{mark}")
for p, tr, lo, hi in outside:
    print(f"note: the planted true profit of {p} ({tr:.2f}) is outside its 95% interval [{lo:.2f}, {hi:.2f}]: the "
          f"interval covers the noise of refitting the effect model, not its bias on a shop this small "
          f"(docs/strategy.md, 'Measured')")
PY
echo "report: out/demo/report/index.html ($(ls out/demo/report/*.png | wc -l) plots)"

echo
echo "== the gateway: mkt serve on 2 ranks, a few queries, then shutdown =="
umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > out/demo/token; umask 022
rm -f out/demo/ready
timeout -k 5 300 mpirun -np 2 build/mkt serve --store out/demo/shop.h5 --models out/demo/model.h5 \
  --strategy out/demo/strategy.h5 \
  --bind 'tcp://127.0.0.1:*' --ready-file out/demo/ready --token-file out/demo/token --timeout-ms 120000 \
  > out/demo/serve.log 2>&1 &
server=$!
for _ in $(seq 300); do [ -s out/demo/ready ] && break; kill -0 $server 2>/dev/null || break; sleep 0.1; done
[ -s out/demo/ready ] || { cat out/demo/serve.log; echo "gateway did not start" >&2; exit 1; }
endpoint=$(cat out/demo/ready)
echo "gateway listening on $endpoint"
# mkt query exits 1 on an error reply (the bad request below): shown, not fatal
ask() { echo "> $1"; build/mkt query --connect "$endpoint" --timeout-ms 5000 "$1" 2>&1 || echo "(mkt query exited $?)"; echo; }
ask '{"op":"ping","id":1}'
ask '{"op":"recommend","id":2,"user":"u0042","k":5}'
ask '{"op":"score","id":3,"user":"u0042","item":"i007"}'
ask '{"op":"similar","id":4,"item":"i007","k":3}'
ask '{"op":"uplift","id":5,"user":"u0042"}'
ask '{"op":"segment","id":6,"user":"u0042"}'
ask '{"op":"propensity","id":11,"user":"u0042"}'
ask '{"op":"strategy","id":12,"user":"u0042"}'
ask '{"op":"recommend","id":7,"user":"someone-new","k":3}'
ask '{"op":"recommend","id":8,"user":"u0042","k":-1}'
ask '[{"op":"score","user":"u0001","item":"i001"},{"op":"score","user":"u0002","item":"i002"}]'
ask '{"op":"stats","id":9}'
echo '> {"op":"shutdown","id":10,"token":"(the operator token from out/demo/token)"}'
build/mkt query --connect "$endpoint" --timeout-ms 5000 "{\"op\":\"shutdown\",\"id\":10,\"token\":\"$(cat out/demo/token)\"}"
echo
wait $server && echo "gateway stopped cleanly"
