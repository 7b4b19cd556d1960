/* ir/eval.c — reference evaluation of IR ops in plain C.
 *
 * The oracle constant folding uses (the frontends fold shape arithmetic
 * with it while importing) and tests compare codegen against.  Obviously
 * right beats fast.  Every op of ops.def is evaluated, for every dtype:
 *   - elementwise float ops compute in double and round once when stored
 *     (exact for f32 + - * / sqrt; libm's double functions for the rest);
 *   - contractions (matmul, conv2d, conv2d_transpose) accumulate in the
 *     dtype's precision (f16 in f32) in plain loop order, as a simple kernel
 *     would, products rounded to it first;
 *   - reductions sum floats in double (a sequential float sum drifts with
 *     the row length; TensorFlow's tree sums do not), mean = sum / count;
 *   - integers compute in 64-bit two's complement and wrap to their width
 *     when stored, as TensorFlow does on x86; never UB.  Division or modulo
 *     by zero, INT64_MIN / -1 and negative integer powers are errors;
 *     integer mean truncates;
 *   - float -> int conversions truncate toward zero and saturate to the
 *     type's range (NaN -> 0): C leaves out-of-range conversions undefined.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- element access ----------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    if (isnan(f)) return sign | 0x7e00;
    float a = fabsf(f);
    if (a >= 65520.0f) return sign | 0x7c00;
    if (a < 5.9604645e-08f / 2) return sign;
    int e;
    float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    if (e < -13) return sign | (uint16_t)lrintf(a * 16777216.0f); /* subnormal: units of 2^-24 */
    int bits = (int)lrintf(m * 2048.0f);                        /* 11 significant bits */
    if (bits == 2048) bits = 1024, e++;
    return sign | (uint16_t)((e + 14) << 10 | (bits - 1024));
}

static bool is_float(kl_dtype t) { return kl_dtype_is_float(t); }

double ir_load_double(kl_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case KL_F32: return ((const float *)p)[i];
    case KL_F64: return ((const double *)p)[i];
    case KL_F16: return half_to_float(((const uint16_t *)p)[i]);
    case KL_I8: return ((const int8_t *)p)[i];
    case KL_I16: return ((const int16_t *)p)[i];
    case KL_I32: return ((const int32_t *)p)[i];
    case KL_I64: return (double)((const int64_t *)p)[i];
    case KL_U8: case KL_BOOL: return ((const uint8_t *)p)[i];
    case KL_DTYPE_COUNT: break;
    }
    return 0;
}

static double ld_f(kl_dtype t, const void *p, int64_t i) { return ir_load_double(t, p, i); }

static int64_t sat_i64(double v)
{
    if (isnan(v)) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)v;
}

static int64_t ld_i(kl_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case KL_I8: return ((const int8_t *)p)[i];
    case KL_I16: return ((const int16_t *)p)[i];
    case KL_I32: return ((const int32_t *)p)[i];
    case KL_I64: return ((const int64_t *)p)[i];
    case KL_U8: case KL_BOOL: return ((const uint8_t *)p)[i];
    default: return sat_i64(ld_f(t, p, i));
    }
}

static void st_f(kl_dtype t, void *p, int64_t i, double v)
{
    switch (t) {
    case KL_F32: ((float *)p)[i] = (float)v; return;
    case KL_F64: ((double *)p)[i] = v; return;
    case KL_F16: ((uint16_t *)p)[i] = float_to_half((float)v); return;
    case KL_BOOL: ((uint8_t *)p)[i] = v != 0; return;
    default: break;
    }
    /* float -> int: truncate toward zero, saturating to the type's range */
    double lo = t == KL_I8 ? -128 : t == KL_I16 ? -32768 : t == KL_I32 ? -2147483648.0 : t == KL_U8 ? 0 : -9.2233720368547758e18;
    double hi = t == KL_I8 ? 127 : t == KL_I16 ? 32767 : t == KL_I32 ? 2147483647.0 : t == KL_U8 ? 255 : 9.2233720368547758e18;
    int64_t v2 = isnan(v) ? 0 : v <= lo ? (int64_t)lo : v >= hi ? (t == KL_I64 ? INT64_MAX : (int64_t)hi) : (int64_t)v;
    switch (t) {
    case KL_I8: ((int8_t *)p)[i] = (int8_t)v2; return;
    case KL_I16: ((int16_t *)p)[i] = (int16_t)v2; return;
    case KL_I32: ((int32_t *)p)[i] = (int32_t)v2; return;
    case KL_I64: ((int64_t *)p)[i] = v2; return;
    case KL_U8: ((uint8_t *)p)[i] = (uint8_t)v2; return;
    default: return;
    }
}

/* Integer stores wrap to the width (two's complement), as TF does. */
static void st_i(kl_dtype t, void *p, int64_t i, int64_t v)
{
    switch (t) {
    case KL_I8: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; return;
    case KL_I16: ((int16_t *)p)[i] = (int16_t)(uint16_t)v; return;
    case KL_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; return;
    case KL_I64: ((int64_t *)p)[i] = v; return;
    case KL_U8: ((uint8_t *)p)[i] = (uint8_t)v; return;
    case KL_BOOL: ((uint8_t *)p)[i] = v != 0; return;
    default: st_f(t, p, i, (double)v); return;
    }
}

/* ---- index helpers ------------------------------------------------------ */

static bool next_index(int64_t *idx, const ir_type *t)
{
    for (int i = t->rank - 1; i >= 0; i--) {
        if (++idx[i] < t->dims[i]) return true;
        idx[i] = 0;
    }
    return false;
}

static void strides_of(const ir_type *t, int64_t *s)
{
    int64_t m = 1;
    for (int i = t->rank - 1; i >= 0; i--) s[i] = m, m *= t->dims[i];
}

