#!/usr/bin/env python3
"""gRPC request fixtures for `kiln serve` (tests/sh/serve_grpc.sh).

    tools/.venv/bin/python tools/gen_serve_grpc.py
    (TensorFlow + TF Serving's own client package, tensorflow-serving-api,
     from tools/requirements-nodeps.txt; run tools/setup-venv.sh)

The requests are serialized by TF Serving's real message classes
(tensorflow_serving.apis.*_pb2) and tf.make_tensor_proto, so the test checks
kiln serve against the wire format the real clients send, without Python at
test time.  Writes tests/serve/grpc/:
  NAME.pb        a serialized PredictRequest / GetModelMetadataRequest /
                 GetModelStatusRequest (or garbage, for the parse error)
  cases.json     per NAME: the RPC, the server it goes to, the expected gRPC
                 status code, a regex the error message must match, and for
                 successful predicts the expected outputs (TensorFlow running
                 the frozen tests/serve/mlp/*/model.pb; numpy for the ONNX pair)
The servers (tests/sh/serve_grpc.sh): "cfg" serves mlp versions 1 and 2
(specific policy; labels stable = 1, canary = 2, gone = 9; version 1's
kiln.json names Classify's classes setosa, versicolor, virginica), pair and
lin (x [N,4] -> y [N,1], for Regress), with --max_body_bytes 4096; "batch"
serves mlp/1 with batching on.
"""
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2, get_model_status_pb2, predict_pb2, regression_pb2

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SERVE = os.path.join(ROOT, "tests", "serve")
OUT = os.path.join(SERVE, "grpc")
OK, INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED = 0, 3, 5, 8


def tf_mlp(version):
    gd = tf.compat.v1.GraphDef()
    with open(os.path.join(SERVE, "mlp", str(version), "model.pb"), "rb") as f:
        gd.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    sess = tf.compat.v1.Session(graph=g)
    return lambda x: sess.run("y:0", {"x:0": x})


def typed(values, shape):
    """A float TensorProto in the typed repeated-field form (float_val), no tensor_content."""
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    for d in shape:
        t.tensor_shape.dim.add().size = d
    t.float_val.extend(values)
    return t


