/* tests/test_random.c — ir/random.c against values TensorFlow 2.21 (CPU)
 * computed for the same seeds: tf.raw_ops.*(shape=[10], seed=5, seed2=9)
 * run once in a TF1 session (recorded as C99 hex floats, so the check is
 * bit for bit), and statistical checks of unseeded generation. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ir/random.h"

static void check_f32(kl_rng_dist dist, const float *want, int n)
{
    kl_philox g;
    kl_philox_seed(&g, 5, 9);
    float got[16];
    cr_assert(kl_random_fill(&g, dist, KL_RNG_F32, 0, 0, got, n));
    for (int i = 0; i < n; i++)
        cr_expect(memcmp(&got[i], &want[i], sizeof(float)) == 0, "%s element %d: %a, TF %a", kl_rng_dist_name(dist), i,
                  (double)got[i], (double)want[i]);
}

Test(random, uniform_f32_is_tensorflows)
{
    static const float tf[10] = {0x1.b7cfb8p-1f, 0x1.b12c1p-3f, 0x1.5c87fp-3f, 0x1.847d1cp-1f, 0x1.659488p-1f,
                                 0x1.fd6ac8p-1f, 0x1.65d7p-7f,  0x1.55febp-1f, 0x1.36694p-2f,  0x1.f75b2p-4f};
    check_f32(KL_RNG_UNIFORM, tf, 10);
}

Test(random, normal_f32_is_tensorflows)
{
    static const float tf[10] = {0x1.121016p-1f,  0x1.0e6934p-3f,  -0x1.e10d3cp+0f, 0x1.a86828p-4f, -0x1.b7f2a6p-6f,
                                 0x1.b19a8p-1f,   -0x1.4ebc8cp+1f, -0x1.7b4eb6p+0f, 0x1.13f2f8p+0f, 0x1.1b5daep+0f};
    check_f32(KL_RNG_NORMAL, tf, 10);
}

Test(random, truncated_normal_f32_is_tensorflows)
{
    static const float tf[10] = {0x1.121016p-1f, 0x1.0e6934p-3f, -0x1.e10d3cp+0f, 0x1.a86828p-4f, 0x1.0856bap-2f,
                                 0x1.64913ep-2f, 0x1.ba22d8p-1f, 0x1.683d3ep-1f,  0x1.20359ap-1f, -0x1.eaeb22p-1f};
    check_f32(KL_RNG_TRUNCATED_NORMAL, tf, 10);
}

Test(random, normal_f64_and_uniform_int_are_tensorflows)
{
    static const double tf[5] = {0x1.99bb9eac43961p-2, -0x1.594b96eefcf5ap-2, 0x1.13aae3bb25e45p-1,
                                 0x1.c2b6359e365c6p-1, -0x1.35dc2795a1b09p+0};
    static const int32_t tfi[7] = {90, 47, 85, 92, 25, 49, 36}; /* minval -3, maxval 100 */
    kl_philox g;
    kl_philox_seed(&g, 5, 9);
    double d[5];
    int32_t k[7];
    cr_assert(kl_random_fill(&g, KL_RNG_NORMAL, KL_RNG_F64, 0, 0, d, 5));
    cr_expect(memcmp(d, tf, sizeof d) == 0);
    cr_assert(kl_random_fill(&g, KL_RNG_UNIFORM_INT, KL_RNG_I32, -3, 100, k, 7));
    cr_expect(memcmp(k, tfi, sizeof k) == 0);
}

/* Unseeded: fresh OS seeds, moments within 6 standard errors for N values,
 * truncation |x| < 2, and two draws differ. */
Test(random, unseeded_moments_and_truncation)
{
    enum { N = 200000 };
    static float v[N];
    kl_philox g;
    bool fresh;
    cr_assert(kl_philox_for_op(&g, 0, 0, &fresh) && fresh);
    cr_assert(kl_random_fill(&g, KL_RNG_TRUNCATED_NORMAL, KL_RNG_F32, 0, 0, v, N));
    double s = 0, s2 = 0, mx = 0;
    for (int i = 0; i < N; i++) s += v[i], s2 += (double)v[i] * v[i], mx = fmax(mx, fabs(v[i]));
    /* standard normal truncated to [-2, 2]: variance 1 - 4 phi(2) / Z */
    double phi = exp(-2.0) / sqrt(2 * M_PI), z = erf(2 / sqrt(2.0)), var = 1 - 4 * phi / z;
    double m4 = 3 - 2 * 2 * (4 + 3) * phi / z;
    cr_expect(mx < 2.0, "max |x| = %g", mx);
    cr_expect(fabs(s / N) < 6 * sqrt(var / N), "mean %g", s / N);
    cr_expect(fabs(s2 / N - var) < 6 * sqrt((m4 - var * var) / N), "variance %g, want %g", s2 / N, var);
    kl_philox h;
    cr_assert(kl_philox_for_op(&h, 0, 0, &fresh));
    float w[8];
    cr_assert(kl_random_fill(&h, KL_RNG_TRUNCATED_NORMAL, KL_RNG_F32, 0, 0, w, 8));
    cr_expect(memcmp(w, v, sizeof w) != 0, "two unseeded draws are equal");
}

/* FNV-1a (64-bit) of all bytes of a 317 x 331 tensor (104927 values: many
 * TF shards, not a multiple of 4) from seed 11, seed2 3, as TensorFlow
 * 2.21's CPU kernels wrote them: every element compared, bit for bit. */