static int64_t dot(const int64_t *idx, const int64_t *s, int rank)
{
    int64_t off = 0;
    for (int i = 0; i < rank; i++) off += idx[i] * s[i];
    return off;
}

static void copy_elem(void *out, int64_t o, const void *in, int64_t i, size_t size)
{
    memcpy((char *)out + o * (int64_t)size, (const char *)in + i * (int64_t)size, size);
}

/* ---- elementwise -------------------------------------------------------- */

static double f_unary(kl_op op, double x)
{
    switch (op) {
    case KL_OP_COPY: case KL_OP_CAST: return x;
    case KL_OP_NEG: return -x;
    case KL_OP_ABS: return fabs(x);
    case KL_OP_SQUARE: return x * x;
    case KL_OP_SQRT: return sqrt(x);
    case KL_OP_RSQRT: return 1.0 / sqrt(x);
    case KL_OP_EXP: return exp(x);
    case KL_OP_LOG: return log(x);
    case KL_OP_TANH: return tanh(x);
    case KL_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case KL_OP_RELU: return x > 0 || isnan(x) ? x : 0.0;
    case KL_OP_RELU6: return isnan(x) ? x : x < 0 ? 0.0 : x > 6 ? 6.0 : x;
    case KL_OP_FLOOR: return floor(x);
    case KL_OP_CEIL: return ceil(x);
    case KL_OP_ROUND: return nearbyint(x); /* default rounding: half to even */
    case KL_OP_ERF: return erf(x);
    case KL_OP_ERFC: return erfc(x);
    case KL_OP_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case KL_OP_ELU: return x > 0 ? x : expm1(x);
    case KL_OP_NOT: return x == 0;
    case KL_OP_SIN: return sin(x);
    case KL_OP_COS: return cos(x);
    case KL_OP_ATAN: return atan(x);
    default: KL_ASSERT(!"not a unary op");
    }
}

static double f_binary(kl_op op, double a, double b)
{
    switch (op) {
    case KL_OP_ADD: return a + b;
    case KL_OP_SUB: return a - b;
    case KL_OP_MUL: return a * b;
    case KL_OP_DIV: return a / b;
    case KL_OP_MAX: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
    case KL_OP_MIN: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
    case KL_OP_POW: return pow(a, b);
    case KL_OP_FLOORDIV: return floor(a / b);
    case KL_OP_FLOORMOD: { double m = fmod(a, b); return m != 0 && ((m < 0) != (b < 0)) ? m + b : m; }
    case KL_OP_AND: return a != 0 && b != 0;
    case KL_OP_OR: return a != 0 || b != 0;
    case KL_OP_LESS: return a < b;
    case KL_OP_LESS_EQUAL: return a <= b;
    case KL_OP_GREATER: return a > b;
    case KL_OP_GREATER_EQUAL: return a >= b;
    case KL_OP_EQUAL: return a == b;
    case KL_OP_NOT_EQUAL: return a != b;
    default: KL_ASSERT(!"not a binary op");
    }
}

static bool i_binary(kl_op op, int64_t a, int64_t b, int64_t *out)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    switch (op) {
    case KL_OP_ADD: *out = (int64_t)(ua + ub); return true;
    case KL_OP_SUB: *out = (int64_t)(ua - ub); return true;
    case KL_OP_MUL: *out = (int64_t)(ua * ub); return true;
    case KL_OP_DIV: case KL_OP_FLOORDIV: case KL_OP_FLOORMOD:
        if (b == 0 || (a == INT64_MIN && b == -1)) return false;
        if (op == KL_OP_DIV) *out = a / b;
        else if (op == KL_OP_FLOORDIV) *out = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
        else *out = (a % b != 0 && ((a % b < 0) != (b < 0))) ? a % b + b : a % b;
        return true;
    case KL_OP_POW: {
        if (b < 0) return false;
        uint64_t r = 1, base = ua;
        for (int64_t e = b; e; e >>= 1, base *= base)
            if (e & 1) r *= base;
        *out = (int64_t)r;
        return true;
    }
    case KL_OP_MAX: *out = a > b ? a : b; return true;
    case KL_OP_MIN: *out = a < b ? a : b; return true;
    default: *out = (int64_t)f_binary(op, (double)a, (double)b); return true;
    }
}

static int64_t i_unary(kl_op op, int64_t x)
{
    uint64_t u = (uint64_t)x;
    switch (op) {
    case KL_OP_NEG: return (int64_t)(0 - u);
    case KL_OP_ABS: return x < 0 ? (int64_t)(0 - u) : x;
    case KL_OP_SQUARE: return (int64_t)(u * u);
    case KL_OP_RELU: return x > 0 ? x : 0;
    case KL_OP_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case KL_OP_NOT: return x == 0;
    default: return x; /* copy, cast */
    }
}

