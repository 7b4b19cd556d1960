/* codegen/kernels.c — loop nests for elementwise, contraction and reduction
 * kernels, and the kernel dispatch (data movement: movement.c; windows:
 * conv.c; what each op computes: scalar.c).
 *
 * Loops have static trip counts and unit or zero strides in the innermost
 * dimension, so LLVM's loop vectorizer widens them for the target CPU.
 * Elementwise kernels evaluate their whole fused expression per element
 * (value_at), reading only the kernel's external inputs from memory.
 * Values are computed in a "compute type": f16 is widened to f32 on load
 * and narrowed on store (TF computes half precision in float on CPUs), bool
 * is an i8 holding 0 or 1.
 */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cg_internal.h"

/* ---- helpers ------------------------------------------------------------ */

LLVMValueRef cg_i64(cg *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(cg *c, double v) { return LLVMConstReal(c->f32, v); }

/* Storage type of a dtype. */
LLVMTypeRef cg_elem_type(cg *c, kl_dtype t)
{
    switch (t) {
    case KL_F32: return c->f32;
    case KL_F16: return LLVMHalfTypeInContext(c->ctx);
    case KL_F64: return LLVMDoubleTypeInContext(c->ctx);
    case KL_I8: case KL_U8: case KL_BOOL: return c->i8;
    case KL_I16: return LLVMInt16TypeInContext(c->ctx);
    case KL_I32: return c->i32;
    case KL_I64: return c->i64;
    case KL_DTYPE_COUNT: break;
    }
    KL_ASSERT(!"bad dtype");
}

/* Arithmetic type of a dtype: half computes in float. */
LLVMTypeRef cg_compute_type(cg *c, kl_dtype t) { return t == KL_F16 ? c->f32 : cg_elem_type(c, t); }


/* Operations a 32-bit or single-precision target could only do by calling
 * compiler-rt, which objects never reference: refused with the reason. */
static bool compiler_rt_free(cg *c, const ir_node *n)
{
    kl_dtype in = n->n_in ? n->in[0]->type.dtype : n->type.dtype, out = n->type.dtype;
    const char *why = NULL;
    if (c->m.caps & CG_CAP_PTR32) {
        bool i64_div = (n->op == KL_OP_DIV || n->op == KL_OP_FLOORDIV || n->op == KL_OP_FLOORMOD) && out == KL_I64;
        bool f_i64 = n->op == KL_OP_CAST && ((kl_dtype_is_float(in) && out == KL_I64) || (in == KL_I64 && kl_dtype_is_float(out)));
        if (i64_div) why = "64-bit integer division";
        if (f_i64) why = "a float <-> int64 conversion";
    }
    if ((c->m.caps & CG_CAP_NO_F64) && n->op == KL_OP_FLOORMOD && kl_dtype_is_float(out))
        why = "a float floormod (computed exactly in double precision)";
    if (why)
        kl_diag_error(c->d, "%s: node '%s' (%s): %s would need a compiler-rt call on %s (CPU %s); objects for it never call one",
                      c->g->source, n->name ? n->name : "", kl_op_name(n->op), why, c->m.target->name, c->m.cpu);
    return !why;
}

bool cg_dtype_ok(cg *c, const ir_node *n)
{
    /* The builders reject these; a hand-made or parsed graph may not have. */
    if ((kl_op_table[n->op].flags & KL_OPF_FLOAT) && !kl_dtype_is_float(n->type.dtype)) {
        kl_diag_error(c->d, "%s: node '%s' (%s): dtype %s: the op is defined on floating types only", c->g->source,
                      n->name ? n->name : "", kl_op_name(n->op), kl_dtype_name(n->type.dtype));
        return false;
    }
    /* Transcendentals exist in f32 only; f16 computes in f32, f64 lacks them. */
    bool f64_math = n->type.dtype == KL_F64 && (kl_op_table[n->op].flags & KL_OPF_FLOAT) && n->op != KL_OP_SQRT &&
                    n->op != KL_OP_RSQRT && n->op != KL_OP_FLOOR && n->op != KL_OP_CEIL && n->op != KL_OP_ROUND;
    f64_math |= n->type.dtype == KL_F64 && n->op == KL_OP_POW;
    if (f64_math)
        kl_diag_error(c->d, "%s: node '%s' (%s): dtype %s is not supported for this op yet (only f32/f16 have it)",
                      c->g->source, n->name ? n->name : "", kl_op_name(n->op), kl_dtype_name(n->type.dtype));
    /* arithmetic on f64 without a double-precision FPU would call compiler-rt;
     * moving f64 bytes (copies, data movement) is integer work and stays */
    bool soft_f64 = !f64_math && (c->m.caps & CG_CAP_NO_F64) && !(kl_op_table[n->op].flags & KL_OPF_DATA_MOVEMENT) && n->op != KL_OP_COPY &&
                    (n->type.dtype == KL_F64 || (n->n_in && n->in[0]->type.dtype == KL_F64));
    if (soft_f64)
        kl_diag_error(c->d, "%s: node '%s' (%s): dtype f64 needs a double-precision FPU, which %s (CPU %s) has not",
                      c->g->source, n->name ? n->name : "", kl_op_name(n->op), c->m.target->name, c->m.cpu);
    if (f64_math || soft_f64) return false;
    return compiler_rt_free(c, n);
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

LLVMValueRef cg_loop_begin(cg *c, int64_t n, cg_loop *l) { return cg_loop_begin_v(c, cg_i64(c, n), l); }

LLVMValueRef cg_loop_begin_v(cg *c, LLVMValueRef n, cg_loop *l)
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
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, l->iv, n, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(c->b, body);
    return l->iv;
}

LLVMValueRef cg_loop_begin_split(cg *c, int64_t n, cg_loop *l)
{
    if (!c->par_lo) return cg_loop_begin(c, n, l);
    LLVMValueRef iv = cg_loop_begin_v(c, LLVMBuildSub(c->b, c->par_hi, c->par_lo, ""), l);
    return LLVMBuildAdd(c->b, c->par_lo, iv, "");
}

void cg_loop_end(cg *c, cg_loop *l)
{
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
    LLVMValueRef next = LLVMBuildNSWAdd(c->b, l->iv, cg_i64(c, 1), "");
    LLVMBuildBr(c->b, l->header);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(c->b, l->exit);
}

/* The loop's back edge with loop metadata {key} or {key, i1 value}. */
static void loop_end_md(cg *c, cg_loop *l, const char *key, int value)
{
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
    LLVMValueRef next = LLVMBuildNSWAdd(c->b, l->iv, cg_i64(c, 1), "");
    LLVMValueRef br = LLVMBuildBr(c->b, l->header);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMMetadataRef ops[2] = {LLVMMDStringInContext2(c->ctx, key, strlen(key)),
                              value < 0 ? NULL : LLVMValueAsMetadata(LLVMConstInt(c->i1, (unsigned long long)value, 0))};
    LLVMMetadataRef opt = LLVMMDNodeInContext2(c->ctx, ops, value < 0 ? 1 : 2);
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(c->ctx, NULL, 0);
    LLVMMetadataRef loop = LLVMMDNodeInContext2(c->ctx, (LLVMMetadataRef[]){tmp, opt}, 2);
    LLVMMetadataReplaceAllUsesWith(tmp, loop); /* a loop ID refers to itself */
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(c->ctx, "llvm.loop", 9), LLVMMetadataAsValue(c->ctx, loop));
    LLVMPositionBuilderAtEnd(c->b, l->exit);
}

/* The loop's back edge says "do not vectorize": for loops whose body LLVM
 * would otherwise widen across iterations into gathers and scatters (the
 * GEMM epilogue's row loop, once its short column loop is unrolled). */
void cg_loop_end_scalar(cg *c, cg_loop *l) { loop_end_md(c, l, "llvm.loop.vectorize.enable", 0); }

/* The loop's back edge says "do not unroll": loops around a block copy,
 * which LLVM would unroll fully into one inlined memcpy per iteration. */
void cg_loop_end_rolled(cg *c, cg_loop *l) { loop_end_md(c, l, "llvm.loop.unroll.disable", -1); }

/* Loads in the compute type. */
LLVMValueRef cg_load(cg *c, kl_dtype t, LLVMValueRef base, LLVMValueRef index)
{
    LLVMValueRef v = LLVMBuildLoad2(c->b, cg_elem_type(c, t), cg_elem_ptr(c, t, base, index), "");
    return t == KL_F16 ? cg_half_to_float(c, v) : v;
}

