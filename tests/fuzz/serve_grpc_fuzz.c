/* tests/fuzz/serve_grpc_fuzz.c — the gRPC request path of `kiln serve`
 * (serve/sv_pb.c: untrusted protobuf bytes -> checks -> the model call ->
 * the packed answer) for all five RPCs, against stub models: "mlp"
 * (x f32 [-1,4] -> y f32 [-1,3]) and "pair" (a, b f32 [-1,3] -> sum, prod)
 * as the test fixtures use them, "mixed" (int8, bool, float64, int64
 * inputs), "fixed" (uint8 [3,2], no batch dimension) and "lin" (float and
 * int32 feeds, a [-1,1] fetch for Regress and a labelled "scores" one for
 * Classify); every model has the label "stable".  Bytes that parse as JSON
 * also go through REST's :classify / :regress path (serve/sv_example.c:
 * the body -> the Input message -> sv_pb_infer -> {"results": ...}).  The model call
 * fills the outputs, so ASan sees every buffer size; a success must pack
 * an answer that parses back, an error must carry a message.
 *   libFuzzer: `cmake --build B --target fuzz_serve_grpc`, then
 *              `B/bin/fuzz_serve_grpc -runs=1000000 CORPUS tests/serve/grpc`
 *   ctest serve_grpc_asan: this file with -DSERVE_FUZZ_MAIN under ASan/UBSan
 *              runs the tests/serve/grpc .pb files and deterministic mutations of them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv_example.h"
#include "serve/sv_grpc.h"
#include "serving.pb-c.h"

/* ---- stubs of what sv_pb.c calls ------------------------------------------- */
size_t kiln_dtype_size(kiln_dtype t)
{
    static const size_t s[] = {4, 2, 8, 1, 2, 4, 8, 1, 1};
    return (unsigned)t < 9 ? s[t] : 0;
}
const char *kiln_dtype_name(kiln_dtype t)
{
    static const char *n[] = {"float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"};
    return (unsigned)t < 9 ? n[t] : "?";
}
char *sv_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s ? s : strdup("out of memory");
}
size_t sv_row_bytes(const sv_spec *s)
{
    size_t n = kiln_dtype_size(s->dtype);
    for (int i = s->dims[0] < 0 ? 1 : 0; i < s->rank; i++) n *= (size_t)s->dims[i];
    return n;
}
void sv_hist_add(sv_hist *h, double v) { h->total++; }

enum { N_MODELS = 5 };
static sv_model models[N_MODELS];
static sv_version versions[N_MODELS];
static int refs;

sv_model *sv_find_model(sv_server *s, const char *name)
{
    for (int i = 0; i < N_MODELS; i++)
        if (!strcmp(models[i].name, name)) return &models[i];
    return NULL;
}
bool sv_label_version(const sv_model *m, const char *label, int64_t *version)
{
    if (strcmp(label, "stable")) return false; /* every stub model has one label, "stable", of its version */
    *version = m->status[0].version;
    return true;
}
sv_version *sv_acquire(sv_model *m, int64_t version, int *http, char *err, size_t errlen)
{
    int i = (int)(m - models);
    if (version >= 0 && version != versions[i].version) {
        *http = 404;
        snprintf(err, errlen, "no version %lld", (long long)version);
        return NULL;
    }
    refs++;
    return &versions[i];
}
void sv_release(sv_version *v) { refs--; }
char *sv_run_rows(sv_version *v, int64_t rows, const void *const *in, void *const *out, int64_t *batches_run)
{
    if (rows < 1) abort();
    size_t sum = 0;
    for (int i = 0; i < v->n_feeds; i++) /* every input byte is readable */
        for (size_t k = 0; k < (size_t)rows * sv_row_bytes(&v->feeds[i]); k++) sum += ((const uint8_t *)in[i])[k];
    for (int i = 0; i < v->n_fetches; i++) memset(out[i], (int)(sum & 0x3f), (size_t)rows * sv_row_bytes(&v->fetches[i]));
    return NULL;
}
char *sv_batcher_run(sv_batcher *b, int64_t rows, const void *const *in, void *const *out, bool *queue_full)
{
    abort(); /* no version here has a batcher */
}
void sv_batcher_enter(sv_batcher *b) { abort(); }

