/* codegen/gpu.c — the CUDA backend (docs/gpu.md): target row `cuda`.
 *
 * From the same planned IR as the CPU targets, and with the same op
 * semantics (every elementwise op through cg_kernel_value, i.e.
 * codegen/scalar.c's cg_elementwise_op and codegen/math.c's inline
 * transcendentals; no second copy here), each kernel becomes an NVPTX
 * kernel function: one thread per output element in a grid-stride loop
 * whose bound is the element count, so no thread reads or writes outside a
 * buffer however the grid is sized.  Per architecture of --gpu-arch the
 * module is emitted as PTX by LLVM's NVPTX target machine and assembled
 * into a cubin by ptxas; `fatbinary` packs the cubins and the PTX of the
 * lowest architecture (for newer GPUs, JIT-compiled by the driver).
 *
 * The output is an x86-64 host object: the fat binary, the weights and the
 * schedule (include/kiln/gpu.h's kiln_gpu_plan) as read-only data, and
 * P_init / P_run_device / P_run_host / P_free / P_error calling libkilnrt's
 * runtime/gpu.c.  Kernels this backend does not have yet (contractions,
 * reductions, windows, data movement, control flow) fail the compile with
 * "FILE: node 'NAME' (OP): not yet on cuda ...".
 */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"
#include "kiln/gpu.h"

enum { GPU_THREADS = 256, GPU_MAX_BLOCKS = 8192, GPU_MAX_ARCHS = 8 };

/* ---- the kernels this backend has --------------------------------------- */

static const char *node_name(const ir_node *n) { return n->name ? n->name : ""; }

/* Whether root's kernel is a fused elementwise chain: every member an
 * elementwise op (no fused view, pad or concat: those need the gated
 * loop nests of kernels.c), the members of the root's shape. */
static bool gpu_reduction(const ir_node *n)
{
    kl_op op = n->op;
    kl_dtype t = n->n_in ? n->in[0]->type.dtype : KL_F32;
    /* warp shuffles move 32-bit values: f32 (and f16, computed in f32) and i32 */
    return (op == KL_OP_REDUCE_SUM || op == KL_OP_REDUCE_MEAN || op == KL_OP_REDUCE_MAX || op == KL_OP_REDUCE_MIN ||
            op == KL_OP_REDUCE_PROD) && (t == KL_F32 || t == KL_F16 || t == KL_I32) && n->type.dtype == t;
}

static bool gpu_supported(const kl_kernel *k, const ir_node **why)
{
    const ir_node *root = k->root;
    *why = root;
    bool red = gpu_reduction(root);
    if (!op_is_elementwise(root->op) && !red) return false;
    const ir_type *shape = red ? &root->in[0]->type : &root->type; /* members have the (reduced) operand's shape */
    for (int i = 0; i < k->n_members; i++) {
        const ir_node *m = k->members[i];
        if (m == root) continue;
        if (!op_is_elementwise(m->op) || ir_fusable_movement(m) || m->type.rank != shape->rank) return *why = m, false;
        for (int d = 0; d < m->type.rank; d++)
            if (m->type.dims[d] != shape->dims[d]) return *why = m, false;
    }
    return true;
}

/* The kernel roots in schedule order; false (with the not-yet message for
 * the first one) if any is not supported. */
static bool gpu_check(const ir_graph *g, kl_diag *d)
{
    for (int i = 0; i < g->plan->n_kernels; i++) {
        const ir_node *why;
        if (gpu_supported(&g->plan->kernels[i], &why)) continue;
        kl_diag_error(d,
                      "%s: node '%s' (%s): not yet on cuda (the GPU backend has fused elementwise and broadcast "
                      "kernels and sum/mean/max/min/prod reductions of f32/f16/i32 only; docs/gpu.md)",
                      g->source, node_name(why), kl_op_name(why->op));
        return false;
    }
    return true;
}

/* The values a kernel reads, in the plan's order (module.c's). */
static int kernel_inputs(const kl_kernel *k, ir_node **out, int max)
{
    KL_ASSERT(k->n_inputs <= max);
    memcpy(out, k->inputs, sizeof *out * (size_t)k->n_inputs);
    return k->n_inputs;
}

static int max_inputs(const ir_graph *g)
{
    int n = 1;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i]->n_in;
    return n;
}

static int64_t elements(const ir_type *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->dims[d];
    return n;
}

/* ---- device module -------------------------------------------------------- */

/* The host's context (module.c), without its table of constant globals:
 * device kernels read weights from the uploaded buffers. */
static void gpu_cg_init(cg *c, LLVMContextRef ctx, const ir_graph *g, const cg_options *o, kl_diag *d)
{
    cg_context_init(c, ctx, g, o, d);
    free(c->consts);
    c->consts = NULL;
}

static LLVMValueRef sreg(cg *c, const char *name)
{
    LLVMTypeRef ft = LLVMFunctionType(c->i32, NULL, 0, 0);
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, name);
    if (!f) f = LLVMAddFunction(c->mod, name, ft);
    return LLVMBuildZExt(c->b, LLVMBuildCall2(c->b, ft, f, NULL, 0, ""), c->i64, "");
}

static void annotate(cg *c, LLVMValueRef fn, const char *key, int value)
{
    LLVMValueRef md[3] = {fn, LLVMMDStringInContext(c->ctx, key, (unsigned)strlen(key)), LLVMConstInt(c->i32, (unsigned)value, 0)};
    LLVMAddNamedMetadataOperand(c->mod, "nvvm.annotations", LLVMMDNodeInContext(c->ctx, md, 3));
}

static LLVMValueRef intrinsic_call(cg *c, const char *name, LLVMTypeRef ret, LLVMValueRef *args, int n)
{
    LLVMTypeRef ts[4];
    for (int i = 0; i < n; i++) ts[i] = LLVMTypeOf(args[i]);
    LLVMTypeRef ft = LLVMFunctionType(ret, ts, (unsigned)n, 0);
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, name);
    if (!f) f = LLVMAddFunction(c->mod, name, ft);
    return LLVMBuildCall2(c->b, ft, f, args, (unsigned)n, "");
}

/* A kernel function P_kID(out, in...) with the attributes every kernel has. */
static LLVMValueRef kernel_fn(cg *c, ir_node *root, int n_in)
{
    LLVMTypeRef *params = kl_calloc(NULL, (size_t)n_in + 1, sizeof *params, "code generation");
    if (!params) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i <= n_in; i++) params[i] = c->ptr;
    char name[96];
    snprintf(name, sizeof name, "%s_k%d", c->o->prefix, root->id);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->void_t, params, (unsigned)n_in + 1, 0));
    free(params);
    LLVMSetFunctionCallConv(fn, 71 /* CallingConv::PTX_Kernel */);
    LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", c->cpu);
    if (c->features && *c->features) LLVMAddTargetDependentFunctionAttr(fn, "target-features", c->features);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, nounwind, 0));
    annotate(c, fn, "kernel", 1);
    annotate(c, fn, "maxntidx", GPU_THREADS);
    return fn;
}

