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
# the pool in the summary (docs/performance.md, "Which kernels split"): none of the MLP's kernels
# splits (the largest, ~5.5 us, is over two 2 us chunks but its GEMM has a single row tile and
# panel); LeNet b8's convs and pools split; one thread says nothing of the pool
if "$kiln" compile "$mlp" --feed x --fetch y_out -o "$tmp/t2.o" --threads 2 >"$tmp/t2.txt" 2>&1 &&
    grep -q "^kiln: no kernel splits over 2 threads (largest ~[0-9.]* us of work, but no loop of it divides)" "$tmp/t2.txt"
then ok; else bad "compile --threads 2: nothing to split"; cat "$tmp/t2.txt"; fi
# over 3 threads that ~5.5 us is under three 2 us chunks: all too small
if "$kiln" compile "$mlp" --feed x --fetch y_out -o "$tmp/t3.o" --threads 3 >"$tmp/t3.txt" 2>&1 &&
    grep -q "^kiln: no kernel splits over 3 threads: all are too small (largest ~[0-9.]* us of work" "$tmp/t3.txt"
then ok; else bad "compile --threads 3: too small to split"; cat "$tmp/t3.txt"; fi
lenet="$src/tests/fixtures/model_lenet_b8/model.pb"
if "$kiln" compile "$lenet" -o "$tmp/l2.o" --threads 2 >"$tmp/l2.txt" 2>&1 &&
    grep -q "^kiln: [1-9][0-9]* of [0-9]* kernels split over 2 threads" "$tmp/l2.txt"; then ok; else bad "compile --threads 2: splits"; cat "$tmp/l2.txt"; fi
if "$kiln" compile "$lenet" -o "$tmp/l1.o" >"$tmp/l1.txt" 2>&1 && ! grep -q "split" "$tmp/l1.txt"; then ok
else bad "compile --threads 1: no pool line"; cat "$tmp/l1.txt"; fi
# target CPUs
for cpu in x86-64-v3 znver5 generic; do
    if "$kiln" compile "$mlp" --feed x --fetch y_out -o "$tmp/$cpu.o" --target-cpu "$cpu" -O3 >/dev/null 2>&1; then ok; else bad "--target-cpu $cpu"; fi
done

# ---- help, version, man page, suggestions (tools/kiln/help.c: one table)
if "$kiln" --help >"$tmp/h.txt" 2>&1 && grep -q "^  viz " "$tmp/h.txt" && grep -q "^  bench " "$tmp/h.txt" &&
    grep -q "^  compile " "$tmp/h.txt"; then ok; else bad "kiln --help lists the commands"; cat "$tmp/h.txt"; fi
"$kiln" >"$tmp/o" 2>"$tmp/e"
rc=$?
if [ $rc -eq 2 ] && grep -q "^  viz " "$tmp/e" && grep -q "^  bench " "$tmp/e" && [ ! -s "$tmp/o" ]; then ok; else bad "kiln without arguments: exit $rc, usage to stderr"; fi
for cmd in compile run dump viz bench; do
    "$kiln" "$cmd" --help >"$tmp/c1.txt" 2>&1 || bad "kiln $cmd --help: exit $?"
    "$kiln" help "$cmd" >"$tmp/c2.txt" 2>&1 || bad "kiln help $cmd: exit $?"
    "$kiln" "$cmd" "$mlp" -h >"$tmp/c3.txt" 2>&1 || bad "kiln $cmd MODEL -h: exit $?"
    if grep -q "^usage: kiln $cmd MODEL" "$tmp/c1.txt" && grep -q "^options:" "$tmp/c1.txt" && grep -q "^examples:" "$tmp/c1.txt" &&
        grep -q "^  kiln $cmd " "$tmp/c1.txt" && grep -q "Default: " "$tmp/c1.txt" &&
        cmp -s "$tmp/c1.txt" "$tmp/c2.txt" && cmp -s "$tmp/c1.txt" "$tmp/c3.txt"; then ok; else bad "help of $cmd"; cat "$tmp/c1.txt"; fi
