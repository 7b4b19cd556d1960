/* tests/test_faults.c — every checked allocation's failure path, exercised:
 * the n-th allocation that has an error channel is made to fail
 * (kl_fault_fail_after, ir/arena.c) for n = 0, 1, 2, ... until the whole
 * load + compile + run goes through without reaching an injected failure.
 * Each failing call must return a status that says "out of memory" (naming
 * what could not be allocated); a call that succeeds although a failure was
 * injected (a fallback path) must still produce the reference output.
 * Never a crash, never a NULL dereference, never silent wrong output. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "kiln/kiln.h"
#include "tools/kiln/npy.h"


/* One attempt: load, JIT, run.  Returns NULL and fills out on success, or
 * the first error status. */
static kiln_status *attempt(const char *pb, const char *feed, const char *fetch, const void *in, void *out,
                            size_t out_bytes)
{
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_status *st = kiln_model_load(pb, &m);
    if (!st) {
        kiln_options o;
        kiln_options_init(&o);
        o.feeds = &feed, o.n_feeds = 1, o.fetches = &fetch, o.n_fetches = 1;
        st = kiln_jit(m, &o, &p);
    }
    if (!st && kiln_program_fetch(p, 0).bytes != out_bytes) cr_assert_fail("fetch size changed under fault injection");
    if (!st) {
        const void *ins[] = {in};
        void *outs[] = {out};
        st = kiln_program_run(p, ins, outs, NULL);
    }
    kiln_program_free(p);
    kiln_model_free(m);
    return st;
}

static void sweep(const char *dir, const char *input, const char *feed, const char *fetch)
{
    char pb[512], inp[512];
    snprintf(pb, sizeof pb, KILN_SOURCE_DIR "/%s/%s.pb", dir, strstr(dir, "samples") ? "mlp" : "model");
    snprintf(inp, sizeof inp, KILN_SOURCE_DIR "/%s/%s", dir, input);
    npy_array x;
    kl_diag d = {0};
    cr_assert(npy_load(inp, &x, &d), "%s", d.text);
    kl_diag_clear(&d);

    /* The reference: no injection. */
    kiln_model *m;
    kiln_status *st = kiln_model_load(pb, &m);
    cr_assert_null(st, "%s", kiln_status_message(st));
    kiln_options o;
    kiln_options_init(&o);
    o.feeds = &feed, o.n_feeds = 1, o.fetches = &fetch, o.n_fetches = 1;
    kiln_program *p;
    cr_assert_null(st = kiln_jit(m, &o, &p), "%s", kiln_status_message(st));
    size_t bytes = kiln_program_fetch(p, 0).bytes;
    kiln_program_free(p);
    kiln_model_free(m);
    unsigned char *ref = calloc(1, bytes), *got = calloc(1, bytes);
    cr_assert(ref && got);
    cr_assert_null(st = attempt(pb, feed, fetch, x.data, ref, bytes), "%s", kiln_status_message(st));

    int failures = 0, fallbacks = 0;
    for (long n = 0;; n++) {
        cr_assert(n < 100000, "%s: no end to the allocations", dir);
        memset(got, 0xA5, bytes);
        kl_fault_fail_after(n);
        st = attempt(pb, feed, fetch, x.data, got, bytes);
        long hit = kl_fault_injected();
        kl_fault_fail_after(-1);
        if (st) {
            const char *msg = kiln_status_message(st);
            cr_assert(hit > 0, "%s: n=%ld: error without an injected failure: %s", dir, n, msg);
            cr_assert(strstr(msg, "out of memory"), "%s: n=%ld: the status does not say out of memory: %s", dir, n, msg);
            kiln_status_free(st);
            failures++;
            continue;
        }
        cr_assert(!memcmp(got, ref, bytes), "%s: n=%ld: an injected failure gave different output", dir, n);
        if (!hit) break;
        fallbacks++;
    }
    cr_assert(failures > 10, "%s: only %d allocation points reached", dir, failures);
    cr_log_info("%s: %d injected failures reported, %d recovered", dir, failures, fallbacks);
    free(ref);
    free(got);
    npy_free(&x);
}

