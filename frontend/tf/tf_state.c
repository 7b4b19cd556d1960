/* frontend/tf/tf_state.c — variables, assigns, NoOps and optimizer updates.
 *
 * A training GraphDef is a program with side effects: VarHandleOp /
 * VariableV2 name a variable, ReadVariableOp / Identity-of-ref read it,
 * AssignVariableOp / Assign and the Apply* ops write it, and NoOps with
 * control inputs group effects into targets (`train`, `init_all_vars_op`).
 * Kiln compiles one Session.run-style entry into a pure graph: the walk
 * (walk.c) follows control inputs and imports in a topological order of
 * data and control edges, and here each variable has a *current value*:
 * the first read makes a param (what the caller's state holds), a write
 * replaces it.  After the import every written variable's final value
 * becomes a result; g->param_var / g->result_var say which (ir.h), and the
 * buffer planner aliases both onto the state (passes/bufassign.c).
 *
 * Optimizer updates are TensorFlow's formulas from its training_ops
 * kernels (CPU), written out as elementwise IR with the same operation
 * order, so a step rounds as TF's does.
 */
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

struct tf_state {
    int n_vars;
    int *node;        /* GraphDef node index of each variable */
    tf_var *vars;
    ir_node *handles; /* marker per variable (not graph nodes) */
    ir_node none;     /* the value of an op with no outputs */
    ir_node **cur;    /* current value, NULL: not read or written yet */
    ir_node **param;  /* the param the first read made */
    bool *written;
};

static bool is_var_op(const char *op)
{
    return op && (!strcmp(op, "VarHandleOp") || !strcmp(op, "VariableV2") || !strcmp(op, "Variable"));
}

static bool is_ref_var(const tf_node *n) { return n->op && strcmp(n->op, "VarHandleOp"); }

int tf_model_num_variables(const tf_model *m)
{
    int k = 0;
    for (size_t i = 0; !m->fn && i < m->pb->n_node; i++) k += is_var_op(m->pb->node[i]->op);
    return k;
}

static int var_node(const tf_model *m, int v)
{
    for (size_t i = 0; !m->fn && i < m->pb->n_node; i++)
        if (is_var_op(m->pb->node[i]->op) && v-- == 0) return (int)i;
    return -1;
}

const char *tf_model_node_op(const tf_model *m, const char *name)
{
    int i = name ? tf_find_node(m, name, strlen(name)) : -1;
    return i < 0 ? NULL : m->pb->node[i]->op;
}

const char *tf_model_node_device(const tf_model *m, const char *name)
{
    int i = name ? tf_find_node(m, name, strlen(name)) : -1;
    return i < 0 || !m->pb->node[i]->device || !*m->pb->node[i]->device ? NULL : m->pb->node[i]->device;
}

int tf_model_gradients(const tf_model *m, const char **names, int cap)
{
    static const struct { const char *op; int grad; } ops[] = {
        {"ApplyGradientDescent", 2}, {"ApplyMomentum", 3}, {"ApplyAdagrad", 3}, {"ApplyAdagradV2", 4},
        {"ApplyRMSProp", 7}, {"ApplyAdam", 9},
    };
    int n = 0;
    for (size_t i = 0; i < m->pb->n_node; i++) {
        const tf_node *x = m->pb->node[i];
        const char *op = x->op && !strncmp(x->op, "Resource", 8) ? x->op + 8 : x->op;
        for (size_t k = 0; op && k < sizeof ops / sizeof *ops; k++)
            if (!strcmp(op, ops[k].op) && (size_t)ops[k].grad < x->n_input) {
                if (n < cap) names[n] = x->input[ops[k].grad];
                n++;
            }
    }
    return n;
}

