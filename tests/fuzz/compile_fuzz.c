/* tests/fuzz/compile_fuzz.c — libFuzzer entry for the whole compiler: the
 * bytes as a model (ONNX or GraphDef, by content), imported with the
 * default feeds and fetches, through the pass pipeline at the -O level the
 * first byte picks, into a verified LLVM module (tests/fuzz/pipeline_check.c).
 * Aborts on a failure without a message or one that names a Kiln bug;
 * sanitizers catch the rest.  Not part of the default run:
 *   cmake --build B --target fuzz_compile
 *   B/bin/fuzz_compile -max_total_time=600 -timeout=10 CORPUS_DIR tests/fuzz/seeds */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    int opt = size ? data[size - 1] % 3 : 0;
    if (pc_compile(data, size, "fuzz", opt, why, sizeof why) == PC_BUG) {
        fprintf(stderr, "fuzz_compile: %s\n", why);
        abort();
    }
    return 0;
}
