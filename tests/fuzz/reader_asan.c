/* tests/fuzz/reader_asan.c — the readers under ASan/UBSan.
 *
 * Built with -fsanitize=address,undefined from the frontend, IR and npy
 * sources (tests/fuzz/CMakeLists.txt).  For every file of tests/corpus and
 * every fixture model, and for thousands of deterministic mutations of the
 * valid ones (bit flips, truncations, insertions, byte runs), it loads,
 * imports (all placeholders as feeds, the graph's sinks as fetches) and also
 * feeds the IR text parser with mutated pass tests.  A failure must come
 * with a message; anything else (a crash, a sanitizer report) fails the run.
 * Models that import (the valid ones and their mutations) are also compiled
 * through the passes into a verified LLVM module (pipeline_check.c), up to
 * COMPILES_PER_FILE per source file and COMPILES in all, so the stage stays
 * within about a minute on two cores.
 *
 *   reader_asan SOURCE_DIR [MUTATIONS_PER_FILE [COMPILES]]
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/onnx/onnx.h"
#include "frontend/tf/tf.h"
#include "pipeline_check.h"
#include "tools/kiln/npy.h"

static int checked, rejected, bad;

/* ---- the compile stage -------------------------------------------------- */

#define COMPILES_PER_FILE 100
static int compiles_left = 5000, compiled, compile_rejected;
static char compile_file[256]; /* the source file the per-file count is for */
static int compile_file_count;

static void try_compile(const unsigned char *data, size_t n, const char *what)
{
    if (strcmp(compile_file, what)) snprintf(compile_file, sizeof compile_file, "%s", what), compile_file_count = 0;
    if (compiles_left <= 0 || compile_file_count >= COMPILES_PER_FILE) return;
    char why[600];
    switch (pc_compile(data, n, what, (compiles_left--) % 4, why, sizeof why)) {
    case PC_SKIPPED: compiles_left++; return; /* did not import or too big: costs nothing */
    case PC_REJECTED: compile_rejected++; break;
    case PC_COMPILED: compiled++; break;
    case PC_BUG:
        fprintf(stderr, "FAIL: %s: compiling: %s\n", what, why);
        bad++;
        break;
    }
    compile_file_count++;
}

/* READER_ASAN_TRACE=FILE writes every mutated input to FILE before trying
 * it, so after a sanitizer stops the run FILE holds the input to replay
 * (the mutations are deterministic; slow, for debugging only). */
static const char *trace;

static void trace_input(const unsigned char *data, size_t n)
{
    FILE *f = trace ? fopen(trace, "wb") : NULL;
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static unsigned next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)rng;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

static void expect_message(const kl_diag *d, const char *what)
{
    rejected++;
    if (!d->text || !*d->text) {
        fprintf(stderr, "FAIL: %s was rejected without a message\n", what);
        bad++;
    }
}

static void try_import(const tf_model *m, const char *const *feeds, int nf, const char *const *fetches, int nt,
                       const char *what)
{
    kl_diag d = {0};
    ir_graph *g = tf_import(m, feeds, nf, fetches, nt, &d);
    if (!g) expect_message(&d, what);
    else if (!ir_verify(g, &d)) fprintf(stderr, "FAIL: %s imports to invalid IR: %s\n", what, d.text), bad++;
    ir_graph_free(g);
    kl_diag_clear(&d);
}

/* Feed/fetch guesses beyond the defaults: node k alone as the fetch, and
 * node k as a feed (an internal tensor) with the sinks as fetches.  For an
 * unmutated small graph every node; otherwise `tries` random ones. */
static void try_guesses(const tf_model *m, const char *what, int tries, bool mutated)
{
    int n = tf_model_num_nodes(m);
    bool all = !mutated && n <= 64;
    for (int t = 0; t < (all ? n : tries); t++) {
        int k = all ? t : (int)(next_rand() % (unsigned)n);
        const char *name = tf_model_node_name(m, k);
        if (!name) continue;
        try_import(m, NULL, 0, &name, 1, what);
        try_import(m, &name, 1, NULL, 0, what);
    }
}

