/* codegen/math.c — transcendental functions as inline LLVM IR.
 *
 * No libm calls: generated objects must link with nothing, and inline code
 * vectorizes.  Each function is branch-free (selects), so LLVM's loop
 * vectorizer widens it.  Accuracy is measured in tests/test_math.c (ULP vs a
 * double-precision reference) and by the math_* fixtures vs TensorFlow.
 * Coefficients are the classic Cephes single-precision minimax fits.
 */
#include "cg_internal.h"

static LLVMValueRef k(cg *c, double v) { return cg_f32(c, v); }
static LLVMValueRef fmul(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(c->b, a, b, ""); }
static LLVMValueRef fadd(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(c->b, a, b, ""); }
static LLVMValueRef fsub(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(c->b, a, b, ""); }
static LLVMValueRef fma3(cg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef d) { return cg_fma(c, a, b, d); }
static LLVMValueRef fcmp(cg *c, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(c->b, p, a, b, ""); }
static LLVMValueRef sel(cg *c, LLVMValueRef cond, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(c->b, cond, a, b, ""); }
static LLVMValueRef as_int(cg *c, LLVMValueRef x) { return LLVMBuildBitCast(c->b, x, c->i32, ""); }
static LLVMValueRef as_float(cg *c, LLVMValueRef x) { return LLVMBuildBitCast(c->b, x, c->f32, ""); }
static LLVMValueRef i32c(cg *c, int v) { return LLVMConstInt(c->i32, (unsigned long long)(long long)v, 1); }

/* Horner: coef[0]*x^(n-1) + ... + coef[n-1], with fused multiply-adds. */
static LLVMValueRef poly(cg *c, LLVMValueRef x, const double *coef, int n)
{
    LLVMValueRef acc = k(c, coef[0]);
    for (int i = 1; i < n; i++) acc = fma3(c, acc, x, k(c, coef[i]));
    return acc;
}

/* ---- operations LLVM would lower to library calls ----------------------- */

/* Without FMA instructions llvm.fma becomes a call to fmaf; llvm.fmuladd
 * becomes a multiply and an add.  The reductions below (Cody-Waite split
 * constants with few bits) stay exact either way. */
LLVMValueRef cg_fma(cg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef d)
{
    /* a single-precision FPU's FMA does not fuse doubles (Cortex-M4: fma) */
    bool fused = c->has_fma && !((c->m.caps & CG_CAP_NO_F64) && LLVMGetTypeKind(LLVMTypeOf(a)) == LLVMDoubleTypeKind);
    return cg_intrinsic(c, fused ? "llvm.fma" : "llvm.fmuladd", LLVMTypeOf(a), (LLVMValueRef[]){a, b, d}, 3);
}

/* maxnum/minnum (a NaN operand loses): one instruction where the FPU has
 * it, else a compare and a select with the same NaN rule (Cortex-M4's
 * FPv4 has no VMAXNM; LLVM would call fmaxf). */
LLVMValueRef cg_maxnum(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    if (c->has_minnum) return cg_intrinsic(c, "llvm.maxnum", LLVMTypeOf(a), (LLVMValueRef[]){a, b}, 2);
    LLVMValueRef keep_a = LLVMBuildOr(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, a, b, ""), LLVMBuildFCmp(c->b, LLVMRealUNO, b, b, ""), "");
    return LLVMBuildSelect(c->b, keep_a, a, b, "");
}

LLVMValueRef cg_minnum(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    if (c->has_minnum) return cg_intrinsic(c, "llvm.minnum", LLVMTypeOf(a), (LLVMValueRef[]){a, b}, 2);
    LLVMValueRef keep_a = LLVMBuildOr(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, a, b, ""), LLVMBuildFCmp(c->b, LLVMRealUNO, b, b, ""), "");
    return LLVMBuildSelect(c->b, keep_a, a, b, "");
}

/* Rounding to an integer: roundss/roundsd with SSE4.1, else (baseline
 * x86-64, where LLVM would call floorf & co.) from the integer conversion:
 * below 2^23 (2^52 for double) truncation is exact through an integer, and
 * nearest-even is (|x| + 2^23) - 2^23; larger values, infinities and NaN
 * are already integral and pass through. */