Test(faults, mlp) { sweep("samples/mlp", "x.npy", "x", "y_out"); }
Test(faults, lenet) { sweep("tests/fixtures/model_lenet", "in_0.npy", "t", "Identity"); }
Test(faults, while_loop) { sweep("tests/fixtures/model_keras_lstm", "in_0.npy", "t", "Identity"); }
Test(faults, avg_pool_grad) { sweep("tests/fixtures/gradnn_avgpool_3x3_s2_same", "in_dy.npy", "dy", "r"); }

/* A training graph: load, JIT the init and train entries, run init and one
 * step on a state block; out is the state after it. */
static kiln_status *attempt_train(const char *pb, const void *x, const void *y, unsigned char *out, size_t size)
{
    static const int64_t xd[] = {100, 32}, yd[] = {100, 8};
    static const kiln_feed_shape pins[] = {{"x", 2, xd}, {"y", 2, yd}};
    static const char *feeds[] = {"x", "y"}, *cost[] = {"cost"}, *init_t[] = {"init_all_vars_op"}, *train_t[] = {"train"};
    kiln_model *m = NULL;
    kiln_program *init = NULL, *step = NULL;
    kiln_status *st = kiln_model_load(pb, &m);
    kiln_options o;
    kiln_options_init(&o);
    o.feed_shapes = pins, o.n_feed_shapes = 2, o.targets = init_t, o.n_targets = 1;
    if (!st) st = kiln_jit(m, &o, &init);
    o.feeds = feeds, o.n_feeds = 2, o.fetches = cost, o.n_fetches = 1, o.targets = train_t;
    if (!st) st = kiln_jit(m, &o, &step);
    if (!st && kiln_program_state_size(step) != size) cr_assert_fail("state size changed under fault injection");
    float c;
    memset(out, 0, size);
    if (!st) st = kiln_program_run_state(init, NULL, NULL, out, NULL);
    if (!st) st = kiln_program_run_state(step, (const void *[]){x, y}, (void *[]){&c}, out, NULL);
    kiln_program_free(init);
    kiln_program_free(step);
    kiln_model_free(m);
    return st;
}

Test(faults, training_state)
{
    const char *pb = KILN_SOURCE_DIR "/tests/train/manual/adam_ref/model.pb";
    npy_array x, y;
    kl_diag d = {0};
    cr_assert(npy_load(KILN_SOURCE_DIR "/tests/train/x.npy", &x, &d) && npy_load(KILN_SOURCE_DIR "/tests/train/y.npy", &y, &d), "%s", d.text);
    size_t size = 64 * 1024;
    unsigned char *ref = aligned_alloc(64, size), *got = aligned_alloc(64, size);
    kiln_model *m;
    kiln_program *p;
    kiln_options o;
    kiln_options_init(&o);
    static const char *init_t[] = {"init_all_vars_op"};
    o.targets = init_t, o.n_targets = 1;
    cr_assert_null(kiln_model_load(pb, &m));
    cr_assert_null(kiln_jit(m, &o, &p));
    size = kiln_program_state_size(p);
    kiln_program_free(p);
    kiln_model_free(m);
    kiln_status *st = attempt_train(pb, x.data, y.data, ref, size);
    cr_assert_null(st, "%s", st ? kiln_status_message(st) : "");
    int failures = 0;
    for (long n = 0;; n++) {
        cr_assert(n < 100000, "no end to the allocations");
        kl_fault_fail_after(n);
        st = attempt_train(pb, x.data, y.data, got, size);
        long hit = kl_fault_injected();
        kl_fault_fail_after(-1);
        if (st) {
            const char *msg = kiln_status_message(st);
            cr_assert(hit > 0, "n=%ld: error without an injected failure: %s", n, msg);
            cr_assert(strstr(msg, "out of memory"), "n=%ld: the status does not say out of memory: %s", n, msg);
            kiln_status_free(st);
            failures++;
            continue;
        }
        cr_assert(!memcmp(got, ref, size), "n=%ld: an injected failure gave a different state", n);
        if (!hit) break;
    }
    cr_assert(failures > 10, "only %d allocation points reached", failures);
    free(ref), free(got);
    npy_free(&x), npy_free(&y);
}
