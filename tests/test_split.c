/* tests/test_split.c — every kernel kind the cost rule splits over the pool
 * (codegen/split.c): pools and transposed convs by image, reductions by
 * output rows, gathers, movement kernels and scans by their outer loop,
 * generic matmuls by batch or rows.  Each graph is planned once, compiled
 * for 1, 2 and 3 threads, run on guard-paged buffers, and must give
 * bit-identical results on every thread count (the split never changes an
 * element's arithmetic) that also match the reference evaluator; sizes
 * are odd so chunks are uneven.  The split decision itself is checked
 * through cg_kernel_splits (what `kiln viz` and `kiln compile` report),
 * including sizes just below and above the rule's threshold.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "ir/plan.h"
#include "passes/passes.h"
#include "support/guard.h"

static float *random_f32(int64_t n, unsigned seed)
{
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    srand(seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return x;
}

static int32_t *random_i32(int64_t n, int32_t below, unsigned seed)
{
    int32_t *x = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    srand(seed);
    for (int64_t i = 0; i < n; i++) x[i] = (int32_t)(rand() % below);
    return x;
}

static void plan(ir_graph *g)
{
    kl_diag d = {0};
    int vl = cg_target_vector_floats(NULL, "native", NULL);
    pass_ctx ctx = {.diag = &d, .opt_level = 2, .verify_each = true, .vector_floats = vl, .vector_regs = vl == 16 ? 32 : 16};
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    kl_diag_clear(&d);
}

static cg_options opts(int threads)
{
    return (cg_options){.prefix = "s", .cpu = "native", .opt_level = 2, .threads = threads, .source = "test"};
}

/* Units of the kernel computing `n` (a root) with `threads`. */
static int64_t units_of(const ir_graph *g, const ir_node *n, int threads)
{
    cg_options o = opts(threads);
    int64_t *units = calloc((size_t)g->plan->n_kernels + 1, sizeof *units);
    cg_kernel_splits(g, &o, units);
    int64_t u = -1;
    for (int j = 0; j < g->plan->n_kernels; j++)
        if (g->plan->kernels[j].root == n) u = units[j];
    free(units);
    cr_assert(u >= 0, "%s: node '%s' is no kernel root", g->source, n->name);
    return u;
}

static double work_of(const ir_graph *g, const ir_node *n)
{
    for (int j = 0; j < g->plan->n_kernels; j++)
        if (g->plan->kernels[j].root == n) return cg_kernel_work_ns(&g->plan->kernels[j]);
    cr_assert(0, "node '%s' is no kernel root", n->name);
    return 0;
}

/* Runs the planned g compiled for `threads` on feeds (guard-paged, sealed)
 * into fresh result copies; every result buffer ends at a guard page. */
static void **run(const ir_graph *g, void *const *feeds, int threads)
{
    kl_diag d = {0};
    cg_options o = opts(threads);
    cg_jit *j;
    cr_assert(cg_jit_compile(g, &o, &j, NULL, &d), "%s", d.text);
    int n_bufs = g->n_params + g->n_results;
    guard_buf *bufs = calloc((size_t)n_bufs + 1, sizeof *bufs);
    void **args = calloc((size_t)n_bufs + 1, sizeof *args), **out = calloc((size_t)g->n_results + 1, sizeof *out);
    for (int i = 0; i < n_bufs; i++) {
        const ir_node *v = i < g->n_params ? g->params[i] : g->results[i - g->n_params].node;
        cr_assert(guard_alloc(&bufs[i], (size_t)ir_type_bytes(&v->type), GUARD_END_EXACT, 64));
        if (i < g->n_params) memcpy(bufs[i].p, feeds[i], bufs[i].n), guard_seal(&bufs[i]);
        else memset(bufs[i].p, 0x7f, bufs[i].n); /* a value no kernel leaves behind */
        args[i] = bufs[i].p;
    }
    cr_assert(guard_alloc(&bufs[n_bufs], (size_t)g->temp_size, GUARD_END_ALIGNED, 64));
    cr_assert_eq(cg_jit_entry(j)(args, bufs[n_bufs].p), 0);
    for (int r = 0; r < g->n_results; r++) {
        guard_buf *b = &bufs[g->n_params + r];
        cr_assert(guard_intact(b), "%s (%d threads): a write next to result %d", g->source, threads, r);
        out[r] = malloc(b->n + 1);
        memcpy(out[r], b->p, b->n);
    }
    for (int i = 0; i <= n_bufs; i++) guard_free(&bufs[i]);
    free(bufs), free(args);
    cg_jit_free(j);
    kl_diag_clear(&d);
    return out;
}

