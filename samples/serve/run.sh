#!/bin/sh
# A walk-through of `kiln serve` (docs/serving.md): serve an MLP, ask for
# its status and signature, predict in both JSON formats and over gRPC
# (when built with libgrpc: TF Serving's PredictionService), drop in version 2
# and watch it replace version 1 without a restart, stop the server; then
# restart it from the compile cache, serve a prebuilt model.so (kiln compile
# --shared), name versions with labels in a model_config_file and classify
# tf.Example-style inputs (each feature feeds the input of its name).
#   sh samples/serve/run.sh [BUILD_DIR]
set -eu
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
# 1. A base path with one version: the frozen GraphDef and kiln.json (feeds, fetches, batch sizes).
mkdir -p "$work/models/mlp"
cp -r "$src/tests/serve/mlp/1" "$work/models/mlp/1"
echo "== $work/models/mlp/1/kiln.json"; cat "$work/models/mlp/1/kiln.json"
# 2. Start the server (port 0: any free port, written to a file; the same for gRPC with -1).
grpc=0
[ -x "$build/bin/serve_grpc_client" ] && grpc=-1
"$build/bin/kiln" serve --model_name mlp --model_base_path "$work/models/mlp" --port 0 --port_file "$work/port" \
    --grpc_port $grpc --grpc_port_file "$work/gport" --compile_cache_dir "$work/cache" &
server=$!
while [ ! -s "$work/port" ] || { [ $grpc != 0 ] && [ ! -s "$work/gport" ]; }; do sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")/v1/models/mlp"
set -x
curl -s "$url"
curl -s "$url/metadata"
curl -s -d '{"instances": [[1, 2, 3, 4], [0, 0, 0, 0]]}' "$url:predict"
curl -s -d '{"inputs": {"x": [[1, 2, 3, 4]]}}' "$url:predict"
curl -s -d '{"instances": [[1, 2, 3]]}' "$url:predict" || true
set +x
# gRPC: a PredictRequest as TF Serving's Python client serialized it (tools/gen_serve_grpc.py),
# sent by a small C client; tools/grpc_client_check.py uses the Python client itself.
if [ $grpc != 0 ]; then
    set -x
    "$build/bin/serve_grpc_client" "127.0.0.1:$(cat "$work/gport")" predict "$src/tests/serve/grpc/predict_latest.pb"
    "$build/bin/serve_grpc_client" "127.0.0.1:$(cat "$work/gport")" predict "$src/tests/serve/grpc/err_dtype.pb"
    set +x
fi
# 3. Version 2 arrives (moved in whole); the next poll loads, warms up and swaps it in.
cp -r "$src/tests/serve/mlp/2" "$work/models/v2" && mv "$work/models/v2" "$work/models/mlp/2"
until curl -s "$url" | grep -q '"version":"2","state":"AVAILABLE"'; do sleep 0.2; done
set -x
curl -s "$url"
curl -s -d '{"instances": [[1, 2, 3, 4]]}' "$url:predict"
curl -s "http://127.0.0.1:$(cat "$work/port")/monitoring/prometheus/metrics" | grep request_count
set +x
kill -TERM $server
wait $server
# 4. The compile cache: a restart loads version 2's compiled code by content hash instead of compiling.
ls "$work/cache"
# 5. A prebuilt shared object as version 3, and labels naming versions 2 and 3.
mkdir -p "$work/models/mlp/3"
"$build/bin/kiln" compile "$src/tests/serve/mlp/2/model.pb" --feed x:8,4 --fetch y --shared -o "$work/models/mlp/3/model.so"
echo '{"feeds": [{"name": "x", "shape": [-1, 4]}], "fetches": ["y"]}' >"$work/models/mlp/3/kiln.json"
cat >"$work/models.config" <<CFG
model_config_list { config { name: 'mlp' base_path: '$work/models/mlp'
  model_version_policy { specific { versions: 2 versions: 3 } }
  version_labels { key: 'stable' value: 2 } version_labels { key: 'canary' value: 3 } } }
CFG
rm -f "$work/port"
"$build/bin/kiln" serve --model_config_file "$work/models.config" --port 0 --port_file "$work/port" \
    --compile_cache_dir "$work/cache" &
server=$!
while [ ! -s "$work/port" ]; do sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")/v1/models/mlp"
set -x
curl -s "$url"
curl -s -d '{"instances": [[1, 2, 3, 4]]}' "$url/labels/stable:predict"
curl -s -d '{"instances": [[1, 2, 3, 4]]}' "$url/labels/canary:predict"
curl -s -d '{"instances": [[1, 2, 3, 4]]}' "$url/labels/beta:predict" || true
curl -s -d '{"examples": [{"x": [1, 2, 3, 4]}, {"x": [0, 0, 0, 0]}]}' "$url/labels/stable:classify"
set +x
kill -TERM $server
wait $server