LLVMValueRef cg_round(cg *c, LLVMValueRef x, cg_rounding mode)
{
    /* rint rounds in the current mode, which generated code never changes
     * from nearest-even; unlike roundeven it has an instruction on every
     * target with rounding (frintx, vrintx, roundss $4) */
    static const char *const names[] = {"llvm.floor", "llvm.ceil", "llvm.trunc", "llvm.rint"};
    LLVMTypeRef t = LLVMTypeOf(x);
    if (c->has_round) return cg_intrinsic(c, names[mode], t, &x, 1);
    bool dbl = LLVMGetTypeKind(t) == LLVMDoubleTypeKind;
    LLVMTypeRef it = dbl ? c->i64 : c->i32;
    LLVMValueRef big = LLVMConstReal(t, dbl ? 4503599627370496.0 : 8388608.0), zero = LLVMConstReal(t, 0);
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", t, &x, 1);
    LLVMValueRef small = LLVMBuildFCmp(c->b, LLVMRealOLT, ax, big, "");
    LLVMValueRef r;
    if (mode == CG_ROUND_EVEN) {
        r = LLVMBuildFSub(c->b, LLVMBuildFAdd(c->b, ax, big, ""), big, "");
    } else {
        LLVMValueRef xs = LLVMBuildSelect(c->b, small, x, zero, ""); /* keep fptosi in range */
        r = LLVMBuildSIToFP(c->b, LLVMBuildFPToSI(c->b, xs, it, ""), t, "");
        LLVMValueRef one = LLVMConstReal(t, 1);
        if (mode == CG_FLOOR) r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, r, x, ""), LLVMBuildFSub(c->b, r, one, ""), r, "");
        if (mode == CG_CEIL) r = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, r, x, ""), LLVMBuildFAdd(c->b, r, one, ""), r, "");
    }
    r = cg_intrinsic(c, "llvm.copysign", t, (LLVMValueRef[]){r, x}, 2); /* -0.25 -> -0 */
    return LLVMBuildSelect(c->b, small, r, x, "");
}

/* C fmod without frem (a call to fmodf on every x86 target), branch-free.
 * float: computed in double by steps r <- r - trunc(r / B) B with B = |b|
 * 2^k, k chosen so each quotient stays below 2^28: then q B has at most 52
 * bits and every step is exact (r stays a multiple of B's last bit), and
 * each step takes 26 bits off log2(|r|/|b|) <= 277, so 11 steps reach the
 * exact remainder for any pair of floats.  A quotient that division rounded
 * up leaves r with the wrong sign; adding B back fixes it.
 * double: one such step, exact only while q b fits in 53 bits (small
 * quotients, integer-valued operands); Kiln's f64 is for data movement
 * and simple arithmetic. */
LLVMValueRef cg_fmod(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef B = c->b;
    LLVMTypeRef t = LLVMTypeOf(a), d = LLVMDoubleTypeInContext(c->ctx);
    bool dbl = LLVMGetTypeKind(t) == LLVMDoubleTypeKind;
    LLVMValueRef da = dbl ? a : LLVMBuildFPExt(B, a, d, ""), db = dbl ? b : LLVMBuildFPExt(B, b, d, "");
    LLVMValueRef zero = LLVMConstReal(d, 0), inf = LLVMConstReal(d, __builtin_inf());
    LLVMValueRef ab = cg_intrinsic(c, "llvm.fabs", d, &db, 1), r = da;
    LLVMValueRef a_neg = LLVMBuildFCmp(B, LLVMRealOLT, da, zero, "");
    for (int step = 0; step < (dbl ? 1 : 11); step++) {
        LLVMValueRef bb = ab;
        if (!dbl) { /* B = |b| 2^k, k = clamp(exponent(|r| / |b|) - 26, 0, 300) */
            LLVMValueRef ratio = LLVMBuildFDiv(B, cg_intrinsic(c, "llvm.fabs", d, &r, 1), ab, "");
            LLVMValueRef e = LLVMBuildAnd(B, LLVMBuildLShr(B, LLVMBuildBitCast(B, ratio, c->i64, ""), cg_i64(c, 52), ""), cg_i64(c, 0x7ff), "");
            LLVMValueRef kk = LLVMBuildSub(B, e, cg_i64(c, 1023 + 26), "");
            kk = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, kk, cg_i64(c, 0), ""), cg_i64(c, 0), kk, "");
            kk = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, kk, cg_i64(c, 300), ""), cg_i64(c, 300), kk, "");
            LLVMValueRef p2 = LLVMBuildBitCast(B, LLVMBuildShl(B, LLVMBuildAdd(B, kk, cg_i64(c, 1023), ""), cg_i64(c, 52), ""), d, "");
            bb = LLVMBuildFMul(B, ab, p2, "");
        }
        LLVMValueRef q = cg_round(c, LLVMBuildFDiv(B, r, bb, ""), CG_TRUNC);
        r = LLVMBuildFSub(B, r, LLVMBuildFMul(B, q, bb, ""), "");
        LLVMValueRef wrong = LLVMBuildAnd(B, LLVMBuildFCmp(B, LLVMRealONE, r, zero, ""),
                                          LLVMBuildXor(B, LLVMBuildFCmp(B, LLVMRealOLT, r, zero, ""), a_neg, ""), "");
        LLVMValueRef back = cg_intrinsic(c, "llvm.copysign", d, (LLVMValueRef[]){bb, da}, 2);
        r = LLVMBuildSelect(B, wrong, LLVMBuildFAdd(B, r, back, ""), r, "");
    }
    r = cg_intrinsic(c, "llvm.copysign", d, (LLVMValueRef[]){r, da}, 2); /* fmod(-0., b) = -0. */
    /* fmod(a, +-inf) = a for finite a; b = 0, a = inf and NaN already gave NaN */
    LLVMValueRef aa = cg_intrinsic(c, "llvm.fabs", d, &da, 1);
    LLVMValueRef keep = LLVMBuildAnd(B, LLVMBuildFCmp(B, LLVMRealOEQ, ab, inf, ""), LLVMBuildFCmp(B, LLVMRealOLT, aa, inf, ""), "");
    r = LLVMBuildSelect(B, keep, da, r, "");
    return dbl ? r : LLVMBuildFPTrunc(B, r, t, "");
}

