/* tests/test_train.c — training graphs through the JIT API (docs/training.md):
 * variables as caller-owned state, init and train entries, every optimizer
 * in its resource and ref forms against TensorFlow's own runs
 * (tools/gen_train.py), and the errors a Session would raise. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"
#include "tools/kiln/npy.h"
#include "support/train_support.h"

#define TRAIN KILN_SOURCE_DIR "/tests/train"

static const int64_t x_dims[] = {100, 32}, y_dims[] = {100, 8};
static const kiln_feed_shape pins[] = {{"x", 2, x_dims}, {"y", 2, y_dims}};

static kiln_program *entry(kiln_model *m, const char **fetches, int n_fetches, const char **targets, int n_targets)
{
    static const char *feeds[] = {"x", "y"};
    return train_entry(m, feeds, 2, pins, 2, fetches, n_fetches, targets, n_targets);
}

/* Inits, trains `steps` steps and compares every cost and the final
 * variables with TensorFlow's; returns the costs' max relative error. */
/* Loads dir/<var>.npy into the state for every variable and marks it initialized. */
static void load_state(const kiln_program *p, unsigned char *state, const char *dir)
{
    for (int v = 0; v < kiln_program_num_variables(p); v++) {
        kiln_variable_info vi = kiln_program_variable(p, v);
        char file[256], path[1024];
        size_t at = 0;
        for (const char *q = vi.name; *q && at < 200; q++) at += *q == '/' ? (size_t)snprintf(file + at, 3, "__") : (file[at] = *q, 1);
        file[at] = 0;
        snprintf(path, sizeof path, "%s/%s.npy", dir, file);
        npy_array a = train_load_npy(path);
        cr_assert_eq(a.bytes, vi.bytes, "%s", path);
        memcpy(state + vi.offset, a.data, vi.bytes);
        memcpy(state + vi.flag_offset, &(uint32_t){1}, 4);
        npy_free(&a);
    }
}

static double train_from(const char *dir, const char *model, int steps, double rtol, const char *init_dir);
/* the final variables' largest (norm-wise) relative error of the last train_from */
static double last_var_err;

static double train_vs_tf(const char *dir, const char *model, int steps, double rtol)
{
    return train_from(dir, model, steps, rtol, NULL);
}

/* init_dir: start from these variables (TensorFlow's initial values)
 * instead of running the init entry. */
static double train_from(const char *dir, const char *model, int steps, double rtol, const char *init_dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, model);
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    const char *init_t[] = {"init_all_vars_op"}, *cost[] = {"cost"}, *train_t[] = {"train"};
    kiln_program *init = init_dir ? NULL : entry(m, NULL, 0, init_t, 1), *step = entry(m, cost, 1, train_t, 1);
    size_t size = kiln_program_state_size(step);
    cr_assert(size > 0 && (!init || size == kiln_program_state_size(init)), "one state layout for both entries");
    unsigned char *state = aligned_alloc(64, size);
    memset(state, 0, size);
    if (init_dir) load_state(step, state, init_dir);
    else cr_assert_null(kiln_program_run_state(init, NULL, NULL, state, NULL));
    npy_array x = train_load_npy(TRAIN "/x.npy"), y = train_load_npy(TRAIN "/y.npy");
    snprintf(path, sizeof path, "%s/cost.npy", dir);
    npy_array tf_cost = train_load_npy(path);
    cr_assert_eq(tf_cost.dims[0], steps);
    double worst = 0;
    last_var_err = 0;
    for (int i = 0; i < steps; i++) {
        float c = NAN;
        st = kiln_program_run_state(step, (const void *[]){x.data, y.data}, (void *[]){&c}, state, NULL);
        cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
        double e = train_max_rel(&c, (const float *)tf_cost.data + i, 1, 1e-6);
        cr_assert(e <= rtol, "%s step %d: cost %.9g, TensorFlow %.9g", dir, i, c, ((float *)tf_cost.data)[i]);
        worst = fmax(worst, e);
    }
    for (int v = 0; v < kiln_program_num_variables(step); v++) {
        kiln_variable_info vi = kiln_program_variable(step, v);
        char file[256];
        size_t at = 0;
        for (const char *q = vi.name; *q && at < 200; q++) at += *q == '/' ? (size_t)snprintf(file + at, 3, "__") : (file[at] = *q, 1);
        file[at] = 0;
        snprintf(path, sizeof path, "%s/final/%s.npy", dir, file);
        npy_array ref = train_load_npy(path);
        cr_assert_eq(ref.bytes, vi.bytes, "%s: %s", dir, vi.name);
        /* relative to the tensor's largest |tf| (norm-wise): a slot element
         * that sums terms of both signs (momentum, a gradient of a residual
         * near zero) carries the rounding of its terms, not of its own size */
        double big = 0;
        for (size_t k = 0; k < vi.bytes / 4; k++) big = fmax(big, fabs(((const float *)ref.data)[k]));
        double e = train_max_rel((const float *)(state + vi.offset), ref.data, (int64_t)(vi.bytes / 4), fmax(1e-6, big));
        cr_assert(e <= rtol, "%s: final %s off by %.3g (relative)", dir, vi.name, e);
        last_var_err = fmax(last_var_err, e);
        npy_free(&ref);
    }
    npy_free(&x), npy_free(&y), npy_free(&tf_cost);
    free(state);
    kiln_program_free(init), kiln_program_free(step);
    kiln_model_free(m);
    return worst;
}