/* The reference's results for the unplanned g. */
static void **reference(const ir_graph *g, void *const *feeds)
{
    kl_diag d = {0};
    void **want = calloc((size_t)g->n_results + 1, sizeof *want);
    for (int i = 0; i < g->n_results; i++) want[i] = calloc(1, ir_type_bytes(&g->results[i].node->type) + 8);
    cr_assert(ir_eval_graph(g, (const void *const *)feeds, want, &d), "%s", d.text);
    kl_diag_clear(&d);
    return want;
}

static void free_results(const ir_graph *g, void **r)
{
    for (int i = 0; i < g->n_results; i++) free(r[i]);
    free(r);
}

/* g (unplanned) with feeds: each listed root splits on 2 and 3 threads and
 * not on 1; results on 1, 2 and 3 threads are bit-identical and match the
 * reference within tol. */
static void check_split_upto(ir_graph *g, void *const *feeds, ir_node *const *split, int n_split, float tol, int split_upto)
{
    void **want = reference(g, feeds);
    plan(g);
    for (int s = 0; s < n_split; s++) {
        cr_assert_eq(units_of(g, split[s], 1), 0, "%s: '%s' on one thread", g->source, split[s]->name);
        for (int t = 2; t <= split_upto; t++)
            cr_assert_gt(units_of(g, split[s], t), 1, "%s: '%s' (~%.0f ns of work) splits over %d threads", g->source,
                         split[s]->name, work_of(g, split[s]), t);
    }
    void **one = run(g, feeds, 1);
    for (int r = 0; r < g->n_results; r++) {
        const ir_type *t = &g->results[r].node->type;
        int64_t n = ir_type_numel(t);
        for (int64_t i = 0; i < n; i++) {
            double got, ref;
            switch (t->dtype) {
            case KL_F32: got = ((float *)one[r])[i], ref = ((float *)want[r])[i]; break;
            case KL_I32: got = ((int32_t *)one[r])[i], ref = ((int32_t *)want[r])[i]; break;
            case KL_I64: got = (double)((int64_t *)one[r])[i], ref = (double)((int64_t *)want[r])[i]; break;
            default: cr_assert(0, "dtype"); return;
            }
            cr_assert(fabs(got - ref) <= tol * (1 + fabs(ref)), "%s result %s [%lld]: got %.7g want %.7g", g->source,
                      g->results[r].node->name, (long long)i, got, ref);
        }
    }
    for (int threads = 2; threads <= 3; threads++) {
        void **many = run(g, feeds, threads);
        for (int r = 0; r < g->n_results; r++)
            cr_assert(!memcmp(one[r], many[r], ir_type_bytes(&g->results[r].node->type)),
                      "%s result %s: %d threads differ from 1", g->source, g->results[r].node->name, threads);
        free_results(g, many);
    }
    free_results(g, one);
    free_results(g, want);
}

static void check_split(ir_graph *g, void *const *feeds, ir_node *const *split, int n_split, float tol)
{
    check_split_upto(g, feeds, split, n_split, tol, 3);
}

static ir_type f32(int rank, const int64_t *dims) { return ir_type_make(KL_F32, rank, dims); }

static ir_node *node(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const ir_attr *at, const ir_type *type,
                     const char *name)
{
    kl_diag d = {0};
    ir_node *n = ir_node_new(g, op, n_in, in, at, type, name, &d);
    cr_assert(n, "%s: %s", name, d.text);
    kl_diag_clear(&d);
    return n;
}

