# At NP ranks: a malformed events CSV gives the right reject counts and
# reasons; past the reject threshold ingest fails loudly; a missing,
# truncated, foreign or non-HDF5 store gives a clear error and a non-zero
# exit, never a hang.
. "$SRC/tests/lib.sh"
printf '\xef\xbb\xbfuser,item,type,ts,qty,value\r\n' > ev.csv
cat >> ev.csv <<'CSV'
u1,i1,view,2026-01-01 10:00:00,1,0
u1,i2,purchase,2026-01-01 10:05:00,2,19.5
"u2","i,1",cart,1767261600,1,0

u2,i1,purchase,2026-01-02T08:00:00Z,1,"9.75"
u3,i3,view,not-a-time,1,0
u3,i3,teleport,2026-01-02 08:00:00,1,0
u3,,view,2026-01-02 08:00:00,1,0
,i3,view,2026-01-02 08:00:00,1,0
u4,i4,view,2026-01-02 08:00:00,1
u4,i4,purchase,2026-01-02 08:00:00,x,3
u4,i4,purchase,2026-01-02 08:00:00,1,abc
"u5 ""quoted""",i5,fav,2026-01-03 09:00:00,1,0
CSV
printf 'u6,i6,view,2026-01-04 00:00:00,1,0' >> ev.csv   # no final newline
run_np "$NP" ingest --format events --input ev.csv --out s.h5 --max-reject-rate 0.9 --metrics-out m.json
[ "$(json_get m.json "['inputs']['events']['rows']['read']")" -eq 13 ] || fail "read != 13: $(cat m.json)"
[ "$(json_get m.json "['inputs']['events']['rows']['stored']")" -eq 6 ] || fail "stored != 6"
[ "$(json_get m.json "['inputs']['events']['rows']['rejected']")" -eq 7 ] || fail "rejected != 7"
rj=s.h5.rejects.csv
[ -f "$rj" ] || fail "no rejects file"
for want in "7,unparsable timestamp" "8,unknown event type" "9,empty item id" "10,empty user id" \
            "11,expected 6 fields, found 5" "12,unparsable quantity" "13,unparsable value"; do
  line=${want%%,*}; reason=${want#*,}
  grep -q "^[^,]*,$line,\"\\?$reason" "$rj" || fail "rejects file lacks line $line: $reason"$'\n'"$(cat "$rj")"
done
"$MKT" digest s.h5 | grep -q '^/events/by_user/user int32 \[6\]' || fail "store does not hold 6 events"
h5dump -d /ids/users s.h5 | grep -q 'u5 "quoted"' || fail "quoted id not unescaped"

# reject threshold
expect_fail "$NP" ingest --format events --input ev.csv --out s2.h5 --max-reject-rate 0.2
grep -q "above max_reject_rate" err.txt || fail "no threshold message: $(cat err.txt)"
[ ! -f s2.h5 ] || fail "a store past the reject threshold was published"

# missing input
expect_fail "$NP" ingest --format events --input nope.csv --out s3.h5
grep -q "nope.csv" err.txt || fail "missing input not named: $(cat err.txt)"

# unknown column mapping
expect_fail "$NP" ingest --format events --input ev.csv --out s4.h5 --user-col customer
grep -q "no column 'customer'" err.txt || fail "bad column not named: $(cat err.txt)"

# a column an option names is in the header, or ingest fails naming the file, the column and the header
expect_fail "$NP" ingest --format events --input ev.csv --out s5.h5 --value-col price --max-reject-rate 0.9
grep -q "ev.csv: no column 'price' (option value_col); the header has: user, item, type, ts, qty, value" err.txt \
  || fail "named value column: $(cat err.txt)"
expect_fail "$NP" ingest --format events --input ev.csv --out s5.h5 --type-col action --max-reject-rate 0.9
grep -q "no column 'action' (option type_col)" err.txt || fail "named type column: $(cat err.txt)"
# campaign logs: the outcomes and the treatment are needed; spend and user are optional under their default names
printf 'user,treatment,conversion,age\nc1,control,0,30\nc2,mail,1,41\n' > novisit.csv
expect_fail "$NP" ingest --format campaign --input novisit.csv --out s6.h5
grep -q "novisit.csv: no column 'visit' (option visit_col; --visit-col '' if the file has no such column); the header has: user, treatment, conversion, age" \
  err.txt || fail "missing visit column: $(cat err.txt)"
[ ! -f s6.h5 ] || fail "a campaign store without its outcome was published"
run_np "$NP" ingest --format campaign --input novisit.csv --out s6.h5 --visit-col ''
"$PY" -c "
import h5py
f = h5py.File('s6.h5')
assert f['campaigns/visit'][:].tolist() == [0, 0] and f['campaigns/conversion'][:].tolist() == [0, 1]
assert f['campaigns/spend'][:].tolist() == [0.0, 0.0]
assert [n.decode() for n in f['campaigns/attr_names'][:]] == ['age']
" || fail "campaign without visit and spend"
expect_fail "$NP" ingest --format campaign --input novisit.csv --out s7.h5 --visit-col '' --spend-col revenue
grep -q "no column 'revenue' (option spend_col)" err.txt || fail "named spend column: $(cat err.txt)"
printf 'user,group,visit,conversion\nc1,control,0,0\n' > notreat.csv
expect_fail "$NP" ingest --format campaign --input notreat.csv --out s7.h5
grep -q "notreat.csv: no column 'segment' (option treatment_col); the header has: user, group, visit, conversion" \
  err.txt || fail "missing treatment column: $(cat err.txt)"
expect_fail "$NP" ingest --format campaign --input notreat.csv --out s7.h5 --treatment-col arm
grep -q "no column 'arm' (option treatment_col)" err.txt || fail "named treatment column: $(cat err.txt)"

# stores that are missing, not HDF5, truncated, foreign
expect_fail "$NP" features --store missing.h5
grep -q "missing.h5: No such file" err.txt || fail "missing store: $(cat err.txt)"
echo "hello" > text.h5
expect_fail "$NP" features --store text.h5
grep -q "not an HDF5 file" err.txt || fail "text file: $(cat err.txt)"
run_np "$NP" gen --users 300 --items 50 --days 5 --out good.h5
size=$(stat -c %s good.h5)
head -c $((size / 2)) good.h5 > truncated.h5
expect_fail "$NP" features --store truncated.h5
grep -q "truncated or corrupt" err.txt || fail "truncated store: $(cat err.txt)"
"$PY" -c "import h5py; f=h5py.File('foreign.h5','w'); f['x']=[1,2,3]"
expect_fail "$NP" features --store foreign.h5
grep -q "not one written by mkt" err.txt || fail "foreign store: $(cat err.txt)"
echo "ok: bad input at $NP ranks"
