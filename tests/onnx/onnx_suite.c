/* tests/onnx/onnx_suite.c — the ONNX project's backend test data against Kiln.
 *
 *   onnx_suite DATA_DIR [--md docs/onnx-conformance.md] [--floor FILE] [--jobs N] [--only SUBSTR]
 *
 * DATA_DIR is Debian's libonnx-testdata (/usr/include/onnx/backend/test/data).
 * Each case (GROUP/CASE/model.onnx + test_data_set_N/{input,output}_K.pb)
 * runs in its own forked process, so a crash is counted, never fatal:
 *   passed       every output within rtol 1e-3 / atol 1e-7 (ONNX's own), ints exact
 *   failed       wrong numbers
 *   unsupported  Kiln refused the model at compile time with a message, also
 *                when specialized on the data set's small inputs (at most 64
 *                elements: shapes, axes, k, scales), as `kiln run` does
 *   crashed      the process died (a signal, or past the time limit)
 * Prints "N passed, M failed" (unsupported and crashed on the next line),
 * writes the per-group table, and fails if the pass count is below the floor.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend/onnx/onnx.h"
#include "kiln/kiln.h"
#include "support/guard.h"

enum { PASSED, FAILED, UNSUPPORTED, CRASHED, N_CLASSES };
static const char *const class_names[] = {"passed", "failed", "unsupported", "crashed"};
static const char *const groups[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
#define N_GROUPS 4
#define TIME_LIMIT_S 60

/* ---- one case, in the child ------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static bool load_tensor(const char *path, onnx_tensor *t, char *msg, size_t n)
{
    size_t size;
    unsigned char *b = slurp(path, &size);
    if (!b) return snprintf(msg, n, "cannot read %s", path), false;
    kl_diag d = {0};
    bool ok = onnx_tensor_load(b, size, path, t, &d);
    if (!ok) snprintf(msg, n, "%s", d.text ? d.text : "bad tensor");
    kl_diag_clear(&d);
    free(b);
    return ok;
}

static double elem(kl_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case KL_F32: return ((const float *)p)[i];
    case KL_F64: return ((const double *)p)[i];
    case KL_I32: return ((const int32_t *)p)[i];
    case KL_I64: return (double)((const int64_t *)p)[i];
    case KL_I16: return ((const int16_t *)p)[i];
    case KL_I8: return ((const int8_t *)p)[i];
    case KL_U8: case KL_BOOL: return ((const uint8_t *)p)[i];
    case KL_F16: {
        uint16_t h = ((const uint16_t *)p)[i];
        int e = (h >> 10) & 31, m = h & 1023;
        double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, e - 25);
        return (h & 0x8000) ? -v : v;
    }
    case KL_DTYPE_COUNT: break;
    }
    return NAN;
}

/* Compares fetch i with output_i.pb of the set. */
static int check_output(kiln_program *p, const char *set, int i, const void *got, char *msg, size_t n)
{
    onnx_tensor want;
    char path[4096];
    snprintf(path, sizeof path, "%s/output_%d.pb", set, i);
    kiln_tensor_info info = kiln_program_fetch(p, i);
    if (!load_tensor(path, &want, msg, n)) return FAILED;
    int result = PASSED;
    if (want.bytes != info.bytes || (int)want.dtype != (int)info.dtype) {
        snprintf(msg, n, "output %d: dtype/size %s/%zu, expected %s/%zu", i, kiln_dtype_name(info.dtype), info.bytes,
                 kiln_dtype_name((kiln_dtype)want.dtype), want.bytes);
        result = FAILED;
    }
    int64_t count = result == PASSED ? (int64_t)(want.bytes / kiln_dtype_size((kiln_dtype)want.dtype)) : 0;
    bool exact = !kl_dtype_is_float(want.dtype);
    for (int64_t k = 0; k < count; k++) {
        double w = elem(want.dtype, want.data, k), g = elem(want.dtype, got, k);
        if ((isnan(w) && isnan(g)) || w == g) continue;
        if (exact || !(fabs(g - w) <= 1e-7 + 1e-3 * fabs(w))) {
            snprintf(msg, n, "output %d element %lld: kiln %.9g, expected %.9g", i, (long long)k, g, w);
            result = FAILED;
            break;
        }
    }
    free(want.data);
    return result;
}

/* One run with every feed, fetch and the temp buffer against guard pages
 * (tests/support/guard.h); a stray access kills the case (CRASHED). */
