#!/usr/bin/env python3
"""Op coverage sweep: builds every keras.applications family (smallest
variant, random weights, small input), one model per Keras layer in
inference and one graph per tf.nn / tf.math / tf.signal / tf.image function
of interest, freezes each to a GraphDef, runs it through `kiln run` and
compares with TensorFlow.  Writes docs/ops-coverage.md (tools/gen_ops_doc.py
includes it in docs/ops.md).

    tools/.venv/bin/python tools/op_coverage.py [--kiln build/bin/kiln] [--only SUBSTRING] [--out docs/ops-coverage.md]

Status per model: "pass" (|kiln - tf| <= 1e-3 |tf| + 1e-4 max |tf|), "wrong"
(numbers differ), "refused" (the ops Kiln reported unsupported, or the
first error line), "tf error" (the model could not be built or frozen).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from gen_models import freeze  # noqa: E402

keras = tf.keras
L = keras.layers
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def app(name, size, **kw):
    def make():
        cls = getattr(keras.applications, name)
        return cls(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3), **kw), (size, size, 3)
    return ("keras.applications." + name, make)


APPS = [app("Xception", 71), app("VGG16", 32), app("ResNet50", 32), app("ResNet50V2", 32), app("InceptionV3", 75),
        app("InceptionResNetV2", 75), app("MobileNet", 32), app("MobileNetV2", 32), app("MobileNetV3Small", 32),
        app("DenseNet121", 32), app("NASNetMobile", 32), app("EfficientNetB0", 32), app("EfficientNetV2B0", 32),
        app("ConvNeXtTiny", 32)]


def layer(name, make_layer, shape):
    def make():
        inp = keras.Input(shape)
        return keras.Model(inp, make_layer()(inp)), shape
    return ("keras.layers." + name, make)


def mha():
    inp = keras.Input((6, 16))
    return keras.Model(inp, L.MultiHeadAttention(num_heads=2, key_dim=8)(inp, inp)), (6, 16)


ACTIVATIONS = ["relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "softplus",
               "softsign", "hard_sigmoid", "hard_silu", "exponential", "leaky_relu", "mish", "linear"]
LAYERS = [layer("Dense", lambda: L.Dense(8), (12,)),
          layer("Conv1D", lambda: L.Conv1D(4, 3, padding="same"), (10, 3)),
          layer("Conv2D", lambda: L.Conv2D(4, 3, strides=2), (9, 9, 3)),
          layer("Conv3D", lambda: L.Conv3D(4, 3), (5, 6, 6, 2)),
          layer("DepthwiseConv2D", lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 3)),
          layer("SeparableConv2D", lambda: L.SeparableConv2D(5, 3), (8, 8, 3)),
          layer("Conv2DTranspose", lambda: L.Conv2DTranspose(4, 3, strides=2), (5, 5, 3)),
          layer("MaxPooling1D", lambda: L.MaxPooling1D(2), (10, 3)),
          layer("MaxPooling2D", lambda: L.MaxPooling2D(3, 2, padding="same"), (9, 9, 3)),
          layer("MaxPooling3D", lambda: L.MaxPooling3D(2), (4, 6, 6, 2)),
          layer("AveragePooling2D", lambda: L.AveragePooling2D(2), (8, 8, 3)),
          layer("AveragePooling3D", lambda: L.AveragePooling3D(2), (4, 6, 6, 2)),
          layer("GlobalAveragePooling2D", lambda: L.GlobalAveragePooling2D(), (6, 6, 3)),
          layer("GlobalMaxPooling1D", lambda: L.GlobalMaxPooling1D(), (7, 3)),
          layer("BatchNormalization", lambda: L.BatchNormalization(), (6, 6, 3)),
          layer("LayerNormalization", lambda: L.LayerNormalization(), (5, 8)),
          layer("GroupNormalization", lambda: L.GroupNormalization(groups=2), (6, 6, 4)),
          layer("UnitNormalization", lambda: L.UnitNormalization(), (8,)),
          layer("Dropout", lambda: L.Dropout(0.5), (8,)),
          layer("Flatten", lambda: L.Flatten(), (3, 4, 2)),
          layer("Reshape", lambda: L.Reshape((4, 6)), (3, 8)),
          layer("Permute", lambda: L.Permute((2, 1)), (3, 8)),
          layer("RepeatVector", lambda: L.RepeatVector(3), (5,)),
          layer("UpSampling2D(nearest)", lambda: L.UpSampling2D(2), (4, 4, 3)),
          layer("UpSampling2D(bilinear)", lambda: L.UpSampling2D(2, interpolation="bilinear"), (4, 4, 3)),
          layer("ZeroPadding2D", lambda: L.ZeroPadding2D(((1, 2), (0, 1))), (4, 4, 3)),
          layer("Cropping2D", lambda: L.Cropping2D(((1, 0), (1, 2))), (6, 6, 3)),
          layer("Resizing(bilinear)", lambda: L.Resizing(7, 5), (4, 4, 3)),
          layer("Resizing(bicubic)", lambda: L.Resizing(7, 5, interpolation="bicubic"), (4, 4, 3)),
          layer("Resizing(area)", lambda: L.Resizing(3, 2, interpolation="area"), (6, 6, 3)),
          layer("Rescaling", lambda: L.Rescaling(1 / 127.5, offset=-1), (4, 4, 3)),
          layer("CenterCrop", lambda: L.CenterCrop(3, 3), (5, 6, 3)),
          layer("Embedding", lambda: L.Embedding(10, 4), (6,)),
          ("keras.layers.MultiHeadAttention", mha),
          layer("Attention", lambda: _Attn(), (5, 8)),
          layer("PReLU", lambda: L.PReLU(), (8,)),
          layer("ELU", lambda: L.ELU(), (8,)),
          layer("LeakyReLU", lambda: L.LeakyReLU(), (8,)),
          layer("Softmax", lambda: L.Softmax(), (8,)),
          layer("ReLU(max_value, threshold)", lambda: L.ReLU(max_value=2.0, threshold=0.1), (8,))] + \
    [layer("Activation(%s)" % a, (lambda a=a: L.Activation(a)), (8,)) for a in ACTIVATIONS]


def randomize_batch_norm(model, seed):
    """Random statistics (and scale/shift where the layer has them), as tools/gen_models.py does: identity
    statistics shrink deep nets' outputs towards 0, where no wrong kernel would show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            ws = layer.get_weights()
            new = [rng.uniform(0.5, 1.5, w.shape) for w in ws]
            new[-2] = rng.uniform(-0.3, 0.3, ws[-2].shape)  # moving mean
            new[-1] = rng.uniform(0.5, 2, ws[-1].shape)  # moving variance
            if layer.center:
                new[-3] = rng.uniform(-0.2, 0.5, ws[-3].shape)
            layer.set_weights(new)


