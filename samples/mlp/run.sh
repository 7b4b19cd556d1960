#!/bin/sh
# Compile samples/mlp/mlp.pb ahead of time, link the object into main.c, run it.
# usage: samples/mlp/run.sh [BUILD_DIR]
set -eu
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
out="$build/samples/mlp"
mkdir -p "$out"
set -x
"$build/bin/kiln" compile "$src/samples/mlp/mlp.pb" --feed x --fetch y_out \
    -o "$out/mlp.o" --header "$out/mlp.h" --prefix mlp -O2
cc -O2 -std=c11 -Wall -Werror -I"$out" "$src/samples/mlp/main.c" "$out/mlp.o" -lm -o "$out/mlp"
"$out/mlp" "$src/samples/mlp/x.npy" "$src/samples/mlp/y_ref.npy"
