#!/bin/sh
# The CUDA backend without a GPU (docs/gpu.md): every committed model
# fixture and a representative set of per-op fixtures compiled with
# `--target cuda --gpu-arch sm_80,sm_90`.  Each either compiles, or fails
# with the clear "node 'NAME' (OP): not yet on cuda" error (counted and
# listed; any other failure fails the test).  For each one that compiles:
#   - ptxas accepted every kernel for both architectures (the compile runs it);
#   - the object's fat binary holds an sm_80 and an sm_90 cubin (ELF, EM_CUDA)
#     and sm_80 PTX (tests/support/gpu_fatbin.c parses it: no cuobjdump);
#   - the header compiles as C99 and as C++ (-Wall -Werror -pedantic);
#   - linked with runtime/gpu.c and tests/support/gpu_driver.c: with
#     KILN_CUDA_DRIVER=/nonexistent init fails with code 1 and "no CUDA
#     driver (/nonexistent: ...)"; with the stand-in driver
#     (tests/support/fake_cuda.c) the schedule loads the fat binary, finds
#     every kernel in it, uploads the weights, launches each kernel once,
#     and the driver's comparison with TensorFlow's outputs FAILS (nothing
#     ran the kernels: the comparison can fail); the stand-in's no-device,
#     sm_75 and out-of-memory modes give their errors (codes 2, 3, 4).
# Numbers on a GPU: tools/gpu-check.sh on the device machine.
# Needs ptxas and fatbinary (CUDA toolkit; $KILN_CUDA_HOME or /usr/local/cuda):
# without them this test fails (it is never silently skipped).
#   gpu.sh SRC BUILD [FIXTURE_DIR...]
set -u
src=$1 build=$2
shift 2
kiln="$build/bin/kiln"
cuda=${KILN_CUDA_HOME:-/usr/local/cuda}
for tool in ptxas fatbinary; do
    [ -x "$cuda/bin/$tool" ] || command -v "$tool" >/dev/null ||
        { echo "FAIL: $tool missing (the CUDA toolkit: set KILN_CUDA_HOME)"; exit 1; }