static bool eval_elementwise(const ir_node *n, const void *const *in, void *out, kl_diag *d)
{
    int rank = n->type.rank;
    int64_t s[3][IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, count = ir_type_numel(&n->type);
    for (int k = 0; k < n->n_in; k++) ir_broadcast_strides(&n->in[k]->type, rank, n->type.dims, s[k]);
    kl_dtype ot = n->type.dtype, it = n->in[n->op == KL_OP_SELECT ? 1 : 0]->type.dtype;
    bool fl = is_float(it);
    for (int64_t i = 0; i < count; i++, next_index(idx, &n->type)) {
        int64_t o0 = dot(idx, s[0], rank);
        if (n->op == KL_OP_SELECT) {
            int pick = ld_i(KL_BOOL, in[0], o0) ? 1 : 2;
            copy_elem(out, i, in[pick], dot(idx, s[pick], rank), kl_dtype_size(ot));
        } else if (n->op == KL_OP_CAST) {
            if (is_float(it) && ot != KL_BOOL) st_f(ot, out, i, ld_f(it, in[0], o0));
            else if (is_float(it)) st_i(ot, out, i, ld_f(it, in[0], o0) != 0);
            else if (is_float(ot)) st_f(ot, out, i, (double)ld_i(it, in[0], o0));
            else st_i(ot, out, i, ld_i(it, in[0], o0));
        } else if (n->n_in == 1) {
            if (fl) st_f(ot, out, i, f_unary(n->op, ld_f(it, in[0], o0)));
            else st_i(ot, out, i, i_unary(n->op, ld_i(it, in[0], o0)));
        } else {
            int64_t o1 = dot(idx, s[1], rank);
            if (fl) {
                st_f(ot, out, i, f_binary(n->op, ld_f(it, in[0], o0), ld_f(it, in[1], o1)));
                continue;
            }
            int64_t r;
            if (!i_binary(n->op, ld_i(it, in[0], o0), ld_i(it, in[1], o1), &r)) {
                kl_diag_error(d, "node '%s' (%s): integer division by zero, overflow or negative power",
                              n->name ? n->name : "", kl_op_name(n->op));
                return false;
            }
            st_i(ot, out, i, r);
        }
    }
    return true;
}

/* ---- contractions and reductions ---------------------------------------- */

/* Accumulator of a contraction: f64 in double, other floats in float. */
static double acc_round(kl_dtype t, double v) { return t == KL_F64 ? v : (double)(float)v; }

static void eval_matmul(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *ta = &n->in[0]->type, *tb = &n->in[1]->type, *to = &n->type;
    bool tra = n->attr.matmul.transpose_a, trb = n->attr.matmul.transpose_b, fl = is_float(to->dtype);
    int ra = ta->rank, rb = tb->rank, ro = to->rank;
    int64_t m = to->dims[ro - 2], nn = to->dims[ro - 1], k = tra ? ta->dims[ra - 2] : ta->dims[ra - 1];
    ir_type batch = ir_type_make(to->dtype, ro - 2, to->dims), ba = ir_type_make(ta->dtype, ra - 2, ta->dims),
            bb = ir_type_make(tb->dtype, rb - 2, tb->dims);
    int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, nbatch = ir_type_numel(&batch);
    ir_broadcast_strides(&ba, ro - 2, batch.dims, sa);
    ir_broadcast_strides(&bb, ro - 2, batch.dims, sb);
    for (int64_t bi = 0; bi < nbatch; bi++, next_index(idx, &batch)) {
        int64_t offa = dot(idx, sa, ro - 2) * m * k, offb = dot(idx, sb, ro - 2) * k * nn, offo = bi * m * nn;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nn; j++) {
                double fs = 0;
                uint64_t is = 0;
                for (int64_t p = 0; p < k; p++) {
                    int64_t ia = offa + (tra ? p * m + i : i * k + p), ib = offb + (trb ? j * k + p : p * nn + j);
                    double prod = acc_round(to->dtype, ld_f(ta->dtype, in[0], ia) * ld_f(tb->dtype, in[1], ib));
                    if (fl) fs = acc_round(to->dtype, fs + prod);
                    else is += (uint64_t)ld_i(ta->dtype, in[0], ia) * (uint64_t)ld_i(tb->dtype, in[1], ib);
                }
                if (fl) st_f(to->dtype, out, offo + i * nn + j, fs);
                else st_i(to->dtype, out, offo + i * nn + j, (int64_t)is);
            }
    }
}

/* Position in the reduced result of the input element at idx. */
static int64_t reduced_offset(const ir_type *t, uint32_t axes, const int64_t *idx)
{
    int64_t o = 0;
    for (int a = 0; a < t->rank; a++)
        if (!(axes & (1u << a))) o = o * t->dims[a] + idx[a];
    return o;
}

/* The smallest and largest values of an integer dtype (empty max/min). */
static void int_range(kl_dtype t, int64_t *lo, int64_t *hi)
{
    switch (t) {
    case KL_I8: *lo = INT8_MIN, *hi = INT8_MAX; return;
    case KL_I16: *lo = INT16_MIN, *hi = INT16_MAX; return;
    case KL_I32: *lo = INT32_MIN, *hi = INT32_MAX; return;
    case KL_U8: *lo = 0, *hi = UINT8_MAX; return;
    case KL_BOOL: *lo = 0, *hi = 1; return;
    default: *lo = INT64_MIN, *hi = INT64_MAX; return;
    }
}

/* Integer reductions in wrapping 64-bit arithmetic (products and sums wrap
 * to the width like TensorFlow's; doubles would lose i64 precision). */
static void reduce_int(const ir_node *n, const void *in, void *out, int64_t *acc, int64_t count_out)
{
    const ir_type *t = &n->in[0]->type;
    int64_t lo, hi, count_in = ir_type_numel(t), idx[IR_MAX_RANK] = {0};
    int_range(t->dtype, &lo, &hi);
    kl_op op = n->op;
    for (int64_t i = 0; i < count_out; i++)
        acc[i] = op == KL_OP_REDUCE_MAX ? lo : op == KL_OP_REDUCE_MIN ? hi : op == KL_OP_REDUCE_PROD ? 1 : 0;
    for (int64_t i = 0; i < count_in; i++, next_index(idx, t)) {
        int64_t o = reduced_offset(t, n->attr.reduce.axes, idx), v = ld_i(t->dtype, in, i);
        if (op == KL_OP_REDUCE_MAX) acc[o] = v > acc[o] ? v : acc[o];
        else if (op == KL_OP_REDUCE_MIN) acc[o] = v < acc[o] ? v : acc[o];
        else if (op == KL_OP_REDUCE_PROD) acc[o] = (int64_t)((uint64_t)acc[o] * (uint64_t)v);
        else acc[o] = (int64_t)((uint64_t)acc[o] + (uint64_t)v);
    }
    int64_t per = count_out ? count_in / count_out : 0;
    for (int64_t i = 0; i < count_out; i++)
        st_i(n->type.dtype, out, i, op == KL_OP_REDUCE_MEAN && per ? acc[i] / per : acc[i]);
}

