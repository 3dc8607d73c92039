# The README's commands as a newcomer runs them: every ```sh block from the
# marker "tests/e2e/readme.sh runs every sh block" down to "## On a Slurm
# cluster" is extracted from README.md (so a change there changes what runs
# here) and run in a fresh folder outside the repository, with small inputs:
# the public data sets are replaced by small files of the same layouts in
# $DATA, and the documented sizes by small ones.  Checks: every command
# succeeds, the outputs land under out/ of that folder (nothing else is
# written there, nothing in the repository), the gateway example answers
# `strategy` with a segment name, and `mkt query` exits 1 on an error reply.
. "$SRC/tests/lib.sh"
unset MKT_QUIET

# 1. the blocks, with the substitutions a test needs (each must still match)
"$PY" - "$SRC/README.md" "$MKT" "$WORK/data" >readme_cmds.sh <<'PY'
import re, sys
readme, mkt, data = sys.argv[1:4]
text = open(readme).read()
start = text.index("tests/e2e/readme.sh runs every sh block")
end = text.index("## On a Slurm cluster", start)
blocks = re.findall(r"```sh\n(.*?)```", text[start:end], re.S)
assert len(blocks) >= 3, "README: fewer sh blocks than expected: %d" % len(blocks)
script = "\n".join(blocks)
subs = [(r"^MKT_HOME=\$PWD.*$", "MKT_HOME=" + sys.argv[1].rsplit("/", 1)[0]),
        (r"^MKT=\$MKT_HOME/build/mkt$", "MKT=" + mkt),
        (r"--users 100000 --items 10000", "--users 1500 --items 200"),
        (r"^DATA=\$HOME/mkt-data.*$", "DATA=" + data)]
for pat, rep in subs:
    script, n = re.subn(pat, rep, script, flags=re.M)
    assert n >= 1, "README no longer has a line matching %r" % pat
print("set -euo pipefail\nset -x")
print(script)
PY

# 2. small inputs in the layouts of the public data sets and of a shop's own export
mkdir -p "$WORK/data" "$WORK/fresh"
"$PY" - "$WORK/data" "$WORK/fresh" <<'PY'
import csv, sys, numpy as np, datetime as dt
data, fresh = sys.argv[1:3]
rng = np.random.default_rng(11)
# UCI Online Retail layout, 120 days; one row in five without CustomerID
t0 = dt.datetime(2010, 9, 1, 8, 0)
with open(data + "/online_retail.csv", "w", newline="") as f:
    w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
    w.writerow(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"])
    inv = 536365
    for c in range(400):
        rate = rng.gamma(1.0, 0.05)
        for day in range(120):
            if rng.random() < rate:
                inv += 1
                when = (t0 + dt.timedelta(days=day, minutes=int(rng.integers(600)))).strftime("%Y-%m-%d %H:%M:%S")
                for _ in range(int(rng.integers(1, 4))):
                    s = int(rng.integers(150))
                    cust = "" if rng.random() < 0.2 else 12000 + c
                    w.writerow([str(inv), "SC%03d" % s, "ITEM, NO. %d" % s, int(rng.integers(1, 12)), when,
                                round(float(rng.uniform(0.5, 20)), 2), cust, "United Kingdom"])
# Hillstrom layout (CRLF line ends, as distributed)
with open(data + "/hillstrom.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\r\n")
    w.writerow(["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel",
                "segment", "visit", "conversion", "spend"])
    for i in range(3000):
        seg = ["Mens E-Mail", "Womens E-Mail", "No E-Mail"][i % 3]
        h = round(float(rng.gamma(2, 100)), 2)
        p = 0.1 + (0.05 if seg != "No E-Mail" else 0)
        v = int(rng.random() < p); c = int(v and rng.random() < 0.1)
        w.writerow([int(rng.integers(1, 13)), "2) $100 - $200", h, int(rng.integers(2)), int(rng.integers(2)),
                    ["Urban", "Surburban", "Rural"][i % 3], int(rng.integers(2)), ["Web", "Phone"][i % 2], seg,
                    v, c, round(float(rng.gamma(2, 50)), 2) if c else 0])
# MovieLens 1M layout
with open(data + "/ratings.dat", "w") as f:
    for u in range(1, 201):
        for m in rng.choice(300, 20, replace=False):
            f.write("%d::%d::%d::%d\n" % (u, m + 1, int(rng.integers(1, 6)), 978300760 + int(rng.integers(10**6))))
# a shop's own export: events log, catalogue and campaign in the folder the commands run in
with open(fresh + "/log.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer_id", "product_id", "event_type", "event_time", "price"])
    for u in range(200):
        for _ in range(15):
            typ = ["view", "view", "cart", "purchase"][int(rng.integers(4))]
            w.writerow(["c%03d" % u, "p%02d" % int(rng.integers(50)), typ,
                        "2026-01-%02d 10:00:00" % int(rng.integers(1, 29)), 9.99 if typ == "purchase" else 0])
