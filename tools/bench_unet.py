#!/usr/bin/env python3
"""Kiln vs ONNX Runtime on the U-Net of tools/gen_unet.py --bench (issue 15),
the way bench/run.py times them: Kiln's object (kiln compile -O3 --threads N)
linked into bench/driver.c, which times every call and prints the median;
ORT on the tf2onnx export (CPU provider, sequential, N intra-op threads)
timed call by call from Python.  Rounds interleave a batch of Kiln calls
with a batch of ORT calls, never concurrently; medians over all rounds.

    tools/.bench-venv/bin/python tools/bench_unet.py DIR [--build build ...] [--rounds 9] [--threads 1,2]

DIR holds unet.pb, unet.onnx, in_0.npy (tools/gen_unet.py --bench DIR).
Several --build directories (e.g. before/after a change) are timed in the
same rounds, each against the same ORT calls.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepare(build, model, threads, work):
    d = os.path.join(work, "%s_t%d" % (os.path.basename(os.path.abspath(build)), threads))
    os.makedirs(d, exist_ok=True)
    subprocess.check_call([os.path.join(build, "bin", "kiln"), "compile", model, "-o", os.path.join(d, "m.o"), "--header",
                           os.path.join(d, "m.h"), "--prefix", "model", "-O3", "--threads", str(threads)],
                          stdout=subprocess.DEVNULL)
    exe = os.path.join(d, "driver")
    subprocess.check_call(["cc", "-O2", "-std=gnu11", "-include", os.path.join(d, "m.h"), os.path.join(ROOT, "bench", "driver.c"),
                           os.path.join(d, "m.o"), os.path.join(build, "lib", "libkilnrt.a"), "-lopenblas", "-lpthread", "-lm",
                           "-o", exe])
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--build", action="append")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=300)
    a = ap.parse_args()
    builds = a.build or [os.path.join(ROOT, "build")]
    import onnxruntime as ort
    x = np.load(os.path.join(a.dir, "in_0.npy"))
    feed = os.path.join(a.dir, "in_0.npy")
    for threads in [int(t) for t in a.threads.split(",")]:
        exes = [prepare(b, os.path.join(a.dir, "unet.pb"), threads, os.path.join(a.dir, "work")) for b in builds]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(os.path.join(a.dir, "unet.onnx"), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        for _ in range(20):
            sess.run(None, {name: x})
        kiln = [[] for _ in builds]
        ortt = []
        for _ in range(a.rounds):
            for i, exe in enumerate(exes):
                out = subprocess.check_output([exe, "30", str(a.iters), feed]).decode()
                kiln[i].append(float(re.search(r"median_ms ([\d.]+)", out).group(1)))
            for _ in range(a.iters // 3):
                t0 = time.perf_counter()
                sess.run(None, {name: x})
                ortt.append((time.perf_counter() - t0) * 1e3)
        o = statistics.median(ortt)
        for b, k in zip(builds, kiln):
            m = statistics.median(k)
            print("threads %d  %-28s kiln %.4f ms  ort %.4f ms  kiln/ort %.2f" % (threads, os.path.basename(os.path.abspath(b)), m, o, m / o),
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