void cg_store(cg *c, kl_dtype t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef index)
{
    if (t == KL_F16) v = cg_float_to_half(c, v);
    LLVMBuildStore(c->b, v, cg_elem_ptr(c, t, base, index));
}

/* A private, read-only, 64-byte aligned global holding `init`. */
LLVMValueRef cg_const_global(cg *c, const char *name, LLVMValueRef init)
{
    LLVMValueRef gv = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(gv, 64);
    return gv;
}

/* One global per length, so kernels that differ only in which zeros they
 * read are the same function (module.c merges those before optimizing). */
LLVMValueRef cg_zero_floats(cg *c, int64_t n)
{
    char name[48];
    snprintf(name, sizeof name, "kiln_zeros%lld", (long long)(n > 0 ? n : 1));
    LLVMValueRef g = LLVMGetNamedGlobal(c->mod, name);
    return g ? g : cg_const_global(c, name, LLVMConstNull(LLVMArrayType2(c->f32, (uint64_t)(n > 0 ? n : 1))));
}

int cg_vector_floats(const cg *c) { return c->m.vector_floats; }

/* Allocas go in the entry block: inside a loop they would grow the stack
 * every iteration at -O0, where nothing hoists them. */
LLVMValueRef cg_entry_alloca(cg *c, LLVMTypeRef t, const char *name)
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
LLVMValueRef cg_fadd_reassoc(cg *c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef v = LLVMBuildFAdd(c->b, a, b, "");
    LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
    return v;
}

/* ---- elementwise (loop-fused) kernels ----------------------------------- */

typedef struct ew_ctx {
    cg *c;
    ir_node *root; /* root of the kernel: its plan entry says which nodes are computed here */
    ir_node **in_nodes;
    LLVMValueRef *inputs, *offsets; /* offsets[i]: element index into inputs[i] */
    int n_inputs;
    ir_node **memo_node;
    LLVMValueRef *memo_val;
    int n_memo;
    /* fused pads and concats: the output index range [seg_lo, seg_hi) of
     * the loop nest being emitted, per output dim (emit_gated_nest splits
     * the nest at every operand edge); their operands' slots are consecutive */
    const int64_t *seg_lo, *seg_hi;
} ew_ctx;

/* A fused pad (constant mode) or concat at the current element.  The loop
 * nest around it never straddles an edge of an operand (emit_gated_nest),
 * so which operand supplies the element, or whether it is padding, is known
 * at compile time: an operand is read only inside its own range, so no load
 * touches memory outside it at any vector width, and no select is needed. */
static LLVMValueRef gated_view_value(ew_ctx *k, ir_node *n)
{
    cg *c = k->c;
    kl_dtype t = n->type.dtype;
    int first = -1;
    for (int i = 0; i < k->n_inputs && first < 0; i++)
        if (k->in_nodes[i] == n) first = i;
    KL_ASSERT(first >= 0 && k->seg_lo);
    if (n->op == KL_OP_PAD) {
        const ir_type *tx = &n->in[0]->type;
        bool inside = true;
        for (int d = 0; d < n->type.rank; d++)
            inside &= k->seg_lo[d] >= n->attr.pad.lo[d] && k->seg_hi[d] <= n->attr.pad.lo[d] + tx->dims[d];
        if (inside) return cg_load(c, t, k->inputs[first], k->offsets[first]);
        return kl_dtype_is_float(t) ? LLVMConstReal(cg_compute_type(c, t), n->attr.pad.value)
                                    : LLVMConstInt(cg_compute_type(c, t), (unsigned long long)(long long)n->attr.pad.value, 1);
    }
    int axis = n->attr.concat.axis;
    int64_t start = 0;
    for (int j = 0; j < n->n_in; j++) {
        int64_t end = start + n->in[j]->type.dims[axis];
        if (k->seg_lo[axis] >= start && k->seg_hi[axis] <= end) return cg_load(c, t, k->inputs[first + j], k->offsets[first + j]);
        start = end;
    }
    KL_ASSERT(!"segment outside every concat operand");
    return NULL;
}

static LLVMValueRef value_at(ew_ctx *k, ir_node *n)
{
    for (int i = 0; i < k->n_memo; i++)
        if (k->memo_node[i] == n) return k->memo_val[i];
    LLVMValueRef v = NULL;
    bool member = cg_in_kernel(k->c, k->root, n);
    if (member && (n->op == KL_OP_PAD || n->op == KL_OP_CONCAT)) {
        v = gated_view_value(k, n);
    } else if (member && !op_is_view(n->op)) { /* computed in this kernel (a fused view is a load) */
        LLVMValueRef ops[3];
        for (int i = 0; i < n->n_in && i < 3; i++) ops[i] = value_at(k, n->in[i]);
        v = cg_elementwise_op(k->c, n, ops);
    } else {
        for (int i = 0; i < k->n_inputs && !v; i++)
            if (k->in_nodes[i] == n) v = cg_load(k->c, n->type.dtype, k->inputs[i], k->offsets[i]);
        KL_ASSERT(v);
    }
    k->memo_node[k->n_memo] = n;
    k->memo_val[k->n_memo++] = v;
    return v;
}

static LLVMValueRef kernel_value_of(cg *c, ir_node *root, ir_node *target, ir_node *seed, LLVMValueRef seed_val,
                                    ir_node **in_nodes, LLVMValueRef *inputs, LLVMValueRef *offsets, int n_in);

/* The root's value and the kernel's further outputs (ir/plan.h: a fused
 * state update, of the root's shape) at one element, at offset `at` of
 * each: every value is computed, so every load of the element is issued,
 * before the first store (an output may be written in place of an input
 * the kernel reads at the same index: passes/bufassign.c). */
static void store_outputs(ew_ctx *k, LLVMValueRef out, LLVMValueRef at)
{
    cg *c = k->c;
    const kl_kernel *kern = cg_kernel_of(c, k->root);
    LLVMValueRef v = value_at(k, k->root);
    for (int o = 0; o < kern->n_outputs; o++) value_at(k, kern->outputs[o]);
    for (int o = 0; o < kern->n_outputs; o++) {
        ir_node *x = kern->outputs[o];
        KL_ASSERT(c->out_ptrs);
        cg_store(c, x->type.dtype, value_at(k, x), c->out_ptrs[o], at);
    }
    cg_store(c, k->root->type.dtype, v, out, at);
}

LLVMValueRef cg_kernel_value(cg *c, ir_node *root, ir_node *seed, LLVMValueRef seed_val, ir_node **in_nodes,
                             LLVMValueRef *inputs, LLVMValueRef *offsets, int n_in)
{
    return kernel_value_of(c, root, root, seed, seed_val, in_nodes, inputs, offsets, n_in);
}

/* Value of `target`, a member of root's kernel, at one element. */
static LLVMValueRef kernel_value_of(cg *c, ir_node *root, ir_node *target, ir_node *seed, LLVMValueRef seed_val,
                                    ir_node **in_nodes, LLVMValueRef *inputs, LLVMValueRef *offsets, int n_in)
{
    size_t cap = (size_t)c->g->n_nodes + 2;
    ew_ctx k = {c, root, in_nodes, inputs, offsets, n_in, kl_calloc(NULL, cap, sizeof(ir_node *), "code generation"), kl_calloc(NULL, cap, sizeof(LLVMValueRef), "code generation"), 0, NULL, NULL};
    if (!k.memo_node || !k.memo_val) kl_die(__FILE__, __LINE__, "out of memory");
    k.memo_node[0] = seed;
    k.memo_val[0] = seed_val;
    k.n_memo = seed != NULL;
    LLVMValueRef v = value_at(&k, target);
    free(k.memo_node);
    free(k.memo_val);
    return v;
}

/* Loop dims of the output after merging neighbours that every operand
 * walks contiguously (or not at all), so [100,16] + [16] stays 2 loops but
 * [100,16] + [100,16] becomes one loop of 1600. */
static int collapse_dims(const ir_node *root, int n_slots, int64_t (*s)[IR_MAX_RANK], int64_t *dims,
                         int64_t (*strides)[IR_MAX_RANK])
{
    int rank = root->type.rank, r = 0;
    for (int d = 0; d < rank; d++) {
        /* an extent-1 dim never moves an offset, but its strides (a
         * [1,1,1,C] bias's C) would keep the dims around it apart: the
         * outer loop of a batch-1 kernel would have one iteration and the
         * kernel could not split */
        if (root->type.dims[d] == 1) continue;
        bool merge = r > 0;
        for (int i = 0; merge && i <= n_slots; i++) merge = strides[i][r - 1] == s[i][d] * root->type.dims[d];
        if (merge) {
            dims[r - 1] *= root->type.dims[d];
            for (int i = 0; i <= n_slots; i++) strides[i][r - 1] = s[i][d];
        } else {
            dims[r] = root->type.dims[d];
            for (int i = 0; i <= n_slots; i++) strides[i][r] = s[i][d];
            r++;
        }
    }
    if (r == 0 && rank > 0) { /* every dim has extent 1 */
        dims[0] = 1;
        for (int i = 0; i <= n_slots; i++) strides[i][0] = 0;
        r = 1;
    }
    return r;
}

