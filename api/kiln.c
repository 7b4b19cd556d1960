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
#include "internal.h"
#include "kiln/dist.h"
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

/* struct kiln_program: api/internal.h (api/shared.c builds one from a shared object) */

/* ---- status ------------------------------------------------------------- */

/* Returned when even the status cannot be allocated: NULL would read as
 * success.  kiln_status_free leaves it alone. */
static kiln_status no_memory = {KILN_ERR_NOMEM, "out of memory"};

static kiln_status *status_new(kiln_code code, const char *msg)
{
    kiln_status *st = malloc(sizeof *st);
    char *text = strdup(msg && *msg ? msg : "unknown error");
    if (!st || !text) {
        free(st);
        free(text);
        return &no_memory;
    }
    st->code = code;
    st->message = text;
    return st;
}

static kiln_status *status_from_diag(kiln_code code, kl_diag *d)
{
    kiln_status *st = status_new(code, d->text);
    kl_diag_clear(d);
    return st;
}

kiln_status *api_status_new(kiln_code code, const char *msg) { return status_new(code, msg); }

kiln_code kiln_status_code(const kiln_status *st) { return st ? st->code : KILN_OK; }
const char *kiln_status_message(const kiln_status *st) { return st ? st->message : "ok"; }

void kiln_status_free(kiln_status *st)
{
    if (!st || st == &no_memory) return;
    free(st->message);
    free(st);
}

const char *kiln_dtype_name(kiln_dtype t) { return kl_dtype_name((kl_dtype)t); }

const char *kiln_version(void) { return KILN_VERSION; }
void kiln_llvm_version(unsigned *major, unsigned *minor, unsigned *patch) { cg_llvm_version(major, minor, patch); }
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
    unsigned char *buf = kl_malloc(d, cap, "the model file");
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len < cap) continue;
        unsigned char *b = cap < ((size_t)4 << 30) ? kl_realloc(d, buf, cap *= 2, 1, "the model file") : NULL;
        if (!b) free(buf);
        buf = b;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        bool too_big = !buf && kl_diag_ok(d); /* else the allocator has said why */
        free(buf);
        kl_diag_error(d, "%s: cannot read the file%s", path, too_big ? " (larger than 4 GiB)" : "");
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
    kiln_model *m = kl_calloc(&d, 1, sizeof *m, "the model");
    if (!m) return status_from_diag(KILN_ERR_NOMEM, &d);
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
static kiln_status *plan_graph(kiln_model *m, const kiln_options *o, const char *target, const char *cpu, ir_graph **out,
                               double *seconds)
{
    return api_plan_graph(m, o, target, cpu, NULL, out, seconds);
}

static const char *model_device(void *tf, const char *name) { return tf_model_node_device(tf, name); }

