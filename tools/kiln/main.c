/* tools/kiln/main.c — the kiln command line (docs/cli.md, docs/kiln.1).
 *
 *   kiln compile MODEL --feed x --fetch y -o model.o --header model.h --prefix mlp [-O2] [--target-cpu CPU]
 *   kiln run     MODEL --feed x=in.npy --fetch y [--out-dir DIR]
 *   kiln dump    MODEL [--feed x] [--fetch y] [--after=all|PASS]
 *   kiln viz     MODEL -o model.html, kiln bench MODEL (viz.c, profile.c)
 *   (each also takes --bind NAME=FILE.npy: compile specialized on that feed's value)
 * Every command and option is described in help.c's table, which prints
 * --help and the man page: an option added here is added there too.
 *
 * Every failure prints one "kiln: ..." line per problem to stderr and exits
 * non-zero; nothing here crashes on bad input.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kiln/kiln.h"
#include "dist.h"
#include "frontend/onnx/onnx.h"
#include "help.h"
#include "npy.h"
#include "serve/serve.h"
#include "state.h"
#include "tools.h"

#define MAX_TENSORS 256

typedef struct cli {
    const char *cmd, *model, *object, *header, *out_dir, *state_dir;
    const char *targets[MAX_TENSORS];
    int n_targets;
    kiln_entry entries[64];
    int n_entries;
    kiln_feed_shape pins[MAX_TENSORS];
    int64_t pin_dims[MAX_TENSORS][8];
    int n_pins;
    const char *feeds[MAX_TENSORS], *feed_files[MAX_TENSORS], *fetches[MAX_TENSORS];
    const char *binds[MAX_TENSORS], *bind_files[MAX_TENSORS];
    int n_feeds, n_fetches, n_binds;
    kiln_options opt;
    bool time_passes;
    bool shared; /* --shared */
} cli;

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "kiln: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

/* Prints each line of a status message with the "kiln: " prefix. */
static int fail_status(kiln_status *st)
{
    const char *m = kiln_status_message(st);
    while (*m) {
        const char *nl = strchr(m, '\n');
        int n = nl ? (int)(nl - m) : (int)strlen(m);
        fprintf(stderr, "kiln: %.*s\n", n, m);
        m += n + (nl ? 1 : 0);
    }
    int code = kiln_status_code(st) == KILN_ERR_UNSUPPORTED ? 3 : 1;
    kiln_status_free(st);
    return code;
}

/* "--name=value" or "--name value"; returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n)) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == 0 && *i + 1 < argc) return argv[++*i];
    return NULL;
}

/* "--feed x:100,32": feed x with its unknown dims pinned (a comma after
 * the last ':' tells a shape from an output index "x:1"; a rank-1 pin is
 * "x:100,").  The name loses its shape part. */
static int parse_pin(cli *c, int f)
{
    const char *name = c->feeds[f], *colon = strrchr(name, ':');
    if (!colon || !strchr(colon, ',')) return 0;
    kiln_feed_shape *p = &c->pins[c->n_pins];
    int rank = 0;
    for (const char *q = colon + 1; *q;) {
        char *end;
        long long d = strtoll(q, &end, 10);
        if (end == q || d < 0 || rank == 8 || (*end && *end != ',')) return fail("--feed %s: a shape is NAME:D0,D1,... (non-negative dims)%s", name, "");
        c->pin_dims[c->n_pins][rank++] = d;
        q = *end ? end + 1 : end;
    }
    *p = (kiln_feed_shape){strndup(name, (size_t)(colon - name)), rank, c->pin_dims[c->n_pins]};
    c->feeds[f] = p->name;
    c->n_pins++;
    return 0;
}

/* "a,b" into a NULL-free list (empty: none). */
static int split_list(char *s, const char ***out)
{
    int n = 0;
    const char **list = calloc(MAX_TENSORS, sizeof *list);
    for (char *tok = strtok(s, ","); list && tok && n < MAX_TENSORS; tok = strtok(NULL, ",")) list[n++] = tok;
    *out = list;
    return n;
}

/* "--entry NAME=FEEDS:FETCHES:TARGETS", each a comma list, any empty:
 * --entry init=::init_all_vars_op  --entry train=x,y:cost:train */
