#!/bin/sh
# One case of the cross-target test (tests/sh/cross.sh): compile fixture DIR
# for TARGET, link the AOT driver with the target's cross compiler (static),
# run it under qemu-user against TensorFlow's outputs, every buffer against
# guard pages (tests/support/guard.h); the header's MODEL_UNDEFINED_SYMBOLS
# must equal the object's `nm -u`.  Prints one PASS/FAIL line.
# THREADS > 1 (FEATURES and QEMU_CPU '-' for none): compiled with --threads,
# the object must call the pool, and is linked with runtime/pool.c built by
# the cross compiler (libkilnrt without OpenBLAS) and -lpthread.
#   cross_case.sh SRC BUILD TMP DIR TARGET CC QEMU OPT [FEATURES QEMU_CPU [THREADS]]
set -u
src=$1 build=$2 tmp=$3 d=$4 target=$5 cc=$6 qemu=$7 opt=$8 features=${9:-} qcpu=${10:-} threads=${11:-1}
[ "$features" = - ] && features=
[ "$qcpu" = - ] && qcpu=
name=$(basename "$d")
w="$tmp/$name.$target$features.O$opt.${qcpu##*vlen=}.t$threads"
mkdir -p "$w"
. "$src/tests/support/fixture_args.sh"
pool= label=
if [ "$threads" -gt 1 ]; then
    pool="$src/runtime/pool.c -I$src/include -lpthread" label=" --threads $threads"
fi
# shellcheck disable=SC2086
if "$build/bin/kiln" compile "$d/model.pb" $feeds $fetches -o "$w/m.o" --header "$w/model.h" --prefix model \
        -O"$opt" --target "$target" ${features:+--target-features "$features"} --threads "$threads" >"$w/log" 2>&1 &&
    sh "$src/tests/support/undef_header.sh" "${cc%gcc}nm" "$w/m.o" "$w/model.h" model >>"$w/log" 2>&1 &&
    { [ "$threads" -eq 1 ] || grep -q 'kiln_rt_parallel_for' "$w/model.h" ||
        { echo "compiled for $threads threads but the object does not call the pool" >>"$w/log"; false; }; } &&
    "$cc" -static -O1 -std=gnu11 -include "$w/model.h" "$src/tests/support/aot_driver.c" "$src/tests/support/guard.c" \
        "$w/m.o" $pool -lm -o "$w/drv" >>"$w/log" 2>&1 &&
    "$qemu" ${qcpu:+-cpu "$qcpu"} "$w/drv" $tol $files $refs >>"$w/log" 2>&1; then
    size=$(wc -c <"$w/m.o")
    echo "PASS $name ($target$features${qcpu:+ ${qcpu%%,vext*}} -O$opt$label, object $size bytes): $(grep 'max abs' "$w/log" | sed 's/fetch [0-9]*: max abs error //; s/ over [0-9]* values//' | tr '\n' ' ')"
else
    echo "FAIL $name ($target$features${qcpu:+ $qcpu} -O$opt$label)"
    tail -n 6 "$w/log" | sed 's/^/    /'
fi
rm -rf "$w"
