/* codegen/control.c — loops, conditionals and dynamic slices.
 *
 * A while node becomes a real loop in the function of the graph holding it:
 * its carried values live in the node's scratch (two buffers each, swapped
 * by pointer after every trip, or one when the body updates the value in
 * place), the cond region's function runs before every trip and decides on
 * the value it computed (trip counts may depend on data), the body region's
 * function runs with the current buffers as feeds and the next ones as
 * fetches.  Regions are compiled by module.c as functions with the entry
 * point's ABI (int F(void *const *args, void *temp)), sharing the node's
 * scratch as their temp.  An if calls one of its two region functions,
 * whose fetches are the storage of the node's gets.
 */
#include <stdlib.h>

#include "cg_internal.h"

/* void P_copy(dst, src, bytes): words, then bytes.  Marked no-builtins so
 * LLVM does not turn the loop into a call to memcpy (objects call nothing). */
static LLVMValueRef copy_fn(cg *c)
{
    if (c->copy_fn) return c->copy_fn;
    char name[96];
    snprintf(name, sizeof name, "%s_copy", c->base_prefix);
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, (LLVMTypeRef[]){c->ptr, c->ptr, c->i64}, 3, 0);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMAddTargetDependentFunctionAttr(fn, "no-builtins", "");
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef dst = LLVMGetParam(fn, 0), src = LLVMGetParam(fn, 1), n = LLVMGetParam(fn, 2);
    cg_loop l;
    LLVMValueRef i = cg_loop_begin_v(c, LLVMBuildUDiv(c->b, n, cg_i64(c, 8), ""), &l);
    LLVMValueRef w = LLVMBuildLoad2(c->b, c->i64, LLVMBuildGEP2(c->b, c->i64, src, &i, 1, ""), "");
    LLVMSetAlignment(w, 1);
    LLVMSetAlignment(LLVMBuildStore(c->b, w, LLVMBuildGEP2(c->b, c->i64, dst, &i, 1, "")), 1);
    cg_loop_end_scalar(c, &l);
    LLVMValueRef done = LLVMBuildAnd(c->b, n, cg_i64(c, ~(int64_t)7), "");
    cg_loop t;
    LLVMValueRef j = LLVMBuildAdd(c->b, cg_loop_begin_v(c, LLVMBuildAnd(c->b, n, cg_i64(c, 7), ""), &t), done, "");
    LLVMValueRef b = LLVMBuildLoad2(c->b, c->i8, LLVMBuildGEP2(c->b, c->i8, src, &j, 1, ""), "");
    LLVMBuildStore(c->b, b, LLVMBuildGEP2(c->b, c->i8, dst, &j, 1, ""));
    cg_loop_end_scalar(c, &t);
    LLVMBuildRetVoid(c->b);
    LLVMPositionBuilderAtEnd(c->b, saved);
    return c->copy_fn = fn;
}

static void copy_bytes(cg *c, LLVMValueRef dst, LLVMValueRef src, int64_t bytes)
{
    if (bytes <= 0) return;
    LLVMValueRef fn = copy_fn(c);
    LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, (LLVMValueRef[]){dst, src, cg_i64(c, bytes)}, 3, "");
}

static LLVMValueRef byte_gep(cg *c, LLVMValueRef base, int64_t off)
{
    LLVMValueRef o = cg_i64(c, off);
    return LLVMBuildInBoundsGEP2(c->b, c->i8, base, &o, 1, "");
}

/* Fills an array of pointers (alloca'd once per call site) for a region call. */
static LLVMValueRef ptr_array(cg *c, int n, const char *name)
{
    return cg_entry_alloca(c, LLVMArrayType2(c->ptr, (uint64_t)(n ? n : 1)), name);
}

static void set_ptr(cg *c, LLVMValueRef array, int n, int i, LLVMValueRef p)
{
    LLVMTypeRef at = LLVMArrayType2(c->ptr, (uint64_t)(n ? n : 1));
    LLVMValueRef idx[2] = {cg_i64(c, 0), cg_i64(c, i)};
    LLVMBuildStore(c->b, p, LLVMBuildInBoundsGEP2(c->b, at, array, idx, 2, ""));
}

static void call_region(cg *c, LLVMValueRef fn, LLVMValueRef args, LLVMValueRef temp)
{
    LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, (LLVMValueRef[]){args, temp}, 2, "");
}

