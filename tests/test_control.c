/* tests/test_control.c — while/if nodes and dynamic slices, end to end:
 * graphs written in the IR text format run through the real pipeline and
 * the JIT at -O0 and -O2 on 1 and 2 threads, against the reference
 * evaluator (ir_eval_graph).  Trip counts depend on fed data, carried
 * TensorList-style buffers are updated in place, loops nest.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "passes/passes.h"

/* Parses text, evaluates it on feeds, compiles it and compares. */
static void check(const char *text, void **feeds, int opt, int threads)
{
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "control", &d);
    cr_assert(g, "%s", d.text);
    int n_res = g->n_results;
    void **want = calloc((size_t)n_res, sizeof *want), **args = calloc((size_t)(g->n_params + n_res), sizeof *args);
    for (int i = 0; i < n_res; i++) want[i] = calloc(1, ir_type_bytes(&g->results[i].node->type) + 8);
    cr_assert(ir_eval_graph(g, (const void *const *)feeds, want, &d), "%s", d.text);
    pass_ctx ctx = {.diag = &d, .opt_level = opt, .verify_each = true, .vector_floats = 16, .vector_regs = 32};
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    cg_options o = {.prefix = "c", .cpu = "native", .opt_level = opt, .threads = threads, .source = "test"};
    cg_jit *j;
    cr_assert(cg_jit_compile(g, &o, &j, NULL, &d), "%s", d.text);
    for (int i = 0; i < g->n_params; i++) args[i] = feeds[i];
    for (int i = 0; i < n_res; i++) args[g->n_params + i] = calloc(1, ir_type_bytes(&g->results[i].node->type) + 8);
    void *temp = g->temp_size ? aligned_alloc(64, (size_t)(g->temp_size + 63) / 64 * 64) : NULL;
    cr_assert_eq(cg_jit_entry(j)(args, temp), 0);
    for (int r = 0; r < n_res; r++) {
        const ir_type *t = &g->results[r].node->type;
        if (t->dtype != KL_F32) {
            cr_assert(!memcmp(args[g->n_params + r], want[r], ir_type_bytes(t)), "result %d differs (O%d)", r, opt);
            continue;
        }
        const float *got = args[g->n_params + r], *ref = want[r];
        for (int64_t i = 0; i < ir_type_numel(t); i++)
            cr_assert(fabsf(got[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i])), "O%d t%d result %d [%lld]: got %.7g want %.7g",
                      opt, threads, r, (long long)i, got[i], ref[i]);
    }
    free(temp);
    for (int i = 0; i < n_res; i++) free(want[i]), free(args[g->n_params + i]);
    free(want), free(args);
    cg_jit_free(j);
    ir_graph_free(g);
    kl_diag_clear(&d);
}

static void check_all(const char *text, void **feeds)
{
    for (int opt = 0; opt <= 2; opt += 2)
        for (int threads = 1; threads <= 2; threads++) check(text, feeds, opt, threads);
}

/* An RNN-shaped loop: h = tanh(x[t] W + h U), every h written into a
 * [T, B, H] sequence (in place) while t < n, n fed. */
