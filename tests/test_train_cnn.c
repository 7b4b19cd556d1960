/* tests/test_train_cnn.c — the CNN training proof (issue 11): LeNet graphs
 * as TensorFlow 1 writes them (conv, max pool, dense, sparse softmax cross
 * entropy, Momentum; tools/gen_train_lenet.py), trained from C through the
 * JIT with the state block: init entry, then 50 steps of one entry that
 * fetches the loss and runs `train`.  Every step's loss and the final
 * trainable variables against TensorFlow's own run (one thread). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"
#include "tools/kiln/npy.h"
#include "support/train_support.h"

#define LENET KILN_SOURCE_DIR "/tests/train/lenet"
#define STEPS 50

static const int64_t x_dims[] = {32, 28, 28, 1}, l_dims[] = {32};
static const kiln_feed_shape pins[] = {{"x", 4, x_dims}, {"labels", 1, l_dims}};

static kiln_program *entry(kiln_model *m, const char **fetches, int n_fetches, const char **targets, int n_targets)
{
    static const char *feeds[] = {"x", "labels"};
    return train_entry(m, feeds, 2, pins, 2, fetches, n_fetches, targets, n_targets);
}

typedef struct errors {
    double loss;      /* max over steps, relative */
    double var_norm;  /* max over variables, relative to the tensor's largest |tf| */
    double var_elem;  /* max over elements, relative to max(|tf|, 1e-3 * largest) */
    int n_vars;
} errors;

/* Inits, trains STEPS steps and compares with TensorFlow at rtol. */
static errors train_vs_tf(const char *net, double rtol)
{
    char path[1024];
    snprintf(path, sizeof path, LENET "/%s/model.pb", net);
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    const char *init_t[] = {"init_all_vars_op"}, *loss[] = {"loss"}, *train_t[] = {"train"};
    kiln_program *init = entry(m, NULL, 0, init_t, 1), *step = entry(m, loss, 1, train_t, 1);
    size_t size = kiln_program_state_size(step);
    cr_assert(size > 0 && size == kiln_program_state_size(init), "one state layout for both entries");
    unsigned char *state = aligned_alloc(64, size);
    cr_assert_not_null(state);
    memset(state, 0, size);
    cr_assert_null(kiln_program_run_state(init, NULL, NULL, state, NULL));
    npy_array x = train_load_npy(LENET "/x.npy"), labels = train_load_npy(LENET "/labels.npy");
    snprintf(path, sizeof path, LENET "/%s/loss.npy", net);
    npy_array tf_loss = train_load_npy(path);
    cr_assert_eq(tf_loss.dims[0], STEPS);
    errors e = {0};
    for (int i = 0; i < STEPS; i++) {
        float l = NAN;
        st = kiln_program_run_state(step, (const void *[]){x.data, labels.data}, (void *[]){&l}, state, NULL);
        cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
        double r = train_max_rel(&l, (const float *)tf_loss.data + i, 1, 1e-6);
        cr_assert(r <= rtol, "%s step %d: loss %.9g, TensorFlow %.9g", net, i, l, ((float *)tf_loss.data)[i]);
        e.loss = fmax(e.loss, r);
    }
    /* the loss fell: training happened (50 steps of Momentum on one batch) */
    cr_assert(((float *)tf_loss.data)[STEPS - 1] < ((float *)tf_loss.data)[0] - 0.05f, "%s: TensorFlow's loss did not fall", net);
    for (int v = 0; v < kiln_program_num_variables(step); v++) {
        kiln_variable_info vi = kiln_program_variable(step, v);
        if (strstr(vi.name, "Momentum")) continue; /* slots: not saved (fixture size); they drive the variables */
        char file[256];
        size_t at = 0;
        for (const char *q = vi.name; *q && at < 200; q++) at += *q == '/' ? (size_t)snprintf(file + at, 3, "__") : (file[at] = *q, 1);
        file[at] = 0;
        snprintf(path, sizeof path, LENET "/%s/final/%s.npy", net, file);
        npy_array ref = train_load_npy(path);
        cr_assert_eq(ref.bytes, vi.bytes, "%s: %s", net, vi.name);
        const float *tf = ref.data, *k = (const float *)(state + vi.offset);
        double big = 0;
        for (size_t j = 0; j < vi.bytes / 4; j++) big = fmax(big, fabs(tf[j]));
        double norm = train_max_rel(k, tf, (int64_t)(vi.bytes / 4), fmax(1e-6, big));
        double elem = train_max_rel(k, tf, (int64_t)(vi.bytes / 4), fmax(1e-6, 1e-3 * big));
        cr_assert(norm <= rtol, "%s: final %s off by %.3g (relative to its largest element)", net, vi.name, norm);
        e.var_norm = fmax(e.var_norm, norm), e.var_elem = fmax(e.var_elem, elem);
        e.n_vars++;
        npy_free(&ref);
    }
    npy_free(&x), npy_free(&labels), npy_free(&tf_loss);
    free(state);
    kiln_program_free(init), kiln_program_free(step);
    kiln_model_free(m);
    return e;
}

static void report(const char *net, errors e)
{
    fprintf(stderr, "train_cnn %-6s %d steps: loss max rel err %.3g; %d variables max rel err %.3g (norm-wise), %.3g (element-wise)\n",
            net, STEPS, e.loss, e.n_vars, e.var_norm, e.var_elem);
    FILE *log = fopen(KILN_BINARY_DIR "/train-cnn-errors.txt", "a");
    if (log) {
        fprintf(log, "%s loss %.3g var_norm %.3g var_elem %.3g\n", net, e.loss, e.var_norm, e.var_elem);
        fclose(log);
    }
}

/* LeNet (conv 5x5x6 SAME, pool, conv 5x5x16 VALID, pool, 120, 84, 10),
 * resource variables (VarHandleOp, ResourceApplyMomentum). */
Test(train_cnn, lenet_resource_vs_tensorflow, .timeout = 600)
{
    errors e = train_vs_tf("lenet", 1e-3);
    cr_assert_eq(e.n_vars, 10, "conv1, conv2, fc1..fc3: weights and biases");
    report("lenet", e);
}

/* The same layers narrower, ref variables (VariableV2, ApplyMomentum). */
Test(train_cnn, small_ref_vs_tensorflow, .timeout = 600)
{
    errors e = train_vs_tf("small", 1e-3);
    cr_assert_eq(e.n_vars, 10);
    report("small", e);
}

/* An unpinned rank-1 feed (labels [?]) names the CLI's rank-1 pin syntax,
 * "labels:1," ("labels:1" would be output 1 of labels). */
Test(train_cnn, rank1_pin_hint)
{
    kiln_model *m;
    cr_assert_null(kiln_model_load(LENET "/lenet/model.pb", &m));
    const char *feeds[] = {"x", "labels"}, *loss[] = {"loss"};
    kiln_options o;
    kiln_options_init(&o);
    o.feeds = feeds, o.n_feeds = 2, o.fetches = loss, o.n_fetches = 1;
    o.feed_shapes = pins, o.n_feed_shapes = 1; /* x only */
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_not_null(st);
    cr_assert(strstr(kiln_status_message(st), "feed 'labels': shape is not static ([?]); pin it at compile time, e.g. --feed labels:1, ("),
              "%s", kiln_status_message(st));
    kiln_status_free(st);
    kiln_model_free(m);
}