bool tf_model_variable(const tf_model *m, int v, tf_var *out, kl_diag *d)
{
    int i = var_node(m, v);
    if (i < 0) return kl_diag_error(d, "%s: no variable %d", m->source, v), false;
    const tf_node *n = m->pb->node[i];
    const tf_attr_value *dt = tf_attr(n, "dtype"), *sh = tf_attr(n, "shape");
    kl_dtype t;
    char buf[48];
    if (!dt || dt->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TYPE || !tf_map_dtype(dt->type, &t))
        return kl_diag_error(d, "%s: variable '%s' (%s): unsupported or missing dtype %s", m->source, n->name, n->op,
                             dt ? tf_dtype_name(dt->type, buf, sizeof buf) : "(none)"), false;
    if (!sh || sh->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_SHAPE || !sh->shape || sh->shape->unknown_rank ||
        sh->shape->n_dim > IR_MAX_RANK)
        return kl_diag_error(d, "%s: variable '%s' (%s): its shape is not static", m->source, n->name, n->op), false;
    int64_t dims[IR_MAX_RANK];
    for (size_t k = 0; k < sh->shape->n_dim; k++)
        if ((dims[k] = sh->shape->dim[k]->size) < 0)
            return kl_diag_error(d, "%s: variable '%s' (%s): its shape is not static", m->source, n->name, n->op), false;
    out->name = n->name;
    out->type = ir_type_make(t, (int)sh->shape->n_dim, dims);
    return true;
}

tf_state *tf_state_new(imp *c)
{
    int nv = tf_model_num_variables(c->m);
    if (nv == 0) return NULL;
    tf_state *s = kl_calloc(c->d, 1, sizeof *s, "the variable table");
    if (!s) return NULL;
    s->n_vars = nv;
    s->node = kl_calloc(c->d, (size_t)nv, sizeof *s->node, "the variable table");
    s->vars = kl_calloc(c->d, (size_t)nv, sizeof *s->vars, "the variable table");
    s->handles = kl_calloc(c->d, (size_t)nv, sizeof *s->handles, "the variable table");
    s->cur = kl_calloc(c->d, (size_t)nv, sizeof *s->cur, "the variable table");
    s->param = kl_calloc(c->d, (size_t)nv, sizeof *s->param, "the variable table");
    s->written = kl_calloc(c->d, (size_t)nv, sizeof *s->written, "the variable table");
    bool ok = s->node && s->vars && s->handles && s->cur && s->param && s->written;
    for (int v = 0; ok && v < nv; v++) {
        s->node[v] = var_node(c->m, v);
        ok = tf_model_variable(c->m, v, &s->vars[v], c->d);
        s->handles[v].op = KL_OP_PARAM; /* never in a graph: n_in 0, no folding */
        s->handles[v].type = s->vars[v].type;
        s->handles[v].name = s->vars[v].name;
        s->handles[v].id = -1;
        c->value[s->node[v]] = &s->handles[v];
        c->state[s->node[v]] = 2;
    }
    s->none.op = KL_OP_PARAM;
    s->none.id = -1;
    s->none.name = "(no value)";
    if (!ok) tf_state_free(s);
    return ok ? s : NULL;
}

void tf_state_free(tf_state *s)
{
    if (!s) return;
    free(s->node), free(s->vars), free(s->handles), free(s->cur), free(s->param), free(s->written);
    free(s);
}

static int var_of(const imp *c, const ir_node *v)
{
    const tf_state *s = c->st;
    if (!s || !v || v < s->handles || v >= s->handles + s->n_vars) return -1;
    return (int)(v - s->handles);
}

bool tf_is_marker(const imp *c, const ir_node *v) { return c->st && (var_of(c, v) >= 0 || v == &c->st->none); }

static ir_node *read_var(imp *c, int v)
{
    tf_state *s = c->st;
    if (!s->cur[v]) s->cur[v] = s->param[v] = ir_param(c->g, s->vars[v].type, s->vars[v].name);
    return s->cur[v];
}

