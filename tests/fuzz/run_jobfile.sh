# Build the libFuzzer target of the job-file parser (cli/jobfile.c via
# mkt_job_check, tests/fuzz/fuzz_jobfile.c) with clang
# (-fsanitize=fuzzer,address,undefined on the target and the command-line
# sources; the rest of mkt from the release build's libraries) and run it for
# a bounded time on the job files of jobs/ as seeds.  Env: SRC, WORK, LIBDIR
# (the build directory with libmkt_stages.a, libmkt_io.a, libmkt_mpi.a and libmkt_core.a), FUZZ_SECONDS
# (default 10).  Exit 0 when no crash or sanitizer report was found; a crash
# leaves its input in $WORK.
. "$SRC/tests/fuzz/lib.sh"
fuzz_setup 10
: "${LIBDIR:?}"
. "$SRC/scripts/env.sh"
cli=$(ls "$SRC"/cli/*.c | grep -v '/main\.c$')
# shellcheck disable=SC2086
"$CLANG" "${FUZZ_CFLAGS[@]}" \
  -I"$SRC/cli" -I"$SRC/stages" -I"$SRC/io" -I"$SRC/mpi" -I"$SRC/src" $(pkg-config --cflags hdf5-openmpi libzmq jansson inih) \
  $(mpicc -showme:compile) "$SRC/tests/fuzz/fuzz_jobfile.c" $cli "$LIBDIR/libmkt_stages.a" "$LIBDIR/libmkt_io.a" "$LIBDIR/libmkt_mpi.a" "$LIBDIR/libmkt_core.a" \
  $(pkg-config --libs hdf5-openmpi scalapack-openmpi lapacke openblas libzmq jansson inih) -lcsv \
  $(mpicc -showme:link) -lm -o fuzz_jobfile
cp "$SRC"/jobs/*.ini corpus/
ASAN_OPTIONS=detect_leaks=0 fuzz_run fuzz_jobfile 4096 1000