static int parse_entry(cli *c, const char *v)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || c->n_entries == 64) return fail("--entry wants NAME=FEEDS:FETCHES:TARGETS, not '%s'%s", v, "");
    char *parts[3] = {0}, *rest = strdup(eq + 1);
    for (int k = 0; k < 3; k++) {
        parts[k] = rest;
        char *colon = rest ? strchr(rest, ':') : NULL;
        if (colon) *colon = 0, rest = colon + 1;
        else rest = NULL;
        if (!rest && k < 2) {
            for (int j = k + 1; j < 3; j++) parts[j] = "";
            break;
        }
    }
    kiln_entry *e = &c->entries[c->n_entries++];
    e->name = strndup(v, (size_t)(eq - v));
    e->n_feeds = split_list(strdup(parts[0]), (const char ***)&e->feeds);
    e->n_fetches = split_list(strdup(parts[1]), (const char ***)&e->fetches);
    e->n_targets = split_list(strdup(parts[2]), (const char ***)&e->targets);
    return 0;
}

static int parse_args(cli *c, int argc, char **argv)
{
    kiln_options_init(&c->opt);
    progress_setup(&c->opt, "auto");
    c->cmd = argv[1];
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        const char *v;
        char *a = argv[i];
        if ((v = opt_value(argc, argv, &i, "--feed"))) {
            if (c->n_feeds == MAX_TENSORS) return fail("too many --feed options%s%s", "", "");
            char *eq = strchr(v, '=');
            c->feed_files[c->n_feeds] = eq ? eq + 1 : NULL;
            c->feeds[c->n_feeds++] = eq ? strndup(v, (size_t)(eq - v)) : v;
            int rc = parse_pin(c, c->n_feeds - 1);
            if (rc) return rc;
        } else if ((v = opt_value(argc, argv, &i, "--run-target")) ||
                   (!strcmp(c->cmd, "run") && (v = opt_value(argc, argv, &i, "--target")))) {
            /* Session.run's targets; in kiln run --target means these (the JIT
             * runs on the host only), elsewhere --target is the architecture */
            if (c->n_targets == MAX_TENSORS) return fail("too many --target options%s%s", "", "");
            c->targets[c->n_targets++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--entry"))) {
            int rc = parse_entry(c, v);
            if (rc) return rc;
        } else if ((v = opt_value(argc, argv, &i, "--state"))) {
            c->state_dir = v;
        } else if ((v = opt_value(argc, argv, &i, "--bind"))) {
            char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) return fail("--bind wants NAME=FILE.npy, not '%s'%s", v, "");
            if (c->n_binds == MAX_TENSORS) return fail("too many --bind options%s%s", "", "");
            c->bind_files[c->n_binds] = eq + 1;
            c->binds[c->n_binds++] = strndup(v, (size_t)(eq - v));
        } else if ((v = opt_value(argc, argv, &i, "--fetch"))) {
            if (c->n_fetches == MAX_TENSORS) return fail("too many --fetch options%s%s", "", "");
            c->fetches[c->n_fetches++] = v;
        } else if ((v = opt_value(argc, argv, &i, "-o"))) c->object = v;
        else if ((v = opt_value(argc, argv, &i, "--header"))) c->header = v;
        else if ((v = opt_value(argc, argv, &i, "--prefix"))) c->opt.prefix = v;
        else if ((v = opt_value(argc, argv, &i, "--out-dir"))) c->out_dir = v;
        else if ((v = opt_value(argc, argv, &i, "--target-cpu"))) c->opt.target_cpu = v;
        else if ((v = opt_value(argc, argv, &i, "--gpu-arch"))) c->opt.target_cpu = v; /* --target cuda: sm_80,sm_90 */
        else if ((v = opt_value(argc, argv, &i, "--target"))) c->opt.target = v;
        else if ((v = opt_value(argc, argv, &i, "--threads"))) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 256) return fail("--threads wants a count from 1 to 256, not '%s'%s", v, "");
            c->opt.threads = (int)t;
        }
        else if ((v = opt_value(argc, argv, &i, "--target-features"))) c->opt.target_features = v;
        else if ((v = opt_value(argc, argv, &i, "--after"))) c->opt.dump_after = v;
        else if ((v = opt_value(argc, argv, &i, "--dump-after"))) c->opt.dump_after = v;
        else if ((v = opt_value(argc, argv, &i, "--progress"))) {
            if (!progress_setup(&c->opt, v)) return fail("--progress wants auto, always or never, not '%s'%s", v, "");
        }
        else if (!strcmp(a, "--time-passes")) c->time_passes = true;
        else if (!strcmp(a, "--shared")) c->shared = true; /* -o is a shared library (api/shared.c) */
        else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) c->opt.opt_level = a[2] - '0', c->opt.optimize_size = 0;
        else if (!strcmp(a, "-Os")) c->opt.opt_level = 2, c->opt.optimize_size = 1; /* shared kernels, LLVM size pipeline */
        else if (dist_option(argc, argv, &i, &c->opt, &rc)) { /* --split, --place, --task(s), --devices (dist.h) */
            if (rc) return rc;
        } else if (tools_option(argc, argv, &i, &rc)) { /* viz, bench, --profile (tools.h) */
            if (rc) return rc;
        } else if (a[0] == '-') {
            const char *near = help_nearest_option(a, c->cmd);
            fprintf(stderr, "kiln: unknown option '%s'", a);
            if (near) fprintf(stderr, "; did you mean '%s'?", near);
            fprintf(stderr, " (kiln %s --help lists the options)\n", c->cmd);
            return 2;
        }
        else if (!c->model) c->model = a;
        else return fail("unexpected argument '%s'%s", a, "");
    }
    if (!c->model) return fail("no model file given%s%s", "", "");
    c->opt.feeds = c->feeds;
    c->opt.n_feeds = c->n_feeds;
    c->opt.fetches = c->fetches;
    c->opt.n_fetches = c->n_fetches;
    c->opt.targets = c->targets;
    c->opt.n_targets = c->n_targets;
    c->opt.feed_shapes = c->pins;
    c->opt.n_feed_shapes = c->n_pins;
    if (c->time_passes) c->opt.time_file = stderr;
    if (c->time_passes || !strcmp(c->cmd, "dump") || (c->opt.dump_after && strcmp(c->cmd, "viz"))) progress_auto_off(&c->opt);
    c->opt.profile = tool_flags.profile;
    return 0;
}

