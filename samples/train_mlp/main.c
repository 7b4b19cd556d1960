/* samples/train_mlp/main.c — the classic "train a TF1 graph from C++"
 * program, without TensorFlow: mlp.o + mlp.h made by
 *
 *   kiln compile samples/train_mlp/mlp.pb --feed x:100,32 --feed y:100,8 --prefix mlp \
 *       --entry init=::init_all_vars_op --entry cost=x,y:cost: --entry train=x,y::train \
 *       -o mlp.o --header mlp.h
 *   cc -O2 -I. samples/train_mlp/main.c mlp.o -lm -o train_mlp
 *   ./train_mlp x.npy y.npy [tf_cost.npy [STEPS [TF_FINAL_DIR]]]
 *
 * As the C++ program does with a Session: run init_all_vars_op, then per
 * iteration fetch `cost` (printed as "Cost: ...") and run the target
 * `train`.  Given TensorFlow's costs (and its final variables), prints them
 * alongside and exits 1 when any differs by more than 1e-4 (relative; the
 * variables norm-wise), so the sample doubles as a test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/npy.h"
#include "mlp.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define TEMP_SIZE MAX(MLP_INIT_TEMP_SIZE, MAX(MLP_COST_TEMP_SIZE, MLP_TRAIN_TEMP_SIZE))

/* Each variable against TensorFlow's, relative to its largest |value|. */
static double compare_vars(const unsigned char *state, const char *dir)
{
    double worst = 0;
    for (int v = 0; v < MLP_NUM_VARS; v++) {
        char path[1024], *at = path + snprintf(path, 900, "%s/", dir);
        for (const char *q = MLP_VAR_NAMES[v]; *q; q++) *q == '/' ? (*at++ = '_', *at++ = '_') : (*at++ = *q);
        strcpy(at, ".npy");
        size_t n = (size_t)MLP_VAR_BYTES[v] / 4;
        float *ref = sample_read_npy_f32("train_mlp", path, n);
        if (!ref) return INFINITY;
        const float *mine = (const float *)(state + MLP_VAR_OFFSETS[v]);
        double big = 1e-6, err = 0;
        for (size_t i = 0; i < n; i++) big = fmax(big, fabs(ref[i])), err = fmax(err, fabs((double)mine[i] - ref[i]));
        if (isnan(err) || err / big > worst) worst = isnan(err) ? INFINITY : err / big;
        free(ref);
    }
    return worst;
}

int main(int argc, char **argv)
{
    const char *x_path = argc > 1 ? argv[1] : "samples/train_mlp/x.npy";
    const char *y_path = argc > 2 ? argv[2] : "samples/train_mlp/y.npy";
    const char *tf_path = argc > 3 ? argv[3] : NULL;
    int steps = argc > 4 ? atoi(argv[4]) : 10;
    float *x = sample_read_npy_f32("train_mlp", x_path, MLP_COST_X_SIZE);
    float *y = sample_read_npy_f32("train_mlp", y_path, MLP_COST_Y_SIZE);
    float *tf = tf_path ? sample_read_npy_f32("train_mlp", tf_path, (size_t)steps) : NULL;
    unsigned char *state = aligned_alloc(MLP_STATE_ALIGN, MLP_STATE_SIZE), *temp = aligned_alloc(64, TEMP_SIZE + 64);
    if (!x || !y || (tf_path && !tf) || !state || !temp || steps < 1) return 2;
    memset(state, 0, MLP_STATE_SIZE); /* every variable uninitialized */

    int rc = mlp_cost(x, y, &(float){0}, state, temp);
    printf("cost before init: error, variable '%s' is not initialized\n", rc ? MLP_VAR_NAMES[rc - 1] : "(none?)");
    if (!rc) return 1;

    mlp_init(state, temp); /* session->Run({}, {}, {"init_all_vars_op"}, nullptr) */
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        float cost;
        mlp_cost(x, y, &cost, state, temp); /* session->Run({{"x", x}, {"y", y}}, {"cost"}, {}, &outputs) */
        if (i < 10 || i == steps - 1) {
            printf("Cost: %.6f", cost);
            if (tf) printf("   TensorFlow: %.6f", tf[i]);
            printf("\n");
        }
        if (tf) worst = fmax(worst, fabs((double)cost - tf[i]) / fmax(fabs(tf[i]), 1e-6));
        mlp_train(x, y, state, temp); /* session->Run({{"x", x}, {"y", y}}, {}, {"train"}, nullptr) */
    }
    double vars = argc > 5 ? compare_vars(state, argv[5]) : 0;
    if (tf) printf("%d steps: max relative error of the cost vs TensorFlow %.3g", steps, worst);
    if (argc > 5) printf(", of the final variables %.3g", vars);
    if (tf) printf("\n");
    free(x), free(y), free(tf), free(state), free(temp);
    return worst <= 1e-4 && vars <= 1e-4 ? 0 : 1;
}
