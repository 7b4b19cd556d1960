/* frontend/onnx/onnx_control.c — ONNX If, Loop and Scan as while/if regions.
 *
 * A body is a graph attribute that may read values of the scopes around it
 * by name; those free names (ox_free_names) become extra operands of the
 * while/if and params of its regions, in the same order in every region.
 * Loop and Scan go through ir_while_functional with every value carried and
 * the invariants returned unchanged, so the same canonical form (carried,
 * then invariants; constants copied into the regions) as TensorFlow's.
 * Scan outputs, and Loop's, are preallocated [trips, ...] buffers written
 * one row per trip with dynamic_update_slice: a Loop with scan outputs
 * needs a constant trip count M (or a declared output length).  Scan-8
 * (batched, opset < 9) only with batch 1 and no sequence_lens.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define MAX_VALUES 128

static const Kiln__Onnx__OxGraph *body_attr(const ox_node *n, const char *name)
{
    const ox_attr *a = ox_attr_get(n, name);
    return a ? a->g : NULL;
}

/* Params of region r: one per value, typed as it; false (reported) when a
 * value is missing: an omitted or failed operand of node n. */
static bool params_like(ox *c, const ox_node *n, ir_graph *r, ir_node *const *vals, int count, ir_node **out)
{
    for (int i = 0; i < count; i++) {
        if (!vals[i]) return ox_err(c, n, "operand %d of its loop or branch is missing or could not be imported", i) != NULL;
        out[i] = ir_param(r, vals[i]->type, NULL);
    }
    return true;
}

ir_node *ox_if(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    const Kiln__Onnx__OxGraph *b[2] = {body_attr(n, "then_branch"), body_attr(n, "else_branch")};
    if (n_in < 1 || !in[0] || !b[0] || !b[1]) return ox_err(c, n, "needs a condition and two branches");
    ir_node *pred = in[0];
    if (pred->type.dtype != KL_BOOL || ir_type_numel(&pred->type) != 1) return ox_err(c, n, "the condition must be one bool");
    if (pred->type.rank) pred = ox_reshape(c, n, pred, 0, NULL);
    const char *names[MAX_VALUES];
    ir_node *caps[MAX_VALUES], *outs[MAX_VALUES], *res[MAX_VALUES];
    int nc = ox_free_names(c, b, 2, names, caps, MAX_VALUES);
    if (b[0]->n_output > MAX_VALUES || b[0]->n_output != b[1]->n_output) return ox_err(c, n, "branches return different counts");
    ir_graph *r[2];
    for (int k = 0; k < 2; k++) {
        ir_node *p[MAX_VALUES];
        r[k] = ir_region_new(c->g, c->m->source);
        if (!params_like(c, n, r[k], caps, nc, p)) return NULL;
        if (!ox_import_body(c, b[k], r[k], NULL, 0, names, p, nc, res)) return NULL;
        for (size_t o = 0; o < b[k]->n_output; o++) ir_graph_add_result(r[k], res[o], NULL);
    }
    if (!ir_if_functional(c->g, pred, nc, caps, r[0], r[1], n->name, outs, c->d)) return NULL;
    for (size_t o = 0; o < b[0]->n_output; o++) c->outs[o] = outs[o];
    c->n_outs = (int)b[0]->n_output;
    return outs[0];
}

/* [i, 0, ...] of the rank of t, as i32. */
static ir_node *row_start(ox *c, const ox_node *n, ir_node *i, int rank)
{
    ir_node *i32 = i->type.dtype == KL_I32 ? i : ox_cast(c, n, i, KL_I32);
    ir_node *v = ox_reshape(c, n, i32, 1, (int64_t[]){1});
    if (rank == 1) return v;
    int32_t zeros[IR_MAX_RANK] = {0};
    ir_node *z = ir_const(c->g, ir_type_make(KL_I32, 1, (int64_t[]){rank - 1}), zeros, NULL);
    ir_attr a;
    memset(&a, 0, sizeof a);
    return ox_op(c, n, KL_OP_CONCAT, 2, (ir_node *[]){v, z}, &a, NULL);
}

