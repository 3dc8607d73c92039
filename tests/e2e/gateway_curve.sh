# mkt serve with CURVE: keys from `mkt serve --gen-keys`, a client with a key
# of --curve-clients gets answers but no operator op (read-only), a key of
# --curve-operators may also reload and shut down (no token); a client
# without CURVE, or with a key in neither list, gets nothing (no reply: the
# handshake is refused); a readable secret key is refused.
. "$SRC/tests/lib.sh"
NP=2
run_np 1 gen --users 300 --items 40 --days 5 --seed 2 --out shop.h5 >/dev/null
run_np 1 train mf --store shop.h5 --out model.h5 --rank 3 --iters 2 >/dev/null

"$MKT" serve --gen-keys keys >/dev/null
"$MKT" serve --gen-keys intruder >/dev/null
for f in server.key client.key operator.key; do
  [ "$(stat -c %a keys/$f)" = 600 ] || fail "keys/$f has mode $(stat -c %a keys/$f), want 600"
done
[ "$(wc -c < keys/server.pub)" -eq 41 ] || fail "server.pub is not one 40-character Z85 key"
cmp -s keys/client.pub keys/clients.pub || fail "clients.pub should hold client.pub"
cmp -s keys/operator.pub keys/operators.pub || fail "operators.pub should hold operator.pub"
! cmp -s keys/client.pub keys/operator.pub || fail "the client and the operator key pairs are the same"

chmod 644 keys/server.key
expect_fail 1 serve --store shop.h5 --models model.h5 --curve-secret-key keys/server.key --curve-clients keys/clients.pub
grep -q "chmod 600" "$WORK/err.txt" || fail "a readable secret key was not refused clearly: $(cat "$WORK/err.txt")"
chmod 600 keys/server.key
expect_fail 1 serve --store shop.h5 --models model.h5 --curve-secret-key keys/server.key
grep -q "go together" "$WORK/err.txt" || fail "--curve-secret-key without --curve-clients: $(cat "$WORK/err.txt")"
expect_fail 1 serve --store shop.h5 --models model.h5 --curve-secret-key keys/server.key --curve-clients keys/clients.pub \
  --allow-shutdown
grep -q -- "--allow-shutdown does not go with CURVE" "$WORK/err.txt" || fail "--allow-shutdown with CURVE: $(cat "$WORK/err.txt")"

serve_start "$NP" --store shop.h5 --models model.h5 --curve-secret-key keys/server.key --curve-clients keys/clients.pub \
  --curve-operators keys/operators.pub

# an allowed client
"$MKT" query --connect "$endpoint" --curve-server-key keys/server.pub --curve-client-key keys/client.key \
  --request '{"op":"ping","id":1}' >q.json || fail "allowed CURVE client got no reply: $(cat serve.err)"
grep -q '"pong":true' q.json || fail "ping over CURVE: $(cat q.json)"
"$MKT" query --connect "$endpoint" --curve-server-key keys/server.pub --curve-client-key keys/client.key \
  --request '{"op":"stats"}' >q.json
grep -q '"curve":true' q.json || fail "stats does not say curve: $(cat q.json)"

# a plain client and a client with a key that is not allowed: no reply at all
for how in plain intruder; do
  extra=()
  [ $how = intruder ] && extra=(--curve-server-key keys/server.pub --curve-client-key intruder/client.key)
  set +e
  timeout 20 "$MKT" query --connect "$endpoint" "${extra[@]}" --request '{"op":"ping"}' --timeout-ms 1500 >q.json 2>qerr.txt
  st=$?
  set -e
  [ "$st" -eq 1 ] && [ ! -s q.json ] && grep -q "no reply" qerr.txt || fail "$how client: status $st, $(cat q.json qerr.txt)"
done

# python3-zmq: the same with the library's own CURVE client; operator ops are refused to the client key
# (read-only) and accepted from the operator key (no token)
ENDPOINT=$endpoint timeout 60 "$PY" - <<'PY'
import json, os, zmq
ctx = zmq.Context()
def key(p): return open(p, "rb").read().strip()
def client(secret_file):
    s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.RCVTIMEO, 3000); s.setsockopt(zmq.LINGER, 0)
    if secret_file:
        sec = key(secret_file); s.curve_secretkey = sec; s.curve_publickey = zmq.curve_public(sec)
        s.curve_serverkey = key("keys/server.pub")
    s.connect(os.environ["ENDPOINT"]); return s
def ask(s, req):
    s.send(json.dumps(req).encode()); return json.loads(s.recv())
for who in (None, "intruder/client.key"):
    s = client(who)
    try:
        r = ask(s, {"op": "ping"}); raise SystemExit("%s got a reply: %r" % (who or "plain client", r))
    except zmq.Again:
        pass
ok = client("keys/client.key")
assert ask(ok, {"op": "ping", "id": 2})["pong"] is True
assert ask(ok, {"op": "stats"})["curve"] is True
for op in ("reload", "shutdown"):
    r = ask(ok, {"op": op, "id": 3})
    assert r.get("error", {}).get("code") == "forbidden" and "--curve-operators" in r["error"]["message"], r
op = client("keys/operator.key")
r = ask(op, {"op": "reload", "id": 3})
assert r.get("started") is True, r
assert ask(ok, {"op": "ping", "id": 4})["pong"] is True
assert ask(op, {"op": "shutdown"})["ok"] is True
PY

serve_wait_stopped
echo "ok: CURVE"