Test(random, large_tensors_hash_as_tensorflows)
{
    static const struct {
        kl_rng_dist d;
        kl_rng_type t;
        uint64_t fnv;
    } c[] = {
        {KL_RNG_TRUNCATED_NORMAL, KL_RNG_F32, 0x365b18f032aba68eull}, {KL_RNG_NORMAL, KL_RNG_F32, 0x070981490bd7a66aull},
        {KL_RNG_UNIFORM, KL_RNG_F32, 0x0f5fb1339a207fb5ull},          {KL_RNG_TRUNCATED_NORMAL, KL_RNG_F64, 0x53da48e623fe4690ull},
        {KL_RNG_TRUNCATED_NORMAL, KL_RNG_F16, 0xfd6f5efac6ee5fe5ull}, {KL_RNG_NORMAL, KL_RNG_BF16, 0xa539b11862461bd7ull},
    };
    enum { N = 317 * 331 };
    static unsigned char buf[N * 8];
    kl_philox g;
    kl_philox_seed(&g, 11, 3);
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        cr_assert(kl_random_fill(&g, c[k].d, c[k].t, 0, 0, buf, N));
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < (size_t)N * kl_rng_type_size(c[k].t); i++) h = (h ^ buf[i]) * 0x100000001b3ull;
        cr_expect(h == c[k].fnv, "case %zu (%s): hash %016llx, TF %016llx", k, kl_rng_dist_name(c[k].d),
                  (unsigned long long)h, (unsigned long long)c[k].fnv);
    }
}

/* The importer: seeded ops become constants equal to TF's values; a shape
 * that is not constant is an error naming the node and op; unseeded ops
 * give fresh values per import.  (tests/corpus/tf/random.pb, made with
 * tf.raw_ops in a TF1 graph.) */
#include "frontend/tf/tf.h"

static ir_graph *import(const tf_model *m, const char *fetch, kl_diag *d)
{
    return tf_import(m, NULL, 0, (const char *[]){fetch}, 1, d);
}

Test(random, importer_makes_tensorflows_constants)
{
    tf_model *m;
    kl_diag d = {0};
    cr_assert(tf_model_load(KILN_SOURCE_DIR "/tests/corpus/tf/random.pb", &m, &d), "%s", d.text);
    static const float tn[10] = {0x1.121016p-1f, 0x1.0e6934p-3f, -0x1.e10d3cp+0f, 0x1.a86828p-4f, 0x1.0856bap-2f,
                                 0x1.64913ep-2f, 0x1.ba22d8p-1f, 0x1.683d3ep-1f,  0x1.20359ap-1f, -0x1.eaeb22p-1f};
    static const int32_t ri[7] = {90, 47, 85, 92, 25, 49, 36};
    ir_graph *g = import(m, "tn", &d);
    cr_assert_not_null(g, "%s", d.text);
    const ir_node *v = g->results[0].node;
    cr_assert(v->op == KL_OP_CONST && v->type.dtype == KL_F32 && ir_type_numel(&v->type) == 10);
    cr_expect(memcmp(v->data, tn, sizeof tn) == 0);
    ir_graph_free(g);
    g = import(m, "ri", &d);
    cr_assert_not_null(g, "%s", d.text);
    v = g->results[0].node;
    cr_assert(v->op == KL_OP_CONST && v->type.dtype == KL_I32);
    cr_expect(memcmp(v->data, ri, sizeof ri) == 0);
    ir_graph_free(g);
    cr_assert_null(tf_import(m, (const char *[]){"dyn"}, 1, (const char *[]){"bad_shape"}, 1, &d));
    cr_expect(strstr(d.text, "bad_shape") && strstr(d.text, "RandomUniform") && strstr(d.text, "constant"), "%s", d.text);
    kl_diag_clear(&d);
    float a[3], b[3];
    g = import(m, "unseeded", &d);
    cr_assert_not_null(g, "%s", d.text);
    memcpy(a, g->results[0].node->data, sizeof a);
    ir_graph_free(g);
    g = import(m, "unseeded", &d);
    cr_assert_not_null(g, "%s", d.text);
    memcpy(b, g->results[0].node->data, sizeof b);
    ir_graph_free(g);
    cr_expect(memcmp(a, b, sizeof a) != 0, "two unseeded imports agree");
    tf_model_free(m);
}

/* Stateless: seed [3, -4] (int32, sign-extended) through GenerateKey;
 * TF: tf.random.stateless_uniform (StatelessRandomGetKeyCounter +
 * StatelessRandomUniformV2) and StatelessRandomNormal (V1). */
Test(random, stateless_is_tensorflows)
{
    static const float uni[6] = {0x1.905c8p-3f, 0x1.72069cp-1f, 0x1.c540c8p-1f, 0x1.377478p-1f, 0x1.b28088p-1f, 0x1.93c3p-2f};
    static const float nor[6] = {-0x1.c7c126p+0f, -0x1.3bbaa4p-2f, -0x1.3e19e6p-2f, -0x1.88f00cp-2f, 0x1.699e9cp-2f, -0x1.cdfa78p-2f};
    uint64_t key, counter[2];
    kl_philox g;
    float f[6];
    kl_philox_stateless_key(3, (uint64_t)-4, &key, counter);
    kl_philox_from_key_counter(&g, key, counter);
    cr_assert(kl_random_fill(&g, KL_RNG_UNIFORM, KL_RNG_F32, 0, 0, f, 6));
    cr_expect(memcmp(f, uni, sizeof f) == 0);
    cr_assert(kl_random_fill(&g, KL_RNG_NORMAL, KL_RNG_F32, 0, 0, f, 6));
    cr_expect(memcmp(f, nor, sizeof f) == 0);
}