def nn(name, fn, shape):
    return ("tf.nn." + name if not name.startswith("tf.") else name, lambda: (fn, shape))


_W = np.random.default_rng(5)
_K4 = tf.constant(_W.uniform(-1, 1, (3, 3, 4, 4)).astype(np.float32))
TF_NN = [nn("local_response_normalization", lambda x: tf.nn.local_response_normalization(x, 2, 1.0, 0.1, 0.75), (5, 5, 4)),
         nn("depth_to_space", lambda x: tf.nn.depth_to_space(x, 2), (3, 3, 8)),
         nn("space_to_depth", lambda x: tf.nn.space_to_depth(x, 2), (4, 6, 3)),
         nn("atrous_conv2d", lambda x: tf.nn.atrous_conv2d(x, _K4, 2, "SAME"), (9, 9, 4)),
         nn("separable_conv2d", lambda x: tf.nn.separable_conv2d(x, _K4[:, :, :, :1], tf.ones((1, 1, 4, 3)), [1, 1, 1, 1], "VALID"), (6, 6, 4)),
         nn("l2_normalize", lambda x: tf.nn.l2_normalize(x, -1), (4, 6)),
         nn("moments", lambda x: tf.add(*tf.nn.moments(x, [0, 1])), (4, 6)),
         nn("batch_normalization", lambda x: tf.nn.batch_normalization(x, 0.1, 2.0, 0.3, 1.5, 1e-3), (4, 6)),
         nn("crelu", lambda x: tf.nn.crelu(x), (4, 6)),
         nn("silu", lambda x: tf.nn.silu(x), (4, 6)),
         nn("gelu(approximate)", lambda x: tf.nn.gelu(x, approximate=True), (4, 6)),
         nn("gelu(exact)", lambda x: tf.nn.gelu(x, approximate=False), (4, 6)),
         nn("softmax_cross_entropy_with_logits", lambda x: tf.nn.softmax_cross_entropy_with_logits(tf.nn.softmax(x[::-1]), x), (4, 6)),
         nn("sparse_softmax_cross_entropy_with_logits",
            lambda x: tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant([0, 3, 5, 1]), x[0]), (4, 6)),
         nn("sigmoid_cross_entropy_with_logits", lambda x: tf.nn.sigmoid_cross_entropy_with_logits(tf.sigmoid(x[::-1]), x), (4, 6)),
         nn("top_k", lambda x: tf.math.top_k(x, 3).values, (4, 6)),
         nn("in_top_k", lambda x: tf.cast(tf.math.in_top_k(tf.constant([0, 3, 5, 1]), x[0], 2), tf.float32), (4, 6)),
         nn("space_to_batch_nd", lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 1], [1, 1]]), (5, 4, 3)),
         nn("batch_to_space_nd", lambda x: tf.batch_to_space(tf.concat([x, x * 2, x * 3, x * 4], 0), [2, 2], [[0, 1], [1, 0]]), (3, 3, 2)),
         nn("pool(max, dilation)", lambda x: tf.nn.pool(x, [2, 2], "MAX", dilations=[2, 2], padding="VALID"), (7, 7, 3)),
         nn("conv1d_transpose", lambda x: tf.nn.conv1d_transpose(x, tf.ones((3, 2, 4)), [1, 10, 2], 2), (5, 4)),
         nn("tf.math.cumsum", lambda x: tf.math.cumsum(x, 1, exclusive=True, reverse=True), (4, 6)),
         nn("tf.math.cumprod", lambda x: tf.math.cumprod(x, 1), (4, 6)),
         nn("tf.math.erfc", lambda x: tf.math.erfc(x * 3), (4, 6)),
         nn("tf.signal.frame", lambda x: tf.signal.frame(x, 4, 2), (4, 12)),
         nn("tf.signal.hann_window", lambda x: x * tf.signal.hann_window(6), (4, 6)),
         nn("tf.signal.rfft", lambda x: tf.abs(tf.signal.rfft(x)), (4, 8)),
         nn("tf.image.resize(lanczos3)", lambda x: tf.image.resize(x, [7, 5], "lanczos3"), (4, 4, 3)),
         nn("tf.image.resize(bicubic)", lambda x: tf.image.resize(x, [7, 5], "bicubic"), (4, 4, 3)),
         nn("tf.gather_nd", lambda x: tf.gather_nd(x, [[0, 1], [0, 3]]), (4, 6)),
         nn("tf.tensor_scatter_nd_update", lambda x: tf.tensor_scatter_nd_update(x, [[0, 1], [0, 3]], tf.ones((2, 6))), (4, 6)),
         nn("tf.math (trig, hyperbolic)", lambda x: tf.add_n([tf.sin(x), tf.cos(x), tf.tan(x), tf.asin(x * 0.9), tf.acos(x * 0.9),
                                                             tf.atan(x), tf.sinh(x), tf.cosh(x), tf.asinh(x), tf.acosh(2 + x),
                                                             tf.atanh(x * 0.9), tf.math.atan2(x, x[::-1] - 0.3)]), (4, 6)),
         nn("tf.math (log1p, expm1, sign, reciprocal, is*)",
            lambda x: tf.math.log1p(x + 1) + tf.math.expm1(x) + tf.sign(x) + tf.math.reciprocal(x + 2) +
            tf.cast(tf.math.is_finite(x), tf.float32) + tf.cast(tf.math.is_nan(x), tf.float32), (4, 6)),
         nn("tf.math (truncatediv, mod, divide_no_nan, xlogy)",
            lambda x: tf.cast(tf.truncatediv(tf.cast(x * 70, tf.int32), 3), tf.float32) + tf.math.floormod(x, 0.3) + tf.truncatemod(x * 5, 0.7) +
            tf.math.divide_no_nan(x, x * 0) + tf.math.xlogy(x + 1, x + 2) + tf.math.xdivy(x, x + 2), (4, 6)),
         nn("tf.reduce_all / reduce_any / reverse / l2_loss",
            lambda x: tf.cast(tf.reduce_all(x > -0.9, 1), tf.float32) + tf.cast(tf.reduce_any(x > 0.9, 1), tf.float32) +
            tf.reduce_sum(tf.reverse(x, [1]), 1) + tf.nn.l2_loss(x), (4, 6)),
         nn("tf.einsum", lambda x: tf.einsum("bij,bkj->bik", x, x), (4, 6))]