/* buf with row i replaced by v (v has buf's type minus the leading axis). */
static ir_node *write_row(ox *c, const ox_node *n, ir_node *buf, ir_node *v, ir_node *i)
{
    ir_type row = buf->type;
    row.dims[0] = 1;
    ir_node *u = ox_reshape(c, n, v, row.rank, row.dims);
    return ox_op(c, n, KL_OP_DYNAMIC_UPDATE_SLICE, 3, (ir_node *[]){buf, u, row_start(c, n, i, buf->type.rank)}, NULL, NULL);
}

static ir_node *read_row(ox *c, const ox_node *n, ir_node *x, ir_node *i)
{
    ir_type row = x->type;
    row.dims[0] = 1;
    ir_node *s = ox_op(c, n, KL_OP_DYNAMIC_SLICE, 2, (ir_node *[]){x, row_start(c, n, i, x->type.rank)}, NULL, &row);
    return ox_reshape(c, n, s, row.rank - 1, row.dims + 1);
}

static ir_node *zeros(ox *c, ir_type t)
{
    void *z = calloc(1, ir_type_bytes(&t) + 1);
    if (!z) return NULL;
    ir_node *k = ir_const(c->g, t, z, NULL);
    free(z);
    return k;
}

/* Builds a while from operands ops[0..n) (every one carried; the body's
 * results for invariants are their params), the cond region made by
 * `cond_of` on the cond region's params. */
typedef ir_node *(*cond_fn)(ox *c, const ox_node *n, ir_node **p, void *env);

static bool finish_loop(ox *c, const ox_node *n, ir_node **ops, int n_ops, ir_graph *body, cond_fn cond_of, void *env,
                        ir_node **outs)
{
    ir_graph *cond = ir_region_new(c->g, c->m->source);
    ir_node *p[MAX_VALUES * 3];
    if (!params_like(c, n, cond, ops, n_ops, p)) return false;
    ir_graph *saved = c->g;
    c->g = cond;
    ir_node *go = cond_of(c, n, p, env);
    c->g = saved;
    if (!go) return false;
    ir_graph_add_result(cond, go, NULL);
    return ir_while_functional(c->g, n_ops, ops, cond, body, n->name, outs, c->d);
}

/* Loop: go while i < M (when given) and the carried condition holds. */
typedef struct loop_env { bool has_m; int m_at; } loop_env;

static ir_node *loop_cond(ox *c, const ox_node *n, ir_node **p, void *env)
{
    loop_env *e = env;
    if (!e->has_m) return p[1];
    return ox_bin(c, n, KL_OP_AND, ox_bin(c, n, KL_OP_LESS, p[0], p[e->m_at]), p[1]);
}

/* The leading dim the graph declares for value `name` (its outputs and
 * value_info), or -1. */
static int64_t declared_rows(const ox *c, const char *name)
{
    const Kiln__Onnx__OxGraph *g = c->graph;
    for (size_t l = 0; l < 2; l++) {
        Kiln__Onnx__OxValueInfo **vi = l ? g->value_info : g->output;
        size_t nv = l ? g->n_value_info : g->n_output;
        for (size_t i = 0; i < nv; i++) {
            const Kiln__Onnx__OxType *t = vi[i]->type;
            if (!vi[i]->name || strcmp(vi[i]->name, name) || !t || t->value_case != KILN__ONNX__OX_TYPE__VALUE_TENSOR_TYPE ||
                !t->tensor_type->shape || !t->tensor_type->shape->n_dim)
                continue;
            const Kiln__Onnx__OxDim *d = t->tensor_type->shape->dim[0];
            if (d->value_case == KILN__ONNX__OX_DIM__VALUE_DIM_VALUE) return d->dim_value;
        }
    }
    return -1;
}

