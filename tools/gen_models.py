#!/usr/bin/env python3
"""Whole-model fixtures: real architectures, random weights, frozen to constants.

    tools/.venv/bin/python tools/gen_models.py [--only NAME] [--large --out DIR]

Committed (tests/fixtures/model_*): a LeNet-5-style CNN, Keras MobileNetV2
(alpha 0.35, 96x96, batch 1 and 4), a small ResNet-style net, a 2-layer
transformer encoder written with plain TF ops, an unrolled Keras LSTM.
--large writes Keras ResNet50 (224x224, batch 1) to DIR for `make
conformance` (too big to commit).  Weights are random (weights=None, seeded):
nothing is downloaded.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import Case, FIXTURES, tf, np  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

keras = tf.keras


def freeze(fn, specs):
    """Concrete function -> frozen GraphDef, input names, output tensor names."""
    concrete = tf.function(fn).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    gd = frozen.graph.as_graph_def()
    inputs = [t.name for t in frozen.inputs]
    outputs = [t.name for t in frozen.outputs]
    return gd, frozen, inputs, outputs


def write_model(name, doc, fn, specs, values, tol, out_dir=FIXTURES):
    gd, frozen, inputs, outputs = freeze(fn, specs)
    refs = frozen(*[tf.constant(v) for v in values])
    refs = refs if isinstance(refs, (list, tuple)) else [refs]
    for r in refs:  # a reference no wrong kernel could change makes a test that cannot fail
        a = r.numpy().astype(np.float64)
        if a.size > 1 and a.std() < 1e-3 * (np.abs(a).max() + 1e-30):
            raise SystemExit("%s: degenerate reference output (std %g)" % (name, a.std()))
    d = os.path.join(out_dir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(gd.SerializeToString())
    lines = ["# " + doc]
    ops = {}
    for n in gd.node:
        ops[n.op] = ops.get(n.op, 0) + 1
    lines.append("# ops: " + ", ".join("%s %d" % kv for kv in sorted(ops.items())))
    for i, (iname, v) in enumerate(zip(inputs, values)):
        fn_ = "in_%d.npy" % i
        np.save(os.path.join(d, fn_), v)
        lines.append("feed %s %s" % (iname[:-2] if iname.endswith(":0") else iname, fn_))
    for i, (oname, r) in enumerate(zip(outputs, refs)):
        fn_ = "out_%d.npy" % i
        np.save(os.path.join(d, fn_), r.numpy())
        lines.append("fetch %s %s" % (oname[:-2] if oname.endswith(":0") else oname, fn_))
    lines.append("tol %s" % tol)
    with open(os.path.join(d, "fixture.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print("%-26s %8d bytes  %d nodes  %s" % (name, size, len(gd.node), doc))


def randomize_batch_norm(model, seed):
    """Random BN statistics, so folded scales/shifts are not trivial and
    activations do not die (identity statistics make MobileNetV2's output a
    uniform softmax that no wrong kernel could change)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, mu, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.uniform(-0.2, 0.5, b.shape),
                               rng.uniform(-0.3, 0.3, mu.shape), rng.uniform(0.5, 2, var.shape)])


def keras_model(name, doc, model, shape, batch, tol, seed, out_dir=FIXTURES):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch,) + shape).astype(np.float32)
    write_model(name, doc, lambda t: model(t, training=False), [tf.TensorSpec((batch,) + shape, tf.float32)], [x], tol, out_dir)


def lenet():
    keras.utils.set_random_seed(1)
    m = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="relu"),
        keras.layers.Dense(84, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    # conv sums of a few hundred terms: float32 reassociation, hence 1e-4
    keras_model("model_lenet", "LeNet-5-style MNIST CNN, batch 1", m, (28, 28, 1), 1, "1e-4 1e-5", 2)
    keras_model("model_lenet_b8", "LeNet-5-style MNIST CNN, batch 8", m, (28, 28, 1), 8, "1e-4 1e-5", 3)


def mobilenet():
    # Committed with a 100-class head (the 1000-class dense layer alone is
    # 5 MB); the full model runs in `make conformance` (mobilenet_full).
    keras.utils.set_random_seed(4)
    m = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=100,
                                       classifier_activation=None)
    randomize_batch_norm(m, 40)
    keras_model("model_mobilenetv2", "Keras MobileNetV2 alpha 0.35, 96x96, 100 classes (logits), batch 1", m, (96, 96, 3), 1, "1e-4 1e-5", 5)