def main():
    os.makedirs(OUT, exist_ok=True)
    v1, v2 = tf_mlp(1), tf_mlp(2)
    rng = np.random.default_rng(16)
    x3 = rng.standard_normal((3, 4)).astype(np.float32)
    x1 = rng.standard_normal((1, 4)).astype(np.float32)
    x11 = rng.standard_normal((11, 4)).astype(np.float32)
    half = np.full((2, 4), 0.5, np.float32)
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    mk = tf.make_tensor_proto
    cases = {}

    def add(name, rpc, msg, code, server="cfg", match="", outputs=None, version=None, classify=None, regress=None):
        data = msg if isinstance(msg, bytes) else msg.SerializeToString()
        with open(os.path.join(OUT, name + ".pb"), "wb") as f:
            f.write(data)
        c = {"rpc": rpc, "server": server, "code": code, "match": match}
        if outputs is not None:
            c["outputs"] = {k: {"shape": list(v.shape), "values": v.reshape(-1).astype(float).tolist()}
                            for k, v in outputs.items()}
        if version is not None:
            c["version"] = version
        if classify is not None:  # (labels, scores [rows, classes])
            c["classify"] = {"labels": classify[0], "scores": np.asarray(classify[1]).astype(float).tolist()}
        if regress is not None:
            c["regress"] = np.asarray(regress).reshape(-1).astype(float).tolist()
        cases[name] = c

    def req(model, inputs, **kw):
        r = predict_pb2.PredictRequest()
        r.model_spec.name = model
        if "version" in kw:
            r.model_spec.version.value = kw["version"]
        if "signature" in kw:
            r.model_spec.signature_name = kw["signature"]
        if "label" in kw:
            r.model_spec.version_label = kw["label"]
        for k, v in inputs.items():
            r.inputs[k].CopyFrom(v)
        r.output_filter.extend(kw.get("output_filter", []))
        return r

    # answers: tensor_content (tf.make_tensor_proto), the typed float_val form, a broadcast value
    add("predict_latest", "predict", req("mlp", {"x": mk(x3)}), OK, outputs={"y": v2(x3)}, version=2)
    add("predict_v1_float_val_11_rows", "predict", req("mlp", {"x": typed(x11.reshape(-1).tolist(), [11, 4])}, version=1),
        OK, outputs={"y": v1(x11)}, version=1)
    add("predict_v1_broadcast", "predict", req("mlp", {"x": typed([0.5], [2, 4])}, version=1), OK,
        outputs={"y": v1(half)}, version=1)
    add("predict_serving_default_filter", "predict",
        req("mlp", {"x": mk(x1)}, signature="serving_default", output_filter=["y"]), OK, outputs={"y": v2(x1)}, version=2)
    add("predict_pair", "predict", req("pair", {"a": mk(a), "b": mk(b)}), OK, outputs={"sum": a + b, "prod": a * b},
        version=1)
    for r in range(3):  # one row each, for the batching server
        add("predict_row%d" % r, "predict", req("mlp", {"x": mk(x3[r:r + 1])}), OK, server="batch",
            outputs={"y": v1(x3[r:r + 1])}, version=1)
    # errors, with the gRPC status TF Serving gives
    add("err_dtype", "predict", req("mlp", {"x": mk(x3.astype(np.int32))}), INVALID_ARGUMENT, match="dtype DT_INT32")
    add("err_double", "predict", req("mlp", {"x": mk(x3.astype(np.float64))}), INVALID_ARGUMENT, match="DT_DOUBLE")
    add("err_shape", "predict", req("mlp", {"x": mk(np.zeros((3, 5), np.float32))}), INVALID_ARGUMENT, match=r"shape \[3,5\]")
    add("err_rank", "predict", req("mlp", {"x": mk(np.zeros(4, np.float32))}), INVALID_ARGUMENT, match=r"shape \[4\]")
    add("err_name", "predict", req("mlp", {"z": mk(x3)}), INVALID_ARGUMENT, match="'z' is not in the signature")
    add("err_no_inputs", "predict", req("mlp", {}), INVALID_ARGUMENT, match="missing input 'x'")
    add("err_pair_missing", "predict", req("pair", {"a": mk(a)}), INVALID_ARGUMENT, match="missing input 'b'")
    add("err_pair_batch", "predict", req("pair", {"a": mk(a[:1]), "b": mk(b)}), INVALID_ARGUMENT, match="same batch")
    add("err_count", "predict", req("mlp", {"x": typed([1, 2, 3, 4, 5], [2, 4])}), INVALID_ARGUMENT, match="5 values")
    short = mk(x1)
    short.tensor_content = short.tensor_content[:12]
    add("err_content_bytes", "predict", req("mlp", {"x": short}), INVALID_ARGUMENT, match="tensor_content has 12 bytes")
    add("err_signature", "predict", req("mlp", {"x": mk(x1)}, signature="other"), INVALID_ARGUMENT, match="not found")
    add("err_filter", "predict", req("mlp", {"x": mk(x1)}, output_filter=["nope"]), INVALID_ARGUMENT, match="output_filter")
    # version labels (the cfg server's version_labels): as REST's /labels/LABEL
    add("predict_label_stable", "predict", req("mlp", {"x": mk(x3)}, label="stable"), OK, outputs={"y": v1(x3)}, version=1)
    add("predict_label_canary", "predict", req("mlp", {"x": mk(x3)}, label="canary"), OK, outputs={"y": v2(x3)}, version=2)
    add("err_label", "predict", req("mlp", {"x": mk(x1)}, label="nope"), INVALID_ARGUMENT,
        match="^Unrecognized servable version label: nope")
    add("err_label_not_loaded", "predict", req("mlp", {"x": mk(x1)}, label="gone"), NOT_FOUND, match="9")
    add("err_model", "predict", req("nope", {"x": mk(x1)}), NOT_FOUND, match="nope")
    add("err_version", "predict", req("mlp", {"x": mk(x1)}, version=7), NOT_FOUND, match="7")
    add("err_garbage", "predict", b"\xff\xff\xff\xff\x0f", INVALID_ARGUMENT, match="parse")
    big = np.ones((300, 4), np.float32)  # 4.8 kB, over the server's --max_body_bytes 4096
    add("err_too_big", "predict", req("mlp", {"x": mk(big)}), RESOURCE_EXHAUSTED, match="")
    # metadata and status
    m = get_model_metadata_pb2.GetModelMetadataRequest()
    m.model_spec.name = "mlp"
    m.metadata_field.append("signature_def")
    add("metadata_mlp", "metadata", m, OK, version=2)
    m1 = get_model_metadata_pb2.GetModelMetadataRequest()
    m1.CopyFrom(m)
    m1.model_spec.version.value = 1
    add("metadata_mlp_v1", "metadata", m1, OK, version=1)
    mp = get_model_metadata_pb2.GetModelMetadataRequest()
    mp.model_spec.name = "pair"
    mp.metadata_field.append("signature_def")
    add("metadata_pair", "metadata", mp, OK, version=1)
    mn = get_model_metadata_pb2.GetModelMetadataRequest()
    mn.model_spec.name = "mlp"
    add("err_metadata_no_field", "metadata", mn, INVALID_ARGUMENT, match="metadata_field")
    mm = get_model_metadata_pb2.GetModelMetadataRequest()
    mm.CopyFrom(m)
    mm.model_spec.name = "nope"
    add("err_metadata_model", "metadata", mm, NOT_FOUND, match="nope")
    s = get_model_status_pb2.GetModelStatusRequest()
    s.model_spec.name = "mlp"
    add("status_mlp", "status", s, OK)
    s7 = get_model_status_pb2.GetModelStatusRequest()
    s7.model_spec.name = "mlp"
    s7.model_spec.version.value = 7
    add("err_status_version", "status", s7, NOT_FOUND, match="version 7")
    ml = get_model_metadata_pb2.GetModelMetadataRequest()
    ml.CopyFrom(m)
    ml.model_spec.version_label = "stable"
    add("metadata_label_stable", "metadata", ml, OK, version=1)
    sl = get_model_status_pb2.GetModelStatusRequest()
    sl.model_spec.name = "mlp"
    sl.model_spec.version_label = "canary"
    add("status_label_canary", "status", sl, OK)
    sn = get_model_status_pb2.GetModelStatusRequest()
    sn.CopyFrom(sl)
    sn.model_spec.version_label = "nope"
    add("err_status_label", "status", sn, INVALID_ARGUMENT, match="^Unrecognized servable version label: nope")

    # Classify / Regress: tf.Example inputs, each feed filled from the feature of its name
    def example(**feats):
        e = example_pb2.Example()
        for k, v in feats.items():
            f = e.features.feature[k]
            if isinstance(v, bytes):
                f.bytes_list.value.append(v)
            elif all(isinstance(t, int) for t in v):
                f.int64_list.value.extend(v)
            else:
                f.float_list.value.extend(v)
        return e

    def creq(model, examples, context=None, **kw):
        r = classification_pb2.ClassificationRequest()
        spec(r.model_spec, model, kw)
        fill(r.input, examples, context)
        return r

    def rreq(model, examples, context=None, **kw):
        r = regression_pb2.RegressionRequest()
        spec(r.model_spec, model, kw)
        fill(r.input, examples, context)
        return r

    def spec(ms, model, kw):
        ms.name = model
        if "version" in kw:
            ms.version.value = kw["version"]
        if "label" in kw:
            ms.version_label = kw["label"]
        if "signature" in kw:
            ms.signature_name = kw["signature"]

    def fill(inp, examples, context):
        if context is None:
            inp.example_list.examples.extend(examples)
        else:
            inp.example_list_with_context.examples.extend(examples)
            inp.example_list_with_context.context.CopyFrom(context)

    exs = [example(x=r.tolist(), other=[7]) for r in x3]  # a feature not in the signature is ignored
    idx = ["0", "1", "2"]
    iris = ["setosa", "versicolor", "virginica"]
    add("classify_mlp", "classify", creq("mlp", exs), OK, version=2, classify=(idx, v2(x3)))
    add("classify_mlp_label_stable", "classify", creq("mlp", exs, label="stable"), OK, version=1, classify=(iris, v1(x3)))
    add("classify_mlp_context", "classify", creq("mlp", [example(), example()], context=example(x=x1[0].tolist()), version=2),
        OK, version=2, classify=(idx, v2(np.repeat(x1, 2, axis=0))))
    lw = np.array([[0.5], [-1.25], [2.0], [0.125]], np.float64)
    xl = np.array([[1, 2, 3, 4], [0.5, -1, 0.25, 8]], np.float64)
    add("regress_lin", "regress", rreq("lin", [example(x=r.tolist()) for r in xl.astype(np.float32)]), OK, version=1,
        regress=xl @ lw + 0.75)
    add("regress_lin_int64", "regress", rreq("lin", [example(x=[1, 2, 3, 4]), example(x=[-3, 0, 5, 1])]), OK, version=1,
        regress=np.array([[1, 2, 3, 4], [-3, 0, 5, 1]], np.float64) @ lw + 0.75)
    add("err_classify_empty", "classify", creq("mlp", []), INVALID_ARGUMENT, match="^Input is empty")
    add("err_classify_missing", "classify", creq("mlp", [example(z=[1.0, 2.0, 3.0, 4.0])]), INVALID_ARGUMENT,
        match="feature 'x' .*required but could not be found")
    add("err_classify_count", "classify", creq("mlp", [example(x=[1.0, 2.0, 3.0])]), INVALID_ARGUMENT,
        match="feature 'x' has 3 values; input 'x' takes 4")
    add("err_classify_bytes", "classify", creq("mlp", [example(x=b"abcd")]), INVALID_ARGUMENT, match="bytes_list")
    add("err_classify_label", "classify", creq("mlp", exs, label="nope"), INVALID_ARGUMENT,
        match="^Unrecognized servable version label: nope")
    add("err_classify_model", "classify", creq("nope", exs), NOT_FOUND, match="nope")
    # two feeds from two features; the scores are pair's first fetch, sum
    add("classify_pair", "classify", creq("pair", [example(a=a[i].tolist(), b=b[i].tolist()) for i in range(2)]), OK,
        version=1, classify=(idx, a + b))
    add("err_regress_mlp", "regress", rreq("mlp", exs), INVALID_ARGUMENT,
        match=r"Expected output Tensor shape to be either \[batch_size\] or \[batch_size, 1\] but got \[-1,3\]")
    add("err_regress_signature", "regress", rreq("lin", [example(x=[1.0, 2, 3, 4])], signature="other"), INVALID_ARGUMENT,
        match="not found")
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