static ir_attr window(int kh, int kw, int stride, int pad)
{
    ir_attr a = {0};
    a.conv.kh = kh, a.conv.kw = kw, a.conv.stride_h = a.conv.stride_w = stride;
    a.conv.dilation_h = a.conv.dilation_w = 1;
    a.conv.pad_top = a.conv.pad_bottom = a.conv.pad_left = a.conv.pad_right = pad;
    a.conv.groups = 1;
    return a;
}

Test(split, pools_and_transposed_conv_by_image)
{
    ir_graph *g = ir_graph_new("pools, transposed conv");
    int64_t xd[4] = {3, 33, 31, 16}, yd[4] = {5, 20, 20, 24}, td[4] = {3, 9, 9, 16}, wd[4] = {3, 3, 8, 16}, od[4] = {3, 18, 18, 8};
    ir_node *x = ir_param(g, f32(4, xd), "x"), *y = ir_param(g, f32(4, yd), "y"), *tx = ir_param(g, f32(4, td), "t");
    /* the filter is fed: a constant one makes passes/subpixel.c rewrite the
     * strided transposed conv into a conv2d + depth-to-space */
    ir_node *wn = ir_param(g, f32(4, wd), "w");
    ir_attr mp = window(3, 3, 2, 1), ap = window(2, 2, 2, 0), ct = window(3, 3, 2, 0);
    ct.conv.pad_bottom = ct.conv.pad_right = 1;
    ir_node *m = node(g, KL_OP_MAX_POOL, 1, &x, &mp, NULL, "maxpool");
    ir_node *a = node(g, KL_OP_AVG_POOL, 1, &y, &ap, NULL, "avgpool");
    /* batch 1: split by output rows (57, uneven over 2 and 3 threads) */
    int64_t zd[4] = {1, 57, 43, 32};
    ir_node *z = ir_param(g, f32(4, zd), "z");
    ir_attr a1 = window(3, 3, 1, 1);
    ir_node *a1n = node(g, KL_OP_AVG_POOL, 1, &z, &a1, NULL, "avgpool_b1");
    ir_type ot = f32(4, od);
    ir_node *c = node(g, KL_OP_CONV2D_TRANSPOSE, 2, (ir_node *[]){tx, wn}, &ct, &ot, "convT");
    ir_graph_add_result(g, m, "maxpool");
    ir_graph_add_result(g, a, "avgpool");
    ir_graph_add_result(g, c, "convT");
    ir_graph_add_result(g, a1n, "avgpool_b1");
    void *feeds[5] = {random_f32(3 * 33 * 31 * 16, 30), random_f32(5 * 20 * 20 * 24, 31), random_f32(3 * 81 * 16, 32),
                      random_f32(3 * 3 * 8 * 16, 33), random_f32(57 * 43 * 32, 34)};
    check_split(g, feeds, (ir_node *[]){m, a, c, a1n}, 4, 1e-5f);
    cr_assert_eq(units_of(g, a1n, 2), 57, "avgpool_b1: one unit per output row");
    for (int i = 0; i < 5; i++) free(feeds[i]);
    ir_graph_free(g);
}

static ir_node *reduce(ir_graph *g, kl_op op, ir_node *x, uint32_t axes, const char *name)
{
    ir_attr a = {0};
    a.reduce.axes = axes;
    int64_t dims[IR_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->type.rank; d++)
        if (!(axes & (1u << d))) dims[r++] = x->type.dims[d];
    ir_type t = ir_type_make(op == KL_OP_ARGMAX ? KL_I64 : KL_F32, r, dims);
    return node(g, op, 1, &x, &a, &t, name);
}

