/* api/kiln.c — the library behind include/kiln/kiln.h.
 *
 * The only place that knows every layer: it reads the model (frontend),
 * runs the pipeline (passes) and hands the planned graph to codegen.  It
 * turns kl_diag messages into kiln_status values for the caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/codegen.h"
#include "frontend/onnx/onnx.h"
#include "frontend/tf/tf.h"
#include "kiln/kiln.h"
#include "passes/passes.h"

_Static_assert((int)KILN_F32 == (int)KL_F32 && (int)KILN_BOOL == (int)KL_BOOL && KL_DTYPE_COUNT == 9,
               "kiln_dtype must mirror kl_dtype");

struct kiln_status {
    kiln_code code;
    char *message;
};

/* One of the frontends' models; the format is detected from the content. */
struct kiln_model {
    tf_model *tf;
    onnx_model *onnx;
};

struct kiln_program {
    cg_jit *jit;
    cg_entry_fn entry;
    int n_feeds, n_fetches;
    kiln_tensor_info *info; /* feeds then fetches */
    int64_t *dims;
    char **names;
    void *temp;
    size_t temp_size;
};

/* ---- status ------------------------------------------------------------- */

static kiln_status *status_new(kiln_code code, const char *msg)
{
    kiln_status *st = malloc(sizeof *st);
    if (!st) return NULL; /* out of memory while failing: nothing better to do */
    st->code = code;
    st->message = strdup(msg && *msg ? msg : "unknown error");
    return st;
}

static kiln_status *status_from_diag(kiln_code code, kl_diag *d)
{
    kiln_status *st = status_new(code, d->text);
    kl_diag_clear(d);
    return st;
}

kiln_code kiln_status_code(const kiln_status *st) { return st ? st->code : KILN_OK; }
const char *kiln_status_message(const kiln_status *st) { return st ? st->message : "ok"; }

void kiln_status_free(kiln_status *st)
{
    if (!st) return;
    free(st->message);
    free(st);
}

const char *kiln_dtype_name(kiln_dtype t) { return kl_dtype_name((kl_dtype)t); }
size_t kiln_dtype_size(kiln_dtype t) { return kl_dtype_size((kl_dtype)t); }

/* ---- models ------------------------------------------------------------- */

static unsigned char *read_file(const char *path, size_t *size, kl_diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        kl_diag_error(d, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            unsigned char *b = cap < ((size_t)4 << 30) ? realloc(buf, cap *= 2) : NULL;
            if (!b) free(buf);
            buf = b;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        kl_diag_error(d, "%s: cannot read the file", path);
        return NULL;
    }
    *size = len;
    return buf;
}

kiln_status *kiln_model_load(const char *path, kiln_model **out)
{
    kl_diag d = {0};
    size_t size = 0;
    *out = NULL;
    unsigned char *data = read_file(path, &size, &d);
    if (!data) return status_from_diag(KILN_ERR_IO, &d);
    kiln_status *st = kiln_model_load_buffer(data, size, path, out);
    free(data);
    return st;
}

kiln_status *kiln_model_load_buffer(const void *data, size_t size, const char *name, kiln_model **out)
{
    kl_diag d = {0};
    *out = NULL;
    name = name ? name : "<buffer>";
    kiln_model *m = calloc(1, sizeof *m);
    bool ok = onnx_is_model(data, size) ? onnx_model_load_buffer(data, size, name, &m->onnx, &d)
                                        : tf_model_load_buffer(data, size, name, &m->tf, &d);
    if (!ok) {
        free(m);
        return status_from_diag(KILN_ERR_PARSE, &d);
    }
    *out = m;
    return NULL;
}

void kiln_model_free(kiln_model *m)
{
    if (!m) return;
    tf_model_free(m->tf);
    onnx_model_free(m->onnx);
    free(m);
}

kiln_status *kiln_model_bind(kiln_model *m, const char *feed, kiln_dtype dtype, int rank, const int64_t *dims,
                             const void *data)
{
    kl_diag d = {0};
    if (!m->onnx) return status_new(KILN_ERR_INVALID, "kiln_model_bind: binding feeds is supported for ONNX models");
    if (rank < 0 || rank > IR_MAX_RANK || (unsigned)dtype >= KL_DTYPE_COUNT)
        return status_new(KILN_ERR_INVALID, "kiln_model_bind: bad dtype or rank");
    if (!onnx_model_bind(m->onnx, feed, ir_type_make((kl_dtype)dtype, rank, dims), data, &d)) return status_from_diag(KILN_ERR_INVALID, &d);
    return NULL;
}

