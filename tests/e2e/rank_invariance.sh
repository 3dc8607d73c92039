# The same seed gives byte-identical stores (every dataset but /partition) on
# 1, 2 and 4 ranks, for gen, ingest and features.
. "$SRC/tests/lib.sh"
for np in 1 2 4; do
  mkdir -p np$np
  run_np $np gen --users 1500 --items 300 --days 15 --seed 5 --out np$np/gen.h5 --csv np$np/csv
  run_np $np ingest --format events --input np$np/csv/events.csv --items np$np/csv/items.csv \
    --campaign np$np/csv/campaign.csv --out np$np/shop.h5
  run_np $np features --store np$np/shop.h5
  run_np $np features --store np$np/gen.h5
  "$MKT" digest np$np/gen.h5 > np$np/gen.digest
  "$MKT" digest np$np/shop.h5 > np$np/shop.digest
  cmp np1/csv/events.csv np$np/csv/events.csv || fail "events.csv differs at $np ranks"
done
for np in 2 4; do
  diff np1/gen.digest np$np/gen.digest || fail "gen store differs between 1 and $np ranks"
  diff np1/shop.digest np$np/shop.digest || fail "ingested store differs between 1 and $np ranks"
done
[ "$(wc -l < np1/gen.digest)" -ge 30 ] || fail "digest lists too few datasets"
grep -q '^/features/users ' np1/shop.digest || fail "features missing from digest"
echo "ok: identical stores on 1, 2 and 4 ranks"
