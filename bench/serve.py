#!/usr/bin/env python3
"""kiln serve under load (docs/serving.md, issue 16's bench).

    tools/.bench-venv/bin/python bench/serve.py --build build [--seconds 5]

For the MLP (tests/serve/mlp/1: 4-8-3) and a LeNet-5 (made here with Keras,
frozen, None batch, 28x28x1 -> 10): `kiln serve` with batching off and on
(max_batch_size 64, batch_timeout_micros 1000, allowed 1,2,4,8,16,32,64),
loaded by wrk (Debian) on loopback with 1, 8 and 64 connections posting one
instance each; throughput and p50/p99 latency from wrk.  The direct
in-process call is `kiln bench` of the same model at batch 1 (the
overhead line: served p50 at 1 connection minus it).  The floor peer:
TensorFlow Serving's binary cannot be had here (not on PyPI or in Debian),
so the same graph runs in TensorFlow behind Python's ThreadingHTTPServer
with the same JSON API (a floor, not TF Serving itself).  gRPC rows (MLP,
batching off and on): the same servers' gRPC port loaded by the C load
generator build/bin/serve_grpc_client --load (one channel per client,
calls back to back) with the one-row PredictRequest that TF Serving's
Python package serialized (tests/serve/grpc/predict_row0.pb).  Results go
to bench/results/serve.{csv,md}.
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA = """
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(t) table.insert(threads, t) end
function init(a) bad = 0 end
function response(status, headers, body) if status ~= 200 then bad = bad + 1 end end
function done(s, lat, req)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format("RESULT %d %.1f %.1f %.1f %d %d\\n", s.requests, s.requests / (s.duration / 1e6),
    lat:percentile(50), lat:percentile(99), b, s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
"""


def make_lenet(d):
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    tf.random.set_seed(1)
    k = tf.keras
    m = k.Sequential([k.layers.Input((28, 28, 1)), k.layers.Conv2D(6, 5, activation="relu"), k.layers.MaxPool2D(),
                      k.layers.Conv2D(16, 5, activation="relu"), k.layers.MaxPool2D(), k.layers.Flatten(),
                      k.layers.Dense(120, activation="relu"), k.layers.Dense(84, activation="relu"), k.layers.Dense(10)])
    fn = tf.function(lambda x: m(x)).get_concrete_function(tf.TensorSpec([None, 28, 28, 1], tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(fn)
    gd = frozen.graph.as_graph_def()
    out = frozen.outputs[0].name.split(":")[0]
    v = os.path.join(d, "1")
    os.makedirs(v, exist_ok=True)
    with open(os.path.join(v, "model.pb"), "wb") as f:
        f.write(gd.SerializeToString())
    with open(os.path.join(v, "kiln.json"), "w") as f:
        json.dump({"feeds": [{"name": "x", "shape": [-1, 28, 28, 1]}], "fetches": [{"name": out, "alias": "y"}],
                   "batch_sizes": [1, 8, 64]}, f)
    x = np.random.default_rng(0).standard_normal((1, 28, 28, 1)).astype(np.float32)
    return gd, out, x.tolist()


def wrk(url, body, conns, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
        lua = f.name
    env = dict(os.environ, BODY=body)
    r = subprocess.run(["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", "%ds" % seconds, "--latency", "-s", lua,
                        url], capture_output=True, text=True, env=env)
    os.unlink(lua)
    m = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", r.stdout)
    if not m:
        raise SystemExit("wrk failed: " + r.stdout + r.stderr)
    return {"requests": int(m.group(1)), "rps": float(m.group(2)), "p50_us": float(m.group(3)),
            "p99_us": float(m.group(4)), "non200": int(m.group(5)), "socket_errors": int(m.group(6))}


def start_kiln(build, base, batching_file, work, name="m", extra=(), log=None):
    """kiln serve on free REST and gRPC ports: (process, REST port, gRPC port)."""
    port_file, gport_file = os.path.join(work, "port"), os.path.join(work, "gport")
    for f in (port_file, gport_file):
        if os.path.exists(f):
            os.unlink(f)
    cmd = [os.path.join(build, "bin", "kiln"), "serve", "--model_name", name, "--model_base_path", base, "--port", "0",
           "--port_file", port_file, "--grpc_port", "-1", "--grpc_port_file", gport_file,
           "--file_system_poll_wait_seconds", "0"] + list(extra)
    if batching_file:
        cmd += ["--enable_batching", "--batching_parameters_file", batching_file]
    # the default compile cache ($XDG_CACHE_HOME/kiln) inside the work directory, not the user's
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "xdg"))
    p = subprocess.Popen(cmd, stderr=open(log, "w") if log else subprocess.DEVNULL, env=env)
    for _ in range(600):
        if all(os.path.exists(f) and open(f).read().strip() for f in (port_file, gport_file)):
            return p, int(open(port_file).read()), int(open(gport_file).read())
        time.sleep(0.1)
    p.kill()
    raise SystemExit("kiln serve did not start")


def grpc_load(client, gport, request, conns, seconds):
    """The C load generator (tests/support/serve_grpc_client.c --load): one channel per client, calls back to back."""
    r = subprocess.run([client, "--load", str(conns), str(seconds), "127.0.0.1:%d" % gport, "predict", request],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("serve_grpc_client failed: " + r.stdout + r.stderr)
    j = json.loads(r.stdout)
    return {"requests": j["requests"], "rps": j["rps"], "p50_us": j["p50_us"], "p99_us": j["p99_us"],
            "non200": j["errors"], "socket_errors": j["transport_failures"]}


def load_times(build, base, work):
    """Version load time (ms, from kiln serve's log): JIT only, a cold compile cache, the cache warm."""
    out = {}
    cache = os.path.join(work, "load-cache-" + os.path.basename(base))
    for mode, flag in (("jit", ""), ("cold", cache), ("cached", cache)):
        log = os.path.join(work, "load.log")
        p, _, _ = start_kiln(build, base, None, work, extra=["--compile_cache_dir", flag], log=log)
        p.send_signal(signal.SIGTERM)
        p.wait()
        m = re.search(r"loaded in ([\d.]+) ms", open(log).read())
        out[mode] = float(m.group(1)) if m else float("nan")
    return out


def tf_server(gd, feed, fetch):
    """The floor: the same GraphDef in a TF1 Session behind ThreadingHTTPServer, TF Serving's row format."""
    import numpy as np
    import tensorflow as tf
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    sess = tf.compat.v1.Session(graph=g, config=tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                                                         inter_op_parallelism_threads=1))

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each keep-alive answer waits for the client's delayed ACK (40 ms)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            req = json.loads(self.rfile.read(n))
            y = sess.run(fetch + ":0", {feed + ":0": np.asarray(req["instances"], np.float32)})
            body = json.dumps({"predictions": y.tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", default="1,8,64")
    ap.add_argument("--no-load-times", action="store_true", help="skip the compile cache's load times (a kiln without it)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where serve.csv / serve.md go")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing (tools/install-deps.sh installs it)")
    conns = [int(c) for c in a.conns.split(",")]
    work = tempfile.mkdtemp()
    batching = os.path.join(work, "batching.txt")
    with open(batching, "w") as f:
        f.write("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\nmax_enqueued_batches { value: 1000 }\n"
                "num_batch_threads { value: 1 }\n" + "".join("allowed_batch_sizes: %d\n" % b for b in (1, 2, 4, 8, 16, 32, 64)))
    import tensorflow as tf
    mlp_base = os.path.join(work, "mlp")
    shutil.copytree(os.path.join(ROOT, "tests", "serve", "mlp", "1"), os.path.join(mlp_base, "1"))
    mlp_gd = tf.compat.v1.GraphDef()
    mlp_gd.ParseFromString(open(os.path.join(mlp_base, "1", "model.pb"), "rb").read())
    lenet_base = os.path.join(work, "lenet")
    lenet_gd, lenet_out, lenet_x = make_lenet(lenet_base)
    models = [("mlp", mlp_base, mlp_gd, "x", "y", [[1.0, 2.0, 3.0, 4.0]], "x:1,4", "y"),
              ("lenet", lenet_base, lenet_gd, "x", lenet_out, lenet_x, "x:1,28,28,1", lenet_out)]
    grpc_client = os.path.join(a.build, "bin", "serve_grpc_client")
    grpc_req = os.path.join(ROOT, "tests", "serve", "grpc", "predict_row0.pb")
    rows = []
    loads = {}
    for name, base, gd, feed, fetch, inst, pin, kfetch in models:
        if not a.no_load_times:
            loads[name] = load_times(a.build, base, work)
            print(name, "load ms", loads[name], flush=True)
        body = json.dumps({"instances": inst})
        kb = subprocess.run([os.path.join(a.build, "bin", "kiln"), "bench", os.path.join(base, "1", "model.pb"), "--feed",
                             pin, "--fetch", kfetch], capture_output=True, text=True)
        m = re.search(r"median_us ([\d.]+)", kb.stdout)
        direct = float(m.group(1)) if m else float("nan")
        for mode in ("kiln", "kiln+batching"):
            p, port, gport = start_kiln(a.build, base, batching if mode == "kiln+batching" else None, work, name)
            url = "http://127.0.0.1:%d/v1/models/%s:predict" % (port, name)
            try:
                wrk(url, body, 1, 1)  # warm
                for c in conns:
                    r = wrk(url, body, c, a.seconds)
                    rows.append(dict(model=name, server=mode, conns=c, direct_us=direct, **r))
                    print(rows[-1], flush=True)
                # gRPC: the MLP's one-row PredictRequest as TF Serving's Python package serialized it
                # (tests/serve/grpc/predict_row0.pb, model "mlp"), sent by the C load generator
                if name == "mlp" and os.path.exists(grpc_client):
                    grpc_load(grpc_client, gport, grpc_req, 1, 1)  # warm
                    for c in conns:
                        r = grpc_load(grpc_client, gport, grpc_req, c, a.seconds)
                        rows.append(dict(model=name, server=mode + " gRPC", conns=c, direct_us=direct, **r))
                        print(rows[-1], flush=True)
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait()
        srv = tf_server(gd, feed, fetch)
        url = "http://127.0.0.1:%d/v1/models/m:predict" % srv.server_address[1]
        wrk(url, body, 1, 1)
        for c in conns:
            r = wrk(url, body, c, a.seconds)
            rows.append(dict(model=name, server="tf-python-floor", conns=c, direct_us=direct, **r))
            print(rows[-1], flush=True)
        srv.shutdown()
    out = a.out
    with open(os.path.join(out, "serve.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "serve.md"), "w") as f:
        f.write("REST rows: wrk, one connection per client; gRPC rows: serve_grpc_client --load (C, gRPC core), one channel "
                "per client, non-OK statuses counted as non-200.\n\n")
        f.write("| model | server | connections | requests/s | p50 us | p99 us | non-200 | socket errors |\n|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s | %s | %d | %.0f | %.0f | %.0f | %d | %d |\n" % (r["model"], r["server"], r["conns"], r["rps"],
                                                                        r["p50_us"], r["p99_us"], r["non200"], r["socket_errors"]))
        f.write("\n")
        for name in ("mlp", "lenet"):
            def get(server, c):
                return next((r for r in rows if r["model"] == name and r["server"] == server and r["conns"] == c), None)
            one, k64, b64 = get("kiln", 1), get("kiln", 64), get("kiln+batching", 64)
            if one:
                f.write("%s: direct in-process call %.2f us (kiln bench, batch 1); served p50 at 1 connection %.0f us: "
                        "overhead %.0f us\n" % (name, one["direct_us"], one["p50_us"], one["p50_us"] - one["direct_us"]))
            if k64 and b64:
                f.write("%s at 64 connections: batching %.2fx the throughput of no batching\n" % (name, b64["rps"] / k64["rps"]))
        if loads:
            f.write("\n| model | load, JIT only (ms) | load, cold compile cache (ms) | load, cached (ms) |\n|---|---|---|---|\n")
            for name, t in loads.items():
                f.write("| %s | %.1f | %.1f | %.1f |\n" % (name, t["jit"], t["cold"], t["cached"]))
    print(open(os.path.join(out, "serve.md")).read())
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