static const char rnn[] =
    "graph \"rnn\" {\n"
    "  %0 = param 0 : f32[6,2,3] @\"x\"\n"
    "  %1 = param 1 : i32[] @\"n\"\n"
    "  %2 = const : i32[] [0]\n"
    "  %3 = const : f32[2,4] [0, 0, 0, 0, 0, 0, 0, 0]\n"
    "  %4 = const : f32[6,2,4] <48 elements>\n"
    "  %5 = while %2, %3, %4, %0, %1 {carried=3} : i64[] @\"loop\" cond {\n"
    "    %0 = param 0 : i32[]\n"
    "    %1 = param 1 : f32[2,4]\n"
    "    %2 = param 2 : f32[6,2,4]\n"
    "    %3 = param 3 : f32[6,2,3]\n"
    "    %4 = param 4 : i32[]\n"
    "    %5 = less %0, %4 : bool[]\n"
    "    result %5\n"
    "  } body {\n"
    "    %0 = param 0 : i32[]\n"
    "    %1 = param 1 : f32[2,4]\n"
    "    %2 = param 2 : f32[6,2,4]\n"
    "    %3 = param 3 : f32[6,2,3]\n"
    "    %4 = param 4 : i32[]\n"
    "    %5 = const : i32[2] [0, 0]\n"
    "    %6 = reshape %0 : i32[1]\n"
    "    %7 = concat %6, %5 {axis=0} : i32[3]\n"
    "    %8 = dynamic_slice %3, %7 : f32[1,2,3]\n"
    "    %9 = reshape %8 : f32[2,3]\n"
    "    %10 = const : f32[3,4] [0.5, -0.25, 0.125, 1, -1, 0.75, 0.3, -0.6, 0.2, 0.1, -0.9, 0.4]\n"
    "    %11 = matmul %9, %10 {transpose_a=0, transpose_b=0} : f32[2,4]\n"
    "    %12 = const : f32[4,4] [0.1, 0.2, -0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, -0.1, 0.2, 0.3, -0.4, 0.5, -0.6, 0.7]\n"
    "    %13 = matmul %1, %12 {transpose_a=0, transpose_b=0} : f32[2,4]\n"
    "    %14 = add %11, %13 : f32[2,4]\n"
    "    %15 = tanh %14 : f32[2,4]\n"
    "    %16 = reshape %15 : f32[1,2,4]\n"
    "    %17 = const : i32[2] [0, 0]\n"
    "    %18 = concat %6, %17 {axis=0} : i32[3]\n"
    "    %19 = dynamic_update_slice %2, %16, %18 : f32[6,2,4]\n"
    "    %20 = const : i32[] [1]\n"
    "    %21 = add %0, %20 : i32[]\n"
    "    result %21\n"
    "    result %15\n"
    "    result %19\n"
    "  }\n"
    "  %6 = get %5 {index=2} : f32[6,2,4]\n"
    "  %7 = get %5 {index=1} : f32[2,4]\n"
    "  result %6 @\"seq\"\n"
    "  result %7 @\"h\"\n"
    "  result %5 @\"trips\"\n"
    "}\n";

/* The elided constant above is zeros: spelled out here. */
static char *rnn_text(void)
{
    char zeros[48 * 3 + 8] = "[";
    for (int i = 0; i < 48; i++) strcat(zeros, i ? ", 0" : "0");
    strcat(zeros, "]");
    const char *at = strstr(rnn, "<48 elements>");
    char *t = malloc(sizeof rnn + sizeof zeros);
    memcpy(t, rnn, (size_t)(at - rnn));
    strcpy(t + (at - rnn), zeros);
    strcat(t, at + strlen("<48 elements>"));
    return t;
}

Test(control, rnn_loop_fed_trip_count)
{
    float x[36];
    for (int i = 0; i < 36; i++) x[i] = sinf((float)i * 0.7f);
    char *text = rnn_text();
    for (int32_t n = 0; n <= 6; n += 3) {
        void *feeds[2] = {x, &n};
        check_all(text, feeds);
    }
    free(text);
}

Test(control, rnn_sequence_updated_in_place)
{
    char *text = rnn_text();
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "rnn", &d);
    cr_assert(g, "%s", d.text);
    pass_ctx ctx = {.diag = &d, .opt_level = 2, .verify_each = true, .vector_floats = 16, .vector_regs = 32};
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    long in_place = 0;
    for (int i = 0; i < ctx.n_stats; i++)
        if (!strcmp(ctx.stats[i].name, "loop values updated in place")) in_place = ctx.stats[i].value;
    cr_assert_eq(in_place, 1, "the sequence buffer is one buffer, not two");
    ir_graph_free(g);
    free(text);
    kl_diag_clear(&d);
}

/* if on a fed bool, results of different kernels; a nested loop inside the
 * then branch whose trip count comes from the outer operand. */