/* half <-> float by bit manipulation where there is no F16C (LLVM would call
 * compiler-rt's __extendhfsf2 / __truncsfhf2); after F. Giesen's
 * half_to_float_fast / float_to_half_fast3_rtne, branch-free. */
LLVMValueRef cg_half_to_float(cg *c, LLVMValueRef h)
{
    if (c->has_f16) return LLVMBuildFPExt(c->b, h, c->f32, "");
    LLVMBuilderRef B = c->b;
    LLVMValueRef v = LLVMBuildZExt(B, LLVMBuildBitCast(B, h, LLVMInt16TypeInContext(c->ctx), ""), c->i32, "");
    LLVMValueRef sign = LLVMBuildShl(B, LLVMBuildAnd(B, v, i32c(c, 0x8000), ""), i32c(c, 16), "");
    LLVMValueRef o = LLVMBuildShl(B, LLVMBuildAnd(B, v, i32c(c, 0x7fff), ""), i32c(c, 13), "");
    LLVMValueRef e = LLVMBuildAnd(B, o, i32c(c, 0x0f800000), "");
    o = LLVMBuildAdd(B, o, i32c(c, (127 - 15) << 23), "");
    LLVMValueRef infnan = LLVMBuildAdd(B, o, i32c(c, (128 - 16) << 23), "");
    /* zero / denormal: renormalize through a float subtraction (exact) */
    LLVMValueRef den = as_int(c, fsub(c, as_float(c, LLVMBuildAdd(B, o, i32c(c, 1 << 23), "")), as_float(c, i32c(c, 113 << 23))));
    o = sel(c, LLVMBuildICmp(B, LLVMIntEQ, e, i32c(c, 0x0f800000), ""), infnan, o);
    o = sel(c, LLVMBuildICmp(B, LLVMIntEQ, e, i32c(c, 0), ""), den, o);
    return as_float(c, LLVMBuildOr(B, o, sign, ""));
}