/* __global__ void P_kID(T *out, const T *in...), __launch_bounds__(256):
 *   for (i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x)
 *       out[i] = f(in_0[off_0(i)], ...)    // off_k: input k's broadcast strides */
static bool emit_device_kernel(cg *c, ir_node *root, ir_node **in_nodes, int n_in)
{
    LLVMValueRef fn = kernel_fn(c, root, n_in);
    LLVMValueRef *inputs = kl_calloc(NULL, (size_t)n_in + 1, sizeof *inputs, "code generation");
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)n_in + 1, sizeof *offs, "code generation");
    int64_t (*strides)[IR_MAX_RANK] = kl_calloc(NULL, (size_t)n_in + 1, sizeof *strides, "code generation");
    if (!inputs || !offs || !strides) kl_die(__FILE__, __LINE__, "out of memory");
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"),
                      body = LLVMAppendBasicBlockInContext(c->ctx, fn, "body"),
                      done = LLVMAppendBasicBlockInContext(c->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(c->b, entry);
    LLVMValueRef tid = sreg(c, "llvm.nvvm.read.ptx.sreg.tid.x"), ntid = sreg(c, "llvm.nvvm.read.ptx.sreg.ntid.x"),
                 ctaid = sreg(c, "llvm.nvvm.read.ptx.sreg.ctaid.x"), nctaid = sreg(c, "llvm.nvvm.read.ptx.sreg.nctaid.x");
    LLVMValueRef first = LLVMBuildNUWAdd(c->b, LLVMBuildNUWMul(c->b, ctaid, ntid, ""), tid, "first");
    LLVMValueRef step = LLVMBuildNUWMul(c->b, nctaid, ntid, "step");
    int64_t n = elements(&root->type);
    LLVMValueRef nv = cg_i64(c, n);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntULT, first, nv, ""), body, done);
    LLVMPositionBuilderAtEnd(c->b, body);
    LLVMValueRef i = LLVMBuildPhi(c->b, c->i64, "i");
    for (int k = 0; k < n_in; k++) {
        inputs[k] = LLVMGetParam(fn, (unsigned)k + 1);
        ir_broadcast_strides(&in_nodes[k]->type, root->type.rank, root->type.dims, strides[k]);
        offs[k] = cg_i64(c, 0);
    }
    /* the output index's coordinates, innermost first; each input's offset */
    LLVMValueRef rest = i;
    for (int d = root->type.rank - 1; d >= 0; d--) {
        int64_t dim = root->type.dims[d];
        LLVMValueRef coord = d ? LLVMBuildURem(c->b, rest, cg_i64(c, dim), "") : rest;
        if (d) rest = LLVMBuildUDiv(c->b, rest, cg_i64(c, dim), "");
        for (int k = 0; k < n_in; k++)
            if (strides[k][d] && dim > 1)
                offs[k] = LLVMBuildNUWAdd(c->b, offs[k], LLVMBuildNUWMul(c->b, coord, cg_i64(c, strides[k][d]), ""), "");
    }
    LLVMValueRef v = cg_kernel_value(c, root, NULL, NULL, in_nodes, inputs, offs, n_in);
    cg_store(c, root->type.dtype, v, LLVMGetParam(fn, 0), i);
    LLVMValueRef next = LLVMBuildNUWAdd(c->b, i, step, "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
    LLVMAddIncoming(i, (LLVMValueRef[]){first, next}, (LLVMBasicBlockRef[]){entry, latch}, 2);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntULT, next, nv, ""), body, done);
    LLVMPositionBuilderAtEnd(c->b, done);
    LLVMBuildRetVoid(c->b);
    free(inputs), free(offs), free(strides);
    c->n_kernels++;
    return true;
}

/* acc combined across the 32 lanes of each warp (butterfly shuffles: every
 * lane ends with the warp's result) with the reduction's own step. */
static LLVMValueRef warp_reduce(cg *c, kl_op op, kl_dtype dt, LLVMValueRef acc)
{
    bool f = LLVMTypeOf(acc) == c->f32;
    for (int lanes = 16; lanes >= 1; lanes /= 2) {
        LLVMValueRef a[4] = {LLVMConstInt(c->i32, 0xffffffffu, 0), acc, LLVMConstInt(c->i32, (unsigned)lanes, 0),
                             LLVMConstInt(c->i32, 31, 0)};
        LLVMValueRef other = intrinsic_call(c, f ? "llvm.nvvm.shfl.sync.bfly.f32" : "llvm.nvvm.shfl.sync.bfly.i32",
                                            LLVMTypeOf(acc), a, 4);
        acc = cg_reduce_step(c, op, dt, acc, other);
    }
    return acc;
}

/* sum/mean/max/min/prod: one block (256 threads) per output element, over a
 * grid-stride loop of them; the threads stride over the reduced elements,
 * then warp shuffles and a shared array of 8 warp partials combine them. */
