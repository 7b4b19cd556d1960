/* ir/eval.c — reference evaluation of IR ops in plain C.
 *
 * The oracle constant folding uses and tests compare codegen against.  It
 * favours obviously-right over fast.  f32 math uses libm (this is not
 * generated code).  i32 arithmetic wraps (done in uint32_t, no UB), as TF
 * does on x86; f32 -> i32 casts truncate toward zero and saturate out of
 * range values (NaN -> 0) instead of invoking UB.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct view {
    kl_dtype dtype;
    const void *data;
    int64_t strides[IR_MAX_RANK]; /* in elements, broadcast to the result */
} view;

static double load(const view *v, int64_t i)
{
    switch (v->dtype) {
    case KL_F32: return ((const float *)v->data)[i];
    case KL_I32: return ((const int32_t *)v->data)[i];
    default: return 0; /* rejected before evaluation */
    }
}

static int32_t sat_i32(double x)
{
    if (isnan(x)) return 0;
    if (x >= 2147483647.0) return INT32_MAX;
    if (x <= -2147483648.0) return INT32_MIN;
    return (int32_t)x;
}

static float f_unary(kl_op op, float x)
{
    switch (op) {
    case KL_OP_NEG: return -x;
    case KL_OP_ABS: return fabsf(x);
    case KL_OP_SQUARE: return x * x;
    case KL_OP_SQRT: return sqrtf(x);
    case KL_OP_RSQRT: return 1.0f / sqrtf(x);
    case KL_OP_EXP: return expf(x);
    case KL_OP_LOG: return logf(x);
    case KL_OP_TANH: return tanhf(x);
    case KL_OP_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)x)));
    case KL_OP_RELU: return x > 0 || isnan(x) ? x : 0.0f;
    case KL_OP_RELU6: return isnan(x) ? x : x < 0 ? 0.0f : x > 6 ? 6.0f : x;
    case KL_OP_COPY: return x;
    default: KL_ASSERT(!"not a float unary op");
    }
}

static int32_t i_unary(kl_op op, int32_t x)
{
    uint32_t u = (uint32_t)x;
    switch (op) {
    case KL_OP_NEG: return (int32_t)(0u - u);
    case KL_OP_ABS: return x < 0 ? (int32_t)(0u - u) : x;
    case KL_OP_SQUARE: return (int32_t)(u * u);
    case KL_OP_RELU: return x > 0 ? x : 0;
    case KL_OP_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case KL_OP_COPY: return x;
    default: KL_ASSERT(!"not an int unary op");
    }
}

static float f_binary(kl_op op, float a, float b)
{
    switch (op) {
    case KL_OP_ADD: return a + b;
    case KL_OP_SUB: return a - b;
    case KL_OP_MUL: return a * b;
    case KL_OP_DIV: return a / b;
    case KL_OP_MAX: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
    case KL_OP_MIN: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
    default: KL_ASSERT(!"not a binary op");
    }
}

static bool i_binary(kl_op op, int32_t a, int32_t b, int32_t *out)
{
    uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    switch (op) {
    case KL_OP_ADD: *out = (int32_t)(ua + ub); return true;
    case KL_OP_SUB: *out = (int32_t)(ua - ub); return true;
    case KL_OP_MUL: *out = (int32_t)(ua * ub); return true;
    case KL_OP_DIV:
        if (b == 0 || (a == INT32_MIN && b == -1)) return false;
        *out = a / b;
        return true;
    case KL_OP_MAX: *out = a > b ? a : b; return true;
    case KL_OP_MIN: *out = a < b ? a : b; return true;
    default: KL_ASSERT(!"not a binary op");
    }
}

/* Flat index of operand view v at the result's multi-index idx. */
static int64_t at(const view *v, const int64_t *idx, int rank)
{
    int64_t off = 0;
    for (int i = 0; i < rank; i++) off += idx[i] * v->strides[i];
    return off;
}

static bool next_index(int64_t *idx, const ir_type *t)
{
    for (int i = t->rank - 1; i >= 0; i--) {
        if (++idx[i] < t->dims[i]) return true;
        idx[i] = 0;
    }
    return false;
}

