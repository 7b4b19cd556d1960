#!/usr/bin/env python3
"""Fixtures for the CNN gradient ops (frontend/tf/tf_ops_grad_nn.c):
tests/fixtures/gradnn_<case>/, run by tests/test_fixtures.c like every fixture.

    tools/.venv/bin/python tools/gen_grad_nn.py [--only SUBSTRING]

Each case is a small graph of raw gradient ops (tf.raw_ops.Conv2DBackpropFilter,
MaxPoolGrad, ...) on placeholders, with several shapes, strides, dilations
and paddings (SAME, VALID, EXPLICIT), or a tf.gradients graph of a small CNN;
TensorFlow's outputs (one thread, TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's own
CPU kernels; the dilated conv gradients, which those refuse, with oneDNN's)
are the references.  MaxPoolGrad cases include windows with
ties (small integer values): the gradient goes to the first maximum in
row-major window order.  Tolerances 1e-4/1e-5 (sums of up to a few hundred
products).
"""
import argparse
import os
import subprocess
import sys

# TensorFlow's CPU kernels, except for the dilated conv gradients, which
# only its oneDNN kernels implement (the Eigen ones refuse dilation > 1):
# those cases run in a child process with --onednn.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if "--onednn" in sys.argv else "0"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import Case, tf, tf1, np  # noqa: E402

CASES = []
raw = tf.raw_ops
TOL = "1e-4 1e-5"


ONEDNN = set()  # cases TensorFlow computes only with its oneDNN kernels


def case(name, doc, build, tol=TOL, error=None, onednn=False):
    CASES.append((name, doc, build, tol, error))
    if onednn:
        ONEDNN.add(name)


def ph(c, name, value, dtype=tf.float32):
    p = tf1.placeholder(dtype, value.shape, name=name)
    c.feeds.append((name, p, value))
    return p


