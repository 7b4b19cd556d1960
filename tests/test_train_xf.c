/* tests/test_train_xf.c — the transformer encoder trains as TensorFlow
 * trains it (tools/gen_train_transformer.py, tests/train/transformer):
 * TF1 graph, resource variables from seeded initializers, an embedding
 * whose gradient takes the sparse path (Unique, UnsortedSegmentSum,
 * ResourceScatterAdd in Adam's sparse update), 20 Adam steps through the
 * JIT with a state block.  Every step's loss and the sampled final
 * variables (Adam slots included) within 1e-3 of TensorFlow's. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/inspect.h"
#include "kiln/kiln.h"

#define XF KILN_SOURCE_DIR "/tests/train/transformer"
#define STEPS 20
#define RTOL 1e-3

static void *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    cr_assert(p && fread(p, 1, (size_t)n, f) == (size_t)n, "%s", path);
    p[n] = 0;
    fclose(f);
    if (size) *size = (size_t)n;
    return p;
}

static kiln_program *entry(kiln_model *m, const char **fetches, int n_fetches, const char **targets, int n_targets)
{
    static const char *feeds[] = {"ids", "mask", "target"};
    kiln_options o;
    kiln_options_init(&o);
    o.feeds = n_fetches ? feeds : NULL, o.n_feeds = n_fetches ? 3 : 0;
    o.fetches = fetches, o.n_fetches = n_fetches;
    o.targets = targets, o.n_targets = n_targets;
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    return p;
}

static const float *var_data(const kiln_program *p, const unsigned char *state, const char *name, int64_t *numel)
{
    for (int v = 0; v < kiln_program_num_variables(p); v++) {
        kiln_variable_info vi = kiln_program_variable(p, v);
        if (!strcmp(vi.name, name)) {
            *numel = (int64_t)(vi.bytes / 4);
            return (const float *)(state + vi.offset);
        }
    }
    cr_assert_fail("no variable '%s'", name);
    return NULL;
}

Test(train_xf, transformer_vs_tensorflow, .timeout = 600)
{
    kiln_model *m;
    kiln_status *st = kiln_model_load(XF "/xf.pb", &m);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    const char *init_t[] = {"init_all_vars_op"}, *loss[] = {"loss"}, *train_t[] = {"train"};
    kiln_program *init = entry(m, NULL, 0, init_t, 1), *step = entry(m, loss, 1, train_t, 1);
    size_t size = kiln_program_state_size(step);
    cr_assert(size > 0 && size == kiln_program_state_size(init));
    unsigned char *state = aligned_alloc(64, (size + 63) / 64 * 64);
    memset(state, 0, size);
    cr_assert_null(kiln_program_run_state(init, NULL, NULL, state, NULL));
    void *ids = slurp(XF "/ids.bin", NULL), *mask = slurp(XF "/mask.bin", NULL), *target = slurp(XF "/target.bin", NULL);
    size_t lb;
    float *tf_loss = slurp(XF "/loss.bin", &lb);
    cr_assert_eq(lb, STEPS * sizeof(float));
    double worst_loss = 0;
    for (int i = 0; i < STEPS; i++) {
        float l = NAN;
        st = kiln_program_run_state(step, (const void *[]){ids, mask, target}, (void *[]){&l}, state, NULL);
        cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
        double e = fabs((double)l - tf_loss[i]) / fabs((double)tf_loss[i]);
        cr_assert(e <= RTOL, "step %d: loss %.9g, TensorFlow %.9g", i, l, tf_loss[i]);
        worst_loss = fmax(worst_loss, e);
    }
    /* final.txt: name count sum sumsq, then "stride k" + every k-th element
     * or "rows r..." + those rows (the embedding and its slots' rows) */
    char *text = slurp(XF "/final.txt", NULL), *save = NULL;
    double worst_el = 0, worst_tiny = 0, worst_scale = 0, worst_norm = 0;
    int n_vars = 0;
    long n_checked = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[256], kind[16];
        long count;
        double sum, sumsq;
        int used;
        cr_assert(sscanf(line, "%255s %ld %lf %lf %15s%n", name, &count, &sum, &sumsq, kind, &used) == 5, "bad line");
        int64_t numel;
        const float *x = var_data(step, state, name, &numel);
        cr_assert_eq(numel, count, "%s", name);
        double s = 0, ss = 0;
        for (int64_t k = 0; k < numel; k++) s += x[k], ss += (double)x[k] * x[k];
        double e2 = fabs(sqrt(ss) - sqrt(sumsq)) / fmax(sqrt(sumsq), 1e-30);
        cr_assert(e2 <= RTOL, "%s: L2 norm %.9g, TensorFlow %.9g", name, sqrt(ss), sqrt(sumsq));
        cr_assert(fabs(s - sum) <= RTOL * sqrt(sumsq * (double)numel) + 1e-30, "%s: sum %.9g, TensorFlow %.9g", name, s, sum);
        worst_norm = fmax(worst_norm, e2);
        /* the sampled elements */
        char *p = line + used;
        double *vals = malloc(sizeof *vals * (size_t)(numel + 1));
        int64_t nv = 0;
        for (char *q; nv <= numel; p = q) {
            double v = strtod(p, &q);
            if (q == p) break;
            vals[nv++] = v;
        }
        int64_t *pos = malloc(sizeof *pos * (size_t)(nv + 1)), np = 0;
        if (!strcmp(kind, "stride")) {
            int64_t k = (int64_t)vals[0];
            for (int64_t j = 0; j * k < numel; j++) pos[np++] = j * k;
            cr_assert_eq(np, nv - 1, "%s: %ld samples", name, (long)nv);
            memmove(vals, vals + 1, sizeof *vals * (size_t)np);
        } else {
            int64_t row = 128, rows = nv / (row + 1);
            cr_assert_eq(rows * (row + 1), nv, "%s", name);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < row; j++) pos[np++] = (int64_t)vals[r] * row + j;
            memmove(vals, vals + rows, sizeof *vals * (size_t)np);
        }
        /* element-wise, relative to the larger of |TF| and 1% of the
         * tensor's largest sampled |TF|: a bias trained from 0 has elements
         * crossing zero, where Adam's m / sqrt(v) amplifies the rounding of
         * a near-zero gradient (measured there: 8e-4 of the element, 2e-6
         * of the tensor's scale).  worst_tiny reports the 0.1% floor. */
        double big = 0;
        for (int64_t j = 0; j < np; j++) big = fmax(big, fabs(vals[j]));
        for (int64_t j = 0; j < np; j++) {
            double d = fabs((double)x[pos[j]] - vals[j]), e = d / fmax(fabs(vals[j]), 1e-2 * big);
            cr_assert(e <= RTOL, "%s[%ld]: %.9g, TensorFlow %.9g", name, (long)pos[j], x[pos[j]], vals[j]);
            worst_el = fmax(worst_el, e);
            worst_tiny = fmax(worst_tiny, d / fmax(fabs(vals[j]), 1e-3 * big));
            worst_scale = fmax(worst_scale, d / fmax(big, 1e-30));
        }
        n_checked += np;
        n_vars++;
        free(vals), free(pos);
    }
    cr_assert_eq(n_vars, kiln_program_num_variables(step), "every variable has a line");
    fprintf(stderr, "train_xf: %d steps, loss max rel err %.3g; %d variables, %ld sampled values: max rel err %.3g "
                    "(floor 1%% of the tensor's max; 0.1%%: %.3g; of the tensor's max: %.3g), L2 norms %.3g\n",
            STEPS, worst_loss, n_vars, n_checked, worst_el, worst_tiny, worst_scale, worst_norm);
    free(text), free(ids), free(mask), free(target), free(tf_loss), free(state);
    kiln_program_free(init), kiln_program_free(step);
    kiln_model_free(m);
}

