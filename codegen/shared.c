/* codegen/shared.c — size mode (-Os): layers of one kind share one kernel.
 *
 * A contraction whose plan is `shared` (passes/layout.c at -Os: every
 * float32 conv2d, grouped and depthwise included, and every 2-D matmul) is
 * computed by a call of the module's one generic kernel of its kind,
 * with a small const descriptor of int32 fields in .rodata:
 *
 *   P_s_conv(desc, out, x, w)       conv2d with ICG > 1 (pointwise and
 *                                   full convs), and 2-D matmuls as 1x1
 *                                   convs over an M x 1 image of K channels
 *   P_s_dw(desc, out, x, w)         depthwise (one input and one output
 *                                   channel per group)
 *   P_s_bias_act(desc, out, bias)   the common epilogue in place: out +=
 *                                   bias[j] (per channel or scalar), then
 *                                   none / relu / relu6
 *
 * The loop nest is conv.c's (cg_emit_conv_nest, which a layer's own kernel
 * runs on constants), the arithmetic scalar.c's (cg_float_op): no second
 * copy of any op.  Any other epilogue runs in place over the output in a
 * function of the kernel's own (cg_kernel_value, seeded with the stored
 * conv value), and a layer whose fields do not fit int32 gets its own conv
 * function on constants; both stay correct, just not shared.  Shared
 * kernels run on the calling thread (no --threads split).
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum { BA_ROWS, BA_COLS, BA_ACT, BA_HAS_BIAS, BA_FIELDS };

static void fn_attrs(cg *c, LLVMValueRef fn, int n_noalias)
{
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_function_attrs(c, fn);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, noinline, 0));
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (int i = 0; i < n_noalias; i++) LLVMAddAttributeAtIndex(fn, (unsigned)i + 2, LLVMCreateEnumAttribute(c->ctx, noalias, 0));
}

/* Field i of an int32 descriptor, as i64. */
static LLVMValueRef field(cg *c, LLVMValueRef desc, int i)
{
    LLVMValueRef idx = LLVMConstInt(c->i32, (unsigned long long)i, 0);
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->i32, LLVMBuildInBoundsGEP2(c->b, c->i32, desc, &idx, 1, ""), "");
    LLVMSetAlignment(v, 4);
    return c->i64 == c->i32 ? v : LLVMBuildSExt(c->b, v, c->i64, "");
}

/* The descriptor: a private constant of int32 fields (equal ones merge). */
static LLVMValueRef descriptor(cg *c, const int64_t *v, int n)
{
    LLVMValueRef *f = kl_calloc(NULL, (size_t)n, sizeof *f, "code generation");
    for (int i = 0; i < n; i++) f[i] = LLVMConstInt(c->i32, (unsigned long long)v[i], 1);
    char name[96];
    snprintf(name, sizeof name, "%s_desc", c->base_prefix);
    LLVMValueRef gv = cg_const_global(c, name, LLVMConstArray2(c->i32, f, (uint64_t)n));
    LLVMSetAlignment(gv, 4);
    free(f);
    return gv;
}

/* On 32-bit targets the shared kernels index in i32: codegen's index type
 * (c->i64, which cg_i64 and the loops use) is i32 while they are emitted.
 * Every buffer there is below 2^31 bytes and every field fits int32, so no
 * index overflows; 64-bit index arithmetic would double the instructions
 * of every address and loop test on a Cortex-M. */
static LLVMTypeRef index_type_begin(cg *c)
{
    LLVMTypeRef saved = c->i64;
    if (c->m.caps & CG_CAP_PTR32) c->i64 = c->i32;
    return saved;
}

/* void NAME(desc, out, x, w): the conv nest over the descriptor's fields,
 * or over the constants v when v is not NULL (a layer's own function). */
static LLVMValueRef conv_fn(cg *c, const char *name, bool depthwise, const int64_t *v)
{
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, (LLVMTypeRef[]){c->ptr, c->ptr, c->ptr, c->ptr}, 4, 0);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, ft);
    fn_attrs(c, fn, 3);
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMTypeRef i64 = index_type_begin(c);
    cg_conv_shape s;
    for (int i = 0; i < CG_CONV_FIELDS; i++) s.f[i] = v ? cg_i64(c, v[i]) : field(c, LLVMGetParam(fn, 0), i);
    cg_emit_conv_nest(c, &s, KL_F32, depthwise, v && depthwise && v[CG_CONV_OCG] != 1, LLVMGetParam(fn, 1),
                      LLVMGetParam(fn, 2), LLVMGetParam(fn, 3));
    c->i64 = i64;
    LLVMBuildRetVoid(c->b);
    LLVMPositionBuilderAtEnd(c->b, saved);
    return fn;
}

/* void P_s_bias_act(desc, out, bias): rows x cols in place.  Without a
 * bias the caller passes out itself (j < cols <= the output's size), so
 * the loop has no branch and never reads outside a buffer. */
