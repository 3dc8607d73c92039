# `mkt report` on a small pipeline (gen as CSV, ingest, features, mf,
# propensity, uplift, segments, strategy), in directories whose names hold
# spaces and quotes, with a promotion whose name is hostile HTML:
# every PNG is a real PNG of a sensible size, index.html parses, every image
# it shows exists, the totals table lists the four policies, names are
# escaped; the same data files at 1 and 2 ranks; a missing strategy, a model
# file without the propensity validation datasets, a missing model file and
# a missing gnuplot are handled as documented (docs/report.md).
. "$SRC/tests/lib.sh"
D="$WORK/in put's \"dir\""
mkdir -p "$D/metrics"
M="$D/metrics"
HOSTILE='free <b>"ship"</b> & '"'co'"

run_np 2 gen --users 2000 --items 300 --days 21 --seed 5 --factors 4 --ratings-per-user 20 \
  --csv "$D/csv" --out "$D/generated.h5" >/dev/null 2>&1
# rename one promotion to a name full of HTML and quote characters
"$PY" - "$D/csv/campaign.csv" "$HOSTILE" <<'EOF'
import csv, sys
path, name = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(path, newline="")))
t = rows[0].index("treatment")
n = 0
for r in rows[1:]:
    if r[t] == "free_shipping":
        r[t] = name; n += 1
assert n > 0
csv.writer(open(path, "w", newline="")).writerows(rows)
EOF
S="$D/shop.h5"; MOD="$D/model.h5"
run_np 2 ingest --format events --input "$D/csv/events.csv" --items "$D/csv/items.csv" \
  --campaign "$D/csv/campaign.csv" --out "$S" >/dev/null 2>&1
run_np 2 features --store "$S" >/dev/null 2>&1
run_np 2 train mf --store "$S" --out "$MOD" --rank 4 --iters 6 --lambda 0.02 --metrics-out "$M/train_mf.json" >/dev/null 2>&1
run_np 2 train propensity --store "$S" --out "$MOD" --horizon-days 7 --metrics-out "$M/train_propensity.json" >/dev/null 2>&1
run_np 2 train uplift --store "$S" --out "$MOD" --method t --metrics-out "$M/train_uplift.json" >/dev/null 2>&1
run_np 2 train segments --store "$S" --out "$MOD" --k 4 >/dev/null 2>&1

STRAT="$D/strategy.h5"
if "$MKT" strategy --help >/dev/null 2>&1; then
  run_np 2 strategy --store "$S" --models "$MOD" --budget 1500 --out "$STRAT" \
    >/dev/null 2>"$WORK/strategy.err" || { cat "$WORK/strategy.err" >&2; fail "mkt strategy failed"; }
  echo "strategy file: written by mkt strategy"
  SOURCE=mkt
else
  # this build has no strategy command: a file with its schema (docs/report.md)
  "$PY" - "$STRAT" <<'EOF'
import sys, h5py, numpy as np
S = lambda xs: np.array([x.encode() for x in xs], dtype="S%d" % max(len(x.encode()) for x in xs))
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["format"] = np.bytes_("mkt-strategy"); f.attrs["schema_version"] = np.int64(1)
    g = f.create_group("strategy"); n = 2000
    g["segment"] = (np.arange(n) % 4).astype(np.int32)
    g["promotion"] = (np.arange(n) % 5 - 1).astype(np.int32)
    g["expected_profit"] = np.where(g["promotion"][:] >= 0, 1.5, 0.0)
    t = g.create_group("totals")
    t["policies"] = S(["strategy", "no_promotion", "cheapest_promotion", "propensity_rank"])
    t["metric_names"] = S(["incremental_conversions", "incremental_revenue", "incremental_margin",
                           "promotion_cost", "incremental_profit", "roi"])
    v = np.array([[120, 9000, 3000, 1400, 1600, 1.14], [0, 0, 0, 0, 0, np.nan],
                  [200, 12000, 4000, 5000, -1000, -0.2], [60, 5000, 1500, 1400, 100, 0.07]])
    t["value"] = v; t["lo"] = v - 50; t["hi"] = v + 50
    b = g.create_group("budget_curve"); B = np.linspace(0, 5000, 11)
    b["budget"] = B; b["incremental_profit"] = 2500 * (1 - np.exp(-B / 1500))
    b["promotion_cost"] = B; b["users_treated"] = B / 2
    o = g.create_group("ope"); o["names"] = S(["ipw", "dr"])
    o["value"] = np.array([0.8, 0.7]); o["lo"] = np.array([0.2, 0.3]); o["hi"] = np.array([1.4, 1.1])
    o.attrs["predicted"] = 0.75; o.attrs["rows"] = np.int64(n)
    g.attrs["budget"] = 1500.0; g.attrs["lambda"] = 0.5
EOF
  echo "strategy file: made with h5py (mkt strategy is not built)"
  SOURCE=h5py
fi

OUT="$D/re port's \"out\""
run_np 2 report --store "$S" --models "$MOD" --strategy "$STRAT" --metrics-dir "$M" --out "$OUT" \
  --metrics-out "$WORK/report.json" 2>"$WORK/report.err" || { cat "$WORK/report.err" >&2; fail "mkt report failed"; }

check_page() {  # DIR EXPECTED_PLOTS... ; prints nothing, fails on a problem
  "$PY" - "$@" <<'EOF'
import os, struct, sys
from html.parser import HTMLParser
out, expected = sys.argv[1], sys.argv[2:]
html = open(os.path.join(out, "index.html"), encoding="utf-8").read()

class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.imgs, self.tags, self.cells, self.row, self.in_cell, self.text = [], set(), [], None, False, []
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "tr":
            self.row = []
        if tag in ("td", "th"):
            self.in_cell = True; self.row.append("")
    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.in_cell = False
        if tag == "tr" and self.row is not None:
            self.cells.append(self.row); self.row = None
    def handle_data(self, d):
        self.text.append(d)
        if self.in_cell and self.row is not None:
            self.row[-1] += d

p = Page(); p.feed(html); p.close()
allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "nav", "a", "ul", "li", "figure",
           "img", "figcaption", "b", "q", "code", "table", "tr", "th", "td", "br", "small"}