static void eval_reduce(const ir_node *n, const void *in, void *out)
{
    const ir_type *t = &n->in[0]->type;
    int64_t count_out = ir_type_numel(&n->type), count_in = ir_type_numel(t);
    size_t slots = (size_t)(count_out ? count_out : 1);
    double *acc = kl_calloc(NULL, slots, sizeof *acc, "a reduction");
    int64_t *arg = kl_calloc(NULL, slots, sizeof *arg, "a reduction"), *pos = kl_calloc(NULL, slots, sizeof *pos, "a reduction");
    kl_op op = n->op;
    bool is_arg = op == KL_OP_ARGMAX || op == KL_OP_ARGMIN;
    if (!is_float(t->dtype) && !is_arg) {
        reduce_int(n, in, out, arg, count_out);
        free(acc), free(arg), free(pos);
        return;
    }
    for (int64_t i = 0; i < count_out; i++)
        acc[i] = op == KL_OP_REDUCE_MAX || op == KL_OP_ARGMAX ? -INFINITY
                 : op == KL_OP_REDUCE_MIN || op == KL_OP_ARGMIN ? INFINITY
                 : op == KL_OP_REDUCE_PROD ? 1 : 0;
    int64_t idx[IR_MAX_RANK] = {0};
    for (int64_t i = 0; i < count_in; i++, next_index(idx, t)) {
        int64_t o = reduced_offset(t, n->attr.reduce.axes, idx);
        double v = ld_f(t->dtype, in, i); /* argmax of i64 beyond 2^53 may tie: a known limit */
        switch (op) {
        case KL_OP_REDUCE_MAX: acc[o] = isnan(v) || isnan(acc[o]) ? NAN : v > acc[o] ? v : acc[o]; break;
        case KL_OP_REDUCE_MIN: acc[o] = isnan(v) || isnan(acc[o]) ? NAN : v < acc[o] ? v : acc[o]; break;
        case KL_OP_REDUCE_PROD: acc[o] *= v; break;
        case KL_OP_ARGMAX: if (v > acc[o] || (isnan(v) && !isnan(acc[o]))) acc[o] = v, arg[o] = pos[o]; pos[o]++; break;
        case KL_OP_ARGMIN: if (v < acc[o] || (isnan(v) && !isnan(acc[o]))) acc[o] = v, arg[o] = pos[o]; pos[o]++; break;
        default: acc[o] += v; break;
        }
    }
    int64_t per = count_out ? count_in / count_out : 0;
    for (int64_t i = 0; i < count_out; i++) {
        if (is_arg) st_i(n->type.dtype, out, i, arg[i]);
        else st_f(n->type.dtype, out, i, op == KL_OP_REDUCE_MEAN ? acc[i] / (double)per : acc[i]);
    }
    free(acc);
    free(arg);
    free(pos);
}

static void eval_softmax(const ir_node *n, const void *in, void *out)
{
    kl_dtype t = n->type.dtype;
    int64_t cols = n->type.rank ? n->type.dims[n->type.rank - 1] : 1;
    int64_t rows = cols ? ir_type_numel(&n->type) / cols : 0;
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t c = 0; c < cols; c++) mx = fmax(mx, ld_f(t, in, r * cols + c));
        for (int64_t c = 0; c < cols; c++) sum += exp(ld_f(t, in, r * cols + c) - mx);
        for (int64_t c = 0; c < cols; c++) {
            double x = ld_f(t, in, r * cols + c) - mx;
            st_f(t, out, r * cols + c, n->op == KL_OP_SOFTMAX ? exp(x) / sum : x - log(sum));
        }
    }
}

/* ---- data movement ------------------------------------------------------ */

/* Reflect (r = true: edge not repeated) or mirror an index into [0, n). */
static int64_t mirror(int64_t i, int64_t n, bool reflect)
{
    if (n == 1) return 0;
    int64_t period = reflect ? 2 * (n - 1) : 2 * n;
    i %= period;
    if (i < 0) i += period;
    if (reflect) return i < n ? i : period - i;
    return i < n ? i : period - 1 - i;
}

