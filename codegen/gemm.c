/* codegen/gemm.c — register-blocked GEMM micro-kernels for matmul and conv2d.
 *
 * Plan from passes/layout.c (node->gemm).  The output is viewed as a
 * rows x cols matrix (matmul: M x N per batch matrix; conv: output pixels x
 * output channels) and computed in tiles of mr rows x nr columns (nr = 2
 * vectors).  A tile keeps its mr * nr/vl accumulators in vector registers
 * through the whole k loop: per k, nr/vl aligned loads of B, then for each
 * row one broadcast of A and nr/vl FMAs (LLVM folds the broadcast into the
 * FMA's memory operand on AVX-512).  Nothing is stored until the tile is
 * done, so the output is written exactly once, and an output-fused
 * elementwise kernel (bias, scale/shift, activation, residual) is applied to
 * the tile right after its store while it is still in L1.
 *
 * B is read from panels of nr columns, [K][nr] each, zero-padded past the
 * last column: packed here from constant weights at compile time (so the
 * raw weights are not emitted at all), or at run time into the node's
 * scratch.  A is read in place through one pointer per tile row: a row of
 * A for matmul; for conv the input pixel under the tap (an "indirect"
 * GEMM: no im2col copy), or a row of zeros where the tap falls into the
 * padding; a source's channel scale (squeeze-excite's x * s, ir/plan.h)
 * multiplies B's row k by s[k] as it is loaded (A(r, k) * s[k] when the
 * tile's rows are of several images), so x * s is never stored.
 *
 * Loop order: groups of group_tiles row tiles (their A rows stay in L2),
 * then B panels (each reused by every tile of the group), then the tiles.
 * Column tails use masked loads/stores of the last vector; row tails get
 * their own tile of fewer rows.  All trip counts are compile-time constants.
 *
 * Compile time: a tile's k loop is a function of its own (P_tileN), shared
 * by every kernel whose tile has the same shape and constants, returning
 * the accumulators through a small stack buffer; the kernel keeps its loops
 * over tiles, the epilogue and the store.  The packed panels are a kernel
 * parameter, so kernels of equal shapes are equal functions (module.c
 * merges them before optimizing).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

typedef struct gemm {
    cg *c;
    ir_node *n, *epi;
    const ir_gemm_plan *p;
    ir_node **in_nodes;
    LLVMValueRef *inputs;
    int n_in;
    int64_t rows, cols, k;  /* per batch matrix */
    LLVMValueRef a, bp, out; /* A base (this batch), packed B (this batch), output base (whole) */
    LLVMValueRef zeros;      /* conv: a row of zeros for taps in the padding */
    LLVMValueRef row_base;   /* flat output row of this batch's row 0 */
    LLVMTypeRef vt;
    int64_t (*estr)[IR_MAX_RANK]; /* epilogue: broadcast strides of every kernel input */
    bool vec_epi;                 /* the epilogue runs on the accumulators (vec_ok) */
    /* conv whose input is read by index arithmetic (ir/conv_input.c): its
     * sources and their pointers; n_src == 0: A is one stored value */
    int n_src;
    ir_conv_source src[IR_MAX_CONV_SOURCES];
    LLVMValueRef srcp[IR_MAX_CONV_SOURCES];
    LLVMValueRef scalep[IR_MAX_CONV_SOURCES]; /* their channel scales (src[i].scale), or NULL */
} gemm;

static LLVMValueRef i64(gemm *G, int64_t v) { return cg_i64(G->c, v); }
static LLVMValueRef add(gemm *G, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(G->c->b, a, b, ""); }
static LLVMValueRef mulk(gemm *G, LLVMValueRef a, int64_t k) { return LLVMBuildMul(G->c->b, a, i64(G, k), ""); }
static LLVMValueRef f32_ptr(gemm *G, LLVMValueRef base, LLVMValueRef idx) { return cg_elem_ptr(G->c, KL_F32, base, idx); }

ir_node *cg_kernel_contraction(const ir_graph *g, ir_node *root)
{
    const kl_kernel *k = ir_plan_kernel_of(g->plan, root);
    return k && k->root == root ? k->contraction : NULL;
}

/* Every use of v (through reshapes) is as the prepacked B of a GEMM. */
static bool only_prepacked(const ir_graph *g, const ir_node *v)
{
    int uses = 0;
    for (int i = 0; i < g->n_results; i++)
        if (g->results[i].node == v) return false;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            if (n->in[j] != v) continue;
            uses++;
            bool computed = ir_plan_kernel_of(g->plan, n) != NULL;
            if (op_is_alias(n->op) && n->op != KL_OP_CONST && !computed) {
                if (!only_prepacked(g, n)) return false;
            } else if (!(j == 1 && n->gemm && !n->gemm->pack_b_runtime && !n->gemm->shared && computed)) {
                return false;
            }
        }
    }
    return uses > 0;
}

bool cg_const_only_prepacked(const ir_graph *g, const ir_node *k) { return only_prepacked(g, k); }

/* ---- B panels ----------------------------------------------------------- */

/* B's element (k, j) of batch matrix `b` in the node's own layout. */
static int64_t b_index(const ir_node *n, int64_t b, int64_t k, int64_t j, int64_t K, int64_t N)
{
    if (n->op == KL_OP_MATMUL && n->attr.matmul.transpose_b) return b * K * N + j * K + k;
    return b * K * N + k * N + j;
}

static int64_t n_panels(const gemm *G) { return (G->cols + G->p->nr - 1) / G->p->nr; }

/* Constant B packed into panels, one block per batch matrix of B. */
static LLVMValueRef prepacked_b(cg *c, ir_node *n, int64_t K, int64_t N)
{
    const ir_node *w = ir_const_source(n->in[1]);
    int nr = n->gemm->nr;
    char name[96];
    snprintf(name, sizeof name, "%s_c%d_packed%d", c->o->prefix, w->id, nr);
    int64_t panels = (N + nr - 1) / nr, per = panels * K * nr;
    int64_t batches = ir_type_numel(&n->in[1]->type) / (K * N);
    float *packed = kl_calloc(NULL, (size_t)(per * batches) + 1, sizeof(float), "code generation");
    if (!packed) kl_die(__FILE__, __LINE__, "out of memory");
    const float *src = w->data;
    for (int64_t b = 0; b < batches; b++)
        for (int64_t pn = 0; pn < panels; pn++)
            for (int64_t k = 0; k < K; k++)
                for (int64_t jj = 0; jj < nr && pn * nr + jj < N; jj++)
                    packed[b * per + pn * K * nr + k * nr + jj] = src[b_index(n, b, k, pn * nr + jj, K, N)];
    size_t bytes = (size_t)(per * batches) * sizeof(float);
    LLVMValueRef init = LLVMConstStringInContext2(c->ctx, (const char *)packed, bytes, 1);
    free(packed);
    c->const_bytes += (int64_t)bytes;
    return cg_const_global(c, name, init);
}

