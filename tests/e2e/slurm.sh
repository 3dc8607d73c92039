# On a real one-node Slurm cluster started for this test (tests/slurm/cluster.sh):
#  1. slurm/pipeline.sbatch runs jobs/slurm-test.ini on 2 tasks: every output
#     and metrics file exists and is valid; submitted again, every stage is
#     skipped (outputs newer than inputs); a wrong task count and a missing
#     job file fail fast; a step whose tasks cannot be launched (srun exits 0
#     then) ends the job FAILED with the step named in the log;
#  2. a training job (jobs/slurm-test-train.ini) is requeued with `scontrol
#     requeue` after its first checkpoint: the requeued run skips gen, resumes
#     train_mf from the checkpoint, and its model equals an uninterrupted
#     run's (mkt digest);
#  2b. SIGUSR1 to the batch script (what --signal=B:USR1@T sends): the job
#     checkpoints, requeues itself, resumes, same model; with max_requeue = 0
#     it stops with status 75 instead;
#  3. slurm/serve.sbatch starts the gateway, the address file it writes is
#     queried with mkt query, scancel stops it cleanly.
# Every daemon the test starts is stopped by pid on exit; nothing is left
# running.  When slurmd cannot run here, the test says why and fails.
. "$SRC/tests/lib.sh"
. "$SRC/tests/slurm/cluster.sh"
export MKT MKT_HOME="$SRC"
unset MKT_QUIET  # the jobs' logs are checked

finish() {
  local rc=$?
  slurm_cluster_stop
  local left
  left=$(pgrep -f "$MKT run slurm-test" || true)
  if [ -n "$left" ]; then
    echo "FAIL: mkt processes left running: $left" >&2
    kill -KILL $left 2>/dev/null || true
    rc=1
  fi
  exit "$rc"
}
trap finish EXIT
slurm_cluster_start "$WORK/cluster" || fail "cannot run Slurm on this machine (reason above)"

job_field() { scontrol show job -o "$1" 2>/dev/null | grep -o "$2=[^ ]*" | head -n 1 | cut -d= -f2-; }
# wait_final JOB SECONDS: wait until the job has ended (not requeued); prints its state.
wait_final() {
  local j=$1 t=$2 s="" i
  for ((i = 0; i < t * 4; i++)); do
    s=$(job_field "$j" JobState)
    case "$s" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | BOOT_FAIL | DEADLINE)
      echo "$s"; return 0 ;;
    esac
    sleep 0.25
  done
  echo "${s:-unknown} after ${t}s"
}
show_log() { echo "--- $1" >&2; tail -n 40 "$1" >&2 || true; }
T0=$(date +%s)

cp "$SRC"/jobs/slurm-test.ini "$SRC"/jobs/slurm-test-train.ini "$SRC"/jobs/slurm-test-serve.ini .

# ---- 1. the pipeline ----
j=$(sbatch --parsable -n 2 "$SRC/slurm/pipeline.sbatch" slurm-test.ini)
state=$(wait_final "$j" 120)
log=mkt-pipeline-$j.out
[ "$state" = COMPLETED ] || { show_log "$log"; fail "pipeline job $j: $state"; }
[ "$(job_field "$j" ExitCode)" = 0:0 ] || { show_log "$log"; fail "pipeline job $j exit code $(job_field "$j" ExitCode)"; }
grep -q "job file slurm-test.ini, 2 ranks" "$log" || { show_log "$log"; fail "pipeline log does not name the job file and 2 ranks"; }
grep -q "13 stages done, 0 skipped" "$log" || { show_log "$log"; fail "pipeline did not run its 13 stages"; }
"$PY" - <<'PY' || fail "pipeline outputs"
import json, h5py, sys
stages = ["gen", "ingest", "features", "train_mf", "eval_mf", "train_propensity", "eval_propensity",
          "train_uplift", "eval_uplift", "train_effect", "train_elasticity", "train_segments", "strategy"]
for s in stages:
    m = json.load(open(f"slurm-out/metrics/{s}.json"))
    assert m["stage"] == s, (s, m.get("stage"))
    assert m["ranks"] == 2, (s, m.get("ranks"))
    assert m.get("peak_rss_mb_per_rank") and len(m["peak_rss_mb_per_rank"]) == 2, s
