/* codegen/target.c — the target table: one row per target Kiln emits code
 * for (docs/targets.md).  A row says what LLVM needs (triple, CPU, features,
 * ABI, relocation model) and what the emitters and the layout pass ask
 * (vector width, register file, which operations the ISA does natively, so
 * codegen never lets LLVM fall back to a libm or compiler-rt call, and
 * whether the object may use the runtime).  Emitters ask capabilities, never
 * the architecture's name; a new target is a row here (plus, where an ISA
 * needs it, a hook).
 *
 * CPU names are validated against the row's list so a typo is an error, not
 * a silently generic build; "native" is the host's CPU on the host's target.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Support.h>
#include <llvm-c/Target.h>

#include "cg_internal.h"

/* x86-64 CPUs by name with their capabilities. */
enum {
    X_SSE41 = CG_CAP_ROUND, X_V3 = CG_CAP_ROUND | CG_CAP_F16 | CG_CAP_FMA | CG_CAP_VEC256,
    X_V4 = X_V3 | CG_CAP_VEC512 | CG_CAP_REGS32,
};
static const cg_cpu x86_cpus[] = {
    {"generic", 0},          {"x86-64", 0},           {"x86-64-v2", X_SSE41},  {"x86-64-v3", X_V3},
    {"x86-64-v4", X_V4},     {"nehalem", X_SSE41},    {"sandybridge", X_SSE41}, {"ivybridge", X_SSE41 | CG_CAP_F16},
    {"haswell", X_V3},       {"broadwell", X_V3},     {"skylake", X_V3},       {"skylake-avx512", X_V4},
    {"cascadelake", X_V4},   {"cooperlake", X_V4},    {"cannonlake", X_V4},    {"icelake-client", X_V4},
    {"icelake-server", X_V4}, {"tigerlake", X_V4},    {"sapphirerapids", X_V4}, {"emeraldrapids", X_V4},
    {"graniterapids", X_V4}, {"alderlake", X_V3},     {"raptorlake", X_V3},    {"meteorlake", X_V3},
    {"arrowlake", X_V3},     {"lunarlake", X_V3},     {"znver1", X_V3},        {"znver2", X_V3},
    {"znver3", X_V3},        {"znver4", X_V4},        {"znver5", X_V4},        {"btver2", X_SSE41 | CG_CAP_F16},
    {"bdver4", X_V3},        {NULL, 0},
};

/* AArch64: every v8-A core has NEON (128-bit, 32 registers), FMA, frint*
 * rounding and half conversions. */
enum { A64 = CG_CAP_FMA | CG_CAP_ROUND | CG_CAP_F16 | CG_CAP_VEC128 | CG_CAP_REGS32 | CG_CAP_MINNUM };
static const cg_cpu a64_cpus[] = {
    {"generic", A64},     {"cortex-a53", A64},  {"cortex-a55", A64}, {"cortex-a72", A64},   {"cortex-a76", A64},
    {"cortex-a78", A64},  {"cortex-x1", A64},   {"neoverse-n1", A64}, {"neoverse-n2", A64}, {"neoverse-v1", A64},
    {"neoverse-v2", A64}, {"apple-m1", A64},    {NULL, 0},
};

/* RISC-V RV64GC / RV32IMAFC: scalar FMA (fmadd), 32 FP registers; no
 * rounding instruction (Zfa) and no half conversions (Zfh) assumed. */
enum { RV = CG_CAP_FMA | CG_CAP_REGS32 | CG_CAP_MINNUM };
static const cg_cpu rv64_cpus[] = {{"generic-rv64", RV}, {"sifive-u74", RV}, {"sifive-p550", RV}, {NULL, 0}};
static const cg_cpu rv32_cpus[] = {{"generic-rv32", RV}, {"sifive-e76", RV}, {NULL, 0}};

/* Cortex-M: FPv4-SP (M4) has single-precision FMA and 32 S registers, no
 * double and no VRINT; FPv5 (M7, M33, M55) adds VRINT, double on M7/M55;
 * the M55's MVE has 128-bit float vectors in 8 Q registers. */
