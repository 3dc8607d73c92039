# Build the libFuzzer target of the job-file parser (cli/jobfile.c via
# mkt_job_check, tests/fuzz/fuzz_jobfile.c) with clang
# (-fsanitize=fuzzer,address,undefined on the target and the command-line
# sources; the rest of mkt from the release build's libraries) and run it for
# a bounded time on the job files of jobs/ as seeds.  Env: SRC, WORK, LIBDIR
# (the build directory with libmkt_stages.a, libmkt_io.a, libmkt_mpi.a and libmkt_core.a), FUZZ_SECONDS
# (default 10).  Exit 0 when no crash or sanitizer report was found; a crash
# leaves its input in $WORK.
set -euo pipefail
: "${SRC:?}" "${WORK:?}" "${LIBDIR:?}"
SECONDS_TO_RUN=${FUZZ_SECONDS:-10}
rm -rf "$WORK" && mkdir -p "$WORK/corpus"
cd "$WORK"
. "$SRC/scripts/env.sh"
CLANG=$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
[ -n "$CLANG" ] || { echo "FAIL: clang is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
cli=$(ls "$SRC"/cli/*.c | grep -v '/main\.c$')
# shellcheck disable=SC2086
"$CLANG" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$SRC/cli" -I"$SRC/stages" -I"$SRC/io" -I"$SRC/mpi" -I"$SRC/src" $(pkg-config --cflags hdf5-openmpi libzmq jansson inih) \
  $(mpicc -showme:compile) "$SRC/tests/fuzz/fuzz_jobfile.c" $cli "$LIBDIR/libmkt_stages.a" "$LIBDIR/libmkt_io.a" "$LIBDIR/libmkt_mpi.a" "$LIBDIR/libmkt_core.a" \
  $(pkg-config --libs hdf5-openmpi scalapack-openmpi lapacke openblas libzmq jansson inih) -lcsv \
  $(mpicc -showme:link) -lm -o fuzz_jobfile
cp "$SRC"/jobs/*.ini corpus/
ASAN_OPTIONS=detect_leaks=0 ./fuzz_jobfile -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 corpus 2>fuzz.log >/dev/null \
  || { tail -40 fuzz.log >&2; echo "FAIL: the fuzzer found a problem (input in $WORK)" >&2; exit 1; }
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
[ "${runs:-0}" -gt 1000 ] || { echo "FAIL: only ${runs:-0} runs in $SECONDS_TO_RUN s" >&2; exit 1; }
echo "ok: fuzz_jobfile ran $runs inputs in $SECONDS_TO_RUN s without a finding"
