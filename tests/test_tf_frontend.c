/* tests/test_tf_frontend.c — the GraphDef reader and importer on small
 * hand-encoded graphs (tests/corpus/tf/, written by tools/make_bad_corpus.py),
 * the broken-file corpus (tests/corpus/bad_pb/) and the MLP sample. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/tf/tf.h"

#define CORPUS KILN_SOURCE_DIR "/tests/corpus"
#define OPS CORPUS "/tf/ops.pb"
#define UNSUPPORTED CORPUS "/tf/unsupported.pb"

static tf_model *load(const char *path)
{
    tf_model *m;
    kl_diag d = {0};
    cr_assert(tf_model_load(path, &m, &d), "%s", d.text);
    return m;
}

/* Import expecting success; the graph passes the verifier. */
static ir_graph *import_ok(const tf_model *m, const char **feeds, int nf, const char **fetches, int nt)
{
    kl_diag d = {0};
    ir_graph *g = tf_import(m, feeds, nf, fetches, nt, &d);
    cr_assert_not_null(g, "%s", d.text);
    cr_assert(ir_verify(g, &d), "%s", d.text);
    return g;
}

/* Import expecting failure; every substring in want[] is in the message. */
static void import_fails(const tf_model *m, const char **feeds, int nf, const char **fetches, int nt,
                         const char *const *want, int n_want)
{
    kl_diag d = {0};
    ir_graph *g = tf_import(m, feeds, nf, fetches, nt, &d);
    cr_assert_null(g, "imported although it should fail");
    cr_assert_not_null(d.text);
    for (int i = 0; i < n_want; i++) cr_assert(strstr(d.text, want[i]), "message lacks '%s':\n%s", want[i], d.text);
    kl_diag_clear(&d);
}

static bool type_is(const ir_node *n, kl_dtype dt, int rank, int64_t d0, int64_t d1)
{
    return n->type.dtype == dt && n->type.rank == rank && (rank < 1 || n->type.dims[0] == d0) &&
           (rank < 2 || n->type.dims[1] == d1);
}

/* ---- loading ------------------------------------------------------------- */

Test(tf_frontend, load_errors_name_the_file)
{
    tf_model *m;
    kl_diag d = {0};
    cr_assert_not(tf_model_load("/nonexistent/model.pb", &m, &d));
    cr_assert_null(m);
    cr_assert(strstr(d.text, "/nonexistent/model.pb") && strstr(d.text, "cannot open"), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_not(tf_model_load(CORPUS, &m, &d)); /* a directory: unreadable */
    cr_assert(d.text && strstr(d.text, CORPUS), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_not(tf_model_load_buffer("\x0a\x05zz", 4, "mem.pb", &m, &d));
    cr_assert(strstr(d.text, "mem.pb: not a TensorFlow GraphDef"), "%s", d.text);
    cr_assert_eq(d.n_errors, 1);
    kl_diag_clear(&d);
}

/* Every file of the broken corpus fails, at load or import, with one
 * message naming the file and containing what its .txt promises. */
Test(tf_frontend, broken_corpus_is_rejected_with_its_name)
{
    DIR *dir = opendir(CORPUS "/bad_pb");
    cr_assert(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".pb")) continue;
        char path[1024], txt[1024], fetch[128] = "", want[256] = "";
        snprintf(path, sizeof path, CORPUS "/bad_pb/%s", e->d_name);
        snprintf(txt, sizeof txt, CORPUS "/bad_pb/%.*s.txt", (int)(len - 3), e->d_name);
        FILE *f = fopen(txt, "r");
        cr_assert(f, "%s has no .txt", e->d_name);
        cr_assert_eq(fscanf(f, "%127s %255[^\n]", fetch, want), 2, "%s", txt);
        fclose(f);
        kl_diag d = {0};
        tf_model *m;
        if (tf_model_load(path, &m, &d)) {
            const char *fetches[] = {fetch};
            ir_graph *g = tf_import(m, NULL, 0, fetches, 1, &d);
            cr_assert_null(g, "%s imported", e->d_name);
            tf_model_free(m);
        }
        cr_assert(d.text && strstr(d.text, e->d_name), "%s: %s", e->d_name, d.text);
        cr_assert(strstr(d.text, want), "%s: want '%s' in: %s", e->d_name, want, d.text);
        kl_diag_clear(&d);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 15);
}

/* ---- feeds and fetches --------------------------------------------------- */

Test(tf_frontend, unknown_feed_and_fetch_are_named)
{
    tf_model *m = load(OPS);
    const char *nosuch[] = {"nosuch"}, *x[] = {"x"}, *y[] = {"y"}, *bad_out[] = {"y:3"};
    import_fails(m, nosuch, 1, y, 1, (const char *[]){"ops.pb", "feed 'nosuch'"}, 2);
    import_fails(m, x, 1, nosuch, 1, (const char *[]){"ops.pb", "fetch 'nosuch'"}, 2);
    import_fails(m, x, 1, bad_out, 1, (const char *[]){"fetch 'y:3'"}, 1);
    const char *twice[] = {"x", "x:0"};
    import_fails(m, twice, 2, y, 1, (const char *[]){"given twice"}, 1);
    tf_model_free(m);
}

