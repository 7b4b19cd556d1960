/* tests/test_sparse.c — the sparse ops (frontend/tf/tf_ops_sparse.c)
 * against TensorFlow (tools/gen_sparse.py, tests/train/sparse/<case>):
 * Unique in its static-bound form, the unsorted segment reductions,
 * gathers from and scatters into variables, the sparse optimizer updates
 * and TF1's optimizers on an embedding, all with repeated indices; and the
 * documented behaviour for out-of-range indices. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"

#define SPARSE KILN_SOURCE_DIR "/tests/train/sparse"
#define MAXV 32

typedef struct tensor {
    char name[64], dtype[8];
    long n;
    void *data; /* int32, int64 or float as dtype says */
} tensor;

typedef struct ref {
    tensor feeds[MAXV], fetches[MAXV], vars[MAXV];
    int n_feeds, n_fetches, n_vars, steps;
} ref;

static size_t esize(const char *t) { return !strcmp(t, "i64") ? 8 : 4; }

static char *read_tensor(char *p, tensor *t, bool typed)
{
    int used = 0;
    if (typed) cr_assert(sscanf(p, "%63s %7s %ld%n", t->name, t->dtype, &t->n, &used) == 3);
    else {
        cr_assert(sscanf(p, "%63s %ld%n", t->name, &t->n, &used) == 2);
        strcpy(t->dtype, "f32");
    }
    p += used;
    t->data = calloc((size_t)t->n + 1, esize(t->dtype));
    for (long i = 0; i < t->n; i++) {
        char *q;
        if (!strcmp(t->dtype, "f32")) ((float *)t->data)[i] = strtof(p, &q);
        else if (!strcmp(t->dtype, "i32")) ((int32_t *)t->data)[i] = (int32_t)strtol(p, &q, 10);
        else ((int64_t *)t->data)[i] = strtoll(p, &q, 10);
        cr_assert(q != p, "%s: short", t->name);
        p = q;
    }
    return p;
}

static void load_ref(const char *cs, ref *r)
{
    char path[512];
    snprintf(path, sizeof path, SPARSE "/%s/ref.txt", cs);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    memset(r, 0, sizeof *r);
    static char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "feed ", 5)) read_tensor(line + 5, &r->feeds[r->n_feeds++], true);
        else if (!strncmp(line, "fetch ", 6)) read_tensor(line + 6, &r->fetches[r->n_fetches++], true);
        else if (!strncmp(line, "var ", 4)) read_tensor(line + 4, &r->vars[r->n_vars++], false);
        else if (!strncmp(line, "steps ", 6)) r->steps = atoi(line + 6);
        cr_assert(r->n_feeds < MAXV && r->n_fetches < MAXV && r->n_vars < MAXV);
    }
    fclose(f);
}

static void free_ref(ref *r)
{
    for (int i = 0; i < r->n_feeds; i++) free(r->feeds[i].data);
    for (int i = 0; i < r->n_fetches; i++) free(r->fetches[i].data);
    for (int i = 0; i < r->n_vars; i++) free(r->vars[i].data);
}

/* max relative error (rtol 1e-5 against max(|tf|, 1)); ints exact */
static double compare(const char *cs, const tensor *want, const void *got)
{
    double worst = 0;
    for (long i = 0; i < want->n; i++) {
        if (!strcmp(want->dtype, "f32")) {
            double a = ((const float *)got)[i], b = ((const float *)want->data)[i];
            double e = fabs(a - b) / fmax(fabs(b), 1.0);
            cr_assert(e <= 1e-5, "%s: %s[%ld] = %.9g, TensorFlow %.9g", cs, want->name, i, a, b);
            worst = fmax(worst, e);
        } else if (!strcmp(want->dtype, "i32")) {
            cr_assert_eq(((const int32_t *)got)[i], ((const int32_t *)want->data)[i], "%s: %s[%ld]", cs, want->name, i);
        } else {
            cr_assert_eq(((const int64_t *)got)[i], ((const int64_t *)want->data)[i], "%s: %s[%ld]", cs, want->name, i);
        }
    }
    return worst;
}

static kiln_program *jit(kiln_model *m, const ref *r, const char **fetches, int n_fetches, const char *target)
{
    const char *feeds[MAXV];
    for (int i = 0; i < r->n_feeds; i++) feeds[i] = r->feeds[i].name;
    kiln_options o;
    kiln_options_init(&o);
    o.verify = 1;
    if (strcmp(target ? target : "", "init_all_vars_op")) o.feeds = feeds, o.n_feeds = r->n_feeds;
    o.fetches = fetches, o.n_fetches = n_fetches;
    o.targets = target ? &target : NULL, o.n_targets = target ? 1 : 0;
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    return p;
}