static bool emit_device_reduce(cg *c, ir_node *root, ir_node **in_nodes, int n_in)
{
    LLVMValueRef fn = kernel_fn(c, root, n_in);
    const ir_type *t = &root->in[0]->type;
    kl_dtype dt = t->dtype;
    kl_op op = root->op;
    LLVMTypeRef ct = cg_compute_type(c, dt);
    int r = t->rank, kept[IR_MAX_RANK], red[IR_MAX_RANK], nk = 0, nr = 0;
    int64_t count = 1, rows = 1;
    for (int d = 0; d < r; d++) {
        if (root->attr.reduce.axes & (1u << d)) red[nr++] = d, count *= t->dims[d];
        else kept[nk++] = d, rows *= t->dims[d];
    }
    LLVMValueRef *inputs = kl_calloc(NULL, (size_t)n_in + 1, sizeof *inputs, "code generation");
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)n_in + 1, sizeof *offs, "code generation");
    LLVMValueRef *base = kl_calloc(NULL, (size_t)n_in + 1, sizeof *base, "code generation");
    int64_t (*strides)[IR_MAX_RANK] = kl_calloc(NULL, (size_t)n_in + 1, sizeof *strides, "code generation");
    if (!inputs || !offs || !base || !strides) kl_die(__FILE__, __LINE__, "out of memory");
    int operand = -1; /* the materialized operand (not fused) */
    for (int k = 0; k < n_in; k++) {
        inputs[k] = LLVMGetParam(fn, (unsigned)k + 1);
        ir_broadcast_strides(&in_nodes[k]->type, r, t->dims, strides[k]);
        if (in_nodes[k] == root->in[0]) operand = k;
    }
    bool fused = ir_plan_computes(c->g->plan, ir_plan_kernel_of(c->g->plan, root), root->in[0]);
    KL_ASSERT(fused || operand >= 0);
    char sname[96];
    snprintf(sname, sizeof sname, "%s_k%d_partial", c->o->prefix, root->id);
    LLVMTypeRef at = LLVMArrayType2(ct, GPU_THREADS / 32);
    LLVMValueRef shared = LLVMAddGlobalInAddressSpace(c->mod, at, sname, 3);
    LLVMSetInitializer(shared, LLVMGetUndef(at));
    LLVMSetLinkage(shared, LLVMInternalLinkage);
    LLVMSetAlignment(shared, 4);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"),
                      row_bb = LLVMAppendBasicBlockInContext(c->ctx, fn, "row"),
                      elem_bb = LLVMAppendBasicBlockInContext(c->ctx, fn, "elem"),
                      combine = LLVMAppendBasicBlockInContext(c->ctx, fn, "combine"),
                      done = LLVMAppendBasicBlockInContext(c->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(c->b, entry);
    LLVMValueRef tid = sreg(c, "llvm.nvvm.read.ptx.sreg.tid.x"), ntid = sreg(c, "llvm.nvvm.read.ptx.sreg.ntid.x"),
                 ctaid = sreg(c, "llvm.nvvm.read.ptx.sreg.ctaid.x"), nctaid = sreg(c, "llvm.nvvm.read.ptx.sreg.nctaid.x");
    LLVMValueRef nrows = cg_i64(c, rows), ncount = cg_i64(c, count), init = cg_reduce_init(c, op, dt);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntULT, ctaid, nrows, ""), row_bb, done);
    /* for (row = blockIdx.x; row < rows; row += gridDim.x) -- uniform in the block */
    LLVMPositionBuilderAtEnd(c->b, row_bb);
    LLVMValueRef row = LLVMBuildPhi(c->b, c->i64, "row");
    LLVMValueRef rest = row;
    for (int k = 0; k < n_in; k++) base[k] = cg_i64(c, 0);
    for (int i = nk - 1; i >= 0; i--) {
        int64_t dim = t->dims[kept[i]];
        LLVMValueRef coord = i ? LLVMBuildURem(c->b, rest, cg_i64(c, dim), "") : rest;
        if (i) rest = LLVMBuildUDiv(c->b, rest, cg_i64(c, dim), "");
        for (int k = 0; k < n_in; k++)
            if (strides[k][kept[i]] && dim > 1)
                base[k] = LLVMBuildNUWAdd(c->b, base[k], LLVMBuildNUWMul(c->b, coord, cg_i64(c, strides[k][kept[i]]), ""), "");
    }
    LLVMBasicBlockRef row_head = LLVMGetInsertBlock(c->b);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntULT, tid, ncount, ""), elem_bb, combine);
    /* for (j = threadIdx.x; j < count; j += blockDim.x) acc = step(acc, x[row, j]) */
    LLVMPositionBuilderAtEnd(c->b, elem_bb);
    LLVMValueRef j = LLVMBuildPhi(c->b, c->i64, "j"), acc = LLVMBuildPhi(c->b, ct, "acc");
    rest = j;
    for (int k = 0; k < n_in; k++) offs[k] = base[k];
    for (int i = nr - 1; i >= 0; i--) {
        int64_t dim = t->dims[red[i]];
        LLVMValueRef coord = i ? LLVMBuildURem(c->b, rest, cg_i64(c, dim), "") : rest;
        if (i) rest = LLVMBuildUDiv(c->b, rest, cg_i64(c, dim), "");
        for (int k = 0; k < n_in; k++)
            if (strides[k][red[i]] && dim > 1)
                offs[k] = LLVMBuildNUWAdd(c->b, offs[k], LLVMBuildNUWMul(c->b, coord, cg_i64(c, strides[k][red[i]]), ""), "");
    }
    LLVMValueRef x = fused ? cg_kernel_member_value(c, root, root->in[0], in_nodes, inputs, offs, n_in)
                           : cg_load(c, dt, inputs[operand], offs[operand]);
    LLVMValueRef acc_next = cg_reduce_step(c, op, dt, acc, x), j_next = LLVMBuildNUWAdd(c->b, j, ntid, "");
    LLVMBasicBlockRef elem_end = LLVMGetInsertBlock(c->b);
    LLVMAddIncoming(j, (LLVMValueRef[]){tid, j_next}, (LLVMBasicBlockRef[]){row_head, elem_end}, 2);
    LLVMAddIncoming(acc, (LLVMValueRef[]){init, acc_next}, (LLVMBasicBlockRef[]){row_head, elem_end}, 2);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntULT, j_next, ncount, ""), elem_bb, combine);
    /* every thread: its warp's value; lane 0 writes it, warp 0 combines the 8 */
    LLVMPositionBuilderAtEnd(c->b, combine);
    LLVMValueRef part = LLVMBuildPhi(c->b, ct, "part");
    LLVMAddIncoming(part, (LLVMValueRef[]){init, acc_next}, (LLVMBasicBlockRef[]){row_head, elem_end}, 2);
    LLVMValueRef w = warp_reduce(c, op, dt, part);
    LLVMValueRef lane = LLVMBuildAnd(c->b, tid, cg_i64(c, 31), ""), warp = LLVMBuildLShr(c->b, tid, cg_i64(c, 5), "");
    LLVMBasicBlockRef put = LLVMAppendBasicBlockInContext(c->ctx, fn, "put"),
                      sync = LLVMAppendBasicBlockInContext(c->ctx, fn, "sync"),
                      final = LLVMAppendBasicBlockInContext(c->ctx, fn, "final"),
                      store = LLVMAppendBasicBlockInContext(c->ctx, fn, "store"),
                      next = LLVMAppendBasicBlockInContext(c->ctx, fn, "next");
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, lane, cg_i64(c, 0), ""), put, sync);
    LLVMPositionBuilderAtEnd(c->b, put);
    LLVMValueRef idx[2] = {cg_i64(c, 0), warp};
    LLVMBuildStore(c->b, w, LLVMBuildInBoundsGEP2(c->b, at, shared, idx, 2, ""));
    LLVMBuildBr(c->b, sync);
    LLVMPositionBuilderAtEnd(c->b, sync);
    intrinsic_call(c, "llvm.nvvm.barrier0", c->void_t, NULL, 0);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, warp, cg_i64(c, 0), ""), final, next);
    LLVMPositionBuilderAtEnd(c->b, final); /* warp 0: lane l < 8 reads partial l (blockDim is 256) */
    LLVMValueRef in_range = LLVMBuildICmp(c->b, LLVMIntULT, lane, LLVMBuildLShr(c->b, ntid, cg_i64(c, 5), ""), "");
    LLVMValueRef safe_lane = LLVMBuildSelect(c->b, in_range, lane, cg_i64(c, 0), "");
    LLVMValueRef idx2[2] = {cg_i64(c, 0), safe_lane};
    LLVMValueRef pv = LLVMBuildLoad2(c->b, ct, LLVMBuildInBoundsGEP2(c->b, at, shared, idx2, 2, ""), "");
    LLVMValueRef total = warp_reduce(c, op, dt, LLVMBuildSelect(c->b, in_range, pv, init, ""));
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, lane, cg_i64(c, 0), ""), store, next);
    LLVMPositionBuilderAtEnd(c->b, store);
    if (op == KL_OP_REDUCE_MEAN)
        total = kl_dtype_is_float(dt) ? LLVMBuildFDiv(c->b, total, LLVMConstReal(ct, (double)count), "")
                                      : LLVMBuildSDiv(c->b, total, LLVMConstInt(ct, (unsigned long long)(count ? count : 1), 0), "");
    cg_store(c, root->type.dtype, total, LLVMGetParam(fn, 0), row);
    LLVMBuildBr(c->b, next);
    /* the partials are read before the next row overwrites them */
    LLVMPositionBuilderAtEnd(c->b, next);
    intrinsic_call(c, "llvm.nvvm.barrier0", c->void_t, NULL, 0);
    LLVMValueRef row_next = LLVMBuildNUWAdd(c->b, row, nctaid, "");
    LLVMAddIncoming(row, (LLVMValueRef[]){ctaid, row_next}, (LLVMBasicBlockRef[]){entry, next}, 2);
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntULT, row_next, nrows, ""), row_bb, done);
    LLVMPositionBuilderAtEnd(c->b, done);
    LLVMBuildRetVoid(c->b);
    free(inputs), free(offs), free(base), free(strides);
    c->n_kernels++;
    return true;
}

