/* tests/test_gemm.c — the GEMM micro-kernel path (passes/layout.c,
 * codegen/gemm.c), output fusion and the thread pool, against the IR's
 * reference evaluator (ir_eval_graph, itself checked against TensorFlow by
 * the fixtures).
 *
 * Shapes sweep every tail the tiling has: rows not a multiple of the tile
 * (1, 5, 13, 49, ...), columns below a vector, between one and two vectors
 * and past a panel; B constant (prepacked at compile time) or a feed (packed
 * at run time), transposed or batched; convs with strides, dilations, pads
 * and tiny channel counts (the padded-copy path) or not; epilogues with bias, relu, a residual input and a
 * broadcast scale.  Each graph runs through the real pipeline at -O2 for
 * the three vector widths (AVX-512, AVX2, SSE) and, large enough to be
 * split, on 1 and 3 threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "kiln/runtime.h"
#include "passes/passes.h"
#include "support/guard.h"

static ir_type f32(int rank, const int64_t *dims) { return ir_type_make(KL_F32, rank, dims); }

static float *random_data(int64_t n, unsigned seed)
{
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    srand(seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return x;
}

typedef struct target {
    const char *cpu;
    int vl;
} target;

static const target targets[] = {{"native", 0}, {"x86-64-v3", 8}, {"x86-64-v2", 4}};

/* Plans g at -O2 for `t` and `threads`, runs it on feeds, compares every
 * result with the reference evaluator's; returns how many nodes got a GEMM plan. */
static int check(ir_graph *g, float **feeds, const target *t, int threads, float tol)
{
    kl_diag d = {0};
    int n_res = g->n_results;
    void **want = calloc((size_t)n_res, sizeof *want), **args = calloc((size_t)(g->n_params + n_res), sizeof *args);
    for (int i = 0; i < n_res; i++) want[i] = calloc(1, ir_type_bytes(&g->results[i].node->type) + 4);
    cr_assert(ir_eval_graph(g, (const void *const *)feeds, want, &d), "%s", d.text);
    int vl = t->vl ? t->vl : cg_target_vector_floats(NULL, "native", NULL);
    pass_ctx ctx = {.diag = &d, .opt_level = 2, .verify_each = true, .vector_floats = vl,
                    .vector_regs = vl == 16 ? 32 : 16}; /* x86: AVX-512 has 32, AVX2 16 */
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    int planned = 0;
    for (int i = 0; i < g->n_nodes; i++) planned += g->nodes[i]->gemm != NULL;
    cg_options o = {.prefix = "g", .cpu = t->cpu, .opt_level = 2, .threads = threads, .source = "test"};
    cg_jit *j;
    cr_assert(cg_jit_compile(g, &o, &j, NULL, &d), "%s", d.text);
    /* every buffer flush against guard pages (tests/support/guard.h): the
     * tails of every tile and vector width must stay inside them */
    int n_bufs = g->n_params + n_res;
    guard_buf *bufs = calloc((size_t)n_bufs + 1, sizeof *bufs);
    for (int pl = GUARD_END_EXACT; pl <= GUARD_START; pl += GUARD_START - GUARD_END_EXACT) {
        for (int i = 0; i < n_bufs; i++) {
            const ir_node *v = i < g->n_params ? g->params[i] : g->results[i - g->n_params].node;
            cr_assert(guard_alloc(&bufs[i], (size_t)ir_type_bytes(&v->type), (guard_place)pl, 64));
            if (i < g->n_params) memcpy(bufs[i].p, feeds[i], bufs[i].n), guard_seal(&bufs[i]);
            args[i] = bufs[i].p;
        }
        cr_assert(guard_alloc(&bufs[n_bufs], (size_t)g->temp_size, pl == GUARD_START ? GUARD_START : GUARD_END_ALIGNED, 64));
        cr_assert_eq(cg_jit_entry(j)(args, bufs[n_bufs].p), 0);
        for (int r = 0; r < n_res; r++) {
            const float *got = args[g->n_params + r], *ref = want[r];
            int64_t n = ir_type_numel(&g->results[r].node->type);
            for (int64_t i = 0; i < n; i++)
                cr_assert(fabsf(got[i] - ref[i]) <= tol * (1.0f + fabsf(ref[i])),
                          "%s (%s, %d threads, %s) result %d [%lld]: got %.7g want %.7g", g->source, t->cpu, threads,
                          guard_place_name((guard_place)pl), r, (long long)i, got[i], ref[i]);
        }
        for (int i = g->n_params; i <= n_bufs; i++)
            cr_assert(guard_intact(&bufs[i]), "%s (%s): a write next to buffer %d", g->source, t->cpu, i);
        for (int i = 0; i <= n_bufs; i++) guard_free(&bufs[i]);
    }
    free(bufs);
    for (int i = 0; i < n_res; i++) free(want[i]);
    free(want), free(args);
    cg_jit_free(j);
    kl_diag_clear(&d);
    return planned;
}