/* Runs one case; returns its max relative error on floats. */
static double run_case(const char *cs)
{
    ref r;
    load_ref(cs, &r);
    char path[512];
    snprintf(path, sizeof path, SPARSE "/%s/model.pb", cs);
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    const void *feeds[MAXV];
    for (int i = 0; i < r.n_feeds; i++) feeds[i] = r.feeds[i].data;
    unsigned char *state = NULL;
    kiln_program *init = NULL;
    if (r.steps) {
        init = jit(m, &r, NULL, 0, "init_all_vars_op");
        size_t size = kiln_program_state_size(init);
        state = aligned_alloc(64, (size + 63) / 64 * 64);
        memset(state, 0, size);
        cr_assert_null(kiln_program_run_state(init, NULL, NULL, state, NULL));
    }
    double worst = 0;
    if (r.n_fetches) {
        const char *names[MAXV];
        void *outs[MAXV];
        for (int i = 0; i < r.n_fetches; i++) {
            names[i] = r.fetches[i].name;
            outs[i] = calloc((size_t)r.fetches[i].n + 1, esize(r.fetches[i].dtype));
        }
        kiln_program *p = jit(m, &r, names, r.n_fetches, NULL);
        st = state ? kiln_program_run_state(p, feeds, outs, state, NULL) : kiln_program_run(p, feeds, outs, NULL);
        cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
        for (int i = 0; i < r.n_fetches; i++) worst = fmax(worst, compare(cs, &r.fetches[i], outs[i])), free(outs[i]);
        kiln_program_free(p);
    }
    if (r.steps) {
        kiln_program *upd = jit(m, &r, NULL, 0, "upd");
        for (int s = 0; s < r.steps; s++) {
            st = kiln_program_run_state(upd, feeds, NULL, state, NULL);
            cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
        }
        cr_assert_eq(r.n_vars, kiln_program_num_variables(upd), "%s: every variable has a reference", cs);
        for (int i = 0; i < r.n_vars; i++) {
            kiln_variable_info vi = kiln_program_variable(upd, i);
            cr_assert_str_eq(vi.name, r.vars[i].name);
            cr_assert_eq((long)(vi.bytes / 4), r.vars[i].n, "%s: %s", cs, vi.name);
            worst = fmax(worst, compare(cs, &r.vars[i], state + vi.offset));
        }
        kiln_program_free(upd);
    }
    kiln_program_free(init);
    free(state);
    kiln_model_free(m);
    free_ref(&r);
    return worst;
}

#define CASE(name)                                                                      \
    Test(sparse, name)                                                                  \
    {                                                                                   \
        double e = run_case(#name);                                                     \
        fprintf(stderr, "sparse %-15s max rel err %.3g (vs TensorFlow)\n", #name, e);    \
    }

/* y padded with -1 past the distinct count, idx and counts exact */
CASE(unique)
/* sum/prod/max/min with an empty segment and a negative id; 2-D ids; ints */
CASE(segments)
/* TF's optimizer dedupe: the segment sum's rows past the count are 0 */
CASE(dedupe)
/* ResourceGather; resource and ref Scatter{Add,Sub,Mul,Min,Max,Update}; a scalar update */
CASE(gather_scatter)
/* (Resource)SparseApply{Momentum (and Nesterov),Adagrad,AdagradV2,RMSProp}, repeated indices, 3 steps */
CASE(sparse_apply)
/* TF1 Adam/Momentum/Adagrad/RMSProp/GD minimize() on an embedding, both variable forms */
CASE(optimizers)
/* indices out of range: a scatter drops them, a segment id too (TF raises) */
CASE(oob)

static void expect_error(kiln_model *m, const char *fetch, const char *target, const char *a, const char *b)
{
    kiln_options o;
    kiln_options_init(&o);
    o.fetches = fetch ? &fetch : NULL, o.n_fetches = fetch ? 1 : 0;
    o.targets = target ? &target : NULL, o.n_targets = target ? 1 : 0;
    kiln_program *p = NULL;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_not_null(st, "expected an error for %s", fetch ? fetch : target);
    const char *msg = kiln_status_message(st);
    cr_assert(strstr(msg, a) && strstr(msg, b), "message '%s' lacks '%s' / '%s'", msg, a, b);
    kiln_status_free(st);
}

/* What Kiln refuses, naming the node and op: a num_segments that is not a
 * constant, a sparse update whose indices may repeat more than 256 times,
 * updates that do not fit the indices. */
Test(sparse, errors)
{
    kiln_model *m;
    cr_assert_null(kiln_model_load(SPARSE "/errors/model.pb", &m));
    expect_error(m, "seg_out", NULL, "node 'seg_dyn' (UnsortedSegmentSum)", "num_segments");
    expect_error(m, NULL, "long_apply", "node 'long_apply' (ResourceSparseApplyMomentum)", "longer than 256");
    expect_error(m, NULL, "bad_scatter", "node 'bad_scatter' (ResourceScatterAdd)", "do not fit 2 indices");
    kiln_model_free(m);
}
