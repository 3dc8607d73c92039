# test-ranks: 1
# Crafted and corrupted stores and models (io/validate.c, the Fletcher32
# checksums of io/h5store.c): each one, made with h5py from a small `mkt gen`
# store, must end `train mf`, `eval mf`, `strategy` or `serve` (the gateway's
# recommend) with a clear "mkt: error: FILE: DATASET..." naming the first bad
# element and a non-zero exit, never a crash.  Then a seeded sweep of single
# byte flips anywhere in a store and a model file counts crashes and silent
# changes (both must be 0): a run either fails with a clear error or gives
# the same result as on the intact file.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 300 --items 40 --days 5 --factors 2 --ratings-per-user 6 --seed 5 --out s.h5 >/dev/null 2>&1
run_np "$NP" features --store s.h5 >/dev/null 2>&1
run_np "$NP" train mf --store s.h5 --out m.h5 --rank 2 --iters 2 --seed 1 >/dev/null 2>&1
run_np "$NP" train uplift --store s.h5 --out m.h5 --method t >/dev/null 2>&1
run_np "$NP" train segments --store s.h5 --out m.h5 --k 3 >/dev/null 2>&1

# CASE FILE DATASET INDEX VALUE: a copy of FILE with one element changed
# (VALUE "drop1": the dataset one row shorter; "attr:NAME=V": an attribute)
craft() {
  "$PY" - "$@" <<'PY'
import h5py, numpy as np, shutil, sys
out, src, ds, idx, val = sys.argv[1:6]
shutil.copy(src, out)
with h5py.File(out, "r+") as f:
    if val.startswith("attr:"):
        k, v = val[5:].split("=")
        f[ds].attrs[k] = np.float64(v) if k != "schema_version" else np.int64(v)
    elif val == "drop1":
        a = f[ds][()]; attrs = dict(f[ds].attrs); del f[ds]; f[ds] = a[:-1]
        for k, v in attrs.items(): f[ds].attrs[k] = v
    else:
        a = f[ds][()]; ix = tuple(int(x) for x in idx.split(","))
        a[ix] = float(val) if a.dtype.kind == "f" else int(float(val)); f[ds][...] = a
PY
}
tried=0
# expect_clear WANT CMD...: a non-zero exit, no crash, "mkt: error" and WANT in the message
expect_clear() {
  local want=$1; shift
  expect_fail "$NP" "$@"
  tried=$((tried + 1))
  [ "$status" -eq 1 ] || fail "mkt $* exited with $status (a crash?): $(tail -5 err.txt)"
  grep -qE "mkt: (rank [0-9]+: )?error: .*$want" err.txt || fail "mkt $*: no clear error naming '$want': $(grep -v '^--\|^ \|^$' err.txt | head -5)"
  ! grep -qiE 'AddressSanitizer|runtime error|Segmentation|double free' err.txt || fail "mkt $*: sanitizer report"
}

I=$("$PY" -c "import h5py; print(len(h5py.File('s.h5')['ids/items']))")
E=$("$PY" -c "import h5py; print(len(h5py.File('s.h5')['events/by_user/user']))")
# stores: train mf reads them
while read -r ds idx val want <&3; do
  craft bad.h5 s.h5 "$ds" "$idx" "$val"
  expect_clear "bad.h5: $want" train mf --store bad.h5 --out mx.h5 --rank 2 --iters 1