kiln_status *api_plan_graph(kiln_model *m, const kiln_options *o, const char *target, const char *cpu,
                            const char *stop_after, ir_graph **out, double *seconds)
{
    kl_diag d = {0};
    double t0 = now();
    *out = NULL;
    if (o->dump_after && strcmp(o->dump_after, "all") && strcmp(o->dump_after, "import") && !pass_by_name(o->dump_after)) {
        kl_diag_error(&d, "unknown pass '%s' to dump after (all, import, %s)", o->dump_after, pass_names());
        return status_from_diag(KILN_ERR_INVALID, &d);
    }
    if (o->optimize_size && cg_target_is_device(target)) {
        kl_diag_error(&d, "-Os (shared kernels) is for CPU and firmware targets, not %s", target);
        return status_from_diag(KILN_ERR_INVALID, &d);
    }
    if (m->onnx && o->n_targets) {
        kl_diag_error(&d, "targets are for TensorFlow graphs");
        return status_from_diag(KILN_ERR_INVALID, &d);
    }
    tf_pin pins[o->n_feed_shapes > 0 ? o->n_feed_shapes : 1];
    for (int i = 0; i < o->n_feed_shapes; i++)
        pins[i] = (tf_pin){o->feed_shapes[i].name, o->feed_shapes[i].rank, o->feed_shapes[i].dims};
    tf_entry e = {o->feeds, o->n_feeds, o->fetches, o->n_fetches, o->targets, o->n_targets, pins, o->n_feed_shapes,
                  o->dist_data_parallel, o->dist_gradient_sum != 0};
    onnx_pin opins[o->n_feed_shapes > 0 ? o->n_feed_shapes : 1];
    for (int i = 0; i < o->n_feed_shapes; i++)
        opins[i] = (onnx_pin){o->feed_shapes[i].name, o->feed_shapes[i].rank, o->feed_shapes[i].dims};
    ir_graph *g = m->onnx ? onnx_import_pinned(m->onnx, o->feeds, o->n_feeds, o->fetches, o->n_fetches, opins,
                                               o->n_feed_shapes, &d)
                          : tf_import_entry(m->tf, &e, &d);
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
        .size = o->optimize_size != 0 && o->opt_level >= 1,
        .dump_after = o->dump_after,
        .dump_file = o->dump_file,
        .time_file = o->time_file,
        .verify_each = o->verify != 0,
        .stop_after = stop_after,
        .progress = o->progress,
        .progress_user = o->progress_user,
        .allreduce_bucket_bytes = o->dist_allreduce_bucket_bytes,
    };
    if (stop_after && !pass_by_name(stop_after)) {
        ir_graph_free(g);
        kl_diag_error(&d, "unknown pass '%s' (%s)", stop_after, pass_names());
        return status_from_diag(KILN_ERR_INVALID, &d);
    }
    pass_placement place = {
        .n_tasks = o->dist_tasks, .task = o->dist_task, .split = o->dist_split, .rules = o->dist_place,
        .n_rules = o->n_dist_place, .device_of = m->tf ? model_device : NULL, .device_ctx = m->tf,
        .fetch_task = o->dist_fetch_last && o->dist_tasks > 0 ? o->dist_tasks - 1 : 0,
    };
    if (o->dist_tasks > 0) ctx.partition = &place;
    bool freestanding;
    if (!cg_target_plan(target, cpu, o->target_features, &ctx.vector_floats, &ctx.vector_regs, &freestanding, &d)) {
        ir_graph_free(g);
        return status_from_diag(KILN_ERR_INVALID, &d);
    }
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
        .target = o->target,
        .cpu = o->target_cpu ? o->target_cpu : "native",
        .features = o->target_features,
        .opt_level = o->opt_level,
        .size = o->optimize_size != 0 && o->opt_level >= 1,
        .threads = o->threads < 1 ? 1 : o->threads,
        .source = g->source,
        .profile = o->profile != 0,
        .progress = o->progress,
        .progress_user = o->progress_user,
    };
}

static void report_codegen_times(const kiln_options *o, const cg_stats *st)
{
    if (!o->time_file) return;
    fprintf(o->time_file, "  %-10s %8.3f ms\n", "llvm-ir", st->seconds_ir * 1e3);
    fprintf(o->time_file, "  %-10s %8.3f ms\n", "llvm-opt", st->seconds_opt * 1e3);
    fprintf(o->time_file, "  %-10s %8.3f ms\n", "llvm-emit", st->seconds_emit * 1e3);
}

kiln_status *api_compile_object(kiln_model *m, const kiln_options *o, const char *object_path, const char *header_path,
                                kiln_compile_info *info, char **meta)
{
    double t0 = now();
    ir_graph *g;
    kiln_status *st = plan_graph(m, o, o->target, o->target_cpu, &g, NULL);
    if (st) return st;
    kl_diag d = {0};
    cg_options co = cg_opts(o, g);
    cg_stats cs = {0};
    bool ok = cg_target_is_device(o->target) /* codegen/gpu.c: its own object and header (docs/gpu.md) */
                  ? cg_emit_cuda(g, &co, object_path, header_path, &cs, &d)
                  : cg_emit_object(g, &co, object_path, &cs, &d) && (!header_path || cg_emit_header(g, &co, &cs, header_path, &d));
    report_codegen_times(o, &cs);
    if (ok && info) {
        *info = (kiln_compile_info){
            .temp_size = g->temp_size,
            .const_bytes = cs.const_bytes,
            .object_bytes = cs.object_bytes,
            .n_kernels = cs.n_kernels,
            .compile_seconds = now() - t0,
            .threads = co.threads,
            .n_split_kernels = cs.n_split_kernels,
            .max_work_ns = cs.max_work_ns,
            .split_chunk_ns = cg_split_chunk_ns(),
        };
    }
    if (ok && meta && !(*meta = api_shared_meta(g, &co, &d))) ok = false;
    ir_graph_free(g);
    return ok ? NULL : status_from_diag(KILN_ERR_BACKEND, &d);
}

