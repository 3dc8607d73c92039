#!/usr/bin/env bash
# bench/ingest.sh [ROWS]: rows/s and MB/s of `mkt ingest --format transactions`
# at 1 and 2 ranks beside pandas.read_csv on the same file, in the same run,
# and peak memory per rank against that rank's share of the stored data.
# Target: >= 3x pandas' rows/s at 2 ranks; peak memory per rank < 2x its share.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-5000000}
PY=/usr/bin/python3
. scripts/env.sh
export MKT_QUIET=1
$PY -c "import pandas" 2>/dev/null || { echo "installing python3-pandas (the reference reader)" >&2;
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pandas >/dev/null; }
[ -x build/mkt ] || scripts/setup.sh
OUT=bench/out/ingest; mkdir -p "$OUT"
CSV=$OUT/transactions_$ROWS.csv
[ -f "$CSV" ] || { echo "generating $ROWS rows -> $CSV" >&2; $PY bench/make_transactions.py "$ROWS" "$CSV"; }
MB=$($PY -c "import os; print(os.path.getsize('$CSV') / 1e6)")

pandas_s=$($PY - "$CSV" <<'PY'
import sys, time, pandas as pd
t = time.perf_counter(); df = pd.read_csv(sys.argv[1]); t = time.perf_counter() - t
assert len(df) > 0
print(f"{t:.3f}")
PY
)
printf "%-22s %10s %12s %10s %10s\n" "reader" "seconds" "rows/s" "MB/s" "vs pandas"
printf "%-22s %10.2f %12.0f %10.1f %10s\n" "pandas.read_csv" "$pandas_s" \
  "$($PY -c "print($ROWS / $pandas_s)")" "$($PY -c "print($MB / $pandas_s)")" "1.00"
for np in 1 2; do
  start=$(date +%s.%N)
  mpirun -np $np build/mkt ingest --format transactions --input "$CSV" --out "$OUT/store_np$np.h5" \
    --metrics-out "$OUT/ingest_np$np.json"
  end=$(date +%s.%N)
  $PY - "$OUT/ingest_np$np.json" "$OUT/store_np$np.h5" "$ROWS" "$MB" "$pandas_s" "$start" "$end" "$np" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1])); store = sys.argv[2]
rows, mb, pandas_s = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
wall = float(sys.argv[7]) - float(sys.argv[6]); np_ = int(sys.argv[8])
stage = m["seconds"]["total"]
read = m["inputs"]["events"]["rows"]["read"]
assert read == rows, (read, rows)
label = f"mkt ingest, {np_} rank" + ("s" if np_ > 1 else "")
print(f"{label:<22} {stage:10.2f} {rows / stage:12.0f} {mb / stage:10.1f} {pandas_s / stage:10.2f}"
      f"   (wall with MPI start-up {wall:.2f}s: {pandas_s / wall:.2f}x)")
share = os.path.getsize(store) / 1e6 / np_
peaks = m["peak_rss_mb_per_rank"]
print(f"{'':22} peak memory per rank {', '.join(f'{p:.0f}' for p in peaks)} MB; "
      f"stored share per rank {share:.0f} MB; ratio {max(peaks) / share:.2f} (target < 2)")
PY
done
