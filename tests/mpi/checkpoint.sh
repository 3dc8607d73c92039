# At NP ranks: checkpoints, preemption and --resume (docs/checkpoints.md).
# For explicit MF, implicit MF and propensity (L-BFGS logistic and Adam MLP,
# and the user x item target):
# a run stopped by SIGUSR1 (raised in-process on the last rank after
# iteration 3 by the test hook MKT_TEST_STOP_AFTER_ITER) exits 75 with the
# preemption message and leaves a checkpoint; --resume at another rank count
# finishes with a model bitwise identical (mkt digest) to an uninterrupted
# run.  Also: --resume without a checkpoint, checkpoint-every 0, a changed
# option (status 2 naming the key), a truncated and a tampered checkpoint.
. "$SRC/tests/lib.sh"
OTHER=$([ "$NP" -eq 1 ] && echo 2 || echo 1)   # resume at a different rank count

run_np "$NP" gen --users 1200 --items 120 --days 12 --factors 4 --rating-noise 0.5 --ratings-per-user 20 \
  --seed 5 --out shop.h5 >/dev/null 2>&1

run_loud() { (unset MKT_QUIET; export MKT_VERBOSE=1; run_np "$@"); }   # with the progress lines (they report the resume)
digest() { "$MKT" digest "$1" | grep "$2" || fail "no $2 in $1"; }

# Run expecting preemption: status 75, the message, a checkpoint, no metrics.
expect_preempted() {
  local np=$1 ckpt=$2; shift 2
  set +e
  (unset MKT_QUIET; MKT_VERBOSE=1 MKT_TEST_STOP_AFTER_ITER=3 exec timeout -k 5 120 mpirun -np "$np" "$MKT" "$@" >out.txt 2>err.txt)
  status=$?
  set -e
  [ "$status" -eq 75 ] || fail "expected status 75 from mkt $*, got $status: $(tail -5 err.txt)"
  grep -q "preempted: checkpoint written to $ckpt at iteration 3; rerun with --resume" err.txt \
    || fail "no preemption message: $(grep -v '^\[' err.txt | head -5)"
  [ -s "$ckpt" ] || fail "no checkpoint $ckpt after preemption"
}

# name | model group | train arguments
cases=(
  "mfx|/models/mf|train mf --rank 4 --iters 6 --lambda 0.02 --seed 2"
  "mfi|/models/mf|train mf --implicit --rank 4 --iters 6 --lambda 1 --alpha 5"
  "plog|/models/propensity|train propensity --epochs 7 --patience 2"
  "pmlp|/models/propensity|train propensity --model mlp --hidden 8,4 --optimizer adam --batch 64 --lr 0.02 --epochs 6"
  "pitem|/models/propensity_item|train propensity --target user_item --model mlp --hidden 8 --optimizer adam --batch 64 --lr 0.02 --epochs 6"
)
for c in "${cases[@]}"; do
  IFS='|' read -r name group args <<<"$c"
  # shellcheck disable=SC2086
  run_np "$NP" $args --store shop.h5 --out "$name.full.h5" --metrics-out "$name.full.json" >/dev/null 2>&1
  ck="$name.h5.${group#/models/}.ckpt.h5"
  [ ! -e "$name.full.h5.${group#/models/}.ckpt.h5" ] || fail "$name: checkpoint left after a finished run"
  # shellcheck disable=SC2086
  expect_preempted "$NP" "$ck" $args --store shop.h5 --out "$name.h5" --checkpoint-every 2 --metrics-out "$name.json"
  [ ! -e "$name.json" ] || fail "$name: a preempted run wrote its metrics"
  [ ! -e "$name.h5" ] || fail "$name: a preempted run wrote a model"
  # shellcheck disable=SC2086
  run_loud "$OTHER" $args --store shop.h5 --out "$name.h5" --checkpoint-every 2 --resume --metrics-out "$name.json" \
    >/dev/null 2>err.txt || fail "$name: resume failed: $(tail -3 err.txt)"
  grep -q "resuming from checkpoint $ck at iteration 3" err.txt || fail "$name: resume not reported"
  [ ! -e "$ck" ] || fail "$name: checkpoint not removed after the model was written"
  digest "$name.full.h5" "$group" >a.txt
  digest "$name.h5" "$group" >b.txt
  cmp -s a.txt b.txt || fail "$name: resumed model differs from the uninterrupted one: $(diff a.txt b.txt)"
  "$PY" - "$name.json" "$name.full.json" <<'PY' || fail "$name: metrics"
import json, sys
m, f = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
key = "resumed_from_iteration" if "resumed_from_iteration" in m else "resumed_from_epoch"
assert m[key] == 3 and f[key] == 0, (m[key], f[key])
hist = [h.get("iteration", h.get("epoch")) for h in m["history"]]
n = len(f["history"])
assert hist == list(range(1, n + 1)), hist
# periodic checkpoints never after the last iteration (or an early stop):
# the resumed run every 2 from 4, the uninterrupted one every 5 (default)
want = (len([i for i in range(4, n) if i % 2 == 0]), len([i for i in range(1, n) if i % 5 == 0]))
assert (m["checkpoints_written"], f["checkpoints_written"]) == want, (m["checkpoints_written"], f["checkpoints_written"], want)
print(sys.argv[1], key, m[key], "checkpoints", m["checkpoints_written"], "history", len(hist))
PY
  echo "ok: $name stopped at 3 on $NP ranks, resumed on $OTHER: identical $group"
done