static bool state_layout(kiln_program *p, const kiln_model *m, kl_diag *d);

static kiln_status *compile_entries(kiln_model *m, const kiln_options *o, const kiln_entry *entries, int n_entries,
                                    const char *object_path, const char *header_path, kiln_compile_info *info)
{
    double t0 = now();
    if (n_entries < 1 || n_entries > 64) return status_new(KILN_ERR_INVALID, "kiln_compile_entries: 1 to 64 entries");
    if (cg_target_is_device(o->target))
        return status_new(KILN_ERR_UNSUPPORTED, "--entry: several entries are not yet on cuda (docs/gpu.md)");
    if (o->profile) return status_new(KILN_ERR_UNSUPPORTED, "--profile: not yet with --entry (one entry point only)");
    ir_graph *gs[64] = {0};
    cg_options cos[64];
    char prefixes[64][128];
    const char *names[64];
    kiln_status *st = NULL;
    kl_diag d = {0};
    kiln_program *layout = kl_calloc(&d, 1, sizeof *layout, "the state table");
    if (!layout || !state_layout(layout, m, &d)) st = status_from_diag(KILN_ERR_INVALID, &d);
    for (int i = 0; !st && i < n_entries; i++) {
        kiln_options eo = *o;
        const kiln_entry *e = &entries[i];
        eo.feeds = e->feeds, eo.n_feeds = e->n_feeds, eo.fetches = e->fetches, eo.n_fetches = e->n_fetches;
        eo.targets = e->targets, eo.n_targets = e->n_targets;
        snprintf(prefixes[i], sizeof prefixes[i], "%s_%s", o->prefix ? o->prefix : "kiln_model", e->name ? e->name : "");
        names[i] = e->name ? e->name : "";
        for (int j = 0; j < i && !st; j++)
            if (!strcmp(names[j], names[i])) st = status_new(KILN_ERR_INVALID, "kiln_compile_entries: two entries of one name");
        if (st || (st = plan_graph(m, &eo, o->target, o->target_cpu, &gs[i], NULL))) break;
        cos[i] = cg_opts(&eo, gs[i]);
        cos[i].prefix = prefixes[i];
    }
    cg_stats cs = {0};
    if (!st) {
        cg_state_var vars[layout->n_vars + 1];
        for (int v = 0; v < layout->n_vars; v++) {
            const kiln_variable_info *vi = &layout->vars[v];
            vars[v] = (cg_state_var){vi->name, ir_type_make((kl_dtype)vi->dtype, vi->rank, vi->dims), (int64_t)vi->offset,
                                     (int64_t)vi->flag_offset};
        }
        bool ok = cg_emit_object_multi((const ir_graph *const *)gs, cos, n_entries, object_path, &cs, &d) &&
                  (!header_path || cg_emit_entries_header((const ir_graph *const *)gs, cos, names, n_entries,
                                                          o->prefix ? o->prefix : "kiln_model", vars, layout->n_vars,
                                                          (int64_t)layout->state_size,
                                                          cs.has_undefined ? cs.undefined : NULL, header_path, &d));
        if (!ok) st = status_from_diag(KILN_ERR_BACKEND, &d);
    }
    if (!st && info) {
        int64_t temp = 0;
        for (int i = 0; i < n_entries; i++) temp = gs[i]->temp_size > temp ? gs[i]->temp_size : temp;
        *info = (kiln_compile_info){.temp_size = temp, .const_bytes = cs.const_bytes, .object_bytes = cs.object_bytes,
                                    .n_kernels = cs.n_kernels, .compile_seconds = now() - t0,
                                    .threads = cos[0].threads, .n_split_kernels = cs.n_split_kernels,
                                    .max_work_ns = cs.max_work_ns, .split_chunk_ns = cg_split_chunk_ns()};
    }
    for (int i = 0; i < n_entries; i++) ir_graph_free(gs[i]);
    kiln_program_free(layout);
    return st;
}

/* ---- JIT ---------------------------------------------------------------- */

static bool fill_info(kiln_program *p, int i, const char *name, const ir_type *t, kl_diag *d)
{
    if (!(p->names[i] = kl_strdup(d, name ? name : ""))) return false;
    memcpy(p->dims + (size_t)i * IR_MAX_RANK, t->dims, sizeof(int64_t) * (size_t)t->rank);
    p->info[i] = (kiln_tensor_info){
        .name = p->names[i],
        .dtype = (kiln_dtype)t->dtype,
        .rank = t->rank,
        .dims = p->dims + (size_t)i * IR_MAX_RANK,
        .bytes = ir_type_bytes(t),
    };
    return true;
}