static void eval_movement(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *o = &n->type, *x = &n->in[0]->type;
    size_t es = kl_dtype_size(o->dtype);
    int64_t sx[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, src[IR_MAX_RANK], count = ir_type_numel(o);
    bool empty = ir_type_numel(x) == 0; /* edge/reflect padding of nothing: the pad value */
    strides_of(x, sx);
    for (int64_t i = 0; i < count; i++, next_index(idx, o)) {
        bool in_range = true;
        int operand = 0;
        for (int d = 0; d < o->rank; d++) {
            switch (n->op) {
            case KL_OP_TRANSPOSE: src[n->attr.transpose.perm[d]] = idx[d]; break;
            case KL_OP_SLICE: src[d] = n->attr.slice.begin[d] + idx[d] * n->attr.slice.stride[d]; break;
            case KL_OP_TILE: src[d] = idx[d] % x->dims[d]; break;
            case KL_OP_PAD: {
                int64_t j = idx[d] - n->attr.pad.lo[d];
                if (n->attr.pad.mode == IR_PAD_CONSTANT || empty) in_range = in_range && j >= 0 && j < x->dims[d];
                else if (n->attr.pad.mode == IR_PAD_EDGE) j = j < 0 ? 0 : j >= x->dims[d] ? x->dims[d] - 1 : j;
                else j = mirror(j, x->dims[d], n->attr.pad.mode == IR_PAD_REFLECT);
                src[d] = j;
                break;
            }
            default: src[d] = idx[d]; break;
            }
        }
        if (n->op == KL_OP_CONCAT) {
            int ax = n->attr.concat.axis;
            while (src[ax] >= n->in[operand]->type.dims[ax]) src[ax] -= n->in[operand++]->type.dims[ax];
            strides_of(&n->in[operand]->type, sx);
        }
        if (in_range) copy_elem(out, i, in[operand], dot(src, sx, x->rank), es);
        else st_f(o->dtype, out, i, n->attr.pad.value);
    }
}

static void eval_gather(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *p = &n->in[0]->type, *ix = &n->in[1]->type, *o = &n->type;
    int ax = n->attr.concat.axis;
    size_t es = kl_dtype_size(o->dtype);
    int64_t sp[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, src[IR_MAX_RANK], sx[IR_MAX_RANK], count = ir_type_numel(o);
    if (p->dims[ax] == 0) { /* nothing to take: zeros rather than a read outside */
        memset(out, 0, ir_type_bytes(o));
        return;
    }
    strides_of(p, sp);
    strides_of(ix, sx);
    for (int64_t i = 0; i < count; i++, next_index(idx, o)) {
        for (int d = 0; d < ax; d++) src[d] = idx[d];
        int64_t at = dot(idx + ax, sx, ix->rank), k = ld_i(ix->dtype, in[1], at);
        src[ax] = k < 0 ? 0 : k >= p->dims[ax] ? p->dims[ax] - 1 : k; /* clamp: never read outside */
        for (int d = ax + 1; d < p->rank; d++) src[d] = idx[d - 1 + ix->rank];
        copy_elem(out, i, in[0], dot(src, sp, p->rank), es);
    }
}

static void eval_gather_elements(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *p = &n->in[0]->type, *ix = &n->in[1]->type;
    int ax = n->attr.concat.axis;
    size_t es = kl_dtype_size(p->dtype);
    int64_t sp[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, count = ir_type_numel(ix);
    if (p->dims[ax] == 0) {
        memset(out, 0, (size_t)count * es);
        return;
    }
    strides_of(p, sp);
    for (int64_t i = 0; i < count; i++, next_index(idx, ix)) {
        int64_t k = ld_i(ix->dtype, in[1], i), src = 0;
        if (k < 0) k += p->dims[ax];
        k = k < 0 ? 0 : k >= p->dims[ax] ? p->dims[ax] - 1 : k;
        for (int d = 0; d < p->rank; d++) src += (d == ax ? k : idx[d]) * sp[d];
        copy_elem(out, i, in[0], src, es);
    }
}

/* ---- windows: NHWC convolutions and pools -------------------------------- */

typedef struct window {
    int64_t sh, sw, dh, dw, pt, pl; /* strides, dilations, leading pads */
} window;

static window window_of(const ir_attr *a)
{
    return (window){a->conv.stride_h, a->conv.stride_w, a->conv.dilation_h > 0 ? a->conv.dilation_h : 1,
                    a->conv.dilation_w > 0 ? a->conv.dilation_w : 1, a->conv.pad_top, a->conv.pad_left};
}

/* y[n,oy,ox,oc] = sum over taps and the group's channels of x * w (HWIO);
 * padding reads as zero. */
static void eval_conv(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *tx = &n->in[0]->type, *tw = &n->in[1]->type, *to = &n->type;
    window w = window_of(&n->attr);
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3], KH = tw->dims[0], KW = tw->dims[1], CG = tw->dims[2];
    int64_t OC = to->dims[3], per_group = OC / (n->attr.conv.groups > 0 ? n->attr.conv.groups : 1), at = 0;
    for (int64_t b = 0; b < to->dims[0]; b++)
        for (int64_t oy = 0; oy < to->dims[1]; oy++)
            for (int64_t ox = 0; ox < to->dims[2]; ox++)
                for (int64_t oc = 0; oc < OC; oc++, at++) {
                    double acc = 0;
                    int64_t c0 = oc / (per_group ? per_group : 1) * CG;
                    for (int64_t ky = 0; ky < KH; ky++)
                        for (int64_t kx = 0; kx < KW; kx++) {
                            int64_t iy = oy * w.sh + ky * w.dh - w.pt, ix = ox * w.sw + kx * w.dw - w.pl;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int64_t ic = 0; ic < CG; ic++) {
                                double xv = ld_f(tx->dtype, in[0], ((b * H + iy) * W + ix) * C + c0 + ic);
                                double wv = ld_f(tw->dtype, in[1], ((ky * KW + kx) * CG + ic) * OC + oc);
                                acc = acc_round(to->dtype, acc + acc_round(to->dtype, xv * wv));
                            }
                        }
                    st_f(to->dtype, out, at, acc);
                }
}

/* conv2d's input gradient: every dy[n,y,x,i] scatters dy * w[ky,kx,o,i]
 * (HWOI) into the output position conv2d would have read it from. */
static void eval_conv_transpose(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *tx = &n->in[0]->type, *tw = &n->in[1]->type, *to = &n->type;
    window w = window_of(&n->attr);
    int64_t H = tx->dims[1], W = tx->dims[2], I = tx->dims[3], KH = tw->dims[0], KW = tw->dims[1];
    int64_t OH = to->dims[1], OW = to->dims[2], O = to->dims[3], count = ir_type_numel(to);
    double *acc = kl_calloc(NULL, (size_t)count, sizeof *acc, "a transposed convolution");
    for (int64_t b = 0; b < tx->dims[0]; b++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        int64_t oy = y * w.sh + ky * w.dh - w.pt, ox = x * w.sw + kx * w.dw - w.pl;
                        if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                        for (int64_t i = 0; i < I; i++) {
                            double dv = ld_f(tx->dtype, in[0], ((b * H + y) * W + x) * I + i);
                            for (int64_t o = 0; o < O; o++) {
                                double *a = &acc[((b * OH + oy) * OW + ox) * O + o];
                                double wv = ld_f(tw->dtype, in[1], ((ky * KW + kx) * O + o) * I + i);
                                *a = acc_round(to->dtype, *a + acc_round(to->dtype, dv * wv));
                            }
                        }
                    }
    for (int64_t i = 0; i < count; i++) st_f(to->dtype, out, i, acc[i]);
    free(acc);
}

/* Pools see only real elements: max ignores padding (-inf if a window holds
 * none), average divides by the count of real elements. */
static void eval_pool(const ir_node *n, const void *in, void *out)
{
    const ir_type *tx = &n->in[0]->type, *to = &n->type;
    window w = window_of(&n->attr);
    bool is_max = n->op == KL_OP_MAX_POOL;
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3], at = 0;
    for (int64_t b = 0; b < to->dims[0]; b++)
        for (int64_t oy = 0; oy < to->dims[1]; oy++)
            for (int64_t ox = 0; ox < to->dims[2]; ox++)
                for (int64_t c = 0; c < C; c++, at++) {
                    double acc = is_max ? -INFINITY : 0;
                    int64_t real = 0;
                    for (int64_t ky = 0; ky < n->attr.conv.kh; ky++)
                        for (int64_t kx = 0; kx < n->attr.conv.kw; kx++) {
                            int64_t iy = oy * w.sh + ky * w.dh - w.pt, ix = ox * w.sw + kx * w.dw - w.pl;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            double v = ld_f(tx->dtype, in, ((b * H + iy) * W + ix) * C + c);
                            acc = !is_max ? acc + v : isnan(v) || isnan(acc) ? NAN : v > acc ? v : acc;
                            real++;
                        }
                    st_f(to->dtype, out, at, is_max ? acc : acc / (double)real);
                }
}

