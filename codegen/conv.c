/* codegen/conv.c — window kernels: 2-D convolution (grouped, so depthwise
 * too), transposed convolution, max and average pooling.  NHWC activations,
 * HWIO filters.  Direct loop nests, correct first: the output pixel's
 * channel vector is accumulated with the innermost loop over contiguous
 * output channels (or, for depthwise, over contiguous channels), so LLVM
 * vectorizes it.  Blocked and implicit-GEMM forms come with the
 * performance work.
 */
#include "cg_internal.h"

static LLVMValueRef add(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef mul(cg *c, LLVMValueRef a, int64_t k) { return LLVMBuildMul(c->b, a, cg_i64(c, k), ""); }
static LLVMValueRef addk(cg *c, LLVMValueRef a, int64_t k) { return LLVMBuildAdd(c->b, a, cg_i64(c, k), ""); }

/* if (0 <= v < n) { ... } — returns the block to continue after. */
static LLVMBasicBlockRef begin_if_in_range(cg *c, LLVMValueRef v, int64_t n)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->ctx, fn, "in"), after = LLVMAppendBasicBlockInContext(c->ctx, fn, "skip");
    LLVMValueRef ok = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntSGE, v, cg_i64(c, 0), ""),
                                   LLVMBuildICmp(c->b, LLVMIntSLT, v, cg_i64(c, n), ""), "");
    LLVMBuildCondBr(c->b, ok, then, after);
    LLVMPositionBuilderAtEnd(c->b, then);
    return after;
}

static void end_if(cg *c, LLVMBasicBlockRef after)
{
    LLVMBuildBr(c->b, after);
    LLVMPositionBuilderAtEnd(c->b, after);
}

static LLVMValueRef fma_acc(cg *c, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef p = LLVMBuildFMul(c->b, a, b, "");
    LLVMSetFastMathFlags(p, LLVMFastMathAllowContract);
    LLVMValueRef s = LLVMBuildFAdd(c->b, acc, p, "");
    LLVMSetFastMathFlags(s, LLVMFastMathAllowContract);
    return s;
}

/* A conv's shape as i64 values: constants for a layer's own kernel, or
 * fields of a descriptor for the shared kernel (codegen/shared.c). */
void cg_conv_fields(const ir_node *n, int64_t *v)
{
    const ir_type *tx = &n->in[0]->type, *tw = &n->in[1]->type, *to = &n->type;
    int64_t G = n->attr.conv.groups;
    int64_t f[CG_CONV_FIELDS] = {to->dims[0], tx->dims[1], tx->dims[2], tx->dims[3], to->dims[1], to->dims[2], to->dims[3],
                                 tw->dims[0], tw->dims[1], G, tx->dims[3] / G, to->dims[3] / G,
                                 n->attr.conv.stride_h, n->attr.conv.stride_w, n->attr.conv.dilation_h,
                                 n->attr.conv.dilation_w, n->attr.conv.pad_top, n->attr.conv.pad_left};
    for (int i = 0; i < CG_CONV_FIELDS; i++) v[i] = f[i];
}

static LLVMValueRef addv(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef mulv(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(c->b, a, b, ""); }
/* a - b as a + (-b): a constant b gives the add of -b that the constant form always emitted */
static LLVMValueRef subv(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, LLVMBuildNeg(c->b, b, ""), ""); }

/* if (0 <= v < n) for an i64 value n. */
static LLVMBasicBlockRef begin_if_in_range_v(cg *c, LLVMValueRef v, LLVMValueRef n)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->ctx, fn, "in"), after = LLVMAppendBasicBlockInContext(c->ctx, fn, "skip");
    LLVMValueRef ok = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntSGE, v, cg_i64(c, 0), ""),
                                   LLVMBuildICmp(c->b, LLVMIntSLT, v, n, ""), "");
    LLVMBuildCondBr(c->b, ok, then, after);
    LLVMPositionBuilderAtEnd(c->b, then);
    return after;
}

/* The direct loop nest of a conv; `depthwise`: one input channel per
 * group (ICG == 1), the inner loop over contiguous output channels; ocg_div:
 * OCG > 1 there (channel = o / OCG; with a constant OCG an unsigned divide
 * by a constant, which needs no call on 32-bit targets). */
