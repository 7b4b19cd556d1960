#!/bin/sh
# kiln viz in headless Chromium (no JS errors, kernels and buffers in the DOM,
# a screenshot in the build dir), kiln run --profile / --profile-json (every
# kernel, JSON parses) and kiln bench (its fields).  No timing thresholds.
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
m="$src/tests/fixtures/model_lenet"

# ---- viz
"$kiln" viz "$m/model.pb" -o "$tmp/lenet.html" >"$tmp/viz.txt" 2>&1 || { bad "kiln viz"; cat "$tmp/viz.txt"; }
grep -q 'http' "$tmp/lenet.html" && grep -Eq '(src|href)="https?:' "$tmp/lenet.html" && bad "viz page loads from the network"
"$kiln" viz "$m/model.pb" --after fuse -o "$tmp/fuse.html" >/dev/null 2>&1 || bad "kiln viz --after fuse"
"$kiln" viz "$m/model.pb" --profile --iters 3 -o "$tmp/prof.html" >/dev/null 2>&1 || bad "kiln viz --profile"
grep -q 'id="profile"' "$tmp/prof.html" || bad "viz --profile page has no profile section"
"$kiln" viz "$m/model.pb" --after nosuchpass -o "$tmp/x.html" 2>"$tmp/err" && bad "viz --after nosuchpass succeeded"
grep -q "unknown pass" "$tmp/err" || bad "viz --after nosuchpass: no 'unknown pass' message"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    echo "SKIP: chromium not installed: the viz page was not checked in a browser"
else
    flags="--headless --no-sandbox --disable-gpu --window-size=1400,900 --virtual-time-budget=3000"
    timeout 120 "$chromium" $flags --dump-dom "file://$tmp/lenet.html" >"$tmp/dom.html" 2>/dev/null
    grep -q '<span id="js-status">ok</span>' "$tmp/dom.html" || bad "viz page: JS did not finish (js-status not ok)"
    grep -q '<pre id="js-errors"></pre>' "$tmp/dom.html" || { bad "viz page: JS errors"; grep -A3 'js-errors' "$tmp/dom.html"; }
    n_k=$(grep -o 'id="k[0-9]*" class="cluster kernel"' "$tmp/dom.html" | wc -l)
    n_b=$(grep -o 'class="buf[ a-z]*" id="[bs][0-9]*"' "$tmp/dom.html" | wc -l)
    [ "$n_k" -eq 8 ] || bad "viz page: $n_k kernel clusters in the DOM, want 8"
    [ "$n_b" -ge 8 ] || bad "viz page: $n_b buffers in the arena map, want >= 8"
    grep -q 'sequential_1/conv2d_1/Relu' "$tmp/dom.html" || bad "viz page: kernel name missing"
    # search by name (page.html#q=TEXT runs the search box): the count shown is the nodes highlighted
    timeout 120 "$chromium" $flags --dump-dom "file://$tmp/lenet.html#q=conv2d_1" >"$tmp/sdom.html" 2>/dev/null
    n_hit=$(grep -o 'class="node irnode hit"' "$tmp/sdom.html" | wc -l)
    grep -q "<span id=\"hits\">$n_hit matches</span>" "$tmp/sdom.html" && [ "$n_hit" -ge 2 ] ||
        bad "viz search 'conv2d_1': $n_hit nodes highlighted, page says $(grep -o '<span id="hits">[^<]*' "$tmp/sdom.html")"
    grep -q '<div id="info">[^<]*sequential_1/conv2d_1' "$tmp/sdom.html" || bad "viz search: first match not shown"
    timeout 120 "$chromium" $flags --dump-dom "file://$tmp/lenet.html#q=nosuchname" >"$tmp/sdom.html" 2>/dev/null
    grep -q '<span id="hits">0 matches</span>' "$tmp/sdom.html" && ! grep -q 'irnode hit' "$tmp/sdom.html" ||
        bad "viz search for a missing name highlights something"
    timeout 120 "$chromium" $flags --screenshot="$build/viz_lenet.png" "file://$tmp/lenet.html" >/dev/null 2>&1
    [ -s "$build/viz_lenet.png" ] || bad "no screenshot written"
    # viz --profile: each kernel's cluster is filled by its share of the run time (white -> red at 25%),
    # labelled with the share; the table's shares sum to 100%; the slowest kernel is the reddest
    timeout 120 "$chromium" $flags --dump-dom "file://$tmp/prof.html" >"$tmp/pdom.html" 2>/dev/null
    grep -q '<span id="js-status">ok</span>' "$tmp/pdom.html" || bad "viz --profile page: JS did not finish"
    grep -q '<pre id="js-errors"></pre>' "$tmp/pdom.html" || bad "viz --profile page: JS errors"
    grep -q 'coloured by share of run time' "$tmp/pdom.html" || bad "viz --profile page: no share legend"
    if command -v python3 >/dev/null; then
        python3 - "$tmp/pdom.html" <<'PY' || bad "viz --profile page: kernel colours do not follow the profile"
