#!/usr/bin/env python3
"""References for tests/test_random.c, from TensorFlow's CPU kernels.

    /work/main/tools/.venv/bin/python tools/gen_random.py

Prints TensorFlow's values for the seeded ops the test checks (C99 hex
floats, pasted into the test) and the FNV-1a 64-bit hash of all bytes of
each 317 x 331 tensor (seed 11, seed2 3), and writes
tests/corpus/tf/random.pb (TF1 graph: seeded TruncatedNormal and
RandomUniformInt, one RandomUniform with a placeholder shape, one unseeded).
Each op runs once in a fresh session: a stateful random op's first run is
what Kiln reproduces (later runs continue its counter).
"""
import os

import tensorflow as tf

tf.compat.v1.disable_eager_execution()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def small():
    with tf.Graph().as_default(), tf.compat.v1.Session() as s:
        ops = [tf.raw_ops.RandomUniform(shape=[10], dtype=tf.float32, seed=5, seed2=9),
               tf.raw_ops.RandomStandardNormal(shape=[10], dtype=tf.float32, seed=5, seed2=9),
               tf.raw_ops.TruncatedNormal(shape=[10], dtype=tf.float32, seed=5, seed2=9),
               tf.raw_ops.RandomStandardNormal(shape=[5], dtype=tf.float64, seed=5, seed2=9),
               tf.raw_ops.RandomUniformInt(shape=[7], minval=-3, maxval=100, seed=5, seed2=9)]
        for op, v in zip(ops, s.run(ops)):
            print(op.op.type, ", ".join(float(x).hex() if v.dtype.kind == "f" else str(x) for x in v.tolist()))


def large():
    cases = [("TruncatedNormal", tf.float32), ("RandomStandardNormal", tf.float32), ("RandomUniform", tf.float32),
             ("TruncatedNormal", tf.float64), ("TruncatedNormal", tf.float16), ("RandomStandardNormal", tf.bfloat16)]
    with tf.Graph().as_default(), tf.compat.v1.Session() as s:
        ops = [getattr(tf.raw_ops, n)(shape=[317, 331], dtype=dt, seed=11, seed2=3) for n, dt in cases]
        for (n, dt), v in zip(cases, s.run(ops)):
            print("%s %s 0x%016x" % (n, dt.name, fnv1a64(v.tobytes())))


def corpus():
    with tf.Graph().as_default() as g:
        tf.raw_ops.TruncatedNormal(shape=[10], dtype=tf.float32, seed=5, seed2=9, name="tn")
        tf.raw_ops.RandomUniformInt(shape=[7], minval=-3, maxval=100, seed=5, seed2=9, name="ri")
        p = tf.compat.v1.placeholder(tf.int32, [1], name="dyn")
        tf.raw_ops.RandomUniform(shape=p, dtype=tf.float32, seed=1, seed2=2, name="bad_shape")
        tf.raw_ops.RandomUniform(shape=[3], dtype=tf.float32, name="unseeded")
        with open(os.path.join(ROOT, "tests/corpus/tf/random.pb"), "wb") as f:
            f.write(g.as_graph_def().SerializeToString())


if __name__ == "__main__":
    small()
    large()
    corpus()