def conv_out(x, k, s, d, pad):
    """Output extent of one spatial axis (pad: 'SAME', 'VALID' or (lo, hi))."""
    span = (k - 1) * d + 1
    if pad == "SAME":
        return -(-x // s)
    if pad == "VALID":
        return (x - span) // s + 1
    return (x + pad[0] + pad[1] - span) // s + 1


def conv_kw(strides, padding, dilations):
    kw = {"strides": [1, strides[0], strides[1], 1], "dilations": [1, dilations[0], dilations[1], 1]}
    if isinstance(padding, str):
        kw["padding"] = padding
    else:
        kw["padding"] = "EXPLICIT"
        kw["explicit_paddings"] = [0, 0, padding[0][0], padding[0][1], padding[1][0], padding[1][1], 0, 0]
    return kw


def out_shape(xs, ks, strides, padding, dilations, oc):
    ph_, pw = (padding, padding) if isinstance(padding, str) else padding
    return [xs[0], conv_out(xs[1], ks[0], strides[0], dilations[0], ph_),
            conv_out(xs[2], ks[1], strides[1], dilations[1], pw), oc]


def conv_filter(xs, fs, strides=(1, 1), padding="SAME", dilations=(1, 1), depthwise=False):
    def b(c):
        oc = fs[2] * fs[3] if depthwise else fs[3]
        x = ph(c, "x", c.rand(*xs))
        dy = ph(c, "dy", c.rand(*out_shape(xs, fs, strides, padding, dilations, oc)))
        kw = conv_kw(strides, padding, dilations)
        if depthwise:
            kw.pop("explicit_paddings", None)
            return raw.DepthwiseConv2dNativeBackpropFilter(input=x, filter_sizes=fs, out_backprop=dy, name="r", **kw)
        return raw.Conv2DBackpropFilter(input=x, filter_sizes=fs, out_backprop=dy, name="r", **kw)
    return b


def conv_input(xs, fs, strides=(1, 1), padding="SAME", dilations=(1, 1), depthwise=False):
    def b(c):
        oc = fs[2] * fs[3] if depthwise else fs[3]
        w = ph(c, "w", c.rand(*fs))
        dy = ph(c, "dy", c.rand(*out_shape(xs, fs, strides, padding, dilations, oc)))
        kw = conv_kw(strides, padding, dilations)
        if depthwise:
            kw.pop("explicit_paddings", None)
            return raw.DepthwiseConv2dNativeBackpropInput(input_sizes=xs, filter=w, out_backprop=dy, name="r", **kw)
        return raw.Conv2DBackpropInput(input_sizes=xs, filter=w, out_backprop=dy, name="r", **kw)
    return b


# ---- Conv2DBackpropFilter ----------------------------------------------------
case("conv_filter_same", "Conv2DBackpropFilter 3x3 stride 1 SAME, x [2,7,7,3] -> [3,3,3,4]",
     conv_filter([2, 7, 7, 3], [3, 3, 3, 4]))
case("conv_filter_valid_s2", "Conv2DBackpropFilter 3x2 stride 2 VALID, x [2,8,9,2] -> [3,2,2,3]",
     conv_filter([2, 8, 9, 2], [3, 2, 2, 3], (2, 2), "VALID"))
case("conv_filter_same_s2_odd", "Conv2DBackpropFilter 3x3 stride 2 SAME on odd sizes, x [1,9,8,2]",
     conv_filter([1, 9, 8, 2], [3, 3, 2, 2], (2, 2), "SAME"))
case("conv_filter_dilated", "Conv2DBackpropFilter 3x3 dilation 2 SAME, x [2,8,8,2] -> [3,3,2,3]",
     conv_filter([2, 8, 8, 2], [3, 3, 2, 3], (1, 1), "SAME", (2, 2)), onednn=True)
case("conv_filter_explicit", "Conv2DBackpropFilter EXPLICIT padding (1,2) x (0,3), strides (1,2)",
     conv_filter([2, 6, 7, 2], [3, 3, 2, 2], (1, 2), ((1, 2), (0, 3))))
case("conv_filter_s3_unread", "Conv2DBackpropFilter 4x4 stride 3 VALID: trailing rows never read, x [2,8,9,3]",
     conv_filter([2, 8, 9, 3], [4, 4, 3, 2], (3, 3), "VALID"))
case("conv_filter_5x5_lenet", "Conv2DBackpropFilter 5x5 SAME x [4,12,12,1] -> [5,5,1,6] (LeNet's first layer)",
     conv_filter([4, 12, 12, 1], [5, 5, 1, 6]))

# ---- Conv2DBackpropInput (CONV2D_TRANSPOSE, tf_ops_nn.c) ------------------------
case("conv_input_same_s2", "Conv2DBackpropInput 3x3 stride 2 SAME, input_sizes [2,9,8,3]",
     conv_input([2, 9, 8, 3], [3, 3, 3, 4], (2, 2), "SAME"))
case("conv_input_valid_dilated", "Conv2DBackpropInput 3x3 dilation 2 VALID, input_sizes [2,9,9,2]",
     conv_input([2, 9, 9, 2], [3, 3, 2, 3], (1, 1), "VALID", (2, 2)), onednn=True)
case("conv_input_explicit", "Conv2DBackpropInput EXPLICIT padding (2,1) x (1,0), strides (2,1)",
     conv_input([1, 7, 6, 2], [3, 2, 2, 3], (2, 1), ((2, 1), (1, 0))))

# ---- depthwise ---------------------------------------------------------------
case("dw_filter_same", "DepthwiseConv2dNativeBackpropFilter 3x3 SAME, x [2,6,6,3], multiplier 2",
     conv_filter([2, 6, 6, 3], [3, 3, 3, 2], depthwise=True))
case("dw_filter_valid_s2", "DepthwiseConv2dNativeBackpropFilter 3x3 stride 2 VALID, x [2,9,8,4], multiplier 1",
     conv_filter([2, 9, 8, 4], [3, 3, 4, 1], (2, 2), "VALID", depthwise=True))
# TensorFlow's depthwise backprop kernels ignore `dilations` (their values
# are those of dilation 1, not the gradient; tf.nn.depthwise_conv2d with a
# rate never writes them, it uses SpaceToBatchND): Kiln refuses them.
case("dw_filter_dilated_refused", "DepthwiseConv2dNativeBackpropFilter with dilation 2: refused",
     conv_filter([1, 7, 7, 2], [3, 3, 2, 3], (1, 1), "SAME", (2, 2), depthwise=True),
     error="node 'r' (DepthwiseConv2dNativeBackpropFilter): dilations other than 1")
case("dw_input_same", "DepthwiseConv2dNativeBackpropInput 3x3 SAME, input_sizes [2,6,6,3], multiplier 2",
     conv_input([2, 6, 6, 3], [3, 3, 3, 2], depthwise=True))
case("dw_input_same_s2", "DepthwiseConv2dNativeBackpropInput 3x3 stride 2 SAME, odd input_sizes [2,7,8,2]",
     conv_input([2, 7, 8, 2], [3, 3, 2, 2], (2, 2), "SAME", depthwise=True))
case("dw_input_valid_s2", "DepthwiseConv2dNativeBackpropInput 4x3 stride 2 VALID, input_sizes [1,9,10,3]",
     conv_input([1, 9, 10, 3], [4, 3, 3, 1], (2, 2), "VALID", depthwise=True))
case("dw_input_dilated_refused", "DepthwiseConv2dNativeBackpropInput with dilation 2: refused",
     conv_input([1, 8, 7, 2], [3, 3, 2, 2], (1, 1), "SAME", (2, 2), depthwise=True),
     error="node 'r' (DepthwiseConv2dNativeBackpropInput): dilations other than 1")


# ---- pools ---------------------------------------------------------------------
def pool_grad(op, xs, k, s, padding, ties=False):
    def b(c):
        if ties:  # few distinct values: windows hold equal maxima
            xv = c.rng.integers(0, 3, size=xs).astype(np.float32)
        else:
            xv = c.rand(*xs)
        kw = {"ksize": [1, k[0], k[1], 1], "strides": [1, s[0], s[1], 1], "padding": padding}
        x = ph(c, "x", xv)
        y = tf.nn.max_pool2d(x, k, s, padding) if op == "max" else tf.nn.avg_pool2d(x, k, s, padding)
        dy = ph(c, "dy", c.rand(*y.shape.as_list()))
        if op == "max":
            return raw.MaxPoolGrad(orig_input=x, orig_output=y, grad=dy, name="r", **kw)
        return raw.AvgPoolGrad(orig_input_shape=xs, grad=dy, name="r", **kw)
    return b


case("maxpool_2x2_valid", "MaxPoolGrad 2x2 stride 2 VALID, [2,8,8,3]", pool_grad("max", [2, 8, 8, 3], (2, 2), (2, 2), "VALID"))
case("maxpool_3x3_s2_same", "MaxPoolGrad 3x3 stride 2 SAME (overlapping, padded), [2,7,9,2]",
     pool_grad("max", [2, 7, 9, 2], (3, 3), (2, 2), "SAME"))
case("maxpool_3x3_s1_same_ties", "MaxPoolGrad 3x3 stride 1 SAME with ties (values 0..2): first max of each window",
     pool_grad("max", [2, 6, 6, 2], (3, 3), (1, 1), "SAME", ties=True))
case("maxpool_2x2_valid_ties", "MaxPoolGrad 2x2 stride 2 VALID with ties (values 0..2)",
     pool_grad("max", [2, 6, 8, 3], (2, 2), (2, 2), "VALID", ties=True))
case("maxpool_2x3_s12_valid_ties", "MaxPoolGrad 2x3 strides (1,2) VALID with ties, odd sizes",
     pool_grad("max", [1, 7, 9, 2], (2, 3), (1, 2), "VALID", ties=True))
case("maxpool_3x2_s21_same_ties", "MaxPoolGrad 3x2 strides (2,1) SAME with ties",
     pool_grad("max", [2, 7, 5, 2], (3, 2), (2, 1), "SAME", ties=True))
case("avgpool_3x3_s2_same", "AvgPoolGrad 3x3 stride 2 SAME (counts exclude padding), [2,7,9,2]",
     pool_grad("avg", [2, 7, 9, 2], (3, 3), (2, 2), "SAME"))
case("avgpool_2x2_s1_valid", "AvgPoolGrad 2x2 stride 1 VALID, [2,5,6,3]", pool_grad("avg", [2, 5, 6, 3], (2, 2), (1, 1), "VALID"))
case("avgpool_3x2_s21_same", "AvgPoolGrad 3x2 strides (2,1) SAME, [1,8,5,2]", pool_grad("avg", [1, 8, 5, 2], (3, 2), (2, 1), "SAME"))
case("avgpool_2x2_valid", "AvgPoolGrad 2x2 stride 2 VALID, [2,8,8,3]", pool_grad("avg", [2, 8, 8, 3], (2, 2), (2, 2), "VALID"))


# ---- cross-entropy backprop (output 1) ------------------------------------------
def xent(c):
    logits = ph(c, "logits", c.rand(6, 5, lo=-3, hi=3))
    p = c.rng.uniform(0, 1, size=(6, 5)).astype(np.float32)
    labels = ph(c, "labels", p / p.sum(1, keepdims=True))
    sparse = ph(c, "sparse", c.rng.integers(0, 5, size=6).astype(np.int32), tf.int32)
    loss, back = raw.SoftmaxCrossEntropyWithLogits(features=logits, labels=labels, name="dense")
    sl, sb = raw.SparseSoftmaxCrossEntropyWithLogits(features=logits, labels=sparse, name="sparse_xent")
    return [tf.identity(loss, name="loss"), tf.identity(back, name="backprop"),
            tf.identity(sl, name="sparse_loss"), tf.identity(sb, name="sparse_backprop")]


case("xent_backprop", "SoftmaxCrossEntropyWithLogits and the sparse form: loss (output 0) and backprop (output 1)", xent)


# ---- tf.gradients of a small CNN -------------------------------------------------
def small_cnn(c):
    x = ph(c, "x", c.rand(3, 10, 10, 2))
    labels = ph(c, "labels", c.rng.integers(0, 4, size=3).astype(np.int32), tf.int32)
    w1 = tf.constant(c.rand(3, 3, 2, 4, lo=-0.5, hi=0.5))
    w2 = tf.constant(c.rand(3, 3, 4, 2, lo=-0.5, hi=0.5))
    wd = tf.constant(c.rand(2 * 2 * 8, 4, lo=-0.5, hi=0.5))
    h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
    h = tf.nn.max_pool2d(h, 3, 2, "SAME")
    h = tf.nn.depthwise_conv2d(h, w2, [1, 2, 2, 1], "SAME")
    h = tf.nn.avg_pool2d(h, 2, 1, "VALID")
    logits = tf.matmul(tf.reshape(h, [3, -1]), wd)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    gx, g1, g2, gd = tf.gradients(loss, [x, w1, w2, wd])
    return [tf.identity(loss, name="loss"), tf.identity(gx, name="dx"), tf.identity(g1, name="dw1"),
            tf.identity(g2, name="dw2"), tf.identity(gd, name="dwd")]


case("small_cnn_gradients", "tf.gradients of conv SAME/relu/maxpool 3x3 s2/depthwise s2/avgpool/dense/xent: "
     "Conv2DBackprop{Input,Filter}, DepthwiseConv2dNativeBackprop{Input,Filter}, Max/AvgPoolGrad, ShapeN",
     small_cnn)


# ---- errors ----------------------------------------------------------------------
def filter_bad(c):
    x = ph(c, "x", c.rand(1, 6, 6, 2))
    dy = ph(c, "dy", c.rand(1, 6, 6, 3))
    r = raw.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 4, 3], out_backprop=dy, strides=[1, 1, 1, 1],
                                 padding="SAME", name="r")
    return r


