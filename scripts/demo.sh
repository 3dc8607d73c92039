#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# demo job (jobs/demo.ini) on 2 local ranks: generate a synthetic shop,
# ingest it from CSV, compute features, and print what was done.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
rm -rf demo-out
mpirun -np 2 build/mkt run jobs/demo.ini
echo
echo "== what the demo did (demo-out/metrics/*.json) =="
/usr/bin/python3 - <<'PY'
import json, glob
for f in sorted(glob.glob("demo-out/metrics/*.json"), key=lambda f: __import__("os").path.getmtime(f)):
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
    for seg in m.get("segments", []) if isinstance(m.get("segments"), list) else []:
        if isinstance(seg, dict):
            print(f"\n  segment {seg.get('name')}: {seg.get('size')} users", end="")
    print(f"\n  seconds={secs:.2f}  peak memory per rank (MB)={[round(x) for x in m.get('peak_rss_mb_per_rank', [])]}")
PY
echo
echo "== three users' features, read back from demo-out/shop.h5 with h5py =="
/usr/bin/python3 - <<'PY'
import h5py
with h5py.File("demo-out/shop.h5", "r") as f:
    names = [n.decode() for n in f["features/user_names"][:]]
    users = [u.decode() for u in f["ids/users"][:3]]
    rows = f["features/users"][:3]
    show = ["recency_purchase_days", "purchases", "spend", "conv_view_purchase", "price_ratio_category"]
    print(f"{'user':8}" + "".join(f"{n:>24}" for n in show))
    for u, r in zip(users, rows):
        print(f"{u:8}" + "".join(f"{r[names.index(n)]:24.3f}" for n in show))
PY
echo
echo "== the store (h5ls) =="
h5ls -r demo-out/shop.h5 | grep -v partition