/* y = relu(A B + bias) + residual  (epilogue) and z = A B (no epilogue), B constant or fed. */
static ir_graph *matmul_graph(int64_t m, int64_t n, int64_t k, bool b_const, bool trb, int64_t batch, float **feeds,
                              int *n_feeds)
{
    kl_diag d = {0};
    char name[128];
    snprintf(name, sizeof name, "matmul m=%lld n=%lld k=%lld %s%s batch=%lld", (long long)m, (long long)n, (long long)k,
             b_const ? "const" : "fed", trb ? " trb" : "", (long long)batch);
    ir_graph *g = ir_graph_new(name);
    int64_t ad[3] = {batch, m, k}, bd[3] = {batch, trb ? n : k, trb ? k : n}, od[3] = {batch, m, n};
    int r = batch > 1 ? 3 : 2, off = batch > 1 ? 0 : 1;
    ir_node *a = ir_param(g, f32(r, ad + off), "a");
    feeds[0] = random_data(batch * m * k, 1);
    float *bdata = random_data(batch * n * k, 2);
    ir_node *b;
    *n_feeds = 1;
    if (b_const) {
        b = ir_const(g, f32(r, bd + off), bdata, "b");
        free(bdata);
    } else {
        b = ir_param(g, f32(r, bd + off), "b");
        feeds[(*n_feeds)++] = bdata;
    }
    ir_attr at = {0};
    at.matmul.transpose_b = trb;
    ir_node *mm = ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, &at, NULL, "mm", &d);
    float *bias = random_data(n, 3);
    ir_node *bn = ir_const(g, f32(1, &n), bias, "bias");
    free(bias);
    ir_node *res = ir_param(g, f32(r, od + off), "res");
    feeds[(*n_feeds)++] = random_data(batch * m * n, 4);
    ir_node *a2 = ir_param(g, f32(r, ad + off), "a2"); /* a second product, fetched as it is */
    feeds[(*n_feeds)++] = random_data(batch * m * k, 5);
    ir_node *mm2 = ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a2, b}, &at, NULL, "mm2", &d);
    ir_node *y = ir_binary(g, KL_OP_ADD, ir_unary(g, KL_OP_RELU, ir_binary(g, KL_OP_ADD, mm, bn, "b", &d), "r", &d), res, "y", &d);
    cr_assert(y && mm2 && kl_diag_ok(&d), "%s", d.text);
    ir_graph_add_result(g, y, "y");
    ir_graph_add_result(g, mm2, "z");
    return g;
}

