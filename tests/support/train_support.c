/* tests/support/train_support.c — see train_support.h. */
#include <criterion/criterion.h>
#include <math.h>

#include "train_support.h"

kiln_program *train_entry(kiln_model *m, const char *const *feeds, int n_feeds, const kiln_feed_shape *pins,
                          int n_pins, const char **fetches, int n_fetches, const char **targets, int n_targets)
{
    kiln_options o;
    kiln_options_init(&o);
    o.verify = 1;
    o.feeds = n_fetches ? feeds : NULL, o.n_feeds = n_fetches ? n_feeds : 0;
    o.fetches = fetches, o.n_fetches = n_fetches;
    o.targets = targets, o.n_targets = n_targets;
    o.feed_shapes = pins, o.n_feed_shapes = n_pins;
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &o, &p);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    return p;
}

npy_array train_load_npy(const char *path)
{
    npy_array a;
    kl_diag d = {0};
    cr_assert(npy_load(path, &a, &d), "%s", d.text ? d.text : path);
    return a;
}

double train_max_rel(const float *a, const float *b, int64_t n, double floor)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), floor);
        if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}
