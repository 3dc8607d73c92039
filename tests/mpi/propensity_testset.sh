# A propensity model scored on a separate test store: a shop's log cut in
# time into a train file (first 20 days) and a test file (last 20), the test
# file ingested through the training store's ids, `eval propensity --test`
# reports the training report's metrics on every user of the test store
# (counts and labels recomputed here from the test store's events), and a
# test store of another training store or a cutoff with one class only are
# named errors.  Rank invariance is tested elsewhere: one rank count.
# test-ranks: 2
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 600 --items 60 --days 40 --seed 5 --out g.h5 --csv csv >/dev/null 2>&1
"$PY" - <<'PY'
import csv
rows = list(csv.reader(open("csv/events.csv"))); h, rows = rows[0], rows[1:]
mid = min(int(r[3]) for r in rows) + 20 * 86400
for name, keep in (("train", lambda t: t < mid), ("test", lambda t: t >= mid)):
    with open(name + ".csv", "w") as f:
        f.write(",".join(h) + "\n")
        f.writelines(",".join(r) + "\n" for r in rows if keep(int(r[3])))
PY
run_np "$NP" ingest --format events --input train.csv --items csv/items.csv --out train.h5 >/dev/null 2>&1
run_np "$NP" ingest --as test --into train.h5 --format events --input test.csv --out test.h5 >/dev/null 2>&1
run_np "$NP" train propensity --store train.h5 --out p.h5 --l2 0.01 --metrics-out p.json >/dev/null 2>&1
run_np "$NP" eval propensity --store train.h5 --model p.h5 --test test.h5 --metrics-out e.json >/dev/null 2>&1
"$PY" - <<'PY' || fail "eval propensity --test: $(cat e.json)"
import json, h5py, numpy as np
p, e = json.load(open("p.json")), json.load(open("e.json"))
t = h5py.File("test.h5", "r")
ev = t["events/by_user"]; ptr = ev["indptr"][:]
users = np.flatnonzero(np.diff(ptr) > 0)
end = int(t.attrs["end_ts"]); cut = end - 7 * 86400
u = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
buy = (ev["type"][:] == 4) & (ev["qty"][:] > 0) & (ev["ts"][:] >= cut) & (ev["ts"][:] < end)
pos = len(np.unique(u[buy]))
print("test store: %d users, %d buy; AUC %.4f (rule %.4f)" % (e["test"]["examples"], e["test"]["positives"],
      e["test"]["auc"], e["baseline"]["recency_frequency"]["auc"]))
assert e["split"].startswith("test store") and e["test_store"] == "test.h5"
assert e["cutoff_ts"] == cut and e["cutoff_ts"] != p["cutoff_ts"]
assert e["test"]["examples"] == len(users) and e["test"]["positives"] == pos, (len(users), pos)
assert sorted(e["test"]) == sorted(p["test"]) and sorted(e["baseline"]) == sorted(p["baseline"])
assert e["test"]["auc"] > 0.5 and e["test"]["log_loss"] < e["baseline"]["base_rate"]["log_loss"] * 1.05
PY
# errors: a test store of another training store; a cutoff after which nobody buys
run_np "$NP" gen --users 500 --items 60 --days 10 --seed 6 --out other.h5 >/dev/null 2>&1
expect_fail "$NP" eval propensity --store other.h5 --model p.h5 --test test.h5
[ "$status" -ne 0 ] && grep -q "test.h5" err.txt || fail "a test store of another store was accepted: $(cat err.txt)"
expect_fail "$NP" eval propensity --store train.h5 --model p.h5 --test test.h5 --cutoff 2030-01-01
[ "$status" -ne 0 ] && grep -q "AUC needs both classes" err.txt || fail "one-class test store: $(cat err.txt)"
echo "ok: propensity on a test store at $NP ranks"
