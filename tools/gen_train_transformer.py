"""Writes a TF1 training graph of the transformer encoder (the architecture
of tools/gen_models.py transformer(): 2 layers, hidden 128, 4 heads, seq 64,
vocab 1000, GELU, LayerNorm, additive mask) with resource variables,
seeded TF initializers, an embedding looked up by tf.gather (its gradient is
IndexedSlices: Unique / UnsortedSegmentSum / ResourceScatterAdd in Adam's
sparse path), a squared-error loss against a fixed target, and Adam; then
TensorFlow's own run of STEPS training steps, for tests/test_train_xf.c.

    tools/.venv/bin/python tools/gen_train_transformer.py [--out tests/train/transformer]

Writes, under --out:
  xf.pb        the GraphDef (init "init_all_vars_op", loss "loss", train "train")
  ids.bin      int32 [2, 64] token ids (with repeats: duplicate embedding rows)
  mask.bin     int32 [2, 64] attention mask
  target.bin   float32 [2, 64, 128] regression target
  loss.bin     float32 [STEPS]: loss before each train step
  final.txt    the check values of every variable (Adam slots included)
               after STEPS steps, one line per variable: name, element
               count, sum, sum of squares, then either "stride k v0 v1 ..."
               (every k-th element, flattened: about 256 per weight, 32 per
               Adam slot, layer 1's query at stride 4 and its LayerNorm and
               biases in full) or, for the embedding, "rows r0 r1 ... "
               and those rows in full: every row ids touch and 3 untouched.
The full final variables (~2.6 MB with the Adam slots) would be too large a
fixture; the sample keeps it at a few hundred KB (see docs/training.md).
"""
import argparse
import os

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
STEPS = 20
B, SEQ, VOCAB, H, HEADS, LAYERS, FFN = 2, 64, 1000, 128, 4, 2, 512
HD = H // HEADS
# layer 1's attention query, LayerNorm and FFN bias: densely sampled (stride)
FULL = {"l1/q": 4, "l1/bq": 1, "l1/g1": 1, "l1/be1": 1, "l1/b1": 1, "l1/g2": 1, "l1/be2": 1}


def build():
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(77)
        ids = tf1.placeholder(tf.int32, [B, SEQ], name="ids")
        mask = tf1.placeholder(tf.int32, [B, SEQ], name="mask")
        target = tf1.placeholder(tf.float32, [B, SEQ, H], name="target")

        def var(shape, name, kind="w"):
            if kind == "w":
                init = tf1.truncated_normal(shape, stddev=0.08)
            elif kind == "g":
                init = tf1.random_uniform(shape, 0.8, 1.2)
            else:
                init = tf1.zeros(shape)
            return tf1.Variable(init, name=name, use_resource=True)

        emb = var([VOCAB, H], "emb")
        pos = var([SEQ, H], "pos")
        params = []
        for i in range(LAYERS):
            s = "l%d/" % i
            params.append(dict(q=var([H, H], s + "q"), k=var([H, H], s + "k"), v=var([H, H], s + "v"),
                               o=var([H, H], s + "o"), bq=var([H], s + "bq", "z"), bo=var([H], s + "bo", "z"),
                               f1=var([H, FFN], s + "f1"), b1=var([FFN], s + "b1", "z"),
                               f2=var([FFN, H], s + "f2"), b2=var([H], s + "b2", "z"),
                               g1=var([H], s + "g1", "g"), be1=var([H], s + "be1", "z"),
                               g2=var([H], s + "g2", "g"), be2=var([H], s + "be2", "z")))

        def layer_norm(x, g_, b_):
            mean = tf.reduce_mean(x, axis=-1, keepdims=True)
            v = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
            return (x - mean) * tf.math.rsqrt(v + 1e-6) * g_ + b_

        def gelu(x):
            return 0.5 * x * (1.0 + tf.math.erf(x / np.float32(np.sqrt(2.0))))

        def heads_of(x):
            return tf.transpose(tf.reshape(x, [B, SEQ, HEADS, HD]), [0, 2, 1, 3])

        x = tf.gather(emb, ids) + pos
        additive = (1.0 - tf.cast(mask, tf.float32))[:, tf.newaxis, tf.newaxis, :] * -1e9
        for p in params:
            q = heads_of(tf.matmul(tf.reshape(x, [-1, H]), p["q"]) + p["bq"])
            k = heads_of(tf.matmul(tf.reshape(x, [-1, H]), p["k"]))
            v = heads_of(tf.matmul(tf.reshape(x, [-1, H]), p["v"]))
            att = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / np.float32(np.sqrt(HD)) + additive)
            ctx = tf.reshape(tf.transpose(tf.matmul(att, v), [0, 2, 1, 3]), [-1, H])
            x = layer_norm(x + tf.reshape(tf.matmul(ctx, p["o"]) + p["bo"], [B, SEQ, H]), p["g1"], p["be1"])
            h = gelu(tf.matmul(tf.reshape(x, [-1, H]), p["f1"]) + p["b1"])
            x = layer_norm(x + tf.reshape(tf.matmul(h, p["f2"]) + p["b2"], [B, SEQ, H]), p["g2"], p["be2"])
        loss = tf.reduce_mean(tf.math.squared_difference(x, target), name="loss")
        tf1.train.AdamOptimizer(1e-3).minimize(loss, name="train")
        tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/train/transformer")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 40, (B, SEQ)).astype(np.int32)  # 40 distinct ids at most: many repeats
    ids[1, :8] = [900, 901, 902, 903, 904, 905, 906, 907]
    mask = (np.arange(SEQ)[None, :] < np.array([[50], [64]])).astype(np.int32)
    target = rng.normal(0, 1, (B, SEQ, H)).astype(np.float32)
    g = build()
    with open(os.path.join(a.out, "xf.pb"), "wb") as f:
        f.write(g.as_graph_def().SerializeToString(deterministic=True))
    ids.tofile(os.path.join(a.out, "ids.bin"))
    mask.tofile(os.path.join(a.out, "mask.bin"))
    target.tofile(os.path.join(a.out, "target.bin"))
    feed = {"ids:0": ids, "mask:0": mask, "target:0": target}
    with g.as_default(), tf1.Session(graph=g, config=tf1.ConfigProto(
            inter_op_parallelism_threads=1, intra_op_parallelism_threads=1)) as s:
        s.run("init_all_vars_op")
        losses = []
        for _ in range(STEPS):
            losses.append(s.run("loss:0", feed))
            s.run("train", feed)
        np.array(losses, np.float32).tofile(os.path.join(a.out, "loss.bin"))
        touched = sorted(set(ids.flatten().tolist()))
        untouched = [41, 500, 999]
        lines = []
        for v in tf1.global_variables():
            val = s.run(v).astype(np.float32)
            flat = val.flatten().astype(np.float64)
            name = v.op.name
            head = "%s %d %.9g %.9g" % (name, flat.size, flat.sum(), (flat * flat).sum())
            if name == "emb":
                rows = touched + untouched
                body = "rows " + " ".join(map(str, rows)) + " " + " ".join("%.9g" % x for x in val[rows].flatten())
            else:
                if name in FULL:
                    stride = FULL[name]
                else:
                    stride = max(1, flat.size // (32 if "Adam" in name else 256))
                body = "stride %d " % stride + " ".join("%.9g" % x for x in flat[::stride])
            lines.append(head + " " + body)
        with open(os.path.join(a.out, "final.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print("losses", losses[0], losses[-1])


if __name__ == "__main__":
    main()
