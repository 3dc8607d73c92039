# mkt serve at NP ranks against hostile input: every malformed message gets
# an error reply with the documented code (or, above --max-frame, the peer is
# disconnected), and after each one a valid query still gets its answer.
# Then a client that disconnects mid-request, and the per-request timeout.
. "$SRC/tests/lib.sh"
run_np "$NP" gen --users 400 --items 60 --days 5 --seed 4 --out shop.h5 >/dev/null
run_np "$NP" train mf --store shop.h5 --out model.h5 --rank 3 --iters 2 >/dev/null

start_serve() { serve_start "$NP" --store shop.h5 --models model.h5 --allow-shutdown 1 "$@"; }

start_serve --max-message 65536 --max-k 100
ENDPOINT=$(cat ready) timeout 120 "$PY" - <<'PY'
import json, os, time, zmq, h5py
ctx = zmq.Context()
ids = h5py.File("shop.h5", "r")
U1, I1, I2 = ids["ids/users"][1], ids["ids/items"][1], ids["ids/items"][2]
def real(b): return b.replace(b"u001", U1).replace(b"i001", I1).replace(b"i002", I2)  # the store's own ids
def sock(timeout=5000):
    s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.RCVTIMEO, timeout); s.setsockopt(zmq.LINGER, 0)
    s.connect(os.environ["ENDPOINT"]); return s
s = sock()
def send_raw(frames):
    s.send_multipart([real(f) if len(f) < 100000 else f for f in frames]); return json.loads(s.recv_multipart()[-1])
def alive(where):
    r = send_raw([json.dumps({"op": "score", "id": "ok", "user": "u001", "item": "i001"}).encode()])
    assert r.get("op") == "score" and isinstance(r.get("score"), float), (where, r)
def code(r):
    if isinstance(r, list) and len(r) == 1: r = r[0]  # a batch of one gets an array of one reply
    return r.get("error", {}).get("code")

big_id = "x" * 10240
cases = [
    # invalid JSON, binary garbage
    (b"{not json", "bad_json"), (b'{"op":"ping"', "bad_json"), (b'{"op":"ping"} trailing', "bad_json"),
    (bytes(range(256)) * 4, "bad_json"), (b"\x00\x00\x00", "bad_json"), (b"\xff\xfe{}", "bad_json"),
    (b'{"op":"score","user":"\xc3\x28","item":"i001"}', "bad_json"),          # invalid UTF-8
    (b'{"op":"ping","op":"ping"}', "bad_json"),                                 # duplicate key
    (b"[" * 60000, "bad_json"), (b'{"op":"score","user":"u\\u0000x","item":"i1"}', "bad_json"),
    (b'{"op":"recommend","user":"u001","k":1e999}', "bad_json"),
    (b'{"op":"recommend","user":"u001","k":99999999999999999999999}', "bad_json"),
    # shapes and types
    (b"17", "bad_request"), (b'"ping"', "bad_request"), (b"null", "bad_request"), (b"[]", "bad_request"),
    (b"[1]", "bad_request"), (json.dumps([{"op": "ping"}] * 300).encode(), "batch_too_large"),
    (b'{"op":5}', "bad_type"), (b'{"op":null}', "bad_type"), (b'{"op":["ping"]}', "bad_type"),
    (b'{"op":"recommend","user":"u001","k":"5"}', "bad_type"), (b'{"op":"recommend","user":"u001","k":5.0}', "bad_type"),
    (b'{"op":"score","user":true,"item":"i001"}', "bad_type"), (b'{"op":"score","user":{"a":1},"item":"i001"}', "bad_type"),
    (b'{"op":"ping","id":1.5}', "bad_type"), (b'{"op":"ping","id":[1]}', "bad_type"),
    (b'{"op":"reload","models":7}', "bad_type"), (b'{"op":"shutdown","token":5}', "bad_type"),
    # missing fields, unknown op and fields
    (b"{}", "missing_field"), (b'{"id":1}', "missing_field"), (b'{"op":"score","user":"u001"}', "missing_field"),
    (b'{"op":"propensity"}', "missing_field"), (b'{"op":"launch"}', "unknown_op"), (b'{"op":""}', "unknown_op"),
    (json.dumps({"op": "y" * 5000}).encode(), "unknown_op"), (b'{"op":"ping","usr":"u1"}', "unknown_field"),
    (b'{"op":"score","user":"u001","item":"i001","k":3}', "unknown_field"),
    # values
    (b'{"op":"recommend","user":"u001","k":-1}', "bad_value"), (b'{"op":"recommend","user":"u001","k":0}', "bad_value"),
    (b'{"op":"recommend","user":"u001","k":101}', "bad_value"), (b'{"op":"similar","item":"i001","k":9223372036854775807}', "bad_value"),
    (json.dumps({"op": "score", "user": big_id, "item": "i001"}).encode(), "bad_value"),
    (json.dumps({"op": "ping", "id": big_id}).encode(), "bad_type"),
    (json.dumps({"op": "score", "user": "", "item": "i001"}).encode(), "bad_value"),
    (json.dumps({"op": "score", "user": "a\u0007b", "item": "i001"}).encode(), "bad_value"),
    (json.dumps({"op": "score", "user": "a\nb", "item": "i001"}).encode(), "bad_value"),
    (json.dumps({"op": "score", "user": "a\u007fb", "item": "i001"}).encode(), "bad_value"),
    (json.dumps({"op": "score", "user": "üñíçødé ✓ 😀", "item": "i001"}).encode(), "unknown_user"),
    (json.dumps({"op": "score", "user": "u001", "item": "ïtém"}, ensure_ascii=False).encode(), "unknown_item"),
    (json.dumps({"op": "uplift", "user": "u001"}).encode(), "model_missing"),
    (json.dumps({"op": "strategy", "user": "u001"}).encode(), "model_missing"),
    (json.dumps({"op": "reload"}).encode(), "forbidden"),
    # size: above --max-message (10 MB, below --max-frame) is refused unparsed
    (b"[" + b"1," * (5 << 20) + b"1]", "too_large"), (b" " * (10 << 20), "too_large"),
    # empty frames
    (b"", "empty"),
]
for msg, want in cases:
    r = send_raw([msg])
    assert code(r) == want, (msg[:60], want, r)
    one = r[0] if isinstance(r, list) else r
    assert one["id"] is None or isinstance(one["id"], (int, str)), r
    alive(msg[:40])