void cg_emit_conv_nest(cg *c, const cg_conv_shape *s, kl_dtype t, bool depthwise, bool ocg_div, LLVMValueRef out,
                       LLVMValueRef x, LLVMValueRef w)
{
    LLVMValueRef N = s->f[CG_CONV_N], H = s->f[CG_CONV_H], W = s->f[CG_CONV_W], C = s->f[CG_CONV_C];
    LLVMValueRef OH = s->f[CG_CONV_OH], OW = s->f[CG_CONV_OW], O = s->f[CG_CONV_O], KH = s->f[CG_CONV_KH];
    LLVMValueRef KW = s->f[CG_CONV_KW], G = s->f[CG_CONV_G], ICG = s->f[CG_CONV_ICG], OCG = s->f[CG_CONV_OCG];
    cg_loop ln, ly, lx, lo, lky, lkx, lic, lj;
    LLVMValueRef nb = cg_loop_begin_v(c, N, &ln);
    LLVMValueRef oy = cg_loop_begin_v(c, OH, &ly);
    LLVMValueRef ox = cg_loop_begin_v(c, OW, &lx);
    LLVMValueRef obase = mulv(c, addv(c, mulv(c, addv(c, mulv(c, nb, OH), oy), OW), ox), O);
    LLVMValueRef o = cg_loop_begin_v(c, O, &lo);
    cg_store(c, t, LLVMConstReal(c->f32, 0), out, addv(c, obase, o));
    cg_loop_end(c, &lo);
    LLVMValueRef ky = cg_loop_begin_v(c, KH, &lky);
    LLVMValueRef iy = subv(c, addv(c, mulv(c, oy, s->f[CG_CONV_SH]), mulv(c, ky, s->f[CG_CONV_DH])), s->f[CG_CONV_PT]);
    LLVMBasicBlockRef skip_y = begin_if_in_range_v(c, iy, H);
    LLVMValueRef kx = cg_loop_begin_v(c, KW, &lkx);
    LLVMValueRef ix = subv(c, addv(c, mulv(c, ox, s->f[CG_CONV_SW]), mulv(c, kx, s->f[CG_CONV_DW])), s->f[CG_CONV_PL]);
    LLVMBasicBlockRef skip_x = begin_if_in_range_v(c, ix, W);
    LLVMValueRef xbase = mulv(c, addv(c, mulv(c, addv(c, mulv(c, nb, H), iy), W), ix), C);
    LLVMValueRef wbase = mulv(c, addv(c, mulv(c, ky, KW), kx), mulv(c, ICG, O));
    if (depthwise) { /* depthwise: out[o] += x[o / OCG] * w[.., 0, o], contiguous in o */
        LLVMValueRef oc = cg_loop_begin_v(c, O, &lj);
        LLVMValueRef ci = ocg_div ? LLVMBuildUDiv(c->b, oc, OCG, "") : oc;
        LLVMValueRef at = addv(c, obase, oc);
        LLVMValueRef acc = fma_acc(c, cg_load(c, t, out, at), cg_load(c, t, x, addv(c, xbase, ci)), cg_load(c, t, w, addv(c, wbase, oc)));
        cg_store(c, t, acc, out, at);
        cg_loop_end(c, &lj);
    } else { /* for each input channel of a group: out[group] += x[ic] * w[.., ic, group] */
        cg_loop lg;
        LLVMValueRef g = cg_loop_begin_v(c, G, &lg);
        LLVMValueRef ic = cg_loop_begin_v(c, ICG, &lic);
        LLVMValueRef xv = cg_load(c, t, x, addv(c, xbase, addv(c, mulv(c, g, ICG), ic)));
        LLVMValueRef wrow = addv(c, addv(c, wbase, mulv(c, ic, O)), mulv(c, g, OCG));
        LLVMValueRef orow = addv(c, obase, mulv(c, g, OCG));
        LLVMValueRef j = cg_loop_begin_v(c, OCG, &lj);
        LLVMValueRef at = addv(c, orow, j);
        cg_store(c, t, fma_acc(c, cg_load(c, t, out, at), xv, cg_load(c, t, w, addv(c, wrow, j))), out, at);
        cg_loop_end(c, &lj);
        cg_loop_end(c, &lic);
        cg_loop_end(c, &lg);
    }
    end_if(c, skip_x);
    cg_loop_end(c, &lkx);
    end_if(c, skip_y);
    cg_loop_end(c, &lky);
    cg_loop_end(c, &lx);
    cg_loop_end(c, &ly);
    cg_loop_end(c, &ln);
}