static LLVMValueRef bias_act_fn(cg *c)
{
    if (c->shared_fn[CG_SHARED_BIAS_ACT]) return c->shared_fn[CG_SHARED_BIAS_ACT];
    char name[96];
    snprintf(name, sizeof name, "%s_s_bias_act", c->base_prefix);
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, (LLVMTypeRef[]){c->ptr, c->ptr, c->ptr}, 3, 0);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, ft);
    fn_attrs(c, fn, 0);
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef d = LLVMGetParam(fn, 0), out = LLVMGetParam(fn, 1), bias = LLVMGetParam(fn, 2);
    LLVMTypeRef i64 = index_type_begin(c);
    LLVMValueRef rows = field(c, d, BA_ROWS), cols = field(c, d, BA_COLS), act = field(c, d, BA_ACT);
    LLVMValueRef has_bias = LLVMBuildICmp(c->b, LLVMIntNE, field(c, d, BA_HAS_BIAS), cg_i64(c, 0), "");
    cg_loop lr, lj;
    LLVMValueRef r = cg_loop_begin_v(c, rows, &lr);
    LLVMValueRef base = LLVMBuildMul(c->b, r, cols, "");
    LLVMValueRef j = cg_loop_begin_v(c, cols, &lj);
    LLVMValueRef at = LLVMBuildAdd(c->b, base, j, "");
    LLVMValueRef v = cg_load(c, KL_F32, out, at);
    v = LLVMBuildSelect(c->b, has_bias, cg_float_op(c, KL_OP_ADD, v, cg_load(c, KL_F32, bias, j)), v, "");
    LLVMValueRef relu = cg_float_op(c, KL_OP_RELU, v, NULL), relu6 = cg_float_op(c, KL_OP_RELU6, v, NULL);
    v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, act, cg_i64(c, 1), ""), relu, v, "");
    v = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, act, cg_i64(c, 2), ""), relu6, v, "");
    cg_store(c, KL_F32, v, out, at);
    cg_loop_end(c, &lj);
    cg_loop_end(c, &lr);
    c->i64 = i64;
    LLVMBuildRetVoid(c->b);
    LLVMPositionBuilderAtEnd(c->b, saved);
    return c->shared_fn[CG_SHARED_BIAS_ACT] = fn;
}

/* A 2-D matmul [M,K] x [K,N] as the conv of an M x 1 image with K
 * channels and a 1x1 filter [1,1,K,N] (the same bytes, row-major). */
static void matmul_fields(const ir_node *n, int64_t *v)
{
    int64_t M = n->in[0]->type.dims[0], K = n->in[0]->type.dims[1], N = n->type.dims[1];
    int64_t f[CG_CONV_FIELDS] = {1, M, 1, K, M, 1, N, 1, 1, 1, K, N, 1, 1, 1, 1, 0, 0};
    memcpy(v, f, sizeof f);
}

static bool fits_i32(const int64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        if (v[i] < INT32_MIN || v[i] > INT32_MAX) return false;
    return true;
}

static void call(cg *c, LLVMValueRef fn, LLVMValueRef *args, int n)
{
    LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n, "");
}

/* The epilogue after the contraction gm, if it is bias-then-activation:
 * *bias the bias node (NULL: none), *act 0 none, 1 relu, 2 relu6, *cols
 * the bias's length (the output's channels, or 1 for a scalar). */
static bool common_epilogue(cg *c, const kl_kernel *k, ir_node *gm, ir_node **bias, int64_t *act, int64_t *cols)
{
    *bias = NULL, *act = 0, *cols = gm->type.dims[gm->type.rank - 1];
    ir_node *prev = gm;
    int m = 0;
    while (m < k->n_members && k->members[m] != gm) m++;
    if (m != 0) return false; /* the contraction is the kernel's first member */
    for (m = 1; m < k->n_members; m++) {
        ir_node *n = k->members[m];
        if (n->type.dtype != KL_F32) return false;
        if (n->op == KL_OP_ADD && !*bias && !*act && n->n_in == 2 && (n->in[0] == prev) != (n->in[1] == prev)) {
            ir_node *b = n->in[0] == prev ? n->in[1] : n->in[0];
            if (cg_in_kernel(c, k->root, b) || b->type.dtype != KL_F32) return false;
            int64_t numel = ir_type_numel(&b->type);
            for (int d = 0; d + 1 < b->type.rank; d++)
                if (b->type.dims[d] != 1) return false;
            if (numel == 1) *cols = 1;
            else if (numel != *cols || b->type.rank < 1) return false;
            *bias = b;
        } else if ((n->op == KL_OP_RELU || n->op == KL_OP_RELU6) && !*act && n->in[0] == prev) {
            *act = n->op == KL_OP_RELU ? 1 : 2;
        } else {
            return false;
        }
        prev = n;
    }
    return prev == k->root;
}

/* void P_kID_epi(out, inputs...): any other epilogue, in place over the
 * stored contraction, element by element (kernels.c's cg_kernel_value). */
