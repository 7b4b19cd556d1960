/* tests/test_codegen.c — the code generator on hand-planned graphs.
 *
 * These tests do not run the pass pipeline: a small planner here sets
 * node->kernel / store / offset / index the way passes/fuse.c and
 * passes/bufassign.c would (every computing node its own kernel in TEMP at
 * 64-aligned offsets, results as FETCH, reshapes as ALIAS), and a test fuses
 * by hand where it wants fused members.  So a codegen failure here is a
 * codegen bug, whatever the passes do.  Results are checked against plain C
 * loops; the object writer is checked with nm and by linking the object and
 * its header into a PIE executable.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "ir/plan.h"

/* ---- planning by hand --------------------------------------------------- */

static ir_graph *planned; /* the graph plan() planned last, for fuse() */

/* Every computing node is its own kernel, stored in TEMP; results FETCH;
 * then the kernel plan codegen reads (ir/plan.h), as fuse and bufassign
 * leave it. */
static void plan(ir_graph *g)
{
    int64_t off = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        n->kernel = NULL;
        switch (n->op) {
        case KL_OP_PARAM: n->store = IR_STORE_FEED, n->index = n->attr.param.index; break;
        case KL_OP_CONST: n->store = IR_STORE_CONST; break;
        case KL_OP_RESHAPE: n->store = IR_STORE_ALIAS; break;
        default:
            n->kernel = n;
            n->store = IR_STORE_TEMP;
            n->offset = off;
            off += ((int64_t)ir_type_bytes(&n->type) + 63) / 64 * 64;
        }
    }
    for (int j = 0; j < g->n_results; j++) {
        ir_node *n = g->results[j].node;
        KL_ASSERT(n->kernel == n); /* tests fetch computed nodes only */
        n->store = IR_STORE_FETCH, n->index = j;
    }
    g->temp_size = off;
    ir_plan_build(g);
    planned = g;
}

/* Fuse `member` into the kernel of `root` (after plan()); the plan is rebuilt. */
static void fuse(ir_node *member, ir_node *root)
{
    member->kernel = root;
    member->store = IR_STORE_NONE;
    ir_plan_build(planned);
}

static const cg_options opts = {.prefix = "t", .cpu = "native", .opt_level = 2, .source = "test"};

/* JIT-compiles g and runs it once on args (feeds then fetches). */
static void run(ir_graph *g, const cg_options *o, void **args, cg_stats *st)
{
    kl_diag d = {0};
    cg_jit *j = NULL;
    cr_assert(cg_jit_compile(g, o ? o : &opts, &j, st, &d), "%s", d.text);
    void *temp = g->temp_size ? aligned_alloc(64, (size_t)(g->temp_size + 63) / 64 * 64) : NULL;
    cr_assert_eq(cg_jit_entry(j)(args, temp), 0);
    free(temp);
    cg_jit_free(j);
    kl_diag_clear(&d);
}

static ir_type f32(int rank, const int64_t *dims) { return ir_type_make(KL_F32, rank, dims); }

static void fill(float *x, int64_t n, unsigned seed)
{
    srand(seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rand() / (float)RAND_MAX * 4.0f - 2.0f;
}

static void expect_close(const float *got, const float *want, int64_t n, float tol, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        bool ok = isnan(want[i]) ? isnan(got[i]) : got[i] == want[i] || fabsf(got[i] - want[i]) <= tol * (1.0f + fabsf(want[i]));
        cr_assert(ok, "%s[%lld]: got %.9g, want %.9g", what, (long long)i, got[i], want[i]);
    }
}

static char *module_text(ir_graph *g, const cg_options *o)
{
    kl_diag d = {0};
    char *s = cg_module_text(g, o, &d);
    cr_assert(s, "%s", d.text);
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Output of a shell command (first 64 KiB). */
static char *shell(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, p);
    buf[n] = 0;
    int st = pclose(p);
    if (status) *status = st;
    return buf;
}

/* ---- elementwise -------------------------------------------------------- */

Test(codegen, broadcast_add_mul)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(2, (int64_t[]){4, 5}), "x");
    ir_node *b = ir_param(g, f32(1, (int64_t[]){5}), "b");
    ir_node *col = ir_param(g, f32(2, (int64_t[]){4, 1}), "col");
    ir_node *s = ir_binary(g, KL_OP_ADD, x, b, "s", &d);
    ir_node *y = ir_binary(g, KL_OP_MUL, s, col, "y", &d);
    ir_node *h = ir_binary(g, KL_OP_SUB, ir_const_scalar_f32(g, 0.5f, "half"), y, "h", &d);
    cr_assert(h, "%s", d.text);
    ir_graph_add_result(g, y, "y");
    ir_graph_add_result(g, h, "h");
    plan(g);
    float xv[20], bv[5], cv[4], yv[20], hv[20], want[20], want_h[20];
    fill(xv, 20, 1), fill(bv, 5, 2), fill(cv, 4, 3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) want[i * 5 + j] = (xv[i * 5 + j] + bv[j]) * cv[i], want_h[i * 5 + j] = 0.5f - want[i * 5 + j];
    run(g, NULL, (void *[]){xv, bv, cv, yv, hv}, NULL);
    expect_close(yv, want, 20, 0, "y");
    expect_close(hv, want_h, 20, 0, "h");
    ir_graph_free(g);
}

/* add -> tanh with the add fused into the tanh kernel: one kernel, no temp. */
Test(codegen, fused_chain)
{
    kl_diag d = {0};
    int64_t n = 1000;
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(1, &n), "x"), *y = ir_param(g, f32(1, &n), "y");
    ir_node *a = ir_binary(g, KL_OP_ADD, x, y, "a", &d);
    ir_node *t = ir_unary(g, KL_OP_TANH, a, "t", &d);
    ir_graph_add_result(g, t, "t");
    plan(g);
    fuse(a, t);
    g->temp_size = 0;
    float xv[1000], yv[1000], out[1000], want[1000];
    fill(xv, n, 4), fill(yv, n, 5);
    for (int i = 0; i < n; i++) want[i] = tanhf(xv[i] + yv[i]);
    cg_stats st = {0};
    run(g, NULL, (void *[]){xv, yv, out}, &st);
    cr_expect_eq(st.n_kernels, 1);
    expect_close(out, want, n, 1e-6f, "t");
    ir_graph_free(g);
}