/* The PTX of g's kernels for one architecture (malloc'd, NUL-terminated). */
static char *emit_ptx(const ir_graph *g, const cg_options *o, const char *arch, int *n_kernels, kl_diag *d)
{
    LLVMContextRef ctx = LLVMContextCreate();
    cg c;
    gpu_cg_init(&c, ctx, g, o, d);
    char *ptx = NULL;
    LLVMTargetMachineRef tm = NULL;
    bool ok = cg_machine_resolve(o->target, arch, o->features, &c.m, d);
    if (ok) {
        c.cpu = c.m.cpu, c.features = c.m.features;
        c.has_fma = c.m.caps & CG_CAP_FMA, c.has_round = c.m.caps & CG_CAP_ROUND;
        c.has_f16 = c.m.caps & CG_CAP_F16, c.has_minnum = c.m.caps & CG_CAP_MINNUM;
        ok = (tm = cg_target_machine(&c.m, o->opt_level, d)) != NULL;
    }
    if (ok) {
        LLVMSetTarget(c.mod, c.m.target->triple);
        LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
        char *layout = LLVMCopyStringRepOfTargetData(td);
        LLVMSetDataLayout(c.mod, layout);
        LLVMDisposeMessage(layout);
        LLVMDisposeTargetData(td);
    }
    for (int i = 0; ok && i < g->plan->n_kernels; i++)
        for (int m = 0; ok && m < g->plan->kernels[i].n_members; m++)
            if (!cg_dtype_ok(&c, g->plan->kernels[i].members[m])) ok = false;
    for (int i = 0; ok && i < g->plan->n_kernels; i++)
        if (g->plan->kernels[i].n_outputs) { /* passes/fuse.c: a fused state update */
            const ir_node *x = g->plan->kernels[i].outputs[0];
            kl_diag_error(d, "%s: node '%s' (%s): the cuda target has no kernels with several outputs (a variable's "
                             "update fused beside another); training graphs are CPU-only", g->source, x->name ? x->name : "",
                          kl_op_name(x->op));
            ok = false;
        }
    int max_in = max_inputs(g);
    ir_node **in_nodes = kl_calloc(NULL, (size_t)max_in, sizeof *in_nodes, "code generation");
    if (!in_nodes) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; ok && i < g->plan->n_kernels; i++) {
        ir_node *root = g->plan->kernels[i].root;
        int n_in = kernel_inputs(&g->plan->kernels[i], in_nodes, max_in);
        ok = gpu_reduction(root) ? emit_device_reduce(&c, root, in_nodes, n_in) : emit_device_kernel(&c, root, in_nodes, n_in);
    }
    free(in_nodes);
    char *msg = NULL;
    if (ok && LLVMVerifyModule(c.mod, LLVMReturnStatusAction, &msg)) {
        kl_diag_error(d, "%s: generated NVPTX IR is invalid (a Kiln bug): %.300s", g->source, msg);
        ok = false;
    }
    LLVMDisposeMessage(msg);
    if (ok) {
        char pipeline[32];
        snprintf(pipeline, sizeof pipeline, "default<O%d>", o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level);
        LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
        LLVMErrorRef err = LLVMRunPasses(c.mod, pipeline, tm, po);
        LLVMDisposePassBuilderOptions(po);
        if (err) {
            char *m = LLVMGetErrorMessage(err);
            kl_diag_error(d, "%s: LLVM optimization (NVPTX) failed: %s", g->source, m);
            LLVMDisposeErrorMessage(m);
            ok = false;
        }
    }
    LLVMMemoryBufferRef buf = NULL;
    char *err = NULL;
    if (ok && LLVMTargetMachineEmitToMemoryBuffer(tm, c.mod, LLVMAssemblyFile, &err, &buf)) {
        kl_diag_error(d, "%s: LLVM cannot emit PTX for %s: %s", g->source, arch, err ? err : "?");
        ok = false;
    }
    LLVMDisposeMessage(err);
    if (ok) {
        size_t len = LLVMGetBufferSize(buf);
        ptx = kl_malloc(NULL, len + 1, "code generation");
        if (!ptx) kl_die(__FILE__, __LINE__, "out of memory");
        memcpy(ptx, LLVMGetBufferStart(buf), len);
        ptx[len] = 0;
        LLVMDisposeMemoryBuffer(buf);
    }
    *n_kernels = c.n_kernels;
    if (tm) LLVMDisposeTargetMachine(tm);
    LLVMDisposeModule(c.mod);
    LLVMDisposeBuilder(c.b);
    cg_machine_free(&c.m);
    LLVMContextDispose(ctx);
    return ptx;
}

/* ---- the CUDA tools ------------------------------------------------------- */

