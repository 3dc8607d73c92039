# mkt recommend at NP ranks: the bulk top-k of every user (and --similar of
# every item) equals the gateway's recommend and similar answers for a sample
# of users and items, item by item and score by score; the output (HDF5 and
# CSV) is the same at 1 and NP ranks and with the item factors streamed in
# small blocks; bad options exit 2 naming the option; a missing model or one
# trained on another store fails naming the file and the field.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 900 --items 240 --days 10 --seed 7 --out shop.h5 >/dev/null
run_np "$NP" train mf --store shop.h5 --out model.h5 --factors 12 --iters 6 --lambda 0.1 >/dev/null

quiet=${MKT_QUIET-}
unset MKT_QUIET # its progress and summary lines are checked
run_np "$NP" recommend --store shop.h5 --models model.h5 --out rec.h5 --csv rec.csv --k 12 2>rec.log
export MKT_QUIET=$quiet
grep -q "^\[recommend\] .*users ranked in" rec.log || fail "no summary line: $(cat rec.log)"
run_np 1 recommend --store shop.h5 --models model.h5 --out rec1.h5 --csv rec1.csv --k 12 >/dev/null 2>&1
run_np "$NP" recommend --store shop.h5 --models model.h5 --out recb.h5 --csv recb.csv --k 12 --item-block 37 \
  >/dev/null 2>&1
run_np "$NP" recommend --store shop.h5 --models model.h5 --out sim.h5 --csv sim.csv --k 8 --similar >/dev/null 2>&1
run_np 1 recommend --store shop.h5 --models model.h5 --out sim1.h5 --csv sim1.csv --k 8 --similar --item-block 50 \
  >/dev/null 2>&1
for pair in "rec.h5 rec1.h5" "rec.h5 recb.h5" "sim.h5 sim1.h5"; do
  set -- $pair
  "$MKT" digest "$1" >d1.txt
  "$MKT" digest "$2" >d2.txt
  [ -s d1.txt ] && diff d1.txt d2.txt >/dev/null || fail "$1 and $2 differ: $(diff d1.txt d2.txt)"
done
cmp -s rec.csv rec1.csv && cmp -s rec.csv recb.csv && cmp -s sim.csv sim1.csv || fail "CSV files differ across rank counts or item blocks"

# the gateway on the same store and model: the same answers
serve_start "$NP" --store "$WORK/shop.h5" --models "$WORK/model.h5"
NP=$NP ENDPOINT=$endpoint timeout 60 "$PY" - <<'PY' || fail "bulk answers differ from the gateway's"
import csv, json, os, zmq, h5py, numpy as np
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.RCVTIMEO, 5000); sock.setsockopt(zmq.LINGER, 0)
sock.connect(os.environ["ENDPOINT"])
def ask(req):
    sock.send(json.dumps(req).encode()); return json.loads(sock.recv())
s = h5py.File("shop.h5", "r")
users = [u.decode() for u in s["ids/users"][:]]; items = [i.decode() for i in s["ids/items"][:]]
r = h5py.File("rec.h5", "r")["recommendations"]
assert r.attrs["k"] == 12 and r.attrs["similar"] == 0
assert (r["user"][:] == np.arange(len(users))).all()
rng = np.random.default_rng(3)
sample = sorted(set(rng.choice(len(users), 60, replace=False).tolist()) | {0, len(users) - 1})
answers = ask([{"op": "recommend", "user": users[u], "k": 12} for u in sample])
bought = 0
for u, a in zip(sample, answers):
    assert not a.get("cold_start"), a
    got = [(items[i], s_) for i, s_ in zip(r["items"][u], r["scores"][u]) if i >= 0]
    want = [(e["item"], e["score"]) for e in a["items"]]
    assert got == want, (u, got, want)
