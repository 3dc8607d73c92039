# The gateway's answers do not depend on the rank count: the same queries to
# mkt serve at 1 and at 3 ranks (an uneven split of users and items) must get
# byte-identical replies (score, recommend, similar, propensity, uplift,
# segment), apart from ping's and stats' rank-dependent fields.
. "$SRC/tests/lib.sh"
run_np 2 gen --users 700 --items 90 --days 10 --seed 9 --out shop.h5 >/dev/null
run_np 2 features --store shop.h5 >/dev/null
run_np 2 train mf --store shop.h5 --out model.h5 --rank 5 --iters 3 >/dev/null
run_np 2 train propensity --store shop.h5 --out model.h5 --model mlp --hidden 6 --optimizer adam --epochs 2 >/dev/null
run_np 2 train uplift --store shop.h5 --out model.h5 >/dev/null
run_np 2 train segments --store shop.h5 --out model.h5 --k 3 >/dev/null

"$PY" - <<'PY'
import h5py, json
s = h5py.File("shop.h5", "r")
users = [u.decode() for u in s["ids/users"][:]]; items = [i.decode() for i in s["ids/items"][:]]
q = []
for n in range(0, 700, 23):
    u, i = users[n], items[(n * 7) % 90]
    q += [{"op": "score", "id": n, "user": u, "item": i}, {"op": "recommend", "user": u, "k": 7},
          {"op": "similar", "item": i, "k": 5}, {"op": "propensity", "user": u}, {"op": "segment", "user": u},
          {"op": "uplift", "user": u}]
q.append({"op": "recommend", "user": "cold-user", "k": 9})
json.dump(q, open("queries.json", "w"))
PY

for np in 1 3; do
  serve_start $np --store shop.h5 --models model.h5 --allow-shutdown 1
  ENDPOINT=$(cat ready) OUT=replies$np.txt timeout 60 "$PY" - <<'PY'
import json, os, zmq
s = zmq.Context().socket(zmq.DEALER); s.setsockopt(zmq.RCVTIMEO, 10000); s.setsockopt(zmq.LINGER, 0)
s.connect(os.environ["ENDPOINT"])
with open(os.environ["OUT"], "wb") as out:
    for q in json.load(open("queries.json")):
        s.send(json.dumps(q).encode()); r = s.recv(); out.write(r + b"\n")
        assert b'"error"' not in r or b"not_in_campaign" in r, r
    s.send(json.dumps(json.load(open("queries.json"))[:40]).encode()); out.write(s.recv() + b"\n")  # batched
    s.send(b'{"op":"shutdown"}'); s.recv()
PY
  serve_wait_stopped
done
cmp replies1.txt replies3.txt || { diff replies1.txt replies3.txt | head -5; fail "replies differ between 1 and 3 ranks"; }
echo "ok: $(wc -l < replies1.txt) replies identical at 1 and 3 ranks"
