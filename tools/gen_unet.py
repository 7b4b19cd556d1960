#!/usr/bin/env python3
"""A small Keras U-Net (issue 15): Conv2D + MaxPool down, Conv2DTranspose
stride 2 + skip Concatenate, UpSampling2D (nearest or bilinear) + skip
Concatenate up, a 1x1 sigmoid head.  Random weights, seeded; nothing is
downloaded.

    tools/.venv/bin/python tools/gen_unet.py              # committed fixtures (tests/fixtures/model_unet*)
    tools/.venv/bin/python tools/gen_unet.py --bench DIR  # the measured model: batch 2, 32x32, filters 16/32/64
                                                          # DIR/unet.pb (+ .onnx by tf2onnx, opset 17, in the
                                                          # bench venv), DIR/in_0.npy, DIR/out_0.npy

The fixtures are the same architecture, smaller (filters 8/16/32, 16x16:
the 48-channel concat at 8x8 takes the indirect GEMM, the 24-channel one
at 16x16 the padded copy): a 2x2 transposed kernel with UpSampling2D, and a
3x3 one (overlapping sub-pixel phases) with tf.image.resize nearest (TF's
ResizeNearestNeighbor) and with bilinear UpSampling2D (not fused), all
checked against TensorFlow.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import write_model, keras, tf, np  # noqa: E402


def unet(f, size, kt, interp, seed):
    keras.utils.set_random_seed(seed)
    L = keras.layers

    def block(x, n):
        x = L.Conv2D(n, 3, padding="same", activation="relu")(x)
        return L.Conv2D(n, 3, padding="same", activation="relu")(x)

    inp = keras.Input((size, size, 3))
    c1 = block(inp, f)                                # size
    c2 = block(L.MaxPooling2D(2)(c1), 2 * f)          # size / 2
    b = block(L.MaxPooling2D(2)(c2), 4 * f)           # size / 4
    u2 = L.Conv2DTranspose(2 * f, kt, strides=2, padding="same", activation="relu")(b)
    d2 = block(L.Concatenate()([u2, c2]), 2 * f)
    if interp == "resize":  # tf.image.resize: ResizeNearestNeighbor, imported as two constant gathers
        u1 = L.Lambda(lambda t: tf.image.resize(t, (size, size), method="nearest"))(d2)
    else:  # Keras UpSampling2D: reshape/tile/reshape/tile/reshape
        u1 = L.UpSampling2D(2, interpolation=interp)(d2)
    d1 = block(L.Concatenate()([u1, c1]), f)
    out = L.Conv2D(1, 1, activation="sigmoid")(d1)
    m = keras.Model(inp, out)
    # biases too, so the fused epilogues are not trivially zero
    rng = np.random.default_rng(seed + 100)
    for layer in m.layers:
        w = layer.get_weights()
        if len(w) == 2:
            layer.set_weights([w[0], rng.uniform(-0.1, 0.1, w[1].shape).astype(np.float32)])
    return m


def fixtures():
    for name, kt, interp, seed in (("model_unet", 2, "nearest", 11), ("model_unet_k3_resize", 3, "resize", 12),
                                   ("model_unet_k3_bilinear", 3, "bilinear", 13)):
        m = unet(8, 16, kt, interp, seed)
        x = np.random.default_rng(seed).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
        doc = "Keras U-Net, filters 8/16/32, 16x16, Conv2DTranspose %dx%d stride 2, UpSampling2D %s, batch 2" % (kt, kt, interp)
        write_model(name, doc, lambda t, m=m: m(t, training=False), [tf.TensorSpec((2, 16, 16, 3), tf.float32)], [x],
                    "1e-4 1e-5")


def bench(out_dir):
    from gen_models import freeze
    m = unet(16, 32, 2, "nearest", 21)
    x = np.random.default_rng(21).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    gd, frozen, inputs, outputs = freeze(lambda t: m(t, training=False), [tf.TensorSpec((2, 32, 32, 3), tf.float32)])
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "unet.pb"), "wb") as f:
        f.write(gd.SerializeToString())
    np.save(os.path.join(out_dir, "in_0.npy"), x)
    y = frozen(tf.constant(x))
    np.save(os.path.join(out_dir, "out_0.npy"), (y[0] if isinstance(y, (list, tuple)) else y).numpy())
    with open(os.path.join(out_dir, "names.txt"), "w") as f:
        f.write("%s %s\n" % (inputs[0], outputs[0]))
    print("wrote %s/unet.pb (%s -> %s)" % (out_dir, inputs[0], outputs[0]))
    try:
        import tf2onnx
    except ImportError:
        print("tf2onnx not in this venv: run `tools/.bench-venv/bin/python tools/gen_unet.py --onnx %s`" % out_dir)
        return
    to_onnx(out_dir)


def to_onnx(out_dir):
    import tf2onnx
    from tensorflow.core.framework import graph_pb2
    gd = graph_pb2.GraphDef()
    with open(os.path.join(out_dir, "unet.pb"), "rb") as f:
        gd.ParseFromString(f.read())
    with open(os.path.join(out_dir, "names.txt")) as f:
        i, o = f.read().split()
    model, _ = tf2onnx.convert.from_graph_def(gd, input_names=[i], output_names=[o], opset=17)
    with open(os.path.join(out_dir, "unet.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    print("wrote %s/unet.onnx" % out_dir)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", metavar="DIR")
    ap.add_argument("--onnx", metavar="DIR", help="only the tf2onnx export of DIR/unet.pb")
    a = ap.parse_args()
    if a.onnx:
        to_onnx(a.onnx)
    elif a.bench:
        bench(a.bench)
    else:
        fixtures()
