/* tests/test_ir.c — the IR core: text round trips, parser and verifier
 * errors, shape rules, and the reference evaluator on hand-computed cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

static char *print_to_string(const ir_graph *g, unsigned flags)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    ir_print(g, f, flags);
    fclose(f);
    return out;
}

/* A graph with every op, odd constants and names that need escaping. */
static ir_graph *every_op(void)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("every \"op\".pb");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), "x:0/in");
    ir_node *i = ir_param(g, ir_type_make(KL_I32, 1, (int64_t[]){3}), "i");
    float odd[] = {NAN, INFINITY, -INFINITY, -0.0f, 1e-45f, 3.4028235e38f};
    ir_node *c = ir_const(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), odd, "odd");
    ir_node *v = ir_binary(g, KL_OP_ADD, x, c, "a", &d);
    kl_op unary[] = {KL_OP_COPY, KL_OP_NEG, KL_OP_ABS, KL_OP_SQUARE, KL_OP_SQRT, KL_OP_RSQRT, KL_OP_EXP,
                     KL_OP_LOG, KL_OP_TANH, KL_OP_SIGMOID, KL_OP_RELU, KL_OP_RELU6, KL_OP_SOFTMAX};
    for (size_t k = 0; k < sizeof unary / sizeof *unary; k++) v = ir_unary(g, unary[k], v, NULL, &d);
    kl_op binary[] = {KL_OP_SUB, KL_OP_MUL, KL_OP_DIV, KL_OP_MAX, KL_OP_MIN};
    for (size_t k = 0; k < sizeof binary / sizeof *binary; k++) v = ir_binary(g, binary[k], v, x, NULL, &d);
    ir_attr mm = {.matmul = {false, true}};
    ir_node *m = ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){v, x}, &mm, NULL, "mm", &d);
    ir_attr red = {.reduce = {1u << 1, true}};
    ir_node *r = ir_node_new(g, KL_OP_REDUCE_SUM, 1, &m, &red, NULL, NULL, &d);
    r = ir_node_new(g, KL_OP_REDUCE_MEAN, 1, &r, &red, NULL, NULL, &d);
    r = ir_node_new(g, KL_OP_REDUCE_MAX, 1, &r, &red, NULL, NULL, &d);
    ir_node *flat = ir_reshape(g, r, 1, (int64_t[]){2}, "flat", &d);
    ir_node *ci = ir_cast(g, i, KL_F32, "cast");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    ir_graph_add_result(g, flat, "flat");
    ir_graph_add_result(g, ci, "ci");
    return g;
}

Test(ir, print_parse_round_trip)
{
    ir_graph *g = every_op();
    kl_diag d = {0};
    cr_assert(ir_verify(g, &d), "%s", d.text);
    char *a = print_to_string(g, IR_PRINT_FULL_CONSTS);
    ir_graph *h = ir_parse(a, "round-trip", &d);
    cr_assert(h, "%s\n%s", d.text, a);
    char *b = print_to_string(h, IR_PRINT_FULL_CONSTS);
    cr_assert_str_eq(a, b);
    /* bit-exact constants, NaN and -0 included */
    cr_assert_eq(memcmp(g->nodes[2]->data, h->nodes[2]->data, 24), 0);
    free(a), free(b);
    ir_graph_free(g), ir_graph_free(h);
}

static void parse_fails(const char *text, const char *want)
{
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "t.kir", &d);
    cr_assert_null(g, "parsed: %s", text);
    cr_assert(d.text && strstr(d.text, want) && strstr(d.text, "t.kir:"), "for %s: got '%s', want '%s'", text,
              d.text ? d.text : "", want);
    kl_diag_clear(&d);
}

Test(ir, parse_errors_are_located)
{
    parse_fails("", "expected 'graph'");
    parse_fails("graph \"g\" { %0 = frobnicate : f32[2] }", "unknown op 'frobnicate'");
    parse_fails("graph \"g\" { %1 = exp %0 : f32[2] }", "not defined before use");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %1 = exp %0 : f32[3] }", "does not match");
    parse_fails("graph \"g\" { %0 = const : f32[20] <20 elements> }", "elided constant");
    parse_fails("graph \"g\" { %0 = param 0 : f33[2] }", "unknown dtype");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %1 = add %0, %0 : f32[2]", "missing '}'");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %1 = param 0 : f32[2] }", "numbered");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %0 = exp %0 : f32[2] }", "defined twice");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2,3]\n %1 = matmul %0, %0 {transpose_a=0, transpose_b=0} : f32[2,3] }",
                "do not fit");
}

