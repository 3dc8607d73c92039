# Build the libFuzzer target for the CSV reader (io/csv.c, fuzz_csv.c) with
# clang (-fsanitize=fuzzer,address,undefined) against MPI and libcsv, and run
# it for a bounded time on the seeds in tests/fuzz/corpus_csv and the
# regression inputs in tests/fuzz/regress_csv (each first run once).
# Env: SRC, WORK, FUZZ_SECONDS (default 10).  Exit 0 when no crash, leak or
# sanitizer report was found; a crash leaves its input in $WORK.
. "$SRC/tests/fuzz/lib.sh"
fuzz_setup 10
"$CLANG" "${FUZZ_CFLAGS[@]}" \
  -I"$SRC/io" -I"$SRC/mpi" -I"$SRC/src" $(mpicc -showme:compile) $(pkg-config --cflags hdf5-openmpi) \
  "$SRC/tests/fuzz/fuzz_csv.c" "$SRC/io/csv.c" "$SRC/io/csv_rejects.c" "$SRC/io/iocheck.c" "$SRC/mpi/check.c" "$SRC/mpi/par.c" "$SRC/src/parse.c" "$SRC/src/exactsum.c" \
  $(mpicc -showme:link) -lcsv $(pkg-config --libs libzmq hdf5-openmpi) -lm -o fuzz_csv
export OMPI_MCA_btl=self OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# MPI_Init allocates memory it never frees: leaks are not what this target looks for
export ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
if ls "$SRC"/tests/fuzz/regress_csv/* >/dev/null 2>&1; then
  ./fuzz_csv -runs=1 "$SRC"/tests/fuzz/regress_csv/* 2>regress.log \
    || { tail -40 regress.log >&2; echo "FAIL: a regression input fails again" >&2; exit 1; }
fi
cp "$SRC"/tests/fuzz/corpus_csv/* corpus/
fuzz_run fuzz_csv 4096 1000
