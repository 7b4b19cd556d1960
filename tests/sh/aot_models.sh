#!/bin/sh
# Every whole-model fixture ahead of time: `kiln compile` to an object + header,
# a generic C driver linked against it, outputs compared with TensorFlow's;
# once for one thread and once with --threads 2 (the object then calls
# libkilnrt's pool; at least one model must, or the threaded path went untested).
# Writes compile time, object size and temp arena per model to BUILD/model-stats.txt.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
dirs=${3:-"$src"/tests/fixtures/model_*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 pooled=0
: >"$build/model-stats.txt"
for threads in 1 2; do
for d in $dirs; do
    [ -f "$d/fixture.txt" ] || continue
    name=$(basename "$d")
    feeds=$(awk '$1=="feed"{printf "--feed %s ", $2}' "$d/fixture.txt")
    fetches=$(awk '$1=="fetch"{printf "--fetch %s ", $2}' "$d/fixture.txt")
    files=$(awk -v d="$d" '$1=="feed"{printf "%s/%s ", d, $3}' "$d/fixture.txt")
    refs=$(awk -v d="$d" '$1=="fetch"{printf "%s/%s ", d, $3}' "$d/fixture.txt")
    tol=$(awk '$1=="tol"{print $2, $3}' "$d/fixture.txt")
    # shellcheck disable=SC2086
    if "$kiln" compile "$d/model.pb" $feeds $fetches -o "$tmp/$name.o" --header "$tmp/model.h" --prefix model -O2 --threads $threads >"$tmp/c.txt" 2>&1 &&
        cc -O1 -std=gnu11 -include "$tmp/model.h" "$src/tests/support/aot_driver.c" "$src/tests/support/guard.c" "$tmp/$name.o" "$build/lib/libkilnrt.a" -lopenblas -lpthread -lm -o "$tmp/drv" 2>"$tmp/cc.txt" &&
        "$tmp/drv" $tol $files $refs >"$tmp/r.txt" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name ($threads threads): $(tr '\n' ' ' <"$tmp/r.txt")"
        nm "$tmp/$name.o" | grep -q kiln_rt_parallel_for && pooled=$((pooled + 1))
        [ "$threads" = 1 ] && printf '%-28s %s\n' "$name" "$(grep 'kiln:' "$tmp/c.txt" | tr '\n' ' ')" >>"$build/model-stats.txt"
    else
        failed=$((failed + 1))
        echo "FAIL $name ($threads threads)"
        cat "$tmp/c.txt" "$tmp/cc.txt" "$tmp/r.txt" 2>/dev/null | head -20
    fi
done
done
echo "$passed passed, $failed failed, $pooled threaded objects use the pool"
[ "$failed" -eq 0 ] && [ "$pooled" -gt 0 ]