done
CXX=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O1 -o "$tmp/gpu_fatbin" "$src/tests/support/gpu_fatbin.c" || { echo "FAIL: cannot build gpu_fatbin"; exit 1; }
cc -O1 -shared -fPIC -o "$tmp/libfakecuda.so" "$src/tests/support/fake_cuda.c" || { echo "FAIL: cannot build fake_cuda"; exit 1; }
ops=$(grep -v "^#" "$src/tests/support/gpu_fixtures.txt")
if [ $# -gt 0 ]; then dirs=$*; else
    dirs=$(ls -d "$src"/tests/fixtures/model_*)
    for o in $ops; do dirs="$dirs $src/tests/fixtures/$o"; done
fi
fail=0 pass=0 notyet=0
: >"$tmp/notyet"
for d in $dirs; do
    [ -f "$d/fixture.txt" ] && [ -f "$d/model.pb" ] || continue
    grep -q '^expect_error' "$d/fixture.txt" && continue
    name=$(basename "$d")
    w="$tmp/$name"
    mkdir -p "$w"
    . "$src/tests/support/fixture_args.sh"
    # shellcheck disable=SC2086
    if ! "$kiln" compile "$d/model.pb" $feeds $fetches --target cuda --gpu-arch sm_80,sm_90 -o "$w/model.o" \
            --header "$w/model.h" --prefix model >"$w/log" 2>&1; then
        if grep -q "): not yet on cuda" "$w/log"; then
            notyet=$((notyet + 1))
            echo "$name: $(grep -o "node '[^']*' ([A-Za-z_0-9]*)" "$w/log" | head -1)" >>"$tmp/notyet"
        else
            fail=$((fail + 1)); echo "FAIL $name: compile"; sed 's/^/    /' "$w/log" | tail -5
        fi
        rm -rf "$w"; continue
    fi
    why=""
    "$tmp/gpu_fatbin" "$w/model.o" >"$w/fatbin" 2>&1 || why="fat binary unreadable"
    images=$(cut -d' ' -f1,2 "$w/fatbin" | tr '\n' ' ')
    [ -n "$why" ] || [ "$images" = "elf sm_80 elf sm_90 ptx sm_80 " ] || why="fat binary holds '$images'"
    printf '#include "model.h"\nint main(void) { return model_N_FEEDS < 0; }\n' >"$w/h.c"
    [ -n "$why" ] || cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$w" -c "$w/h.c" -o "$w/h.o" >>"$w/log" 2>&1 || why="header is not C99"
    cp "$w/h.c" "$w/h.cc"
    [ -n "$why" ] || "$CXX" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$w" -c "$w/h.cc" -o "$w/h.o" >>"$w/log" 2>&1 || why="header is not C++"
    [ -n "$why" ] || cc -std=gnu11 -O1 -I"$src/include" -include "$w/model.h" "$src/tests/support/gpu_driver.c" \
        "$src/runtime/gpu.c" "$w/model.o" -ldl -lpthread -lm -o "$w/drv" >>"$w/log" 2>&1 || why="driver does not link"
    if [ -z "$why" ]; then
        # shellcheck disable=SC2086
        KILN_CUDA_DRIVER=/nonexistent "$w/drv" $tol $files $refs >"$w/run" 2>&1
        rc=$?
        [ $rc -eq 11 ] && grep -q "init: model: no CUDA driver (/nonexistent: " "$w/run" || why="no-driver path: exit $rc: $(cat "$w/run")"
    fi
    if [ -z "$why" ]; then
        # shellcheck disable=SC2086
        KILN_CUDA_DRIVER="$tmp/libfakecuda.so" FAKE_CUDA_LOG="$w/fake" "$w/drv" $tol $files $refs >"$w/run" 2>&1
        rc=$?
        kernels=$(sed -n 's/.* \([0-9]*\) kernels,.*/\1/p' "$w/log")
        launches=$(grep -c '^launch model_k' "$w/fake")
        [ $rc -eq 1 ] || why="stand-in driver: exit $rc (expected 1: nothing computed the fetches)"
        [ -n "$why" ] || [ "$launches" = "$kernels" ] || why="$launches launches for $kernels kernels"
        [ -n "$why" ] || grep -q '^load fatbin' "$w/fake" || why="no fat binary loaded"
        [ -n "$why" ] || [ "$(tail -1 "$w/fake")" = release ] || why="context not released"
    fi
    for m in "nodevice 12 no CUDA device" "cc75 13 is sm_75" "oom 14 out of memory"; do
        [ -n "$why" ] && break
        set -- $m
        mode=$1 want=$2
        shift 2
        # shellcheck disable=SC2086
        FAKE_CUDA=$mode KILN_CUDA_DRIVER="$tmp/libfakecuda.so" "$w/drv" $tol $files $refs >"$w/run" 2>&1
        rc=$?
        [ $rc -eq "$want" ] && grep -q "$*" "$w/run" || why="stand-in $mode: exit $rc: $(cat "$w/run")"
    done
    if [ -n "$why" ]; then
        fail=$((fail + 1)); echo "FAIL $name: $why"; tail -5 "$w/log" | sed 's/^/    /'
    else
        pass=$((pass + 1))
        echo "PASS $name (object $(wc -c <"$w/model.o") bytes: $(tr '\n' ' ' <"$w/fatbin"| sed 's/ $//'))"
    fi
    rm -rf "$w"
done
# the architecture list is checked, each entry
for bad in sm_70 sm_80,sm_99; do
    "$kiln" compile "$src/tests/fixtures/binary_ops/model.pb" --feed a --feed b --fetch add --target cuda \
        --gpu-arch "$bad" -o "$tmp/bad.o" >"$tmp/log" 2>&1 && { fail=$((fail + 1)); echo "FAIL --gpu-arch $bad compiled"; }
    grep -q "unknown CPU '${bad#*,}' for target cuda (try sm_80, " "$tmp/log" ||
        { fail=$((fail + 1)); echo "FAIL --gpu-arch $bad: $(cat "$tmp/log")"; }
done
echo "not yet on cuda ($notyet):"
sed 's/^/  /' "$tmp/notyet"
echo "gpu: $pass compiled and checked, $notyet not yet on cuda, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