# purchases are left out, as the gateway leaves them out
ev = s["events/by_user"]; ptr = ev["indptr"][:]; typ = ev["type"][:]; it = ev["item"][:]
for u in sample:
    b = set(it[ptr[u]:ptr[u + 1]][typ[ptr[u]:ptr[u + 1]] == 4].tolist())
    bought += len(b)
    assert not b & set(r["items"][u].tolist()), u
assert bought > 0, "the sample bought nothing: the exclusion was not tested"
# the cold-start list is the gateway's answer for an unknown user
a = ask({"op": "recommend", "user": "nobody-at-all", "k": 12})
assert a["cold_start"] and [e["item"] for e in a["items"]] == [items[i] for i in r["popular"][:]], a
assert [e["purchases"] for e in a["items"]] == r["popular_purchases"][:].tolist()
# similar
m = h5py.File("sim.h5", "r")["recommendations"]
assert m.attrs["similar"] == 1 and (m["item"][:] == np.arange(len(items))).all()
isample = sorted(set(rng.choice(len(items), 40, replace=False).tolist()) | {0, len(items) - 1})
answers = ask([{"op": "similar", "item": items[i], "k": 8} for i in isample])
for i, a in zip(isample, answers):
    got = [(items[j], s_) for j, s_ in zip(m["items"][i], m["scores"][i]) if j >= 0]
    want = [(e["item"], e["similarity"]) for e in a["items"]]
    assert got == want, (i, got, want)
    assert i not in m["items"][i].tolist()
# the CSV holds the same as the HDF5 file, with external ids and exact scores
rows = list(csv.DictReader(open("rec.csv")))
assert len(rows) == int((r["items"][:] >= 0).sum())
for row in rows[:500]:
    u = users.index(row["user"]); j = int(row["rank"]) - 1
    assert items[r["items"][u, j]] == row["item"] and float(row["score"]) == r["scores"][u, j], row
print("checked %d users and %d items against the gateway" % (len(sample), len(isample)))
PY
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
trap - EXIT

# bad options: exit 2 naming the option
for bad in "--k 0" "--k -3" "--k ten" "--item-block 0"; do
  expect_fail "$NP" recommend --store shop.h5 --models model.h5 --out bad.h5 $bad
  opt=${bad%% *}
  [ "$status" -eq 2 ] && grep -qE -- "recommend: (--)?${opt#--}: " "$WORK/err.txt" ||
    fail "$bad: status $status, $(cat "$WORK/err.txt")"
done
expect_fail "$NP" recommend --store shop.h5 --models model.h5
[ "$status" -eq 2 ] && grep -q -- "recommend: --out: required" "$WORK/err.txt" || fail "no --out: status $status, $(cat "$WORK/err.txt")"
# a missing model file; a model without /models/mf; a model of another store
expect_fail "$NP" recommend --store shop.h5 --models nowhere.h5 --out bad.h5
[ "$status" -eq 1 ] && grep -q "nowhere.h5" "$WORK/err.txt" || fail "missing model: $(cat "$WORK/err.txt")"
expect_fail "$NP" recommend --store shop.h5 --models shop.h5 --out bad.h5
grep -q "shop.h5.*/models/mf.*missing" "$WORK/err.txt" || fail "no /models/mf: $(cat "$WORK/err.txt")"
"$PY" - <<'PY'
import h5py, shutil
shutil.copy("model.h5", "other.h5")
with h5py.File("other.h5", "a") as f:
    g = f["models/mf"]
    for name in ("user_factors", "user_bias"):
        d = g[name][:-5]; del g[name]; g[name] = d
    g.attrs["users"] = g["user_factors"].shape[0]
PY
expect_fail "$NP" recommend --store shop.h5 --models other.h5 --out bad.h5
grep -q "other.h5: /models/mf/user_factors has [0-9]* rows but the store shop.h5 has [0-9]* users" "$WORK/err.txt" ||
  fail "a model of another store: $(cat "$WORK/err.txt")"
[ ! -e bad.h5 ] || fail "a failed run left bad.h5"
echo "recommend ok at $NP ranks"