case("conv_filter_grouped_refused", "Conv2DBackpropFilter whose filter_sizes[2] is not the input's channels: refused",
     filter_bad, error="node 'r' (Conv2DBackpropFilter): filter_sizes[2] is 4, the input has 2 channels")


def pool_bad(c):
    x = ph(c, "x", c.rand(1, 6, 6, 2))
    y = tf.nn.max_pool2d(x, 2, 2, "VALID")
    dy = ph(c, "dy", c.rand(1, 2, 2, 2))  # the pool gives [1,3,3,2]
    return raw.MaxPoolGrad(orig_input=x, orig_output=y, grad=dy, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                           padding="VALID", name="r")


case("maxpool_grad_shape_refused", "MaxPoolGrad whose grad is not the pool's output shape: refused",
     pool_bad, error="node 'r' (MaxPoolGrad): the gradient is f32[1,2,2,2]; the forward op gives [1,3,3,2]")


def filter_shape_bad(c):
    x = ph(c, "x", c.rand(1, 6, 6, 2))
    dy = ph(c, "dy", c.rand(1, 5, 6, 3))  # SAME stride 1 gives [1,6,6,3]
    return raw.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 2, 3], out_backprop=dy, strides=[1, 1, 1, 1],
                                    padding="SAME", name="r")


case("conv_filter_shape_refused", "Conv2DBackpropFilter whose out_backprop is not the convolution's output: refused",
     filter_shape_bad, error="node 'r' (Conv2DBackpropFilter): the gradient is f32[1,5,6,3]; the forward op gives [1,6,6,3]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    ap.add_argument("--onednn", action="store_true", help="the oneDNN cases (run as a child process)")
    args = ap.parse_args()
    tf1.disable_eager_execution()
    for i, (name, doc, build, tol, error) in enumerate(CASES):
        if (args.only and args.only not in name) or args.onednn != (name in ONEDNN):
            continue
        c = Case("gradnn_" + name, doc, 7000 + i)
        with c.graph.as_default():
            outs = build(c)
            for t in (outs if isinstance(outs, list) else [outs]):
                c.fetches.append((t.name[:-2] if t.name.endswith(":0") else t.name, t))
            if tol:
                c.tol = tol
            c.expect_error = error
        c.write()
    if not args.onednn and any(not args.only or args.only in n for n in ONEDNN):
        subprocess.check_call([sys.executable, __file__, "--onednn"] + (["--only", args.only] if args.only else []))


if __name__ == "__main__":
    main()