LLVMValueRef cg_gemm_packed_b(cg *c, ir_node *n)
{
    if (n->gemm->pack_b_runtime) return NULL;
    const ir_type *to = &n->type, *ta = &n->in[0]->type, *tb = &n->in[1]->type;
    if (n->op == KL_OP_CONV2D) return prepacked_b(c, n, tb->dims[0] * tb->dims[1] * tb->dims[2], to->dims[3]);
    return prepacked_b(c, n, ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)], to->dims[to->rank - 1]);
}

/* Runtime B (batch matrix at src) packed into dst: panels of nr columns. */
static void pack_b_runtime(gemm *G, LLVMValueRef src, LLVMValueRef dst)
{
    cg *c = G->c;
    int nr = G->p->nr;
    int64_t K = G->k, N = G->cols;
    bool trb = G->n->op == KL_OP_MATMUL && G->n->attr.matmul.transpose_b;
    cg_loop lp, lk, lj;
    LLVMValueRef pn = cg_loop_begin(c, n_panels(G), &lp);
    LLVMValueRef k = cg_loop_begin(c, K, &lk);
    LLVMValueRef jj = cg_loop_begin(c, nr, &lj);
    LLVMValueRef j = add(G, mulk(G, pn, nr), jj);
    LLVMValueRef inside = LLVMBuildICmp(c->b, LLVMIntSLT, j, i64(G, N), "");
    LLVMValueRef jc = LLVMBuildSelect(c->b, inside, j, i64(G, N - 1), "");
    LLVMValueRef at = trb ? add(G, mulk(G, jc, K), k) : add(G, mulk(G, k, N), jc);
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, src, at), "");
    v = LLVMBuildSelect(c->b, inside, v, cg_f32(c, 0), "");
    LLVMValueRef to = add(G, add(G, mulk(G, pn, K * nr), mulk(G, k, nr)), jj);
    LLVMBuildStore(c->b, v, f32_ptr(G, dst, to));
    cg_loop_end(c, &lj);
    cg_loop_end(c, &lk);
    cg_loop_end(c, &lp);
}

/* The loops over the conv's padded input, image nb, padded row and
 * column; sy, sx the input pixel they copy (ok: inside the input) and to
 * the padded copy's offset of its channel 0.  Ended by pad_loops_end. */
typedef struct pad_loops {
    cg_loop ln, ly, lx;
    LLVMValueRef nb, sy, sx, ok, to;
} pad_loops;

static void pad_loops_begin(gemm *G, pad_loops *L)
{
    cg *c = G->c;
    const ir_node *n = G->n;
    const ir_type *tx = &n->in[0]->type;
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3];
    int64_t Hp = H + n->attr.conv.pad_top + n->attr.conv.pad_bottom, Wp = W + n->attr.conv.pad_left + n->attr.conv.pad_right;
    L->nb = cg_loop_begin(c, tx->dims[0], &L->ln);
    LLVMValueRef y = cg_loop_begin(c, Hp, &L->ly);
    L->sy = add(G, y, i64(G, -n->attr.conv.pad_top));
    LLVMValueRef x = cg_loop_begin(c, Wp, &L->lx);
    L->sx = add(G, x, i64(G, -n->attr.conv.pad_left));
    L->ok = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntULT, L->sy, i64(G, H), ""),
                         LLVMBuildICmp(c->b, LLVMIntULT, L->sx, i64(G, W), ""), "");
    L->to = mulk(G, add(G, mulk(G, add(G, mulk(G, L->nb, Hp), y), Wp), x), C);
}

static void pad_loops_end(gemm *G, pad_loops *L)
{
    cg_loop_end(G->c, &L->lx);
    cg_loop_end(G->c, &L->ly);
    cg_loop_end(G->c, &L->ln);
}

/* The conv's input with its padding, into dst (zeros around). */
static void pad_input(gemm *G, LLVMValueRef src, LLVMValueRef dst)
{
    cg *c = G->c;
    const ir_type *tx = &G->n->in[0]->type;
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3];
    pad_loops L;
    pad_loops_begin(G, &L);
    LLVMValueRef from = mulk(G, add(G, mulk(G, add(G, mulk(G, L.nb, H), L.sy), W), L.sx), C);
    from = LLVMBuildSelect(c->b, L.ok, from, i64(G, 0), "");
    cg_loop lc;
    LLVMValueRef ch = cg_loop_begin(c, C, &lc);
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, src, add(G, from, ch)), "");
    LLVMBuildStore(c->b, LLVMBuildSelect(c->b, L.ok, v, cg_f32(c, 0), ""), f32_ptr(G, dst, add(G, L.to, ch)));
    cg_loop_end(c, &lc);
    pad_loops_end(G, &L);
}

/* Offset of channel 0 of source s at pixel (nb, iy, ix) of the conv's
 * input (meaningless when the pixel is outside: the caller selects). */
static LLVMValueRef src_offset(gemm *G, const ir_conv_source *s, LLVMValueRef nb, LLVMValueRef iy, LLVMValueRef ix)
{
    cg *c = G->c;
    int64_t h = s->h, w = s->w, C = s->channels;
    LLVMValueRef y = iy, x = ix;
    if (s->kind != IR_SRC_PLAIN) {
        y = LLVMBuildUDiv(c->b, iy, i64(G, s->fy), ""), x = LLVMBuildUDiv(c->b, ix, i64(G, s->fx), "");
    }
    LLVMValueRef pix = add(G, mulk(G, add(G, mulk(G, nb, h), y), w), x);
    if (s->kind != IR_SRC_D2S) return mulk(G, pix, C);
    LLVMValueRef sub = add(G, mulk(G, LLVMBuildURem(c->b, iy, i64(G, s->fy), ""), s->fx), LLVMBuildURem(c->b, ix, i64(G, s->fx), ""));
    return add(G, mulk(G, pix, (int64_t)s->fy * s->fx * C), mulk(G, sub, C));
}

/* pad_input for a conv whose input is its sources: the padded copy is
 * assembled from them (the concat, upsampling or depth-to-space happen here). */
