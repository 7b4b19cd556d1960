/* codegen/movement.c — data movement kernels: transpose, slice, pad, tile,
 * concat, gather.  Each is a loop nest over the output that computes where
 * its element comes from; elements are moved as integers of their size, so
 * every dtype works.  Nothing here reads outside an operand: pads select a
 * clamped load (and read nothing from an empty operand), gathers clamp their
 * indices.  (Pads and concats fused into elementwise loops are split at
 * their operand edges instead: codegen/kernels.c emit_gated.)
 */
#include "cg_internal.h"

static LLVMValueRef add(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef mul(cg *c, LLVMValueRef a, int64_t k) { return LLVMBuildMul(c->b, a, cg_i64(c, k), ""); }

static void row_major(const ir_type *t, int64_t *s)
{
    int64_t m = 1;
    for (int i = t->rank - 1; i >= 0; i--) s[i] = m, m *= t->dims[i];
}

/* Raw element move (no conversion). */
static LLVMTypeRef raw_type(cg *c, kl_dtype t) { return LLVMIntTypeInContext(c->ctx, (unsigned)kl_dtype_size(t) * 8); }

static LLVMValueRef raw_load(cg *c, kl_dtype t, LLVMValueRef base, LLVMValueRef i)
{
    LLVMTypeRef rt = raw_type(c, t);
    return LLVMBuildLoad2(c->b, rt, LLVMBuildInBoundsGEP2(c->b, rt, base, &i, 1, ""), "");
}

static void raw_store(cg *c, kl_dtype t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i)
{
    LLVMTypeRef rt = raw_type(c, t);
    LLVMBuildStore(c->b, v, LLVMBuildInBoundsGEP2(c->b, rt, base, &i, 1, ""));
}

static LLVMValueRef clamp(cg *c, LLVMValueRef v, int64_t hi)
{
    LLVMValueRef z = cg_i64(c, 0), h = cg_i64(c, hi);
    v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, v, z, ""), z, v, "");
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, v, h, ""), h, v, "");
}

/* Mirror index j into [0, n) for reflect (edge not repeated) or symmetric
 * padding; pads are at most one period, so one fold each side suffices. */
static LLVMValueRef mirror(cg *c, LLVMValueRef j, int64_t n, bool reflect)
{
    LLVMValueRef lo = reflect ? LLVMBuildNeg(c->b, j, "") : LLVMBuildSub(c->b, cg_i64(c, -1), j, "");
    j = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, j, cg_i64(c, 0), ""), lo, j, "");
    LLVMValueRef hi = LLVMBuildSub(c->b, cg_i64(c, reflect ? 2 * n - 2 : 2 * n - 1), j, "");
    j = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGE, j, cg_i64(c, n), ""), hi, j, "");
    return clamp(c, j, n - 1);
}

/* Pad in the raw type: the constant, converted to the dtype. */
static LLVMValueRef pad_value(cg *c, kl_dtype t, double v)
{
    LLVMValueRef x = kl_dtype_is_float(t) ? LLVMConstReal(cg_compute_type(c, t), v)
                                          : LLVMConstInt(cg_compute_type(c, t), (unsigned long long)(long long)v, 1);
    if (t == KL_F16) x = LLVMBuildFPTrunc(c->b, x, cg_elem_type(c, t), "");
    return LLVMBuildBitCast(c->b, x, raw_type(c, t), "");
}

/* The loop a split movement kernel restricts (cg_kernel_units): the first
 * dim of extent > 1 of the nest's index space (the output's; a
 * gather_elements' indices have its shape), so every loop outside it runs
 * once.  A concat splits only off its axis (its operands' nests differ
 * there); -1: no split. */
int cg_movement_split_dim(const ir_node *n)
{
    int d = cg_outer_split_dim(&n->type);
    if (n->op == KL_OP_CONCAT && d == n->attr.concat.axis) return -1;
    return d;
}