static void try_graph(const unsigned char *data, size_t n, const char *what, int guesses, bool mutated)
{
    kl_diag d = {0};
    tf_model *m;
    checked++;
    if (!tf_model_load_buffer(data, n, what, &m, &d)) {
        expect_message(&d, what);
        kl_diag_clear(&d);
        return;
    }
    try_import(m, NULL, 0, NULL, 0, what);
    try_guesses(m, what, guesses, mutated);
    tf_model_free(m);
    try_compile(data, n, what);
}

/* ONNX: model import with default feeds/fetches, and the tensor reader. */
static void try_onnx(const unsigned char *data, size_t n, const char *what)
{
    kl_diag d = {0};
    onnx_model *m;
    checked++;
    onnx_tensor t;
    if (onnx_tensor_load(data, n, what, &t, &d)) free(t.data);
    kl_diag_clear(&d);
    if (!onnx_model_load_buffer(data, n, what, &m, &d)) {
        expect_message(&d, what);
        kl_diag_clear(&d);
        return;
    }
    ir_graph *g = onnx_import(m, NULL, 0, NULL, 0, &d);
    if (!g) expect_message(&d, what);
    else if (!ir_verify(g, &d)) fprintf(stderr, "FAIL: %s imports to invalid IR: %s\n", what, d.text), bad++;
    bool imported = g != NULL;
    ir_graph_free(g);
    kl_diag_clear(&d);
    onnx_model_free(m);
    if (imported) try_compile(data, n, what);
}

static void try_ir_text(const unsigned char *data, size_t n, const char *what)
{
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = 0;
    kl_diag d = {0};
    checked++;
    ir_graph *g = ir_parse(text, what, &d);
    if (!g) expect_message(&d, what);
    ir_graph_free(g);
    kl_diag_clear(&d);
    free(text);
}

/* One to four edits of orig into buf (n + 64 bytes); returns the length. */
static size_t mutate(unsigned char *buf, const unsigned char *orig, size_t n)
{
    size_t len = n;
    memcpy(buf, orig, n);
    int edits = 1 + next_rand() % 4;
    for (int e = 0; e < edits && len; e++) {
        size_t at = next_rand() % len;
        switch (next_rand() % 5) {
        case 0: buf[at] ^= (unsigned char)(1u << (next_rand() % 8)); break;
        case 1: len = at; break;
        case 2: buf[at] = (unsigned char)next_rand(); break;
        case 3: if (len < n + 60) { memmove(buf + at + 1, buf + at, len - at); buf[at] = (unsigned char)next_rand(); len++; } break;
        case 4: memset(buf + at, 0xff, (len - at) < 8 ? len - at : 8); break;
        }
    }
    return len;
}

static void mutate_and_try(const unsigned char *orig, size_t n, const char *what, int count, int kind)
{
    unsigned char *buf = malloc(n + 64);
    for (int i = 0; i < count; i++) {
        size_t len = mutate(buf, orig, n);
        trace_input(buf, len);
        if (kind == 1) try_ir_text(buf, len, what);
        else if (kind == 2) try_onnx(buf, len, what);
        else try_graph(buf, len, what, next_rand() % 4 == 0, true);
    }
    free(buf);
}

typedef void (*file_fn)(const char *path, const char *name, int mutations);

static void each_file(const char *dir, const char *suffix, file_fn fn, int mutations)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), ls = strlen(suffix);
        if (l <= ls || strcmp(e->d_name + l - ls, suffix)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fn(path, e->d_name, mutations);
    }
    closedir(d);
}

static void graph_file(const char *path, const char *name, int mutations)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b) return;
    try_graph(b, n, name, 16, false);
    mutate_and_try(b, n, name, mutations, 0);
    free(b);
}

/* Broken ONNX models kept because they once broke the reader. */
static void onnx_file(const char *path, const char *name, int mutations)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b) return;
    try_onnx(b, n, name);
    free(b);
}

/* The broken ONNX models also seed mutations: each is one edit from a
 * model that reaches the importer's checks. */
static void onnx_mutated_file(const char *path, const char *name, int mutations)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b) return;
    mutate_and_try(b, n, name, mutations, 2);
    free(b);
}

static void npy_try(const char *path, const char *what)
{
    npy_array a;
    kl_diag d = {0};
    checked++;
    if (!npy_load(path, &a, &d)) expect_message(&d, what);
    else npy_free(&a);
    kl_diag_clear(&d);
}

