#!/bin/sh
# Installs what Kiln needs to build and test on Debian 12 (run as root).
# Idempotent and fast when everything is present: it asks dpkg first and
# only calls apt-get for what is missing.
set -eu
# clang and its runtime libraries build the libFuzzer targets (tests/fuzz).
# Open MPI carries distributed runs (openmpi-bin: mpirun, used by tests/sh/dist.sh); libmicrohttpd + jansson the model server,
# libgrpc-dev its gRPC API (gRPC's C core);
# Graphviz lays out kiln viz pages, which chromium (headless) tests; wrk loads the server in make bench;
# curl and jq talk to it in tests/sh/serve.sh.
pkgs="build-essential cmake pkg-config llvm-19-dev libprotobuf-c-dev protobuf-c-compiler
      libopenblas-dev libcriterion-dev binutils libonnx-testdata clang libclang-rt-14-dev
      qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
      qemu-system-arm gcc-arm-none-eabi qemu-system-misc gcc-riscv64-unknown-elf
      openmpi-bin libopenmpi-dev libmicrohttpd-dev libjansson-dev libgrpc-dev libgraphviz-dev chromium wrk curl jq"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    if [ "$(id -u)" != 0 ]; then echo "install-deps: run as root (apt-get install needed)" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps: all dependencies present"
