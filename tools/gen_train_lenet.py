"""Writes a TF1 LeNet training graph (issue 11, the CNN proof) and
TensorFlow's own 50-step run of it, for tests/test_train_cnn.c.

    tools/.venv/bin/python tools/gen_train_lenet.py [--out tests/train/lenet]

Nets (both seeded with tf1.set_random_seed, truncated-normal initializers,
so Kiln's init entry gives TensorFlow's exact initial values):
  lenet:  x[32,28,28,1] -> conv 5x5x6 SAME relu -> maxpool 2 -> conv 5x5x16
          VALID relu -> maxpool 2 -> flatten 400 -> dense 120 relu -> 84 relu
          -> 10 logits; resource variables (VarHandleOp / ResourceApplyMomentum)
  small:  conv 5x5x4 SAME relu -> maxpool 2 -> conv 3x3x8 VALID relu ->
          maxpool 2 -> flatten 288 -> dense 32 relu -> 16 relu -> 10; ref
          variables (VariableV2 / ApplyMomentum), so both variable forms are
          covered within the fixture budget (~460 KB in all)
Loss: mean of tf.nn.sparse_softmax_cross_entropy_with_logits (int32 labels),
MomentumOptimizer(0.01, 0.9).minimize named "train", initializer op
"init_all_vars_op".  TensorFlow runs on one thread with its default CPU
kernels (oneDNN on).

Writes, per net (<out>/<net>/):
  model.pb              the GraphDef
  loss.npy              the loss before each train step (float32[STEPS])
  final/<var>.npy       the trainable variables after STEPS steps
and once <out>/x.npy (float32[32,28,28,1], seeded uniform [0,1)) and
<out>/labels.npy (int32[32]).  Variable file names: node name, '/' -> '__'.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
STEPS = 50
BATCH = 32
NETS = {
    # name: (conv1 ch, conv2 ch, conv2 kernel, dense widths, resource variables)
    "lenet": (6, 16, 5, (120, 84), True),
    "small": (4, 8, 3, (32, 16), False),
}


def build(net):
    c1, c2, k2, dense, use_resource = NETS[net]
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(4321)
        x = tf1.placeholder(tf.float32, [None, 28, 28, 1], name="x")
        labels = tf1.placeholder(tf.int32, [None], name="labels")

        def var(shape, name, bias=False):
            init = tf1.constant(0.1, shape=shape) if bias else tf1.truncated_normal(shape, stddev=0.1)
            return tf1.Variable(init, name=name, use_resource=use_resource)

        w1, b1 = var([5, 5, 1, c1], "conv1/w"), var([c1], "conv1/b", True)
        w2, b2 = var([k2, k2, c1, c2], "conv2/w"), var([c2], "conv2/b", True)
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME"), b1))
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w2, [1, 1, 1, 1], "VALID"), b2))
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        flat = int(np.prod(h.shape[1:]))
        h = tf.reshape(h, [-1, flat])
        width = flat
        for i, n in enumerate(dense + (10,)):
            w, b = var([width, n], "fc%d/w" % (i + 1)), var([n], "fc%d/b" % (i + 1), True)
            h = tf.nn.bias_add(tf.matmul(h, w), b)
            if n != 10:
                h = tf.nn.relu(h)
            width = n
        xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=h)
        loss = tf.reduce_mean(xent, name="loss")
        tf1.train.MomentumOptimizer(0.01, 0.9).minimize(loss, name="train")
        tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
    return g


def var_file(name):
    return name.replace("/", "__") + ".npy"


def run(net, out, xs, ls):
    g = build(net)
    d = os.path.join(out, net)
    os.makedirs(os.path.join(d, "final"), exist_ok=True)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(g.as_graph_def().SerializeToString(deterministic=True))
    config = tf1.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=1)
    with g.as_default(), tf1.Session(graph=g, config=config) as s:
        s.run("init_all_vars_op")
        losses = []
        for _ in range(STEPS):
            losses.append(s.run("loss:0", {"x:0": xs, "labels:0": ls}))
            s.run("train", {"x:0": xs, "labels:0": ls})
        np.save(os.path.join(d, "loss.npy"), np.array(losses, np.float32))
        for v in tf1.trainable_variables():
            np.save(os.path.join(d, "final", var_file(v.op.name)), s.run(v))
    ops = sorted({n.op for n in g.as_graph_def().node})
    print(net, "loss[0] %.6f loss[-1] %.6f" % (losses[0], losses[-1]), "ops:", " ".join(ops))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/train/lenet")
    a = ap.parse_args()
    tf1.disable_eager_execution()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.RandomState(11)
    xs = rng.uniform(0, 1, (BATCH, 28, 28, 1)).astype(np.float32)
    ls = rng.randint(0, 10, BATCH).astype(np.int32)
    np.save(os.path.join(a.out, "x.npy"), xs)
    np.save(os.path.join(a.out, "labels.npy"), ls)
    for net in NETS:
        run(net, a.out, xs, ls)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(a.out) for f in fs)
    print("fixture bytes:", total)


if __name__ == "__main__":
    main()
