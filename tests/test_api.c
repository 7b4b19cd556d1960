/* tests/test_api.c — the library API (include/kiln/kiln.h): status codes and
 * messages, feeds and fetches, AOT outputs, program metadata, run checks. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln/kiln.h"

#define MLP KILN_SOURCE_DIR "/samples/mlp/mlp.pb"

static kiln_model *load(const char *path)
{
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    cr_assert_null(st, "%s", kiln_status_message(st));
    return m;
}

static kiln_options opts(const char **feeds, int nf, const char **fetches, int nt)
{
    kiln_options o;
    kiln_options_init(&o);
    o.feeds = feeds, o.n_feeds = nf, o.fetches = fetches, o.n_fetches = nt;
    o.verify = 1;
    return o;
}

static void expect_status(kiln_status *st, kiln_code code, const char *a, const char *b)
{
    cr_assert_not_null(st, "expected an error");
    const char *m = kiln_status_message(st);
    cr_assert_eq(kiln_status_code(st), code, "code %d: %s", kiln_status_code(st), m);
    cr_assert(strstr(m, a) && (!b || strstr(m, b)), "message '%s' lacks '%s'/'%s'", m, a, b ? b : "");
    kiln_status_free(st);
}

Test(api, load_errors)
{
    kiln_model *m;
    expect_status(kiln_model_load("/nonexistent/model.pb", &m), KILN_ERR_IO, "/nonexistent/model.pb", "cannot open");
    cr_assert_null(m);
    expect_status(kiln_model_load_buffer("\x0a\x05zz", 4, "mem.pb", &m), KILN_ERR_PARSE, "mem.pb", NULL);
}

Test(api, bad_feeds_and_fetches)
{
    kiln_model *m = load(MLP);
    kiln_program *p;
    const char *nof[] = {"nosuch"}, *y[] = {"y_out"}, *x[] = {"x"};
    kiln_options o = opts(nof, 1, y, 1);
    expect_status(kiln_jit(m, &o, &p), KILN_ERR_INVALID, "feed 'nosuch'", "mlp.pb");
    o = opts(x, 1, nof, 1);
    expect_status(kiln_jit(m, &o, &p), KILN_ERR_INVALID, "fetch 'nosuch'", NULL);
    const char *h[] = {"h"};
    o = opts(h, 1, y, 1); /* an internal tensor as a feed: fine, x no longer needed */
    cr_assert_null(kiln_jit(m, &o, &p));
    cr_assert_eq(kiln_program_num_feeds(p), 1);
    kiln_tensor_info t = kiln_program_feed(p, 0);
    cr_assert(!strcmp(t.name, "h") && t.rank == 2 && t.dims[0] == 100 && t.dims[1] == 16 && t.dtype == KILN_F32);
    kiln_program_free(p);
    o = opts(x, 1, h, 0); /* no fetches: the graph's sinks */
    cr_assert_null(kiln_jit(m, &o, &p));
    cr_assert_str_eq(kiln_program_fetch(p, 0).name, "y_out");
    kiln_program_free(p);
    kiln_model_free(m);
}

Test(api, every_unsupported_op_is_listed)
{
    kiln_model *m = load(KILN_SOURCE_DIR "/tests/fixtures/unsupported_ops/model.pb");
    const char *y[] = {"y"};
    kiln_options o = opts(NULL, 0, y, 1);
    kiln_program *p;
    expect_status(kiln_jit(m, &o, &p), KILN_ERR_UNSUPPORTED, "node 'digamma': unsupported op Digamma",
                  "node 'lgamma': unsupported op Lgamma");
    kiln_model_free(m);
}

Test(api, run_checks_buffers)
{
    kiln_model *m = load(MLP);
    const char *x[] = {"x"}, *y[] = {"y_out"};
    kiln_options o = opts(x, 1, y, 1);
    kiln_program *p;
    cr_assert_null(kiln_jit(m, &o, &p));
    cr_assert_eq(kiln_program_temp_size(p), 6400); /* h only: each matmul's bias+tanh run on its tiles */
    static float in[3200], out[800];
    const void *ins[] = {NULL};
    void *outs[] = {out};
    expect_status(kiln_program_run(p, ins, outs, NULL), KILN_ERR_INVALID, "NULL", NULL);
    ins[0] = in;
    static _Alignas(64) unsigned char temp[6400 + 64];
    expect_status(kiln_program_run(p, ins, outs, temp + 1), KILN_ERR_INVALID, "aligned", NULL);
    cr_assert_null(kiln_program_run(p, ins, outs, temp));
    kiln_program_free(p);
    kiln_model_free(m);
}

Test(api, compile_object_and_header)
{
    kiln_model *m = load(MLP);
    const char *x[] = {"x"}, *y[] = {"y_out"};
    kiln_options o = opts(x, 1, y, 1);
    o.prefix = "apitest";
    o.target_cpu = "x86-64-v3";
    kiln_compile_info info;
    const char *obj = KILN_BINARY_DIR "/apitest.o", *hdr = KILN_BINARY_DIR "/apitest.h";
    cr_assert_null(kiln_compile_object(m, &o, obj, hdr, &info));
    struct stat sb;
    cr_assert(!stat(obj, &sb) && sb.st_size == info.object_bytes && info.object_bytes > 0);
    cr_assert_eq(info.temp_size, 6400);
    /* x86-64-v3: weights prepacked into 16-column panels, so the 8-column W2 is padded */
    cr_assert_eq(info.const_bytes, (32 * 16 + 16 + 16 * 16 + 8) * 4);
    cr_assert_eq(info.n_kernels, 2); /* two GEMMs, each with its bias+tanh as epilogue */
    o.target_cpu = "pentium-9000";
    expect_status(kiln_compile_object(m, &o, obj, hdr, NULL), KILN_ERR_BACKEND, "unknown target CPU", NULL);
    o.target_cpu = "native";
    expect_status(kiln_compile_object(m, &o, "/nonexistent/dir/x.o", NULL, NULL), KILN_ERR_BACKEND, "/nonexistent/dir/x.o", NULL);
    kiln_model_free(m);
}