void kiln_options_init(kiln_options *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
    o->threads = 1;
    o->target_cpu = "native";
    o->prefix = "kiln_model";
#ifndef NDEBUG
    o->verify = 1;
#endif
}

/* ---- compilation -------------------------------------------------------- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static kiln_code import_code(const kl_diag *d)
{
    return d->text && strstr(d->text, "unsupported") ? KILN_ERR_UNSUPPORTED : KILN_ERR_INVALID;
}

/* Import and optimize: the planned graph codegen wants, or a status. */
static kiln_status *plan_graph(kiln_model *m, const kiln_options *o, const char *cpu, ir_graph **out, double *seconds)
{
    kl_diag d = {0};
    double t0 = now();
    *out = NULL;
    if (o->dump_after && strcmp(o->dump_after, "all") && strcmp(o->dump_after, "import") && !pass_by_name(o->dump_after)) {
        kl_diag_error(&d, "unknown pass '%s' to dump after (all, import, %s)", o->dump_after, pass_names());
        return status_from_diag(KILN_ERR_INVALID, &d);
    }
    ir_graph *g = m->onnx ? onnx_import(m->onnx, o->feeds, o->n_feeds, o->fetches, o->n_fetches, &d)
                          : tf_import(m->tf, o->feeds, o->n_feeds, o->fetches, o->n_fetches, &d);
    if (!g) return status_from_diag(import_code(&d), &d);
    double t_import = now() - t0;
    if (o->time_file) fprintf(o->time_file, "  %-10s %8.3f ms\n", "import", t_import * 1e3);
    if (o->dump_after && (!strcmp(o->dump_after, "all") || !strcmp(o->dump_after, "import"))) {
        FILE *f = o->dump_file ? o->dump_file : stdout;
        fprintf(f, "// ---- after import\n");
        ir_print(g, f, 0);
    }
    pass_ctx ctx = {
        .diag = &d,
        .opt_level = o->opt_level,
        .dump_after = o->dump_after,
        .dump_file = o->dump_file,
        .time_file = o->time_file,
        .verify_each = o->verify != 0,
        .vector_floats = cg_target_vector_floats(cpu, o->target_features),
    };
    if (!pass_run_pipeline(g, &ctx)) {
        ir_graph_free(g);
        return status_from_diag(import_code(&d), &d);
    }
    if (seconds) *seconds = now() - t0;
    *out = g;
    return NULL;
}

static cg_options cg_opts(const kiln_options *o, ir_graph *g)
{
    return (cg_options){
        .prefix = o->prefix ? o->prefix : "kiln_model",
        .cpu = o->target_cpu ? o->target_cpu : "native",
        .features = o->target_features,
        .opt_level = o->opt_level,
        .threads = o->threads < 1 ? 1 : o->threads,
        .source = g->source,
    };
}

static void report_codegen_times(const kiln_options *o, const cg_stats *st)
{
    if (!o->time_file) return;
    fprintf(o->time_file, "  %-10s %8.3f ms\n", "llvm-ir", st->seconds_ir * 1e3);
    fprintf(o->time_file, "  %-10s %8.3f ms\n", "llvm-opt", st->seconds_opt * 1e3);
    fprintf(o->time_file, "  %-10s %8.3f ms\n", "llvm-emit", st->seconds_emit * 1e3);
}

kiln_status *kiln_compile_object(kiln_model *m, const kiln_options *o, const char *object_path,
                                 const char *header_path, kiln_compile_info *info)
{
    double t0 = now();
    ir_graph *g;
    kiln_status *st = plan_graph(m, o, o->target_cpu, &g, NULL);
    if (st) return st;
    kl_diag d = {0};
    cg_options co = cg_opts(o, g);
    cg_stats cs = {0};
    bool ok = cg_emit_object(g, &co, object_path, &cs, &d) && (!header_path || cg_emit_header(g, &co, header_path, &d));
    report_codegen_times(o, &cs);
    if (ok && info) {
        *info = (kiln_compile_info){
            .temp_size = g->temp_size,
            .const_bytes = cs.const_bytes,
            .object_bytes = cs.object_bytes,
            .n_kernels = cs.n_kernels,
            .compile_seconds = now() - t0,
        };
    }
    ir_graph_free(g);
    return ok ? NULL : status_from_diag(KILN_ERR_BACKEND, &d);
}