Test(split, reductions_by_output_rows)
{
    ir_graph *g = ir_graph_new("reductions");
    int64_t ad[3] = {9, 124, 128}, bd[3] = {7, 65, 257}, cd[3] = {37, 5, 301}, dd[3] = {50, 40, 64};
    ir_node *a = ir_param(g, f32(3, ad), "a"), *b = ir_param(g, f32(3, bd), "b"), *c = ir_param(g, f32(3, cd), "c");
    ir_node *dn = ir_param(g, f32(3, dd), "d");
    /* a global max pool over time fused with its ReLU (rows form, kept batch) */
    ir_node *ra = reduce(g, KL_OP_REDUCE_MAX, ir_unary(g, KL_OP_RELU, a, "relu", &(kl_diag){0}), 1u << 1, "max_time");
    ir_node *rb = reduce(g, KL_OP_REDUCE_SUM, b, 1u << 2, "sum_last");    /* over the innermost axis */
    ir_node *rc = reduce(g, KL_OP_ARGMAX, c, 1u << 0, "argmax_outer");    /* over the outer axis: kept 5 x 301 */
    ir_node *rm = reduce(g, KL_OP_REDUCE_MEAN, c, 1u << 0, "mean_outer"); /* rows form over the outer axis: kept dim 1 */
    ir_node *rd = reduce(g, KL_OP_REDUCE_MEAN, dn, 3u, "mean_all_outer"); /* only the innermost axis kept */
    ir_node *res[] = {ra, rb, rc, rm, rd};
    for (int i = 0; i < 5; i++) ir_graph_add_result(g, res[i], res[i]->name);
    void *feeds[4] = {random_f32(9 * 124 * 128, 40), random_f32(7 * 65 * 257, 41), random_f32(37 * 5 * 301, 42),
                      random_f32(50 * 40 * 64, 43)};
    check_split(g, feeds, res, 4, 1e-4f);
    /* reducing every outer axis leaves only the vector loop: one thread, however
     * large (split by 16-column blocks it was slower at 2 threads on all 16 of
     * EfficientNetB0's squeeze means: docs/performance.md, optimization 21) */
    cr_assert_gt(work_of(g, rd), 3 * cg_split_chunk_ns(), "mean_all_outer is large enough to pay");
    cr_assert_eq(units_of(g, rd, 2), 0, "a reduction over every outer axis stays on one thread");
    for (int i = 0; i < 4; i++) free(feeds[i]);
    ir_graph_free(g);
}

/* An embedding lookup of `rows` x `seq` ids from a 5000 x 64 table. */
static ir_graph *gather_graph(int64_t rows, int64_t seq, ir_node **gn, void **feeds)
{
    ir_graph *g = ir_graph_new("gather");
    int64_t td[2] = {5000, 64}, id[2] = {rows, seq};
    float *table = random_f32(5000 * 64, 50);
    ir_node *t = ir_const(g, f32(2, td), table, "table"), *ids = ir_param(g, ir_type_make(KL_I32, 2, id), "ids");
    free(table);
    ir_attr a = {0};
    *gn = node(g, KL_OP_GATHER, 2, (ir_node *[]){t, ids}, &a, NULL, "lookup");
    ir_graph_add_result(g, *gn, "lookup");
    feeds[0] = random_i32(rows * seq, 5000, 51);
    return g;
}

