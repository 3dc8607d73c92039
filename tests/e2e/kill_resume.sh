# Faults during training at 2 ranks (docs/checkpoints.md):
#  1. SIGKILL to one rank after the first checkpoint: mpirun exits non-zero
#     within 15 s (no hang); --resume finishes with factors identical to an
#     uninterrupted run.
#  2. SIGTERM to one rank process (what Slurm's srun delivers): every rank
#     checkpoints, status 75 with the preemption message; resume identical.
#  3. SIGUSR1 to mpirun (Open MPI forwards it to the ranks): the same.
#  4. SIGTERM to mpirun: Open MPI 4 passes SIGTERM to the ranks and SIGKILLs
#     them 1 s later (odls_base_sigkill_timeout), and mpirun itself exits 1;
#     the ranks usually checkpoint in time.  Asserted: no hang, non-zero, and
#     whatever checkpoint is on disk resumes to the identical model.
# Iterations are slowed to 400 ms by the test hook MKT_TEST_ITER_SLEEP_MS so
# the timing is deterministic on a loaded machine; MKT_TEST_PID_DIR makes
# every rank write its pid.
. "$SRC/tests/lib.sh"
run_np 2 gen --users 1500 --items 150 --days 12 --factors 4 --rating-noise 0.5 --ratings-per-user 20 \
  --seed 7 --out shop.h5 >/dev/null 2>&1
TRAIN=(train mf --store shop.h5 --rank 6 --iters 12 --lambda 0.02 --seed 3)
run_np 2 "${TRAIN[@]}" --out full.h5 >/dev/null 2>&1
"$MKT" digest full.h5 | grep /models/mf >full.txt

# Start a slow run in the background; sets $job (the mpirun's pid).
start_slow() {
  local out=$1; shift
  rm -rf pids && mkdir pids
  (unset MKT_QUIET; MKT_TEST_ITER_SLEEP_MS=400 MKT_TEST_PID_DIR="$WORK/pids" \
    exec mpirun -np 2 "$MKT" "${TRAIN[@]}" --out "$out" --checkpoint-every 2 "$@" >"$out.log" 2>&1) &
  job=$!
}
# Wait (at most 60 s) until file $1 exists.
wait_for() {
  for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done
  kill -9 "$job" 2>/dev/null || true
  fail "timed out waiting for $1"
}
# Wait for the background mpirun (at most $1 s); sets $status and $took.
finish() {
  local t0=$SECONDS limit=$1
  while kill -0 "$job" 2>/dev/null; do
    if [ $((SECONDS - t0)) -gt "$limit" ]; then
      kill -9 "$job" 2>/dev/null || true
      pkill -9 -P "$job" 2>/dev/null || true
      fail "mpirun still running ${limit}s after the fault (hang)"
    fi
    sleep 0.1
  done
  set +e; wait "$job"; status=$?; set -e
  took=$((SECONDS - t0))
}
resume_and_compare() {
  local out=$1 what=$2
  run_np 1 "${TRAIN[@]}" --out "$out" --resume --metrics-out "$out.json" >/dev/null 2>&1 \
    || fail "$what: resume failed"
  "$MKT" digest "$out" | grep /models/mf >got.txt
  cmp -s full.txt got.txt || fail "$what: resumed factors differ: $(diff full.txt got.txt)"
  local from; from=$(json_get "$out.json" '["resumed_from_iteration"]')
  [ "$from" -ge 2 ] || fail "$what: resumed from iteration $from"
  echo "ok: $what: status $status after ${took}s; resumed from iteration $from; identical factors"
}

# 1. SIGKILL one rank after the first checkpoint
start_slow k.h5
wait_for k.h5.mf.ckpt.h5
wait_for pids/rank1.pid
kill -9 "$(cat pids/rank1.pid)"
finish 15
[ "$status" -ne 0 ] || fail "SIGKILL of a rank: mpirun exited 0"
[ ! -e k.h5 ] || fail "a killed run published a model"
resume_and_compare k.h5 "SIGKILL of rank 1"

# 2. SIGTERM to one rank process
start_slow t.h5
wait_for t.h5.mf.ckpt.h5
wait_for pids/rank1.pid
kill -TERM "$(cat pids/rank1.pid)"
finish 30
[ "$status" -eq 75 ] || fail "SIGTERM to rank 1: status $status, expected 75: $(tail -5 t.h5.log)"
grep -q "received SIGTERM" t.h5.log || fail "SIGTERM not reported"
grep -q "preempted: checkpoint written to t.h5.mf.ckpt.h5 at iteration [0-9]*; rerun with --resume" t.h5.log \
  || fail "no preemption message: $(tail -5 t.h5.log)"
resume_and_compare t.h5 "SIGTERM to rank 1"

# 3. SIGUSR1 to mpirun, with checkpoint-every 0 (only the signal's checkpoint)
start_slow u.h5 --checkpoint-every 0
wait_for pids/rank1.pid
sleep 1.5
kill -USR1 "$job"
finish 30
[ "$status" -eq 75 ] || fail "SIGUSR1 to mpirun: status $status, expected 75: $(tail -5 u.h5.log)"
grep -q "preempted: checkpoint written to u.h5.mf.ckpt.h5" u.h5.log || fail "no preemption message (SIGUSR1)"
resume_and_compare u.h5 "SIGUSR1 to mpirun"

# 4. SIGTERM to mpirun
start_slow m.h5
wait_for m.h5.mf.ckpt.h5
kill -TERM "$job"
finish 15
[ "$status" -ne 0 ] || fail "SIGTERM to mpirun: exited 0"
grep -q "preempted: checkpoint written" m.h5.log && echo "(the ranks checkpointed before Open MPI's SIGKILL)"
resume_and_compare m.h5 "SIGTERM to mpirun"
echo "ok: kill and resume"
