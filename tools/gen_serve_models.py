#!/usr/bin/env python3
"""Model directories for `kiln serve`'s tests (tests/sh/serve.sh).

    tools/.bench-venv/bin/python tools/gen_serve_models.py   (TensorFlow + onnx)

Writes tests/serve/:
  mlp/1/model.pb, mlp/2/model.pb   a frozen TF MLP, x [None,4] -> y [None,3],
                                   the two versions with different weights;
                                   each with its kiln.json
  pair/1/model.onnx                an ONNX graph with two inputs and two
                                   outputs, a,b [N,3] -> sum, prod
  lin/1/model.onnx                 a linear regression, x [N,4] -> y [N,1]
                                   (Regress; its weights in expect.json)
  expect.json                      requests and TensorFlow's / numpy's
                                   answers for them (the test's oracle)
"""
import json
import os

import numpy as np
import onnx
import onnx.numpy_helper
from onnx import TensorProto, helper
import tensorflow as tf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "serve")


def mlp(version, seed):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((4, 8)).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((8, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        h = tf.tanh(tf.matmul(x, w1) + b1, name="h")
        tf.identity(tf.matmul(h, w2) + b2, name="y")
    d = os.path.join(OUT, "mlp", str(version))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(g.as_graph_def().SerializeToString())
    with open(os.path.join(d, "kiln.json"), "w") as f:
        json.dump({"feeds": [{"name": "x", "alias": "x", "shape": [-1, 4]}],
                   "fetches": [{"name": "y", "alias": "y"}],
                   "batch_sizes": [1, 4, 8]}, f, indent=2)
        f.write("\n")
    def run(xv):
        return (np.tanh(xv.astype(np.float64) @ w1 + b1) @ w2 + b2).astype(np.float32)
    return run


def pair():
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3])
    p = helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["N", 3])
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])]
    m = helper.make_model(helper.make_graph(nodes, "pair", [a, b], [s, p]),
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    d = os.path.join(OUT, "pair", "1")
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "kiln.json"), "w") as f:
        json.dump({"feeds": [{"name": "a", "shape": [-1, 3]}, {"name": "b", "shape": [-1, 3]}],
                   "fetches": ["sum", "prod"], "batch_sizes": [1, 2, 4]}, f, indent=2)
        f.write("\n")


def lin():
    w = np.array([[0.5], [-1.25], [2.0], [0.125]], np.float32)
    bias = np.array([0.75], np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])
    inits = [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(bias, "bias")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "bias"], ["y"])]
    m = helper.make_model(helper.make_graph(nodes, "lin", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    d = os.path.join(OUT, "lin", "1")
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "kiln.json"), "w") as f:
        json.dump({"feeds": [{"name": "x", "shape": [-1, 4]}], "fetches": ["y"], "batch_sizes": [1, 4]}, f, indent=2)
        f.write("\n")
    return w, bias


def main():
    r1 = mlp(1, 1)
    r2 = mlp(2, 2)
    pair()
    w, bias = lin()
    rng = np.random.default_rng(7)
    x3 = rng.standard_normal((3, 4)).astype(np.float32)
    x1 = rng.standard_normal((1, 4)).astype(np.float32)
    x11 = rng.standard_normal((11, 4)).astype(np.float32)  # above the largest batch size: split
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    ex = {
        "mlp_x3": {"request": {"instances": x3.tolist()}, "v1": r1(x3).tolist(), "v2": r2(x3).tolist()},
        "mlp_x1": {"request": {"inputs": {"x": x1.tolist()}}, "v1": r1(x1).tolist(), "v2": r2(x1).tolist()},
        "mlp_x11": {"request": {"instances": x11.tolist()}, "v1": r1(x11).tolist(), "v2": r2(x11).tolist()},
        "pair_rows": {"request": {"instances": [{"a": a[i].tolist(), "b": b[i].tolist()} for i in range(2)]},
                      "sum": (a + b).tolist(), "prod": (a * b).tolist()},
    }
    xr = np.array([[1, 2, 3, 4], [0.5, -1, 0.25, 8], [0, 0, 0, 0], [-2, 1.5, 3, -1], [7, 0, -3, 2]], np.float32)
    ex["lin"] = {"w": w.reshape(-1).tolist(), "bias": bias.tolist(), "x": xr.tolist(),
                 "y": (xr.astype(np.float64) @ w.astype(np.float64) + bias).reshape(-1).tolist()}
    # :classify on the MLP (its y as the scores): TF Serving's JSON examples, one feature "x" of 4 floats
    ex["mlp_classify"] = {"request": {"examples": [{"x": r} for r in x3.tolist()]}, "v1": r1(x3).tolist(), "v2": r2(x3).tolist()}
    with open(os.path.join(OUT, "expect.json"), "w") as f:
        json.dump(ex, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