/* The state layout: each variable's bytes 64-byte aligned in GraphDef
 * order, then one uint32 "initialized" word per variable. */
static bool state_layout(kiln_program *p, const kiln_model *m, kl_diag *d)
{
    int nv = m->tf ? tf_model_num_variables(m->tf) : 0;
    if (nv == 0) return true;
    p->vars = kl_calloc(d, (size_t)nv, sizeof *p->vars, "the state table");
    p->var_dims = kl_calloc(d, (size_t)nv * IR_MAX_RANK, sizeof *p->var_dims, "the state table");
    p->var_names = kl_calloc(d, (size_t)nv, sizeof *p->var_names, "the state table");
    p->reads = kl_calloc(d, (size_t)nv, sizeof *p->reads, "the state table");
    p->writes = kl_calloc(d, (size_t)nv, sizeof *p->writes, "the state table");
    if (!p->vars || !p->var_dims || !p->var_names || !p->reads || !p->writes) return false;
    size_t at = 0;
    for (int v = 0; v < nv; v++, p->n_vars++) {
        tf_var tv;
        if (!tf_model_variable(m->tf, v, &tv, d) || !(p->var_names[v] = kl_strdup(d, tv.name))) return false;
        memcpy(p->var_dims + (size_t)v * IR_MAX_RANK, tv.type.dims, sizeof(int64_t) * (size_t)tv.type.rank);
        p->vars[v] = (kiln_variable_info){
            .name = p->var_names[v],
            .dtype = (kiln_dtype)tv.type.dtype,
            .rank = tv.type.rank,
            .dims = p->var_dims + (size_t)v * IR_MAX_RANK,
            .bytes = ir_type_bytes(&tv.type),
            .offset = at,
        };
        at += (ir_type_bytes(&tv.type) + 63) & ~(size_t)63;
    }
    for (int v = 0; v < nv; v++) p->vars[v].flag_offset = at + 4 * (size_t)v;
    p->state_size = (at + 4 * (size_t)nv + 63) & ~(size_t)63;
    return true;
}

/* Which params / results are variables (after the user's feeds / fetches). */
static bool state_slots(kiln_program *p, const ir_graph *g, kl_diag *d)
{
    p->state_in = kl_calloc(d, (size_t)g->n_params + 1, sizeof(int), "the state table");
    p->state_out = kl_calloc(d, (size_t)g->n_results + 1, sizeof(int), "the state table");
    if (!p->state_in || !p->state_out) return false;
    for (int i = 0; g->param_var && i < g->n_params; i++)
        if (g->param_var[i] >= 0) p->state_in[p->n_state_in++] = g->param_var[i], p->reads[g->param_var[i]] = true;
    for (int i = 0; g->result_var && i < g->n_results; i++)
        if (g->result_var[i] >= 0) p->state_out[p->n_state_out++] = g->result_var[i], p->writes[g->result_var[i]] = true;
    return true;
}

/* The program's tables and its own temp arena, allocated before the JIT
 * compiles so that a model too large for this machine fails at once. */
static kiln_program *program_new(const kiln_model *m, const ir_graph *g, kl_diag *d)
{
    kiln_program *p = kl_calloc(d, 1, sizeof *p, "the program");
    if (!p) return NULL;
    if (!state_layout(p, m, d) || !state_slots(p, g, d)) {
        kiln_program_free(p);
        return NULL;
    }
    int n = g->n_params + g->n_results;
    p->info = kl_calloc(d, (size_t)n + 1, sizeof *p->info, "the program's tensor table");
    p->dims = kl_calloc(d, (size_t)n * IR_MAX_RANK + 1, sizeof *p->dims, "the program's tensor table");
    p->names = kl_calloc(d, (size_t)n + 1, sizeof *p->names, "the program's tensor table");
    bool ok = p->info && p->dims && p->names;
    int n_feeds = g->n_params - p->n_state_in, n_fetches = g->n_results - p->n_state_out;
    for (int i = 0; ok && i < n_feeds; i++, p->n_feeds++) ok = fill_info(p, i, g->param_names[i], &g->params[i]->type, d);
    for (int i = 0; ok && i < n_fetches; i++, p->n_fetches++)
        ok = fill_info(p, n_feeds + i, g->results[i].name, &g->results[i].node->type, d);
    p->temp_size = (size_t)g->temp_size;
    if (ok && p->temp_size && !(p->temp = aligned_alloc(64, (p->temp_size + 63) & ~(size_t)63))) {
        char b[32];
        kl_diag_error(d, "%s: temp arena of %s cannot be allocated (out of memory)", g->source,
                      kl_format_bytes(b, sizeof b, p->temp_size));
        ok = false;
    }
    if (!ok) kiln_program_free(p);
    return ok ? p : NULL;
}