/* $KILN_CUDA_HOME/bin/TOOL, /usr/local/cuda/bin/TOOL, or TOOL on PATH. */
static bool find_tool(const char *tool, char *out, size_t size)
{
    const char *home = getenv("KILN_CUDA_HOME");
    const char *dirs[] = {home && *home ? home : NULL, "/usr/local/cuda"};
    for (int i = 0; i < 2; i++) {
        if (!dirs[i]) continue;
        snprintf(out, size, "%s/bin/%s", dirs[i], tool);
        if (!access(out, X_OK)) return true;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(out, size, "%.*s/%s", (int)len, p, tool);
        if (len && !access(out, X_OK)) return true;
        p += len + (p[len] == ':');
    }
    return false;
}

/* Runs argv (no shell), its stderr and stdout into log; 0 if it exited 0. */
static int run_tool(char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        if (f) dup2(fileno(stderr), 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = len >= 0 ? kl_malloc(NULL, (size_t)len + 1, "code generation") : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) free(buf), buf = NULL;
    fclose(f);
    if (buf) buf[len] = 0, *n = (size_t)len;
    return buf;
}

static void tool_error(kl_diag *d, const ir_graph *g, const char *what, const char *log)
{
    size_t n = 0;
    unsigned char *text = read_file(log, &n);
    kl_diag_error(d, "%s: %s failed: %.600s", g->source, what, text ? (char *)text : "(no output)");
    free(text);
}

/* ---- the host object ------------------------------------------------------ */

typedef struct gpu_plan {
    int n_launches;
    char **names;
    int64_t **rows;     /* blocks, threads, n_args, (kind, value)... */
    ir_node **weights;  /* constants a kernel reads, in weights order */
    int64_t *w_offset;
    int n_weights;
    int64_t weights_bytes;
} gpu_plan;

static void plan_free(gpu_plan *p)
{
    for (int i = 0; i < p->n_launches; i++) free(p->names[i]), free(p->rows[i]);
    free(p->names), free(p->rows), free(p->weights), free(p->w_offset);
}

/* Where node n's value lives on the device: (kind, slot or byte offset). */
static bool locate(const ir_graph *g, gpu_plan *p, const ir_node *n, int64_t *kind, int64_t *value, kl_diag *d)
{
    while (n->store == IR_STORE_ALIAS) n = n->in[0];
    switch (n->store) {
    case IR_STORE_FEED: *kind = KILN_GPU_ARG_IO, *value = n->index; return true;
    case IR_STORE_FETCH: *kind = KILN_GPU_ARG_IO, *value = g->n_params + n->index; return true;
    case IR_STORE_TEMP: *kind = KILN_GPU_ARG_TEMP, *value = n->offset; return true;
    case IR_STORE_CONST:
        *kind = KILN_GPU_ARG_WEIGHTS;
        for (int i = 0; i < p->n_weights; i++)
            if (p->weights[i] == n) return *value = p->w_offset[i], true;
        p->weights[p->n_weights] = (ir_node *)n;
        p->w_offset[p->n_weights++] = *value = p->weights_bytes;
        p->weights_bytes += ((int64_t)ir_type_bytes(&n->type) + 255) / 256 * 256;
        return true;
    case IR_STORE_ALIAS: case IR_STORE_NONE: break;
    }
    kl_diag_error(d, "%s: node '%s' (%s): its value is not stored (a Kiln bug)", g->source, node_name(n), kl_op_name(n->op));
    return false;
}

static bool make_plan(const ir_graph *g, const cg_options *o, gpu_plan *p, kl_diag *d)
{
    memset(p, 0, sizeof *p);
    int max_in = max_inputs(g);
    ir_node **in_nodes = kl_calloc(NULL, (size_t)max_in, sizeof *in_nodes, "code generation");
    p->names = kl_calloc(NULL, (size_t)g->n_nodes + 1, sizeof *p->names, "code generation");
    p->rows = kl_calloc(NULL, (size_t)g->n_nodes + 1, sizeof *p->rows, "code generation");
    p->weights = kl_calloc(NULL, (size_t)g->n_nodes + 1, sizeof *p->weights, "code generation");
    p->w_offset = kl_calloc(NULL, (size_t)g->n_nodes + 1, sizeof *p->w_offset, "code generation");
    if (!in_nodes || !p->names || !p->rows || !p->weights || !p->w_offset) kl_die(__FILE__, __LINE__, "out of memory");
    bool ok = true;
    for (int i = 0; ok && i < g->plan->n_kernels; i++) {
        ir_node *root = g->plan->kernels[i].root;
        int n_in = kernel_inputs(&g->plan->kernels[i], in_nodes, max_in);
        int64_t *row = kl_calloc(NULL, 3 + 2 * ((size_t)n_in + 1), sizeof *row, "code generation");
        char *name = kl_malloc(NULL, 96, "code generation");
        if (!row || !name) kl_die(__FILE__, __LINE__, "out of memory");
        snprintf(name, 96, "%s_k%d", o->prefix, root->id);
        /* elementwise: a thread per element; reduction: a block per output element */
        int64_t n = elements(&root->type), blocks = gpu_reduction(root) ? n : (n + GPU_THREADS - 1) / GPU_THREADS;
        row[0] = blocks < 1 ? 1 : blocks > GPU_MAX_BLOCKS ? GPU_MAX_BLOCKS : blocks;
        row[1] = GPU_THREADS;
        row[2] = n_in + 1;
        ok = locate(g, p, root, &row[3], &row[4], d);
        for (int k = 0; ok && k < n_in; k++) ok = locate(g, p, in_nodes[k], &row[5 + 2 * k], &row[6 + 2 * k], d);
        p->names[p->n_launches] = name;
        p->rows[p->n_launches++] = row;
    }
    free(in_nodes);
    return ok;
}

static LLVMValueRef host_global(LLVMModuleRef mod, const char *name, LLVMValueRef init, unsigned align)
{
    LLVMValueRef gv = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(gv, align);
    return gv;
}

static LLVMValueRef i64_array(LLVMContextRef ctx, LLVMModuleRef mod, const char *name, const int64_t *v, size_t n)
{
    LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx);
    LLVMValueRef *e = kl_calloc(NULL, n + 1, sizeof *e, "code generation");
    if (!e) kl_die(__FILE__, __LINE__, "out of memory");
    for (size_t i = 0; i < n; i++) e[i] = LLVMConstInt(i64, (unsigned long long)v[i], 1);
    LLVMValueRef gv = host_global(mod, name, LLVMConstArray2(i64, e, n ? n : 1), 8);
    if (!n) LLVMSetInitializer(gv, LLVMConstArray2(i64, (LLVMValueRef[]){LLVMConstInt(i64, 0, 0)}, 1));
    free(e);
    return gv;
}