enum { CM4 = CG_CAP_FMA | CG_CAP_REGS32 | CG_CAP_NO_F64, FPV5 = CG_CAP_FMA | CG_CAP_ROUND | CG_CAP_MINNUM };
static const cg_cpu cm7e_cpus[] = {
    {"cortex-m4", CM4}, {"cortex-m7", FPV5 | CG_CAP_REGS32}, {NULL, 0},
};
static const cg_cpu cm8_cpus[] = {
    {"cortex-m33", FPV5 | CG_CAP_REGS32 | CG_CAP_NO_F64}, {"cortex-m35p", FPV5 | CG_CAP_REGS32 | CG_CAP_NO_F64},
    {"cortex-m55", FPV5 | CG_CAP_F16 | CG_CAP_VEC128}, {NULL, 0},
};

/* NVIDIA GPUs by compute capability: the CPU list is the architectures the
 * fat binary can hold (--gpu-arch sm_80,sm_90); PTX has FMA, cvt.rmi/rpi/rzi/rni
 * rounding and max/min.f32 (NaN-ignoring), so none of them is emulated. */
enum { PTX = CG_CAP_FMA | CG_CAP_ROUND | CG_CAP_MINNUM };
static const cg_cpu cuda_cpus[] = {{"sm_80", PTX}, {"sm_86", PTX}, {"sm_89", PTX}, {"sm_90", PTX}, {NULL, 0}};

static const cg_target targets[] = {
    {.name = "x86_64-linux-gnu", .triple = "x86_64-pc-linux-gnu", .cpus = x86_cpus, .default_cpu = "native",
     .base_caps = CG_CAP_VEC128 | CG_CAP_MINNUM, .reloc = LLVMRelocPIC, .hosted = true, .runtime = true,
     .feature_caps = {{"sse4.1", CG_CAP_ROUND}, {"f16c", CG_CAP_F16}, {"fma", CG_CAP_FMA}, {"avx2", CG_CAP_VEC256},
                      {"avx512f", CG_CAP_VEC512 | CG_CAP_REGS32}},
     .summary = "x86-64 Linux (SSE, AVX2, AVX-512 by CPU); the host"},
    {.name = "aarch64-linux-gnu", .triple = "aarch64-unknown-linux-gnu", .cpus = a64_cpus, .default_cpu = "generic",
     .base_features = "+neon,+fp-armv8", .reloc = LLVMRelocPIC, .hosted = true, .runtime = true,
     .summary = "AArch64 Linux, NEON"},
    {.name = "riscv64-linux-gnu", .triple = "riscv64-unknown-linux-gnu", .cpus = rv64_cpus, .default_cpu = "generic-rv64",
     .base_features = "+m,+a,+f,+d,+c", .abi = "lp64d", .reloc = LLVMRelocPIC, .hosted = true, .runtime = true,
     /* RVV 1.0 (`--target-features +v`): VLEN >= 128, so 4-lane float
      * vectors; the code runs on any VLEN (LLVM assumes only the minimum) */
     .feature_caps = {{"v", CG_CAP_VEC128}},
     .summary = "RISC-V RV64GC Linux, scalar; RVV vectors with +v"},
    {.name = "thumbv7em-none-eabihf", .triple = "thumbv7em-none-unknown-eabihf", .cpus = cm7e_cpus,
     .default_cpu = "cortex-m4", .base_caps = CG_CAP_PTR32, .reloc = LLVMRelocStatic, .summary = "Cortex-M4/M7 firmware, hard float"},
    {.name = "thumbv8m.main-none-eabihf", .triple = "thumbv8m.main-none-unknown-eabihf", .cpus = cm8_cpus,
     .default_cpu = "cortex-m33", .base_caps = CG_CAP_PTR32, .reloc = LLVMRelocStatic, .summary = "Cortex-M33/M55 firmware, hard float (MVE on M55)"},
    {.name = "riscv32-none-elf", .triple = "riscv32-unknown-none-elf", .cpus = rv32_cpus, .default_cpu = "generic-rv32",
     .base_features = "+m,+a,+f,+c", .abi = "ilp32f", .base_caps = CG_CAP_NO_F64 | CG_CAP_PTR32, .reloc = LLVMRelocStatic,
     .summary = "RISC-V RV32IMAFC firmware, hard float"},
    /* PTX ISA 7.8 (CUDA 11.8) is the oldest that has both sm_80 and sm_90 */
    {.name = "cuda", .triple = "nvptx64-nvidia-cuda", .cpus = cuda_cpus, .default_cpu = "sm_80",
     .base_features = "+ptx78", .reloc = LLVMRelocDefault, .device = true,
     .summary = "NVIDIA GPUs (sm_80, sm_90): a fat binary in an x86-64 host object (docs/gpu.md)"},
};
enum { N_TARGETS = sizeof targets / sizeof *targets };