LLVMValueRef cg_float_to_half(cg *c, LLVMValueRef f)
{
    LLVMTypeRef half = LLVMHalfTypeInContext(c->ctx);
    if (c->has_f16) return LLVMBuildFPTrunc(c->b, f, half, "");
    LLVMBuilderRef B = c->b;
    LLVMValueRef bits = as_int(c, f);
    LLVMValueRef sign = LLVMBuildAnd(B, bits, i32c(c, (int)0x80000000u), "");
    LLVMValueRef u = LLVMBuildXor(B, bits, sign, "");
    /* overflow to inf; NaN stays a (quiet) NaN */
    LLVMValueRef big = sel(c, LLVMBuildICmp(B, LLVMIntUGT, u, i32c(c, 255 << 23), ""), i32c(c, 0x7e00), i32c(c, 0x7c00));
    /* denormal results: let a float addition round the mantissa off */
    const int magic = ((127 - 15) + (23 - 10) + 1) << 23;
    LLVMValueRef den = LLVMBuildSub(B, as_int(c, fadd(c, as_float(c, u), as_float(c, i32c(c, magic)))), i32c(c, magic), "");
    /* normal results: rebias, round to nearest even, shift */
    LLVMValueRef odd = LLVMBuildAnd(B, LLVMBuildLShr(B, u, i32c(c, 13), ""), i32c(c, 1), "");
    LLVMValueRef n = LLVMBuildAdd(B, u, i32c(c, (int)((unsigned)(15 - 127) << 23) + 0xfff), "");
    n = LLVMBuildLShr(B, LLVMBuildAdd(B, n, odd, ""), i32c(c, 13), "");
    LLVMValueRef o = sel(c, LLVMBuildICmp(B, LLVMIntULT, u, i32c(c, 113 << 23), ""), den, n);
    o = sel(c, LLVMBuildICmp(B, LLVMIntUGE, u, i32c(c, (127 + 16) << 23), ""), big, o);
    o = LLVMBuildOr(B, o, LLVMBuildLShr(B, sign, i32c(c, 16), ""), "");
    return LLVMBuildBitCast(B, LLVMBuildTrunc(B, o, LLVMInt16TypeInContext(c->ctx), ""), half, "");
}

/* 2^n for an integer-valued float n in [-254, 254], as two exact factors so
 * results down to the denormal range stay right: p * 2^n = p * 2^a * 2^b. */
static LLVMValueRef scale_pow2(cg *c, LLVMValueRef p, LLVMValueRef n)
{
    LLVMValueRef ni = LLVMBuildFPToSI(c->b, n, c->i32, "");
    LLVMValueRef a = LLVMBuildAShr(c->b, ni, i32c(c, 1), "");
    LLVMValueRef bb = LLVMBuildSub(c->b, ni, a, "");
    LLVMValueRef pa = as_float(c, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, a, i32c(c, 127), ""), i32c(c, 23), ""));
    LLVMValueRef pb = as_float(c, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, bb, i32c(c, 127), ""), i32c(c, 23), ""));
    return fmul(c, fmul(c, p, pa), pb);
}

/* exp(x); `nonpositive`: the caller knows x <= 0 or NaN and handles NaN
 * itself (the sigmoid's exp(-|x|)), so the overflow clamp and fix-up and the
 * NaN select are left out: the same bits for every x <= 0. */
static LLVMValueRef exp_impl(cg *c, LLVMValueRef x, bool nonpositive)
{
    static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                               4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
    /* Clamp so n stays representable; overflow/underflow fixed up below. */
    LLVMValueRef xc = nonpositive ? x : cg_minnum(c, x, k(c, 89.0));
    xc = cg_maxnum(c, xc, k(c, -104.0));
    LLVMValueRef n = cg_round(c, fmul(c, xc, k(c, 1.44269504088896341)), CG_ROUND_EVEN);
    /* r = x - n ln2, in two steps (Cody-Waite) so r keeps its low bits. */
    LLVMValueRef r = fma3(c, n, k(c, -0.693359375), xc);
    r = fma3(c, n, k(c, 2.12194440e-4), r);
    LLVMValueRef r2 = fmul(c, r, r);
    LLVMValueRef e = fadd(c, fma3(c, poly(c, r, p, 6), r2, r), k(c, 1.0));
    LLVMValueRef y = scale_pow2(c, e, n);
    if (!nonpositive) y = sel(c, fcmp(c, LLVMRealOGT, x, k(c, 88.72283935546875)), k(c, __builtin_inff()), y);
    y = sel(c, fcmp(c, LLVMRealOLT, x, k(c, -103.972084045410)), k(c, 0.0), y);
    return nonpositive ? y : sel(c, fcmp(c, LLVMRealUNO, x, x), x, y);
}

LLVMValueRef cg_exp(cg *c, LLVMValueRef x) { return exp_impl(c, x, false); }