/* A diamond of fused members is evaluated once per element (memoized):
 * r = (x + y) * (x + y) - (x + y) holds one fadd even at -O0. */
Test(codegen, fused_diamond_evaluates_once)
{
    kl_diag d = {0};
    int64_t n = 37;
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(1, &n), "x"), *y = ir_param(g, f32(1, &n), "y");
    ir_node *a = ir_binary(g, KL_OP_ADD, x, y, "a", &d);
    ir_node *m = ir_binary(g, KL_OP_MUL, a, a, "m", &d);
    ir_node *r = ir_binary(g, KL_OP_SUB, m, a, "r", &d);
    ir_graph_add_result(g, r, "r");
    plan(g);
    fuse(a, r), fuse(m, r);
    g->temp_size = 0;
    cg_options o0 = opts;
    o0.opt_level = 0;
    char *text = module_text(g, &o0);
    cr_expect_eq(count(text, " fadd "), 1, "%s", text);
    free(text);
    float xv[37], yv[37], out[37], want[37];
    fill(xv, n, 6), fill(yv, n, 7);
    for (int i = 0; i < n; i++) want[i] = (xv[i] + yv[i]) * (xv[i] + yv[i]) - (xv[i] + yv[i]);
    run(g, &o0, (void *[]){xv, yv, out}, NULL);
    expect_close(out, want, n, 1e-6f, "r");
    run(g, NULL, (void *[]){xv, yv, out}, NULL);
    expect_close(out, want, n, 1e-6f, "r");
    ir_graph_free(g);
}

/* A reshape is an alias: the kernel after it reads in[0]'s memory. */
Test(codegen, reshape_alias)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(2, (int64_t[]){2, 6}), "x");
    ir_node *n1 = ir_unary(g, KL_OP_NEG, x, "n1", &d);
    ir_node *r1 = ir_reshape(g, n1, 2, (int64_t[]){3, 4}, "r1", &d);
    ir_node *r2 = ir_reshape(g, r1, 1, (int64_t[]){12}, "r2", &d);
    ir_node *y = ir_binary(g, KL_OP_ADD, r2, ir_reshape(g, x, 1, (int64_t[]){12}, "rx", &d), "y", &d);
    cr_assert(y, "%s", d.text);
    ir_graph_add_result(g, y, "y");
    plan(g);
    float xv[12], out[12], want[12];
    fill(xv, 12, 8);
    for (int i = 0; i < 12; i++) want[i] = 0;
    run(g, NULL, (void *[]){xv, out}, NULL);
    expect_close(out, want, 12, 0, "y");
    ir_graph_free(g);
}

/* TF semantics at the edges: relu(NaN) = NaN, max/min propagate NaN,
 * casts truncate toward zero, rsqrt is exact-ish, abs. */
Test(codegen, float_edge_semantics)
{
    kl_diag d = {0};
    int64_t n = 8;
    float xv[8] = {-2.75f, -0.5f, 0.0f, 0.5f, 2.75f, 7.0f, NAN, 1e10f};
    float yv[8] = {1.0f, NAN, -1.0f, 0.25f, 3.0f, 6.5f, 0.0f, -1e10f};
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(1, &n), "x"), *y = ir_param(g, f32(1, &n), "y");
    kl_op un[] = {KL_OP_RELU, KL_OP_RELU6, KL_OP_ABS, KL_OP_NEG, KL_OP_SQUARE, KL_OP_SQRT, KL_OP_RSQRT};
    kl_op bin[] = {KL_OP_MAX, KL_OP_MIN, KL_OP_DIV};
    int nu = 7, nb = 3;
    for (int i = 0; i < nu; i++) ir_graph_add_result(g, ir_unary(g, un[i], x, kl_op_name(un[i]), &d), kl_op_name(un[i]));
    for (int i = 0; i < nb; i++) ir_graph_add_result(g, ir_binary(g, bin[i], x, y, kl_op_name(bin[i]), &d), kl_op_name(bin[i]));
    ir_node *ci = ir_cast(g, x, KL_I32, "ci");
    ir_graph_add_result(g, ci, "ci");
    ir_graph_add_result(g, ir_cast(g, ci, KL_F32, "cf"), "cf");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    float out[12][8];
    void *args[14] = {xv, yv};
    for (int i = 0; i < 12; i++) args[2 + i] = out[i];
    run(g, NULL, args, NULL);
    for (int i = 0; i < n; i++) {
        float v = xv[i], w = yv[i];
        float want[] = {isnan(v) ? v : v > 0 ? v : 0, isnan(v) ? v : v < 0 ? 0 : v > 6 ? 6 : v, fabsf(v), -v, v * v,
                        sqrtf(v), 1.0f / sqrtf(v), isnan(v) || isnan(w) ? NAN : fmaxf(v, w),
                        isnan(v) || isnan(w) ? NAN : fminf(v, w), v / w};
        for (int k = 0; k < nu + nb; k++) expect_close(&out[k][i], &want[k], 1, 1e-7f, kl_op_name(k < nu ? un[k] : bin[k - nu]));
    }
    int32_t *iv = (int32_t *)out[10];
    cr_expect_eq(iv[0], -2);
    cr_expect_eq(iv[1], 0);
    cr_expect_eq(iv[4], 2);
    cr_expect_eq(iv[5], 7);
    cr_expect_eq(out[11][0], -2.0f);
    cr_expect_eq(out[11][4], 2.0f);
    ir_graph_free(g);
}