static bool emit_index_map(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in)
{
    const ir_type *o = &n->type, *x = &n->in[0]->type;
    kl_dtype t = o->dtype;
    int64_t sx[IR_MAX_RANK];
    row_major(x, sx);
    cg_loop l[IR_MAX_RANK];
    LLVMValueRef src = cg_i64(c, 0), dst = cg_i64(c, 0), valid = LLVMConstInt(c->i1, 1, 0);
    int sd = cg_movement_split_dim(n);
    for (int d = 0; d < o->rank; d++) {
        LLVMValueRef iv = cg_loop_begin_split_if(c, d == sd, o->dims[d], &l[d]), j = iv;
        dst = add(c, mul(c, dst, o->dims[d]), iv);
        switch (n->op) {
        case KL_OP_TRANSPOSE: src = add(c, src, mul(c, iv, sx[n->attr.transpose.perm[d]])); continue;
        case KL_OP_SLICE: j = add(c, cg_i64(c, n->attr.slice.begin[d]), mul(c, iv, n->attr.slice.stride[d])); break;
        case KL_OP_TILE: j = x->dims[d] == o->dims[d] ? iv : LLVMBuildURem(c->b, iv, cg_i64(c, x->dims[d]), ""); break;
        case KL_OP_PAD:
            j = LLVMBuildSub(c->b, iv, cg_i64(c, n->attr.pad.lo[d]), "");
            if (n->attr.pad.mode == IR_PAD_CONSTANT) {
                LLVMValueRef in_range = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntSGE, j, cg_i64(c, 0), ""),
                                                     LLVMBuildICmp(c->b, LLVMIntSLT, j, cg_i64(c, x->dims[d]), ""), "");
                valid = LLVMBuildAnd(c->b, valid, in_range, "");
                j = clamp(c, j, x->dims[d] - 1);
            } else if (n->attr.pad.mode == IR_PAD_EDGE) {
                j = clamp(c, j, x->dims[d] - 1);
            } else {
                j = mirror(c, j, x->dims[d], n->attr.pad.mode == IR_PAD_REFLECT);
            }
            break;
        default: break;
        }
        src = add(c, src, mul(c, j, sx[d]));
    }
    /* a constant pad of an empty operand is all padding: nothing to read */
    bool all_pad = n->op == KL_OP_PAD && n->attr.pad.mode == IR_PAD_CONSTANT && ir_type_numel(x) == 0;
    LLVMValueRef v = all_pad ? pad_value(c, t, n->attr.pad.value) : raw_load(c, t, in, src);
    if (n->op == KL_OP_PAD && n->attr.pad.mode == IR_PAD_CONSTANT && !all_pad)
        v = LLVMBuildSelect(c->b, valid, v, pad_value(c, t, n->attr.pad.value), "");
    raw_store(c, t, v, out, dst);
    for (int d = o->rank - 1; d >= 0; d--) cg_loop_end(c, &l[d]);
    return true;
}

/* One loop nest per operand, writing its block of the output.  An operand's
 * dims from the axis on are one contiguous block in it and in the output, so
 * the loops outside the axis copy that block with one memcpy (inlined by
 * LLVM when short) in loops LLVM must not unroll: a channel concat was an
 * element loop nest of constant trip counts that LLVM unrolled and
 * vectorized per shape, ~26 ms of LLVM time for each of DenseNet121's 58
 * concats (unrolled memcpys cost as much in DSE, MemCpyOpt and instruction
 * selection; docs/performance.md, 22).  The element nest stays for a split
 * dim inside the block. */
static bool emit_concat(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    const ir_type *o = &n->type;
    int ax = n->attr.concat.axis;
    int64_t so[IR_MAX_RANK], at = 0;
    row_major(o, so);
    int sd = cg_movement_split_dim(n); /* off the axis: every operand's nest has the output's extent there */
    bool blocks = sd < ax;
    size_t es = kl_dtype_size(o->dtype);
    for (int k = 0; k < n->n_in; k++) {
        const ir_type *x = &n->in[k]->type;
        cg_loop l[IR_MAX_RANK];
        LLVMValueRef src = cg_i64(c, 0), dst = cg_i64(c, at * so[ax]);
        if (blocks) {
            int64_t sx[IR_MAX_RANK];
            row_major(x, sx);
            int64_t block = x->dims[ax] * sx[ax];
            if (block) {
                for (int d = 0; d < ax; d++) {
                    LLVMValueRef iv = cg_loop_begin_split_if(c, d == sd, x->dims[d], &l[d]);
                    src = add(c, src, mul(c, iv, sx[d]));
                    dst = add(c, dst, mul(c, iv, so[d]));
                }
                LLVMTypeRef rt = raw_type(c, o->dtype);
                LLVMValueRef ps = LLVMBuildInBoundsGEP2(c->b, rt, ops[k], &src, 1, "");
                LLVMValueRef pd = LLVMBuildInBoundsGEP2(c->b, rt, out, &dst, 1, "");
                LLVMBuildMemCpy(c->b, pd, (unsigned)es, ps, (unsigned)es, cg_i64(c, block * (int64_t)es));
                for (int d = ax - 1; d >= 0; d--) cg_loop_end_rolled(c, &l[d]);
            }
            at += x->dims[ax];
            continue;
        }
        for (int d = 0; d < x->rank; d++) {
            LLVMValueRef iv = cg_loop_begin_split_if(c, d == sd, x->dims[d], &l[d]);
            src = add(c, mul(c, src, x->dims[d]), iv);
            dst = add(c, dst, mul(c, iv, so[d]));
        }
        raw_store(c, o->dtype, raw_load(c, o->dtype, ops[k], src), out, dst);
        for (int d = x->rank - 1; d >= 0; d--) cg_loop_end(c, &l[d]);
        at += x->dims[ax];
    }
    return true;
}