ir_node *ox_loop(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    const Kiln__Onnx__OxGraph *body = body_attr(n, "body");
    if (!body || n_in < 2 || n_in > MAX_VALUES) return ox_err(c, n, "needs a body, M and cond");
    int nv = n_in - 2, ns = (int)body->n_output - 1 - nv;
    if (ns < 0 || ns > MAX_VALUES) return ox_err(c, n, "body returns %zu values for %d loop variables", body->n_output, nv);
    if ((int)n->n_output > nv + ns)
        return ox_err(c, n, "has %zu outputs; its %d loop variables and %d scan outputs give at most %d", n->n_output, nv, ns, nv + ns);
    ir_node *m = in[0] ? ox_cast(c, n, ox_reshape(c, n, in[0], 0, NULL), KL_I64) : NULL;
    uint8_t yes = 1;
    ir_node *cond0 = in[1] ? ox_reshape(c, n, in[1], 0, NULL) : ir_const(c->g, ir_type_make(KL_BOOL, 0, NULL), &yes, NULL);
    /* scan outputs have one row per trip: M when constant, else the length
     * the graph declares for them (a run of fewer trips leaves zero rows,
     * more overwrite the last one) */
    int64_t trips = m && m->op == KL_OP_CONST ? *(const int64_t *)m->data : ns && (int)n->n_output > nv ? declared_rows(c, n->output[nv]) : ns ? -1 : 0;
    if (ns && (trips < 0 || trips > (1 << 24)))
        return ox_err(c, n, "scan outputs need a constant trip count M or a declared output length");
    /* operands: i, cond, v..., [M], captured..., scan buffers (types known once the body is imported) */
    const char *names[MAX_VALUES];
    ir_node *ops[MAX_VALUES * 3], *caps[MAX_VALUES];
    int nc = ox_free_names(c, &body, 1, names, caps, MAX_VALUES), k = 0;
    ops[k++] = ox_scalar(c, KL_I64, 0), ops[k++] = cond0;
    for (int i = 0; i < nv; i++) ops[k++] = in[2 + i];
    loop_env env = {m != NULL, k};
    if (m) ops[k++] = m;
    for (int i = 0; i < nc; i++) ops[k++] = caps[i];
    int n_fixed = k;
    ir_graph *r = ir_region_new(c->g, c->m->source);
    ir_node *p[MAX_VALUES * 3], *res[MAX_VALUES * 2];
    if (!params_like(c, n, r, ops, n_fixed, p)) return NULL;
    ir_node *body_in[MAX_VALUES];
    body_in[0] = p[0], body_in[1] = p[1];
    for (int i = 0; i < nv; i++) body_in[2 + i] = p[2 + i];
    if (!ox_import_body(c, body, r, body_in, nv + 2, names, p + env.m_at + (m != NULL), nc, res)) return NULL;
    ir_graph *saved = c->g;
    c->g = r;
    ir_node *results[MAX_VALUES * 3];
    results[0] = ox_bin(c, n, KL_OP_ADD, p[0], ox_scalar(c, KL_I64, 1));
    results[1] = res[0]->type.rank ? ox_reshape(c, n, res[0], 0, NULL) : res[0];
    for (int i = 0; i < nv; i++) results[2 + i] = res[1 + i];
    for (int i = 2 + nv; i < n_fixed; i++) results[i] = p[i];
    for (int s = 0; s < ns; s++) { /* a buffer per scan output, carried and written at row i */
        ir_type t = res[1 + nv + s]->type;
        memmove(t.dims + 1, t.dims, sizeof(int64_t) * (size_t)t.rank);
        t.dims[0] = trips, t.rank++;
        c->g = saved;
        ops[n_fixed + s] = zeros(c, t);
        c->g = r;
        p[n_fixed + s] = ir_param(r, t, NULL);
        results[n_fixed + s] = write_row(c, n, p[n_fixed + s], res[1 + nv + s], p[0]);
    }
    c->g = saved;
    for (int i = 0; i < n_fixed + ns; i++) {
        if (!results[i]) return NULL;
        ir_graph_add_result(r, results[i], NULL);
    }
    ir_node *outs[MAX_VALUES * 3];
    if (!finish_loop(c, n, ops, n_fixed + ns, r, loop_cond, &env, outs)) return NULL;
    for (int i = 0; i < nv; i++) c->outs[i] = outs[2 + i];
    for (int s = 0; s < ns; s++) c->outs[nv + s] = outs[n_fixed + s];
    c->n_outs = nv + ns;
    return c->n_outs ? c->outs[0] : ox_err(c, n, "a Loop without outputs");
}

/* Scan: go while t < the scanned length. */
static ir_node *scan_cond(ox *c, const ox_node *n, ir_node **p, void *env)
{
    return ox_bin(c, n, KL_OP_LESS, p[0], ox_scalar(c, KL_I64, (double)*(int64_t *)env));
}