Test(codegen, int32_elementwise)
{
    kl_diag d = {0};
    int64_t n = 9;
    int32_t a[9] = {-7, -1, 0, 1, 7, 100, INT32_MIN + 1, 5, -9};
    int32_t b[9] = {2, 3, -4, 1, -2, 7, 1, 8, 6};
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, ir_type_make(KL_I32, 1, &n), "a"), *y = ir_param(g, ir_type_make(KL_I32, 1, &n), "b");
    kl_op bin[] = {KL_OP_ADD, KL_OP_SUB, KL_OP_MUL, KL_OP_DIV, KL_OP_MAX, KL_OP_MIN};
    kl_op un[] = {KL_OP_NEG, KL_OP_ABS, KL_OP_RELU, KL_OP_SQUARE};
    for (int i = 0; i < 6; i++) ir_graph_add_result(g, ir_binary(g, bin[i], x, y, kl_op_name(bin[i]), &d), kl_op_name(bin[i]));
    for (int i = 0; i < 4; i++) ir_graph_add_result(g, ir_unary(g, un[i], x, kl_op_name(un[i]), &d), kl_op_name(un[i]));
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    int32_t out[10][9];
    void *args[12] = {a, b};
    for (int i = 0; i < 10; i++) args[2 + i] = out[i];
    run(g, NULL, args, NULL);
    for (int i = 0; i < n; i++) {
        int32_t p = a[i], q = b[i];
        int32_t want[] = {p + q, p - q, (int32_t)((uint32_t)p * (uint32_t)q), p / q, p > q ? p : q, p < q ? p : q,
                          -p, p < 0 ? -p : p, p > 0 ? p : 0, (int32_t)((uint32_t)p * (uint32_t)p)};
        for (int k = 0; k < 10; k++) cr_expect_eq(out[k][i], want[k], "op %d at %d: %d vs %d", k, i, out[k][i], want[k]);
    }
    ir_graph_free(g);
}

/* ---- matmul ------------------------------------------------------------- */

static void check_matmul(kl_dtype dt, bool ta, bool tb, int64_t m, int64_t k, int64_t n)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("t");
    int64_t da[2] = {ta ? k : m, ta ? m : k}, db[2] = {tb ? n : k, tb ? k : n};
    ir_node *a = ir_param(g, ir_type_make(dt, 2, da), "a"), *b = ir_param(g, ir_type_make(dt, 2, db), "b");
    ir_attr at = {.matmul = {ta, tb}};
    ir_node *c = ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, &at, NULL, "c", &d);
    cr_assert(c, "%s", d.text);
    ir_graph_add_result(g, c, "c");
    plan(g);
    float *af = malloc(sizeof(float) * (size_t)(m * k)), *bf = malloc(sizeof(float) * (size_t)(k * n));
    fill(af, m * k, 9), fill(bf, k * n, 10);
    int32_t *ai = malloc(sizeof(int32_t) * (size_t)(m * k)), *bi = malloc(sizeof(int32_t) * (size_t)(k * n));
    for (int64_t i = 0; i < m * k; i++) ai[i] = (int32_t)(af[i] * 10);
    for (int64_t i = 0; i < k * n; i++) bi[i] = (int32_t)(bf[i] * 10);
    void *out = calloc((size_t)(m * n), 4);
    memset(out, 0x7f, (size_t)(m * n) * 4); /* garbage: the kernel must zero C */
    bool f = dt == KL_F32;
    run(g, NULL, (void *[]){f ? (void *)af : ai, f ? (void *)bf : bi, out}, NULL);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            int32_t si = 0;
            for (int64_t p = 0; p < k; p++) {
                int64_t ia = ta ? p * m + i : i * k + p, ib = tb ? j * k + p : p * n + j;
                s += (double)af[ia] * bf[ib];
                si += ai[ia] * bi[ib];
            }
            if (f)
                cr_assert(fabs(((float *)out)[i * n + j] - s) <= 1e-5 * (double)k, "f32 ta=%d tb=%d [%lld,%lld]: %g vs %g",
                          ta, tb, (long long)i, (long long)j, ((float *)out)[i * n + j], s);
            else
                cr_assert_eq(((int32_t *)out)[i * n + j], si, "i32 ta=%d tb=%d [%lld,%lld]", ta, tb, (long long)i, (long long)j);
        }
    free(af), free(bf), free(ai), free(bi), free(out);
    ir_graph_free(g);
}

Test(codegen, matmul_transposes_f32_i32)
{
    for (int t = 0; t < 4; t++) {
        check_matmul(KL_F32, t & 1, t & 2, 5, 7, 9);
        check_matmul(KL_F32, t & 1, t & 2, 33, 65, 17);
        check_matmul(KL_I32, t & 1, t & 2, 6, 11, 13);
    }
}

/* Batched matmul with broadcast batch dims: [2,3,4,5] x [4? no: 5,6] */
Test(codegen, matmul_batched_broadcast)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("t");
    ir_node *a = ir_param(g, f32(3, (int64_t[]){2, 3, 4}), "a"), *b = ir_param(g, f32(2, (int64_t[]){4, 5}), "b");
    ir_attr at = {.matmul = {false, false}};
    ir_node *c = ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, &at, NULL, "c", &d);
    cr_assert(c, "%s", d.text);
    ir_graph_add_result(g, c, "c");
    plan(g);
    float av[24], bv[20], out[30], want[30];
    fill(av, 24, 11), fill(bv, 20, 12);
    for (int z = 0; z < 2; z++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++) {
                float s = 0;
                for (int p = 0; p < 4; p++) s += av[z * 12 + i * 4 + p] * bv[p * 5 + j];
                want[z * 15 + i * 5 + j] = s;
            }
    run(g, NULL, (void *[]){av, bv, out}, NULL);
    expect_close(out, want, 30, 1e-6f, "c");
    ir_graph_free(g);
}

/* ---- reductions and softmax --------------------------------------------- */

