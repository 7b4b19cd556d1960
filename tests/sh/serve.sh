#!/bin/sh
# kiln serve (docs/serving.md) on loopback: TF Serving's REST API against the
# answers TensorFlow / numpy gave (tests/serve/expect.json, from
# tools/gen_serve_models.py): status, metadata, predict in row and columnar
# formats, batch splitting and padding, errors with their HTTP statuses, a
# hot swap to a new version under load with no failed request, a version
# that fails to load and never replaces the good one, a model_config_file
# with two models (TF and ONNX) and a specific-version policy, request
# batching, the metrics endpoint, and a clean stop on SIGTERM.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
for t in curl jq; do command -v $t >/dev/null || { echo "FAIL: $t is missing (tools/install-deps.sh installs it)"; exit 1; }; done
exp="$src/tests/serve/expect.json"
export XDG_CACHE_HOME="$tmp/xdg" # the default compile cache ($XDG_CACHE_HOME/kiln), not the user's

# start NAME ARGS...: starts a server, waits for its port (30 s at most); sets $port and $pid
start() {
    n=$1
    shift
    rm -f "$tmp/$n.port"
    "$kiln" serve --port 0 --port_file "$tmp/$n.port" --grpc_port 0 "$@" >"$tmp/$n.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    while [ ! -s "$tmp/$n.port" ] && [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    if [ ! -s "$tmp/$n.port" ]; then bad "$n: server did not start"; cat "$tmp/$n.log"; return 1; fi
    port=$(cat "$tmp/$n.port")
}
# req METHOD PATH [BODY]: sets $code and writes the body to $tmp/body
req() {
    if [ $# -ge 3 ]; then
        code=$(printf '%s' "$3" | curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" --data-binary @- "http://127.0.0.1:$port$2")
    else
        code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" "http://127.0.0.1:$port$2")
    fi
}
# close NAME KEY EXPECT_JQ: the response's KEY matches expect.json's value within 1e-5 relative
close() {
    d=$(jq -n --slurpfile a "$tmp/body" --slurpfile b "$exp" '
        def flat: if type == "array" then map(flat) | add // [] else [.] end;
        ($a[0]'"$2"' | flat) as $x | ($b[0]'"$3"' | flat) as $y
        | if ($x | length) != ($y | length) or ($x | length) == 0 then "length \($x | length) vs \($y | length)"
          else [range(0; $x | length) | (($x[.] - $y[.]) | fabs) / (1 + ($y[.] | fabs))] | max end' 2>&1)
    case "$d" in
    [0-9]* | -[0-9]*) if jq -n "$d < 1e-5" | grep -q true; then ok; else bad "$1: max rel error $d"; fi ;;
    *) bad "$1: $d"; head -c 300 "$tmp/body" ;;
    esac
}
# status_is NAME HTTP [JQ_FILTER]: the code, and the filter is true on the body
status_is() {
    if [ "$code" != "$2" ]; then bad "$1: HTTP $code, want $2: $(head -c 300 "$tmp/body")"; return; fi
    if [ $# -ge 3 ] && ! jq -e "$3" "$tmp/body" >/dev/null 2>&1; then bad "$1: body fails $3: $(head -c 300 "$tmp/body")"; return; fi
    ok
}
# wait_for NAME JQ_FILTER PATH: polls GET PATH until the filter holds (20 s)
wait_for() {
    i=0
    while [ $i -lt 200 ]; do
        req GET "$3"
        if [ "$code" = 200 ] && jq -e "$2" "$tmp/body" >/dev/null 2>&1; then ok; return 0; fi
        sleep 0.1
        i=$((i + 1))
    done
    bad "$1: timed out waiting for $2 on $3: $(head -c 300 "$tmp/body")"
    return 1
}

base="$tmp/models/mlp"
mkdir -p "$base"
cp -r "$src/tests/serve/mlp/1" "$base/1"
if start one --model_name mlp --model_base_path "$base" --file_system_poll_wait_seconds 1 --max_body_bytes 1000000 \
    --rest_api_timeout_in_ms 1000; then
    req GET /v1/models/mlp
    status_is status 200 '.model_version_status == [{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]'
    req GET /v1/models/mlp/metadata
    status_is metadata 200 '.model_spec.version == "1" and .metadata.signature_def.signature_def.serving_default.inputs.x.dtype == "DT_FLOAT" and
        (.metadata.signature_def.signature_def.serving_default.inputs.x.tensor_shape.dim | map(.size)) == ["-1","4"] and
        (.metadata.signature_def.signature_def.serving_default.outputs.y.tensor_shape.dim | map(.size)) == ["-1","3"]'
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "predict rows" 200 '.predictions | length == 3' && close "predict rows v1" .predictions .mlp_x3.v1
    req POST /v1/models/mlp/versions/1:predict "$(jq -c .mlp_x1.request "$exp")"
    status_is "predict columnar" 200 '.outputs | length == 1' && close "predict columnar v1" .outputs .mlp_x1.v1
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x11.request "$exp")"
    status_is "predict 11 rows (8 + 3 padded to 4)" 200 '.predictions | length == 11' && close "predict 11 rows" .predictions .mlp_x11.v1

    # the numeric fast path (columnar and named bodies too) answers byte for byte as jansson's path does
    # (an escaped key sends the same body through jansson)
    jq -c '{inputs: {x: .mlp_x11.request.instances}}' "$exp" >"$tmp/fast.json"
    sed 's/"x":/"\\u0078":/' "$tmp/fast.json" >"$tmp/slow.json"
    jq -c '{signature_name: "", instances: [.mlp_x11.request.instances[] | {x: .}]}' "$exp" >"$tmp/fast2.json"
    sed 's/"x":/"\\u0078":/g' "$tmp/fast2.json" >"$tmp/slow2.json"
    for f in fast slow fast2 slow2; do
        curl -s -o "$tmp/$f.out" --data-binary @"$tmp/$f.json" "http://127.0.0.1:$port/v1/models/mlp:predict"
    done
    if ! grep -q u0078 "$tmp/slow.json" || ! grep -q u0078 "$tmp/slow2.json"; then bad "fast path check: no escaped body"
    elif cmp -s "$tmp/fast.out" "$tmp/slow.out" && cmp -s "$tmp/fast2.out" "$tmp/slow2.out" &&
        jq -e '.outputs | length == 11' "$tmp/fast.out" >/dev/null && jq -e '.predictions | length == 11' "$tmp/fast2.out" >/dev/null; then ok
    else bad "fast path vs jansson: $(head -c 200 "$tmp/fast.out") / $(head -c 200 "$tmp/slow.out")"; fi
    cp "$tmp/fast.out" "$tmp/body" && close "columnar 11 rows (fast path)" .outputs .mlp_x11.v1

    # errors: status codes and TF Serving's {"error": ...}
    req POST /v1/models/mlp:predict '{"instances": [[1,2,3]]}'
    status_is "short row" 400 '.error | test("expected a list of 4")'
    req POST /v1/models/mlp:predict '{"instances": [[1,2,3,4]'
    status_is "bad JSON" 400 '.error | test("JSON Parse error")'
    req POST /v1/models/mlp:predict '{"instances": [[1,2,3,"a"]]}'
    status_is "string in a float tensor" 400 '.error | test("expected a number")'
    req POST /v1/models/mlp:predict '{"instances": [{"b64": "AAAA"}]}'
    status_is "b64 on a float input" 400 '.error | test("b64")'
    req POST /v1/models/mlp:predict '{"instances": [[1,2,3,4]], "inputs": {"x": [[1,2,3,4]]}}'
    status_is "both formats" 400 '.error | test("Not both")'
    req POST /v1/models/mlp:predict '{"signature_name": "other", "instances": [[1,2,3,4]]}'
    status_is "unknown signature" 400 '.error | test("not found")'
    req POST /v1/models/mlp:predict '{}'
    status_is "no inputs" 400 '.error | test("Missing")'
    req POST /v1/models/mlp:predict '{"inputs": {"z": [[1,2,3,4]]}}'
    status_is "unknown input name" 400 '.error | test("not an input")'
    req POST /v1/models/nope:predict '{"instances": [[1,2,3,4]]}'
    status_is "unknown model" 404 '.error | test("nope")'
    req POST /v1/models/mlp/versions/7:predict '{"instances": [[1,2,3,4]]}'
    status_is "unknown version" 404 '.error | test("7")'
    req GET /v1/models/mlp:predict
    status_is "GET predict" 405 '.error'
    req GET /v1/nothing
    status_is "bad path" 404 '.error | test("Malformed")'
    # :classify / :regress: TF Serving's JSON examples, each feed from the feature of its name (docs/serving.md)
    req POST /v1/models/mlp:classify "$(jq -c .mlp_classify.request "$exp")"
    status_is "classify" 200 '.results | length == 3 and all(map(.[0]) == ["0", "1", "2"])' &&
        close "classify scores v1" '.results | map(map(.[1]))' .mlp_classify.v1
    req POST /v1/models/mlp:classify '{"context": {"x": '"$(jq -c '.mlp_x1.request.inputs.x[0]' "$exp")"'}, "examples": [{}, {"other": 1}]}'
    status_is "classify: context" 200 '.results | length == 2 and .[0] == .[1]' && close "classify: context" '.results[0] | map(.[1])' .mlp_x1.v1
    req POST /v1/models/mlp:predict '{"instances": [[1, 2, 3, 4]]}'
    cp "$tmp/body" "$tmp/pred.json"
    req POST /v1/models/mlp/versions/1:classify '{"signature_name": "serving_default", "examples": [{"x": [1, 2, 3, 4]}]}'
    status_is "classify: int64 values = predict" 200
    if jq -e --slurpfile p "$tmp/pred.json" '(.results[0] | map(.[1])) == $p[0].predictions[0]' "$tmp/body" >/dev/null; then ok
    else bad "classify: int64 values: $(cat "$tmp/body") vs $(cat "$tmp/pred.json")"; fi
    req POST /v1/models/mlp:classify '{"examples": []}'
    status_is "classify: no examples" 400 '.error == "Input is empty."'
    req POST /v1/models/mlp:classify '{"examples": [{"x": [1, 2, 3]}]}'
    status_is "classify: short feature" 400 '.error | test("feature .x. has 3 values; input .x. takes 4")'
    req POST /v1/models/mlp:classify '{"examples": [{"z": [1, 2, 3, 4]}]}'
    status_is "classify: missing feature" 400 '.error | test("feature .x. .*required but could not be found")'
    req POST /v1/models/mlp:classify '{"examples": [{"x": "abcd"}]}'
    status_is "classify: bytes feature" 400 '.error | test("bytes_list")'
    req POST /v1/models/mlp:classify '{"examples": [{"x": [1, "a", 3, 4]}]}'
    status_is "classify: mixed list" 400 '.error | test("mixes strings and numbers")'
    req POST /v1/models/mlp:classify '{"examples": [{"x": [[1, 2], [3, 4]]}]}'
    status_is "classify: nested list" 400 '.error | test("flat list")'
    req POST /v1/models/mlp:classify '{"examples": [{"x": [1, 2, 3, 1e300]}]}'
    status_is "classify: float overflow" 400 '.error | test("loses precision")'
    req POST /v1/models/mlp:classify '{"instances": [[1, 2, 3, 4]]}'
    status_is "classify: instances" 400 '.error | test("unknown key")'
    req POST /v1/models/mlp:classify '{"signature_name": "other", "examples": [{"x": [1, 2, 3, 4]}]}'
    status_is "classify: unknown signature" 400 '.error | test("not found")'
    req POST /v1/models/mlp:classify '{"examples": [{"x": [1, 2, 3, 4]}'
    status_is "classify: bad JSON" 400 '.error | test("JSON Parse error")'
    req POST /v1/models/nope:classify '{"examples": [{"x": [1, 2, 3, 4]}]}'
    status_is "classify: unknown model" 404 '.error | test("nope")'
    req GET /v1/models/mlp:classify
    status_is "GET classify" 405 '.error'
    req POST /v1/models/mlp:regress '{"examples": [{"x": [1, 2, 3, 4]}]}'
    status_is "regress on [-1,3]" 400 '.error | test("Expected output Tensor shape to be either \\[batch_size\\] or \\[batch_size, 1\\] but got \\[-1,3\\]")'

    # 10k instances in one body; a body over --max_body_bytes; a client that goes silent mid-body
    jq -nc '{instances: [range(10000) | [1, 2, 3, 4]]}' >"$tmp/10k.json"
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' --data-binary @"$tmp/10k.json" "http://127.0.0.1:$port/v1/models/mlp:predict")
    status_is "10k instances" 200 '(.predictions | length == 10000) and (.predictions | unique | length == 1)'
    { printf '{"instances": ['; yes '[1,2,3,4],' | head -n 120000 | tr -d '\n'; printf '[1,2,3,4]]}'; } >"$tmp/big.json"
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' --data-binary @"$tmp/big.json" "http://127.0.0.1:$port/v1/models/mlp:predict")
    status_is "body over --max_body_bytes" 413 '.error | test("max_body_bytes")'
    # a raw connection (bash's /dev/tcp) that sends half a body and goes silent: closed after the
    # 1 s idle timeout while other requests are served
    t0=$(date +%s)
    timeout 8 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1; printf "POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ins" >&3; cat <&3 >/dev/null' _ "$port" &
    slow=$!
    sleep 0.3
    req POST /v1/models/mlp:predict '{"instances": [[1,2,3,4]]}'
    status_is "served while a client is silent" 200 '.predictions | length == 1'
    wait $slow
    rc=$? t1=$(date +%s)
    if [ $rc = 0 ] && [ $((t1 - t0)) -le 4 ]; then ok; else bad "silent client: rc $rc after $((t1 - t0)) s (timeout 1 s)"; fi

    # hot swap under load: requests keep being answered while version 2 loads and 1 unloads
    ( i=0; n=0; while [ $i -lt 150 ]; do
          c=$(curl -s -o /dev/null -w '%{http_code}' --data-binary '{"instances": [[1,2,3,4]]}' "http://127.0.0.1:$port/v1/models/mlp:predict")
          [ "$c" = 200 ] || n=$((n + 1)); i=$((i + 1)); done; echo $n >"$tmp/load.fails" ) &
    loader=$!
    sleep 0.3
    cp -r "$src/tests/serve/mlp/2" "$tmp/models/v2.tmp" && mv "$tmp/models/v2.tmp" "$base/2"
    wait_for "version 2 available, 1 gone" '[.model_version_status[] | select(.state == "AVAILABLE") | .version] == ["2"] and
        ([.model_version_status[] | select(.version == "1") | .state] == ["END"])' /v1/models/mlp
    wait $loader
    if [ "$(cat "$tmp/load.fails")" = 0 ]; then ok; else bad "hot swap: $(cat "$tmp/load.fails") of 150 requests failed"; fi
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "predict after swap" 200 && close "predict after swap = v2" .predictions .mlp_x3.v2
    req POST /v1/models/mlp/versions/1:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "unloaded version" 503 '.error'

    # a broken version 3 is reported and never replaces version 2
    mkdir -p "$tmp/models/v3.tmp" && printf 'not a model' >"$tmp/models/v3.tmp/model.pb" && cp "$src/tests/serve/mlp/2/kiln.json" "$tmp/models/v3.tmp/" &&
        mv "$tmp/models/v3.tmp" "$base/3"
    wait_for "version 3 fails to load" '.model_version_status[] | select(.version == "3") | .state == "END" and (.status.error_message | length > 0)' /v1/models/mlp
    sleep 1.5 # another poll: 3 stays failed, 2 stays up
    req GET /v1/models/mlp
    status_is "version 2 still serves" 200 '[.model_version_status[] | select(.state == "AVAILABLE") | .version] == ["2"]'
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "predict with a broken newer version" 200 && close "still v2" .predictions .mlp_x3.v2

    req GET /monitoring/prometheus/metrics
    if [ "$code" = 200 ] && grep -q '^kiln_serve_request_count{model_name="mlp",status="OK"} [1-9]' "$tmp/body" &&
        grep -q '^kiln_serve_load_attempt_count{model_name="mlp",status="error"} 1$' "$tmp/body" &&
        grep -q '^kiln_serve_request_latency_microseconds_count{model_name="mlp"} [1-9]' "$tmp/body"; then ok; else bad "metrics"; head -c 2000 "$tmp/body"; fi

    t0=$(date +%s)
    kill -TERM $pid
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 $pid 2>/dev/null; then bad "SIGTERM: still running after 5 s"; else wait $pid; rc=$?; [ $rc = 0 ] && ok || bad "SIGTERM: exit $rc"; fi
fi

# the compile cache: a restart and the same model in another version directory load the cached
# shared objects; a corrupted and a truncated entry are refused and compiled again
cache="$tmp/ccache"
mkdir -p "$tmp/cmodels/mlp"
cp -r "$src/tests/serve/mlp/1" "$tmp/cmodels/mlp/1"
for run in cold warm; do
    if start "cache_$run" --model_name mlp --model_base_path "$tmp/cmodels/mlp" --compile_cache_dir "$cache" --file_system_poll_wait_seconds 0; then
        req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
        status_is "cache $run: predict" 200 && close "cache $run: v1" .predictions .mlp_x3.v1
        kill -TERM $pid
        wait $pid
    fi
done
n_so=$(ls "$cache"/*.so 2>/dev/null | wc -l)
if [ "$n_so" = 3 ] && grep -q '(0 of 3 compiled sizes from the compile cache' "$tmp/cache_cold.log" &&
    grep -q '(3 of 3 compiled sizes from the compile cache' "$tmp/cache_warm.log"; then ok; else
    bad "compile cache: $n_so entries"; cat "$tmp/cache_cold.log" "$tmp/cache_warm.log"; fi
cp -r "$src/tests/serve/mlp/1" "$tmp/cmodels/mlp/7" # same content, another version: cached
set -- "$cache"/*.so
printf 'XXXX' | dd of="$1" bs=1 seek=3000 conv=notrunc 2>/dev/null
truncate -s 5000 "$2"
if start cache_bad --model_name mlp --model_base_path "$tmp/cmodels/mlp" --compile_cache_dir "$cache" --file_system_poll_wait_seconds 0; then
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "corrupted cache entries: predict" 200 && close "corrupted cache: v1 answers" .predictions .mlp_x3.v1
    kill -TERM $pid
    wait $pid
    if [ "$(grep -c 'cache entry refused, compiling again: .*SHA-256' "$tmp/cache_bad.log")" = 2 ] &&
        grep -q 'version 7 available (1 of 3 compiled sizes from the compile cache' "$tmp/cache_bad.log"; then ok; else
        bad "corrupted cache entries not refused"; cat "$tmp/cache_bad.log"; fi
fi

# no working C compiler for the cache ($CC fails): said once, the JIT serves
export CC=false
if start nocc --model_name mlp --model_base_path "$tmp/cmodels/mlp" --compile_cache_dir "$tmp/nocc" --file_system_poll_wait_seconds 0; then
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "no C compiler: predict" 200 && close "no C compiler: v1" .predictions .mlp_x3.v1
    kill -TERM $pid
    wait $pid
    if [ "$(grep -c 'compile cache .* not written (--shared: linking with .false -shared. failed' "$tmp/nocc.log")" = 1 ]; then ok; else
        bad "no C compiler: message"; cat "$tmp/nocc.log"; fi
fi
unset CC

# a prebuilt model.so (kiln compile --shared) in a version directory, checked against kiln.json
mkdir -p "$tmp/pmodels/mlp/1" "$tmp/pmodels/bad/1"
if "$kiln" compile "$src/tests/serve/mlp/1/model.pb" --feed x:8,4 --fetch y --shared -o "$tmp/pmodels/mlp/1/model.so" >"$tmp/out" 2>&1; then ok; else
    bad "kiln compile --shared"; cat "$tmp/out"; fi
printf '{"feeds": [{"name": "x", "shape": [-1, 4]}], "fetches": ["y"]}' >"$tmp/pmodels/mlp/1/kiln.json"
cp "$tmp/pmodels/mlp/1/model.so" "$tmp/pmodels/bad/1/"
printf '{"feeds": [{"name": "x", "shape": [-1, 5]}], "fetches": ["y"]}' >"$tmp/pmodels/bad/1/kiln.json"
cat >"$tmp/pre.config" <<CFG
model_config_list {
  config { name: 'mlp' base_path: '$tmp/pmodels/mlp' }
  config { name: 'bad' base_path: '$tmp/pmodels/bad' }
}
CFG
if start pre --model_config_file "$tmp/pre.config" --file_system_poll_wait_seconds 0; then
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x11.request "$exp")"
    status_is "prebuilt model.so: 11 rows (8 + 3 padded)" 200 '.predictions | length == 11' && close "prebuilt: v1" .predictions .mlp_x11.v1
    req GET /v1/models/bad
    status_is "prebuilt model.so against a wrong kiln.json" 200 '.model_version_status[0].state == "END" and
        (.model_version_status[0].status.error_message | test("feed .x. is \\[8,4\\], kiln.json.s shape is \\[-1,5\\]"))'
    kill -TERM $pid
fi
if "$kiln" compile "$src/tests/serve/mlp/1/model.pb" --shared --header "$tmp/x.h" -o "$tmp/x.so" >"$tmp/out" 2>&1; then bad "--shared with --header accepted"; else ok; fi

# a model_config_file: the MLP pinned to versions 1 and 2, the ONNX pair model
cp -r "$src/tests/serve/mlp/2" "$tmp/models/mlp2" 2>/dev/null
mkdir -p "$tmp/cfgmodels/mlp" && cp -r "$src/tests/serve/mlp/1" "$src/tests/serve/mlp/2" "$tmp/cfgmodels/mlp/"
cat >"$tmp/models.config" <<CFG
# TF Serving's text format
model_config_list {
  config { name: 'mlp' base_path: '$tmp/cfgmodels/mlp' model_platform: 'tensorflow'
           model_version_policy { specific { versions: 1 versions: 2 } }
           version_labels { key: 'stable' value: 1 } version_labels { key: 'canary' value: 2 }
           version_labels { key: 'gone' value: 9 } }
  config { name: "pair" base_path: "$src/tests/serve/pair" model_platform: "onnx" }
  config { name: "lin" base_path: "$src/tests/serve/lin" model_platform: "onnx" }
  config { name: "badcls" base_path: "$tmp/badcls" }
}
CFG
# kiln.json's "classes" must match the scores' columns: this version fails to load, naming why
mkdir -p "$tmp/badcls" && cp -r "$src/tests/serve/mlp/1" "$tmp/badcls/1"
jq '.classes = ["a", "b"]' "$src/tests/serve/mlp/1/kiln.json" >"$tmp/badcls/1/kiln.json"
if start cfg --model_config_file "$tmp/models.config" --file_system_poll_wait_seconds 0; then
    req GET /v1/models/mlp
    status_is "config: both versions" 200 '[.model_version_status[] | select(.state == "AVAILABLE") | .version] == ["2","1"]'
    req POST /v1/models/mlp/versions/1:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "config: version 1" 200 && close "config: v1" .predictions .mlp_x3.v1
    req POST /v1/models/mlp:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "config: latest is 2" 200 && close "config: v2" .predictions .mlp_x3.v2
    req POST /v1/models/mlp/labels/stable:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "config: label stable = 1" 200 && close "label stable: v1" .predictions .mlp_x3.v1
    req POST /v1/models/mlp/labels/canary:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "config: label canary = 2" 200 && close "label canary: v2" .predictions .mlp_x3.v2
    req GET /v1/models/mlp/labels/stable
    status_is "label status" 200 '.model_version_status == [{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]'
    req GET /v1/models/mlp/labels/canary/metadata
    status_is "label metadata" 200 '.model_spec.version == "2"'
    req POST /v1/models/mlp/labels/nope:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "unknown label" 400 '.error | test("^Unrecognized servable version label: nope")'
    req POST /v1/models/mlp/labels/stable:classify "$(jq -c .mlp_classify.request "$exp")"
    status_is "classify by label" 200 && close "classify by label: v1" '.results | map(map(.[1]))' .mlp_classify.v1
    req POST /v1/models/mlp/labels/nope:regress '{"examples": [{"x": [1, 2, 3, 4]}]}'
    status_is "regress: unknown label" 400 '.error | test("^Unrecognized servable version label: nope")'
    req POST /v1/models/lin:regress "$(jq -c '{examples: [.lin.x[] | {x: .}]}' "$exp")"
    status_is "regress" 200 '.results | length == 5' && close "regress lin" .results .lin.y
    req POST /v1/models/lin:classify '{"examples": [{"x": [1, 2, 3, 4]}, {"x": [0, 0, 0, 0]}]}'
    status_is "classify on [-1,1]: one class" 200 '.results | length == 2 and all(length == 1 and .[0][0] == "0") and .[1][0][1] == 0.75'
    req GET /v1/models/badcls
    status_is "classes of the wrong count" 200 '.model_version_status[0].state == "END" and
        (.model_version_status[0].status.error_message | test("\"classes\" names 2 labels; the scores fetch .y. .* is \\[-1,3\\], not \\[-1, 2\\]"))'
    req GET /v1/models/mlp/labels/gone
    status_is "label of a version not loaded: status" 200 '.model_version_status[0].version == "9" and
        .model_version_status[0].status.error_code == "NOT_FOUND" and (.model_version_status[0].status.error_message | test("not loaded"))'
    req POST /v1/models/mlp/labels/gone:predict "$(jq -c .mlp_x3.request "$exp")"
    status_is "label of a version not loaded: predict" 404 '.error | test("Specific\\(mlp, 9\\)")'
    if grep -q "label 'gone' points to version 9, which is not available" "$tmp/cfg.log"; then ok; else bad "label warning"; cat "$tmp/cfg.log"; fi
    req POST /v1/models/pair:predict "$(jq -c .pair_rows.request "$exp")"
    status_is "onnx pair rows" 200 '.predictions | length == 2' &&
        close "onnx sum" '.predictions | map(.sum)' .pair_rows.sum && close "onnx prod" '.predictions | map(.prod)' .pair_rows.prod
    req POST /v1/models/pair:predict '{"instances": [{"a": [1,2,3]}]}'
    status_is "onnx missing input" 400 '.error | test("missing input .b.")'
    req POST /v1/models/pair:predict "{\"inputs\": {\"a\": [[1,2,3]], \"b\": [[1,2,3],[4,5,6]]}}"
    status_is "onnx columnar batch mismatch" 400 '.error | test("same batch")'
    kill -TERM $pid
fi

# bad configurations fail at start with a message
printf 'model_config_list { config { name: "x" base_path: "/x" version_labels { key: "a" value: 1 } version_labels { key: "a" value: 2 } } }' >"$tmp/bad.config"
if "$kiln" serve --model_config_file "$tmp/bad.config" >"$tmp/out" 2>&1; then bad "duplicate label accepted"; elif grep -q "label 'a' is given twice" "$tmp/out"; then ok; else bad "duplicate label message"; cat "$tmp/out"; fi
printf 'model_config_list { config { name: "x" } }' >"$tmp/bad.config"
if "$kiln" serve --model_config_file "$tmp/bad.config" >"$tmp/out" 2>&1; then bad "bad config accepted"; elif grep -q "needs name and base_path" "$tmp/out"; then ok; else bad "bad config message"; cat "$tmp/out"; fi
printf 'max_batch_size { value: 8 }\nallowed_batch_sizes: 4\n' >"$tmp/bad.batching"
if "$kiln" serve --model_name mlp --model_base_path "$base" --batching_parameters_file "$tmp/bad.batching" >"$tmp/out" 2>&1; then
    bad "bad batching accepted"; elif grep -q "must equal max_batch_size" "$tmp/out"; then ok; else bad "bad batching message"; cat "$tmp/out"; fi
# (gRPC: tests/sh/serve_grpc.sh)
if "$kiln" serve --model_name mlp --model_base_path "$base" --grpc_port x8500 >"$tmp/out" 2>&1; then bad "bad --grpc_port accepted"
elif grep -q "grpc_port" "$tmp/out"; then ok; else bad "bad --grpc_port message"; cat "$tmp/out"; fi

# batching: 16 concurrent one-row requests merge into fewer calls, each answer its own row
cat >"$tmp/batching.txt" <<'B'
max_batch_size { value: 8 }
batch_timeout_micros { value: 300000 }
max_enqueued_batches { value: 20000 }
num_batch_threads { value: 1 }
allowed_batch_sizes: 2
allowed_batch_sizes: 4
allowed_batch_sizes: 8
B
mkdir -p "$tmp/bmodels/mlp" && cp -r "$src/tests/serve/mlp/1" "$tmp/bmodels/mlp/"
if start batch --model_name mlp --model_base_path "$tmp/bmodels/mlp" --enable_batching --batching_parameters_file "$tmp/batching.txt" --file_system_poll_wait_seconds 0; then
    # a request alone in flight runs at once without waiting (docs/serving.md): the 16 are sent
    # (one curl, 16 connections at once) while a body of 100k instances is parsed, so they queue
    # (an escape in signature_name keeps it off the numeric fast path: jansson takes over a second)
    jq -nc '{signature_name: "serving_default", instances: [range(100000) | [1, 2, 3, 4]]}' |
        sed 's/serving_default/serving\\u005fdefault/' >"$tmp/100k.json"
    k=0
    set --
    while [ $k -lt 16 ]; do
        r=$((k % 3))
        jq -c "{instances: [.mlp_x3.request.instances[$r]]}" "$exp" >"$tmp/q$k.json"
        [ $k -gt 0 ] && set -- "$@" --next
        set -- "$@" -s -o "$tmp/b$k.json" --data-binary @"$tmp/q$k.json" "http://127.0.0.1:$port/v1/models/mlp:predict"
        k=$((k + 1))
    done
    # up to 3 tries: on a loaded machine the big request may be done before the 16 arrive
    try=0 merged=no calls0=0 rows0=0
    while [ $try -lt 3 ] && [ $merged = no ]; do
        curl -s -o "$tmp/big.out" --data-binary @"$tmp/100k.json" "http://127.0.0.1:$port/v1/models/mlp:predict" &
        big=$!
        i=0 # until it is in flight (its body read, its parse under way)
        until [ $i -ge 100 ] || curl -s "http://127.0.0.1:$port/monitoring/prometheus/metrics" |
            grep -q '^kiln_serve_requests_in_flight{model_name="mlp"} 1$'; do sleep 0.02; i=$((i + 1)); done
        curl -Z --parallel-immediate --parallel-max 16 "$@"
        wait $big
        req GET /monitoring/prometheus/metrics
        calls=$(sed -n 's/^kiln_serve_batch_size_count{model_name="mlp"} //p' "$tmp/body")
        rows=$(sed -n 's/^kiln_serve_batch_size_sum{model_name="mlp"} //p' "$tmp/body")
        # 16 rows and the big request's 100k (the warm-up is not counted) in fewer than 17 calls
        if [ $((${rows:-0} - rows0)) = 100016 ] && [ $((${calls:-99} - calls0)) -lt 17 ]; then merged=yes; fi
        echo "batching, try $((try + 1)): 17 requests ran as $((${calls:-0} - calls0)) calls"
        calls0=${calls:-0} rows0=${rows:-0} try=$((try + 1))
    done
    if [ $merged = yes ]; then ok; else bad "batching: never merged in 3 tries"; head -c 2000 "$tmp/body"; fi
    k=0 good=0
    while [ $k -lt 16 ]; do
        r=$((k % 3))
        cp "$tmp/b$k.json" "$tmp/body"
        d=$(jq -n --slurpfile a "$tmp/body" --slurpfile b "$exp" "[\$a[0].predictions[0], \$b[0].mlp_x3.v1[$r]] | transpose | map((.[0] - .[1]) | fabs) | max" 2>/dev/null)
        if [ -n "$d" ] && jq -n "$d < 1e-4" | grep -q true; then good=$((good + 1)); fi
        k=$((k + 1))
    done
    if [ $good = 16 ]; then ok; else bad "batching: $good of 16 answers right"; fi
    kill -TERM $pid
fi

echo "serve: $passes passed, $fails failed"
[ $fails = 0 ]