done
grep -q -- "--profile-json FILE" "$tmp/c1.txt" && bad "bench --help lists run's --profile-json"
"$kiln" run --help | grep -q -- "--profile-json FILE" || bad "run --help lacks --profile-json"
expect_error help-unknown "did you mean 'compile'" "$kiln" help compil
if "$kiln" --version >"$tmp/v.txt" && grep -Eq '^kiln [0-9]+\.[0-9]+\.[0-9]+ \(LLVM [0-9]+\.[0-9]+\.[0-9]+\)$' "$tmp/v.txt"; then ok; else bad "kiln --version"; cat "$tmp/v.txt"; fi
# the committed man page is the generated one (regenerate: kiln help --man > docs/kiln.1)
"$kiln" help --man >"$tmp/kiln.1"
if cmp -s "$tmp/kiln.1" "$src/docs/kiln.1"; then ok; else bad "docs/kiln.1 differs from 'kiln help --man' (regenerate it)"; diff "$src/docs/kiln.1" "$tmp/kiln.1" | head; fi
if command -v groff >/dev/null; then
    if groff -man -ww -z "$tmp/kiln.1" 2>"$tmp/groff.txt" && [ ! -s "$tmp/groff.txt" ]; then ok; else bad "groff warns on the man page"; cat "$tmp/groff.txt"; fi
else echo "SKIP: groff not installed: the man page's roff was not checked"; fi
# every option the parser knows (main.c, tools_option) is in the table, hence in --help and the man page
for o in $(grep -o 'opt_value(argc, argv, &i, "[^"]*")' "$src/tools/kiln/main.c" | sed 's/.*"\(.*\)")/\1/' | sort -u) \
    --time-passes --profile --profile-json --iters --show-consts; do
    grep -q -- "^\.B $(echo "$o" | sed 's/-/\\\\-/g')\$\|^\.B $(echo "$o" | sed 's/-/\\\\-/g') " "$tmp/kiln.1" || bad "option $o is not in the help table"
done
expect_error suggest-fetch "unknown option '--fech'; did you mean '--fetch'?" "$kiln" run "$mlp" --fech y_out
expect_error suggest-threads "did you mean '--threads'?" "$kiln" compile "$mlp" --thread=2 -o "$tmp/x.o"
expect_error suggest-profile "did you mean '--profile-json'?" "$kiln" run "$mlp" --profile-jsn p.json
expect_error suggest-none "unknown option '--xyzzyplugh'" "$kiln" compile "$mlp" --xyzzyplugh
grep -q "did you mean" "$tmp/err" && bad "a far-off option got a suggestion: $(cat "$tmp/err")"
expect_error suggest-command "unknown command 'compil'; did you mean 'compile'?" "$kiln" compil "$mlp"
expect_error progress-mode "--progress wants auto, always or never" "$kiln" compile "$mlp" -o "$tmp/x.o" --progress sometimes

# ---- the progress line: on a terminal past KILN_PROGRESS_DELAY (2 s), never into a pipe
compile_mlp="$kiln compile $mlp --feed x --fetch y_out -o $tmp/p.o"
KILN_PROGRESS_DELAY=0 $compile_mlp >"$tmp/o" 2>"$tmp/e" || bad "compile with KILN_PROGRESS_DELAY=0"
grep -q "pass\|codegen" "$tmp/e" && bad "progress printed into a pipe"
$compile_mlp --progress always >"$tmp/o" 2>"$tmp/e"
if grep -q "^kiln: [0-9.]* s  pass fuse (9 of 11)$" "$tmp/e" && grep -q "^kiln: [0-9.]* s  codegen: kernel 2 of 2$" "$tmp/e" &&
    grep -q "llvm-emit" "$tmp/e"; then ok; else bad "--progress always"; cat "$tmp/e"; fi
if command -v script >/dev/null; then
    KILN_PROGRESS_DELAY=0 script -qec "$compile_mlp" /dev/null >"$tmp/tty.txt" 2>&1
    if grep -q "kiln: [0-9.]* s  pass bufassign (10 of 11)" "$tmp/tty.txt" && grep -q "codegen: kernel 2 of 2" "$tmp/tty.txt" &&
        grep -q "$(printf '\r\033\\[K')kiln: wrote" "$tmp/tty.txt"; then ok; else bad "progress on a TTY"; cat -v "$tmp/tty.txt"; fi
    # a fast compile (here: under 60 s) shows nothing
    KILN_PROGRESS_DELAY=60 script -qec "$compile_mlp" /dev/null >"$tmp/tty.txt" 2>&1
    grep -q "pass\|codegen" "$tmp/tty.txt" && { bad "progress shown for a fast compile"; cat -v "$tmp/tty.txt"; }
    KILN_PROGRESS_DELAY=0 script -qec "$compile_mlp --progress never" /dev/null >"$tmp/tty.txt" 2>&1
    grep -q "pass\|codegen" "$tmp/tty.txt" && bad "progress shown with --progress never"
else echo "SKIP: script (util-linux) not installed: the progress line on a TTY was not checked"; fi

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