Test(tf_frontend, placeholders_become_feeds_in_graph_order)
{
    tf_model *m = load(OPS);
    cr_assert_eq(tf_model_num_nodes(m), 32);
    const char *fetches[] = {"y", "z"};
    ir_graph *g = import_ok(m, NULL, 0, fetches, 2);
    cr_assert_eq(g->n_params, 1); /* x; the unfed PlaceholderWithDefault takes its default */
    cr_assert_str_eq(g->param_names[0], "x");
    cr_assert(type_is(g->params[0], KL_F32, 2, 2, 3));
    cr_assert_eq(g->n_results, 2);
    cr_assert_str_eq(g->results[0].name, "y");
    cr_assert_str_eq(g->results[1].name, "z");
    cr_assert_str_eq(g->results[1].node->name, "z"); /* IR nodes carry the TF names */
    ir_graph_free(g);
    tf_model_free(m);
}

Test(tf_frontend, internal_tensor_as_feed)
{
    tf_model *m = load(OPS);
    const char *h[] = {"h"}, *z[] = {"z"};
    ir_graph *g = import_ok(m, h, 1, z, 1);
    cr_assert_eq(g->n_params, 1);
    cr_assert_str_eq(g->param_names[0], "h");
    cr_assert(type_is(g->params[0], KL_F32, 2, 2, 3));
    for (int i = 0; i < g->n_nodes; i++) cr_assert(g->nodes[i]->op != KL_OP_TANH, "h's producer was imported");
    ir_graph_free(g);
    /* A feed the fetches do not need still is a param: the ABI the user asked for. */
    const char *xh[] = {"x", "h"};
    g = import_ok(m, xh, 2, z, 1);
    cr_assert_eq(g->n_params, 2);
    cr_assert_str_eq(g->param_names[0], "x");
    cr_assert_str_eq(g->param_names[1], "h");
    ir_graph_free(g);
    tf_model_free(m);
}

Test(tf_frontend, placeholder_with_default_fed_or_not)
{
    tf_model *m = load(OPS);
    const char *feeds[] = {"x", "pwd"}, *y[] = {"y"};
    ir_graph *g = import_ok(m, feeds, 2, y, 1);
    cr_assert_eq(g->n_params, 2);
    cr_assert(type_is(g->params[1], KL_F32, 2, 2, 4));
    ir_graph_free(g);
    tf_model_free(m);
}

Test(tf_frontend, dynamic_feed_shape_is_an_error)
{
    tf_model *m = load(OPS);
    const char *dyn[] = {"dyn"}, *out[] = {"dyn_out"};
    import_fails(m, dyn, 1, out, 1,
                 (const char *[]){"ops.pb: feed 'dyn': shape is not static ([?,3]); pin it at compile time, e.g. --feed dyn:1,3"}, 1);
    import_fails(m, NULL, 0, out, 1, (const char *[]){"feed 'dyn'", "[?,3]"}, 2);
    tf_model_free(m);
}

/* ---- unsupported ops ----------------------------------------------------- */

Test(tf_frontend, every_unsupported_op_is_listed_at_once)
{
    tf_model *m = load(UNSUPPORTED);
    const char *y[] = {"y"};
    kl_diag d = {0};
    cr_assert_null(tf_import(m, NULL, 0, y, 1, &d));
    cr_assert_eq(d.n_errors, 3, "%s", d.text);
    cr_assert(strstr(d.text, "unsupported.pb: 2 unsupported ops: FooBar, NonMaxSuppressionV9"), "%s", d.text);
    cr_assert(strstr(d.text, "unsupported.pb: node 'a': unsupported op FooBar"), "%s", d.text);
    cr_assert(strstr(d.text, "unsupported.pb: node 'b': unsupported op NonMaxSuppressionV9"), "%s", d.text);
    cr_assert_null(strstr(d.text, "Conv3DBackpropFilterV7"), "a branch y does not need was checked: %s", d.text);
    kl_diag_clear(&d);
    tf_model_free(m);
}

Test(tf_frontend, unneeded_branches_are_pruned)
{
    tf_model *m = load(UNSUPPORTED);
    const char *y2[] = {"y2"};
    ir_graph *g = import_ok(m, NULL, 0, y2, 1);
    cr_assert_eq(g->n_params, 1);
    cr_assert_eq(g->n_nodes, 2); /* param x, tanh */
    ir_graph_free(g);
    tf_model_free(m);
}

/* Feeding b cuts both unsupported ops away; b's type comes from its
 * _output_shapes attribute, as importing its producer fails. */
Test(tf_frontend, feed_cuts_unsupported_ops_away)
{
    tf_model *m = load(UNSUPPORTED);
    const char *b[] = {"b"}, *y[] = {"y"};
    ir_graph *g = import_ok(m, b, 1, y, 1);
    cr_assert_eq(g->n_params, 1);
    cr_assert(type_is(g->params[0], KL_F32, 2, 2, 3));
    ir_graph_free(g);
    tf_model_free(m);
}