/* Ops that take variables (refs or resource handles) as such. */
static bool is_state_op(const char *op)
{
    static const char *const ops[] = {
        "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "Assign", "AssignAdd",
        "AssignSub", "ApplyAdam", "ResourceApplyAdam", "ApplyGradientDescent", "ResourceApplyGradientDescent",
        "ApplyMomentum", "ResourceApplyMomentum", "ApplyRMSProp", "ResourceApplyRMSProp", "ApplyAdagrad",
        "ResourceApplyAdagrad", "ApplyAdagradV2", "ResourceApplyAdagradV2", "NoOp", "VarIsInitializedOp",
        "IsVariableInitialized",
        /* sparse reads and updates (tf_ops_sparse.c) */
        "ResourceGather", "VariableShape", "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul",
        "ResourceScatterMin", "ResourceScatterMax", "ResourceScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterMul",
        "ScatterMin", "ScatterMax", "ScatterUpdate", "SparseApplyMomentum", "ResourceSparseApplyMomentum",
        "SparseApplyAdagrad", "ResourceSparseApplyAdagrad", "SparseApplyAdagradV2", "ResourceSparseApplyAdagradV2",
        "SparseApplyRMSProp", "ResourceSparseApplyRMSProp"};
    for (size_t i = 0; op && i < sizeof ops / sizeof *ops; i++)
        if (!strcmp(op, ops[i])) return true;
    return false;
}

bool tf_state_operands(imp *c, const tf_node *n, ir_node **in, int n_in)
{
    if (!c->st) return true;
    bool state_op = is_state_op(n->op), identity = n->op && !strcmp(n->op, "Identity");
    for (int k = 0; k < n_in; k++) {
        int v = var_of(c, in[k]);
        if (in[k] == &c->st->none) return tf_err(c, n, "input %d is an operation with no output", k) != NULL;
        if (v < 0 || state_op) continue;
        if (is_ref_var(c->m->pb->node[c->st->node[v]])) in[k] = read_var(c, v);
        else if (!identity)
            return tf_err(c, n, "takes the resource handle of variable '%s' as a value (only ReadVariableOp, "
                                "assigns and optimizer updates take handles)", c->st->vars[v].name) != NULL;
    }
    return true;
}

ir_node *tf_state_fetch(imp *c, const char *name, ir_node *v)
{
    if (!c->st) return v;
    int k = var_of(c, v);
    if (k >= 0) return read_var(c, k);
    if (v == &c->st->none) {
        kl_diag_error(c->d, "%s: fetch '%s' is an operation with no output: pass it as a target", c->m->source, name);
        return NULL;
    }
    return v;
}

bool tf_state_finish(imp *c)
{
    tf_state *s = c->st;
    ir_graph *g = c->g;
    if (!s) return true;
    int n_user = g->n_results;
    for (int v = 0; v < s->n_vars; v++)
        if (s->written[v]) ir_graph_add_result(g, s->cur[v], s->vars[v].name);
    g->param_var = kl_arena_alloc(g->arena, sizeof(int) * ((size_t)g->n_params + 1), 8);
    g->result_var = kl_arena_alloc(g->arena, sizeof(int) * ((size_t)g->n_results + 1), 8);
    for (int i = 0; i < g->n_params; i++) {
        g->param_var[i] = -1;
        for (int v = 0; v < s->n_vars; v++)
            if (s->param[v] == g->params[i]) g->param_var[i] = v;
    }
    for (int j = 0, v = 0; j < g->n_results; j++) {
        if (j < n_user) {
            g->result_var[j] = -1;
            continue;
        }
        while (!s->written[v]) v++;
        g->result_var[j] = v++;
    }
    return true;
}

/* ---- for the sparse importers (tf_ops_sparse.c) --------------------------- */

int tf_state_var(imp *c, const tf_node *n, ir_node *h, const char *what)
{
    if (!c->st) return tf_err(c, n, "the graph has no variables"), -1;
    int v = var_of(c, h);
    if (v < 0) tf_err(c, n, "%s is not a variable", what);
    return v;
}

ir_node *tf_state_read(imp *c, int v) { return read_var(c, v); }

