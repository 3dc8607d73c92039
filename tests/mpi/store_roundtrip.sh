# At NP ranks: gen (store + CSV), ingest of the CSV, features; the stores hold
# the planted truth, every row is accounted for, and the generated store and
# the ingested store agree on every shared dataset.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 800 --items 150 --days 20 --seed 11 --out gen.h5 --csv csv --metrics-out gen.json
run_np "$NP" ingest --format events --input csv/events.csv --items csv/items.csv --campaign csv/campaign.csv \
  --out shop.h5 --metrics-out ingest.json
run_np "$NP" features --store shop.h5 --metrics-out features.json

# truth is in the generated store
for d in truth/user_taste truth/item_factors truth/effect_conversion truth/effect_spend truth/base_conversion; do
  h5ls "gen.h5/$d" >/dev/null || fail "gen.h5 lacks /$d"
done
# rows read = stored + rejected, and nothing rejected on clean generated data
for inp in events items campaign; do
  r=$(json_get ingest.json "['inputs']['$inp']['rows']['read']")
  s=$(json_get ingest.json "['inputs']['$inp']['rows']['stored']")
  j=$(json_get ingest.json "['inputs']['$inp']['rows']['rejected']")
  [ "$r" -eq $((s + j)) ] || fail "$inp: read $r != stored $s + rejected $j"
  [ "$j" -eq 0 ] || fail "$inp: $j rows rejected from generated CSV"
  [ "$r" -gt 0 ] || fail "$inp: no rows read"
done
ev=$(json_get gen.json "['events']")
[ "$(json_get ingest.json "['inputs']['events']['rows']['stored']")" -eq "$ev" ] || fail "ingest stored != generated events"

# the same shop through both paths: identical datasets except the order key
"$MKT" digest gen.h5 | grep -E '^/(events|items/(price|cost|stock) |ids/users|ids/items|campaigns/(user|treatment|visit|conversion|spend|attrs) )' \
  | grep -v '/order ' | sort > gen.digest
"$MKT" digest shop.h5 | grep -E '^/(events|items/(price|cost|stock) |ids/users|ids/items|campaigns/(user|treatment|visit|conversion|spend|attrs) )' \
  | grep -v '/order ' | grep -v in_catalogue | sort > shop.digest
diff gen.digest shop.digest || fail "generated and ingested stores differ"
[ "$(wc -l < gen.digest)" -ge 15 ] || fail "too few datasets compared"
h5ls shop.h5/features/users >/dev/null || fail "no /features/users"
echo "ok: store roundtrip at $NP ranks"
