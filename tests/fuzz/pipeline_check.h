/* tests/fuzz/pipeline_check.h — one model through the whole compiler, for
 * the fuzzers: detect the format, import with the default feeds and
 * fetches, run the pass pipeline and build (and verify) the LLVM module in
 * memory.  Shared by the libFuzzer target fuzz_compile and reader_asan's
 * compile stage (tests/fuzz/CMakeLists.txt). */
#ifndef KILN_PIPELINE_CHECK_H
#define KILN_PIPELINE_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef enum pc_result {
    PC_SKIPPED,  /* did not import, or too large to compile quickly */
    PC_REJECTED, /* a stage refused it with a message */
    PC_COMPILED, /* the module was built and verified */
    PC_BUG,      /* refused without a message, or with one that names a Kiln bug */
} pc_result;

/* opt_level 0..2, or 3 for -Os (shared-kernel plans, codegen/shared.c).  On PC_BUG, why holds the message (or says it is empty). */
pc_result pc_compile(const uint8_t *data, size_t size, const char *what, int opt_level, char *why, size_t why_size);

#endif
