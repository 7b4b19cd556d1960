/* tests/fuzz/compile_fuzz.c — libFuzzer entry for the whole compiler: the
 * bytes as a model (ONNX or GraphDef, by content), imported with the
 * default feeds and fetches, through the pass pipeline at the -O level the
 * first byte picks, into a verified LLVM module (tests/fuzz/pipeline_check.c).
 * Aborts on a failure without a message or one that names a Kiln bug;
 * sanitizers catch the rest.  Not part of the default run:
 *   cmake --build B --target fuzz_compile
 *   B/bin/fuzz_compile -max_total_time=600 -timeout=10 CORPUS_DIR tests/corpus/bad_onnx tests/corpus/tf
 * FUZZ_COMPILE_STATS=1 prints at exit how many inputs reached each stage
 * (run it over a corpus with -runs=0 to see what the corpus covers). */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline_check.h"

static long counts[PC_BUG + 1];

static void print_counts(void)
{
    fprintf(stderr, "fuzz_compile: %ld skipped (no import or too large), %ld refused with a message, %ld compiled\n",
            counts[PC_SKIPPED], counts[PC_REJECTED], counts[PC_COMPILED]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered++ && getenv("FUZZ_COMPILE_STATS")) atexit(print_counts);
    char why[512];
    int opt = size ? data[size - 1] % 4 : 0; /* 3: -Os */
    pc_result r = pc_compile(data, size, "fuzz", opt, why, sizeof why);
    counts[r]++;
    if (r == PC_BUG) {
        fprintf(stderr, "fuzz_compile: %s\n", why);
        abort();
    }
    return 0;
}