/* ---- JIT ---------------------------------------------------------------- */

static void fill_info(kiln_program *p, int i, const char *name, const ir_type *t)
{
    p->names[i] = strdup(name ? name : "");
    memcpy(p->dims + (size_t)i * IR_MAX_RANK, t->dims, sizeof(int64_t) * (size_t)t->rank);
    p->info[i] = (kiln_tensor_info){
        .name = p->names[i],
        .dtype = (kiln_dtype)t->dtype,
        .rank = t->rank,
        .dims = p->dims + (size_t)i * IR_MAX_RANK,
        .bytes = ir_type_bytes(t),
    };
}

static kiln_program *program_new(const ir_graph *g)
{
    kiln_program *p = calloc(1, sizeof *p);
    int n = g->n_params + g->n_results;
    p->n_feeds = g->n_params;
    p->n_fetches = g->n_results;
    p->info = calloc((size_t)n + 1, sizeof *p->info);
    p->dims = calloc((size_t)n * IR_MAX_RANK + 1, sizeof *p->dims);
    p->names = calloc((size_t)n + 1, sizeof *p->names);
    for (int i = 0; i < g->n_params; i++) fill_info(p, i, g->param_names[i], &g->params[i]->type);
    for (int i = 0; i < g->n_results; i++) fill_info(p, g->n_params + i, g->results[i].name, &g->results[i].node->type);
    p->temp_size = (size_t)g->temp_size;
    p->temp = p->temp_size ? aligned_alloc(64, (p->temp_size + 63) & ~(size_t)63) : NULL;
    return p;
}

kiln_status *kiln_jit(kiln_model *m, const kiln_options *o, kiln_program **out)
{
    ir_graph *g;
    *out = NULL;
    kiln_status *st = plan_graph(m, o, "native", &g, NULL);
    if (st) return st;
    kl_diag d = {0};
    kiln_options jo = *o;
    cg_options co = cg_opts(&jo, g);
    co.cpu = "native"; /* the JIT runs here */
    cg_stats cs = {0};
    cg_jit *jit;
    if (!cg_jit_compile(g, &co, &jit, &cs, &d)) {
        ir_graph_free(g);
        return status_from_diag(KILN_ERR_BACKEND, &d);
    }
    report_codegen_times(o, &cs);
    kiln_program *p = program_new(g);
    p->jit = jit;
    p->entry = cg_jit_entry(jit);
    ir_graph_free(g);
    *out = p;
    return NULL;
}

int kiln_program_num_feeds(const kiln_program *p) { return p->n_feeds; }
int kiln_program_num_fetches(const kiln_program *p) { return p->n_fetches; }
kiln_tensor_info kiln_program_feed(const kiln_program *p, int i) { return p->info[i]; }
kiln_tensor_info kiln_program_fetch(const kiln_program *p, int i) { return p->info[p->n_feeds + i]; }
size_t kiln_program_temp_size(const kiln_program *p) { return p->temp_size; }

kiln_status *kiln_program_run(kiln_program *p, const void *const *feeds, void *const *fetches, void *temp)
{
    void *args[p->n_feeds + p->n_fetches + 1]; /* local: runs with their own temp may overlap */
    for (int i = 0; i < p->n_feeds; i++) {
        if (!feeds || !feeds[i]) return status_new(KILN_ERR_INVALID, "kiln_program_run: a feed buffer is NULL");
        args[i] = (void *)feeds[i];
    }
    for (int i = 0; i < p->n_fetches; i++) {
        if (!fetches || !fetches[i]) return status_new(KILN_ERR_INVALID, "kiln_program_run: a fetch buffer is NULL");
        args[p->n_feeds + i] = fetches[i];
    }
    if (temp && ((uintptr_t)temp & 63))
        return status_new(KILN_ERR_INVALID, "kiln_program_run: temp must be 64-byte aligned");
    p->entry(args, temp ? temp : p->temp);
    return NULL;
}

void kiln_program_free(kiln_program *p)
{
    if (!p) return;
    cg_jit_free(p->jit);
    for (int i = 0; i < p->n_feeds + p->n_fetches; i++) free(p->names[i]);
    free(p->names);
    free(p->info);
    free(p->dims);
    free(p->temp);
    free(p);
}
