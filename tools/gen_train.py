"""Writes the classic TF1 training graph (issue 11) and TensorFlow's own
training run of it, for Kiln's training tests.

    tools/.venv/bin/python tools/gen_train.py [--out tests/train] [--sample samples/train_mlp]

For each variable form ("resource": VarHandleOp / ReadVariableOp /
ResourceApplyAdam; "ref": VariableV2 / Assign / ApplyAdam) it writes
  <sample>/mlp.pb (resource form) and <sample>/mlp_ref.pb (ref form)
  <out>/<form>/mlp.pb            the graph, as tf.train.write_graph writes it
  <out>/<form>/init/<var>.npy    the variables after init_all_vars_op
  <out>/<form>/final/<var>.npy   the variables after STEPS train steps
  <out>/<form>/cost.npy          cost before each train step (float32[STEPS])
and once: <out>/x.npy, <out>/y.npy (seeded numpy data, batch 100).
Variable file names: the variable's node name with '/' replaced by '__'.
"""
import argparse
import os

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
STEPS = 200
BATCH = 100


def build(use_resource):
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(1234)
        x = tf1.placeholder(tf.float32, [None, 32], name="x")
        y = tf1.placeholder(tf.float32, [None, 8], name="y")

        def var(init, name):
            return tf1.Variable(init, name=name, use_resource=use_resource)

        w1 = var(tf1.truncated_normal([32, 16], stddev=0.1), "w1")
        b1 = var(tf1.constant(0.0, shape=[16]), "b1")
        w2 = var(tf1.truncated_normal([16, 8], stddev=0.1), "w2")
        b2 = var(tf1.constant(0.0, shape=[8]), "b2")
        a = tf.nn.tanh(tf.nn.bias_add(tf.matmul(x, w1), b1))
        y_out = tf.nn.tanh(tf.nn.bias_add(tf.matmul(a, w2), b2), name="y_out")
        cost = tf.reduce_sum(tf.square(y - y_out), name="cost")
        tf1.train.AdamOptimizer().minimize(cost, name="train")
        init = tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
    return g, init


def var_file(name):
    return name.replace("/", "__") + ".npy"


def run(form, out, sample, xs, ys):
    g, _ = build(form == "resource")
    d = os.path.join(out, form)
    os.makedirs(os.path.join(d, "init"), exist_ok=True)
    os.makedirs(os.path.join(d, "final"), exist_ok=True)
    gd = g.as_graph_def()
    with open(os.path.join(d, "mlp.pb"), "wb") as f:
        f.write(gd.SerializeToString())
    if sample:
        name = "mlp.pb" if form == "resource" else "mlp_ref.pb"
        with open(os.path.join(sample, name), "wb") as f:
            f.write(gd.SerializeToString())
    with g.as_default(), tf1.Session(graph=g, config=tf1.ConfigProto(
            inter_op_parallelism_threads=1, intra_op_parallelism_threads=1)) as s:
        s.run("init_all_vars_op")
        vs = tf1.global_variables()

        def dump(sub):
            for v in vs:
                np.save(os.path.join(d, sub, var_file(v.op.name)), s.run(v))

        dump("init")
        costs = []
        for _ in range(STEPS):
            c = s.run("cost:0", {"x:0": xs, "y:0": ys})
            costs.append(c)
            s.run("train", {"x:0": xs, "y:0": ys})
        np.save(os.path.join(d, "cost.npy"), np.array(costs, np.float32))
        dump("final")
        print(form, "vars:", [v.op.name for v in vs], "cost[0]", costs[0], "cost[-1]", costs[-1])


MANUAL_STEPS = 20
OPTIMIZERS = {
    "adam": lambda: tf1.train.AdamOptimizer(0.01),
    "gd": lambda: tf1.train.GradientDescentOptimizer(0.001),
    "momentum": lambda: tf1.train.MomentumOptimizer(0.001, 0.9),
    "nesterov": lambda: tf1.train.MomentumOptimizer(0.001, 0.9, use_nesterov=True),
    "rmsprop": lambda: tf1.train.RMSPropOptimizer(0.01, momentum=0.5),
    "adagrad": lambda: tf1.train.AdagradOptimizer(0.1),
}


def build_manual(opt, use_resource):
    """A linear model whose gradient is written by hand (MatMul, Sum, Mul
    only), so the state machinery and each optimizer's update are tested
    apart from TensorFlow's gradient ops."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 32], name="x")
        y = tf1.placeholder(tf.float32, [None, 8], name="y")
        w0 = np.random.RandomState(3).normal(0, 0.1, (32, 8)).astype(np.float32)
        w = tf1.Variable(w0, name="w", use_resource=use_resource)
        b = tf1.Variable(tf1.zeros([8]), name="b", use_resource=use_resource)
        err = tf.matmul(x, w) + b - y
        tf.reduce_sum(tf.square(err), name="cost")
        gw = tf.matmul(x, err, transpose_a=True) * 2.0
        gb = tf.reduce_sum(err, axis=0) * 2.0
        OPTIMIZERS[opt]().apply_gradients([(gw, w), (gb, b)], name="train")
        tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
    return g


def run_manual(out, xs, ys):
    for opt in OPTIMIZERS:
        for form in ("resource", "ref"):
            g = build_manual(opt, form == "resource")
            d = os.path.join(out, "manual", "%s_%s" % (opt, form))
            os.makedirs(os.path.join(d, "final"), exist_ok=True)
            with open(os.path.join(d, "model.pb"), "wb") as f:
                f.write(g.as_graph_def().SerializeToString())
            with g.as_default(), tf1.Session(graph=g) as s:
                s.run("init_all_vars_op")
                costs = []
                for _ in range(MANUAL_STEPS):
                    costs.append(s.run("cost:0", {"x:0": xs, "y:0": ys}))
                    s.run("train", {"x:0": xs, "y:0": ys})
                np.save(os.path.join(d, "cost.npy"), np.array(costs, np.float32))
                for v in tf1.global_variables():
                    np.save(os.path.join(d, "final", var_file(v.op.name)), s.run(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/train")
    ap.add_argument("--sample", default="samples/train_mlp")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.sample, exist_ok=True)
    rng = np.random.RandomState(7)
    xs = rng.uniform(-1, 1, (BATCH, 32)).astype(np.float32)
    ys = np.tanh(xs[:, :8] * 0.8 - xs[:, 8:16] * 0.5).astype(np.float32)
    np.save(os.path.join(a.out, "x.npy"), xs)
    np.save(os.path.join(a.out, "y.npy"), ys)
    np.save(os.path.join(a.sample, "x.npy"), xs)
    np.save(os.path.join(a.sample, "y.npy"), ys)
    for form in ("resource", "ref"):
        run(form, a.out, a.sample, xs, ys)
    run_manual(a.out, xs, ys)
    # TF's costs for the sample's 10 iterations, as text the sample prints next to its own.
    c = np.load(os.path.join(a.out, "resource", "cost.npy"))
    with open(os.path.join(a.sample, "tf_costs.txt"), "w") as f:
        for v in c[:10]:
            f.write("%.9g\n" % v)


if __name__ == "__main__":
    main()
