#!/bin/sh
# TensorFlow Lite Micro's code size on the Cortex-M4 (FPv4-SP, hard float),
# the anchor for Kiln's code column in docs/embedded.md.  A measurement
# tool: nothing of TFLM enters Kiln's tree or its tests.
#
#   tools/tflm_code_size.sh TFLM FLATBUFFERS GEMMLOWP RUY [WORKDIR [MODEL.tflite FIXTURE_DIR]]
#
# TFLM: a tflite-micro checkout; FLATBUFFERS, GEMMLOWP, RUY: checkouts of the
# versions its tensorflow/lite/micro/tools/make/third_party_downloads.inc
# pins (flatbuffers with TFLM's flatbuffers.patch applied; only headers are
# used).  Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and
# libstdc++-arm-none-eabi-newlib (apt), python3.
#
# Builds what TFLM's Makefile builds for TARGET=cortex_m_generic
# TARGET_ARCH=cortex-m4+fp BUILD_TYPE=release (its smallest build: -Os for
# the framework, -O2 for the kernels, error strings stripped, reference
# kernels -- CMSIS-NN only speeds up int8), without its download step:
# the framework (tensorflow/lite/micro/*.cc, arena_allocator/,
# memory_planner/, tflite_bridge/, the TFLite sources it shares, the
# cortex_m_generic debug_log.cc and micro_time.cc) as one archive, the
# kernels (tensorflow/lite/micro/kernels/*.cc) as another.  Then links, with
# --gc-sections, a program that loads a .tflite from flash, allocates its
# tensors and invokes it, twice: with an empty op resolver (the framework
# alone) and with the ops the KWS DS-CNN and person-detection models need
# (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MEAN, AVERAGE_POOL_2D,
# RESHAPE, SOFTMAX).  The link maps give the bytes of .text and .rodata that
# come from each archive and from the C/C++ libraries TFLM pulls in.
#
# With MODEL.tflite (tools/gen_firmware_models.py --tflite) and its fixture
# directory, also runs that model with TFLM under qemu-system-arm
# (mps2-an386, -icount shift=0, tests/firmware/startup.c and mps2.ld) on the
# fixture's input and prints TFLM's instructions per Invoke() (CMSDK timer
# ticks x 40, as tests/firmware/fw_driver.c counts Kiln's) and its max abs
# error against TensorFlow's reference.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
tflm=$(cd "$1" && pwd) fb=$(cd "$2" && pwd) gl=$(cd "$3" && pwd) ruy=$(cd "$4" && pwd)
w=${5:-$(mktemp -d)}
mkdir -p "$w/core" "$w/kern"
cpu="-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -mthumb -mlittle-endian"
common="$cpu -fno-unwind-tables -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections
 -DTF_LITE_STATIC_MEMORY -DTF_LITE_DISABLE_X86_NEON -DNDEBUG -DTF_LITE_STRIP_ERROR_STRINGS -DTF_LITE_MCU_DEBUG_LOG
 -fomit-frame-pointer -fsigned-char -w -I$tflm -I$fb/include -I$gl -I$ruy"
