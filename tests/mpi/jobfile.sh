# At NP ranks: a job file runs its stages; unknown keys, bad values, unknown
# sections, missing files and a wrong rank count are errors naming file,
# line and key, also with --check (which runs nothing).
# test-ranks: 2
. "$SRC/tests/lib.sh"
cat > ok.ini <<INI
[job]
stages = gen, features
store = out/shop.h5
metrics_dir = out/metrics
[gen]
users = 400
items = 60
days = 7
[features]
INI
# --check reads and checks the file, runs nothing and creates nothing
run_np "$NP" run --check ok.ini
[ ! -e out ] || fail "run --check created $(ls out)"
run_np "$NP" run ok.ini
[ -f out/shop.h5 ] || fail "job did not write its store"
[ "$(json_get out/metrics/gen.json "['users']")" -eq 400 ] || fail "gen metrics"
[ -f out/metrics/features.json ] || fail "features metrics"

printf '[job]\nstages = gen\n[gen]\nusers = 10\nuserz = 5\n' > bad1.ini
expect_fail "$NP" run bad1.ini
grep -q "bad1.ini:5: \[gen\] unknown key 'userz'" err.txt || fail "unknown key: $(cat err.txt)"
expect_fail "$NP" run --check bad1.ini
grep -q "bad1.ini:5: \[gen\] unknown key 'userz'" err.txt || fail "run --check, unknown key: $(cat err.txt)"
printf '[job]\nstages = gen\n[gen]\nusers = ten\n' > bad2.ini
expect_fail "$NP" run bad2.ini
grep -q "bad2.ini:4: \[gen\] users: expected an integer, got 'ten'" err.txt || fail "bad value: $(cat err.txt)"
printf '[job]\nstages = gen\n[genn]\nusers = 1\n' > bad3.ini
expect_fail "$NP" run bad3.ini
grep -q "bad3.ini:4: unknown section \[genn\]" err.txt || fail "bad section: $(cat err.txt)"
expect_fail "$NP" run does-not-exist.ini
grep -q "cannot open job file does-not-exist.ini" err.txt || fail "missing file: $(cat err.txt)"
printf '[job]\nstages = gen\nranks = 3\n[gen]\nusers = 10\nout = x.h5\n' > bad4.ini
expect_fail "$NP" run bad4.ini
grep -q "bad4.ini:3: \[job\] ranks = 3 but the job runs on $NP ranks" err.txt || fail "rank count: $(cat err.txt)"
printf '[job]\nstages = gen, train\n[gen]\nusers = 10\nout = x.h5\n' > bad5.ini
expect_fail "$NP" run bad5.ini
grep -q "not built" err.txt || fail "unbuilt stage: $(cat err.txt)"
printf '[job]\nstages = gen\n[gen]\nusers = 0\nout = x.h5\n' > bad6.ini
expect_fail "$NP" run bad6.ini
grep -q "users" err.txt || fail "out of range: $(cat err.txt)"
echo "ok: job files at $NP ranks"
