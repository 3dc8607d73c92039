# At NP ranks, `mkt tune` on a tiny generated shop: the table (minus the
# seconds and group of each row) is the same at 1 rank and at NP ranks with
# group sizes 1 and 2, also for a random search and from a job file's [tune]
# section; best.ini holds the configuration with the best value of the table,
# and pasted into a job file trains the same model (digest) as --final-out
# and as a plain `mkt train mf` with those options; propensity and uplift tune
# the same way; bad options are errors naming the option, and a configuration
# that fails inside a group ends the job (no hang) leaving no table, model or
# temporary directory.
# test-ranks: 2 4
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 400 --items 60 --days 8 --factors 3 --ratings-per-user 15 --seed 5 \
  --out shop.h5 >/dev/null 2>&1

# strip.py TABLE: the table without what depends on the ranks (seconds, group)
cat >strip.py <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["rows"]:
    del r["seconds"], r["group"]
print(json.dumps(d, sort_keys=True, indent=1))
PY
same_table() { diff <("$PY" strip.py "$1") <("$PY" strip.py "$2") >/dev/null || fail "$1 differs from $2"; }

# mf, explicit: 2 x 2 grid
grid="lambda=0.01,0.3;rank=2,6"
run_np 1 tune mf --store shop.h5 --grid "$grid" --table t1.json --best b1.ini -- --iters 3 --seed 2 2>/dev/null
env -u MKT_QUIET timeout -k 5 300 mpirun -np "$NP" "$MKT" tune mf --store shop.h5 --grid "$grid" --table tg1.json \
  --best bg1.ini --group-size 1 --final-out final.h5 --metrics-out tm.json -- --iters 3 --seed 2 2>log.txt
same_table t1.json tg1.json
diff <(grep -v '^; table' b1.ini) <(grep -v '^; table' bg1.ini) || fail "best.ini differs between 1 and $NP ranks"
grep -q "config 4/4 lambda=0.3 rank=6: rmse" log.txt || fail "no progress line: $(cat log.txt)"
grep -q "warning: .* held-out" log.txt && fail "mf was scored on its held-out rows, not its validation split"
if [ $((NP % 2)) -eq 0 ]; then
  run_np "$NP" tune mf --store shop.h5 --grid "$grid" --table tg2.json --best bg2.ini --group-size 2 \
    -- --iters 3 --seed 2 2>/dev/null
  same_table t1.json tg2.json
fi
"$PY" - "$NP" <<'PY' || fail "mf table or best.ini wrong: $(cat tg1.json bg1.ini)"
import configparser, json, math, sys
np = int(sys.argv[1])
t = json.load(open("tg1.json")); tm = json.load(open("tm.json"))
rows = t["rows"]
assert [r["config"] for r in rows] == [1, 2, 3, 4]
assert [(float(r["params"]["lambda"]), r["params"]["rank"]) for r in rows] == [(0.01, 2), (0.01, 6), (0.3, 2), (0.3, 6)]
assert all(r["metric"] == "rmse" and r["goal"] == "min" and r["split"] == "validation" for r in rows)
assert all(math.isfinite(r["value"]) and r["value"] > 0 and r["seconds"] > 0 for r in rows)
assert len({r["value"] for r in rows}) == 4                     # the options reach the trainer
assert sorted({r["group"] for r in rows}) == list(range(min(np, 4)))  # config j on group j mod P
best = min(rows, key=lambda r: r["value"])
assert t["best"]["config"] == best["config"] and tm["best_config"] == best["config"]
ini = configparser.ConfigParser(); ini.read("bg1.ini")
sec = dict(ini["train_mf"])
assert sec == {"iters": "3", "seed": "2", "lambda": str(best["params"]["lambda"]), "rank": str(best["params"]["rank"])}, sec
assert tm["final"]["selection"]["value"] == best["value"]      # the final model is the best configuration's
print("mf best", best["params"], best["value"])
PY
ls -a | grep -q '\.mkt-tune-' && fail "temporary directory left behind"