static bool eval_elementwise(const ir_node *n, const void *const *in, void *out, kl_diag *d)
{
    view v[2];
    for (int k = 0; k < n->n_in; k++) {
        v[k].dtype = n->in[k]->type.dtype;
        v[k].data = in[k];
        ir_broadcast_strides(&n->in[k]->type, n->type.rank, n->type.dims, v[k].strides);
    }
    int64_t idx[IR_MAX_RANK] = {0}, count = ir_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++, next_index(idx, &n->type)) {
        double a = load(&v[0], at(&v[0], idx, n->type.rank));
        if (n->op == KL_OP_CAST) {
            if (n->type.dtype == KL_F32) ((float *)out)[i] = (float)a;
            else ((int32_t *)out)[i] = sat_i32(a);
        } else if (n->n_in == 1) {
            if (n->type.dtype == KL_F32) ((float *)out)[i] = f_unary(n->op, (float)a);
            else ((int32_t *)out)[i] = i_unary(n->op, (int32_t)a);
        } else {
            double b = load(&v[1], at(&v[1], idx, n->type.rank));
            if (n->type.dtype == KL_F32) ((float *)out)[i] = f_binary(n->op, (float)a, (float)b);
            else if (!i_binary(n->op, (int32_t)a, (int32_t)b, &((int32_t *)out)[i])) {
                kl_diag_error(d, "node '%s' (%s): integer division by zero or overflow", n->name ? n->name : "",
                              kl_op_name(n->op));
                return false;
            }
        }
    }
    return true;
}

static void eval_matmul(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *ta = &n->in[0]->type;
    bool tra = n->attr.matmul.transpose_a, trb = n->attr.matmul.transpose_b;
    int64_t m = n->type.dims[0], nn = n->type.dims[1], k = tra ? ta->dims[0] : ta->dims[1];
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < nn; j++) {
            float fs = 0;
            uint32_t is = 0;
            for (int64_t p = 0; p < k; p++) {
                int64_t ia = tra ? p * m + i : i * k + p, ib = trb ? j * k + p : p * nn + j;
                if (n->type.dtype == KL_F32) fs += ((const float *)in[0])[ia] * ((const float *)in[1])[ib];
                else is += (uint32_t)((const int32_t *)in[0])[ia] * (uint32_t)((const int32_t *)in[1])[ib];
            }
            if (n->type.dtype == KL_F32) ((float *)out)[i * nn + j] = fs;
            else ((int32_t *)out)[i * nn + j] = (int32_t)is;
        }
}

static void eval_reduce(const ir_node *n, const void *in, void *out)
{
    const ir_type *t = &n->in[0]->type;
    int64_t count_out = ir_type_numel(&n->type), count_in = ir_type_numel(t);
    double *acc = malloc(sizeof(double) * (size_t)(count_out ? count_out : 1));
    bool is_max = n->op == KL_OP_REDUCE_MAX, f32 = t->dtype == KL_F32;
    for (int64_t i = 0; i < count_out; i++) acc[i] = is_max ? -INFINITY : 0;
    int64_t idx[IR_MAX_RANK] = {0};
    for (int64_t i = 0; i < count_in; i++, next_index(idx, t)) {
        int64_t o = 0; /* output offset: kept axes in order */
        for (int a = 0; a < t->rank; a++)
            if (!(n->attr.reduce.axes & (1u << a))) o = o * t->dims[a] + idx[a];
        double v = f32 ? ((const float *)in)[i] : ((const int32_t *)in)[i];
        if (is_max) acc[o] = isnan(v) || isnan(acc[o]) ? NAN : v > acc[o] ? v : acc[o];
        else acc[o] += v;
    }
    int64_t per = count_out ? count_in / count_out : 0;
    for (int64_t i = 0; i < count_out; i++) {
        double r = acc[i];
        if (n->op == KL_OP_REDUCE_MEAN) r = f32 ? r / (double)per : (double)((int64_t)r / (per ? per : 1));
        if (f32) ((float *)out)[i] = (float)r;
        else ((int32_t *)out)[i] = is_max && per == 0 ? INT32_MIN : (int32_t)(int64_t)r;
    }
    free(acc);
}

