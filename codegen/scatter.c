/* codegen/scatter.c — SCATTER: copy the data (or compute it: fused
 * elementwise producers; or nothing: the variable updated in place), then
 * write each update row where its index says, in order (later updates
 * win, or combine with add, mul, max, min).  The row loop is kept scalar: two updates may land on
 * the same row, so its iterations are not independent.  Indices wrap once
 * (negative from the end) and clamp, as the gathers do, or with
 * attr.scatter.drop an index outside [0, rows) is skipped, so no index
 * reads or writes outside the output.
 */
#include <stdlib.h>

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

/* out = the data operand: a copy, nothing when the data is the variable
 * being updated in place (the same pointer: codegen/module.c), or the
 * elementwise producers fused into the kernel (passes/fuse.c: an Adam
 * slot's decay m * beta1 before the sparse add) computed element by
 * element. */
static void emit_data(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops, ir_node **in_nodes, LLVMValueRef *inputs,
                      int n_in)
{
    const ir_type *t = &n->type;
    kl_dtype dt = t->dtype;
    cg_loop l;
    if (!cg_in_kernel(c, n, n->in[0])) {
        if (ops[0] == out) return;
        LLVMValueRef i = cg_loop_begin(c, ir_type_numel(t), &l);
        cg_store(c, dt, cg_load(c, dt, ops[0], i), out, i);
        cg_loop_end(c, &l);
        return;
    }
    int r = t->rank;
    int64_t (*st)[IR_MAX_RANK] = kl_calloc(NULL, (size_t)n_in + 1, sizeof *st, "code generation");
    LLVMValueRef *offs = kl_calloc(NULL, ((size_t)n_in + 1) * ((size_t)r + 1), sizeof *offs, "code generation");
    if (!st || !offs) kl_die(__FILE__, __LINE__, "out of memory");
    /* an input the fused producers read broadcasts to the data's dims (the
     * scatter's own indices and updates are not read here) */
    for (int i = 0; i < n_in; i++) {
        ir_broadcast_strides(&in_nodes[i]->type, r, t->dims, st[i]);
        offs[i] = cg_i64(c, 0);
    }
    LLVMValueRef at = cg_i64(c, 0);
    cg_loop loops[IR_MAX_RANK];
    for (int d = 0; d < r; d++) {
        LLVMValueRef iv = cg_loop_begin(c, t->dims[d], &loops[d]);
        at = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, at, cg_i64(c, t->dims[d]), ""), iv, "");
        LLVMValueRef *prev = offs + (size_t)d * ((size_t)n_in + 1), *next = prev + n_in + 1;
        for (int i = 0; i < n_in; i++)
            next[i] = st[i][d] ? LLVMBuildNSWAdd(c->b, prev[i], LLVMBuildNSWMul(c->b, iv, cg_i64(c, st[i][d]), ""), "") : prev[i];
    }
    LLVMValueRef v = cg_kernel_member_value(c, n, n->in[0], in_nodes, inputs, offs + (size_t)r * ((size_t)n_in + 1), n_in);
    cg_store(c, dt, v, out, at);
    for (int d = r - 1; d >= 0; d--) cg_loop_end(c, &loops[d]);
    free(st);
    free(offs);
}

/* Row u of the updates into row k of out (replaced or combined). */
static void scatter_row(cg *c, const ir_node *n, LLVMValueRef out, LLVMValueRef *ops, LLVMValueRef k, LLVMValueRef u,
                        int64_t row)
{
    LLVMBuilderRef B = c->b;
    kl_dtype dt = n->type.dtype;
    cg_loop lr;
    LLVMValueRef dst = LLVMBuildMul(B, k, cg_i64(c, row), ""), src = LLVMBuildMul(B, u, cg_i64(c, row), "");
    LLVMValueRef r = cg_loop_begin(c, row, &lr);
    LLVMValueRef at = LLVMBuildAdd(B, dst, r, ""), from = LLVMBuildAdd(B, src, r, "");
    LLVMValueRef v = cg_load(c, dt, ops[2], from);
    if (n->attr.scatter.reduce != IR_SCATTER_NONE)
        v = combine(c, n->attr.scatter.reduce, cg_load(c, dt, out, at), v, dt != KL_U8 && dt != KL_BOOL);
    cg_store(c, dt, v, out, at);
    cg_loop_end(c, &lr);
}

bool cg_emit_scatter(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops, ir_node **in_nodes, LLVMValueRef *inputs,
                     int n_in)
{
    const ir_type *t = &n->type, *ix = &n->in[1]->type;
    int64_t rows = t->dims[0], total = ir_type_numel(t), row = rows ? total / rows : 0;
    LLVMBuilderRef B = c->b;
    cg_loop lu;
    emit_data(c, n, out, ops, in_nodes, inputs, n_in);
    if (!rows || !row || !ix->dims[0]) return true;
    LLVMValueRef u = cg_loop_begin(c, ix->dims[0], &lu);
    LLVMValueRef k = cg_convert(c, cg_load(c, ix->dtype, ops[1], u), ix->dtype, KL_I64), zero = cg_i64(c, 0);
    if (n->attr.scatter.drop) { /* an index outside [0, rows) writes nothing */
        LLVMValueRef in = LLVMBuildICmp(B, LLVMIntULT, k, cg_i64(c, rows), "");
        LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(B));
        LLVMBasicBlockRef write = LLVMAppendBasicBlockInContext(c->ctx, fn, "scatter_row"),
                          skip = LLVMAppendBasicBlockInContext(c->ctx, fn, "scatter_next");
        LLVMBuildCondBr(B, in, write, skip);
        LLVMPositionBuilderAtEnd(B, write);
        scatter_row(c, n, out, ops, k, u, row);
        LLVMBuildBr(B, skip);
        LLVMPositionBuilderAtEnd(B, skip);
        cg_loop_end_scalar(c, &lu);
        return true;
    }
    k = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, k, zero, ""), LLVMBuildAdd(B, k, cg_i64(c, rows), ""), k, "");
    k = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, k, zero, ""), zero, k, "");
    k = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, k, cg_i64(c, rows - 1), ""), cg_i64(c, rows - 1), k, "");
    scatter_row(c, n, out, ops, k, u, row);
    cg_loop_end_scalar(c, &lu);
    return true;
}
