# lib.sh — what every libFuzzer script here shares: the scratch folder, clang
# and its flags, the bounded run and the check of its outcome.
#   . "$SRC/tests/fuzz/lib.sh"; fuzz_setup 20      (default seconds)
#   "$CLANG" "${FUZZ_CFLAGS[@]}" ... -o fuzz_x;  fuzz_run fuzz_x MAX_LEN MIN_RUNS [RSS_MB]
# Env: SRC (the source tree), WORK (a scratch folder, emptied), FUZZ_SECONDS.
set -euo pipefail
: "${SRC:?}" "${WORK:?}"

fuzz_setup() {
  SECONDS_TO_RUN=${FUZZ_SECONDS:-$1}
  rm -rf "$WORK" && mkdir -p "$WORK/corpus"
  cd "$WORK"
  CLANG=$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$CLANG" ] || { echo "FAIL: clang is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
  FUZZ_CFLAGS=(-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
}

# Run ./TARGET on corpus/ for SECONDS_TO_RUN; fail on a finding or when it ran
# fewer than MIN_RUNS inputs (a target too slow to fuzz anything).
fuzz_run() {
  local target=$1 max_len=$2 min_runs=$3 rss=${4:-2048}
  ./"$target" -max_total_time="$SECONDS_TO_RUN" -max_len="$max_len" -timeout=10 -rss_limit_mb="$rss" \
    -print_final_stats=1 corpus 2>fuzz.log >/dev/null \
    || { tail -40 fuzz.log >&2; echo "FAIL: the fuzzer found a problem (input in $WORK)" >&2; exit 1; }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss" fuzz.log || true
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
  [ "${runs:-0}" -gt "$min_runs" ] || { echo "FAIL: only ${runs:-0} runs in $SECONDS_TO_RUN s" >&2; exit 1; }
  echo "ok: $target ran $runs inputs in $SECONDS_TO_RUN s without a finding"
}