static bool emit_conv(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef x, LLVMValueRef w)
{
    cg_conv_shape s;
    int64_t v[CG_CONV_FIELDS];
    cg_conv_fields(n, v);
    for (int i = 0; i < CG_CONV_FIELDS; i++) s.f[i] = cg_i64(c, v[i]);
    int64_t G = n->attr.conv.groups, ICG = n->in[0]->type.dims[3] / G, OCG = n->type.dims[3] / G;
    cg_emit_conv_nest(c, &s, n->type.dtype, ICG == 1, OCG != 1, out, x, w);
    return true;
}

/* Depthwise (one filter per channel), float32: per output pixel and block
 * of `width` channels, the taps accumulate in a vector register and the
 * result is stored once (the generic loop reloads the output per tap).  A
 * tap in the padding reads a row of zeros instead of branching. */
static void depthwise_block(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef x, LLVMValueRef w, LLVMValueRef zeros,
                            LLVMValueRef nb, LLVMValueRef oy, LLVMValueRef ox, LLVMValueRef ch, int width)
{
    const ir_type *tx = &n->in[0]->type, *tw = &n->in[1]->type, *to = &n->type;
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3], OH = to->dims[1], OW = to->dims[2];
    int64_t KW = tw->dims[1];
    LLVMTypeRef t = width > 1 ? LLVMVectorType(c->f32, (unsigned)width) : c->f32;
    LLVMValueRef acc = cg_entry_alloca(c, t, "dwacc");
    LLVMBuildStore(c->b, LLVMConstNull(t), acc);
    cg_loop lky, lkx;
    LLVMValueRef ky = cg_loop_begin(c, tw->dims[0], &lky);
    LLVMValueRef kx = cg_loop_begin(c, KW, &lkx);
    LLVMValueRef iy = addk(c, add(c, mul(c, oy, n->attr.conv.stride_h), mul(c, ky, n->attr.conv.dilation_h)), -n->attr.conv.pad_top);
    LLVMValueRef ix = addk(c, add(c, mul(c, ox, n->attr.conv.stride_w), mul(c, kx, n->attr.conv.dilation_w)), -n->attr.conv.pad_left);
    LLVMValueRef ok = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntULT, iy, cg_i64(c, H), ""),
                                   LLVMBuildICmp(c->b, LLVMIntULT, ix, cg_i64(c, W), ""), "");
    LLVMValueRef xoff = add(c, mul(c, add(c, mul(c, add(c, mul(c, nb, H), iy), W), ix), C), ch);
    LLVMValueRef xp = LLVMBuildSelect(c->b, ok, cg_elem_ptr(c, KL_F32, x, xoff), zeros, "");
    LLVMValueRef wp = cg_elem_ptr(c, KL_F32, w, add(c, mul(c, add(c, mul(c, ky, KW), kx), C), ch));
    LLVMValueRef xv = LLVMBuildLoad2(c->b, t, xp, ""), wv = LLVMBuildLoad2(c->b, t, wp, "");
    LLVMSetAlignment(xv, 4), LLVMSetAlignment(wv, 4);
    LLVMValueRef args[3] = {xv, wv, LLVMBuildLoad2(c->b, t, acc, "")};
    LLVMBuildStore(c->b, cg_intrinsic(c, "llvm.fmuladd", t, args, 3), acc);
    cg_loop_end(c, &lkx);
    cg_loop_end(c, &lky);
    LLVMValueRef ooff = add(c, mul(c, add(c, mul(c, add(c, mul(c, nb, OH), oy), OW), ox), C), ch);
    LLVMValueRef st = LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, t, acc, ""), cg_elem_ptr(c, KL_F32, out, ooff));
    LLVMSetAlignment(st, 4);
}