/* Peak resident memory of this process.  VmHWM belongs to the address
 * space, which exec replaces; ru_maxrss would carry over the peak of
 * whatever process exec'd us (a benchmark's Python, say). */
static double peak_memory_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return (double)kb / 1024.0;
}

static int cmd_compile(cli *c, kiln_model *m)
{
    if (!c->object) return fail("compile needs -o OBJECT%s%s", "", "");
    if (c->time_passes) fprintf(stderr, "kiln: pass times\n");
    kiln_compile_info info;
    if (c->shared && (c->n_entries || c->header))
        return fail("--shared writes one library with its own table: not with --entry or --header%s%s", "", "");
    kiln_status *st = c->shared      ? kiln_compile_shared(m, &c->opt, c->object, &info)
                      : c->n_entries ? kiln_compile_entries(m, &c->opt, c->entries, c->n_entries, c->object, c->header, &info)
                                   : kiln_compile_object(m, &c->opt, c->object, c->header, &info);
    if (st) return fail_status(st);
    printf("kiln: wrote %s (%lld bytes)%s%s\n", c->object, (long long)info.object_bytes, c->header ? " and " : "",
           c->header ? c->header : "");
    printf("kiln: %d kernels, temp arena %lld bytes, constants %lld bytes, compiled in %.1f ms, peak memory %.0f MB\n",
           info.n_kernels, (long long)info.temp_size, (long long)info.const_bytes, info.compile_seconds * 1e3,
           peak_memory_mb());
    if (info.threads > 1 && info.n_split_kernels > 0)
        printf("kiln: %d of %d kernels split over %d threads\n", info.n_split_kernels, info.n_kernels, info.threads);
    else if (info.threads > 1 && info.max_work_ns < info.split_chunk_ns * info.threads) /* docs/performance.md, "Which kernels split" */
        printf("kiln: no kernel splits over %d threads: all are too small (largest ~%.1f us of work; a split over %d "
               "needs ~%.1f us, %.1f us a thread)\n", info.threads, info.max_work_ns * 1e-3, info.threads,
               info.split_chunk_ns * info.threads * 1e-3, info.split_chunk_ns * 1e-3);
    else if (info.threads > 1)
        printf("kiln: no kernel splits over %d threads (largest ~%.1f us of work, but no loop of it divides)\n",
               info.threads, info.max_work_ns * 1e-3);
    return 0;
}

