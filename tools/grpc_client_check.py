#!/usr/bin/env python3
"""kiln serve's gRPC API against TF Serving's real Python client (by hand;
not part of make test, which uses recorded messages: tests/sh/serve_grpc.sh).

    tools/.venv/bin/python tools/grpc_client_check.py [--build build]

Serves the MLP (tests/serve/mlp/1) and the LeNet-5 of bench/serve.py from
one `kiln serve` and, for batches of 1 and 8 random inputs, asks through
tensorflow_serving.apis.prediction_service_pb2_grpc (grpcio) and through
the REST :predict route; prints the max abs difference between the two
answers and against TensorFlow running the same graph, then
GetModelMetadata's signature and GetModelStatus as the client decodes them.
Then Classify (the MLP's y as the scores, by the version label "stable") and
Regress (tests/serve/lin) with tf.Example inputs, against REST's :classify /
:regress and TensorFlow / numpy, and an unknown label.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc, regression_pb2)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import serve as bench_serve  # noqa: E402  (make_lenet)


def tf_run(gd, feed, fetch):
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    sess = tf.compat.v1.Session(graph=g)
    return lambda x: sess.run(fetch + ":0", {feed + ":0": x})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    mlp = os.path.join(work, "mlp")
    shutil.copytree(os.path.join(ROOT, "tests", "serve", "mlp", "1"), os.path.join(mlp, "1"))
    mlp_gd = tf.compat.v1.GraphDef()
    mlp_gd.ParseFromString(open(os.path.join(mlp, "1", "model.pb"), "rb").read())
    lenet = os.path.join(work, "lenet")
    lenet_gd, lenet_out, _ = bench_serve.make_lenet(lenet)
    cfg = os.path.join(work, "models.config")
    with open(cfg, "w") as f:
        f.write("model_config_list {\n config { name: 'mlp' base_path: '%s' version_labels { key: 'stable' value: 1 } }\n"
                " config { name: 'lenet' base_path: '%s' }\n config { name: 'lin' base_path: '%s' }\n}\n"
                % (mlp, lenet, os.path.join(ROOT, "tests", "serve", "lin")))
    pf, gf = os.path.join(work, "port"), os.path.join(work, "gport")
    p = subprocess.Popen([os.path.join(a.build, "bin", "kiln"), "serve", "--model_config_file", cfg, "--port", "0",
                          "--port_file", pf, "--grpc_port", "-1", "--grpc_port_file", gf,
                          "--file_system_poll_wait_seconds", "0"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if os.path.exists(gf) and os.path.exists(pf):
                break
            time.sleep(0.1)
        port, gport = int(open(pf).read()), int(open(gf).read())
        ch = grpc.insecure_channel("127.0.0.1:%d" % gport)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
        rng = np.random.default_rng(3)
        for name, gd, fetch, shape in (("mlp", mlp_gd, "y", (4,)), ("lenet", lenet_gd, lenet_out, (28, 28, 1))):
            ref = tf_run(gd, "x", fetch)
            for n in (1, 8):
                x = rng.standard_normal((n,) + shape).astype(np.float32)
                req = predict_pb2.PredictRequest()
                req.model_spec.name = name
                req.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
                res = stub.Predict(req, timeout=30)
                yg = tf.make_ndarray(res.outputs["y"])
                body = json.dumps({"instances": x.tolist()}).encode()
                with urllib.request.urlopen("http://127.0.0.1:%d/v1/models/%s:predict" % (port, name), body) as r:
                    yr = np.asarray(json.load(r)["predictions"], np.float32)
                yt = ref(x)
                print("%-5s batch %d: gRPC %s %s, version %d; max |gRPC - REST| %.3g, max |gRPC - TF| %.3g, "
                      "max |REST - TF| %.3g" % (name, n, yg.dtype, yg.shape, res.model_spec.version.value,
                                                np.abs(yg - yr).max(), np.abs(yg - yt).max(), np.abs(yr - yt).max()))
            m = get_model_metadata_pb2.GetModelMetadataRequest()
            m.model_spec.name = name
            m.metadata_field.append("signature_def")
            md = stub.GetModelMetadata(m, timeout=30)
            sm = get_model_metadata_pb2.SignatureDefMap()
            md.metadata["signature_def"].Unpack(sm)
            sig = sm.signature_def["serving_default"]
            print("%-5s metadata: inputs %s, outputs %s, %s" % (
                name, {k: (tf.dtypes.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim]) for k, v in sig.inputs.items()},
                {k: (tf.dtypes.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim]) for k, v in sig.outputs.items()},
                sig.method_name))
            s = get_model_status_pb2.GetModelStatusRequest()
            s.model_spec.name = name
            st = model_service_pb2_grpc.ModelServiceStub(ch).GetModelStatus(s, timeout=30)
            print("%-5s status: %s" % (name, [(v.version, get_model_status_pb2.ModelVersionStatus.State.Name(v.state))
                                             for v in st.model_version_status]))
        # Classify / Regress: one tf.Example per row, the feature "x" feeds x
        x = rng.standard_normal((5, 4)).astype(np.float32)
        exs = []
        for row in x:
            e = example_pb2.Example()
            e.features.feature["x"].float_list.value.extend(row.tolist())
            exs.append(e)
        rest_body = json.dumps({"examples": [{"x": row.tolist()} for row in x]}).encode()
        c = classification_pb2.ClassificationRequest()
        c.model_spec.name = "mlp"
        c.model_spec.version_label = "stable"
        c.input.example_list.examples.extend(exs)
        cr = stub.Classify(c, timeout=30)
        sg = np.array([[k.score for k in cl.classes] for cl in cr.result.classifications], np.float32)
        labels = [[k.label for k in cl.classes] for cl in cr.result.classifications]
        with urllib.request.urlopen("http://127.0.0.1:%d/v1/models/mlp/labels/stable:classify" % port, rest_body) as r:
            sr = np.asarray([[v for _, v in row] for row in json.load(r)["results"]], np.float32)
        st = tf_run(mlp_gd, "x", "y")(x)
        print("Classify mlp (label stable): %d x %d, labels %s, version %d, signature %r; max |gRPC - REST| %.3g, "
              "max |gRPC - TF| %.3g" % (sg.shape[0], sg.shape[1], labels[0], cr.model_spec.version.value,
                                        cr.model_spec.signature_name, np.abs(sg - sr).max(), np.abs(sg - st).max()))
        g = regression_pb2.RegressionRequest()
        g.model_spec.name = "lin"
        g.input.example_list.examples.extend(exs)
        gr = stub.Regress(g, timeout=30)
        vg = np.array([v.value for v in gr.result.regressions], np.float32)
        with urllib.request.urlopen("http://127.0.0.1:%d/v1/models/lin:regress" % port, rest_body) as r:
            vr = np.asarray(json.load(r)["results"], np.float32)
        w = np.array([0.5, -1.25, 2.0, 0.125])
        vn = x.astype(np.float64) @ w + 0.75
        print("Regress lin: %d values, version %d; max |gRPC - REST| %.3g, max |gRPC - numpy| %.3g"
              % (len(vg), gr.model_spec.version.value, np.abs(vg - vr).max(), np.abs(vg - vn).max()))
        c.model_spec.version_label = "nope"
        try:
            stub.Classify(c, timeout=30)
        except grpc.RpcError as e:
            print("unknown label: %s: %s" % (e.code().name, e.details()))
        bad = predict_pb2.PredictRequest()
        bad.model_spec.name = "nope"
        try:
            stub.Predict(bad, timeout=30)
        except grpc.RpcError as e:
            print("unknown model: %s: %s" % (e.code().name, e.details()))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
