#!/usr/bin/env python3
"""Writes the GPU microbenchmark graphs bench/gpu/*.pb (tools/gpu-check.sh).

    /work/main/tools/.venv/bin/python tools/gen_gpu_bench.py

Graphs only (no weights, a few hundred bytes each), deterministic:
  chain.pb  y = tanh(x * 1.5 + 0.25) * sigmoid(x) - relu(x) / 3, x: float32[N]
            (6 fused elementwise ops, one read and one write per element)
  add.pb    z = x + y, x, y: float32[N] (two reads, one write: pure bandwidth)
with N = 2**24 (64 MiB per tensor).  The inputs are made on the GPU by the
benchmark, never committed.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 1 << 24


def write(name, build):
    g = tf1.Graph()
    with g.as_default():
        build()
    path = os.path.join(ROOT, "bench", "gpu", name)
    with open(path, "wb") as f:
        f.write(g.as_graph_def().SerializeToString(deterministic=True))
    print(path, os.path.getsize(path), "bytes")


def chain():
    x = tf1.placeholder(tf.float32, [N], name="x")
    tf.subtract(tf.tanh(x * 1.5 + 0.25) * tf.sigmoid(x), tf.nn.relu(x) / 3.0, name="y")


def add():
    x = tf1.placeholder(tf.float32, [N], name="x")
    y = tf1.placeholder(tf.float32, [N], name="y")
    tf.add(x, y, name="z")


if __name__ == "__main__":
    os.makedirs(os.path.join(ROOT, "bench", "gpu"), exist_ok=True)
    write("chain.pb", chain)
    write("add.pb", add)
