# At NP ranks: `mkt run` skips a stage whose outputs are complete and newer
# than its inputs (and the job file), reruns it when an input is newer, an
# output is missing or left incomplete (a .tmp beside it), and runs
# test-ranks: 2
# everything with --force or [job] force = true; --resume reaches the train
# stages; bad [job] keys and flags are errors.
. "$SRC/tests/lib.sh"
unset MKT_QUIET  # the skip messages are checked
cat > job.ini <<INI
[job]
stages = gen, features, train_mf, train_segments
store = out/shop.h5
models = out/model.h5
metrics_dir = out/metrics
[gen]
users = 300
items = 50
days = 7
ratings_per_user = 10
[train_mf]
rank = 3
iters = 2
[train_segments]
k = 3
INI
run_np "$NP" run job.ini 2>log1.txt
grep -q "4 stages done, 0 skipped" log1.txt || fail "first run: $(cat log1.txt)"
"$MKT" digest out/model.h5 >digest1.txt

# nothing changed: every stage is skipped, the files stay as they were
sleep 0.05
run_np "$NP" run job.ini 2>log2.txt
grep -q "0 stages done, 4 skipped" log2.txt || fail "second run did not skip: $(cat log2.txt)"
grep -q "skip train_mf: out/model.h5 /models/mf is newer than out/shop.h5, job.ini" log2.txt || fail "skip message: $(cat log2.txt)"
"$MKT" digest out/model.h5 | cmp -s - digest1.txt || fail "a skipped run changed the model"

# --force reruns every stage, with the same result
run_np "$NP" run --force job.ini 2>log3.txt
grep -q "4 stages done, 0 skipped" log3.txt || fail "--force: $(cat log3.txt)"
"$MKT" digest out/model.h5 | cmp -s - digest1.txt || fail "a forced rerun gave another model"
# a missing output reruns its stage; the stages that read what it rewrote follow
rm out/metrics/features.json
run_np "$NP" run job.ini 2>log4.txt
grep -q "stage 2/4: features (out/metrics/features.json is missing)" log4.txt || fail "missing metrics: $(cat log4.txt)"
grep -q "stage 4/4: train_segments (out/shop.h5 /features is newer than out/model.h5 /models/segments)" log4.txt ||
  fail "newer input: $(cat log4.txt)"
grep -q "skip train_mf:" log4.txt || fail "train_mf does not read /features: $(cat log4.txt)"

# a write that was interrupted leaves PATH.tmp: the stage reruns
touch out/shop.h5.tmp
run_np "$NP" run job.ini 2>log5.txt
grep -q "stage 1/4: gen (out/shop.h5 was left incomplete (out/shop.h5.tmp exists))" log5.txt || fail "tmp file: $(cat log5.txt)"
[ ! -e out/shop.h5.tmp ] || rm -f out/shop.h5.tmp

# editing the job file reruns every stage; [job] force = true too
printf '[job]\nstages = gen\nstore = out/shop.h5\nforce = true\n[gen]\nusers = 300\nitems = 50\ndays = 7\nratings_per_user = 10\n' >force.ini
run_np "$NP" run force.ini 2>log6.txt
grep -q "1 stages done, 0 skipped" log6.txt || fail "[job] force: $(cat log6.txt)"

# --resume reaches the train stages that have it
run_np "$NP" run --force --resume job.ini 2>log7.txt
grep -q "no checkpoint .*: starting from scratch" log7.txt || fail "--resume did not reach train_mf: $(cat log7.txt)"

# propensity's user_item target writes /models/propensity_item: a second run
# finds that group (not /models/propensity) complete and skips the stage
cat > item.ini <<INI
[job]
stages = train_propensity
store = out/shop.h5
models = out/item_model.h5
metrics_dir = out/metrics
[train_propensity]
target = user_item
epochs = 2
l2 = 0.01
INI
run_np "$NP" run item.ini 2>logi1.txt
grep -q "1 stages done, 0 skipped" logi1.txt || fail "user_item first run: $(cat logi1.txt)"
run_np "$NP" run item.ini 2>logi2.txt
grep -q "skip train_propensity: out/item_model.h5 /models/propensity_item is newer" logi2.txt ||
  fail "user_item target not skipped: $(cat logi2.txt)"

# errors
expect_fail "$NP" run --forse job.ini
grep -q "mkt run: unknown option '--forse'" err.txt || fail "bad flag: $(cat err.txt)"
printf '[job]\nstages = gen\nmax_requeue = many\n' >bad1.ini
expect_fail "$NP" run bad1.ini
grep -q "bad1.ini:3: \[job\] max_requeue: expected an integer, got 'many'" err.txt || fail "bad max_requeue: $(cat err.txt)"
printf '[job]\nstages = gen\nforce = maybe\n' >bad2.ini
expect_fail "$NP" run bad2.ini
grep -q "bad2.ini:3: \[job\] force: expected true or false, got 'maybe'" err.txt || fail "bad force: $(cat err.txt)"
printf '[job]\nstages = gen\nrequeue = 3\n' >bad3.ini
expect_fail "$NP" run bad3.ini
grep -q "bad3.ini:3: \[job\] unknown key 'requeue' (keys: stages, store, models, metrics_dir, ranks, name, force, resume, max_requeue, address_file)" err.txt ||
  fail "unknown job key: $(cat err.txt)"
echo "ok: stage skipping at $NP ranks"
