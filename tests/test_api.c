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

/* Each row of the target table compiles the MLP to an ELF object; target
 * errors are arguments (unknown target, a CPU of another target, the JIT
 * or threads where the target cannot have them, f64 without a double FPU). */
Test(api, targets)
{
    kiln_model *m = load(MLP);
    const char *x[] = {"x"}, *y[] = {"y_out"};
    kiln_options o = opts(x, 1, y, 1);
    o.prefix = "tgt";
    const char *obj = KILN_BINARY_DIR "/tgt.o";
    static const char *const names[] = {"x86_64-linux-gnu", "aarch64-linux-gnu", "riscv64-linux-gnu",
                                        "thumbv7em-none-eabihf", "thumbv8m.main-none-eabihf", "riscv32-none-elf"};
    static const unsigned char machine[] = {62, 183, 243, 40, 40, 243}; /* ELF e_machine: x86-64, AArch64, RISC-V, ARM */
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        o.target = names[i];
        kiln_compile_info info;
        kiln_status *st = kiln_compile_object(m, &o, obj, NULL, &info);
        cr_assert_null(st, "%s: %s", names[i], st ? kiln_status_message(st) : "");
        FILE *f = fopen(obj, "rb");
        unsigned char h[20] = {0};
        cr_assert(f && fread(h, 1, 20, f) == 20);
        fclose(f);
        cr_assert(!memcmp(h, "\x7f" "ELF", 4) && h[18] == machine[i], "%s: e_machine %d", names[i], h[18]);
        cr_assert_eq(info.temp_size, 6400, "%s", names[i]);
    }
    o.target = "vax-dec-vms";
    expect_status(kiln_compile_object(m, &o, obj, NULL, NULL), KILN_ERR_INVALID, "unknown target 'vax-dec-vms'", "aarch64-linux-gnu");
    o.target = "aarch64-linux-gnu";
    o.target_cpu = "cortex-m4";
    expect_status(kiln_compile_object(m, &o, obj, NULL, NULL), KILN_ERR_INVALID, "unknown CPU 'cortex-m4' for target aarch64-linux-gnu", "cortex-a72");
    o.target_cpu = NULL;
    kiln_program *p;
    expect_status(kiln_jit(m, &o, &p), KILN_ERR_BACKEND, "the JIT runs on the host only", "aarch64-linux-gnu");
    o.threads = 2; /* hosted cross targets have the pool (tests/sh/cross.sh links and runs it) */
    for (const char *const *t = (const char *const[]){"aarch64-linux-gnu", "riscv64-linux-gnu", NULL}; *t; t++) {
        o.target = *t;
        kiln_status *ts = kiln_compile_object(m, &o, obj, NULL, NULL);
        cr_expect_null(ts, "%s --threads 2: %s", *t, ts ? kiln_status_message(ts) : "");
        kiln_status_free(ts);
    }
    o.target = "thumbv7em-none-eabihf";
    expect_status(kiln_compile_object(m, &o, obj, NULL, NULL), KILN_ERR_BACKEND, "--threads 2", "firmware objects never call a runtime");
    kiln_model_free(m);
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
    expect_status(kiln_compile_object(m, &o, obj, hdr, NULL), KILN_ERR_INVALID, "unknown CPU 'pentium-9000'",
                  "for target x86_64-linux-gnu");
    o.target_cpu = "native";
    expect_status(kiln_compile_object(m, &o, "/nonexistent/dir/x.o", NULL, NULL), KILN_ERR_BACKEND, "/nonexistent/dir/x.o", NULL);
    kiln_model_free(m);
}

/* Size mode (optimize_size, `kiln compile -Os`): the MLP's two matmuls run
 * on the one shared kernel (codegen/shared.c), their bias+tanh epilogues in
 * place; the JIT computes what -O2 computes, the weights stay raw (not
 * prepacked into panels), and the Cortex-M4 object is smaller. */
