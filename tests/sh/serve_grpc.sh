#!/bin/sh
# kiln serve's gRPC API (docs/serving.md) on loopback: request messages
# serialized by TF Serving's own Python package (tests/serve/grpc/*.pb, from
# tools/gen_serve_grpc.py; no Python here) sent by a C client on gRPC's core
# (build/bin/serve_grpc_client), checked against cases.json: the status
# code, the error message, the outputs (TensorFlow's / numpy's answers,
# within 1e-5 relative), Classify's labels and scores and Regress's values,
# the version that answered (version labels too); metadata and model
# status; REST and gRPC side by side on one server; a hot swap under gRPC
# load with no failed call; request batching of concurrent gRPC calls, and
# of gRPC and REST calls together; bad
# --grpc_port values; a clean stop on SIGTERM.  Without libgrpc at build
# time, it checks that --grpc_port says so.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
client="$build/bin/serve_grpc_client"
fx="$src/tests/serve/grpc"
cases="$fx/cases.json"
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
for t in curl jq; do command -v $t >/dev/null || { echo "FAIL: $t is missing (tools/install-deps.sh installs it)"; exit 1; }; done

if [ ! -x "$client" ]; then
    # built without libgrpc: an explicit --grpc_port must say so
    if "$kiln" serve --model_name mlp --model_base_path "$src/tests/serve/mlp" --grpc_port 8500 >"$tmp/out" 2>&1; then
        bad "--grpc_port accepted without gRPC"
    elif grep -q "built without gRPC" "$tmp/out"; then ok; else bad "no-gRPC message: $(cat "$tmp/out")"; fi
    echo "serve_grpc: $passes passed, $fails failed (this build has no gRPC: libgrpc-dev was not found)"
    [ $fails = 0 ]
    exit
fi

# start NAME ARGS...: a server on free REST and gRPC ports; sets $port, $gport and $pid
start() {
    n=$1
    shift
    rm -f "$tmp/$n.port" "$tmp/$n.gport"
    "$kiln" serve --port 0 --port_file "$tmp/$n.port" --grpc_port -1 --grpc_port_file "$tmp/$n.gport" "$@" >"$tmp/$n.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    while { [ ! -s "$tmp/$n.port" ] || [ ! -s "$tmp/$n.gport" ]; } && [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    if [ ! -s "$tmp/$n.gport" ]; then bad "$n: server did not start"; cat "$tmp/$n.log"; return 1; fi
    port=$(cat "$tmp/$n.port") gport=$(cat "$tmp/$n.gport")
}

