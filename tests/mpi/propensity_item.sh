# At NP ranks: "will this user buy this item?" (`train propensity --target
# user_item`) on a generated shop, with and without the factor score of an
# implicit MF model.  Checks: the model at NP ranks is bitwise the model at
# 1 rank (logistic/L-BFGS with the MF score, MLP/Adam); 4 sampled negatives
# per purchase; test AUC >= 0.75 without the MF score (measured 0.847)
# and higher with the score of factors trained only on events before the
# cutoff (measured 0.926); an MF model that saw the label window is refused;
# /models/propensity in the same file is left intact.
. "$SRC/tests/lib.sh"
export MKT_QUIET=1
run_np "$NP" gen --users 4000 --items 300 --days 30 --seed 3 --out shop.h5
# the default cutoff: the end of the log minus the 7-day horizon
CUT=$("$PY" -c 'import h5py; print(int(h5py.File("shop.h5", "r").attrs["end_ts"]) - 7 * 86400)')
run_np "$NP" train mf --store shop.h5 --out mf.h5 --implicit --rank 8 --iters 5 --until "$CUT"
run_np "$NP" train mf --store shop.h5 --out mf_all.h5 --implicit --rank 8 --iters 5
expect_fail "$NP" train propensity --store shop.h5 --out x.h5 --target user_item --mf-model mf_all.h5
grep -q "would see the label window" err.txt || fail "an MF model trained past the cutoff was not refused"
run_np "$NP" train propensity --store shop.h5 --out model.h5
"$MKT" digest model.h5 | grep '^/models/propensity/' > user.digest
run_np "$NP" train propensity --store shop.h5 --out model.h5 --target user_item --mf-model mf.h5 --metrics-out ui.json
run_np 1 train propensity --store shop.h5 --out one.h5 --target user_item --mf-model mf.h5
item() { "$MKT" digest "$1" | grep '^/models/propensity_item/'; }
[ "$(item model.h5 | wc -l)" -eq 6 ] || fail "expected 6 datasets in /models/propensity_item"
[ "$(item model.h5)" = "$(item one.h5)" ] || fail "user x item model at $NP ranks differs from 1 rank"
"$MKT" digest model.h5 | grep '^/models/propensity/' | diff - user.digest || fail "/models/propensity changed"
"$PY" - <<'PY' || fail "user_item metrics wrong"
import json
d = json.load(open("ui.json"))
assert d["target"] == "user_item" and d["mf_score"] == 1 and d["negatives"] == 4
n, p = d["train_examples"], d["train_positives"]
assert p > 300 and n == 5 * p, (n, p)
v = d["test"]
assert v["examples"] == d["test_examples"] and v["positives"] * 5 == v["examples"]
assert d["validation"]["examples"] == d["validation_examples"] and d["validation"]["positives"] * 5 == d["validation_examples"]
assert d["auc_without_mf"] >= 0.75, d["auc_without_mf"]
# factors trained before the cutoff still carry the planted tastes
assert v["auc"] > d["auc_without_mf"] + 0.02, (v["auc"], d["auc_without_mf"])
print("AUC with MF %.4f, without %.4f" % (v["auc"], d["auc_without_mf"]))
PY
H="--target user_item --model mlp --hidden 8 --optimizer adam --epochs 4"
run_np "$NP" train propensity --store shop.h5 --out m.h5 $H --mf-model mf.h5
run_np 1 train propensity --store shop.h5 --out m1.h5 $H --mf-model mf.h5
[ "$(item m.h5)" = "$(item m1.h5)" ] || fail "user x item MLP at $NP ranks differs from 1 rank"
expect_fail "$NP" train propensity --store shop.h5 --out x.h5 --target user_item --mf-model shop.h5
grep -q "no /models/mf group" err.txt || fail "no clear message for an mf-model without /models/mf"
expect_fail "$NP" train propensity --store shop.h5 --out x.h5 --target basket
grep -q "target: 'basket'" err.txt || fail "no clear message for a bad target"
echo "ok: user x item propensity at $NP ranks (AUC $(json_get ui.json "['test']['auc']"), without MF $(json_get ui.json "['auc_without_mf']"))"
