# test-ranks: 4
# At NP ranks (4; each store is also written at 1 rank and compared):
# CSV framing counts physical lines (a stray quote fails the reject gate),
# bare-CR files, empty and header-only files and duplicate header names are
# errors, ids are rejected rather than cut, and every value out of its
# range (ratings, timestamps, amounts, cost, stock, spend, non-finite
# campaign attributes) is a named reject with exact counts.
. "$SRC/tests/lib.sh"
# a stray quote on data line 5 of 100 swallows the 96 lines after it: they count as 96 rejected rows
{ echo "user,item,ts"; for i in $(seq 100); do
    if [ "$i" -eq 5 ]; then echo "u$i,i\"$i,2026-01-01"; else echo "u$i,i$i,2026-01-01"; fi; done; } > stray.csv
expect_fail "$NP" ingest --format events --input stray.csv --out st.h5
grep -q "stray.csv: 96 of 100 rows rejected" err.txt || fail "stray quote passed the gate: $(cat err.txt)"
run_np "$NP" ingest --format events --input stray.csv --out st.h5 --max-reject-rate 1 --metrics-out st.json
for k in "read 100" "stored 4" "rejected 96"; do
  [ "$(json_get st.json "['inputs']['events']['rows']['${k% *}']")" -eq "${k#* }" ] || fail "stray quote: ${k% *}: $(cat st.json)"
done
grep -q "^stray.csv,6,unterminated quoted field," st.h5.rejects.csv || fail "stray quote line: $(cat st.h5.rejects.csv)"
# bare CR line ends are refused, not read as 0 rows
printf 'user,item,ts\r1,2,2026-01-01\r3,4,2026-01-01\r' > cr.csv
expect_fail "$NP" ingest --format events --input cr.csv --out cr.h5
grep -q "cr.csv: its line ends are carriage returns without line feeds" err.txt || fail "CR-only file: $(cat err.txt)"
# empty files, header-only files and duplicate header names are errors
: > empty.csv
expect_fail "$NP" ingest --format movielens --input empty.csv --out e.h5
grep -q "empty.csv (events input): no data rows" err.txt || fail "empty file: $(cat err.txt)"
printf 'user,item,ts\n\n' > hdr.csv
expect_fail "$NP" ingest --format events --input hdr.csv --out e.h5
grep -q "hdr.csv (events input): no data rows" err.txt || fail "header-only file: $(cat err.txt)"
printf 'user,item,ts,User\nu1,i1,2026-01-01,u2\n' > dup.csv
expect_fail "$NP" ingest --format events --input dup.csv --out e.h5
grep -q "dup.csv: the header names column 'user' twice (columns 1 and 4)" err.txt || fail "duplicate header: $(cat err.txt)"
[ ! -e e.h5 ] || fail "a store was written from an unusable file"
# ids are never cut: two users that differ after byte 511 are both rejected, not merged
long=$(head -c 600 /dev/zero | tr '\0' 'a')
{ echo "user,item,ts,type,value"
  echo "${long}x,i1,2026-01-01,view,0";  echo "${long}y,i1,2026-01-01,view,0"   # lines 2-3: too long
  echo "u1,i1,9223372036854775807,view,0"                                         # 4: INT64_MAX
  echo "u1,i1,2200-01-01,view,0";        echo "u1,i1,-1,view,0"                   # 5, 6: outside the window
  echo "u1,i1,2026-01-01,rating,-1e308"                                           # 7: rating out of range
  echo "u1,i1,2026-01-01,purchase,1e300"                                          # 8: amount out of range
  echo "u1,i1,2026-01-01,rating,nan"                                              # 9: not a number
  for i in $(seq 10 29); do echo "u$i,i$i,2026-01-0$((i % 9 + 1)),rating,$((i % 5 + 1))"; done; } > range.csv
run_np "$NP" ingest --format events --input range.csv --out r.h5 --max-reject-rate 0.5 --metrics-out r.json
for k in "read 28" "stored 20" "rejected 8"; do
  [ "$(json_get r.json "['inputs']['events']['rows']['${k% *}']")" -eq "${k#* }" ] || fail "ranges: ${k% *}: $(cat r.json)"
done
for want in "2,user id longer than 511 bytes" "3,user id longer than 511 bytes" \
            "4,timestamp outside 1970-01-01..2100-01-01" "5,timestamp outside 1970-01-01..2100-01-01" \
            "6,timestamp outside 1970-01-01..2100-01-01" "7,rating outside -1e6..1e6" \
            "8,value out of range (magnitude above 1e+12)" "9,unparsable value"; do
  grep -q "^range.csv,${want%%,*},\"\\?${want#*,}" r.h5.rejects.csv || fail "ranges: no reject $want: $(cut -c1-80 r.h5.rejects.csv)"