Test(gemm, matmul_tails_every_width)
{
    static const int64_t ms[] = {1, 5, 12, 13, 49}, ns[] = {1, 7, 8, 16, 17, 33, 64}, ks[] = {1, 3, 37};
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
        for (size_t i = 0; i < 5; i++)
            for (size_t jn = 0; jn < 7; jn++)
                for (size_t kk = 0; kk < 3; kk++) {
                    float *feeds[4];
                    int nf;
                    bool b_const = (i + jn + kk) % 2 == 0, trb = (i + kk) % 3 == 0;
                    ir_graph *g = matmul_graph(ms[i], ns[jn], ks[kk], b_const, trb, 1, feeds, &nf);
                    int planned = check(g, feeds, &targets[t], 1, 1e-5f);
                    cr_assert_eq(planned, ns[jn] >= 4 ? 2 : 0, "%s: %d GEMM plans", g->source, planned);
                    for (int f = 0; f < nf; f++) free(feeds[f]);
                    ir_graph_free(g);
                }
}

Test(gemm, batched_and_threaded)
{
    static const struct { int64_t m, n, k, batch; bool b_const, trb; } cases[] = {
        {64, 64, 32, 4, false, true},   /* attention-like: runtime-packed, transposed B per batch */
        {7, 40, 9, 3, true, false},     /* constant batched B */
        {300, 96, 64, 1, true, false},  /* big enough to split by row tiles */
        {6, 1000, 512, 1, true, false}, /* few rows: split by column panels */
        {257, 130, 200, 1, false, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int threads = 1; threads <= 3; threads += 2) {
            float *feeds[4];
            int nf;
            ir_graph *g = matmul_graph(cases[c].m, cases[c].n, cases[c].k, cases[c].b_const, cases[c].trb, cases[c].batch,
                                       feeds, &nf);
            check(g, feeds, &targets[0], threads, 1e-4f);
            for (int f = 0; f < nf; f++) free(feeds[f]);
            ir_graph_free(g);
        }
}

/* y = act(conv(x, w) * scale + shift), scale/shift per output channel. */
static ir_graph *conv_graph(int64_t h, int64_t w, int64_t c, int64_t o, int kh, int kw, int stride, int dil, int pad,
                            int groups, float **feeds)
{
    kl_diag d = {0};
    char name[160];
    snprintf(name, sizeof name, "conv %lldx%lldx%lld->%lld k%dx%d s%d d%d p%d g%d", (long long)h, (long long)w,
             (long long)c, (long long)o, kh, kw, stride, dil, pad, groups);
    ir_graph *g = ir_graph_new(name);
    int64_t xd[4] = {2, h, w, c}, wd[4] = {kh, kw, c / groups, o};
    ir_node *x = ir_param(g, f32(4, xd), "x");
    feeds[0] = random_data(2 * h * w * c, 5);
    float *wdata = random_data(kh * kw * c / groups * o, 6);
    ir_node *wn = ir_const(g, f32(4, wd), wdata, "w");
    free(wdata);
    ir_attr at = {0};
    at.conv.stride_h = at.conv.stride_w = stride;
    at.conv.dilation_h = at.conv.dilation_w = dil;
    at.conv.pad_top = at.conv.pad_left = pad;
    at.conv.pad_bottom = at.conv.pad_right = pad / 2;
    at.conv.groups = groups;
    ir_node *cv = ir_node_new(g, KL_OP_CONV2D, 2, (ir_node *[]){x, wn}, &at, NULL, "conv", &d);
    cr_assert(cv, "%s: %s", name, d.text);
    float *s = random_data(o, 7), *t = random_data(o, 8);
    ir_node *sc = ir_const(g, f32(1, &o), s, "scale"), *sh = ir_const(g, f32(1, &o), t, "shift");
    free(s), free(t);
    /* ReLU runs on the accumulators; sigmoid takes the scalar epilogue loop over the stored tile */
    kl_op act = (o % 2 || c % 2) ? KL_OP_SIGMOID : KL_OP_RELU;
    ir_node *y = ir_unary(g, act, ir_binary(g, KL_OP_ADD, ir_binary(g, KL_OP_MUL, cv, sc, "m", &d), sh, "a", &d), "y", &d);
    cr_assert(y && kl_diag_ok(&d), "%s", d.text);
    ir_graph_add_result(g, y, "y");
    return g;
}

Test(gemm, conv_indirect_and_depthwise)
{
    static const struct { int64_t h, w, c, o; int kh, kw, stride, dil, pad, groups; } cases[] = {
        {9, 7, 3, 16, 3, 3, 1, 1, 2, 1},   /* tiny C: on a padded copy, KW*C per filter row */
        {12, 11, 1, 6, 5, 5, 1, 1, 2, 1},  /* LeNet's first conv: C=1, 6 outputs (one masked vector) */
        {9, 10, 40, 20, 3, 3, 2, 1, 1, 1}, /* C >= 32: per-tap pointers, zero rows in the padding */
        {8, 8, 16, 33, 3, 3, 2, 1, 1, 1},  /* strided, column tail */
        {11, 10, 5, 8, 5, 3, 1, 2, 3, 1},  /* dilated, asymmetric pads */
        {7, 7, 64, 40, 1, 1, 1, 1, 0, 1},  /* 1x1 */
        {6, 9, 24, 24, 3, 3, 1, 1, 1, 24}, /* depthwise: the vector loop, no GEMM */
        {6, 9, 20, 20, 3, 3, 2, 1, 1, 20}, /* depthwise with a channel tail */
        {5, 5, 8, 16, 3, 3, 1, 1, 1, 2},   /* grouped: plain loops */
    };
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            float *feeds[1];
            ir_graph *g = conv_graph(cases[i].h, cases[i].w, cases[i].c, cases[i].o, cases[i].kh, cases[i].kw,
                                     cases[i].stride, cases[i].dil, cases[i].pad, cases[i].groups, feeds);
            int planned = check(g, feeds, &targets[t], t == 0 ? 2 : 1, 1e-5f);
            cr_assert_eq(planned, cases[i].groups == 1 && cases[i].o >= 4, "%s", g->source);
            free(feeds[0]);
            ir_graph_free(g);
        }
}