static bool emit_depthwise_f32(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef x, LLVMValueRef w)
{
    const ir_type *to = &n->type;
    int64_t C = to->dims[3];
    int vl = cg_vector_floats(c);
    LLVMValueRef zeros = cg_zero_floats(c, vl);
    cg_loop ln, lx, lc;
    /* one loop over (image, output row): the rows split among threads */
    LLVMValueRef row = cg_loop_begin_split(c, to->dims[0] * to->dims[1], &ln);
    LLVMValueRef nb = LLVMBuildUDiv(c->b, row, cg_i64(c, to->dims[1]), "");
    LLVMValueRef oy = LLVMBuildURem(c->b, row, cg_i64(c, to->dims[1]), "");
    LLVMValueRef ox = cg_loop_begin(c, to->dims[2], &lx);
    if (C / vl > 0) {
        LLVMValueRef cb = cg_loop_begin(c, C / vl, &lc);
        depthwise_block(c, n, out, x, w, zeros, nb, oy, ox, mul(c, cb, vl), vl);
        cg_loop_end(c, &lc);
    }
    if (C % vl) {
        LLVMValueRef ci = cg_loop_begin(c, C % vl, &lc);
        depthwise_block(c, n, out, x, w, zeros, nb, oy, ox, addk(c, ci, C / vl * vl), 1);
        cg_loop_end(c, &lc);
    }
    cg_loop_end(c, &lx);
    cg_loop_end(c, &ln);
    return true;
}

/* Transposed conv as a scatter: every input pixel adds its contribution to
 * the output pixels it reaches.  Filter HW O I (TF's Conv2DBackpropInput). */
static bool emit_conv_transpose(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef dy, LLVMValueRef w)
{
    const ir_type *tx = &n->in[0]->type, *tw = &n->in[1]->type, *to = &n->type;
    kl_dtype t = to->dtype;
    int64_t H = tx->dims[1], W = tx->dims[2], I = tx->dims[3], OH = to->dims[1], OW = to->dims[2], O = to->dims[3];
    int64_t KH = tw->dims[0], KW = tw->dims[1], total = ir_type_numel(to);
    cg_loop lz, ln, ly, lx, lky, lkx, li, lo;
    LLVMValueRef z = cg_loop_begin(c, total, &lz);
    cg_store(c, t, LLVMConstReal(c->f32, 0), out, z);
    cg_loop_end(c, &lz);
    LLVMValueRef nb = cg_loop_begin(c, to->dims[0], &ln);
    LLVMValueRef iy = cg_loop_begin(c, H, &ly);
    LLVMValueRef ix = cg_loop_begin(c, W, &lx);
    LLVMValueRef xbase = mul(c, add(c, mul(c, add(c, mul(c, nb, H), iy), W), ix), I);
    LLVMValueRef ky = cg_loop_begin(c, KH, &lky);
    LLVMValueRef oy = addk(c, add(c, mul(c, iy, n->attr.conv.stride_h), mul(c, ky, n->attr.conv.dilation_h)), -n->attr.conv.pad_top);
    LLVMBasicBlockRef skip_y = begin_if_in_range(c, oy, OH);
    LLVMValueRef kx = cg_loop_begin(c, KW, &lkx);
    LLVMValueRef ox = addk(c, add(c, mul(c, ix, n->attr.conv.stride_w), mul(c, kx, n->attr.conv.dilation_w)), -n->attr.conv.pad_left);
    LLVMBasicBlockRef skip_x = begin_if_in_range(c, ox, OW);
    LLVMValueRef obase = mul(c, add(c, mul(c, add(c, mul(c, nb, OH), oy), OW), ox), O);
    LLVMValueRef wbase = mul(c, add(c, mul(c, ky, KW), kx), O * I);
    LLVMValueRef i = cg_loop_begin(c, I, &li);
    LLVMValueRef xv = cg_load(c, t, dy, add(c, xbase, i));
    LLVMValueRef o = cg_loop_begin(c, O, &lo);
    LLVMValueRef at = add(c, obase, o);
    cg_store(c, t, fma_acc(c, cg_load(c, t, out, at), xv, cg_load(c, t, w, add(c, wbase, add(c, mul(c, o, I), i)))), out, at);
    cg_loop_end(c, &lo);
    cg_loop_end(c, &li);
    end_if(c, skip_x);
    cg_loop_end(c, &lkx);
    end_if(c, skip_y);
    cg_loop_end(c, &lky);
    cg_loop_end(c, &lx);
    cg_loop_end(c, &ly);
    cg_loop_end(c, &ln);
    return true;
}

/* Pools: padding never takes part (max ignores it; average divides by the
 * count of real elements, as TF does for SAME). */