static bool default_axes(const ox_node *n, const char *name)
{
    int64_t v[MAX_VALUES];
    int k = ox_attr_ints(n, name, v, MAX_VALUES);
    for (int i = 0; i < k; i++)
        if (v[i] != 0) return false;
    return true;
}

static ir_node *scan9(ox *c, const ox_node *n, ir_node **in, int n_in);

/* Scan-8: a leading batch axis on every state and scan input, and an
 * optional sequence_lens first.  Batch 1 without sequence_lens is Scan-9
 * on the values without their batch axis. */
static ir_node *scan_batched(ox *c, const ox_node *n, ir_node **in, int n_in)
{
    if (n_in < 2 || in[0]) return ox_err(c, n, "Scan-8 with sequence_lens is not supported");
    ir_node *v[MAX_VALUES];
    for (int i = 1; i < n_in; i++) {
        if (!in[i] || in[i]->type.rank < 1 || in[i]->type.dims[0] != 1) return ox_err(c, n, "Scan-8 only for batch 1");
        v[i - 1] = ox_reshape(c, n, in[i], in[i]->type.rank - 1, in[i]->type.dims + 1);
    }
    ir_node *r = scan9(c, n, v, n_in - 1);
    for (int k = 0; r && k < c->n_outs; k++) {
        ir_type t = c->outs[k]->type;
        memmove(t.dims + 1, t.dims, sizeof(int64_t) * (size_t)t.rank);
        t.dims[0] = 1, t.rank++;
        c->outs[k] = ox_reshape(c, n, c->outs[k], t.rank, t.dims);
    }
    return r ? c->outs[0] : NULL;
}

ir_node *ox_scan(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    return c->m->opset < 9 ? scan_batched(c, n, in, n_in) : scan9(c, n, in, n_in);
}

static ir_node *scan9(ox *c, const ox_node *n, ir_node **in, int n_in)
{
    const Kiln__Onnx__OxGraph *body = body_attr(n, "body");
    int nsi = (int)ox_attr_int(n, "num_scan_inputs", -1);
    if (!body || nsi < 1 || nsi > n_in || n_in > MAX_VALUES) return ox_err(c, n, "needs a body and num_scan_inputs");
    if (!default_axes(n, "scan_input_axes") || !default_axes(n, "scan_input_directions") ||
        !default_axes(n, "scan_output_axes") || !default_axes(n, "scan_output_directions"))
        return ox_err(c, n, "only forward scans along axis 0");
    int nst = n_in - nsi, nso = (int)body->n_output - nst;
    int64_t len = in[nst]->type.rank ? in[nst]->type.dims[0] : -1;
    for (int i = nst; i < n_in; i++)
        if (in[i]->type.rank < 1 || in[i]->type.dims[0] != len) return ox_err(c, n, "scan inputs of different lengths");
    if (nso < 0) return ox_err(c, n, "body returns too few values");
    const char *names[MAX_VALUES];
    ir_node *ops[MAX_VALUES * 3], *caps[MAX_VALUES];
    int nc = ox_free_names(c, &body, 1, names, caps, MAX_VALUES), k = 0;
    ops[k++] = ox_scalar(c, KL_I64, 0);
    for (int i = 0; i < n_in; i++) ops[k++] = in[i];
    for (int i = 0; i < nc; i++) ops[k++] = caps[i];
    int n_fixed = k;
    ir_graph *r = ir_region_new(c->g, c->m->source);
    ir_node *p[MAX_VALUES * 3], *res[MAX_VALUES * 2], *body_in[MAX_VALUES], *results[MAX_VALUES * 3];
    if (!params_like(c, n, r, ops, n_fixed, p)) return NULL;
    ir_graph *saved = c->g;
    c->g = r;
    for (int i = 0; i < nst; i++) body_in[i] = p[1 + i];
    for (int i = 0; i < nsi; i++) body_in[nst + i] = read_row(c, n, p[1 + nst + i], p[0]);
    c->g = saved;
    if (!ox_import_body(c, body, r, body_in, n_in, names, p + 1 + n_in, nc, res)) return NULL;
    c->g = r;
    results[0] = ox_bin(c, n, KL_OP_ADD, p[0], ox_scalar(c, KL_I64, 1));
    for (int i = 0; i < nst; i++) results[1 + i] = res[i];
    for (int i = 1 + nst; i < n_fixed; i++) results[i] = p[i];
    for (int s = 0; s < nso; s++) {
        ir_type t = res[nst + s]->type;
        memmove(t.dims + 1, t.dims, sizeof(int64_t) * (size_t)t.rank);
        t.dims[0] = len, t.rank++;
        c->g = saved;
        ops[n_fixed + s] = zeros(c, t);
        c->g = r;
        p[n_fixed + s] = ir_param(r, t, NULL);
        results[n_fixed + s] = write_row(c, n, p[n_fixed + s], res[nst + s], p[0]);
    }
    c->g = saved;
    for (int i = 0; i < n_fixed + nso; i++) {
        if (!results[i]) return NULL;
        ir_graph_add_result(r, results[i], NULL);
    }
    ir_node *outs[MAX_VALUES * 3];
    if (!finish_loop(c, n, ops, n_fixed + nso, r, scan_cond, &len, outs)) return NULL;
    for (int i = 0; i < nst; i++) c->outs[i] = outs[1 + i];
    for (int s = 0; s < nso; s++) c->outs[nst + s] = outs[n_fixed + s];
    c->n_outs = nst + nso;
    return c->outs[0];
}

