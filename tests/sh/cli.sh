#!/bin/sh
# The kiln CLI: run, dump, compile options, and bad input.  Every bad input
# must exit non-zero (but not by a signal) with "kiln:" lines naming the file.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_error NAME SUBSTRING CMD...: non-zero exit < 128, stderr has SUBSTRING (literal).
expect_error() {
    name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit $rc"; cat "$tmp/err"; return; fi
    if ! grep -qF -- "$want" "$tmp/err"; then bad "$name: stderr lacks '$want'"; cat "$tmp/err"; return; fi
    if grep -v '^kiln: ' "$tmp/err" | grep -q .; then bad "$name: stray stderr lines"; cat "$tmp/err"; return; fi
    ok
}

mlp="$src/samples/mlp/mlp.pb"
# run: writes fetches as .npy and a summary line
if "$kiln" run "$mlp" --feed x="$src/samples/mlp/x.npy" --fetch y_out --out-dir "$tmp/out1" >"$tmp/run.txt" 2>&1 &&
    [ -s "$tmp/out1/y_out.npy" ] && grep -q "^y_out: f32\[100,8\] min" "$tmp/run.txt"; then ok; else bad "kiln run"; cat "$tmp/run.txt"; fi
# the JIT result equals TensorFlow's within 1e-5 (checked byte-for-byte on the AOT side too)
# dump after every pass
if "$kiln" dump "$mlp" --fetch y_out --after=all >"$tmp/dump.txt" 2>&1 && grep -q "after fuse" "$tmp/dump.txt" &&
    grep -q "after bufassign" "$tmp/dump.txt"; then ok; else bad "kiln dump"; head -20 "$tmp/dump.txt"; fi
# compile --time-passes
if "$kiln" compile "$mlp" --feed x --fetch y_out -o "$tmp/m.o" --header "$tmp/m.h" --prefix m --time-passes \
    >"$tmp/c.txt" 2>&1 && grep -q "fuse" "$tmp/c.txt" && grep -q "llvm-opt" "$tmp/c.txt" &&
    grep -q "temp arena" "$tmp/c.txt"; then ok; else bad "compile --time-passes"; cat "$tmp/c.txt"; fi
# target CPUs
for cpu in x86-64-v3 znver5 generic; do
    if "$kiln" compile "$mlp" --feed x --fetch y_out -o "$tmp/$cpu.o" --target-cpu "$cpu" -O3 >/dev/null 2>&1; then ok; else bad "--target-cpu $cpu"; fi
done

# bad input
printf 'not a protobuf at all \377\377\377\377' >"$tmp/garbage.pb"
head -c 700 "$mlp" >"$tmp/truncated.pb"
: >"$tmp/empty.pb"
expect_error missing-file "nope.pb" "$kiln" run "$tmp/nope.pb" --fetch y
expect_error garbage "garbage.pb" "$kiln" run "$tmp/garbage.pb" --fetch y
expect_error truncated "truncated.pb" "$kiln" compile "$tmp/truncated.pb" --fetch y_out -o "$tmp/t.o"
expect_error empty "empty.pb" "$kiln" dump "$tmp/empty.pb" --fetch y
expect_error unknown-feed "nosuch" "$kiln" run "$mlp" --feed nosuch="$src/samples/mlp/x.npy" --fetch y_out
expect_error unknown-fetch "nosuch" "$kiln" run "$mlp" --feed x="$src/samples/mlp/x.npy" --fetch nosuch
expect_error npy-shape "expects f32[100,32]" "$kiln" run "$mlp" --feed x="$src/samples/mlp/y_ref.npy" --fetch y_out
printf 'junk' >"$tmp/junk.npy"
expect_error npy-junk "junk.npy" "$kiln" run "$mlp" --feed x="$tmp/junk.npy" --fetch y_out
expect_error bad-option "unknown option" "$kiln" compile "$mlp" --fetch y_out --bogus
expect_error no-output "needs -o" "$kiln" compile "$mlp" --fetch y_out
expect_error unwritable "/nonexistent-dir" "$kiln" compile "$mlp" --fetch y_out -o /nonexistent-dir/m.o
for fx in "$src"/tests/fixtures/*/; do
    want=$(sed -n 's/^expect_error //p' "$fx/fixture.txt")
    [ -n "$want" ] || continue
    fetches=$(sed -n 's/^fetch \([^ ]*\).*/--fetch \1/p' "$fx/fixture.txt")
    # shellcheck disable=SC2086
    expect_error "$(basename "$fx")" "$want" "$kiln" compile "$fx/model.pb" $fetches -o "$tmp/e.o"
done
# the broken-file corpus (tools/make_bad_corpus.py): each .txt says the fetch and the expected words
# (bad_pb_passes: models that import and are refused by a pass's limits)
for f in "$src"/tests/corpus/bad_pb/*.pb "$src"/tests/corpus/bad_pb_passes/*.pb; do
    read -r fetch want <"${f%.pb}.txt"
    expect_error "corpus $(basename "$f")" "$want" "$kiln" compile "$f" --fetch "$fetch" -o "$tmp/c.o"
done
for f in "$src"/tests/corpus/bad_npy/*.npy; do
    expect_error "npy corpus $(basename "$f")" "$(basename "$f")" "$kiln" run "$mlp" --feed x="$f" --fetch y_out
done
# every unsupported op is listed, not just the first
if [ -d "$src/tests/fixtures/unsupported_ops" ]; then
    "$kiln" compile "$src/tests/fixtures/unsupported_ops/model.pb" $(sed -n 's/^fetch \([^ ]*\).*/--fetch \1/p' "$src/tests/fixtures/unsupported_ops/fixture.txt") -o "$tmp/u.o" 2>"$tmp/u.txt"
    n=$(grep -c "unsupported op" "$tmp/u.txt")
    if [ "$n" -ge 2 ]; then ok; else bad "unsupported ops: want every op listed, got $n lines"; cat "$tmp/u.txt"; fi
fi
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