Test(split, gathers_movement_and_scans)
{
    ir_node *gn;
    void *gf[1];
    ir_graph *g = gather_graph(9, 128, &gn, gf);
    check_split(g, gf, &gn, 1, 0);
    free(gf[0]);
    ir_graph_free(g);

    g = ir_graph_new("movement, scan");
    int64_t pd[3] = {61, 257, 16}, ed[2] = {301, 129}, xd[4] = {1, 37, 61, 32}, qd[4] = {3, 40, 40, 16},
            c1[4] = {1, 56, 56, 32}, c2[4] = {1, 56, 56, 40}, c3[4] = {2, 56, 56, 40};
    ir_node *p = ir_param(g, f32(3, pd), "p"), *e = ir_param(g, f32(2, ed), "e"), *x = ir_param(g, f32(4, xd), "x");
    ir_node *q = ir_param(g, f32(4, qd), "q"), *k1 = ir_param(g, f32(4, c1), "k1"), *k2 = ir_param(g, f32(4, c2), "k2");
    ir_node *k3 = ir_param(g, f32(4, c3), "k3");
    ir_node *eidx = ir_param(g, ir_type_make(KL_I32, 2, ed), "eidx");
    ir_attr at = {0};
    at.transpose.perm[0] = 0, at.transpose.perm[1] = 3, at.transpose.perm[2] = 1, at.transpose.perm[3] = 2;
    ir_node *tr = node(g, KL_OP_TRANSPOSE, 1, &x, &at, NULL, "transpose"); /* dim 0 is 1: splits dim 1 */
    ir_attr pa = {0};
    pa.pad.mode = IR_PAD_EDGE;
    pa.pad.lo[1] = 2, pa.pad.hi[1] = 1, pa.pad.lo[2] = 1, pa.pad.hi[2] = 3;
    ir_node *pad = node(g, KL_OP_PAD, 1, &q, &pa, NULL, "pad");
    ir_attr ca = {0};
    ca.concat.axis = 3;
    ir_node *cat = node(g, KL_OP_CONCAT, 2, (ir_node *[]){k1, k2}, &ca, NULL, "concat_channels");
    ca.concat.axis = 0;
    ir_node *cat0 = node(g, KL_OP_CONCAT, 2, (ir_node *[]){k2, k3}, &ca, NULL, "concat_batch");
    ir_attr sa = {0};
    sa.concat.axis = 1;
    ir_node *cs = node(g, KL_OP_CUMSUM, 1, &p, &sa, NULL, "cumsum");
    ir_node *ge = node(g, KL_OP_GATHER_ELEMENTS, 2, (ir_node *[]){e, eidx}, &sa, NULL, "gather_elements");
    ir_node *res[] = {tr, pad, cat, cs, ge, cat0};
    for (int i = 0; i < 6; i++) ir_graph_add_result(g, res[i], res[i]->name);
    void *feeds[8] = {random_f32(61 * 257 * 16, 60), random_f32(301 * 129, 61), random_f32(37 * 61 * 32, 62),
                      random_f32(3 * 40 * 40 * 16, 63), random_f32(56 * 56 * 32, 64), random_f32(56 * 56 * 40, 65),
                      random_f32(2 * 56 * 56 * 40, 66), random_i32(301 * 129, 129, 67)};
    check_split(g, feeds, res, 5, 1e-5f);
    cr_assert_eq(units_of(g, cat0, 2), 0, "a concat along its split axis stays on one thread");
    for (int i = 0; i < 8; i++) free(feeds[i]);
    ir_graph_free(g);
}

Test(split, generic_matmul_by_batch_and_rows)
{
    ir_graph *g = ir_graph_new("int32 matmuls");
    int64_t ad[3] = {5, 33, 40}, bd[3] = {5, 40, 29}, cd[2] = {301, 64}, dd[2] = {64, 48};
    ir_node *a = ir_param(g, ir_type_make(KL_I32, 3, ad), "a"), *b = ir_param(g, ir_type_make(KL_I32, 3, bd), "b");
    ir_node *c = ir_param(g, ir_type_make(KL_I32, 2, cd), "c"), *dn = ir_param(g, ir_type_make(KL_I32, 2, dd), "d");
    ir_attr mm = {0};
    ir_node *bm = node(g, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, &mm, NULL, "batched");
    ir_node *rm = node(g, KL_OP_MATMUL, 2, (ir_node *[]){c, dn}, &mm, NULL, "rows");
    ir_graph_add_result(g, bm, "batched");
    ir_graph_add_result(g, rm, "rows");
    void *feeds[4] = {random_i32(5 * 33 * 40, 19, 70), random_i32(5 * 40 * 29, 23, 71), random_i32(301 * 64, 17, 72),
                      random_i32(64 * 48, 13, 73)};
    check_split(g, feeds, (ir_node *[]){bm, rm}, 2, 0);
    for (int i = 0; i < 4; i++) free(feeds[i]);
    ir_graph_free(g);
}

