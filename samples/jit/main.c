/* samples/jit/main.c — JIT-compile a model in-process through the library
 * API (include/kiln/kiln.h) and run it on a few inputs.
 *
 *   sample_jit samples/mlp/mlp.pb
 *
 * Feeds the MLP with x = 0.01 * (i % 97) - 0.3 and prints the first outputs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kiln/kiln.h"

static int report(kiln_status *st)
{
    fprintf(stderr, "sample_jit: %s\n", kiln_status_message(st));
    kiln_status_free(st);
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "samples/mlp/mlp.pb";
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    if (st) return report(st);

    kiln_options o;
    kiln_options_init(&o);
    const char *feeds[] = {"x"}, *fetches[] = {"y_out"};
    o.feeds = feeds;
    o.n_feeds = 1;
    o.fetches = fetches;
    o.n_fetches = 1;

    kiln_program *p;
    if ((st = kiln_jit(m, &o, &p))) {
        kiln_model_free(m);
        return report(st);
    }
    kiln_tensor_info xi = kiln_program_feed(p, 0), yi = kiln_program_fetch(p, 0);
    float *x = malloc(xi.bytes), *y = malloc(yi.bytes);
    for (size_t i = 0; i < xi.bytes / sizeof *x; i++) x[i] = 0.01f * (float)(i % 97) - 0.3f;

    const void *in[] = {x};
    void *out[] = {y};
    if ((st = kiln_program_run(p, in, out, NULL))) return report(st);

    printf("%s: %s[%lld,%lld] -> %s[%lld,%lld], temp %zu bytes\n", path, xi.name, (long long)xi.dims[0],
           (long long)xi.dims[1], yi.name, (long long)yi.dims[0], (long long)yi.dims[1], kiln_program_temp_size(p));
    printf("y[0,:4] = %.6f %.6f %.6f %.6f\n", y[0], y[1], y[2], y[3]);
    free(x);
    free(y);
    kiln_program_free(p);
    kiln_model_free(m);
    return 0;
}