Test(gemm, epilogue_fusion_plan)
{
    float *feeds[4];
    int nf;
    ir_graph *g = matmul_graph(20, 32, 16, true, false, 1, feeds, &nf);
    kl_diag d = {0};
    pass_ctx ctx = {.diag = &d, .opt_level = 2, .vector_floats = 16, .vector_regs = 32};
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    int gemm_members = 0, kernels = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        kernels += n->kernel == n;
        if (n->gemm && n->kernel != n) {
            gemm_members++;
            cr_assert_eq(n->kernel->op, KL_OP_ADD, "the matmul joins the residual add's kernel");
            cr_assert_eq(n->store, IR_STORE_NONE);
        }
    }
    cr_assert_eq(gemm_members, 1, "mm is an epilogue member, mm2 (a fetch) is not");
    cr_assert_eq(kernels, 2);
    /* the fused matmul's output never reaches the arena: only fetches remain */
    cr_assert_eq(g->temp_size, 0);
    for (int f = 0; f < nf; f++) free(feeds[f]);
    ir_graph_free(g);
    kl_diag_clear(&d);
}

/* ---- the pool ------------------------------------------------------------ */

typedef struct cover {
    int hits[1000];
} cover;

static void mark(void *ctx, int64_t begin, int64_t end)
{
    cover *c = ctx;
    for (int64_t i = begin; i < end; i++) __atomic_fetch_add(&c->hits[i], 1, __ATOMIC_RELAXED);
}

Test(pool, every_index_exactly_once)
{
    static const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 999};
    for (int threads = 1; threads <= 5; threads++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int rep = 0; rep < 20; rep++) {
                cover c = {{0}};
                kiln_rt_parallel_for(mark, &c, sizes[s], threads);
                for (int64_t i = 0; i < 1000; i++)
                    cr_assert_eq(c.hits[i], i < sizes[s], "threads %d n %lld index %lld hit %d times", threads,
                                 (long long)sizes[s], (long long)i, c.hits[i]);
            }
}

/* A chunk that outlasts the caller's spin (so the caller sleeps until the
 * finisher wakes it), jobs far enough apart that the workers fall asleep
 * between them, and back-to-back jobs: every index exactly once each time. */
