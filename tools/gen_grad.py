#!/usr/bin/env python3
"""Fixtures for the ops of TensorFlow gradient subgraphs (frontend/tf/tf_ops_grad.c):
tests/fixtures/grad_<case>/, run by tests/test_fixtures.c like every fixture.

    tools/.venv/bin/python tools/gen_grad.py [--only SUBSTRING]

Each case is a small graph of raw gradient ops (tf.raw_ops.TanhGrad, ...) on
placeholders, or a tf.gradients graph, with TensorFlow's outputs (one thread)
as references.  Values include the edges of each op's condition (exact 0 and
6 for Relu6Grad, 0 for ReluGrad).  Tolerances: 1e-5/1e-6 for float, exact for
the integer outputs of BroadcastGradientArgs, InvertPermutation and
DynamicStitch of ints; expect_error cases check the message.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import Case, tf, tf1, np  # noqa: E402

CASES = []
raw = tf.raw_ops


def case(name, doc, build, tol=None, error=None):
    CASES.append((name, doc, build, tol, error))


def ph(c, name, value, dtype=tf.float32):
    p = tf1.placeholder(dtype, value.shape, name=name)
    c.feeds.append((name, p, value))
    return p


def vals(c, shape, lo=-1.0, hi=1.0, edges=()):
    v = c.rand(*shape, lo=lo, hi=hi).reshape(-1)
    for i, e in enumerate(edges):
        v[i * 3] = e
    return v.reshape(shape)


# ---- (y, dy) ops: y is the forward output ----------------------------------
def y_dy(op, lo=-1.0, hi=1.0):
    def b(c):
        y = ph(c, "y", vals(c, (4, 7), lo, hi))
        dy = ph(c, "dy", vals(c, (4, 7), -2, 2))
        return getattr(raw, op)(y=y, dy=dy, name="r")
    return b


case("tanh", "TanhGrad(y, dy) = dy * (1 - y*y)", y_dy("TanhGrad"))
case("sigmoid", "SigmoidGrad(y, dy) = dy * y * (1 - y)", y_dy("SigmoidGrad", 0, 1))
case("rsqrt", "RsqrtGrad(y, dy) = -0.5 * dy * y^3", y_dy("RsqrtGrad", 0.1, 3))
case("sqrt", "SqrtGrad(y, dy) = 0.5 * dy / y", y_dy("SqrtGrad", 0.1, 3))
case("reciprocal", "ReciprocalGrad(y, dy) = -dy * y*y", y_dy("ReciprocalGrad", -3, 3))
case("inv", "InvGrad(y, dy) = -dy * y*y", y_dy("InvGrad", -3, 3))


# ---- (gradients, features) ops ---------------------------------------------
def dy_x(op, lo=-2.0, hi=2.0, edges=(), **attrs):
    def b(c):
        dy = ph(c, "dy", vals(c, (5, 6), -2, 2))
        x = ph(c, "x", vals(c, (5, 6), lo, hi, edges))
        second = "outputs" if op in ("EluGrad", "SeluGrad") else "features"
        return getattr(raw, op)(gradients=dy, **{second: x}, name="r", **attrs)
    return b


case("relu", "ReluGrad(dy, x) = dy where x > 0 (x = 0 gives 0)", dy_x("ReluGrad", edges=(0.0, -0.0)))
case("relu6", "Relu6Grad(dy, x) = dy where 0 < x < 6 (edges 0 and 6 give 0)", dy_x("Relu6Grad", -2, 8, edges=(0.0, 6.0, 5.999)))
case("leaky_relu", "LeakyReluGrad(dy, x, alpha=0.3) = x > 0 ? dy : 0.3 dy", dy_x("LeakyReluGrad", edges=(0.0,), alpha=0.3))
case("leaky_relu_default", "LeakyReluGrad with the default alpha 0.2", dy_x("LeakyReluGrad"))
case("elu", "EluGrad(dy, y) = y < 0 ? dy * (y + 1) : dy", dy_x("EluGrad", -1, 2, edges=(0.0,)))
case("selu", "SeluGrad(dy, y) = y < 0 ? dy * (y + scale*alpha) : dy * scale", dy_x("SeluGrad", -1.7, 2, edges=(0.0,)))
case("softplus", "SoftplusGrad(dy, x) = dy / (exp(-x) + 1)", dy_x("SoftplusGrad", -8, 8))
case("softsign", "SoftsignGrad(dy, x) = dy / (1 + |x|)^2", dy_x("SoftsignGrad", -4, 4))


def bias_add_grad(shape, fmt):
    def b(c):
        g = ph(c, "g", c.rand(*shape))
        kw = {"data_format": fmt} if fmt else {}
        return raw.BiasAddGrad(out_backprop=g, name="r", **kw)
    return b


case("bias_add_nhwc", "BiasAddGrad NHWC rank 4: sum over N, H, W", bias_add_grad((2, 3, 4, 5), "NHWC"))
case("bias_add_2d", "BiasAddGrad rank 2, default format", bias_add_grad((100, 16), None))
case("bias_add_nchw", "BiasAddGrad NCHW rank 4: sum over N, H, W (channel axis 1)", bias_add_grad((2, 5, 3, 4), "NCHW"))
case("bias_add_nchw_3d", "BiasAddGrad NCHW rank 3", bias_add_grad((3, 4, 6), "NCHW"))


# ---- shape bookkeeping -----------------------------------------------------
def bga(pairs, dtype=tf.int32):
    def b(c):
        x = ph(c, "x", c.rand(2))  # keeps the fixture's one float feed
        outs = [tf.identity(x, name="x_id")]
        for k, (s0, s1) in enumerate(pairs):
            r0, r1 = raw.BroadcastGradientArgs(s0=tf.constant(s0, dtype), s1=tf.constant(s1, dtype), name="bga%d" % k)
            outs += [tf.identity(r0, name="r0_%d" % k), tf.identity(r1, name="r1_%d" % k)]
        return outs
    return b


PAIRS = [([100, 8], [100, 8]), ([100, 16], [16]), ([2, 1, 3], [1, 4, 1]), ([], [5, 2]), ([1], [1]),
         ([2, 1, 3], [1, 1, 3]), ([1, 1], [3, 1]), ([4, 1, 1, 6], [1, 6])]
case("broadcast_gradient_args", "BroadcastGradientArgs on constant shapes (equal, bias-like, both ways, scalar, all-ones)",
     bga(PAIRS), "0 0")
case("broadcast_gradient_args_i64", "BroadcastGradientArgs with int64 shapes", bga(PAIRS[2:4], tf.int64), "0 0")


def bga_dynamic(c):
    s = ph(c, "s", np.array([3, 4], np.int32), tf.int32)
    r0, _ = raw.BroadcastGradientArgs(s0=s, s1=tf.constant([4], tf.int32), name="bga")
    return tf.identity(r0, name="r")


case("broadcast_gradient_args_dynamic", "BroadcastGradientArgs of a fed shape: refused naming node and op",
     bga_dynamic, error="node 'bga' (BroadcastGradientArgs): shape s0 is not constant")


def bga_bad(c):
    x = ph(c, "x", c.rand(2))
    r0, _ = raw.BroadcastGradientArgs(s0=tf.constant([3, 4]), s1=tf.constant([5]), name="bga")
    return [tf.identity(r0, name="r"), tf.identity(x, name="x_id")]


case("broadcast_gradient_args_incompatible", "BroadcastGradientArgs of [3,4] and [5]: refused",
     bga_bad, error="node 'bga' (BroadcastGradientArgs): incompatible shapes")


def invert_perm(c):
    x = ph(c, "x", c.rand(2, 3, 4))
    p = raw.InvertPermutation(x=tf.constant([2, 0, 1]), name="inv")
    p64 = raw.InvertPermutation(x=tf.constant([3, 1, 0, 2], tf.int64), name="inv64")
    return [tf.identity(p, name="p"), tf.identity(p64, name="p64"), tf.transpose(x, p, name="t")]


case("invert_permutation", "InvertPermutation (int32, int64), used as a Transpose's perm", invert_perm, "0 0")


def invert_bad(c):
    x = ph(c, "x", c.rand(3))
    return [tf.identity(raw.InvertPermutation(x=tf.constant([0, 0, 1]), name="inv"), name="p"), tf.identity(x, name="x_id")]


case("invert_permutation_bad", "InvertPermutation of [0, 0, 1]: refused", invert_bad,
     error="node 'inv' (InvertPermutation): not a permutation")


def stitch_const(c):
    x = ph(c, "x", c.rand(3))
    s = raw.DynamicStitch(indices=[tf.constant([0, 2]), tf.constant([1, 3])],
                          data=[tf.constant([10, 20]), tf.constant([30, 40])], name="s")
    return [tf.identity(s, name="r"), tf.identity(x, name="x_id")]


def stitch_data(c):
    a = ph(c, "a", c.rand(2, 3))
    b = ph(c, "b", c.rand(2, 2, 3))
    s = raw.DynamicStitch(indices=[tf.constant([4, 1]), tf.constant([[0, 2], [3, 1]])], data=[a, b], name="s")
    p = raw.ParallelDynamicStitch(indices=[tf.constant([1, 0]), tf.constant([2])], data=[a, b[0, :1]], name="p")
    return [tf.identity(s, name="r"), tf.identity(p, name="pr")]


def stitch_dynamic(c):
    i = ph(c, "i", np.array([1, 0], np.int32), tf.int32)
    return raw.DynamicStitch(indices=[i], data=[tf.constant([1.0, 2.0])], name="s")


case("dynamic_stitch_const", "DynamicStitch of constants (folded)", stitch_const, "0 0")
case("dynamic_stitch_data", "DynamicStitch of fed data at constant indices, 2-D indices, a duplicate (later wins); "
     "ParallelDynamicStitch", stitch_data, "0 0")
case("dynamic_stitch_dynamic", "DynamicStitch with fed indices: refused", stitch_dynamic,
     error="node 's' (DynamicStitch): indices 0 must be a constant")


def ssg(c):
    x = ph(c, "x", c.rand(4, 5, 6))
    outs = []
    for k, f in enumerate([lambda v: v[1:3, ::2, -1:0:-2], lambda v: v[..., 2], lambda v: v[:, tf.newaxis, 3, 1:],
                           lambda v: v[::-1, 4:1:-1]]):
        outs.append(tf.identity(tf.gradients(f(x) * (k + 2.0), x)[0], name="g%d" % k))
    return outs


case("strided_slice_grad", "StridedSliceGrad: strides 2 and -2, ellipsis and shrink, new axis, reversed ranges", ssg)


# ---- whole gradient graphs -------------------------------------------------
def grads_mlp(c):
    x = ph(c, "x", c.rand(8, 6))
    t = ph(c, "t", c.rand(8, 3))
    w1 = tf.constant(c.rng.normal(0, 0.5, (6, 5)).astype(np.float32))
    b1 = tf.constant(c.rng.normal(0, 0.5, (5,)).astype(np.float32))
    w2 = tf.constant(c.rng.normal(0, 0.5, (5, 3)).astype(np.float32))
    b2 = tf.constant(c.rng.normal(0, 0.5, (3,)).astype(np.float32))
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1), b1))
    h = tf.nn.elu(h) + tf.nn.softplus(h) + tf.nn.selu(h) + tf.nn.leaky_relu(h, 0.1) + tf.nn.relu6(h * 4)
    o = tf.sigmoid(tf.matmul(h, w2) + b2) + tf.nn.softsign(x[:, :3]) + tf.sqrt(t * t + 1) + tf.math.rsqrt(t * t + 1)
    loss = tf.reduce_mean(tf.square(o - t)) + tf.reduce_sum(tf.tanh(o) / (t + 3))
    gx, gw1, gb1, gt = tf.gradients(loss, [x, w1, b1, t])
    return [tf.identity(gx, name="gx"), tf.identity(gw1, name="gw1"), tf.identity(gb1, name="gb1"),
            tf.identity(gt, name="gt")]


def grads_mean_axes(c):
    x = ph(c, "x", c.rand(4, 5, 6))
    loss = tf.reduce_sum(tf.reduce_mean(tf.tanh(x), axis=[0, 2]) * tf.constant([1.0, 2, 3, 4, 5]))
    loss += tf.reduce_sum(tf.reduce_sum(x * x, axis=1, keepdims=True) / tf.reduce_max(x))
    return tf.identity(tf.gradients(loss, x)[0], name="gx")


case("gradients_mlp", "tf.gradients of an MLP-like loss through relu, elu, softplus, selu, leaky_relu, relu6, "
     "sigmoid, softsign, sqrt, rsqrt, tanh, bias_add, broadcasting and reduce_mean", grads_mlp, "1e-5 1e-6")
case("gradients_reduce_axes", "tf.gradients through reduce_mean over axes [0, 2], keepdims sum, reduce_max",
     grads_mean_axes, "1e-5 1e-6")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    args = ap.parse_args()
    tf1.disable_eager_execution()
    for i, (name, doc, build, tol, error) in enumerate(CASES):
        if args.only and args.only not in name:
            continue
        c = Case("grad_" + name, doc, 5000 + i)
        with c.graph.as_default():
            outs = build(c)
            for t in (outs if isinstance(outs, list) else [outs]):
                c.fetches.append((t.name[:-2] if t.name.endswith(":0") else t.name, t))
            if tol:
                c.tol = tol
            c.expect_error = error
        c.write()


if __name__ == "__main__":
    main()