done
"$PY" -c "
import h5py
f = h5py.File('r.h5'); assert f.attrs['end_ts'] > f.attrs['start_ts'] > 0, dict(f.attrs)
assert max(len(u) for u in f['ids/users'][:]) < 512
" || fail "range store attributes"
# a configured range replaces the default; MovieLens ratings are 0.5..5
run_np "$NP" ingest --format events --input range.csv --out r2.h5 --max-reject-rate 0.8 --rating-range 2..4 \
  --ts-range 2026-01-02..2026-01-09 --metrics-out r2.json
[ "$(json_get r2.json "['inputs']['events']['rows']['stored']")" -eq 8 ] || fail "configured ranges: $(cat r2.json)"
grep -q ",rating outside 2..4," r2.h5.rejects.csv && grep -q ",timestamp outside 2026-01-02..2026-01-09," r2.h5.rejects.csv \
  || fail "configured range reasons: $(cut -c1-80 r2.h5.rejects.csv)"
expect_fail "$NP" ingest --format events --input range.csv --out r3.h5 --rating-range 5..1
grep -q -- "--rating-range '5..1'" err.txt || fail "bad rating range: $(cat err.txt)"
printf '1::10::5::978300760\n1::11::5.5::978300761\n2::10::0::978300762\n2::11::0.5::978300763\n' > mlr.dat
run_np "$NP" ingest --format movielens --input mlr.dat --out mlr.h5 --max-reject-rate 0.5 --metrics-out mlr.json
[ "$(json_get mlr.json "['inputs']['events']['rows']['stored']")" -eq 2 ] || fail "movielens scale: $(cat mlr.json)"
[ "$(grep -c ',rating outside 0.5..5,' mlr.h5.rejects.csv)" -eq 2 ] || fail "movielens reasons: $(cat mlr.h5.rejects.csv)"
# catalogue: negative cost or stock, cost above price; campaign: negative spend, nan in an attribute
printf 'item,category,price,cost,stock\ni1,a,10,4,5\ni2,a,10,-1,5\ni3,a,10,4,-2\ni4,a,10,12,1\ni5,b,,,\n' > cat.csv
printf 'user,treatment,visit,conversion,spend,age\n' > camp.csv
for i in $(seq 1 20); do printf 'u%d,%s,0,0,0,%d\n' "$i" "$([ $((i % 2)) -eq 0 ] && echo control || echo mail)" "$((20 + i))" >> camp.csv; done
printf 'u21,mail,1,1,-5,30\nu22,control,0,0,0,nan\nu23,mail,0,0,0,-Infinity\n' >> camp.csv
printf 'user,item,ts\nu1,i1,2026-01-01\nu2,i5,2026-01-02\n' > ev2.csv
run_np "$NP" ingest --format events --input ev2.csv --items cat.csv --campaign camp.csv --out c.h5 \
  --max-reject-rate 0.7 --metrics-out c.json
[ "$(json_get c.json "['inputs']['items']['rows']['stored']")" -eq 2 ] || fail "catalogue ranges: $(cat c.json)"
[ "$(json_get c.json "['inputs']['campaign']['rows']['read']")" -eq 23 ] || fail "campaign read: $(cat c.json)"
[ "$(json_get c.json "['inputs']['campaign']['rows']['stored']")" -eq 20 ] || fail "campaign ranges: $(cat c.json)"
for want in "3,negative cost" "4,negative stock" "5,cost above price"; do
  grep -q "^cat.csv,$want," c.h5.rejects.csv || fail "catalogue: no reject $want: $(cat c.h5.rejects.csv)"
done
for want in "22,negative spend" "23,non-finite number in column age" "24,non-finite number in column age"; do
  grep -q "^camp.csv,$want," c.h5.rejects.csv || fail "campaign: no reject $want: $(cat c.h5.rejects.csv)"
done
"$PY" -c "
import h5py
f = h5py.File('c.h5'); assert 'levels' not in f['campaigns'], 'age became categorical'
" || fail "a nan made a numeric attribute categorical"
# the same stores at 1 rank
if [ "$NP" -gt 1 ]; then
  run_np 1 ingest --format events --input range.csv --out r1.h5 --max-reject-rate 0.5
  run_np 1 ingest --format events --input ev2.csv --items cat.csv --campaign camp.csv --out c1.h5 --max-reject-rate 0.7
  for s in r c; do
    diff <("$MKT" digest ${s}1.h5) <("$MKT" digest $s.h5) || fail "$s.h5 differs between 1 and $NP ranks"
  done
fi
echo "ok: ingest checks at $NP ranks"
