/* frontend/tf/tf_ops_random.c — TensorFlow's random ops as constants.
 *
 * Variables of TF1 graphs start from random ops (RandomUniform,
 * RandomStandardNormal, TruncatedNormal, RandomUniformInt; Keras's glorot
 * and he initializers are these scaled).  With a static shape their value
 * is computed here, at import, by ir/random.c, which reproduces
 * TensorFlow's CPU kernels bit for bit from the op's seed/seed2 attrs
 * (docs/training.md, "Random initializers").  An op with seed == seed2 == 0
 * is unseeded in TensorFlow (different values every session); Kiln then
 * seeds it from the OS, so each compile gets fresh values.  The stateless
 * ops (V1 with a seed operand, V2 with key/counter from
 * StatelessRandomGetKeyCounter) need constant seeds and are deterministic.
 */
#include <stdlib.h>
#include <string.h>

#include "../../ir/random.h"
#include "tf_internal.h"

/* Values generated at compile time are weights of the object: cap them. */
#define MAX_RANDOM_BYTES ((size_t)1 << 28)

/* The op's output type attr as a Kiln dtype and the generator's format. */
static bool output_type(imp *c, const tf_node *n, const char *attr, kl_dtype *dt, kl_rng_type *rt)
{
    const tf_attr_value *a = tf_attr(n, attr);
    char name[48];
    if (!a || a->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TYPE) return tf_err(c, n, "no '%s' type attribute", attr), false;
    switch (a->type) {
    case KILN__TF__TF_DATA_TYPE__DT_FLOAT: *dt = KL_F32, *rt = KL_RNG_F32; return true;
    case KILN__TF__TF_DATA_TYPE__DT_DOUBLE: *dt = KL_F64, *rt = KL_RNG_F64; return true;
    case KILN__TF__TF_DATA_TYPE__DT_HALF: *dt = KL_F16, *rt = KL_RNG_F16; return true;
    case KILN__TF__TF_DATA_TYPE__DT_INT32: *dt = KL_I32, *rt = KL_RNG_I32; return true;
    case KILN__TF__TF_DATA_TYPE__DT_INT64: *dt = KL_I64, *rt = KL_RNG_I64; return true;
    case KILN__TF__TF_DATA_TYPE__DT_BFLOAT16:
        return tf_err(c, n, "output dtype DT_BFLOAT16: Kiln's IR has no bfloat16 (ir/random.c can generate it; cast in the graph)"), false;
    default:
        return tf_err(c, n, "output dtype %s is not one TensorFlow's random kernels produce", tf_dtype_name(a->type, name, sizeof name)), false;
    }
}

/* The static shape operand as a type; errors name the node. */
static bool random_shape(imp *c, const tf_node *n, const ir_node *shape, kl_dtype dt, ir_type *out)
{
    int64_t dims[IR_MAX_RANK];
    if (shape->op != KL_OP_CONST)
        return tf_err(c, n, "the shape must be a compile-time constant (Kiln computes random initial values at compile time)"), false;
    if (shape->type.rank > 1) return tf_err(c, n, "the shape must be a vector, not rank %d", shape->type.rank), false;
    int r = tf_read_ints(c, n, shape, "the shape", dims, IR_MAX_RANK);
    if (r < 0) return false;
    size_t bytes = kl_dtype_size(dt);
    for (int i = 0; i < r; i++) {
        if (dims[i] < 0) return tf_err(c, n, "shape dimension %d is negative (%lld)", i, (long long)dims[i]), false;
        if (dims[i] && bytes > MAX_RANDOM_BYTES / (size_t)dims[i]) bytes = MAX_RANDOM_BYTES + 1;
        else bytes *= (size_t)dims[i];
    }
    if (bytes > MAX_RANDOM_BYTES) return tf_err(c, n, "random tensor over %zu MiB is too large to generate at compile time", MAX_RANDOM_BYTES >> 20), false;
    *out = ir_type_make(dt, r, dims);
    return true;
}

/* A scalar integer operand (RandomUniformInt's bounds). */
static bool read_bound(imp *c, const tf_node *n, const ir_node *v, const char *what, int64_t *out)
{
    if (v->type.rank != 0) return tf_err(c, n, "%s must be a scalar", what), false;
    return tf_read_ints(c, n, v, what, out, 1) == 1;
}

/* Fills a constant of type t from g; NULL with an error. */
static ir_node *random_const(imp *c, const tf_node *n, const kl_philox *g, kl_rng_dist dist, kl_rng_type rt,
                             const ir_type *t, int64_t lo, int64_t hi)
{
    int64_t numel = ir_type_numel(t);
    void *buf = kl_malloc(c->d, ir_type_bytes(t), "a random initial value");
    if (!buf) return NULL;
    ir_node *out = NULL;
    if (!kl_random_fill(g, dist, rt, lo, hi, buf, numel))
        tf_err(c, n, "TensorFlow has no %s kernel for %s", kl_rng_dist_name(dist), kl_dtype_name(t->dtype));
    else
        out = ir_const(c->g, *t, buf, n->name);
    free(buf);
    return out;
}

static kl_rng_dist dist_of(const char *op)
{
    if (strstr(op, "TruncatedNormal")) return KL_RNG_TRUNCATED_NORMAL;
    if (strstr(op, "Normal")) return KL_RNG_NORMAL;
    if (strstr(op, "UniformInt")) return KL_RNG_UNIFORM_INT;
    return KL_RNG_UNIFORM;
}

