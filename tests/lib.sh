# Shared helpers for the shell tests (sourced). ctest sets MKT, NP, SRC, WORK.
set -euo pipefail
: "${MKT:?}" "${SRC:?}" "${WORK:?}"
NP=${NP:-2}
. "$SRC/scripts/env.sh"
export MKT_QUIET=${MKT_QUIET:-}
rm -rf "$WORK" && mkdir -p "$WORK"
cd "$WORK"

PY=/usr/bin/python3  # Debian's python3, with python3-h5py from apt
fail() { echo "FAIL: $*" >&2; exit 1; }

# mpirun with a hard time limit: a hang is a failure, never a stuck CI.
run_np() { local np=$1; shift; timeout -k 5 300 mpirun -np "$np" "$MKT" "$@"; }

# Run, expecting failure; stores stderr in $WORK/err.txt and the status in $status.
expect_fail() {
  local np=$1; shift
  set +e
  timeout -k 5 120 mpirun -np "$np" "$MKT" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
  status=$?
  set -e
  [ "$status" -ne 0 ] || fail "expected failure of: mkt $* (exit 0)"
  [ "$status" -ne 124 ] && [ "$status" -ne 137 ] || fail "mkt $* hung (killed by timeout)"
}

json_get() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$1" "$2"; }
