# At NP ranks: `mkt ingest --as test --into TRAIN.h5` maps a held-out file
# through the training store's ids: unknown users and items are rejected
# with their lines and counted apart from malformed rows, rows read = stored
# + rejected, the test store's /ids and /items are the training store's, the
# store is the same at NP ranks as at 1, a file whose ids are all unknown is
# an error naming it, and wrong option combinations are clear errors.
# test-ranks: 2 4
. "$SRC/tests/lib.sh"
cat > train.csv <<'CSV'
user,item,type,ts,value
u1,i1,rating,100,4
u1,i2,rating,101,3
u2,i1,rating,102,5
u3,i3,rating,103,2
u10,i2,rating,104,1
u2,i4,purchase,105,9.5
CSV
# lines 4 and 6: unknown user; 5: unknown item; 7: malformed (and its user is known);
# 8: both unknown (counted as an unknown user); 2, 3, 9, 10: stored
cat > test.csv <<'CSV'
user,item,type,ts,value
u1,i3,rating,200,4
u2,i2,rating,201,3
u4,i1,rating,202,5
u1,i9,rating,203,2
u5,i1,rating,204,1
u3,i1,rating,not-a-time,1
u6,i7,rating,205,1
u10,i1,rating,206,2
u3,i4,view,207,0
CSV
run_np "$NP" ingest --input train.csv --out train.h5
run_np "$NP" ingest --as test --into train.h5 --input test.csv --out test.h5 --max-reject-rate 0.2 \
  --metrics-out m.json
