/* codegen/kernels.c — loop nests for each kind of kernel.
 *
 * Loops have static trip counts and unit or zero strides in the innermost
 * dimension, so LLVM's loop vectorizer widens them for the target CPU.
 * Elementwise kernels evaluate their whole fused expression per element
 * (emit_value_at), reading only the kernel's external inputs from memory.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* ---- helpers ------------------------------------------------------------ */

LLVMValueRef cg_i64(cg *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(cg *c, double v) { return LLVMConstReal(c->f32, v); }

LLVMTypeRef cg_elem_type(cg *c, kl_dtype t) { return t == KL_F32 ? c->f32 : c->i32; }

bool cg_dtype_ok(cg *c, const ir_node *n)
{
    bool ok = n->type.dtype == KL_F32 || n->type.dtype == KL_I32;
    for (int i = 0; i < n->n_in; i++) ok = ok && (n->in[i]->type.dtype == KL_F32 || n->in[i]->type.dtype == KL_I32);
    if (!ok)
        kl_diag_error(c->d, "%s: node '%s' (%s): dtype %s is not supported by the x86-64 backend yet", c->g->source,
                      n->name ? n->name : "", kl_op_name(n->op), kl_dtype_name(n->type.dtype));
    return ok;
}

LLVMValueRef cg_intrinsic(cg *c, const char *name, LLVMTypeRef type, LLVMValueRef *args, int n)
{
    /* Overloaded on the operand type; conversions (fptosi.sat) also on the result type. */
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef arg = LLVMTypeOf(args[0]), t[2] = {arg, arg};
    size_t n_types = 1;
    if (type != arg) t[0] = type, n_types = 2;
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, t, n_types);
    return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, t, n_types), fn, args, (unsigned)n, "");
}

LLVMValueRef cg_elem_ptr(cg *c, kl_dtype t, LLVMValueRef base, LLVMValueRef index)
{
    return LLVMBuildInBoundsGEP2(c->b, cg_elem_type(c, t), base, &index, 1, "");
}

LLVMValueRef cg_loop_begin(cg *c, int64_t n, cg_loop *l)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
    l->header = LLVMAppendBasicBlockInContext(c->ctx, fn, "loop");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(c->ctx, fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(c->ctx, fn, "done");
    LLVMBuildBr(c->b, l->header);
    LLVMPositionBuilderAtEnd(c->b, l->header);
    l->iv = LLVMBuildPhi(c->b, c->i64, "i");
    LLVMValueRef zero = cg_i64(c, 0);
    LLVMAddIncoming(l->iv, &zero, &pre, 1);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, l->iv, cg_i64(c, n), ""), body, l->exit);
    LLVMPositionBuilderAtEnd(c->b, body);
    return l->iv;
}

void cg_loop_end(cg *c, cg_loop *l)
{
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
    LLVMValueRef next = LLVMBuildNSWAdd(c->b, l->iv, cg_i64(c, 1), "");
    LLVMBuildBr(c->b, l->header);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(c->b, l->exit);
}

static LLVMValueRef load(cg *c, kl_dtype t, LLVMValueRef base, LLVMValueRef index)
{
    return LLVMBuildLoad2(c->b, cg_elem_type(c, t), cg_elem_ptr(c, t, base, index), "");
}

static void store(cg *c, kl_dtype t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef index)
{
    LLVMBuildStore(c->b, v, cg_elem_ptr(c, t, base, index));
}

/* Allocas go in the entry block: inside a loop they would grow the stack
 * every iteration at -O0, where nothing hoists them. */
static LLVMValueRef entry_alloca(cg *c, LLVMTypeRef t, const char *name)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(c->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first) LLVMPositionBuilderBefore(b, first);
    else LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef a = LLVMBuildAlloca(b, t, name);
    LLVMDisposeBuilder(b);
    return a;
}

/* Reassociation lets LLVM vectorize sums (as Eigen's reductions also reorder). */
static LLVMValueRef fadd_reassoc(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef v = LLVMBuildFAdd(c->b, a, b, "");
    LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
    return v;
}

/* ---- scalar semantics of elementwise ops -------------------------------- */

