#!/usr/bin/env python3
"""Per-op conformance fixtures for the ops of real models: tests/fixtures/ops_<op>_<case>/.

    tools/.venv/bin/python tools/gen_ops.py [--only SUBSTRING]

Each case is one small TF graph: placeholders for data, constants for
attribute-like operands (shapes, axes, paddings, begin/end), TensorFlow's
outputs as references.  Tolerances: 1e-5/1e-6 for float unless a case says
otherwise (sums over many terms: 1e-4/1e-5), exact for ints and bools.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import Case, tf, tf1, np  # noqa: E402

CASES = []


def case(name, doc, build, tol=None, seed=None):
    CASES.append((name, doc, build, tol, seed))


def f32(c, *shape, lo=-1.0, hi=1.0):
    return c.rand(*shape, lo=lo, hi=hi)


def ph(c, name, value, dtype=tf.float32):
    p = tf1.placeholder(dtype, value.shape, name=name)
    c.feeds.append((name, p, value))
    return p


# ---- convolution and pooling -------------------------------------------------
def conv(strides, padding, dil=1, shape=(1, 9, 9, 3), k=(3, 3, 3, 4)):
    def b(c):
        x = ph(c, "x", f32(c, *shape))
        w = tf.constant(f32(c, *k), name="w")
        if padding == "EXPLICIT":
            return tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, strides, strides, 1], padding="EXPLICIT",
                                     explicit_paddings=[0, 0, 1, 2, 2, 0, 0, 0], dilations=[1, dil, dil, 1], name="y")
        return tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, strides, strides, 1], padding=padding,
                                 dilations=[1, dil, dil, 1], name="y")
    return b


case("conv2d_same_s1", "Conv2D 3x3 SAME stride 1", conv(1, "SAME"), "1e-5 1e-5")
case("conv2d_same_s2", "Conv2D 3x3 SAME stride 2 (odd size)", conv(2, "SAME"), "1e-5 1e-5")
case("conv2d_valid_s2", "Conv2D 3x3 VALID stride 2", conv(2, "VALID", shape=(2, 10, 8, 3)), "1e-5 1e-5")
case("conv2d_dilated", "Conv2D 3x3 SAME dilation 2", conv(1, "SAME", dil=2), "1e-5 1e-5")
case("conv2d_explicit", "Conv2D EXPLICIT paddings (1,2)x(2,0)", conv(1, "EXPLICIT"), "1e-5 1e-5")
case("conv2d_1x1", "Conv2D 1x1 (pointwise) with 16 output channels", conv(1, "VALID", k=(1, 1, 3, 16)), "1e-5 1e-5")


def dwconv(mult, strides, padding):
    def b(c):
        x = ph(c, "x", f32(c, 1, 8, 8, 4))
        w = tf.constant(f32(c, 3, 3, 4, mult), name="w")
        return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=w, strides=[1, strides, strides, 1], padding=padding, name="y")
    return b


case("depthwise_m1_same", "DepthwiseConv2dNative multiplier 1, SAME", dwconv(1, 1, "SAME"))
case("depthwise_m2_s2_valid", "DepthwiseConv2dNative multiplier 2, stride 2, VALID", dwconv(2, 2, "VALID"))


def deconv(padding, out_hw):
    def b(c):
        dy = ph(c, "dy", f32(c, 1, 4, 4, 5))
        w = tf.constant(f32(c, 3, 3, 2, 5), name="w")
        return tf.raw_ops.Conv2DBackpropInput(input_sizes=[1, out_hw, out_hw, 2], filter=w, out_backprop=dy,
                                              strides=[1, 2, 2, 1], padding=padding, name="y")
    return b


case("conv2d_transpose_same", "Conv2DBackpropInput stride 2 SAME", deconv("SAME", 8), "1e-5 1e-5")
case("conv2d_transpose_valid", "Conv2DBackpropInput stride 2 VALID", deconv("VALID", 9), "1e-5 1e-5")


def pool(op, k, s, padding):
    def b(c):
        x = ph(c, "x", f32(c, 2, 7, 7, 3))
        arg = "value" if op is tf.raw_ops.AvgPool else "input"
        return op(**{arg: x}, ksize=[1, k, k, 1], strides=[1, s, s, 1], padding=padding, name="y")
    return b


case("maxpool_2x2_s2_valid", "MaxPool 2x2 stride 2 VALID", pool(tf.raw_ops.MaxPool, 2, 2, "VALID"))
case("maxpool_3x3_s2_same", "MaxPool 3x3 stride 2 SAME", pool(tf.raw_ops.MaxPool, 3, 2, "SAME"))
case("avgpool_3x3_s1_same", "AvgPool 3x3 stride 1 SAME (edge windows divide by real count)", pool(tf.raw_ops.AvgPool, 3, 1, "SAME"))
case("avgpool_2x2_s2_valid", "AvgPool 2x2 stride 2 VALID", pool(tf.raw_ops.AvgPool, 2, 2, "VALID"))


def batchnorm(c):
    x = ph(c, "x", f32(c, 2, 4, 4, 6))
    k = lambda n, lo, hi: tf.constant(f32(c, 6, lo=lo, hi=hi), name=n)  # noqa: E731
    return tf.raw_ops.FusedBatchNormV3(x=x, scale=k("g", 0.5, 1.5), offset=k("b", -1, 1), mean=k("m", -1, 1),
                                       variance=k("v", 0.1, 2), epsilon=0.001, is_training=False, name="y")[0]


case("fused_batch_norm_v3", "FusedBatchNormV3 inference", batchnorm)


# ---- data movement -------------------------------------------------------------
def unary_graph(fn, shape=(3, 4, 5), lo=-1.0, hi=1.0, dtype=tf.float32):
    def b(c):
        v = f32(c, *shape, lo=lo, hi=hi) if dtype == tf.float32 else c.rng.integers(-9, 9, size=shape).astype(np.int32)
        return fn(c, ph(c, "x", v, dtype))
    return b


case("pad_constant", "Pad with zeros", unary_graph(lambda c, x: tf.pad(x, [[1, 0], [0, 2], [2, 1]], name="y")))
case("padv2_value", "PadV2 with constant 7.5", unary_graph(lambda c, x: tf.raw_ops.PadV2(input=x, paddings=[[0, 1], [1, 1], [0, 0]], constant_values=7.5, name="y")))
case("mirror_pad_reflect", "MirrorPad REFLECT", unary_graph(lambda c, x: tf.pad(x, [[1, 2], [2, 3], [1, 1]], mode="REFLECT", name="y")))
case("mirror_pad_symmetric", "MirrorPad SYMMETRIC", unary_graph(lambda c, x: tf.pad(x, [[2, 1], [0, 4], [1, 0]], mode="SYMMETRIC", name="y")))
case("transpose_2d", "Transpose [1,0]", unary_graph(lambda c, x: tf.transpose(x, name="y"), shape=(6, 7)))
case("transpose_4d", "Transpose NHWC -> NCHW", unary_graph(lambda c, x: tf.transpose(x, [0, 3, 1, 2], name="y"), shape=(2, 3, 4, 5)))
case("squeeze", "Squeeze all unit dims and given dims", unary_graph(lambda c, x: tf.squeeze(tf.squeeze(x, axis=[2]), name="y"), shape=(1, 3, 1, 4, 1)))
case("expand_dims", "ExpandDims with a negative axis", unary_graph(lambda c, x: tf.expand_dims(x, -2, name="y")))
case("shape_size_rank", "Shape, Size and Rank folded into a computation",
     unary_graph(lambda c, x: tf.reshape(x, tf.shape(tf.transpose(x)), name="r") * tf.cast(tf.size(x) + tf.rank(x), tf.float32)))
case("slice", "Slice with size -1", unary_graph(lambda c, x: tf.slice(x, [1, 0, 2], [2, -1, 2], name="y")))
case("strided_slice_basic", "StridedSlice with steps and negative indices", unary_graph(lambda c, x: tf.identity(x[0:3:2, -3:, 1::2], name="y")))
case("strided_slice_masks", "StridedSlice: ellipsis, new axis, shrink axis", unary_graph(lambda c, x: tf.identity(x[..., tf.newaxis, 1], name="y")))
case("strided_slice_reverse", "StridedSlice with negative strides", unary_graph(lambda c, x: tf.identity(x[::-1, 3:0:-2, :], name="y")))
case("strided_slice_shrink", "StridedSlice shrinking two axes", unary_graph(lambda c, x: tf.identity(x[1, :, -1], name="y")))
case("tile", "Tile [2,1,3]", unary_graph(lambda c, x: tf.tile(x, [2, 1, 3], name="y")))
case("broadcast_to", "BroadcastTo a higher rank", unary_graph(lambda c, x: tf.broadcast_to(x, [2, 3, 4, 5], name="y")))
case("fill_zeros_ones_like", "Fill, ZerosLike, OnesLike in a computation",
     unary_graph(lambda c, x: tf.add(tf.fill([3, 4, 5], 2.5) * x, tf.zeros_like(x) + tf.ones_like(x), name="y")))
case("range", "Range folded into a computation", unary_graph(lambda c, x: tf.add(x, tf.cast(tf.range(2, 12, 2), tf.float32), name="y"), shape=(3, 5)))


def concat_case(axis):
    def b(c):
        a = ph(c, "a", f32(c, 2, 3, 4))
        bb = ph(c, "b", f32(c, 2, 3, 4))
        cc = ph(c, "c", f32(c, 2, 3, 4))
        return tf.concat([a, bb, cc], axis=axis, name="y")
    return b


case("concat_axis0", "ConcatV2 of three on axis 0", concat_case(0))
case("concat_axis_neg1", "ConcatV2 of three on axis -1", concat_case(-1))


def split_case(c):
    x = ph(c, "x", f32(c, 4, 6))
    parts = tf.split(x, 3, axis=1, name="s")
    return [parts[0], parts[2]]


def splitv_case(c):
    x = ph(c, "x", f32(c, 7, 3))
    parts = tf.split(x, [2, -1, 1], axis=0, name="sv")
    return list(parts)


case("split", "Split into 3 along axis 1 (outputs :0 and :2)", split_case)
case("splitv", "SplitV with a -1 size", splitv_case)
case("pack", "Pack three tensors on axis 1", lambda c: tf.stack([ph(c, "a", f32(c, 2, 3)), ph(c, "b", f32(c, 2, 3)), ph(c, "c", f32(c, 2, 3))], axis=1, name="y"))
case("unpack", "Unpack along axis 1", lambda c: list(tf.unstack(ph(c, "x", f32(c, 2, 3, 4)), axis=1, name="u")))


def gather_case(axis):
    def b(c):
        p = ph(c, "params", f32(c, 5, 6))
        i = ph(c, "indices", np.array([[4, 0, 2], [1, 1, 3]], np.int32), tf.int32)
        return tf.gather(p, i, axis=axis, name="y")
    return b


case("gather_axis0", "GatherV2 axis 0 with a 2-D index", gather_case(0))
case("gather_axis1", "GatherV2 axis 1", gather_case(1))
case("one_hot", "OneHot depth 5, on 2 off -1", lambda c: tf.one_hot(ph(c, "i", np.array([[0, 3], [4, 1], [2, 2]], np.int32), tf.int32), 5, on_value=2.0, off_value=-1.0, name="y"))
case("one_hot_axis0", "OneHot on axis 0", lambda c: tf.one_hot(ph(c, "i", np.array([1, 0, 3], np.int32), tf.int32), 4, axis=0, name="y"))


# ---- contractions ----------------------------------------------------------
def bmm(sa, sb, adj_x=False, adj_y=False):
    def b(c):
        return tf.raw_ops.BatchMatMulV2(x=ph(c, "a", f32(c, *sa)), y=ph(c, "b", f32(c, *sb)), adj_x=adj_x, adj_y=adj_y, name="y")
    return b


case("batch_matmul", "BatchMatMulV2 [2,3,4]x[2,4,5]", bmm((2, 3, 4), (2, 4, 5)))
case("batch_matmul_broadcast", "BatchMatMulV2 broadcasting [2,1,3,4]x[3,4,5]", bmm((2, 1, 3, 4), (3, 4, 5)))
case("batch_matmul_adj", "BatchMatMulV2 adj_x and adj_y", bmm((2, 4, 3), (2, 5, 4), True, True))


def einsum(eq, *shapes):
    def b(c):
        ins = [ph(c, "in%d" % i, f32(c, *s)) for i, s in enumerate(shapes)]
        return tf.einsum(eq, *ins, name="y")
    return b


case("einsum_matmul", "Einsum ij,jk->ik", einsum("ij,jk->ik", (3, 4), (4, 5)))
case("einsum_bmm", "Einsum bij,bjk->bik", einsum("bij,bjk->bik", (2, 3, 4), (2, 4, 5)))
case("einsum_attention", "Einsum bhqd,bhkd->bhqk", einsum("bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 5, 4)))
case("einsum_transpose", "Einsum ij->ji", einsum("ij->ji", (3, 4)))


# ---- reductions --------------------------------------------------------------
def red(op, axes, keep=False, dtype=tf.float32):
    return unary_graph(lambda c, x: op(input=x, axis=axes, keep_dims=keep, name="y"), dtype=dtype)


case("min_axes", "Min over axes [0,2]", red(tf.raw_ops.Min, [0, 2]))
case("prod_axis", "Prod over axis 1, keep_dims", red(tf.raw_ops.Prod, [1], True))
case("sum_int", "Sum of int32 over axis -1", red(tf.raw_ops.Sum, [-1], dtype=tf.int32))
case("argmax_i64", "ArgMax (default int64 output)", unary_graph(lambda c, x: tf.raw_ops.ArgMax(input=x, dimension=1, name="y")))
case("argmin_i32", "ArgMin with output_type int32", unary_graph(lambda c, x: tf.raw_ops.ArgMin(input=x, dimension=-1, output_type=tf.int32, name="y")))


# ---- elementwise -------------------------------------------------------------
def un(op, lo=-3.0, hi=3.0, tol=None):
    return unary_graph(lambda c, x: op(x, name="y"), shape=(4, 50), lo=lo, hi=hi)


case("erf", "Erf over [-4, 4]", un(tf.math.erf, -4, 4))
case("floor_ceil_round", "Floor, Ceil, Round (half to even)",
     lambda c: [tf.floor(x, name="fl") for x in [ph(c, "x", np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.7, -3.7, 0.0], np.float32))]] +
     [tf.math.ceil(c.feeds[0][1], name="ce"), tf.round(c.feeds[0][1], name="ro")])
case("softplus", "Softplus over [-30, 30]", un(tf.nn.softplus, -30, 30))
case("elu", "Elu", un(tf.nn.elu))
case("selu", "Selu", un(tf.nn.selu))
case("leaky_relu", "LeakyRelu alpha 0.2", unary_graph(lambda c, x: tf.nn.leaky_relu(x, alpha=0.2, name="y")))
case("swish", "Swish pattern x * sigmoid(x)", unary_graph(lambda c, x: tf.multiply(x, tf.sigmoid(x), name="y")))
case("log_softmax", "LogSoftmax, rows incl. large values", unary_graph(lambda c, x: tf.nn.log_softmax(x * 20.0, name="y"), shape=(4, 9)))
case("clip_by_value", "ClipByValue [-0.3, 0.5]", unary_graph(lambda c, x: tf.clip_by_value(x, -0.3, 0.5, name="y")))


def bin_graph(fn, a_shape=(4, 6), b_shape=(6,), lo=-3.0, hi=3.0, dtype=tf.float32, b_lo=None):
    def b(c):
        if dtype == tf.float32:
            av = f32(c, *a_shape, lo=lo, hi=hi)
            bv = f32(c, *b_shape, lo=b_lo if b_lo is not None else lo, hi=hi)
        else:
            av = c.rng.integers(-20, 20, size=a_shape).astype(np.int32)
            bv = c.rng.integers(1, 7, size=b_shape).astype(np.int32) * np.where(c.rng.random(b_shape) < 0.5, -1, 1).astype(np.int32)
        return fn(ph(c, "a", av, dtype), ph(c, "b", bv, dtype))
    return b


case("pow", "Pow with positive bases", bin_graph(lambda a, b: tf.pow(a, b, name="y"), lo=0.1, hi=2.0, b_lo=-2.0))
case("squared_difference", "SquaredDifference", bin_graph(lambda a, b: tf.math.squared_difference(a, b, name="y")))
case("floordiv_float", "FloorDiv float, mixed signs", bin_graph(lambda a, b: tf.math.floordiv(a, b, name="y"), b_lo=-3.0))
case("floormod_float", "FloorMod float, mixed signs", bin_graph(lambda a, b: tf.math.floormod(a, b, name="y")))
case("floordiv_int", "FloorDiv int32, negative operands", bin_graph(lambda a, b: tf.math.floordiv(a, b, name="y"), dtype=tf.int32))
case("floormod_int", "FloorMod int32, negative operands", bin_graph(lambda a, b: tf.math.floormod(a, b, name="y"), dtype=tf.int32))


def compare_all(c):
    a = ph(c, "a", np.round(f32(c, 4, 5, lo=-2, hi=2)))
    b = ph(c, "b", np.round(f32(c, 5, lo=-2, hi=2)))
    ops = [tf.math.less, tf.math.less_equal, tf.math.greater, tf.math.greater_equal, tf.math.equal, tf.math.not_equal]
    names = ["lt", "le", "gt", "ge", "eq", "ne"]
    return [op(a, b, name=n) for op, n in zip(ops, names)]


def logical(c):
    a = ph(c, "a", c.rng.random((3, 4)) < 0.5, tf.bool)
    b = ph(c, "b", c.rng.random((4,)) < 0.5, tf.bool)
    return [tf.logical_and(a, b, name="and"), tf.logical_or(a, b, name="or"), tf.logical_not(a, name="not")]


def select(c):
    cond = ph(c, "cond", c.rng.random((3, 1)) < 0.5, tf.bool)
    x = ph(c, "x", f32(c, 3, 4))
    y = ph(c, "y", f32(c, 4))
    v1c = ph(c, "rows", np.array([True, False, True]), tf.bool)
    return [tf.raw_ops.SelectV2(condition=cond, t=x, e=y, name="v2"),
            tf.raw_ops.Select(condition=v1c, x=x, y=x * 2.0, name="v1")]


def attention_mask(c):
    s = ph(c, "scores", f32(c, 2, 4, 4))
    m = ph(c, "mask", np.array([[1, 1, 0, 0], [1, 1, 1, 0]], np.float32))
    mask = tf.cast(tf.expand_dims(m, 1) > 0.5, tf.bool)
    return tf.nn.softmax(tf.where(mask, s, tf.fill([2, 4, 4], -1e9)), name="y")


case("compare", "Less, LessEqual, Greater, GreaterEqual, Equal, NotEqual (bool out)", compare_all)
case("logical", "LogicalAnd/Or/Not with broadcasting", logical)
case("select", "SelectV2 broadcasting and Select with a row vector", select)
case("where_mask", "Attention mask via Where (SelectV2) and Softmax", attention_mask)


def casts(c):
    x = ph(c, "x", np.array([-3.7, -0.5, 0.0, 0.4, 1.0, 2.5, 200.9, 1e4], np.float32))
    out = [tf.cast(x, t, name="to_" + n) for t, n in [(tf.float16, "f16"), (tf.int32, "i32"), (tf.int64, "i64"), (tf.bool, "bool")]]
    out.append(tf.cast(tf.cast(x, tf.float16), tf.float32, name="f16_back"))
    u = ph(c, "u", np.array([0, 1, 127, 200, 255], np.uint8), tf.uint8)
    out.append(tf.cast(u, tf.float32, name="u8_f32"))
    out.append(tf.cast(tf.cast(u, tf.int32) - 100, tf.int8, name="i32_i8"))
    return out


case("cast", "Cast among float32/float16/int32/int64/bool/uint8/int8", casts)


def half_math(c):
    x = ph(c, "x", f32(c, 3, 8).astype(np.float16), tf.float16)
    return tf.add(tf.tanh(x) * 2.0, tf.exp(x), name="y")


case("float16_math", "float16 tensors (computed in float32)", half_math, "2e-3 1e-3")


def raw_misc(c):
    """Ops Python's tf.* functions fold or rewrite away; raw ops keep them in the graph."""
    r = tf.raw_ops
    x = ph(c, "x", f32(c, 3, 4))
    d = ph(c, "d", f32(c, 3, 4, lo=0.5, hi=2.0))
    shp = r.Shape(input=x)
    n = tf.cast(r.Size(input=x) + r.Rank(input=x), tf.float32)
    y = r.Reshape(tensor=r.ZerosLike(x=x) + r.OnesLike(x=x) * n, shape=shp)
    y = r.ClipByValue(t=r.Div(x=y * x, y=d), clip_value_min=-3.0, clip_value_max=3.0)
    y = r.StopGradient(input=r.Snapshot(input=r.PreventGradient(input=r.EnsureShape(input=y, shape=[3, 4]))))
    a, b = r.IdentityN(input=[y, x])
    return [tf.identity(a, name="y"), tf.identity(b * 2.0, name="z")]


