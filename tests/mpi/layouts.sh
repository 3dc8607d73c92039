# test-ranks: 1 4
# At NP ranks: the public layouts of docs/store.md ("Public layouts"), each a
# tiny file made here, read with the exact command the table gives, with
# exact counts; the delimiter and date-form detection are logged, and the
# store is the same as one rank's.
. "$SRC/tests/lib.sh"
# ingest with the detection log visible (MKT_QUIET silences mkt_log)
ingest_log() { env -u MKT_QUIET timeout -k 5 120 mpirun -np "$NP" "$MKT" ingest "$@" >log.txt 2>&1 || { cat log.txt; fail "ingest $*"; }; }
same_as_one_rank() { # STORE ARGS...: the store equals a 1-rank ingest of the same input
  local s=$1; shift
  [ "$NP" -gt 1 ] || return 0
  run_np 1 ingest "$@" --out one.h5 >/dev/null 2>&1
  diff <("$MKT" digest one.h5) <("$MKT" digest "$s") || fail "$s differs between 1 and $NP ranks"
}
rows() { json_get "$1" "['inputs']['$2']['rows']['$3']"; }

# MovieLens 100k u.data: tab-separated user, item, rating, unix seconds, no header
printf '196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n244\t51\t2\t880606923\n166\t346\t6\t886397596\n' > u.data
ingest_log --format movielens --input u.data --out ml.h5 --metrics-out ml.json --max-reject-rate 0.5
grep -q "u.data: no --delimiter given; detected tab" log.txt || fail "u.data: detection not logged: $(cat log.txt)"
[ "$(rows ml.json events read)/$(rows ml.json events stored)/$(rows ml.json events rejected)" = 5/4/1 ] || fail "u.data counts: $(cat ml.json)"
grep -q ",5,rating outside 0.5..5," ml.h5.rejects.csv || fail "u.data: rating 6 not rejected"
[ "$("$PY" -c "import h5py; print(h5py.File('ml.h5').attrs['start_ts'])")" = 878887116 ] || fail "u.data start_ts"
same_as_one_rank ml.h5 --format movielens --input u.data --max-reject-rate 0.5

# UCI Online Retail II (the 2009-2011 export): Invoice, Price and "Customer ID" instead of the first
# edition's InvoiceNo, UnitPrice and CustomerID; the preset reads it through its column options
cat > retail.csv <<'CSV'
Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,12/1/2009 7:45,6.95,13085,United Kingdom
489434,79323P,PINK CHERRY LIGHTS,12,12/1/2009 7:45,6.75,13085.0,United Kingdom
C489449,22087,PAPER BUNTING WHITE LACE,-12,12/1/2009 10:33,2.95,16321,Australia
489436,21871,SAVE THE PLANET MUG,24,12/13/2009 9:06,1.25,,United Kingdom
CSV
ingest_log --format transactions --input retail.csv --value-col Price --user-col 'Customer ID' --out retail.h5 \
  --metrics-out retail.json --max-reject-rate 0.5
grep -q "retail.csv: no --delimiter given; detected ," log.txt || fail "retail: delimiter: $(cat log.txt)"
grep -q "column InvoiceDate: 4 slashed dates read as month/day/year" log.txt || fail "retail: date form: $(cat log.txt)"
[ "$(rows retail.json events read)/$(rows retail.json events stored)/$(rows retail.json events rejected)" = 4/3/1 ] \
  || fail "retail counts: $(cat retail.json)"
"$PY" - <<'PY' || fail "retail content"
import h5py
f = h5py.File("retail.h5")
assert [u.decode() for u in f["ids/users"][:]] == ["13085", "16321"]
v = sorted(round(x, 6) for x in f["events/by_user/value"][:])
assert v == [-35.4, 81.0, 83.4], v
assert int(f.attrs["start_ts"]) == 1259653500, f.attrs["start_ts"]   # 2009-12-01 07:45 UTC
PY
same_as_one_rank retail.h5 --format transactions --input retail.csv --value-col Price --user-col 'Customer ID' --max-reject-rate 0.5

# a grocery "journey" layout: transactions by household and day number, and a product table
cat > transaction_data.csv <<'CSV'
household_key,BASKET_ID,DAY,PRODUCT_ID,QUANTITY,SALES_VALUE,STORE_ID,RETAIL_DISC,TRANS_TIME,WEEK_NO,COUPON_DISC,COUPON_MATCH_DISC
2375,26984851472,1,1004906,1,1.39,364,-0.6,1631,1,0,0
2375,26984851472,1,1033142,1,0.82,364,0,1631,1,0,0
1364,26984896261,2,842930,1,2.19,31742,0,1520,1,0,0
1364,26984896261,2,999999,1,nan,31742,0,1520,1,0,0
CSV
cat > product.csv <<'CSV'
PRODUCT_ID,MANUFACTURER,DEPARTMENT,BRAND,COMMODITY_DESC,SUB_COMMODITY_DESC,CURR_SIZE_OF_PRODUCT
1004906,69,PRODUCE,Private,POTATOES,POTATOES RUSSET (BULK&BAG),5 LB
1033142,2,PRODUCE,National,ONIONS,ONIONS SWEET (BULK&BAG),40 OZ
842930,69,GROCERY,Private,BAKED BREAD/BUNS/ROLLS,HAMBURGER BUNS,12 OZ
CSV
ingest_log --format events --input transaction_data.csv --user-col household_key --item-col PRODUCT_ID \
  --ts-col DAY --ts-format days --qty-col QUANTITY --value-col SALES_VALUE --default-type purchase \
  --items product.csv --items-cols item=PRODUCT_ID,category=DEPARTMENT,brand=BRAND \
  --out journey.h5 --metrics-out journey.json --max-reject-rate 0.5
