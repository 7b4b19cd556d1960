/* tests/fuzz/onnx_fuzz.c — libFuzzer entry for the ONNX reader (not part
 * of the default run; `cmake --build B --target fuzz_onnx`, then
 * `B/bin/fuzz_onnx -max_total_time=600 CORPUS_DIR tests/corpus/bad_onnx`).
 * Loads the bytes as a ModelProto and imports with the default feeds and
 * fetches, then with the first node's output as the fetch; also reads them
 * as a TensorProto. */
#include <stdint.h>
#include <stdlib.h>

#include "frontend/onnx/onnx_internal.h" /* the first node's output */

static void try_import(const onnx_model *m, const char *const *fetches, int nt)
{
    kl_diag d = {0};
    ir_graph *g = onnx_import(m, NULL, 0, fetches, nt, &d);
    if (!g && (!d.text || !*d.text)) abort(); /* a failure without a message */
    if (g && !ir_verify(g, &d)) abort();      /* imported into invalid IR */
    ir_graph_free(g);
    kl_diag_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kl_diag d = {0};
    onnx_tensor t;
    if (onnx_tensor_load(data, size, "fuzz.pb", &t, &d)) free(t.data);
    else if (!d.text || !*d.text) abort();
    kl_diag_clear(&d);
    onnx_model *m;
    if (!onnx_model_load_buffer(data, size, "fuzz.onnx", &m, &d)) {
        if (!d.text || !*d.text) abort();
        kl_diag_clear(&d);
        return 0;
    }
    try_import(m, NULL, 0);
    const Kiln__Onnx__OxGraph *g = m->pb->graph;
    const char *first = g->n_node && g->node[0]->n_output ? g->node[0]->output[0] : NULL;
    if (first) try_import(m, &first, 1);
    onnx_model_free(m);
    return 0;
}