static bool emit_gather(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    const ir_type *p = &n->in[0]->type, *ix = &n->in[1]->type, *o = &n->type;
    int ax = n->attr.concat.axis;
    int64_t sp[IR_MAX_RANK];
    row_major(p, sp);
    cg_loop l[IR_MAX_RANK];
    LLVMValueRef src = cg_i64(c, 0), dst = cg_i64(c, 0), iidx = cg_i64(c, 0);
    int sd = cg_movement_split_dim(n);
    for (int d = 0; d < o->rank; d++) {
        LLVMValueRef iv = cg_loop_begin_split_if(c, d == sd, o->dims[d], &l[d]);
        dst = add(c, mul(c, dst, o->dims[d]), iv);
        if (d < ax) src = add(c, src, mul(c, iv, sp[d]));
        else if (d < ax + ix->rank) iidx = add(c, mul(c, iidx, ix->dims[d - ax]), iv);
        else src = add(c, src, mul(c, iv, sp[d - ix->rank + 1]));
    }
    LLVMValueRef k = cg_convert(c, cg_load(c, ix->dtype, ops[1], iidx), ix->dtype, KL_I64);
    src = add(c, src, mul(c, clamp(c, k, p->dims[ax] - 1), sp[ax]));
    raw_store(c, o->dtype, raw_load(c, o->dtype, ops[0], src), out, dst);
    for (int d = o->rank - 1; d >= 0; d--) cg_loop_end(c, &l[d]);
    return true;
}

/* y[i] = data[i with i[axis] replaced by the (wrapped, clamped) index at i]. */
static bool emit_gather_elements(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    const ir_type *p = &n->in[0]->type, *ix = &n->in[1]->type;
    int ax = n->attr.concat.axis;
    int64_t sp[IR_MAX_RANK];
    row_major(p, sp);
    cg_loop l[IR_MAX_RANK];
    LLVMValueRef src = cg_i64(c, 0), dst = cg_i64(c, 0);
    int sd = cg_movement_split_dim(n); /* the output has the indices' shape */
    for (int d = 0; d < ix->rank; d++) {
        LLVMValueRef iv = cg_loop_begin_split_if(c, d == sd, ix->dims[d], &l[d]);
        dst = add(c, mul(c, dst, ix->dims[d]), iv);
        if (d != ax) src = add(c, src, mul(c, iv, sp[d]));
    }
    LLVMValueRef k = cg_convert(c, cg_load(c, ix->dtype, ops[1], dst), ix->dtype, KL_I64);
    LLVMValueRef wrapped = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, k, cg_i64(c, 0), ""), add(c, k, cg_i64(c, p->dims[ax])), k, "");
    src = add(c, src, mul(c, clamp(c, wrapped, p->dims[ax] - 1), sp[ax]));
    raw_store(c, n->type.dtype, raw_load(c, n->type.dtype, ops[0], src), out, dst);
    for (int d = ix->rank - 1; d >= 0; d--) cg_loop_end(c, &l[d]);
    return true;
}

bool cg_emit_movement(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    if (n->op == KL_OP_GATHER_ELEMENTS) return ir_type_numel(&n->type) == 0 || emit_gather_elements(c, n, out, ops);
    if (ir_type_numel(&n->type) == 0) return true;
    if (n->op == KL_OP_CONCAT) return emit_concat(c, n, out, ops);
    if (n->op == KL_OP_GATHER) return emit_gather(c, n, out, ops);
    return emit_index_map(c, n, out, ops[0]);
}
