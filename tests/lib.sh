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
  # no 2 s grace between SIGTERM and SIGKILL for the ranks of a failed job
  OMPI_MCA_odls_base_sigkill_timeout=0 timeout -k 5 120 mpirun -np "$np" "$MKT" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
  status=$?
  set -e
  [ "$status" -ne 0 ] || fail "expected failure of: mkt $* (exit 0)"
  [ "$status" -ne 124 ] && [ "$status" -ne 137 ] || fail "mkt $* hung (killed by timeout)"
}

json_get() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$1" "$2"; }

# `mkt serve` in the background at NP ranks on a free loopback port:
#   serve_start NP OPTIONS...   (--store, --models and the rest; output in serve.out/serve.err)
# waits for its ready file, sets $server (the pid) and $endpoint, and kills it
# if the test exits early.  It stops by itself after 60 s without requests, so
# a failing test never leaves a gateway behind.
serve_start() {
  local np=$1; shift
  rm -f ready
  timeout -k 5 120 mpirun -np "$np" "$MKT" serve --bind 'tcp://127.0.0.1:*' --ready-file ready --timeout-ms 60000 \
    "$@" >serve.out 2>serve.err &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 300); do
    [ -s ready ] && break
    kill -0 $server 2>/dev/null || fail "serve exited before it was ready: $(cat serve.err)"
    sleep 0.1
  done
  [ -s ready ] || fail "serve not ready within 30 s"
  endpoint=$(cat ready)
}

# After a shutdown request: the gateway must be gone within 10 s with status 0.
serve_wait_stopped() {
  for _ in $(seq 100); do kill -0 $server 2>/dev/null || break; sleep 0.1; done
  kill -0 $server 2>/dev/null && fail "serve still running 10 s after shutdown"
  wait $server || fail "serve exited with status $?: $(cat serve.err)"
  trap - EXIT
}
