"""Writes tests/fixtures/dist_devices: model_resnet_small with TensorFlow
device fields (/job:worker/task:0 for the first half of the nodes in
topological order, /job:worker/task:1 for the rest), for tests/sh/dist.sh.
The references are model_resnet_small's own: placement changes no value.

    tools/.venv/bin/python tools/gen_dist.py
"""
import os
import shutil

from tensorflow.core.framework import graph_pb2

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = os.path.join(root, "tests/fixtures/model_resnet_small")
dst = os.path.join(root, "tests/fixtures/dist_devices")
g = graph_pb2.GraphDef()
with open(os.path.join(src, "model.pb"), "rb") as f:
    g.ParseFromString(f.read())
by_name = {n.name: n for n in g.node}
order, seen = [], set()


def visit(name):
    stack = [(name, False)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        stack.append((n, True))
        for i in by_name[n].input:
            i = i.lstrip("^").split(":")[0]
            if i not in seen:
                stack.append((i, False))


for n in g.node:
    visit(n.name)
compute = [n for n in order if by_name[n].op not in ("Const", "Placeholder", "NoOp")]
half = set(compute[len(compute) // 2:])
for n in g.node:
    if n.op in ("Const", "Placeholder", "NoOp"):
        continue
    n.device = "/job:worker/task:%d/device:CPU:0" % (1 if n.name in half else 0)
os.makedirs(dst, exist_ok=True)
with open(os.path.join(dst, "model.pb"), "wb") as f:
    f.write(g.SerializeToString(deterministic=True))
for name in ("in_0.npy", "out_0.npy"):
    shutil.copy(os.path.join(src, name), os.path.join(dst, name))
with open(os.path.join(dst, "fixture.txt"), "w") as f:
    f.write("# model_resnet_small with device fields: /job:worker/task:0 for the first half of the nodes, task:1 for the rest (tools/gen_dist.py)\n")
    f.write("feed t in_0.npy\nfetch Identity out_0.npy\ntol 1e-4 1e-5\n")
print("wrote", dst, len(half), "of", len(compute), "nodes on task 1")
