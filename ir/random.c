/* ir/random.c — Philox4x32-10 and TensorFlow's distributions (random.h).
 *
 * Written from the published algorithms (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11) and TensorFlow's documented
 * behaviour: its Philox constants and round order, its seeding
 * (PhiloxRandom(seed, seed2), GuardedPhiloxRandom), its value recipes
 * (random_distributions.h) and how its CPU kernel lays groups of values
 * over a tensor (random_op_cpu.h).  Every step that decides a bit of the
 * result is commented with the TensorFlow behaviour it reproduces.
 */
#define _GNU_SOURCE /* sincosf, sincos, getrandom */
#include "random.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* ---- Philox4x32-10 ------------------------------------------------------- */

enum {
    PHILOX_M0 = 0xD2511F53u, /* multipliers of the two lanes */
    PHILOX_M1 = 0xCD9E8D57u,
    PHILOX_W0 = 0x9E3779B9u, /* key schedule: golden ratio, sqrt(3) - 1 */
    PHILOX_W1 = 0xBB67AE85u,
    PHILOX_ROUNDS = 10,
};

void kl_philox_seed(kl_philox *g, uint64_t seed_lo, uint64_t seed_hi)
{
    g->key[0] = (uint32_t)seed_lo;
    g->key[1] = (uint32_t)(seed_lo >> 32);
    g->counter[0] = g->counter[1] = 0;
    g->counter[2] = (uint32_t)seed_hi;
    g->counter[3] = (uint32_t)(seed_hi >> 32);
}

void kl_philox_from_key_counter(kl_philox *g, uint64_t key, const uint64_t counter[2])
{
    g->key[0] = (uint32_t)key;
    g->key[1] = (uint32_t)(key >> 32);
    for (int i = 0; i < 2; i++) {
        g->counter[2 * i] = (uint32_t)counter[i];
        g->counter[2 * i + 1] = (uint32_t)(counter[i] >> 32);
    }
}

/* One round: two 32x32->64 products; the high halves are mixed with the
 * other lanes and the key, the low halves pass through (lanes swapped). */
static void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0], p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t r0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0];
    uint32_t r2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1];
    c[0] = r0;
    c[1] = (uint32_t)p1;
    c[2] = r2;
    c[3] = (uint32_t)p0;
}

/* The block at the current counter, without advancing. */
static void philox_block(const kl_philox *g, uint32_t out[4])
{
    uint32_t c[4] = {g->counter[0], g->counter[1], g->counter[2], g->counter[3]};
    uint32_t k[2] = {g->key[0], g->key[1]};
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        philox_round(c, k);
        k[0] += PHILOX_W0;
        k[1] += PHILOX_W1;
    }
    memcpy(out, c, sizeof c);
}

void kl_philox_skip(kl_philox *g, uint64_t n)
{
    uint32_t lo = (uint32_t)n, hi = (uint32_t)(n >> 32);
    g->counter[0] += lo;
    if (g->counter[0] < lo) hi++; /* hi may wrap to 0 here, as in TF */
    g->counter[1] += hi;
    if (g->counter[1] < hi && ++g->counter[2] == 0) g->counter[3]++;
}

void kl_philox_next(kl_philox *g, uint32_t out[4])
{
    philox_block(g, out);
    if (++g->counter[0] == 0 && ++g->counter[1] == 0 && ++g->counter[2] == 0) g->counter[3]++;
}

/* ---- seeding ------------------------------------------------------------ */

bool kl_philox_for_op(kl_philox *g, int64_t seed, int64_t seed2, bool *fresh)
{
    uint64_t s[2] = {(uint64_t)seed, (uint64_t)seed2};
    *fresh = seed == 0 && seed2 == 0;
    /* TF draws two fresh 64-bit seeds (random::New64) for an unseeded op;
     * Kiln takes them from the OS once per compile. */
    if (*fresh) {
        size_t got = 0;
        while (got < sizeof s) {
            ssize_t r = getrandom((char *)s + got, sizeof s - got, 0);
            if (r <= 0) return false;
            got += (size_t)r;
        }
    }
    kl_philox_seed(g, s[0], s[1]);
    return true;
}