static LLVMValueRef fmax_nan(cg *c, LLVMValueRef a, LLVMValueRef b, bool is_max)
{
    return cg_intrinsic(c, is_max ? "llvm.maximum" : "llvm.minimum", c->f32, (LLVMValueRef[]){a, b}, 2);
}

static LLVMValueRef emit_float_op(cg *c, kl_op op, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef B = c->b;
    switch (op) {
    case KL_OP_COPY: return a;
    case KL_OP_NEG: return LLVMBuildFNeg(B, a, "");
    case KL_OP_ABS: return cg_intrinsic(c, "llvm.fabs", c->f32, &a, 1);
    case KL_OP_SQUARE: return LLVMBuildFMul(B, a, a, "");
    case KL_OP_SQRT: return cg_intrinsic(c, "llvm.sqrt", c->f32, &a, 1);
    case KL_OP_RSQRT: return LLVMBuildFDiv(B, cg_f32(c, 1.0), cg_intrinsic(c, "llvm.sqrt", c->f32, &a, 1), "");
    case KL_OP_EXP: return cg_exp(c, a);
    case KL_OP_LOG: return cg_log(c, a);
    case KL_OP_TANH: return cg_tanh(c, a);
    case KL_OP_SIGMOID: return cg_sigmoid(c, a);
    case KL_OP_RELU: /* NaN stays NaN, as in TensorFlow */
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, a, cg_f32(c, 0), ""), cg_f32(c, 0), a, "");
    case KL_OP_RELU6: {
        LLVMValueRef lo = LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, a, cg_f32(c, 0), ""), cg_f32(c, 0), a, "");
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, lo, cg_f32(c, 6), ""), cg_f32(c, 6), lo, "");
    }
    case KL_OP_ADD: return LLVMBuildFAdd(B, a, b, "");
    case KL_OP_SUB: return LLVMBuildFSub(B, a, b, "");
    case KL_OP_MUL: return LLVMBuildFMul(B, a, b, "");
    case KL_OP_DIV: return LLVMBuildFDiv(B, a, b, "");
    case KL_OP_MAX: return fmax_nan(c, a, b, true);
    case KL_OP_MIN: return fmax_nan(c, a, b, false);
    default: KL_ASSERT(!"not an elementwise float op");
    }
}

static LLVMValueRef emit_int_op(cg *c, kl_op op, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef B = c->b;
    LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0);
    switch (op) {
    case KL_OP_COPY: return a;
    case KL_OP_NEG: return LLVMBuildSub(B, zero, a, "");
    case KL_OP_ABS: return LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, zero, ""), LLVMBuildSub(B, zero, a, ""), a, "");
    case KL_OP_SQUARE: return LLVMBuildMul(B, a, a, "");
    case KL_OP_RELU: return LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, zero, ""), zero, a, "");
    case KL_OP_RELU6: {
        LLVMValueRef six = LLVMConstInt(c->i32, 6, 0);
        LLVMValueRef lo = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, zero, ""), zero, a, "");
        return LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, lo, six, ""), six, lo, "");
    }
    case KL_OP_ADD: return LLVMBuildAdd(B, a, b, "");
    case KL_OP_SUB: return LLVMBuildSub(B, a, b, "");
    case KL_OP_MUL: return LLVMBuildMul(B, a, b, "");
    case KL_OP_DIV: { /* no trap on b == 0 or INT_MIN/-1: divide by 1 there (TF's int div is UB-free too) */
        LLVMValueRef bad = LLVMBuildOr(B, LLVMBuildICmp(B, LLVMIntEQ, b, zero, ""),
                                       LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntEQ, b, LLVMConstInt(c->i32, (unsigned long long)-1, 1), ""),
                                                    LLVMBuildICmp(B, LLVMIntEQ, a, LLVMConstInt(c->i32, 0x80000000u, 0), ""), ""), "");
        return LLVMBuildSDiv(B, a, LLVMBuildSelect(B, bad, LLVMConstInt(c->i32, 1, 0), b, ""), "");
    }
    case KL_OP_MAX: return LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, a, b, ""), a, b, "");
    case KL_OP_MIN: return LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, a, b, ""), a, b, "");
    default: KL_ASSERT(!"not an elementwise int op");
    }
}

