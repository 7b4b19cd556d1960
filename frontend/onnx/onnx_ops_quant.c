/* frontend/onnx/onnx_ops_quant.c — quantization, integer products and
 * window functions, as compositions of existing IR ops.
 *
 * QuantizeLinear is saturate(round_half_even(x / scale) + zero_point),
 * computed in float and cast (exact: the value is an integer in range);
 * DequantizeLinear is (x - zero_point) * scale; DynamicQuantizeLinear
 * derives scale and zero point from the input's range, as ONNX's
 * reference does, in float32.  MatMulInteger subtracts the zero points in
 * int32 and multiplies in int32 (exact).  ConvInteger convolves in float32,
 * exact while every partial sum stays below 2^24 (uint8 x uint8 taps up to
 * 258 per output).  Hann, Hamming and Blackman windows need their size as a
 * constant and become constants.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static ir_node *scalar_like(ox *c, kl_dtype t, double v) { return ox_scalar(c, t, v); }

/* A per-axis [C] parameter shaped to broadcast along attribute `axis` of x;
 * scalars as they are (the axis then does not matter). */
static ir_node *along(ox *c, const ox_node *n, ir_node *p, const ir_node *x)
{
    if (!p || !x || p->type.rank == 0 || x->type.rank <= 1) return p;
    int axis = ox_axis(c, n, ox_attr_int(n, "axis", 1), x->type.rank);
    if (axis < 0) return NULL;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) dims[i] = i == axis ? p->type.dims[0] : 1;
    return ox_reshape(c, n, p, x->type.rank, dims);
}

/* round half to even, then clamp to the range of t (u8 or i8), in float, then cast. */
static ir_node *saturate_cast(ox *c, const ox_node *n, ir_node *v, kl_dtype t)
{
    double lo = t == KL_U8 ? 0 : t == KL_I8 ? -128 : t == KL_I16 ? -32768 : -2147483648.0;
    double hi = t == KL_U8 ? 255 : t == KL_I8 ? 127 : t == KL_I16 ? 32767 : 2147483647.0;
    v = ox_un(c, n, KL_OP_ROUND, v);
    v = ox_bin(c, n, KL_OP_MAX, v, scalar_like(c, KL_F32, lo));
    v = ox_bin(c, n, KL_OP_MIN, v, scalar_like(c, KL_F32, hi));
    return ox_cast(c, n, v, t);
}

ir_node *ox_quantize_linear(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 2 || !in[0] || !in[1]) return ox_err(c, n, "needs x and y_scale");
    ir_node *x = ox_cast(c, n, in[0], KL_F32), *zp = n_in > 2 ? in[2] : NULL;
    kl_dtype t = zp ? zp->type.dtype : KL_U8;
    if (t != KL_U8 && t != KL_I8) return ox_err(c, n, "only uint8 and int8 outputs are supported");
    ir_node *q = ox_bin(c, n, KL_OP_DIV, x, along(c, n, ox_cast(c, n, in[1], KL_F32), x));
    q = ox_un(c, n, KL_OP_ROUND, q);
    if (zp) q = ox_bin(c, n, KL_OP_ADD, q, along(c, n, ox_cast(c, n, zp, KL_F32), x));
    return saturate_cast(c, n, q, t); /* rounds an integer: no-op */
}

ir_node *ox_dequantize_linear(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 2 || !in[0] || !in[1]) return ox_err(c, n, "needs x and x_scale");
    ir_node *x = ox_cast(c, n, in[0], KL_F32), *zp = n_in > 2 ? in[2] : NULL;
    if (zp) x = ox_bin(c, n, KL_OP_SUB, x, along(c, n, ox_cast(c, n, zp, KL_F32), x));
    return ox_bin(c, n, KL_OP_MUL, x, along(c, n, ox_cast(c, n, in[1], KL_F32), x));
}

/* y, y_scale, y_zero_point (uint8) from the range of x widened to hold 0. */
ir_node *ox_dynamic_quantize_linear(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 1 || !in[0]) return ox_err(c, n, "needs x");
    ir_node *x = in[0];
    ir_attr all;
    memset(&all, 0, sizeof all);
    all.reduce.axes = x->type.rank ? (1u << x->type.rank) - 1 : 0;
    ir_node *zero = scalar_like(c, KL_F32, 0);
    ir_node *mx = ox_bin(c, n, KL_OP_MAX, ox_op(c, n, KL_OP_REDUCE_MAX, 1, &x, &all, NULL), zero);
    ir_node *mn = ox_bin(c, n, KL_OP_MIN, ox_op(c, n, KL_OP_REDUCE_MIN, 1, &x, &all, NULL), zero);
    ir_node *scale = ox_bin(c, n, KL_OP_DIV, ox_bin(c, n, KL_OP_SUB, mx, mn), scalar_like(c, KL_F32, 255));
    ir_node *zpf = ox_bin(c, n, KL_OP_SUB, zero, ox_bin(c, n, KL_OP_DIV, mn, scale));
    zpf = ox_bin(c, n, KL_OP_MIN, ox_bin(c, n, KL_OP_MAX, zpf, zero), scalar_like(c, KL_F32, 255));
    zpf = ox_un(c, n, KL_OP_ROUND, zpf);
    ir_node *q = ox_bin(c, n, KL_OP_ADD, ox_un(c, n, KL_OP_ROUND, ox_bin(c, n, KL_OP_DIV, x, scale)), zpf);
    c->outs[0] = saturate_cast(c, n, q, KL_U8);
    c->outs[1] = scale;
    c->outs[2] = ox_cast(c, n, zpf, KL_U8);
    c->n_outs = 3;
    return c->outs[0] && c->outs[1] && c->outs[2] ? c->outs[0] : NULL;
}