Test(ir, shape_rules)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("shapes");
    ir_node *a = ir_param(g, ir_type_make(KL_F32, 3, (int64_t[]){4, 1, 3}), "a");
    ir_node *b = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){5, 1}), "b");
    ir_node *s = ir_binary(g, KL_OP_MAX, a, b, "s", &d);
    cr_assert(s && s->type.rank == 3 && s->type.dims[0] == 4 && s->type.dims[1] == 5 && s->type.dims[2] == 3);
    ir_node *c = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "c");
    cr_assert_null(ir_binary(g, KL_OP_ADD, a, c, "bad", &d)); /* [4,1,3] vs [4] */
    cr_assert(strstr(d.text, "node 'bad' (add)") && strstr(d.text, "do not broadcast"), "%s", d.text);
    kl_diag_clear(&d);
    ir_node *i = ir_param(g, ir_type_make(KL_I32, 1, (int64_t[]){4}), "i");
    cr_assert_null(ir_unary(g, KL_OP_EXP, i, "e", &d));
    cr_assert(strstr(d.text, "floating-point"), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_null(ir_reshape(g, a, 1, (int64_t[]){13}, "r", &d));
    kl_diag_clear(&d);
    ir_graph_free(g);
}

Test(ir, verifier_finds_broken_graphs)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("broken");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "x");
    ir_node *e = ir_unary(g, KL_OP_EXP, x, "e", &d);
    ir_node *t = ir_unary(g, KL_OP_TANH, e, "t", &d);
    ir_graph_add_result(g, t, "t");
    cr_assert(ir_verify(g, &d));
    e->type.dims[0] = 5;                   /* wrong type */
    g->nodes[1] = t, g->nodes[2] = e;      /* use before definition */
    cr_assert_not(ir_verify(g, &d));
    cr_assert(strstr(d.text, "not defined before use") && strstr(d.text, "shape rule"), "%s", d.text);
    kl_diag_clear(&d);
    ir_graph_free(g);
}

static void eval1(ir_node *n, const void *a, const void *b, void *out)
{
    kl_diag d = {0};
    const void *in[2] = {a, b};
    cr_assert(ir_eval_node(n, in, out, &d), "%s", d.text);
}

Test(ir, evaluator)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("eval");
    ir_node *a = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), "a");
    ir_node *b = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 1}), "b");
    float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20}, out[16];
    eval1(ir_binary(g, KL_OP_ADD, a, b, "add", &d), av, bv, out);
    float want_add[] = {11, 12, 13, 24, 25, 26};
    cr_assert_arr_eq(out, want_add, sizeof want_add);
    ir_attr tb = {.matmul = {false, true}};
    eval1(ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a, a}, &tb, NULL, "mm", &d), av, av, out);
    float want_mm[] = {14, 32, 32, 77};
    cr_assert_arr_eq(out, want_mm, sizeof want_mm);
    ir_attr r0 = {.reduce = {1u, true}};
    ir_node *s = ir_node_new(g, KL_OP_REDUCE_MAX, 1, &a, &r0, NULL, "max0", &d);
    cr_assert(s->type.rank == 2 && s->type.dims[0] == 1 && s->type.dims[1] == 3);
    eval1(s, av, NULL, out);
    float want_max[] = {4, 5, 6};
    cr_assert_arr_eq(out, want_max, sizeof want_max);
    eval1(ir_unary(g, KL_OP_SOFTMAX, a, "sm", &d), av, NULL, out);
    cr_assert_float_eq(out[0] + out[1] + out[2], 1.0f, 1e-6);
    cr_assert_float_eq(out[2], expf(1) / (1 + expf(-1) + expf(1)) * expf(-1) * expf(1), 1e-6);
    float big[] = {3e9f, -3e9f, NAN, -2.7f};
    ir_node *f = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "f");
    int32_t ints[4];
    eval1(ir_cast(g, f, KL_I32, "c"), big, NULL, ints);
    cr_assert(ints[0] == INT32_MAX && ints[1] == INT32_MIN && ints[2] == 0 && ints[3] == -2);
    ir_graph_free(g);
}