/* Fetch names become file names: '/' and ':' (and other odd bytes) -> '_'. */
static void file_name_for(const char *dir, const char *name, char *out, size_t n)
{
    size_t at = (size_t)snprintf(out, n, "%s/", dir);
    for (const char *p = name; *p && at + 5 < n; p++)
        out[at++] = (*p == '/' || *p == ':' || *p == '\\' || (unsigned char)*p < 32) ? '_' : *p;
    snprintf(out + at, n - at, ".npy");
}

static void summarize(const kiln_tensor_info *t, const void *data)
{
    int64_t count = 1;
    for (int i = 0; i < t->rank; i++) count *= t->dims[i];
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t i = 0; i < count; i++) {
        double v = t->dtype == KILN_F32 ? ((const float *)data)[i]
                   : t->dtype == KILN_I32 ? ((const int32_t *)data)[i]
                   : t->dtype == KILN_I64 ? (double)((const int64_t *)data)[i]
                   : t->dtype == KILN_F64 ? ((const double *)data)[i]
                                          : 0;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    printf("%s: %s[", t->name, kiln_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++) printf("%s%lld", i ? "," : "", (long long)t->dims[i]);
    printf("] min %.6g max %.6g mean %.6g\n", count ? lo : 0, count ? hi : 0, count ? sum / (double)count : 0);
}

/* The file holds t's shape, its first dimension dist_micro_batches times (--micro-batches). */
static bool same_shape(const npy_array *a, const kiln_tensor_info *t)
{
    if ((int)a->dtype != (int)t->dtype || a->rank != t->rank || (dist_micro_batches > 1 && t->rank < 1)) return false;
    for (int i = 0; i < t->rank; i++)
        if (a->dims[i] != t->dims[i] * (i ? 1 : dist_micro_batches)) return false;
    return true;
}