with open(fresh + "/catalogue.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["item", "category", "brand", "price", "cost", "stock"])
    for i in range(50):
        w.writerow(["p%02d" % i, "cat%d" % (i % 5), "brand%d" % (i % 7), 9.99, 5.0, 100])
with open(fresh + "/campaign.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["user", "treatment", "visit", "conversion", "spend", "loyalty"])
    for u in range(200):
        w.writerow(["c%03d" % u, ["control", "coupon5"][u % 2], int(rng.integers(2)), int(rng.random() < 0.1), 0,
                    round(float(rng.random()), 3)])
PY

# 3. run them in the fresh folder; the repository must not change
# (new untracked files only: edits to tracked files while the test runs are not its business)
untracked() { git -C "$SRC" status --porcelain --untracked-files=all 2>/dev/null | grep '^??' || true; }
before=$(untracked)
cd "$WORK/fresh"
ls >../inputs.txt
timeout -k 5 600 bash ../readme_cmds.sh >../readme.out 2>../readme.err \
  || fail "a README command failed: $(grep -v '^\[' ../readme.err | tail -15)"
after=$(untracked)
[ "$before" = "$after" ] || fail "the README's commands wrote into the repository: $(diff <(echo "$before") <(echo "$after"))"

# 4. outputs under out/ only
ls | grep -v '^out$' >../now.txt
cmp -s ../inputs.txt ../now.txt || fail "outputs outside out/: $(diff ../inputs.txt ../now.txt)"
for f in shop.h5 features.json demo/shop.h5 demo/model.h5 demo/strategy.h5 retail.h5 retail.json retail_model.h5 \
         hillstrom.h5 hill_model.h5 ml.h5 shop_events.h5; do
  [ -s "out/$f" ] || fail "out/$f was not written"
done
[ ! -e out/ready ] || fail "the gateway left its ready file behind"

# 5. the gateway example: recommend and strategy answered, the segment by name
"$PY" - ../readme.out <<'PY'
import json, sys
replies = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"op"' in l]
ops = {r["op"]: r for r in replies}
assert "error" not in json.dumps(replies), replies
assert len(ops["recommend"]["items"]) == 10, ops["recommend"]
s = ops["strategy"]
assert isinstance(s["segment"], str) and s["segment"] and isinstance(s["segment_index"], int), s
assert ops["shutdown"]["ok"] is True
PY

# 6. mkt query on an error reply (the README says it exits 1): against a gateway of the same models
serve_start 1 --store out/demo/shop.h5 --models out/demo/model.h5 --allow-shutdown
set +e
"$MKT" query --connect "$endpoint" '{"op":"strategy","user":"u0042"}' >q.json 2>q.err
st=$?
set -e
[ "$st" -eq 1 ] && grep -q model_missing q.json || fail "error reply: status $st, $(cat q.json q.err)"
"$MKT" query --connect "$endpoint" '{"op":"shutdown"}' >/dev/null
serve_wait_stopped
echo "README commands: ok ($(grep -c '^+ mpirun' ../readme.err) mpirun commands)"
