# At NP ranks: the ingest presets read their layouts: MovieLens (:: and tab),
# transaction logs (Online Retail columns, both date forms, quoted
# descriptions, cancellations, missing customers) and campaign logs
# (Hillstrom columns, no user column, control "No E-Mail").
. "$SRC/tests/lib.sh"
printf '1::10::4.5::978300760\n1::11::3::978300761\n2::10::x::978300762\n2::12::5\n10::10::1::978300763\n9::10::2::978300764\n' > ml.dat
run_np "$NP" ingest --format movielens --input ml.dat --out ml.h5 --max-reject-rate 0.5 --metrics-out ml.json
[ "$(json_get ml.json "['inputs']['events']['rows']['stored']")" -eq 4 ] || fail "movielens stored"
[ "$(json_get ml.json "['inputs']['events']['rows']['rejected']")" -eq 2 ] || fail "movielens rejected"
# numeric ids sort numerically: users 1, 9, 10
[ "$("$PY" -c "import h5py; print(','.join(x.decode() for x in h5py.File('ml.h5')['ids/users'][:]))")" = "1,9,10" ] \
  || fail "numeric ids not in numeric order"
printf '1\t10\t4\t978300760\n2\t11\t5\t978300761\n' > u.data
run_np "$NP" ingest --format movielens --delimiter tab --input u.data --out u.h5 --metrics-out u.json
[ "$(json_get u.json "['inputs']['events']['rows']['stored']")" -eq 2 ] || fail "tab movielens"

cat > tx.csv <<'CSV'
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536366,22633,"HAND WARMER, ""UNION JACK""",6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom
536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/32/2010 8:34,1.69,13047,United Kingdom
CSV
run_np "$NP" ingest --format transactions --input tx.csv --out tx.h5 --max-reject-rate 0.5 --metrics-out tx.json
[ "$(json_get tx.json "['inputs']['events']['rows']['read']")" -eq 5 ] || fail "transactions read"
[ "$(json_get tx.json "['inputs']['events']['rows']['stored']")" -eq 3 ] || fail "transactions stored"
grep -q ",4,empty user id" tx.h5.rejects.csv || fail "missing customer not rejected: $(cat tx.h5.rejects.csv)"
grep -q ",6,unparsable timestamp" tx.h5.rejects.csv || fail "bad date not rejected: $(cat tx.h5.rejects.csv)"
"$PY" - <<'PY' || fail "transactions content"
import h5py
f = h5py.File("tx.h5")
users = [u.decode() for u in f["ids/users"][:]]
assert users == ["14527", "17850"], users           # 17850.0 is the same customer
v = sorted(f["events/by_user/value"][:].tolist())
assert abs(v[0] + 27.5) < 1e-9 and abs(v[1] - 11.1) < 1e-9 and abs(v[2] - 15.3) < 1e-9, v   # return, 6*1.85, 6*2.55
assert int(f.attrs["start_ts"]) == 1291191960, f.attrs["start_ts"]   # 2010-12-01 08:26 UTC
PY

cat > hill.csv <<'CSV'
recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend
10,"2) $100 - $200",142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0
6,"3) $200 - $350",329.08,1,1,Rural,1,Web,No E-Mail,0,0,0
7,"2) $100 - $200",180.65,0,1,Surburban,1,Web,Womens E-Mail,0,0,0
9,"5) $500 - $750",675.83,1,0,Rural,1,Web,Mens E-Mail,1,1,29.99
CSV
run_np "$NP" ingest --format campaign --input hill.csv --out hill.h5 --metrics-out hill.json
[ "$(json_get hill.json "['inputs']['campaign']['rows']['stored']")" -eq 4 ] || fail "campaign stored"
"$PY" - <<'PY' || fail "campaign content"
import h5py
f = h5py.File("hill.h5")
arms = [t.decode() for t in f["ids/treatments"][:]]
assert arms == ["No E-Mail", "Mens E-Mail", "Womens E-Mail"], arms
assert f["campaigns/treatment"][:].tolist() == [2, 0, 2, 1], f["campaigns/treatment"][:]
assert abs(f["campaigns/spend"][3] - 29.99) < 1e-12
names = [n.decode() for n in f["campaigns/attr_names"][:]]
assert "zip_code" in names and "segment" not in names, names
assert [x.decode() for x in f["campaigns/levels/zip_code"][:]] == ["Rural", "Surburban"]
PY
echo "ok: ingest presets at $NP ranks"