static void pad_input_sources(gemm *G, LLVMValueRef dst)
{
    cg *c = G->c;
    pad_loops L;
    pad_loops_begin(G, &L);
    LLVMValueRef nb = L.nb, ok = L.ok, to = L.to;
    cg_loop lc;
    for (int i = 0; i < G->n_src; i++) {
        const ir_conv_source *s = &G->src[i];
        LLVMValueRef from = LLVMBuildSelect(c->b, ok, src_offset(G, s, nb, L.sy, L.sx), i64(G, 0), "");
        LLVMValueRef ch = cg_loop_begin(c, s->channels, &lc);
        LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, G->srcp[i], add(G, from, ch)), "");
        if (s->scale) /* squeeze-excite's x * s, made here */
            v = LLVMBuildFMul(c->b, v, LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, G->scalep[i], add(G, mulk(G, nb, s->scale_image), ch)), ""), "");
        LLVMBuildStore(c->b, LLVMBuildSelect(c->b, ok, v, cg_f32(c, 0), ""), f32_ptr(G, dst, add(G, add(G, to, i64(G, s->offset)), ch)));
        cg_loop_end(c, &lc);
    }
    pad_loops_end(G, &L);
}

/* ---- one register tile -------------------------------------------------- */

static LLVMValueRef splat(gemm *G, LLVMValueRef s)
{
    cg *c = G->c;
    LLVMValueRef v = LLVMBuildInsertElement(c->b, LLVMGetUndef(G->vt), s, LLVMConstInt(c->i32, 0, 0), "");
    LLVMValueRef mask = LLVMConstNull(LLVMVectorType(c->i32, (unsigned)G->p->vl));
    return LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(G->vt), mask, "");
}

static LLVMValueRef lane_mask(gemm *G, int lanes)
{
    LLVMValueRef bits[64];
    for (int i = 0; i < G->p->vl; i++) bits[i] = LLVMConstInt(G->c->i1, i < lanes, 0);
    return LLVMConstVector(bits, (unsigned)G->p->vl);
}

static void store_vec(gemm *G, LLVMValueRef v, LLVMValueRef ptr, int lanes)
{
    cg *c = G->c;
    if (lanes == G->p->vl) {
        LLVMSetAlignment(LLVMBuildStore(c->b, v, ptr), 4);
        return;
    }
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.store", 17);
    LLVMTypeRef tys[2] = {G->vt, c->ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, tys, 2);
    LLVMValueRef args[4] = {v, ptr, LLVMConstInt(c->i32, 4, 0), lane_mask(G, lanes)};
    LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, tys, 2), fn, args, 4, "");
}

static LLVMValueRef load_vec(gemm *G, LLVMValueRef ptr, int lanes)
{
    cg *c = G->c;
    if (lanes == G->p->vl) {
        LLVMValueRef v = LLVMBuildLoad2(c->b, G->vt, ptr, "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", 16);
    LLVMTypeRef tys[2] = {G->vt, c->ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, tys, 2);
    LLVMValueRef args[4] = {ptr, LLVMConstInt(c->i32, 4, 0), lane_mask(G, lanes), LLVMConstNull(G->vt)};
    return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, tys, 2), fn, args, 4, "");
}

/* acc[r][v] += A(r, k) * B(k, v) for k < kn: A row r at arow[r][k * astride]
 * (astride 1, or M for a transposed A), B row k at bpan[k * nr].  A channel
 * scale (a conv source's, ir/plan.h): A(r, k) * s[k] with one s for every
 * row (bscale: B's row k is scaled instead, nv multiplies per k, not rows),
 * or row r's own at ascale[r] (rows of different images). */
static void fma_loop_scaled(gemm *G, LLVMValueRef *acc, int rows, int nv, LLVMValueRef *arow, int64_t astride,
                            LLVMValueRef bpan, int64_t kn, LLVMValueRef bscale, LLVMValueRef *ascale)
{
    cg *c = G->c;
    int nr = G->p->nr, vl = G->p->vl;
    cg_loop lk;
    LLVMValueRef k = cg_loop_begin(c, kn, &lk);
    LLVMValueRef bv[4];
    for (int v = 0; v < nv; v++) {
        LLVMValueRef ld = LLVMBuildLoad2(c->b, G->vt, f32_ptr(G, bpan, add(G, mulk(G, k, nr), i64(G, v * vl))), "");
        LLVMSetAlignment(ld, (unsigned)(4 * vl)); /* panels are 64-aligned, rows 2 vectors apart */
        bv[v] = ld;
    }
    if (bscale) {
        LLVMValueRef sk = splat(G, LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, bscale, k), ""));
        for (int v = 0; v < nv; v++) bv[v] = LLVMBuildFMul(c->b, bv[v], sk, "");
    }
    for (int r = 0; r < rows; r++) {
        LLVMValueRef ak = astride == 1 ? k : mulk(G, k, astride);
        LLVMValueRef as = LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, arow[r], ak), "");
        if (ascale) as = LLVMBuildFMul(c->b, as, LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, ascale[r], k), ""), "");
        LLVMValueRef a = splat(G, as);
        for (int v = 0; v < nv; v++) {
            LLVMValueRef slot = acc[r * nv + v];
            LLVMValueRef cur = LLVMBuildLoad2(c->b, G->vt, slot, "");
            LLVMValueRef args[3] = {a, bv[v], cur};
            LLVMBuildStore(c->b, cg_intrinsic(c, "llvm.fmuladd", G->vt, args, 3), slot);
        }
    }
    cg_loop_end(c, &lk);
}

static void fma_loop(gemm *G, LLVMValueRef *acc, int rows, int nv, LLVMValueRef *arow, int64_t astride, LLVMValueRef bpan,
                     int64_t kn)
{
    fma_loop_scaled(G, acc, rows, nv, arow, astride, bpan, kn, NULL, NULL);
}

/* Conv: row pointers of the tap (ky, kx) for the tile's pixels. */
static void conv_rows(gemm *G, LLVMValueRef *iy0, LLVMValueRef *ix0, LLVMValueRef *base, int rows, LLVMValueRef ky,
                      LLVMValueRef kx, LLVMValueRef *arow)
{
    cg *c = G->c;
    const ir_node *n = G->n;
    const ir_type *tx = &n->in[0]->type;
    int64_t H = tx->dims[1], W = tx->dims[2], C = tx->dims[3];
    LLVMValueRef dy = mulk(G, ky, n->attr.conv.dilation_h), dx = mulk(G, kx, n->attr.conv.dilation_w);
    for (int r = 0; r < rows; r++) {
        LLVMValueRef iy = add(G, iy0[r], dy), ix = add(G, ix0[r], dx);
        /* unsigned compares: negative coordinates wrap to huge values */
        LLVMValueRef ok = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntULT, iy, i64(G, H), ""),
                                       LLVMBuildICmp(c->b, LLVMIntULT, ix, i64(G, W), ""), "");
        LLVMValueRef off = add(G, base[r], mulk(G, add(G, mulk(G, iy, W), ix), C));
        off = LLVMBuildSelect(c->b, ok, off, i64(G, 0), "");
        arow[r] = LLVMBuildSelect(c->b, ok, G->a, G->zeros, "");
        arow[r] = f32_ptr(G, arow[r], off);
    }
}

