/* tests/fuzz/pipeline_check.c — see pipeline_check.h.
 *
 * Graphs are kept small (PC_MAX_NODES nodes, PC_MAX_ELEMENTS elements in
 * all) so each input compiles in milliseconds: what is being searched for
 * is a crash, a sanitizer report or invalid IR, not a slow kernel. */
#include <stdio.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/onnx/onnx.h"
#include "frontend/tf/tf.h"
#include "passes/passes.h"
#include "pipeline_check.h"

#include <stdlib.h>

#define PC_MAX_NODES 64
#define PC_MAX_ELEMENTS (1 << 16)

static ir_graph *import(const uint8_t *data, size_t size, const char *what, kl_diag *d)
{
    ir_graph *g = NULL;
    if (onnx_is_model(data, size)) {
        onnx_model *m;
        if (onnx_model_load_buffer(data, size, what, &m, d)) g = onnx_import(m, NULL, 0, NULL, 0, d);
        onnx_model_free(m);
    } else {
        tf_model *m;
        if (tf_model_load_buffer(data, size, what, &m, d)) g = tf_import(m, NULL, 0, NULL, 0, d);
        tf_model_free(m);
    }
    return g;
}

static bool small(const ir_graph *g)
{
    int64_t elements = 0;
    for (int i = 0; i < g->n_nodes; i++) elements += ir_type_numel(&g->nodes[i]->type);
    return g->n_nodes <= PC_MAX_NODES && elements <= PC_MAX_ELEMENTS;
}

static pc_result judge(kl_diag *d, char *why, size_t n)
{
    const char *t = d->text ? d->text : "";
    snprintf(why, n, "%s", *t ? t : "(a stage failed without a message)");
    pc_result r = !*t || strstr(t, "Kiln bug") || strstr(t, "internal error") ? PC_BUG : PC_REJECTED;
    kl_diag_clear(d);
    return r;
}

pc_result pc_compile(const uint8_t *data, size_t size, const char *what, int opt_level, char *why, size_t why_size)
{
    kl_diag d = {0};
    ir_graph *g = import(data, size, what, &d);
    if (!g || !small(g)) {
        bool silent = !g && kl_diag_ok(&d);
        kl_diag_clear(&d);
        ir_graph_free(g);
        if (silent) snprintf(why, why_size, "import failed without a message");
        return silent ? PC_BUG : PC_SKIPPED;
    }
    bool os = opt_level == 3; /* -Os: the passes' shared plans; LLVM itself stays at O0 (only the module is checked) */
    pass_ctx ctx = {.diag = &d, .opt_level = os ? 2 : opt_level, .size = os, .verify_each = true, .vector_floats = 16,
                    .vector_regs = 32};
    pc_result r = PC_COMPILED;
    if (!pass_run_pipeline(g, &ctx)) {
        r = judge(&d, why, why_size);
    } else {
        cg_options o = {.prefix = "fuzz", .cpu = "x86-64-v3", .opt_level = 0, .threads = 1, .source = what};
        char *text = cg_module_text(g, &o, &d);
        if (!text) r = judge(&d, why, why_size);
        free(text);
    }
    kl_diag_clear(&d);
    ir_graph_free(g);
    return r;
}
