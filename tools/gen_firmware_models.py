#!/usr/bin/env python3
"""Firmware-sized models: tests/fixtures/model_kws_dscnn/ (and, with --tflite DIR,
the same models as float32 .tflite files for tools/tflm_footprint.py).

    tools/.venv/bin/python tools/gen_firmware_models.py [--tflite DIR]

model_kws_dscnn: the MLPerf Tiny keyword-spotting DS-CNN shape: a 49x10
MFCC input, Conv2D 64 (10x4, stride 2) + BN + ReLU, four depthwise-separable
blocks (3x3 depthwise + BN + ReLU, 1x1 conv 64 + BN + ReLU), global average
pool, Dense 12 + softmax (batch norm folded into biases).  Random weights (the
shape is what matters for footprint; the weights only for the comparison
with TensorFlow).  Kept under 100 KB like every committed fixture.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import keras, keras_model, np, tf  # noqa: E402


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tflite", help="also write float32 .tflite files here")
    args = ap.parse_args()
    models = {"kws_dscnn": kws_dscnn()}
    if args.tflite:
        os.makedirs(args.tflite, exist_ok=True)
        for name, m in models.items():
            data = tf.lite.TFLiteConverter.from_keras_model(m).convert()
            with open(os.path.join(args.tflite, name + ".tflite"), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