/* f32 -> i32 truncates toward zero and saturates (NaN -> 0) instead of UB. */
static LLVMValueRef emit_cast(cg *c, LLVMValueRef v, kl_dtype from, kl_dtype to)
{
    if (from == to) return v;
    if (to == KL_F32) return LLVMBuildSIToFP(c->b, v, c->f32, "");
    return cg_intrinsic(c, "llvm.fptosi.sat", c->i32, &v, 1);
}

/* ---- elementwise (loop-fused) kernels ----------------------------------- */

typedef struct ew_ctx {
    cg *c;
    ir_node *root;
    ir_node **in_nodes;
    LLVMValueRef *inputs, *offsets; /* offsets[i]: element index into inputs[i] */
    int n_inputs;
    ir_node **memo_node;
    LLVMValueRef *memo_val;
    int n_memo;
} ew_ctx;

static LLVMValueRef value_at(ew_ctx *k, ir_node *n)
{
    for (int i = 0; i < k->n_memo; i++)
        if (k->memo_node[i] == n) return k->memo_val[i];
    LLVMValueRef v = NULL;
    if (n->kernel == k->root) { /* computed in this kernel */
        LLVMValueRef a = value_at(k, n->in[0]), b = n->n_in > 1 ? value_at(k, n->in[1]) : NULL;
        if (n->op == KL_OP_CAST) v = emit_cast(k->c, a, n->in[0]->type.dtype, n->type.dtype);
        else if (n->type.dtype == KL_F32) v = emit_float_op(k->c, n->op, a, b);
        else v = emit_int_op(k->c, n->op, a, b);
    } else {
        for (int i = 0; i < k->n_inputs && !v; i++)
            if (k->in_nodes[i] == n) v = load(k->c, n->type.dtype, k->inputs[i], k->offsets[i]);
        KL_ASSERT(v);
    }
    k->memo_node[k->n_memo] = n;
    k->memo_val[k->n_memo++] = v;
    return v;
}

/* Loop dims of the output after merging neighbours that every operand
 * walks contiguously (or not at all), so [100,16] + [16] stays 2 loops but
 * [100,16] + [100,16] becomes one loop of 1600. */
static int collapse_dims(const ir_node *root, ir_node **in_nodes, int n_in, int64_t *dims, int64_t (*strides)[IR_MAX_RANK])
{
    int rank = root->type.rank;
    int64_t s[IR_MAX_RANK + 1][IR_MAX_RANK];
    for (int i = 0; i < n_in; i++) ir_broadcast_strides(&in_nodes[i]->type, rank, root->type.dims, s[i]);
    ir_broadcast_strides(&root->type, rank, root->type.dims, s[n_in]);
    int r = 0;
    for (int d = 0; d < rank; d++) {
        bool merge = r > 0;
        for (int i = 0; merge && i <= n_in; i++) merge = strides[i][r - 1] == s[i][d] * root->type.dims[d];
        if (merge) {
            dims[r - 1] *= root->type.dims[d];
            for (int i = 0; i <= n_in; i++) strides[i][r - 1] = s[i][d];
        } else {
            dims[r] = root->type.dims[d];
            for (int i = 0; i <= n_in; i++) strides[i][r] = s[i][d];
            r++;
        }
    }
    return r;
}