done 3<<EOF
events/by_user/item 100 -5 /events/by_user/item\[100\] = -5 is out of range
events/by_user/item 100 1000000 /events/by_user/item\[100\] = 1000000 is out of range
events/by_user/item 7 $I /events/by_user/item\[7\] = $I is out of range
events/by_item/user 3 -1 /events/by_item/user\[3\] = -1 is out of range
events/by_user/user 30 299 /events/by_user/user\[30\] = 299, but /events/by_user/indptr puts the event in row
events/by_user/indptr 150 100000000000000 /events/by_user/indptr\[150\] = 100000000000000 is outside the events
events/by_user/indptr 300 $((E - 1)) /events/by_user/indptr\[300\] = $((E - 1)) is not the event count
events/by_item/indptr 20 5 /events/by_item/indptr\[20\] = 5 is below the row before it
events/by_user/value 11 nan /events/by_user/value\[11\] is nan
events/by_item/value 11 -inf /events/by_item/value\[11\] is -inf
events/by_user/type 4 9 /events/by_user/type\[4\] = 9 is out of range
items/price 3 inf /items/price\[3\] is inf
items/category 2 -5 /items/category\[2\] = -5 is out of range
campaigns/treatment 8 99 /campaigns/treatment\[8\] = 99 is out of range
events/by_user/qty 0 drop1 /events/by_user/qty is
events/by_user/item 0 attr:schema_version=7 /events/by_user/item has schema version 7
EOF

# at 2 ranks the row pointers are checked in two blocks: a bad pointer at the
# boundary, and a decrease from one block to the next, are still found
craft bad.h5 s.h5 events/by_user/indptr 150 100000000000000
NP=2 expect_clear "bad.h5: /events/by_user/indptr\[150\] = 100000000000000 is outside" train mf --store bad.h5 --out mx.h5
craft bad.h5 s.h5 events/by_item/indptr 19 $((E - 1))
NP=2 expect_clear "bad.h5: /events/by_item/indptr\[20\] = [0-9]* is below the row before it" train mf --store bad.h5 --out mx.h5
craft badm.h5 m.h5 models/mf/user_factors 299,1 nan x
NP=2 expect_clear "badm.h5: /models/mf/user_factors\[299\]\[1\] is nan" eval mf --store s.h5 --model badm.h5

# models: eval mf, strategy and the gateway (recommend) refuse them
while read -r ds idx val want <&3; do
  craft badm.h5 m.h5 "$ds" "$idx" "$val"
  expect_clear "badm.h5: $want" eval mf --store s.h5 --model badm.h5 --metrics-out e.json
done 3<<EOF
models/mf/user_factors 5,1 nan /models/mf/user_factors\[5\]\[1\] is nan
models/mf/item_factors 2,0 1e309 /models/mf/item_factors\[2\]\[0\] is inf
models/mf/item_bias 7 -inf /models/mf/item_bias\[7\] is -inf
models/mf/user_bias 0 drop1 /models/mf/user_bias is 299 x 0, expected 300 rows
models/mf 0 attr:global_mean=nan /models/mf: attribute global_mean is nan
models/segments/assignment 9 7 /models/segments/assignment\[9\] = 7 is out of range
models/uplift/user 4 300 /models/uplift/user\[4\] = 300 is out of range
EOF
craft badm.h5 m.h5 models/uplift/coef_conversion 1,2 inf x
expect_clear "badm.h5: /models/uplift/coef_conversion\[1\]\[2\] is inf" strategy --store s.h5 --models badm.h5 --budget 10 --out st.h5 --bootstrap 0
craft badm.h5 m.h5 models/mf/user_factors 1,1 -inf x
expect_clear "badm.h5: /models/mf/user_factors\[1\]\[1\] is -inf" serve --bind 'tcp://127.0.0.1:*' --store s.h5 --models badm.h5 --timeout-ms 2000

# a flipped byte inside a chunk of raw data: the checksum fails, named as corruption
"$PY" - <<'PY'
import h5py, shutil
for src, ds, out in (("s.h5", "events/by_user/value", "flip_s.h5"), ("m.h5", "models/mf/item_factors", "flip_m.h5")):
    shutil.copy(src, out)
    off = h5py.File(src, "r")[ds].id.get_chunk_info(0).byte_offset + 5
    with open(out, "r+b") as f:
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x04]))
PY
expect_clear "flip_s.h5: /events/by_user/value: rows .* fail their checksum" train mf --store flip_s.h5 --out mx.h5 --rank 2 --iters 1
expect_clear "flip_m.h5: /models/mf/item_factors: rows .* fail their checksum" eval mf --store s.h5 --model flip_m.h5 --metrics-out e.json
echo "crafted inputs: $tried, each a clear error"