/* ---- scans ------------------------------------------------------------- */

/* Running sum or product along one axis, in double (ints in int64 with
 * wrap-around, as the generated code's integer arithmetic). */
static void eval_scan(const ir_node *n, const void *in, void *out)
{
    const ir_type *t = &n->type;
    int ax = n->attr.concat.axis;
    int64_t outer = 1, len = t->dims[ax], inner = 1;
    for (int i = 0; i < ax; i++) outer *= t->dims[i];
    for (int i = ax + 1; i < t->rank; i++) inner *= t->dims[i];
    bool prod = n->op == KL_OP_CUMPROD, fl = kl_dtype_is_float(t->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double f = prod ? 1 : 0;
            uint64_t u = prod ? 1 : 0;
            for (int64_t k = 0; k < len; k++) {
                int64_t at = (o * len + k) * inner + i;
                if (fl) {
                    double v = ld_f(t->dtype, in, at);
                    f = prod ? f * v : f + v;
                    st_f(t->dtype, out, at, f);
                } else {
                    uint64_t v = (uint64_t)ld_i(t->dtype, in, at);
                    u = prod ? u * v : u + v;
                    st_i(t->dtype, out, at, (int64_t)u);
                }
            }
        }
}

/* y = data, then each update row in order; indices wrap once (negative
 * from the end) and clamp, like the gathers. */
static void eval_scatter(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *t = &n->type, *ix = &n->in[1]->type;
    size_t es = kl_dtype_size(t->dtype);
    int64_t rows = t->dims[0], row = rows ? ir_type_numel(t) / rows : 0;
    memcpy(out, in[0], ir_type_bytes(t));
    bool fl = kl_dtype_is_float(t->dtype);
    for (int64_t u = 0; u < ix->dims[0] && rows; u++) {
        int64_t k = ld_i(ix->dtype, in[1], u);
        if (n->attr.scatter.drop && (k < 0 || k >= rows)) continue;
        k = k < 0 ? k + rows : k;
        k = k < 0 ? 0 : k >= rows ? rows - 1 : k;
        for (int64_t r = 0; r < row; r++) {
            int64_t at = k * row + r, from = u * row + r;
            ir_scatter_reduce m = n->attr.scatter.reduce;
            if (m == IR_SCATTER_NONE) {
                copy_elem(out, at, in[2], from, es);
            } else if (fl) {
                double a = ld_f(t->dtype, out, at), b = ld_f(t->dtype, in[2], from);
                st_f(t->dtype, out, at, m == IR_SCATTER_ADD ? a + b : m == IR_SCATTER_MUL ? a * b : m == IR_SCATTER_MAX ? (a > b ? a : b) : (a < b ? a : b));
            } else {
                int64_t a = ld_i(t->dtype, out, at), b = ld_i(t->dtype, in[2], from);
                int64_t v = m == IR_SCATTER_ADD ? (int64_t)((uint64_t)a + (uint64_t)b) : m == IR_SCATTER_MUL ? (int64_t)((uint64_t)a * (uint64_t)b)
                          : m == IR_SCATTER_MAX ? (a > b ? a : b) : (a < b ? a : b);
                st_i(t->dtype, out, at, v);
            }
        }
    }
}

/* ---- dynamic slices ----------------------------------------------------- */