/* The fused elementwise kernel on the stored tile, in place: a loop over
 * the rows (one copy of the expression per tile shape, however long). */
static void epilogue(gemm *G, LLVMValueRef row0, int rows, LLVMValueRef col0, int ncols)
{
    cg *c = G->c;
    const ir_type *to = &G->epi->type;
    int rank = to->rank;
    LLVMValueRef *offs = kl_calloc(NULL, (size_t)G->n_in + 1, sizeof *offs, "code generation"), *rowoff = kl_calloc(NULL, (size_t)G->n_in + 1, sizeof *rowoff, "code generation");
    cg_loop lr, lj;
    /* unravel the flat row over the leading dims once per row */
    LLVMValueRef R = add(G, row0, cg_loop_begin(c, rows, &lr)), rest = R;
    for (int i = 0; i < G->n_in; i++) rowoff[i] = i64(G, 0);
    for (int d = rank - 2; d >= 0; d--) {
        LLVMValueRef idx = d ? LLVMBuildURem(c->b, rest, i64(G, to->dims[d]), "") : rest;
        if (d) rest = LLVMBuildUDiv(c->b, rest, i64(G, to->dims[d]), "");
        for (int i = 0; i < G->n_in; i++)
            if (G->estr[i][d]) rowoff[i] = add(G, rowoff[i], mulk(G, idx, G->estr[i][d]));
    }
    LLVMValueRef j = add(G, col0, cg_loop_begin(c, ncols, &lj));
    for (int i = 0; i < G->n_in; i++) offs[i] = add(G, rowoff[i], mulk(G, j, G->estr[i][rank - 1]));
    LLVMValueRef at = add(G, mulk(G, R, G->cols), j);
    LLVMValueRef seed = LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, G->out, at), "");
    LLVMValueRef v = cg_kernel_value(c, G->epi, G->n, seed, G->in_nodes, G->inputs, offs, G->n_in);
    cg_store(c, KL_F32, v, G->out, at);
    cg_loop_end(c, &lj);
    cg_loop_end_scalar(c, &lr); /* vectors run along the columns, never across rows (gathers) */
    free(offs);
    free(rowoff);
}

/* ---- epilogues on the accumulators --------------------------------------
 * The common epilogues (bias, batch-norm shift, residual add, ReLU/ReLU6,
 * clamps) are evaluated on the accumulator vectors before the one store;
 * anything else (transcendentals, casts, ...) runs as the scalar loop over
 * the stored tile above.  The arithmetic is codegen/scalar.c's, as in loops. */

static int input_index(const gemm *G, const ir_node *m)
{
    for (int i = 0; i < G->n_in; i++)
        if (G->in_nodes[i] == m) return i;
    return -1;
}

static bool vec_ok(const gemm *G, const ir_node *m)
{
    if (m == G->n) return true;
    if (m->type.dtype != KL_F32) return false;
    if (cg_in_kernel(G->c, G->epi, m)) {
        if (!cg_float_op_vector_ok(m->op)) return false;
        for (int i = 0; i < m->n_in; i++)
            if (!vec_ok(G, m->in[i])) return false;
        return true;
    }
    int i = input_index(G, m);
    int last = G->epi->type.rank - 1;
    return i >= 0 && (G->estr[i][last] == 0 || G->estr[i][last] == 1); /* along columns: broadcast or contiguous */
}


static LLVMValueRef vec_value(gemm *G, ir_node *m, LLVMValueRef R, LLVMValueRef col, LLVMValueRef acc, int lanes)
{
    cg *c = G->c;
    if (m == G->n) return acc;
    if (!cg_in_kernel(c, G->epi, m)) { /* a kernel input: its vector (or scalar) at this row and these columns */
        int i = input_index(G, m), rank = G->epi->type.rank;
        LLVMValueRef off = i64(G, 0), rest = R;
        for (int d = rank - 2; d >= 0; d--) {
            if (!G->estr[i][d]) {
                if (d) rest = LLVMBuildUDiv(c->b, rest, i64(G, G->epi->type.dims[d]), "");
                continue;
            }
            LLVMValueRef idx = d ? LLVMBuildURem(c->b, rest, i64(G, G->epi->type.dims[d]), "") : rest;
            if (d) rest = LLVMBuildUDiv(c->b, rest, i64(G, G->epi->type.dims[d]), "");
            off = add(G, off, mulk(G, idx, G->estr[i][d]));
        }
        if (G->estr[i][rank - 1] == 0)
            return splat(G, LLVMBuildLoad2(c->b, c->f32, f32_ptr(G, G->inputs[i], off), ""));
        return load_vec(G, f32_ptr(G, G->inputs[i], add(G, off, col)), lanes);
    }
    LLVMValueRef a = vec_value(G, m->in[0], R, col, acc, lanes);
    LLVMValueRef b = m->n_in > 1 ? vec_value(G, m->in[1], R, col, acc, lanes) : NULL;
    return cg_float_op(c, m->op, a, b);
}

/* The k loop of a tile: acc (rows * nv vectors, zeroed here) accumulates
 * `rows` rows from batch row `row0` times the panel at bpan. */