const cg_target *cg_target_by_name(const char *name)
{
    if (!name || !*name || !strcmp(name, "host")) return &targets[0];
    for (int i = 0; i < N_TARGETS; i++)
        if (!strcmp(targets[i].name, name)) return &targets[i];
    return NULL;
}

const char *cg_target_names(void)
{
    static const char *list;
    static char buf[512];
    if (!list) { /* the table is constant: writing the same bytes twice is harmless */
        size_t n = 0;
        for (int i = 0; i < N_TARGETS && n < sizeof buf; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", targets[i].name);
        list = buf;
    }
    return list;
}

static const cg_cpu *find_cpu(const cg_target *t, const char *cpu)
{
    for (const cg_cpu *c = t->cpus; c->name; c++)
        if (!strcmp(c->name, cpu)) return c;
    return NULL;
}

/* The last "+feature" / "-feature" in the list for `feature`: 1, 0, or -1
 * when the list does not name it. */
static int feature_verdict(const char *features, const char *feature)
{
    int verdict = -1;
    size_t n = strlen(feature);
    for (const char *p = features ? features : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n + 1 && (*p == '+' || *p == '-') && !strncmp(p + 1, feature, n)) verdict = *p == '+';
        p += len + (end != NULL);
    }
    return verdict;
}

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    /* KILN_LLVM_ARGS: LLVM's own options for diagnosing the compiler
     * (docs/performance.md, compile time), e.g. "-time-passes". */
    const char *env = getenv("KILN_LLVM_ARGS");
    if (env && *env) {
        static char buf[1024];
        static const char *argv[32];
        int argc = 0;
        argv[argc++] = "kiln";
        snprintf(buf, sizeof buf, "%s", env);
        for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = t;
        LLVMParseCommandLineOptions(argc, argv, "kiln");
    }
}

void cg_init_llvm(void) { pthread_once(&llvm_once, init_once); }

static char *join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a ? a : "") + strlen(b ? b : "") + strlen(c ? c : "") + 3;
    char *s = kl_calloc(NULL, 1, n, "code generation");
    if (!s) kl_die(__FILE__, __LINE__, "out of memory");
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (parts[i] && *parts[i]) {
            if (*s) strcat(s, ",");
            strcat(s, parts[i]);
        }
    return s;
}

bool cg_machine_resolve(const char *target, const char *cpu, const char *features, cg_machine *m, kl_diag *d)
{
    memset(m, 0, sizeof *m);
    const cg_target *t = cg_target_by_name(target);
    if (!t) return kl_diag_error(d, "unknown target '%s' (Kiln has: %s)", target, cg_target_names()), false;
    bool native = !cpu || !strcmp(cpu, "native");
    if (native && strcmp(t->default_cpu, "native")) native = false, cpu = t->default_cpu;
    /* a device row takes a list of architectures (--gpu-arch sm_80,sm_90):
     * each must be known; LLVM's target machine gets the first */
    char one[32] = "", first[32] = "";
    if (t->device && !native && strchr(cpu, ',')) {
        for (const char *p = cpu; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
            snprintf(one, sizeof one, "%.*s", (int)strcspn(p, ","), p);
            if (!*first) snprintf(first, sizeof first, "%s", one);
            if (!find_cpu(t, one)) break; /* reported below */
            *one = 0;
        }
        cpu = *one ? one : first;
    }
    const cg_cpu *row = native ? NULL : find_cpu(t, cpu);
    if (!native && !row) {
        char names[512] = "";
        for (const cg_cpu *c = t->cpus; c->name; c++)
            if (strlen(names) + strlen(c->name) + 3 < sizeof names) strcat(names, *names ? ", " : ""), strcat(names, c->name);
        kl_diag_error(d, "unknown CPU '%s' for target %s (try %s%s)", cpu, t->name, t == &targets[0] ? "native, " : "", names);
        return false;
    }
    cg_init_llvm();
    char *host_cpu = native ? LLVMGetHostCPUName() : NULL, *host_features = native ? LLVMGetHostCPUFeatures() : NULL;
    m->target = t;
    m->cpu = kl_strdup(NULL, native ? host_cpu : cpu);
    m->features = join(t->base_features, host_features, features);
    if (native) LLVMDisposeMessage(host_cpu), LLVMDisposeMessage(host_features);
    const cg_cpu *known = find_cpu(t, m->cpu);
    m->caps = t->base_caps | (known ? known->caps : 0);
    for (int i = 0; i < CG_MAX_FEATURE_CAPS && t->feature_caps[i].feature; i++) {
        int v = feature_verdict(m->features, t->feature_caps[i].feature);
        if (v == 1) m->caps |= t->feature_caps[i].caps;
        if (v == 0) m->caps &= ~t->feature_caps[i].caps;
    }
    m->vector_floats = m->caps & CG_CAP_VEC512 ? 16 : m->caps & CG_CAP_VEC256 ? 8 : m->caps & CG_CAP_VEC128 ? 4 : 1;
    /* MVE has 8 Q registers; the FP register files of the others hold 16 or 32 */
    m->vector_regs = m->caps & CG_CAP_REGS32 ? 32 : (t->cpus == cm8_cpus && (m->caps & CG_CAP_VEC128)) ? 8 : 16;
    return true;
}