static bool write_var(imp *c, const tf_node *n, int v, ir_node *value);
bool tf_state_write(imp *c, const tf_node *n, int v, ir_node *value) { return write_var(c, n, v, value); }

ir_node *tf_state_none(imp *c) { return &c->st->none; }

/* ---- importers ----------------------------------------------------------- */

static int want_var(imp *c, const tf_node *n, ir_node *h, const char *what)
{
    int v = var_of(c, h);
    if (v < 0) tf_err(c, n, "%s is not a variable", what);
    return v;
}

static bool write_var(imp *c, const tf_node *n, int v, ir_node *value)
{
    tf_state *s = c->st;
    if (!value) return false;
    char a[64], b[64];
    if (!ir_type_equal(&value->type, &s->vars[v].type)) {
        tf_err(c, n, "assigns %s to variable '%s' of type %s", ir_type_str(&value->type, a, sizeof a),
               s->vars[v].name, ir_type_str(&s->vars[v].type, b, sizeof b));
        return false;
    }
    s->cur[v] = value;
    s->written[v] = true;
    return true;
}

/* VarHandleOp / VariableV2 are bound before the walk (tf_state_new); an
 * importer runs only for one inside a function or a graph without state. */
ir_node *imp_variable(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return tf_err(c, n, "variables are supported in the main graph only");
}

ir_node *imp_noop(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (c->st) return &c->st->none;
    return tf_err(c, n, "a NoOp only groups side effects: name it as a target of a graph with variables");
}

ir_node *imp_read_variable(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!c->st || !tf_want_inputs(c, n, n_in, 1)) return c->st ? NULL : tf_err(c, n, "the graph has no variables");
    int v = want_var(c, n, in[0], "its input");
    return v < 0 ? NULL : read_var(c, v);
}

/* Assign, AssignAdd, AssignSub and their resource forms (op: COPY, ADD, SUB). */
static ir_node *assign(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op, bool ref)
{
    if (!c->st) return tf_err(c, n, "the graph has no variables");
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int v = want_var(c, n, in[0], "input 0");
    if (v < 0) return NULL;
    ir_node *val = op == KL_OP_COPY ? in[1] : tf_binary(c, n, op, read_var(c, v), in[1]);
    if (!write_var(c, n, v, val)) return NULL;
    return ref ? in[0] : &c->st->none;
}

ir_node *imp_assign(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op) { return assign(c, n, in, n_in, op, true); }
ir_node *imp_assign_variable(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return assign(c, n, in, n_in, op, false);
}

ir_node *imp_var_is_initialized(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return tf_err(c, n, "initialization is checked by the entry point (docs/training.md), not in the graph");
}

/* Elementwise builders for the update formulas; NULL-safe through tf_binary. */
static ir_node *B(imp *c, const tf_node *n, kl_op op, ir_node *a, ir_node *b) { return a && b ? tf_binary(c, n, op, a, b) : NULL; }
static ir_node *U(imp *c, const tf_node *n, kl_op op, ir_node *a) { return a ? tf_unary(c, n, op, a) : NULL; }

typedef struct apply {
    int var[3];       /* variable operands (var, slots) */
    int n_var;
    ir_node *cur[3];  /* their current values */
} apply;

/* Reads the first n_var operands as variables. */
static bool apply_vars(imp *c, const tf_node *n, ir_node **in, int n_in, int want, int n_var, apply *a)
{
    if (!c->st) return tf_err(c, n, "the graph has no variables") != NULL;
    if (!tf_want_inputs(c, n, n_in, want)) return false;
    a->n_var = n_var;
    for (int k = 0; k < n_var; k++) {
        char what[32];
        snprintf(what, sizeof what, "input %d", k);
        if ((a->var[k] = want_var(c, n, in[k], what)) < 0) return false;
        a->cur[k] = read_var(c, a->var[k]);
    }
    return true;
}

