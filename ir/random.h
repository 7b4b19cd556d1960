/* ir/random.h — TensorFlow's random numbers, bit for bit.
 *
 * TensorFlow's CPU random ops draw from Philox4x32-10 (a counter-based
 * generator: output k is a pure function of key and counter k) and turn its
 * 32-bit words into values with fixed recipes (mantissa filling, Box-Muller,
 * rejection).  Both are public and written again here, so a graph whose
 * random ops carry seeds gets, at compile time, exactly the initial values
 * TensorFlow would compute:
 *
 *   kl_philox g;
 *   if (!kl_philox_for_op(&g, seed, seed2, &fresh)) ...   // GuardedPhiloxRandom
 *   kl_random_fill(&g, KL_RNG_TRUNCATED_NORMAL, KL_RNG_F32, 0, 0, buf, n);
 *
 * kl_random_fill is a pure function of the generator state, the
 * distribution and n, so the same code can later run at program start with a
 * seed the host passes (a runtime-seeded initializer) without change.
 * Float distributions call the host's logf/sincosf/log/sincos (glibc on
 * Linux) just as TensorFlow's kernels do; bit identity of the normal and
 * truncated-normal values assumes the same libm as the TensorFlow build
 * that produced the reference (docs/training.md, "Random initializers").
 */
#ifndef KILN_IR_RANDOM_H
#define KILN_IR_RANDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Philox4x32-10 state: the next output is the block at `counter`. */
typedef struct kl_philox {
    uint32_t counter[4];
    uint32_t key[2];
} kl_philox;

/* TensorFlow's PhiloxRandom(seed_lo, seed_hi): key = seed_lo, counter
 * words 2..3 = seed_hi, words 0..1 = 0. */
void kl_philox_seed(kl_philox *g, uint64_t seed_lo, uint64_t seed_hi);
/* The state that stateless kernels read from their key/counter tensors
 * (uint64 key[1], counter[2]). */
void kl_philox_from_key_counter(kl_philox *g, uint64_t key, const uint64_t counter[2]);
/* One 128-bit block (4 words); advances the counter by one. */
void kl_philox_next(kl_philox *g, uint32_t out[4]);
/* Advances the counter by n blocks (128-bit arithmetic, as TF's Skip). */
void kl_philox_skip(kl_philox *g, uint64_t n);

/* The generator a stateful random op (RandomUniform, TruncatedNormal, ...)
 * with attrs seed/seed2 uses on its first run (GuardedPhiloxRandom::Init):
 * PhiloxRandom(seed, seed2), except that seed == seed2 == 0 means "not
 * seeded": then both seeds come from the OS (getrandom) and *fresh is set.
 * False only when the OS gives no entropy. */
bool kl_philox_for_op(kl_philox *g, int64_t seed, int64_t seed2, bool *fresh);
/* Stateless ops' key and counter from a two-element seed
 * (StatelessRandomGetKeyCounter with Philox; TF's GenerateKey). */
void kl_philox_stateless_key(uint64_t seed0, uint64_t seed1, uint64_t *key, uint64_t counter[2]);

typedef enum kl_rng_dist {
    KL_RNG_UNIFORM,          /* [0, 1) floats: RandomUniform */
    KL_RNG_NORMAL,           /* Box-Muller: RandomStandardNormal */
    KL_RNG_TRUNCATED_NORMAL, /* normal, |x| < 2 by rejection: TruncatedNormal */
    KL_RNG_UNIFORM_INT,      /* [lo, hi) integers: RandomUniformInt */
    KL_RNG_DIST_COUNT
} kl_rng_dist;

typedef enum kl_rng_type {
    KL_RNG_F32,
    KL_RNG_F64,
    KL_RNG_F16,  /* IEEE half, stored as its 16 bits */
    KL_RNG_BF16, /* bfloat16, stored as its 16 bits */
    KL_RNG_I32,
    KL_RNG_I64,
    KL_RNG_TYPE_COUNT
} kl_rng_type;

size_t kl_rng_type_size(kl_rng_type t);
const char *kl_rng_dist_name(kl_rng_dist d);

/* Fills out[0..n) the way TensorFlow's CPU kernel (FillPhiloxRandom) fills
 * a tensor of n elements from the state g (g itself is not advanced).  lo
 * and hi bound KL_RNG_UNIFORM_INT (lo < hi).  False, writing nothing, for
 * a combination TensorFlow has no kernel for (integer normals, float
 * UNIFORM_INT, lo >= hi). */
bool kl_random_fill(const kl_philox *g, kl_rng_dist dist, kl_rng_type t, int64_t lo, int64_t hi, void *out,
                    int64_t n);

#endif
