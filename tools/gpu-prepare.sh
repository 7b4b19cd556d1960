#!/bin/sh
# CPU side of the device check (docs/gpu.md): compiles what tools/gpu-check.sh
# runs on a GPU machine (which has the CUDA driver, a C compiler, cupy, and
# neither LLVM nor TensorFlow) into build/gpu-check/ (3.6 MiB; the device
# tool carries it):
#   models/NAME/{model.o,model.h,drv}  every fixture of tests/sh/gpu.sh's set that
#                                      compiles with --target cuda --gpu-arch sm_80,sm_90
#   models/fusion_chains_ptx/          the same fixture for sm_80 only: on an sm_90
#                                      GPU the driver must JIT its PTX
#   bench/{chain,add}.o                the microbenchmark graphs (bench/gpu/*.pb, N = 2^24)
#   sh tools/gpu-prepare.sh [BUILD]
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
out="$build/gpu-check"
rm -rf "$out"
mkdir -p "$out/models" "$out/bench"
kiln="$build/bin/kiln"
list=$(grep -v '^#' "$src/tests/support/gpu_fixtures.txt")
n=0
for name in $(cd "$src/tests/fixtures" && ls -d model_*) $list fusion_chains_ptx; do
    d="$src/tests/fixtures/${name%_ptx}"
    [ -f "$d/fixture.txt" ] || continue
    . "$src/tests/support/fixture_args.sh"
    arch=sm_80,sm_90
    [ "$name" = fusion_chains_ptx ] && arch=sm_80
    w="$out/models/$name"
    mkdir -p "$w"
    # shellcheck disable=SC2086
    if "$kiln" compile "$d/model.pb" $feeds $fetches --target cuda --gpu-arch $arch -o "$w/model.o" \
            --header "$w/model.h" --prefix model >"$w/log" 2>&1 &&
        cc -std=gnu11 -O1 -I"$src/include" -include "$w/model.h" "$src/tests/support/gpu_driver.c" \
            "$src/runtime/gpu.c" "$w/model.o" -ldl -lpthread -lm -o "$w/drv" >>"$w/log" 2>&1; then
        n=$((n + 1))
    else
        rm -rf "$w"
    fi
done
for b in "chain --feed x --fetch y" "add --feed x --feed y --fetch z"; do
    set -- $b
    name=$1
    shift
    "$kiln" compile "$src/bench/gpu/$name.pb" "$@" --target cuda --gpu-arch sm_80,sm_90 -o "$out/bench/$name.o" \
        --header "$out/bench/$name.h" --prefix "$name" >/dev/null || exit 1
done
echo "gpu-prepare: $n models and 2 benchmarks in $out ($(du -sk "$out" | cut -f1) KiB)"
