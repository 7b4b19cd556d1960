#!/bin/sh
# tools/.torch-venv for tools/gen_torch_models.py (torch, torchvision, onnx,
# onnxruntime from PyPI); only tools/ scripts use it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/setup-venv.sh" "$here/.torch-venv" "$here/requirements-torch.txt"
