#!/bin/sh
# Creates tools/.venv with the pinned TensorFlow that regenerates fixtures.
# Idempotent: fast when the venv already satisfies tools/requirements.txt.
# Only tools/ uses Python; the compiler, runtime and default tests never do.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "setup-venv: python3-venv missing; run as root" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" - "$here/requirements.txt" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    if version(name) != want:
        sys.exit(1)
PY
then
    "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
echo "setup-venv: $venv ready"
