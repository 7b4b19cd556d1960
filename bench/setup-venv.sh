#!/bin/sh
# tools/.bench-venv with the pinned peers of `make bench` (TensorFlow, ONNX
# Runtime, tf2onnx, matplotlib).  Idempotent; only the benchmark uses it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/tools/.bench-venv"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "bench: python3-venv missing; run as root" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" - "$root/bench/requirements.txt" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    if version(name) != want:
        sys.exit(1)
PY
then
    "$venv/bin/pip" install -q -r "$root/bench/requirements.txt"
fi
echo "bench: $venv ready"
