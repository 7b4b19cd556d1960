/* frontend/tf/tf_ops_control.c — TensorFlow's functional control flow and
 * TensorLists.
 *
 * While/StatelessWhile and If/StatelessIf name functions of the GraphDef's
 * library (FunctionDefLibrary, GraphDef field 2); each function is imported
 * as a region graph of a while/if node (ir/control.c), through the same
 * walk and importers as the main graph (tf_function_model, tf_import_into).
 * PartitionedCall/StatefulPartitionedCall are inlined: the function's nodes
 * are imported straight into the calling graph.
 *
 * A TensorList (DT_VARIANT) becomes a plain tensor [num_elements, element
 * shape...], preallocated by TensorListReserve; GetItem and SetItem are
 * dynamic_slice / dynamic_update_slice at a run-time index, which a loop
 * updates in place.  So a Keras RNN's output sequence is one buffer written
 * one step per trip, as XLA does it.
 */
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

#define MAX_VALUES 256

static const char *func_attr(const tf_node *n, const char *key)
{
    const tf_attr_value *a = tf_attr(n, key);
    return a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_FUNC && a->func && a->func->name ? a->func->name : NULL;
}

/* The value the function's ret map gives output arg `name`, or NULL. */
static const char *ret_of(const Kiln__Tf__TfFunction *fn, const char *name)
{
    for (size_t i = 0; i < fn->n_ret; i++)
        if (fn->ret[i] && fn->ret[i]->key && !strcmp(fn->ret[i]->key, name)) return fn->ret[i]->value;
    return NULL;
}

/* Imports function `name` into g with its arguments bound to args (into a
 * region: new params of g, typed as args); rets[k] is output arg k. */
static bool call_function(imp *c, const tf_node *n, const char *name, ir_graph *g, ir_node *const *args, int n_args,
                          ir_node **rets, int *n_rets)
{
    if (!name) return tf_err(c, n, "names no function") != NULL;
    tf_model *f = tf_function_model(c->m, name, c->d);
    if (!f) return false;
    const Kiln__Tf__TfOpDef *sig = f->fn->signature;
    bool ok = (int)sig->n_input_arg == n_args && sig->n_output_arg <= MAX_VALUES;
    if (!ok) tf_err(c, n, "function '%s' takes %zu arguments (%d given) and returns %zu values", name, sig->n_input_arg, n_args, sig->n_output_arg);
    ir_node *bound[MAX_VALUES];
    for (int i = 0; ok && i < n_args; i++)
        bound[i] = g == c->g ? args[i] : ir_param(g, args[i]->type, sig->input_arg[i]->name);
    const char *fetches[MAX_VALUES];
    for (size_t k = 0; ok && k < sig->n_output_arg; k++)
        if (!(fetches[k] = ret_of(f->fn, sig->output_arg[k]->name)))
            ok = tf_err(c, n, "function '%s' has no value for its result '%s'", name, sig->output_arg[k]->name) != NULL;
    ok = ok && tf_import_into(f, g, bound, n_args, fetches, (int)sig->n_output_arg, rets, c->d);
    *n_rets = (int)sig->n_output_arg;
    tf_model_free(f);
    return ok;
}

static ir_node *set_outs(imp *c, ir_node **outs, int n)
{
    for (int k = 0; k < n; k++) c->outs[k] = outs[k];
    c->n_outs = n;
    return n ? outs[0] : NULL;
}

ir_node *imp_while(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (n_in < 1 || n_in > MAX_VALUES) return tf_err(c, n, "bad loop variable count %d", n_in);
    ir_graph *cond = ir_region_new(c->g, c->m->source), *body = ir_region_new(c->g, c->m->source);
    ir_node *rets[MAX_VALUES], *outs[MAX_VALUES];
    int nr;
    if (!call_function(c, n, func_attr(n, "cond"), cond, in, n_in, rets, &nr)) return NULL;
    if (nr != 1 || rets[0]->type.dtype != KL_BOOL || ir_type_numel(&rets[0]->type) != 1)
        return tf_err(c, n, "cond must return one bool scalar");
    ir_graph_add_result(cond, rets[0]->type.rank ? ir_reshape(cond, rets[0], 0, NULL, NULL, c->d) : rets[0], "cond");
    if (!call_function(c, n, func_attr(n, "body"), body, in, n_in, rets, &nr)) return NULL;
    if (nr != n_in) return tf_err(c, n, "body returns %d values for %d loop variables", nr, n_in);
    for (int k = 0; k < nr; k++) ir_graph_add_result(body, rets[k], NULL);
    if (!ir_while_functional(c->g, n_in, in, cond, body, n->name, outs, c->d)) return NULL;
    return set_outs(c, outs, n_in);
}

