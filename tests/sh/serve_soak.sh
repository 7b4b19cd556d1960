#!/bin/sh
# kiln serve under load while versions change (issue 16's soak): wrk with 32
# connections for KILN_SOAK_SECONDS (default 60) against the MLP while a new
# version (alternately version 1's and version 2's weights) is dropped into
# the base path every 10 s, policy latest { num_versions: 2 }.  Passes when
# no request fails, every answer is byte-equal to one of the two versions'
# answers, and the server's resident memory grows by less than 64 MiB from
# its first version to the end.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
secs=${KILN_SOAK_SECONDS:-60}
tmp=$(mktemp -d)
export XDG_CACHE_HOME="$tmp/xdg" # the default compile cache ($XDG_CACHE_HOME/kiln), not the user's
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for t in curl wrk; do command -v $t >/dev/null || { echo "FAIL: $t is missing (tools/install-deps.sh installs it)"; exit 1; }; done
base="$tmp/models/mlp"
mkdir -p "$base"
cp -r "$src/tests/serve/mlp/1" "$src/tests/serve/mlp/2" "$base/"
cat >"$tmp/config" <<CFG
model_config_list { config { name: 'mlp' base_path: '$base' model_version_policy { latest { num_versions: 2 } } } }
CFG
"$kiln" serve --model_config_file "$tmp/config" --port 0 --port_file "$tmp/port" --file_system_poll_wait_seconds 1 >"$tmp/log" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/port" ] || { echo "FAIL: server did not start"; cat "$tmp/log"; exit 1; }
port=$(cat "$tmp/port")
url="http://127.0.0.1:$port/v1/models/mlp"
body='{"instances": [[1, 2, 3, 4]]}'
SOAK_A=$(curl -s -d "$body" "$url/versions/1:predict")
SOAK_B=$(curl -s -d "$body" "$url/versions/2:predict")
export SOAK_A SOAK_B
case "$SOAK_A$SOAK_B" in *error*|"") echo "FAIL: no answers to compare with: $SOAK_A $SOAK_B"; exit 1 ;; esac
[ "$SOAK_A" != "$SOAK_B" ] || { echo "FAIL: the two versions answer alike"; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' /proc/$pid/status; }
rss0=$(rss)
wrk -t2 -c32 -d"${secs}s" -s "$src/tests/serve/soak.lua" "$url:predict" >"$tmp/wrk.txt" 2>&1 &
wrkpid=$!
v=3 t=0
while [ $((t + 10)) -lt "$secs" ]; do
    sleep 10
    t=$((t + 10))
    src_v=$(( (v % 2) == 1 ? 1 : 2 ))
    cp -r "$src/tests/serve/mlp/$src_v" "$tmp/models/new" && mv "$tmp/models/new" "$base/$v"
    v=$((v + 1))
done
wait $wrkpid
rss1=$(rss)
status=$(curl -s "$url")
kill -TERM $pid
wait $pid
rc=$?
pid=""
cat "$tmp/wrk.txt" | grep -E "^soak:|Requests/sec"
fails=0
grep -q "^soak: [1-9][0-9]* responses, 0 bad, 0 socket errors" "$tmp/wrk.txt" || { echo "FAIL: failed or foreign answers"; fails=1; }
loaded=$(grep -c "available" "$tmp/log")
echo "soak: $((v - 3)) versions dropped in, $loaded loads, now $(echo "$status" | tr -d '\n' | head -c 300)"
grep -q '"version":"'$((v - 1))'","state":"AVAILABLE"' <<EOF2 || { echo "FAIL: the newest version $((v - 1)) is not available"; fails=1; }
$status
EOF2
grow=$(( (rss1 - rss0) / 1024 ))
echo "soak: resident memory $((rss0 / 1024)) MiB -> $((rss1 / 1024)) MiB"
[ $grow -lt 64 ] || { echo "FAIL: memory grew by $grow MiB (bound 64)"; fails=1; }
[ $rc = 0 ] || { echo "FAIL: server exit $rc"; fails=1; }
[ $fails = 0 ] && echo "serve_soak: passed"
[ $fails = 0 ]