static void accumulate(gemm *G, LLVMValueRef *acc, LLVMValueRef row0, int rows, LLVMValueRef bpan, int nv)
{
    cg *c = G->c;
    for (int i = 0; i < rows * nv; i++) {
        acc[i] = cg_entry_alloca(c, G->vt, "acc");
        LLVMBuildStore(c->b, LLVMConstNull(G->vt), acc[i]);
    }
    LLVMValueRef arow[32];
    if (G->n->op == KL_OP_MATMUL) {
        bool tra = G->n->attr.matmul.transpose_a; /* A is [K][M]: row r's k-th value at r + k * M */
        for (int r = 0; r < rows; r++) arow[r] = f32_ptr(G, G->a, mulk(G, add(G, row0, i64(G, r)), tra ? 1 : G->k));
        fma_loop(G, acc, rows, nv, arow, tra ? G->rows : 1, bpan, G->k);
    } else {
        const ir_node *n = G->n;
        const ir_type *tx = &n->in[0]->type, *to = &n->type, *tw = &n->in[1]->type;
        int64_t OH = to->dims[1], OW = to->dims[2], C = tx->dims[3], KH = tw->dims[0], KW = tw->dims[1];
        LLVMValueRef iy0[32], ix0[32], base[32];
        for (int r = 0; r < rows; r++) {
            LLVMValueRef p = add(G, row0, i64(G, r));
            LLVMValueRef ox = LLVMBuildURem(c->b, p, i64(G, OW), ""), q = LLVMBuildUDiv(c->b, p, i64(G, OW), "");
            LLVMValueRef oy = LLVMBuildURem(c->b, q, i64(G, OH), ""), nb = LLVMBuildUDiv(c->b, q, i64(G, OH), "");
            iy0[r] = add(G, mulk(G, oy, n->attr.conv.stride_h), i64(G, -n->attr.conv.pad_top));
            ix0[r] = add(G, mulk(G, ox, n->attr.conv.stride_w), i64(G, -n->attr.conv.pad_left));
            base[r] = mulk(G, nb, tx->dims[1] * tx->dims[2] * C);
        }
        cg_loop lky, lkx;
        if (G->p->pad_input) { /* every tap in range: one run of KW*C per filter row */
            int64_t Hp = tx->dims[1] + n->attr.conv.pad_top + n->attr.conv.pad_bottom;
            int64_t Wp = tx->dims[2] + n->attr.conv.pad_left + n->attr.conv.pad_right;
            LLVMValueRef ky = cg_loop_begin(c, KH, &lky);
            LLVMValueRef dy = add(G, mulk(G, ky, n->attr.conv.dilation_h), i64(G, n->attr.conv.pad_top));
            for (int r = 0; r < rows; r++) {
                /* base[r] is the image's offset in the unpadded input: rescale to the padded one */
                LLVMValueRef img = LLVMBuildUDiv(c->b, base[r], i64(G, tx->dims[1] * tx->dims[2] * C), "");
                LLVMValueRef y = add(G, add(G, mulk(G, img, Hp), iy0[r]), dy);
                LLVMValueRef x = add(G, ix0[r], i64(G, n->attr.conv.pad_left));
                arow[r] = f32_ptr(G, G->a, mulk(G, add(G, mulk(G, y, Wp), x), C));
            }
            fma_loop(G, acc, rows, nv, arow, 1, f32_ptr(G, bpan, mulk(G, ky, KW * C * G->p->nr)), KW * C);
            cg_loop_end(c, &lky);
        } else if (G->n_src) { /* per tap and source: the source pixel under it, its channels as a run of k */
            LLVMValueRef nbr[32];
            for (int r = 0; r < rows; r++) nbr[r] = LLVMBuildUDiv(c->b, base[r], i64(G, tx->dims[1] * tx->dims[2] * C), "");
            LLVMValueRef ky = cg_loop_begin(c, KH, &lky);
            LLVMValueRef kx = cg_loop_begin(c, KW, &lkx);
            LLVMValueRef dy = mulk(G, ky, n->attr.conv.dilation_h), dx = mulk(G, kx, n->attr.conv.dilation_w);
            LLVMValueRef tap = add(G, mulk(G, ky, KW), kx), iy[32], ix[32], ok[32];
            for (int r = 0; r < rows; r++) {
                iy[r] = add(G, iy0[r], dy), ix[r] = add(G, ix0[r], dx);
                ok[r] = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntULT, iy[r], i64(G, tx->dims[1]), ""),
                                     LLVMBuildICmp(c->b, LLVMIntULT, ix[r], i64(G, tx->dims[2]), ""), "");
            }
            for (int i = 0; i < G->n_src; i++) {
                const ir_conv_source *s = &G->src[i];
                for (int r = 0; r < rows; r++) {
                    LLVMValueRef off = LLVMBuildSelect(c->b, ok[r], src_offset(G, s, nbr[r], iy[r], ix[r]), i64(G, 0), "");
                    arow[r] = f32_ptr(G, LLVMBuildSelect(c->b, ok[r], G->srcp[i], G->zeros, ""), off);
                }
                /* a channel scale: one s for the tile scales B; rows of
                 * several images each scale their A (nbr[r] < N always) */
                LLVMValueRef bscale = NULL, ascale[32];
                if (s->scale && !s->scale_image) bscale = G->scalep[i];
                for (int r = 0; r < rows && s->scale && s->scale_image; r++) ascale[r] = f32_ptr(G, G->scalep[i], mulk(G, nbr[r], s->scale_image));
                fma_loop_scaled(G, acc, rows, nv, arow, 1, f32_ptr(G, bpan, add(G, mulk(G, tap, C * G->p->nr), i64(G, s->offset * G->p->nr))),
                                s->channels, bscale, s->scale && s->scale_image ? ascale : NULL);
            }
            cg_loop_end(c, &lkx);
            cg_loop_end(c, &lky);
        } else {
            LLVMValueRef ky = cg_loop_begin(c, KH, &lky);
            LLVMValueRef kx = cg_loop_begin(c, KW, &lkx);
            conv_rows(G, iy0, ix0, base, rows, ky, kx, arow);
            LLVMValueRef tap = add(G, mulk(G, ky, KW), kx);
            fma_loop(G, acc, rows, nv, arow, 1, f32_ptr(G, bpan, mulk(G, tap, C * G->p->nr)), C);
            cg_loop_end(c, &lkx);
            cg_loop_end(c, &lky);
        }
    }
}

/* Tiles whose k loop (k for a matmul, KH*KW*C for a conv) is at least
 * this long are shared functions: the call and the accumulators' round
 * trip through the stack (~2 * rows * vectors memory operations and ~10
 * cycles) are then ~2% of the loop's rows * vectors * k / 2 FMA cycles;
 * shorter tiles stay inline (module.c's mergefunc still shares equal
 * kernels).  Overridable for measurements: KILN_TILE_SHARED_MIN_K. */
static int64_t tile_shared_min_k(void)
{
    const char *e = getenv("KILN_TILE_SHARED_MIN_K");
    return e && *e ? strtoll(e, NULL, 10) : 256;
}
#define CG_TILE_SHARED_MIN_K tile_shared_min_k()

/* Everything accumulate() reads besides its four pointers and row0: two
 * tiles with equal keys are the same code. */
enum { TILE_KEY = 24 };
struct cg_tile_fn {
    int64_t key[TILE_KEY];
    LLVMValueRef fn;
};

