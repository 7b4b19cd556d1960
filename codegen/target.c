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

/* x86-64 CPUs Kiln accepts by name (LLVM would silently ignore a typo). */
static const char *const x86_cpus[] = {
    "generic", "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4", "nehalem", "sandybridge", "ivybridge",
    "haswell", "broadwell", "skylake", "skylake-avx512", "cascadelake", "cooperlake", "cannonlake",
    "icelake-client", "icelake-server", "tigerlake", "sapphirerapids", "emeraldrapids", "graniterapids",
    "alderlake", "raptorlake", "meteorlake", "arrowlake", "lunarlake", "znver1", "znver2", "znver3",
    "znver4", "znver5", "btver2", "bdver4",
};

static bool known_cpu(const char *cpu)
{
    for (size_t i = 0; i < sizeof x86_cpus / sizeof *x86_cpus; i++)
        if (!strcmp(x86_cpus[i], cpu)) return true;
    return false;
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
