#!/bin/sh
# The guard-page harness: every committed fixture (per-op, model, guard-edge)
# compiled ahead of time in each mode below, linked into the AOT driver that
# places every feed, fetch and the temp arena flush against PROT_NONE pages
# (ending at one — exactly, and with a 64-byte-aligned start — and starting
# right after one), feeds read-only, slack checked for stray writes, results
# against TensorFlow's.  Generated code must never touch a byte outside its
# buffers, at any vector width (DEVELOPERS.md, correctness rules).
# Modes: -O0 and -O2 at 1 and 2 threads on the host CPU (AVX-512 where it has
# it), and -O2 at 1 thread for AVX2 (x86-64-v3, 8 lanes) and SSE4.2
# (x86-64-v2, 4 lanes); -Os (shared kernels, codegen/shared.c) for the
# models, the MLP and the conv, depthwise and matmul fixtures.  The JIT path runs under the same placements in the
# Criterion fixture tests (tests/support/fixture.c).
#   guard.sh SRC BUILD [FIXTURE_DIR...]
set -u
src=$1 build=$2
shift 2
dirs=${*:-"$src"/tests/fixtures/*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)
cases="$tmp/cases"
: >"$cases"
for d in $dirs; do
    [ -f "$d/fixture.txt" ] && [ -f "$d/model.pb" ] || continue
    grep -q '^expect_error' "$d/fixture.txt" && continue
    for mode in "0 1 native" "0 2 native" "2 1 native" "2 2 native" "2 1 x86-64-v3" "2 1 x86-64-v2"; do
        echo "$d $mode" >>"$cases"
    done
    case $(basename "$d") in model_*|mlp|ops_conv2d_*|ops_depthwise_*|ops_matmul*) echo "$d s 1 native" >>"$cases" ;; esac
done
# shellcheck disable=SC2016
xargs -P "$jobs" -L 1 sh -c 'sh "$0"/tests/support/guard_case.sh "$0" "$1" "$2" "$3" "$4" "$5" "$6"' \
    "$src" "$build" "$tmp" <"$cases" | sed 's/^/  /' | tee "$tmp/out" | grep -v '^  PASS' || true
passed=$(grep -c '^  PASS' "$tmp/out")
failed=$(grep -c '^  FAIL' "$tmp/out")
objects=$(awk '{print $1}' "$cases" | sort -u | wc -l)
echo "guard harness: $objects fixtures x 6 modes (+ -Os for $(grep -c ' s 1 ' "$cases")) x 3 placements: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$passed" -eq "$(wc -l <"$cases")" ]