/* A transpose or slice fused into an elementwise kernel is read as a
 * strided view of its (materialized) operand: element strides over the
 * view's index space, and the offset of its first element. */
static int64_t view_strides(const ir_node *v, int64_t *sv)
{
    const ir_type *tx = &v->in[0]->type;
    int64_t sx[IR_MAX_RANK], st = 1, base = 0;
    for (int d = tx->rank - 1; d >= 0; d--) sx[d] = st, st *= tx->dims[d];
    for (int d = 0; d < v->type.rank; d++) {
        if (v->op == KL_OP_TRANSPOSE) {
            sv[d] = sx[v->attr.transpose.perm[d]];
        } else {
            sv[d] = v->attr.slice.stride[d] * sx[d];
            base += v->attr.slice.begin[d] * sx[d];
        }
        if (v->type.dims[d] == 1) sv[d] = 0;
    }
    return base;
}

/* The edges on output dim d of a kernel with fused pads and concats: 0, the
 * extent, and where each pad's operand or each concat operand starts and
 * ends; sorted, unique, within [0, extent].  Returns their count. */
static int gated_cuts(const cg *c, const ir_node *root, int d, int64_t *cuts)
{
    int n = 0;
    int64_t extent = root->type.dims[d];
    cuts[n++] = 0, cuts[n++] = extent;
    const kl_kernel *k = cg_kernel_of(c, root);
    for (int i = 0; i < k->n_members; i++) {
        const ir_node *m = k->members[i];
        if (m == root) continue;
        if (m->op == KL_OP_PAD) {
            cuts[n++] = m->attr.pad.lo[d], cuts[n++] = m->attr.pad.lo[d] + m->in[0]->type.dims[d];
        } else if (m->op == KL_OP_CONCAT && m->attr.concat.axis == d) {
            int64_t start = 0;
            for (int j = 0; j < m->n_in; j++) cuts[n++] = start += m->in[j]->type.dims[d];
        }
    }
    int u = 0;
    for (int i = 0; i < n; i++) { /* insertion sort, clipped, duplicates dropped */
        int64_t v = cuts[i] < 0 ? 0 : cuts[i] > extent ? extent : cuts[i];
        int j = u;
        while (j > 0 && cuts[j - 1] > v) j--;
        if (j > 0 && cuts[j - 1] == v) continue;
        memmove(cuts + j + 1, cuts + j, (size_t)(u - j) * sizeof *cuts);
        cuts[j] = v, u++;
    }
    return u;
}

/* Room gated_cuts needs for any dim of root's kernel. */
static int gated_cut_room(const cg *c, const ir_node *root)
{
    int n = 2;
    const kl_kernel *k = cg_kernel_of(c, root);
    for (int i = 0; i < k->n_members; i++) {
        const ir_node *m = k->members[i];
        if (m != root) n += m->op == KL_OP_PAD ? 2 : m->op == KL_OP_CONCAT ? m->n_in : 0;
    }
    return n;
}

typedef struct gated_nest {
    ew_ctx *k;
    LLVMValueRef out;
    int rank;
    int64_t (*strides)[IR_MAX_RANK];
    int64_t *cuts[IR_MAX_RANK];
    int n_cuts[IR_MAX_RANK];
    int64_t lo[IR_MAX_RANK], hi[IR_MAX_RANK];
    int split_d; /* the dim whose loop is restricted to [par_lo, par_hi) (gated_split_dim), -1: none */
} gated_nest;

/* The dim a kernel with fused pads/concats splits: its first output dim of
 * extent > 1, when no operand edge cuts it (one segment, so one loop to
 * restrict; every loop outside it runs once).  -1: none. */
static int gated_split_dim(const cg *c, const ir_node *root)
{
    int d = cg_outer_split_dim(&root->type);
    if (d < 0) return -1;
    int64_t *cuts = kl_calloc(NULL, (size_t)gated_cut_room(c, root), sizeof *cuts, "code generation");
    int n = gated_cuts(c, root, d, cuts);
    free(cuts);
    return n == 2 ? d : -1;
}

/* Loops over dims d.. of the output, one loop per segment between two cuts
 * of each dim; offs: the slots' offsets at the enclosing indices (room for
 * one more level after them). */
static void emit_gated_nest(gated_nest *g, int d, LLVMValueRef *offs)
{
    ew_ctx *k = g->k;
    cg *c = k->c;
    int n_slots = k->n_inputs;
    if (d == g->rank) {
        k->offsets = offs, k->n_memo = 0;
        store_outputs(k, g->out, offs[n_slots]);
        return;
    }
    LLVMValueRef *next = offs + n_slots + 1;
    for (int s = 0; s + 1 < g->n_cuts[d]; s++) {
        int64_t a = g->cuts[d][s], b = g->cuts[d][s + 1];
        cg_loop l;
        LLVMValueRef iv = d == g->split_d ? cg_loop_begin_split(c, b - a, &l) /* a = 0: one segment */
                                          : LLVMBuildNSWAdd(c->b, cg_loop_begin(c, b - a, &l), cg_i64(c, a), "");
        for (int i = 0; i <= n_slots; i++)
            next[i] = g->strides[i][d] ? LLVMBuildNSWAdd(c->b, offs[i], LLVMBuildNSWMul(c->b, iv, cg_i64(c, g->strides[i][d]), ""), "")
                                       : offs[i];
        g->lo[d] = a, g->hi[d] = b;
        emit_gated_nest(g, d + 1, next);
        cg_loop_end(c, &l);
    }
}

/* An elementwise kernel with fused pads/concats: its loops are per output
 * dim (never collapsed; split over threads along gated_split_dim) and split at every operand
 * edge, so each fused read is known in range where it is emitted.  The
 * number of loop nests is bounded by the fuse pass (IR_MAX_GATED_PIECES). */
static void emit_gated(ew_ctx *k, LLVMValueRef out, int64_t (*strides)[IR_MAX_RANK])
{
    cg *c = k->c;
    gated_nest g = {k, out, k->root->type.rank, strides, {0}, {0}, {0}, {0}, gated_split_dim(c, k->root)};
    int room = gated_cut_room(c, k->root);
    int64_t *cuts = kl_calloc(NULL, (size_t)room * (size_t)(g.rank ? g.rank : 1), sizeof *cuts, "code generation");
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)(g.rank + 1) * (size_t)(k->n_inputs + 1), sizeof *offs, "code generation");
    if (!cuts || !offs) kl_die(__FILE__, __LINE__, "out of memory");
    for (int d = 0; d < g.rank; d++) g.cuts[d] = cuts + (size_t)d * (size_t)room, g.n_cuts[d] = gated_cuts(c, k->root, d, g.cuts[d]);
    for (int i = 0; i <= k->n_inputs; i++) offs[i] = k->offsets[i];
    k->seg_lo = g.lo, k->seg_hi = g.hi;
    emit_gated_nest(&g, 0, offs);
    free(cuts);
    free(offs);
}

/* Outermost loop extent of an elementwise kernel, and whether it has pads or
 * concats (emit_elementwise's layout, computed the same way). */
static int64_t ew_outer(cg *c, ir_node *root, ir_node **in_nodes, int n_in, bool *gated_out);

/* With out == NULL only the layout is computed: returns the outermost loop
 * extent; with pads or concats, the extent of gated_split_dim, or -1 when
 * it has none (never split). */
