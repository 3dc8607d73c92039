# Build the libFuzzer target for io/protocol.c with clang
# (-fsanitize=fuzzer,address,undefined) and run it for a bounded time on the
# seed corpus in tests/fuzz/corpus.  Env: SRC (the source tree), WORK (a
# scratch directory), FUZZ_SECONDS (default 20).  Exit 0 when no crash, leak
# or sanitizer report was found; a crash leaves its input in $WORK.
. "$SRC/tests/fuzz/lib.sh"
fuzz_setup 20
"$CLANG" "${FUZZ_CFLAGS[@]}" \
  -I"$SRC/io" "$SRC/tests/fuzz/fuzz_protocol.c" "$SRC/io/protocol.c" $(pkg-config --cflags --libs jansson) \
  -o fuzz_protocol
cp "$SRC"/tests/fuzz/corpus/* corpus/
# a fresh corpus directory: what the run learns stays in $WORK, the seeds stay small
fuzz_run fuzz_protocol 4096 1000 1024
