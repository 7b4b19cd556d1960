#!/usr/bin/env python3
"""Bench-only models for `make bench` (issue 15's proof set), not committed.

    tools/.venv/bin/python tools/gen_bench_models.py --out build/large-fixtures [--only NAME]

Each is written as a frozen GraphDef fixture (model.pb, in_*.npy, out_*.npy,
fixture.txt) exactly like tools/gen_models.py, so bench/run.py compiles it
with Kiln and exports it with tf2onnx for ONNX Runtime and IREE:

  model_unet_b2          small Keras U-Net, 32x32x3, batch 2: Conv2D+MaxPool down,
                         Conv2DTranspose stride 2 + skip Concatenate and
                         UpSampling2D + skip Concatenate up, 1x1 sigmoid head
  model_efficientnetb0   keras.applications.EfficientNetB0, 224x224, batch 1
  model_mobilenetv3s     keras.applications.MobileNetV3Small, 224x224, batch 1
  model_densenet121      keras.applications.DenseNet121, 224x224, batch 1
  model_nasnet_cells     NASNet-style cell net written here: normal and reduction
                         cells of separable convs, pools and adds, 64x64, batch 1
  model_textcnn_b8       text CNN: Embedding gather -> Conv1D -> global max pool
                         -> Dense, vocab 5000, seq 128, batch 8

Weights are random (weights=None, seeded; BatchNorm statistics randomized so
activations do not die); nothing is downloaded.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import keras, keras_model, np, randomize_batch_norm, tf, write_model  # noqa: E402

L = keras.layers


def unet(out):
    keras.utils.set_random_seed(101)

    def conv2(x, f):
        x = L.Conv2D(f, 3, padding="same", activation="relu")(x)
        return L.Conv2D(f, 3, padding="same", activation="relu")(x)

    inp = keras.Input((32, 32, 3))
    e1 = conv2(inp, 16)                      # 32x32x16
    e2 = conv2(L.MaxPooling2D(2)(e1), 32)    # 16x16x32
    b = conv2(L.MaxPooling2D(2)(e2), 64)     # 8x8x64
    u2 = L.Conv2DTranspose(32, 3, strides=2, padding="same")(b)
    d2 = conv2(L.Concatenate()([u2, e2]), 32)
    u1 = L.Conv2D(16, 1, activation="relu")(L.UpSampling2D(2)(d2))
    d1 = conv2(L.Concatenate()([u1, e1]), 16)
    outp = L.Conv2D(1, 1, activation="sigmoid")(d1)
    m = keras.Model(inp, outp)
    keras_model("model_unet_b2", "Keras U-Net 32x32x3 batch 2: Conv2D+MaxPool down, Conv2DTranspose s2 + Concatenate "
                "and UpSampling2D + Concatenate up, sigmoid head", m, (32, 32, 3), 2, "1e-4 1e-5", 102, out)


def efficientnet(out):
    keras.utils.set_random_seed(111)
    m = keras.applications.EfficientNetB0(weights=None, input_shape=(224, 224, 3), classifier_activation=None)
    randomize_batch_norm(m, 112)
    keras_model("model_efficientnetb0", "Keras EfficientNetB0 224x224 batch 1 (logits)", m, (224, 224, 3), 1, "1e-3 1e-4", 113, out)


def mobilenetv3(out):
    keras.utils.set_random_seed(121)
    m = keras.applications.MobileNetV3Small(weights=None, input_shape=(224, 224, 3), classifier_activation=None)
    randomize_batch_norm(m, 122)
    keras_model("model_mobilenetv3s", "Keras MobileNetV3Small 224x224 batch 1 (logits)", m, (224, 224, 3), 1, "1e-3 1e-4", 123, out)


def densenet(out):
    keras.utils.set_random_seed(131)
    m = keras.applications.DenseNet121(weights=None, input_shape=(224, 224, 3), classifier_activation=None)
    randomize_batch_norm(m, 132)
    keras_model("model_densenet121", "Keras DenseNet121 224x224 batch 1 (logits)", m, (224, 224, 3), 1, "1e-3 1e-4", 133, out)


def nasnet_cells(out):
    """A NASNet-style net of our own: a stem, then N normal cells per stage and a
    reduction cell between stages.  Each cell takes the two previous cells'
    outputs (h_prev, h), adjusts them to the cell's width with ReLU-1x1conv-BN,
    and sums pairs of branches (separable 3x3/5x5 convs, 3x3 avg/max pools,
    identities), concatenating the five sums."""
    keras.utils.set_random_seed(141)

    def relu_conv_bn(x, f, stride=1):
        x = L.ReLU()(x)
        x = L.Conv2D(f, 1, strides=stride, padding="same", use_bias=False)(x)
        return L.BatchNormalization()(x)

    def sep(x, f, k, stride=1):
        for s in (stride, 1):  # NASNet applies the separable conv twice
            x = L.ReLU()(x)
            x = L.SeparableConv2D(f, k, strides=s, padding="same", use_bias=False)(x)
            x = L.BatchNormalization()(x)
        return x

    def fit(p, like, f):
        """Make the previous-previous output match the current spatial size and width."""
        if p.shape[1] != like.shape[1]:
            p = L.ReLU()(p)
            p = L.AveragePooling2D(1, strides=2, padding="valid")(p)
            p = L.Conv2D(f, 1, padding="same", use_bias=False)(p)
            return L.BatchNormalization()(p)
        if p.shape[-1] != f:
            return relu_conv_bn(p, f)
        return p

    def normal(p, h, f):
        p = fit(p, h, f)
        h = relu_conv_bn(h, f)
        b1 = L.Add()([sep(h, f, 5), sep(p, f, 3)])
        b2 = L.Add()([sep(p, f, 5), sep(p, f, 3)])
        b3 = L.Add()([L.AveragePooling2D(3, 1, "same")(h), p])
        b4 = L.Add()([L.AveragePooling2D(3, 1, "same")(p), L.AveragePooling2D(3, 1, "same")(p)])
        b5 = L.Add()([sep(h, f, 3), h])
        return L.Concatenate()([p, b1, b2, b3, b4, b5])

    def reduction(p, h, f):
        p = fit(p, h, f)
        h = relu_conv_bn(h, f)
        b1 = L.Add()([sep(h, f, 5, 2), sep(p, f, 7, 2)])
        b2 = L.Add()([L.MaxPooling2D(3, 2, "same")(h), sep(p, f, 7, 2)])
        b3 = L.Add()([L.AveragePooling2D(3, 2, "same")(h), sep(p, f, 5, 2)])
        b4 = L.Add()([L.MaxPooling2D(3, 2, "same")(h), sep(b1, f, 3)])
        b5 = L.Add()([L.AveragePooling2D(3, 1, "same")(b1), b2])
        return L.Concatenate()([b2, b3, b4, b5])

    inp = keras.Input((64, 64, 3))
    x = L.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    p, h = x, x
    f = 16
    for stage in range(3):
        for _ in range(3):
            p, h = h, normal(p, h, f)
        if stage < 2:
            f *= 2
            p, h = h, reduction(p, h, f)
    x = L.ReLU()(h)
    x = L.GlobalAveragePooling2D()(x)
    outp = L.Dense(100)(x)
    m = keras.Model(inp, outp)
    randomize_batch_norm(m, 142)
    keras_model("model_nasnet_cells", "NASNet-style cell net (9 normal + 2 reduction cells of separable convs, pools, "
                "adds, concats), 64x64 batch 1", m, (64, 64, 3), 1, "1e-3 1e-4", 143, out)


def textcnn(out):
    keras.utils.set_random_seed(151)
    vocab, seq, batch = 5000, 128, 8
    m = keras.Sequential([
        keras.Input((seq,), dtype="int32"),
        L.Embedding(vocab, 64),
        L.Conv1D(128, 5, activation="relu"),
        L.GlobalMaxPooling1D(),
        L.Dense(64, activation="relu"),
        L.Dense(2),
    ])
    rng = np.random.default_rng(152)
    ids = rng.integers(0, vocab, (batch, seq)).astype(np.int32)
    write_model("model_textcnn_b8", "text CNN: Embedding(5000, 64) gather -> Conv1D(128, 5) ReLU -> global max pool -> "
                "Dense 64 -> Dense 2; seq 128, batch 8", lambda t: m(t, training=False),
                [tf.TensorSpec((batch, seq), tf.int32)], [ids], "1e-4 1e-5", out)


MODELS = {"unet": unet, "efficientnetb0": efficientnet, "mobilenetv3s": mobilenetv3, "densenet121": densenet,
          "nasnet_cells": nasnet_cells, "textcnn": textcnn}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, fn in MODELS.items():
        if not args.only or args.only in name:
            fn(args.out)


if __name__ == "__main__":
    main()