void kl_philox_stateless_key(uint64_t seed0, uint64_t seed1, uint64_t *key, uint64_t counter[2])
{
    /* GenerateKey: the seeds as a counter under a fixed key; one block of
     * that gives the key (words 0, 1) and the high counter half (2, 3). */
    kl_philox g;
    g.key[0] = 0x3ec8f720u;
    g.key[1] = 0x02461e29u;
    g.counter[0] = (uint32_t)seed0;
    g.counter[1] = (uint32_t)(seed0 >> 32);
    g.counter[2] = (uint32_t)seed1;
    g.counter[3] = (uint32_t)(seed1 >> 32);
    uint32_t mix[4];
    philox_block(&g, mix);
    *key = mix[0] | (uint64_t)mix[1] << 32;
    counter[0] = 0;
    counter[1] = mix[2] | (uint64_t)mix[3] << 32;
}

/* ---- element formats ----------------------------------------------------- */

size_t kl_rng_type_size(kl_rng_type t)
{
    switch (t) {
    case KL_RNG_F32: case KL_RNG_I32: return 4;
    case KL_RNG_F64: case KL_RNG_I64: return 8;
    case KL_RNG_F16: case KL_RNG_BF16: return 2;
    case KL_RNG_TYPE_COUNT: break;
    }
    return 0;
}

const char *kl_rng_dist_name(kl_rng_dist d)
{
    switch (d) {
    case KL_RNG_UNIFORM: return "uniform";
    case KL_RNG_NORMAL: return "normal";
    case KL_RNG_TRUNCATED_NORMAL: return "truncated normal";
    case KL_RNG_UNIFORM_INT: return "uniform int";
    case KL_RNG_DIST_COUNT: break;
    }
    return "?";
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float -> IEEE half, rounding to nearest even (Eigen::half(float)). */
static uint16_t f16_from_f32(float f)
{
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x47800000u) return (uint16_t)(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u)); /* >= 2^16: inf, NaN */
    if (a < 0x38800000u) {
        /* Below 2^-14 the half is subnormal: adding 0.5 lines the half's
         * last mantissa bit up with float's, and the FPU rounds (even). */
        float r = f32_from_bits(a) + 0.5f;
        return (uint16_t)(sign | (f32_bits(r) - f32_bits(0.5f)));
    }
    uint32_t odd = (a >> 13) & 1u;
    a += 0xc8000fffu + odd; /* rebias the exponent (-112 << 23) and round */
    return (uint16_t)(sign | (a >> 13));
}