[ "$(rows journey.json events read)/$(rows journey.json events stored)/$(rows journey.json events rejected)" = 4/3/1 ] \
  || fail "journey events: $(cat journey.json)"
[ "$(rows journey.json items read)/$(rows journey.json items stored)" = 3/3 ] || fail "journey items: $(cat journey.json)"
grep -q "^transaction_data.csv,5,unparsable value," journey.h5.rejects.csv || fail "journey: nan value: $(cat journey.h5.rejects.csv)"
"$PY" - <<'PY' || fail "journey content"
import h5py
f = h5py.File("journey.h5")
assert [c.decode() for c in f["ids/categories"][:]] == ["GROCERY", "PRODUCE"], f["ids/categories"][:]
assert sorted(f["events/by_user/ts"][:].tolist()) == [86400, 86400, 172800]   # day numbers
assert set(f["events/by_user/type"][:].tolist()) == {4}
PY
same_as_one_rank journey.h5 --format events --input transaction_data.csv --user-col household_key --item-col PRODUCT_ID \
  --ts-col DAY --ts-format days --qty-col QUANTITY --value-col SALES_VALUE --default-type purchase \
  --items product.csv --items-cols item=PRODUCT_ID,category=DEPARTMENT,brand=BRAND --max-reject-rate 0.5

# CDNOW master: customer id, yyyymmdd date, number of CDs, dollars, separated by runs of blanks, no item
printf '    1 19970101  1   11.77\n    2 19970112  1   12.00\n    2 19970112  5   77.00\n    3 19970102  2   20.76\n    3 19970330  2   20.76\n   3 1997033  2   20.76\n' > CDNOW_master.txt
ingest_log --format events --input CDNOW_master.txt --header 0 --user-col 1 --ts-col 2 --qty-col 3 --value-col 4 \
  --item-col '' --default-type purchase --out cdnow.h5 --metrics-out cdnow.json --max-reject-rate 0.5
grep -q "CDNOW_master.txt: no --delimiter given; detected whitespace" log.txt || fail "cdnow delimiter: $(cat log.txt)"
grep -q "column 2: 5 integer timestamps read as yyyymmdd dates" log.txt && fail "a 7-digit date made the column yyyymmdd"
grep -q "column 2: 6 integer timestamps read as unix seconds" log.txt || fail "cdnow: detection: $(cat log.txt)"
# the bad 7-digit date hides the layout: the column is read as seconds, and --ts-format says what it is
ingest_log --format events --input CDNOW_master.txt --header 0 --user-col 1 --ts-col 2 --qty-col 3 --value-col 4 \
  --item-col '' --default-type purchase --ts-format yyyymmdd --out cdnow.h5 --metrics-out cdnow.json --max-reject-rate 0.5
[ "$(rows cdnow.json events read)/$(rows cdnow.json events stored)/$(rows cdnow.json events rejected)" = 6/5/1 ] \
  || fail "cdnow counts: $(cat cdnow.json)"
grep -q "^CDNOW_master.txt,6,unparsable timestamp," cdnow.h5.rejects.csv || fail "cdnow reject: $(cat cdnow.h5.rejects.csv)"
"$PY" - <<'PY' || fail "cdnow content"
import h5py
f = h5py.File("cdnow.h5")
assert [u.decode() for u in f["ids/users"][:]] == ["1", "2", "3"]
assert [i.decode() for i in f["ids/items"][:]] == ["(any)"]
assert int(f.attrs["start_ts"]) == 852076800, f.attrs["start_ts"]     # 1997-01-01, not August 1970
assert sorted(f["events/by_user/qty"][:].tolist()) == [1, 1, 2, 2, 5]
PY
head -5 CDNOW_master.txt > cdnow5.txt   # without the bad line the column is detected as yyyymmdd
ingest_log --format events --input cdnow5.txt --header 0 --user-col 1 --ts-col 2 --qty-col 3 --value-col 4 \
  --item-col '' --default-type purchase --out cdnow5.h5
grep -q "column 2: 5 integer timestamps read as yyyymmdd dates" log.txt || fail "cdnow5 detection: $(cat log.txt)"
same_as_one_rank cdnow.h5 --format events --input CDNOW_master.txt --header 0 --user-col 1 --ts-col 2 --qty-col 3 \
  --value-col 4 --item-col '' --default-type purchase --ts-format yyyymmdd --max-reject-rate 0.5

# a name where a position is needed says so
expect_fail "$NP" ingest --format events --input CDNOW_master.txt --header 0 --item-col '' --out x.h5
grep -q "no column 'user' (option user_col): the file is read without a header (--header 0), so name its columns by position" err.txt \
  || fail "positional columns: $(cat err.txt)"
printf 'user,treatment,visit,conversion\nc1,control,0,0\n' > camp.csv
expect_fail "$NP" ingest --format campaign --input camp.csv --header 0 --out x.h5
grep -q "camp.csv: --header 0: a campaign log needs its header line" err.txt || fail "campaign --header 0: $(cat err.txt)"
echo "ok: public layouts at $NP ranks"
