#!/bin/sh
# One case of the firmware test (tests/sh/firmware.sh): compile fixture DIR
# for a Cortex-M CPU or RV32, check the object's undefined symbols
# (memcpy/memset and their AEABI forms at most, and exactly the header's
# MODEL_UNDEFINED_SYMBOLS), link it with tests/firmware/
# (startup code, semihosting driver) and run it under qemu-system-arm
# (MACHINE mps2-*/mps3-*) or qemu-system-riscv32 (MACHINE virt32: -M virt,
# no firmware in front) against TensorFlow.
# OPT (default -O2) is kiln's level; other levels say so in their PASS line.
#   fw_case.sh SRC BUILD TMP DIR TARGET CPU GCC_FLAGS MACHINE [OPT]
set -u
src=$1 build=$2 tmp=$3 d=$4 target=$5 cpu=$6 flags=$7 machine=$8 opt=${9:--O2}
name=$(basename "$d")
w="$tmp/$name.$cpu$opt"
mkdir -p "$w"
. "$src/tests/support/fixture_args.sh"
fw="$src/tests/firmware"
ld=mps2.ld
[ "$machine" = mps2-an505 ] && ld=mps2-an505.ld
[ "$machine" = mps3-an547 ] && ld=mps3-an547.ld
tc=arm-none-eabi start=startup.c qemu=qemu-system-arm cflags="$flags -mthumb" qflags=
if [ "$machine" = virt32 ]; then
    tc=riscv64-unknown-elf start=rv32_startup.c ld=rv32-virt.ld qemu=qemu-system-riscv32 cflags=$flags
    machine=virt qflags="-bios none"
fi
# On the M4 (mps2-an386) the driver reads a CMSDK timer over the entry
# point and QEMU runs with -icount shift=0: 1 ns of virtual time per
# instruction, 40 instructions per 25 MHz tick (docs/embedded.md).
timer=''
[ "$machine" = mps2-an386 ] && timer=-DFW_TIMER_BASE=0x40000000 qflags="-icount shift=0"
ok=0
# shellcheck disable=SC2086
if "$build/bin/kiln" compile "$d/model.pb" $feeds $fetches -o "$w/m.o" --header "$w/model.h" --prefix model \
        $opt --target "$target" --target-cpu "$cpu" >"$w/log" 2>&1; then
    undef=$($tc-nm -u "$w/m.o" | awk '{print $2}' | grep -vxE 'memcpy|memset|memmove|__aeabi_mem(cpy|cpy4|cpy8|set|set4|set8|clr|clr4|clr8|move|move4|move8)' | tr '\n' ' ')
    if [ -n "$undef" ]; then
        echo "undefined symbols besides memcpy/memset: $undef" >>"$w/log"
    elif ! sh "$src/tests/support/undef_header.sh" $tc-nm "$w/m.o" "$w/model.h" model >>"$w/log" 2>&1; then
        :
    elif $tc-gcc $cflags $timer -O2 -ffreestanding -nostdlib -include "$w/model.h" "$fw/fw_driver.c" \
            "$fw/$start" "$w/m.o" -T "$fw/$ld" -lgcc -o "$w/fw.elf" -Wl,--no-warn-rwx-segments >>"$w/log" 2>&1 &&
        timeout 300 $qemu -M "$machine" $qflags -nographic -semihosting-config enable=on,target=native \
            -kernel "$w/fw.elf" -append "$tol $files $refs" >>"$w/log" 2>&1; then
        ok=1
    fi
fi
if [ "$ok" = 1 ]; then
    text=$($tc-size -A "$w/m.o" | awk '$1 ~ /^\.text/ {s += $2} END {print s + 0}')
    rodata=$($tc-size -A "$w/m.o" | awk '$1 ~ /^\.(s)?rodata/ {s += $2} END {print s + 0}')
    insns=$(awk '/^timer ticks/ {printf ", instructions %.0f", $NF * 40}' "$w/log")
    label=$cpu
    [ "$opt" = -O2 ] || label="$cpu $opt"
    echo "PASS $name ($label): code $text B, rodata $rodata B, $(grep 'kiln:.*temp arena' "$w/log" | sed 's/.*temp arena \([0-9]*\) bytes.*/temp \1 B/'), $(grep 'stack used' "$w/log" | sed 's/stack used by the entry point: /stack /; s/ bytes (header: at most \([0-9]*\))/ B (header \1 B)/'), err $(grep 'max abs' "$w/log" | sed 's/fetch [0-9]*: max abs error //; s/ over [0-9]* values//' | tr '\n' ' ' | sed 's/ $//')$insns"
else
    echo "FAIL $name ($cpu $opt)"
    grep -v 'GNU-stack\|deprecated' "$w/log" | tail -n 6 | sed 's/^/    /'
fi
rm -rf "$w"
