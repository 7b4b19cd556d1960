/* codegen/footprint.c — what an object costs the device it runs on: code
 * and read-only data bytes (from the object's sections) and the deepest
 * stack its entry point can reach (from the frames LLVM lays out), so a
 * firmware engineer sizes flash and RAM from the header alone.
 *
 * The stack: generated code has a fixed call graph without recursion or
 * dynamic allocas: P_run -> P_run_args -> one kernel at a time (-> on
 * hosted targets with threads, the pool) -> a GEMM kernel's tile function
 * (P_tileN, gemm.c).  Each function's frame is the size LLVM's prologue
 * inserter lays out, reported while the object is written (return address
 * added where the call pushes one).  The answer is the sum along the
 * deepest chain; memcpy/memset, which LLVM may call for large copies, are
 * not counted (the header says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Object.h>

#include "cg_internal.h"

static bool starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* The stack in the same code generation that writes the object (a second
 * one on a copy doubled `llvm-emit`; docs/performance.md, compile time):
 * every function carries "warn-stack-size"="0", so the prologue inserter
 * reports each non-empty frame through the context's diagnostic handler,
 * "stack frame size (N) exceeds limit (0) in function 'F'".  N counts the
 * callee-saved pushes and the locals; a call on x86 also pushes the return
 * address, and a frame realigned for wide vectors may sit up to its
 * alignment lower: every level of the chain adds a slot of 16 bytes there
 * (measured against the CFI offsets this replaced: never below them, at
 * most 32 bytes above on the fixtures). */
static void stack_diag(LLVMDiagnosticInfoRef di, void *arg)
{
    cg_stack_probe *p = arg;
    char *msg = LLVMGetDiagInfoDescription(di);
    const char *size = msg ? strstr(msg, "stack frame size (") : NULL;
    const char *fn = msg ? strstr(msg, "in function '") : NULL;
    if (size && fn) {
        int64_t v = strtoll(size + strlen("stack frame size ("), NULL, 10);
        fn += strlen("in function '");
        size_t len = strcspn(fn, "'");
        if (len == strlen(p->run) && !strncmp(fn, p->run, len)) p->f_run = v > p->f_run ? v : p->f_run;
        else if (len == strlen(p->run_args) && !strncmp(fn, p->run_args, len)) p->f_args = v > p->f_args ? v : p->f_args;
        else if (len > strlen(p->tile) && !strncmp(fn, p->tile, strlen(p->tile)) &&
                 strspn(fn + strlen(p->tile), "0123456789") == len - strlen(p->tile))
            p->f_tile = v > p->f_tile ? v : p->f_tile; /* a GEMM kernel's tile function (gemm.c) */
        else p->f_kernel = v > p->f_kernel ? v : p->f_kernel; /* kernels and their pool bodies */
    } else if (msg) { /* what LLVM prints without a handler (remarks and notes are off) */
        LLVMDiagnosticSeverity sev = LLVMGetDiagInfoSeverity(di);
        if (sev == LLVMDSError) p->failed = true;
        if (sev == LLVMDSError || sev == LLVMDSWarning)
            fprintf(stderr, "kiln: LLVM %s: %s\n", sev == LLVMDSError ? "error" : "warning", msg);
    }
    LLVMDisposeMessage(msg);
}

void cg_stack_probe_begin(cg *c, cg_stack_probe *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->run, sizeof p->run, "%s_run", c->o->prefix);
    snprintf(p->run_args, sizeof p->run_args, "%s_run_args", c->o->prefix);
    snprintf(p->tile, sizeof p->tile, "%s_tile", c->base_prefix);
    p->slot = strncmp(c->m.target->name, "x86_64", 6) ? 0 : 16;
    for (LLVMValueRef f = LLVMGetFirstFunction(c->mod); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f))
            LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateStringAttribute(c->ctx, "warn-stack-size", 15, "0", 1));
    p->old = LLVMContextGetDiagnosticHandler(c->ctx);
    p->old_ctx = LLVMContextGetDiagnosticContext(c->ctx);
    LLVMContextSetDiagnosticHandler(c->ctx, stack_diag, p);
}

