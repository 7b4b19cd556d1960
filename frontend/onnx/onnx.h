/* frontend/onnx/onnx.h — ONNX ModelProto reader.
 *
 * Knows protobuf (protobuf-c, schema frontend/onnx/onnx.proto written from
 * ONNX's wire format) and the IR; nothing else.  Lowers into the same IR as
 * the TensorFlow frontend, so every pass and backend serves both.
 *
 *   onnx_model *m;
 *   if (onnx_model_load_buffer(bytes, size, "model.onnx", &m, &d)) {
 *       ir_graph *g = onnx_import(m, NULL, 0, NULL, 0, &d);   // declared inputs -> declared outputs
 *       ...
 *   }
 */
#ifndef KILN_FRONTEND_ONNX_H
#define KILN_FRONTEND_ONNX_H

#include "../../ir/ir.h"

typedef struct onnx_model onnx_model;

/* Does the buffer parse as an ONNX ModelProto with a graph? (Format
 * detection by content: a GraphDef fails this.) */
bool onnx_is_model(const void *data, size_t size);
bool onnx_model_load_buffer(const void *data, size_t size, const char *source, onnx_model **out, kl_diag *d);
void onnx_model_free(onnx_model *m);

/* Import: feeds default to the graph's inputs that are not initializers,
 * fetches to the graph's outputs.  Every unsupported op the fetches need is
 * reported, each with its node. */
ir_graph *onnx_import(const onnx_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                      int n_fetches, kl_diag *d);
/* A graph input's shape fixed at import (kiln_options.feed_shapes): its
 * symbolic dims (dim_param, or no value) take these; its static dims must
 * agree, and so must the rank. */
typedef struct onnx_pin {
    const char *name;
    int rank;
    const int64_t *dims;
} onnx_pin;
ir_graph *onnx_import_pinned(const onnx_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                             int n_fetches, const onnx_pin *pins, int n_pins, kl_diag *d);

/* Specializes the model on a feed's value, as XLA does with compile-time
 * constants: the feed stays in the program's ABI (its buffer is read by
 * nothing), but the graph uses `data`, so an importer that needs a constant
 * (a Reshape shape, TopK's k, CumSum's axis, Resize's scales) gets one.
 * t must be the input's declared type (checked at import).  Copies data. */
bool onnx_model_bind(onnx_model *m, const char *name, ir_type t, const void *data, kl_diag *d);
/* The names of the default feeds (graph inputs that are not initializers),
 * in order; returns how many (at most max stored). */
int onnx_model_feeds(const onnx_model *m, const char **names, int max);

/* A serialized TensorProto (the test data's input_N.pb): dtype, shape and a
 * malloc'd dense copy of its values. */
typedef struct onnx_tensor {
    kl_dtype dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    void *data;
    size_t bytes;
} onnx_tensor;
bool onnx_tensor_load(const void *data, size_t size, const char *source, onnx_tensor *out, kl_diag *d);

#endif
