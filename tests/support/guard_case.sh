#!/bin/sh
# One case of the guard-page harness (tests/sh/guard.sh): compile fixture DIR
# ahead of time in one mode, link the AOT driver (tests/support/aot_driver.c,
# which places every buffer against guard pages), run it against
# TensorFlow's outputs.  Prints one PASS/FAIL line.
#   guard_case.sh SRC BUILD TMP DIR OPT THREADS CPU
set -u
src=$1 build=$2 tmp=$3 d=$4 opt=$5 threads=$6 cpu=$7
name=$(basename "$d")
mode="-O$opt t$threads $cpu"
w="$tmp/$name.O$opt.t$threads.$cpu"
mkdir -p "$w"
. "$src/tests/support/fixture_args.sh"
# shellcheck disable=SC2086
if "$build/bin/kiln" compile "$d/model.pb" $feeds $fetches -o "$w/m.o" --header "$w/model.h" --prefix model \
        -O"$opt" --threads "$threads" --target-cpu "$cpu" >"$w/log" 2>&1 &&
    cc -O1 -std=gnu11 -include "$w/model.h" "$src/tests/support/aot_driver.c" "$src/tests/support/guard.c" "$w/m.o" \
        "$build/lib/libkilnrt.a" -lopenblas -lpthread -lm -o "$w/drv" >>"$w/log" 2>&1 &&
    "$w/drv" $tol $files $refs >>"$w/log" 2>&1; then
    echo "PASS $name ($mode)"
    rm -rf "$w"
else
    echo "FAIL $name ($mode)"
    tail -n 8 "$w/log" | sed 's/^/    /'
    rm -rf "$w"
fi
