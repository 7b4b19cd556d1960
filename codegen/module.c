/* codegen/module.c — one LLVM module per graph: constants, one function per
 * kernel, the entry points; then optimization and output (object or JIT).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <llvm-c/Linker.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"
#include "kiln/dist.h"
#include "kiln/runtime.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void progress(const cg_options *o, const char *stage)
{
    if (o->progress) o->progress(o->progress_user, stage, 0, 0);
}

void cg_llvm_version(unsigned *major, unsigned *minor, unsigned *patch) { LLVMGetVersion(major, minor, patch); }

void cg_context_init(cg *c, LLVMContextRef ctx, const ir_graph *g, const cg_options *o, kl_diag *d)
{
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->g = g;
    c->o = o;
    c->d = d;
    c->mod = LLVMModuleCreateWithNameInContext(o->prefix, ctx);
    c->b = LLVMCreateBuilderInContext(ctx);
    c->i1 = LLVMInt1TypeInContext(ctx);
    c->i8 = LLVMInt8TypeInContext(ctx);
    c->i32 = LLVMInt32TypeInContext(ctx);
    c->i64 = LLVMInt64TypeInContext(ctx);
    c->f32 = LLVMFloatTypeInContext(ctx);
    c->ptr = LLVMPointerTypeInContext(ctx, 0);
    c->void_t = LLVMVoidTypeInContext(ctx);
    c->consts = kl_calloc(NULL, (size_t)g->next_id + 1, sizeof *c->consts, "code generation");
    c->base_prefix = o->prefix;
}

static void cg_done(cg *c)
{
    LLVMDisposeBuilder(c->b);
    free(c->consts);
    free(c->tile_fns);
    cg_machine_free(&c->m);
}

/* Weights as one byte array each: LLVM's fast path for big constants. */
static void emit_constants(cg *c)
{
    for (int i = 0; i < c->g->n_nodes; i++) {
        ir_node *n = c->g->nodes[i];
        if (n->op != KL_OP_CONST || cg_const_only_prepacked(c->g, n)) continue; /* gemm.c packs those */
        size_t bytes = ir_type_bytes(&n->type);
        LLVMValueRef init = LLVMConstStringInContext2(c->ctx, n->data, bytes ? bytes : 1, 1);
        char name[64];
        snprintf(name, sizeof name, "%s_c%d", c->o->prefix, n->id);
        c->consts[n->id] = cg_const_global(c, name, init);
        c->const_bytes += (int64_t)bytes;
    }
}

void cg_function_attrs(cg *c, LLVMValueRef fn)
{
    LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", c->cpu);
    if (c->features && *c->features) LLVMAddTargetDependentFunctionAttr(fn, "target-features", c->features);
    const char *attrs[3] = {"nounwind", "optsize", "minsize"};
    for (int i = 0; i < (c->o->size ? 3 : 1); i++) { /* -Os: LLVM picks the smallest code everywhere */
        unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, kind, 0));
    }
}

static void set_target_attrs(cg *c, LLVMValueRef fn) { cg_function_attrs(c, fn); }

/* The input slot of the kernel whose pointer is the caller's buffer of
 * output x, a variable's new value written in place (its old value's param
 * is an input: passes/bufassign.c made that the one pointer of the kernel
 * reaching the buffer), or -1. */
static int in_place_input(const cg *c, const ir_node *x, ir_node **in_nodes, int n_in)
{
    const ir_graph *g = c->g;
    if (x->store != IR_STORE_FETCH || !g->result_var || g->result_var[x->index] < 0 || !g->param_var) return -1;
    for (int i = 0; i < n_in; i++)
        if (in_nodes[i]->op == KL_OP_PARAM && in_nodes[i]->store == IR_STORE_FEED &&
            g->param_var[in_nodes[i]->index] == g->result_var[x->index])
            return i;
    return -1;
}

static bool is_state_output(const cg *c, const ir_node *x)
{
    return x->store == IR_STORE_FETCH && c->g->result_var && c->g->result_var[x->index] >= 0;
}

/* void P_kID(out, in..., out2..., [scratch], [panels]): the kernel's further
 * outputs (ir/plan.h) after its inputs; the scratch pointer when the
 * kernel's contraction packs operands at run time, the panels of its
 * compile-time packed B (gemm.c). */