assert p.tags <= allowed, "unexpected tags (escaping failed?): %s" % (p.tags - allowed)
assert "script" not in p.tags
for src in p.imgs:
    assert "/" not in src and os.path.exists(os.path.join(out, src)), "img %s missing" % src
names = [os.path.splitext(s)[0] for s in p.imgs]
for e in expected:
    assert e in names, "plot %s not in the page (it has %s)" % (e, names)
for src in p.imgs:
    b = open(os.path.join(out, src), "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "%s: no PNG signature" % src
    assert b[12:16] == b"IHDR", "%s: no IHDR" % src
    w, h = struct.unpack(">II", b[16:24])
    assert 500 <= w <= 2000 and 400 <= h <= 1200, "%s: %dx%d" % (src, w, h)
    assert len(b) > 8000, "%s: only %d bytes" % (src, len(b))
    for ext in (".dat", ".gp"):
        assert os.path.getsize(os.path.join(out, src[:-4] + ext)) > 0
print("page ok: %d plots" % len(p.imgs))
EOF
}

plots="mf_training propensity_training roc calibration gains qini_1 qini_2 qini_3 segments budget_curve totals ope"
check_page "$OUT" $plots || fail "report page checks"

# the totals table lists the four policies; the hostile promotion name is escaped everywhere
"$PY" - "$OUT/index.html" "$HOSTILE" <<'EOF' || fail "table or escaping"
import html, sys
page = open(sys.argv[1], encoding="utf-8").read()
name = sys.argv[2]
assert '<tr class="ours"><td>mkt strategy</td>' in page, "no highlighted strategy row"
for label in ("mkt strategy", "no promotion", "cheapest promotion to all", "by purchase propensity"):
    assert "<td>%s</td>" % label in page, "policy %s not in the totals table" % label
assert name not in page, "the raw promotion name reached the page"
esc = html.escape(name, quote=True).replace("&#x27;", "&#39;")
assert esc in page, "escaped promotion name %r not in the page" % esc
print("totals table and escaping ok")
EOF
# the gnuplot script got the name as one quoted string
grep -qF "free <b>\"ship\"</b> & ''co''" "$OUT"/qini_*.gp || fail "hostile name not quoted in the Qini script"

# the same data at 1 rank (plots are computed on rank 0 from rank-count independent files)
OUT1="$WORK/out1"
run_np 1 report --store "$S" --models "$MOD" --strategy "$STRAT" --metrics-dir "$M" --out "$OUT1" 2>/dev/null
for f in "$OUT"/*.dat; do cmp -s "$f" "$OUT1/$(basename "$f")" || fail "$(basename "$f") differs at 1 rank"; done

# no strategy given: the page still renders, the strategy section says what to run
OUT2="$WORK/no strategy"
run_np 2 report --store "$S" --models "$MOD" --metrics-dir "$M" --out "$OUT2" 2>/dev/null
check_page "$OUT2" roc qini_1 segments || fail "page without a strategy"
"$PY" - "$OUT2/index.html" <<'EOF' || fail "missing-strategy section"
import sys
page = open(sys.argv[1], encoding="utf-8").read()
sec = page[page.index('id="strategy"'):]
assert 'class="missing"' in sec and "no --strategy file given" in sec and "mkt strategy --store" in sec, sec[:500]
assert "budget_curve.png" not in page and "totals.png" not in page
print("missing strategy explained")
EOF

# a model file without the propensity test datasets: ROC/calibration/gains omitted with a note
cp "$MOD" "$WORK/old_model.h5"
"$PY" -c "
import h5py, sys
with h5py.File(sys.argv[1], 'a') as f:
    del f['/models/propensity/test_score']; del f['/models/propensity/test_label']
    del f['/models/uplift/holdout']" "$WORK/old_model.h5"
OUT3="$WORK/old model"
run_np 2 report --store "$S" --models "$WORK/old_model.h5" --out "$OUT3" 2>/dev/null
check_page "$OUT3" qini_1 qini_2 qini_3 segments || fail "page on an old model file"
grep -q "test_score" "$OUT3/index.html" || fail "absent test datasets not explained"
! grep -q 'src="roc.png"' "$OUT3/index.html" || fail "ROC shown without validation data"
# Qini curves from the recomputed hold-out equal those from /models/uplift/holdout
for t in 1 2 3; do cmp -s "$OUT/qini_$t.dat" "$OUT3/qini_$t.dat" || fail "qini_$t.dat differs without the holdout dataset"; done

# a model file that does not exist: non-zero exit naming it
expect_fail 2 report --models "$D/no such model.h5" --out "$WORK/x"
grep -q "no such model.h5" "$WORK/err.txt" || fail "error does not name the missing model file: $(cat "$WORK/err.txt")"
# no gnuplot: a clear error
expect_fail 2 report --models "$MOD" --out "$WORK/y" --gnuplot /nonexistent/gnuplot
grep -q "gnuplot not found" "$WORK/err.txt" || fail "missing gnuplot not reported: $(cat "$WORK/err.txt")"
# metrics
[ "$(json_get "$WORK/report.json" "['plots'].__len__()")" -eq 12 ] || fail "report metrics: plots"
echo "ok: report with 12 plots (strategy from $SOURCE), escaping, missing inputs and errors"