static bool emit_elementwise(cg *c, ir_node *root, LLVMValueRef out, ir_node **in_nodes, LLVMValueRef *inputs, int n_in)
{
    int64_t dims[IR_MAX_RANK], strides[IR_MAX_RANK + 1][IR_MAX_RANK];
    int rank = collapse_dims(root, in_nodes, n_in, dims, strides);
    LLVMValueRef offs[IR_MAX_RANK + 1];
    for (int i = 0; i <= n_in; i++) offs[i] = cg_i64(c, 0);
    cg_loop loops[IR_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        LLVMValueRef iv = cg_loop_begin(c, dims[d], &loops[d]);
        for (int i = 0; i <= n_in; i++)
            if (strides[i][d]) offs[i] = LLVMBuildNSWAdd(c->b, offs[i], LLVMBuildNSWMul(c->b, iv, cg_i64(c, strides[i][d]), ""), "");
    }
    size_t cap = (size_t)c->g->n_nodes + 1;
    ew_ctx k = {c, root, in_nodes, inputs, offs, n_in, calloc(cap, sizeof(ir_node *)), calloc(cap, sizeof(LLVMValueRef)), 0};
    if (!k.memo_node || !k.memo_val) kl_die(__FILE__, __LINE__, "out of memory");
    store(c, root->type.dtype, value_at(&k, root), out, offs[n_in]);
    free(k.memo_node);
    free(k.memo_val);
    for (int d = rank - 1; d >= 0; d--) cg_loop_end(c, &loops[d]);
    return true;
}

/* ---- matmul ------------------------------------------------------------- */

static bool emit_matmul(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef a, LLVMValueRef b)
{
    kl_dtype t = n->type.dtype;
    bool tra = n->attr.matmul.transpose_a, trb = n->attr.matmul.transpose_b, f = t == KL_F32;
    int64_t m = n->type.dims[0], nn = n->type.dims[1];
    int64_t k = tra ? n->in[0]->type.dims[0] : n->in[0]->type.dims[1];
    LLVMValueRef zero = f ? cg_f32(c, 0) : LLVMConstInt(c->i32, 0, 0);
    cg_loop li, lj, lp;
    LLVMValueRef i = cg_loop_begin(c, m, &li);
    if (trb) { /* dot products: both operands contiguous along k */
        LLVMValueRef j = cg_loop_begin(c, nn, &lj);
        LLVMValueRef acc = entry_alloca(c, cg_elem_type(c, t), "acc");
        LLVMBuildStore(c->b, zero, acc);
        LLVMValueRef p = cg_loop_begin(c, k, &lp);
        LLVMValueRef ia = tra ? LLVMBuildAdd(c->b, LLVMBuildMul(c->b, p, cg_i64(c, m), ""), i, "")
                              : LLVMBuildAdd(c->b, LLVMBuildMul(c->b, i, cg_i64(c, k), ""), p, "");
        LLVMValueRef ib = LLVMBuildAdd(c->b, LLVMBuildMul(c->b, j, cg_i64(c, k), ""), p, "");
        LLVMValueRef prod = f ? LLVMBuildFMul(c->b, load(c, t, a, ia), load(c, t, b, ib), "")
                              : LLVMBuildMul(c->b, load(c, t, a, ia), load(c, t, b, ib), "");
        if (f) LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
        LLVMValueRef cur = LLVMBuildLoad2(c->b, cg_elem_type(c, t), acc, "");
        LLVMBuildStore(c->b, f ? fadd_reassoc(c, cur, prod) : LLVMBuildAdd(c->b, cur, prod, ""), acc);
        cg_loop_end(c, &lp);
        store(c, t, LLVMBuildLoad2(c->b, cg_elem_type(c, t), acc, ""), out,
              LLVMBuildAdd(c->b, LLVMBuildMul(c->b, i, cg_i64(c, nn), ""), j, ""));
        cg_loop_end(c, &lj);
    } else { /* row update: C[i,:] += A[i,p] * B[p,:], contiguous in j */
        LLVMValueRef row = LLVMBuildMul(c->b, i, cg_i64(c, nn), "");
        LLVMValueRef j = cg_loop_begin(c, nn, &lj);
        store(c, t, zero, out, LLVMBuildAdd(c->b, row, j, ""));
        cg_loop_end(c, &lj);
        LLVMValueRef p = cg_loop_begin(c, k, &lp);
        LLVMValueRef ia = tra ? LLVMBuildAdd(c->b, LLVMBuildMul(c->b, p, cg_i64(c, m), ""), i, "")
                              : LLVMBuildAdd(c->b, LLVMBuildMul(c->b, i, cg_i64(c, k), ""), p, "");
        LLVMValueRef av = load(c, t, a, ia);
        LLVMValueRef brow = LLVMBuildMul(c->b, p, cg_i64(c, nn), "");
        j = cg_loop_begin(c, nn, &lj);
        LLVMValueRef oj = LLVMBuildAdd(c->b, row, j, "");
        LLVMValueRef bv = load(c, t, b, LLVMBuildAdd(c->b, brow, j, ""));
        LLVMValueRef prod = f ? LLVMBuildFMul(c->b, av, bv, "") : LLVMBuildMul(c->b, av, bv, "");
        if (f) LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
        LLVMValueRef cur = load(c, t, out, oj);
        LLVMValueRef sum = f ? LLVMBuildFAdd(c->b, cur, prod, "") : LLVMBuildAdd(c->b, cur, prod, "");
        if (f) LLVMSetFastMathFlags(sum, LLVMFastMathAllowContract);
        store(c, t, sum, out, oj);
        cg_loop_end(c, &lj);
        cg_loop_end(c, &lp);
    }
    cg_loop_end(c, &li);
    return true;
}

