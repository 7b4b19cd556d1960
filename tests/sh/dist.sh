#!/bin/sh
# Distributed execution over Open MPI on loopback (docs/distributed.md):
# pipeline splits of the ResNet-style and transformer fixtures over 2 and 3
# ranks bit-identical to one process, a graph placed by its own device
# fields, micro-batched pipelines, placement errors, mismatched objects, a
# rank that stalls (timeout naming the key), a rank whose connections close
# and a rank killed with SIGKILL (the others end in < 5 s).
set -u
src=$1 build=$2
kiln="$build/bin/kiln"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
if ! command -v mpirun >/dev/null 2>&1; then
    echo "FAIL: mpirun not found: install Open MPI (tools/install-deps.sh: openmpi-bin, libopenmpi-dev)"
    exit 1
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { timeout 120 mpirun --oversubscribe "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

# args_of FIXTURE: its --feed/--fetch options
args_of() {
    fx=$src/tests/fixtures/$1
    sed -n "s|^feed \([^ ]*\) \(.*\)|--feed \1=$fx/\2|p; s|^fetch \([^ ]*\) .*|--fetch \1|p" "$fx/fixture.txt" | tr '\n' ' '
}

for m in model_resnet_small model_transformer; do
    fx=$src/tests/fixtures/$m
    a=$(args_of $m)
    # shellcheck disable=SC2086
    if ! "$kiln" run "$fx/model.pb" $a --out-dir "$tmp/$m.ref" >"$tmp/ref.log" 2>&1; then bad "$m: one process"; cat "$tmp/ref.log"; continue; fi
    for n in 2 3; do
        # shellcheck disable=SC2086
        if mpi -np $n "$kiln" run "$fx/model.pb" $a --split $n --out-dir "$tmp/$m.$n" >"$tmp/run.log" 2>&1 &&
            cmp -s "$tmp/$m.ref/Identity.npy" "$tmp/$m.$n/Identity.npy"; then ok; echo "ok: $m --split $n: bit-identical to one process"
        else bad "$m --split $n (mpirun -np $n): not bit-identical or failed"; cat "$tmp/run.log"; fi
    done
done

# a --place rule cutting inside the transformer (the rest inherits its task)
fx=$src/tests/fixtures/model_transformer
if mpi -np 2 "$kiln" run "$fx/model.pb" $(args_of model_transformer) --place 'SquaredDifference_2*=1' --tasks 2 --out-dir "$tmp/pl" >"$tmp/run.log" 2>&1 &&
    cmp -s "$tmp/model_transformer.ref/Identity.npy" "$tmp/pl/Identity.npy"; then ok; echo "ok: transformer --place: bit-identical"
else bad "transformer --place"; cat "$tmp/run.log"; fi

# micro-batches (--micro-batches 5: the MLP's 100 rows as 5 x 20, streamed through 2 stages; the last task writes y_out)
T=$src/tests/train
cp -r "$T/ref/init" "$tmp/mlp_init" # kiln run --state writes the state back
if "$kiln" run "$T/ref/mlp.pb" --state "$tmp/mlp_init" --feed x="$T/x.npy" --fetch y_out --out-dir "$tmp/mb1" >"$tmp/run.log" 2>&1 &&
    mpi -np 2 "$kiln" run "$T/ref/mlp.pb" --state "$tmp/mlp_init" --feed x="$T/x.npy" --fetch y_out --split 2 --micro-batches 5 \
        --out-dir "$tmp/mb2" >>"$tmp/run.log" 2>&1 && cmp -s "$tmp/mb1/y_out.npy" "$tmp/mb2/y_out.npy"; then
    ok; echo "ok: MLP --split 2 --micro-batches 5: bit-identical to one process"
else bad "MLP --split 2 --micro-batches 5"; cat "$tmp/run.log"; fi

# runtime/dist.c without MPI: a stub whose calls fail saying so
printf '#include <stdio.h>\n#include "kiln/dist.h"\nint main(int c, char **v) { int rc = kiln_rt_dist_init(&c, &v); puts(kiln_rt_dist_error()); return rc != -1; }\n' >"$tmp/stub.c"
if cc -std=c11 -D_GNU_SOURCE -I"$src/include" "$tmp/stub.c" "$src/runtime/dist.c" -o "$tmp/stub" 2>"$tmp/cc.log" &&
    "$tmp/stub" | grep -q "built without MPI: install Open MPI"; then ok; else bad "runtime stub without MPI"; cat "$tmp/cc.log"; fi

# NCCL for GPU buffers (runtime/nccl.c, loaded at run time): without libnccl the call fails saying so
printf '#include <stdio.h>\n#include "kiln/dist.h"\nint main(int c, char **v) { if (kiln_rt_dist_init(&c, &v)) return 2; int rc = kiln_rt_nccl_allreduce_f32(0, 4, 0); puts(kiln_rt_nccl_error()); kiln_rt_dist_finalize(); return rc != -1; }\n' >"$tmp/nccl.c"
if mpicc -I"$src/include" "$tmp/nccl.c" -L"$build/lib" -lkilnrt -lopenblas -lpthread -lm -ldl -o "$tmp/nccl" >"$tmp/cc.log" 2>&1 &&
    KILN_NCCL=libnccl-absent.so.2 mpi -np 1 "$tmp/nccl" >"$tmp/run.log" 2>&1 && grep -q "no NCCL for GPU buffers (libnccl-absent.so.2" "$tmp/run.log"; then ok
else bad "NCCL loader without NCCL"; cat "$tmp/cc.log" "$tmp/run.log"; fi

# objects: one per task (kiln compile --split 2 --task T) linked into a user program (tests/support/dist_host.c)
m=$src/tests/fixtures/model_resnet_small
for t in 0 1; do
    "$kiln" compile "$m/model.pb" --feed t --fetch Identity --split 2 --task $t -o "$tmp/task$t.o" --header "$tmp/task$t.h" --prefix task$t >"$tmp/c.log" 2>&1 || { bad "compile task $t"; cat "$tmp/c.log"; }
done
if mpicc -O1 -I"$tmp" -I"$src/include" "$src/tests/support/dist_host.c" "$tmp/task0.o" "$tmp/task1.o" -L"$build/lib" -lkilnrt -lopenblas -lpthread -lm \
        -o "$tmp/host" >"$tmp/cc.log" 2>&1 && grep -q "TASK1_DIST_TASKS 2" "$tmp/task1.h" &&
    mpi -np 2 "$tmp/host" "$m/in_0.npy" "$tmp/host.bin" >"$tmp/run.log" 2>&1 &&
    tail -c 80 "$tmp/model_resnet_small.ref/Identity.npy" | cmp -s - "$tmp/host.bin"; then ok; echo "ok: task objects in a user program: bit-identical"
else bad "task objects linked into a program"; cat "$tmp/cc.log" "$tmp/run.log"; fi

# the graph's own device fields (tools/gen_dist.py): /job:worker/task:0 and task:1
fx=$src/tests/fixtures/dist_devices
if mpi -np 2 "$kiln" run "$fx/model.pb" --feed t="$fx/in_0.npy" --fetch Identity --devices --out-dir "$tmp/dev" >"$tmp/run.log" 2>&1 &&
    cmp -s "$tmp/model_resnet_small.ref/Identity.npy" "$tmp/dev/Identity.npy"; then ok; echo "ok: device fields, 2 ranks: bit-identical"
else bad "device placement"; cat "$tmp/run.log"; fi
if "$kiln" dump "$fx/model.pb" --fetch Identity --devices --tasks 2 --task 1 --after=partition | grep -q " = recv "; then ok
else bad "device placement: task 1 has no recv"; fi

# expect_fail NAME SUBSTRING CMD...: exits non-zero, output has SUBSTRING
expect_fail() {
    name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then bad "$name: exit 0"; cat "$tmp/out"; return; fi
    if ! grep -qF -- "$want" "$tmp/out"; then bad "$name: output lacks '$want'"; cat "$tmp/out"; return; fi
    ok
}
m=$src/tests/fixtures/model_resnet_small/model.pb
part() { "$kiln" dump "$m" --fetch Identity --tasks 2 --after=partition "$@"; }
expect_fail no-match "the pattern 'nosuch*' matches no node" part --place 'nosuch*=1'
expect_fail out-of-range "task 7 is out of range (0..1 for 2 tasks)" part --place '*conv2d_5*=7'
expect_fail cycle "cycle between tasks: task 0 -> task 1 ('functional_1_1/conv2d_3_1/convolution' feeds 'functional_1_1/batch_normalization_1_2/batchnorm/add_1')" \
    part --place '*batch_normalization_1_2/batchnorm/add_1=1' --place '*=0'
expect_fail devices-count "the device fields name 2 tasks" mpi -np 3 "$kiln" run "$fx/model.pb" --feed t="$fx/in_0.npy" --fetch Identity --devices
expect_fail no-devices "no node the fetches need has a device field" part --devices
expect_fail ranks "the placement has 3 tasks but the job has 2 ranks" mpi -np 2 "$kiln" run "$m" --feed t="$fx/in_0.npy" --fetch Identity --split 3

# mismatched objects: the ranks compiled the model with different placements
expect_fail mismatch "were compiled from different graphs or placements" \
    mpi -np 1 "$kiln" run "$m" --feed t="$fx/in_0.npy" --fetch Identity --split 2 : \
        -np 1 "$kiln" run "$m" --feed t="$fx/in_0.npy" --fetch Identity --place '*dense*=1' --tasks 2

# a stuck peer: task 0 holds its first send; task 1 gives up after KILN_DIST_TIMEOUT naming the key
t0=$(now)
expect_fail timeout "task 1: waited 2.0 s for key 1 (node 'functional_1_1/re_lu_1_2/Relu' f32[2,16,16,16], 32768 bytes) from task 0" \
    env KILN_DIST_TIMEOUT=2 KILN_DIST_TEST_HOLD=0 timeout 120 mpirun --oversubscribe -np 2 "$kiln" run "$m" --feed t="$fx/in_0.npy" --fetch Identity --split 2
echo "timeout case: job over $(elapsed "$t0") s after start (deadline 2 s)"

# a rank that never starts its run (KILN_DIST_TEST_STALL: rank 1 sleeps before it): the start-up exchange times out
t0=$(now)
expect_fail never-starts "task 0: the start-up exchange of graph fingerprints did not complete within 2.0 s" \
    env KILN_DIST_TIMEOUT=2 KILN_DIST_TEST_STALL=1 timeout 120 mpirun --oversubscribe -np 2 "$kiln" run "$m" --feed t="$fx/in_0.npy" --fetch Identity --split 2
echo "never-starts case: job over $(elapsed "$t0") s after start (deadline 2 s)"

# micro-batch errors: a batch that does not divide, a scalar fetch
expect_fail mb-divide "the file's batch of 100 rows does not divide into 3 micro-batches" \
    "$kiln" run "$T/ref/mlp.pb" --state "$tmp/mlp_init" --feed x="$T/x.npy" --fetch y_out --micro-batches 3
expect_fail mb-scalar "fetch 'cost' is a scalar, not one row per batch element" \
    "$kiln" run "$T/ref/mlp.pb" --state "$tmp/mlp_init" --feed x="$T/x.npy" --feed y="$T/y.npy" --fetch cost --micro-batches 2

# a port closed: over the tcp BTL, rank 1 of 3 shuts down its connections to the others (KILN_DIST_TEST_CLOSE)
# and stays alive; the ranks waiting on it fail at the deadline naming the key
t0=$(now)
expect_fail port-closed "task 2: waited 2.0 s for key 2 (node 'functional_1_1/re_lu_2_1/Relu' f32[2,16,16,16], 32768 bytes) from task 1" \
    env KILN_DIST_TIMEOUT=2 KILN_DIST_TEST_CLOSE=1 timeout 120 mpirun --oversubscribe --mca btl tcp,self -np 3 "$kiln" run "$m" \
        --feed t="$fx/in_0.npy" --fetch Identity --split 3
grep -q "task 1 shut down [1-9][0-9]* connections" "$tmp/out" || bad "port-closed: the hook closed no connection"
echo "port-closed case: job over $(elapsed "$t0") s after start (deadline 2 s)"

# a rank killed mid-run: the others end within 5 s, naming what they waited on
rm -f "$tmp"/pid.*
KILN_DIST_TEST_HOLD=0 timeout 120 mpirun --oversubscribe -np 3 sh -c 'echo $$ >"$1/pid.$OMPI_COMM_WORLD_RANK"; shift; exec "$@"' sh "$tmp" \
    "$kiln" run "$m" --feed t="$fx/in_0.npy" --fetch Identity --split 3 >"$tmp/kill.log" 2>&1 &
job=$!
for _ in $(seq 100); do [ -s "$tmp/pid.1" ] && [ -s "$tmp/pid.2" ] && break; sleep 0.1; done
# rank 0 holds its send (past the start-up exchange); ranks 1 and 2 wait in their receives
for _ in $(seq 600); do grep -q "task 0 holds key 0" "$tmp/kill.log" && break; sleep 0.1; done
sleep 0.5
t0=$(now)
kill -9 "$(cat "$tmp/pid.1")"
wait $job
rc=$?
dt=$(elapsed "$t0")
echo "SIGKILL case: rank 1 killed, job over after $dt s (exit $rc)"
if [ $rc -ne 0 ] && [ "$(echo "$dt < 5" | bc)" = 1 ] && grep -q "rank 1 .*exited on signal 9" "$tmp/kill.log" &&
    grep -q "while task 2 was waiting for key 2 (node 'functional_1_1/re_lu_2_1/Relu'" "$tmp/kill.log"; then ok
else bad "SIGKILL: rc $rc after $dt s"; cat "$tmp/kill.log"; fi

# data-parallel and parameter-server training, 50 steps: N ranks on B/N rows each match one process on B (rtol 1e-5)
cc -O2 -std=c11 "$src/tests/support/npy_close.c" -lm -o "$tmp/npy_close"
# dp NAME MODEL MODE NP FEEDS...: init, one process 50 steps, NP ranks 50 steps, compare every variable
dp() {
    name=$1 model=$2 mode=$3 np=$4 fetch=$5
    shift 5
    st=$tmp/dp_$name
    if [ ! -d "$st.init" ]; then
        "$kiln" run "$model" --state "$st.init" --fetch init_all_vars_op >/dev/null 2>&1 || { bad "$name: init"; return; }
        cp -r "$st.init" "$st.one"
        "$kiln" run "$model" --state "$st.one" "$@" --out-dir "$tmp/o" --fetch "$fetch" --target train --steps 50 >/dev/null 2>&1 || { bad "$name: one process"; return; }
    fi
    rm -rf "$st.$np" && cp -r "$st.init" "$st.$np"
    if ! mpi -np "$np" "$kiln" run "$model" --state "$st.$np" "$@" --out-dir "$tmp/o" --fetch "$fetch" --target train --steps 50 "$mode" >"$tmp/dp.log" 2>&1; then
        bad "$name: $np ranks"; cat "$tmp/dp.log"; return
    fi
    worst=0 n=0
    for f in "$st.one"/*.npy; do
        n=$((n + 1))
        e=$("$tmp/npy_close" "$st.$np/$(basename "$f")" "$f" 1 | sed 's/.*: //')
        worst=$(awk -v a="$e" -v b="$worst" 'BEGIN { print (a + 0 > b + 0) ? a : b }')
        "$tmp/npy_close" "$st.$np/$(basename "$f")" "$f" 1e-5 >/dev/null || { bad "$name: $np ranks: $(basename "$f") off by $e"; return; }
    done
    ok; echo "ok: $mode $name on $np ranks, 50 steps: $n variables within rtol 1e-5 of one process (max $worst)"
}
T=$src/tests/train
dp mlp "$T/ref/mlp.pb" --data-parallel=sum 2 cost --feed x="$T/x.npy" --feed y="$T/y.npy"
dp mlp "$T/ref/mlp.pb" --data-parallel=sum 4 cost --feed x="$T/x.npy" --feed y="$T/y.npy"
dp mlp_resource "$T/resource/mlp.pb" --data-parallel=sum 2 cost --feed x="$T/x.npy" --feed y="$T/y.npy"
dp lenet "$T/lenet/small/model.pb" --data-parallel 2 loss --feed x="$T/lenet/x.npy" --feed labels="$T/lenet/labels.npy"
# bucketed allreduce (--allreduce-bucket-bytes): the same state, byte for byte, as the one-call run on 2 ranks,
# one MPI_Allreduce per bucket per step (kiln run --time-steps: calls = steps x buckets)
# bucketed NAME DIR BYTES BUCKETS MODEL MODE FETCH FEEDS...
bucketed() {
    name=$1 ref=$2 bytes=$3 nb=$4 model=$5 mode=$6 fetch=$7
    shift 7
    st=$tmp/bk_$name
    rm -rf "$st" && cp -r "$tmp/dp_$name.init" "$st"
    if ! mpi -np 2 "$kiln" run "$model" --state "$st" "$@" --out-dir "$tmp/o" --fetch "$fetch" --target train --steps 50 "$mode" \
            --allreduce-bucket-bytes "$bytes" --time-steps >"$tmp/bk.log" 2>&1; then
        bad "$name: --allreduce-bucket-bytes $bytes"; cat "$tmp/bk.log"; return
    fi
    for f in "$ref"/*.npy; do
        cmp -s "$f" "$st/$(basename "$f")" || { bad "$name: --allreduce-bucket-bytes $bytes: $(basename "$f") differs from the one-call run"; return; }
    done
    calls=$(sed -n 's/.*rank 0: allreduce .* \([0-9]*\) calls.*/\1/p' "$tmp/bk.log")
    [ "$calls" = $((50 * nb)) ] || { bad "$name: $calls allreduce calls in 50 steps, not 50 x $nb buckets"; cat "$tmp/bk.log"; return; }
    ok; echo "ok: $name, $nb buckets (--allreduce-bucket-bytes $bytes), 2 ranks: state identical to the one-call run, $calls calls"
}
bucketed mlp "$tmp/dp_mlp.2" 1 4 "$T/ref/mlp.pb" --data-parallel=sum cost --feed x="$T/x.npy" --feed y="$T/y.npy"
bucketed mlp "$tmp/dp_mlp.2" 600 2 "$T/ref/mlp.pb" --data-parallel=sum cost --feed x="$T/x.npy" --feed y="$T/y.npy"
bucketed lenet "$tmp/dp_lenet.2" 4096 2 "$T/lenet/small/model.pb" --data-parallel loss --feed x="$T/lenet/x.npy" --feed labels="$T/lenet/labels.npy"
# the plan: one start per bucket right after its gradients, every wait after every start
"$kiln" dump "$T/ref/mlp.pb" --feed x:50,32 --feed y:50,8 --fetch cost --run-target train --data-parallel=sum --tasks 2 --after=bufassign \
    --allreduce-bucket-bytes 1 >"$tmp/bk.ir" 2>&1
if [ "$(grep -c " = allreduce_start " "$tmp/bk.ir")" = 4 ] && [ "$(grep -c " = allreduce_wait " "$tmp/bk.ir")" = 4 ] &&
    ! grep -q " = allreduce " "$tmp/bk.ir" &&
    awk '/ = allreduce_wait /{w=1} / = allreduce_start /{if (w) bad=1} END{exit bad}' "$tmp/bk.ir"; then ok
else bad "--allreduce-bucket-bytes 1: not 4 starts, each before every wait"; cat "$tmp/bk.ir"; fi
# a rank stuck before its gradient allreduce: the other's watchdog ends it at the deadline naming the call
rm -rf "$tmp/stuck" && cp -r "$tmp/dp_mlp.init" "$tmp/stuck"
t0=$(now)
expect_fail allreduce-stuck "rank 0: gradient allreduce of 664 floats did not complete within 2.0 s" \
    env KILN_DIST_TIMEOUT=2 KILN_DIST_TEST_HOLD_ALLREDUCE=1 timeout 120 mpirun --oversubscribe -np 2 "$kiln" run "$T/ref/mlp.pb" \
        --state "$tmp/stuck" --feed x="$T/x.npy" --feed y="$T/y.npy" --fetch cost --target train --data-parallel=sum
echo "allreduce-stuck case: job over $(elapsed "$t0") s after start (deadline 2 s)"
t0=$(now)
expect_fail bucket-stuck "rank 0: gradient allreduce of 8 floats (bucket 0 of 4) did not complete within 2.0 s" \
    env KILN_DIST_TIMEOUT=2 KILN_DIST_TEST_HOLD_ALLREDUCE=1 timeout 120 mpirun --oversubscribe -np 2 "$kiln" run "$T/ref/mlp.pb" \
        --state "$tmp/stuck" --feed x="$T/x.npy" --feed y="$T/y.npy" --fetch cost --target train --data-parallel=sum \
        --allreduce-bucket-bytes 1
echo "bucket-stuck case: job over $(elapsed "$t0") s after start (deadline 2 s)"
# parameter server (rank 0) and 2 workers: sync matches one process; async converges
dp mlp_ps "$T/ref/mlp.pb" --ps=sync-sum 3 cost --feed x="$T/x.npy" --feed y="$T/y.npy"
# cost_of STATE: the full batch's cost with those variables
cost_of() {
    rm -rf "$tmp/ev" && cp -r "$1" "$tmp/ev"
    "$kiln" run "$T/ref/mlp.pb" --state "$tmp/ev" --feed x="$T/x.npy" --feed y="$T/y.npy" --out-dir "$tmp/o" --fetch cost | sed -n 's/^cost = //p'
}
rm -rf "$tmp/async" && cp -r "$tmp/dp_mlp.init" "$tmp/async"
if mpi -np 3 "$kiln" run "$T/ref/mlp.pb" --state "$tmp/async" --feed x="$T/x.npy" --feed y="$T/y.npy" --out-dir "$tmp/o" --fetch cost --target train \
        --steps 50 --ps=async >"$tmp/ps.log" 2>&1; then
    c0=$(cost_of "$tmp/dp_mlp.init") c1=$(cost_of "$tmp/async")
    if [ -n "$c0" ] && [ -n "$c1" ] && [ "$(awk -v a="$c1" -v b="$c0" 'BEGIN { print (a < 0.7 * b) }')" = 1 ]; then ok
        echo "ok: async parameter server, 2 workers x 50 steps: full-batch cost $c0 -> $c1"
    else bad "async parameter server: cost $c0 -> $c1"; fi
else bad "async parameter server"; cat "$tmp/ps.log"; fi

if "$kiln" dump "$T/ref/mlp.pb" --feed x:50,32 --feed y:50,8 --fetch cost --run-target train --data-parallel=sum --tasks 2 --after=bufassign |
    grep -c " = allreduce " | grep -qx 1; then ok; else bad "the MLP step's 4 gradients are not one allreduce"; fi
expect_fail dp-mismatch "were compiled from different graphs or placements" \
    mpi -np 1 "$kiln" run "$T/ref/mlp.pb" --state "$tmp/dp_mlp.init" --feed x="$T/x.npy" --feed y="$T/y.npy" --fetch cost --target train --data-parallel=sum : \
        -np 1 "$kiln" run "$T/ref/mlp.pb" --state "$tmp/dp_mlp.init" --feed x="$T/x.npy" --feed y="$T/y.npy" --fetch cost --target train --data-parallel
expect_fail dp-batch "needs a batch (first dim) divisible by 3" \
    mpi -np 3 "$kiln" run "$T/ref/mlp.pb" --state "$tmp/dp_mlp.init" --feed x="$T/x.npy" --feed y="$T/y.npy" --fetch cost --target train --data-parallel=sum

echo "dist: $passes passed, $fails failed"
[ $fails -eq 0 ]
