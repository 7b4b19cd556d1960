/* codegen/scalar.c — what each elementwise op computes, in one place: the
 * LLVM instructions for one op on compute-type values (cg_elementwise_op,
 * cg_float_op, cg_int_op, cg_convert).  Fused loops (kernels.c), GEMM and
 * convolution epilogues on accumulator vectors (gemm.c) and reductions all
 * build their arithmetic here.  The ops cg_float_op_vector_ok admits work
 * on vectors of floats as well as on scalars; the transcendentals (math.c)
 * are scalar.
 */
#include "cg_internal.h"

bool cg_is_unsigned(kl_dtype t) { return t == KL_U8 || t == KL_BOOL; }

/* A float constant of type t; a vector type gets it in every lane. */
static LLVMValueRef fconst(cg *c, LLVMTypeRef t, double v)
{
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return LLVMConstReal(t, v);
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef e = LLVMConstReal(LLVMGetElementType(t), v), lanes[64];
    KL_ASSERT(n <= 64);
    for (unsigned i = 0; i < n; i++) lanes[i] = e;
    return LLVMConstVector(lanes, n);
}

LLVMValueRef cg_fmax_nan(cg *c, LLVMValueRef a, LLVMValueRef b, bool is_max)
{
    return cg_intrinsic(c, is_max ? "llvm.maximum" : "llvm.minimum", LLVMTypeOf(a), (LLVMValueRef[]){a, b}, 2);
}


static LLVMValueRef emit_float_unary(cg *c, kl_op op, LLVMValueRef a)
{
    LLVMBuilderRef B = c->b;
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMValueRef zero = fconst(c, t, 0);
    switch (op) {
    case KL_OP_COPY: return a;
    case KL_OP_NEG: return LLVMBuildFNeg(B, a, "");
    case KL_OP_ABS: return cg_intrinsic(c, "llvm.fabs", t, &a, 1);
    case KL_OP_SQUARE: return LLVMBuildFMul(B, a, a, "");
    case KL_OP_SQRT: return cg_intrinsic(c, "llvm.sqrt", t, &a, 1);
    case KL_OP_RSQRT: return LLVMBuildFDiv(B, fconst(c, t, 1.0), cg_intrinsic(c, "llvm.sqrt", t, &a, 1), "");
    case KL_OP_FLOOR: return cg_round(c, a, CG_FLOOR);
    case KL_OP_CEIL: return cg_round(c, a, CG_CEIL);
    case KL_OP_ROUND: return cg_round(c, a, CG_ROUND_EVEN);
    case KL_OP_EXP: return cg_exp(c, a);
    case KL_OP_LOG: return cg_log(c, a);
    case KL_OP_TANH: return cg_tanh(c, a);
    case KL_OP_SIGMOID: return cg_sigmoid(c, a);
    case KL_OP_ERF: return cg_erf(c, a);
    case KL_OP_ERFC: return cg_erfc(c, a);
    case KL_OP_SOFTPLUS: return cg_softplus(c, a);
    case KL_OP_ELU: return cg_elu(c, a);
    case KL_OP_SIN: return cg_sincos(c, a, false);
    case KL_OP_COS: return cg_sincos(c, a, true);
    case KL_OP_ATAN: return cg_atan(c, a);
    case KL_OP_RELU: /* NaN stays NaN, as in TensorFlow */
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, a, zero, ""), zero, a, "");
    case KL_OP_RELU6: {
        LLVMValueRef lo = LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, a, zero, ""), zero, a, "");
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, lo, fconst(c, t, 6), ""), fconst(c, t, 6), lo, "");
    }
    default: KL_ASSERT(!"not a float unary op");
    }
}

static LLVMValueRef emit_float_binary(cg *c, kl_op op, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef B = c->b;
    switch (op) {
    case KL_OP_ADD: return LLVMBuildFAdd(B, a, b, "");
    case KL_OP_SUB: return LLVMBuildFSub(B, a, b, "");
    case KL_OP_MUL: return LLVMBuildFMul(B, a, b, "");
    case KL_OP_DIV: return LLVMBuildFDiv(B, a, b, "");
    case KL_OP_MAX: return cg_fmax_nan(c, a, b, true);
    case KL_OP_MIN: return cg_fmax_nan(c, a, b, false);
    case KL_OP_POW: return cg_pow(c, a, b);
    case KL_OP_FLOORDIV: {
        LLVMValueRef q = LLVMBuildFDiv(B, a, b, "");
        return cg_round(c, q, CG_FLOOR);
    }
    case KL_OP_FLOORMOD: { /* fmod, then moved to the sign of b */
        LLVMValueRef m = cg_fmod(c, a, b), zero = fconst(c, LLVMTypeOf(a), 0);
        LLVMValueRef fix = LLVMBuildAnd(B, LLVMBuildFCmp(B, LLVMRealONE, m, zero, ""),
                                        LLVMBuildXor(B, LLVMBuildFCmp(B, LLVMRealOLT, m, zero, ""),
                                                     LLVMBuildFCmp(B, LLVMRealOLT, b, zero, ""), ""), "");
        return LLVMBuildSelect(B, fix, LLVMBuildFAdd(B, m, b, ""), m, "");
    }
    default: KL_ASSERT(!"not a float binary op");
    }
}