/* ---- reductions and softmax --------------------------------------------- */

static bool emit_reduce(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in)
{
    const ir_type *t = &n->in[0]->type;
    kl_dtype dt = t->dtype;
    bool f = dt == KL_F32, is_max = n->op == KL_OP_REDUCE_MAX;
    int64_t strides[IR_MAX_RANK], s = 1, count = 1;
    for (int d = t->rank - 1; d >= 0; d--) strides[d] = s, s *= t->dims[d];
    int kept[IR_MAX_RANK], red[IR_MAX_RANK], nk = 0, nr = 0;
    for (int d = 0; d < t->rank; d++) {
        if (n->attr.reduce.axes & (1u << d)) red[nr++] = d, count *= t->dims[d];
        else kept[nk++] = d;
    }
    LLVMTypeRef et = cg_elem_type(c, dt);
    LLVMValueRef init = is_max ? (f ? cg_f32(c, -__builtin_inff()) : LLVMConstInt(c->i32, 0x80000000u, 0))
                               : (f ? cg_f32(c, 0) : LLVMConstInt(c->i32, 0, 0));
    LLVMValueRef acc = entry_alloca(c, et, "acc");
    cg_loop lk[IR_MAX_RANK], lr[IR_MAX_RANK];
    LLVMValueRef off = cg_i64(c, 0), oidx = cg_i64(c, 0);
    for (int i = 0; i < nk; i++) {
        LLVMValueRef iv = cg_loop_begin(c, t->dims[kept[i]], &lk[i]);
        off = LLVMBuildAdd(c->b, off, LLVMBuildMul(c->b, iv, cg_i64(c, strides[kept[i]]), ""), "");
        oidx = LLVMBuildAdd(c->b, LLVMBuildMul(c->b, oidx, cg_i64(c, t->dims[kept[i]]), ""), iv, "");
    }
    LLVMBuildStore(c->b, init, acc);
    LLVMValueRef roff = off;
    for (int i = 0; i < nr; i++) {
        LLVMValueRef iv = cg_loop_begin(c, t->dims[red[i]], &lr[i]);
        roff = LLVMBuildAdd(c->b, roff, LLVMBuildMul(c->b, iv, cg_i64(c, strides[red[i]]), ""), "");
    }
    LLVMValueRef v = load(c, dt, in, roff), cur = LLVMBuildLoad2(c->b, et, acc, "");
    LLVMValueRef nv = is_max ? (f ? fmax_nan(c, cur, v, true) : emit_int_op(c, KL_OP_MAX, cur, v))
                             : (f ? fadd_reassoc(c, cur, v) : LLVMBuildAdd(c->b, cur, v, ""));
    LLVMBuildStore(c->b, nv, acc);
    for (int i = nr - 1; i >= 0; i--) cg_loop_end(c, &lr[i]);
    LLVMValueRef r = LLVMBuildLoad2(c->b, et, acc, "");
    if (n->op == KL_OP_REDUCE_MEAN)
        r = f ? LLVMBuildFDiv(c->b, r, cg_f32(c, (double)count), "")
              : LLVMBuildSDiv(c->b, r, LLVMConstInt(c->i32, (unsigned long long)(count ? count : 1), 0), "");
    store(c, dt, r, out, oidx);
    for (int i = nk - 1; i >= 0; i--) cg_loop_end(c, &lk[i]);
    return true;
}