LLVMValueRef cg_log(cg *c, LLVMValueRef x)
{
    static const double p[] = {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                               -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1};
    /* Denormals: scale into the normal range first, correct the exponent after. */
    LLVMValueRef tiny = fcmp(c, LLVMRealOLT, x, k(c, 1.17549435e-38));
    LLVMValueRef xs = sel(c, tiny, fmul(c, x, k(c, 8388608.0)), x);
    LLVMValueRef bits = as_int(c, xs);
    LLVMValueRef e = LLVMBuildSub(c->b, LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, bits, i32c(c, 23), ""), i32c(c, 0xff), ""),
                                  i32c(c, 126), "");
    LLVMValueRef m = as_float(c, LLVMBuildOr(c->b, LLVMBuildAnd(c->b, bits, i32c(c, 0x807fffff), ""), i32c(c, 0x3f000000), ""));
    LLVMValueRef ef = LLVMBuildSIToFP(c->b, e, c->f32, "");
    ef = sel(c, tiny, fsub(c, ef, k(c, 23.0)), ef);
    /* m in [0.5, 1): move to [sqrt(1/2), sqrt(2)) and take m - 1. */
    LLVMValueRef small = fcmp(c, LLVMRealOLT, m, k(c, 0.707106781186547524));
    ef = sel(c, small, fsub(c, ef, k(c, 1.0)), ef);
    m = sel(c, small, fadd(c, m, m), m);
    m = fsub(c, m, k(c, 1.0));
    LLVMValueRef z = fmul(c, m, m);
    LLVMValueRef y = fmul(c, fmul(c, poly(c, m, p, 9), m), z);
    y = fma3(c, ef, k(c, -2.12194440e-4), y);
    y = fma3(c, z, k(c, -0.5), y);
    LLVMValueRef r = fma3(c, ef, k(c, 0.693359375), fadd(c, m, y));
    r = sel(c, fcmp(c, LLVMRealOEQ, x, k(c, 0.0)), k(c, -__builtin_inff()), r);
    r = sel(c, fcmp(c, LLVMRealOEQ, x, k(c, __builtin_inff())), x, r);
    return sel(c, fcmp(c, LLVMRealULT, x, k(c, 0.0)), k(c, __builtin_nanf("")), r); /* x < 0 or NaN */
}

LLVMValueRef cg_tanh(cg *c, LLVMValueRef x)
{
    static const double p[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                               -3.33332819422E-1};
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    /* Small |x|: odd polynomial (no cancellation). */
    LLVMValueRef z = fmul(c, x, x);
    LLVMValueRef small = fma3(c, fmul(c, poly(c, z, p, 5), z), x, x);
    /* Large |x|: 1 - 2/(e^{2|x|} + 1), saturating to 1 (exp gives inf). */
    LLVMValueRef e = cg_exp(c, fadd(c, ax, ax));
    LLVMValueRef big = fsub(c, k(c, 1.0), LLVMBuildFDiv(c->b, k(c, 2.0), fadd(c, e, k(c, 1.0)), ""));
    big = cg_intrinsic(c, "llvm.copysign", c->f32, (LLVMValueRef[]){big, x}, 2);
    return sel(c, fcmp(c, LLVMRealOLT, ax, k(c, 0.625)), small, big);
}

LLVMValueRef cg_sigmoid(cg *c, LLVMValueRef x)
{
    /* e = exp(-|x|) never overflows; for x < 0, e/(1+e) keeps relative accuracy. */
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    LLVMValueRef e = exp_impl(c, LLVMBuildFNeg(c->b, ax, ""), true); /* NaN: the last select returns x */
    LLVMValueRef s = LLVMBuildFDiv(c->b, k(c, 1.0), fadd(c, k(c, 1.0), e), "");
    return sel(c, fcmp(c, LLVMRealOGE, x, k(c, 0.0)), s, sel(c, fcmp(c, LLVMRealUNO, x, x), x, fmul(c, e, s)));
}

/* erf for |x| < 0.5: odd Taylor series (no cancellation near 0; the first
 * omitted term is below 0.4 ULP at 0.5). */
static LLVMValueRef erf_small(cg *c, LLVMValueRef x)
{
    static const double taylor[] = {-1.0 / 1320, 1.0 / 216, -1.0 / 42, 1.0 / 10, -1.0 / 3, 1.0};
    return fmul(c, fmul(c, poly(c, fmul(c, x, x), taylor, 6), x), k(c, 1.12837916709551257));
}