/* ---- RNN, GRU, LSTM as loops -------------------------------------------- *
 *
 * Each direction is one while over time: the input projection X W^T + Wb
 * of every step is one matmul before the loop (as cuDNN does), the loop
 * carries h (and c), and writes h into a [seq, batch, hidden] buffer in
 * place.  sequence_lens masks steps past each sequence's end (h kept, Y
 * zero), which for the reverse direction also starts each sequence at its
 * own last step.  Default activations only, no clip, no input_forget. */

typedef enum rnn_kind { RNN_PLAIN, RNN_GRU, RNN_LSTM } rnn_kind;

static bool has_dims(const ir_node *x, int rank, const int64_t *dims)
{
    if (!x || x->type.rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (x->type.dims[i] != dims[i]) return false;
    return true;
}

/* x[.., begin : begin + size] along the last axis. */
static ir_node *last_axis(ox *c, const ox_node *n, ir_node *x, int64_t begin, int64_t size)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type t = x->type;
    int r = t.rank - 1;
    for (int i = 0; i < t.rank; i++) a.slice.stride[i] = 1;
    a.slice.begin[r] = begin;
    t.dims[r] = size;
    return ox_op(c, n, KL_OP_SLICE, 1, &x, &a, &t);
}

/* x[d] of a [dirs, ...] tensor. */
static ir_node *direction_of(ox *c, const ox_node *n, ir_node *x, int d)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type t = x->type;
    for (int i = 0; i < t.rank; i++) a.slice.stride[i] = 1;
    a.slice.begin[0] = d;
    t.dims[0] = 1;
    ir_node *s = ox_op(c, n, KL_OP_SLICE, 1, &x, &a, &t);
    return ox_reshape(c, n, s, t.rank - 1, t.dims + 1);
}

static ir_node *mm_t(ox *c, const ox_node *n, ir_node *a, ir_node *b) /* a b^T */
{
    ir_attr at;
    memset(&at, 0, sizeof at);
    at.matmul.transpose_b = true;
    return ox_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, &at, NULL);
}

typedef struct rnn_shape {
    rnn_kind kind;
    int64_t seq, batch, hidden;
    bool reverse, lbr, has_p, has_sl;
} rnn_shape;