# the reply keeps a readable id when the request had one
r = send_raw([b'{"op":"launch","id":"abc"}']); assert r["id"] == "abc" and code(r) == "unknown_op", r
# frames: two body frames, an empty delimiter plus an empty body, many frames
assert code(send_raw([b'{"op":"ping"}', b"more"])) == "bad_frames"
assert code(send_raw([b"", b""])) == "empty"
assert code(send_raw([b"x"] * 20)) == "bad_frames"
alive("frames")
# a batch mixing good and bad requests: one reply per request, in order
r = send_raw([json.dumps([{"op": "ping", "id": 1}, {"op": "recommend", "id": 2, "user": "u001", "k": -5},
                          {"op": "score", "id": 3, "user": "u001", "item": "i002"}, "junk"]).encode()])
assert [x.get("id") for x in r] == [1, 2, 3, None] and code(r[1]) == "bad_value" and code(r[3]) == "bad_request", r
assert "score" in r[2], r

# above --max-frame (16 MB): ZeroMQ drops the connection, no reply; the gateway goes on
t = sock(3000)
t.send(b"x" * (20 << 20))
try:
    raise SystemExit("reply to a 20 MB message: %r" % t.recv())
except zmq.Again:
    pass
t.close()
alive("after 20 MB")

# clients that send and disconnect at once (the replies are dropped, never block the gateway)
for _ in range(20):
    d = sock(); d.send(json.dumps([{"op": "recommend", "user": "u%03d" % i, "k": 50} for i in range(200)]).encode()); d.close()
alive("after disconnects")
# a REQ client (empty delimiter frame) works too
q = ctx.socket(zmq.REQ); q.setsockopt(zmq.RCVTIMEO, 5000); q.setsockopt(zmq.LINGER, 0); q.connect(os.environ["ENDPOINT"])
q.send(b'{"op":"ping","id":"req"}'); assert json.loads(q.recv())["id"] == "req"
st = send_raw([b'{"op":"stats"}'])
assert st["errors"] >= len(cases) and st["limits"]["max_k"] == 100, st
print("%d malformed messages answered; dropped replies %d" % (len(cases) + 5, st["dropped_replies"]))
assert send_raw([b'{"op":"shutdown"}'])["ok"] is True
PY
serve_wait_stopped

# the per-request timeout: with 1 ms, a flood of requests read together cannot all start in time
start_serve --request-timeout-ms 1 --max-batch 256
ENDPOINT=$(cat ready) timeout 60 "$PY" - <<'PY'
import json, os, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.RCVTIMEO, 20000); s.setsockopt(zmq.LINGER, 0); s.connect(os.environ["ENDPOINT"])
batch = json.dumps([{"op": "recommend", "user": "u%03d" % (i % 400), "k": 20} for i in range(256)]).encode()
for _ in range(8): s.send(batch)
codes = {}
for _ in range(8):
    for r in json.loads(s.recv()):
        c = r["error"]["code"] if "error" in r else "ok"
        if c == "ok": assert len(r["items"]) == 20, r
        codes[c] = codes.get(c, 0) + 1
assert set(codes) <= {"ok", "timeout"} and codes.get("timeout", 0) > 0, codes
s.send(b'{"op":"stats"}'); st = json.loads(s.recv()); assert st["timeouts"] == codes["timeout"], (st["timeouts"], codes)
print("request timeout 1 ms:", codes)
s.send(b'{"op":"shutdown"}'); assert json.loads(s.recv())["ok"] is True
PY
serve_wait_stopped
echo "ok: gateway bad input at $NP ranks"