static LLVMValueRef emit_kernel_fn(cg *c, const kl_kernel *kern, ir_node **in_nodes, int n_in)
{
    ir_node *root = kern->root;
    ir_node *gm = cg_kernel_contraction(c->g, root);
    bool split = !gm && cg_kernel_units(c, root, in_nodes, n_in) > 0;
    int n_out = kern->n_outputs;
    bool packed = gm && !gm->gemm->pack_b_runtime;
    int n_ptrs = n_in + 1 + n_out + (gm && gm->scratch_bytes > 0) + packed, n_params = n_ptrs + (gm || split ? 2 : 0);
    LLVMTypeRef *params = kl_malloc(NULL, sizeof *params * ((size_t)n_params), "code generation");
    LLVMValueRef *inputs = kl_malloc(NULL, sizeof *inputs * ((size_t)n_in + 1), "code generation");
    LLVMValueRef *outs = kl_malloc(NULL, sizeof *outs * ((size_t)n_out + 1), "code generation");
    if (!params || !inputs || !outs) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < n_params; i++) params[i] = i < n_ptrs ? c->ptr : c->i64; /* GEMM or split: work range lo, hi */
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, params, (unsigned)n_params, 0);
    free(params);
    char name[64];
    snprintf(name, sizeof name, "%s_k%d", c->o->prefix, root->id);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    set_target_attrs(c, fn);
    /* One symbol per kernel, so profiles (perf) attribute time to kernels
     * (a GEMM's k loops are in its P_tileN, equal kernels merge into one);
     * a call per kernel costs nothing next to its loops. */
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, noinline, 0));
    /* Distinct buffers (bufassign never overlaps a kernel's output with its
     * inputs), except a variable's update in place (ir.h: result_var),
     * whose output is the caller's buffer of the old value.  An elementwise
     * or scatter kernel stores such an output through its old value's input
     * pointer (a scatter then copies nothing: codegen/scatter.c),
     * so its pointers stay distinct (noalias: vector loops without run-time
     * checks); other kernels writing state get no noalias. */
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    bool ew = (op_is_elementwise(root->op) || root->op == KL_OP_SCATTER) && !gm, state = is_state_output(c, root), aliased = false;
    for (int o = -1; o < n_out; o++) {
        const ir_node *x = o < 0 ? root : kern->outputs[o];
        state |= is_state_output(c, x);
        if (in_place_input(c, x, in_nodes, n_in) >= 0 && !ew) aliased = true;
    }
    if (!ew && state) aliased = true; /* as before multi-output kernels: a state root of any op */
    for (int i = 0; i < n_ptrs && !aliased; i++) LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(c->ctx, noalias, 0));
    /* An initializer copies a constant into the state: no memset/memcpy call for it. */
    if (state) LLVMAddTargetDependentFunctionAttr(fn, "no-builtins", "");
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(c->b, entry);
    for (int i = 0; i < n_in; i++) inputs[i] = LLVMGetParam(fn, (unsigned)i + 1);
    LLVMValueRef out = LLVMGetParam(fn, 0);
    if (ew) {
        int at = in_place_input(c, root, in_nodes, n_in);
        if (at >= 0) out = inputs[at];
    }
    for (int o = 0; o < n_out; o++) {
        int at = ew ? in_place_input(c, kern->outputs[o], in_nodes, n_in) : -1;
        outs[o] = at >= 0 ? inputs[at] : LLVMGetParam(fn, (unsigned)(n_in + 1 + o));
    }
    int scratch_at = n_in + 1 + n_out;
    c->out_ptrs = outs;
    bool ok = gm ? cg_emit_gemm(c, gm, gm == root ? NULL : root, out, in_nodes, inputs, n_in,
                                n_ptrs - packed > scratch_at ? LLVMGetParam(fn, (unsigned)scratch_at) : NULL,
                                packed ? LLVMGetParam(fn, (unsigned)n_ptrs - 1) : NULL,
                                LLVMGetParam(fn, (unsigned)n_ptrs), LLVMGetParam(fn, (unsigned)n_ptrs + 1))
                 : (c->par_lo = split ? LLVMGetParam(fn, (unsigned)n_ptrs) : NULL,
                    c->par_hi = split ? LLVMGetParam(fn, (unsigned)n_ptrs + 1) : NULL,
                    cg_emit_kernel(c, fn, root, out, in_nodes, inputs, n_in));
    c->par_lo = c->par_hi = NULL;
    c->out_ptrs = NULL;
    free(inputs);
    free(outs);
    if (!ok) return NULL;
    LLVMBuildRetVoid(c->b);
    c->n_kernels++;
    return fn;
}

/* Pointer of a node's storage inside the graph function being emitted. */
static LLVMValueRef storage(cg *c, ir_node *n, LLVMValueRef args, LLVMValueRef temp)
{
    switch (n->store) {
    case IR_STORE_FEED:
    case IR_STORE_FETCH: {
        int slot = n->store == IR_STORE_FEED ? n->index : c->g->n_params + n->index;
        LLVMValueRef idx = cg_i64(c, slot);
        LLVMValueRef p = LLVMBuildInBoundsGEP2(c->b, c->ptr, args, &idx, 1, "");
        return LLVMBuildLoad2(c->b, c->ptr, p, n->name ? n->name : "");
    }
    case IR_STORE_TEMP: {
        LLVMValueRef idx = cg_i64(c, n->offset);
        return LLVMBuildInBoundsGEP2(c->b, c->i8, temp, &idx, 1, "");
    }
    case IR_STORE_CONST: return c->consts[n->id] ? c->consts[n->id] : LLVMConstNull(c->ptr); /* prepacked only */
    case IR_STORE_ALIAS: return storage(c, n->in[0], args, temp);
    case IR_STORE_NONE: break;
    }
    KL_ASSERT(!"reading a value that is not stored");
}

LLVMValueRef cg_storage(cg *c, ir_node *n) { return storage(c, n, c->cur_args, c->cur_temp); }

/* g and every region under it carry a kernel plan (passes/fuse.c and
 * bufassign.c build them; hand-planned tests call ir_plan_build). */
static bool plans_ok(cg *c, const ir_graph *g)
{
    if (!g->plan) {
        kl_diag_error(c->d, "%s: graph has no kernel plan (run the pass pipeline first; a Kiln bug)", g->source);
        return false;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int r = 0; r < g->nodes[i]->n_regions; r++)
            if (!plans_ok(c, g->nodes[i]->regions[r])) return false;
    return true;
}

/* Every node a kernel computes has a dtype the target can do. */
static bool dtypes_ok(cg *c)
{
    const kl_plan *p = c->g->plan;
    bool ok = true;
    for (int j = 0; j < p->n_kernels; j++)
        for (int m = 0; m < p->kernels[j].n_members; m++)
            if (!cg_dtype_ok(c, p->kernels[j].members[m])) ok = false;
    return ok;
}

/* void P_kID_par(void **args, int64_t lo, int64_t hi): a GEMM kernel as the
 * pool's body; args holds the kernel's pointers. */
static LLVMValueRef parallel_body(cg *c, ir_node *root, LLVMValueRef kernel, int n_args)
{
    char name[64];
    snprintf(name, sizeof name, "%s_k%d_par", c->o->prefix, root->id);
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, (LLVMTypeRef[]){c->ptr, c->i64, c->i64}, 3, 0);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    set_target_attrs(c, fn);
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef *args = kl_malloc(NULL, sizeof *args * ((size_t)n_args + 2), "code generation");
    for (int i = 0; i < n_args; i++) {
        LLVMValueRef idx = cg_i64(c, i);
        args[i] = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, LLVMGetParam(fn, 0), &idx, 1, ""), "");
    }
    args[n_args] = LLVMGetParam(fn, 1);
    args[n_args + 1] = LLVMGetParam(fn, 2);
    LLVMBuildCall2(c->b, LLVMGlobalGetValueType(kernel), kernel, args, (unsigned)n_args + 2, "");
    LLVMBuildRetVoid(c->b);
    free(args);
    LLVMPositionBuilderAtEnd(c->b, saved);
    return fn;
}

