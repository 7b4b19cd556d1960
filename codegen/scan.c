/* codegen/scan.c — running sums and products along one axis (cumsum,
 * cumprod).  Exclusive and reverse scans are views around these (the
 * frontends shift and flip with pads and negative-stride slices).
 *
 * The axis loop is outside the loop over the elements after the axis, so
 * the innermost loop is contiguous and independent (LLVM vectorizes it):
 *   y[o, 0, i] = x[o, 0, i];  y[o, k, i] = y[o, k-1, i] op x[o, k, i].
 * Each element reads x before it writes y, so y may share x's memory.  A
 * scan along the last axis is one sequential chain per row, as it must be:
 * the result is the same sum in the same order as the reference evaluator.
 */
#include "cg_internal.h"

static LLVMValueRef combine(cg *c, kl_op op, LLVMValueRef a, LLVMValueRef b)
{
    bool fl = LLVMGetTypeKind(LLVMTypeOf(a)) != LLVMIntegerTypeKind;
    if (op == KL_OP_CUMPROD) return fl ? LLVMBuildFMul(c->b, a, b, "") : LLVMBuildMul(c->b, a, b, "");
    return fl ? LLVMBuildFAdd(c->b, a, b, "") : LLVMBuildAdd(c->b, a, b, "");
}

bool cg_emit_scan(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in)
{
    const ir_type *t = &n->type;
    int ax = n->attr.concat.axis;
    int64_t outer = 1, len = t->dims[ax], inner = 1;
    for (int i = 0; i < ax; i++) outer *= t->dims[i];
    for (int i = ax + 1; i < t->rank; i++) inner *= t->dims[i];
    if (ir_type_numel(t) == 0) return true;
    kl_dtype dt = t->dtype;
    cg_loop lo, lk, li;
    LLVMValueRef o = cg_loop_begin_split(c, outer, &lo); /* rows are independent: the split loop */
    LLVMValueRef row = LLVMBuildMul(c->b, o, cg_i64(c, len * inner), "");
    LLVMValueRef i = cg_loop_begin(c, inner, &li), at = LLVMBuildAdd(c->b, row, i, "");
    cg_store(c, dt, cg_load(c, dt, in, at), out, at);
    cg_loop_end(c, &li);
    if (len > 1) {
        LLVMValueRef k = LLVMBuildAdd(c->b, cg_loop_begin(c, len - 1, &lk), cg_i64(c, 1), "");
        LLVMValueRef base = LLVMBuildAdd(c->b, row, LLVMBuildMul(c->b, k, cg_i64(c, inner), ""), "");
        i = cg_loop_begin(c, inner, &li);
        at = LLVMBuildAdd(c->b, base, i, "");
        LLVMValueRef prev = cg_load(c, dt, out, LLVMBuildSub(c->b, at, cg_i64(c, inner), ""));
        cg_store(c, dt, combine(c, n->op, prev, cg_load(c, dt, in, at)), out, at);
        cg_loop_end(c, &li);
        cg_loop_end(c, &lk);
    }
    cg_loop_end(c, &lo);
    return true;
}
