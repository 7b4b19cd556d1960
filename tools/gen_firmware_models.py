#!/usr/bin/env python3
"""Firmware-sized models: tests/fixtures/model_kws_dscnn/ (and, with --tflite DIR,
the same models as float32 .tflite files for tools/tflm_footprint.py).

    tools/.venv/bin/python tools/gen_firmware_models.py [--only NAME] [--tflite DIR]

model_kws_dscnn: the MLPerf Tiny keyword-spotting DS-CNN shape: a 49x10
MFCC input, Conv2D 64 (10x4, stride 2) + BN + ReLU, four depthwise-separable
blocks (3x3 depthwise + BN + ReLU, 1x1 conv 64 + BN + ReLU), global average
pool, Dense 12 + softmax (batch norm folded into biases).  Random weights (the
shape is what matters for footprint; the weights only for the comparison
with TensorFlow).  Kept under 100 KB like every committed fixture.

model_person_mbv1: the TFLM person-detection shape, MobileNetV1 alpha 0.25 on
a 96x96x1 image: Conv2D 8 (3x3, stride 2), 13 depthwise-separable blocks
(8-16-32-32-64-64-128x6-256-256 channels, strides as MobileNetV1), each conv
followed by FusedBatchNormV3 (inference) and Relu6, 3x3 average pool, 1x1
conv to 2 classes, softmax.  Its 213,000 float weights (850 KB) are not
committed: each is a seeded stateless random op (StatelessTruncatedNormal,
StatelessRandomUniform for the batch-norm statistics) that TensorFlow
evaluates for the reference and Kiln folds into the same constants at import
(frontend/tf/tf_ops_random.c, bit-identical Philox), so model.pb is a few
KB.  --tflite writes the same model with the weights as constants.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import keras, keras_model, np, tf, write_model  # noqa: E402


def kws_dscnn():
    keras.utils.set_random_seed(21)
    x = inp = keras.Input((49, 10, 1))
    # batch norm folded into the convs' biases, as an inference export has it
    # (and as the 100 KB fixture budget needs: separate BN vectors add 30 KB)
    x = keras.layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same", activation="relu")(x)
    for _ in range(4):
        x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(64, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(12, activation="softmax")(x)
    m = keras.Model(inp, out)
    rng = np.random.default_rng(22)
    for layer in m.layers:  # biases that keep about half the ReLUs alive
        w = layer.get_weights()
        if len(w) == 2:
            layer.set_weights([w[0], rng.uniform(-0.05, 0.15, w[1].shape).astype(np.float32)])
    keras_model("model_kws_dscnn", "MLPerf Tiny KWS DS-CNN shape (49x10 MFCC, 64 channels, 4 DS blocks), batch 1",
                m, (49, 10, 1), 1, "1e-4 1e-5", 23)
    return m


# MobileNetV1 alpha 0.25: (pointwise channels, depthwise stride) per block
MBV1_BLOCKS = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]


class Weights:
    """Every weight a seeded stateless random op (V1: shape and seed operands,
    one node each); with const=True the same values, evaluated eagerly by
    TensorFlow from the same ops and seeds, as constants."""

    def __init__(self, const):
        self.const, self.k = const, 0

    def _seed(self):
        self.k += 1
        return tf.constant([1000 + self.k, 77], tf.int64)

    def _op(self, f):
        if not self.const:
            return f()
        with tf.init_scope():  # eager, outside the traced graph
            return tf.constant(f().numpy())

    def normal(self, shape, std):  # He-style scale over a truncated normal
        return self._op(lambda: tf.raw_ops.StatelessTruncatedNormal(shape=shape, seed=self._seed()) * std)

    def uniform(self, shape, lo, hi):  # lo, hi: scalars or broadcastable arrays
        lo, hi = np.float32(lo), np.float32(hi)
        return self._op(lambda: tf.raw_ops.StatelessRandomUniform(shape=shape, seed=self._seed()) * (hi - lo) + lo)


def person_mbv1_fn(const):
    """x: [1, 96, 96, 1] -> softmax [1, 2]; weights made inside, so they are
    ops of the traced graph (or constants with const=True)."""

    def fn(x):
        w = Weights(const)

        def bn_relu6(y):
            # gamma, beta, moving mean and variance: one [4, C] random op
            s = tf.unstack(w.uniform([4, y.shape[-1]], [[0.5], [-0.1], [-0.2], [0.5]], [[1.5], [0.3], [0.2], [1.5]]))
            y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(x=y, scale=s[0], offset=s[1], mean=s[2], variance=s[3],
                                                           epsilon=1e-3, is_training=False)
            return tf.nn.relu6(y)

        cin = 8
        y = tf.nn.conv2d(x, w.normal([3, 3, 1, cin], (2 / 9) ** 0.5), 2, "SAME")
        y = bn_relu6(y)
        for cout, stride in MBV1_BLOCKS:
            y = tf.nn.depthwise_conv2d(y, w.normal([3, 3, cin, 1], (2 / 9) ** 0.5), [1, stride, stride, 1], "SAME")
            y = bn_relu6(y)
            y = tf.nn.conv2d(y, w.normal([1, 1, cin, cout], (2 / cin) ** 0.5), 1, "SAME")
            y = bn_relu6(y)
            cin = cout
        y = tf.nn.avg_pool2d(y, 3, 1, "VALID")  # [1, 1, 1, 256]
        y = tf.nn.conv2d(y, w.normal([1, 1, cin, 2], (1 / cin) ** 0.5), 1, "SAME") + w.uniform([2], -0.1, 0.1)
        return tf.nn.softmax(tf.reshape(y, [-1, 2]))

    return fn


def person_mbv1():
    x = np.random.default_rng(31).uniform(-1, 1, (1, 96, 96, 1)).astype(np.float32)
    fn = person_mbv1_fn(False)
    write_model("model_person_mbv1", "MobileNetV1 alpha 0.25 person-detection shape (96x96x1, 2 classes), weights as "
                "seeded stateless random ops (tools/gen_firmware_models.py), batch 1",
                fn, [tf.TensorSpec((1, 96, 96, 1), tf.float32)], [x], "1e-4 1e-5")
    print("person_mbv1 reference:", fn(tf.constant(x)).numpy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tflite", help="also write float32 .tflite files here")
    ap.add_argument("--only", help="kws_dscnn or person_mbv1: write only this fixture (and .tflite)")
    args = ap.parse_args()
    models = {"kws_dscnn": kws_dscnn()} if args.only in (None, "kws_dscnn") else {}
    if args.only in (None, "person_mbv1"):
        person_mbv1()
    if args.tflite:
        os.makedirs(args.tflite, exist_ok=True)
        conv = {name: tf.lite.TFLiteConverter.from_keras_model(m) for name, m in models.items()}
        if args.only in (None, "person_mbv1"):
            fn = tf.function(person_mbv1_fn(True)).get_concrete_function(tf.TensorSpec((1, 96, 96, 1), tf.float32))
            conv["person_mbv1"] = tf.lite.TFLiteConverter.from_concrete_functions([fn])
        for name, c in conv.items():
            data = c.convert()
            with open(os.path.join(args.tflite, name + ".tflite"), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