/* Every axis mask of a [3,4,5] tensor, keep_dims on and off, f32 and i32. */
static void check_reduce(kl_op op, kl_dtype dt, uint32_t axes, bool keep)
{
    kl_diag d = {0};
    int64_t dims[3] = {3, 4, 5};
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, ir_type_make(dt, 3, dims), "x");
    ir_attr at = {.reduce = {axes, keep}};
    ir_node *r = ir_node_new(g, op, 1, &x, &at, NULL, "r", &d);
    cr_assert(r, "%s", d.text);
    ir_graph_add_result(g, r, "r");
    plan(g);
    float xf[60], out[60];
    int32_t xi[60];
    fill(xf, 60, 13 + axes);
    for (int i = 0; i < 60; i++) xi[i] = (int32_t)(xf[i] * 50);
    bool f = dt == KL_F32;
    run(g, NULL, (void *[]){f ? (void *)xf : xi, out}, NULL);
    /* reference: accumulate each input element into its output slot */
    int64_t on = ir_type_numel(&r->type);
    double acc[60];
    int64_t iacc[60], cnt[60] = {0};
    for (int64_t o = 0; o < on; o++) acc[o] = op == KL_OP_REDUCE_MAX ? -INFINITY : 0, iacc[o] = op == KL_OP_REDUCE_MAX ? INT32_MIN : 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 5; k++) {
                int idx[3] = {i, j, k};
                int64_t o = 0;
                for (int a = 0; a < 3; a++)
                    if (!(axes & (1u << a))) o = o * dims[a] + idx[a];
                int64_t e = (i * 4 + j) * 5 + k;
                if (op == KL_OP_REDUCE_MAX) acc[o] = fmax(acc[o], xf[e]), iacc[o] = iacc[o] > xi[e] ? iacc[o] : xi[e];
                else acc[o] += xf[e], iacc[o] += xi[e];
                cnt[o]++;
            }
    for (int64_t o = 0; o < on; o++) {
        if (op == KL_OP_REDUCE_MEAN) acc[o] /= (double)cnt[o], iacc[o] /= cnt[o];
        if (f) cr_assert(fabs(out[o] - acc[o]) <= 1e-5, "%s axes=%u keep=%d [%lld]: %g vs %g", kl_op_name(op), axes, keep, (long long)o, out[o], acc[o]);
        else cr_assert_eq(((int32_t *)out)[o], (int32_t)iacc[o], "%s i32 axes=%u keep=%d [%lld]", kl_op_name(op), axes, keep, (long long)o);
    }
    ir_graph_free(g);
}

Test(codegen, reductions_every_axis_mask)
{
    kl_op ops[] = {KL_OP_REDUCE_SUM, KL_OP_REDUCE_MEAN, KL_OP_REDUCE_MAX};
    for (int o = 0; o < 3; o++)
        for (uint32_t axes = 1; axes < 8; axes++)
            for (int keep = 0; keep < 2; keep++) {
                check_reduce(ops[o], KL_F32, axes, keep);
                check_reduce(ops[o], KL_I32, axes, keep);
            }
}

Test(codegen, softmax_stable)
{
    kl_diag d = {0};
    int64_t dims[2] = {3, 7};
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(2, dims), "x");
    ir_node *s = ir_unary(g, KL_OP_SOFTMAX, x, "s", &d);
    cr_assert(s, "%s", d.text);
    ir_graph_add_result(g, s, "s");
    plan(g);
    float xv[21], out[21], want[21];
    fill(xv, 21, 20);
    for (int j = 0; j < 7; j++) xv[7 + j] = 1000.0f + (float)j, xv[14 + j] = -1000.0f - 3.0f * (float)j;
    for (int r = 0; r < 3; r++) {
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < 7; j++) m = fmax(m, xv[r * 7 + j]);
        for (int j = 0; j < 7; j++) sum += exp(xv[r * 7 + j] - m);
        for (int j = 0; j < 7; j++) want[r * 7 + j] = (float)(exp(xv[r * 7 + j] - m) / sum);
    }
    run(g, NULL, (void *[]){xv, out}, NULL);
    expect_close(out, want, 21, 1e-6f, "softmax");
    ir_graph_free(g);
}

/* ---- errors ------------------------------------------------------------- */