LLVMValueRef cg_int_op(cg *c, kl_op op, kl_dtype dt, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef B = c->b;
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMValueRef zero = LLVMConstInt(t, 0, 0), one = LLVMConstInt(t, 1, 0);
    bool u = cg_is_unsigned(dt);
    switch (op) {
    case KL_OP_COPY: return a;
    case KL_OP_NEG: return LLVMBuildSub(B, zero, a, "");
    case KL_OP_ABS: return u ? a : LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, zero, ""), LLVMBuildSub(B, zero, a, ""), a, "");
    case KL_OP_SQUARE: return LLVMBuildMul(B, a, a, "");
    case KL_OP_NOT: return LLVMBuildXor(B, a, one, "");
    case KL_OP_RELU: return u ? a : LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, zero, ""), zero, a, "");
    case KL_OP_RELU6: {
        LLVMValueRef six = LLVMConstInt(t, 6, 0);
        LLVMValueRef lo = u ? a : LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, zero, ""), zero, a, "");
        return LLVMBuildSelect(B, LLVMBuildICmp(B, u ? LLVMIntUGT : LLVMIntSGT, lo, six, ""), six, lo, "");
    }
    case KL_OP_ADD: return LLVMBuildAdd(B, a, b, "");
    case KL_OP_SUB: return LLVMBuildSub(B, a, b, "");
    case KL_OP_MUL: return LLVMBuildMul(B, a, b, "");
    case KL_OP_AND: return LLVMBuildAnd(B, a, b, "");
    case KL_OP_OR: return LLVMBuildOr(B, a, b, "");
    case KL_OP_DIV: case KL_OP_FLOORDIV: case KL_OP_FLOORMOD: {
        /* No trap on b == 0 or MIN / -1: divide by 1 there instead. */
        unsigned bits = LLVMGetIntTypeWidth(t);
        LLVMValueRef minv = LLVMConstInt(t, 1ull << (bits - 1), 0), neg1 = LLVMConstAllOnes(t);
        LLVMValueRef bad = LLVMBuildICmp(B, LLVMIntEQ, b, zero, "");
        if (!u) bad = LLVMBuildOr(B, bad, LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntEQ, b, neg1, ""), LLVMBuildICmp(B, LLVMIntEQ, a, minv, ""), ""), "");
        LLVMValueRef bs = LLVMBuildSelect(B, bad, one, b, "");
        if (u) return op == KL_OP_FLOORMOD ? LLVMBuildURem(B, a, bs, "") : LLVMBuildUDiv(B, a, bs, "");
        LLVMValueRef q = LLVMBuildSDiv(B, a, bs, ""), r = LLVMBuildSRem(B, a, bs, "");
        if (op == KL_OP_DIV) return q;
        /* floor semantics: adjust when the remainder's sign differs from b's */
        LLVMValueRef adj = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntNE, r, zero, ""),
                                        LLVMBuildXor(B, LLVMBuildICmp(B, LLVMIntSLT, r, zero, ""), LLVMBuildICmp(B, LLVMIntSLT, bs, zero, ""), ""), "");
        if (op == KL_OP_FLOORDIV) return LLVMBuildSelect(B, adj, LLVMBuildSub(B, q, one, ""), q, "");
        return LLVMBuildSelect(B, adj, LLVMBuildAdd(B, r, bs, ""), r, "");
    }
    case KL_OP_POW: return cg_ipow(c, a, b);
    case KL_OP_MAX: return LLVMBuildSelect(B, LLVMBuildICmp(B, u ? LLVMIntUGT : LLVMIntSGT, a, b, ""), a, b, "");
    case KL_OP_MIN: return LLVMBuildSelect(B, LLVMBuildICmp(B, u ? LLVMIntULT : LLVMIntSLT, a, b, ""), a, b, "");
    default: KL_ASSERT(!"not an int op");
    }
}