static bool emit_pool(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef x)
{
    const ir_type *tx = &n->in[0]->type, *to = &n->type;
    kl_dtype t = to->dtype;
    bool is_max = n->op == KL_OP_MAX_POOL;
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3], OH = to->dims[1], OW = to->dims[2];
    LLVMValueRef cnt = cg_entry_alloca(c, c->f32, "count");
    cg_loop ln, lx, lc, lky, lkx;
    /* one loop over (image, output row): the rows split among threads */
    LLVMValueRef row = cg_loop_begin_split(c, to->dims[0] * OH, &ln);
    LLVMValueRef nb = LLVMBuildUDiv(c->b, row, cg_i64(c, OH), ""), oy = LLVMBuildURem(c->b, row, cg_i64(c, OH), "");
    LLVMValueRef ox = cg_loop_begin(c, OW, &lx);
    LLVMValueRef obase = mul(c, add(c, mul(c, row, OW), ox), C);
    LLVMValueRef ch = cg_loop_begin(c, C, &lc);
    cg_store(c, t, LLVMConstReal(c->f32, is_max ? -__builtin_inf() : 0), out, add(c, obase, ch));
    cg_loop_end(c, &lc);
    LLVMBuildStore(c->b, cg_f32(c, 0), cnt);
    LLVMValueRef ky = cg_loop_begin(c, n->attr.conv.kh, &lky);
    int dh = n->attr.conv.dilation_h > 0 ? n->attr.conv.dilation_h : 1, dw = n->attr.conv.dilation_w > 0 ? n->attr.conv.dilation_w : 1;
    LLVMValueRef iy = addk(c, add(c, mul(c, oy, n->attr.conv.stride_h), mul(c, ky, dh)), -n->attr.conv.pad_top);
    LLVMBasicBlockRef skip_y = begin_if_in_range(c, iy, H);
    LLVMValueRef kx = cg_loop_begin(c, n->attr.conv.kw, &lkx);
    LLVMValueRef ix = addk(c, add(c, mul(c, ox, n->attr.conv.stride_w), mul(c, kx, dw)), -n->attr.conv.pad_left);
    LLVMBasicBlockRef skip_x = begin_if_in_range(c, ix, W);
    LLVMValueRef xbase = mul(c, add(c, mul(c, add(c, mul(c, nb, H), iy), W), ix), C);
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, cnt, ""), cg_f32(c, 1), ""), cnt);
    ch = cg_loop_begin(c, C, &lc);
    LLVMValueRef at = add(c, obase, ch), cur = cg_load(c, t, out, at), v = cg_load(c, t, x, add(c, xbase, ch));
    LLVMValueRef r = is_max ? cg_intrinsic(c, "llvm.maximum", c->f32, (LLVMValueRef[]){cur, v}, 2) : LLVMBuildFAdd(c->b, cur, v, "");
    cg_store(c, t, r, out, at);
    cg_loop_end(c, &lc);
    end_if(c, skip_x);
    cg_loop_end(c, &lkx);
    end_if(c, skip_y);
    cg_loop_end(c, &lky);
    if (!is_max) {
        LLVMValueRef k = LLVMBuildLoad2(c->b, c->f32, cnt, "");
        ch = cg_loop_begin(c, C, &lc);
        at = add(c, obase, ch);
        cg_store(c, t, LLVMBuildFDiv(c->b, cg_load(c, t, out, at), k, ""), out, at);
        cg_loop_end(c, &lc);
    }
    cg_loop_end(c, &lx);
    cg_loop_end(c, &ln);
    return true;
}

bool cg_emit_window(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    if (n->type.dtype != KL_F32 && n->type.dtype != KL_F16) {
        kl_diag_error(c->d, "%s: node '%s' (%s): only float convolutions and pools", c->g->source, n->name ? n->name : "",
                      kl_op_name(n->op));
        return false;
    }
    switch (n->op) {
    case KL_OP_CONV2D:
        if (cg_is_depthwise_f32(n))
            return emit_depthwise_f32(c, n, out, ops[0], ops[1]);
        return emit_conv(c, n, out, ops[0], ops[1]);
    case KL_OP_CONV2D_TRANSPOSE: return emit_conv_transpose(c, n, out, ops[0], ops[1]);
    default: return emit_pool(c, n, out, ops[0]);
    }
}