/* The plan of the train step (kiln/inspect.h): each Adam update is one
 * kernel storing m, v and the variable (passes/fuse.c: further outputs),
 * and the embedding's sparse slot updates scatter into the slots in place,
 * their decay (m * beta1) computed in the scatter's own loop: no copy of
 * the embedding's slots, no spare-row concat or slice. */
Test(train_xf, adam_is_one_kernel_per_variable_and_scatters_in_place)
{
    kiln_model *m;
    cr_assert_null(kiln_model_load(XF "/xf.pb", &m));
    static const char *feeds[] = {"ids", "mask", "target"}, *targets[] = {"train"};
    kiln_options o;
    kiln_options_init(&o);
    o.feeds = feeds, o.n_feeds = 3, o.targets = targets, o.n_targets = 1;
    kiln_plan_info *pi;
    kiln_status *st = kiln_inspect(m, &o, NULL, &pi);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    int further = 0, in_place_scatters = 0;
    for (int i = 0; i < pi->n_nodes; i++) {
        const kiln_node_info *n = &pi->nodes[i];
        cr_assert(!strstr(n->name, "update_emb") || (strcmp(n->op, "concat") && strcmp(n->op, "slice")),
                  "%s: a spare-row %s is back", n->name, n->op);
        if (n->kernel >= 0 && pi->kernels[n->kernel].root != n->id && !strcmp(n->store, "fetch")) {
            further++;
            cr_assert_str_eq(pi->nodes[i].op, "add", "%s: an Adam slot update is an add", n->name);
        }
        in_place_scatters += !strcmp(n->op, "scatter") && !strcmp(n->store, "fetch") && strstr(n->name, "update_emb/ResourceScatterAdd");
    }
    /* 92 variables: 1 embedding, 29 dense weights with 2 slots each, 2 beta powers */
    cr_assert_eq(further, 2 * 29, "dense Adam slots stored by their variable's kernel: %d", further);
    cr_assert_eq(in_place_scatters, 2, "the embedding's m and v scattered in place");
    for (int k = 0; k < pi->n_kernels; k++) cr_assert_str_neq(pi->kernels[k].kind, "copy", "%s: a state copy", pi->kernels[k].name);
    kiln_plan_info_free(pi);
    kiln_model_free(m);
}