static const char branch[] =
    "graph \"branch\" {\n"
    "  %0 = param 0 : f32[3,4] @\"x\"\n"
    "  %1 = param 1 : bool[] @\"p\"\n"
    "  %2 = if %1, %0 : i64[] then {\n"
    "    %0 = param 0 : f32[3,4]\n"
    "    %1 = const : f32[] [0.5]\n"
    "    %2 = while %0, %1 {carried=1} : i64[] cond {\n"
    "      %0 = param 0 : f32[3,4]\n"
    "      %1 = param 1 : f32[]\n"
    "      %2 = reduce_sum %0 {axes=[0,1], keep_dims=0} : f32[]\n"
    "      %3 = const : f32[] [100]\n"
    "      %4 = less %2, %3 : bool[]\n"
    "      result %4\n"
    "    } body {\n"
    "      %0 = param 0 : f32[3,4]\n"
    "      %1 = param 1 : f32[]\n"
    "      %2 = mul %0, %0 : f32[3,4]\n"
    "      %3 = add %2, %1 : f32[3,4]\n"
    "      result %3\n"
    "    }\n"
    "    %3 = get %2 {index=0} : f32[3,4]\n"
    "    result %3\n"
    "    result %2\n"
    "  } else {\n"
    "    %0 = param 0 : f32[3,4]\n"
    "    %1 = neg %0 : f32[3,4]\n"
    "    %2 = const : i64[] [-1]\n"
    "    result %1\n"
    "    result %2\n"
    "  }\n"
    "  %3 = get %2 {index=0} : f32[3,4]\n"
    "  %4 = get %2 {index=1} : i64[]\n"
    "  %5 = exp %3 : f32[3,4]\n"
    "  result %5 @\"y\"\n"
    "  result %4 @\"trips\"\n"
    "}\n";

Test(control, if_with_nested_while)
{
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = 0.1f + 0.05f * (float)i;
    for (int p = 0; p < 2; p++) {
        uint8_t pred = (uint8_t)p;
        void *feeds[2] = {x, &pred};
        check_all(branch, feeds);
    }
}

Test(control, region_signatures_are_checked)
{
    kl_diag d = {0};
    const char *bad = "graph \"b\" {\n  %0 = param 0 : f32[2]\n  %1 = while %0 {carried=1} : i64[] cond {\n"
                      "    %0 = param 0 : f32[2]\n    result %0\n  } body {\n    %0 = param 0 : f32[2]\n    result %0\n  }\n}\n";
    cr_assert_null(ir_parse(bad, "b", &d));
    cr_assert(strstr(d.text, "cond region result 0 is f32[2], wanted bool[]"), "%s", d.text);
    kl_diag_clear(&d);
}

/* Untrusted text cannot nest regions without bound (the parser recurses). */
Test(control, region_nesting_is_bounded)
{
    size_t cap = 200000, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t + len, cap - len, "graph \"deep\" {\n  %%0 = param 0 : bool[]\n");
    for (int i = 0; i < 70; i++) len += (size_t)snprintf(t + len, cap - len, "  %%1 = if %%0, %%0 : i64[] then {\n  %%0 = param 0 : bool[]\n");
    snprintf(t + len, cap - len, "}\n");
    kl_diag d = {0};
    cr_assert_null(ir_parse(t, "deep", &d));
    cr_assert(strstr(d.text, "regions nest deeper than 64"), "%s", d.text);
    kl_diag_clear(&d);
    free(t);
}

/* Loops copy carried values and whole lists: the copies must not become
 * memcpy calls (an object compiled for one thread calls nothing). */
Test(control, loop_objects_call_nothing)
{
    char *text = rnn_text();
    for (int opt = 0; opt <= 3; opt += 3) {
        kl_diag d = {0};
        ir_graph *g = ir_parse(text, "rnn", &d);
        cr_assert(g, "%s", d.text);
        pass_ctx ctx = {.diag = &d, .opt_level = opt, .vector_floats = 16, .vector_regs = 32};
        cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
        char obj[] = "/tmp/kiln_loop_XXXXXX";
        int fd = mkstemp(obj);
        cr_assert(fd >= 0);
        close(fd);
        cg_options o = {.prefix = "t", .cpu = "generic", .opt_level = opt};
        cr_assert(cg_emit_object(g, &o, obj, NULL, &d), "%s", d.text);
        char cmd[256], undef[1024] = "";
        snprintf(cmd, sizeof cmd, "nm -u %s", obj);
        FILE *p = popen(cmd, "r");
        cr_assert(p);
        size_t n = fread(undef, 1, sizeof undef - 1, p);
        undef[n] = 0;
        pclose(p);
        cr_expect_str_empty(undef, "-O%d: undefined symbols:\n%s", opt, undef);
        unlink(obj);
        ir_graph_free(g);
        kl_diag_clear(&d);
    }
    free(text);
}

/* ---- TensorFlow function libraries that must be refused ----------------- *
 * GraphDefs encoded by hand (field numbers of frontend/tf/graph.proto). */
#include "frontend/tf/tf.h"

typedef struct pb {
    unsigned char *b;
    size_t n;
} pb;

