/* tests/test_fixtures.c — every committed TensorFlow fixture, through the
 * JIT at -O0 (no fusion, no folding) and -O2, and the models, convs and
 * matmuls also at -O2 on 2 threads (the pool), against TensorFlow's outputs
 * with the tolerance the fixture states.  Max errors go to
 * build/fixture-errors.txt for the record. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "support/fixture.h"

typedef struct case_param {
    char name[128];
    int opt_level, threads;
} case_param;

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(fixtures, jit)
{
    static char names[512][128];
    int n = fixture_names(names, 512);
    case_param *p = cr_malloc(sizeof *p * (size_t)(3 * n + 1));
    int k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(p[k].name, names[i], 128), p[k].opt_level = 0, p[k++].threads = 1;
        memcpy(p[k].name, names[i], 128), p[k].opt_level = 2, p[k++].threads = 1;
        if (strstr(names[i], "model_") || strstr(names[i], "conv") || strstr(names[i], "matmul") || strstr(names[i], "mlp"))
            memcpy(p[k].name, names[i], 128), p[k].opt_level = 2, p[k++].threads = 2;
    }
    return cr_make_param_array(case_param, p, (size_t)k, free_params);
}

ParameterizedTest(case_param *c, fixtures, jit, .timeout = 600) /* a compiler that loops fails, not hangs */
{
    fixture f;
    char err[1024];
    cr_assert(fixture_load(c->name, &f, err, sizeof err), "%s", err);
    fixture_result r = fixture_run_jit_threads(&f, c->opt_level, c->threads);
    cr_assert(r.ok, "fixture %s at -O%d, %d threads: %s", c->name, c->opt_level, c->threads, r.message);
    FILE *log = fopen(KILN_BINARY_DIR "/fixture-errors.txt", "a");
    if (log) {
        fprintf(log, "%-28s -O%d t%d max_abs %.3g max_rel %.3g\n", c->name, c->opt_level, c->threads, r.max_abs, r.max_rel);
        fclose(log);
    }
}

Test(fixtures, there_are_enough)
{
    static char names[512][128];
    cr_assert_geq(fixture_names(names, 512), 16, "expected at least 16 fixtures under tests/fixtures");
}