ir_node *imp_if(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (n_in < 1 || n_in > MAX_VALUES) return tf_err(c, n, "bad input count %d", n_in);
    ir_node *pred = in[0];
    if (pred->type.dtype != KL_BOOL || ir_type_numel(&pred->type) != 1) return tf_err(c, n, "the predicate must be a bool scalar");
    if (pred->type.rank) pred = tf_reshape(c, n, pred, 0, NULL);
    ir_graph *branch[2] = {ir_region_new(c->g, c->m->source), ir_region_new(c->g, c->m->source)};
    static const char *const keys[2] = {"then_branch", "else_branch"};
    ir_node *rets[MAX_VALUES], *outs[MAX_VALUES];
    int nr[2];
    for (int b = 0; b < 2; b++) {
        if (!call_function(c, n, func_attr(n, keys[b]), branch[b], in + 1, n_in - 1, rets, &nr[b])) return NULL;
        for (int k = 0; k < nr[b]; k++) ir_graph_add_result(branch[b], rets[k], NULL);
    }
    if (!ir_if_functional(c->g, pred, n_in - 1, in + 1, branch[0], branch[1], n->name, outs, c->d)) return NULL;
    return set_outs(c, outs, nr[0]);
}

ir_node *imp_call(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    ir_node *outs[MAX_VALUES];
    int nr;
    if (n_in > MAX_VALUES || !call_function(c, n, func_attr(n, "f"), c->g, in, n_in, outs, &nr)) return NULL;
    if (nr == 0) return tf_err(c, n, "calls a function without results");
    return set_outs(c, outs, nr);
}

/* ---- TensorLists as tensors --------------------------------------------- */

/* The element shape a Const node `k` holds, if fully known. */
static int known_shape(imp *c, int k, int64_t *dims)
{
    const tf_node *s = c->m->pb->node[k];
    const tf_attr_value *v = tf_attr(s, "value");
    if (!s->op || strcmp(s->op, "Const") || !v || v->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TENSOR) return -1;
    kl_diag quiet = {0};
    kl_diag *saved = c->d;
    c->d = &quiet;
    ir_node *t = tf_import_tensor(c, s, v->tensor);
    int rank = t ? tf_read_ints(c, s, t, "element shape", dims, IR_MAX_RANK - 1) : -1;
    c->d = saved;
    kl_diag_clear(&quiet);
    if (t && t->type.rank == 0) return -1; /* -1: unknown rank */
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0) return -1;
    return rank;
}

/* Does input string `in` name output `out` of node `node`? */
static bool names(imp *c, const char *in, int node, int out)
{
    int j, k;
    return in && in[0] != '^' && tf_parse_tensor(c->m, in, &j, &k) && j == node && k == out;
}

/* A TensorList reserved with an unknown element shape (tf.map_fn's
 * output): the shape that a TensorListStack or GetItem of it states, the
 * list reaching them directly or as loop variable k of a While. */
static int shape_from_uses(imp *c, int node, int out, int depth, int64_t *dims)
{
    const Kiln__Tf__TfGraph *pb = c->m->pb;
    for (size_t i = 0; depth < 3 && i < pb->n_node; i++) {
        const tf_node *u = pb->node[i];
        for (size_t j = 0; j < u->n_input; j++) {
            if (!names(c, u->input[j], node, out) || !u->op) continue;
            int at = !strcmp(u->op, "TensorListStack") ? 1 : !strcmp(u->op, "TensorListGetItem") ? 2 : -1, k, o, r;
            if (at >= 0 && (size_t)at < u->n_input && tf_parse_tensor(c->m, u->input[at], &k, &o) && (r = known_shape(c, k, dims)) >= 0)
                return r;
            if ((!strcmp(u->op, "While") || !strcmp(u->op, "StatelessWhile")) &&
                (r = shape_from_uses(c, (int)i, (int)j, depth + 1, dims)) >= 0)
                return r;
        }
    }
    return -1;
}

ir_node *imp_tl_reserve(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t dims[IR_MAX_RANK];
    double count;
    if (!tf_read_scalar(c, n, in[1], "num_elements", &count)) return NULL;
    if (count < 0 || count > (1 << 30)) return tf_err(c, n, "num_elements %g: a list needs a known size", count);
    int rank = in[0]->op == KL_OP_CONST && in[0]->type.rank == 1 ? tf_read_ints(c, n, in[0], "element_shape", dims + 1, IR_MAX_RANK - 1) : -1;
    for (int i = 1; i <= rank; i++)
        if (dims[i] < 0) rank = -1;
    if (rank < 0) {
        int self = tf_find_node(c->m, n->name, strlen(n->name));
        rank = shape_from_uses(c, self, 0, 0, dims + 1);
    }
    if (rank < 0) return tf_err(c, n, "the element shape of the list is not known (no TensorListStack or GetItem states it)");
    dims[0] = (int64_t)count;
    ir_type t = ir_type_make(tf_attr_dtype(n, "element_dtype", KL_F32), rank + 1, dims);
    void *zeros = calloc(1, ir_type_bytes(&t) + 1);
    if (!zeros) return tf_err(c, n, "out of memory");
    ir_node *z = ir_const(c->g, t, zeros, n->name);
    free(zeros);
    return z;
}