static LLVMValueRef emit_compare(cg *c, kl_op op, kl_dtype dt, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef r;
    if (kl_dtype_is_float(dt)) {
        LLVMRealPredicate p = op == KL_OP_LESS ? LLVMRealOLT : op == KL_OP_LESS_EQUAL ? LLVMRealOLE
                            : op == KL_OP_GREATER ? LLVMRealOGT : op == KL_OP_GREATER_EQUAL ? LLVMRealOGE
                            : op == KL_OP_EQUAL ? LLVMRealOEQ : LLVMRealUNE;
        r = LLVMBuildFCmp(c->b, p, a, b, "");
    } else {
        bool u = cg_is_unsigned(dt);
        LLVMIntPredicate p = op == KL_OP_LESS ? (u ? LLVMIntULT : LLVMIntSLT) : op == KL_OP_LESS_EQUAL ? (u ? LLVMIntULE : LLVMIntSLE)
                           : op == KL_OP_GREATER ? (u ? LLVMIntUGT : LLVMIntSGT) : op == KL_OP_GREATER_EQUAL ? (u ? LLVMIntUGE : LLVMIntSGE)
                           : op == KL_OP_EQUAL ? LLVMIntEQ : LLVMIntNE;
        r = LLVMBuildICmp(c->b, p, a, b, "");
    }
    return LLVMBuildZExt(c->b, r, c->i8, "");
}

/* Conversions between compute types; float -> int truncates and saturates. */
LLVMValueRef cg_convert(cg *c, LLVMValueRef v, kl_dtype from, kl_dtype to)
{
    LLVMBuilderRef B = c->b;
    LLVMTypeRef tt = cg_compute_type(c, to), ft = cg_compute_type(c, from);
    bool ff = kl_dtype_is_float(from), tf = kl_dtype_is_float(to);
    if (to == KL_BOOL) {
        LLVMValueRef nz = ff ? LLVMBuildFCmp(B, LLVMRealUNE, v, LLVMConstReal(ft, 0), "")
                             : LLVMBuildICmp(B, LLVMIntNE, v, LLVMConstInt(ft, 0, 0), "");
        return LLVMBuildZExt(B, nz, c->i8, "");
    }
    if (ff && tf) {
        /* f16 computes in f32, so a cast to f16 rounds through half here:
         * fused chains (f32 -> f16 -> f32) would otherwise skip the rounding */
        if (to == KL_F16 && from != KL_F16) return cg_half_to_float(c, cg_float_to_half(c, v));
        if (tt == ft) return v;
        return LLVMGetTypeKind(tt) == LLVMDoubleTypeKind ? LLVMBuildFPExt(B, v, tt, "") : LLVMBuildFPTrunc(B, v, tt, "");
    }
    if (ff) return cg_intrinsic(c, cg_is_unsigned(to) ? "llvm.fptoui.sat" : "llvm.fptosi.sat", tt, &v, 1);
    if (tf) return cg_is_unsigned(from) ? LLVMBuildUIToFP(B, v, tt, "") : LLVMBuildSIToFP(B, v, tt, "");
    unsigned fw = LLVMGetIntTypeWidth(ft), tw = LLVMGetIntTypeWidth(tt);
    if (fw == tw) return v;
    if (fw > tw) return LLVMBuildTrunc(B, v, tt, "");
    return cg_is_unsigned(from) ? LLVMBuildZExt(B, v, tt, "") : LLVMBuildSExt(B, v, tt, "");
}

/* One elementwise op on compute-type values of its operands. */
LLVMValueRef cg_elementwise_op(cg *c, const ir_node *n, LLVMValueRef *v)
{
    kl_dtype it = n->in[n->op == KL_OP_SELECT ? 1 : 0]->type.dtype;
    if (n->op == KL_OP_CAST) return cg_convert(c, v[0], it, n->type.dtype);
    if (n->op == KL_OP_SELECT)
        return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntNE, v[0], LLVMConstInt(c->i8, 0, 0), ""), v[1], v[2], "");
    if (kl_op_table[n->op].shape == IR_SHAPE_COMPARE) return emit_compare(c, n->op, it, v[0], v[1]);
    if (!kl_dtype_is_float(it)) return cg_int_op(c, n->op, it, v[0], n->n_in > 1 ? v[1] : NULL);
    return n->n_in == 1 ? emit_float_unary(c, n->op, v[0]) : emit_float_binary(c, n->op, v[0], v[1]);
}

bool cg_float_op_vector_ok(kl_op op)
{
    switch (op) {
    case KL_OP_ADD: case KL_OP_SUB: case KL_OP_MUL: case KL_OP_MAX: case KL_OP_MIN:
    case KL_OP_RELU: case KL_OP_RELU6: case KL_OP_NEG: case KL_OP_COPY: return true;
    default: return false;
    }
}

LLVMValueRef cg_float_op(cg *c, kl_op op, LLVMValueRef a, LLVMValueRef b)
{
    return b ? emit_float_binary(c, op, a, b) : emit_float_unary(c, op, a);
}
