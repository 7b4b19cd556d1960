#!/usr/bin/env python3
"""Small Keras squeeze-excite blocks (issue 15, EfficientNet's MBConv):
1x1 expand + BN + swish, depthwise 3x3 + BN + swish (x), then
s = sigmoid(conv1x1(swish(conv1x1(mean(x, axes 1,2, keepdims))))) and the
project conv + BN on x * s (passes/fuse.c reads x * s as the project
conv's A, codegen/gemm.c).  Random weights and BN statistics, seeded;
nothing is downloaded.

    tools/.venv/bin/python tools/gen_se_block.py    # tests/fixtures/model_se_block*

  model_se_block       batch 1, 5x5, 4 -> 32 channels, 1x1 project to 8
  model_se_block_b2    batch 2 (tile rows cross images: per-row scale)
  model_se_block_k3    batch 2, a 3x3 'same' project conv (taps in the padding)
  model_se_block_reuse x * s also added to a residual (a second use: not fused)
  model_se_block_k3_c16 batch 2, 16 channels, 3x3 project conv: the padded copy (C < 32) made scaled
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import write_model, randomize_batch_norm, keras, tf, np  # noqa: E402


def se_block(size, cin, cexp, cout, kproj, reuse, seed):
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, cin))
    x = L.Conv2D(cexp, 1, use_bias=False)(inp)
    x = L.Activation("swish")(L.BatchNormalization()(x))
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = L.Activation("swish")(L.BatchNormalization()(x))
    se = L.GlobalAveragePooling2D()(x)
    se = L.Reshape((1, 1, cexp))(se)
    se = L.Conv2D(max(1, cexp // 4), 1, activation="swish")(se)
    se = L.Conv2D(cexp, 1, activation="sigmoid")(se)
    y = L.Multiply()([x, se])
    out = L.BatchNormalization()(L.Conv2D(cout, kproj, padding="same", use_bias=False)(y))
    if reuse:  # y read twice: the product must stay materialized
        out = [out, L.Add()([y, x])]
    m = keras.Model(inp, out)
    randomize_batch_norm(m, seed + 1)
    rng = np.random.default_rng(seed + 100)
    for layer in m.layers:
        w = layer.get_weights()
        if isinstance(layer, L.Conv2D) and len(w) == 2:
            layer.set_weights([w[0], rng.uniform(-0.5, 0.5, w[1].shape).astype(np.float32)])
    return m


def main():
    for name, batch, cexp, kproj, reuse, seed in (("model_se_block", 1, 32, 1, False, 31),
                                                  ("model_se_block_b2", 2, 32, 1, False, 32),
                                                  ("model_se_block_k3", 2, 32, 3, False, 33),
                                                  ("model_se_block_reuse", 1, 32, 1, True, 34),
                                                  ("model_se_block_k3_c16", 2, 16, 3, False, 35)):
        m = se_block(5, 4, cexp, 8, kproj, reuse, seed)
        x = np.random.default_rng(seed).uniform(-1, 1, (batch, 5, 5, 4)).astype(np.float32)
        doc = "Keras squeeze-excite block, 5x5, 4 -> %d -> 8 channels, %dx%d project conv, batch %d%s" % (
            cexp, kproj, kproj, batch, ", x*s reused" if reuse else "")
        write_model(name, doc, lambda t, m=m: m(t, training=False), [tf.TensorSpec((batch, 5, 5, 4), tf.float32)], [x],
                    "1e-4 1e-5")


if __name__ == "__main__":
    main()