/* One step in the body: p = t, h, [c], Y, xw, R, Rb, [P], [lens]. */
static bool rnn_step(ox *c, const ox_node *n, const rnn_shape *s, ir_node **p, ir_node **res)
{
    int k = 0;
    ir_node *t = p[k++], *h = p[k++], *cc = s->kind == RNN_LSTM ? p[k++] : NULL, *y = p[k++], *xw = p[k++], *r = p[k++],
            *rb = p[k++], *pp = s->has_p ? p[k++] : NULL, *lens = s->has_sl ? p[k++] : NULL;
    int64_t H = s->hidden;
    ir_node *tt = s->reverse ? ox_bin(c, n, KL_OP_SUB, ox_scalar(c, KL_I64, (double)(s->seq - 1)), t) : t;
    ir_node *x = read_row(c, n, xw, tt), *hr = ox_bin(c, n, KL_OP_ADD, mm_t(c, n, h, r), rb), *hn = NULL, *cn = NULL;
    switch (s->kind) {
    case RNN_PLAIN: hn = ox_un(c, n, KL_OP_TANH, ox_bin(c, n, KL_OP_ADD, x, hr)); break;
    case RNN_GRU: {
        ir_node *z = ox_un(c, n, KL_OP_SIGMOID, ox_bin(c, n, KL_OP_ADD, last_axis(c, n, x, 0, H), last_axis(c, n, hr, 0, H)));
        ir_node *rr = ox_un(c, n, KL_OP_SIGMOID, ox_bin(c, n, KL_OP_ADD, last_axis(c, n, x, H, H), last_axis(c, n, hr, H, H)));
        ir_node *hx;
        if (s->lbr) hx = ox_bin(c, n, KL_OP_MUL, rr, last_axis(c, n, hr, 2 * H, H));
        else {
            ir_attr a;
            memset(&a, 0, sizeof a);
            a.slice.stride[0] = a.slice.stride[1] = 1, a.slice.begin[0] = 2 * H;
            ir_type rt = r->type;
            rt.dims[0] = H;
            ir_node *rh = ox_op(c, n, KL_OP_SLICE, 1, &r, &a, &rt);
            hx = ox_bin(c, n, KL_OP_ADD, mm_t(c, n, ox_bin(c, n, KL_OP_MUL, rr, h), rh), last_axis(c, n, rb, 2 * H, H));
        }
        ir_node *hh = ox_un(c, n, KL_OP_TANH, ox_bin(c, n, KL_OP_ADD, last_axis(c, n, x, 2 * H, H), hx));
        ir_node *one_z = ox_bin(c, n, KL_OP_SUB, ox_scalar(c, KL_F32, 1), z);
        hn = ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, one_z, hh), ox_bin(c, n, KL_OP_MUL, z, h));
        break;
    }
    case RNN_LSTM: {
        ir_node *g = ox_bin(c, n, KL_OP_ADD, x, hr); /* gates i, o, f, c */
        ir_node *gi = last_axis(c, n, g, 0, H), *go = last_axis(c, n, g, H, H), *gf = last_axis(c, n, g, 2 * H, H);
        if (pp) {
            gi = ox_bin(c, n, KL_OP_ADD, gi, ox_bin(c, n, KL_OP_MUL, last_axis(c, n, pp, 0, H), cc));
            gf = ox_bin(c, n, KL_OP_ADD, gf, ox_bin(c, n, KL_OP_MUL, last_axis(c, n, pp, 2 * H, H), cc));
        }
        ir_node *i = ox_un(c, n, KL_OP_SIGMOID, gi), *f = ox_un(c, n, KL_OP_SIGMOID, gf);
        ir_node *ct = ox_un(c, n, KL_OP_TANH, last_axis(c, n, g, 3 * H, H));
        cn = ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, f, cc), ox_bin(c, n, KL_OP_MUL, i, ct));
        if (pp) go = ox_bin(c, n, KL_OP_ADD, go, ox_bin(c, n, KL_OP_MUL, last_axis(c, n, pp, H, H), cn));
        hn = ox_bin(c, n, KL_OP_MUL, ox_un(c, n, KL_OP_SIGMOID, go), ox_un(c, n, KL_OP_TANH, cn));
        break;
    }
    }
    ir_node *row = hn;
    if (lens) { /* past its end a sequence keeps its state and writes zeros */
        ir_node *live = ox_bin(c, n, KL_OP_LESS, ox_cast(c, n, tt, KL_I32), lens);
        live = ox_reshape(c, n, live, 2, (int64_t[]){s->batch, 1});
        hn = ox_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){live, hn, h}, NULL, NULL);
        if (cn) cn = ox_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){live, cn, cc}, NULL, NULL);
        row = ox_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){live, hn, ox_scalar(c, KL_F32, 0)}, NULL, NULL);
    }
    k = 0;
    res[k++] = ox_bin(c, n, KL_OP_ADD, t, ox_scalar(c, KL_I64, 1));
    res[k++] = hn;
    if (cc) res[k++] = cn;
    res[k++] = write_row(c, n, y, row, tt);
    return hn && (!cc || cn) && res[k - 1];
}