# train_mf's phase split and solve FLOPs (explicit: the FLOP count does not
# depend on the rank count, so the resumed run at $OTHER ranks agrees)
"$PY" - <<'PY' || fail "mf phase metrics"
import json
for name in ("mfx", "mfi"):
    m = json.load(open(name + ".full.json"))
    p = m["phase_seconds_per_iteration"]
    assert p["solve"] > 0 and p["exchange"] >= 0 and p["other"] >= -1e-3, p
    assert m["solve_flops_per_iteration"] > 0 and m["solve_gflops_per_second"] > 0, m
    assert all("seconds_solve" in h and "seconds_exchange" in h for h in m["history"])
a, b = json.load(open("mfx.full.json")), json.load(open("mfx.json"))
assert abs(a["solve_flops_per_iteration"] - b["solve_flops_per_iteration"]) <= 1e-9 * a["solve_flops_per_iteration"], (a["solve_flops_per_iteration"], b["solve_flops_per_iteration"])
print("solve GFLOP/iteration", a["solve_flops_per_iteration"] / 1e9, "phases", a["phase_seconds_per_iteration"])
PY

# the propensity model carries the test users' scores and labels in global user order
"$PY" - <<'PY' || fail "propensity test datasets"
import json, h5py, numpy as np
g = h5py.File("plog.full.h5", "r")["models/propensity"]
m = json.load(open("plog.full.json"))
s, y = g["test_score"][:], g["test_label"][:]
assert g["test_label"].dtype == np.int8 and s.dtype == np.float64
assert len(s) == len(y) == m["test_examples"] == m["test"]["examples"]
assert int(y.sum()) == m["test"]["positives"] and ((s > 0) & (s < 1)).all()
# AUC from the stored scores (ties averaged) equals the model's test_auc
order = np.argsort(s, kind="mergesort"); r = np.empty(len(s)); r[order] = np.arange(1, len(s) + 1)
for v in np.unique(s):
    r[s == v] = r[s == v].mean()
npos = y.sum(); auc = (r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos))
assert abs(auc - g.attrs["test_auc"]) < 1e-12, (auc, g.attrs["test_auc"])
print("test_score/label:", len(s), "users, AUC", auc)
PY

# --resume with no checkpoint starts from scratch (safe to pass always); and
# checkpoint-every 0 still checkpoints on the signal
run_loud "$NP" train mf --rank 4 --iters 6 --lambda 0.02 --seed 2 --store shop.h5 --out fresh.h5 --resume \
  >/dev/null 2>err.txt
grep -q "no checkpoint fresh.h5.mf.ckpt.h5: starting from scratch" err.txt || fail "fresh --resume not reported"
digest fresh.h5 /models/mf >b.txt
digest mfx.full.h5 /models/mf >a.txt
cmp -s a.txt b.txt || fail "--resume without a checkpoint changed the model"
expect_preempted "$NP" ck0.h5 train mf --rank 4 --iters 6 --lambda 0.02 --seed 2 --store shop.h5 --out e0.h5 \
  --checkpoint ck0.h5 --checkpoint-every 0
grep -q "written at iteration 2" err.txt && fail "checkpoint-every 0 wrote a periodic checkpoint"

# a changed option: status 2 naming the key; the checkpoint is kept
expect_fail "$NP" train mf --rank 4 --iters 6 --lambda 0.03 --seed 2 --store shop.h5 --out e0.h5 \
  --checkpoint ck0.h5 --resume
[ "$status" -eq 2 ] || fail "config mismatch: status $status, expected 2"
grep -q "written with lambda = 0.02.*this run has lambda = 0.03" err.txt || fail "mismatch key not named: $(cat err.txt)"
expect_fail "$NP" train mf --implicit --rank 4 --iters 6 --lambda 0.02 --seed 2 --store shop.h5 --out e0.h5 \
  --checkpoint ck0.h5 --resume
[ "$status" -eq 2 ] && grep -q "implicit = 0" err.txt || fail "implicit mismatch: $status $(cat err.txt)"
expect_fail "$NP" train propensity --store shop.h5 --out e0.h5 --checkpoint ck0.h5 --resume
grep -q "checkpoint of mf training, not of propensity" err.txt || fail "kind mismatch: $(cat err.txt)"
[ -s ck0.h5 ] || fail "a refused resume removed the checkpoint"

# a tampered checkpoint (a factor changed): checksum error; a truncated one: corrupt
cp ck0.h5 bad1.h5
"$PY" -c "
import h5py; f = h5py.File('bad1.h5', 'r+'); f['user_factors'][0, 0] += 1e-9"
expect_fail "$NP" train mf --rank 4 --iters 6 --lambda 0.02 --seed 2 --store shop.h5 --out e0.h5 \
  --checkpoint bad1.h5 --resume
grep -q "checkpoint bad1.h5: user_factors fails its checksum" err.txt || fail "tampering not found: $(cat err.txt)"
head -c 3000 ck0.h5 >bad2.h5
expect_fail "$NP" train mf --rank 4 --iters 6 --lambda 0.02 --seed 2 --store shop.h5 --out e0.h5 \
  --checkpoint bad2.h5 --resume
grep -q "checkpoint bad2.h5 is unreadable or corrupt" err.txt || fail "truncation not reported: $(cat err.txt)"
echo "not hdf5" >bad3.h5
expect_fail "$NP" train mf --rank 4 --iters 6 --lambda 0.02 --seed 2 --store shop.h5 --out e0.h5 \
  --checkpoint bad3.h5 --resume
grep -q "not an HDF5 file" err.txt || fail "garbage checkpoint not reported: $(cat err.txt)"
expect_fail "$NP" train mf --store shop.h5 --out e0.h5 --checkpoint-every -1
grep -q "checkpoint-every" err.txt || fail "negative checkpoint-every not reported: $(cat err.txt)"
[ ! -e e0.h5 ] || fail "a failed run wrote a model"
echo "ok: checkpoints at $NP ranks"