static void mark_slow(void *ctx, int64_t begin, int64_t end)
{
    if (begin > 0) usleep(300);
    mark(ctx, begin, end);
}

Test(pool, sleeping_workers_and_slow_chunks)
{
    for (int rep = 0; rep < 60; rep++) {
        cover c = {{0}};
        int64_t n = 10 + rep * 16;
        kiln_rt_parallel_for(rep % 3 == 0 ? mark_slow : mark, &c, n, 2 + rep % 3);
        for (int64_t i = 0; i < 1000; i++)
            cr_assert_eq(c.hits[i], i < n, "rep %d index %lld hit %d times", rep, (long long)i, c.hits[i]);
        if (rep % 2) usleep(500); /* past the workers' spin: they sleep */
    }
}

/* Several host threads calling at once (serialized inside the pool). */
static void *caller_thread(void *arg)
{
    int *bad = arg;
    for (int rep = 0; rep < 200; rep++) {
        cover c = {{0}};
        int64_t n = 1 + (rep * 37) % 999;
        kiln_rt_parallel_for(mark, &c, n, 3);
        for (int64_t i = 0; i < 1000; i++)
            if (c.hits[i] != (i < n)) (*bad)++;
    }
    return NULL;
}

Test(pool, concurrent_callers)
{
    pthread_t t[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&t[i], NULL, caller_thread, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(bad[i], 0, "caller %d saw %d wrong hits", i, bad[i]);
    }
}

Test(pool, override_and_environment)
{
    cr_assert_eq(kiln_rt_threads(4), 4);
    kiln_rt_set_threads(2);
    cr_assert_eq(kiln_rt_threads(4), 2);
    cr_assert_eq(kiln_rt_threads(1), 2);
    kiln_rt_set_threads(0);
    cr_assert_eq(kiln_rt_threads(3), 3);
    cr_assert_eq(kiln_rt_threads(0), 1);
}

/* ---- reduction fusion ----------------------------------------------------- */

/* reduce(x * w + b) with w and b broadcast along different axes, every axis
 * mask: the producers are computed inside the reduction at their broadcast
 * offsets over kept and reduced loops alike. */
Test(fusion, reduction_with_broadcast_producers)
{
    static const kl_op ops[] = {KL_OP_REDUCE_SUM, KL_OP_REDUCE_MEAN, KL_OP_REDUCE_MAX, KL_OP_ARGMAX};
    for (unsigned axes = 1; axes < 8; axes++)
        for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
            if (ops[o] == KL_OP_ARGMAX && (axes & (axes - 1))) continue; /* one axis */
            kl_diag d = {0};
            ir_graph *g = ir_graph_new("reduce fusion");
            int64_t xd[3] = {3, 5, 7}, wd[1] = {7}, bd[2] = {5, 1};
            ir_node *x = ir_param(g, f32(3, xd), "x");
            float *w = random_data(7, 9), *b = random_data(5, 10), *feeds[1] = {random_data(105, 11)};
            ir_node *wn = ir_const(g, f32(1, wd), w, "w"), *bn = ir_const(g, f32(2, bd), b, "b");
            free(w), free(b);
            ir_node *e = ir_binary(g, KL_OP_ADD, ir_binary(g, KL_OP_MUL, x, wn, "xw", &d), bn, "e", &d);
            ir_attr at = {0};
            at.reduce.axes = axes;
            ir_type it = ir_type_make(KL_I32, 0, NULL);
            ir_node *r = ir_node_new(g, ops[o], 1, &e, &at, ops[o] == KL_OP_ARGMAX ? &it : NULL, "r", &d);
            cr_assert(r, "%s", d.text);
            if (ops[o] == KL_OP_ARGMAX) r = ir_cast(g, r, KL_F32, "rf");
            ir_graph_add_result(g, r, "y");
            check(g, feeds, &targets[0], 1, 1e-5f);
            bool fused = false;
            for (int i = 0; i < g->n_nodes; i++) fused |= g->nodes[i]->op == KL_OP_ADD && g->nodes[i]->kernel != g->nodes[i];
            cr_assert(fused, "the producers join the reduction's kernel (axes %u)", axes);
            free(feeds[0]);
            ir_graph_free(g);
            kl_diag_clear(&d);
        }
}

