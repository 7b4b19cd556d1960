/* tests/support/fixture.h — TensorFlow-made test cases (docs/fixtures.md).
 * A fixture is tests/fixtures/NAME/{model.pb, fixture.txt, *.npy}. */
#ifndef KILN_TEST_FIXTURE_H
#define KILN_TEST_FIXTURE_H

#include <stdbool.h>

#include "kiln/kiln.h"

#define FIXTURE_MAX 32

typedef struct fixture {
    char dir[512];
    char name[128];
    const char *feeds[FIXTURE_MAX], *feed_files[FIXTURE_MAX];
    const char *fetches[FIXTURE_MAX], *fetch_files[FIXTURE_MAX];
    int n_feeds, n_fetches;
    double rtol, atol;
    const char *expect_error; /* substring the compile error must contain */
    char text[8192];          /* fixture.txt, the strings above point into it */
} fixture;

/* Names of the fixture directories under tests/fixtures, sorted; returns count. */
int fixture_names(char names[][128], int max);
bool fixture_load(const char *name, fixture *f, char *err, size_t n);
/* The same for a fixture directory anywhere (make conformance). */
bool fixture_load_dir(const char *dir, fixture *f, char *err, size_t n);

typedef struct fixture_result {
    bool ok;
    double max_abs, max_rel; /* worst over all fetches */
    char message[1024];
} fixture_result;

/* Compile with `opt_level` through the JIT, run on the fixture's inputs and
 * compare every fetch with TensorFlow's output under the stated tolerance. */
fixture_result fixture_run_jit(const fixture *f, int opt_level);
/* Compiled for `threads` threads (large GEMMs and convs split over the pool). */
fixture_result fixture_run_jit_threads(const fixture *f, int opt_level, int threads);

#endif