Test(api, size_mode)
{
    kiln_model *m = load(MLP);
    const char *x[] = {"x"}, *y[] = {"y_out"};
    kiln_options o = opts(x, 1, y, 1);
    static float in[3200], ref[800], out[800];
    for (int i = 0; i < 3200; i++) in[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    static _Alignas(64) unsigned char temp[6400];
    const void *ins[] = {in};
    void *outs[] = {ref};
    kiln_program *p;
    cr_assert_null(kiln_jit(m, &o, &p));
    cr_assert_null(kiln_program_run(p, ins, outs, temp));
    kiln_program_free(p);
    o.optimize_size = 1;
    cr_assert_null(kiln_jit(m, &o, &p));
    cr_assert_eq(kiln_program_temp_size(p), 6400);
    outs[0] = out;
    cr_assert_null(kiln_program_run(p, ins, outs, temp));
    kiln_program_free(p);
    for (int i = 0; i < 800; i++) cr_assert_float_eq(out[i], ref[i], 1e-5, "y[%d]: %g at -Os, %g at -O2", i, out[i], ref[i]);
    o.prefix = "sz";
    o.target = "thumbv7em-none-eabihf";
    o.target_cpu = "cortex-m4";
    const char *obj = KILN_BINARY_DIR "/sz.o";
    kiln_compile_info os, o2;
    cr_assert_null(kiln_compile_object(m, &o, obj, NULL, &os));
    cr_assert_eq(os.const_bytes, (32 * 16 + 16 + 16 * 8 + 8) * 4); /* raw weights */
    o.optimize_size = 0;
    cr_assert_null(kiln_compile_object(m, &o, obj, NULL, &o2));
    cr_assert_lt(os.object_bytes, o2.object_bytes, "-Os %lld B, -O2 %lld B", (long long)os.object_bytes, (long long)o2.object_bytes);
    o.optimize_size = 1;
    o.target = "cuda";
    o.target_cpu = NULL;
    expect_status(kiln_compile_object(m, &o, obj, NULL, NULL), KILN_ERR_INVALID, "-Os", "cuda");
    kiln_model_free(m);
}

/* A model whose temp arena (512 GiB) no machine here can allocate: kiln_jit
 * says so before compiling, instead of writing through NULL. */
Test(api, temp_arena_too_large)
{
    kiln_model *m = load(KILN_SOURCE_DIR "/tests/corpus/bad_onnx/expand_huge.onnx");
    kiln_options o = opts(NULL, 0, NULL, 0);
    kiln_program *p;
    expect_status(kiln_jit(m, &o, &p), KILN_ERR_NOMEM, "expand_huge.onnx: temp arena of 512 GiB cannot be allocated", NULL);
    cr_assert_null(p);
    kiln_model_free(m);
}

/* Gather indices fed at run time: [-size, size) as ONNX defines (negative
 * from the end); anything else is clamped to the nearest valid row, never
 * read outside the data (docs/header-api.md, "Out-of-range indices"). */
Test(api, gather_fed_indices_are_clamped)
{
    kiln_model *m = load(KILN_SOURCE_DIR "/tests/corpus/onnx/gather_fed.onnx");
    kiln_options o = opts(NULL, 0, NULL, 0);
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_null(st, "%s", kiln_status_message(st));
    float x[6] = {0, 1, 10, 11, 20, 21}, y[10];
    int64_t idx[5] = {1, -1, 3, -7, INT64_MAX};
    const void *in[] = {x, idx};
    void *out[] = {y};
    cr_assert_null(kiln_program_run(p, in, out, NULL));
    const int rows[5] = {1, 2, 2, 0, 2}; /* 3 -> 2, -7 -> -4 -> 0, INT64_MAX -> 2 */
    for (int i = 0; i < 5; i++)
        cr_assert(y[2 * i] == x[2 * rows[i]] && y[2 * i + 1] == x[2 * rows[i] + 1], "row %d: %g %g", i, y[2 * i], y[2 * i + 1]);
    kiln_program_free(p);
    kiln_model_free(m);
}

/* kiln_options.progress: every pass in order (k of n), every top-level
 * kernel's codegen (k of n), the LLVM stages, then "done" exactly once, for
 * the JIT and for an object; also "done" when the compile fails. */
typedef struct progress_log {
    char stages[64][16];
    int k[64], n[64], count, done;
} progress_log;

static void log_progress(void *user, const char *stage, int k, int n)
{
    progress_log *l = user;
    if (!strcmp(stage, "done")) l->done++;
    if (l->count < 64) snprintf(l->stages[l->count], 16, "%s", stage), l->k[l->count] = k, l->n[l->count] = n, l->count++;
}

static void check_progress(const progress_log *l, int n_kernels, const char *last_llvm)
{
    cr_assert_eq(l->done, 1, "done reported %d times", l->done);
    cr_assert_str_eq(l->stages[l->count - 1], "done");
    cr_assert_str_eq(l->stages[0], "infer");
    int passes = 0, kernels = 0, i = 0;
    for (; i < l->count && strcmp(l->stages[i], "codegen"); i++, passes++)
        cr_assert(l->k[i] == passes + 1 && l->n[i] == 11, "pass %s: %d of %d at %d", l->stages[i], l->k[i], l->n[i], i);
    cr_assert_eq(passes, 11);
    for (; i < l->count && !strcmp(l->stages[i], "codegen"); i++, kernels++)
        cr_assert(l->k[i] == kernels + 1 && l->n[i] == n_kernels, "kernel %d of %d", l->k[i], l->n[i]);
    cr_assert_eq(kernels, n_kernels);
    cr_assert_str_eq(l->stages[i], "llvm-opt");
    cr_assert_str_eq(l->stages[i + 1], last_llvm);
    cr_assert_eq(i + 3, l->count, "stages after %s", last_llvm);
}

Test(api, progress_callback)
{
    kiln_model *m = load(MLP);
    const char *x[] = {"x"}, *y[] = {"y_out"};
    kiln_options o = opts(x, 1, y, 1);
    static progress_log l;
    o.progress = log_progress, o.progress_user = &l;
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_null(st, "%s", kiln_status_message(st));
    kiln_program_free(p);
    check_progress(&l, 2, "llvm-emit");
    memset(&l, 0, sizeof l);
    kiln_compile_info info;
    cr_assert_null(kiln_compile_object(m, &o, KILN_BINARY_DIR "/progress.o", NULL, &info));
    check_progress(&l, info.n_kernels, "llvm-emit");
    memset(&l, 0, sizeof l);
    const char *bad[] = {"nosuch"};
    o.fetches = bad;
    expect_status(kiln_jit(m, &o, &p), KILN_ERR_INVALID, "nosuch", NULL);
    cr_assert_eq(l.done, 1);
    kiln_model_free(m);
}