static ir_node *apply_done(imp *c, const tf_node *n, ir_node **in, const apply *a, ir_node *const *next)
{
    for (int k = 0; k < a->n_var; k++)
        if (!write_var(c, n, a->var[k], next[k])) return NULL;
    return n->op && !strncmp(n->op, "Resource", 8) ? &c->st->none : in[0];
}

/* Data-parallel training: the gradient summed over the ranks, divided by
 * their count (tf_entry.allreduce_ranks). */
static ir_node *dp_grad(imp *c, const tf_node *n, ir_node *grad)
{
    if (!grad || c->allreduce_ranks <= 1) return grad;
    if (grad->type.dtype != KL_F32) return tf_err(c, n, "data-parallel training sums float32 gradients; this one is %s", kl_dtype_name(grad->type.dtype));
    ir_node *sum = ir_node_new(c->g, KL_OP_ALLREDUCE, 1, &grad, NULL, NULL, n->name, c->d);
    if (!sum || c->allreduce_sum) return sum;
    return B(c, n, KL_OP_MUL, sum, ir_scalar(c->g, grad->type.dtype, 1.0 / c->allreduce_ranks));
}

static ir_node *one(imp *c, const apply *a) { return ir_scalar(c->g, a->cur[0]->type.dtype, 1.0); }

/* var -= alpha * delta */
ir_node *imp_apply_gd(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    apply a;
    if (!apply_vars(c, n, in, n_in, 3, 1, &a)) return NULL;
    ir_node *next[1] = {B(c, n, KL_OP_SUB, a.cur[0], B(c, n, KL_OP_MUL, in[1], dp_grad(c, n, in[2])))};
    return apply_done(c, n, in, &a, next);
}

/* accum = accum * momentum + grad;
 * var -= nesterov ? grad * lr + accum * momentum * lr : accum * lr
 * inputs: var, accum, lr, grad, momentum */
ir_node *imp_apply_momentum(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    apply a;
    if (!apply_vars(c, n, in, n_in, 5, 2, &a)) return NULL;
    ir_node *lr = in[2], *grad = dp_grad(c, n, in[3]), *mom = in[4];
    ir_node *accum = B(c, n, KL_OP_ADD, B(c, n, KL_OP_MUL, a.cur[1], mom), grad);
    ir_node *step = tf_attr_bool(n, "use_nesterov", false)
                        ? B(c, n, KL_OP_ADD, B(c, n, KL_OP_MUL, grad, lr), B(c, n, KL_OP_MUL, B(c, n, KL_OP_MUL, accum, mom), lr))
                        : B(c, n, KL_OP_MUL, accum, lr);
    ir_node *next[2] = {B(c, n, KL_OP_SUB, a.cur[0], step), accum};
    return apply_done(c, n, in, &a, next);
}

/* ApplyAdagrad (var, accum, lr, grad): accum += grad^2 (update_slots);
 * var -= grad * lr * rsqrt(accum).  ApplyAdagradV2 (var, accum, lr,
 * epsilon, grad): var -= grad * lr / (sqrt(accum) + epsilon). */
ir_node *imp_apply_adagrad(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    bool v2 = strstr(n->op, "V2") != NULL;
    apply a;
    if (!apply_vars(c, n, in, n_in, v2 ? 5 : 4, 2, &a)) return NULL;
    ir_node *lr = in[2], *grad = dp_grad(c, n, in[v2 ? 4 : 3]);
    ir_node *accum = tf_attr_bool(n, "update_slots", true) ? B(c, n, KL_OP_ADD, a.cur[1], U(c, n, KL_OP_SQUARE, grad)) : a.cur[1];
    ir_node *step = v2 ? B(c, n, KL_OP_DIV, B(c, n, KL_OP_MUL, grad, lr), B(c, n, KL_OP_ADD, U(c, n, KL_OP_SQRT, accum), in[3]))
                       : B(c, n, KL_OP_MUL, B(c, n, KL_OP_MUL, grad, lr), U(c, n, KL_OP_RSQRT, accum));
    ir_node *next[2] = {B(c, n, KL_OP_SUB, a.cur[0], step), accum};
    return apply_done(c, n, in, &a, next);
}

