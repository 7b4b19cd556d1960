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
    ok = ok && tf_import_into(c, f, g, NULL, bound, n_args, fetches, (int)sig->n_output_arg, rets);
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
    return in && in[0] != '^' && tf_parse_tensor(c->m, in, &j, &k) && j == node && (out < 0 || k == out);
}

/* Ops a TensorList passes through unchanged on its way to a use. */
static bool passes_list(const tf_node *u)
{
    static const char *const ops[] = {"Identity", "Enter", "Merge", "Switch", "Exit", "NextIteration"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strcmp(u->op, ops[i])) return true;
    return false;
}

/* A TensorList reserved with an unknown element shape (tf.map_fn's
 * output): the shape that a TensorListStack or GetItem of it states, the
 * list reaching them directly, as loop variable k of a While or through a
 * TF1 loop frame. */
static int shape_from_uses(imp *c, int node, int out, int depth, int64_t *dims)
{
    const Kiln__Tf__TfGraph *pb = c->m->pb;
    for (size_t i = 0; depth < 6 && i < pb->n_node; i++) {
        const tf_node *u = pb->node[i];
        for (size_t j = 0; j < u->n_input; j++) {
            if (!names(c, u->input[j], node, out) || !u->op) continue;
            int at = !strcmp(u->op, "TensorListStack") ? 1 : !strcmp(u->op, "TensorListGetItem") ? 2 : -1, k, o, r;
            if (at >= 0 && (size_t)at < u->n_input && tf_parse_tensor(c->m, u->input[at], &k, &o) && (r = known_shape(c, k, dims)) >= 0)
                return r;
            if ((!strcmp(u->op, "While") || !strcmp(u->op, "StatelessWhile")) &&
                (r = shape_from_uses(c, (int)i, (int)j, depth + 1, dims)) >= 0)
                return r;
            if (passes_list(u) && (r = shape_from_uses(c, (int)i, -1, depth + 1, dims)) >= 0) return r;
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

/* ---- TF1 control flow: Enter, Merge, Switch, NextIteration, Exit ------- *
 *
 * Graphs frozen with lowered control flow (or written with TF1) spell a
 * loop as a frame: each loop variable enters through Enter, meets its next
 * value in a Merge, is split by a Switch on the LoopCond into the body's
 * input (output 1) and the Exit (output 0), and comes back through
 * NextIteration.  Constant Enters bring invariants in.  The walk never
 * enters the cycle: an Exit depends on what enters its frame (walk.c), and
 * importing it rebuilds the frame as a while whose cond and body regions
 * are the nodes between the Merges/Switches and the LoopCond/NextIterations
 * (imported again through tf_import_into with those nodes bound to the
 * regions' params).  Conditionals (Switch ... Merge outside a frame) become
 * if nodes the same way: each side of the Merge imported again as a
 * region, the Switches on the predicate bound to params. */

#define MAX_VARS 256

static const tf_node *node_of(const tf_model *m, const char *input, int *idx, int *out)
{
    int j, k;
    if (!input || input[0] == '^' || !tf_parse_tensor(m, input, &j, &k)) return NULL;
    if (idx) *idx = j;
    if (out) *out = k;
    return m->pb->node[j];
}

static bool op_is(const tf_node *n, const char *op) { return n && n->op && !strcmp(n->op, op); }

/* The Enter a frame's Merge takes, or NULL. */
static const tf_node *merge_enter(const tf_model *m, const tf_node *merge)
{
    for (size_t k = 0; op_is(merge, "Merge") && k < merge->n_input; k++) {
        const tf_node *e = node_of(m, merge->input[k], NULL, NULL);
        if (op_is(e, "Enter")) return e;
    }
    return NULL;
}

/* The frame name Exit node x leaves (Exit <- Switch <- Merge <- Enter). */
static bool exit_frame(const tf_model *m, const tf_node *x, char *frame, size_t size)
{
    const tf_node *sw = op_is(x, "Exit") && x->n_input ? node_of(m, x->input[0], NULL, NULL) : NULL;
    const tf_node *merge = op_is(sw, "Switch") && sw->n_input ? node_of(m, sw->input[0], NULL, NULL) : NULL;
    const tf_node *e = merge_enter(m, merge);
    if (!e) return false;
    tf_attr_str(e, "frame_name", frame, size);
    return true;
}

static bool in_frame(const tf_node *n, const char *frame)
{
    char f[256];
    return op_is(n, "Enter") && !strcmp(tf_attr_str(n, "frame_name", f, sizeof f), frame);
}

/* Index of the first node whose input `at` names node j (output k; k < 0: any), with op `op`. */
static int user_of(const tf_model *m, int j, int k, const char *op, size_t at)
{
    for (size_t i = 0; i < m->pb->n_node; i++) {
        const tf_node *u = m->pb->node[i];
        int uj, uk;
        if (op_is(u, op) && at < u->n_input && node_of(m, u->input[at], &uj, &uk) && uj == j && (k < 0 || uk == k))
            return (int)i;
    }
    return -1;
}

int tf_v1_frame_inputs(const tf_model *m, int exit, int *out, int max)
{
    char frame[256];
    if (!exit_frame(m, m->pb->node[exit], frame, sizeof frame)) return -1;
    int n = 0;
    for (size_t i = 0; i < m->pb->n_node && n < max; i++) {
        int j;
        const tf_node *e = m->pb->node[i];
        if (in_frame(e, frame) && e->n_input && node_of(m, e->input[0], &j, NULL)) out[n++] = j;
    }
    return n;
}

/* One loop variable of a frame: the nodes that carry it. */
typedef struct loop_var {
    int enter, merge, sw, next, exit;
} loop_var;

static int frame_vars(imp *c, const char *frame, loop_var *v, int *inv, int *n_inv)
{
    const tf_model *m = c->m;
    int nv = 0;
    *n_inv = 0;
    for (size_t i = 0; i < m->pb->n_node; i++) {
        const tf_node *e = m->pb->node[i];
        if (!in_frame(e, frame)) continue;
        if (tf_attr_bool(e, "is_constant", false)) {
            if (*n_inv < MAX_VARS) inv[(*n_inv)++] = (int)i;
            continue;
        }
        if (nv == MAX_VARS) return -1;
        loop_var *l = &v[nv++];
        l->enter = (int)i;
        l->merge = user_of(m, (int)i, -1, "Merge", 0);
        if (l->merge < 0) l->merge = user_of(m, (int)i, -1, "Merge", 1);
        l->sw = l->merge < 0 ? -1 : user_of(m, l->merge, 0, "Switch", 0);
        l->exit = l->sw < 0 ? -1 : user_of(m, l->sw, 0, "Exit", 0);
        const tf_node *mg = l->merge < 0 ? NULL : m->pb->node[l->merge];
        l->next = -1;
        for (size_t k = 0; mg && k < mg->n_input; k++) {
            int j;
            if (op_is(node_of(m, mg->input[k], &j, NULL), "NextIteration")) l->next = j;
        }
        if (l->merge < 0 || l->sw < 0 || l->next < 0) return -1;
    }
    return nv;
}

/* A region of the frame: params for the variables and invariants, the
 * Merges, Switches and constant Enters bound to them, fetches imported. */
static ir_graph *frame_region(imp *c, ir_node **in, const loop_var *v, int nv, const int *inv, int ni,
                              const char *const *fetches, int n_fetches, ir_node **outs)
{
    ir_graph *r = ir_region_new(c->g, c->m->source);
    int at[3 * MAX_VARS];
    ir_node *val[3 * MAX_VARS];
    int nb = 0;
    for (int k = 0; k < nv; k++) {
        ir_node *p = ir_param(r, in[k]->type, c->m->pb->node[v[k].merge]->name);
        at[nb] = v[k].merge, val[nb++] = p;
        at[nb] = v[k].sw, val[nb++] = p;
    }
    for (int k = 0; k < ni; k++) at[nb] = inv[k], val[nb++] = ir_param(r, in[nv + k]->type, c->m->pb->node[inv[k]]->name);
    return tf_import_into(c, c->m, r, at, val, nb, fetches, n_fetches, outs) ? r : NULL;
}

bool tf_v1_loop(imp *c, int i)
{
    const tf_node *x = c->m->pb->node[i];
    char frame[256];
    loop_var v[MAX_VARS];
    int inv[MAX_VARS], ni, nv = exit_frame(c->m, x, frame, sizeof frame) ? frame_vars(c, frame, v, inv, &ni) : -1;
    if (nv <= 0) return tf_err(c, x, "cannot find its loop (Enter -> Merge -> Switch -> Exit, NextIteration)") != NULL;
    ir_node *in[2 * MAX_VARS], *outs[2 * MAX_VARS], *pred, *next[MAX_VARS];
    for (int k = 0; k < nv + ni; k++) {
        const tf_node *e = c->m->pb->node[k < nv ? v[k].enter : inv[k - nv]];
        if (!(in[k] = tf_input_value(c, e, e->input[0]))) return false;
    }
    const tf_node *sw = c->m->pb->node[v[0].sw], *lc = sw->n_input > 1 ? node_of(c->m, sw->input[1], NULL, NULL) : NULL;
    if (!op_is(lc, "LoopCond") || !lc->n_input) return tf_err(c, x, "the loop's Switch does not take a LoopCond") != NULL;
    const char *cond_fetch = lc->input[0], *body_fetch[MAX_VARS];
    for (int k = 0; k < nv; k++) body_fetch[k] = c->m->pb->node[v[k].next]->input[0];
    ir_graph *cond = frame_region(c, in, v, nv, inv, ni, &cond_fetch, 1, &pred);
    ir_graph *body = cond ? frame_region(c, in, v, nv, inv, ni, body_fetch, nv, next) : NULL;
    if (!body) return false;
    if (pred->type.dtype != KL_BOOL || pred->type.rank != 0) return tf_err(c, x, "the loop condition is not a bool scalar") != NULL;
    ir_graph_add_result(cond, pred, "cond");
    for (int k = 0; k < nv; k++) ir_graph_add_result(body, next[k], NULL);
    for (int k = 0; k < ni; k++) ir_graph_add_result(body, body->params[nv + k], NULL); /* invariants */
    if (!ir_while_functional(c->g, nv + ni, in, cond, body, frame, outs, c->d)) return false;
    for (int k = 0; k < nv; k++)
        if (v[k].exit >= 0) c->value[v[k].exit] = outs[k];
    return true;
}

/* The Switch a conditional's branch value descends from (nearest, through
 * data and control inputs; loop Switches on a LoopCond do not count), and
 * which of its outputs. */
static int branch_switch(const tf_model *m, const char *input, int *port)
{
    int queue[512], head = 0, tail = 0, seen_at = -1;
    int j, k;
    const char *s = input[0] == '^' ? input + 1 : input;
    if (!tf_parse_tensor(m, s, &j, &k)) return -1;
    queue[tail++] = j;
    int ports[512];
    ports[0] = k;
    while (head < tail && seen_at < 0) {
        int at = queue[head], p = ports[head++];
        const tf_node *n = m->pb->node[at];
        if (op_is(n, "Switch") && n->n_input > 1 && !op_is(node_of(m, n->input[1], NULL, NULL), "LoopCond")) {
            *port = p;
            return at;
        }
        for (size_t q = 0; q < n->n_input && tail < 512; q++) {
            const char *in = n->input[q][0] == '^' ? n->input[q] + 1 : n->input[q];
            if (tf_parse_tensor(m, in, &j, &k)) queue[tail] = j, ports[tail++] = k;
        }
    }
    return -1;
}

ir_node *imp_switch(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    c->outs[0] = c->outs[1] = in[0]; /* both branches see the value; Merge selects */
    c->n_outs = 2;
    return in[0];
}

/* A lowered conditional as an if: each branch a region imported again
 * from its side of the Merge, every Switch on the same predicate that the
 * walk reached bound to a param (its data input is the if's operand). */
static ir_node *merge_as_if(imp *c, const tf_node *n, ir_node *pred, const tf_node *sw, int port)
{
    int at[MAX_VALUES];
    ir_node *ops[MAX_VALUES], *p[2][MAX_VALUES], *res[2], *outs[1];
    int k = 0;
    for (size_t i = 0; i < c->m->pb->n_node && k < MAX_VALUES; i++) {
        const tf_node *s = c->m->pb->node[i];
        if (!op_is(s, "Switch") || s->n_input < 2 || strcmp(s->input[1], sw->input[1]) || !c->value[i]) continue;
        at[k] = (int)i, ops[k++] = c->value[i];
    }
    ir_graph *r[2];
    for (int b = 0; b < 2; b++) {
        r[b] = ir_region_new(c->g, c->m->source);
        for (int i = 0; i < k; i++) p[b][i] = ir_param(r[b], ops[i]->type, c->m->pb->node[at[i]]->name);
        const char *side = n->input[b == 0 ? (port == 1 ? 0 : 1) : (port == 1 ? 1 : 0)];
        if (!tf_import_into(c, c->m, r[b], at, p[b], k, &side, 1, &res[b])) return NULL;
        ir_graph_add_result(r[b], res[b], NULL);
    }
    return ir_if_functional(c->g, pred, k, ops, r[0], r[1], n->name, outs, c->d) ? outs[0] : NULL;
}

ir_node *imp_merge(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    if (n_in != 2) return tf_err(c, n, "a conditional's Merge takes two values (a loop's is handled at its Exit)");
    int port, s = branch_switch(c->m, n->input[0], &port);
    if (s < 0) return tf_err(c, n, "neither branch descends from a Switch");
    const tf_node *sw = c->m->pb->node[s];
    ir_node *pred = tf_input_value(c, sw, sw->input[1]);
    if (!pred) return NULL;
    if (pred->type.dtype != KL_BOOL || ir_type_numel(&pred->type) != 1) return tf_err(c, n, "the predicate must be a bool scalar");
    if (pred->type.rank) pred = tf_reshape(c, n, pred, 0, NULL);
    ir_node *v = merge_as_if(c, n, pred, sw, port);
    if (!v) return NULL;
    /* output 1, value_index: which input was taken */
    ir_node *taken = tf_scalar(c, KL_I32, port == 1 ? 0 : 1), *other = tf_scalar(c, KL_I32, port == 1 ? 1 : 0);
    c->outs[0] = v;
    c->outs[1] = tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){pred, taken, other}, NULL, NULL);
    c->n_outs = 2;
    return v;
}

/* Enter, NextIteration, LoopCond and a loop's Exit are consumed by
 * tf_v1_loop; reaching one otherwise means a graph Kiln cannot read. */
ir_node *imp_loop_part(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)in, (void)n_in, (void)op;
    return tf_err(c, n, "is used outside its while loop");
}