/* x - zero_point in int32; a per-row zero point of a matrix broadcasts over its columns. */
static ir_node *minus_zp(ox *c, const ox_node *n, ir_node *x, ir_node *zp, bool rows)
{
    x = ox_cast(c, n, x, KL_I32);
    if (!zp) return x;
    zp = ox_cast(c, n, zp, KL_I32);
    if (rows && zp && zp->type.rank == 1 && zp->type.dims[0] > 1)
        zp = ox_reshape(c, n, zp, 2, (int64_t[]){zp->type.dims[0], 1});
    return ox_bin(c, n, KL_OP_SUB, x, zp);
}

ir_node *ox_matmul_integer(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 2 || !in[0] || !in[1]) return ox_err(c, n, "needs A and B");
    ir_node *a = minus_zp(c, n, in[0], n_in > 2 ? in[2] : NULL, true);
    ir_node *b = minus_zp(c, n, in[1], n_in > 3 ? in[3] : NULL, false);
    if (a && a->type.rank == 1) a = ox_reshape(c, n, a, 2, (int64_t[]){1, a->type.dims[0]});
    ir_node *y = ox_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, NULL, NULL);
    if (y && in[0]->type.rank == 1) y = ox_reshape(c, n, y, y->type.rank - 1, (int64_t[]){y->type.dims[y->type.rank - 1]});
    return y;
}

ir_node *ox_conv_integer(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 2 || !in[0] || !in[1]) return ox_err(c, n, "needs x and w");
    ir_node *x = ox_cast(c, n, in[0], KL_F32), *w = ox_cast(c, n, in[1], KL_F32);
    if (n_in > 2 && in[2]) x = ox_bin(c, n, KL_OP_SUB, x, ox_cast(c, n, in[2], KL_F32));
    if (n_in > 3 && in[3]) {
        ir_node *wz = ox_cast(c, n, in[3], KL_F32);
        if (wz && wz->type.rank == 1 && wz->type.dims[0] > 1 && w) { /* per output channel */
            int64_t dims[IR_MAX_RANK];
            for (int i = 0; i < w->type.rank; i++) dims[i] = i ? 1 : wz->type.dims[0];
            wz = ox_reshape(c, n, wz, w->type.rank, dims);
        }
        w = ox_bin(c, n, KL_OP_SUB, w, wz);
    }
    ir_node *ops[2] = {x, w};
    ir_node *y = x && w ? ox_conv(c, n, ops, 2, KL_OP_CONV2D) : NULL;
    return ox_cast(c, n, y, KL_I32);
}

/* ---- windows ------------------------------------------------------------- */

ir_node *ox_window(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    int64_t size;
    if (n_in < 1 || ox_read_ints(c, n, in[0], "size", &size, 1) != 1) return NULL;
    if (size < 0 || size > (1 << 24)) return ox_err(c, n, "bad window size");
    kl_dtype t;
    if (!ox_map_dtype((int)ox_attr_int(n, "output_datatype", 1), &t)) return ox_err(c, n, "unsupported output_datatype");
    double den = (double)(ox_attr_int(n, "periodic", 1) ? size : size - 1);
    double *v = malloc(sizeof *v * (size_t)(size ? size : 1));
    if (!v) return ox_err(c, n, "out of memory");
    const char *ty = n->op_type;
    for (int64_t i = 0; i < size; i++) {
        double ph = den > 0 ? 2 * M_PI * (double)i / den : 0;
        if (!strcmp(ty, "HannWindow")) v[i] = 0.5 - 0.5 * cos(ph);
        else if (!strcmp(ty, "HammingWindow")) v[i] = 25.0 / 46 - 21.0 / 46 * cos(ph);
        else v[i] = 0.42 - 0.5 * cos(ph) + 0.08 * cos(2 * ph); /* BlackmanWindow */
    }
    ir_node *k = ir_const(c->g, ir_type_make(KL_F64, 1, &size), v, NULL);
    free(v);
    return ox_cast(c, n, k, t);
}