/* TensorListFromTensor and TensorListStack: the list is the tensor. */
ir_node *imp_tl_tensor(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (n_in < 1) return tf_err(c, n, "needs a list");
    if (in[0]->type.rank < 1) return tf_err(c, n, "a list must have a leading element axis");
    return in[0];
}

/* [index, 0, ...] as an i32 vector of the list's rank. */
static ir_node *list_start(imp *c, const tf_node *n, ir_node *index, int rank)
{
    if (ir_type_numel(&index->type) != 1) return tf_err(c, n, "the index must be a scalar");
    ir_node *i = index->type.dtype == KL_I32 ? index : tf_cast(c, n, index, KL_I32);
    ir_node *i1 = tf_reshape(c, n, i, 1, (int64_t[]){1});
    if (rank == 1) return i1;
    int32_t zeros[IR_MAX_RANK] = {0};
    ir_node *z = ir_const(c->g, ir_type_make(KL_I32, 1, (int64_t[]){rank - 1}), zeros, NULL);
    ir_attr a;
    memset(&a, 0, sizeof a);
    return tf_op(c, n, KL_OP_CONCAT, 2, (ir_node *[]){i1, z}, &a, NULL);
}

ir_node *imp_tl_get(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (n_in < 2) return tf_err(c, n, "needs a list and an index");
    ir_node *list = in[0];
    ir_type row = list->type;
    if (row.rank < 1) return tf_err(c, n, "a list must have a leading element axis");
    row.dims[0] = 1;
    ir_node *s = list_start(c, n, in[1], list->type.rank);
    ir_node *part = s ? tf_op(c, n, KL_OP_DYNAMIC_SLICE, 2, (ir_node *[]){list, s}, NULL, &row) : NULL;
    return part ? tf_reshape(c, n, part, row.rank - 1, row.dims + 1) : NULL;
}

ir_node *imp_tl_set(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    ir_node *list = in[0], *item = in[2];
    ir_type row = list->type;
    if (row.rank < 1) return tf_err(c, n, "a list must have a leading element axis");
    row.dims[0] = 1;
    if (ir_type_numel(&item->type) != ir_type_numel(&row) || item->type.dtype != row.dtype) {
        char a[160], b[160];
        return tf_err(c, n, "item %s does not fit the list %s", ir_type_str(&item->type, a, sizeof a), ir_type_str(&list->type, b, sizeof b));
    }
    ir_node *u = tf_reshape(c, n, item, row.rank, row.dims), *s = list_start(c, n, in[1], list->type.rank);
    return u && s ? tf_op(c, n, KL_OP_DYNAMIC_UPDATE_SLICE, 3, (ir_node *[]){list, u, s}, NULL, NULL) : NULL;
}

ir_node *imp_tl_length(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (n_in < 1 || in[0]->type.rank < 1) return tf_err(c, n, "needs a list");
    return tf_scalar(c, KL_I32, (double)in[0]->type.dims[0]);
}

/* ReverseV2: a slice with stride -1 on the reversed axes. */
ir_node *imp_reverse(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axes[IR_MAX_RANK], begin[IR_MAX_RANK], size[IR_MAX_RANK], stride[IR_MAX_RANK];
    const ir_type *t = &in[0]->type;
    int na = tf_read_ints(c, n, in[1], "axis", axes, IR_MAX_RANK);
    if (na < 0) return NULL;
    for (int i = 0; i < t->rank; i++) begin[i] = 0, size[i] = t->dims[i], stride[i] = 1;
    for (int k = 0; k < na; k++) {
        int a = tf_axis(c, n, axes[k], t->rank);
        if (a < 0) return NULL;
        if (t->dims[a] > 0) begin[a] = t->dims[a] - 1, stride[a] = -1;
    }
    return tf_slice(c, n, in[0], begin, size, stride);
}

/* Any / All (Keras masking): a max / min over the bools as integers. */
ir_node *imp_any_all(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    if (in[0]->type.dtype != KL_BOOL) return tf_err(c, n, "needs a bool input");
    ir_node *as_int[2] = {tf_cast(c, n, in[0], KL_I32), in[1]};
    ir_node *r = as_int[0] ? imp_reduce(c, n, as_int, 2, op) : NULL;
    return r ? tf_binary(c, n, KL_OP_NOT_EQUAL, r, tf_scalar(c, KL_I32, 0)) : NULL;
}