static void shape_str(int dtype, int rank, const int64_t *dims, char *buf, size_t n)
{
    size_t at = (size_t)snprintf(buf, n, "%s[", kiln_dtype_name((kiln_dtype)dtype));
    for (int i = 0; i < rank && at < n; i++) at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

/* A feed file: .npy, or an ONNX TensorProto (.pb, as in ONNX test data). */
static bool load_tensor_file(const char *path, npy_array *a, kl_diag *d)
{
    size_t len = strlen(path);
    if (len < 3 || strcmp(path + len - 3, ".pb")) return npy_load(path, a, d);
    FILE *f = fopen(path, "rb");
    if (!f) return kl_diag_error(d, "%s: cannot open: %s", path, strerror(errno)), false;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    bool ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    onnx_tensor t;
    ok = ok && onnx_tensor_load(buf, (size_t)size, path, &t, d);
    free(buf);
    if (!ok) return kl_diag_ok(d) ? (kl_diag_error(d, "%s: cannot read", path), false) : false;
    memset(a, 0, sizeof *a);
    a->dtype = t.dtype, a->rank = t.rank, a->bytes = t.bytes;
    memcpy(a->dims, t.dims, sizeof a->dims);
    a->data = aligned_alloc(64, (t.bytes + 64) & ~(size_t)63);
    if (a->data) memcpy(a->data, t.data, t.bytes);
    free(t.data);
    return a->data != NULL;
}

/* Binds feed `name` to the tensor in `path` (kiln_model_bind). */
static int bind_file(kiln_model *m, const char *name, const char *path)
{
    npy_array a;
    kl_diag d = {0};
    if (!load_tensor_file(path, &a, &d)) {
        fprintf(stderr, "kiln: %s\n", d.text);
        kl_diag_clear(&d);
        return 1;
    }
    kiln_status *st = kiln_model_bind(m, name, (kiln_dtype)a.dtype, a.rank, a.dims, a.data);
    npy_free(&a);
    return st ? fail_status(st) : 0;
}

static int bind_all(cli *c, kiln_model *m)
{
    for (int i = 0; i < c->n_binds; i++)
        if (bind_file(m, c->binds[i], c->bind_files[i])) return 1;
    return 0;
}

/* kiln run's retry when the model is refused: the same model specialized
 * on every fed file of at most 64 elements (shapes, axes, k, scales), as
 * XLA treats compile-time-constant inputs.  Exact for this run's values.
 * Returns the program, or NULL (the first error stands). */
static kiln_program *jit_specialized(cli *c)
{
    kiln_model *m;
    kiln_status *st = kiln_model_load(c->model, &m);
    kiln_program *p = NULL;
    int bound = 0;
    if (st) return kiln_status_free(st), NULL;
    if (bind_all(c, m)) return kiln_model_free(m), NULL;
    for (int i = 0; i < c->n_feeds; i++) {
        npy_array a;
        kl_diag d = {0};
        if (!c->feed_files[i] || !load_tensor_file(c->feed_files[i], &a, &d)) {
            kl_diag_clear(&d);
            continue;
        }
        if (a.bytes <= 64 * kiln_dtype_size((kiln_dtype)a.dtype)) {
            kiln_status *b = kiln_model_bind(m, c->feeds[i], (kiln_dtype)a.dtype, a.rank, a.dims, a.data);
            bound += b == NULL;
            kiln_status_free(b);
        }
        npy_free(&a);
    }
    if (bound && !(st = kiln_jit(m, &c->opt, &p)))
        fprintf(stderr, "kiln: note: compiled specialized on the values of %d small feed(s) it needs as constants\n", bound);
    kiln_status_free(st);
    kiln_model_free(m);
    return p;
}

static int load_feeds(cli *c, kiln_program *p, npy_array *arrays)
{
    if (kiln_program_num_feeds(p) != c->n_feeds) {
        fprintf(stderr, "kiln: the model has %d feeds; give each as --feed NAME=FILE:", kiln_program_num_feeds(p));
        for (int i = 0; i < kiln_program_num_feeds(p); i++) fprintf(stderr, " %s", kiln_program_feed(p, i).name);
        fputc('\n', stderr);
        return 1;
    }
    for (int i = 0; i < c->n_feeds; i++) {
        kiln_tensor_info t = kiln_program_feed(p, i);
        if (!c->feed_files[i]) return fail("feed '%s' needs a file: --feed %s=FILE.npy", t.name, t.name);
        kl_diag d = {0};
        if (!load_tensor_file(c->feed_files[i], &arrays[i], &d)) {
            fprintf(stderr, "kiln: %s\n", d.text);
            kl_diag_clear(&d);
            return 1;
        }
        if (!same_shape(&arrays[i], &t)) {
            char want[128], got[128];
            shape_str(t.dtype, t.rank, t.dims, want, sizeof want);
            shape_str(arrays[i].dtype, arrays[i].rank, arrays[i].dims, got, sizeof got);
            fprintf(stderr, "kiln: %s: feed '%s' expects %s, the file holds %s", c->feed_files[i], t.name, want, got);
            if (dist_micro_batches > 1 && arrays[i].rank > 0 && arrays[i].dims[0] % dist_micro_batches)
                fprintf(stderr, " (--micro-batches %d: the file's batch of %lld rows does not divide into %d micro-batches)",
                        dist_micro_batches, (long long)arrays[i].dims[0], dist_micro_batches);
            else if (dist_micro_batches > 1)
                fprintf(stderr, " (--micro-batches %d: the program takes micro-batches of that shape and the file must hold %d of them "
                                "along the first dimension; a placeholder with a fixed batch cannot be cut)", dist_micro_batches, dist_micro_batches);
            fputc('\n', stderr);
            return 1;
        }
    }
    return 0;
}

static int write_fetches(cli *c, kiln_program *p, void **outs)
{
    const char *dir = c->out_dir ? c->out_dir : ".";
    if (c->out_dir && mkdir(dir, 0777) && errno != EEXIST) return fail("cannot create directory %s: %s", dir, strerror(errno));
    for (int i = 0; i < kiln_program_num_fetches(p); i++) {
        kiln_tensor_info t = kiln_program_fetch(p, i);
        char path[4096];
        file_name_for(dir, t.name, path, sizeof path);
        int64_t dims[16];
        if (t.rank > 0 && t.rank <= 16) { /* --micro-batches: the fetch's rows of every micro-batch */
            memcpy(dims, t.dims, sizeof *dims * (size_t)t.rank);
            dims[0] *= dist_micro_batches, t.dims = dims, t.bytes *= (size_t)dist_micro_batches;
        }
        kl_diag d = {0};
        if (!npy_save(path, (kl_dtype)t.dtype, t.rank, t.dims, outs[i], &d)) {
            fprintf(stderr, "kiln: %s\n", d.text);
            kl_diag_clear(&d);
            return 1;
        }
        if (t.rank == 0 && t.dtype == KILN_F32) printf("%s = %.9g\n", t.name, *(const float *)outs[i]);
        else summarize(&t, outs[i]);
    }
    return 0;
}

/* Fetches that name operations without outputs (a NoOp group, an assign,
 * an optimizer update) are run as targets, as Session.run's fetches may be. */
static void fetches_to_targets(cli *c, kiln_model *m)
{
    int k = 0;
    for (int i = 0; i < c->n_fetches; i++) {
        const char *op = kiln_model_node_op(m, c->fetches[i]);
        bool effect = op && (!strcmp(op, "NoOp") || !strncmp(op, "Assign", 6) || !strncmp(op, "ResourceApply", 13));
        if (effect && c->n_targets < MAX_TENSORS) c->targets[c->n_targets++] = c->fetches[i];
        else c->fetches[k++] = c->fetches[i];
    }
    c->n_fetches = c->opt.n_fetches = k;
    c->opt.n_targets = c->n_targets;
}

/* kiln run: a feed given as a file pins the placeholder's unknown dims to the file's. */
static void pins_from_files(cli *c, kiln_model *m)
{
    for (int i = 0; i < c->n_feeds && c->n_pins < MAX_TENSORS; i++) {
        const char *op = kiln_model_node_op(m, c->feeds[i]); /* TensorFlow placeholders only */
        bool pinned = !op || strcmp(op, "Placeholder");
        for (int k = 0; k < c->n_pins; k++) pinned |= !strcmp(c->pins[k].name, c->feeds[i]);
        npy_array a;
        kl_diag d = {0};
        if (pinned || !c->feed_files[i] || !load_tensor_file(c->feed_files[i], &a, &d)) {
            kl_diag_clear(&d);
            continue;
        }
        memcpy(c->pin_dims[c->n_pins], a.dims, sizeof(int64_t) * (size_t)(a.rank < 8 ? a.rank : 8));
        if (a.rank > 0 && dist_micro_batches > 1) c->pin_dims[c->n_pins][0] /= dist_micro_batches; /* checked by load_feeds */
        c->pins[c->n_pins] = (kiln_feed_shape){c->feeds[i], a.rank < 8 ? a.rank : 8, c->pin_dims[c->n_pins]};
        c->n_pins++;
        npy_free(&a);
    }
    c->opt.n_feed_shapes = c->n_pins;
}

static int cmd_run(cli *c, kiln_model *m, int *argc, char ***argv)
{
    kiln_program *p;
    if (dist_run_begin(&c->opt, argc, argv, c->feed_files, c->n_feeds)) return 1; /* mpirun: this rank's task or shard (dist.c) */
    fetches_to_targets(c, m);
    pins_from_files(c, m);
    if (dist_ps()) return dist_ps_run(m, &c->opt, c->feed_files, c->state_dir); /* --ps (dist.c) */
    kiln_status *st = kiln_jit(m, &c->opt, &p);
    if (st && kiln_status_code(st) != KILN_ERR_IO && (p = jit_specialized(c))) kiln_status_free(st), st = NULL;
    if (st) return fail_status(st);
    npy_array arrays[MAX_TENSORS] = {0};
    const void *ins[MAX_TENSORS];
    void *outs[MAX_TENSORS] = {0};
    int rc = load_feeds(c, p, arrays), M = dist_micro_batches; /* --micro-batches M: M runs per step, rows in place */
    for (int i = 0; !rc && i < kiln_program_num_fetches(p); i++) {
        kiln_tensor_info t = kiln_program_fetch(p, i);
        if (M > 1 && t.rank < 1) rc = fail("--micro-batches: fetch '%s' is a scalar, not one row per batch element%s", t.name, "");
        else if (!(outs[i] = aligned_alloc(64, (t.bytes * (size_t)M + 64) & ~(size_t)63))) rc = fail("out of memory%s%s", "", "");
    }
    void *state = NULL;
    bool stateful = false;
    for (int v = 0; v < kiln_program_num_variables(p); v++)
        stateful |= kiln_program_reads_variable(p, v) || kiln_program_writes_variable(p, v);
    bool writes = false;
    for (int v = 0; v < kiln_program_num_variables(p); v++) writes |= kiln_program_writes_variable(p, v) != 0;
    if (!rc && writes && M > 1) rc = fail("--micro-batches is for inference: this graph writes variables, once per micro-batch%s%s", "", "");
    if (!rc && stateful && !c->state_dir)
        rc = fail("the graph has variables: give --state DIR (created by --fetch init_all_vars_op)%s%s", "", "");
    if (!rc && stateful && !(state = state_load(c->state_dir, p))) rc = 1;
    if (!rc) {
        for (int i = 0; i < c->n_feeds; i++) ins[i] = arrays[i].data;
        if (tool_flags.profile && M > 1) rc = fail("--profile runs one batch: drop --micro-batches%s%s", "", "");
        else if (tool_flags.profile) rc = profile_run(c->model, p, ins, outs, state);
        else {
            rc = dist_time_steps(0); /* --steps K, --time-steps (dist.c) */
            const void *mb_ins[MAX_TENSORS];
            void *mb_outs[MAX_TENSORS];
            for (int s = 0; s < dist_steps && !rc; s++)
                for (int b = 0; b < M && !rc; b++) { /* micro-batch b: its rows of every feed and fetch */
                    for (int i = 0; i < c->n_feeds; i++) mb_ins[i] = (const char *)ins[i] + kiln_program_feed(p, i).bytes * (size_t)b;
                    for (int i = 0; i < kiln_program_num_fetches(p); i++) mb_outs[i] = (char *)outs[i] + kiln_program_fetch(p, i).bytes * (size_t)b;
                    if ((st = stateful ? kiln_program_run_state(p, mb_ins, mb_outs, state, NULL) : kiln_program_run(p, mb_ins, mb_outs, NULL)))
                        rc = fail_status(st);
                }
            if (!rc) dist_time_steps(1);
        }
    }
    if (!rc && dist_writer()) rc = write_fetches(c, p, outs);
    if (!rc && stateful && dist_writer()) rc = state_save(c->state_dir, p, state);
    free(state);
    for (int i = 0; i < MAX_TENSORS; i++) free(outs[i]);
    for (int i = 0; i < c->n_feeds; i++) npy_free(&arrays[i]);
    kiln_program_free(p);
    return rc;
}

static int cmd_dump(cli *c, kiln_model *m)
{
    if (!c->opt.dump_after) c->opt.dump_after = "all";
    c->opt.dump_file = stdout;
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &c->opt, &p);
    if (st) return fail_status(st);
    kiln_program_free(p);
    return 0;
}

