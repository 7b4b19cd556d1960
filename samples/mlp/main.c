/* samples/mlp/main.c — link the object `kiln compile` made from mlp.pb and
 * run it: no Kiln library, no LLVM, just mlp.o + mlp.h.
 *
 *   kiln compile samples/mlp/mlp.pb --feed x --fetch y_out -o mlp.o --header mlp.h --prefix mlp
 *   cc -O2 -I. samples/mlp/main.c mlp.o -o mlp && ./mlp samples/mlp/x.npy samples/mlp/y_ref.npy
 *
 * Prints Kiln's output next to TensorFlow's and the max abs error; exits 1
 * if it exceeds 1e-5 (the sample doubles as a test).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/npy.h"
#include "mlp.h"

int main(int argc, char **argv)
{
    const char *x_path = argc > 1 ? argv[1] : "samples/mlp/x.npy";
    const char *ref_path = argc > 2 ? argv[2] : "samples/mlp/y_ref.npy";
    float *x = sample_read_npy_f32("mlp", x_path, MLP_X_SIZE);
    float *ref = sample_read_npy_f32("mlp", ref_path, MLP_Y_OUT_SIZE);
    if (!x || !ref) return 2;
    static float y[MLP_Y_OUT_SIZE];
    static _Alignas(MLP_TEMP_ALIGN) unsigned char temp[MLP_TEMP_SIZE + 1]; /* +1: C forbids size 0 */

    mlp_run(x, y, temp);

    double max_err = 0;
    for (int i = 0; i < MLP_Y_OUT_SIZE; i++) max_err = fmax(max_err, fabs((double)y[i] - ref[i]));
    printf("mlp: x f32[%d,%d] -> y_out f32[%d,%d], temp arena %d bytes\n", MLP_X_DIM0, MLP_X_DIM1, MLP_Y_OUT_DIM0,
           MLP_Y_OUT_DIM1, MLP_TEMP_SIZE);
    printf("row   kiln                                   tensorflow\n");
    for (int r = 0; r < 3; r++) {
        printf("%3d  ", r);
        for (int c = 0; c < 4; c++) printf(" %8.5f", y[r * MLP_Y_OUT_DIM1 + c]);
        printf("  ");
        for (int c = 0; c < 4; c++) printf(" %8.5f", ref[r * MLP_Y_OUT_DIM1 + c]);
        printf(" ...\n");
    }
    printf("max abs error vs TensorFlow over %d outputs: %.3g\n", MLP_Y_OUT_SIZE, max_err);
    free(x);
    free(ref);
    return max_err <= 1e-5 ? 0 : 1;
}
