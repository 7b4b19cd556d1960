#!/bin/sh
# Firmware targets under emulation: fixtures compiled for Cortex-M
# (thumbv7em-none-eabihf: M4 with FPv4-SP, M7 with FPv5; thumbv8m.main:
# M33, M55 with MVE vectors), each object's undefined symbols checked
# (memcpy/memset at most), linked with a vector table and a semihosting
# driver (tests/firmware/) and run under qemu-system-arm (mps2-an386,
# mps2-an500, mps2-an505, mps3-an547) against TensorFlow's outputs.  Every
# fixture on the M4; the models on the others.  riscv32-none-elf
# (RV32IMAFC) objects of every fixture are linked with rv32_startup.c by
# riscv64-unknown-elf-gcc and run under qemu-system-riscv32 -M virt.
# Reports code, rodata, temp arena and measured stack per model.  -Os
# (shared kernels, codegen/shared.c): the MLP, the conv models, the
# transformer and an LSTM on the M4, KWS and person detection on the M33 and
# M55 too.
# tools/install-deps.sh installs gcc-arm-none-eabi, qemu-system-arm,
# gcc-riscv64-unknown-elf and qemu-system-misc (qemu-system-riscv32);
# without them this test fails (never silently skipped).
#   firmware.sh SRC BUILD [FIXTURE_DIR...]
set -u
src=$1 build=$2
shift 2
dirs=${*:-"$src"/tests/fixtures/*}
for tool in qemu-system-arm arm-none-eabi-gcc arm-none-eabi-nm arm-none-eabi-size qemu-system-riscv32 riscv64-unknown-elf-gcc \
    riscv64-unknown-elf-nm riscv64-unknown-elf-size; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (run tools/install-deps.sh)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cases="$tmp/cases"
: >"$cases"
m4="thumbv7em-none-eabihf cortex-m4 '-mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16' mps2-an386"
m7="thumbv7em-none-eabihf cortex-m7 '-mcpu=cortex-m7 -mfloat-abi=hard -mfpu=fpv5-d16' mps2-an500"
m33="thumbv8m.main-none-eabihf cortex-m33 '-mcpu=cortex-m33 -mfloat-abi=hard -mfpu=fpv5-sp-d16' mps2-an505"
m55="thumbv8m.main-none-eabihf cortex-m55 '-mcpu=cortex-m55 -mfloat-abi=hard' mps3-an547"
rv32="riscv32-none-elf generic-rv32 '-march=rv32imafc -mabi=ilp32f' virt32"
for d in $dirs; do
    [ -f "$d/fixture.txt" ] && [ -f "$d/model.pb" ] || continue
    grep -q '^expect_error' "$d/fixture.txt" && continue
    n=$(basename "$d")
    case $n in
        ops_cast|ops_floormod_float|ops_*i64*|ops_argm*) continue ;; # refused on 32-bit / single-precision cores (docs/targets.md)
    esac
    echo "$d $m4" >>"$cases"
    echo "$d $rv32" >>"$cases"
    case $n in model_*|mlp) echo "$d $m7" >>"$cases"; echo "$d $m33" >>"$cases"; echo "$d $m55" >>"$cases" ;; esac
    case $n in mlp|model_lenet|model_kws_dscnn|model_person_mbv1|model_resnet_small|model_mobilenetv2|model_transformer|model_keras_lstm)
        echo "$d $m4 -Os" >>"$cases" ;;
    esac
    case $n in model_kws_dscnn|model_person_mbv1) echo "$d $m33 -Os" >>"$cases"; echo "$d $m55 -Os" >>"$cases" ;; esac
done
# shellcheck disable=SC2016
xargs -P "$(nproc 2>/dev/null || echo 2)" -L 1 sh -c 'sh "$0"/tests/support/fw_case.sh "$0" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"' \
    "$src" "$build" "$tmp" <"$cases" | sed 's/^/  /' | tee "$tmp/out" | grep -v '^  PASS' || true
grep -E '^  PASS (model_|mlp )' "$tmp/out" | sort
passed=$(grep -c '^  PASS' "$tmp/out")
failed=$(grep -c '^  FAIL' "$tmp/out")
echo "firmware (Cortex-M4/M7/M33/M55 under qemu-system-arm, RV32IMAFC under qemu-system-riscv32): $passed passed, $failed failed"
# The goal of docs/embedded.md: at -Os a conv model's code is at most TFLM's
# framework alone on the M4 (8,982 B of .text, tools/tflm_code_size.sh).
big=$(awk '/^  PASS model_(kws_dscnn|person_mbv1) \(cortex-m4 -Os\)/ { if ($6 + 0 > 8982) print $2 " " $6 " B" }' "$tmp/out")
[ -z "$big" ] || echo "FAIL: -Os code above TFLM's framework alone (8,982 B): $big"
[ "$failed" -eq 0 ] && [ "$passed" -eq "$(wc -l <"$cases")" ] && [ -z "$big" ]