static int run_placed(kiln_program *p, const char *set, const onnx_tensor *in, guard_place pl, char *msg, size_t n)
{
    int nf = kiln_program_num_feeds(p), nt = kiln_program_num_fetches(p), result = PASSED;
    guard_buf *b = calloc((size_t)(nf + nt + 1), sizeof *b);
    const void **ins = calloc((size_t)nf + 1, sizeof *ins);
    void **outs = calloc((size_t)nt + 1, sizeof *outs);
    if (!b || !ins || !outs) return snprintf(msg, n, "out of memory"), free(b), free(ins), free(outs), FAILED;
    for (int i = 0; i < nf + nt && result == PASSED; i++) {
        size_t bytes = i < nf ? in[i].bytes : kiln_program_fetch(p, i - nf).bytes;
        if (!guard_alloc(&b[i], bytes, pl, 64)) snprintf(msg, n, "cannot map guarded buffers"), result = FAILED;
        else if (i < nf) memcpy(b[i].p, in[i].data, bytes), guard_seal(&b[i]), ins[i] = b[i].p;
        else memset(b[i].p, 0xff, bytes), outs[i - nf] = b[i].p;
    }
    if (result == PASSED && !guard_alloc(&b[nf + nt], kiln_program_temp_size(p), pl == GUARD_START ? GUARD_START : GUARD_END_ALIGNED, 64))
        snprintf(msg, n, "cannot map guarded buffers"), result = FAILED;
    if (result == PASSED) {
        kiln_status *st = kiln_program_run(p, ins, outs, b[nf + nt].p);
        if (st) snprintf(msg, n, "run: %s", kiln_status_message(st)), kiln_status_free(st), result = FAILED;
    }
    for (int i = 0; i < nt && result == PASSED; i++) result = check_output(p, set, i, outs[i], msg, n);
    for (int i = nf; i <= nf + nt && result == PASSED; i++)
        if (!guard_intact(&b[i])) snprintf(msg, n, "a write outside buffer %d (%s)", i, guard_place_name(pl)), result = FAILED;
    for (int i = 0; i <= nf + nt; i++) guard_free(&b[i]);
    free(b), free(ins), free(outs);
    return result;
}

/* Runs one test data set, its buffers ending at a guard page and then
 * starting right after one; returns PASSED or FAILED with a message. */
static int run_set(kiln_program *p, const char *set, char *msg, size_t n)
{
    int nf = kiln_program_num_feeds(p);
    onnx_tensor *in = calloc((size_t)nf + 1, sizeof *in);
    int result = in ? PASSED : FAILED;
    char path[4096];
    for (int i = 0; i < nf && result == PASSED; i++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        if (!load_tensor(path, &in[i], msg, n)) result = FAILED;
        else if (in[i].bytes != kiln_program_feed(p, i).bytes || (int)in[i].dtype != (int)kiln_program_feed(p, i).dtype)
            snprintf(msg, n, "input %d: dtype/size differs from the model's declaration", i), result = FAILED;
    }
    if (result == PASSED) result = run_placed(p, set, in, GUARD_END_EXACT, msg, n);
    if (result == PASSED) result = run_placed(p, set, in, GUARD_START, msg, n);
    for (int i = 0; in && i < nf; i++) free(in[i].data);
    free(in);
    return result;
}

/* Binds the data set's small inputs (at most 64 elements: shapes, axes, k,
 * scales) to their values, as `kiln run` does for feeds Kiln needs as
 * constants; returns false if the model does not read. */
static bool bind_small_inputs(kiln_model *m, const char *model_path, const char *set)
{
    size_t size;
    unsigned char *b = slurp(model_path, &size);
    kl_diag d = {0};
    onnx_model *om;
    bool ok = b && onnx_model_load_buffer(b, size, model_path, &om, &d);
    free(b);
    kl_diag_clear(&d);
    if (!ok) return false;
    const char *names[64];
    int nn = onnx_model_feeds(om, names, 64);
    for (int i = 0; i < nn; i++) {
        char path[4096], msg[256];
        onnx_tensor t;
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        if (!load_tensor(path, &t, msg, sizeof msg)) continue;
        if (t.bytes <= 64 * kiln_dtype_size((kiln_dtype)t.dtype)) {
            kiln_status *st = kiln_model_bind(m, names[i], (kiln_dtype)t.dtype, t.rank, t.dims, t.data);
            kiln_status_free(st);
        }
        free(t.data);
    }
    onnx_model_free(om);
    return true;
}

/* The model compiled once per data set, specialized on its small inputs;
 * UNSUPPORTED (with the unspecialized message kept in msg) if that does not
 * compile either. */
static int run_specialized(const char *dir, const kiln_options *o, char *msg, size_t n)
{
    int result = PASSED, sets = 0;
    char path[4096], model[4096];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    for (int s = 0; result == PASSED; s++, sets++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, s);
        struct stat sb;
        if (stat(path, &sb)) break;
        kiln_model *m;
        kiln_program *p;
        kiln_status *st = kiln_model_load(model, &m);
        if (st || !bind_small_inputs(m, model, path) || (st = kiln_jit(m, o, &p))) {
            kiln_status_free(st);
            kiln_model_free(m);
            return UNSUPPORTED;
        }
        result = run_set(p, path, msg, n);
        kiln_program_free(p);
        kiln_model_free(m);
    }
    return sets ? result : UNSUPPORTED;
}