static int64_t emit_elementwise(cg *c, ir_node *root, LLVMValueRef out, ir_node **in_nodes, LLVMValueRef *inputs, int n_in)
{
    /* slots: the kernel's inputs, then one per fused view, then the output */
    int n_views = 0;
    bool gated = false;
    const kl_kernel *kern = cg_kernel_of(c, root);
    for (int i = 0; i < kern->n_members; i++) {
        ir_node *m = kern->members[i];
        if (m == root) continue;
        if (op_is_view(m->op) || m->op == KL_OP_PAD) n_views++;
        if (m->op == KL_OP_CONCAT) n_views += m->n_in;
        gated |= m->op == KL_OP_PAD || m->op == KL_OP_CONCAT;
    }
    int n_slots = n_in + n_views;
    int64_t *base = kl_calloc(NULL, (size_t)n_slots + 1, sizeof *base, "code generation");
    ir_node **nodes = kl_calloc(NULL, (size_t)n_slots + 1, sizeof *nodes, "code generation");
    LLVMValueRef *ptrs = kl_calloc(NULL, (size_t)n_slots + 1, sizeof *ptrs, "code generation");
    int64_t (*full)[IR_MAX_RANK] = kl_calloc(NULL, (size_t)n_slots + 1, sizeof *full, "code generation");
    int64_t dims[IR_MAX_RANK], (*strides)[IR_MAX_RANK] = kl_calloc(NULL, (size_t)n_slots + 1, sizeof *strides, "code generation");
    int rank_out = root->type.rank;
    for (int i = 0; i < n_in; i++) {
        nodes[i] = in_nodes[i], ptrs[i] = inputs ? inputs[i] : NULL;
        ir_broadcast_strides(&in_nodes[i]->type, rank_out, root->type.dims, full[i]);
    }
    for (int i = 0, v = n_in; i < kern->n_members; i++) {
        ir_node *m = kern->members[i];
        if (m == root || !ir_fusable_movement(m)) continue;
        int parts = m->op == KL_OP_CONCAT ? m->n_in : 1;
        int64_t start = 0;
        for (int part = 0; part < parts; part++, v++) {
            const ir_node *x = m->in[part];
            if (op_is_view(m->op)) {
                base[v] = view_strides(m, full[v]); /* same dims as the root: fuse requires it */
            } else { /* pad / concat operand: row-major strides, shifted by lo or by the operand's start */
                int64_t st = 1;
                for (int d = x->type.rank - 1; d >= 0; d--) {
                    full[v][d] = x->type.dims[d] == 1 ? 0 : st;
                    int64_t shift = m->op == KL_OP_PAD ? m->attr.pad.lo[d] : d == m->attr.concat.axis ? start : 0;
                    base[v] -= shift * full[v][d]; /* an extent-1 dim is read at 0 wherever it is placed */
                    st *= x->type.dims[d];
                }
                if (m->op == KL_OP_CONCAT) start += x->type.dims[m->attr.concat.axis];
            }
            bool found = false;
            for (int j = 0; j < n_in; j++)
                if (in_nodes[j] == x) ptrs[v] = inputs ? inputs[j] : NULL, found = true;
            KL_ASSERT(found); /* fuse keeps a fused view's operand materialized */
            nodes[v] = m;
        }
    }
    ir_broadcast_strides(&root->type, rank_out, root->type.dims, full[n_slots]);
    int rank = rank_out;
    if (gated) { /* bounds are per output dim: no collapsing */
        for (int d = 0; d < rank_out; d++) {
            dims[d] = root->type.dims[d];
            for (int i = 0; i <= n_slots; i++) strides[i][d] = full[i][d];
        }
    } else {
        rank = collapse_dims(root, n_slots, full, dims, strides);
    }
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)n_slots + 1, sizeof *offs, "code generation");
    for (int i = 0; i <= n_slots; i++) offs[i] = cg_i64(c, base[i]);
    cg_loop loops[IR_MAX_RANK];
    if (!out) { /* asked for the layout only (ew_outer) */
        int64_t outer = rank ? dims[0] : 1;
        free(strides), free(full), free(offs), free(nodes), free(ptrs), free(base);
        if (gated) { /* split along gated_split_dim, if it has one */
            int sd = gated_split_dim(c, root);
            return sd < 0 ? -1 : root->type.dims[sd];
        }
        return outer;
    }
    size_t cap = (size_t)c->g->n_nodes + 1;
    ew_ctx k = {c, root, nodes, ptrs, offs, n_slots, kl_calloc(NULL, cap, sizeof(ir_node *), "code generation"), kl_calloc(NULL, cap, sizeof(LLVMValueRef), "code generation"), 0,
                NULL, NULL};
    if (!k.memo_node || !k.memo_val) kl_die(__FILE__, __LINE__, "out of memory");
    if (gated) {
        emit_gated(&k, out, strides);
    } else {
        for (int d = 0; d < rank; d++) {
            LLVMValueRef iv = d ? cg_loop_begin(c, dims[d], &loops[d]) : cg_loop_begin_split(c, dims[d], &loops[d]);
            for (int i = 0; i <= n_slots; i++)
                if (strides[i][d]) offs[i] = LLVMBuildNSWAdd(c->b, offs[i], LLVMBuildNSWMul(c->b, iv, cg_i64(c, strides[i][d]), ""), "");
        }
        store_outputs(&k, out, offs[n_slots]);
        for (int d = rank - 1; d >= 0; d--) cg_loop_end(c, &loops[d]);
    }
    free(k.memo_node);
    free(k.memo_val);
    free(strides), free(full), free(offs), free(nodes), free(ptrs), free(base);
    return 1;
}

static int64_t ew_outer(cg *c, ir_node *root, ir_node **in_nodes, int n_in, bool *gated_out)
{
    int64_t r = emit_elementwise(c, root, NULL, in_nodes, NULL, n_in);
    *gated_out = r < 0;
    return r < 0 ? -r : r;
}

bool cg_is_depthwise_f32(const ir_node *n)
{
    return n->op == KL_OP_CONV2D && n->type.dtype == KL_F32 && n->in[1]->type.dims[2] == 1 &&
           n->attr.conv.groups == n->type.dims[3];
}

static bool reduce_by_rows(const ir_node *n);
static int reduce_split_dim(const ir_node *n);
static int matmul_split(const cg_options *o, const ir_node *n, int64_t *units);

/* Window ops other than the depthwise conv and the pools (which split by
 * image x output row, like the depthwise conv) split by image
 * (emit_window_batches). */
static bool window_by_images(const ir_node *n)
{
    bool window = n->op == KL_OP_CONV2D_TRANSPOSE ||
                  (n->op == KL_OP_CONV2D && !cg_is_depthwise_f32(n));
    return window && (n->type.dtype == KL_F32 || n->type.dtype == KL_F16);
}

/* Trip count of the loop root's emitter restricts when split (codegen/split.c
 * says which), 0 when its nest has none that can. */
static int64_t split_loop_units(cg *c, ir_node *root, ir_node **in_nodes, int n_in)
{
    bool gated;
    const ir_type *t = &root->type;
    int64_t numel = ir_type_numel(t), units = 0;
    if (numel == 0) return 0;
    if (op_is_elementwise(root->op)) {
        units = ew_outer(c, root, in_nodes, n_in, &gated);
        return gated ? 0 : units; /* its loops are per output dim; dim 0 is usually the batch */
    }
    switch (root->op) {
    case KL_OP_SOFTMAX: case KL_OP_LOG_SOFTMAX: {
        int64_t cols = t->rank ? t->dims[t->rank - 1] : 1;
        return cols ? numel / cols : 0;
    }
    case KL_OP_CONV2D:
        if (cg_is_depthwise_f32(root)) return t->dims[0] * t->dims[1]; /* images x output rows */
        return window_by_images(root) ? t->dims[0] : 0;
    case KL_OP_MAX_POOL: case KL_OP_AVG_POOL: /* images x output rows */
        return t->dtype == KL_F32 || t->dtype == KL_F16 ? t->dims[0] * t->dims[1] : 0;
    case KL_OP_CONV2D_TRANSPOSE:
        return window_by_images(root) ? t->dims[0] : 0;
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX: case KL_OP_REDUCE_MIN:
    case KL_OP_REDUCE_PROD: case KL_OP_ARGMAX: case KL_OP_ARGMIN: {
        int d = reduce_split_dim(root);
        return d < 0 ? 0 : root->in[0]->type.dims[d];
    }
    case KL_OP_TRANSPOSE: case KL_OP_SLICE: case KL_OP_PAD: case KL_OP_TILE: case KL_OP_CONCAT: case KL_OP_GATHER:
    case KL_OP_GATHER_ELEMENTS: {
        int d = cg_movement_split_dim(root);
        return d < 0 ? 0 : t->dims[d]; /* gather_elements: its output has the indices' shape */
    }
    case KL_OP_CUMSUM: case KL_OP_CUMPROD: {
        int64_t outer = 1;
        for (int i = 0; i < root->attr.concat.axis; i++) outer *= t->dims[i];
        return outer;
    }
    case KL_OP_MATMUL: matmul_split(c->o, root, &units); return units;
    default: return 0; /* scatter, dynamic slices, control flow: one thread */
    }
}