/* int NAME(params...) { return RT(&plan, params...); } (void when RT's result is dropped) */
static void wrapper(LLVMContextRef ctx, LLVMModuleRef mod, LLVMBuilderRef b, const char *prefix, const char *name,
                    const char *rt, LLVMValueRef plan, int n_params, bool pass_plan, bool returns)
{
    LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), i32 = LLVMInt32TypeInContext(ctx);
    LLVMTypeRef ps[4] = {ptr, ptr, ptr, ptr};
    LLVMTypeRef rt_ret = !strcmp(rt, "kiln_rt_gpu_free") ? LLVMVoidTypeInContext(ctx) : !strcmp(rt, "kiln_rt_gpu_error") ? ptr : i32;
    LLVMTypeRef rft = LLVMFunctionType(rt_ret, ps, (unsigned)(n_params + pass_plan), 0);
    LLVMValueRef rf = LLVMGetNamedFunction(mod, rt);
    if (!rf) rf = LLVMAddFunction(mod, rt, rft);
    char sym[160];
    snprintf(sym, sizeof sym, "%s_%s", prefix, name);
    LLVMValueRef fn = LLVMAddFunction(mod, sym, LLVMFunctionType(returns ? rt_ret : LLVMVoidTypeInContext(ctx), ps, (unsigned)n_params, 0));
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
    LLVMValueRef args[4];
    int n = 0;
    if (pass_plan) args[n++] = plan;
    for (int i = 0; i < n_params; i++) args[n++] = LLVMGetParam(fn, (unsigned)i);
    LLVMValueRef r = LLVMBuildCall2(b, rft, rf, args, (unsigned)n, "");
    if (returns && rt_ret != LLVMVoidTypeInContext(ctx)) LLVMBuildRet(b, r);
    else LLVMBuildRetVoid(b);
}

static bool emit_host_object(const ir_graph *g, const cg_options *o, const gpu_plan *p, const unsigned char *fatbin,
                             size_t fatbin_bytes, const char *archs, int min_arch, const char *path, cg_stats *st,
                             kl_diag *d)
{
    cg_machine m;
    if (!cg_machine_resolve(cg_target_host_name(), "x86-64", NULL, &m, d)) return false;
    LLVMTargetMachineRef tm = cg_target_machine(&m, 1, d);
    cg_machine_free(&m);
    if (!tm) return false;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(o->prefix, ctx);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *layout = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(mod, layout);
    LLVMDisposeMessage(layout), LLVMDisposeTargetData(td);
    LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx), ptr = LLVMPointerTypeInContext(ctx, 0);
    char name[160];
    /* the fat binary: 8-aligned as the driver's loader wants */
    snprintf(name, sizeof name, "%s_fatbin", o->prefix);
    LLVMValueRef fb = host_global(mod, name, LLVMConstStringInContext2(ctx, (const char *)fatbin, fatbin_bytes, 1), 16);
    /* the weights, each at its offset */
    unsigned char *w = kl_calloc(NULL, (size_t)p->weights_bytes + 1, 1, "code generation");
    if (!w) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < p->n_weights; i++)
        memcpy(w + p->w_offset[i], p->weights[i]->data, ir_type_bytes(&p->weights[i]->type));
    snprintf(name, sizeof name, "%s_weights", o->prefix);
    LLVMValueRef wg = host_global(mod, name, LLVMConstStringInContext2(ctx, (const char *)w, (size_t)p->weights_bytes + 1, 1), 64);
    free(w);
    int n_io = g->n_params + g->n_results;
    int64_t *io = kl_calloc(NULL, (size_t)n_io + 1, sizeof *io, "code generation");
    if (!io) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < g->n_params; i++) io[i] = (int64_t)ir_type_bytes(&g->params[i]->type);
    for (int i = 0; i < g->n_results; i++) io[g->n_params + i] = (int64_t)ir_type_bytes(&g->results[i].node->type);
    snprintf(name, sizeof name, "%s_io_bytes", o->prefix);
    LLVMValueRef iog = i64_array(ctx, mod, name, io, (size_t)n_io);
    free(io);
    LLVMValueRef *names = kl_calloc(NULL, (size_t)p->n_launches + 1, sizeof *names, "code generation");
    LLVMValueRef *rows = kl_calloc(NULL, (size_t)p->n_launches + 1, sizeof *rows, "code generation");
    if (!names || !rows) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < p->n_launches; i++) {
        snprintf(name, sizeof name, "%s_kname%d", o->prefix, i);
        names[i] = host_global(mod, name, LLVMConstStringInContext2(ctx, p->names[i], strlen(p->names[i]), 0), 1);
        snprintf(name, sizeof name, "%s_launch%d", o->prefix, i);
        rows[i] = i64_array(ctx, mod, name, p->rows[i], 3 + 2 * (size_t)p->rows[i][2]);
    }
    snprintf(name, sizeof name, "%s_knames", o->prefix);
    LLVMValueRef kn = host_global(mod, name, LLVMConstArray2(ptr, names, p->n_launches ? (uint64_t)p->n_launches : 1), 8);
    if (!p->n_launches) LLVMSetInitializer(kn, LLVMConstArray2(ptr, (LLVMValueRef[]){LLVMConstNull(ptr)}, 1));
    snprintf(name, sizeof name, "%s_launches", o->prefix);
    LLVMValueRef ln = host_global(mod, name, LLVMConstArray2(ptr, rows, p->n_launches ? (uint64_t)p->n_launches : 1), 8);
    if (!p->n_launches) LLVMSetInitializer(ln, LLVMConstArray2(ptr, (LLVMValueRef[]){LLVMConstNull(ptr)}, 1));
    free(names), free(rows);
    snprintf(name, sizeof name, "%s_prefix", o->prefix);
    LLVMValueRef pre = host_global(mod, name, LLVMConstStringInContext2(ctx, o->prefix, strlen(o->prefix), 0), 1);
    snprintf(name, sizeof name, "%s_archs", o->prefix);
    LLVMValueRef ar = host_global(mod, name, LLVMConstStringInContext2(ctx, archs, strlen(archs), 0), 1);
    /* kiln_gpu_plan, field by field (include/kiln/gpu.h) */
    LLVMValueRef f[] = {
        LLVMConstInt(i64, KILN_GPU_PLAN_VERSION, 0), pre, fb, LLVMConstInt(i64, fatbin_bytes, 0), wg,
        LLVMConstInt(i64, (unsigned long long)p->weights_bytes, 0), LLVMConstInt(i64, (unsigned long long)g->temp_size, 0),
        LLVMConstInt(i64, (unsigned long long)g->n_params, 0), LLVMConstInt(i64, (unsigned long long)g->n_results, 0), iog,
        LLVMConstInt(i64, (unsigned long long)p->n_launches, 0), kn, ln, LLVMConstInt(i64, (unsigned long long)min_arch, 0), ar,
    };
    _Static_assert(sizeof(kiln_gpu_plan) == 15 * 8, "kiln_gpu_plan: 15 fields of 8 bytes");
    snprintf(name, sizeof name, "%s_plan", o->prefix);
    LLVMValueRef plan = host_global(mod, name, LLVMConstStructInContext(ctx, f, sizeof f / sizeof *f, 0), 8);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
    wrapper(ctx, mod, b, o->prefix, "init", "kiln_rt_gpu_init", plan, 2, true, true);
    wrapper(ctx, mod, b, o->prefix, "run_device", "kiln_rt_gpu_run_device", plan, 3, false, true);
    wrapper(ctx, mod, b, o->prefix, "run_host", "kiln_rt_gpu_run_host", plan, 2, false, true);
    wrapper(ctx, mod, b, o->prefix, "free", "kiln_rt_gpu_free", plan, 1, false, false);
    wrapper(ctx, mod, b, o->prefix, "error", "kiln_rt_gpu_error", plan, 0, false, true);
    LLVMDisposeBuilder(b);
    char *msg = NULL;
    bool ok = !LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg);
    if (!ok) kl_diag_error(d, "%s: generated host IR is invalid (a Kiln bug): %.300s", g->source, msg);
    LLVMDisposeMessage(msg);
    char *err = NULL;
    if (ok && LLVMTargetMachineEmitToFile(tm, mod, (char *)path, LLVMObjectFile, &err)) {
        kl_diag_error(d, "%s: cannot write the object: %s", path, err ? err : "?");
        ok = false;
    }
    LLVMDisposeMessage(err);
    struct stat sb;
    if (st) st->object_bytes = ok && !stat(path, &sb) ? (int64_t)sb.st_size : 0, st->const_bytes = p->weights_bytes;
    LLVMDisposeModule(mod);
    LLVMDisposeTargetMachine(tm);
    LLVMContextDispose(ctx);
    return ok;
}