static int run_case(const char *dir, char *msg, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    if (st) {
        snprintf(msg, n, "%s", kiln_status_message(st));
        kiln_status_free(st);
        return UNSUPPORTED;
    }
    kiln_options o;
    kiln_options_init(&o);
    o.opt_level = 1; /* the suite checks semantics; -O1 fuses and folds like -O2, compiles faster */
    kiln_program *p;
    if ((st = kiln_jit(m, &o, &p))) {
        snprintf(msg, n, "%s", kiln_status_message(st));
        kiln_status_free(st);
        kiln_model_free(m);
        return run_specialized(dir, &o, msg, n);
    }
    int result = PASSED, sets = 0;
    for (int s = 0; result == PASSED; s++, sets++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, s);
        struct stat sb;
        if (stat(path, &sb)) break;
        result = run_set(p, path, msg, n);
    }
    if (!sets) snprintf(msg, n, "no test data sets"), result = FAILED;
    kiln_program_free(p);
    kiln_model_free(m);
    return result;
}

/* ---- the parent: fork per case, collect ---------------------------------- */

typedef struct outcome {
    char group[32], name[160];
    int cls;
    char msg[600];
} outcome;

typedef struct job {
    pid_t pid;
    int fd;
    outcome *out;
} job;

static void start(job *j, const char *dir, outcome *o)
{
    int fds[2];
    if (pipe(fds)) exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(TIME_LIMIT_S);
        char msg[600] = "";
        int cls = run_case(dir, msg, sizeof msg);
        char *nl = strchr(msg, '\n');
        if (nl) *nl = 0; /* the first line names the problem */
        if (write(fds[1], msg, strlen(msg) + 1) < 0) _exit(100);
        _exit(cls);
    }
    close(fds[1]);
    j->pid = pid, j->fd = fds[0], j->out = o;
}