int64_t cg_kernel_units(cg *c, ir_node *root, ir_node **in_nodes, int n_in)
{
    bool by_cols;
    ir_node *gm = cg_kernel_contraction(c->g, root);
    if (gm) return cg_gemm_units(c->o, gm, &by_cols);
    const kl_kernel *k = cg_kernel_of(c, root);
    if (!k || c->o->threads <= 1 || c->o->opt_level < 1) return 0;
    int64_t units = split_loop_units(c, root, in_nodes, n_in);
    return cg_split_pays(c->o, cg_kernel_work_ns(k), units) ? units : 0;
}

/* ---- matmul (batched, broadcasting batch dims) -------------------------- */

static LLVMValueRef mul_add(cg *c, bool f, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b, bool reassoc)
{
    if (!f) return LLVMBuildAdd(c->b, acc, LLVMBuildMul(c->b, a, b, ""), "");
    LLVMValueRef prod = LLVMBuildFMul(c->b, a, b, "");
    LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
    if (reassoc) return cg_fadd_reassoc(c, acc, prod);
    LLVMValueRef s = LLVMBuildFAdd(c->b, acc, prod, "");
    LLVMSetFastMathFlags(s, LLVMFastMathAllowContract);
    return s;
}

static LLVMValueRef add_i64(cg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef mul_i64(cg *c, LLVMValueRef a, int64_t k) { return LLVMBuildMul(c->b, a, cg_i64(c, k), ""); }

bool cg_matmul_uses_blas(const cg_options *o, const ir_node *n)
{
    if (n->op != KL_OP_MATMUL || n->type.dtype != KL_F32 || n->gemm || !cg_target_is_host(o->target)) return false;
    const ir_type *ta = &n->in[0]->type;
    int ro = n->type.rank;
    int64_t m = n->type.dims[ro - 2], nn = n->type.dims[ro - 1];
    int64_t k = n->attr.matmul.transpose_a ? ta->dims[ta->rank - 2] : ta->dims[ta->rank - 1];
    return m >= 64 && nn >= 64 && k >= 64;
}

bool cg_graph_uses_runtime(const ir_graph *g, const cg_options *o)
{
    bool by_cols;
    if (g->dist_tasks > 0 || g->dist_fingerprint) return true; /* send/recv, allreduce: runtime/dist.c */
    for (int j = 0; g->plan && j < g->plan->n_kernels; j++) {
        const kl_kernel *k = &g->plan->kernels[j];
        if (cg_matmul_uses_blas(o, k->root)) return true;
        if (k->contraction && cg_gemm_units(o, k->contraction, &by_cols)) return true;
        if (!k->contraction && cg_split_pays(o, cg_kernel_work_ns(k), INT64_MAX)) return true; /* may split */
    }
    return false;
}

/* One kiln_rt_sgemm call per batch matrix (batch offsets as in emit_matmul). */
static LLVMValueRef sgemm_decl(cg *c)
{
    LLVMValueRef fn = LLVMGetNamedFunction(c->mod, "kiln_rt_sgemm");
    LLVMTypeRef params[] = {c->i32, c->i32, c->i64, c->i64, c->i64, c->ptr, c->i64, c->ptr, c->i64, c->ptr, c->i64};
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, params, 11, 0);
    return fn ? fn : LLVMAddFunction(c->mod, "kiln_rt_sgemm", ft);
}

static LLVMValueRef f32_at(cg *c, LLVMValueRef base, LLVMValueRef index) { return cg_elem_ptr(c, KL_F32, base, index); }

/* The generic matmul nest (not the GEMM path, not BLAS) splits its first
 * batch loop of extent > 1, or its rows when every batch loop runs once:
 * returns that loop's index (0..rank-3 a batch dim, rank-2 the rows; -1 none)
 * and its trip count. */
static int matmul_split(const cg_options *o, const ir_node *n, int64_t *units)
{
    *units = 0;
    if (n->op != KL_OP_MATMUL || cg_matmul_uses_blas(o, n) || n->type.rank < 2) return -1;
    int ro = n->type.rank, d = 0;
    while (d < ro - 2 && n->type.dims[d] == 1) d++;
    *units = n->type.dims[d];
    return d;
}

static bool emit_matmul(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef a, LLVMValueRef b)
{
    if (cg_matmul_uses_blas(c->o, n)) {
        const ir_type *ta = &n->in[0]->type, *tb = &n->in[1]->type, *to = &n->type;
        bool tra = n->attr.matmul.transpose_a, trb = n->attr.matmul.transpose_b;
        int ra = ta->rank, rb = tb->rank, ro = to->rank;
        int64_t m = to->dims[ro - 2], nn = to->dims[ro - 1], k = tra ? ta->dims[ra - 2] : ta->dims[ra - 1];
        ir_type batch = ir_type_make(KL_F32, ro - 2, to->dims), ba = ir_type_make(KL_F32, ra - 2, ta->dims),
                bb = ir_type_make(KL_F32, rb - 2, tb->dims);
        int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK], so[IR_MAX_RANK];
        ir_broadcast_strides(&ba, ro - 2, batch.dims, sa);
        ir_broadcast_strides(&bb, ro - 2, batch.dims, sb);
        ir_broadcast_strides(&batch, ro - 2, batch.dims, so);
        cg_loop lb[IR_MAX_RANK];
        LLVMValueRef oa = cg_i64(c, 0), ob = cg_i64(c, 0), oo = cg_i64(c, 0);
        for (int d = 0; d < ro - 2; d++) {
            LLVMValueRef iv = cg_loop_begin(c, batch.dims[d], &lb[d]);
            oa = LLVMBuildAdd(c->b, oa, LLVMBuildMul(c->b, iv, cg_i64(c, sa[d] * m * k), ""), "");
            ob = LLVMBuildAdd(c->b, ob, LLVMBuildMul(c->b, iv, cg_i64(c, sb[d] * k * nn), ""), "");
            oo = LLVMBuildAdd(c->b, oo, LLVMBuildMul(c->b, iv, cg_i64(c, so[d] * m * nn), ""), "");
        }
        LLVMValueRef fn = sgemm_decl(c);
        LLVMValueRef args[] = {LLVMConstInt(c->i32, tra, 0), LLVMConstInt(c->i32, trb, 0), cg_i64(c, m), cg_i64(c, nn), cg_i64(c, k),
                               f32_at(c, a, oa), cg_i64(c, tra ? m : k), f32_at(c, b, ob), cg_i64(c, trb ? k : nn),
                               f32_at(c, out, oo), cg_i64(c, nn)};
        LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, 11, "");
        for (int d = ro - 3; d >= 0; d--) cg_loop_end(c, &lb[d]);
        return true;
    }
    const ir_type *ta = &n->in[0]->type, *tb = &n->in[1]->type, *to = &n->type;
    kl_dtype t = to->dtype;
    bool tra = n->attr.matmul.transpose_a, trb = n->attr.matmul.transpose_b, f = kl_dtype_is_float(t);
    int ra = ta->rank, rb = tb->rank, ro = to->rank;
    int64_t m = to->dims[ro - 2], nn = to->dims[ro - 1], k = tra ? ta->dims[ra - 2] : ta->dims[ra - 1];
    LLVMTypeRef ct = cg_compute_type(c, t);
    LLVMValueRef zero = f ? LLVMConstReal(ct, 0) : LLVMConstInt(ct, 0, 0);
    /* batch loops with broadcast strides (in matrices) */
    ir_type batch = ir_type_make(t, ro - 2, to->dims), ba = ir_type_make(t, ra - 2, ta->dims), bb = ir_type_make(t, rb - 2, tb->dims);
    int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK], so[IR_MAX_RANK];
    ir_broadcast_strides(&ba, ro - 2, batch.dims, sa);
    ir_broadcast_strides(&bb, ro - 2, batch.dims, sb);
    ir_broadcast_strides(&batch, ro - 2, batch.dims, so);
    cg_loop lb[IR_MAX_RANK], li, lj, lp;
    int64_t units;
    int sd = matmul_split(c->o, n, &units); /* the loop a split kernel restricts */
    LLVMValueRef oa = cg_i64(c, 0), ob = cg_i64(c, 0), oo = cg_i64(c, 0);
    for (int d = 0; d < ro - 2; d++) {
        LLVMValueRef iv = cg_loop_begin_split_if(c, d == sd, batch.dims[d], &lb[d]);
        oa = add_i64(c, oa, mul_i64(c, iv, sa[d] * m * k));
        ob = add_i64(c, ob, mul_i64(c, iv, sb[d] * k * nn));
        oo = add_i64(c, oo, mul_i64(c, iv, so[d] * m * nn));
    }
    LLVMValueRef i = cg_loop_begin_split_if(c, sd == ro - 2, m, &li);
    if (trb) { /* dot products: both operands contiguous along k when !tra */
        LLVMValueRef j = cg_loop_begin(c, nn, &lj);
        LLVMValueRef acc = cg_entry_alloca(c, ct, "acc");
        LLVMBuildStore(c->b, zero, acc);
        LLVMValueRef p = cg_loop_begin(c, k, &lp);
        LLVMValueRef ia = add_i64(c, oa, tra ? add_i64(c, mul_i64(c, p, m), i) : add_i64(c, mul_i64(c, i, k), p));
        LLVMValueRef ib = add_i64(c, ob, add_i64(c, mul_i64(c, j, k), p));
        LLVMValueRef cur = LLVMBuildLoad2(c->b, ct, acc, "");
        LLVMBuildStore(c->b, mul_add(c, f, cur, cg_load(c, t, a, ia), cg_load(c, t, b, ib), true), acc);
        cg_loop_end(c, &lp);
        cg_store(c, t, LLVMBuildLoad2(c->b, ct, acc, ""), out, add_i64(c, oo, add_i64(c, mul_i64(c, i, nn), j)));
        cg_loop_end(c, &lj);
    } else { /* row update: C[i,:] += A[i,p] * B[p,:], contiguous in j */
        LLVMValueRef row = add_i64(c, oo, mul_i64(c, i, nn));
        LLVMValueRef j = cg_loop_begin(c, nn, &lj);
        cg_store(c, t, zero, out, add_i64(c, row, j));
        cg_loop_end(c, &lj);
        LLVMValueRef p = cg_loop_begin(c, k, &lp);
        LLVMValueRef ia = add_i64(c, oa, tra ? add_i64(c, mul_i64(c, p, m), i) : add_i64(c, mul_i64(c, i, k), p));
        LLVMValueRef av = cg_load(c, t, a, ia), brow = add_i64(c, ob, mul_i64(c, p, nn));
        j = cg_loop_begin(c, nn, &lj);
        LLVMValueRef oj = add_i64(c, row, j);
        cg_store(c, t, mul_add(c, f, cg_load(c, t, out, oj), av, cg_load(c, t, b, add_i64(c, brow, j)), false), out, oj);
        cg_loop_end(c, &lj);
        cg_loop_end(c, &lp);
    }
    cg_loop_end(c, &li);
    for (int d = ro - 3; d >= 0; d--) cg_loop_end(c, &lb[d]);
    return true;
}