/* void P_tileN(a, zeros, bpan, row0, acc_out): accumulate() as a function
 * of its own, shared by every kernel with the same key (NASNetMobile's 350
 * GEMM kernels have ~90 distinct tiles; LLVM's time is mostly in these
 * loops), storing the accumulators to acc_out (rows * nv vectors) for the
 * caller's epilogue and store.  The trip counts and strides stay
 * compile-time constants, so the loop is the one the kernel had inline. */
static LLVMValueRef tile_fn(gemm *G, int rows, int nv)
{
    cg *c = G->c;
    const ir_node *n = G->n;
    /* the panel is zero-padded: lanes do not matter; a transposed A's stride is M */
    int64_t key[TILE_KEY] = {n->op, rows, nv, n->op == KL_OP_MATMUL && n->attr.matmul.transpose_a ? G->rows : 0,
                             G->p->vl, G->p->nr, G->k};
    if (n->op == KL_OP_CONV2D) {
        const ir_type *tx = &n->in[0]->type, *to = &n->type, *tw = &n->in[1]->type;
        const int64_t conv[] = {tx->dims[1], tx->dims[2], tx->dims[3], to->dims[1], to->dims[2], tw->dims[0], tw->dims[1],
                                n->attr.conv.stride_h, n->attr.conv.stride_w, n->attr.conv.pad_top, n->attr.conv.pad_left,
                                n->attr.conv.pad_bottom, n->attr.conv.pad_right, n->attr.conv.dilation_h,
                                n->attr.conv.dilation_w, G->p->pad_input};
        KL_ASSERT(7 + sizeof conv / sizeof *conv <= TILE_KEY);
        memcpy(key + 7, conv, sizeof conv);
    }
    for (int i = 0; i < c->n_tile_fns; i++)
        if (!memcmp(c->tile_fns[i].key, key, sizeof key)) return c->tile_fns[i].fn;
    if (c->n_tile_fns == c->cap_tile_fns) {
        int cap = c->cap_tile_fns ? 2 * c->cap_tile_fns : 64;
        struct cg_tile_fn *t = realloc(c->tile_fns, sizeof *t * (size_t)cap);
        if (!t) kl_die(__FILE__, __LINE__, "out of memory");
        c->tile_fns = t, c->cap_tile_fns = cap;
    }
    char name[96];
    snprintf(name, sizeof name, "%s_tile%d", c->base_prefix, c->n_tile_fns);
    LLVMTypeRef ft = LLVMFunctionType(c->void_t, (LLVMTypeRef[]){c->ptr, c->ptr, c->ptr, c->i64, c->ptr}, 5, 0);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_function_attrs(c, fn);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8), noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, noinline, 0));
    LLVMAddAttributeAtIndex(fn, 5, LLVMCreateEnumAttribute(c->ctx, noalias, 0)); /* acc_out: the caller's alloca */
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    gemm T = *G;
    T.a = LLVMGetParam(fn, 0), T.zeros = LLVMGetParam(fn, 1);
    LLVMValueRef acc[64];
    accumulate(&T, acc, LLVMGetParam(fn, 3), rows, LLVMGetParam(fn, 2), nv);
    LLVMTypeRef at = LLVMArrayType2(G->vt, (uint64_t)(rows * nv));
    for (int i = 0; i < rows * nv; i++) {
        LLVMValueRef idx[2] = {i64(G, 0), i64(G, i)};
        LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, G->vt, acc[i], ""),
                       LLVMBuildInBoundsGEP2(c->b, at, LLVMGetParam(fn, 4), idx, 2, ""));
    }
    LLVMBuildRetVoid(c->b);
    LLVMPositionBuilderAtEnd(c->b, saved);
    memcpy(c->tile_fns[c->n_tile_fns].key, key, sizeof key);
    c->tile_fns[c->n_tile_fns++].fn = fn;
    return fn;
}

/* Tile: `rows` rows from batch row `row0`, panel `pn` with nv vectors, the
 * last one `lanes` wide: the shared tile function's accumulators, then the
 * epilogue and the one store. */
static void tile(gemm *G, LLVMValueRef row0, int rows, LLVMValueRef pn, int nv, int lanes)
{
    cg *c = G->c;
    int nr = G->p->nr, vl = G->p->vl;
    LLVMValueRef bpan = f32_ptr(G, G->bp, mulk(G, pn, G->k * nr));
    LLVMValueRef acc[64];
    /* a short k loop: the call would cost more than it saves; 32-bit
     * targets: row0 as a parameter makes its 64-bit divisions library calls */
    /* ... and a conv that reads its sources in place (concat, upsampling)
     * has their pointers, which the shared function's parameters do not carry */
    if (G->k < CG_TILE_SHARED_MIN_K || (c->m.caps & CG_CAP_PTR32) || G->n_src) {
        accumulate(G, acc, row0, rows, bpan, nv);
    } else {
        LLVMValueRef fn = tile_fn(G, rows, nv);
        LLVMTypeRef at = LLVMArrayType2(G->vt, (uint64_t)(rows * nv));
        LLVMValueRef buf = cg_entry_alloca(c, at, "tile");
        LLVMValueRef args[5] = {G->a, G->zeros ? G->zeros : LLVMConstNull(c->ptr), bpan, row0, buf};
        LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, 5, "");
        for (int i = 0; i < rows * nv; i++) {
            LLVMValueRef idx[2] = {i64(G, 0), i64(G, i)};
            acc[i] = LLVMBuildInBoundsGEP2(c->b, at, buf, idx, 2, "");
        }
    }
    LLVMValueRef col0 = mulk(G, pn, nr), R0 = add(G, G->row_base, row0);
    for (int r = 0; r < rows; r++) {
        LLVMValueRef R = add(G, R0, i64(G, r)), rowp = add(G, mulk(G, R, G->cols), col0);
        for (int v = 0; v < nv; v++) {
            int w = v == nv - 1 ? lanes : vl;
            LLVMValueRef val = LLVMBuildLoad2(c->b, G->vt, acc[r * nv + v], "");
            if (G->vec_epi) val = vec_value(G, G->epi, R, add(G, col0, i64(G, v * vl)), val, w);
            store_vec(G, val, f32_ptr(G, G->out, add(G, rowp, i64(G, v * vl))), w);
        }
    }
    if (G->epi && !G->vec_epi) epilogue(G, R0, rows, col0, (nv - 1) * vl + lanes);
}

/* if (cond) { ... } */
static LLVMBasicBlockRef begin_if(gemm *G, LLVMValueRef cond)
{
    cg *c = G->c;
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->ctx, fn, "then"), after = LLVMAppendBasicBlockInContext(c->ctx, fn, "endif");
    LLVMBuildCondBr(c->b, cond, then, after);
    LLVMPositionBuilderAtEnd(c->b, then);
    return after;
}