static ir_node *rnn_cond(ox *c, const ox_node *n, ir_node **p, void *env)
{
    return ox_bin(c, n, KL_OP_LESS, p[0], ox_scalar(c, KL_I64, (double)*(int64_t *)env));
}

/* One direction: outs = Y [seq, batch, H], h_last, [c_last]. */
static bool rnn_direction(ox *c, const ox_node *n, const rnn_shape *s, ir_node *xw, ir_node *r, ir_node *rb, ir_node *h0,
                          ir_node *c0, ir_node *pp, ir_node *lens, ir_node **outs)
{
    ir_node *ops[12];
    int k = 0;
    ops[k++] = ox_scalar(c, KL_I64, 0);
    ops[k++] = h0;
    if (s->kind == RNN_LSTM) ops[k++] = c0;
    int y_at = k;
    ops[k++] = zeros(c, ir_type_make(KL_F32, 3, (int64_t[]){s->seq, s->batch, s->hidden}));
    int n_carried = k;
    ops[k++] = xw, ops[k++] = r, ops[k++] = rb;
    if (pp) ops[k++] = pp;
    if (lens) ops[k++] = lens;
    for (int i = 0; i < k; i++)
        if (!ops[i]) return false;
    ir_graph *body = ir_region_new(c->g, c->m->source), *saved = c->g;
    ir_node *p[12], *res[12], *w[12];
    if (!params_like(c, n, body, ops, k, p)) return false;
    c->g = body;
    bool ok = rnn_step(c, n, s, p, res);
    c->g = saved;
    if (!ok) return false;
    for (int i = 0; i < k; i++) ir_graph_add_result(body, i < n_carried ? res[i] : p[i], NULL);
    int64_t seq = s->seq;
    if (!finish_loop(c, n, ops, k, body, rnn_cond, &seq, w)) return false;
    outs[0] = w[y_at], outs[1] = w[1], outs[2] = s->kind == RNN_LSTM ? w[2] : NULL;
    return true;
}

static ir_node *zero_state(ox *c, const rnn_shape *s) { return zeros(c, ir_type_make(KL_F32, 2, (int64_t[]){s->batch, s->hidden})); }