def mobilenet_full(out_dir):
    keras.utils.set_random_seed(4)
    m = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=1000,
                                       classifier_activation=None)
    randomize_batch_norm(m, 41)
    keras_model("model_mobilenetv2_1000", "Keras MobileNetV2 alpha 0.35, 96x96, batch 1", m, (96, 96, 3), 1, "1e-4 1e-5", 5, out_dir)
    keras_model("model_mobilenetv2_1000_b4", "Keras MobileNetV2 alpha 0.35, 96x96, batch 4", m, (96, 96, 3), 4, "1e-4 1e-5", 6, out_dir)


def resnet_small():
    keras.utils.set_random_seed(7)
    L = keras.layers

    def block(x, filters, stride):
        shortcut = x
        y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU()(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = L.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = L.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
            shortcut = L.BatchNormalization()(shortcut)
        return L.ReLU()(L.Add()([y, shortcut]))

    inp = keras.Input((32, 32, 3))
    x = L.ZeroPadding2D(1)(inp)
    x = L.Conv2D(16, 3, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = block(x, 16, 1)
    x = block(x, 32, 2)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10, activation="softmax")(x)
    m = keras.Model(inp, out)
    randomize_batch_norm(m, 8)
    keras_model("model_resnet_small", "ResNet-style net: conv+BN+ReLU, identity and projection residuals, GAP, dense; batch 2",
                m, (32, 32, 3), 2, "1e-4 1e-5", 9)


def transformer(batch=1, name="model_transformer", out_dir=FIXTURES):
    """batch None: an unknown batch dimension (reshapes use -1), for micro-batched pipelines (bench/dist.py)."""
    rng = np.random.default_rng(10)
    vocab, hidden, heads, seq, layers, ffn = 1000, 128, 4, 64, 2, 512
    hd = hidden // heads
    W = lambda *s: tf.constant(rng.normal(0, 0.08, s).astype(np.float32))  # noqa: E731
    emb, pos = W(vocab, hidden), W(seq, hidden)
    params = [dict(q=W(hidden, hidden), k=W(hidden, hidden), v=W(hidden, hidden), o=W(hidden, hidden),
                   bq=W(hidden), bo=W(hidden), f1=W(hidden, ffn), b1=W(ffn), f2=W(ffn, hidden), b2=W(hidden),
                   g1=tf.constant(rng.uniform(0.8, 1.2, hidden).astype(np.float32)), be1=W(hidden),
                   g2=tf.constant(rng.uniform(0.8, 1.2, hidden).astype(np.float32)), be2=W(hidden)) for _ in range(layers)]

    def layer_norm(x, g, b):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-6) * g + b

    def gelu(x):
        return 0.5 * x * (1.0 + tf.math.erf(x / np.float32(np.sqrt(2.0))))

    def heads_of(x, b):
        return tf.transpose(tf.reshape(x, [b, seq, heads, hd]), [0, 2, 1, 3])

    def encoder(ids, mask):
        b = ids.shape[0] if ids.shape[0] is not None else -1
        x = tf.gather(emb, ids) + pos
        additive = (1.0 - tf.cast(mask, tf.float32))[:, tf.newaxis, tf.newaxis, :] * -1e9
        for p in params:
            q = heads_of(tf.matmul(tf.reshape(x, [-1, hidden]), p["q"]) + p["bq"], b)
            k = heads_of(tf.matmul(tf.reshape(x, [-1, hidden]), p["k"]), b)
            v = heads_of(tf.matmul(tf.reshape(x, [-1, hidden]), p["v"]), b)
            att = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / np.float32(np.sqrt(hd)) + additive)
            ctx = tf.reshape(tf.transpose(tf.matmul(att, v), [0, 2, 1, 3]), [-1, hidden])
            x = layer_norm(x + tf.reshape(tf.matmul(ctx, p["o"]) + p["bo"], [b, seq, hidden]), p["g1"], p["be1"])
            h = gelu(tf.matmul(tf.reshape(x, [-1, hidden]), p["f1"]) + p["b1"])
            x = layer_norm(x + tf.reshape(tf.matmul(h, p["f2"]) + p["b2"], [b, seq, hidden]), p["g2"], p["be2"])
        return x

    n = batch or 8
    ids = rng.integers(0, vocab, (n, seq)).astype(np.int32)
    mask = np.repeat((np.arange(seq)[None, :] < 50).astype(np.int32), n, 0)
    write_model(name, "Transformer encoder: 2 layers, hidden 128, 4 heads, seq 64, vocab 1000; GatherV2, "
                "BatchMatMulV2, Softmax, LayerNorm, erf GELU, additive mask" + ("" if batch else "; unknown batch (fed 8)"), encoder,
                [tf.TensorSpec((batch, seq), tf.int32), tf.TensorSpec((batch, seq), tf.int32)], [ids, mask], "1e-4 1e-5", out_dir)


