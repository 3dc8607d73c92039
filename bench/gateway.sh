#!/usr/bin/env bash
# Gateway benchmark: mkt serve on 2 ranks with a synthetic shop of 100,000
# items and a K = 64 factor model, loaded by bench/gateway_load (concurrent
# DEALER clients, one message in flight each) for score and recommend k=10,
# single and batched, beside a bare ZeroMQ ROUTER echo server measured in the
# same run (the floor).  Then recommend latency at 10k, 100k and 1M items,
# single and in batches of 16.  The load average is printed with the results
# (the tails are the machine's as much as the gateway's when it is busy).
#
#   bench/gateway.sh [BUILD_DIR]      (default build; not run by ctest)
# Env: SECONDS_PER_RUN (default 5), CLIENTS (default 4), OUT (default /tmp/mkt-bench-gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MKT=$PWD/$BUILD/mkt
LOAD=$PWD/$BUILD/bench/gateway_load
SECS=${SECONDS_PER_RUN:-5}
CLIENTS=${CLIENTS:-4}
OUT=${OUT:-/tmp/mkt-bench-gateway}
[ -x "$MKT" ] && [ -x "$LOAD" ] || { echo "build first: cmake --build $BUILD (needs mkt and bench/gateway_load)" >&2; exit 1; }
. scripts/env.sh
export MKT_QUIET=1
mkdir -p "$OUT"
cd "$OUT"

# A store with ITEMS items (events from mkt gen) and a random K = 64 model
# (the serving cost does not depend on how the factors were trained).
make_shop() { # items
  local items=$1
  [ -s "shop_$items.h5" ] && [ -s "model_$items.h5" ] && return 0
  mpirun -np 2 "$MKT" gen --users 5000 --items "$items" --days 2 --seed 1 --out "shop_$items.h5" >/dev/null
  /usr/bin/python3 - "$items" <<'PY'
import sys, h5py, numpy as np
n = sys.argv[1]; K = 64
s = h5py.File("shop_%s.h5" % n, "r"); U = len(s["ids/users"]); I = len(s["ids/items"])
rng = np.random.default_rng(7)
with h5py.File("model_%s.h5.tmp" % n, "w") as f:
    f.attrs["format"] = np.bytes_("mkt-model"); f.attrs["schema_version"] = np.int64(1)
    g = f.create_group("models/mf")
    g["user_factors"] = rng.normal(0, 0.3, (U, K)); g["item_factors"] = rng.normal(0, 0.3, (I, K))
    g["user_bias"] = rng.normal(0, 0.1, U); g["item_bias"] = rng.normal(0, 0.1, I)
    g.attrs["global_mean"] = 3.5
users = [u.decode() for u in s["ids/users"][:]]; items = [i.decode() for i in s["ids/items"][:]]
with open("ids_%s.txt" % n, "w") as out:
    for j in range(20000):
        out.write("%s %s\n" % (users[rng.integers(U)], items[rng.integers(I)]))
PY
  mv "model_$items.h5.tmp" "model_$items.h5"
}

start_serve() { # items
  rm -f ready
  mpirun -np 2 "$MKT" serve --store "shop_$1.h5" --models "model_$1.h5" --bind 'tcp://127.0.0.1:*' \
    --ready-file ready --allow-shutdown 1 --timeout-ms 600000 --max-batch 256 >serve.log 2>&1 &
  server=$!
  for _ in $(seq 600); do [ -s ready ] && break; kill -0 $server 2>/dev/null || { cat serve.log; exit 1; }; sleep 0.1; done
  endpoint=$(cat ready)
}
stop_serve() {
  "$MKT" query --connect "$endpoint" --request '{"op":"shutdown"}' >/dev/null
  wait $server
}

load() { "$LOAD" --ids "ids_$ITEMS.txt" --seconds "$SECS" "$@"; }

echo "== $(uptime | sed 's/.*load/load/') =="
echo "== mkt serve, 2 ranks, 100,000 items, K = 64, $CLIENTS clients, ${SECS} s per line ($(nproc) cores) =="
ITEMS=100000
make_shop $ITEMS
start_serve $ITEMS
{
  load --echo --op score --clients "$CLIENTS" --batch 1
  load --connect "$endpoint" --op score --clients "$CLIENTS" --batch 1
  load --echo --op score --clients "$CLIENTS" --batch 64
  load --connect "$endpoint" --op score --clients "$CLIENTS" --batch 64
  load --echo --op recommend --clients 1 --batch 1
  load --connect "$endpoint" --op recommend --k 10 --clients 1 --batch 1 --label "mkt serve (1 client)"
  load --connect "$endpoint" --op recommend --k 10 --clients "$CLIENTS" --batch 1
  load --connect "$endpoint" --op recommend --k 10 --clients "$CLIENTS" --batch 16
} | tee results.txt
stop_serve

echo
echo "== recommend k=10, 1 client, by item count, single and in batches of 16 =="
for ITEMS in 10000 100000 1000000; do
  make_shop $ITEMS
  start_serve $ITEMS
  load --connect "$endpoint" --op recommend --k 10 --clients 1 --batch 1 --label "recommend, $ITEMS items" | tee -a results.txt
  load --connect "$endpoint" --op recommend --k 10 --clients 1 --batch 16 --label "recommend x16, $ITEMS items" | tee -a results.txt
  stop_serve
done

echo
/usr/bin/python3 - <<'PY'
import re
rows = [l for l in open("results.txt")]
def get(label, op, batch, clients=None):
    for l in rows:
        if l.startswith(label) and (" %s " % op) in l and re.search(r"batch=%d\b" % batch, l) and (clients is None or re.search(r"clients=%d\b" % clients, l)):
            m = re.search(r"([\d.]+) req/s.*p50 +([\d.]+) ms +p99 +([\d.]+) ms +p99.9 +([\d.]+) ms", l)
            return [float(x) for x in m.groups()]
for op, b in (("score", 1), ("score", 64)):
    e, s = get("zmq echo", op, b), get("mkt serve", op, b)
    print("%s batch %d: mkt serve %.0f req/s = %.2f x the echo floor; p50 %.3f ms vs %.3f ms (%.1f x)" % (op, b, s[0], s[0] / e[0], s[1], e[1], s[1] / e[1]))
r1, e1 = get("mkt serve (1 client)", "recommend", 1), get("zmq echo", "recommend", 1)
print("recommend k=10, 1 client: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms (echo floor p99 %.3f ms)" % (r1[1], r1[2], r1[3], e1[2]))
sizes = [(n, get("recommend, %d items" % n, "recommend", 1)) for n in (10000, 100000, 1000000)]
base = sizes[0][1][1]
print("recommend p50 by item count: " + ", ".join("%d: %.3f ms (%.1f x)" % (n, v[1], v[1] / base) for n, v in sizes))
for n in (10000, 100000, 1000000):
    v, b = get("recommend, %d items" % n, "recommend", 1), get("recommend x16, %d items" % n, "recommend", 16)
    print("recommend k=10 at %d items: single p50 %.3f / p99 %.3f / p99.9 %.3f ms; batches of 16: %.0f req/s, p50 %.3f / p99 %.3f / p99.9 %.3f ms per message"
          % (n, v[1], v[2], v[3], b[0], b[1], b[2], b[3]))
PY
echo "== $(uptime | sed 's/.*load/load/') =="