# the best configuration pasted into a job file, and a plain train with its
# options, give the model --final-out wrote
{ printf '[job]\nstages = train_mf\nstore = shop.h5\nmodels = pasted.h5\n'; cat bg1.ini; } >paste.ini
run_np "$NP" run paste.ini 2>/dev/null
lambda=$(sed -n 's/^lambda = //p' bg1.ini); rank=$(sed -n 's/^rank = //p' bg1.ini)
run_np "$NP" train mf --store shop.h5 --out plain.h5 --iters 3 --seed 2 --lambda "$lambda" --rank "$rank" 2>/dev/null
diff <("$MKT" digest final.h5) <("$MKT" digest plain.h5) || fail "--final-out differs from a plain train"
diff <("$MKT" digest final.h5) <("$MKT" digest pasted.h5) || fail "--final-out differs from the pasted best.ini"

# random search, from a job file's [tune] section: deterministic from the
# seed, distinct draws from the grid's values
cat >tune.ini <<'INI'
[job]
stages = tune
store = shop.h5
[tune]
model = mf
grid = lambda=0.01,0.05,0.3;rank=2,4,6;alpha=1,10
random = 5
seed = 9
table = tr.json
best = br.ini
fixed = --implicit --iters 2
INI
run_np "$NP" run tune.ini 2>/dev/null
run_np 1 tune mf --store shop.h5 --grid "lambda=0.01,0.05,0.3;rank=2,4,6;alpha=1,10" --random 5 --seed 9 \
  --table tr1.json --best br1.ini -- --implicit --iters 2 2>/dev/null
same_table tr1.json tr.json
"$PY" - <<'PY' || fail "random search table wrong: $(cat tr.json)"
import json
t = json.load(open("tr.json")); rows = t["rows"]
assert t["search"] == "random" and len(rows) == 5
ps = [(float(r["params"]["lambda"]), r["params"]["rank"], r["params"]["alpha"]) for r in rows]
assert len(set(ps)) == 5, ps
assert all(l in (0.01, 0.05, 0.3) and k in (2, 4, 6) and a in (1, 10) for l, k, a in ps), ps
assert all(r["metric"] == "ndcg@10" and r["goal"] == "max" and r["split"] == "validation" for r in rows)
assert t["best"]["value"] == max(r["value"] for r in rows)
PY
run_np 1 tune mf --store shop.h5 --grid "lambda=0.01,0.05,0.3;rank=2,4,6;alpha=1,10" --random 5 --seed 10 \
  --table tr10.json --best br10.ini -- --implicit --iters 2 2>/dev/null
"$PY" -c "
import json
a = [r['params'] for r in json.load(open('tr.json'))['rows']]
b = [r['params'] for r in json.load(open('tr10.json'))['rows']]
assert a != b" || fail "another seed drew the same configurations"

# propensity and uplift
run_np 1 tune propensity --store shop.h5 --grid "l2=0.0001,1;pos-weight=1,3" --table p1.json --best pb1.ini \
  -- --epochs 5 2>/dev/null
run_np "$NP" tune propensity --store shop.h5 --grid "l2=0.0001,1;pos-weight=1,3" --table p.json --best pb.ini \
  -- --epochs 5 2>/dev/null
same_table p1.json p.json
run_np 1 tune uplift --store shop.h5 --grid "l2=log:0.01:100;method=t,s" --random 3 --table u1.json \
  --best ub1.ini 2>/dev/null
run_np "$NP" tune uplift --store shop.h5 --grid "l2=log:0.01:100;method=t,s" --random 3 --table u.json \
  --best ub.ini 2>/dev/null