/* npy_load reads a path, so each mutation goes through a scratch file. */
static void npy_file(const char *path, const char *name, int mutations)
{
    npy_try(path, name);
    size_t n;
    unsigned char *orig = mutations ? read_all(path, &n) : NULL;
    if (!orig) return;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/reader_asan_%d.npy", (int)getpid());
    unsigned char *buf = malloc(n + 64);
    for (int i = 0; i < mutations; i++) {
        size_t len = mutate(buf, orig, n);
        FILE *f = fopen(tmp, "wb");
        if (!f) break;
        fwrite(buf, 1, len, f);
        fclose(f);
        npy_try(tmp, name);
    }
    remove(tmp);
    free(buf);
    free(orig);
}

static void kir_file(const char *path, const char *name, int mutations)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b) return;
    try_ir_text(b, n, name);
    mutate_and_try(b, n, name, mutations, 1);
    free(b);
}

static void fixture_dir(const char *root, int mutations)
{
    DIR *d = opendir(root);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/model.pb", root, e->d_name);
        graph_file(path, e->d_name, mutations);
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        each_file(path, ".npy", npy_file, 0);
    }
    closedir(d);
}

/* A sample of the ONNX backend test models (Debian's libonnx-testdata). */
static void onnx_models(int mutations)
{
    static const char *const cases[] = {"node/test_add", "node/test_conv_with_strides_padding", "node/test_gemm_all_attributes",
                                        "node/test_reshape_reordered_all_dims", "node/test_slice", "node/test_softmax_example",
                                        "pytorch-converted/test_ConvTranspose2d", "simple/test_gradient_of_add",
                                        "node/test_layer_normalization_4d_axis0", "node/test_resize_upsample_scales_linear"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512];
        snprintf(path, sizeof path, "/usr/include/onnx/backend/test/data/%s/model.onnx", cases[i]);
        size_t n;
        unsigned char *b = read_all(path, &n);
        if (!b) continue;
        try_onnx(b, n, cases[i]);
        mutate_and_try(b, n, cases[i], mutations, 2);
        free(b);
        snprintf(path, sizeof path, "/usr/include/onnx/backend/test/data/%s/test_data_set_0/input_0.pb", cases[i]);
        if ((b = read_all(path, &n))) try_onnx(b, n, cases[i]), mutate_and_try(b, n, cases[i], mutations / 10, 2), free(b);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: reader_asan SOURCE_DIR [MUTATIONS]\n"), 2;
    int mutations = argc > 2 ? atoi(argv[2]) : 300;
    if (argc > 3) compiles_left = atoi(argv[3]);
    trace = getenv("READER_ASAN_TRACE");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/tests/corpus/bad_pb", argv[1]);
    each_file(dir, ".pb", graph_file, 0);
    snprintf(dir, sizeof dir, "%s/tests/corpus/bad_npy", argv[1]);
    each_file(dir, ".npy", npy_file, 0);
    snprintf(dir, sizeof dir, "%s/tests/corpus/bad_onnx", argv[1]);
    each_file(dir, ".onnx", onnx_file, 0);
    snprintf(dir, sizeof dir, "%s/tests/corpus/tf", argv[1]);
    each_file(dir, ".pb", graph_file, mutations);
    snprintf(dir, sizeof dir, "%s/samples/mlp", argv[1]);
    each_file(dir, ".npy", npy_file, mutations / 10);
    snprintf(dir, sizeof dir, "%s/tests/fixtures/mlp", argv[1]);
    each_file(dir, ".npy", npy_file, mutations / 10);
    snprintf(dir, sizeof dir, "%s/tests/fixtures", argv[1]);
    fixture_dir(dir, mutations);
    snprintf(dir, sizeof dir, "%s/tests/passes", argv[1]);
    each_file(dir, ".kir", kir_file, mutations);
    onnx_models(mutations);
    snprintf(dir, sizeof dir, "%s/tests/corpus/bad_onnx", argv[1]);
    each_file(dir, ".onnx", onnx_mutated_file, mutations / 10);
    printf("reader_asan: %d inputs checked, %d rejected with a message; %d compiled, %d refused by a pass or "
           "codegen with a message; %d problems\n", checked, rejected, compiled, compile_rejected, bad);
    return bad ? 1 : 0;
}