with h5py.File("slurm-out/shop.h5", "r") as f:
    assert f["events/by_user/user"].shape[0] > 0 and "features" in f and "ids" in f
    assert "written_at" in f.attrs and "written_at" in f["features"].attrs
with h5py.File("slurm-out/model.h5", "r") as f:
    for g in ["mf", "propensity", "uplift", "effect", "elasticity", "segments"]:
        assert g in f["models"], g
        assert "written_at" in f["models"][g].attrs, g
        assert f"{g}.tmp" not in f["models"], g
with h5py.File("slurm-out/strategy.h5", "r") as f:
    assert "strategy" in f and "written_at" in f["strategy"].attrs
for name in ["events", "items", "campaign"]:
    assert open(f"slurm-out/csv/{name}.csv").readline().strip(), name
mf = json.load(open("slurm-out/metrics/train_mf.json"))
print(f"pipeline: held-out RMSE {mf['rmse']:.4f} (biases only {mf['baseline']['bias_rmse']:.4f}), "
      f"peak RSS per rank {mf['peak_rss_mb_per_rank']} MB")
assert mf["rmse"] < mf["baseline"]["bias_rmse"], "mf does not beat the biases-only baseline"
PY
# submitted again: nothing to redo
j2=$(sbatch --parsable -n 2 "$SRC/slurm/pipeline.sbatch" slurm-test.ini)
state=$(wait_final "$j2" 60)
[ "$state" = COMPLETED ] || { show_log "mkt-pipeline-$j2.out"; fail "second pipeline job $j2: $state"; }
grep -q "0 stages done, 13 skipped" "mkt-pipeline-$j2.out" || { show_log "mkt-pipeline-$j2.out"; fail "the rerun did not skip every stage"; }
grep -q "skip train_mf: slurm-out/model.h5 /models/mf is newer than slurm-out/shop.h5" "mkt-pipeline-$j2.out" ||
  { show_log "mkt-pipeline-$j2.out"; fail "no skip message for train_mf"; }
# a wrong task count fails fast, before mkt starts
j3=$(sbatch --parsable -n 1 "$SRC/slurm/pipeline.sbatch" slurm-test.ini)
state=$(wait_final "$j3" 60)
[ "$state" = FAILED ] || fail "a 1-task job for a ranks = 2 job file: $state"
grep -q "sets \[job\] ranks = 2 but this allocation has 1 tasks" "mkt-pipeline-$j3.out" || { show_log "mkt-pipeline-$j3.out"; fail "rank mismatch message"; }
# a missing job file fails fast
j4=$(sbatch --parsable -n 2 "$SRC/slurm/pipeline.sbatch" no-such.ini)
state=$(wait_final "$j4" 60)
[ "$state" = FAILED ] && grep -q "job file no-such.ini not found" "mkt-pipeline-$j4.out" || fail "missing job file: $state"
# a step whose tasks cannot be launched fails the job (srun itself says 0 then): a
# file where slurmd's PMIx plugin makes the step's directory in the cluster's
# TmpFS; the job is held until the file is there, so mkt never starts
j5=$(sbatch --parsable --hold -n 2 "$SRC/slurm/pipeline.sbatch" slurm-test.ini)
: >"$SLURM_DIR/tmp/spmix_appdir_$(id -u)_$j5.0"
scontrol release "$j5"
state=$(wait_final "$j5" 60)
log=mkt-pipeline-$j5.out
[ "$state" = FAILED ] && [ "$(job_field "$j5" ExitCode)" != 0:0 ] || { show_log "$log"; fail "launch failure: job $j5 $state $(job_field "$j5" ExitCode)"; }
grep -q "error: step 'mkt run slurm-test.ini' started on 0 of 2 tasks" "$log" || { show_log "$log"; fail "the log does not name the step that failed to launch"; }
! grep -q "pipeline slurm-test.ini finished" "$log" || { show_log "$log"; fail "a failed launch was reported as finished"; }
[ -z "$(find . -maxdepth 1 -name '.mkt-step-*')" ] || fail "step marks left in the working directory"
echo "ok 1: pipeline on Slurm, rerun skipped every stage ($(($(date +%s) - T0))s)"

