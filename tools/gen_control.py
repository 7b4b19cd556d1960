#!/usr/bin/env python3
"""Control-flow fixtures: tf.while_loop, tf.cond, tf.map_fn and Keras RNNs
without unrolling, frozen so the loops stay loops.

    tools/.venv/bin/python tools/gen_control.py [--only NAME] [--functional-only]

Functional control flow (While/StatelessWhile, If/StatelessIf, calls into
the GraphDef's function library) comes from
convert_variables_to_constants_v2(..., lower_control_flow=False).  Fixture
names: cf_* (control flow), model_keras_* (Keras RNN layers, also run
through objects by tests/sh/aot_models.sh).  Each comes twice: functional
(While/If and the function library) and, suffix _v1, frozen with
lower_control_flow=True (TF1 Enter/Exit/Merge/Switch/NextIteration/
LoopCond).  References are TensorFlow's outputs; tolerances as the other
model fixtures.  A full run regenerates identical files (function names
carry a counter of the functions traced before them, so --only runs may
rename them).
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import FIXTURES, tf, np  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

keras = tf.keras
TOL = "1e-4 1e-5"


def freeze(fn, specs, lower):
    concrete = tf.function(fn).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=lower)
    return frozen.graph.as_graph_def(), frozen


def write(name, doc, fn, specs, values, lower=False, out_dir=FIXTURES, check_std=True):
    gd, frozen = freeze(fn, specs, lower)
    refs = frozen(*[tf.constant(v) for v in values])
    refs = refs if isinstance(refs, (list, tuple)) else [refs]
    d = os.path.join(out_dir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(gd.SerializeToString(deterministic=True))
    ops = {}
    for n in gd.node:
        ops[n.op] = ops.get(n.op, 0) + 1
    fops = {}
    for fd in gd.library.function:
        for n in fd.node_def:
            fops[n.op] = fops.get(n.op, 0) + 1
    lines = ["# " + doc, "# ops: " + ", ".join("%s %d" % kv for kv in sorted(ops.items()))]
    if fops:
        lines.append("# function ops: " + ", ".join("%s %d" % kv for kv in sorted(fops.items())))
    for i, (t, v) in enumerate(zip(frozen.inputs, values)):
        np.save(os.path.join(d, "in_%d.npy" % i), v)
        lines.append("feed %s in_%d.npy" % (t.name[:-2] if t.name.endswith(":0") else t.name, i))
    for i, (t, r) in enumerate(zip(frozen.outputs, refs)):
        np.save(os.path.join(d, "out_%d.npy" % i), r.numpy())
        lines.append("fetch %s out_%d.npy" % (t.name[:-2] if t.name.endswith(":0") else t.name, i))
    lines.append("tol %s" % TOL)
    with open(os.path.join(d, "fixture.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    if size >= 100 * 1024 and out_dir == FIXTURES:
        raise SystemExit("%s: %d bytes, over the 100 KB limit" % (name, size))
    print("%-30s %7d bytes  %3d nodes %3d functions  %s" % (name, size, len(gd.node), len(gd.library.function), doc))
    return gd


def keras_rnn(name, doc, layer_fn, shape, batch, seed, lower=False, mask=False, out_dir=FIXTURES):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape)]
    if mask:
        layers.append(keras.layers.Masking(0.0))
    layers.append(layer_fn())
    m = keras.Sequential(layers)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch,) + shape).astype(np.float32)
    if mask:  # trailing padding steps, different per sequence
        for b in range(batch):
            x[b, shape[0] - 1 - b:] = 0.0
    return write(name, doc, lambda t: m(t, training=False), [tf.TensorSpec((batch,) + shape, tf.float32)], [x],
                 lower, out_dir)


# ---- tf.while_loop / tf.cond / tf.map_fn ---------------------------------

def while_sum(lower=False, suffix=""):
    """Loop while sum(x) < threshold: x = x * 1.5 + 0.25; the trip count is
    data-dependent (fed threshold)."""
    def f(x, limit):
        i = tf.constant(0)
        def cond(i, x):
            return tf.reduce_sum(x) < limit
        def body(i, x):
            return i + 1, x * 1.5 + 0.25
        i, x = tf.while_loop(cond, body, [i, x])
        return x, tf.cast(i, tf.float32)
    x = np.random.default_rng(1).uniform(0, 1, (4, 3)).astype(np.float32)
    write("cf_while_sum" + suffix, "tf.while_loop while sum(x) < fed limit (data-dependent trip count)", f,
          [tf.TensorSpec((4, 3), tf.float32), tf.TensorSpec((), tf.float32)], [x, np.float32(200.0)], lower)


def while_nested(lower=False, suffix=""):
    """A loop inside a loop: the inner trip count depends on the outer counter."""
    def f(x):
        def outer_body(i, acc):
            def inner_body(j, a):
                return j + 1, a * 0.9 + tf.cast(j, tf.float32) * 0.1
            _, acc = tf.while_loop(lambda j, a: j < i, inner_body, [0, acc])
            return i + 1, tf.tanh(acc + 0.5)
        _, y = tf.while_loop(lambda i, a: i < 5, outer_body, [1, x])
        return y
    x = np.random.default_rng(2).uniform(-1, 1, (3, 5)).astype(np.float32)
    write("cf_while_nested" + suffix, "nested tf.while_loop, inner trip count from the outer counter", f,
          [tf.TensorSpec((3, 5), tf.float32)], [x], lower)


def cond_fed(lower=False, suffix=""):
    def f(x, p):
        w = tf.constant(np.random.default_rng(3).uniform(-1, 1, (4, 4)).astype(np.float32))
        return tf.cond(p, lambda: tf.matmul(x, w) + 1.0, lambda: tf.nn.relu(x) * 2.0)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 4)).astype(np.float32)
    for v in (True, False):
        write("cf_cond_%s%s" % ("true" if v else "false", suffix), "tf.cond on a fed bool (%s)" % v, f,
              [tf.TensorSpec((2, 4), tf.float32), tf.TensorSpec((), tf.bool)], [x, np.bool_(v)], lower)


def map_fn(lower=False, suffix=""):
    def f(x):
        w = tf.constant(np.random.default_rng(5).uniform(-1, 1, (6, 3)).astype(np.float32))
        return tf.map_fn(lambda r: tf.nn.softmax(tf.linalg.matvec(w, r, transpose_a=True)), x)
    x = np.random.default_rng(6).uniform(-1, 1, (7, 6)).astype(np.float32)
    write("cf_map_fn" + suffix, "tf.map_fn over rows (TensorList reads and writes inside a While)", f,
          [tf.TensorSpec((7, 6), tf.float32)], [x], lower)


def calls(lower=False, suffix=""):
    """A function kept as a call (_noinline): PartitionedCall into the
    library; and a raw If (not the stateless form) on a comparison.
    Lowering leaves both as they are, so there is no _v1 form."""
    if lower:
        return
    @tf.function(experimental_attributes={"_noinline": True})
    def layer(x, w):
        return tf.nn.tanh(tf.matmul(x, w)) * 2.0

    def f(x):
        w = tf.constant(np.random.default_rng(7).uniform(-1, 1, (5, 5)).astype(np.float32))
        return layer(layer(x, w) + 1.0, w)
    x = np.random.default_rng(8).uniform(-1, 1, (3, 5)).astype(np.float32)
    write("cf_call" + suffix, "a tf.function kept as a call (PartitionedCall into the library), called twice", f,
          [tf.TensorSpec((3, 5), tf.float32)], [x], lower)

    then_f = tf.function(lambda a: [a * 3.0]).get_concrete_function(tf.TensorSpec((2, 3), tf.float32))
    else_f = tf.function(lambda a: [a - 1.0]).get_concrete_function(tf.TensorSpec((2, 3), tf.float32))

    def g(x):
        return tf.raw_ops.If(cond=tf.reduce_sum(x) > 0.0, input=[x], Tout=[tf.float32],
                             then_branch=then_f, else_branch=else_f)[0]
    x = np.random.default_rng(9).uniform(-1, 1, (2, 3)).astype(np.float32)
    write("cf_if_raw" + suffix, "tf.raw_ops.If on a computed predicate (stateful If)", g,
          [tf.TensorSpec((2, 3), tf.float32)], [x], lower)


def rnns(lower=False, suffix=""):
    keras_rnn("model_keras_simplernn" + suffix, "Keras SimpleRNN (units 8, 6 steps, unroll=False), batch 2",
              lambda: keras.layers.SimpleRNN(8), (6, 5), 2, 21, lower)
    keras_rnn("model_keras_lstm" + suffix, "Keras LSTM (units 16, 12 steps, unroll=False), batch 2",
              lambda: keras.layers.LSTM(16), (12, 8), 2, 11, lower)
    keras_rnn("model_keras_lstm_seq" + suffix, "Keras LSTM (units 12, 10 steps, unroll=False, return_sequences), batch 3",
              lambda: keras.layers.LSTM(12, return_sequences=True), (10, 6), 3, 22, lower)
    keras_rnn("model_keras_gru" + suffix, "Keras GRU (units 12, 10 steps, unroll=False, return_sequences), batch 3",
              lambda: keras.layers.GRU(12, return_sequences=True), (10, 6), 3, 13, lower)
    keras_rnn("model_keras_gru_last" + suffix, "Keras GRU (units 10, 8 steps, unroll=False), batch 2",
              lambda: keras.layers.GRU(10), (8, 5), 2, 23, lower)
    keras_rnn("model_keras_bilstm" + suffix, "Keras Bidirectional(LSTM(8, return_sequences)), 7 steps, batch 2",
              lambda: keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True)), (7, 4), 2, 24, lower)
    keras_rnn("model_keras_lstm_mask" + suffix, "Keras Masking + LSTM (units 8, 9 steps, unroll=False), batch 3",
              lambda: keras.layers.LSTM(8), (9, 4), 3, 25, lower, mask=True)


def size_twins(out_dir):
    """For docs/architecture.md's size table (not committed): each RNN
    fixture's layer again with unroll=True, and a 200-step LSTM both ways."""
    os.makedirs(out_dir, exist_ok=True)
    L = keras.layers
    twins = [("simplernn", lambda u: L.SimpleRNN(8, unroll=u), (6, 5), 2, 21),
             ("lstm", lambda u: L.LSTM(16, unroll=u), (12, 8), 2, 11),
             ("gru", lambda u: L.GRU(12, return_sequences=True, unroll=u), (10, 6), 3, 13),
             ("lstm_T200", lambda u: L.LSTM(16, unroll=u), (200, 8), 2, 26)]
    for name, layer, shape, batch, seed in twins:
        for u in (False, True):
            keras_rnn("%s_%s" % (name, "unrolled" if u else "looped"), name, lambda: layer(u), shape, batch, seed,
                      out_dir=out_dir)


GROUPS = {"while_sum": while_sum, "while_nested": while_nested, "cond": cond_fed, "map_fn": map_fn, "rnn": rnns,
          "calls": calls}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    ap.add_argument("--functional-only", action="store_true", help="skip the TF1 (Enter/Exit/Merge/Switch) forms, suffix _v1")
    ap.add_argument("--size-twins", metavar="DIR", help="write looped/unrolled RNN pairs to DIR instead")
    args = ap.parse_args()
    if args.size_twins:
        return size_twins(args.size_twins)
    for name, fn in GROUPS.items():
        if not args.only or args.only in name:
            fn()
            if not args.functional_only:
                fn(True, "_v1")


if __name__ == "__main__":
    main()