same_table u1.json u.json
"$PY" - <<'PY' || fail "propensity or uplift table wrong: $(cat p.json u.json)"
import configparser, json
# both trainers report a selection metric on a validation split
for table, ini, metric, goal in (("p.json", "pb.ini", "log_loss", "min"), ("u.json", "ub.ini", "qini", "max")):
    t = json.load(open(table)); rows = t["rows"]
    assert all(r["metric"] == metric and r["goal"] == goal and r["split"] == "validation" for r in rows), rows
    best = (min if goal == "min" else max)(rows, key=lambda r: r["value"])
    c = configparser.ConfigParser(); c.read(ini)
    sec = c["train_" + t["model"]]
    for k, v in best["params"].items():
        assert sec[k.replace("-", "_")] == str(v) or float(sec[k.replace("-", "_")]) == v, (k, v, dict(sec))
for r in json.load(open("u.json"))["rows"]:
    assert 0.01 <= r["params"]["l2"] <= 100 and r["params"]["method"] in ("t", "s")
PY

# mkt report draws the table found as METRICS_DIR/tune_table.json: one point
# per configuration, the best one marked
mkdir -p rep && cp p.json rep/tune_table.json
run_np "$NP" report --metrics-dir rep --out rep/out >/dev/null 2>&1
[ -s rep/out/tune.png ] || fail "report drew no tune.png"
"$PY" - <<'PY' || fail "report's tune plot data: $(cat rep/out/tune.dat)"
import json
t = json.load(open("p.json")); rows = [l.split() for l in open("rep/out/tune.dat") if not l.startswith("#")]
assert [int(float(r[0])) for r in rows] == [r["config"] for r in t["rows"]]
assert all(abs(float(a[1]) - r["value"]) < 1e-9 for a, r in zip(rows, t["rows"]))
assert [int(r[0]) for r in rows if r[2] == "1"] == [t["best"]["config"]]
assert "tune.png" in open("rep/out/index.html").read()
PY

# bad options: errors naming the option
bad() { # expected-message args...
  local want=$1; shift
  expect_fail "$NP" tune "$@"
  grep -q -- "$want" err.txt || fail "tune $*: expected '$want', got: $(cat err.txt)"
  [ "$status" -eq 2 ] || fail "tune $*: status $status, expected 2"
}
bad "grid: the grid is empty" mf --store shop.h5 --grid "" --table x.json --best x.ini
bad "unknown key 'lamda' (options of mkt train mf: .*lambda" mf --store shop.h5 --grid "lamda=1" --table x.json --best x.ini
bad "configuration 2/2 (rank=0): rank: 0 is out of range" mf --store shop.h5 --grid "rank=4,0" --table x.json --best x.ini
bad "group-size: 3 does not divide the $NP ranks" mf --store shop.h5 --grid "rank=4" --table x.json --best x.ini --group-size 3
bad "group-size: 0 is out of range" mf --store shop.h5 --grid "rank=4" --table x.json --best x.ini --group-size 0
bad "random: 0 is out of range" mf --store shop.h5 --grid "rank=4" --table x.json --best x.ini --random 0
bad "model: 'svd' is not mf, propensity or uplift" svd --store shop.h5 --grid "rank=4" --table x.json --best x.ini
bad "lambda: a range" mf --store shop.h5 --grid "lambda=log:0.01:1" --table x.json --best x.ini
bad "'out' is set by mkt tune" mf --store shop.h5 --grid "out=a.h5" --table x.json --best x.ini
bad "fixed options: unknown option '--bogus'" mf --store shop.h5 --grid "rank=4" --table x.json --best x.ini -- --bogus 1
bad "'rank' is both in the grid and in the fixed options" mf --store shop.h5 --grid "rank=4" --table x.json \
  --best x.ini -- --rank 2
# a value only the trainer itself refuses, in a group of its own: the job
# ends with the trainer's message naming the configuration, nothing is published
bad "configuration 2/2 (lambda=0): --lambda must be a number in (0, 1e9] or auto" mf --store shop.h5 --grid "lambda=0.1,0" \
  --table x.json --best x.ini --final-out x.h5 -- --iters 2
[ ! -e x.json ] && [ ! -e x.ini ] && [ ! -e x.h5 ] || fail "a failed tune published outputs"
ls -a | grep -q '\.mkt-tune-' && fail "temporary directory left behind by a failed tune"
echo "ok: tune at $NP ranks"