static void finish(job *j)
{
    int status;
    ssize_t got = read(j->fd, j->out->msg, sizeof j->out->msg - 1);
    j->out->msg[got > 0 ? got : 0] = 0;
    close(j->fd);
    waitpid(j->pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) < CRASHED) j->out->cls = WEXITSTATUS(status);
    else {
        j->out->cls = CRASHED;
        snprintf(j->out->msg, sizeof j->out->msg, WIFSIGNALED(status) ? "signal %d%s" : "exit %d%s",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                 WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
    }
    j->pid = 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Op named by an "unsupported op X" message, for the frequency table. */
static const char *unsupported_op(const char *msg, char *buf, size_t n)
{
    const char *p = strstr(msg, "unsupported op ");
    if (!p) return NULL;
    snprintf(buf, n, "%s", p + 15);
    buf[strcspn(buf, " \n")] = 0;
    return buf;
}

static void write_markdown(const char *path, outcome *o, int n, int counts[N_GROUPS][N_CLASSES])
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "# ONNX backend test suite\n\nGenerated by `tests/onnx/onnx_suite` (run by `make test`) over Debian's "
               "libonnx-testdata (ONNX 1.12, opsets up to 17). Each case runs in its own process; outputs are compared "
               "at rtol 1e-3 / atol 1e-7, integers and bools exactly. A model Kiln refuses as it stands (typically "
               "a shape, axes, k or scales given as a graph input) is compiled again per test data set, specialized "
               "on its inputs of at most 64 elements, as `kiln run` does (docs/cli.md, `--bind`).\n\n");
    fprintf(f, "| group | cases | passed | failed | unsupported | crashed |\n|---|---|---|---|---|---|\n");
    int tot[N_CLASSES] = {0};
    for (int g = 0; g < N_GROUPS; g++) {
        int all = 0;
        for (int c = 0; c < N_CLASSES; c++) all += counts[g][c], tot[c] += counts[g][c];
        fprintf(f, "| %s | %d | %d | %d | %d | %d |\n", groups[g], all, counts[g][PASSED], counts[g][FAILED],
                counts[g][UNSUPPORTED], counts[g][CRASHED]);
    }
    fprintf(f, "| **all** | %d | %d | %d | %d | %d |\n\n", n, tot[PASSED], tot[FAILED], tot[UNSUPPORTED], tot[CRASHED]);
    /* missing ops by frequency */
    char ops[512][64];
    int freq[512] = {0}, nops = 0;
    for (int i = 0; i < n; i++) {
        char buf[64];
        const char *op = o[i].cls == UNSUPPORTED ? unsupported_op(o[i].msg, buf, sizeof buf) : NULL;
        if (!op) continue;
        int k = 0;
        while (k < nops && strcmp(ops[k], op)) k++;
        if (k == nops && nops < 512) snprintf(ops[nops++], 64, "%s", op);
        if (k < 512) freq[k]++;
    }
    fprintf(f, "## Ops still missing, by the number of cases that need them\n\n");
    for (int done = 0; done < nops; done++) {
        int best = -1;
        for (int k = 0; k < nops; k++)
            if (freq[k] > 0 && (best < 0 || freq[k] > freq[best])) best = k;
        if (best < 0) break;
        fprintf(f, "%s%s (%d)", done ? ", " : "", ops[best], freq[best]);
        freq[best] = -freq[best];
    }
    fprintf(f, "\n\n## Every case that is not passed\n\n| case | class | first line of the message |\n|---|---|---|\n");
    for (int i = 0; i < n; i++)
        if (o[i].cls != PASSED) {
            for (char *q = o[i].msg; *q; q++)
                if (*q == '|') *q = '/';
            fprintf(f, "| %s/%s | %s | %s |\n", o[i].group, o[i].name, class_names[o[i].cls], o[i].msg);
        }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: onnx_suite DATA_DIR [--md FILE] [--floor FILE] [--jobs N] [--only S]\n"), 2;
    const char *data = argv[1], *md = NULL, *floor_file = NULL, *only = NULL;
    int jobs = 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--md")) md = argv[i + 1];
        else if (!strcmp(argv[i], "--floor")) floor_file = argv[i + 1];
        else if (!strcmp(argv[i], "--jobs")) jobs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
    }
    outcome *o = calloc(4096, sizeof *o);
    int n = 0, counts[N_GROUPS][N_CLASSES] = {{0}};
    job *running = calloc((size_t)jobs, sizeof *running);
    int group_of[4096];
    for (int g = 0; g < N_GROUPS; g++) {
        char gdir[2048];
        snprintf(gdir, sizeof gdir, "%s/%s", data, groups[g]);
        DIR *d = opendir(gdir);
        if (!d) return fprintf(stderr, "onnx_suite: cannot open %s: %s\n", gdir, strerror(errno)), 2;
        char **names = NULL;
        int nn = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.' && (!only || strstr(e->d_name, only)))
                names = realloc(names, sizeof *names * (size_t)(nn + 1)), names[nn++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)nn, sizeof *names, by_name);
        for (int i = 0; i < nn && n < 4096; i++, n++) {
            snprintf(o[n].group, sizeof o[n].group, "%s", groups[g]);
            snprintf(o[n].name, sizeof o[n].name, "%s", names[i]);
            group_of[n] = g;
            int slot = 0;
            while (running[slot].pid) {
                if (++slot == jobs) { /* all busy: wait for the oldest */
                    finish(&running[0]);
                    slot = 0;
                }
            }
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/%s", gdir, names[i]);
            start(&running[slot], dir, &o[n]);
            free(names[i]);
        }
        free(names);
    }
    for (int s = 0; s < jobs; s++)
        if (running[s].pid) finish(&running[s]);
    int tot[N_CLASSES] = {0};
    for (int i = 0; i < n; i++) counts[group_of[i]][o[i].cls]++, tot[o[i].cls]++;
    for (int i = 0; i < n; i++)
        if (o[i].cls == CRASHED || o[i].cls == FAILED) printf("%s %s/%s: %s\n", class_names[o[i].cls], o[i].group, o[i].name, o[i].msg);
    for (int g = 0; g < N_GROUPS; g++)
        printf("onnx_suite: %-18s passed %d, failed %d, unsupported %d, crashed %d\n", groups[g], counts[g][PASSED],
               counts[g][FAILED], counts[g][UNSUPPORTED], counts[g][CRASHED]);
    if (md) write_markdown(md, o, n, counts);
    printf("onnx_suite: %d cases; unsupported %d, crashed %d\n", n, tot[UNSUPPORTED], tot[CRASHED]);
    printf("%d passed, %d failed\n", tot[PASSED], tot[FAILED] + tot[CRASHED]);
    int rc = 0;
    if (floor_file) {
        FILE *f = fopen(floor_file, "r");
        int fl = 0;
        if (!f || fscanf(f, "%d", &fl) != 1) return fprintf(stderr, "onnx_suite: cannot read the floor %s\n", floor_file), 2;
        fclose(f);
        if (tot[PASSED] < fl) fprintf(stderr, "onnx_suite: %d passed is below the floor of %d\n", tot[PASSED], fl), rc = 1;
    }
    if (tot[CRASHED]) fprintf(stderr, "onnx_suite: %d crashed (a crash is a bug)\n", tot[CRASHED]), rc = 1;
    return rc;
}
