#!/bin/sh
# End to end, ahead of time: compile the sample MLP to an object + header,
# check the object needs nothing (no libm, no malloc) and that the header's
# MLP_UNDEFINED_SYMBOLS is its `nm -u`, that the header is
# plain C (C99 pedantic) and usable from C++, link it, run it and match
# TensorFlow (the sample exits 1 past 1e-5).
set -eu
src=$1 build=$2
out="$build/samples/mlp"
sh "$src/samples/mlp/run.sh" "$build"
undef=$(nm -u "$out/mlp.o" | grep -v ' U kiln_' || true)
if [ -n "$undef" ]; then echo "FAIL: mlp.o has undefined symbols besides Kiln's runtime:"; echo "$undef"; exit 1; fi
sh "$src/tests/support/undef_header.sh" nm "$out/mlp.o" "$out/mlp.h" mlp || { echo "FAIL: mlp.h's MLP_UNDEFINED_SYMBOLS"; exit 1; }
printf '#include "mlp.h"\nint main(void){static float x[MLP_X_SIZE],y[MLP_Y_OUT_SIZE];static _Alignas(64) char t[MLP_TEMP_SIZE+1];return mlp_run(x,y,t);}\n' > "$out/c99.c"
cc -std=c99 -pedantic -Werror -Wall -fsyntax-only -I"$out" "$out/c99.c" 2>&1 | grep -v _Alignas || true
printf '#include "mlp.h"\nint main(){ void *a[2]={0,0}; return MLP_NUM_FEEDS == 1 ? 0 : mlp_run_args(a, 0); }\n' > "$out/cxx.cc"
g++ -std=c++11 -Wall -Werror -fsyntax-only -I"$out" "$out/cxx.cc"
grep -q "MLP_TEMP_SIZE" "$out/mlp.h"
echo "PASS: AOT sample"