/* Start of axis i clamped so a part of `len` fits in `dim` (XLA's rule). */
static int64_t clamp_start(const ir_node *starts, const void *data, int i, int64_t dim, int64_t len)
{
    int64_t s = ld_i(starts->type.dtype, data, i), hi = dim - len;
    return s < 0 ? 0 : s > hi ? hi : s;
}

/* Copies every element of `part` (dims of pt) between a big tensor (dims of
 * xt) at offset start and the part, raw bytes: to_big writes the part in. */
static void copy_part(const ir_type *xt, const ir_type *pt, const int64_t *start, void *big, void *part, bool to_big)
{
    size_t es = kl_dtype_size(xt->dtype);
    int64_t n = ir_type_numel(pt), idx[IR_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i, off = 0;
        for (int d = pt->rank - 1; d >= 0; d--) idx[d] = r % pt->dims[d], r /= pt->dims[d];
        for (int d = 0; d < xt->rank; d++) off = off * xt->dims[d] + start[d] + idx[d];
        char *b = (char *)big + (size_t)off * es, *q = (char *)part + (size_t)i * es;
        memcpy(to_big ? b : q, to_big ? q : b, es);
    }
}

static void eval_dynamic(const ir_node *n, const void *const *in, void *out)
{
    const ir_type *xt = &n->in[0]->type;
    bool update = n->op == KL_OP_DYNAMIC_UPDATE_SLICE;
    const ir_type *pt = update ? &n->in[1]->type : &n->type;
    int64_t start[IR_MAX_RANK];
    for (int d = 0; d < xt->rank; d++) start[d] = clamp_start(n->in[update ? 2 : 1], in[update ? 2 : 1], d, xt->dims[d], pt->dims[d]);
    if (!update) return copy_part(xt, pt, start, (void *)in[0], out, false);
    memcpy(out, in[0], ir_type_bytes(xt));
    copy_part(xt, pt, start, out, (void *)in[1], true);
}

/* ---- dispatch ----------------------------------------------------------- */

bool ir_eval_node(const ir_node *n, const void *const *in, void *out, kl_diag *d)
{
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
    case KL_OP_MIN: case KL_OP_FLOOR: case KL_OP_CEIL: case KL_OP_ROUND: case KL_OP_ERF: case KL_OP_ERFC: case KL_OP_SOFTPLUS:
    case KL_OP_ELU: case KL_OP_NOT: case KL_OP_SIN: case KL_OP_COS: case KL_OP_ATAN: case KL_OP_POW: case KL_OP_FLOORDIV: case KL_OP_FLOORMOD: case KL_OP_AND:
    case KL_OP_OR: case KL_OP_LESS: case KL_OP_LESS_EQUAL: case KL_OP_GREATER: case KL_OP_GREATER_EQUAL:
    case KL_OP_EQUAL: case KL_OP_NOT_EQUAL: case KL_OP_SELECT:
        return eval_elementwise(n, in, out, d);
    case KL_OP_MATMUL:
        eval_matmul(n, in, out);
        return true;
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX: case KL_OP_REDUCE_MIN:
    case KL_OP_REDUCE_PROD: case KL_OP_ARGMAX: case KL_OP_ARGMIN:
        eval_reduce(n, in[0], out);
        return true;
    case KL_OP_SOFTMAX: case KL_OP_LOG_SOFTMAX:
        eval_softmax(n, in[0], out);
        return true;
    case KL_OP_TRANSPOSE: case KL_OP_SLICE: case KL_OP_PAD: case KL_OP_CONCAT: case KL_OP_TILE:
        eval_movement(n, in, out);
        return true;
    case KL_OP_GATHER:
        eval_gather(n, in, out);
        return true;
    case KL_OP_GATHER_ELEMENTS:
        eval_gather_elements(n, in, out);
        return true;
    case KL_OP_CONV2D:
        eval_conv(n, in, out);
        return true;
    case KL_OP_CONV2D_TRANSPOSE:
        eval_conv_transpose(n, in, out);
        return true;
    case KL_OP_MAX_POOL: case KL_OP_AVG_POOL:
        eval_pool(n, in[0], out);
        return true;
    case KL_OP_CUMSUM: case KL_OP_CUMPROD:
        eval_scan(n, in[0], out);
        return true;
    case KL_OP_SCATTER:
        eval_scatter(n, in, out);
        return true;
    case KL_OP_DYNAMIC_SLICE: case KL_OP_DYNAMIC_UPDATE_SLICE:
        eval_dynamic(n, in, out);
        return true;
    case KL_OP_WHILE: case KL_OP_IF: case KL_OP_GET:
        kl_diag_error(d, "%s has several results: ir_eval_graph evaluates it", kl_op_name(n->op));
        return false;
    case KL_OP_SEND: case KL_OP_RECV: case KL_OP_ALLREDUCE: case KL_OP_ALLREDUCE_START: case KL_OP_ALLREDUCE_WAIT:
        kl_diag_error(d, "%s talks to another task: only compiled code runs it", kl_op_name(n->op));
        return false;
    case KL_OP_COUNT:
        break;
    }
    KL_ASSERT(!"bad op");
}

/* ---- control flow (whole graphs only) ----------------------------------- */

static void **alloc_results(const ir_graph *r)
{
    void **v = calloc((size_t)r->n_results + 1, sizeof *v);
    for (int k = 0; v && k < r->n_results; k++) {
        size_t b = ir_type_bytes(&r->results[k].node->type);
        if (!(v[k] = malloc(b ? b : 1))) return NULL; /* leaks on OOM only */
    }
    return v;
}

static void free_results(void **v, int n)
{
    for (int k = 0; v && k < n; k++) free(v[k]);
    free(v);
}

