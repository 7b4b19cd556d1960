#!/bin/sh
# Creates a Python venv with pinned packages, for tools/ only (fixtures,
# benchmarks); the compiler, runtime and default tests never use Python.
# Idempotent: fast when the venv already satisfies the requirements.
#   tools/setup-venv.sh [VENV_DIR REQUIREMENTS]   (default: tools/.venv tools/requirements.txt)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-"$here/.venv"}
reqs=${2:-"$here/requirements.txt"}
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "setup-venv: python3-venv missing; run as root" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" - "$reqs" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    if version(name) != want:
        sys.exit(1)
PY
then
    "$venv/bin/pip" install -q -r "$reqs"
fi
echo "setup-venv: $venv ready"