static void setup(void)
{
    static bool done;
    if (done) return;
    done = true;
    static const char *names[N_MODELS] = {"mlp", "pair", "mixed", "fixed", "lin"};
    for (int i = 0; i < N_MODELS; i++) {
        models[i].name = (char *)names[i];
        pthread_mutex_init(&models[i].mu, NULL);
        models[i].n_status = 1;
        models[i].status[0] = (sv_vstatus){.version = i + 1, .state = SV_AVAILABLE, .v = &versions[i]};
        versions[i].version = i + 1;
        versions[i].owner = &models[i];
        versions[i].batched = i != 3;
    }
    sv_version *v = &versions[0];
    v->n_feeds = 1, v->feeds[0] = (sv_spec){"x", "x", KILN_F32, 2, {-1, 4}};
    v->n_fetches = 1, v->fetches[0] = (sv_spec){"y", "y", KILN_F32, 2, {-1, 3}};
    v = &versions[1];
    v->n_feeds = 2, v->feeds[0] = (sv_spec){"a", "a", KILN_F32, 2, {-1, 3}}, v->feeds[1] = (sv_spec){"b", "b", KILN_F32, 2, {-1, 3}};
    v->n_fetches = 2, v->fetches[0] = (sv_spec){"sum", "sum", KILN_F32, 2, {-1, 3}};
    v->fetches[1] = (sv_spec){"prod", "prod", KILN_F32, 2, {-1, 3}};
    v = &versions[2];
    v->n_feeds = 4, v->feeds[0] = (sv_spec){"k", "x", KILN_I8, 2, {-1, 2}}, v->feeds[1] = (sv_spec){"b", "b", KILN_BOOL, 1, {-1}};
    v->feeds[2] = (sv_spec){"d", "d", KILN_F64, 3, {-1, 1, 2}}, v->feeds[3] = (sv_spec){"i", "i", KILN_I64, 1, {-1}};
    v->n_fetches = 1, v->fetches[0] = (sv_spec){"y", "y", KILN_I16, 2, {-1, 2}};
    v = &versions[3];
    v->n_feeds = 1, v->feeds[0] = (sv_spec){"x", "x", KILN_U8, 2, {3, 2}};
    v->n_fetches = 1, v->fetches[0] = (sv_spec){"y", "y", KILN_F64, 2, {3, 1}};
    v = &versions[4]; /* Regress: x f32 [-1,4], k int32 [-1] -> y f64 [-1,1]; Classify's scores: s f32 [-1,2], labelled */
    v->n_feeds = 2, v->feeds[0] = (sv_spec){"x", "x", KILN_F32, 2, {-1, 4}}, v->feeds[1] = (sv_spec){"k", "k", KILN_I32, 1, {-1}};
    v->n_fetches = 2, v->fetches[0] = (sv_spec){"y", "y", KILN_F64, 2, {-1, 1}};
    v->fetches[1] = (sv_spec){"s", "scores", KILN_F32, 2, {-1, 2}};
    static char *labels[] = {"no", "yes"};
    v->n_classes = 2, v->classes = labels;
}

/* REST's :classify / :regress of a JSON body against every stub model. */
static void rest_infer(sv_server *s, const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!j) return;
    for (int k = 0; k < 2 * N_MODELS; k++) {
        bool classify = k & 1;
        sv_arena a = {0};
        Kiln__Serving__Input in;
        const char *sig;
        char *e = sv_json_input(j, &a, &in, &sig);
        if (e) {
            if (!*e) abort();
            free(e);
            sv_arena_free(&a);
            break; /* the same error for every model */
        }
        Kiln__Serving__ModelSpec ms;
        kiln__serving__model_spec__init(&ms);
        ms.name = models[k / 2].name, ms.signature_name = (char *)sig;
        sv_infer r;
        char *msg = NULL;
        int code = sv_pb_infer(s, classify, &ms, &in, &r, &msg);
        if (refs) abort();
        if (code == SV_G_OK) {
            json_t *o = sv_infer_json(&r, classify);
            if (msg || !o || json_array_size(json_object_get(o, "results")) != (size_t)r.rows) abort();
            json_decref(o);
            sv_infer_free(&r);
        } else if (!msg || !*msg || r.values) {
            abort();
        }
        free(msg);
        sv_arena_free(&a);
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    sv_server s = {.max_body = 1 << 20};
    rest_infer(&s, data, size);
    for (int rpc = 0; rpc < SV_N_RPC; rpc++) {
        uint8_t *resp;
        size_t n;
        char *msg;
        int code = sv_pb_call(&s, (enum sv_rpc)rpc, data, size, &resp, &n, &msg);
        if (refs) abort(); /* a version reference leaked */
        if (code == SV_G_OK) {
            if (!resp || msg) abort();
            const ProtobufCMessageDescriptor *d = rpc == SV_RPC_PREDICT    ? &kiln__serving__predict_response__descriptor
                                                  : rpc == SV_RPC_METADATA ? &kiln__serving__get_model_metadata_response__descriptor
                                                  : rpc == SV_RPC_STATUS   ? &kiln__serving__get_model_status_response__descriptor
                                                  : rpc == SV_RPC_CLASSIFY ? &kiln__serving__classification_response__descriptor
                                                                           : &kiln__serving__regression_response__descriptor;
            ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, resp);
            if (!m) abort(); /* an answer that does not parse */
            protobuf_c_message_free_unpacked(m, NULL);
        } else if (!msg || !*msg || resp) {
            abort();
        }
        free(resp);
        free(msg);
    }
    return 0;
}