static bool own_epilogue(cg *c, const kl_kernel *k, ir_node *gm)
{
    int n_in = k->n_inputs, rank = k->root->type.rank;
    LLVMTypeRef *params = kl_calloc(NULL, (size_t)n_in + 1, sizeof *params, "code generation");
    LLVMValueRef *args = kl_calloc(NULL, (size_t)n_in + 1, sizeof *args, "code generation");
    LLVMValueRef *inputs = kl_calloc(NULL, (size_t)n_in + 1, sizeof *inputs, "code generation");
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)n_in + 1, sizeof *offs, "code generation");
    int64_t (*str)[IR_MAX_RANK] = kl_calloc(NULL, (size_t)n_in + 1, sizeof *str, "code generation");
    for (int i = 0; i <= n_in; i++) params[i] = c->ptr;
    char name[96];
    snprintf(name, sizeof name, "%s_k%d_epi", c->o->prefix, k->root->id);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->void_t, params, (unsigned)n_in + 1, 0));
    fn_attrs(c, fn, 0);
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef out = LLVMGetParam(fn, 0);
    for (int i = 0; i < n_in; i++) {
        inputs[i] = LLVMGetParam(fn, (unsigned)i + 1);
        ir_broadcast_strides(&k->inputs[i]->type, rank, k->root->type.dims, str[i]);
        offs[i] = cg_i64(c, 0);
    }
    cg_loop l[IR_MAX_RANK];
    LLVMValueRef at = cg_i64(c, 0);
    for (int d = 0; d < rank; d++) {
        LLVMValueRef iv = cg_loop_begin(c, k->root->type.dims[d], &l[d]);
        at = LLVMBuildAdd(c->b, LLVMBuildMul(c->b, at, cg_i64(c, k->root->type.dims[d]), ""), iv, "");
        for (int i = 0; i < n_in; i++)
            if (str[i][d]) offs[i] = LLVMBuildAdd(c->b, offs[i], LLVMBuildMul(c->b, iv, cg_i64(c, str[i][d]), ""), "");
    }
    LLVMValueRef seed = cg_load(c, KL_F32, out, at);
    LLVMValueRef v = cg_kernel_value(c, k->root, gm, seed, k->inputs, inputs, offs, n_in);
    bool ok = v != NULL;
    if (ok) cg_store(c, KL_F32, v, out, at);
    for (int d = rank - 1; d >= 0; d--) cg_loop_end(c, &l[d]);
    LLVMBuildRetVoid(c->b);
    LLVMPositionBuilderAtEnd(c->b, saved);
    args[0] = cg_storage(c, k->root);
    for (int i = 0; i < n_in; i++) args[i + 1] = cg_storage(c, k->inputs[i]);
    if (ok) call(c, fn, args, n_in + 1);
    free(params), free(args), free(inputs), free(offs), free(str);
    return ok;
}

bool cg_emit_shared(cg *c, const kl_kernel *k)
{
    ir_node *gm = k->contraction, *root = k->root;
    int64_t v[CG_CONV_FIELDS];
    bool depthwise = false;
    if (gm->op == KL_OP_CONV2D) {
        cg_conv_fields(gm, v);
        depthwise = v[CG_CONV_ICG] == 1 && v[CG_CONV_OCG] == 1; /* one input and one output channel per group */
    } else {
        matmul_fields(gm, v);
    }
    LLVMValueRef out = cg_storage(c, root);
    LLVMValueRef args[4] = {NULL, out, cg_storage(c, gm->in[0]), cg_storage(c, gm->in[1])};
    char name[96];
    if (fits_i32(v, CG_CONV_FIELDS)) {
        int kind = depthwise ? CG_SHARED_DEPTHWISE : CG_SHARED_CONV;
        if (!c->shared_fn[kind]) {
            snprintf(name, sizeof name, "%s_s_%s", c->base_prefix, depthwise ? "dw" : "conv");
            c->shared_fn[kind] = conv_fn(c, name, depthwise, NULL);
        }
        args[0] = descriptor(c, v, CG_CONV_FIELDS);
        call(c, c->shared_fn[kind], args, 4);
    } else { /* a layer of its own: the same nest on constants */
        snprintf(name, sizeof name, "%s_k%d", c->o->prefix, root->id);
        args[0] = LLVMConstNull(c->ptr);
        call(c, conv_fn(c, name, depthwise, v), args, 4);
    }
    c->n_kernels++;
    if (root == gm) return true;
    ir_node *bias;
    int64_t act, cols, numel = ir_type_numel(&root->type);
    if (common_epilogue(c, k, gm, &bias, &act, &cols) && numel / cols <= INT32_MAX && cols <= INT32_MAX) {
        int64_t f[BA_FIELDS] = {numel / cols, cols, act, bias != NULL};
        LLVMValueRef ba[3] = {descriptor(c, f, BA_FIELDS), out, bias ? cg_storage(c, bias) : out};
        call(c, bias_act_fn(c), ba, 3);
        return true;
    }
    return own_epilogue(c, k, gm);
}
