/* frontend/tf/tf_ops_extra.c — importers for the ops of issue 9: scans,
 * top-k and the other ops Keras applications and tf.nn emit that the
 * family files (tf_ops_basic.c, tf_ops_array.c, tf_ops_nn.c) do not cover. */
#include <string.h>

#include "tf_internal.h"

/* Cumsum / Cumprod (x, axis) with exclusive and reverse attributes. */
ir_node *imp_cumulative(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axis;
    if (tf_read_ints(c, n, in[1], "the axis", &axis, 1) != 1) return NULL;
    int ax = tf_axis(c, n, axis, in[0]->type.rank);
    if (ax < 0) return NULL;
    return ir_scan(c->g, op, in[0], ax, tf_attr_bool(n, "exclusive", false), tf_attr_bool(n, "reverse", false), n->name, c->d);
}

/* TopKV2 (input, k): the k largest along the last axis and their indices
 * (index_type, int32 by default), sorted; TensorFlow's order for sorted=False
 * is unspecified, so the sorted one serves both. */
ir_node *imp_top_k(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t k;
    if (tf_read_ints(c, n, in[1], "k", &k, 1) != 1) return NULL;
    if (in[0]->type.rank < 1) return tf_err(c, n, "needs rank 1 or more");
    kl_dtype it = tf_attr_dtype(n, "index_type", KL_I32);
    if (it != KL_I32 && it != KL_I64) return tf_err(c, n, "index_type must be int32 or int64");
    if (!ir_top_k(c->g, in[0], in[0]->type.rank - 1, k, true, it, n->name, &c->outs[0], &c->outs[1], c->d)) return NULL;
    c->n_outs = 2;
    return c->outs[0];
}

/* ---- gathers and scatters (ir/gather_scatter.c) --------------------------- */

ir_node *imp_gather_nd(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    return ir_gather_nd(c->g, in[0], in[1], (int)tf_attr_int(n, "batch_dims", 0), n->name, c->d);
}

/* TensorScatterUpdate/Add/Max/Min (tensor, indices, updates). */
ir_node *imp_tensor_scatter(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    const char *t = n->op;
    ir_scatter_reduce r = strstr(t, "Add") ? IR_SCATTER_ADD : strstr(t, "Max") ? IR_SCATTER_MAX
                        : strstr(t, "Min") ? IR_SCATTER_MIN : IR_SCATTER_NONE;
    return ir_scatter_nd(c->g, in[0], in[1], in[2], r, n->name, c->d);
}

/* ScatterNd (indices, updates, shape): zeros of shape, duplicates summed. */
ir_node *imp_scatter_nd(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t dims[IR_MAX_RANK];
    int r = tf_read_ints(c, n, in[2], "the shape", dims, IR_MAX_RANK);
    if (r < 0) return NULL;
    ir_type t = ir_type_make(in[1]->type.dtype, r, dims);
    int64_t ones[IR_MAX_RANK];
    for (int i = 0; i < r; i++) ones[i] = 1;
    ir_node *zero = tf_reshape(c, n, tf_scalar(c, t.dtype, 0), r, ones);
    ir_node *z = zero ? tf_op(c, n, KL_OP_TILE, 1, &zero, NULL, &t) : NULL;
    return z ? ir_scatter_nd(c->g, z, in[0], in[1], IR_SCATTER_ADD, n->name, c->d) : NULL;
}