/* A GEMM or split kernel runs on the calling thread over all its work, or
 * (threads > 1 and enough work: cg_kernel_units) split over libkilnrt's pool. */
static void call_split_kernel(cg *c, ir_node *root, ir_node *gm, LLVMValueRef fn, LLVMValueRef *args, int n_args,
                              int64_t units)
{
    if (!units) {
        args[n_args] = cg_i64(c, 0);
        args[n_args + 1] = cg_i64(c, 0); /* unused: the kernel covers everything */
        LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n_args + 2, "");
        return;
    }
    if (gm && (gm->gemm->pad_copy || gm->gemm->pack_b_runtime)) { /* B packed, the input padded: once, before the split */
        args[n_args] = args[n_args + 1] = cg_i64(c, -1);
        LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n_args + 2, "");
    }
    LLVMTypeRef at = LLVMArrayType2(c->ptr, (uint64_t)n_args);
    LLVMValueRef block = cg_entry_alloca(c, at, "par_args");
    for (int i = 0; i < n_args; i++) {
        LLVMValueRef idx[2] = {cg_i64(c, 0), cg_i64(c, i)};
        LLVMBuildStore(c->b, args[i], LLVMBuildInBoundsGEP2(c->b, at, block, idx, 2, ""));
    }
    LLVMValueRef body = parallel_body(c, root, fn, n_args);
    LLVMValueRef pf = LLVMGetNamedFunction(c->mod, "kiln_rt_parallel_for");
    LLVMTypeRef pft = LLVMFunctionType(c->void_t, (LLVMTypeRef[]){c->ptr, c->ptr, c->i64, c->i32}, 4, 0);
    if (!pf) pf = LLVMAddFunction(c->mod, "kiln_rt_parallel_for", pft);
    LLVMValueRef call_args[4] = {body, block, cg_i64(c, units), LLVMConstInt(c->i32, (unsigned long long)c->o->threads, 0)};
    LLVMBuildCall2(c->b, pft, pf, call_args, 4, "");
}

static LLVMValueRef emit_graph_fn(cg *c, const ir_graph *g, const char *name, bool internal, bool profile);

/* A while or if: its regions as functions of their own (prefix P_rID, so
 * kernel and constant names stay unique), then the loop or branch here. */
static bool emit_control(cg *c, ir_node *n)
{
    cg_options o = *c->o, *outer_o = (cg_options *)c->o;
    char prefix[96], name[2][128];
    snprintf(prefix, sizeof prefix, "%s_r%d", c->o->prefix, n->id);
    o.prefix = prefix;
    LLVMValueRef fns[2];
    LLVMBasicBlockRef at = LLVMGetInsertBlock(c->b);
    LLVMValueRef args = c->cur_args, temp = c->cur_temp;
    c->o = &o;
    for (int r = 0; r < 2; r++) {
        snprintf(name[r], sizeof name[r], "%s_%d", prefix, r);
        fns[r] = emit_graph_fn(c, n->regions[r], name[r], true, false);
    }
    c->o = outer_o;
    c->cur_args = args, c->cur_temp = temp;
    LLVMPositionBuilderAtEnd(c->b, at);
    if (!fns[0] || !fns[1]) return false;
    return n->op == KL_OP_WHILE ? cg_emit_while(c, n, fns[0], fns[1]) : cg_emit_if(c, n, fns[0], fns[1]);
}

/* ---- distributed execution (docs/distributed.md): calls into runtime/dist.c */

static LLVMValueRef rt_fn(cg *c, const char *name, LLVMTypeRef *params, unsigned n, LLVMTypeRef *ft)
{
    *ft = LLVMFunctionType(c->i32, params, n, 0);
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, name);
    return f ? f : LLVMAddFunction(c->mod, name, *ft);
}

/* A non-zero rc from the runtime returns it from the entry at once. */
static void return_on_error(cg *c, LLVMValueRef rc)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(c->ctx, fn, "dist_fail");
    LLVMBasicBlockRef good = LLVMAppendBasicBlockInContext(c->ctx, fn, "dist_ok");
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, rc, LLVMConstInt(c->i32, 0, 0), ""), bad, good);
    LLVMPositionBuilderAtEnd(c->b, bad);
    LLVMBuildRet(c->b, rc);
    LLVMPositionBuilderAtEnd(c->b, good);
}

static void emit_dist_begin(cg *c, const ir_graph *g)
{
    LLVMTypeRef ft, i64 = c->i64, i32 = c->i32;
    LLVMValueRef f = rt_fn(c, "kiln_rt_dist_begin", (LLVMTypeRef[]){i64, i32, i32}, 3, &ft);
    LLVMValueRef a[3] = {LLVMConstInt(i64, g->dist_fingerprint, 0), LLVMConstInt(i32, (unsigned)g->dist_task, 0),
                         LLVMConstInt(i32, (unsigned)g->dist_tasks, 0)};
    return_on_error(c, LLVMBuildCall2(c->b, ft, f, a, 3, "dist_begin"));
}

static void emit_dist_end(cg *c)
{
    LLVMTypeRef ft;
    LLVMValueRef f = rt_fn(c, "kiln_rt_dist_end", NULL, 0, &ft);
    return_on_error(c, LLVMBuildCall2(c->b, ft, f, NULL, 0, "dist_end"));
}