# holds FILE FILTER: the jq filter gives true on FILE (false on an empty or broken file)
holds() { [ "$(jq -r "$2" "$1" 2>/dev/null)" = true ]; }
# check NAME: sends fixture NAME to the server on $gport, compares with cases.json
check() {
    rpc=$(jq -r ".$1.rpc" "$cases")
    if ! "$client" "127.0.0.1:$gport" "$rpc" "$fx/$1.pb" >"$tmp/res.json" 2>"$tmp/err"; then
        bad "$1: client failed: $(cat "$tmp/err")"
        return 1
    fi
    v=$(jq -n -r --slurpfile r "$tmp/res.json" --slurpfile c "$cases" --arg n "$1" '
        $r[0] as $r | $c[0][$n] as $c
        | def flat: if type == "array" then map(flat) | add // [] else [.] end;
        if $r.code != $c.code then "code \($r.code) (\($r.message)), want \($c.code)"
        elif ($r.message | test($c.match)) | not then "message \"\($r.message)\" does not match /\($c.match)/"
        elif $c.version != null and $r.model_spec.version != $c.version then "answered by version \($r.model_spec.version), want \($c.version)"
        elif $c.classify != null then
            if ($r.results | length) != ($c.classify.scores | length) then "\($r.results | length) classifications, want \($c.classify.scores | length)"
            elif [$r.results[] | map(.[0])] != [$c.classify.scores[] | $c.classify.labels] then "labels \([$r.results[] | map(.[0])]), want \($c.classify.labels) per row"
            else ([[$r.results[][] | .[1]], ($c.classify.scores | flat)] | transpose | map(((.[0] - .[1]) | fabs) / (1 + (.[1] | fabs))) | max) as $e
                 | if $e < 1e-5 then "ok" else "scores: max rel error \($e)" end end
        elif $c.regress != null then
            if ($r.results | length) != ($c.regress | length) then "\($r.results | length) regressions, want \($c.regress | length)"
            else ([$r.results, $c.regress] | transpose | map(((.[0] - .[1]) | fabs) / (1 + (.[1] | fabs))) | max) as $e
                 | if $e < 1e-5 then "ok" else "values: max rel error \($e)" end end
        elif $c.outputs == null then "ok"
        elif ($r.outputs | keys) != ($c.outputs | keys) then "outputs \($r.outputs | keys), want \($c.outputs | keys)"
        else [$c.outputs | to_entries[] | .key as $k | .value as $w | $r.outputs[$k] as $g
              | if $g.shape != $w.shape then "\($k): shape \($g.shape), want \($w.shape)"
                elif $g.dtype != "DT_FLOAT" or $g.content_bytes != 4 * ($w.values | length) then "\($k): not DT_FLOAT tensor_content"
                else ([range(0; $w.values | length) | (($g.values[.] - $w.values[.]) | fabs) / (1 + ($w.values[.] | fabs))] | max) as $e
                     | if $e < 1e-5 then empty else "\($k): max rel error \($e)" end end] | if length == 0 then "ok" else join("; ") end
        end' 2>&1)
    if [ "$v" = ok ]; then ok; else bad "$1: $v"; return 1; fi
}

# the MLP (versions 1 and 2, a specific policy, version labels; version 1 names Classify's classes), the ONNX
# pair and the linear lin (Regress), a 4 kB message limit
mkdir -p "$tmp/models/mlp" && cp -r "$src/tests/serve/mlp/1" "$src/tests/serve/mlp/2" "$tmp/models/mlp/"
jq '.classes = ["setosa", "versicolor", "virginica"]' "$src/tests/serve/mlp/1/kiln.json" >"$tmp/models/mlp/1/kiln.json"
cat >"$tmp/models.config" <<CFG
model_config_list {
  config { name: 'mlp' base_path: '$tmp/models/mlp' model_platform: 'tensorflow'
           model_version_policy { specific { versions: 1 versions: 2 } }
           version_labels { key: 'stable' value: 1 } version_labels { key: 'canary' value: 2 }
           version_labels { key: 'gone' value: 9 } }
  config { name: "pair" base_path: "$src/tests/serve/pair" model_platform: "onnx" }
  config { name: "lin" base_path: "$src/tests/serve/lin" model_platform: "onnx" }
}
CFG
if start cfg --model_config_file "$tmp/models.config" --file_system_poll_wait_seconds 0 --max_body_bytes 4096; then
    for n in $(jq -r 'to_entries[] | select(.value.server == "cfg") | .key' "$cases"); do check "$n"; done
    # metadata and status, field by field
    "$client" "127.0.0.1:$gport" metadata "$fx/metadata_mlp.pb" >"$tmp/md.json"
    if holds "$tmp/md.json" '.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap" and .signature_key == "serving_default" and
        .signature.method_name == "tensorflow/serving/predict" and .model_spec.name == "mlp" and
        .signature.inputs == {"x": {"name": "x:0", "dtype": "DT_FLOAT", "shape": [-1, 4]}} and
        .signature.outputs == {"y": {"name": "y:0", "dtype": "DT_FLOAT", "shape": [-1, 3]}}'; then ok
    else bad "metadata mlp: $(cat "$tmp/md.json")"; fi
    "$client" "127.0.0.1:$gport" metadata "$fx/metadata_pair.pb" >"$tmp/md.json"
    if holds "$tmp/md.json" '(.signature.inputs | keys) == ["a", "b"] and (.signature.outputs | keys) == ["prod", "sum"] and
        .signature.inputs.a.shape == [-1, 3]'; then ok; else bad "metadata pair: $(cat "$tmp/md.json")"; fi
    "$client" "127.0.0.1:$gport" status "$fx/status_mlp.pb" >"$tmp/st.json"
    if holds "$tmp/st.json" '.versions | map(select(.state == "AVAILABLE" and .error_code == 0) | .version) | sort == [1, 2]'; then ok
    else bad "status mlp: $(cat "$tmp/st.json")"; fi
    "$client" "127.0.0.1:$gport" status "$fx/status_label_canary.pb" >"$tmp/st.json"
    if holds "$tmp/st.json" '.versions | map(.version) == [2]'; then ok; else bad "status by label: $(cat "$tmp/st.json")"; fi
    # the answering ModelSpec: name, version, the signature's name (Predict, Classify); "" for metadata, as TF Serving
    for n in predict_label_stable:1:serving_default classify_mlp:2:serving_default regress_lin:1:serving_default metadata_label_stable:1:; do
        f=${n%%:*} rest=${n#*:}
        "$client" "127.0.0.1:$gport" "$(jq -r ".$f.rpc" "$cases")" "$fx/$f.pb" >"$tmp/res.json"
        if holds "$tmp/res.json" ".model_spec.version == ${rest%%:*} and .model_spec.signature_name == \"${rest#*:}\" and
            (.model_spec.name | IN(\"mlp\", \"lin\"))"; then ok; else bad "$f model_spec: $(head -c 300 "$tmp/res.json")"; fi
    done
    # a method not served: UNIMPLEMENTED at once (not a call left waiting for its deadline)
    "$client" "127.0.0.1:$gport" multiinference "$fx/predict_latest.pb" >"$tmp/res.json"
    if holds "$tmp/res.json" '.code == 12 and (.message | test("MultiInference"))'; then ok; else bad "MultiInference: $(cat "$tmp/res.json")"; fi
    # REST beside gRPC on the same server, and gRPC's requests in the same metrics
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' --data-binary '{"instances": [[1,2,3,4]]}' "http://127.0.0.1:$port/v1/models/mlp:predict")
    if [ "$code" = 200 ]; then ok; else bad "REST beside gRPC: HTTP $code"; fi
    curl -s -o "$tmp/metrics" "http://127.0.0.1:$port/monitoring/prometheus/metrics"
    okn=$(sed -n 's/^kiln_serve_request_count{model_name="mlp",status="OK"} //p' "$tmp/metrics")
    errn=$(sed -n 's/^kiln_serve_request_count{model_name="mlp",status="error"} //p' "$tmp/metrics")
    # mlp: 6 predicts and 3 classifies answered by gRPC (the cases), 2 by the model_spec checks, + 1 REST predict;
    # errors: every err_ predict / classify / regress naming mlp that reached a model
    if [ "${okn:-0}" = 12 ] && [ "${errn:-0}" -ge 10 ]; then ok; else bad "metrics: $okn OK, $errn errors"; fi
    # bad --grpc_port values; a port in use (this server's) is refused, not shared
    if "$kiln" serve --model_config_file "$tmp/models.config" --grpc_port 70000 >"$tmp/out" 2>&1; then bad "--grpc_port 70000 accepted"
    elif grep -q "grpc_port" "$tmp/out"; then ok; else bad "--grpc_port 70000: $(cat "$tmp/out")"; fi
    if timeout 60 "$kiln" serve --model_config_file "$tmp/models.config" --port 0 --grpc_port "$gport" --file_system_poll_wait_seconds 0 >"$tmp/out" 2>&1; then
        bad "a second server on gRPC port $gport started"
    elif grep -q "cannot listen" "$tmp/out"; then ok; else bad "port in use: $(cat "$tmp/out")"; fi
    kill -TERM $pid
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 $pid 2>/dev/null; then bad "SIGTERM: still running after 5 s"; else wait $pid; rc=$?; [ $rc = 0 ] && ok || bad "SIGTERM: exit $rc"; fi
fi

# hot swap under gRPC load: 4 clients call back to back while version 2 replaces 1
mkdir -p "$tmp/swap/mlp" && cp -r "$src/tests/serve/mlp/1" "$tmp/swap/mlp/"
if start swap --model_name mlp --model_base_path "$tmp/swap/mlp" --file_system_poll_wait_seconds 1; then
    "$client" --load 4 4 "127.0.0.1:$gport" predict "$fx/predict_latest.pb" >"$tmp/load.json" &
    loader=$!
    sleep 0.5
    cp -r "$src/tests/serve/mlp/2" "$tmp/swap/v2.tmp" && mv "$tmp/swap/v2.tmp" "$tmp/swap/mlp/2"
    i=0
    while [ $i -lt 200 ]; do
        "$client" "127.0.0.1:$gport" predict "$fx/predict_latest.pb" >"$tmp/res.json" 2>/dev/null
        holds "$tmp/res.json" '.model_spec.version == 2' && break
        sleep 0.1
        i=$((i + 1))
    done
    wait $loader
    if holds "$tmp/load.json" '.requests > 0 and .errors == 0 and .transport_failures == 0'; then ok
        echo "hot swap under gRPC load: $(cat "$tmp/load.json")"
    else bad "hot swap under gRPC load: $(cat "$tmp/load.json")"; fi
    check predict_latest # now answered by version 2
    kill -TERM $pid
fi

# batching: 16 concurrent one-row gRPC calls merge into fewer calls, each answer its own row
cat >"$tmp/batching.txt" <<'B'
max_batch_size { value: 8 }
batch_timeout_micros { value: 300000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 1 }
allowed_batch_sizes: 2
allowed_batch_sizes: 4
allowed_batch_sizes: 8
B
mkdir -p "$tmp/bmodels/mlp" && cp -r "$src/tests/serve/mlp/1" "$tmp/bmodels/mlp/"
if start batch --model_name mlp --model_base_path "$tmp/bmodels/mlp" --enable_batching --batching_parameters_file "$tmp/batching.txt" \
    --file_system_poll_wait_seconds 0; then
    # a call alone in flight runs at once (docs/serving.md), so the calls below are
    # made while a REST body of 300k instances is being parsed (an escape keeps it
    # off the numeric fast path: jansson takes seconds) and they queue
    jq -nc '{signature_name: "serving_default", instances: [range(300000) | [1, 2, 3, 4]]}' |
        sed 's/serving_default/serving\\u005fdefault/' >"$tmp/100k.json"
    big_in_flight() {
        curl -s -o "$tmp/big.out" --data-binary @"$tmp/100k.json" "http://127.0.0.1:$port/v1/models/mlp:predict" &
        big=$!
        i=0 # until it is in flight (its body read, its parse under way)
        until [ $i -ge 100 ] || curl -s "http://127.0.0.1:$port/monitoring/prometheus/metrics" |
            grep -q '^kiln_serve_requests_in_flight{model_name="mlp"} 1$'; do sleep 0.02; i=$((i + 1)); done
    }
    big_in_flight
    k=0 clients="$big"
    while [ $k -lt 16 ]; do
        "$client" "127.0.0.1:$gport" predict "$fx/predict_row$((k % 3)).pb" >"$tmp/b$k.json" 2>&1 &
        clients="$clients $!"
        k=$((k + 1))
    done
    for p in $clients; do wait "$p"; done
    k=0 good=0
    while [ $k -lt 16 ]; do
        cp "$tmp/b$k.json" "$tmp/res.json"
        d=$(jq -n --slurpfile a "$tmp/res.json" --slurpfile c "$cases" --arg n "predict_row$((k % 3))" \
            '[$a[0].outputs.y.values, $c[0][$n].outputs.y.values] | transpose | map((.[0] - .[1]) | fabs) | max' 2>/dev/null)
        if [ -n "$d" ] && [ "$d" != null ] && jq -n "$d < 1e-4" | grep -q true; then good=$((good + 1)); fi
        k=$((k + 1))
    done
    if [ $good = 16 ]; then ok; else bad "gRPC batching: $good of 16 answers right"; cat "$tmp/b0.json"; fi
    curl -s -o "$tmp/metrics" "http://127.0.0.1:$port/monitoring/prometheus/metrics"
    calls=$(sed -n 's/^kiln_serve_batch_size_count{model_name="mlp"} //p' "$tmp/metrics")
    rows=$(sed -n 's/^kiln_serve_batch_size_sum{model_name="mlp"} //p' "$tmp/metrics")
    if [ "${rows:-0}" = 300016 ] && [ "${calls:-99}" -lt 17 ]; then ok; echo "gRPC batching: 16 calls (and the big REST one) ran as $calls model calls"
    else bad "gRPC batching: $calls model calls for $rows rows"; fi
    # gRPC and REST calls for one version share its batcher: 8 of each at once
    big_in_flight
    k=0 clients="$big"
    while [ $k -lt 8 ]; do
        "$client" "127.0.0.1:$gport" predict "$fx/predict_row0.pb" >"$tmp/m$k.json" 2>&1 &
        clients="$clients $!"
        curl -s -o "$tmp/r$k.json" --data-binary '{"instances": [[1, 2, 3, 4]]}' "http://127.0.0.1:$port/v1/models/mlp:predict" &
        clients="$clients $!"
        k=$((k + 1))
    done
    for p in $clients; do wait "$p"; done
    k=0 good=0
    while [ $k -lt 8 ]; do
        holds "$tmp/m$k.json" '.code == 0 and (.outputs.y.values | length) == 3' && holds "$tmp/r$k.json" '.predictions | length == 1' &&
            good=$((good + 1))
        k=$((k + 1))
    done
    curl -s -o "$tmp/metrics" "http://127.0.0.1:$port/monitoring/prometheus/metrics"
    calls2=$(sed -n 's/^kiln_serve_batch_size_count{model_name="mlp"} //p' "$tmp/metrics")
    rows2=$(sed -n 's/^kiln_serve_batch_size_sum{model_name="mlp"} //p' "$tmp/metrics")
    if [ $good = 8 ] && [ "${rows2:-0}" = 600032 ] && [ $((${calls2:-99} - ${calls:-0})) -lt 17 ]; then ok
        echo "REST + gRPC batching: 8 + 8 calls ran as $((calls2 - calls)) model calls"
    else bad "REST + gRPC batching: $good of 8 pairs answered, $((${calls2:-99} - ${calls:-0})) model calls for $((${rows2:-0} - ${rows:-0})) rows"; fi
    # a lone gRPC client is not held for batch_timeout_micros (0.3 s here): one
    # client calling back to back for 1.5 s gets far more than the 5 answers
    # it would get if each call waited for the timeout
    "$client" --load 1 1.5 "127.0.0.1:$gport" predict "$fx/predict_row0.pb" >"$tmp/lone.json" 2>&1
    n=$(jq -r '.requests' "$tmp/lone.json" 2>/dev/null)
    e=$(jq -r '.errors' "$tmp/lone.json" 2>/dev/null)
    if [ "${n:-0}" -gt 20 ] 2>/dev/null && [ "$e" = 0 ]; then ok; echo "lone gRPC call under batching: $n calls in 1.5 s"
    else bad "lone gRPC call under batching: ${n:-?} calls in 1.5 s (errors ${e:-?}): held for the batch timeout"; cat "$tmp/lone.json"; fi
    kill -TERM $pid
fi

echo "serve_grpc: $passes passed, $fails failed"
[ $fails = 0 ]
