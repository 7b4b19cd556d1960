#!/usr/bin/env python3
"""What ONNX Runtime says about each model of tests/corpus/bad_onnx, next to
what Kiln must say (the .txt beside it): the oracle for those messages.

    python3 -m venv /tmp/ort && /tmp/ort/bin/pip install onnx onnxruntime numpy
    /tmp/ort/bin/python tools/ort_bad_corpus.py

Inputs are fed zeros; huge inputs and the 512 GiB Expand are only loaded.
"""
import glob
import os

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ort_verdict(path):
    try:
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {}
        for i in s.get_inputs():
            shape = [d if isinstance(d, int) else 1 for d in i.shape]
            if any(d > 1 << 20 for d in shape):
                return "loads (not run: huge input)"
            feeds[i.name] = np.zeros(shape, np.float32 if "float" in i.type else np.int64)
        if "expand_huge" in path:
            return "loads (not run: 512 GiB)"
        out = s.run(None, feeds)
        return "runs: " + ", ".join(str(o.shape) for o in out)
    except Exception as e:  # ORT's own words are the point
        return "error: " + " ".join(str(e).split())[:160]


def main():
    ort.set_default_logger_severity(4)
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "corpus", "bad_onnx", "*.onnx"))):
        want = open(path[:-5] + ".txt").read().strip()
        print("%-26s kiln %-60s | ORT %s" % (os.path.basename(path), want[:60], ort_verdict(path)))


if __name__ == "__main__":
    main()
