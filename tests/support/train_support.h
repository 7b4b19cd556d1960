/* tests/support/train_support.h — what the training tests (test_train*.c)
 * share: a JIT entry of a training graph (feeds, fetches, targets, pinned
 * feed shapes, the IR verifier on), .npy loading that fails the test, and
 * the relative error they report. */
#ifndef KILN_TRAIN_SUPPORT_H
#define KILN_TRAIN_SUPPORT_H

#include "kiln/kiln.h"
#include "tools/kiln/npy.h"

/* A Session.run-style entry: the feeds only when it fetches something
 * (an init or a target-only entry reads no feed). */
kiln_program *train_entry(kiln_model *m, const char *const *feeds, int n_feeds, const kiln_feed_shape *pins,
                          int n_pins, const char **fetches, int n_fetches, const char **targets, int n_targets);
npy_array train_load_npy(const char *path);
/* Largest |a-b| / max(|b|, floor) over n floats (NaN counts as infinite). */
double train_max_rel(const float *a, const float *b, int64_t n, double floor);

#endif
