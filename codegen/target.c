/* codegen/target.c — target machines: CPU name + features, per -O level.
 *
 * "native" (or NULL) means this machine's CPU and features; any other name
 * is an LLVM CPU ("generic", "x86-64-v3", "znver5", ...), validated here so
 * a typo is an error, not a silently generic build.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>

#include "cg_internal.h"

/* x86-64 CPUs Kiln accepts by name (LLVM would silently ignore a typo), with
 * the features codegen asks about: instructions whose absence makes LLVM
 * fall back to libm or compiler-rt calls (roundss, vfmadd, vcvtph2ps), which
 * the generated object must never reference. */
enum { SSE41 = 1, F16C = 2, FMA = 4, AVX2 = 8, AVX512 = 16, V3 = SSE41 | F16C | FMA | AVX2, V4 = V3 | AVX512 };
static const struct { const char *name; unsigned caps; } x86_cpus[] = {
    {"generic", 0},          {"x86-64", 0},          {"x86-64-v2", SSE41},  {"x86-64-v3", V3},
    {"x86-64-v4", V4},       {"nehalem", SSE41},     {"sandybridge", SSE41}, {"ivybridge", SSE41 | F16C},
    {"haswell", V3},         {"broadwell", V3},      {"skylake", V3},       {"skylake-avx512", V4},
    {"cascadelake", V4},     {"cooperlake", V4},     {"cannonlake", V4},    {"icelake-client", V4},
    {"icelake-server", V4},  {"tigerlake", V4},      {"sapphirerapids", V4}, {"emeraldrapids", V4},
    {"graniterapids", V4},   {"alderlake", V3},      {"raptorlake", V3},    {"meteorlake", V3},
    {"arrowlake", V3},       {"lunarlake", V3},      {"znver1", V3},        {"znver2", V3},
    {"znver3", V3},          {"znver4", V4},         {"znver5", V4},        {"btver2", SSE41 | F16C},
    {"bdver4", V3},
};

static int find_cpu(const char *cpu)
{
    for (size_t i = 0; i < sizeof x86_cpus / sizeof *x86_cpus; i++)
        if (!strcmp(x86_cpus[i].name, cpu)) return (int)i;
    return -1;
}

static bool known_cpu(const char *cpu) { return find_cpu(cpu) >= 0; }

/* The last "+feature" / "-feature" in the list decides (host feature lists
 * name every feature); otherwise the CPU's row in the table. */
bool cg_target_has(const char *cpu, const char *features, const char *feature)
{
    int verdict = -1;
    size_t n = strlen(feature);
    for (const char *p = features ? features : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n + 1 && (*p == '+' || *p == '-') && !strncmp(p + 1, feature, n)) verdict = *p == '+';
        p += len + (end != NULL);
    }
    if (verdict >= 0) return verdict;
    int i = cpu ? find_cpu(cpu) : -1;
    unsigned want = !strcmp(feature, "sse4.1") ? SSE41 : !strcmp(feature, "f16c") ? F16C : !strcmp(feature, "fma") ? FMA
                  : !strcmp(feature, "avx2") ? AVX2 : !strcmp(feature, "avx512f") ? AVX512 : 0;
    return i >= 0 && (x86_cpus[i].caps & want);
}

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
}

void cg_init_llvm(void) { pthread_once(&llvm_once, init_once); }

LLVMTargetMachineRef cg_target_machine(const char *cpu, const char *features, int opt_level, char **cpu_out,
                                       char **features_out, kl_diag *d)
{
    cg_init_llvm();
    char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        kl_diag_error(d, "LLVM has no target for %s: %s", triple, err);
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    bool native = !cpu || !strcmp(cpu, "native");
    if (!native && !known_cpu(cpu)) {
        kl_diag_error(d, "unknown target CPU '%s' (try native, generic, x86-64-v3, x86-64-v4, skylake-avx512, znver4, znver5)", cpu);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    char *cpu_name = native ? LLVMGetHostCPUName() : strdup(cpu);
    char *host_features = native ? LLVMGetHostCPUFeatures() : NULL;
    size_t n = (host_features ? strlen(host_features) : 0) + (features ? strlen(features) : 0) + 2;
    char *feat = calloc(1, n);
    if (host_features) strcat(feat, host_features);
    if (features && *features) {
        if (*feat) strcat(feat, ",");
        strcat(feat, features);
    }
    LLVMCodeGenOptLevel level = opt_level <= 0 ? LLVMCodeGenLevelNone
                                : opt_level == 1 ? LLVMCodeGenLevelLess
                                                 : LLVMCodeGenLevelAggressive;
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu_name, feat, level, LLVMRelocPIC,
                                                      LLVMCodeModelDefault);
    if (!tm) kl_diag_error(d, "LLVM cannot make a target machine for CPU '%s'", cpu_name);
    *cpu_out = strdup(cpu_name);
    *features_out = feat;
    if (native) LLVMDisposeMessage(cpu_name), LLVMDisposeMessage(host_features);
    else free(cpu_name);
    LLVMDisposeMessage(triple);
    return tm;
}

int cg_target_vector_floats(const char *cpu, const char *features)
{
    bool native = !cpu || !strcmp(cpu, "native");
    char *host_cpu = native ? LLVMGetHostCPUName() : NULL, *host_features = native ? LLVMGetHostCPUFeatures() : NULL;
    size_t n = (host_features ? strlen(host_features) : 0) + (features ? strlen(features) : 0) + 2;
    char *feat = calloc(1, n);
    if (!feat) kl_die(__FILE__, __LINE__, "out of memory");
    if (host_features) strcat(feat, host_features);
    if (features && *features) {
        if (*feat) strcat(feat, ",");
        strcat(feat, features);
    }
    const char *name = native ? host_cpu : cpu;
    int vl = cg_target_has(name, feat, "avx512f") ? 16 : cg_target_has(name, feat, "avx2") ? 8 : 4;
    free(feat);
    if (native) LLVMDisposeMessage(host_cpu), LLVMDisposeMessage(host_features);
    return vl;
}
