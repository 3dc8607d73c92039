# At NP ranks: `mkt train segments` gives exactly the model of 1 rank
# (`mkt digest` of /models/segments), refuses a store without /features, and
# reports sizes that add up to the users.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 3000 --items 200 --days 10 --ratings-per-user 0 --seed 5 --out shop.h5 >/dev/null
expect_fail "$NP" train segments --store shop.h5 --out seg.h5
grep -q "run \`mkt features" err.txt || fail "missing /features not reported clearly"
run_np "$NP" features --store shop.h5 >/dev/null
run_np "$NP" train segments --store shop.h5 --out seg.h5 --k 5 --seed 3 --metrics-out seg.json
run_np 1 train segments --store shop.h5 --out seg1.h5 --k 5 --seed 3
"$MKT" digest seg.h5 | grep '^/models/segments/' > np.digest
"$MKT" digest seg1.h5 | grep '^/models/segments/' > one.digest
[ "$(wc -l < np.digest)" -ge 9 ] || fail "too few segment datasets"
diff np.digest one.digest || fail "segments at $NP ranks differ from 1 rank"
"$PY" - <<'PY' || fail "segment metrics"
import json, h5py
s = json.load(open("seg.json"))
assert sum(x["size"] for x in s["segments"]) == s["users"] == 3000
m = h5py.File("seg.h5", "r")["models/segments"]
assert m["centroids"].shape == (5, 7) and len(m["assignment"]) == 3000
assert sorted(set(m["assignment"][:])) == list(range(5))
print([(x["name"], x["size"], round(x["mean_spend"], 1)) for x in s["segments"]])
PY
echo "ok: segments at $NP ranks identical to 1 rank"