/* send: kiln_rt_send(value, bytes, peer, key, what); recv: kiln_rt_recv(buffer, ...);
 * allreduce: kiln_rt_allreduce_f32(in, out, n, what); the bucketed pair:
 * kiln_rt_allreduce_start(in, buf, n, bucket, buckets, what) and
 * kiln_rt_allreduce_wait(buf, out, n, bucket, buckets, what). */
static void emit_comm(cg *c, ir_node *n)
{
    if (op_is_bucket(n->op)) {
        char tb[160], what[512];
        snprintf(what, sizeof what, "gradient bucket %d of %d '%s' %s", n->attr.comm.key, n->attr.comm.peer, n->name ? n->name : "?",
                 ir_type_str(&n->type, tb, sizeof tb));
        LLVMTypeRef ft, p = c->ptr, i32 = c->i32;
        LLVMValueRef f = rt_fn(c, n->op == KL_OP_ALLREDUCE_START ? "kiln_rt_allreduce_start" : "kiln_rt_allreduce_wait",
                               (LLVMTypeRef[]){p, p, c->i64, i32, i32, p}, 6, &ft);
        LLVMValueRef a[6] = {cg_storage(c, n->in[0]), cg_storage(c, n), LLVMConstInt(c->i64, (unsigned long long)ir_type_numel(&n->type), 0),
                             LLVMConstInt(i32, (unsigned)n->attr.comm.key, 0), LLVMConstInt(i32, (unsigned)n->attr.comm.peer, 0),
                             LLVMBuildGlobalStringPtr(c->b, what, "what")};
        return_on_error(c, LLVMBuildCall2(c->b, ft, f, a, 6, ""));
        return;
    }
    if (n->op == KL_OP_ALLREDUCE) {
        char tb[160], what[512];
        snprintf(what, sizeof what, "gradient of '%s' %s", n->name ? n->name : "?", ir_type_str(&n->type, tb, sizeof tb));
        LLVMTypeRef ft;
        LLVMValueRef f = rt_fn(c, "kiln_rt_allreduce_f32", (LLVMTypeRef[]){c->ptr, c->ptr, c->i64, c->ptr}, 4, &ft);
        LLVMValueRef a[4] = {cg_storage(c, n->in[0]), cg_storage(c, n), LLVMConstInt(c->i64, (unsigned long long)ir_type_numel(&n->type), 0),
                             LLVMBuildGlobalStringPtr(c->b, what, "what")};
        return_on_error(c, LLVMBuildCall2(c->b, ft, f, a, 4, ""));
        return;
    }
    ir_node *v = n->op == KL_OP_SEND ? n->in[0] : n;
    char tb[160], what[512];
    snprintf(what, sizeof what, "node '%s' %s", n->name ? n->name : "?", ir_type_str(&v->type, tb, sizeof tb));
    LLVMTypeRef ft, i64 = c->i64, i32 = c->i32, p = c->ptr;
    LLVMValueRef f = rt_fn(c, n->op == KL_OP_SEND ? "kiln_rt_send" : "kiln_rt_recv", (LLVMTypeRef[]){p, i64, i32, i32, p}, 5, &ft);
    LLVMValueRef a[5] = {cg_storage(c, v), LLVMConstInt(i64, ir_type_bytes(&v->type), 0),
                         LLVMConstInt(i32, (unsigned)n->attr.comm.peer, 0), LLVMConstInt(i32, (unsigned)n->attr.comm.key, 0),
                         LLVMBuildGlobalStringPtr(c->b, what, "what")};
    return_on_error(c, LLVMBuildCall2(c->b, ft, f, a, 5, ""));
}

/* One kernel of the graph being emitted: its function and the call; args
 * has room for its inputs and outputs and five more pointers. */
static bool emit_root(cg *c, const kl_kernel *k, LLVMValueRef *args)
{
    ir_node *root = k->root, **in_nodes = k->inputs;
    if (root->op == KL_OP_WHILE || root->op == KL_OP_IF) return emit_control(c, root);
    if (op_is_comm(root->op)) return emit_comm(c, root), true;
    if (k->contraction && k->contraction->gemm->shared) return cg_emit_shared(c, k); /* -Os */
    LLVMBasicBlockRef bb = LLVMGetInsertBlock(c->b);
    int n_in = k->n_inputs;
    LLVMValueRef fn = emit_kernel_fn(c, k, in_nodes, n_in);
    if (!fn) return false;
    LLVMPositionBuilderAtEnd(c->b, bb);
    args[0] = cg_storage(c, root);
    for (int i = 0; i < n_in; i++) args[i + 1] = cg_storage(c, in_nodes[i]);
    int n_args = n_in + 1;
    for (int o = 0; o < k->n_outputs; o++) args[n_args++] = cg_storage(c, k->outputs[o]);
    ir_node *gm = k->contraction;
    if (gm && k->scratch_bytes > 0) {
        LLVMValueRef off = cg_i64(c, k->scratch_offset);
        args[n_args++] = LLVMBuildInBoundsGEP2(c->b, c->i8, c->cur_temp, &off, 1, "scratch");
    }
    if (gm && !gm->gemm->pack_b_runtime) args[n_args++] = cg_gemm_packed_b(c, gm);
    int64_t units = cg_kernel_units(c, root, in_nodes, n_in);
    double work = cg_kernel_work_ns(k);
    c->n_split += units > 0;
    if (work > c->max_work_ns) c->max_work_ns = work;
    if (gm || units) call_split_kernel(c, root, gm, fn, args, n_args, units);
    else LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n_args, "");
    return true;
}

/* int NAME(void *const *args, void *temp): g's kernels in schedule order;
 * args holds the feeds, then the fetches.  The entry point, and each region
 * of a while/if (then internal, with its own constants). */
