// tests/consumer/main.cc — one C++ binary linking two models that
// kiln_add_model() compiled: a keyword-spotting CNN on two threads of
// libkilnrt's pool (prefix kws) and the sample MLP at -O0 (prefix mlp0),
// each checked against TensorFlow's output for the committed input.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kws.h"
#include "mlp0.h"
#include "npy.h"

#include <kiln/runtime.h>  // Kiln::runtime's include directory comes with the kws target

namespace {

struct Model {
    const char *name, *in, *ref;
    size_t n_in, n_out, temp;
    int (*run)(const float *, float *, void *);
};

bool check(const Model &m)
{
    float *x = consumer_read_npy(m.in, m.n_in), *want = consumer_read_npy(m.ref, m.n_out);
    bool ok = false;
    if (x && want) {
        std::vector<float> y(m.n_out);
        void *temp = nullptr;
        if (posix_memalign(&temp, 64, m.temp + 1) == 0) {
            int rc = m.run(x, y.data(), temp);
            int bad = 0;
            double err = consumer_max_err(y.data(), want, m.n_out, 1e-4, 1e-5, &bad);
            std::printf("consumer_cxx: %s rc %d, %zu outputs, y[0] %.6f (expected %.6f), max abs error %.3g, %d beyond tolerance\n",
                        m.name, rc, m.n_out, y[0], want[0], err, bad);
            ok = rc == 0 && bad == 0;
            std::free(temp);
        }
    }
    std::free(x);
    std::free(want);
    return ok;
}

}  // namespace

int main()
{
    const Model models[] = {
        {"kws", KILN_SOURCE_DIR "/tests/fixtures/model_kws_dscnn/in_0.npy",
         KILN_SOURCE_DIR "/tests/fixtures/model_kws_dscnn/out_0.npy", KWS_T_SIZE, KWS_IDENTITY_SIZE, KWS_TEMP_SIZE, kws_run},
        {"mlp0", KILN_SOURCE_DIR "/samples/mlp/x.npy", KILN_SOURCE_DIR "/samples/mlp/y_ref.npy", MLP0_X_SIZE,
         MLP0_Y_OUT_SIZE, MLP0_TEMP_SIZE, mlp0_run},
    };
    int fails = 0;
    for (const Model &m : models) fails += !check(m);
    std::printf("consumer_cxx: pool threads for a 2-thread model: %d; %s\n", kiln_rt_threads(2), fails ? "FAIL" : "ok");
    return fails != 0;
}
