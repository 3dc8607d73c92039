# Writing a model into an existing model file never damages it (h5store.h:
# copy to MODEL.tmp, write, fsync, rename).  For each fault the run must fail
# with a message naming the path and the OS reason, and the previous file
# must be byte-identical and still load (`mkt eval mf`, `mkt digest`):
#  1. the disk fills while the new group is written (a 320 KiB tmpfs);
#  2. the disk is already too full to copy the old file;
#  3. the directory is not writable.  We run as root, which ignores mode
#     bits, so "unwritable" is a read-only bind mount (EROFS), or failing
#     that an immutable directory (chattr +i: EPERM even for root);
#  4. the directory does not exist (a new file).
# Plus the normal path: a second model group added to the file keeps the
# first one bit for bit.  Mount points live under a mktemp directory and are
# unmounted on exit.
. "$SRC/tests/lib.sh"
MNT=$(mktemp -d /tmp/mkt-faults.XXXXXX)
cleanup() {
  for d in "$MNT/full" "$MNT/ro"; do mountpoint -q "$d" 2>/dev/null && umount "$d"; done
  [ -d "$MNT/imm" ] && chattr -i "$MNT/imm" 2>/dev/null
  rm -rf "$MNT"
}
trap cleanup EXIT

run_np 2 gen --users 1500 --items 150 --days 12 --factors 4 --rating-noise 0.5 --ratings-per-user 20 \
  --seed 7 --out shop.h5 >/dev/null 2>&1
SMALL=(train mf --store shop.h5 --rank 2 --iters 2 --lambda 0.02)
BIG=(train mf --store shop.h5 --rank 24 --iters 2 --lambda 0.02)

# The old file $1 is unchanged (bytes = $2's) and loads; no temporary left.
check_intact() {
  local f=$1 ref=$2 what=$3
  cmp -s "$f" "$ref" || fail "$what: $f changed"
  [ ! -e "$f.tmp" ] || fail "$what: $f.tmp left behind"
  run_np 2 eval mf --store shop.h5 --model "$f" --metrics-out e.json >/dev/null 2>&1 || fail "$what: $f no longer loads"
  "$MKT" digest "$f" >/dev/null || fail "$what: digest of $f fails"
  echo "ok: $what: $(grep -m1 'mkt: .*error: ' err.txt)"
}

# normal path: propensity added to a file holding /models/mf keeps mf's bits
run_np 2 "${SMALL[@]}" --out both.h5 >/dev/null 2>&1
"$MKT" digest both.h5 | grep /models/mf >mf1.txt
run_np 2 train propensity --store shop.h5 --out both.h5 --epochs 3 >/dev/null 2>&1
"$MKT" digest both.h5 | grep /models/mf >mf2.txt
cmp -s mf1.txt mf2.txt || fail "adding /models/propensity changed /models/mf"
"$MKT" digest both.h5 | grep -q /models/propensity/params || fail "no /models/propensity added"
[ ! -e both.h5.tmp ] || fail "both.h5.tmp left behind"
echo "ok: a second group added by copy + rename; the first unchanged"

# 1 and 2: disk full
mkdir -p "$MNT/full"
if mount -t tmpfs -o size=320k mkt-faults "$MNT/full" 2>mount.err; then
  run_np 2 "${SMALL[@]}" --out "$MNT/full/m.h5" >/dev/null 2>&1
  cp "$MNT/full/m.h5" ref.h5
  echo "disk full: old model $(stat -c %s ref.h5) bytes on a 320 KiB tmpfs"
  expect_fail 2 "${BIG[@]}" --out "$MNT/full/m.h5"
  grep -q "cannot write .* to $MNT/full/m.h5.tmp: No space left on device; $MNT/full/m.h5 is unchanged" err.txt \
    || fail "disk full while writing: unclear error: $(grep mkt: err.txt)"
  check_intact "$MNT/full/m.h5" ref.h5 "disk full during the write"
  # fill the rest so even the copy fails
  dd if=/dev/zero of="$MNT/full/filler" bs=4k count=1000 2>/dev/null || true
  expect_fail 2 "${SMALL[@]}" --out "$MNT/full/m.h5"
  grep -q "cannot write $MNT/full/m.h5.tmp (a copy of $MNT/full/m.h5 to update): No space left on device" err.txt \
    || fail "disk full before the copy: unclear error: $(grep mkt: err.txt)"
  check_intact "$MNT/full/m.h5" ref.h5 "disk full before the copy"
  umount "$MNT/full"
else
  echo "SKIP disk-full cases: cannot mount a tmpfs here: $(cat mount.err)"
fi

# 3: unwritable directory
mkdir -p "$MNT/rosrc" "$MNT/ro"
run_np 2 "${SMALL[@]}" --out "$MNT/rosrc/m.h5" >/dev/null 2>&1
cp "$MNT/rosrc/m.h5" ref.h5
if mount --bind "$MNT/rosrc" "$MNT/ro" 2>mount.err && mount -o remount,bind,ro "$MNT/ro" 2>>mount.err; then
  dir="$MNT/ro"; reason="Read-only file system"
else
  echo "no read-only bind mount ($(cat mount.err)); using chattr +i"
  mountpoint -q "$MNT/ro" && umount "$MNT/ro"
  mkdir -p "$MNT/imm" && cp ref.h5 "$MNT/imm/m.h5"
  chattr +i "$MNT/imm" 2>chattr.err || fail "neither a read-only bind mount nor chattr +i works here: $(cat mount.err chattr.err)"
  dir="$MNT/imm"; reason="Operation not permitted"
fi
touch "$dir/probe" 2>/dev/null && fail "root can still write into $dir: the test would prove nothing"
expect_fail 2 "${BIG[@]}" --out "$dir/m.h5"
grep -q "cannot create $dir/m.h5.tmp (a copy of $dir/m.h5 to update): $reason" err.txt \
  || fail "unwritable directory: unclear error: $(grep mkt: err.txt)"
check_intact "$dir/m.h5" ref.h5 "unwritable directory"

# 4: a directory that does not exist (new file)
expect_fail 2 "${SMALL[@]}" --out "$WORK/no/such/dir/m.h5"
grep -q "cannot create $WORK/no/such/dir/m.h5.tmp: No such file or directory" err.txt \
  || fail "missing directory: unclear error: $(grep mkt: err.txt)"
echo "ok: missing directory reported"
echo "ok: model write faults"
