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
