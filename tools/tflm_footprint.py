#!/usr/bin/env python3
"""TensorFlow Lite Micro's arena for a float32 .tflite, the anchor Kiln's
temp arena is compared with in docs/embedded.md.

    python3 -m venv tools/.tflm-venv && tools/.tflm-venv/bin/pip install tflite-micro numpy
    tools/.venv/bin/python tools/gen_firmware_models.py --tflite build/tflite
    tools/.tflm-venv/bin/python tools/tflm_footprint.py build/tflite/kws_dscnn.tflite tests/fixtures/model_kws_dscnn
    tools/.tflm-venv/bin/python tools/tflm_footprint.py build/tflite/person_mbv1.tflite tests/fixtures/model_person_mbv1

(gen_firmware_models.py --tflite rewrites the fixtures too; add --only NAME
to write one.  The person-detection .tflite holds its weights as constants,
evaluated by TensorFlow from the same seeded random ops as the fixture's
graph, so both run the same model.)

Runs TFLM's interpreter on the host (the tflite-micro package) on the
fixture's input, checks its output against TensorFlow's reference, and
prints the arena TFLM's recording allocator reports (head: activations,
tail: persistent tensors and node structs).
"""
import os
import re
import sys

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def main():
    model, fixture = sys.argv[1], sys.argv[2]
    it = runtime.Interpreter.from_file(model, arena_size=8 << 20)
    x = np.load(os.path.join(fixture, "in_0.npy"))
    it.set_input(x, 0)
    it.invoke()
    err = float(np.abs(it.get_output(0) - np.load(os.path.join(fixture, "out_0.npy"))).max())
    # TFLM's MicroPrintf writes to the process's stderr: read it through a pipe
    r, w = os.pipe()
    saved = os.dup(2)
    os.dup2(w, 2)
    it.print_allocations()
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(w)
    text = os.read(r, 1 << 16).decode()
    nums = {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
    print("%s: TFLM arena %d bytes (head %d, tail %d); max abs error vs TensorFlow %.3g" %
          (os.path.basename(model), nums.get("total", -1), nums.get("head", -1), nums.get("tail", -1), err))


if __name__ == "__main__":
    main()
