#!/bin/sh
# One case of the firmware test (tests/sh/firmware.sh): compile fixture DIR
# for a Cortex-M CPU, check the object's undefined symbols (memcpy/memset and
# their AEABI forms at most), link it with tests/firmware/ (vector table,
# semihosting driver) and run it under qemu-system-arm against TensorFlow.
# MACHINE "none": compile and check the symbols only (riscv32-none-elf).
#   fw_case.sh SRC BUILD TMP DIR TARGET CPU GCC_FLAGS MACHINE
set -u
src=$1 build=$2 tmp=$3 d=$4 target=$5 cpu=$6 flags=$7 machine=$8
name=$(basename "$d")
w="$tmp/$name.$cpu"
mkdir -p "$w"
. "$src/tests/support/fixture_args.sh"
fw="$src/tests/firmware"
ld=mps2.ld
[ "$machine" = mps2-an505 ] && ld=mps2-an505.ld
[ "$machine" = mps3-an547 ] && ld=mps3-an547.ld
# On the M4 (mps2-an386) the driver reads a CMSDK timer over the entry
# point and QEMU runs with -icount shift=0: 1 ns of virtual time per
# instruction, 40 instructions per 25 MHz tick (docs/embedded.md).
timer='' icount=''
[ "$machine" = mps2-an386 ] && timer=-DFW_TIMER_BASE=0x40000000 icount="-icount shift=0"
ok=0
# shellcheck disable=SC2086
if "$build/bin/kiln" compile "$d/model.pb" $feeds $fetches -o "$w/m.o" --header "$w/model.h" --prefix model \
        -O2 --target "$target" --target-cpu "$cpu" >"$w/log" 2>&1; then
    nm=arm-none-eabi-nm
    [ "$machine" = none ] && nm=riscv64-linux-gnu-nm
    undef=$($nm -u "$w/m.o" | awk '{print $2}' | grep -vxE 'memcpy|memset|memmove|__aeabi_mem(cpy|cpy4|cpy8|set|set4|set8|clr|clr4|clr8|move|move4|move8)' | tr '\n' ' ')
    if [ -n "$undef" ]; then
        echo "undefined symbols besides memcpy/memset: $undef" >>"$w/log"
    elif [ "$machine" = none ]; then
        echo "PASS $name ($cpu): compiled, $(wc -c <"$w/m.o") bytes, no undefined symbols besides memcpy/memset (not run)"
        rm -rf "$w"
        exit 0
    elif arm-none-eabi-gcc $flags $timer -mthumb -O2 -ffreestanding -nostdlib -include "$w/model.h" "$fw/fw_driver.c" \
            "$fw/startup.c" "$w/m.o" -T "$fw/$ld" -lgcc -o "$w/fw.elf" -Wl,--no-warn-rwx-segments >>"$w/log" 2>&1 &&
        timeout 300 qemu-system-arm -M "$machine" $icount -nographic -semihosting-config enable=on,target=native \
            -kernel "$w/fw.elf" -append "$tol $files $refs" >>"$w/log" 2>&1; then
        ok=1
    fi
fi
if [ "$ok" = 1 ]; then
    text=$(arm-none-eabi-size -A "$w/m.o" | awk '$1 ~ /^\.text/ {s += $2} END {print s + 0}')
    rodata=$(arm-none-eabi-size -A "$w/m.o" | awk '$1 ~ /^\.rodata/ {s += $2} END {print s + 0}')
    insns=$(awk '/^timer ticks/ {printf ", instructions %.0f", $NF * 40}' "$w/log")
    echo "PASS $name ($cpu): code $text B, rodata $rodata B, $(grep 'kiln:.*temp arena' "$w/log" | sed 's/.*temp arena \([0-9]*\) bytes.*/temp \1 B/'), $(grep 'stack used' "$w/log" | sed 's/stack used by the entry point: /stack /; s/ bytes (header: at most \([0-9]*\))/ B (header \1 B)/'), err $(grep 'max abs' "$w/log" | sed 's/fetch [0-9]*: max abs error //; s/ over [0-9]* values//' | tr '\n' ' ' | sed 's/ $//')$insns"
else
    echo "FAIL $name ($cpu)"
    grep -v 'GNU-stack\|deprecated' "$w/log" | tail -n 6 | sed 's/^/    /'
fi
rm -rf "$w"