/* A linear model whose gradient is written by hand: the state machinery
 * and each optimizer's update formula against TensorFlow, 20 steps. */
Test(train, optimizers_vs_tensorflow)
{
    static const char *opt[] = {"adam", "gd", "momentum", "nesterov", "rmsprop", "adagrad"};
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
        for (int ref = 0; ref < 2; ref++) {
            char dir[512];
            snprintf(dir, sizeof dir, TRAIN "/manual/%s_%s", opt[i], ref ? "ref" : "resource");
            double e = train_vs_tf(dir, "model.pb", 20, 1e-4);
            fprintf(stderr, "train %-20s cost max rel err %.3g\n", dir + strlen(TRAIN) + 1, e);
        }
}

static void expect(kiln_status *st, kiln_code code, const char *a, const char *b)
{
    cr_assert_not_null(st, "expected an error");
    const char *msg = kiln_status_message(st);
    cr_assert_eq(kiln_status_code(st), code, "code %d: %s", kiln_status_code(st), msg);
    cr_assert(strstr(msg, a) && (!b || strstr(msg, b)), "message '%s' lacks '%s' / '%s'", msg, a, b ? b : "");
    kiln_status_free(st);
}

/* TF's FailedPrecondition: reading a variable before init names it; an
 * unknown target and an unpinned None dim are named too. */
Test(train, errors)
{
    kiln_model *m;
    cr_assert_null(kiln_model_load(TRAIN "/manual/adam_ref/model.pb", &m));
    const char *cost[] = {"cost"}, *train_t[] = {"train"};
    kiln_program *step = entry(m, cost, 1, train_t, 1);
    unsigned char *state = aligned_alloc(64, kiln_program_state_size(step));
    memset(state, 0, kiln_program_state_size(step));
    float x[100 * 32] = {0}, y[100 * 8] = {0}, c;
    expect(kiln_program_run_state(step, (const void *[]){x, y}, (void *[]){&c}, state, NULL), KILN_ERR_PRECONDITION,
           "' is read before it is initialized", "FailedPrecondition");
    expect(kiln_program_run(step, (const void *[]){x, y}, (void *[]){&c}, NULL), KILN_ERR_INVALID, "kiln_program_run_state", NULL);
    free(state);
    kiln_program_free(step);

    kiln_options o;
    kiln_options_init(&o);
    const char *bad[] = {"no_such_op"};
    o.targets = bad, o.n_targets = 1;
    kiln_program *p;
    expect(kiln_jit(m, &o, &p), KILN_ERR_INVALID, "target 'no_such_op' names no node", NULL);
    kiln_options_init(&o);
    o.fetches = cost, o.n_fetches = 1;
    expect(kiln_jit(m, &o, &p), KILN_ERR_INVALID, "feed 'x': shape is not static ([?,32])", "--feed x:1,32");
    const int64_t wrong[] = {100, 31};
    const kiln_feed_shape bad_pin[] = {{"x", 2, wrong}, {"y", 2, y_dims}};
    o.feed_shapes = bad_pin, o.n_feed_shapes = 2;
    expect(kiln_jit(m, &o, &p), KILN_ERR_INVALID, "feed 'x': pinned dim 1 is 31", NULL);
    kiln_model_free(m);
}

/* An entry that fetches a variable's old value (w/read) and also updates it
 * (target train): the read is scheduled after the update kernel, so the
 * update cannot be in place; bufassign stages it and copies it after the
 * last read.  The fetch must be the old w, and the new state the same as a
 * plain train step's (in place) — bit for bit. */