# ---- 2. requeue mid-training, resume, same model ----
mkdir -p ref
(cd ref && MKT_QUIET=1 run_np 2 run ../slurm-test-train.ini) || fail "uninterrupted reference run"
j=$(sbatch --parsable -n 2 "$SRC/slurm/pipeline.sbatch" slurm-test-train.ini)
log=mkt-pipeline-$j.out
ckpt=train-out/model.h5.mf.ckpt.h5
for _ in $(seq 480); do
  [ -f "$ckpt" ] && break
  case "$(job_field "$j" JobState)" in COMPLETED | FAILED | CANCELLED) break ;; esac
  sleep 0.25
done
[ -f "$ckpt" ] || { show_log "$log"; fail "no checkpoint $ckpt appeared while job $j trained"; }
scontrol requeue "$j" || fail "scontrol requeue $j"
state=$(wait_final "$j" 200)
[ "$state" = COMPLETED ] || { show_log "$log"; fail "requeued training job $j: $state"; }
[ "$(job_field "$j" Restarts)" -ge 1 ] || { show_log "$log"; fail "job $j was not restarted"; }
grep -q "SIGTERM (scancel" "$log" || { show_log "$log"; fail "the batch script did not see the requeue's SIGTERM"; }
grep -q "writing a checkpoint at iteration" "$log" || { show_log "$log"; fail "mkt did not checkpoint on SIGTERM"; }
grep -q "restart 1" "$log" || { show_log "$log"; fail "no restarted run in the log"; }
grep -q "skip gen:" "$log" || { show_log "$log"; fail "the requeued run redid gen"; }
grep -q "resuming from checkpoint $ckpt at iteration" "$log" || { show_log "$log"; fail "the requeued run did not resume from $ckpt"; }
[ ! -e "$ckpt" ] || fail "checkpoint $ckpt left after the model was written"
"$MKT" digest train-out/model.h5 >digest.requeued
"$MKT" digest ref/train-out/model.h5 >digest.reference
grep -q "/models/mf/user_factors" digest.reference || fail "digest lists no /models/mf/user_factors"
diff digest.reference digest.requeued >&2 || fail "the requeued model differs from the uninterrupted run's"
echo "ok 2: requeued at $(grep -o 'writing a checkpoint at iteration [0-9]*' "$log" | head -n 1 | grep -o '[0-9]*$'), resumed, model equals the uninterrupted run's ($(($(date +%s) - T0))s)"

# ---- 2b. the time-limit warning (--signal=B:USR1): the script requeues itself, bounded ----
# usr1/: max_requeue = 1, so one self-requeue; bound/: max_requeue = 0, so none.
usr1_at_checkpoint() { # DIR -> job id, after sending SIGUSR1 to its batch script at the first checkpoint
  local dir=$1 jid
  jid=$(cd "$dir" && sbatch --parsable -n 2 "$SRC/slurm/pipeline.sbatch" slurm-test-train.ini)
  for _ in $(seq 480); do
    [ -f "$dir/$ckpt" ] && break
    case "$(job_field "$jid" JobState)" in COMPLETED | FAILED | CANCELLED) break ;; esac
    sleep 0.25
  done
  [ -f "$dir/$ckpt" ] || { show_log "$dir/mkt-pipeline-$jid.out"; fail "no checkpoint in $dir while job $jid trained"; }
  scancel --batch --signal=USR1 "$jid" || fail "scancel --signal=USR1 $jid"
  echo "$jid"
}
mkdir -p usr1 bound
sed 's/^max_requeue = .*/max_requeue = 1/' slurm-test-train.ini >usr1/slurm-test-train.ini
sed 's/^max_requeue = .*/max_requeue = 0/' slurm-test-train.ini >bound/slurm-test-train.ini
j=$(usr1_at_checkpoint usr1)
jb=$(usr1_at_checkpoint bound)
state=$(wait_final "$jb" 120)
log=bound/mkt-pipeline-$jb.out
[ "$state" = FAILED ] && [ "$(job_field "$jb" ExitCode)" = 75:0 ] || { show_log "$log"; fail "max_requeue = 0 job: $state $(job_field "$jb" ExitCode)"; }
grep -q "max_requeue = 0): resubmit with --resume" "$log" || { show_log "$log"; fail "max_requeue = 0 job did not stop with its message"; }
[ -f "bound/$ckpt" ] || fail "the checkpoint of the stopped job is gone"
state=$(wait_final "$j" 200)
log=usr1/mkt-pipeline-$j.out
[ "$state" = COMPLETED ] && [ "$(job_field "$j" Restarts)" = 1 ] || { show_log "$log"; fail "self-requeued job $j: $state, restarts $(job_field "$j" Restarts)"; }
grep -q "SIGUSR1 (time limit near)" "$log" && grep -q "received SIGUSR1: writing a checkpoint" "$log" &&
  grep -q "requeueing, restart 1 of at most 1" "$log" && grep -q "resuming from checkpoint $ckpt" "$log" ||
  { show_log "$log"; fail "the SIGUSR1 path: forward, checkpoint, requeue, resume"; }