/* ms += (grad^2 - ms) * (1 - rho); mom = mom * momentum + grad * lr / sqrt(ms + epsilon);
 * var -= mom.  inputs: var, ms, mom, lr, rho, momentum, epsilon, grad */
ir_node *imp_apply_rmsprop(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    apply a;
    if (!apply_vars(c, n, in, n_in, 8, 3, &a)) return NULL;
    ir_node *lr = in[3], *rho = in[4], *momentum = in[5], *eps = in[6], *grad = dp_grad(c, n, in[7]);
    ir_node *ms = B(c, n, KL_OP_ADD, a.cur[1],
                    B(c, n, KL_OP_MUL, B(c, n, KL_OP_SUB, U(c, n, KL_OP_SQUARE, grad), a.cur[1]), B(c, n, KL_OP_SUB, one(c, &a), rho)));
    ir_node *mom = B(c, n, KL_OP_ADD, B(c, n, KL_OP_MUL, a.cur[2], momentum),
                     B(c, n, KL_OP_DIV, B(c, n, KL_OP_MUL, grad, lr), U(c, n, KL_OP_SQRT, B(c, n, KL_OP_ADD, ms, eps))));
    ir_node *next[3] = {B(c, n, KL_OP_SUB, a.cur[0], mom), ms, mom};
    return apply_done(c, n, in, &a, next);
}

/* alpha = lr * sqrt(1 - beta2_power) / (1 - beta1_power);
 * m += (grad - m) * (1 - beta1); v += (grad^2 - v) * (1 - beta2);
 * var -= nesterov ? (grad * (1 - beta1) + beta1 * m) * alpha / (sqrt(v) + epsilon)
 *                 : m * alpha / (sqrt(v) + epsilon)
 * inputs: var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad */
ir_node *imp_apply_adam(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    apply a;
    if (!apply_vars(c, n, in, n_in, 10, 3, &a)) return NULL;
    ir_node *b1p = in[3], *b2p = in[4], *lr = in[5], *b1 = in[6], *b2 = in[7], *eps = in[8], *grad = dp_grad(c, n, in[9]);
    ir_node *one_ = one(c, &a);
    ir_node *alpha = B(c, n, KL_OP_DIV, B(c, n, KL_OP_MUL, lr, U(c, n, KL_OP_SQRT, B(c, n, KL_OP_SUB, one_, b2p))),
                       B(c, n, KL_OP_SUB, one_, b1p));
    ir_node *m = B(c, n, KL_OP_ADD, a.cur[1], B(c, n, KL_OP_MUL, B(c, n, KL_OP_SUB, grad, a.cur[1]), B(c, n, KL_OP_SUB, one_, b1)));
    ir_node *v = B(c, n, KL_OP_ADD, a.cur[2],
                   B(c, n, KL_OP_MUL, B(c, n, KL_OP_SUB, U(c, n, KL_OP_SQUARE, grad), a.cur[2]), B(c, n, KL_OP_SUB, one_, b2)));
    ir_node *num = tf_attr_bool(n, "use_nesterov", false)
                       ? B(c, n, KL_OP_MUL, B(c, n, KL_OP_ADD, B(c, n, KL_OP_MUL, grad, B(c, n, KL_OP_SUB, one_, b1)), B(c, n, KL_OP_MUL, b1, m)), alpha)
                       : B(c, n, KL_OP_MUL, m, alpha);
    ir_node *step = B(c, n, KL_OP_DIV, num, B(c, n, KL_OP_ADD, U(c, n, KL_OP_SQRT, v), eps));
    ir_node *next[3] = {B(c, n, KL_OP_SUB, a.cur[0], step), m, v};
    return apply_done(c, n, in, &a, next);
}
