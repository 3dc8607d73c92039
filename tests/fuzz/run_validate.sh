# Build the libFuzzer target of io/validate.c with clang
# (-fsanitize=fuzzer,address,undefined on the target and validate.c; the
# rest of mkt and HDF5 from the release build's libraries), make a small
# store and model with mkt as seeds, and run it for a bounded time.  Env: SRC,
# WORK, MKT (the mkt binary), LIBDIR (its build directory, with libmkt_stages.a, libmkt_io.a, libmkt_mpi.a
# and libmkt_core.a), FUZZ_SECONDS (default 10).  Exit 0 when no crash or
# sanitizer report was found; a crash leaves its input in $WORK.
. "$SRC/tests/fuzz/lib.sh"
fuzz_setup 10
: "${MKT:?}" "${LIBDIR:?}"
. "$SRC/scripts/env.sh"
export MKT_QUIET=1
"$CLANG" "${FUZZ_CFLAGS[@]}" \
  -I"$SRC/io" -I"$SRC/mpi" -I"$SRC/src" $(pkg-config --cflags hdf5-openmpi) $(mpicc -showme:compile) \
  "$SRC/tests/fuzz/fuzz_validate.c" "$SRC/io/validate.c" "$LIBDIR/libmkt_stages.a" "$LIBDIR/libmkt_io.a" "$LIBDIR/libmkt_mpi.a" "$LIBDIR/libmkt_core.a" \
  $(pkg-config --libs hdf5-openmpi scalapack-openmpi lapacke openblas libzmq jansson inih) $(mpicc -showme:link) -lm \
  -o fuzz_validate
# seeds: a tiny store and model written by mkt (chunked, checksummed)
"$MKT" gen --users 12 --items 5 --days 2 --factors 2 --ratings-per-user 2 --seed 1 --out corpus/store.h5 >/dev/null 2>&1
"$MKT" train mf --store corpus/store.h5 --out corpus/model.h5 --rank 2 --iters 1 >/dev/null 2>&1
# and a model with a boosted-tree forest written by mkt (io/forest_io.h layout, its links compact in a
# checksummed object header), whose structure validate.c checks
"$MKT" gen --users 40 --items 5 --days 6 --factors 2 --ratings-per-user 2 --seed 1 --out forest_store.h5 >/dev/null 2>&1
cp corpus/model.h5 corpus/forest.h5
"$MKT" train propensity --store forest_store.h5 --out corpus/forest.h5 --model gbdt --rounds 2 --depth 2 \
  --horizon-days 3 --test-fraction 0.4 >/dev/null 2>&1
/usr/bin/python3 -c 'import h5py; h5py.File("corpus/forest.h5", "r")["models/propensity/forest/threshold"]' ||
  { echo "the forest seed was not written" >&2; exit 1; }
ASAN_OPTIONS=detect_leaks=0 fuzz_run fuzz_validate 65536 100