/* Stores a scalar i64 into the node's own storage, if it has any. */
static void store_count(cg *c, ir_node *n, LLVMValueRef v)
{
    if (n->store == IR_STORE_NONE) return;
    LLVMBuildStore(c->b, v, cg_storage(c, n));
}

bool cg_emit_while(cg *c, ir_node *n, LLVMValueRef cond_fn, LLVMValueRef body_fn)
{
    int nc = n->attr.region.n_carried, n_in = n->n_in;
    int64_t *cur = kl_calloc(NULL, (size_t)nc + 1, sizeof *cur, "code generation"), *next = kl_calloc(NULL, (size_t)nc + 1, sizeof *next, "code generation"), rt, co;
    LLVMValueRef *in = kl_calloc(NULL, (size_t)n_in + 1, sizeof *in, "code generation");
    LLVMValueRef *cur_slot = kl_calloc(NULL, (size_t)nc + 1, sizeof *cur_slot, "code generation"), *next_slot = kl_calloc(NULL, (size_t)nc + 1, sizeof *next_slot, "code generation");
    if (!cur || !next || !in || !cur_slot || !next_slot) kl_die(__FILE__, __LINE__, "out of memory");
    ir_loop_scratch(n, cur, next, &rt, &co);
    LLVMValueRef scratch = byte_gep(c, c->cur_temp, n->scratch_offset);
    LLVMValueRef region_temp = byte_gep(c, scratch, rt), cond_out = byte_gep(c, scratch, co);
    LLVMValueRef cond_args = ptr_array(c, n_in + 1, "cond_args"), body_args = ptr_array(c, n_in + nc, "body_args");
    LLVMValueRef trips = cg_entry_alloca(c, c->i64, "trips");
    LLVMBuildStore(c->b, cg_i64(c, 0), trips);
    for (int i = 0; i < n_in; i++) in[i] = cg_storage(c, n->in[i]);
    for (int k = 0; k < nc; k++) {
        cur_slot[k] = cg_entry_alloca(c, c->ptr, "cur");
        next_slot[k] = cg_entry_alloca(c, c->ptr, "next");
        LLVMBuildStore(c->b, byte_gep(c, scratch, cur[k]), cur_slot[k]);
        LLVMBuildStore(c->b, byte_gep(c, scratch, next[k]), next_slot[k]);
        copy_bytes(c, byte_gep(c, scratch, cur[k]), in[k], (int64_t)ir_type_bytes(&n->in[k]->type));
    }
    for (int i = nc; i < n_in; i++) set_ptr(c, cond_args, n_in + 1, i, in[i]), set_ptr(c, body_args, n_in + nc, i, in[i]);
    set_ptr(c, cond_args, n_in + 1, n_in, cond_out);
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(c->ctx, fn, "while"),
                      body = LLVMAppendBasicBlockInContext(c->ctx, fn, "while_body"),
                      done = LLVMAppendBasicBlockInContext(c->ctx, fn, "while_done");
    LLVMBuildBr(c->b, head);
    LLVMPositionBuilderAtEnd(c->b, head);
    for (int k = 0; k < nc; k++) {
        LLVMValueRef p = LLVMBuildLoad2(c->b, c->ptr, cur_slot[k], "");
        set_ptr(c, cond_args, n_in + 1, k, p);
        set_ptr(c, body_args, n_in + nc, k, p);
    }
    call_region(c, cond_fn, cond_args, region_temp);
    LLVMValueRef go = LLVMBuildLoad2(c->b, c->i8, cond_out, "go");
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, go, LLVMConstInt(c->i8, 0, 0), ""), body, done);
    LLVMPositionBuilderAtEnd(c->b, body);
    for (int k = 0; k < nc; k++) set_ptr(c, body_args, n_in + nc, n_in + k, LLVMBuildLoad2(c->b, c->ptr, next_slot[k], ""));
    call_region(c, body_fn, body_args, region_temp);
    for (int k = 0; k < nc; k++) { /* the next values become the current ones */
        if (cur[k] == next[k]) continue;
        LLVMValueRef a = LLVMBuildLoad2(c->b, c->ptr, cur_slot[k], ""), b = LLVMBuildLoad2(c->b, c->ptr, next_slot[k], "");
        LLVMBuildStore(c->b, b, cur_slot[k]);
        LLVMBuildStore(c->b, a, next_slot[k]);
    }
    LLVMBuildStore(c->b, LLVMBuildAdd(c->b, LLVMBuildLoad2(c->b, c->i64, trips, ""), cg_i64(c, 1), ""), trips);
    LLVMBuildBr(c->b, head);
    LLVMPositionBuilderAtEnd(c->b, done);
    const kl_kernel *kern = cg_kernel_of(c, n); /* the while and its gets */
    for (int i = 0; i < kern->n_members; i++) { /* final values to the gets' storage */
        ir_node *g = kern->members[i];
        if (g->op != KL_OP_GET || g->in[0] != n || g->store == IR_STORE_NONE) continue;
        int k = g->attr.region.index;
        copy_bytes(c, cg_storage(c, g), LLVMBuildLoad2(c->b, c->ptr, cur_slot[k], ""), (int64_t)ir_type_bytes(&g->type));
    }
    store_count(c, n, LLVMBuildLoad2(c->b, c->i64, trips, ""));
    free(cur), free(next), free(in), free(cur_slot), free(next_slot);
    return true;
}