/* ---- reductions and softmax --------------------------------------------- */

static LLVMValueRef reduce_init(cg *c, kl_op op, kl_dtype dt)
{
    LLVMTypeRef ct = cg_compute_type(c, dt);
    bool f = kl_dtype_is_float(dt), u = cg_is_unsigned(dt);
    unsigned bits = f ? 0 : LLVMGetIntTypeWidth(ct);
    switch (op) {
    case KL_OP_REDUCE_MAX: case KL_OP_ARGMAX:
        return f ? LLVMConstReal(ct, -__builtin_inf()) : LLVMConstInt(ct, u ? 0 : 1ull << (bits - 1), 0);
    case KL_OP_REDUCE_MIN: case KL_OP_ARGMIN:
        return f ? LLVMConstReal(ct, __builtin_inf()) : u ? LLVMConstAllOnes(ct) : LLVMConstInt(ct, (1ull << (bits - 1)) - 1, 0);
    case KL_OP_REDUCE_PROD: return f ? LLVMConstReal(ct, 1) : LLVMConstInt(ct, 1, 0);
    default: return f ? LLVMConstReal(ct, 0) : LLVMConstInt(ct, 0, 0);
    }
}

static LLVMValueRef reduce_step(cg *c, kl_op op, kl_dtype dt, LLVMValueRef acc, LLVMValueRef v)
{
    bool f = kl_dtype_is_float(dt);
    switch (op) {
    case KL_OP_REDUCE_MAX: return f ? cg_fmax_nan(c, acc, v, true) : cg_int_op(c, KL_OP_MAX, dt, acc, v);
    case KL_OP_REDUCE_MIN: return f ? cg_fmax_nan(c, acc, v, false) : cg_int_op(c, KL_OP_MIN, dt, acc, v);
    case KL_OP_REDUCE_PROD: return f ? LLVMBuildFMul(c->b, acc, v, "") : LLVMBuildMul(c->b, acc, v, "");
    default: return f ? cg_fadd_reassoc(c, acc, v) : LLVMBuildAdd(c->b, acc, v, "");
    }
}

/* Reduction fusion: when the reduced operand is an elementwise member of
 * this kernel (passes/fuse.c), each element is computed where it is read,
 * from the kernel's inputs at their broadcast offsets, and never stored. */
typedef struct reduce_src {
    ir_node **in_nodes;
    LLVMValueRef *inputs, *offs;
    int n_in;
    int64_t (*strides)[IR_MAX_RANK]; /* of each kernel input, over the reduced operand's dims */
} reduce_src;

/* Float32 sum/mean/max/min/prod over axes that leave the innermost one
 * kept (a global average pool over NHWC: reduce H, W, keep C): the output row
 * accumulates in place with the kept innermost axis as the vector loop, so
 * the input is read once, in order.  (The generic nest below would walk the
 * reduced axes innermost, with the channel stride: ResNet50's pool took
 * 0.4 ms that way.) */
/* emit_reduce_rows' case: float32 sum/mean/max/min/prod keeping the innermost axis. */
static bool reduce_by_rows(const ir_node *n)
{
    const ir_type *t = &n->in[0]->type;
    return t->dtype == KL_F32 && t->rank >= 2 && !(n->attr.reduce.axes & (1u << (t->rank - 1))) &&
           (n->op == KL_OP_REDUCE_SUM || n->op == KL_OP_REDUCE_MEAN || n->op == KL_OP_REDUCE_MAX ||
            n->op == KL_OP_REDUCE_MIN || n->op == KL_OP_REDUCE_PROD) && ir_type_numel(t) > 0;
}

/* The kept loop a split reduction restricts: the first kept axis of extent
 * > 1 (its output rows are disjoint; kept loops enclose the reduced ones),
 * not the innermost axis of the rows form (its vector loop).  -1: none, as
 * when only that innermost axis is kept (a reduction over every outer axis
 * would need its columns split: left on one thread). */
static int reduce_split_dim(const ir_node *n)
{
    const ir_type *t = &n->in[0]->type;
    int end = reduce_by_rows(n) ? t->rank - 1 : t->rank;
    for (int d = 0; d < end; d++)
        if (!(n->attr.reduce.axes & (1u << d)) && t->dims[d] > 1) return d;
    return -1;
}