int64_t cg_stack_probe_end(cg *c, cg_stack_probe *p, bool emitted)
{
    LLVMContextSetDiagnosticHandler(c->ctx, p->old, p->old_ctx);
    if (!emitted || p->failed) return -1;
    return p->f_run + p->f_args + p->f_kernel + p->f_tile + (p->f_tile ? 4 : 3) * p->slot;
}

/* Code and read-only data of an object file in memory. */
void cg_object_sections(LLVMContextRef ctx, LLVMMemoryBufferRef obj, int64_t *code, int64_t *rodata)
{
    *code = *rodata = 0;
    char *err = NULL;
    LLVMBinaryRef bin = LLVMCreateBinary(obj, ctx, &err);
    if (!bin) {
        LLVMDisposeMessage(err);
        return;
    }
    LLVMSectionIteratorRef it = LLVMObjectFileCopySectionIterator(bin);
    for (; !LLVMObjectFileIsSectionIteratorAtEnd(bin, it); LLVMMoveToNextSection(it)) {
        const char *name = LLVMGetSectionName(it);
        int64_t size = (int64_t)LLVMGetSectionSize(it);
        if (!name) continue;
        if (starts(name, ".text")) *code += size;
        else if (starts(name, ".rodata") || starts(name, ".lrodata")) *rodata += size;
    }
    LLVMDisposeSectionIterator(it);
    LLVMDisposeBinary(bin);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The symbols an object file in memory references but does not define
 * (what `nm -u` lists), sorted and space-separated in out (n bytes): the
 * targets of relocations that lie in no section.  (A symbol without a
 * section is not enough: the file symbol has none either.)  Returns false
 * when the object cannot be read or the list does not fit. */
bool cg_object_undefined(LLVMContextRef ctx, LLVMMemoryBufferRef obj, char *out, size_t n)
{
    out[0] = 0;
    char *err = NULL;
    LLVMBinaryRef bin = LLVMCreateBinary(obj, ctx, &err);
    if (!bin) {
        LLVMDisposeMessage(err);
        return false;
    }
    bool ok = true;
    enum { MAX_NAMES = 64 };
    char *names[MAX_NAMES];
    int n_names = 0;
    LLVMSectionIteratorRef sec = LLVMObjectFileCopySectionIterator(bin);
    LLVMSectionIteratorRef where = LLVMObjectFileCopySectionIterator(bin);
    for (; ok && !LLVMObjectFileIsSectionIteratorAtEnd(bin, sec); LLVMMoveToNextSection(sec)) {
        LLVMRelocationIteratorRef rel = LLVMGetRelocations(sec);
        for (; ok && !LLVMIsRelocationIteratorAtEnd(sec, rel); LLVMMoveToNextRelocation(rel)) {
            LLVMSymbolIteratorRef sym = LLVMGetRelocationSymbol(rel);
            if (!LLVMObjectFileIsSymbolIteratorAtEnd(bin, sym)) {
                const char *name = LLVMGetSymbolName(sym);
                LLVMMoveToContainingSection(where, sym);
                if (name && *name && LLVMObjectFileIsSectionIteratorAtEnd(bin, where)) {
                    bool seen = false;
                    for (int i = 0; i < n_names && !seen; i++) seen = !strcmp(names[i], name);
                    if (!seen && n_names == MAX_NAMES) ok = false;
                    else if (!seen && !(names[n_names++] = kl_strdup(NULL, name))) ok = false, n_names--;
                }
            }
            LLVMDisposeSymbolIterator(sym);
        }
        LLVMDisposeRelocationIterator(rel);
    }
    LLVMDisposeSectionIterator(where);
    LLVMDisposeSectionIterator(sec);
    LLVMDisposeBinary(bin);
    qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    size_t at = 0;
    for (int i = 0; i < n_names; i++) {
        size_t len = strlen(names[i]);
        if (ok && at + len + 2 <= n) {
            if (at) out[at++] = ' ';
            memcpy(out + at, names[i], len + 1);
            at += len;
        } else {
            ok = false;
        }
        free(names[i]);
    }
    if (!ok) out[0] = 0;
    return ok;
}