void cg_machine_free(cg_machine *m)
{
    free(m->cpu);
    free(m->features);
    memset(m, 0, sizeof *m);
}

LLVMTargetMachineRef cg_target_machine(const cg_machine *m, int opt_level, kl_diag *d)
{
    cg_init_llvm();
    char *err = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(m->target->triple, &target, &err)) {
        kl_diag_error(d, "LLVM has no target for %s: %s", m->target->triple, err);
        LLVMDisposeMessage(err);
        return NULL;
    }
    LLVMTargetMachineOptionsRef to = LLVMCreateTargetMachineOptions();
    LLVMTargetMachineOptionsSetCPU(to, m->cpu);
    LLVMTargetMachineOptionsSetFeatures(to, m->features);
    if (m->target->abi) LLVMTargetMachineOptionsSetABI(to, m->target->abi);
    /* 32-bit targets divide 64-bit indices by constants: at LLVM's level None
     * that is a compiler-rt call (__aeabi_ldivmod), from Less on a multiply */
    if (opt_level <= 0 && (m->caps & CG_CAP_PTR32)) opt_level = 1;
    LLVMTargetMachineOptionsSetCodeGenOptLevel(to, opt_level <= 0 ? LLVMCodeGenLevelNone
                                                   : opt_level == 1 ? LLVMCodeGenLevelLess
                                                                    : LLVMCodeGenLevelAggressive);
    LLVMTargetMachineOptionsSetRelocMode(to, m->target->reloc);
    LLVMTargetMachineRef tm = LLVMCreateTargetMachineWithOptions(target, m->target->triple, to);
    LLVMDisposeTargetMachineOptions(to);
    if (!tm) kl_diag_error(d, "LLVM cannot make a target machine for %s, CPU '%s'", m->target->triple, m->cpu);
    return tm;
}

int cg_target_vector_floats(const char *target, const char *cpu, const char *features)
{
    cg_machine m;
    kl_diag d = {0};
    int vl = cg_machine_resolve(target, cpu, features, &m, &d) ? m.vector_floats : 4;
    cg_machine_free(&m);
    kl_diag_clear(&d);
    return vl;
}

bool cg_target_plan(const char *target, const char *cpu, const char *features, int *vector_floats, int *vector_regs,
                    bool *freestanding, kl_diag *d)
{
    cg_machine m;
    if (!cg_machine_resolve(target, cpu, features, &m, d)) return false;
    *vector_floats = m.vector_floats;
    *vector_regs = m.vector_regs;
    *freestanding = !m.target->hosted;
    cg_machine_free(&m);
    return true;
}

bool cg_target_is_device(const char *target)
{
    const cg_target *t = cg_target_by_name(target);
    return t && t->device;
}
bool cg_target_is_host(const char *target) { return cg_target_by_name(target) == &targets[0]; }
const char *cg_target_host_name(void) { return targets[0].name; }

int cg_target_count(void) { return N_TARGETS; }
const cg_target *cg_target_at(int i) { return i >= 0 && i < N_TARGETS ? &targets[i] : NULL; }