static bool emit_reduce_rows(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in, reduce_src *src)
{
    const ir_type *t = &n->in[0]->type;
    int r = t->rank;
    int64_t inner = t->dims[r - 1], strides[IR_MAX_RANK], st = 1, count = 1;
    for (int d = r - 1; d >= 0; d--) strides[d] = st, st *= t->dims[d];
    int kept[IR_MAX_RANK], red[IR_MAX_RANK], nk = 0, nr = 0;
    for (int d = 0; d < r - 1; d++) {
        if (n->attr.reduce.axes & (1u << d)) red[nr++] = d, count *= t->dims[d];
        else kept[nk++] = d;
    }
    /* fused producers: their inputs' offsets follow every loop (src->offs) */
    int n_src = src ? src->n_in : 0;
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)n_src + 1, sizeof *offs, "code generation");
    for (int i = 0; i < n_src; i++) offs[i] = src->offs[i];
    cg_loop lk[IR_MAX_RANK], lr[IR_MAX_RANK], lj;
    LLVMValueRef off = cg_i64(c, 0), orow = cg_i64(c, 0);
    int sd = reduce_split_dim(n);
    for (int i = 0; i < nk; i++) {
        LLVMValueRef iv = cg_loop_begin_split_if(c, kept[i] == sd, t->dims[kept[i]], &lk[i]);
        off = add_i64(c, off, mul_i64(c, iv, strides[kept[i]]));
        orow = add_i64(c, mul_i64(c, orow, t->dims[kept[i]]), iv);
        for (int k = 0; k < n_src; k++)
            if (src->strides[k][kept[i]]) offs[k] = add_i64(c, offs[k], mul_i64(c, iv, src->strides[k][kept[i]]));
    }
    orow = mul_i64(c, orow, inner);
    LLVMValueRef j = cg_loop_begin(c, inner, &lj);
    cg_store(c, KL_F32, reduce_init(c, n->op, KL_F32), out, add_i64(c, orow, j));
    cg_loop_end(c, &lj);
    LLVMValueRef roff = off;
    for (int i = 0; i < nr; i++) {
        LLVMValueRef iv = cg_loop_begin(c, t->dims[red[i]], &lr[i]);
        roff = add_i64(c, roff, mul_i64(c, iv, strides[red[i]]));
        for (int k = 0; k < n_src; k++)
            if (src->strides[k][red[i]]) offs[k] = add_i64(c, offs[k], mul_i64(c, iv, src->strides[k][red[i]]));
    }
    j = cg_loop_begin(c, inner, &lj);
    LLVMValueRef at = add_i64(c, orow, j), x;
    if (src) {
        LLVMValueRef *at_j = kl_calloc(NULL, (size_t)n_src + 1, sizeof *at_j, "code generation");
        for (int k = 0; k < n_src; k++)
            at_j[k] = src->strides[k][r - 1] ? add_i64(c, offs[k], mul_i64(c, j, src->strides[k][r - 1])) : offs[k];
        x = kernel_value_of(c, n, n->in[0], NULL, NULL, src->in_nodes, src->inputs, at_j, n_src);
        free(at_j);
    } else {
        x = cg_load(c, KL_F32, in, add_i64(c, roff, j));
    }
    cg_store(c, KL_F32, reduce_step(c, n->op, KL_F32, cg_load(c, KL_F32, out, at), x), out, at);
    cg_loop_end(c, &lj);
    for (int i = nr - 1; i >= 0; i--) cg_loop_end(c, &lr[i]);
    if (n->op == KL_OP_REDUCE_MEAN) {
        j = cg_loop_begin(c, inner, &lj);
        at = add_i64(c, orow, j);
        cg_store(c, KL_F32, LLVMBuildFDiv(c->b, cg_load(c, KL_F32, out, at), cg_f32(c, (double)count), ""), out, at);
        cg_loop_end(c, &lj);
    }
    for (int i = nk - 1; i >= 0; i--) cg_loop_end(c, &lk[i]);
    free(offs);
    return true;
}

static bool emit_reduce(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in, reduce_src *src)
{
    const ir_type *t = &n->in[0]->type;
    if (reduce_by_rows(n)) return emit_reduce_rows(c, n, out, in, src);
    kl_dtype dt = t->dtype;
    bool f = kl_dtype_is_float(dt), is_arg = n->op == KL_OP_ARGMAX || n->op == KL_OP_ARGMIN;
    int64_t strides[IR_MAX_RANK], s = 1, count = 1;
    for (int d = t->rank - 1; d >= 0; d--) strides[d] = s, s *= t->dims[d];
    int kept[IR_MAX_RANK], red[IR_MAX_RANK], nk = 0, nr = 0;
    for (int d = 0; d < t->rank; d++) {
        if (n->attr.reduce.axes & (1u << d)) red[nr++] = d, count *= t->dims[d];
        else kept[nk++] = d;
    }
    LLVMTypeRef et = cg_compute_type(c, dt);
    LLVMValueRef acc = cg_entry_alloca(c, et, "acc"), arg = cg_entry_alloca(c, c->i64, "arg");
    cg_loop lk[IR_MAX_RANK], lr[IR_MAX_RANK];
    LLVMValueRef off = cg_i64(c, 0), oidx = cg_i64(c, 0);
    int sd = reduce_split_dim(n);
    for (int i = 0; i < nk; i++) {
        LLVMValueRef iv = cg_loop_begin_split_if(c, kept[i] == sd, t->dims[kept[i]], &lk[i]);
        off = add_i64(c, off, mul_i64(c, iv, strides[kept[i]]));
        for (int j = 0; src && j < src->n_in; j++)
            if (src->strides[j][kept[i]]) src->offs[j] = add_i64(c, src->offs[j], mul_i64(c, iv, src->strides[j][kept[i]]));
        oidx = add_i64(c, mul_i64(c, oidx, t->dims[kept[i]]), iv);
    }
    LLVMBuildStore(c->b, reduce_init(c, n->op, dt), acc);
    LLVMBuildStore(c->b, cg_i64(c, 0), arg);
    LLVMValueRef roff = off, pos = cg_i64(c, 0);

    for (int i = 0; i < nr; i++) {
        LLVMValueRef iv = cg_loop_begin(c, t->dims[red[i]], &lr[i]);
        roff = add_i64(c, roff, mul_i64(c, iv, strides[red[i]]));
        for (int j = 0; src && j < src->n_in; j++)
            if (src->strides[j][red[i]]) src->offs[j] = add_i64(c, src->offs[j], mul_i64(c, iv, src->strides[j][red[i]]));
        pos = add_i64(c, mul_i64(c, pos, t->dims[red[i]]), iv);
    }
    LLVMValueRef v = src ? kernel_value_of(c, n, n->in[0], NULL, NULL, src->in_nodes, src->inputs, src->offs, src->n_in)
                         : cg_load(c, dt, in, roff);
    LLVMValueRef cur = LLVMBuildLoad2(c->b, et, acc, "");
    if (is_arg) { /* first index of the extreme value */
        bool mx = n->op == KL_OP_ARGMAX;
        LLVMValueRef better = f ? LLVMBuildFCmp(c->b, mx ? LLVMRealOGT : LLVMRealOLT, v, cur, "")
                                : LLVMBuildICmp(c->b, mx ? (cg_is_unsigned(dt) ? LLVMIntUGT : LLVMIntSGT) : (cg_is_unsigned(dt) ? LLVMIntULT : LLVMIntSLT), v, cur, "");
        LLVMBuildStore(c->b, LLVMBuildSelect(c->b, better, v, cur, ""), acc);
        LLVMBuildStore(c->b, LLVMBuildSelect(c->b, better, pos, LLVMBuildLoad2(c->b, c->i64, arg, ""), ""), arg);
    } else {
        LLVMBuildStore(c->b, reduce_step(c, n->op, dt, cur, v), acc);
    }
    for (int i = nr - 1; i >= 0; i--) cg_loop_end(c, &lr[i]);
    LLVMValueRef r = LLVMBuildLoad2(c->b, et, acc, "");
    if (is_arg) r = cg_convert(c, LLVMBuildLoad2(c->b, c->i64, arg, ""), KL_I64, n->type.dtype);
    if (n->op == KL_OP_REDUCE_MEAN)
        r = f ? LLVMBuildFDiv(c->b, r, LLVMConstReal(et, (double)count), "")
              : (cg_is_unsigned(dt) ? LLVMBuildUDiv : LLVMBuildSDiv)(c->b, r, LLVMConstInt(et, (unsigned long long)(count ? count : 1), 0), "");
    cg_store(c, n->type.dtype, r, out, oidx);
    for (int i = nk - 1; i >= 0; i--) cg_loop_end(c, &lk[i]);
    return true;
}

static bool emit_softmax(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in)
{
    kl_dtype dt = n->type.dtype;
    bool log_sm = n->op == KL_OP_LOG_SOFTMAX;
    int64_t cols = n->type.rank ? n->type.dims[n->type.rank - 1] : 1;
    int64_t rows = cols ? ir_type_numel(&n->type) / cols : 0;
    LLVMValueRef mx = cg_entry_alloca(c, c->f32, "max"), sum = cg_entry_alloca(c, c->f32, "sum");
    cg_loop lr, lc;
    LLVMValueRef r = cg_loop_begin_split(c, rows, &lr);
    LLVMValueRef base = mul_i64(c, r, cols);
    LLVMBuildStore(c->b, cg_f32(c, -__builtin_inff()), mx);
    LLVMBuildStore(c->b, cg_f32(c, 0), sum);
    LLVMValueRef j = cg_loop_begin(c, cols, &lc);
    LLVMValueRef v = cg_load(c, dt, in, add_i64(c, base, j));
    LLVMBuildStore(c->b, cg_fmax_nan(c, LLVMBuildLoad2(c->b, c->f32, mx, ""), v, true), mx);
    cg_loop_end(c, &lc);
    LLVMValueRef m = LLVMBuildLoad2(c->b, c->f32, mx, "");
    j = cg_loop_begin(c, cols, &lc);
    LLVMValueRef idx = add_i64(c, base, j);
    LLVMValueRef x = LLVMBuildFSub(c->b, cg_load(c, dt, in, idx), m, ""), e = cg_exp(c, x);
    if (!log_sm) cg_store(c, dt, e, out, idx);
    LLVMBuildStore(c->b, cg_fadd_reassoc(c, LLVMBuildLoad2(c->b, c->f32, sum, ""), e), sum);
    cg_loop_end(c, &lc);
    LLVMValueRef s = LLVMBuildLoad2(c->b, c->f32, sum, "");
    LLVMValueRef ls = log_sm ? cg_log(c, s) : NULL;
    j = cg_loop_begin(c, cols, &lc);
    idx = add_i64(c, base, j);
    LLVMValueRef res = log_sm ? LLVMBuildFSub(c->b, LLVMBuildFSub(c->b, cg_load(c, dt, in, idx), m, ""), ls, "")
                              : LLVMBuildFDiv(c->b, cg_load(c, dt, out, idx), s, "");
    cg_store(c, dt, res, out, idx);
    cg_loop_end(c, &lc);
    cg_loop_end(c, &lr);
    return true;
}