static LLVMValueRef emit_graph_fn(cg *c, const ir_graph *g, const char *name, bool internal, bool profile)
{
    const ir_graph *outer = c->g;
    LLVMValueRef *outer_consts = c->consts;
    c->g = g;
    if (internal) {
        c->consts = kl_calloc(NULL, (size_t)g->next_id + 1, sizeof *c->consts, "code generation");
        if (!c->consts) kl_die(__FILE__, __LINE__, "out of memory");
        emit_constants(c);
    }
    LLVMTypeRef ft = LLVMFunctionType(c->i32, (LLVMTypeRef[]){c->ptr, c->ptr, c->ptr}, profile ? 3 : 2, 0);
    LLVMValueRef entry = LLVMAddFunction(c->mod, name, ft);
    if (internal) LLVMSetLinkage(entry, LLVMInternalLinkage);
    set_target_attrs(c, entry);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, entry, "entry"));
    c->cur_args = LLVMGetParam(entry, 0), c->cur_temp = LLVMGetParam(entry, 1);
    const kl_plan *plan = g->plan;
    int max_in = 1;
    for (int j = 0; j < plan->n_kernels; j++)
        if (plan->kernels[j].n_inputs + plan->kernels[j].n_outputs > max_in)
            max_in = plan->kernels[j].n_inputs + plan->kernels[j].n_outputs;
    LLVMValueRef *args = kl_malloc(NULL, sizeof *args * ((size_t)max_in + 5), "code generation");
    bool ok = !internal || dtypes_ok(c);
    LLVMValueRef counters = NULL, tick = NULL;
    LLVMTypeRef tick_t = NULL;
    if (profile) { /* counters, or a local block when the caller passed NULL: no branch per kernel */
        LLVMTypeRef at = LLVMArrayType2(c->i64, (uint64_t)plan->n_kernels * 2 + 2);
        LLVMValueRef local = LLVMBuildAlloca(c->b, at, "prof_local"), given = LLVMGetParam(entry, 2);
        counters = LLVMBuildSelect(c->b, LLVMBuildIsNull(c->b, given, ""), local, given, "counters");
        unsigned id = LLVMLookupIntrinsicID("llvm.readcyclecounter", strlen("llvm.readcyclecounter"));
        tick = LLVMGetIntrinsicDeclaration(c->mod, id, NULL, 0);
        tick_t = LLVMIntrinsicGetType(c->ctx, id, NULL, 0);
    }
    bool dist = !internal && (g->dist_tasks > 0 || g->dist_fingerprint); /* partitioned, or data-parallel */
    if (ok && dist) emit_dist_begin(c, g);
    for (int j = 0; ok && j < plan->n_kernels; j++) {
        if (!internal && c->o->progress) c->o->progress(c->o->progress_user, "codegen", j + 1, plan->n_kernels);
        LLVMValueRef t0 = profile ? LLVMBuildCall2(c->b, tick_t, tick, NULL, 0, "t0") : NULL;
        ok = emit_root(c, &plan->kernels[j], args);
        if (!ok || !profile) continue;
        LLVMValueRef t1 = LLVMBuildCall2(c->b, tick_t, tick, NULL, 0, "t1");
        for (int w = 0; w < 2; w++) {
            LLVMValueRef idx = cg_i64(c, 2 * j + w);
            LLVMValueRef at = LLVMBuildInBoundsGEP2(c->b, c->i64, counters, &idx, 1, "");
            LLVMValueRef add = w ? cg_i64(c, 1) : LLVMBuildSub(c->b, t1, t0, "");
            LLVMBuildStore(c->b, LLVMBuildAdd(c->b, LLVMBuildLoad2(c->b, c->i64, at, ""), add, ""), at);
        }
    }
    free(args);
    if (ok && dist) emit_dist_end(c);
    if (ok) LLVMBuildRet(c->b, LLVMConstInt(c->i32, 0, 0));
    if (internal) free(c->consts);
    c->g = outer;
    c->consts = outer_consts;
    return ok ? entry : NULL;
}

static bool emit_entry(cg *c)
{
    char name[128];
    snprintf(name, sizeof name, "%s_run_args", c->o->prefix);
    if (!c->o->profile) return emit_graph_fn(c, c->g, name, false, false) != NULL;
    char pname[128];
    snprintf(pname, sizeof pname, "%s_run_profile", c->o->prefix);
    LLVMValueRef prof = emit_graph_fn(c, c->g, pname, false, true);
    if (!prof) return false;
    /* P_run_args(args, temp) = P_run_profile(args, temp, NULL) */
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->i32, (LLVMTypeRef[]){c->ptr, c->ptr}, 2, 0));
    set_target_attrs(c, fn);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef r = LLVMBuildCall2(c->b, LLVMGlobalGetValueType(prof), prof,
                                    (LLVMValueRef[]){LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMConstNull(c->ptr)}, 3, "");
    LLVMBuildRet(c->b, r);
    return true;
}

/* int P_run(const T *feed..., T *fetch..., void *temp): the typed form. */
static void emit_typed_entry(cg *c)
{
    int n = c->g->n_params + c->g->n_results;
    LLVMTypeRef *params = kl_calloc(NULL, (size_t)n + 1, sizeof *params, "code generation");
    for (int i = 0; i <= n; i++) params[i] = c->ptr;
    char name[128];
    snprintf(name, sizeof name, "%s_run", c->o->prefix);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->i32, params, (unsigned)n + 1, 0));
    set_target_attrs(c, fn);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef array = LLVMBuildAlloca(c->b, LLVMArrayType2(c->ptr, (uint64_t)n + 1), "args");
    for (int i = 0; i < n; i++) {
        LLVMValueRef idx[2] = {cg_i64(c, 0), cg_i64(c, i)};
        LLVMBuildStore(c->b, LLVMGetParam(fn, (unsigned)i), LLVMBuildInBoundsGEP2(c->b, LLVMArrayType2(c->ptr, (uint64_t)n + 1), array, idx, 2, ""));
    }
    snprintf(name, sizeof name, "%s_run_args", c->o->prefix);
    LLVMValueRef run_args = LLVMGetNamedFunction(c->mod, name);
    LLVMValueRef r = LLVMBuildCall2(c->b, LLVMGlobalGetValueType(run_args), run_args,
                                    (LLVMValueRef[]){array, LLVMGetParam(fn, (unsigned)n)}, 2, "");
    LLVMBuildRet(c->b, r);
    free(params);
}