cxx="arm-none-eabi-g++ -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics $common"
cc="arm-none-eabi-gcc -std=c17 $common"
m=$tflm/tensorflow/lite/micro
# the framework: what sources.inc calls MICROLITE_CC_BASE_SRCS, tests and
# benchmarks left out, the target's debug_log.cc/micro_time.cc for the generic ones
{
    find "$tflm/tensorflow" -type d \( -path "$tflm/tensorflow/lite/experimental" -o -path "$m" \) -prune -false \
        -o -name '*.cc' -o -name '*.c' | grep -v '/tensorflow/lite/array.cc$'
    ls "$m"/*.cc "$m"/arena_allocator/*.cc "$m"/memory_planner/*.cc "$m"/tflite_bridge/*.cc
} | grep -v '_test\.cc$\|/debug_log\.cc$\|/micro_time\.cc$\|/fake_micro_context\.cc$\|/mock_micro_graph\.cc$\|/test_helper' >"$w/core.list"
echo "$m/cortex_m_generic/debug_log.cc" >>"$w/core.list"
echo "$m/cortex_m_generic/micro_time.cc" >>"$w/core.list"
# the kernels the models use and their helpers (TFLM_ALL_KERNELS=1: every
# kernel source; --gc-sections drops the unused ones either way)
if [ "${TFLM_ALL_KERNELS:-0}" = 1 ]; then
    printf "%s\n" "$m"/kernels/*.cc | grep -v '_test\.cc$\|_test_common\.cc$\|/kernel_runner\.cc$\|/testdata'
else
    printf "%s\n" "$m"/kernels/*.cc | grep -E '/(conv|depthwise_conv|fully_connected|reduce|pooling|reshape|softmax)(_common)?\.cc$|/(kernel_util|micro_tensor_utils)\.cc$'
fi >"$w/kern.list"
compile() { # LIST DIR OPT (objects already in DIR are kept: rerunning resumes)
    while read -r s; do
        o="$2/$(echo "${s#"$tflm"/}" | tr / _).o"
        [ -f "$o" ] && continue
        case $s in
            *.c) $cc $3 -c "$s" -o "$o.tmp" ;;
            *) $cxx $3 -c "$s" -o "$o.tmp" ;;
        esac || { echo "tflm_code_size: $s does not compile" >&2; exit 1; }
        mv "$o.tmp" "$o"
    done <"$1"
}
compile "$w/core.list" "$w/core" -Os
compile "$w/kern.list" "$w/kern" -O2
rm -f "$w/libtflm_core.a" "$w/libtflm_kernels.a"
arm-none-eabi-ar rcs "$w/libtflm_core.a" "$w"/core/*.o
arm-none-eabi-ar rcs "$w/libtflm_kernels.a" "$w"/kern/*.o
cat >"$w/main.cc" <<'EOF'
#include <cstring>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
// the model sits in flash at an address the program does not know at compile time
extern "C" const unsigned char *volatile g_model;
const unsigned char *volatile g_model = nullptr;
alignas(16) static uint8_t arena[300 * 1024];
static float io[96 * 96];
int main() {
#if KERNELS
  tflite::MicroMutableOpResolver<7> r;
  r.AddConv2D(); r.AddDepthwiseConv2D(); r.AddFullyConnected(); r.AddMean();
  r.AddAveragePool2D(); r.AddReshape(); r.AddSoftmax();
#else
  tflite::MicroMutableOpResolver<1> r;
#endif
  tflite::MicroInterpreter it(tflite::GetModel(g_model), r, arena, sizeof arena);
  if (it.AllocateTensors() != kTfLiteOk) return 1;
  memcpy(it.input(0)->data.f, io, it.input(0)->bytes);
  if (it.Invoke() != kTfLiteOk) return 2;
  memcpy(io, it.output(0)->data.f, it.output(0)->bytes);
  return 0;
}
EOF
for k in 0 1; do
    $cxx -Os -DKERNELS=$k -c "$w/main.cc" -o "$w/main$k.o"
    arm-none-eabi-g++ $cpu -specs=nano.specs -specs=nosys.specs -Wl,--gc-sections -Wl,-Map="$w/map$k" \
        "$w/main$k.o" "$w/libtflm_kernels.a" "$w/libtflm_core.a" -lm -o "$w/tflm$k.elf" 2>"$w/link$k.log" ||
        { cat "$w/link$k.log" >&2; exit 1; }
done
python3 - "$w/map0" "$w/map1" <<'EOF'
import re, sys
def parse(path):
    """bytes of .text*/.rodata* input sections per origin, from a GNU ld map"""
    out = {}
    lines = open(path).read().split("\nLinker script and memory map", 1)[1].splitlines()
    pend = None
    for ln in lines:
        m = re.match(r"^ (\.(?:text|rodata)\S*)\s*$", ln)
        if m:
            pend = m.group(1)
            continue
        m = re.match(r"^ (\.(?:text|rodata)\S*)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", ln)
        name = (m.group(1) if m and m.group(1) else pend) if m else None
        pend = None
        if not m or not name:
            continue
        size, src = int(m.group(3), 16), m.group(4)
        kind = "text" if name.startswith(".text") else "rodata"
        if "libtflm_core.a" in src: who = "framework"
        elif "libtflm_kernels.a" in src: who = "kernels"
        elif re.search(r"/main[01]\.o$", src): who = "main"
        else: who = "libc/libm/libgcc/libstdc++ + startup"
        out[(who, kind)] = out.get((who, kind), 0) + size
    return out
for label, path in (("framework only (empty op resolver)", sys.argv[1]), ("framework + the 7 kernels", sys.argv[2])):
    d = parse(path)
    print(label + ":")
    for who in ("framework", "kernels", "libc/libm/libgcc/libstdc++ + startup", "main"):
        t, r = d.get((who, "text"), 0), d.get((who, "rodata"), 0)
        if t or r:
            print("  %-40s .text %7d B  .rodata %6d B" % (who, t, r))
EOF
[ $# -ge 7 ] || { echo "objects and maps in $w"; exit 0; }
model=$6 fixture=$7
python3 - "$fixture/in_0.npy" "$w/in.bin" "$fixture/out_0.npy" "$w/ref.bin" <<'EOF'
import sys
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):  # .npy v1 payload (float32 little-endian)
    b = open(src, "rb").read()
    open(dst, "wb").write(b[10 + (b[8] | b[9] << 8):])
EOF
cp "$model" "$w/model.tflite"
for f in model.tflite in.bin ref.bin; do
    (cd "$w" && arm-none-eabi-objcopy -I binary -O elf32-littlearm -B arm --set-section-alignment .data=16 \
        --rename-section .data=.rodata,alloc,load,readonly,data,contents "$f" "${f%.*}_blob.o")
done
cat >"$w/run.cc" <<'EOF'
#include <cstdint>
#include <cstring>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
extern "C" const unsigned char _binary_model_tflite_start[], _binary_in_bin_start[], _binary_ref_bin_start[],
    _binary_ref_bin_end[];
static int semihost(int op, const void *arg) {
  register int r0 __asm("r0") = op;
  register const void *r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
extern "C" void fw_exit(int code) {
  semihost(0x18, (void *)(uintptr_t)(code == 0 ? 0x20026 : 0x20023));
  for (;;) {}
}
static void put(const char *s) { semihost(0x04, s); }
static void put_int(long long v) {
  char b[24], *p = b + 23;
  *p = 0;
  do *--p = (char)('0' + v % 10), v /= 10; while (v);
  put(p);
}
alignas(16) static uint8_t arena[300 * 1024];
int main() {
  tflite::MicroMutableOpResolver<7> r;
  r.AddConv2D(); r.AddDepthwiseConv2D(); r.AddFullyConnected(); r.AddMean();
  r.AddAveragePool2D(); r.AddReshape(); r.AddSoftmax();
  tflite::MicroInterpreter it(tflite::GetModel(_binary_model_tflite_start), r, arena, sizeof arena);
  if (it.AllocateTensors() != kTfLiteOk) return put("AllocateTensors failed\n"), 1;
  memcpy(it.input(0)->data.f, _binary_in_bin_start, it.input(0)->bytes);
  volatile uint32_t *timer = (volatile uint32_t *)0x40000000u; // CMSDK APB timer 0: CTRL, VALUE, RELOAD
  timer[2] = 0xFFFFFFFFu, timer[1] = 0xFFFFFFFFu, timer[0] = 1;
  uint32_t t0 = timer[1];
  if (it.Invoke() != kTfLiteOk) return put("Invoke failed\n"), 1;
  uint32_t ticks = t0 - timer[1];
  const float *o = it.output(0)->data.f, *ref = (const float *)_binary_ref_bin_start;
  size_t n = (size_t)(_binary_ref_bin_end - _binary_ref_bin_start) / 4;
  float worst = 0;
  for (size_t i = 0; i < n; i++) { float e = o[i] > ref[i] ? o[i] - ref[i] : ref[i] - o[i]; if (e > worst) worst = e; }
  put("TFLM: instructions per Invoke "), put_int((long long)ticks * 40);
  put(", max abs error vs TensorFlow (x 1e9) "), put_int((long long)(worst * 1e9f)), put("\n");
  return worst < 1e-4f ? 0 : 1;
}
EOF
$cxx -Os -c "$w/run.cc" -o "$w/run.o"
arm-none-eabi-gcc $cpu -O2 -c "$src/tests/firmware/startup.c" -o "$w/startup.o"
arm-none-eabi-g++ $cpu -nostartfiles -specs=nano.specs -specs=nosys.specs -Wl,--gc-sections -T "$src/tests/firmware/mps2.ld" \
    -Wl,--no-warn-rwx-segments "$w/startup.o" "$w/run.o" "$w"/*_blob.o "$w/libtflm_kernels.a" "$w/libtflm_core.a" -lm \
    -o "$w/run.elf"
qemu-system-arm -M mps2-an386 -icount shift=0 -nographic -semihosting-config enable=on,target=native -kernel "$w/run.elf"