/* ---- dispatch ----------------------------------------------------------- */

/* A pool, transposed conv or direct conv split by image: for each image of
 * [par_lo, par_hi), the window emitter (codegen/conv.c) over one image, on
 * a copy of the node whose operand and result have batch 1, at that image's
 * offsets.  Every operand but the first (the filter) is shared. */
static bool emit_window_batches(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    ir_node one = *n, x = *n->in[0], *in[4];
    KL_ASSERT(n->n_in <= 4);
    for (int i = 0; i < n->n_in; i++) in[i] = n->in[i];
    in[0] = &x, one.in = in;
    one.type.dims[0] = 1, x.type.dims[0] = 1;
    int64_t out_image = ir_type_numel(&one.type), in_image = ir_type_numel(&x.type);
    LLVMValueRef lo = c->par_lo, hi = c->par_hi, sub[4];
    cg_loop l;
    LLVMValueRef b = cg_loop_begin_split(c, n->type.dims[0], &l);
    c->par_lo = c->par_hi = NULL; /* the one-image nest runs whole */
    for (int i = 0; i < n->n_in; i++) sub[i] = ops[i];
    sub[0] = cg_elem_ptr(c, x.type.dtype, ops[0], LLVMBuildMul(c->b, b, cg_i64(c, in_image), ""));
    LLVMValueRef o = cg_elem_ptr(c, n->type.dtype, out, LLVMBuildMul(c->b, b, cg_i64(c, out_image), ""));
    bool ok = cg_emit_window(c, &one, o, sub);
    cg_loop_end(c, &l);
    c->par_lo = lo, c->par_hi = hi;
    return ok;
}

bool cg_emit_kernel(cg *c, LLVMValueRef fn, ir_node *root, LLVMValueRef out, ir_node **in_nodes,
                    LLVMValueRef *inputs, int n_inputs)
{
    /* Operand pointers in operand order, for the non-fused kernels. */
    LLVMValueRef *ops = kl_calloc(NULL, (size_t)root->n_in + 1, sizeof *ops, "code generation");
    for (int i = 0; i < root->n_in; i++)
        for (int j = 0; j < n_inputs; j++)
            if (in_nodes[j] == root->in[i]) ops[i] = inputs[j];
    bool ok = false;
    switch (root->op) {
    case KL_OP_COPY: case KL_OP_CAST: case KL_OP_NEG: case KL_OP_ABS: case KL_OP_SQUARE: case KL_OP_SQRT:
    case KL_OP_RSQRT: case KL_OP_EXP: case KL_OP_LOG: case KL_OP_TANH: case KL_OP_SIGMOID: case KL_OP_RELU:
    case KL_OP_RELU6: case KL_OP_ADD: case KL_OP_SUB: case KL_OP_MUL: case KL_OP_DIV: case KL_OP_MAX:
    case KL_OP_MIN: case KL_OP_FLOOR: case KL_OP_CEIL: case KL_OP_ROUND: case KL_OP_ERF: case KL_OP_ERFC: case KL_OP_SOFTPLUS:
    case KL_OP_ELU: case KL_OP_NOT: case KL_OP_SIN: case KL_OP_COS: case KL_OP_ATAN: case KL_OP_POW: case KL_OP_FLOORDIV: case KL_OP_FLOORMOD: case KL_OP_AND:
    case KL_OP_OR: case KL_OP_LESS: case KL_OP_LESS_EQUAL: case KL_OP_GREATER: case KL_OP_GREATER_EQUAL:
    case KL_OP_EQUAL: case KL_OP_NOT_EQUAL: case KL_OP_SELECT:
        ok = emit_elementwise(c, root, out, in_nodes, inputs, n_inputs);
        break;
    case KL_OP_MATMUL: ok = emit_matmul(c, root, out, ops[0], ops[1]); break;
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX: case KL_OP_REDUCE_MIN:
    case KL_OP_REDUCE_PROD: case KL_OP_ARGMAX: case KL_OP_ARGMIN:
        if (cg_in_kernel(c, root, root->in[0])) { /* producers fused into the reduction */
            reduce_src src = {in_nodes, inputs, kl_calloc(NULL, (size_t)n_inputs + 1, sizeof(LLVMValueRef), "code generation"), n_inputs,
                              kl_calloc(NULL, (size_t)n_inputs + 1, sizeof(int64_t[IR_MAX_RANK]), "code generation")};
            const ir_type *t = &root->in[0]->type;
            for (int i = 0; i < n_inputs; i++) {
                ir_broadcast_strides(&in_nodes[i]->type, t->rank, t->dims, src.strides[i]);
                src.offs[i] = cg_i64(c, 0);
            }
            ok = emit_reduce(c, root, out, NULL, &src);
            free(src.offs);
            free(src.strides);
        } else {
            ok = emit_reduce(c, root, out, ops[0], NULL);
        }
        break;
    case KL_OP_SOFTMAX: case KL_OP_LOG_SOFTMAX: ok = emit_softmax(c, root, out, ops[0]); break;
    case KL_OP_TRANSPOSE: case KL_OP_SLICE: case KL_OP_PAD: case KL_OP_TILE: case KL_OP_CONCAT: case KL_OP_GATHER:
    case KL_OP_GATHER_ELEMENTS:
        ok = cg_emit_movement(c, root, out, ops);
        break;
    case KL_OP_CONV2D: case KL_OP_CONV2D_TRANSPOSE: case KL_OP_MAX_POOL: case KL_OP_AVG_POOL:
        ok = c->par_lo && window_by_images(root) ? emit_window_batches(c, root, out, ops) : cg_emit_window(c, root, out, ops);
        break;
    case KL_OP_CUMSUM: case KL_OP_CUMPROD: ok = cg_emit_scan(c, root, out, ops[0]); break;
    case KL_OP_SCATTER: ok = cg_emit_scatter(c, root, out, ops, in_nodes, inputs, n_inputs); break;
    case KL_OP_DYNAMIC_SLICE: case KL_OP_DYNAMIC_UPDATE_SLICE:
        ok = cg_emit_dynamic(c, root, out, ops);
        break;
    case KL_OP_WHILE: case KL_OP_IF: case KL_OP_GET: /* module.c emits them around their regions */
    case KL_OP_SEND: case KL_OP_RECV: case KL_OP_ALLREDUCE: case KL_OP_ALLREDUCE_START: case KL_OP_ALLREDUCE_WAIT: /* module.c: the runtime */
    case KL_OP_PARAM: case KL_OP_CONST: case KL_OP_RESHAPE: case KL_OP_COUNT:
        kl_diag_error(c->d, "%s: node '%s' (%s): no code generator for this op", c->g->source,
                      root->name ? root->name : "", kl_op_name(root->op));
        break;
    }
    free(ops);
    return ok;
}

/* For the GPU backend (codegen/gpu.c): the same reduction identities and
 * steps, and a fused member's value, as the loops above use. */
LLVMValueRef cg_reduce_init(cg *c, kl_op op, kl_dtype dt) { return reduce_init(c, op, dt); }
LLVMValueRef cg_reduce_step(cg *c, kl_op op, kl_dtype dt, LLVMValueRef acc, LLVMValueRef v) { return reduce_step(c, op, dt, acc, v); }
LLVMValueRef cg_kernel_member_value(cg *c, ir_node *root, ir_node *member, ir_node **in_nodes, LLVMValueRef *inputs,
                                    LLVMValueRef *offsets, int n_in)
{
    return kernel_value_of(c, root, member, NULL, NULL, in_nodes, inputs, offsets, n_in);
}
