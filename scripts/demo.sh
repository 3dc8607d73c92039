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
for f in sorted(glob.glob("demo-out/metrics/*.json")):
    m = json.load(open(f))
    print(f"{m['stage']}: ranks={m['ranks']}", end="")
    for k in ("users", "items", "events", "campaign_rows", "user_features", "item_features"):
        if k in m: print(f" {k}={m[k]}", end="")
    for name, inp in m.get("inputs", {}).items():
        r = inp["rows"]; print(f"\n  {name}: read={r['read']} stored={r['stored']} rejected={r['rejected']}", end="")
    print(f"\n  seconds={m.get('seconds', {}).get('total')}")
PY
echo
echo "== the store =="
h5ls -r demo-out/shop.h5 | head -50