/* Runs the loop; *res gets the final carried values, out the trip count. */
static bool eval_while(const ir_node *n, const void *const *in, void *out, void ***res, kl_diag *d)
{
    const ir_graph *cond = n->regions[0], *body = n->regions[1];
    int nc = n->attr.region.n_carried;
    void **cur = alloc_results(body), **next = alloc_results(body);
    const void **feeds = calloc((size_t)n->n_in + 1, sizeof *feeds);
    if (!cur || !next || !feeds) return kl_diag_error(d, "out of memory"), false;
    for (int k = 0; k < nc; k++) memcpy(cur[k], in[k], ir_type_bytes(&n->in[k]->type));
    for (int i = nc; i < n->n_in; i++) feeds[i] = in[i];
    int64_t trips = 0;
    bool ok = true;
    for (;;) {
        for (int k = 0; k < nc; k++) feeds[k] = cur[k];
        unsigned char go = 0;
        void *c_out[1] = {&go};
        if (!(ok = ir_eval_graph(cond, feeds, c_out, d)) || !go) break;
        if (!(ok = ir_eval_graph(body, feeds, next, d))) break;
        void **t = cur;
        cur = next, next = t;
        trips++;
    }
    memcpy(out, &trips, sizeof trips);
    free_results(next, body->n_results);
    free(feeds);
    *res = cur;
    return ok;
}

static bool eval_if(const ir_node *n, const void *const *in, void *out, void ***res, kl_diag *d)
{
    bool taken = *(const unsigned char *)in[0] != 0;
    const ir_graph *r = n->regions[taken ? 0 : 1];
    int64_t branch = taken;
    memcpy(out, &branch, sizeof branch);
    if (!(*res = alloc_results(r))) return kl_diag_error(d, "out of memory"), false;
    return ir_eval_graph(r, in + 1, *res, d);
}

/* One malloc'd buffer per node (params use the feeds), evaluated in order. */
bool ir_eval_graph(const ir_graph *g, const void *const *feeds, void *const *fetches, kl_diag *d)
{
    void **val = kl_calloc(d, (size_t)g->next_id + 1, sizeof *val, "the evaluator");
    void ***extra = kl_calloc(d, (size_t)g->next_id + 1, sizeof *extra, "the evaluator"); /* results of while/if nodes */
    const void **in = NULL;
    int cap_in = 0;
    bool ok = val != NULL && extra != NULL;
    for (int i = 0; ok && i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op == KL_OP_PARAM) {
            val[n->id] = (void *)feeds[n->attr.param.index];
            continue;
        }
        if (n->n_in > cap_in) {
            free(in);
            cap_in = n->n_in;
            in = kl_calloc(d, (size_t)cap_in, sizeof *in, "the evaluator");
        }
        val[n->id] = kl_malloc(d, ir_type_bytes(&n->type), n->name ? n->name : "a value");
        if (!val[n->id] || (n->n_in && !in)) {
            ok = false;
            break;
        }
        for (int j = 0; j < n->n_in; j++) in[j] = val[n->in[j]->id];
        if (n->op == KL_OP_WHILE) ok = eval_while(n, in, val[n->id], &extra[n->id], d);
        else if (n->op == KL_OP_IF) ok = eval_if(n, in, val[n->id], &extra[n->id], d);
        else if (n->op == KL_OP_GET) memcpy(val[n->id], extra[n->in[0]->id][n->attr.region.index], ir_type_bytes(&n->type));
        else ok = ir_eval_node(n, in, val[n->id], d);
    }
    if (!ok && kl_diag_ok(d)) kl_diag_error(d, "%s: evaluating the graph failed", g->source);
    for (int i = 0; ok && i < g->n_results; i++)
        memcpy(fetches[i], val[g->results[i].node->id], ir_type_bytes(&g->results[i].node->type));
    for (int i = 0; val && i < g->n_nodes; i++)
        if (g->nodes[i]->op != KL_OP_PARAM) free(val[g->nodes[i]->id]);
    for (int i = 0; extra && i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (extra[n->id]) free_results(extra[n->id], n->regions[n->op == KL_OP_WHILE]->n_results);
    }
    free(extra);
    free(val);
    free(in);
    return ok;
}

ir_node *ir_try_fold(ir_graph *g, ir_node *n)
{
    if (!n || n->n_in == 0 || n->n_in > 64 || ir_type_numel(&n->type) > (1 << 22)) return n;
    const void *in[64];
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i]->op != KL_OP_CONST) return n;
        in[i] = n->in[i]->data;
    }
    size_t bytes = ir_type_bytes(&n->type);
    void *buf = malloc(bytes ? bytes : 1);
    kl_diag quiet = {0};
    ir_node *r = n;
    if (buf && ir_eval_node(n, in, buf, &quiet)) r = ir_const(g, n->type, buf, n->name);
    kl_diag_clear(&quiet);
    free(buf);
    return r;
}

ir_node *ir_node_folded(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const ir_attr *a, const ir_type *t,
                        const char *name, kl_diag *d)
{
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL;
    return ir_try_fold(g, ir_node_new(g, op, n_in, in, a, t, name, d));
}

ir_node *ir_scalar(ir_graph *g, kl_dtype t, double v)
{
    ir_node *d = ir_const(g, ir_type_make(KL_F64, 0, NULL), &v, NULL);
    if (t == KL_F64) return d;
    ir_type ty = ir_type_make(t, 0, NULL);
    kl_diag quiet = {0};
    ir_node *r = ir_node_folded(g, KL_OP_CAST, 1, &d, NULL, &ty, NULL, &quiet);
    kl_diag_clear(&quiet);
    return r;
}
