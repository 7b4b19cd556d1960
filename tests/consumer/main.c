/* tests/consumer/main.c — one C binary linking two models that
 * kiln_add_model() compiled: the sample MLP (TensorFlow, prefix mlp) and a
 * SqueezeNet-style ONNX model (prefix fire); each is run on its committed
 * input and checked against TensorFlow's / ONNX Runtime's output. */
#include <stdio.h>
#include <stdlib.h>

#include "fire.h"
#include "mlp.h"
#include "npy.h"

static _Alignas(64) unsigned char temp[(MLP_TEMP_SIZE > FIRE_TEMP_SIZE ? MLP_TEMP_SIZE : FIRE_TEMP_SIZE) + 1];

static int check(const char *name, const char *in, const char *ref, size_t n_in, size_t n_out,
                 int (*run)(const float *, float *, void *))
{
    float *x = consumer_read_npy(in, n_in), *want = consumer_read_npy(ref, n_out);
    float *y = (float *)calloc(n_out, sizeof *y);
    int bad = 1;
    if (x && want && y) {
        int rc = run(x, y, temp);
        double err = consumer_max_err(y, want, n_out, 1e-4, 1e-5, &bad);
        printf("consumer_c: %s rc %d, %zu outputs, y[0] %.6f (expected %.6f), max abs error %.3g, %d beyond tolerance\n",
               name, rc, n_out, y[0], want[0], err, bad);
        bad += rc != 0;
    }
    free(x);
    free(want);
    free(y);
    return bad != 0;
}

int main(void)
{
    int fails = check("mlp", KILN_SOURCE_DIR "/samples/mlp/x.npy", KILN_SOURCE_DIR "/samples/mlp/y_ref.npy", MLP_X_SIZE,
                      MLP_Y_OUT_SIZE, mlp_run);
    fails += check("fire", KILN_SOURCE_DIR "/tests/fixtures/torch_fire_ceil/in_x.npy",
                   KILN_SOURCE_DIR "/tests/fixtures/torch_fire_ceil/out_y.npy", FIRE_X_SIZE, FIRE_Y_SIZE, fire_run);
    printf("consumer_c: %s\n", fails ? "FAIL" : "ok");
    return fails != 0;
}