class _Attn(L.Layer):
    def call(self, x):
        return L.Attention()([x, x])


# Why Kiln refuses what it refuses, for the ops that appear in the table.
NOTES = {
    "StatefulPartitionedCall": "Keras 3 runs a grouped Conv2D (ConvNeXt's depthwise convolutions) as a jit_compile'd "
                               "tf.function, which freezing keeps as a function call; Kiln's TensorFlow frontend does not "
                               "inline FunctionDefs.",
    "RFFT": "FFTs produce complex tensors; Kiln has no complex dtype.",
    "ScaleAndTranslate": "tf.image.resize's lanczos3/5, gaussian and mitchellcubic kernels are not implemented "
                         "(nearest, bilinear, bicubic and area are).",
}


def run_one(name, make, kiln, tmp):
    try:
        keras.utils.set_random_seed(1)
        model, shape = make()
        if isinstance(model, keras.Model):
            randomize_batch_norm(model, 3)  # identity statistics would shrink deep nets' outputs towards 0
            fn = lambda t: model(t, training=False)  # noqa: E731
        else:
            fn = model
        rng = np.random.default_rng(2)
        x = rng.uniform(-1, 1, (1,) + shape).astype(np.float32)
        if "Embedding" in name:
            x = rng.integers(0, 10, (1,) + shape).astype(np.float32)
        gd, frozen, inputs, outputs = freeze(fn, [tf.TensorSpec((1,) + shape, tf.float32)])
        ref = frozen(tf.constant(x))
        ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).numpy()
    except Exception as e:  # noqa: BLE001 - report, do not stop the sweep
        return {"status": "tf error", "detail": str(e).splitlines()[0][:120], "ops": set()}
    ops = sorted({n.op for n in gd.node} - {"Placeholder", "Const", "Identity", "NoOp"})
    d = tempfile.mkdtemp(dir=tmp)
    open(os.path.join(d, "model.pb"), "wb").write(gd.SerializeToString())
    np.save(os.path.join(d, "in.npy"), x)
    feed = inputs[0][:-2] if inputs[0].endswith(":0") else inputs[0]
    fetch = outputs[0][:-2] if outputs[0].endswith(":0") else outputs[0]
    t0 = time.time()
    p = subprocess.run([kiln, "run", os.path.join(d, "model.pb"), "--feed", "%s=%s" % (feed, os.path.join(d, "in.npy")),
                        "--fetch", fetch, "--out-dir", d], capture_output=True, text=True, timeout=900)
    secs = time.time() - t0
    if p.returncode:
        bad = sorted(set(re.findall(r"unsupported op (\w+)", p.stderr)))
        detail = "unsupported: " + ", ".join(bad) if bad else p.stderr.strip().splitlines()[0][:160]
        return {"status": "refused", "detail": detail, "ops": ops}
    got = np.load(os.path.join(d, re.sub(r"[/:]", "_", fetch) + ".npy"))
    err = float(np.max(np.abs(got.astype(np.float64) - ref))) if got.shape == ref.shape else float("inf")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    ok = got.shape == ref.shape and np.all(np.abs(got - ref) <= 1e-3 * np.abs(ref) + 1e-4 * scale)
    return {"status": "pass" if ok else "wrong",
            "detail": "max abs err %.2g = %.1e of max output %.2g; run %.1f s" % (err, err / scale if scale else 0, scale, secs),
            "ops": ops}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "bin", "kiln"))
    ap.add_argument("--only")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "ops-coverage.md"))
    args = ap.parse_args()
    rows = []
    all_ops = set()
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in APPS + LAYERS + TF_NN:
            if args.only and args.only not in name:
                continue
            r = run_one(name, make, args.kiln, tmp)
            all_ops |= set(r["ops"])
            rows.append((name, r))
            print("%-44s %-8s %s" % (name, r["status"], r["detail"]), flush=True)
    counts = {s: sum(1 for _, r in rows if r["status"] == s) for s in ("pass", "wrong", "refused", "tf error")}
    with open(args.out, "w") as f:
        f.write("## Coverage: keras.applications, Keras layers, tf.nn and friends\n\n")
        f.write("Generated by `tools/op_coverage.py`: each model (random weights, batch 1) frozen to a GraphDef, run "
                "by `kiln run` (JIT, -O2, compile time included in the seconds) and compared with TensorFlow "
                "(pass: |kiln - tf| <= 1e-3 |tf| + 1e-4 max |tf|; batch norm statistics randomized). "
                "%d models: %d pass, %d wrong, %d refused, %d not buildable in TensorFlow.\n\n" %
                (len(rows), counts["pass"], counts["wrong"], counts["refused"], counts["tf error"]))
        f.write("| model | TF ops (besides Const, Identity, Placeholder) | kiln | detail |\n|---|---|---|---|\n")
        for name, r in rows:
            f.write("| %s | %s | %s | %s |\n" % (name, ", ".join(r["ops"]) or "-", r["status"], r["detail"].replace("|", "/")))
        refused = sorted({op for _, r in rows if r["status"] == "refused" for op in NOTES if op in r["detail"]})
        for op in refused:
            f.write("\n%s: %s\n" % (op, NOTES[op]))
        f.write("\nEvery TF op these models use: %s.\n" % ", ".join(sorted(all_ops)))


if __name__ == "__main__":
    main()
