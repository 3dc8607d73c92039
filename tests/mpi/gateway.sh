# mkt serve / mkt query at NP ranks: a small shop with uplift, segments and a
# factorization model; answers are checked against the model file (h5py),
# malformed requests get error codes while the gateway keeps serving, the
# token file is enforced (mode 600, at least 16 bytes), a connection that
# failed --max-operator-failures operator attempts gets no operator op even
# with the right token, stats names files without their directories, and
# shutdown ends every rank with status 0.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 2000 --items 200 --days 10 --seed 5 --out shop.h5 >/dev/null
run_np "$NP" features --store shop.h5 >/dev/null
run_np "$NP" train uplift --store shop.h5 --out model.h5 >/dev/null
run_np "$NP" train segments --store shop.h5 --out model.h5 --k 4 >/dev/null

# /models/mf: the MF trainer writes this layout; until it is built, a tiny one made here.
if ! h5ls model.h5/models/mf >/dev/null 2>&1; then
  "$PY" - <<'PY'
import h5py, numpy as np
s = h5py.File("shop.h5", "r"); U = len(s["ids/users"]); I = len(s["ids/items"])
rng = np.random.default_rng(1); K = 4
with h5py.File("model.h5", "a") as f:
    g = f.create_group("models/mf")
    g["user_factors"] = rng.normal(size=(U, K)); g["item_factors"] = rng.normal(size=(I, K))
    g["user_bias"] = rng.normal(size=U) * 0.1; g["item_bias"] = rng.normal(size=I) * 0.1
    g.attrs["global_mean"] = 3.5; g.attrs["schema_version"] = 1
PY
fi

umask 077
echo "short-$RANDOM" > token
expect_fail "$NP" serve --store shop.h5 --models model.h5 --token-file token --bind 'tcp://127.0.0.1:*'
grep -q -- "--token-file token holds a token of [0-9]* bytes; the operator token must have at least 16" "$WORK/err.txt" ||
  fail "a short token was not refused clearly: $(cat "$WORK/err.txt")"
echo "op-secret-$RANDOM-$RANDOM-$RANDOM" > token
chmod 644 token
expect_fail "$NP" serve --store shop.h5 --models model.h5 --token-file token --bind 'tcp://127.0.0.1:*'
grep -q "chmod 600" "$WORK/err.txt" || fail "a world-readable token file was not refused clearly: $(cat "$WORK/err.txt")"
chmod 600 token

# serve in the background; it stops by itself after 60 s without requests (no stray job on failure)
# absolute paths: stats must show the file names only; not quiet: its log is checked
quiet=${MKT_QUIET-}
unset MKT_QUIET
serve_start "$NP" --store "$WORK/shop.h5" --models "$WORK/model.h5" --token-file token --max-message 65536 \
  --max-operator-failures 3
export MKT_QUIET=$quiet

# mkt query
"$MKT" query --connect "$endpoint" --request '{"op":"ping","id":"q1"}' --timeout-ms 5000 >q.json
grep -q '"pong":true' q.json || fail "ping via mkt query: $(cat q.json)"
# an error reply is printed and makes mkt query exit 1, naming the code
set +e
"$MKT" query --connect "$endpoint" --request '{"op":"launch","id":2}' --timeout-ms 5000 >q.json 2>qerr.txt
st=$?
set -e
grep -q '"unknown_op"' q.json || fail "unknown op via mkt query: $(cat q.json)"
[ "$st" -eq 1 ] && grep -q "unknown_op" qerr.txt || fail "error reply: mkt query status $st, $(cat qerr.txt)"
set +e
"$MKT" query --connect "$endpoint" '[{"op":"ping"},{"op":"launch"}]' --timeout-ms 5000 >q.json 2>qerr.txt
st=$?
set -e
[ "$st" -eq 1 ] && grep -q "1 of 2 requests" qerr.txt || fail "batch with an error: status $st, $(cat qerr.txt)"
# a gateway that is not there: exit 1 with a message, quickly
set +e
timeout 20 "$MKT" query --connect tcp://127.0.0.1:9 --request '{"op":"ping"}' --timeout-ms 300 2>qerr.txt
st=$?
set -e
[ "$st" -eq 1 ] && grep -q "no reply" qerr.txt || fail "query to nowhere: status $st, $(cat qerr.txt)"

