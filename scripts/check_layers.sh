#!/usr/bin/env bash
# check_layers.sh — fails when a file includes a header of a higher layer.
#     bash scripts/check_layers.sh [SOURCE_ROOT]
# The layers, lowest first (docs/layout.md):
#   src/ (pure computation) < mpi/ (collectives) < io/ (files, sockets)
#   < stages/ (one file per stage) < cli/ (the command line)
# A file may include headers of its own layer and of lower ones.  System
# headers are checked too: MPI only from mpi/ up; HDF5, ZeroMQ, JSON and CSV
# libraries only from io/ up; the job-file (INI) parser only in cli/.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
layers=(src mpi io stages cli)
declare -A level=()
for i in "${!layers[@]}"; do
  for h in "$root/${layers[$i]}"/*.h; do
    [ -e "$h" ] || continue
    level[${h##*/}]=$i
  done
done
# the lowest layer allowed to include each system header
declare -A sys=([mpi.h]=1 [hdf5.h]=2 [zmq.h]=2 [jansson.h]=2 [csv.h]=2 [ini.h]=4 [hdf5_hl.h]=2)
bad=0
for i in "${!layers[@]}"; do
  for f in "$root/${layers[$i]}"/*.[ch]; do
    [ -e "$f" ] || continue
    while IFS=: read -r line inc; do
      name=${inc#*[\"<]}
      name=${name%%[\">]*}
      base=${name##*/}
      case $inc in
        *'"'*) want=${level[$base]:-} ;;
        *) want=${sys[$base]:-} ;;
      esac
      if [ -n "$want" ] && [ "$want" -gt "$i" ]; then
        echo "layer violation: ${f#$root/}:$line includes $name (${layers[$want]}/ is above ${layers[$i]}/)" >&2
        bad=1
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | sed 's/:[[:space:]]*#[[:space:]]*include[[:space:]]*/:/')
  done
done
[ "$bad" = 0 ] || exit 1
echo "ok: no include from a lower layer to a higher one"
