/* tests/support/aot_driver.c — runs any object `kiln compile --prefix model`
 * made, on .npy inputs, and compares with .npy references.  Built per model
 * with the generated header:  cc -include model.h aot_driver.c guard.c model.o
 *
 *   aot_driver RTOL ATOL FEED.npy... REF.npy...
 *
 * The entry point runs once per placement of guard.h: every feed, fetch and
 * the temp arena flush against PROT_NONE pages (ending at one, starting
 * right after one), feeds read-only, the slack around each buffer checked
 * for stray writes.  An access outside a buffer kills the driver (SIGSEGV).
 * Prints the max abs error per fetch; exits 1 past the tolerance.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver_npy.h"
#include "guard.h"

static const long long feed_bytes[] = MODEL_FEED_BYTES_LIST, fetch_bytes[] = MODEL_FETCH_BYTES_LIST;

static long long elem_size(const char *descr) { return descr[2] - '0'; }

/* One run with every buffer placed by pl; returns the number of bad values. */
static int run_placed(guard_place pl, void **feeds, void **refs, const char *descr, double rtol, double atol, double *worst)
{
    guard_buf b[MODEL_NUM_FEEDS + MODEL_NUM_FETCHES + 1];
    void *args[MODEL_NUM_FEEDS + MODEL_NUM_FETCHES + 1];
    int bad = 0, n = MODEL_NUM_FEEDS + MODEL_NUM_FETCHES;
    const char *where = guard_place_name(pl);
    for (int i = 0; i < n; i++) {
        long long bytes = i < MODEL_NUM_FEEDS ? feed_bytes[i] : fetch_bytes[i - MODEL_NUM_FEEDS];
        if (!guard_alloc(&b[i], (size_t)bytes, pl, 64)) return fprintf(stderr, "aot_driver: mmap failed\n"), 1;
        if (i < MODEL_NUM_FEEDS) memcpy(b[i].p, feeds[i], (size_t)bytes), guard_seal(&b[i]);
        else memset(b[i].p, 0xff, (size_t)bytes); /* NaN / -1: an unwritten element shows */
        args[i] = b[i].p;
    }
    if (!guard_alloc(&b[n], MODEL_TEMP_SIZE, pl == GUARD_START ? GUARD_START : GUARD_END_ALIGNED, MODEL_TEMP_ALIGN))
        return fprintf(stderr, "aot_driver: mmap failed\n"), 1;
    if (model_run_args(args, b[n].p) != 0) return fprintf(stderr, "aot_driver: run failed (%s)\n", where), 1;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++) {
        long long count = fetch_bytes[i] / elem_size(descr + 4 * i);
        for (long long k = 0; k < count; k++) {
            double w = npy_element(descr + 4 * i, refs[i], k), g = npy_element(descr + 4 * i, args[MODEL_NUM_FEEDS + i], k);
            double e = fabs(g - w);
            if (e > worst[i]) worst[i] = e;
            if (isinf(w)) e = g == w ? 0 : INFINITY; /* atol + rtol*inf would accept anything */
            if (!(e <= atol + rtol * fabs(w)) && !(isnan(w) && isnan(g)) && bad++ < 3)
                fprintf(stderr, "aot_driver: fetch %d element %lld (%s): %.9g vs reference %.9g\n", i, k, where, g, w);
        }
    }
    for (int i = 0; i <= n; i++) {
        if (i >= MODEL_NUM_FEEDS && !guard_intact(&b[i]))
            bad++, fprintf(stderr, "aot_driver: a write outside %s %d (%s)\n", i == n ? "the temp buffer" : "fetch",
                           i - MODEL_NUM_FEEDS, where);
        guard_free(&b[i]);
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 3 + MODEL_NUM_FEEDS + MODEL_NUM_FETCHES) {
        fprintf(stderr, "usage: aot_driver RTOL ATOL FEED.npy x%d REF.npy x%d\n", MODEL_NUM_FEEDS, MODEL_NUM_FETCHES);
        return 2;
    }
    double rtol = atof(argv[1]), atol = atof(argv[2]), worst[MODEL_NUM_FETCHES + 1] = {0};
    void *feeds[MODEL_NUM_FEEDS + 1], *refs[MODEL_NUM_FETCHES + 1];
    char descr[4 * MODEL_NUM_FETCHES + 8] = "", scratch[8];
    for (int i = 0; i < MODEL_NUM_FEEDS; i++)
        if (!(feeds[i] = read_npy("aot_driver", argv[3 + i], feed_bytes[i], scratch))) return 2;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++)
        if (!(refs[i] = read_npy("aot_driver", argv[3 + MODEL_NUM_FEEDS + i], fetch_bytes[i], descr + 4 * i))) return 2;
    int bad = 0;
    for (int pl = 0; pl < GUARD_PLACE_COUNT; pl++) bad += run_placed((guard_place)pl, feeds, refs, descr, rtol, atol, worst);
    for (int i = 0; i < MODEL_NUM_FETCHES; i++)
        printf("fetch %d: max abs error %.3g over %lld values\n", i, worst[i], fetch_bytes[i] / elem_size(descr + 4 * i));
    return bad ? 1 : 0;
}