Test(codegen, unsupported_dtype_is_an_error)
{
    kl_diag d = {0};
    int64_t n = 4;
    ir_graph *g = ir_graph_new("model.pb");
    ir_node *x = ir_param(g, ir_type_make(KL_F64, 1, &n), "x");
    ir_graph_add_result(g, ir_unary(g, KL_OP_EXP, x, "foo", &d), "y");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    cg_jit *j = (cg_jit *)1;
    cr_assert_not(cg_jit_compile(g, &opts, &j, NULL, &d));
    cr_expect_null(j);
    cr_expect(d.text && strstr(d.text, "node 'foo' (exp): dtype f64 is not supported"), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_not(cg_emit_object(g, &opts, "/tmp/never.o", NULL, &d));
    cr_expect(d.text && strstr(d.text, "'foo'"), "%s", d.text);
    kl_diag_clear(&d);
    ir_graph_free(g);
}

Test(codegen, unwritable_paths_and_bad_cpu)
{
    kl_diag d = {0};
    int64_t n = 4;
    ir_graph *g = ir_graph_new("t");
    ir_graph_add_result(g, ir_unary(g, KL_OP_NEG, ir_param(g, f32(1, &n), "x"), "y", &d), "y");
    plan(g);
    cr_assert_not(cg_emit_object(g, &opts, "/nonexistent-dir/m.o", NULL, &d));
    cr_expect(d.text && strstr(d.text, "/nonexistent-dir/m.o"), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_not(cg_emit_header(g, &opts, NULL, "/nonexistent-dir/m.h", &d));
    cr_expect(d.text && strstr(d.text, "/nonexistent-dir/m.h"), "%s", d.text);
    kl_diag_clear(&d);
    cg_options o = opts;
    o.prefix = "my-model";
    cr_assert_null(cg_module_text(g, &o, &d));
    cr_expect(d.text && strstr(d.text, "'my-model' is not a C identifier"), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_not(cg_emit_header(g, &o, NULL, "/tmp/never.h", &d));
    kl_diag_clear(&d);
    o = opts;
    o.cpu = "pentium-9000";
    cr_assert_null(cg_module_text(g, &o, &d));
    cr_expect(d.text && strstr(d.text, "pentium-9000"), "%s", d.text);
    kl_diag_clear(&d);
    ir_graph_free(g);
}

/* ---- module shape ------------------------------------------------------- */

Test(codegen, module_text_structure)
{
    kl_diag d = {0};
    int64_t n = 1024;
    ir_graph *g = ir_graph_new("t");
    float w[1024];
    fill(w, n, 21);
    ir_node *x = ir_param(g, f32(1, &n), "x");
    ir_node *c = ir_const(g, f32(1, &n), w, "w");
    ir_node *e = ir_unary(g, KL_OP_EXP, ir_binary(g, KL_OP_MUL, x, c, "m", &d), "e", &d);
    ir_graph_add_result(g, e, "e");
    plan(g);
    cg_options o = opts;
    o.opt_level = 0; /* kernels survive unlined at -O0 */
    char *text = module_text(g, &o);
    cr_expect(strstr(text, "define internal void @t_k"), "%s", text);
    cr_expect(strstr(text, "define i32 @t_run_args(ptr"), "%s", text);
    cr_expect(strstr(text, "define i32 @t_run(ptr"), "%s", text);
    cr_expect(strstr(text, "private unnamed_addr constant"), "%s", text);
    cr_expect(strstr(text, "align 64"), "%s", text);
    cr_expect(strstr(text, "noalias"), "%s", text);
    free(text);
    /* -O2 on an x86-64-v3 target: the exp loop is vectorized (8 x float), and
     * every declaration left is an LLVM intrinsic (no libm). */
    o.opt_level = 2;
    o.cpu = "x86-64-v3";
    text = module_text(g, &o);
    cr_expect(strstr(text, "<8 x float>"), "exp loop not vectorized:\n%s", text);
    for (const char *p = text; (p = strstr(p, "\ndeclare ")); p++) {
        const char *at = strchr(p, '@');
        cr_expect(at && !strncmp(at, "@llvm.", 6), "non-intrinsic declaration: %.80s", p + 1);
    }
    free(text);
    ir_graph_free(g);
}

/* ---- object + header, linked into a PIE executable ---------------------- */

Test(codegen, object_header_link_run)
{
    kl_diag d = {0};
    char dir[] = "/tmp/kiln_cg_XXXXXX";
    cr_assert(mkdtemp(dir));
    char obj[256], hdr[256], drv[256], exe[256], cmd[2048];
    snprintf(obj, sizeof obj, "%s/m.o", dir);
    snprintf(hdr, sizeof hdr, "%s/m.h", dir);
    snprintf(drv, sizeof drv, "%s/main.c", dir);
    snprintf(exe, sizeof exe, "%s/main", dir);

    /* feeds "in:0" and "In:0" collide after sanitizing; "1st" gets a '_'. */
    int64_t n = 6, dims[2] = {2, 3};
    float wv[6] = {1, 2, 3, 4, 5, 6};
    ir_graph *g = ir_graph_new("t");
    ir_node *a = ir_param(g, f32(2, dims), "in:0"), *b = ir_param(g, f32(2, dims), "In:0");
    ir_node *c = ir_param(g, ir_type_make(KL_I32, 1, &n), "1st");
    ir_node *w = ir_const(g, f32(2, dims), wv, "w");
    ir_node *s = ir_binary(g, KL_OP_ADD, a, b, "s", &d);
    ir_node *y = ir_unary(g, KL_OP_SIGMOID, ir_binary(g, KL_OP_MUL, s, w, "m", &d), "y", &d);
    ir_node *z = ir_unary(g, KL_OP_LOG, ir_unary(g, KL_OP_EXP, ir_cast(g, c, KL_F32, "cf"), "e", &d), "z", &d);
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    ir_graph_add_result(g, y, "out/y");
    ir_graph_add_result(g, z, "out/y");
    plan(g);
    cg_options o = {.prefix = "mdl", .cpu = "generic", .opt_level = 3, .source = "hand.pb"};
    cg_stats st = {0};
    cr_assert(cg_emit_object(g, &o, obj, &st, &d), "%s", d.text);
    cr_assert(cg_emit_header(g, &o, &st, hdr, &d), "%s", d.text);
    cr_expect_gt(st.object_bytes, 0);
    cr_expect_eq(st.const_bytes, 24);
    cr_expect(st.has_undefined);
    cr_expect_str_empty(st.undefined); /* read back from the object; nm -u below agrees */
    cr_expect_eq(st.n_kernels, 6);
    /* the frames reported while the object was written (footprint.c) */
    cr_expect(st.stack_bytes > 0 && st.stack_bytes < 65536, "stack %lld", (long long)st.stack_bytes);

    /* nothing undefined: no libm, no runtime */
    int rc;
    snprintf(cmd, sizeof cmd, "nm -u %s", obj);
    char *undef = shell(cmd, &rc);
    cr_expect_eq(rc, 0);
    cr_expect_str_empty(undef, "undefined symbols:\n%s", undef);
    free(undef);
    snprintf(cmd, sizeof cmd, "nm %s", obj);
    char *syms = shell(cmd, NULL);
    cr_expect(strstr(syms, " T mdl_run\n") && strstr(syms, " T mdl_run_args\n"), "%s", syms);
    cr_expect_null(strstr(syms, " T mdl_k"), "kernels must be local:\n%s", syms);
    free(syms);

    char *h = shell((snprintf(cmd, sizeof cmd, "cat %s", hdr), cmd), NULL);
    const char *want[] = {"#ifndef MDL_H", "#include <stdint.h>", "extern \"C\"", "#define MDL_NUM_FEEDS 3",
                          "#define MDL_NUM_FETCHES 2", "#define MDL_TEMP_ALIGN 64", "#define MDL_CONST_SIZE 24",
                          "#define MDL_IN_0_DIMS {2, 3}", "#define MDL_IN_0_2_INDEX 1", "#define MDL__1ST_DTYPE \"i32\"",
                          "#define MDL_OUT_Y_INDEX 3", "#define MDL_OUT_Y_2_INDEX 4", "#define MDL_OUT_Y_BYTES 24",
                          "#define MDL_IN_0_DIM1 3", "#define MDL__1ST_SIZE 6", "hand.pb",
                          "#define MDL_UNDEFINED_SYMBOLS \"\"", "references no symbol: it needs no library at all",
                          "int mdl_run(const float *in_0, const float *in_0_2, const int32_t *_1st, float *out_y, float *out_y_2, void *temp);",
                          "int mdl_run_args(void *const *args, void *temp);"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) cr_expect(strstr(h, want[i]), "missing '%s' in\n%s", want[i], h);
    free(h);

    /* a C driver through the typed entry point, and through the args form */
    FILE *f = fopen(drv, "w");
    cr_assert(f);
    fprintf(f, "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include \"m.h\"\n"
               "int main(void) {\n"
               "  float a[MDL_IN_0_SIZE] = {0, 1, -1, 2, -2, 0.5f}, b[MDL_IN_0_2_SIZE] = {1, 0, 0, 0, 0, 0};\n"
               "  int32_t c[MDL__1ST_SIZE] = {0, 1, 2, -3, 4, 5};\n"
               "  float y[MDL_OUT_Y_SIZE], z[MDL_OUT_Y_2_SIZE], y2[MDL_OUT_Y_SIZE], z2[MDL_OUT_Y_2_SIZE];\n"
               "  void *temp = aligned_alloc(MDL_TEMP_ALIGN, MDL_TEMP_SIZE + 64);\n"
               "  if (mdl_run(a, b, c, y, z, temp)) return 2;\n"
               "  void *args[MDL_NUM_FEEDS + MDL_NUM_FETCHES];\n"
               "  args[MDL_IN_0_INDEX] = a; args[MDL_IN_0_2_INDEX] = b; args[MDL__1ST_INDEX] = c;\n"
               "  args[MDL_OUT_Y_INDEX] = y2; args[MDL_OUT_Y_2_INDEX] = z2;\n"
               "  if (mdl_run_args(args, temp)) return 3;\n"
               "  const float w[6] = {1, 2, 3, 4, 5, 6};\n"
               "  for (int i = 0; i < 6; i++) {\n"
               "    float ys = 1.0f / (1.0f + expf(-(a[i] + b[i]) * w[i]));\n"
               "    if (fabsf(y[i] - ys) > 1e-6f || fabsf(z[i] - (float)c[i]) > 1e-6f) return 4;\n"
               "    if (y2[i] != y[i] || z2[i] != z[i]) return 5;\n"
               "  }\n"
               "  puts(\"ok\");\n  return 0;\n}\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -std=c11 -Wall -Werror -fPIE -pie -I%s %s %s -o %s -lm 2>&1 && %s", dir, drv, obj, exe, exe);
    char *outp = shell(cmd, &rc);
    cr_expect_eq(rc, 0, "driver failed (%d):\n%s", rc, outp);
    cr_expect_str_eq(outp, "ok\n");
    free(outp);
    /* the header is valid C++ too */
    snprintf(cmd, sizeof cmd, "printf '#include \"m.h\"\\nint main(){return MDL_NUM_FEEDS - 3;}\\n' > %s/x.cc && "
                              "c++ -std=c++11 -Wall -Werror -fsyntax-only -I%s %s/x.cc 2>&1", dir, dir, dir);
    outp = shell(cmd, &rc);
    cr_expect_eq(rc, 0, "%s", outp);
    free(outp);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    ir_graph_free(g);
}

/* Every math op compiled for a baseline CPU (no SSE4.1 rounding, no FMA):
 * LLVM must not fall back to libm calls (floorf, rintf, fmaf, fmodf). */
Test(codegen, no_libm_on_baseline_cpu)
{
    kl_diag d = {0};
    int64_t n = 64;
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(1, &n), "x"), *y = ir_param(g, f32(1, &n), "y");
    kl_op un[] = {KL_OP_EXP, KL_OP_LOG, KL_OP_TANH, KL_OP_SIGMOID, KL_OP_ERF, KL_OP_ERFC, KL_OP_SIN, KL_OP_COS, KL_OP_ATAN,
                  KL_OP_SOFTPLUS, KL_OP_ELU, KL_OP_FLOOR, KL_OP_CEIL, KL_OP_ROUND, KL_OP_SQRT, KL_OP_RSQRT};
    kl_op bin[] = {KL_OP_POW, KL_OP_FLOORDIV, KL_OP_FLOORMOD};
    for (size_t i = 0; i < sizeof un / sizeof *un; i++)
        ir_graph_add_result(g, ir_unary(g, un[i], x, kl_op_name(un[i]), &d), kl_op_name(un[i]));
    for (size_t i = 0; i < sizeof bin / sizeof *bin; i++)
        ir_graph_add_result(g, ir_binary(g, bin[i], x, y, kl_op_name(bin[i]), &d), kl_op_name(bin[i]));
    /* half precision computes in float: conversions without F16C */
    ir_node *h = ir_param(g, ir_type_make(KL_F16, 1, &n), "h");
    ir_node *hs = ir_binary(g, KL_OP_ADD, h, ir_cast(g, x, KL_F16, "xh"), "hs", &d);
    ir_graph_add_result(g, hs, "hs");
    ir_graph_add_result(g, ir_unary(g, KL_OP_SOFTMAX, hs, "hsm", &d), "hsm");
    ir_graph_add_result(g, ir_unary(g, KL_OP_LOG_SOFTMAX, x, "lsm", &d), "lsm");
    ir_attr ra = {.reduce = {1, false}};
    ir_graph_add_result(g, ir_node_new(g, KL_OP_REDUCE_MEAN, 1, &hs, &ra, NULL, "hmean", &d), "hmean");
    /* f64 rounding and modulo */
    ir_node *dx = ir_cast(g, x, KL_F64, "dx");
    ir_graph_add_result(g, ir_binary(g, KL_OP_FLOORMOD, dx, dx, "dmod", &d), "dmod");
    ir_graph_add_result(g, ir_binary(g, KL_OP_FLOORDIV, dx, dx, "ddiv", &d), "ddiv");
    ir_graph_add_result(g, ir_unary(g, KL_OP_ROUND, dx, "dround", &d), "dround");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    const char *cpus[] = {"generic", "x86-64-v3"};
    for (int l = 0; l < 4; l++)
        for (int ci = 0; ci < 2; ci++) {
            char obj[] = "/tmp/kiln_cg_libm_XXXXXX";
            int fd = mkstemp(obj);
            cr_assert(fd >= 0);
            close(fd);
            cg_options o = {.prefix = "t", .cpu = cpus[ci], .opt_level = l};
            cr_assert(cg_emit_object(g, &o, obj, NULL, &d), "%s", d.text);
            char cmd[256];
            snprintf(cmd, sizeof cmd, "nm -u %s", obj);
            char *undef = shell(cmd, NULL);
            cr_expect_str_empty(undef, "cpu %s -O%d: undefined symbols:\n%s", cpus[ci], l, undef);
            free(undef);
            unlink(obj);
        }
    ir_graph_free(g);
}

/* The inline fallbacks (cpu "generic": no SSE4.1, F16C or FMA) against C:
 * floor/ceil/round/floordiv/floormod bit-exact, including -0, halves,
 * large values, infinities and NaN; and the same graph on the host CPU,
 * whose instructions give the same bits. */
Test(codegen, rounding_and_fmod_fallbacks)
{
    kl_diag d = {0};
    float xs[] = {0.0f, -0.0f, 0.25f, -0.25f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 3.7f, -3.7f,
                  8388607.5f, -8388607.5f, 8388608.0f, 16777217.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN,
                  1e-40f, -1e-40f, 7.0f, -7.0f, 100.25f, 123456.789f, -0.999999f};
    float ys[] = {3.0f, -3.0f, 0.75f, 0.3f, -0.1f, 1e-3f, 2.0f, INFINITY, -2.5f, 7.0f, 1e30f};
    int64_t n = (int64_t)(sizeof xs / sizeof *xs) * (int64_t)(sizeof ys / sizeof *ys);
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    for (size_t i = 0, k = 0; i < sizeof xs / sizeof *xs; i++)
        for (size_t j = 0; j < sizeof ys / sizeof *ys; j++, k++) a[k] = xs[i], b[k] = ys[j];
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(1, &n), "a"), *y = ir_param(g, f32(1, &n), "b");
    kl_op un[] = {KL_OP_FLOOR, KL_OP_CEIL, KL_OP_ROUND};
    for (int i = 0; i < 3; i++) ir_graph_add_result(g, ir_unary(g, un[i], x, kl_op_name(un[i]), &d), kl_op_name(un[i]));
    ir_graph_add_result(g, ir_binary(g, KL_OP_FLOORDIV, x, y, "fd", &d), "fd");
    ir_graph_add_result(g, ir_binary(g, KL_OP_FLOORMOD, x, y, "fm", &d), "fm");
    /* f16 round trip: a -> f16 -> f32 */
    ir_graph_add_result(g, ir_cast(g, ir_cast(g, x, KL_F16, "h"), KL_F32, "hf"), "hf");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    const char *cpus[] = {"generic", "native"};
    for (int ci = 0; ci < 2; ci++) {
        float *out = malloc(sizeof(float) * (size_t)(6 * n));
        cg_options o = opts;
        o.cpu = cpus[ci];
        run(g, &o, (void *[]){a, b, out, out + n, out + 2 * n, out + 3 * n, out + 4 * n, out + 5 * n}, NULL);
        for (int64_t i = 0; i < n; i++) {
            float v = a[i], w = b[i];
            float m = fmodf(v, w);
            if (m != 0 && ((m < 0) != (w < 0))) m += w;
            float want[6] = {floorf(v), ceilf(v), nearbyintf(v), floorf(v / w), m, (float)(_Float16)v};
            for (int k = 0; k < 6; k++) {
                bool same = (isnan(want[k]) && isnan(out[k * n + i])) || !memcmp(&want[k], &out[k * n + i], 4);
                cr_expect(same, "cpu %s, result %d of (%.9g, %.9g): got %.9g, want %.9g", cpus[ci], k, v, w, out[k * n + i], want[k]);
            }
        }
        free(out);
    }
    free(a), free(b);
    ir_graph_free(g);
}

/* f16 conversions over every half bit pattern, both ways, without F16C. */
Test(codegen, half_conversions_exhaustive)
{
    int64_t n = 65536;
    ir_graph *g = ir_graph_new("t");
    ir_node *h = ir_param(g, ir_type_make(KL_F16, 1, &n), "h"), *x = ir_param(g, f32(1, &n), "x");
    ir_graph_add_result(g, ir_cast(g, h, KL_F32, "hf"), "hf");
    ir_graph_add_result(g, ir_cast(g, x, KL_F16, "fh"), "fh");
    plan(g);
    uint16_t *hv = malloc(2 * (size_t)n), *fh = malloc(2 * (size_t)n);
    float *xv = malloc(4 * (size_t)n), *hf = malloc(4 * (size_t)n);
    srand(99);
    for (int64_t i = 0; i < n; i++) {
        hv[i] = (uint16_t)i;
        uint32_t r = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
        if (i % 4 == 0) r = (r & 0x807fffffu) | ((uint32_t)(100 + i % 50) << 23); /* near the half range */
        memcpy(&xv[i], &r, 4);
    }
    cg_options o = opts;
    o.cpu = "generic";
    run(g, &o, (void *[]){hv, xv, hf, fh}, NULL);
    for (int64_t i = 0; i < n; i++) {
        _Float16 hh;
        memcpy(&hh, &hv[i], 2);
        float want = (float)hh;
        cr_assert((isnan(want) && isnan(hf[i])) || !memcmp(&want, &hf[i], 4), "half 0x%04x: got %.9g want %.9g", hv[i], hf[i], want);
        _Float16 wh = (_Float16)xv[i];
        uint16_t wb;
        memcpy(&wb, &wh, 2);
        bool nan = isnan(xv[i]);
        cr_assert(nan ? (fh[i] & 0x7c00) == 0x7c00 && (fh[i] & 0x3ff) : fh[i] == wb, "float %.9g: got 0x%04x want 0x%04x", xv[i], fh[i], wb);
    }
    free(hv), free(fh), free(xv), free(hf);
    ir_graph_free(g);
}

/* fmod over random float pairs of every magnitude (quotients up to 2^277):
 * bit-exact against the C library, on the baseline CPU and the host. */
Test(codegen, floormod_random_exact)
{
    kl_diag d = {0};
    int64_t n = 50000;
    float *a = malloc(4 * (size_t)n), *b = malloc(4 * (size_t)n), *out = malloc(4 * (size_t)n);
    srand(7);
    for (int64_t i = 0; i < n; i++) {
        uint32_t ra = (((uint32_t)rand() << 16) ^ (uint32_t)rand()) & 0xff7fffffu; /* finite */
        uint32_t rb = (((uint32_t)rand() << 16) ^ (uint32_t)rand()) & 0xff7fffffu;
        if (i % 3 == 0) rb = (rb & 0x807fffffu) | (((ra >> 23 & 0xff) - (uint32_t)(i % 40) + 0) << 23 & 0x7f800000u);
        memcpy(&a[i], &ra, 4), memcpy(&b[i], &rb, 4);
    }
    ir_graph *g = ir_graph_new("t");
    ir_node *x = ir_param(g, f32(1, &n), "a"), *y = ir_param(g, f32(1, &n), "b");
    ir_graph_add_result(g, ir_binary(g, KL_OP_FLOORMOD, x, y, "fm", &d), "fm");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    const char *cpus[] = {"generic", "native"};
    for (int ci = 0; ci < 2; ci++) {
        cg_options o = opts;
        o.cpu = cpus[ci];
        run(g, &o, (void *[]){a, b, out}, NULL);
        for (int64_t i = 0; i < n; i++) {
            float m = fmodf(a[i], b[i]);
            if (m != 0 && ((m < 0) != (b[i] < 0))) m += b[i];
            cr_assert((isnan(m) && isnan(out[i])) || !memcmp(&m, &out[i], 4), "cpu %s: floormod(%a, %a) = %a, want %a",
                      cpus[ci], a[i], b[i], out[i], m);
        }
    }
    free(a), free(b), free(out);
    ir_graph_free(g);
}

/* One fused kernel reading 100 distinct buffers: x0 + x1 + ... + x99. */
Test(codegen, kernel_with_many_inputs)
{
    kl_diag d = {0};
    int64_t n = 16;
    enum { N_IN = 100 };
    ir_graph *g = ir_graph_new("t");
    ir_node *p[N_IN], *acc = NULL, *adds[N_IN];
    for (int i = 0; i < N_IN; i++) p[i] = ir_param(g, f32(1, &n), "x");
    acc = p[0];
    for (int i = 1; i < N_IN; i++) acc = adds[i] = ir_binary(g, KL_OP_ADD, acc, p[i], "s", &d);
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    ir_graph_add_result(g, acc, "s");
    plan(g);
    for (int i = 1; i < N_IN - 1; i++) fuse(adds[i], acc);
    static float xs[N_IN][16];
    float out[16], want[16] = {0};
    void *args[N_IN + 1];
    for (int i = 0; i < N_IN; i++) {
        fill(xs[i], n, 100 + (unsigned)i), args[i] = xs[i];
        for (int j = 0; j < n; j++) want[j] += xs[i][j];
    }
    args[N_IN] = out;
    cg_stats st = {0};
    run(g, NULL, args, &st);
    cr_expect_eq(st.n_kernels, 1);
    expect_close(out, want, n, 1e-5f, "sum");
    ir_graph_free(g);
}

/* Typed parameters in the header for every integer dtype. */
Test(codegen, header_parameter_types)
{
    kl_diag d = {0};
    int64_t n = 3;
    ir_graph *g = ir_graph_new("t");
    kl_dtype ts[] = {KL_I8, KL_I64, KL_U8, KL_BOOL, KL_F64, KL_I16};
    const char *names[] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++) ir_graph_add_result(g, ir_unary(g, KL_OP_COPY, ir_param(g, ir_type_make(ts[i], 1, &n), names[i]), "y", &d), "y");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    plan(g);
    char path[] = "/tmp/kiln_cg_h_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert(cg_emit_header(g, &opts, NULL, path, &d), "%s", d.text);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cat %s", path);
    char *h = shell(cmd, NULL);
    cr_expect(strstr(h, "int t_run(const int8_t *a, const int64_t *b, const uint8_t *c, const uint8_t *d, const double *e, "
                        "const int16_t *f, int8_t *y, int64_t *y_2, uint8_t *y_3, uint8_t *y_4, double *y_5, int16_t *y_6, void *temp);"),
              "%s", h);
    free(h);
    unlink(path);
    ir_graph_free(g);
}