ir_node *ox_rnn(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    (void)op;
    rnn_shape s = {.kind = !strcmp(n->op_type, "LSTM") ? RNN_LSTM : !strcmp(n->op_type, "GRU") ? RNN_GRU : RNN_PLAIN};
    int gates = s.kind == RNN_LSTM ? 4 : s.kind == RNN_GRU ? 3 : 1;
    ir_node *x = n_in > 0 ? in[0] : NULL, *w = n_in > 1 ? in[1] : NULL, *r = n_in > 2 ? in[2] : NULL;
    ir_node *b = n_in > 3 ? in[3] : NULL, *sl = n_in > 4 ? in[4] : NULL, *h0 = n_in > 5 ? in[5] : NULL;
    ir_node *c0 = n_in > 6 ? in[6] : NULL, *pp = n_in > 7 ? in[7] : NULL;
    char dir[32], buf[8];
    ox_attr_str(n, "direction", dir, sizeof dir);
    int layout = (int)ox_attr_int(n, "layout", 0), nd = !strcmp(dir, "bidirectional") ? 2 : 1;
    s.hidden = ox_attr_int(n, "hidden_size", -1);
    s.lbr = ox_attr_int(n, "linear_before_reset", 0) != 0;
    if (!x || !w || !r || x->type.rank != 3 || x->type.dtype != KL_F32 || s.hidden <= 0)
        return ox_err(c, n, "needs float X [seq, batch, input], W, R and hidden_size");
    if (ox_attr_get(n, "activations") || ox_attr_get(n, "clip") || ox_attr_int(n, "input_forget", 0))
        return ox_err(c, n, "only the default activations, without clip or input_forget");
    (void)buf;
    if (layout) {
        x = ox_transpose(c, n, x, (int[]){1, 0, 2});
        if (h0) h0 = ox_transpose(c, n, h0, (int[]){1, 0, 2});
        if (c0) c0 = ox_transpose(c, n, c0, (int[]){1, 0, 2});
    }
    s.seq = x->type.dims[0], s.batch = x->type.dims[1];
    int64_t I = x->type.dims[2], GH = gates * s.hidden;
    if (w->type.rank != 3 || w->type.dims[0] != nd || w->type.dims[1] != GH || w->type.dims[2] != I)
        return ox_err(c, n, "W must be [%d, %lld, %lld]", nd, (long long)GH, (long long)I);
    /* every other operand's shape, before any slice of it is taken */
    int64_t H = s.hidden;
    if (!has_dims(r, 3, (int64_t[]){nd, GH, H})) return ox_err(c, n, "R must be [%d, %lld, %lld]", nd, (long long)GH, (long long)H);
    if (b && !has_dims(b, 2, (int64_t[]){nd, 2 * GH})) return ox_err(c, n, "B must be [%d, %lld]", nd, (long long)(2 * GH));
    if (h0 && !has_dims(h0, 3, (int64_t[]){nd, s.batch, H})) return ox_err(c, n, "initial_h must be [%d, batch, %lld]", nd, (long long)H);
    if (c0 && !has_dims(c0, 3, (int64_t[]){nd, s.batch, H})) return ox_err(c, n, "initial_c must be [%d, batch, %lld]", nd, (long long)H);
    if (pp && !has_dims(pp, 2, (int64_t[]){nd, 3 * H})) return ox_err(c, n, "P must be [%d, %lld]", nd, (long long)(3 * H));
    if (sl && !has_dims(sl, 1, (int64_t[]){s.batch})) return ox_err(c, n, "sequence_lens must be [batch]");
    s.has_p = pp != NULL, s.has_sl = sl != NULL;
    ir_node *lens = sl ? ox_cast(c, n, sl, KL_I32) : NULL;
    ir_node *xs = ox_reshape(c, n, x, 2, (int64_t[]){s.seq * s.batch, I}), *ys[2], *hs[2], *cs[2];
    for (int d = 0; d < nd; d++) {
        s.reverse = !strcmp(dir, "reverse") || d == 1;
        ir_node *wd = direction_of(c, n, w, d), *rd = direction_of(c, n, r, d);
        ir_node *bd = b ? direction_of(c, n, b, d) : zeros(c, ir_type_make(KL_F32, 1, (int64_t[]){2 * GH}));
        ir_node *xw = ox_bin(c, n, KL_OP_ADD, mm_t(c, n, xs, wd), last_axis(c, n, bd, 0, GH));
        xw = ox_reshape(c, n, xw, 3, (int64_t[]){s.seq, s.batch, GH});
        ir_node *outs[3];
        if (!rnn_direction(c, n, &s, xw, rd, last_axis(c, n, bd, GH, GH), h0 ? direction_of(c, n, h0, d) : zero_state(c, &s),
                           s.kind == RNN_LSTM ? (c0 ? direction_of(c, n, c0, d) : zero_state(c, &s)) : NULL,
                           pp ? direction_of(c, n, pp, d) : NULL, lens, outs))
            return NULL;
        ys[d] = ox_reshape(c, n, outs[0], 4, (int64_t[]){s.seq, 1, s.batch, s.hidden});
        hs[d] = ox_reshape(c, n, outs[1], 3, (int64_t[]){1, s.batch, s.hidden});
        cs[d] = outs[2] ? ox_reshape(c, n, outs[2], 3, (int64_t[]){1, s.batch, s.hidden}) : NULL;
    }
    ir_attr a1, a0;
    memset(&a1, 0, sizeof a1), memset(&a0, 0, sizeof a0);
    a1.concat.axis = 1;
    ir_node *y = nd == 2 ? ox_op(c, n, KL_OP_CONCAT, 2, ys, &a1, NULL) : ys[0];
    ir_node *yh = nd == 2 ? ox_op(c, n, KL_OP_CONCAT, 2, hs, &a0, NULL) : hs[0];
    ir_node *yc = s.kind != RNN_LSTM ? NULL : nd == 2 ? ox_op(c, n, KL_OP_CONCAT, 2, cs, &a0, NULL) : cs[0];
    if (layout) {
        y = ox_transpose(c, n, y, (int[]){2, 0, 1, 3});
        yh = ox_transpose(c, n, yh, (int[]){1, 0, 2});
        if (yc) yc = ox_transpose(c, n, yc, (int[]){1, 0, 2});
    }
    c->outs[0] = y, c->outs[1] = yh, c->outs[2] = yc;
    c->n_outs = yc ? 3 : 2;
    return y;
}
