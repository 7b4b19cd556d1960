/* frontend/onnx/onnx_internal.h — shared by the ONNX reader, walk and importers. */
#ifndef KILN_ONNX_INTERNAL_H
#define KILN_ONNX_INTERNAL_H

#include "onnx.h"
#include "onnx.pb-c.h"

typedef Kiln__Onnx__OxNode ox_node;
typedef Kiln__Onnx__OxTensor ox_tensor;
typedef Kiln__Onnx__OxAttribute ox_attr;

struct onnx_model {
    Kiln__Onnx__OxModel *pb;
    char *source;
    int64_t opset; /* of the default domain */
    struct ox_binding { char *name; ir_type t; void *data; } *binds; /* onnx_model_bind */
    int n_binds;
};

/* Import state.  Values by name in an open-addressing table. */
typedef struct ox {
    const onnx_model *m;
    const Kiln__Onnx__OxGraph *graph; /* the graph being imported: the model's, or a Loop/If/Scan body */
    ir_graph *g;
    kl_diag *d;
    const char **keys;
    ir_node **vals;
    size_t cap;
    const char **out_keys; /* tensor name -> index of the node producing it (same cap) */
    int *out_node;
    const ox_node *failed; /* the node reported: its importer's follow-up errors are consequences */
    int depth;         /* nesting of the bodies being imported (at most OX_MAX_NESTING) */
    ir_node *outs[64]; /* extra outputs of the node at hand */
    int n_outs;
    const onnx_pin *pins; /* feed shapes fixed by the caller (onnx_import_pinned) */
    int n_pins;
} ox;

#define OX_MAX_NESTING 32

typedef ir_node *(*ox_import_fn)(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op);

ir_node *ox_err(ox *c, const ox_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool ox_map_dtype(int onnx_type, kl_dtype *out);
bool ox_tensor_to_const(ox *c, const ox_node *n, const ox_tensor *t, const char *name, ir_node **out);
const ox_attr *ox_attr_get(const ox_node *n, const char *name);
int64_t ox_attr_int(const ox_node *n, const char *name, int64_t dflt);
float ox_attr_float(const ox_node *n, const char *name, float dflt);
int ox_attr_ints(const ox_node *n, const char *name, int64_t *out, int max); /* -1 if absent */
const char *ox_attr_str(const ox_node *n, const char *name, char *buf, size_t size);

/* Folding builders (ir_try_fold), NULL-safe: a failed step has reported. */
ir_node *ox_op(ox *c, const ox_node *n, kl_op op, int n_in, ir_node *const *in, const ir_attr *a, const ir_type *t);
ir_node *ox_un(ox *c, const ox_node *n, kl_op op, ir_node *x);
ir_node *ox_bin(ox *c, const ox_node *n, kl_op op, ir_node *a, ir_node *b);
ir_node *ox_reshape(ox *c, const ox_node *n, ir_node *x, int rank, const int64_t *dims);
ir_node *ox_cast(ox *c, const ox_node *n, ir_node *x, kl_dtype to);
ir_node *ox_scalar(ox *c, kl_dtype t, double v);
ir_node *ox_transpose(ox *c, const ox_node *n, ir_node *x, const int *perm);
int ox_read_ints(ox *c, const ox_node *n, const ir_node *v, const char *what, int64_t *out, int max);
/* v is a constant; else reports which graph input or runtime node it is. */
bool ox_need_const(ox *c, const ox_node *n, const ir_node *v, const char *what);
int ox_axis(ox *c, const ox_node *n, int64_t axis, int rank);

/* onnx_ops_nd.c: 3-D windows as compositions of 2-D ones; ceil_mode's padding */
int64_t ox_ceil_extra(int64_t in, int64_t k, int64_t s, int64_t d, int64_t lo, int64_t hi);
ir_node *ox_conv3d(ox *c, const ox_node *n, ir_node *x, ir_node *w, ir_node *bias);
ir_node *ox_pool3d(ox *c, const ox_node *n, ir_node *x, kl_op op);
/* onnx_ops_static.c: BatchNormalization with training_mode=1 (batch statistics) */
ir_node *ox_batch_norm_training(ox *c, const ox_node *n, ir_node **in, int n_in);
/* Control flow (onnx_control.c, onnx_walk.c).  A body graph is imported
 * into `region` with its inputs bound to inputs[] and the outer values it
 * names (free names: ox_free_names) bound to caps[] (the region's params
 * for them); outs[k] is the body's output k. */
bool ox_import_body(ox *c, const Kiln__Onnx__OxGraph *body, ir_graph *region, ir_node *const *inputs, int n_inputs,
                    const char *const *cap_names, ir_node *const *caps, int n_caps, ir_node **outs);
/* Names the graphs (and their nested bodies) read but do not define, that
 * have a value in c's scope: added to names/vals (deduplicated), count returned. */
int ox_free_names(ox *c, const Kiln__Onnx__OxGraph *const *graphs, int n_graphs, const char **names, ir_node **vals, int max);

#define OXOP(name, fn, op) ir_node *fn(ox *, const ox_node *, ir_node **, int, kl_op);
#include "onnx_ops.def"
#undef OXOP

#endif