/* float -> bfloat16, rounding to nearest even (Eigen::bfloat16(float)). */
static uint16_t bf16_from_f32(float f)
{
    uint32_t u = f32_bits(f);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static void store_real(kl_rng_type t, void *p, float f)
{
    uint16_t h;
    switch (t) {
    case KL_RNG_F32: memcpy(p, &f, sizeof f); return;
    case KL_RNG_F16: h = f16_from_f32(f); memcpy(p, &h, sizeof h); return;
    case KL_RNG_BF16: h = bf16_from_f32(f); memcpy(p, &h, sizeof h); return;
    case KL_RNG_F64: case KL_RNG_I32: case KL_RNG_I64: case KL_RNG_TYPE_COUNT: break;
    }
}

/* ---- value recipes (random_distributions.h) ------------------------------ */

/* 23 random mantissa bits under exponent 0 give [1, 2); minus 1 is exact. */
static float u32_to_float(uint32_t x) { return f32_from_bits(0x3f800000u | (x & 0x7fffffu)) - 1.0f; }

/* 52 bits: 20 from x0, 32 from x1. */
static double u64_to_double(uint32_t x0, uint32_t x1)
{
    uint64_t u = (uint64_t)0x3ff << 52 | (uint64_t)(x0 & 0xfffffu) << 32 | x1;
    double d;
    memcpy(&d, &u, sizeof d);
    return d - 1.0;
}

/* Box-Muller in float as TensorFlow writes it: the angle is formed in
 * double (2.0f * M_PI promotes) and rounded to float; radius and sine and
 * cosine in float (logf, sqrtf, sincosf).  u1 is kept from 0. */
static void box_muller_f32(uint32_t x0, uint32_t x1, float *f0, float *f1)
{
    float u1 = u32_to_float(x0);
    if (u1 < 1.0e-7f) u1 = 1.0e-7f;
    const float v1 = (float)(2.0 * M_PI * (double)u32_to_float(x1));
    const float u2 = sqrtf(-2.0f * logf(u1));
    sincosf(v1, f0, f1);
    *f0 *= u2;
    *f1 *= u2;
}

static void box_muller_f64(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3, double *d0, double *d1)
{
    double u1 = u64_to_double(x0, x1);
    if (u1 < 1.0e-7) u1 = 1.0e-7;
    const double v1 = 2 * M_PI * u64_to_double(x2, x3);
    const double u2 = sqrt(-2.0 * log(u1));
    sincos(v1, d0, d1);
    *d0 *= u2;
    *d1 *= u2;
}

/* TF's SingleSampleAdapter: one word at a time out of whole blocks; the
 * words of a block left over when a group is done are dropped. */
typedef struct single {
    kl_philox *g;
    uint32_t block[4];
    int used;
} single;

static uint32_t single_next(single *s)
{
    if (s->used == 4) kl_philox_next(s->g, s->block), s->used = 0;
    return s->block[s->used++];
}

/* Values per group: what one call of the TF distribution returns. */
static int group_size(kl_rng_dist dist, kl_rng_type t)
{
    bool wide = t == KL_RNG_F64 || t == KL_RNG_I64;
    (void)dist; /* every distribution: 4 narrow or 2 wide values */
    return wide ? 2 : 4;
}

/* One group of a fixed-consumption distribution: exactly one block. */
static void fixed_group(kl_philox *g, kl_rng_dist dist, kl_rng_type t, int64_t lo, uint64_t range, unsigned char *out)
{
    uint32_t s[4];
    kl_philox_next(g, s);
    size_t es = kl_rng_type_size(t);
    switch (dist) {
    case KL_RNG_UNIFORM:
        /* half and bfloat16 take their 10 / 7 mantissa bits from the low
         * bits of the word; [1, 2) - 1 is exact in either format. */
        for (int i = 0; i < 4 && t != KL_RNG_F64; i++) {
            float v = t == KL_RNG_F32   ? u32_to_float(s[i])
                      : t == KL_RNG_F16 ? (float)(s[i] & 0x3ffu) / 1024.0f
                                        : (float)(s[i] & 0x7fu) / 128.0f;
            store_real(t, out + es * (size_t)i, v);
        }
        if (t == KL_RNG_F64)
            for (int i = 0; i < 2; i++) {
                double d = u64_to_double(s[2 * i], s[2 * i + 1]);
                memcpy(out + 8 * i, &d, 8);
            }
        return;
    case KL_RNG_NORMAL:
        if (t == KL_RNG_F64) {
            double d[2];
            box_muller_f64(s[0], s[1], s[2], s[3], &d[0], &d[1]);
            memcpy(out, d, sizeof d);
            return;
        }
        for (int i = 0; i < 4; i += 2) {
            float f[2];
            box_muller_f32(s[i], s[i + 1], &f[0], &f[1]);
            store_real(t, out + es * (size_t)i, f[0]);
            store_real(t, out + es * (size_t)(i + 1), f[1]);
        }
        return;
    case KL_RNG_UNIFORM_INT:
        /* lo + bits % range, range = hi - lo as unsigned (no overflow). */
        if (t == KL_RNG_I32)
            for (int i = 0; i < 4; i++) {
                uint32_t v = (uint32_t)lo + s[i] % (uint32_t)range;
                memcpy(out + 4 * i, &v, 4);
            }
        else
            for (int i = 0; i < 2; i++) {
                uint64_t bits = s[2 * i] | (uint64_t)s[2 * i + 1] << 32;
                uint64_t v = (uint64_t)lo + bits % range;
                memcpy(out + 8 * i, &v, 8);
            }
        return;
    case KL_RNG_TRUNCATED_NORMAL: case KL_RNG_DIST_COUNT: break;
    }
}

/* One group of the truncated normal: pairs of normals until the group is
 * full, keeping those with |x| < 2 (tested before rounding to half or
 * bfloat16, as TF does). */
static void truncated_group(single *s, kl_rng_type t, unsigned char *out)
{
    int want = group_size(KL_RNG_TRUNCATED_NORMAL, t), have = 0;
    size_t es = kl_rng_type_size(t);
    while (have < want) {
        if (t == KL_RNG_F64) {
            uint32_t x0 = single_next(s), x1 = single_next(s), x2 = single_next(s), x3 = single_next(s);
            double d[2];
            box_muller_f64(x0, x1, x2, x3, &d[0], &d[1]);
            for (int k = 0; k < 2 && have < want; k++)
                if (fabs(d[k]) < 2.0) memcpy(out + 8 * (size_t)have++, &d[k], 8);
        } else {
            uint32_t x0 = single_next(s), x1 = single_next(s);
            float f[2];
            box_muller_f32(x0, x1, &f[0], &f[1]);
            for (int k = 0; k < 2 && have < want; k++)
                if (fabsf(f[k]) < 2.0f) store_real(t, out + es * (size_t)have++, f[k]);
        }
    }
}

/* Which (distribution, type) pairs TF registers CPU kernels for. */
static bool supported(kl_rng_dist dist, kl_rng_type t)
{
    bool real = t == KL_RNG_F32 || t == KL_RNG_F64 || t == KL_RNG_F16 || t == KL_RNG_BF16;
    switch (dist) {
    case KL_RNG_UNIFORM: case KL_RNG_NORMAL: case KL_RNG_TRUNCATED_NORMAL: return real;
    case KL_RNG_UNIFORM_INT: return t == KL_RNG_I32 || t == KL_RNG_I64;
    case KL_RNG_DIST_COUNT: break;
    }
    return false;
}

/* The tensor is cut into groups of group_size values (the last one short).
 * Fixed-consumption distributions take block k for group k, so TF's
 * sharding (each shard skips to its first group) changes nothing.  The
 * truncated normal may need many blocks per group: TF reserves 256 words
 * per value, so group k starts at block k * group_size * 256 / 4 and
 * draws from there on; values are then independent of the thread count. */
bool kl_random_fill(const kl_philox *g, kl_rng_dist dist, kl_rng_type t, int64_t lo, int64_t hi, void *out,
                    int64_t n)
{
    if (!supported(dist, t) || n < 0 || (dist == KL_RNG_UNIFORM_INT && lo >= hi)) return false;
    int gs = group_size(dist, t);
    size_t es = kl_rng_type_size(t);
    uint64_t range = t == KL_RNG_I32 ? (uint64_t)((uint32_t)hi - (uint32_t)lo) : (uint64_t)hi - (uint64_t)lo;
    const uint64_t skip_per_group = (uint64_t)gs * 256 / 4;
    kl_philox gen = *g;
    unsigned char group[32], *dst = out;
    for (int64_t k = 0, done = 0; done < n; k++) {
        if (dist == KL_RNG_TRUNCATED_NORMAL) {
            kl_philox at = *g;
            kl_philox_skip(&at, (uint64_t)k * skip_per_group);
            single s = {&at, {0}, 4};
            truncated_group(&s, t, group);
        } else {
            fixed_group(&gen, dist, t, lo, range, group);
        }
        int64_t take = n - done < gs ? n - done : gs;
        memcpy(dst + (size_t)done * es, group, (size_t)take * es);
        done += take;
    }
    return true;
}