/* kiln, kiln --help, --version, help [CMD|--man], CMD --help: the help
 * table's (help.c).  Returns -1 when argv is a command to run. */
static int help_request(int argc, char **argv)
{
    if (argc < 2) return help_usage(stderr), 2;
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return help_all(stdout), 0;
    if (!strcmp(a, "--version") || !strcmp(a, "-V") || !strcmp(a, "version")) return help_version(stdout), 0;
    if (!strcmp(a, "help")) {
        if (argc < 3) return help_all(stdout), 0;
        if (!strcmp(argv[2], "--man")) return help_man(stdout), 0;
        return help_command(stdout, argv[2]);
    }
    if (!help_is_command(a)) {
        const char *near = help_nearest_command(a);
        fprintf(stderr, "kiln: unknown command '%s'", a);
        if (near) fprintf(stderr, "; did you mean '%s'?", near);
        fprintf(stderr, " (compile, run, dump, viz, bench; kiln --help)\n");
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return help_command(stdout, a);
    return -1;
}

int main(int argc, char **argv)
{
    int rc = help_request(argc, argv);
    if (rc >= 0) return rc;
    if (!strcmp(argv[1], "serve")) return kiln_serve_main(argc - 1, argv + 1); /* its own flags (TF Serving's) */
    static cli c;
    rc = parse_args(&c, argc, argv);
    if (rc) return rc;
    bool tool = !strcmp(c.cmd, "viz") || !strcmp(c.cmd, "bench");
    kiln_model *m;
    kiln_status *st = kiln_model_load(c.model, &m);
    if (st) return fail_status(st);
    if (bind_all(&c, m)) rc = 1;
    else if (!strcmp(c.cmd, "compile")) rc = cmd_compile(&c, m);
    else if (!strcmp(c.cmd, "run")) rc = dist_run_end(cmd_run(&c, m, &argc, &argv));
    else if (tool) { /* tools/kiln/viz.c, profile.c */
        tool_args ta = {c.model, m, &c.opt, c.object, c.feed_files, c.n_feeds};
        rc = !strcmp(c.cmd, "viz") ? cmd_viz(&ta) : cmd_bench(&ta);
    }
    else rc = cmd_dump(&c, m);
    progress_end(); /* viz without --profile compiles no code: no "done" */
    kiln_model_free(m);
    return rc;
}
