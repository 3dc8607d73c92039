# The include graph follows the layers (src < mpi < io < stages < cli):
# scripts/check_layers.sh passes on the sources, and fails on copies of them
# with one back-include added (a lower layer including a higher one's header,
# or mpi/ including an io/-only library).
. "$SRC/tests/lib.sh"
bash "$SRC/scripts/check_layers.sh" "$SRC" || fail "the sources include across layers"
inject() {  # FILE LINE: a copy of the sources with LINE added to FILE; the checker must fail
  rm -rf tree && mkdir tree
  for d in src mpi io stages cli; do cp -r "$SRC/$d" tree/; done
  sed -i "1i $2" "tree/$1"
  if bash "$SRC/scripts/check_layers.sh" tree 2>err.txt; then
    fail "check_layers.sh missed '$2' in $1"
  fi
  grep -q "layer violation: $1:1 " err.txt || fail "no message naming $1:1 for '$2': $(cat err.txt)"
}
inject mpi/par.c '#include "h5store.h"'
inject io/h5store.c '#include "train_mf.h"'
inject src/mf.c '#include "par.h"'
inject stages/ingest.c '#include "commands.h"'
inject mpi/par.h '#include <zmq.h>'
inject src/topk.c '#include <mpi.h>'
echo "ok: layers checked, and six kinds of back-include are caught"
