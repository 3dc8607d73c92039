#!/usr/bin/env bash
# bench/mf.sh — speed of `mkt train mf` (explicit ALS) on MovieLens-sized
# synthetic ratings: seconds per iteration and ratings/s per rank at 1 and 2
# ranks for K = 32 and 64; the share of an iteration spent in solves, in
# exchanges and in the rest; the FLOP rate of the solve phase beside OpenBLAS
# dgemm measured in the same run; peak memory per rank against the factors
# plus that rank's ratings, in total and above the fixed cost of an idle
# process (libraries, MPI, the open store: `baseline_rss_mb` of the metrics).
#   bench/mf.sh            both sizes (ML-1M-sized and ML-10M-sized)
#   bench/mf.sh small      only the ML-1M-sized set
# Targets: solve phase > 50% of the dgemm rate; a 10M-rating K=64 iteration
# on 2 ranks < 2 s; peak memory per rank < 1.5x factors + ratings.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. scripts/env.sh
export MKT_QUIET=1
# MKT: the mkt binary (default build/mkt, built by scripts/setup.sh if missing)
MKT=${MKT:-build/mkt}
[ -x "$MKT" ] || scripts/setup.sh
# OUT: where the sets, models and metrics go (default bench/out/mf)
OUT=${OUT:-bench/out/mf}; mkdir -p "$OUT"
ITERS=${ITERS:-4}

cc -O2 bench/dgemm_rate.c -o "$OUT/dgemm_rate" $(pkg-config --cflags --libs openblas)
DGEMM=$(OPENBLAS_NUM_THREADS=1 "$OUT/dgemm_rate" 1024)
echo "OpenBLAS dgemm, one thread, N=1024: $DGEMM GFLOP/s"

sets=("ml1m 6040 3706 166")
[ "${1:-}" = small ] || sets+=("ml10m 70000 10000 143")
printf "\n%-6s %2s %3s %9s %14s %7s %7s %7s %9s %8s %8s %7s %10s %9s\n" set np K "s/iter" "ratings/s/rank" solve% exch% \
  other% "solve GF/s" "vs dgemm" "peak MB" "base MB" "mem ratio" "over base"
for s in "${sets[@]}"; do
  read -r name users items per <<<"$s"
  store=$OUT/$name.h5
  [ -f "$store" ] || mpirun -np 2 "$MKT" gen --users "$users" --items "$items" --ratings-per-user "$per" \
    --sessions-per-user 0 --campaign-share 0 --factors 8 --out "$store" >/dev/null
  for k in 32 64; do
    for np in 1 2; do
      m=$OUT/${name}_k${k}_np$np.json
      mpirun -np $np "$MKT" train mf --store "$store" --out "$OUT/${name}_model.h5" --factors $k --iters "$ITERS" \
        --lambda 0.05 --metrics-out "$m" >/dev/null
      $PY - "$m" "$name" "$np" "$k" "$DGEMM" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); name, np_, k, dgemm = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
hist = m["history"]
# the first iteration pays page faults of fresh buffers: report the rest
its = hist[1:] if len(hist) > 1 else hist
sec = sum(h["seconds"] for h in its) / len(its)
n = m["train_entries"]
rate = n / sec / np_
def share(key):
    v = [h.get(key) for h in its]
    return None if any(x is None for x in v) else sum(v) / len(v)
# per-iteration history: seconds, seconds_solve, seconds_exchange (rank 0);
# fall back to the run's phase_seconds_per_iteration (max over ranks)
phase = m.get("phase_seconds_per_iteration", {})
solve = share("seconds_solve")
exch = share("seconds_exchange")
if solve is None: solve = phase.get("solve")
if exch is None: exch = phase.get("exchange")
flops = m.get("solve_flops_per_iteration")
fmt = lambda x: f"{x:7.1f}" if x is not None else "      -"
sp = 100 * solve / sec if solve is not None else None
ep = 100 * exch / sec if exch is not None else None
op = 100 - sp - ep if sp is not None and ep is not None else None
gf = flops / solve / 1e9 if flops and solve else None
U, I = m["users"], m["items"]
need_mb = (8 * (k + 1) * (U + I) + 2 * 12 * n / np_) / 1e6   # factors (all rows) + this rank's ratings, both layouts
peaks = m["peak_rss_mb_per_rank"]
peak = max(peaks)
# the fixed cost of each rank (after MPI_Init and opening the store, before any data)
bases = m.get("baseline_rss_mb_per_rank", [0.0] * len(peaks))
excess = max(p - b for p, b in zip(peaks, bases))
print(f"{name:<6} {np_:2d} {k:3d} {sec:9.3f} {rate:14.0f} {fmt(sp)} {fmt(ep)} {fmt(op)} "
      f"{(f'{gf:9.2f}' if gf else '        -')} {(f'{gf / np_ / dgemm:8.2f}' if gf else '       -')} "
      f"{peak:8.1f} {max(bases):7.1f} {peak / need_mb:10.2f} {excess / need_mb:9.2f}")
PY
    done
  done
done
echo
echo "mem ratio = peak RSS per rank / (8·(K+1)·(users+items) + that rank's ratings in both layouts at 12 B each)"
echo "over base = (peak RSS − the rank's RSS after MPI_Init and opening the store) / the same"
