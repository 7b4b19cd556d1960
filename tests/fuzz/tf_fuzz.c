/* tests/fuzz/tf_fuzz.c — libFuzzer entry for the GraphDef reader (not part
 * of the default test run; `cmake --build B --target fuzz_tf`, then
 * `B/bin/fuzz_tf -max_total_time=600 tests/corpus/tf tests/corpus/bad_pb`).
 * Loads the bytes, imports with the default feeds and fetches, then with
 * the first node as the fetch and as a feed. */
#include <stdint.h>
#include <stdlib.h>

#include "frontend/tf/tf.h"

static void try_import(const tf_model *m, const char *const *feeds, int nf, const char *const *fetches, int nt)
{
    kl_diag d = {0};
    ir_graph *g = tf_import(m, feeds, nf, fetches, nt, &d);
    if (!g && (!d.text || !*d.text)) abort(); /* a failure without a message */
    if (g && !ir_verify(g, &d)) abort();      /* imported into invalid IR */
    ir_graph_free(g);
    kl_diag_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kl_diag d = {0};
    tf_model *m;
    if (!tf_model_load_buffer(data, size, "fuzz.pb", &m, &d)) {
        if (!d.text || !*d.text) abort();
        kl_diag_clear(&d);
        return 0;
    }
    try_import(m, NULL, 0, NULL, 0);
    const char *first = tf_model_node_name(m, 0);
    try_import(m, NULL, 0, &first, 1);
    try_import(m, &first, 1, NULL, 0);
    tf_model_free(m);
    return 0;
}