/* The first get of result k of n with storage, or NULL. */
static ir_node *first_get(cg *c, ir_node *n, int k)
{
    const kl_kernel *kern = cg_kernel_of(c, n); /* the if and its gets */
    for (int i = 0; i < kern->n_members; i++) {
        ir_node *g = kern->members[i];
        if (g->op == KL_OP_GET && g->in[0] == n && g->attr.region.index == k && g->store != IR_STORE_NONE) return g;
    }
    return NULL;
}

bool cg_emit_if(cg *c, ir_node *n, LLVMValueRef then_fn, LLVMValueRef else_fn)
{
    const ir_graph *t = n->regions[0];
    int n_par = n->n_in - 1, n_res = t->n_results, n_args = n_par + n_res;
    int64_t *dead = kl_calloc(NULL, (size_t)n_res + 1, sizeof *dead, "code generation"), rt;
    if (!dead) kl_die(__FILE__, __LINE__, "out of memory");
    ir_if_scratch(n, c->g, dead, &rt);
    LLVMValueRef scratch = byte_gep(c, c->cur_temp, n->scratch_offset), region_temp = byte_gep(c, scratch, rt);
    LLVMValueRef args = ptr_array(c, n_args, "if_args");
    for (int i = 0; i < n_par; i++) set_ptr(c, args, n_args, i, cg_storage(c, n->in[i + 1]));
    for (int k = 0; k < n_res; k++) {
        ir_node *g = first_get(c, n, k);
        set_ptr(c, args, n_args, n_par + k, g ? cg_storage(c, g) : byte_gep(c, scratch, dead[k] < 0 ? 0 : dead[k]));
    }
    LLVMValueRef pred = LLVMBuildLoad2(c->b, c->i8, cg_storage(c, n->in[0]), "pred");
    LLVMValueRef taken = LLVMBuildICmp(c->b, LLVMIntNE, pred, LLVMConstInt(c->i8, 0, 0), "");
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(c->ctx, fn, "then"), be = LLVMAppendBasicBlockInContext(c->ctx, fn, "else"),
                      join = LLVMAppendBasicBlockInContext(c->ctx, fn, "endif");
    LLVMBuildCondBr(c->b, taken, bt, be);
    LLVMPositionBuilderAtEnd(c->b, bt);
    call_region(c, then_fn, args, region_temp);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, be);
    call_region(c, else_fn, args, region_temp);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, join);
    const kl_kernel *kern = cg_kernel_of(c, n);
    for (int i = 0; i < kern->n_members; i++) { /* further gets of a result copy the first */
        ir_node *g = kern->members[i];
        if (g->op != KL_OP_GET || g->in[0] != n || g->store == IR_STORE_NONE) continue;
        ir_node *first = first_get(c, n, g->attr.region.index);
        if (first != g) copy_bytes(c, cg_storage(c, g), cg_storage(c, first), (int64_t)ir_type_bytes(&g->type));
    }
    store_count(c, n, LLVMBuildZExt(c->b, taken, c->i64, ""));
    free(dead);
    return true;
}

/* ---- dynamic_slice, dynamic_update_slice -------------------------------- */

