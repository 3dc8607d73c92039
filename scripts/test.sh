#!/usr/bin/env bash
# The README's second command: install what is missing, build (warnings are
# errors), run every test; then the same tests in an AddressSanitizer +
# UndefinedBehaviorSanitizer build.  MKT_SKIP_SANITIZE=1 skips the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
jobs=2
echo "== tests (release build) ==" >&2
(cd build && ctest --output-on-failure -j"$jobs")
if [ "${MKT_SKIP_SANITIZE:-0}" != 1 ]; then
  MKT_SANITIZE=1 scripts/setup.sh
  echo "== tests (ASan + UBSan build) ==" >&2
  # Open MPI's own allocations are never freed: leak checks only outside MPI runs.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -j"$jobs")
fi
echo "== all tests passed ==" >&2