/* Transposes and slices join an elementwise kernel as strided reads:
 * y = transpose(x) * 2 + slice(z) with negative and positive strides. */
Test(fusion, views_as_strided_reads)
{
    static const int8_t perms[][3] = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}};
    for (size_t p = 0; p < sizeof perms / sizeof *perms; p++) {
        kl_diag d = {0};
        ir_graph *g = ir_graph_new("views");
        int64_t xd[3] = {4, 5, 6}, zd[3] = {9, 7, 13};
        ir_node *x = ir_param(g, f32(3, xd), "x"), *z = ir_param(g, f32(3, zd), "z");
        float *feeds[2] = {random_data(120, 12), random_data(9 * 7 * 13, 13)};
        ir_attr ta = {0}, sa = {0};
        for (int i = 0; i < 3; i++) ta.transpose.perm[i] = perms[p][i];
        ir_node *t = ir_node_new(g, KL_OP_TRANSPOSE, 1, &x, &ta, NULL, "t", &d);
        cr_assert(t, "%s", d.text);
        /* a slice of z with the transpose's shape: rows backwards, every other column */
        const int64_t *td = t->type.dims;
        int64_t starts[3] = {8, 1, 12}, steps[3] = {-1, 1, -2};
        for (int i = 0; i < 3; i++) sa.slice.begin[i] = starts[i], sa.slice.stride[i] = steps[i];
        ir_type st = f32(3, td);
        cr_assert(8 - (td[0] - 1) >= 0 && 1 + td[1] - 1 < 7 && 12 - 2 * (td[2] - 1) >= 0);
        ir_node *sl = ir_node_new(g, KL_OP_SLICE, 1, &z, &sa, &st, "s", &d);
        cr_assert(sl, "%s", d.text);
        ir_node *y = ir_binary(g, KL_OP_ADD, ir_binary(g, KL_OP_MUL, t, ir_const_scalar_f32(g, 2.0f, "two"), "m", &d), sl, "y", &d);
        cr_assert(y, "%s", d.text);
        ir_graph_add_result(g, y, "y");
        check(g, feeds, &targets[0], 1, 0);
        cr_assert(t->kernel == y && sl->kernel == y, "perm %zu: both views fused into the add", p);
        free(feeds[0]), free(feeds[1]);
        ir_graph_free(g);
        kl_diag_clear(&d);
    }
}

/* Constant pads and concats join an elementwise kernel: y = pad(x, v) + concat(a, b, c) * 3 along each axis. */
Test(fusion, pads_and_concats_in_the_loop)
{
    for (int axis = 0; axis < 3; axis++) {
        kl_diag d = {0};
        ir_graph *g = ir_graph_new("pad+concat");
        int64_t xd[3] = {3, 4, 5}, od[3] = {5, 7, 6};
        ir_node *x = ir_param(g, f32(3, xd), "x");
        ir_attr pa = {0};
        int64_t lo[3] = {1, 2, 0}, hi[3] = {1, 1, 1};
        for (int i = 0; i < 3; i++) pa.pad.lo[i] = lo[i], pa.pad.hi[i] = hi[i];
        pa.pad.value = -1.5;
        pa.pad.mode = IR_PAD_CONSTANT;
        ir_node *p = ir_node_new(g, KL_OP_PAD, 1, &x, &pa, NULL, "p", &d);
        cr_assert(p, "%s", d.text);
        /* three pieces of the output's shape along `axis`: 1, 2 and the rest */
        int64_t sizes[3] = {1, 2, od[axis] - 3};
        ir_node *parts[3];
        float *feeds[4] = {random_data(60, 14)};
        for (int j = 0; j < 3; j++) {
            int64_t pd[3] = {od[0], od[1], od[2]};
            pd[axis] = sizes[j];
            char name[8];
            snprintf(name, sizeof name, "c%d", j);
            parts[j] = ir_param(g, f32(3, pd), name);
            feeds[j + 1] = random_data(pd[0] * pd[1] * pd[2], 15 + (unsigned)j);
        }
        ir_attr ca = {0};
        ca.concat.axis = axis;
        ir_node *cc = ir_node_new(g, KL_OP_CONCAT, 3, parts, &ca, NULL, "cat", &d);
        cr_assert(cc, "%s", d.text);
        ir_node *y = ir_binary(g, KL_OP_ADD, p, ir_binary(g, KL_OP_MUL, cc, ir_const_scalar_f32(g, 3.0f, "three"), "m", &d), "y", &d);
        cr_assert(y, "%s", d.text);
        ir_graph_add_result(g, y, "y");
        check(g, feeds, &targets[0], 1, 0);
        cr_assert(p->kernel == y && cc->kernel == y, "axis %d: pad and concat fused into the add", axis);
        for (int f = 0; f < 4; f++) free(feeds[f]);
        ir_graph_free(g);
        kl_diag_clear(&d);
    }
}