static kiln_status *jit_program(kiln_model *m, const kiln_options *o, kiln_program **out)
{
    ir_graph *g;
    *out = NULL;
    kiln_status *st = plan_graph(m, o, o->target, "native", &g, NULL);
    if (st) return st;
    kl_diag d = {0};
    kiln_options jo = *o;
    cg_options co = cg_opts(&jo, g);
    co.cpu = "native"; /* the JIT runs here */
    cg_stats cs = {0};
    cg_jit *jit;
    kiln_program *p = program_new(m, g, &d);
    if (!p) {
        ir_graph_free(g);
        return status_from_diag(KILN_ERR_NOMEM, &d);
    }
    if (o->profile && !(p->plan = api_describe(g, o, NULL, &d))) {
        kiln_program_free(p);
        ir_graph_free(g);
        return status_from_diag(KILN_ERR_NOMEM, &d);
    }
    if (!cg_jit_compile(g, &co, &jit, &cs, &d)) {
        kiln_program_free(p);
        ir_graph_free(g);
        return status_from_diag(KILN_ERR_BACKEND, &d);
    }
    report_codegen_times(o, &cs);
    p->jit = jit;
    p->entry = cg_jit_entry(jit);
    p->profile = cg_jit_profile_entry(jit);
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
    if (p->n_state_in + p->n_state_out)
        return status_new(KILN_ERR_INVALID, "kiln_program_run: the program reads or writes variables: use kiln_program_run_state");
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
    if (p->entry(args, temp ? temp : p->temp)) return status_new(KILN_ERR_DIST, kiln_rt_dist_error());
    return NULL;
}

size_t kiln_program_state_size(const kiln_program *p) { return p->state_size; }
int kiln_program_num_variables(const kiln_program *p) { return p->n_vars; }
kiln_variable_info kiln_program_variable(const kiln_program *p, int i) { return p->vars[i]; }
bool kiln_program_reads_variable(const kiln_program *p, int i) { return i >= 0 && i < p->n_vars && p->reads[i]; }
bool kiln_program_writes_variable(const kiln_program *p, int i) { return i >= 0 && i < p->n_vars && p->writes[i]; }

int kiln_model_gradients(const kiln_model *m, const char **names, int cap) { return m->tf ? tf_model_gradients(m->tf, names, cap) : 0; }

const char *kiln_model_node_op(const kiln_model *m, const char *name) { return m->tf ? tf_model_node_op(m->tf, name) : NULL; }

static kiln_status *run_state(kiln_program *p, const void *const *feeds, void *const *fetches, void *state, void *temp,
                              uint64_t *counters);

kiln_status *kiln_program_run_state(kiln_program *p, const void *const *feeds, void *const *fetches, void *state,
                                    void *temp)
{
    return run_state(p, feeds, fetches, state, temp, NULL);
}

int kiln_program_num_kernels(const kiln_program *p) { return p->plan ? p->plan->n_kernels : 0; }
const kiln_plan_info *kiln_program_plan(const kiln_program *p) { return p->plan; }

kiln_status *kiln_program_run_profile(kiln_program *p, const void *const *feeds, void *const *fetches, void *state,
                                      void *temp, uint64_t *counters)
{
    if (!p->profile || !counters)
        return status_new(KILN_ERR_INVALID, "kiln_program_run_profile: the program was not compiled with profile, or counters is NULL");
    return run_state(p, feeds, fetches, state, temp, counters);
}