/* Integer bounds for UNIFORM_INT from inputs lo_at, lo_at + 1. */
static bool int_bounds(imp *c, const tf_node *n, ir_node **in, int lo_at, int64_t *lo, int64_t *hi)
{
    if (!read_bound(c, n, in[lo_at], "minval", lo) || !read_bound(c, n, in[lo_at + 1], "maxval", hi)) return false;
    if (*lo >= *hi) return tf_err(c, n, "needs minval < maxval, got %lld >= %lld", (long long)*lo, (long long)*hi), false;
    return true;
}

/* Stateful ops: (shape) or, for RandomUniformInt, (shape, minval, maxval);
 * attrs dtype / Tout, seed, seed2. */
ir_node *imp_random(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    kl_rng_dist dist = dist_of(n->op);
    bool ints = dist == KL_RNG_UNIFORM_INT;
    if (!tf_want_inputs(c, n, n_in, ints ? 3 : 1)) return NULL;
    kl_dtype dt;
    kl_rng_type rt;
    ir_type t;
    int64_t lo = 0, hi = 0;
    if (!output_type(c, n, ints ? "Tout" : "dtype", &dt, &rt) || !random_shape(c, n, in[0], dt, &t)) return NULL;
    if (ints && !int_bounds(c, n, in, 1, &lo, &hi)) return NULL;
    kl_philox g;
    bool fresh;
    if (!kl_philox_for_op(&g, tf_attr_int(n, "seed", 0), tf_attr_int(n, "seed2", 0), &fresh))
        return tf_err(c, n, "unseeded random op: the OS gave no entropy for its seed");
    return random_const(c, n, &g, dist, rt, &t, lo, hi);
}

/* The two seed words of a stateless op's seed operand (int32/int64 [2]). */
static bool read_seed(imp *c, const tf_node *n, const ir_node *v, uint64_t s[2])
{
    int64_t w[2];
    if (v->op != KL_OP_CONST) return tf_err(c, n, "the seed must be a compile-time constant"), false;
    if (tf_read_ints(c, n, v, "the seed", w, 2) != 2) return tf_err(c, n, "the seed must have 2 elements"), false;
    s[0] = (uint64_t)w[0], s[1] = (uint64_t)w[1]; /* int32 seeds sign-extend, as in TF */
    return true;
}

/* StatelessRandomGetKeyCounter(seed) -> key u64[1], counter u64[2], held
 * as i64 constants of the same bits (Kiln has no u64). */
ir_node *imp_stateless_key(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    uint64_t s[2], key, counter[2];
    if (!tf_want_inputs(c, n, n_in, 1) || !read_seed(c, n, in[0], s)) return NULL;
    kl_philox_stateless_key(s[0], s[1], &key, counter);
    int64_t one = 1, two = 2;
    c->outs[0] = ir_const(c->g, ir_type_make(KL_I64, 1, &one), &key, n->name);
    c->outs[1] = ir_const(c->g, ir_type_make(KL_I64, 1, &two), counter, NULL);
    c->n_outs = 2;
    /* ...Alg also says which algorithm: Philox (1), what auto-select
     * picks on CPU. */
    if (strstr(n->op, "Alg")) {
        int32_t philox = 1;
        c->outs[2] = ir_const(c->g, ir_type_make(KL_I32, 0, NULL), &philox, NULL);
        c->n_outs = 3;
        if (!c->outs[2]) return NULL;
    }
    return c->outs[0] && c->outs[1] ? c->outs[0] : NULL;
}

/* V2: (shape, key, counter, alg[, minval, maxval]); alg 1 is Philox and 3
 * (auto select) is Philox on CPU; 2 (ThreeFry) is not implemented. */
static bool v2_generator(imp *c, const tf_node *n, ir_node **in, kl_philox *g)
{
    int64_t key, counter[2], alg;
    if (tf_read_ints(c, n, in[1], "the key", &key, 1) != 1 || tf_read_ints(c, n, in[2], "the counter", counter, 2) < 1 ||
        tf_read_ints(c, n, in[3], "the algorithm", &alg, 1) != 1)
        return false;
    if (alg != 1 && alg != 3) return tf_err(c, n, "random algorithm %lld: Kiln implements Philox (1) and auto-select (3) only", (long long)alg), false;
    uint64_t ctr[2] = {(uint64_t)counter[0], ir_type_numel(&in[2]->type) > 1 ? (uint64_t)counter[1] : 0};
    kl_philox_from_key_counter(g, (uint64_t)key, ctr);
    return true;
}

/* Stateless ops, V1 (shape, seed[, minval, maxval]) and V2 (above). */
ir_node *imp_stateless_random(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    kl_rng_dist dist = dist_of(n->op);
    bool ints = dist == KL_RNG_UNIFORM_INT, v2 = strstr(n->op, "V2") != NULL;
    int base = v2 ? 4 : 2;
    if (!tf_want_inputs(c, n, n_in, base + (ints ? 2 : 0))) return NULL;
    kl_dtype dt;
    kl_rng_type rt;
    ir_type t;
    int64_t lo = 0, hi = 0;
    if (!output_type(c, n, "dtype", &dt, &rt) || !random_shape(c, n, in[0], dt, &t)) return NULL;
    if (ints && !int_bounds(c, n, in, base, &lo, &hi)) return NULL;
    kl_philox g;
    if (v2) {
        if (!v2_generator(c, n, in, &g)) return NULL;
    } else {
        uint64_t s[2], key, counter[2];
        if (!read_seed(c, n, in[1], s)) return NULL;
        kl_philox_stateless_key(s[0], s[1], &key, counter);
        kl_philox_from_key_counter(&g, key, counter);
    }
    return random_const(c, n, &g, dist, rt, &t, lo, hi);
}