/* ---- the header ----------------------------------------------------------- */

static bool emit_gpu_header(const ir_graph *g, const cg_options *o, const char *archs, const char *path, kl_diag *d)
{
    FILE *f = fopen(path, "w");
    if (!f) return kl_diag_error(d, "%s: cannot write the header: %s", path, strerror(errno)), false;
    const char *P = o->prefix;
    int n_io = g->n_params + g->n_results;
    char (*names)[64] = kl_calloc(NULL, (size_t)n_io + 1, sizeof *names, "code generation");
    if (!names) kl_die(__FILE__, __LINE__, "out of memory");
    cg_c_names(g, names);
    fprintf(f, "/* %s.h: generated by kiln compile --target cuda (%s) from %s; docs/gpu.md.\n"
               " * Link the object with libkilnrt (-lkilnrt -ldl); the CUDA driver is loaded at run time. */\n",
            P, archs, o->source ? o->source : g->source ? g->source : "?");
    fprintf(f, "#ifndef %s_GPU_H\n#define %s_GPU_H\n\n#include <stdint.h>\n#ifndef __cplusplus\n#include <stdbool.h>\n#endif\n\n"
               "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", P, P);
    fprintf(f, "/* Return codes: 0 ok, 1 no CUDA driver, 2 no device, 3 architecture mismatch,\n"
               " * 4 out of memory, 5 launch/copy failure, 6 bad argument; %s_error() says why. */\n", P);
    fprintf(f, "typedef struct %s_gpu %s_gpu;\n", P, P);
    fprintf(f, "typedef struct %s_gpu_options { int device; int reserved; } %s_gpu_options; /* NULL: device 0 */\n\n", P, P);
    fprintf(f, "#define %s_ARENA_BYTES %lldLL /* device memory %s_init allocates for intermediates */\n", P, (long long)g->temp_size, P);
    fprintf(f, "#define %s_N_FEEDS %d\n#define %s_N_FETCHES %d\n", P, g->n_params, P, g->n_results);
    for (int list = 0; list < 2; list++) { /* bytes of each feed / fetch, as braces for an array initializer */
        fprintf(f, "#define %s_%s_BYTES_LIST {", P, list ? "FETCH" : "FEED");
        int lo = list ? g->n_params : 0, hi = list ? n_io : g->n_params;
        for (int i = lo; i < hi; i++) {
            const ir_node *n = i < g->n_params ? g->params[i] : g->results[i - g->n_params].node;
            fprintf(f, "%s%lldLL", i > lo ? ", " : "", (long long)ir_type_bytes(&n->type));
        }
        fprintf(f, "%s}\n", hi == lo ? "0" : "");
    }
    fprintf(f, "\n");
    fprintf(f, "/* Loads the kernels on the device, uploads the weights, allocates the arena. */\n");
    fprintf(f, "int %s_init(%s_gpu **out, const %s_gpu_options *options);\n", P, P, P);
    fprintf(f, "/* args: device pointers, feeds then fetches; stream: a CUstream or NULL.  Asynchronous. */\n");
    fprintf(f, "int %s_run_device(%s_gpu *model, void *const *args, void *stream);\n", P, P);
    fprintf(f, "/* args: host pointers, feeds then fetches: copies in, runs, copies out, synchronizes. */\n");
    fprintf(f, "int %s_run_host(%s_gpu *model, void *const *args);\n", P, P);
    fprintf(f, "void %s_free(%s_gpu *model);\n", P, P);
    fprintf(f, "const char *%s_error(void); /* this thread's last failure */\n\n", P);
    fprintf(f, "/* Host pointers, typed:");
    for (int i = 0; i < n_io; i++) {
        const ir_node *n = i < g->n_params ? g->params[i] : g->results[i - g->n_params].node;
        fprintf(f, "%s %s %s[", i ? "," : "", i < g->n_params ? "feed" : "fetch", names[i]);
        for (int k = 0; k < n->type.rank; k++) fprintf(f, "%s%lld", k ? "," : "", (long long)n->type.dims[k]);
        fprintf(f, "]");
    }
    fprintf(f, " */\nstatic inline int %s_run(%s_gpu *model", P, P);
    for (int i = 0; i < n_io; i++) {
        const ir_node *n = i < g->n_params ? g->params[i] : g->results[i - g->n_params].node;
        fprintf(f, ", %s%s *%s_%s", i < g->n_params ? "const " : "", cg_c_type(n->type.dtype), i < g->n_params ? "feed" : "fetch", names[i]);
    }
    fprintf(f, ")\n{\n    void *args[%d] = {", n_io ? n_io : 1);
    for (int i = 0; i < n_io; i++) fprintf(f, "%s(void *)%s_%s", i ? ", " : "", i < g->n_params ? "feed" : "fetch", names[i]);
    if (!n_io) fprintf(f, "0");
    fprintf(f, "};\n    return %s_run_host(model, args);\n}\n\n#ifdef __cplusplus\n}\n#endif\n#endif\n", P);
    free(names);
    bool ok = !ferror(f);
    if (fclose(f) || !ok) return kl_diag_error(d, "%s: cannot write the header", path), false;
    return true;
}

