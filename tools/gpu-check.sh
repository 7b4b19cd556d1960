#!/bin/sh
# The device check of the CUDA backend (docs/gpu.md): the ONE script for the
# GPU machine (CUDA driver, cc, cupy; no LLVM, no TensorFlow).  Runs what
# tools/gpu-prepare.sh compiled here (build/gpu-check, carried):
#   1. every model's driver (tests/support/gpu_driver.c + runtime/gpu.c, rebuilt
#      with the machine's cc when it has one, else the carried binary) on the
#      fixture's inputs against TensorFlow's outputs at the fixture's tolerance;
#      fusion_chains_ptx has only an sm_80 cubin, so on sm_90 its PTX is JIT-compiled;
#   2. compute-sanitizer memcheck (if the toolkit has it) on two models: no
#      access outside a buffer;
#   3. tools/gpu_bench.py: the elementwise chain and add through P_run_device
#      against a device-to-device copy, in GB/s, outputs checked.
# Well under 8 minutes (each run has a timeout).
#   sh tools/gpu-check.sh [DIR]
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$src/build/gpu-check}
[ -d "$dir/models" ] || { echo "gpu-check: no $dir/models (run tools/gpu-prepare.sh on the CPU side)"; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader
have_cc=0
command -v cc >/dev/null && have_cc=1
pass=0 fail=0
for w in "$dir"/models/*/; do
    w=${w%/}
    name=$(basename "$w")
    d="$src/tests/fixtures/${name%_ptx}"
    . "$src/tests/support/fixture_args.sh"
    drv="$w/drv"
    if [ $have_cc = 1 ] && cc -std=gnu11 -O1 -I"$src/include" -include "$w/model.h" "$src/tests/support/gpu_driver.c" \
            "$src/runtime/gpu.c" "$w/model.o" -ldl -lpthread -lm -o "/tmp/gpu_drv_$name" 2>/dev/null; then
        drv="/tmp/gpu_drv_$name"
    fi
    # shellcheck disable=SC2086
    out=$(timeout 60 "$drv" $tol $files $refs 2>&1)
    rc=$?
    errs=$(echo "$out" | sed -n 's/fetch [0-9]*: max abs error \([^ ]*\) over.*/\1/p' | tr '\n' ' ')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); echo "PASS $name: max abs errors $errs(tol $tol)"
    else
        fail=$((fail + 1)); echo "FAIL $name (exit $rc): $(echo "$out" | tail -4 | tr '\n' '|')"
    fi
done
san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$san" ]; then
    for name in broadcasting fusion_chains; do
        w="$dir/models/$name" d="$src/tests/fixtures/$name"
        [ -d "$w" ] || continue
        . "$src/tests/support/fixture_args.sh"
        drv="/tmp/gpu_drv_$name"
        [ -x "$drv" ] || drv="$w/drv"
        # shellcheck disable=SC2086
        if timeout 120 "$san" --tool memcheck --error-exitcode 99 "$drv" $tol $files $refs >/tmp/san_$name 2>&1; then
            echo "PASS memcheck $name: $(grep -o 'ERROR SUMMARY: [0-9]* errors' /tmp/san_$name)"
        else
            fail=$((fail + 1)); echo "FAIL memcheck $name: $(tail -5 /tmp/san_$name | tr '\n' '|')"
        fi
    done
else
    echo "memcheck: compute-sanitizer not on this machine (not run)"
fi
if [ $have_cc = 1 ]; then
    for b in chain add; do
        cc -shared -fPIC -O2 -I"$src/include" "$dir/bench/$b.o" "$src/runtime/gpu.c" -ldl -lpthread -o "/tmp/libkiln_$b.so" ||
            { fail=$((fail + 1)); echo "FAIL bench $b: cannot link"; }
    done
    timeout 240 python3 "$src/tools/gpu_bench.py" /tmp || { fail=$((fail + 1)); echo "FAIL bench"; }
else
    echo "bench: no cc on this machine (not run)"
fi
echo "gpu-check: $pass models passed, $fail failures"
[ $fail -eq 0 ]
