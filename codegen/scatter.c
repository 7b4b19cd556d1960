/* codegen/scatter.c — SCATTER: copy the data, then write each update row
 * where its index says, in order (later updates win, or combine with add,
 * mul, max, min).  The row loop is kept scalar: two updates may land on
 * the same row, so its iterations are not independent.  Indices wrap once
 * (negative from the end) and clamp, as the gathers do, so no index reads
 * or writes outside the output.
 */
#include "cg_internal.h"

static LLVMValueRef combine(cg *c, ir_scatter_reduce m, LLVMValueRef a, LLVMValueRef b, bool is_signed)
{
    bool fl = LLVMGetTypeKind(LLVMTypeOf(a)) != LLVMIntegerTypeKind;
    LLVMBuilderRef B = c->b;
    switch (m) {
    case IR_SCATTER_NONE: return b;
    case IR_SCATTER_ADD: return fl ? LLVMBuildFAdd(B, a, b, "") : LLVMBuildAdd(B, a, b, "");
    case IR_SCATTER_MUL: return fl ? LLVMBuildFMul(B, a, b, "") : LLVMBuildMul(B, a, b, "");
    case IR_SCATTER_MAX: case IR_SCATTER_MIN: {
        bool mx = m == IR_SCATTER_MAX;
        LLVMValueRef gt = fl ? LLVMBuildFCmp(B, LLVMRealOGT, b, a, "") : LLVMBuildICmp(B, is_signed ? LLVMIntSGT : LLVMIntUGT, b, a, "");
        LLVMValueRef lt = fl ? LLVMBuildFCmp(B, LLVMRealOLT, b, a, "") : LLVMBuildICmp(B, is_signed ? LLVMIntSLT : LLVMIntULT, b, a, "");
        return LLVMBuildSelect(B, mx ? gt : lt, b, a, "");
    }
    }
    KL_ASSERT(!"bad scatter reduction");
}

bool cg_emit_scatter(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    const ir_type *t = &n->type, *ix = &n->in[1]->type;
    int64_t rows = t->dims[0], total = ir_type_numel(t), row = rows ? total / rows : 0;
    kl_dtype dt = t->dtype;
    LLVMBuilderRef B = c->b;
    cg_loop l, lu, lr;
    LLVMValueRef i = cg_loop_begin(c, total, &l);
    cg_store(c, dt, cg_load(c, dt, ops[0], i), out, i);
    cg_loop_end(c, &l);
    if (!rows || !row || !ix->dims[0]) return true;
    LLVMValueRef u = cg_loop_begin(c, ix->dims[0], &lu);
    LLVMValueRef k = cg_convert(c, cg_load(c, ix->dtype, ops[1], u), ix->dtype, KL_I64), zero = cg_i64(c, 0);
    k = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, k, zero, ""), LLVMBuildAdd(B, k, cg_i64(c, rows), ""), k, "");
    k = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, k, zero, ""), zero, k, "");
    k = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, k, cg_i64(c, rows - 1), ""), cg_i64(c, rows - 1), k, "");
    LLVMValueRef dst = LLVMBuildMul(B, k, cg_i64(c, row), ""), src = LLVMBuildMul(B, u, cg_i64(c, row), "");
    LLVMValueRef r = cg_loop_begin(c, row, &lr);
    LLVMValueRef at = LLVMBuildAdd(B, dst, r, ""), from = LLVMBuildAdd(B, src, r, "");
    LLVMValueRef v = cg_load(c, dt, ops[2], from);
    if (n->attr.scatter.reduce != IR_SCATTER_NONE) v = combine(c, n->attr.scatter.reduce, cg_load(c, dt, out, at), v, dt != KL_U8 && dt != KL_BOOL);
    cg_store(c, dt, v, out, at);
    cg_loop_end(c, &lr);
    cg_loop_end_scalar(c, &lu);
    return true;
}