/* erfc(a) for a >= 0.5: exp(-a^2) t P(t), t = 1 / (1 + 0.4 a), P fitted by
 * tools/fit_erfc.py (relative error 1.6e-10).  t P(t) is evaluated in
 * double: in float, t's rounding alone is amplified 2.4 times near a = 0.7
 * (5 ULP measured).  a^2 is split exactly into hi + lo (Dekker's product on
 * 12-bit halves, no FMA needed), because rounding a^2 alone would cost
 * a^2 * 2^-24 relative error, 6e-6 at a = 10: exp(-hi) (1 - lo) keeps it
 * below an ULP, as |lo| <= 2^-17.  Past 10.1 (erfc underflows at 10.06)
 * and for a = inf the split is meaningless and the result is 0; NaN
 * propagates. */
static LLVMValueRef erfc_pos(cg *c, LLVMValueRef a)
{
    static const double p[] = {-0.035614068880893981, 0.16950660118735295, -0.29158653537794305, 0.19718255332791293,
                               -0.084691724507095029, 0.098150361187392884, 0.11617346228412954, 0.17186030834585336,
                               0.20767710662217007, 0.2256638096071992, 0.22567650908911971};
    /* without a double FPU (Cortex-M4/M33, RV32F) the polynomial runs in
     * float: a few ULP near a = 0.7 (see above) instead of compiler-rt calls */
    bool dbl = !(c->m.caps & CG_CAP_NO_F64);
    LLVMTypeRef d = dbl ? LLVMDoubleTypeInContext(c->ctx) : c->f32;
    LLVMValueRef ah = as_float(c, LLVMBuildAnd(c->b, as_int(c, a), i32c(c, (int)0xfffff000u), ""));
    LLVMValueRef al = fsub(c, a, ah), hi = fmul(c, a, a);
    LLVMValueRef lo = fadd(c, fsub(c, fmul(c, ah, ah), hi), fmul(c, fmul(c, ah, al), k(c, 2.0)));
    lo = fadd(c, lo, fmul(c, al, al));
    LLVMValueRef one = LLVMConstReal(d, 1.0), ad = dbl ? LLVMBuildFPExt(c->b, a, d, "") : a;
    LLVMValueRef e = cg_exp(c, LLVMBuildFNeg(c->b, hi, ""));
    if (dbl) e = LLVMBuildFPExt(c->b, e, d, "");
    e = fmul(c, e, fsub(c, one, dbl ? LLVMBuildFPExt(c->b, lo, d, "") : lo));
    LLVMValueRef t = LLVMBuildFDiv(c->b, one, fma3(c, ad, LLVMConstReal(d, 0.4), one), "");
    LLVMValueRef acc = LLVMConstReal(d, p[0]);
    for (int i = 1; i < 11; i++) acc = fma3(c, acc, t, LLVMConstReal(d, p[i]));
    LLVMValueRef r = fmul(c, e, fmul(c, t, acc));
    if (dbl) r = LLVMBuildFPTrunc(c->b, r, c->f32, "");
    return sel(c, fcmp(c, LLVMRealOGT, a, k(c, 10.1)), k(c, 0.0), r);
}

/* erf: the Taylor series below 0.5, else 1 - erfc (erfc < 0.48 there, so
 * the subtraction loses nothing), saturating to +-1. */
LLVMValueRef cg_erf(cg *c, LLVMValueRef x)
{
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    LLVMValueRef big = cg_intrinsic(c, "llvm.copysign", c->f32, (LLVMValueRef[]){fsub(c, k(c, 1.0), erfc_pos(c, ax)), x}, 2);
    return sel(c, fcmp(c, LLVMRealOLT, ax, k(c, 0.5)), erf_small(c, x), big);
}

/* erfc: 1 - erf below 0.5 in magnitude (the result is in (0.48, 1.52), so
 * no cancellation), erfc_pos for x >= 0.5 and 2 - erfc(-x) below -0.5 (in
 * (1.52, 2]).  Never 1 - erf for large x, where erfc is far below erf's ULP. */
LLVMValueRef cg_erfc(cg *c, LLVMValueRef x)
{
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1), e = erfc_pos(c, ax);
    LLVMValueRef big = sel(c, fcmp(c, LLVMRealOLT, x, k(c, 0.0)), fsub(c, k(c, 2.0), e), e);
    return sel(c, fcmp(c, LLVMRealOLT, ax, k(c, 0.5)), fsub(c, k(c, 1.0), erf_small(c, x)), big);
}

/* log(1 + t) for t >= 0 without losing t's low bits: log(u) * t / (u - 1),
 * u = 1 + t (Goldberg's trick). */
