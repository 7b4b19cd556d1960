#!/bin/sh
# ONNX through the CLI like the GraphDef path: format detected from content
# (even under a .pb name), feeds and fetches defaulting to the graph's
# declared inputs and outputs, ONNX TensorProto files accepted as feeds.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
data=/usr/include/onnx/backend/test/data/node/test_add
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1"; fails=$((fails + 1)); fi; }
[ -d "$data" ] || { echo "FAIL: $data missing (tools/install-deps.sh installs libonnx-testdata)"; exit 1; }
cp "$data/model.onnx" "$tmp/renamed.pb"
"$kiln" run "$tmp/renamed.pb" --feed x="$data/test_data_set_0/input_0.pb" --feed y="$data/test_data_set_0/input_1.pb" \
    --out-dir "$tmp/out" >"$tmp/run.txt" 2>&1
check "run writes out/<output>.npy" '[ -s "$tmp/out/sum.npy" ] && grep -q "^sum: f32\[3,4,5\]" "$tmp/run.txt"'
"$kiln" run "$data/model.onnx" >/dev/null 2>"$tmp/err.txt"
check "missing feeds are named" 'grep -q "give each as --feed NAME=FILE: x y" "$tmp/err.txt"'
"$kiln" compile "$data/model.onnx" -o "$tmp/add.o" --header "$tmp/add.h" --prefix add >/dev/null 2>&1
check "compile writes object and header" 'grep -q "int add_run(const float \*x, const float \*y, float \*sum, void \*temp);" "$tmp/add.h" && [ -s "$tmp/add.o" ]'
"$kiln" compile /usr/include/onnx/backend/test/data/node/test_nonmaxsuppression_center_point_box_format/model.onnx -o "$tmp/n.o" 2>"$tmp/u.txt"
check "unsupported ONNX op named" 'grep -q "unsupported op NonMaxSuppression" "$tmp/u.txt"'
# the broken-model corpus (tools/make_bad_corpus.py): each .txt names the kiln
# command and the words the error must contain; the exit must be non-zero
# but not a signal, and every stderr line a "kiln: " line naming the file.
for f in "$src"/tests/corpus/bad_onnx/*.onnx; do
    read -r cmd want <"${f%.onnx}.txt"
    name=$(basename "$f")
    if [ "$cmd" = run ]; then out="--out-dir $tmp/b"; else out="-o $tmp/b.o"; fi
    # shellcheck disable=SC2086
    "$kiln" "$cmd" "$f" $out >/dev/null 2>"$tmp/b.txt"
    rc=$?
    check "corpus $name: exit $rc (want 1..127)" '[ $rc -ne 0 ] && [ $rc -lt 128 ]'
    check "corpus $name: message '$want'" 'grep -F -- "$want" "$tmp/b.txt" | grep -qF "$name"'
    check "corpus $name: only kiln: lines" '! grep -v "^kiln: " "$tmp/b.txt" | grep -q .'
done
# TopK's k is a graph input: kiln run specializes on it, compile takes --bind
tk=/usr/include/onnx/backend/test/data/node/test_top_k
"$kiln" run "$tk/model.onnx" --feed x="$tk/test_data_set_0/input_0.pb" --feed k="$tk/test_data_set_0/input_1.pb" \
    --out-dir "$tmp/tk" >"$tmp/tk.txt" 2>&1
check "run specializes on a feed needed as a constant" 'grep -q "specialized on the values" "$tmp/tk.txt" && grep -q "^indices: i64\[3,3\] min 1 max 3 mean 2" "$tmp/tk.txt"'
"$kiln" compile "$tk/model.onnx" --bind k="$tk/test_data_set_0/input_1.pb" -o "$tmp/tk.o" --header "$tmp/tk.h" --prefix tk >/dev/null 2>&1
check "compile --bind keeps the feed in the signature" 'grep -q "int tk_run(const float \*x, const int64_t \*k, float \*values, int64_t \*indices, void \*temp);" "$tmp/tk.h"'
"$kiln" compile "$tk/model.onnx" --bind k="$data/test_data_set_0/input_0.pb" -o "$tmp/tk2.o" 2>"$tmp/tk2.txt"
check "a bound value of the wrong type is refused" 'grep -q "bound to a value of" "$tmp/tk2.txt"'
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
