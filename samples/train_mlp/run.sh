#!/bin/sh
# Compile samples/train_mlp/mlp.pb's init, cost and train entries into one
# object, link it into main.c and train 10 steps next to TensorFlow's costs.
# usage: samples/train_mlp/run.sh [BUILD_DIR [MODEL [STEPS [TF_COSTS [TF_FINAL_DIR]]]]]
set -eu
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
model=${2:-$src/samples/train_mlp/mlp.pb}
steps=${3:-10}
costs=${4:-$src/tests/train/resource/cost.npy}
out="$build/samples/train_mlp"
mkdir -p "$out"
set -x
"$build/bin/kiln" compile "$model" --feed x:100,32 --feed y:100,8 --prefix mlp \
    --entry init=::init_all_vars_op --entry cost=x,y:cost: --entry train=x,y::train \
    -o "$out/mlp.o" --header "$out/mlp.h" -O2
cc -O2 -std=c11 -Wall -Werror -I"$out" "$src/samples/train_mlp/main.c" "$out/mlp.o" -lm -o "$out/train_mlp"
"$out/train_mlp" "$src/tests/train/x.npy" "$src/tests/train/y.npy" "$costs" "$steps" ${5:+"$5"}