/* Start of axis d, clamped so the part fits: [0, dim - len]. */
static LLVMValueRef clamped_start(cg *c, const ir_node *starts, LLVMValueRef p, int d, int64_t hi)
{
    LLVMTypeRef et = cg_elem_type(c, starts->type.dtype);
    LLVMValueRef idx = cg_i64(c, d);
    LLVMValueRef s = LLVMBuildLoad2(c->b, et, LLVMBuildInBoundsGEP2(c->b, et, p, &idx, 1, ""), "");
    if (et != c->i64) s = LLVMBuildSExt(c->b, s, c->i64, "");
    LLVMValueRef lo = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, s, cg_i64(c, 0), ""), cg_i64(c, 0), s, "");
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, lo, cg_i64(c, hi), ""), cg_i64(c, hi), lo, "");
}

bool cg_emit_dynamic(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops)
{
    bool update = n->op == KL_OP_DYNAMIC_UPDATE_SLICE;
    /* element copies LLVM would otherwise turn into memcpy calls */
    LLVMAddTargetDependentFunctionAttr(LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b)), "no-builtins", "");
    const ir_type *xt = &n->in[0]->type, *pt = update ? &n->in[1]->type : &n->type;
    int rank = xt->rank;
    int64_t es = (int64_t)kl_dtype_size(xt->dtype), pn = ir_type_numel(pt);
    LLVMTypeRef et = LLVMIntTypeInContext(c->ctx, (unsigned)(8 * es));
    if (update) { /* in place when the buffer of y is x's (a loop's carried value) */
        LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
        LLVMBasicBlockRef cp = LLVMAppendBasicBlockInContext(c->ctx, fn, "copy"), go = LLVMAppendBasicBlockInContext(c->ctx, fn, "update");
        LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, out, ops[0], ""), go, cp);
        LLVMPositionBuilderAtEnd(c->b, cp);
        copy_bytes(c, out, ops[0], (int64_t)ir_type_bytes(xt));
        LLVMBuildBr(c->b, go);
        LLVMPositionBuilderAtEnd(c->b, go);
    }
    if (pn == 0) return true;
    int64_t xs[IR_MAX_RANK], s = 1;
    for (int d = rank - 1; d >= 0; d--) xs[d] = s, s *= xt->dims[d];
    LLVMValueRef base = cg_i64(c, 0);
    for (int d = 0; d < rank; d++) {
        LLVMValueRef st = clamped_start(c, n->in[update ? 2 : 1], ops[update ? 2 : 1], d, xt->dims[d] - pt->dims[d]);
        base = LLVMBuildAdd(c->b, base, LLVMBuildMul(c->b, st, cg_i64(c, xs[d]), ""), "");
    }
    int64_t inner = rank ? pt->dims[rank - 1] : 1;
    cg_loop lo, li;
    LLVMValueRef o = cg_loop_begin(c, pn / inner, &lo), r = o, off = base;
    for (int d = rank - 2; d >= 0; d--) { /* outer index -> offset in x */
        LLVMValueRef q = LLVMBuildSDiv(c->b, r, cg_i64(c, pt->dims[d]), "");
        LLVMValueRef idx = LLVMBuildSub(c->b, r, LLVMBuildMul(c->b, q, cg_i64(c, pt->dims[d]), ""), "");
        off = LLVMBuildAdd(c->b, off, LLVMBuildMul(c->b, idx, cg_i64(c, xs[d]), ""), "");
        r = q;
    }
    LLVMValueRef j = cg_loop_begin(c, inner, &li);
    LLVMValueRef xi = LLVMBuildAdd(c->b, off, j, ""), pi = LLVMBuildAdd(c->b, LLVMBuildMul(c->b, o, cg_i64(c, inner), ""), j, "");
    LLVMValueRef src = update ? ops[1] : ops[0], dst = out, si = update ? pi : xi, di = update ? xi : pi;
    LLVMValueRef v = LLVMBuildLoad2(c->b, et, LLVMBuildInBoundsGEP2(c->b, et, src, &si, 1, ""), "");
    LLVMBuildStore(c->b, v, LLVMBuildInBoundsGEP2(c->b, et, dst, &di, 1, ""));
    cg_loop_end(c, &li);
    cg_loop_end_scalar(c, &lo);
    return true;
}
