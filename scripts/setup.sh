#!/usr/bin/env bash
# Install what mkt needs from Debian's packages (idempotent), then build it.
#   scripts/setup.sh            -> build/            (release build, warnings as errors)
#   MKT_SANITIZE=1 scripts/setup.sh -> build-asan/   (AddressSanitizer + UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libscalapack-openmpi-dev libopenblas-dev liblapacke-dev
  libzmq3-dev libsodium-dev libcmocka-dev libjansson-dev libinih-dev libcsv-dev
  python3 python3-numpy python3-h5py python3-zmq
  gnuplot-nox clang libclang-rt-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[setup] all packages present" >&2
fi

if [ "${MKT_SANITIZE:-0}" = 1 ]; then
  dir=build-asan
  # Rank invariance (1, 2, 4 ranks) is checked in the release build; the
  # sanitizer build runs every MPI test at 4 ranks (uneven and empty
  # partitions, rank 0's extra work) unless MKT_SANITIZE_RANKS says otherwise.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DMKT_WERROR=ON -DMKT_SANITIZE=ON \
    -DMKT_TEST_RANKS="${MKT_SANITIZE_RANKS:-4}" >/dev/null
else
  dir=build
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMKT_WERROR=ON >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -Ev '^\[ *[0-9]+%\]' || true
test -x "$dir/mkt" || { echo "[setup] build failed" >&2; exit 1; }
echo "[setup] built $dir/mkt" >&2