static void end_if(gemm *G, LLVMBasicBlockRef after)
{
    LLVMBuildBr(G->c->b, after);
    LLVMPositionBuilderAtEnd(G->c->b, after);
}

static LLVMValueRef min_v(gemm *G, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(G->c->b, LLVMBuildICmp(G->c->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* for (iv = lo; iv < hi; iv++): the loop's iv is the offset from lo. */
static LLVMValueRef range_begin(gemm *G, LLVMValueRef lo, LLVMValueRef hi, cg_loop *l)
{
    return add(G, lo, cg_loop_begin_v(G->c, LLVMBuildSub(G->c->b, hi, lo, ""), l));
}

/* The tiles of one batch matrix with row tiles in [rlo, rhi) and panels in
 * [plo, phi) (the last row tile / panel may be a tail).  One thread's share
 * is a contiguous range of either (cg_gemm_units); one thread covers all. */
static void tiles(gemm *G, LLVMValueRef rlo, LLVMValueRef rhi, LLVMValueRef plo, LLVMValueRef phi)
{
    cg *c = G->c;
    const ir_gemm_plan *p = G->p;
    int mr = p->mr, vl = p->vl, nv = p->nr / vl;
    int64_t full_tiles = G->rows / mr, tail_rows = G->rows % mr, full_panels = G->cols / p->nr;
    int64_t tail_cols = G->cols % p->nr, group = p->group_tiles;
    int tail_nv = (int)((tail_cols + vl - 1) / vl), tail_lanes = (int)(tail_cols - (tail_nv - 1) * vl);
    LLVMValueRef fhi = min_v(G, rhi, i64(G, full_tiles)), fphi = min_v(G, phi, i64(G, full_panels));
    LLVMValueRef tail_panel = LLVMBuildICmp(c->b, LLVMIntSGT, phi, i64(G, full_panels), "");
    if (full_tiles > 0) {
        cg_loop lg, lp, lt;
        LLVMValueRef n_full = LLVMBuildSub(c->b, fhi, rlo, "");
        LLVMBasicBlockRef skip = begin_if(G, LLVMBuildICmp(c->b, LLVMIntSGT, n_full, i64(G, 0), ""));
        LLVMValueRef groups = LLVMBuildSDiv(c->b, add(G, n_full, i64(G, group - 1)), i64(G, group), "");
        LLVMValueRef g = cg_loop_begin_v(c, groups, &lg);
        LLVMValueRef first = add(G, rlo, mulk(G, g, group));
        LLVMValueRef count = min_v(G, LLVMBuildSub(c->b, fhi, first, ""), i64(G, group));
        if (full_panels > 0) {
            LLVMValueRef pn = range_begin(G, plo, fphi, &lp);
            LLVMValueRef t = cg_loop_begin_v(c, count, &lt);
            tile(G, mulk(G, add(G, first, t), mr), mr, pn, nv, vl);
            cg_loop_end(c, &lt);
            cg_loop_end(c, &lp);
        }
        if (tail_cols) {
            LLVMBasicBlockRef after = begin_if(G, tail_panel);
            LLVMValueRef t = cg_loop_begin_v(c, count, &lt);
            tile(G, mulk(G, add(G, first, t), mr), mr, i64(G, full_panels), tail_nv, tail_lanes);
            cg_loop_end(c, &lt);
            end_if(G, after);
        }
        cg_loop_end(c, &lg);
        end_if(G, skip);
    }
    if (tail_rows) {
        LLVMBasicBlockRef after_rows = begin_if(G, LLVMBuildICmp(c->b, LLVMIntSGT, rhi, i64(G, full_tiles), ""));
        LLVMValueRef row0 = i64(G, full_tiles * mr);
        if (full_panels > 0) {
            cg_loop lp;
            LLVMValueRef pn = range_begin(G, plo, fphi, &lp);
            tile(G, row0, (int)tail_rows, pn, nv, vl);
            cg_loop_end(c, &lp);
        }
        if (tail_cols) {
            LLVMBasicBlockRef after = begin_if(G, tail_panel);
            tile(G, row0, (int)tail_rows, i64(G, full_panels), tail_nv, tail_lanes);
            end_if(G, after);
        }
        end_if(G, after_rows);
    }
}

static void row_tiles_and_panels(const ir_node *n, int64_t *row_tiles, int64_t *panels, int64_t *batch)
{
    const ir_type *to = &n->type;
    int r = to->rank;
    int64_t cols = to->dims[r - 1], rows = n->op == KL_OP_CONV2D ? ir_type_numel(to) / cols : to->dims[r - 2];
    *row_tiles = (rows + n->gemm->mr - 1) / n->gemm->mr;
    *panels = (cols + n->gemm->nr - 1) / n->gemm->nr;
    *batch = n->op == KL_OP_CONV2D || !cols || !rows ? 1 : ir_type_numel(to) / (rows * cols);
}

int64_t cg_gemm_units(const cg_options *o, const ir_node *n, bool *by_cols)
{
    int64_t row_tiles, panels, batch;
    *by_cols = false;
    if (!n->gemm || o->threads <= 1 || n->gemm->shared) return 0; /* shared.c: one thread */
    row_tiles_and_panels(n, &row_tiles, &panels, &batch);
    const ir_type *ta = &n->in[0]->type, *tb = &n->in[1]->type;
    int64_t k = n->op == KL_OP_CONV2D ? tb->dims[0] * tb->dims[1] * tb->dims[2]
                                      : ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
    if (batch != 1) return 0;
    /* split whichever dimension divides more evenly over the threads: a 7x7
     * layer has 5 row tiles (3 + 2 on two threads) but 16 panels (8 + 8) */
    double t = o->threads, rows_eff = row_tiles / (t * ceil(row_tiles / t)), cols_eff = panels / (t * ceil(panels / t));
    *by_cols = cols_eff > rows_eff;
    int64_t units = *by_cols ? panels : row_tiles;
    /* codegen/split.c's one rule: each thread's chunk of the estimated work
     * (flops at the micro-kernel's rate, bytes of A, B and the result) at
     * least SPLIT_CHUNK_NS */
    double bytes = (double)(ir_type_bytes(ta) + ir_type_bytes(tb) + ir_type_bytes(&n->type));
    return cg_split_pays(o, cg_gemm_work_ns(2 * (double)ir_type_numel(&n->type) * (double)k, bytes), units) ? units : 0;
}

static LLVMValueRef operand(gemm *G, const ir_node *m)
{
    for (int i = 0; i < G->n_in; i++)
        if (G->in_nodes[i] == m) return G->inputs[i];
    KL_ASSERT(!"operand is not a kernel input");
}


bool cg_emit_gemm(cg *c, ir_node *n, ir_node *epi, LLVMValueRef out, ir_node **in_nodes, LLVMValueRef *inputs,
                  int n_in, LLVMValueRef scratch, LLVMValueRef packed, LLVMValueRef lo, LLVMValueRef hi)
{
    int64_t row_tiles, panels, n_batch;
    row_tiles_and_panels(n, &row_tiles, &panels, &n_batch);
    bool by_cols;
    int64_t units = cg_gemm_units(c->o, n, &by_cols);
    LLVMValueRef rlo = cg_i64(c, 0), rhi = cg_i64(c, row_tiles), plo = cg_i64(c, 0), phi = cg_i64(c, panels);
    if (units && by_cols) plo = lo, phi = hi;
    else if (units) rlo = lo, rhi = hi;
    gemm G = {.c = c, .n = n, .epi = epi, .p = n->gemm, .in_nodes = in_nodes, .inputs = inputs, .n_in = n_in, .out = out};
    G.vt = LLVMVectorType(c->f32, (unsigned)G.p->vl);
    const ir_type *to = &n->type, *ta = &n->in[0]->type, *tb = &n->in[1]->type;
    int ro = to->rank;
    if (epi) {
        G.estr = kl_calloc(NULL, (size_t)n_in + 1, sizeof *G.estr, "code generation");
        for (int i = 0; i < n_in; i++) ir_broadcast_strides(&in_nodes[i]->type, ro, to->dims, G.estr[i]);
        G.vec_epi = vec_ok(&G, epi);
    }
    LLVMValueRef a = NULL;
    if (n->op == KL_OP_CONV2D) { /* its input read from its sources (passes/fuse.c) */
        ir_node *members[4 * IR_MAX_CONV_SOURCES + 1];
        int nm = 0, ns = ir_conv_sources(c->g, n, G.src, members, &nm);
        if (ns && nm && ir_plan_kernel_of(c->g->plan, members[0]) == ir_plan_kernel_of(c->g->plan, n)) {
            G.n_src = ns;
            for (int i = 0; i < ns; i++) {
                G.srcp[i] = operand(&G, G.src[i].value);
                G.scalep[i] = G.src[i].scale ? operand(&G, G.src[i].scale) : NULL;
            }
        }
    }
    if (!G.n_src) a = operand(&G, n->in[0]);
    LLVMValueRef b_src = n->gemm->pack_b_runtime ? operand(&G, n->in[1]) : NULL;
    if (n->op == KL_OP_CONV2D) {
        G.rows = to->dims[0] * to->dims[1] * to->dims[2];
        G.cols = to->dims[3];
        G.k = tb->dims[0] * tb->dims[1] * tb->dims[2];
        G.a = a;
        G.zeros = cg_zero_floats(c, ta->dims[3]);
        G.row_base = i64(&G, 0);
        G.bp = b_src ? scratch : packed;
        LLVMValueRef padded =
            n->gemm->pad_copy ? LLVMBuildInBoundsGEP2(c->b, c->i8, scratch, (LLVMValueRef[]){i64(&G, n->gemm->pad_offset)}, 1, "") : NULL;
        if (b_src || padded) {
            /* split over threads, the packed B and the padded copy are made
             * first by a call with lo = -1 (module.c) */
            LLVMBasicBlockRef after = units ? begin_if(&G, LLVMBuildICmp(c->b, LLVMIntSLT, lo, i64(&G, 0), "")) : NULL;
            if (b_src) pack_b_runtime(&G, b_src, scratch);
            if (padded && G.n_src) pad_input_sources(&G, padded);
            else if (padded) pad_input(&G, a, padded);
            if (units) {
                LLVMBuildRetVoid(c->b);
                LLVMPositionBuilderAtEnd(c->b, after);
            }
        }
        if (padded) {
            G.a = padded;
            G.n_src = 0; /* the tiles read the copy */
        }
        tiles(&G, rlo, rhi, plo, phi);
        free(G.estr);
        return true;
    }
    /* matmul: batch loops with broadcast strides, as the plain loop nest */
    int ra = ta->rank, rb = tb->rank;
    int64_t M = to->dims[ro - 2], N = to->dims[ro - 1], K = ta->dims[ra - (n->attr.matmul.transpose_a ? 2 : 1)];
    G.rows = M, G.cols = N, G.k = K;
    ir_type batch = ir_type_make(KL_F32, ro - 2, to->dims), ba = ir_type_make(KL_F32, ra - 2, ta->dims),
            bb = ir_type_make(KL_F32, rb - 2, tb->dims);
    int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK];
    ir_broadcast_strides(&ba, ro - 2, batch.dims, sa);
    ir_broadcast_strides(&bb, ro - 2, batch.dims, sb);
    int64_t per_b = n_panels(&G) * K * n->gemm->nr;
    cg_loop lb[IR_MAX_RANK];
    LLVMValueRef oa = i64(&G, 0), ob = i64(&G, 0), flat = i64(&G, 0);
    for (int d = 0; d < ro - 2; d++) {
        LLVMValueRef iv = cg_loop_begin(c, batch.dims[d], &lb[d]);
        oa = add(&G, oa, mulk(&G, iv, sa[d] * M * K));
        ob = add(&G, ob, mulk(&G, iv, sb[d]));
        flat = add(&G, mulk(&G, flat, batch.dims[d]), iv);
    }
    G.a = f32_ptr(&G, a, oa);
    G.row_base = mulk(&G, flat, M);
    if (b_src) {
        /* split over threads (one batch matrix), packed first by the lo = -1 call */
        LLVMBasicBlockRef after = units ? begin_if(&G, LLVMBuildICmp(c->b, LLVMIntSLT, lo, i64(&G, 0), "")) : NULL;
        pack_b_runtime(&G, f32_ptr(&G, b_src, mulk(&G, ob, K * N)), scratch);
        if (units) {
            LLVMBuildRetVoid(c->b);
            LLVMPositionBuilderAtEnd(c->b, after);
        }
        G.bp = scratch;
    } else {
        G.bp = f32_ptr(&G, packed, mulk(&G, ob, per_b));
    }
    tiles(&G, rlo, rhi, plo, phi);
    for (int d = ro - 3; d >= 0; d--) cg_loop_end(c, &lb[d]);
    free(G.estr);
    return true;
}
