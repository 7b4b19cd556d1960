#!/usr/bin/env python3
"""Edge fixtures for the guard-page harness: tests/fixtures/guard_edges_e<N>/.

    tools/.venv/bin/python tools/gen_guard_fixtures.py

Concats, constant pads and slices fused into elementwise loops, whose
per-operand extent on the innermost axis is N = 1, 3, 5, 17, 88 and 100
elements: not multiples of any vector width, so a vectorized loop that
reads "a little past" or "a little before" an operand touches the guard
page around it.  The fed operands are the concat's first and last operands
and the pad's and slices' inputs, so the harness (tests/sh/guard.sh and the
JIT fixtures) places them flush against PROT_NONE pages, at the start and at
the end of their buffers; the middle operand is computed into the temp
arena.  TensorFlow is the oracle (same Case class as gen_fixtures.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import Case, tf, tf1  # noqa: E402

EXTENTS = (1, 3, 5, 17, 88, 100)


def edges(n, seed):
    c = Case("guard_edges_e%d" % n, """
Guard-page edges, innermost extent %d: concat (inner and outer axis), pad, slices fused into ReLU
Fed operands sit flush against guard pages in the harness; nothing may be read outside them.""" % n, seed)
    with c.graph.as_default():
        a = c.placeholder("a", [2, 3, n])
        b = c.placeholder("b", [2, 3, n])
        mid = tf.multiply(a, 2.0, name="mid")
        relu = tf.nn.relu
        c.fetch(relu(tf.concat([a, mid, b], axis=2), name="concat_inner"))
        c.fetch(relu(tf.concat([a, mid, b], axis=1), name="concat_outer"))
        c.fetch(relu(tf.pad(a, [[0, 0], [1, 2], [2, 3]], constant_values=0.5), name="pad"))
        c.fetch(relu(tf.pad(b, [[1, 0], [0, 0], [0, 1]]), name="pad_hi"))
        c.fetch(relu(b[:, ::-1, ::-1] + 0.25, name="slice_reversed"))
        c.fetch(relu(a[:, 1:, (n - 1) // 2:] - 0.125, name="slice_tail"))
    c.write()


def nasnet_cell(seed):
    """The reported crash: ReLU over a channel concat of four 88-channel
    branches (NASNet reduction cell), f32[1,4,4,352]."""
    c = Case("guard_nasnet_concat", """
NASNet-style cell: ReLU over a channel concat of four 88-channel tensors, f32[1,4,4,352]
The fused concat once read up to 1 KB before its last operand (16-lane loads, select afterwards).""", seed)
    with c.graph.as_default():
        x = c.placeholder("x", [1, 4, 4, 88])
        w = tf.constant(c.rand(1, 1, 88, 88), name="w")
        branches = [tf.nn.conv2d(x, w, 1, "SAME"), x * 1.5, tf.nn.avg_pool2d(x, 3, 1, "SAME"), x]
        c.fetch(tf.nn.relu(tf.concat(branches, axis=3), name="y"))
    c.tol = "1e-5 1e-5"
    c.write()


def main():
    tf1.disable_eager_execution()
    for i, n in enumerate(EXTENTS):
        edges(n, 9000 + i)
    nasnet_cell(9100)


if __name__ == "__main__":
    main()