"$MKT" digest usr1/train-out/model.h5 >digest.usr1
diff digest.reference digest.usr1 >&2 || fail "the self-requeued model differs from the uninterrupted run's"
echo "ok 2b: SIGUSR1 -> checkpoint, self-requeue (bounded by max_requeue), same model ($(($(date +%s) - T0))s)"

# ---- 3. the gateway ----
j=$(sbatch --parsable -n 2 "$SRC/slurm/serve.sbatch" slurm-test-serve.ini)
log=mkt-serve-$j.out
addr_file=slurm-out/gateway.address
for _ in $(seq 240); do
  [ -s "$addr_file" ] && break
  case "$(job_field "$j" JobState)" in COMPLETED | FAILED | CANCELLED) break ;; esac
  sleep 0.25
done
[ -s "$addr_file" ] || { show_log "$log"; fail "gateway job $j wrote no address file"; }
addr=$(cat "$addr_file")
[[ "$addr" =~ ^tcp://127\.0\.0\.1:[0-9]+$ ]] || fail "address file holds '$addr', not tcp://127.0.0.1:PORT"
[ "$(stat -c %a slurm-out/gateway.token)" = 600 ] || fail "token file mode $(stat -c %a slurm-out/gateway.token)"
reply=$("$MKT" query --connect "$addr" --timeout-ms 10000 '{"op":"ping","id":1}') || fail "ping: no reply"
echo "$reply" | grep -q '"pong":true' || fail "ping reply: $reply"
echo "$reply" | grep -q '"ranks":2' || fail "gateway does not run on 2 ranks: $reply"
reply=$("$MKT" query --connect "$addr" --timeout-ms 10000 '{"op":"recommend","id":2,"user":"u0042","k":3}') || fail "recommend: no reply"
echo "$reply" | grep -q '"items":\[{"item"' || fail "recommend reply: $reply"
t_cancel=$(date +%s)
scancel "$j"
state=$(wait_final "$j" 60)
[ "$state" = CANCELLED ] || { show_log "$log"; fail "gateway job after scancel: $state"; }
for _ in $(seq 120); do [ -z "$(squeue -h -j "$j" 2>/dev/null)" ] && break; sleep 0.25; done
[ $(($(date +%s) - t_cancel)) -lt 25 ] || fail "the gateway took until SIGKILL to stop"
grep -q "gateway stopped cleanly (mkt serve exited with status 0)" "$log" || { show_log "$log"; fail "gateway did not stop cleanly"; }
[ ! -e "$addr_file" ] || fail "address file left after the gateway stopped"
[ ! -e slurm-out/gateway.ready ] || fail "ready file left after the gateway stopped"
! "$MKT" query --connect "$addr" --timeout-ms 1000 '{"op":"ping"}' >/dev/null 2>&1 || fail "gateway still answers after scancel"
echo "ok 3: gateway on Slurm at $addr, queried, stopped cleanly by scancel ($(($(date +%s) - T0))s)"
echo "ok: slurm"
