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
# and a model with a boosted-tree forest (io/forest_io.h layout), whose structure validate.c checks
/usr/bin/python3 - <<'PY'
import h5py, numpy as np, shutil
shutil.copy("corpus/model.h5", "corpus/forest.h5")
with h5py.File("corpus/forest.h5", "r+") as f:
    g = f.create_group("models/propensity/forest")
    g["tree_start"] = np.array([0, 3, 4], dtype=np.int64)
    g["feature"] = np.array([1, -1, -1, -1], dtype=np.int32)
    g["left"] = np.array([1, 0, 0, 0], dtype=np.int32); g["right"] = np.array([2, 0, 0, 0], dtype=np.int32)
    g["default_left"] = np.array([1, 0, 0, 0], dtype=np.int8)
    g["threshold"] = np.array([0.5, 0, 0, 0.0]); g["value"] = np.array([0, -0.2, 0.3, 0.1])
    g["gain"] = np.array([2.0, 0, 0, 0]); g["cover"] = np.ones(4)
    g.attrs["features"] = np.int64(3); g.attrs["trees"] = np.int64(2)
    g.attrs["base_score"] = 0.0; g.attrs["loss"] = np.bytes_("logistic")
PY
ASAN_OPTIONS=detect_leaks=0 fuzz_run fuzz_validate 65536 100