def lstm():
    keras.utils.set_random_seed(11)
    m = keras.Sequential([keras.Input((12, 8)), keras.layers.LSTM(16, unroll=True), keras.layers.Dense(4)])
    keras_model("model_lstm", "Keras LSTM (units 16, 12 steps, unroll=True) + Dense, batch 2", m, (12, 8), 2, "1e-4 1e-5", 12)
    keras.utils.set_random_seed(13)
    g = keras.Sequential([keras.Input((10, 6)), keras.layers.GRU(12, unroll=True, return_sequences=True)])
    keras_model("model_gru", "Keras GRU (units 12, 10 steps, unroll=True, sequences), batch 3", g, (10, 6), 3, "1e-4 1e-5", 14)


def resnet50(out_dir):
    keras.utils.set_random_seed(15)
    m = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classifier_activation=None)
    randomize_batch_norm(m, 42)
    keras_model("model_resnet50", "Keras ResNet50 224x224 batch 1", m, (224, 224, 3), 1, "1e-3 1e-4", 16, out_dir)


MODELS = {"lenet": lenet, "mobilenet": mobilenet, "resnet_small": resnet_small, "transformer": transformer, "lstm": lstm}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--lenet64", action="store_true", help="LeNet at batch 64, for make bench")
    ap.add_argument("--dist-bench", action="store_true", help="the transformer with an unknown batch, for bench/dist.py")
    ap.add_argument("--out", default=os.path.join(FIXTURES, "..", "..", "build", "large-fixtures"))
    args = ap.parse_args()
    if args.lenet64:
        os.makedirs(args.out, exist_ok=True)
        keras.utils.set_random_seed(1)
        m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(6, 5, padding="same", activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Conv2D(16, 5, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Flatten(), keras.layers.Dense(120, activation="relu"),
                              keras.layers.Dense(84, activation="relu"), keras.layers.Dense(10, activation="softmax")])
        keras_model("model_lenet_b64", "LeNet-5-style MNIST CNN, batch 64", m, (28, 28, 1), 64, "1e-4 1e-5", 17, args.out)
        return
    if args.dist_bench:
        os.makedirs(args.out, exist_ok=True)
        transformer(None, "model_transformer_dyn", args.out)
        return
    if args.large:
        os.makedirs(args.out, exist_ok=True)
        mobilenet_full(args.out)
        resnet50(args.out)
        return
    for name, fn in MODELS.items():
        if not args.only or args.only in name:
            fn()


if __name__ == "__main__":
    main()
