#!/bin/sh
# Kiln as an installed package (docs/cmake.md): install this build into a
# temporary prefix, check what landed there, configure the out-of-tree
# project tests/consumer against it (find_package(Kiln), kiln_add_model()),
# build it, run its C and C++ programs (two models of different prefixes in
# each binary, outputs checked against TensorFlow's / ONNX Runtime's) and the
# JIT sample linked against Kiln::compiler (shared and static); check that
# kiln_add_model() recompiles when the model or the kiln binary changes and
# only then, that an object needing libkilnrt in a target without it fails
# the build with the option to add; then the same libraries through
# pkg-config (kiln.pc, kilnrt.pc).
set -eu
src=$(cd "$1" && pwd) build=$(cd "$2" && pwd)
work="$build/consumer"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
config=$(find "$prefix" -name KilnConfig.cmake)
[ -n "$config" ] || fail "no KilnConfig.cmake under $prefix"
cmakedir=$(dirname "$config")
libdir=$(dirname "$(dirname "$cmakedir")")
for f in "$prefix/bin/kiln" "$prefix/include/kiln/kiln.h" "$prefix/include/kiln/runtime.h" "$libdir/libkiln.a" \
    "$libdir/libkilnrt.a" "$cmakedir/KilnConfigVersion.cmake" "$cmakedir/KilnModel.cmake" "$cmakedir/KilnTargets.cmake" \
    "$libdir/pkgconfig/kiln.pc" "$libdir/pkgconfig/kilnrt.pc"; do
    [ -f "$f" ] || fail "cmake --install did not write $f"
done
shared=0
[ -f "$libdir/libkilnrt.so" ] && [ -f "$libdir/libkiln.so" ] && shared=1
"$prefix/bin/kiln" compile "$src/samples/mlp/mlp.pb" -o "$work/installed.o" >/dev/null || fail "the installed kiln does not run"
tool_version=$("$prefix/bin/kiln" --version | sed -n 's/^kiln \([0-9.]*\) .*/\1/p')
grep -q "VERSION \"$tool_version\"" "$cmakedir/KilnConfigVersion.cmake" ||
    fail "KilnConfigVersion.cmake does not say kiln --version's $tool_version"
# The runtime never pulls in LLVM or protobuf-c.
if [ $shared = 1 ] && readelf -d "$libdir/libkilnrt.so" | grep -i 'NEEDED.*\(llvm\|protobuf\)'; then
    fail "libkilnrt.so depends on LLVM or protobuf-c"
fi
if nm -u "$libdir/libkilnrt.a" | grep -i ' U \(LLVM\|protobuf_c\)'; then fail "libkilnrt.a calls LLVM or protobuf-c"; fi

# ---- CMake: find_package(Kiln) + kiln_add_model()
cp "$src/samples/mlp/mlp.pb" "$work/mlp.pb"
cb="$work/build"
cmake -S "$src/tests/consumer" -B "$cb" -DCMAKE_PREFIX_PATH="$prefix" -DKILN_SOURCE_DIR="$src" \
    -DMLP_MODEL="$work/mlp.pb" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure tests/consumer"; }
build_consumer() { # $1: log name; prints nothing, fails with the log
    cmake --build "$cb" -j 2 >"$work/$1.log" 2>&1 || { cat "$work/$1.log"; fail "build tests/consumer ($1)"; }
}
compiles() { grep -c 'kiln compile .* -> ' "$work/$1.log" || true; }
build_consumer build
[ "$(compiles build)" = 4 ] || fail "the first build ran kiln compile $(compiles build) times, not 4"
for p in consumer_c consumer_cxx; do
    "$cb/$p" >"$work/$p.txt" 2>&1 || { cat "$work/$p.txt"; fail "$p"; }
    cat "$work/$p.txt"
done
grep -q 'consumer_c: mlp rc 0.* 0 beyond' "$work/consumer_c.txt" && grep -q 'consumer_c: fire rc 0.* 0 beyond' "$work/consumer_c.txt" ||
    fail "consumer_c did not check both models"
grep -q 'consumer_cxx: kws rc 0.* 0 beyond' "$work/consumer_cxx.txt" && grep -q 'consumer_cxx: mlp0 rc 0.* 0 beyond' "$work/consumer_cxx.txt" ||
    fail "consumer_cxx did not check both models"
# kws was compiled for 2 threads: the object calls the pool and the target linked libkilnrt.
nm -u "$cb/kiln_models/kws/kws.o" | grep -q kiln_rt_parallel_for || fail "kws.o does not use the thread pool"
grep -q 'define KWS_NEEDS_RUNTIME 1' "$cb/kiln_models/kws/kws.h" || fail "kws.h does not say it needs the runtime"
nm -u "$cb/kiln_models/mlp/mlp.o" | grep -q kiln_ && fail "mlp.o (1 thread) references the runtime"
if readelf -d "$cb/consumer_cxx" "$cb/consumer_c" | grep -i 'NEEDED.*\(llvm\|protobuf\)'; then
    fail "a program linking only compiled models depends on LLVM or protobuf-c"