static kiln_status *run_state(kiln_program *p, const void *const *feeds, void *const *fetches, void *state, void *temp,
                              uint64_t *counters)
{
    if (!p->n_state_in && !p->n_state_out && !counters) return kiln_program_run(p, feeds, fetches, temp);
    if ((p->n_state_in || p->n_state_out) && (!state || ((uintptr_t)state & 63))) return status_new(KILN_ERR_INVALID, "kiln_program_run_state: state must be 64-byte aligned and not NULL");
    unsigned char *s = state;
    for (int k = 0; k < p->n_state_in; k++) {
        const kiln_variable_info *v = &p->vars[p->state_in[k]];
        uint32_t flag;
        memcpy(&flag, s + v->flag_offset, 4);
        if (!flag) {
            char msg[512];
            snprintf(msg, sizeof msg, "variable '%s' is read before it is initialized (FailedPrecondition): "
                                      "run the entry that initializes it (e.g. target init_all_vars_op) first", v->name);
            return status_new(KILN_ERR_PRECONDITION, msg);
        }
    }
    int n_in = p->n_feeds + p->n_state_in, n_out = p->n_fetches + p->n_state_out;
    void *args[n_in + n_out + 1];
    for (int i = 0; i < p->n_feeds; i++) {
        if (!feeds || !feeds[i]) return status_new(KILN_ERR_INVALID, "kiln_program_run_state: a feed buffer is NULL");
        args[i] = (void *)feeds[i];
    }
    for (int k = 0; k < p->n_state_in; k++) args[p->n_feeds + k] = s + p->vars[p->state_in[k]].offset;
    for (int i = 0; i < p->n_fetches; i++) {
        if (!fetches || !fetches[i]) return status_new(KILN_ERR_INVALID, "kiln_program_run_state: a fetch buffer is NULL");
        args[n_in + i] = fetches[i];
    }
    for (int k = 0; k < p->n_state_out; k++) args[n_in + p->n_fetches + k] = s + p->vars[p->state_out[k]].offset;
    if (temp && ((uintptr_t)temp & 63))
        return status_new(KILN_ERR_INVALID, "kiln_program_run_state: temp must be 64-byte aligned");
    int rc = counters ? p->profile(args, temp ? temp : p->temp, counters) : p->entry(args, temp ? temp : p->temp);
    if (rc) return status_new(KILN_ERR_DIST, kiln_rt_dist_error());
    for (int k = 0; k < p->n_state_out; k++) {
        uint32_t one = 1;
        memcpy(s + p->vars[p->state_out[k]].flag_offset, &one, 4);
    }
    return NULL;
}

void kiln_program_free(kiln_program *p)
{
    if (!p) return;
    kiln_plan_info_free(p->plan);
    for (int v = 0; p->var_names && v < p->n_vars; v++) free(p->var_names[v]);
    free(p->vars), free(p->var_dims), free(p->var_names), free(p->reads), free(p->writes);
    free(p->state_in), free(p->state_out);
    cg_jit_free(p->jit);
    api_shared_close(p->dl);
    for (int i = 0; p->names && i < p->n_feeds + p->n_fetches; i++) free(p->names[i]);
    free(p->names);
    free(p->info);
    free(p->dims);
    free(p->temp);
    free(p);
}

kiln_status *kiln_inspect(kiln_model *m, const kiln_options *o, const char *after, kiln_plan_info **out)
{
    ir_graph *g;
    kl_diag d = {0};
    *out = NULL;
    kiln_status *st = api_plan_graph(m, o, o->target, o->target_cpu, after, &g, NULL);
    if (st) return st;
    kiln_plan_info *pi = api_describe(g, o, after, &d);
    ir_graph_free(g);
    if (!pi) return status_from_diag(KILN_ERR_NOMEM, &d);
    *out = pi;
    return NULL;
}

/* The compile entry points: each ends with the progress callback's "done". */
static kiln_status *done(const kiln_options *o, kiln_status *st)
{
    if (o->progress) o->progress(o->progress_user, "done", 0, 0);
    return st;
}

kiln_status *kiln_compile_object(kiln_model *m, const kiln_options *o, const char *object_path,
                                 const char *header_path, kiln_compile_info *info)
{
    return done(o, api_compile_object(m, o, object_path, header_path, info, NULL));
}

kiln_status *kiln_compile_entries(kiln_model *m, const kiln_options *o, const kiln_entry *entries, int n_entries,
                                  const char *object_path, const char *header_path, kiln_compile_info *info)
{
    return done(o, compile_entries(m, o, entries, n_entries, object_path, header_path, info));
}

kiln_status *kiln_jit(kiln_model *m, const kiln_options *o, kiln_program **out)
{
    return done(o, jit_program(m, o, out));
}
