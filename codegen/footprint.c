/* codegen/footprint.c — what an object costs the device it runs on: code
 * and read-only data bytes (from the object's sections) and the deepest
 * stack its entry point can reach (from the frames LLVM lays out), so a
 * firmware engineer sizes flash and RAM from the header alone.
 *
 * The stack: generated code has a fixed call graph without recursion or
 * dynamic allocas: P_run -> P_run_args -> one kernel at a time (-> on
 * hosted targets with threads, the pool).  Each function's frame is read
 * from the assembly of a copy of the module whose functions carry uwtable:
 * the largest `.cfi_def_cfa_offset` inside a function is the most stack it
 * holds (return address included where the call pushes one).  The answer
 * is the sum along the deepest chain; memcpy/memset, which LLVM may call
 * for large copies, are not counted (the header says so).
 */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Object.h>

#include "cg_internal.h"

static bool starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* Bytes one ARM EHABI directive says the prologue puts on the stack:
 * `.save {r4, r5, lr}` 4 per register, `.vsave {d8, d9}` 8 per D register,
 * `.pad #N` N. */
static int64_t ehabi_bytes(const char *line, size_t len)
{
    if (starts(line, ".pad")) {
        const char *h = memchr(line, '#', len);
        return h ? strtoll(h + 1, NULL, 0) : 0;
    }
    int regs = 0;
    const char *open = memchr(line, '{', len), *close = memchr(line, '}', len);
    for (const char *p = open; p && close && p < close; p++) regs += *p == ',' || p == open;
    return regs * (starts(line, ".vsave") ? 8 : 4);
}

/* The frame of each function in the assembly text (DWARF CFI offsets, or
 * ARM EHABI directives); returns the sum over the entry chain. */
static int64_t deepest(const char *text, const char *prefix)
{
    char run[128], run_args[128];
    snprintf(run, sizeof run, "%s_run", prefix);
    snprintf(run_args, sizeof run_args, "%s_run_args", prefix);
    int64_t f_run = 0, f_args = 0, f_kernel = 0, cur = 0;
    char fn[128] = "";
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        while (len && (*line == ' ' || *line == '\t')) line++, len--;
        if (len && line[len - 1] == ':' && len < sizeof fn && *line != '.' && *line != '#') {
            memcpy(fn, line, len - 1), fn[len - 1] = 0, cur = 0;
        } else if (starts(line, ".cfi_def_cfa_offset") || starts(line, ".save") || starts(line, ".vsave") ||
                   starts(line, ".pad")) {
            if (starts(line, ".cfi_def_cfa_offset")) { /* DWARF CFI: the frame so far */
                int64_t v = strtoll(line + strlen(".cfi_def_cfa_offset"), NULL, 10);
                if (v > cur) cur = v;
            } else { /* ARM EHABI: pushes and stack adjustments add up */
                cur += ehabi_bytes(line, len);
            }
            if (!strcmp(fn, run)) f_run = cur > f_run ? cur : f_run;
            else if (!strcmp(fn, run_args)) f_args = cur > f_args ? cur : f_args;
            else if (*fn) f_kernel = cur > f_kernel ? cur : f_kernel; /* kernels and their pool bodies */
        }
        line = end ? end + 1 : NULL;
    }
    return f_run + f_args + f_kernel;
}

int64_t cg_max_stack(cg *c, LLVMTargetMachineRef tm)
{
    LLVMModuleRef copy = LLVMCloneModule(c->mod);
    unsigned uwtable = LLVMGetEnumAttributeKindForName("uwtable", 7);
    for (LLVMValueRef f = LLVMGetFirstFunction(copy); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f))
            LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, uwtable, 2));
    LLVMMemoryBufferRef buf = NULL;
    char *err = NULL;
    int64_t bytes = -1;
    if (!LLVMTargetMachineEmitToMemoryBuffer(tm, copy, LLVMAssemblyFile, &err, &buf)) {
        size_t n = LLVMGetBufferSize(buf);
        char *text = kl_malloc(NULL, n + 1, "code generation");
        if (text) {
            memcpy(text, LLVMGetBufferStart(buf), n);
            text[n] = 0;
            bytes = deepest(text, c->o->prefix);
            free(text);
        }
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeMessage(err);
    LLVMDisposeModule(copy);
    return bytes;
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