fi
if [ $shared = 1 ] && ! readelf -d "$cb/consumer_cxx" | grep -q 'NEEDED.*libkilnrt'; then fail "consumer_cxx does not link libkilnrt"; fi

jit_want=$("$build/bin/sample_jit" "$src/samples/mlp/mlp.pb" | grep '^y\[0')
for p in consumer_jit consumer_jit_static; do
    got=$("$cb/$p" "$src/samples/mlp/mlp.pb" | grep '^y\[0') || fail "$p"
    [ "$got" = "$jit_want" ] || fail "$p printed '$got', the build tree's sample_jit '$jit_want'"
done
if readelf -d "$cb/consumer_jit_static" | grep 'NEEDED.*libkiln'; then fail "consumer_jit_static depends on a shared libkiln"; fi

# Rebuilds: nothing to do; the model changed (its two targets); kiln changed (all four).
build_consumer nochange
[ "$(compiles nochange)" = 0 ] || fail "a build with nothing changed ran kiln compile"
sleep 1
touch "$work/mlp.pb"
build_consumer model
[ "$(compiles model)" = 2 ] || fail "touching mlp.pb ran kiln compile $(compiles model) times, not 2 (mlp, mlp0)"
sleep 1
touch "$prefix/bin/kiln"
build_consumer tool
[ "$(compiles tool)" = 4 ] || fail "touching the kiln binary ran kiln compile $(compiles tool) times, not 4"
"$cb/consumer_c" >/dev/null || fail "consumer_c after the rebuilds"

# An object that calls libkilnrt, in a target told RUNTIME OFF: the build stops and says what to add.
if cmake --build "$cb" --target kws_no_runtime >"$work/no_runtime.log" 2>&1; then fail "kws_no_runtime built"; fi
grep -q 'add RUNTIME ON' "$work/no_runtime.log" || { cat "$work/no_runtime.log"; fail "no RUNTIME hint"; }
[ ! -f "$cb/kiln_models/kws_no_runtime/kws.o" ] || fail "the refused object was left behind"

# ---- pkg-config
if ! command -v pkg-config >/dev/null; then echo "SKIP pkg-config checks: pkg-config is not installed"; echo "PASS: consumer (CMake)"; exit 0; fi
export PKG_CONFIG_PATH="$libdir/pkgconfig"
version=$(sed -n 's/^Version: //p' "$libdir/pkgconfig/kiln.pc")
[ "$version" = "$tool_version" ] && [ "$(pkg-config --modversion kiln)" = "$version" ] &&
    [ "$(pkg-config --modversion kilnrt)" = "$version" ] || fail "pkg-config --modversion (kiln --version: $tool_version)"
if pkg-config --static --libs kilnrt | grep -i 'llvm\|protobuf'; then fail "kilnrt.pc pulls LLVM or protobuf-c"; fi
pc="$work/pc"
mkdir -p "$pc"
# A model object linked with kilnrt.pc alone.
printf '#include <stdio.h>\n#include "kws.h"\nstatic float t[KWS_T_SIZE], y[KWS_IDENTITY_SIZE];\nstatic _Alignas(64) char temp[KWS_TEMP_SIZE];\nint main(void){ int rc = kws_run(t, y, temp); printf("kws %%d %%g\\n", rc, y[0]); return rc; }\n' >"$pc/kws_main.c"
# shellcheck disable=SC2046
cc -O1 -I"$cb/kiln_models/kws" "$pc/kws_main.c" "$cb/kiln_models/kws/kws.o" $(pkg-config --cflags --libs kilnrt) \
    -Wl,-rpath,"$libdir" -o "$pc/kws" || fail "cc kws.o with pkg-config kilnrt"
"$pc/kws" | grep -q '^kws 0 ' || fail "the kws program linked through kilnrt.pc"
# The compiler API through kiln.pc: the JIT sample, shared and (named archives) static.
# shellcheck disable=SC2046
cc -O1 "$src/samples/jit/main.c" $(pkg-config --cflags --libs kiln) -Wl,-rpath,"$libdir" -o "$pc/jit" ||
    fail "cc with pkg-config kiln"
[ "$("$pc/jit" "$src/samples/mlp/mlp.pb" | grep '^y\[0')" = "$jit_want" ] || fail "the JIT sample linked through kiln.pc"
static_libs=$(pkg-config --static --libs kiln | sed 's/-lkiln\b/-l:libkiln.a/; s/-lkilnrt\b/-l:libkilnrt.a/')
# shellcheck disable=SC2086
cc -O1 "$src/samples/jit/main.c" $(pkg-config --cflags kiln) $static_libs -o "$pc/jit_static" ||
    fail "cc with pkg-config --static kiln ($static_libs)"
[ "$("$pc/jit_static" "$src/samples/mlp/mlp.pb" | grep '^y\[0')" = "$jit_want" ] || fail "the statically linked JIT sample"
if readelf -d "$pc/jit_static" | grep 'NEEDED.*libkiln'; then fail "jit_static depends on a shared libkiln"; fi
echo "PASS: consumer (cmake --install, find_package(Kiln), kiln_add_model, pkg-config)"