/* ---- the entry point ------------------------------------------------------ */

bool cg_emit_cuda(const ir_graph *g, const cg_options *o, const char *object_path, const char *header_path,
                  cg_stats *st, kl_diag *d)
{
    if (!cg_check_prefix(o, d)) return false;
    if (o->threads > 1)
        return kl_diag_error(d, "%s: --threads is for CPU targets; a cuda object runs on the GPU's threads", g->source), false;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KL_OP_WHILE || g->nodes[i]->op == KL_OP_IF) {
            const ir_node *n = g->nodes[i];
            return kl_diag_error(d, "%s: node '%s' (%s): not yet on cuda (control flow; docs/gpu.md)", g->source,
                                 node_name(n), kl_op_name(n->op)),
                   false;
        }
    if (!gpu_check(g, d)) return false;
    /* the architectures: "native" (no --gpu-arch) is the row's default */
    const char *list = !o->cpu || !strcmp(o->cpu, "native") ? "sm_80" : o->cpu;
    char archs[GPU_MAX_ARCHS][16];
    int n_archs = 0, min_arch = 1000;
    for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        size_t len = strcspn(p, ",");
        if (!len) continue;
        if (n_archs == GPU_MAX_ARCHS) return kl_diag_error(d, "--gpu-arch: at most %d architectures", GPU_MAX_ARCHS), false;
        snprintf(archs[n_archs], sizeof archs[n_archs], "%.*s", (int)len, p);
        cg_machine m;
        if (!cg_machine_resolve(o->target, archs[n_archs], NULL, &m, d)) return false;
        cg_machine_free(&m);
        int cc = atoi(archs[n_archs] + 3);
        if (cc < min_arch) min_arch = cc;
        n_archs++;
    }
    if (!n_archs) return kl_diag_error(d, "--gpu-arch: no architecture given (e.g. sm_80,sm_90)"), false;
    char ptxas[4096], fatbinary[4096];
    if (!find_tool("ptxas", ptxas, sizeof ptxas) || !find_tool("fatbinary", fatbinary, sizeof fatbinary))
        return kl_diag_error(d, "%s: --target cuda needs the CUDA toolkit's ptxas and fatbinary (looked in $KILN_CUDA_HOME/bin, "
                                "/usr/local/cuda/bin and PATH)", g->source),
               false;
    char dir[] = "/tmp/kiln-cuda-XXXXXX";
    if (!mkdtemp(dir)) return kl_diag_error(d, "cannot make a temporary directory: %s", strerror(errno)), false;
    char files[GPU_MAX_ARCHS * 2 + 3][4200 + 64];
    int n_files = 0;
    char log[4200], image[GPU_MAX_ARCHS + 1][4300];
    snprintf(log, sizeof log, "%s/log", dir);
    bool ok = true;
    int lowest = 0;
    for (int a = 0; ok && a < n_archs; a++) {
        int nk = 0;
        char *ptx = emit_ptx(g, o, archs[a], &nk, d);
        if (!ptx) { ok = false; break; }
        if (st) st->n_kernels = nk;
        char *ptx_path = files[n_files++], *cubin = files[n_files++];
        snprintf(ptx_path, 4264, "%s/%s.ptx", dir, archs[a]);
        snprintf(cubin, 4264, "%s/%s.cubin", dir, archs[a]);
        ok = write_file(ptx_path, ptx, strlen(ptx));
        free(ptx);
        if (!ok) { kl_diag_error(d, "%s: cannot write %s", g->source, ptx_path); break; }
        char arch_opt[160];
        snprintf(arch_opt, sizeof arch_opt, "-arch=%s", archs[a]);
        char *argv[] = {ptxas, arch_opt, "-O3", ptx_path, "-o", cubin, NULL};
        if (run_tool(argv, log)) {
            char what[192];
            snprintf(what, sizeof what, "ptxas (%s)", archs[a]);
            tool_error(d, g, what, log);
            ok = false;
        }
        snprintf(image[a], sizeof image[a], "--image3=kind=elf,sm=%s,file=%s", archs[a] + 3, cubin);
        if (atoi(archs[a] + 3) < atoi(archs[lowest] + 3)) lowest = a;
    }
    unsigned char *fatbin = NULL;
    size_t fatbin_bytes = 0;
    char fb_path[4300];
    snprintf(fb_path, sizeof fb_path, "%s/model.fatbin", dir);
    if (ok) { /* the cubins, and the lowest architecture's PTX for newer GPUs */
        snprintf(image[n_archs], sizeof image[n_archs], "--image3=kind=ptx,sm=%s,file=%s", archs[lowest] + 3, files[2 * lowest]);
        char create[4400];
        snprintf(create, sizeof create, "--create=%s", fb_path);
        char *argv[GPU_MAX_ARCHS + 6];
        int n = 0;
        argv[n++] = fatbinary, argv[n++] = create, argv[n++] = "-64";
        for (int a = 0; a <= n_archs; a++) argv[n++] = image[a];
        argv[n] = NULL;
        if (run_tool(argv, log)) tool_error(d, g, "fatbinary", log), ok = false;
        else if (!(fatbin = read_file(fb_path, &fatbin_bytes))) kl_diag_error(d, "%s: cannot read %s", g->source, fb_path), ok = false;
    }
    const char *keep = getenv("KILN_CUDA_KEEP"); /* the PTX, cubins and fat binary stay (tests, docs/gpu.md) */
    if (keep && *keep) fprintf(stderr, "kiln: cuda intermediates kept in %s\n", dir);
    else {
        for (int i = 0; i < n_files; i++) unlink(files[i]);
        unlink(fb_path), unlink(log), rmdir(dir);
    }
    char arch_list[GPU_MAX_ARCHS * 16] = "";
    for (int a = 0; a < n_archs; a++) strcat(arch_list, a ? "," : ""), strcat(arch_list, archs[a]);
    gpu_plan p = {0};
    ok = ok && make_plan(g, o, &p, d);
    ok = ok && emit_host_object(g, o, &p, fatbin, fatbin_bytes, arch_list, min_arch, object_path, st, d);
    ok = ok && (!header_path || emit_gpu_header(g, o, arch_list, header_path, d));
    plan_free(&p);
    free(fatbin);
    return ok;
}