static void put(pb *p, const void *d, size_t n)
{
    p->b = realloc(p->b, p->n + n + 1);
    cr_assert(p->b);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void varint(pb *p, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
        put(p, &c, 1);
        v >>= 7;
    } while (v);
}

static void field_str(pb *p, int f, const char *s)
{
    varint(p, (uint64_t)f << 3 | 2), varint(p, strlen(s)), put(p, s, strlen(s));
}

static void field_msg(pb *p, int f, pb *m) /* consumes m */
{
    varint(p, (uint64_t)f << 3 | 2), varint(p, m->n);
    if (m->n) put(p, m->b, m->n);
    free(m->b);
    *m = (pb){0};
}

static void attr_entry(pb *node, const char *key, pb *value)
{
    pb e = {0};
    field_str(&e, 1, key);
    field_msg(&e, 2, value);
    field_msg(node, 5, &e);
}

static void attr_func(pb *node, const char *key, const char *fn)
{
    pb v = {0}, f = {0};
    field_str(&f, 1, fn);
    field_msg(&v, 10, &f);
    attr_entry(node, key, &v);
}

/* NodeDef name/op/inputs into field f of out. */
static void tf_node(pb *out, int f, const char *name, const char *op, const char *in0, const char *in1, const char *cond,
                    const char *body)
{
    pb n = {0};
    field_str(&n, 1, name), field_str(&n, 2, op);
    if (in0) field_str(&n, 3, in0);
    if (in1) field_str(&n, 3, in1);
    if (cond) attr_func(&n, "cond", cond), attr_func(&n, "body", body);
    if (!strcmp(op, "Placeholder")) {
        pb dt = {0}, sh = {0}, shape = {0};
        varint(&dt, 6 << 3), varint(&dt, 1); /* DT_FLOAT */
        attr_entry(&n, "dtype", &dt);
        field_msg(&sh, 7, &shape); /* a scalar */
        attr_entry(&n, "shape", &sh);
    }
    field_msg(out, f, &n);
}

/* FunctionDef "name"(a: float) -> (o: float), o = ret, nodes given. */
static void tf_function(pb *lib, const char *name, pb *nodes, const char *ret)
{
    pb fn = {0}, sig = {0}, arg = {0}, out = {0}, r = {0};
    field_str(&sig, 1, name);
    field_str(&arg, 1, "a"), varint(&arg, 3 << 3), varint(&arg, 1);
    field_msg(&sig, 2, &arg);
    field_str(&out, 1, "o"), varint(&out, 3 << 3), varint(&out, 1);
    field_msg(&sig, 3, &out);
    field_msg(&fn, 1, &sig);
    put(&fn, nodes->b, nodes->n); /* node_def entries, already field 3 */
    free(nodes->b);
    *nodes = (pb){0};
    field_str(&r, 1, "o"), field_str(&r, 2, ret);
    field_msg(&fn, 4, &r);
    field_msg(lib, 1, &fn);
}

/* x -> StatelessWhile(cond c, body `body`) where c is a < a, and body b
 * runs the same loop again: a library that recurses without end. */
static void refuse(const char *body_fn, const char *want)
{
    pb g = {0}, lib = {0}, cn = {0}, bn = {0};
    tf_node(&g, 1, "x", "Placeholder", NULL, NULL, NULL, NULL);
    tf_node(&g, 1, "w", "StatelessWhile", "x", NULL, "c", body_fn);
    tf_node(&cn, 3, "l", "Less", "a", "a", NULL, NULL);
    tf_function(&lib, "c", &cn, "l:z:0");
    tf_node(&bn, 3, "w2", "StatelessWhile", "a", NULL, "c", "b");
    tf_function(&lib, "b", &bn, "w2:output:0");
    field_msg(&g, 2, &lib);
    kl_diag d = {0};
    tf_model *m;
    cr_assert(tf_model_load_buffer(g.b, g.n, "lib.pb", &m, &d), "%s", d.text);
    const char *fetch = "w";
    ir_graph *ir = tf_import(m, NULL, 0, &fetch, 1, &d);
    cr_assert_null(ir);
    cr_assert(d.text && strstr(d.text, want), "want '%s' in: %s", want, d.text ? d.text : "(none)");
    kl_diag_clear(&d);
    tf_model_free(m);
    free(g.b);
}

Test(control, recursive_tf_library_is_refused)
{
    refuse("b", "nest deeper than 32");
    refuse("nope", "function 'nope' is not in the graph's library");
}