/* The rule at its edge: a lookup whose estimated work is just under two
 * threads' minimum chunks runs on one thread, one just over it splits. */
Test(split, threshold_below_and_above)
{
    double need = 2 * cg_split_chunk_ns();
    int64_t below = -1, above = -1;
    for (int64_t rows = 1; rows < 64 && above < 0; rows++) { /* rows of 8 ids: the smallest sizes on either side */
        ir_node *gn;
        void *f[1];
        ir_graph *g = gather_graph(rows, 8, &gn, f);
        plan(g);
        double w = work_of(g, gn);
        int64_t u = units_of(g, gn, 2);
        cr_assert_eq(u > 0, w >= need, "%lld x 8 ids: ~%.0f ns of work against %.0f: units %lld", (long long)rows, w, need,
                     (long long)u);
        if (w < need) below = rows;
        else above = rows;
        free(f[0]);
        ir_graph_free(g);
    }
    cr_assert(below > 0 && above == below + 1, "both sides of the threshold were tried (below %lld, above %lld)",
              (long long)below, (long long)above);
    ir_node *gn;
    void *f[1];
    ir_graph *g = gather_graph(above, 8, &gn, f); /* just above: split on 2 threads (not 3), and still exact */
    check_split_upto(g, f, &gn, 1, 0, 2);
    free(f[0]);
    ir_graph_free(g);
}

/* A batch-1 swish after a bias of shape [1,1,1,C] (EfficientNet's): the
 * extent-1 dims do not keep H and W apart, so the outer loop is H x W and
 * the kernel splits. */
Test(split, batch1_elementwise_with_rank4_bias)
{
    ir_graph *g = ir_graph_new("batch-1 swish");
    int64_t xd[4] = {1, 37, 29, 24}, bd[4] = {1, 1, 1, 24};
    ir_node *x = ir_param(g, f32(4, xd), "x"), *b = ir_param(g, f32(4, bd), "b");
    kl_diag d = {0};
    ir_node *s = ir_binary(g, KL_OP_ADD, x, b, "biased", &d);
    ir_node *y = ir_binary(g, KL_OP_MUL, s, ir_unary(g, KL_OP_SIGMOID, s, "sig", &d), "swish", &d);
    cr_assert(y, "%s", d.text);
    ir_graph_add_result(g, y, "swish");
    void *feeds[2] = {random_f32(37 * 29 * 24, 60), random_f32(24, 61)};
    check_split(g, feeds, (ir_node *[]){y}, 1, 1e-5f);
    cr_assert_eq(units_of(g, y, 2), 37 * 29, "swish: H x W rows");
    for (int i = 0; i < 2; i++) free(feeds[i]);
    ir_graph_free(g);
}

/* A ReLU over a channel concat at batch 1 (NASNet's cell outputs): the
 * concat's edges cut only the channel dim, so the kernel splits its rows. */
Test(split, concat_fused_elementwise_by_rows)
{
    ir_graph *g = ir_graph_new("concat + relu");
    int64_t ad[4] = {1, 41, 23, 24}, bd[4] = {1, 41, 23, 20};
    ir_node *a = ir_param(g, f32(4, ad), "a"), *b = ir_param(g, f32(4, bd), "b");
    ir_attr ca = {0};
    ca.concat.axis = 3;
    ir_node *cc = node(g, KL_OP_CONCAT, 2, (ir_node *[]){a, b}, &ca, NULL, "concat");
    kl_diag d = {0};
    ir_node *y = ir_unary(g, KL_OP_RELU, cc, "relu", &d);
    cr_assert(y, "%s", d.text);
    ir_graph_add_result(g, y, "relu");
    void *feeds[2] = {random_f32(41 * 23 * 24, 70), random_f32(41 * 23 * 20, 71)};
    check_split(g, feeds, (ir_node *[]){y}, 1, 0);
    cr_assert_eq(units_of(g, y, 2), 41, "concat + relu: one unit per row");
    for (int i = 0; i < 2; i++) free(feeds[i]);
    ir_graph_free(g);
}
