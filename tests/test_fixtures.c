/* tests/test_fixtures.c — every committed TensorFlow fixture, through the
 * JIT at -O0 (no fusion, no folding) and -O2, against TensorFlow's outputs
 * with the tolerance the fixture states.  Max errors go to
 * build/fixture-errors.txt for the record. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "support/fixture.h"

typedef struct case_param {
    char name[128];
    int opt_level;
} case_param;

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(fixtures, jit)
{
    static char names[512][128];
    int n = fixture_names(names, 512);
    case_param *p = cr_malloc(sizeof *p * (size_t)(2 * n + 1));
    for (int i = 0; i < n; i++) {
        memcpy(p[2 * i].name, names[i], 128);
        p[2 * i].opt_level = 0;
        memcpy(p[2 * i + 1].name, names[i], 128);
        p[2 * i + 1].opt_level = 2;
    }
    return cr_make_param_array(case_param, p, (size_t)(2 * n), free_params);
}

ParameterizedTest(case_param *c, fixtures, jit)
{
    fixture f;
    char err[1024];
    cr_assert(fixture_load(c->name, &f, err, sizeof err), "%s", err);
    fixture_result r = fixture_run_jit(&f, c->opt_level);
    cr_assert(r.ok, "fixture %s at -O%d: %s", c->name, c->opt_level, r.message);
    FILE *log = fopen(KILN_BINARY_DIR "/fixture-errors.txt", "a");
    if (log) {
        fprintf(log, "%-28s -O%d max_abs %.3g max_rel %.3g\n", c->name, c->opt_level, r.max_abs, r.max_rel);
        fclose(log);
    }
}

Test(fixtures, there_are_enough)
{
    static char names[512][128];
    cr_assert_geq(fixture_names(names, 512), 16, "expected at least 16 fixtures under tests/fixtures");
}