static bool emit_softmax(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in)
{
    int64_t cols = n->type.rank ? n->type.dims[n->type.rank - 1] : 1;
    int64_t rows = cols ? ir_type_numel(&n->type) / cols : 0;
    LLVMValueRef mx = entry_alloca(c, c->f32, "max"), sum = entry_alloca(c, c->f32, "sum");
    cg_loop lr, lc;
    LLVMValueRef r = cg_loop_begin(c, rows, &lr);
    LLVMValueRef base = LLVMBuildMul(c->b, r, cg_i64(c, cols), "");
    LLVMBuildStore(c->b, cg_f32(c, -__builtin_inff()), mx);
    LLVMBuildStore(c->b, cg_f32(c, 0), sum);
    LLVMValueRef j = cg_loop_begin(c, cols, &lc);
    LLVMValueRef v = load(c, KL_F32, in, LLVMBuildAdd(c->b, base, j, ""));
    LLVMBuildStore(c->b, fmax_nan(c, LLVMBuildLoad2(c->b, c->f32, mx, ""), v, true), mx);
    cg_loop_end(c, &lc);
    LLVMValueRef m = LLVMBuildLoad2(c->b, c->f32, mx, "");
    j = cg_loop_begin(c, cols, &lc);
    LLVMValueRef idx = LLVMBuildAdd(c->b, base, j, "");
    LLVMValueRef e = cg_exp(c, LLVMBuildFSub(c->b, load(c, KL_F32, in, idx), m, ""));
    store(c, KL_F32, e, out, idx);
    LLVMBuildStore(c->b, fadd_reassoc(c, LLVMBuildLoad2(c->b, c->f32, sum, ""), e), sum);
    cg_loop_end(c, &lc);
    LLVMValueRef s = LLVMBuildLoad2(c->b, c->f32, sum, "");
    j = cg_loop_begin(c, cols, &lc);
    idx = LLVMBuildAdd(c->b, base, j, "");
    store(c, KL_F32, LLVMBuildFDiv(c->b, load(c, KL_F32, out, idx), s, ""), out, idx);
    cg_loop_end(c, &lc);
    cg_loop_end(c, &lr);
    return true;
}

/* ---- dispatch ----------------------------------------------------------- */

bool cg_emit_kernel(cg *c, LLVMValueRef fn, ir_node *root, LLVMValueRef out, ir_node **in_nodes,
                    LLVMValueRef *inputs, int n_inputs)
{
    /* Operand pointers in operand order, for the non-fused kernels. */
    LLVMValueRef ops[8] = {0};
    for (int i = 0; i < root->n_in && i < 8; i++)
        for (int j = 0; j < n_inputs; j++)
            if (in_nodes[j] == root->in[i]) ops[i] = inputs[j];
    switch (root->op) {
    case KL_OP_COPY: case KL_OP_CAST: case KL_OP_NEG: case KL_OP_ABS: case KL_OP_SQUARE: case KL_OP_SQRT:
    case KL_OP_RSQRT: case KL_OP_EXP: case KL_OP_LOG: case KL_OP_TANH: case KL_OP_SIGMOID: case KL_OP_RELU:
    case KL_OP_RELU6: case KL_OP_ADD: case KL_OP_SUB: case KL_OP_MUL: case KL_OP_DIV: case KL_OP_MAX:
    case KL_OP_MIN:
        return emit_elementwise(c, root, out, in_nodes, inputs, n_inputs);
    case KL_OP_MATMUL: return emit_matmul(c, root, out, ops[0], ops[1]);
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX: return emit_reduce(c, root, out, ops[0]);
    case KL_OP_SOFTMAX: return emit_softmax(c, root, out, ops[0]);
    case KL_OP_PARAM: case KL_OP_CONST: case KL_OP_RESHAPE: case KL_OP_COUNT: break;
    }
    kl_diag_error(c->d, "%s: node '%s' (%s): no code generator for this op", c->g->source, root->name ? root->name : "",
                  kl_op_name(root->op));
    return false;
}