static LLVMValueRef log1p_pos(cg *c, LLVMValueRef t)
{
    LLVMValueRef u = fadd(c, k(c, 1.0), t);
    LLVMValueRef r = LLVMBuildFDiv(c->b, fmul(c, cg_log(c, u), t), fsub(c, u, k(c, 1.0)), "");
    return sel(c, fcmp(c, LLVMRealOEQ, u, k(c, 1.0)), t, r);
}

/* softplus(x) = max(x, 0) + log(1 + e^-|x|): never overflows. */
LLVMValueRef cg_softplus(cg *c, LLVMValueRef x)
{
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    LLVMValueRef pos = cg_maxnum(c, x, k(c, 0.0));
    LLVMValueRef r = fadd(c, pos, log1p_pos(c, cg_exp(c, LLVMBuildFNeg(c->b, ax, ""))));
    return sel(c, fcmp(c, LLVMRealUNO, x, x), x, r);
}

/* elu(x) = x > 0 ? x : e^x - 1, with e^x - 1 = (u - 1) * x / log(u) (Kahan)
 * so small x keep their precision. */
LLVMValueRef cg_elu(cg *c, LLVMValueRef x)
{
    LLVMValueRef u = cg_exp(c, x);
    LLVMValueRef em1 = LLVMBuildFDiv(c->b, fmul(c, fsub(c, u, k(c, 1.0)), x), cg_log(c, u), "");
    em1 = sel(c, fcmp(c, LLVMRealOEQ, u, k(c, 1.0)), x, em1);
    em1 = sel(c, fcmp(c, LLVMRealOLT, x, k(c, -20.0)), k(c, -1.0), em1);
    return sel(c, fcmp(c, LLVMRealOGT, x, k(c, 0.0)), x, em1);
}

/* a^b = e^(b log|a|), signed for negative a and odd integer b; NaN for
 * negative a and fractional b; a^0 = 1. */
LLVMValueRef cg_pow(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef aa = cg_intrinsic(c, "llvm.fabs", c->f32, &a, 1);
    LLVMValueRef r = cg_exp(c, fmul(c, b, cg_log(c, aa)));
    LLVMValueRef bi = cg_round(c, b, CG_TRUNC);
    LLVMValueRef is_int = fcmp(c, LLVMRealOEQ, bi, b);
    LLVMValueRef half = fmul(c, b, k(c, 0.5));
    LLVMValueRef odd = LLVMBuildAnd(c->b, is_int, fcmp(c, LLVMRealONE, cg_round(c, half, CG_TRUNC), half), "");
    LLVMValueRef neg = fcmp(c, LLVMRealOLT, a, k(c, 0.0));
    r = sel(c, LLVMBuildAnd(c->b, neg, odd, ""), LLVMBuildFNeg(c->b, r, ""), r);
    r = sel(c, LLVMBuildAnd(c->b, neg, LLVMBuildNot(c->b, is_int, ""), ""), k(c, __builtin_nanf("")), r);
    return sel(c, fcmp(c, LLVMRealOEQ, b, k(c, 0.0)), k(c, 1.0), r);
}

/* Integer a^b by square-and-multiply over every bit of b (branch-free);
 * negative b gives 0 (TF rejects it at run time). */
LLVMValueRef cg_ipow(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMTypeRef t = LLVMTypeOf(a);
    unsigned bits = LLVMGetIntTypeWidth(t);
    LLVMValueRef one = LLVMConstInt(t, 1, 0), r = one, base = a;
    for (unsigned i = 0; i < bits - 1; i++) {
        LLVMValueRef bit = LLVMBuildAnd(c->b, LLVMBuildLShr(c->b, b, LLVMConstInt(t, i, 0), ""), one, "");
        r = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntNE, bit, LLVMConstInt(t, 0, 0), ""), LLVMBuildMul(c->b, r, base, ""), r, "");
        base = LLVMBuildMul(c->b, base, base, "");
    }
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, b, LLVMConstInt(t, 0, 0), ""), LLVMConstInt(t, 0, 0), r, "");
}

/* sin and cos: x = j (pi/4) + r with a three-part Cody-Waite reduction
 * (exact for |x| up to ~8192, as Cephes's sinf), then the sine or cosine
 * polynomial on |r| <= pi/4 picked by the octant, and the octant's sign. */