static void eval_softmax(const ir_node *n, const float *in, float *out)
{
    int64_t cols = n->type.rank ? n->type.dims[n->type.rank - 1] : 1;
    int64_t rows = cols ? ir_type_numel(&n->type) / cols : 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = in + r * cols;
        float mx = -INFINITY;
        for (int64_t c = 0; c < cols; c++) mx = x[c] > mx ? x[c] : mx;
        double sum = 0;
        for (int64_t c = 0; c < cols; c++) sum += out[r * cols + c] = expf(x[c] - mx);
        for (int64_t c = 0; c < cols; c++) out[r * cols + c] = (float)(out[r * cols + c] / sum);
    }
}

static bool supported(const ir_node *n, kl_diag *d)
{
    bool ok = n->type.dtype == KL_F32 || n->type.dtype == KL_I32;
    for (int i = 0; i < n->n_in; i++) ok = ok && (n->in[i]->type.dtype == KL_F32 || n->in[i]->type.dtype == KL_I32);
    if (!ok)
        kl_diag_error(d, "node '%s' (%s): dtype not supported by the reference evaluator", n->name ? n->name : "",
                      kl_op_name(n->op));
    return ok;
}

bool ir_eval_node(const ir_node *n, const void *const *in, void *out, kl_diag *d)
{
    if (!supported(n, d)) return false;
    switch (n->op) {
    case KL_OP_PARAM:
        kl_diag_error(d, "a param has no value to evaluate");
        return false;
    case KL_OP_CONST:
        memcpy(out, n->data, ir_type_bytes(&n->type));
        return true;
    case KL_OP_RESHAPE:
        memcpy(out, in[0], ir_type_bytes(&n->type));
        return true;
    case KL_OP_COPY: case KL_OP_CAST: case KL_OP_NEG: case KL_OP_ABS: case KL_OP_SQUARE: case KL_OP_SQRT:
    case KL_OP_RSQRT: case KL_OP_EXP: case KL_OP_LOG: case KL_OP_TANH: case KL_OP_SIGMOID: case KL_OP_RELU:
    case KL_OP_RELU6: case KL_OP_ADD: case KL_OP_SUB: case KL_OP_MUL: case KL_OP_DIV: case KL_OP_MAX:
    case KL_OP_MIN:
        return eval_elementwise(n, in, out, d);
    case KL_OP_MATMUL:
        eval_matmul(n, in, out);
        return true;
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX:
        eval_reduce(n, in[0], out);
        return true;
    case KL_OP_SOFTMAX:
        eval_softmax(n, in[0], out);
        return true;
    case KL_OP_COUNT:
        break;
    }
    KL_ASSERT(!"bad op");
}

bool ir_eval_graph(const ir_graph *g, const void *const *feeds, void *const *fetches, kl_diag *d)
{
    void **val = calloc((size_t)g->next_id + 1, sizeof *val);
    bool ok = val != NULL;
    for (int i = 0; ok && i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op == KL_OP_PARAM) {
            val[n->id] = (void *)feeds[n->attr.param.index];
            continue;
        }
        const void *in[16];
        for (int j = 0; j < n->n_in && j < 16; j++) in[j] = val[n->in[j]->id];
        size_t bytes = ir_type_bytes(&n->type);
        val[n->id] = malloc(bytes ? bytes : 1);
        ok = val[n->id] && ir_eval_node(n, in, val[n->id], d);
    }
    for (int i = 0; ok && i < g->n_results; i++)
        memcpy(fetches[i], val[g->results[i].node->id], ir_type_bytes(&g->results[i].node->type));
    for (int i = 0; val && i < g->n_nodes; i++)
        if (g->nodes[i]->op != KL_OP_PARAM) free(val[g->nodes[i]->id]);
    free(val);
    return ok;
}