#ifdef SERVE_FUZZ_MAIN
/* The fixtures, then deterministic mutations of them: byte flips, inserted
 * varints and tags, truncations, splices. */
int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/serve/grpc";
    long iters = argc > 2 ? atol(argv[2]) : 200000;
    enum { MAX_SEEDS = 256, MAX_LEN = 8192 };
    static uint8_t seed[MAX_SEEDS][MAX_LEN];
    size_t len[MAX_SEEDS], ns = 0;
    DIR *d = opendir(dir);
    if (!d) return fprintf(stderr, "serve_grpc_fuzz: cannot open %s\n", dir), 1;
    for (struct dirent *e; (e = readdir(d)) && ns < MAX_SEEDS;) {
        size_t nl = strlen(e->d_name);
        if (nl < 4 || strcmp(e->d_name + nl - 3, ".pb")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        len[ns] = fread(seed[ns], 1, MAX_LEN, f);
        fclose(f);
        LLVMFuzzerTestOneInput(seed[ns], len[ns]);
        ns++;
    }
    closedir(d);
    static const char *const bodies[] = { /* REST :classify / :regress bodies */
        "{\"examples\": [{\"x\": [1, 2, 3, 4], \"k\": 3}, {\"x\": [0.5, -1, 2e3, 4], \"k\": -7}]}",
        "{\"signature_name\": \"serving_default\", \"context\": {\"k\": 1, \"b\": [1]}, \"examples\": [{\"x\": [1, 2, 3, 4]}]}",
        "{\"examples\": [{\"a\": [1, 2, 3], \"b\": [4.5, 5, 6], \"d\": [1, 2], \"i\": 9, \"x\": [1, 2]}]}",
        "{\"examples\": [{\"x\": [\"a\", {\"b64\": \"AAAA\"}]}, {\"x\": [[1], 2]}], \"context\": []}",
    };
    for (size_t b = 0; b < sizeof bodies / sizeof *bodies && ns < MAX_SEEDS; b++, ns++) {
        len[ns] = strlen(bodies[b]);
        memcpy(seed[ns], bodies[b], len[ns]);
        LLVMFuzzerTestOneInput(seed[ns], len[ns]);
    }
    if (!ns) return fprintf(stderr, "serve_grpc_fuzz: no .pb seeds in %s\n", dir), 1;
    static uint8_t buf[2 * MAX_LEN];
    uint64_t st = 88172645463325252ull;
    for (long it = 0; it < iters; it++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        size_t k = st % ns, n = len[k];
        memcpy(buf, seed[k], n);
        int muts = 1 + (int)((st >> 8) % 4);
        for (int m = 0; m < muts; m++) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            size_t at = n ? (st >> 16) % n : 0;
            static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x10, 0x12, 0x1a, 0x22, 0x0a, 0x2a,
                                                  '[', ']', '{', '}', ',', '"', '1', '.', 'e', '-'};
            switch ((st >> 4) % 6) {
            case 0: if (n) buf[at] = (uint8_t)(st >> 24); break;
            case 1: if (n) buf[at] = interesting[(st >> 32) % sizeof interesting]; break;
            case 2: if (n + 1 < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = interesting[(st >> 40) % sizeof interesting]; n++; } break;
            case 3: n = at; break;
            case 4: if (n) buf[at] ^= (uint8_t)(1u << ((st >> 28) % 8)); break;
            case 5: { size_t o = (st >> 48) % ns, from = len[o] ? (st >> 20) % len[o] : 0, c = len[o] - from;
                      if (at + c < sizeof buf) { memcpy(buf + at, seed[o] + from, c); n = at + c; } break; }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("serve_grpc_fuzz: %ld mutated inputs and %zu seeds, no crash\n", iters, ns);
    return 0;
}
#endif