# the ten-line client of docs/protocol.md, as a user runs it
user0=$("$PY" -c "import h5py; print(h5py.File('shop.h5','r')['ids/users'][17].decode())")
"$PY" "$SRC/docs/python_client.py" ready "$user0" >client.txt || fail "docs/python_client.py failed"
"$PY" - "$NP" <<'PY' || fail "docs/python_client.py printed: $(cat client.txt)"
import json, sys
ping, pair = [json.loads(l) for l in open("client.txt")]
assert ping == {"id": 1, "op": "ping", "pong": True, "ranks": int(sys.argv[1])}, ping
assert pair[0]["op"] == "uplift" and pair[1]["op"] == "segment" and "segment" in pair[1], pair
PY

# checks against the model file
NP=$NP ENDPOINT=$endpoint TOKEN=$(cat token) timeout 60 "$PY" - <<'PY'
import json, os, zmq, h5py, numpy as np

ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.RCVTIMEO, 5000); sock.setsockopt(zmq.LINGER, 0)
sock.connect(os.environ["ENDPOINT"])
def ask(req):
    sock.send(req if isinstance(req, bytes) else json.dumps(req).encode())
    return json.loads(sock.recv())
def raw(frames):
    sock.send_multipart(frames); return json.loads(sock.recv())

s = h5py.File("shop.h5", "r"); m = h5py.File("model.h5", "r")
users = [x.decode() for x in s["ids/users"][:]]; items = [x.decode() for x in s["ids/items"][:]]
def code(r): return r["error"]["code"]

assert ask({"op": "ping", "id": 1}) == {"id": 1, "op": "ping", "pong": True, "ranks": int(os.environ["NP"])}

# uplift: the values stored for the user's campaign row, exactly
up = m["models/uplift"]; row = 17; u = int(up["user"][row])
r = ask({"op": "uplift", "id": "u", "user": users[u]})
assert r["id"] == "u" and r["user"] == users[u], r
arms = [a.decode() for a in up["arms"][:]]
first = int(np.nonzero(up["user"][:] == u)[0][0])
for t, a in enumerate(r["arms"]):
    assert a["arm"] == arms[t + 1]
    assert a["conversion"] == up["predicted_conversion"][first, t], (a, up["predicted_conversion"][first])
    assert a["spend"] == up["predicted_spend"][first, t]
assert code(ask({"op": "uplift", "user": "no-such-user"})) == "unknown_user"

# segment
seg = m["models/segments"]; a = int(seg["assignment"][u])
r = ask({"op": "segment", "user": users[u]})
assert r["segment"] == seg["names"][a].decode() and r["segment_index"] == a, r

# score and recommend against numpy
mf = m["models/mf"]; P = mf["user_factors"][:]; Q = mf["item_factors"][:]; bu = mf["user_bias"][:]; bi = mf["item_bias"][:]
mu = mf.attrs["global_mean"]
r = ask({"op": "score", "user": users[u], "item": items[3]})
assert abs(r["score"] - (mu + bu[u] + bi[3] + P[u] @ Q[3])) < 1e-9, r
ind = s["events/by_user/indptr"][:]; typ = s["events/by_user/type"][ind[u]:ind[u+1]]; it = s["events/by_user/item"][ind[u]:ind[u+1]]
bought = set(it[typ == 4].tolist())
sc = mu + bu[u] + bi + Q @ P[u]
want = [i for i in sorted(range(len(items)), key=lambda i: (-sc[i], i)) if i not in bought][:7]
r = ask({"op": "recommend", "user": users[u], "k": 7})
assert [items.index(x["item"]) for x in r["items"]] == want and r["cold_start"] is False, (r, want)
# several recommends in one message are scored together (one sweep of each item block): same answers
def top(v, k):
    i0, i1 = ind[v], ind[v + 1]; b = set(s["events/by_user/item"][i0:i1][s["events/by_user/type"][i0:i1] == 4].tolist())
    scv = mu + bu[v] + bi + Q @ P[v]
    return [items[i] for i in sorted(range(len(items)), key=lambda i: (-scv[i], i)) if i not in b][:k]
vs = [0, 3, 999, 1500, 1999, u]
r = ask([{"op": "recommend", "user": users[v], "k": 2 + v % 9} for v in vs])
for v, x in zip(vs, r):
    assert [e["item"] for e in x["items"]] == top(v, 2 + v % 9), (v, x)
    assert abs(x["items"][0]["score"] - (mu + bu[v] + bi[items.index(x["items"][0]["item"])] + P[v] @ Q[items.index(x["items"][0]["item"])])) < 1e-9