import re, sys
dom = open(sys.argv[1]).read()
clusters = {int(k): (fill, float(pct)) for k, fill, pct in re.findall(
    r'<g id="k(\d+)" class="cluster kernel">.*?<path fill="(#[0-9a-f]{6})".*?<text[^>]*>[^<]*?([0-9.]+)%</text>', dom, re.S)}
rows = {int(k): (float(sh), fill) for k, sh, fill in re.findall(r'<tr id="kt-k(\d+)" data-k="\d+" data-share="([0-9.]+)" data-fill="(#[0-9a-f]{6})"', dom)}
assert len(clusters) == 8 and sorted(rows) == sorted(clusters) == list(range(8)), (sorted(clusters), sorted(rows))
assert abs(sum(sh for sh, _ in rows.values()) - 1) < 1e-3, "shares do not sum to 1"
def heat(share):
    t = 0 if share <= 0 else min(share / 0.25, 1)
    return (255, int(250 - 190 * t), int(240 - 210 * t))
for k, (fill, pct) in clusters.items():
    share, row_fill = rows[k]
    assert fill == row_fill, (k, fill, row_fill)
    rgb = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
    assert all(abs(a - b) <= 1 for a, b in zip(rgb, heat(share))), (k, fill, share)
    assert abs(pct - 100 * share) <= 0.051, (k, pct, share)
hot = max(rows, key=lambda k: rows[k][0])
assert int(clusters[hot][0][3:5], 16) == min(int(f[3:5], 16) for f, _ in clusters.values()), "slowest kernel is not the reddest"
print("viz --profile DOM: 8 kernels, fills follow shares (max %.1f%% kernel %d)" % (100 * rows[hot][0], hot))
PY
    fi
    timeout 120 "$chromium" $flags --screenshot="$build/viz_lenet_profile.png" "file://$tmp/prof.html" >/dev/null 2>&1
    [ -s "$build/viz_lenet_profile.png" ] || bad "no profile screenshot written"
fi

# ---- run --profile
"$kiln" run "$m/model.pb" --feed t="$m/in_0.npy" --fetch Identity --out-dir "$tmp/o" --profile --iters 3 \
    --profile-json "$tmp/p.json" >"$tmp/prof.txt" 2>&1 || { bad "kiln run --profile"; cat "$tmp/prof.txt"; }
rows=$(grep -cE '^ +[0-9]+  ' "$tmp/prof.txt")
[ "$rows" -eq 8 ] || { bad "profile table has $rows kernel rows, want 8"; cat "$tmp/prof.txt"; }
grep -q 'GFLOP/s' "$tmp/prof.txt" || bad "profile table has no GFLOP/s column"
[ -s "$tmp/o/Identity.npy" ] || bad "kiln run --profile wrote no fetch"
if command -v python3 >/dev/null; then
    python3 -c "
import json,sys
d=json.load(open('$tmp/p.json'))
assert len(d['kernels'])==8, len(d['kernels'])
assert sorted(k['index'] for k in d['kernels'])==list(range(8))
for k in d['kernels']:
    for f in ('name','kind','ops','flops','bytes','seconds','share','gflops','gbps','peak_pct'): assert f in k, f
assert abs(sum(k['share'] for k in d['kernels'])-1)<1e-3
" || bad "profile JSON malformed"
fi
# compile --profile: the header declares the profiling entry
"$kiln" compile "$m/model.pb" --feed t --fetch Identity -o "$tmp/l.o" --header "$tmp/l.h" --prefix lenet --profile >/dev/null 2>&1 ||
    bad "kiln compile --profile"
grep -q 'lenet_run_profile' "$tmp/l.h" && grep -q 'LENET_PROFILE_KERNELS 8' "$tmp/l.h" || bad "header lacks the profiling entry"
"$kiln" compile "$m/model.pb" --feed t --fetch Identity -o "$tmp/n.o" --header "$tmp/n.h" --prefix lenet >/dev/null 2>&1
grep -q 'run_profile' "$tmp/n.h" && bad "profiling entry without --profile"
nm "$tmp/n.o" | grep -q run_profile && bad "object has a profiling entry without --profile"

# ---- bench
"$kiln" bench "$m/model.pb" --iters 20 >"$tmp/bench.txt" 2>&1 || { bad "kiln bench"; cat "$tmp/bench.txt"; }
for f in median_us mean_us min_us p10_us p90_us max_us mad_us; do
    grep -Eq "^$f [0-9.]+$" "$tmp/bench.txt" || bad "bench lacks $f"
done
[ $fails -eq 0 ] && echo "viz_profile: all passed" || exit 1