rows="['inputs']['events']['rows']"
for want in read:9 stored:4 rejected:5 malformed:1 unknown_user:3 unknown_item:1; do
  k=${want%%:*}; v=${want#*:}
  [ "$(json_get m.json "$rows['$k']")" -eq "$v" ] || fail "test ingest: $k != $v: $(cat m.json)"
done
[ "$(json_get m.json "$rows['read']")" -eq $(( $(json_get m.json "$rows['stored']") + $(json_get m.json "$rows['rejected']") )) ] \
  || fail "rows read != stored + rejected"
for want in "4,unknown user" "5,unknown item" "6,unknown user" "7,unparsable timestamp" "8,unknown user"; do
  grep -q "^test.csv,$want," test.h5.rejects.csv || fail "rejects file lacks line ${want%%,*}: $(cat test.h5.rejects.csv)"
done
[ "$(grep -c '^test.csv,' test.h5.rejects.csv)" -eq 5 ] || fail "rejects file: $(cat test.h5.rejects.csv)"

# the same /ids and /items as the training store, byte for byte
"$MKT" digest train.h5 | grep -E '^/(ids|items)/' > train.ids
"$MKT" digest test.h5 | grep -E '^/(ids|items)/' > test.ids
[ "$(wc -l < train.ids)" -ge 6 ] || fail "too few id datasets: $(cat train.ids)"
diff train.ids test.ids || fail "test store's /ids or /items differ from the training store's"
"$PY" - <<'PY' || fail "test store content"
import h5py
tr, te = h5py.File("train.h5"), h5py.File("test.h5")
users = [u.decode() for u in tr["ids/users"][:]]
items = [i.decode() for i in tr["ids/items"][:]]
assert users == ["u1", "u10", "u2", "u3"] and items == ["i1", "i2", "i3", "i4"], (users, items)
for g in ("by_user", "by_item"):
    e = te["events/" + g]
    assert sorted(e.keys()) == sorted(tr["events/" + g].keys()), (g, list(e.keys()))
    got = sorted((users[u], items[i], int(t), int(o)) for u, i, t, o in
                 zip(e["user"][:], e["item"][:], e["ts"][:], e["order"][:]))
    assert got == [("u1", "i3", 200, 2), ("u10", "i1", 206, 9), ("u2", "i2", 201, 3), ("u3", "i4", 207, 10)], got
assert te["events/by_user/indptr"][:].tolist() == [0, 1, 2, 3, 4], te["events/by_user/indptr"][:]
assert te["events/by_item/indptr"].shape == (5,)
a = te.attrs
assert a["role"] == b"test" or a["role"] == "test", a["role"]
assert a["train_store"] in (b"train.h5", "train.h5")
assert int(a["train_users"]) == 4 and int(a["train_items"]) == 4
assert len(a["train_ids_hash"]) == 16
assert int(a["start_ts"]) == 200 and int(a["end_ts"]) == 208
PY

# the same test store at 1 rank
if [ "$NP" -ne 1 ]; then
  run_np 1 ingest --as test --into train.h5 --input test.csv --out test1.h5 --max-reject-rate 0.2
  diff <("$MKT" digest test1.h5) <("$MKT" digest test.h5) || fail "test store differs between 1 and $NP ranks"
  cmp <(tail -n +2 test.h5.rejects.csv) <(tail -n +2 test1.h5.rejects.csv) || fail "rejects differ between rank counts"
fi

# a public benchmark's split: MovieLens 100k style u1.base / u1.test, tab-separated
printf '1\t10\t4\t881250949\n1\t11\t3\t881250950\n2\t10\t5\t881250951\n3\t12\t2\t881250952\n' > u1.base
printf '1\t12\t5\t891250949\n2\t11\t4\t891250950\n3\t99\t1\t891250951\n7\t10\t3\t891250952\n2\t10\tx\t891250953\n' > u1.test
run_np "$NP" ingest --format movielens --delimiter tab --input u1.base --out ml.h5
run_np "$NP" ingest --as test --into ml.h5 --format movielens --delimiter tab --input u1.test --out ml_test.h5 \
  --max-reject-rate 0.25 --metrics-out ml.json
for want in read:5 stored:2 malformed:1 unknown_user:1 unknown_item:1; do
  k=${want%%:*}; v=${want#*:}
  [ "$(json_get ml.json "$rows['$k']")" -eq "$v" ] || fail "movielens test: $k != $v: $(cat ml.json)"
done
"$PY" -c "
import h5py
f = h5py.File('ml_test.h5'); e = f['events/by_user']
assert e['value'][:].tolist() == [5.0, 4.0] and e['type'][:].tolist() == [5, 5], (e['value'][:], e['type'][:])
" || fail "movielens test content"

# transactions: cancellations and the 17850.0 spelling map through the training ids
cat > tx_train.csv <<'CSV'
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
1,A,a,2,2010-12-01 08:00:00,1.5,17850,UK
2,B,b,1,2010-12-01 09:00:00,3,13047,UK
CSV
cat > tx_test.csv <<'CSV'
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
3,B,b,4,2010-12-02 08:00:00,3,17850.0,UK
C4,A,a,-1,2010-12-02 09:00:00,1.5,13047,UK
5,Z,z,1,2010-12-02 10:00:00,2,13047,UK
CSV
run_np "$NP" ingest --format transactions --input tx_train.csv --out tx.h5
run_np "$NP" ingest --as test --into tx.h5 --format transactions --input tx_test.csv --out tx_test.h5 --metrics-out tx.json
[ "$(json_get tx.json "$rows['stored']")" -eq 2 ] && [ "$(json_get tx.json "$rows['unknown_item']")" -eq 1 ] \
  || fail "transactions test: $(cat tx.json)"

# unknown ids have their own threshold, apart from --max-reject-rate
expect_fail "$NP" ingest --as test --into train.h5 --input test.csv --out t2.h5 --max-reject-rate 0.2 \
  --max-unknown-rate 0.3
grep -q "test.csv: 4 of 8 well-formed rows name a user or item unknown to train.h5 (50.00%), above max_unknown_rate" \
  err.txt || fail "unknown threshold: $(cat err.txt)"
[ ! -f t2.h5 ] || fail "a test store past the unknown threshold was published"
# malformed rows still count against --max-reject-rate (1 of 9 > 5%)
expect_fail "$NP" ingest --as test --into train.h5 --input test.csv --out t3.h5
grep -q "test.csv: 1 of 9 rows malformed" err.txt || fail "malformed threshold: $(cat err.txt)"

# a test file whose ids are all unknown
printf 'user,item,type,ts,value\nx1,i1,rating,1,1\nu1,y1,rating,2,1\nx2,y2,rating,3,1\n' > alien.csv
expect_fail "$NP" ingest --as test --into train.h5 --input alien.csv --out t4.h5
grep -q "alien.csv: a test file whose ids are all unknown" err.txt || fail "all unknown: $(cat err.txt)"
grep -q "2 unknown users, 1 unknown items" err.txt || fail "all unknown counts: $(cat err.txt)"
[ ! -f t4.h5 ] || fail "an all-unknown test store was published"

# bad option combinations
expect_fail "$NP" ingest --as holdout --into train.h5 --input test.csv --out t5.h5
grep -q "\-\-as 'holdout': expected store" err.txt || fail "--as value: $(cat err.txt)"
expect_fail "$NP" ingest --as test --input test.csv --out t5.h5
grep -q "\-\-as test needs --into" err.txt || fail "--as test without --into: $(cat err.txt)"
expect_fail "$NP" ingest --into train.h5 --input test.csv --out t5.h5
grep -q "\-\-into train.h5 is only read with --as test" err.txt || fail "--into alone: $(cat err.txt)"
expect_fail "$NP" ingest --as test --into train.h5 --format campaign --input test.csv --out t5.h5
grep -q "not format campaign" err.txt || fail "--as test campaign: $(cat err.txt)"
expect_fail "$NP" ingest --as test --into train.h5 --items train.csv --input test.csv --out t5.h5
grep -q "\-\-items is not read with it" err.txt || fail "--as test --items: $(cat err.txt)"
expect_fail "$NP" ingest --as test --into train.h5 --input test.csv --out train.h5
grep -q "is the training store" err.txt || fail "--out = --into: $(cat err.txt)"
"$PY" -c "import h5py; print(h5py.File('train.h5').attrs['format'])" | grep -q store || fail "train.h5 damaged"
echo "not hdf5" > text.h5
expect_fail "$NP" ingest --as test --into text.h5 --input test.csv --out t5.h5
grep -q "\-\-into: text.h5: not an HDF5 file" err.txt || fail "--into text: $(cat err.txt)"
"$PY" -c "import h5py; f=h5py.File('foreign.h5','w'); f['x']=[1]"
expect_fail "$NP" ingest --as test --into foreign.h5 --input test.csv --out t5.h5
grep -q "\-\-into: foreign.h5: an HDF5 file, but not one written by mkt" err.txt || fail "--into foreign: $(cat err.txt)"
expect_fail "$NP" ingest --as test --into missing.h5 --input test.csv --out t5.h5
grep -q "\-\-into: missing.h5: No such file" err.txt || fail "--into missing: $(cat err.txt)"
expect_fail "$NP" ingest --as test --into test.h5 --input test.csv --out t5.h5
grep -q "\-\-into test.h5 is itself a test store" err.txt || fail "--into a test store: $(cat err.txt)"
[ ! -f t5.h5 ] || fail "a store was written by a bad option combination"
echo "ok: test stores at $NP ranks"