r = ask({"op": "recommend", "user": "brand-new-user", "k": 3})
assert r["cold_start"] is True and len(r["items"]) == 3, r
r = ask({"op": "similar", "item": items[5], "k": 4})
cos = Q @ Q[5] / (np.linalg.norm(Q, axis=1) * np.linalg.norm(Q[5])); cos[5] = -2
assert [x["item"] for x in r["items"]] == [items[i] for i in sorted(range(len(items)), key=lambda i: (-cos[i], i))[:4]], r
assert code(ask({"op": "similar", "item": "nope", "k": 4})) == "unknown_item"

# a batch: array in, array out, in order
r = ask([{"op": "ping", "id": 1}, {"op": "segment", "id": 2, "user": users[u]}, {"op": "nope", "id": 3}])
assert [x["id"] for x in r] == [1, 2, 3] and code(r[2]) == "unknown_op", r

# malformed requests: each gets a code, and the gateway keeps serving
bad = [(b"{not json", "bad_json"), (b"\x00\xff\xfe garbage \x01", "bad_json"), (b"[]", "bad_request"),
       (b"17", "bad_request"), (b'{"id":1}', "missing_field"), (b'{"op":5}', "bad_type"),
       (b'{"op":"recommend","user":"u","k":-3}', "bad_value"), (b'{"op":"recommend","user":"u","k":100000000}', "bad_value"),
       (json.dumps({"op": "uplift", "user": "x" * 10240}).encode(), "bad_value"),
       (b'{"op":"uplift","user":"a\\u0001b"}', "bad_value"), (b'{"op":"ping","x":1}', "unknown_field"),
       (b"x" * (1 << 20), "too_large"), (b"", "empty")]
for msg, want_code in bad:
    r = ask(msg)
    assert code(r) == want_code, (msg[:40], r)
    assert ask({"op": "ping"})["pong"] is True
assert code(raw([b'{"op":"ping"}', b"second frame"])) == "bad_frames"
assert code(raw([b"\x01\x02", b"\x03", b"\x04" * 100])) == "bad_frames"
assert ask({"op": "ping", "id": "still"})["pong"] is True

st = ask({"op": "stats"})
assert st["requests"] > 20 and st["errors"] >= len(bad) and st["ops"]["uplift"]["count"] >= 2, st
print("latency p50/p99 ms: ping %.3f/%.3f recommend %.3f/%.3f" % (st["ops"]["ping"]["p50_ms"], st["ops"]["ping"]["p99_ms"],
      st["ops"]["recommend"]["p50_ms"], st["ops"]["recommend"]["p99_ms"]))

# stats: file names without directories, also in a failed reload's message
work = os.getcwd()
r = ask({"op": "reload", "token": os.environ["TOKEN"], "models": work + "/no-such-dir/missing.h5"})
assert code(r) == "reload_failed", r
st = ask({"op": "stats"})
assert st["store"] == "shop.h5" and st["model_file"] == "model.h5" and st["models"]["file"] == "model.h5", st
assert "missing.h5" in st["models"]["reload"]["last_error"], st["models"]["reload"]
assert work not in json.dumps(st) and "no-such-dir" not in json.dumps(st), json.dumps(st)

# failed operator attempts: after 3 on one connection, even the right token is refused there
bad = ctx.socket(zmq.DEALER); bad.setsockopt(zmq.RCVTIMEO, 5000); bad.setsockopt(zmq.LINGER, 0)
bad.connect(os.environ["ENDPOINT"])
def ask_bad(req):
    bad.send(json.dumps(req).encode()); return json.loads(bad.recv())
for i in range(3):
    assert code(ask_bad({"op": "shutdown", "token": "guess-%d" % i})) == "forbidden"
r = ask_bad({"op": "shutdown", "token": os.environ["TOKEN"]})
assert code(r) == "forbidden" and "too many failed operator attempts" in r["error"]["message"], r
assert ask_bad({"op": "ping"})["pong"] is True  # other ops still answered
st = ask({"op": "stats"})
assert st["peers_blocked"] == 1 and st["operator_refused"] == 4, st

assert code(ask({"op": "shutdown"})) == "forbidden"
assert code(ask({"op": "shutdown", "token": "wrong"})) == "forbidden"
assert ask({"op": "shutdown", "id": "bye", "token": os.environ["TOKEN"]})["ok"] is True
PY

# every rank leaves, status 0, within a few seconds
serve_wait_stopped
[ ! -e ready ] || fail "ready file left behind"
grep -q "a connection made 3 failed operator attempts" serve.err || fail "the blocked connection was not logged: $(cat serve.err)"
echo "ok: gateway at $NP ranks"