static bool optimize(cg *c, LLVMTargetMachineRef tm)
{
    char *msg = NULL;
    if (LLVMVerifyModule(c->mod, LLVMReturnStatusAction, &msg)) {
        kl_diag_error(c->d, "%s: generated LLVM IR is invalid (a Kiln bug): %.300s", c->g->source, msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMDisposeMessage(msg);
    const char *dump = getenv("KILN_DUMP_IR"); /* the module before LLVM's passes (docs/performance.md) */
    if (dump && *dump && LLVMPrintModuleToFile(c->mod, dump, &msg)) LLVMDisposeMessage(msg);
    /* Kernels of equal shapes (a cell net repeats its cells; GEMM kernels
     * take their panels as a parameter, zeros are one global per length)
     * are equal functions: mergefunc keeps one before the pipeline, so LLVM
     * optimizes and generates each once (docs/performance.md, compile time). */
    char pipeline[48];
    int level = c->o->opt_level < 0 ? 0 : c->o->opt_level > 3 ? 3 : c->o->opt_level;
    snprintf(pipeline, sizeof pipeline, "%sdefault<O%d>", level ? "mergefunc," : "", level);
    if (c->o->size) snprintf(pipeline, sizeof pipeline, "mergefunc,default<Os>");
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, c->o->opt_level >= 2 && !c->o->size);
    LLVMPassBuilderOptionsSetSLPVectorization(po, c->o->opt_level >= 2 && !c->o->size);
    LLVMErrorRef err = LLVMRunPasses(c->mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (err) {
        char *m = LLVMGetErrorMessage(err);
        kl_diag_error(c->d, "%s: LLVM optimization failed: %s", c->g->source, m);
        LLVMDisposeErrorMessage(m);
        return false;
    }
    return true;
}

/* Builds (and with run_opt optimizes) the module in ctx; the target machine is returned for emission. */
static bool build_module(cg *c, LLVMTargetMachineRef *tm_out, cg_stats *st, bool run_opt)
{
    double t0 = now();
    if (!cg_machine_resolve(c->o->target, c->o->cpu, c->o->features, &c->m, c->d)) return false;
    c->cpu = c->m.cpu;
    c->features = c->m.features;
    if (c->o->threads > 1 && !c->m.target->runtime) {
        kl_diag_error(c->d, "%s: --threads %d needs the thread pool of libkilnrt, which target %s does not have%s",
                      c->g->source, c->o->threads, c->m.target->name,
                      c->m.target->hosted ? "" : " (firmware objects never call a runtime)");
        return false;
    }
    if (c->o->profile && strncmp(c->m.target->name, "x86_64", 6)) {
        kl_diag_error(c->d, "%s: --profile reads the x86-64 time-stamp counter; target %s has none Kiln uses yet",
                      c->g->source, c->m.target->name);
        return false;
    }
    LLVMTargetMachineRef tm = cg_target_machine(&c->m, c->o->opt_level, c->d);
    if (!tm) return false;
    c->has_fma = c->m.caps & CG_CAP_FMA;
    c->has_round = c->m.caps & CG_CAP_ROUND;
    c->has_f16 = c->m.caps & CG_CAP_F16;
    c->has_minnum = c->m.caps & CG_CAP_MINNUM;
    *tm_out = tm;
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(c->mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *layout = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(c->mod, layout);
    LLVMDisposeMessage(layout);
    LLVMDisposeTargetData(td);
    if (!plans_ok(c, c->g) || !dtypes_ok(c)) return false;
    emit_constants(c);
    if (!emit_entry(c)) return false;
    emit_typed_entry(c);
    if (!run_opt) return true;
    double t1 = now();
    progress(c->o, "llvm-opt");
    bool ok = optimize(c, tm);
    if (st) {
        st->seconds_ir = t1 - t0;
        st->seconds_opt = now() - t1;
        st->const_bytes = c->const_bytes;
        st->n_kernels = c->n_kernels;
        st->n_split_kernels = c->n_split;
        st->max_work_ns = c->max_work_ns;
    }
    return ok;
}

static bool build(cg *c, LLVMTargetMachineRef *tm_out, cg_stats *st) { return build_module(c, tm_out, st, true); }

/* A firmware object may reference only the memory routines LLVM lowers
 * large copies and fills to: memcpy/memmove/memset (libc) and their ARM
 * EABI forms (libgcc, compiler-rt).  Anything else (a libm function, the
 * runtime) would leave the firmware with an unresolved symbol. */
static bool check_freestanding(const cg_stats *st, const char *object_path, kl_diag *d)
{
    static const char *const allowed[] = {"memcpy", "memmove", "memset", "__aeabi_memcpy", "__aeabi_memcpy4",
                                          "__aeabi_memcpy8", "__aeabi_memmove", "__aeabi_memmove4",
                                          "__aeabi_memmove8", "__aeabi_memset", "__aeabi_memset4",
                                          "__aeabi_memset8", "__aeabi_memclr", "__aeabi_memclr4", "__aeabi_memclr8"};
    if (!st->has_undefined) {
        kl_diag_error(d, "%s: cannot read the object's symbols back to check that it is freestanding", object_path);
        return false;
    }
    for (const char *p = st->undefined; *p;) {
        size_t len = strcspn(p, " ");
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed && !ok; i++)
            ok = strlen(allowed[i]) == len && !strncmp(allowed[i], p, len);
        if (!ok) {
            kl_diag_error(d, "%s: the firmware object references '%.*s', which a freestanding object may not "
                             "(only memcpy/memmove/memset and their __aeabi_ forms)", object_path, (int)len, p);
            return false;
        }
        p += len;
        p += *p == ' ';
    }
    return true;
}

bool cg_emit_object_multi(const ir_graph *const *gs, const cg_options *os, int n, const char *object_path,
                          cg_stats *st, kl_diag *d)
{
    for (int i = 0; i < n; i++)
        if (!cg_check_prefix(&os[i], d)) return false;
    LLVMContextRef ctx = LLVMContextCreate();
    cg *cs = kl_calloc(NULL, (size_t)n + 1, sizeof *cs, "code generation");
    if (!cs) kl_die(__FILE__, __LINE__, "out of memory");
    LLVMTargetMachineRef tm = NULL;
    bool ok = true;
    int built = 0;
    for (int i = 0; ok && i < n; i++, built++) {
        cg_context_init(&cs[i], ctx, gs[i], &os[i], d);
        LLVMTargetMachineRef tmi = NULL;
        cg_stats si = {0};
        ok = build_module(&cs[i], i == 0 ? &tm : &tmi, &si, false);
        if (tmi) LLVMDisposeTargetMachine(tmi);
        if (st) st->n_kernels += cs[i].n_kernels, st->const_bytes += cs[i].const_bytes, st->n_split_kernels += cs[i].n_split;
        if (st && cs[i].max_work_ns > st->max_work_ns) st->max_work_ns = cs[i].max_work_ns;
        /* one module: the entries' symbols carry their own prefixes */
        if (ok && i > 0) {
            ok = !LLVMLinkModules2(cs[0].mod, cs[i].mod);
            cs[i].mod = NULL;
            if (!ok) kl_diag_error(d, "%s: cannot link entry '%s' into the object", object_path, os[i].prefix);
        }
    }
    if (ok) progress(&os[0], "llvm-opt");
    ok = ok && optimize(&cs[0], tm);
    /* Entries share their equal constants (weights every entry folds in). */
    if (ok) {
        LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
        LLVMErrorRef e = LLVMRunPasses(cs[0].mod, "constmerge", tm, po);
        LLVMDisposePassBuilderOptions(po);
        if (e) {
            char *m = LLVMGetErrorMessage(e);
            kl_diag_error(d, "%s: LLVM constmerge failed: %s", object_path, m);
            LLVMDisposeErrorMessage(m);
            ok = false;
        }
    }
    char *err = NULL;
    if (ok) progress(&os[0], "llvm-emit");
    if (ok && LLVMTargetMachineEmitToFile(tm, cs[0].mod, (char *)object_path, LLVMObjectFile, &err)) {
        kl_diag_error(d, "%s: cannot write the object: %s", object_path, err ? err : "?");
        ok = false;
    }
    LLVMDisposeMessage(err);
    cg_stats local = {0};
    cg_stats *su = st ? st : &local;
    LLVMMemoryBufferRef obj = NULL;
    char *msg = NULL;
    if (ok && !LLVMCreateMemoryBufferWithContentsOfFile(object_path, &obj, &msg)) {
        su->has_undefined = cg_object_undefined(ctx, obj, su->undefined, sizeof su->undefined);
        LLVMDisposeMemoryBuffer(obj);
    }
    LLVMDisposeMessage(msg);
    if (ok && !cs[0].m.target->hosted && !check_freestanding(su, object_path, d)) {
        remove(object_path); /* no object that would not link */
        ok = false;
    }
    struct stat sb;
    if (st) st->object_bytes = ok && !stat(object_path, &sb) ? (int64_t)sb.st_size : 0, st->stack_bytes = -1;
    if (tm) LLVMDisposeTargetMachine(tm);
    for (int i = 0; i < built; i++) {
        if (cs[i].mod) LLVMDisposeModule(cs[i].mod);
        cg_done(&cs[i]);
    }
    free(cs);
    LLVMContextDispose(ctx);
    return ok;
}

bool cg_emit_object(const ir_graph *g, const cg_options *o, const char *object_path, cg_stats *st, kl_diag *d)
{
    if (!cg_check_prefix(o, d)) return false;
    LLVMContextRef ctx = LLVMContextCreate();
    cg c;
    cg_context_init(&c, ctx, g, o, d);
    LLVMTargetMachineRef tm = NULL;
    cg_stats local = {0};
    if (!st) st = &local; /* the undefined symbols are checked even when nobody asks for stats */
    bool ok = build(&c, &tm, st);
    if (ok) {
        double t0 = now();
        char *err = NULL;
        cg_stack_probe probe;
        cg_stack_probe_begin(&c, &probe);
        progress(o, "llvm-emit");
        if (LLVMTargetMachineEmitToFile(tm, c.mod, (char *)object_path, LLVMObjectFile, &err)) {
            kl_diag_error(d, "%s: cannot write the object: %s", object_path, err ? err : "?");
            ok = false;
        }
        st->stack_bytes = cg_stack_probe_end(&c, &probe, ok);
        LLVMDisposeMessage(err);
        struct stat sb;
        st->seconds_emit = now() - t0;
        st->object_bytes = ok && !stat(object_path, &sb) ? (int64_t)sb.st_size : 0;
        LLVMMemoryBufferRef obj = NULL;
        char *msg = NULL;
        if (ok && !LLVMCreateMemoryBufferWithContentsOfFile(object_path, &obj, &msg)) {
            cg_object_sections(ctx, obj, &st->code_bytes, &st->rodata_bytes);
            st->has_undefined = cg_object_undefined(ctx, obj, st->undefined, sizeof st->undefined);
            LLVMDisposeMemoryBuffer(obj);
        }
        LLVMDisposeMessage(msg);
        if (ok && !c.m.target->hosted && !check_freestanding(st, object_path, d)) {
            remove(object_path); /* no object that would not link */
            ok = false;
        }
    }
    if (tm) LLVMDisposeTargetMachine(tm);
    LLVMDisposeModule(c.mod);
    cg_done(&c);
    LLVMContextDispose(ctx);
    return ok;
}

char *cg_module_text(const ir_graph *g, const cg_options *o, kl_diag *d)
{
    if (!cg_check_prefix(o, d)) return NULL;
    LLVMContextRef ctx = LLVMContextCreate();
    cg c;
    cg_context_init(&c, ctx, g, o, d);
    LLVMTargetMachineRef tm = NULL;
    char *text = NULL;
    if (build(&c, &tm, NULL)) {
        char *s = LLVMPrintModuleToString(c.mod);
        text = kl_strdup(NULL, s);
        LLVMDisposeMessage(s);
    }
    if (tm) LLVMDisposeTargetMachine(tm);
    LLVMDisposeModule(c.mod);
    cg_done(&c);
    LLVMContextDispose(ctx);
    return text;
}

/* ---- JIT ---------------------------------------------------------------- */

struct cg_jit {
    LLVMOrcLLJITRef jit;
    cg_entry_fn entry;
    cg_profile_fn profile;
};

static bool orc_error(kl_diag *d, const char *what, LLVMErrorRef err)
{
    char *m = LLVMGetErrorMessage(err);
    kl_diag_error(d, "LLVM JIT: %s: %s", what, m);
    LLVMDisposeErrorMessage(m);
    return false;
}

bool cg_jit_compile(const ir_graph *g, const cg_options *o, cg_jit **out, cg_stats *st, kl_diag *d)
{
    *out = NULL;
    if (!cg_check_prefix(o, d)) return false;
    if (!cg_target_is_host(o->target))
        return kl_diag_error(d, "the JIT runs on the host only; target %s is for `kiln compile` (an object file)", o->target), false;
    cg_init_llvm();
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    cg c;
    cg_context_init(&c, LLVMOrcThreadSafeContextGetContext(tsc), g, o, d);
    LLVMTargetMachineRef tm = NULL;
    bool ok = build(&c, &tm, st);
    double t0 = now();
    cg_jit *j = kl_calloc(NULL, 1, sizeof *j, "code generation");
    LLVMErrorRef err = NULL;
    if (ok) {
        /* The JIT compiles with the very target machine the module was
         * optimized for (CPU, features, level), not a host default: a
         * "generic" JIT build is then the same code as a generic object. */
        LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
        tm = NULL; /* owned by jtmb */
        LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, jtmb);
        if ((err = LLVMOrcCreateLLJIT(&j->jit, jb))) ok = orc_error(d, "create", err);
    }
    if (tm) LLVMDisposeTargetMachine(tm);
    if (ok) { /* the runtime functions generated code may call, bound to this process's copies */
        LLVMOrcExecutionSessionRef es = LLVMOrcLLJITGetExecutionSession(j->jit);
        LLVMJITSymbolFlags exported = {LLVMJITSymbolGenericFlagsExported, 0};
#define RT_SYM(f) {LLVMOrcExecutionSessionIntern(es, #f), {(LLVMOrcExecutorAddress)(uintptr_t)&f, exported}}
        LLVMOrcCSymbolMapPair sym[] = {RT_SYM(kiln_rt_sgemm), RT_SYM(kiln_rt_parallel_for), RT_SYM(kiln_rt_dist_begin),
                                       RT_SYM(kiln_rt_send), RT_SYM(kiln_rt_recv), RT_SYM(kiln_rt_dist_end), RT_SYM(kiln_rt_allreduce_f32),
                                       RT_SYM(kiln_rt_allreduce_start), RT_SYM(kiln_rt_allreduce_wait)};
#undef RT_SYM
        LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(sym, sizeof sym / sizeof *sym);
        if ((err = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(j->jit), mu))) ok = orc_error(d, "runtime symbols", err);
    }
    if (ok) {
        LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(c.mod, tsc);
        c.mod = NULL; /* owned by the JIT now */
        if ((err = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm))) {
            LLVMOrcDisposeThreadSafeModule(tsm);
            ok = orc_error(d, "add module", err);
        }
    }
    if (ok) {
        char name[128];
        snprintf(name, sizeof name, "%s_run_args", o->prefix);
        LLVMOrcExecutorAddress addr = 0;
        progress(o, "llvm-emit"); /* the lookup compiles the module */
        if ((err = LLVMOrcLLJITLookup(j->jit, &addr, name))) ok = orc_error(d, "lookup", err);
        else j->entry = (cg_entry_fn)(uintptr_t)addr;
    }
    if (ok && o->profile) {
        char name[128];
        snprintf(name, sizeof name, "%s_run_profile", o->prefix);
        LLVMOrcExecutorAddress addr = 0;
        if ((err = LLVMOrcLLJITLookup(j->jit, &addr, name))) ok = orc_error(d, "lookup", err);
        else j->profile = (cg_profile_fn)(uintptr_t)addr;
    }
    if (c.mod) LLVMDisposeModule(c.mod);
    cg_done(&c);
    LLVMOrcDisposeThreadSafeContext(tsc);
    if (st) st->seconds_emit = now() - t0;
    if (!ok) {
        cg_jit_free(j);
        return false;
    }
    *out = j;
    return true;
}

cg_entry_fn cg_jit_entry(const cg_jit *j) { return j->entry; }
cg_profile_fn cg_jit_profile_entry(const cg_jit *j) { return j->profile; }

void cg_kernel_splits(const ir_graph *g, const cg_options *o, int64_t *units)
{
    LLVMContextRef ctx = LLVMContextCreate();
    kl_diag d = {0};
    cg c;
    cg_context_init(&c, ctx, g, o, &d);
    for (int j = 0; j < g->plan->n_kernels; j++) {
        const kl_kernel *k = &g->plan->kernels[j];
        bool control = k->root->op == KL_OP_WHILE || k->root->op == KL_OP_IF;
        units[j] = control ? 0 : cg_kernel_units(&c, k->root, k->inputs, k->n_inputs);
    }
    LLVMDisposeModule(c.mod);
    cg_done(&c);
    LLVMContextDispose(ctx);
    kl_diag_clear(&d);
}

void cg_jit_free(cg_jit *j)
{
    if (!j) return;
    if (j->jit) LLVMOrcDisposeLLJIT(j->jit);
    free(j);
}