# the sweep: FLIPS flips in the store (train mf), FLIPS in the model (eval
# mf), seeded; 10 each in the suite, FLIPS=N for a wider sweep
FLIPS=${FLIPS:-10}
run_np "$NP" train mf --store s.h5 --out ref.h5 --rank 2 --iters 1 --seed 1 >/dev/null 2>&1
ref_model=$("$MKT" digest ref.h5 | md5sum)
run_np "$NP" eval mf --store s.h5 --model m.h5 --metrics-out ref.json >/dev/null 2>&1
result() { "$PY" -c "import json; d=json.load(open('$1')); print(d['rmse'], d['mae'], d['heldout_entries'], d['baseline'])"; }
ref_eval=$(result ref.json)
FLIPS=$FLIPS "$PY" - <<'PY'
import random, os
rng = random.Random(13)
k = int(os.environ["FLIPS"])
with open("flips.txt", "w") as out:
    for src in ["s.h5"] * k + ["m.h5"] * k:
        n = os.path.getsize(src)
        out.write("%s %d %d\n" % (src, rng.randrange(n), 1 << rng.randrange(8)))
PY
clear=0 same=0 crash=0 silent=0 n=0
while read -r src off bit <&3; do
  n=$((n + 1))
  cp "$src" f.h5
  "$PY" -c "
f = open('f.h5', 'r+b'); f.seek($off); b = f.read(1); f.seek($off); f.write(bytes([b[0] ^ $bit]))"
  rm -f o.h5 o.json
  set +e
  if [ "$src" = s.h5 ]; then
    OMPI_MCA_odls_base_sigkill_timeout=0 timeout -k 5 120 mpirun -np "$NP" "$MKT" train mf --store f.h5 --out o.h5 --rank 2 --iters 1 --seed 1 </dev/null >/dev/null 2>err.txt
  else
    OMPI_MCA_odls_base_sigkill_timeout=0 timeout -k 5 120 mpirun -np "$NP" "$MKT" eval mf --store s.h5 --model f.h5 --metrics-out o.json </dev/null >/dev/null 2>err.txt
  fi
  st=$?
  set -e
  if grep -qiE 'AddressSanitizer|runtime error|Segmentation|double free|signal' err.txt || { [ $st -ne 0 ] && [ $st -ne 1 ]; }; then
    crash=$((crash + 1)); echo "crash: $src byte $off ^ $bit (exit $st): $(head -3 err.txt)"
  elif [ $st -ne 0 ]; then
    grep -qE '^mkt: (rank [0-9]+: )?error: f.h5' err.txt || { crash=$((crash + 1)); echo "unclear error: $src byte $off: $(head -3 err.txt)"; continue; }
    clear=$((clear + 1))
  elif { [ "$src" = s.h5 ] && [ "$("$MKT" digest o.h5 | md5sum)" = "$ref_model" ]; } ||
       { [ "$src" = m.h5 ] && [ "$(result o.json)" = "$ref_eval" ]; }; then
    same=$((same + 1))
  else
    silent=$((silent + 1)); echo "silent change: $src byte $off ^ $bit"
  fi
done 3< flips.txt
printf '%-28s %s\n' "inputs tried (crafted)" "$tried" "clear errors (crafted)" "$tried" \
  "byte flips tried" "$n" "clear errors" "$clear" "identical result" "$same" "crashes" "$crash" "silent changes" "$silent"
[ "$crash" -eq 0 ] || fail "$crash byte flips crashed mkt"
[ "$silent" -eq 0 ] || fail "$silent byte flips changed a result without an error"
[ $((clear + same)) -eq "$n" ] || fail "flips unaccounted for"
[ "$clear" -gt 0 ] || fail "no flip was detected: the sweep tests nothing"
echo "ok: crafted stores and models refused, $n byte flips: $clear clear errors, $same identical, 0 crashes, 0 silent changes"
