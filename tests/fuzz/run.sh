# Build the libFuzzer target for io/protocol.c with clang
# (-fsanitize=fuzzer,address,undefined) and run it for a bounded time on the
# seed corpus in tests/fuzz/corpus.  Env: SRC (the source tree), WORK (a
# scratch directory), FUZZ_SECONDS (default 20).  Exit 0 when no crash, leak
# or sanitizer report was found; a crash leaves its input in $WORK.
set -euo pipefail
: "${SRC:?}" "${WORK:?}"
SECONDS_TO_RUN=${FUZZ_SECONDS:-20}
rm -rf "$WORK" && mkdir -p "$WORK/corpus"
cd "$WORK"
CLANG=$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
[ -n "$CLANG" ] || { echo "FAIL: clang is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
"$CLANG" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$SRC/io" "$SRC/tests/fuzz/fuzz_protocol.c" "$SRC/io/protocol.c" $(pkg-config --cflags --libs jansson) \
  -o fuzz_protocol
cp "$SRC"/tests/fuzz/corpus/* corpus/
# a fresh corpus directory: what the run learns stays in $WORK, the seeds stay small
./fuzz_protocol -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 corpus 2>fuzz.log || { tail -40 fuzz.log >&2; echo "FAIL: the fuzzer found a problem (input in $WORK)" >&2; exit 1; }
grep -E "^stat::number_of_executed_units|^stat::peak_rss" fuzz.log || true
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
[ "${runs:-0}" -gt 1000 ] || { echo "FAIL: only ${runs:-0} runs in $SECONDS_TO_RUN s" >&2; exit 1; }
echo "ok: fuzz_protocol ran $runs inputs in $SECONDS_TO_RUN s without a finding"