/* ---- kernels split over the pool besides GEMMs ---------------------------- */

static int pool_calls(ir_graph *g, int threads)
{
    kl_diag d = {0};
    cg_options o = {.prefix = "s", .cpu = "native", .opt_level = 2, .threads = threads, .source = "test"};
    char *text = cg_module_text(g, &o, &d);
    cr_assert(text, "%s", d.text);
    int n = 0;
    for (const char *p = text; (p = strstr(p, "call void @kiln_rt_parallel_for")); p++) n++;
    free(text);
    return n;
}

/* An elementwise chain with broadcasting, a softmax and a depthwise conv big
 * enough to split: same results on 1 and 3 threads, and the pool is called. */
Test(pool, elementwise_softmax_depthwise_split)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("split kernels");
    int64_t xd[2] = {300, 257}, bd[1] = {257}, cd[4] = {1, 40, 37, 64}, wd[4] = {3, 3, 1, 64};
    ir_node *x = ir_param(g, f32(2, xd), "x"), *img = ir_param(g, f32(4, cd), "img");
    float *feeds[2] = {random_data(300 * 257, 21), random_data(40 * 37 * 64, 22)};
    float *b = random_data(257, 23), *w = random_data(9 * 64, 24);
    ir_node *bn = ir_const(g, f32(1, bd), b, "b"), *wn = ir_const(g, f32(4, wd), w, "w");
    free(b), free(w);
    ir_node *e = ir_unary(g, KL_OP_TANH, ir_binary(g, KL_OP_MUL, ir_binary(g, KL_OP_ADD, x, bn, "a", &d), x, "m", &d), "e", &d);
    ir_node *sm = ir_unary(g, KL_OP_SOFTMAX, x, "sm", &d);
    ir_attr at = {0};
    at.conv.stride_h = at.conv.stride_w = at.conv.dilation_h = at.conv.dilation_w = 1;
    at.conv.pad_top = at.conv.pad_bottom = at.conv.pad_left = at.conv.pad_right = 1;
    at.conv.groups = 64;
    ir_node *dw = ir_node_new(g, KL_OP_CONV2D, 2, (ir_node *[]){img, wn}, &at, NULL, "dw", &d);
    cr_assert(e && sm && dw, "%s", d.text);
    ir_graph_add_result(g, e, "e");
    ir_graph_add_result(g, sm, "sm");
    ir_graph_add_result(g, dw, "dw");
    check(g, feeds, &targets[0], 3, 2e-6f); /* plans g, then compares */
    cr_assert_geq(pool_calls(g, 3), 3, "the elementwise, softmax and depthwise kernels are split");
    cr_assert_eq(pool_calls(g, 1), 0, "one thread: no pool at all");
    free(feeds[0]), free(feeds[1]);
    ir_graph_free(g);
    kl_diag_clear(&d);
}
