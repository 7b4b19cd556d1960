#!/usr/bin/env python3
"""Fixtures for the ops of issue 9 ("the ops real models hit"): tests/fixtures/ops_<case>/.

    tools/.venv/bin/python tools/gen_ops_extra.py [--only SUBSTRING]

Same conventions as tools/gen_ops.py (one small graph per case, TensorFlow's
outputs as references, exact comparison for ints and bools); cases built
from Keras layers are frozen like tools/gen_models.py's models.  Seeds are
fixed per case, so a rerun rewrites identical files.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import Case, tf, tf1, np  # noqa: E402

GRAPH_CASES = []  # (name, doc, build(Case) -> fetched tensors, tol, seed)
KERAS_CASES = []  # (name, doc, function() -> (keras model, input shape), tol, seed)


def case(name, doc, build, tol=None, seed=None):
    GRAPH_CASES.append((name, doc, build, tol, 2000 + len(GRAPH_CASES) if seed is None else seed))


def keras_case(name, doc, make, tol="1e-4 1e-5", seed=None):
    KERAS_CASES.append((name, doc, make, tol, 3000 + len(KERAS_CASES) if seed is None else seed))


def ph(c, name, value, dtype=tf.float32):
    p = tf1.placeholder(dtype, value.shape, name=name)
    c.feeds.append((name, p, value))
    return p


def unary(fn, shape=(4, 50), lo=-3.0, hi=3.0):
    return lambda c: fn(c, ph(c, "x", c.rand(*shape, lo=lo, hi=hi)))


# ---- Erfc and exact GELU -------------------------------------------------------
case("erfc", "Erfc over [-10, 10] (results down to 2e-45)", unary(lambda c, x: tf.math.erfc(x, name="y"), lo=-10, hi=10))
case("gelu_exact", "tf.nn.gelu(approximate=False): 0.5 x erfc(-x / sqrt 2)",
     unary(lambda c, x: tf.nn.gelu(x * 4.0, approximate=False, name="y")))


def dense_gelu():
    keras = tf.keras
    keras.utils.set_random_seed(11)
    m = keras.Sequential([keras.Input((24,)), keras.layers.Dense(32, activation="gelu"), keras.layers.Dense(8)])
    return m, (24,)


keras_case("keras_dense_gelu", "Keras Dense(activation=\"gelu\") then Dense, batch 3", dense_gelu)


# ---- scans -------------------------------------------------------------------
case("cumsum", "Cumsum along axis 1 and along the last axis",
     unary(lambda c, x: [tf.cumsum(x, axis=1, name="a1"), tf.cumsum(x, axis=-1, name="last")], shape=(3, 7, 5)))
case("cumsum_exclusive_reverse", "Cumsum exclusive, reverse, and both",
     unary(lambda c, x: [tf.cumsum(x, axis=0, exclusive=True, name="ex"), tf.cumsum(x, axis=1, reverse=True, name="rev"),
                         tf.cumsum(x, axis=2, exclusive=True, reverse=True, name="both")], shape=(4, 6, 5)))
case("cumprod", "Cumprod plain, exclusive and reverse, values near 1",
     unary(lambda c, x: [tf.math.cumprod(x, axis=1, name="p"), tf.math.cumprod(x, axis=0, exclusive=True, name="ex"),
                         tf.math.cumprod(x, axis=1, reverse=True, name="rev")], shape=(5, 8), lo=0.5, hi=1.5))
case("cumsum_int", "Cumsum of int32 along axis 0",
     lambda c: tf.cumsum(ph(c, "x", c.rng.integers(-50, 50, size=(6, 4)).astype(np.int32), tf.int32), axis=0, name="y"))


# ---- top-k -------------------------------------------------------------------
def top_k(c, x, k):
    v, i = tf.math.top_k(x, k=k, sorted=True, name="topk")
    return [tf.identity(v, name="values"), tf.identity(i, name="indices")]


case("top_k", "TopKV2 k=3 along the last axis of [2, 4, 10]", unary(lambda c, x: top_k(c, x, 3), shape=(2, 4, 10)))
case("top_k_ties_int", "TopKV2 k=4 on int32 with ties (lower index first)",
     lambda c: top_k(c, ph(c, "x", c.rng.integers(0, 4, size=(5, 9)).astype(np.int32), tf.int32), 4))


# ---- einsum (ir/einsum.c, shared with ONNX) -------------------------------------
def einsum(eq, *shapes):
    def b(c):
        xs = [ph(c, "in%d" % i, c.rand(*sh)) for i, sh in enumerate(shapes)]
        return tf.einsum(eq, *xs, name="y")
    return b


case("einsum_ellipsis", "Einsum ...ij,...jk->...ik (broadcast batch)", einsum("...ij,...jk->...ik", (2, 3, 4, 5), (2, 3, 5, 6)))
case("einsum_diagonal", "Einsum bii->bi (diagonal)", einsum("bii->bi", (3, 4, 4)))
case("einsum_sum_free", "Einsum ij,jk->i (k summed in one operand)", einsum("ij,jk->i", (4, 5), (5, 6)))


# ---- gathers and scatters (ir/gather_scatter.c) ------------------------------------
def int_ph(c, name, value):
    return ph(c, name, np.asarray(value, np.int32), tf.int32)


case("gather_nd", "GatherNd: full and partial index tuples, negative-free",
     lambda c: [tf.gather_nd(ph(c, "x", c.rand(4, 5, 3)), int_ph(c, "i2", [[0, 1], [3, 4], [2, 0]]), name="rows"),
                tf.gather_nd(c.feeds[0][1], int_ph(c, "i3", [[[1, 2, 0]], [[3, 0, 2]]]), name="elems")])
case("scatter_nd", "ScatterNd into zeros (duplicates summed), TensorScatterUpdate and TensorScatterAdd",
     lambda c: [tf.scatter_nd(int_ph(c, "i", [[1], [3], [1]]), ph(c, "u", c.rand(3, 4)), [5, 4], name="nd"),
                tf.tensor_scatter_nd_update(ph(c, "t", c.rand(4, 3)), int_ph(c, "j", [[0, 1], [3, 2]]), ph(c, "v", c.rand(2)), name="upd"),
                tf.tensor_scatter_nd_add(c.feeds[2][1], int_ph(c, "k", [[2], [0]]), ph(c, "w", c.rand(2, 3)), name="add")])


# ---- image resizing ----------------------------------------------------------------
def resizes(c, x, size):
    r, v1 = tf.image.resize, tf.compat.v1.image
    return [r(x, size, method="nearest", name="nearest"), r(x, size, method="bilinear", name="bilinear"),
            r(x, size, method="bicubic", name="bicubic"), r(x, size, method="area", name="area"),
            v1.resize_bilinear(x, size, align_corners=True, name="bilinear_ac"),
            v1.resize_bilinear(x, size, name="bilinear_legacy"),
            v1.resize_nearest_neighbor(x, size, align_corners=True, name="nearest_ac"),
            v1.resize_nearest_neighbor(x, size, name="nearest_legacy"),
            v1.resize_bicubic(x, size, align_corners=True, name="bicubic_ac"),
            v1.resize_bicubic(x, size, name="bicubic_legacy"),
            v1.resize_area(x, size, align_corners=True, name="area_ac")]


case("resize_up", "tf.image.resize (nearest, bilinear, bicubic, area) and the v1 kernels with align_corners, 5x7 -> 8x11",
     unary(lambda c, x: resizes(c, x, [8, 11]), shape=(2, 5, 7, 3)), tol="1e-5 1e-5")
case("resize_down", "The same resizes, 9x8 -> 4x3 (and one axis kept)",
     unary(lambda c, x: resizes(c, x, [4, 3]) + [tf.image.resize(x, [9, 5], name="keep_h")], shape=(1, 9, 8, 2)), tol="1e-5 1e-5")


# ---- 3-D windows (ir/window3d.c), softsign -----------------------------------------
def conv3d(c, x):
    f = tf.constant(c.rand(3, 2, 3, 2, 4))
    return [tf.nn.conv3d(x, f, [1, 2, 1, 2, 1], "SAME", name="same_s2"), tf.nn.conv3d(x, f, [1, 1, 1, 1, 1], "VALID", name="valid")]


case("conv3d", "Conv3D SAME stride (2,1,2) and VALID, NDHWC", unary(conv3d, shape=(2, 5, 6, 7, 2)), tol="1e-5 1e-5")
case("pool3d", "MaxPool3D and AvgPool3D, SAME (padding excluded from the mean) and VALID",
     unary(lambda c, x: [tf.nn.max_pool3d(x, [1, 3, 2, 3, 1], [1, 2, 2, 2, 1], "SAME", name="max_same"),
                         tf.nn.avg_pool3d(x, [1, 3, 2, 3, 1], [1, 2, 2, 2, 1], "SAME", name="avg_same"),
                         tf.nn.avg_pool3d(x, [1, 2, 2, 2, 1], [1, 1, 2, 1, 1], "VALID", name="avg_valid")], shape=(1, 5, 6, 7, 3)))
case("softsign", "Softsign", unary(lambda c, x: tf.nn.softsign(x, name="y")))


# ---- tf.math / tf.nn compositions (frontend/tf/tf_ops_math.c) ------------------------
case("math_trig_hyperbolic", "Sin, Cos, Tan, Asin, Acos, Atan, Atan2, Sinh, Cosh, Asinh, Acosh, Atanh",
     unary(lambda c, x: [tf.sin(x, name="sin"), tf.cos(x, name="cos"), tf.tan(x * 0.5, name="tan"),
                         tf.asin(x * 0.3, name="asin"), tf.acos(x * 0.3, name="acos"), tf.atan(x, name="atan"),
                         tf.math.atan2(x, x[::-1] - 0.5, name="atan2"), tf.sinh(x, name="sinh"), tf.cosh(x, name="cosh"),
                         tf.asinh(x, name="asinh"), tf.acosh(4 + x, name="acosh"), tf.atanh(x * 0.3, name="atanh")],
           shape=(4, 12)), tol="1e-5 2e-6")
case("math_misc", "Log1p, Expm1 (small and large), Sign, Reciprocal, IsNan/IsFinite, Rint, DivNoNan, Xlogy, AddN, L2Loss",
     unary(lambda c, x: [tf.math.log1p(x + 1.0, name="log1p"), tf.math.log1p(x * 1e-6, name="log1p_small"),
                         tf.math.expm1(x * 10, name="expm1"), tf.math.expm1(x * 1e-6, name="expm1_small"),
                         tf.sign(tf.round(x), name="sign"), tf.math.reciprocal(x + 4, name="recip"),
                         tf.cast(tf.math.is_finite(x / tf.round(x)), tf.float32, name="finite"),
                         tf.math.rint(x * 2, name="rint"), tf.math.divide_no_nan(x, tf.round(x), name="dnn"),
                         tf.math.xlogy(tf.nn.relu(x), x + 4, name="xlogy"), tf.add_n([x, x * 2, x * 3], name="addn"),
                         tf.nn.l2_loss(x, name="l2")], shape=(4, 12), lo=-3, hi=3), tol="1e-5 1e-6")
case("depth_space_batch", "DepthToSpace, SpaceToDepth, SpaceToBatchND, BatchToSpaceND (atrous conv)",
     unary(lambda c, x: [tf.nn.depth_to_space(x, 2, name="d2s"), tf.nn.space_to_depth(x, 2, name="s2d"),
                         tf.space_to_batch_nd(x, [2, 3], [[1, 1], [0, 2]], name="s2b"),
                         tf.nn.atrous_conv2d(x, tf.constant(c.rand(3, 3, 8, 2)), 2, "SAME", name="atrous")],
           shape=(2, 6, 4, 8)), tol="1e-5 1e-5")
case("lrn_xent_in_top_k", "LRN, softmax cross entropies (dense and sparse), InTopKV2, All/Any, ReverseV2",
     lambda c: (lambda x, y: [tf.nn.local_response_normalization(tf.reshape(x, [1, 2, 3, 10]), 2, 1.0, 0.1, 0.75, name="lrn"),
                              tf.nn.softmax_cross_entropy_with_logits(tf.nn.softmax(y), x, name="xent"),
                              tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant([0, 3, 9, 1, 5, 2]), x, name="sxent"),
                              tf.math.in_top_k(tf.constant([0, 3, 9, 1, 5, 2]), x, 3, name="intopk"),
                              tf.reduce_all(x > -0.9, 1, name="all"), tf.reduce_any(x > 0.9, 1, name="any"),
                              tf.reverse(x, [0, 1], name="rev")])(ph(c, "x", c.rand(6, 10)), ph(c, "y", c.rand(6, 10))),
     tol="1e-5 1e-6")


# ---- driver ------------------------------------------------------------------
def write_graph_case(name, doc, build, tol, seed):
    c = Case("ops_" + name, doc, seed)
    with c.graph.as_default():
        outs = build(c)
        for t in (outs if isinstance(outs, list) else [outs]):
            c.fetches.append((t.name[:-2] if t.name.endswith(":0") else t.name, t))
        if tol:
            c.tol = tol
        elif all(t.dtype in (tf.int32, tf.int64, tf.bool, tf.int8, tf.uint8) for _, t in c.fetches):
            c.tol = "0 0"
    c.write()


def write_keras_case(name, doc, make, tol, seed):
    from gen_models import keras_model
    model, shape = make()
    keras_model("ops_" + name, doc, model, shape, 3, tol, seed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    args = ap.parse_args()
    for name, doc, make, tol, seed in KERAS_CASES:  # eager (tf.function), before graph mode
        if not args.only or args.only in name:
            write_keras_case(name, doc, make, tol, seed)
    tf1.disable_eager_execution()
    for name, doc, build, tol, seed in GRAPH_CASES:
        if not args.only or args.only in name:
            write_graph_case(name, doc, build, tol, seed)


if __name__ == "__main__":
    main()
