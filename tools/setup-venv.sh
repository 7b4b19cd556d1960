#!/bin/sh
# Creates a Python venv with pinned packages, for tools/ only (fixtures,
# benchmarks); the compiler, runtime and default tests never use Python.
# Idempotent: when the venv exists and every "name==version" line of the
# requirements is installed at that version, it only checks (well under a
# second) and installs nothing.
#   tools/setup-venv.sh [VENV_DIR REQUIREMENTS]   (default: tools/.venv tools/requirements.txt,
#                                                  then tools/requirements-nodeps.txt with pip --no-deps)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-"$here/.venv"}
reqs=${2:-"$here/requirements.txt"}
if [ ! -x "$venv/bin/python" ]; then
    # Debian/Ubuntu ship the venv module (and ensurepip) separately.
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        [ "$(id -u)" = 0 ] || { echo "setup-venv: python3-venv missing; install it or run as root" >&2; exit 1; }
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    python3 -m venv "$venv"
fi
# installed: are all "name==version" lines of requirements file $1 installed at that version?
installed() {
    "$venv/bin/python" - "$1" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    if version(name.strip()) != want.strip():
        sys.exit(1)
PY
}
installed "$reqs" || "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
# With the default requirements, also those installed without their dependencies.
nodeps="$here/requirements-nodeps.txt"
if [ $# -eq 0 ] && [ -f "$nodeps" ]; then
    installed "$nodeps" || "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$nodeps"
fi
echo "setup-venv: $venv ready"