Test(tf_frontend, unsupported_dtype_and_format_name_node_and_op)
{
    tf_model *m = load(OPS);
    const char *cplx[] = {"cplx"}, *nchw[] = {"nchw"};
    import_fails(m, NULL, 0, cplx, 1, (const char *[]){"ops.pb: node 'cplx': unsupported op MatMul on DT_COMPLEX64"}, 1);
    import_fails(m, NULL, 0, nchw, 1, (const char *[]){"ops.pb: node 'nchw' (BiasAdd)", "NCHW"}, 2);
    tf_model_free(m);
}

/* ---- values -------------------------------------------------------------- */

/* The imported graph computes what TF would: packed and unpacked constants
 * agree, splats fill, -1 reshapes, negative/empty axes, transposes, huge
 * strides. */
Test(tf_frontend, imported_graph_computes_the_right_values)
{
    tf_model *m = load(OPS);
    const char *fetches[] = {"mm", "mmu", "mmt", "r", "sum", "mean", "max", "y", "toint", "biased", "soft", "ss"};
    enum { MM, MMU, MMT, R, SUM, MEAN, MAX, Y, TOINT, BIASED, SOFT, SS, N };
    ir_graph *g = import_ok(m, NULL, 0, fetches, N);
    cr_assert(type_is(g->results[MMT].node, KL_F32, 2, 4, 2));
    cr_assert(type_is(g->results[R].node, KL_F32, 2, 4, 2));
    cr_assert(type_is(g->results[SUM].node, KL_F32, 2, 1, 1));
    cr_assert(type_is(g->results[MEAN].node, KL_F32, 2, 2, 4));
    cr_assert(type_is(g->results[MAX].node, KL_F32, 1, 2, 0));
    cr_assert(type_is(g->results[TOINT].node, KL_I32, 2, 2, 3));
    cr_assert(type_is(g->results[SS].node, KL_F32, 2, 2, 1)); /* a stride of INT64_MAX takes one element */

    float x[6] = {1, -2, 3, 0.5f, 0.25f, -1}, w[12], want[8], out[N][8];
    int32_t ints[6];
    for (int i = 0; i < 12; i++) w[i] = 0.5f * (float)i - 2.0f;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            want[i * 4 + j] = 0;
            for (int k = 0; k < 3; k++) want[i * 4 + j] += x[i * 3 + k] * w[k * 4 + j];
        }
    void *fetch_bufs[N];
    for (int i = 0; i < N; i++) fetch_bufs[i] = out[i];
    fetch_bufs[TOINT] = ints;
    kl_diag d = {0};
    cr_assert(ir_eval_graph(g, (const void *[]){x}, fetch_bufs, &d), "%s", d.text);
    float total = 0, sum_soft = 0;
    for (int i = 0; i < 8; i++) {
        cr_assert_float_eq(out[MM][i], want[i], 1e-5);
        cr_assert_float_eq(out[MMU][i], want[i], 1e-5);
        cr_assert_float_eq(out[MMT][(i % 4) * 2 + i / 4], want[i], 1e-5);
        cr_assert_float_eq(out[R][i], want[i], 1e-5);
        cr_assert_float_eq(out[MEAN][i], want[i], 1e-5);
        cr_assert_float_eq(out[Y][i], want[i] + 0.5f, 1e-5);
        cr_assert_float_eq(out[BIASED][i], want[i] + (float)(i % 4 + 1), 1e-5);
        sum_soft += out[SOFT][i];
        total += want[i];
    }
    cr_assert_float_eq(out[SUM][0], total, 1e-4);
    cr_assert_float_eq(sum_soft, 2.0f, 1e-5);
    for (int i = 0; i < 2; i++)
        cr_assert_float_eq(out[MAX][i], fmaxf(fmaxf(want[i * 4], want[i * 4 + 1]), fmaxf(want[i * 4 + 2], want[i * 4 + 3])), 1e-5);
    for (int i = 0; i < 6; i++) cr_assert_eq(ints[i], (int32_t)x[i]);
    cr_assert(out[SS][0] == x[0] && out[SS][1] == x[3]);
    ir_graph_free(g);
    tf_model_free(m);
}

/* ---- the MLP sample (TensorFlow-made) ------------------------------------ */

Test(tf_frontend, mlp_sample)
{
    FILE *f = fopen(KILN_SOURCE_DIR "/samples/mlp/mlp.pb", "rb");
    cr_assert(f, "samples/mlp/mlp.pb missing (it is committed)");
    fclose(f);
    tf_model *m = load(KILN_SOURCE_DIR "/samples/mlp/mlp.pb");
    const char *x[] = {"x"}, *y[] = {"y_out"};
    ir_graph *g = import_ok(m, x, 1, y, 1);
    cr_assert(type_is(g->params[0], KL_F32, 2, 100, 32));
    cr_assert_eq(g->results[0].node->type.dims[0], 100);
    ir_graph_free(g);
    /* All defaults: placeholders in, sinks out. */
    g = import_ok(m, NULL, 0, NULL, 0);
    cr_assert_eq(g->n_params, 1);
    cr_assert_geq(g->n_results, 1);
    ir_graph_free(g);
    tf_model_free(m);
}