Test(train, update_after_read_is_staged)
{
    kiln_model *m;
    cr_assert_null(kiln_model_load(TRAIN "/manual/gd_ref/model.pb", &m));
    const char *init_t[] = {"init_all_vars_op"}, *train_t[] = {"train"}, *read[] = {"w/read"};
    kiln_program *init = entry(m, NULL, 0, init_t, 1), *plain = entry(m, NULL, 0, train_t, 1);
    kiln_options o;
    kiln_options_init(&o);
    o.verify = 1;
    static const char *feeds[] = {"x", "y"};
    o.feeds = feeds, o.n_feeds = 2, o.fetches = read, o.n_fetches = 1, o.targets = train_t, o.n_targets = 1;
    o.feed_shapes = pins, o.n_feed_shapes = 2;
    kiln_program *both;
    kiln_status *st = kiln_jit(m, &o, &both);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    size_t size = kiln_program_state_size(init);
    unsigned char *a = aligned_alloc(64, size), *b = aligned_alloc(64, size), *w0 = malloc(size);
    memset(a, 0, size);
    cr_assert_null(kiln_program_run_state(init, NULL, NULL, a, NULL));
    memcpy(b, a, size), memcpy(w0, a, size);
    npy_array x = train_load_npy(TRAIN "/x.npy"), y = train_load_npy(TRAIN "/y.npy");
    kiln_variable_info w = kiln_program_variable(init, 0);
    cr_assert_str_eq(w.name, "w");
    float *old = malloc(w.bytes);
    cr_assert_null(kiln_program_run_state(plain, (const void *[]){x.data, y.data}, NULL, a, NULL));
    cr_assert_null(kiln_program_run_state(both, (const void *[]){x.data, y.data}, (void *[]){old}, b, NULL));
    cr_assert(!memcmp(old, w0 + w.offset, w.bytes), "the fetch is w before the step");
    cr_assert(memcmp(a + w.offset, w0 + w.offset, w.bytes), "the step changed w");
    cr_assert(!memcmp(a, b, size), "staged and in-place updates agree");
    free(old), free(a), free(b), free(w0);
    npy_free(&x), npy_free(&y);
    kiln_program_free(init), kiln_program_free(plain), kiln_program_free(both);
    kiln_model_free(m);
}

/* The model (tools/gen_train.py, samples/train_mlp/mlp.pb): x ->
 * tanh(xW1+b1) -> tanh(.W2+b2), squared error, AdamOptimizer().minimize,
 * with TensorFlow's own gradient subgraph (TanhGrad, BiasAddGrad,
 * BroadcastGradientArgs, ...) and seeded truncated-normal initializers.
 * The init entry must give TensorFlow's initial variables bit for bit
 * (Philox), then 200 steps match every cost and the final variables. */
static void init_matches_tf(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/mlp.pb", dir);
    kiln_model *m;
    cr_assert_null(kiln_model_load(path, &m));
    const char *init_t[] = {"init_all_vars_op"};
    kiln_program *init = entry(m, NULL, 0, init_t, 1);
    size_t size = kiln_program_state_size(init);
    unsigned char *state = aligned_alloc(64, size);
    memset(state, 0, size);
    cr_assert_null(kiln_program_run_state(init, NULL, NULL, state, NULL));
    int n = kiln_program_num_variables(init);
    cr_assert_eq(n, 14, "4 weights, 8 Adam slots, 2 beta powers");
    for (int v = 0; v < n; v++) {
        kiln_variable_info vi = kiln_program_variable(init, v);
        char file[256];
        size_t at = 0;
        for (const char *q = vi.name; *q && at < 200; q++) at += *q == '/' ? (size_t)snprintf(file + at, 3, "__") : (file[at] = *q, 1);
        file[at] = 0;
        snprintf(path, sizeof path, "%s/init/%s.npy", dir, file);
        npy_array ref = train_load_npy(path);
        cr_assert_eq(ref.bytes, vi.bytes, "%s", path);
        cr_assert(!memcmp(state + vi.offset, ref.data, vi.bytes), "%s: init of %s differs from TensorFlow's", dir, vi.name);
        npy_free(&ref);
    }
    free(state);
    kiln_program_free(init);
    kiln_model_free(m);
}

Test(train, mlp_tf_gradients_200_steps)
{
    static const char *forms[] = {"resource", "ref"};
    for (int f = 0; f < 2; f++) {
        char dir[512];
        snprintf(dir, sizeof dir, TRAIN "/%s", forms[f]);
        init_matches_tf(dir);
        double e = train_vs_tf(dir, "mlp.pb", 200, 1e-4);
        fprintf(stderr, "train mlp %-8s 200 steps: cost max rel err %.3g, final variables %.3g (norm-wise)\n", forms[f], e,
                last_var_err);
    }
}