def raw_bmm(c):
    a = ph(c, "a", f32(c, 2, 3, 4))
    b = ph(c, "b", f32(c, 2, 4, 5))
    return [tf.raw_ops.BatchMatMul(x=a, y=b, name="v1"), tf.raw_ops.BatchMatMulV3(x=a, y=b, Tout=tf.float32, name="v3")]


def raw_bn(c):
    x = ph(c, "x", f32(c, 1, 3, 3, 4))
    k = lambda n, lo, hi: tf.constant(f32(c, 4, lo=lo, hi=hi), name=n)  # noqa: E731
    args = dict(x=x, scale=k("g", 0.5, 1.5), offset=k("b", -1, 1), mean=k("m", -1, 1), variance=k("v", 0.1, 2),
                epsilon=0.01, is_training=False)
    return [tf.identity(tf.raw_ops.FusedBatchNorm(**args)[0], name="v1"),
            tf.identity(tf.raw_ops.FusedBatchNormV2(**args)[0], name="v2")]


case("raw_misc", "Shape, Size, Rank, ZerosLike, OnesLike, Div, ClipByValue, identities, IdentityN as raw ops", raw_misc)
case("raw_batch_matmul", "BatchMatMul (v1) and BatchMatMulV3", raw_bmm)
case("raw_fused_batch_norm", "FusedBatchNorm (v1) and V2", raw_bn)


