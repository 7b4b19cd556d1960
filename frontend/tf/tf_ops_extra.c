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
