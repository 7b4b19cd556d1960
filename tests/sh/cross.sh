#!/bin/sh
# Hosted cross targets under emulation: every committed fixture (models,
# per-op, guard edges) compiled for aarch64-linux-gnu (NEON) and
# riscv64-linux-gnu (RV64GC) at -O2, and the models also at -O0 (the models
# and guard edges also with RVV, +v, at VLEN 128 and 512; KWS and LeNet at batch 8 also
# with --threads 2, linked with runtime/pool.c cross-compiled), linked
# statically with the targets' cross compilers and run under qemu-user with
# every buffer against guard pages, compared with TensorFlow's outputs at
# the fixtures' tolerances.  tools/install-deps.sh installs the toolchains
# and QEMU; without them this test fails (it is never silently skipped).
#   cross.sh SRC BUILD [FIXTURE_DIR...]
set -u
src=$1 build=$2
shift 2
dirs=${*:-"$src"/tests/fixtures/*}
for tool in qemu-aarch64 qemu-riscv64 aarch64-linux-gnu-gcc riscv64-linux-gnu-gcc aarch64-linux-gnu-nm riscv64-linux-gnu-nm; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (run tools/install-deps.sh)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cases="$tmp/cases"
: >"$cases"
for d in $dirs; do
    [ -f "$d/fixture.txt" ] && [ -f "$d/model.pb" ] || continue
    grep -q '^expect_error' "$d/fixture.txt" && continue
    for t in "aarch64-linux-gnu aarch64-linux-gnu-gcc qemu-aarch64" "riscv64-linux-gnu riscv64-linux-gnu-gcc qemu-riscv64"; do
        echo "$d $t 2" >>"$cases"
        case $(basename "$d") in model_*) echo "$d $t 0" >>"$cases" ;; esac
    done
    # the thread pool on the hosted cross targets: runtime/pool.c built by
    # the cross compilers, two conv models compiled with --threads 2
    case $(basename "$d") in model_kws_dscnn | model_lenet_b8)
        for t in "aarch64-linux-gnu aarch64-linux-gnu-gcc qemu-aarch64" "riscv64-linux-gnu riscv64-linux-gnu-gcc qemu-riscv64"; do
            echo "$d $t 2 - - 2" >>"$cases"
        done ;;
    esac
    # RVV (--target-features +v) on the models and the vector-width edge
    # cases, run at two VLENs: the code must not depend on the vector length
    case $(basename "$d") in model_* | guard_*)
        for vlen in 128 512; do
            echo "$d riscv64-linux-gnu riscv64-linux-gnu-gcc qemu-riscv64 2 +v rv64,v=true,vlen=$vlen,vext_spec=v1.0" >>"$cases"
        done ;;
    esac
done
# shellcheck disable=SC2016
xargs -P "$(nproc 2>/dev/null || echo 2)" -L 1 sh -c 'sh "$0"/tests/support/cross_case.sh "$0" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10:-}"' \
    "$src" "$build" "$tmp" <"$cases" | sed 's/^/  /' | tee "$tmp/out" | grep -v '^  PASS' || true
grep '^  PASS model_' "$tmp/out" | sort
passed=$(grep -c '^  PASS' "$tmp/out")
failed=$(grep -c '^  FAIL' "$tmp/out")
echo "cross targets (aarch64, riscv64, riscv64+v under qemu-user): $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -eq "$(wc -l <"$cases")" ]