LLVMValueRef cg_sincos(cg *c, LLVMValueRef x, bool cosine)
{
    static const double sp[] = {-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1};
    static const double cp[] = {2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002};
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    LLVMValueRef j = cg_round(c, fmul(c, ax, k(c, 1.27323954473516)), CG_FLOOR);
    LLVMValueRef ji = LLVMBuildFPToSI(c->b, j, c->i32, "");
    /* make j even: the reduction is about the nearest multiple of pi/2 */
    LLVMValueRef odd = LLVMBuildAnd(c->b, ji, i32c(c, 1), "");
    ji = LLVMBuildAdd(c->b, ji, odd, "");
    j = LLVMBuildSIToFP(c->b, ji, c->f32, "");
    LLVMValueRef r = fma3(c, j, k(c, -0.78515625), ax);
    r = fma3(c, j, k(c, -2.4187564849853515625e-4), r);
    r = fma3(c, j, k(c, -3.77489497744594108e-8), r);
    LLVMValueRef z = fmul(c, r, r);
    LLVMValueRef s = fma3(c, fmul(c, poly(c, z, sp, 3), z), r, r);
    LLVMValueRef co = fadd(c, fsub(c, fmul(c, fmul(c, poly(c, z, cp, 3), z), z), fmul(c, z, k(c, 0.5))), k(c, 1.0));
    LLVMValueRef oct = LLVMBuildAnd(c->b, ji, i32c(c, 7), ""); /* 0, 2, 4, 6 */
    LLVMValueRef swap = LLVMBuildICmp(c->b, LLVMIntNE, LLVMBuildAnd(c->b, oct, i32c(c, 2), ""), i32c(c, 0), "");
    LLVMValueRef v;
    LLVMValueRef neg;
    if (!cosine) { /* sin: octants 2, 6 use cos; 4, 6 negative; odd function */
        v = sel(c, swap, co, s);
        neg = LLVMBuildICmp(c->b, LLVMIntNE, LLVMBuildAnd(c->b, oct, i32c(c, 4), ""), i32c(c, 0), "");
        neg = LLVMBuildXor(c->b, neg, fcmp(c, LLVMRealOLT, x, k(c, 0.0)), "");
    } else { /* cos: octants 2, 6 use sin; 2, 4 negative; even function */
        v = sel(c, swap, s, co);
        LLVMValueRef o2 = LLVMBuildICmp(c->b, LLVMIntEQ, oct, i32c(c, 2), ""), o4 = LLVMBuildICmp(c->b, LLVMIntEQ, oct, i32c(c, 4), "");
        neg = LLVMBuildOr(c->b, o2, o4, "");
    }
    v = sel(c, neg, LLVMBuildFNeg(c->b, v, ""), v);
    LLVMValueRef bad = LLVMBuildOr(c->b, fcmp(c, LLVMRealUNO, x, x), fcmp(c, LLVMRealOEQ, ax, k(c, __builtin_inff())), "");
    return sel(c, bad, k(c, __builtin_nanf("")), v);
}

/* atan: reduce |x| to [0, tan(pi/8)] with atan(x) = pi/2 - atan(1/x) and
 * pi/4 + atan((x - 1) / (x + 1)), then an odd polynomial (Cephes atanf). */
LLVMValueRef cg_atan(cg *c, LLVMValueRef x)
{
    static const double p[] = {8.05374449538e-2, -1.38776856032E-1, 1.99777106478E-1, -3.33329491539E-1};
    LLVMValueRef ax = cg_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    LLVMValueRef big = fcmp(c, LLVMRealOGT, ax, k(c, 2.414213562373095)), mid = fcmp(c, LLVMRealOGT, ax, k(c, 0.4142135623730950));
    LLVMValueRef y0 = sel(c, big, k(c, 1.5707963267948966), sel(c, mid, k(c, 0.7853981633974483), k(c, 0.0)));
    LLVMValueRef t = sel(c, big, LLVMBuildFDiv(c->b, k(c, -1.0), ax, ""),
                         sel(c, mid, LLVMBuildFDiv(c->b, fsub(c, ax, k(c, 1.0)), fadd(c, ax, k(c, 1.0)), ""), ax));
    LLVMValueRef z = fmul(c, t, t);
    LLVMValueRef r = fadd(c, y0, fma3(c, fmul(c, poly(c, z, p, 4), z), t, t));
    return sel(c, fcmp(c, LLVMRealUNO, x, x), x, cg_intrinsic(c, "llvm.copysign", c->f32, (LLVMValueRef[]){r, x}, 2));
}