def where_const(c):
    x = ph(c, "x", f32(c, 3, 4))
    mask = tf.constant(np.array([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 1]], bool))
    coords = tf.where(mask)  # 1-input Where: static because the condition is constant
    return [tf.identity(coords, name="coords"), tf.add(tf.reduce_sum(x), tf.cast(tf.reduce_sum(coords), tf.float32), name="y")]


def zero_size(c):
    x = ph(c, "x", f32(c, 0, 3))
    y = ph(c, "y", f32(c, 4, 3))
    b = ph(c, "b", f32(c, 3))
    return [tf.identity(tf.tanh(x + b), name="empty_elementwise"),
            tf.identity(tf.reduce_sum(x, axis=0), name="sum_over_empty"),
            tf.concat([x, y], axis=0, name="concat_empty"),
            tf.identity(y[2:2, :], name="empty_slice"),
            tf.matmul(x, y, transpose_b=True, name="empty_matmul")]


def unit_dims(c):
    x = ph(c, "x", f32(c, 1, 1, 5))
    w = ph(c, "w", f32(c, 1, 5, 1))
    return [tf.matmul(x, w, name="mm"), tf.reduce_max(x, axis=[0, 1], name="mx"), tf.nn.softmax(x[:, :, :1], name="sm1")]


case("where_constant", "Where (1 input) with a constant condition: folded, static shape", where_const)
case("zero_size", "0-sized tensors: elementwise, sum over an empty axis, concat, empty slice, matmul", zero_size)
case("unit_dims", "1-sized dims: matmul with k=5 to [1,1,1], reductions, softmax over one element", unit_dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    args = ap.parse_args()
    tf1.disable_eager_execution()
    for i, (name, doc, build, tol, seed) in enumerate(CASES):
        if args.only and args.only not in name:
            continue
        c = Case("ops_" + name, doc, 1000 + i if seed is None else seed)
        with c.graph.as_default():
            outs = build(c)
            for t in (outs if isinstance(outs, list) else [outs]):
                name_ = t.name[:-2] if t.name.endswith(":0") else t.name
                c.fetches.append((name_, t))
            if tol:
                c.tol = tol
            elif all(t.dtype in (tf.int32, tf.int64, tf.bool, tf.int8, tf.uint8) for _, t in c.fetches):
                c.tol = "0 0"
        c.write()


if __name__ == "__main__":
    main()
