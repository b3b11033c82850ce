#!/bin/bash
# SIGTERM in mid-sampling (a Slurm time limit): every rank finishes its step,
# the checkpoint is written, the job exits non-zero (3) with no video or latents
# under their names, and --resume on another rank count gives latents
# bit-identical to an uninterrupted run.
#
# How the signal arrives matters. Slurm (scancel, the time limit, srun) signals
# the rank processes themselves: that is the main case here. Sent to mpirun,
# Open MPI 4.1 does not forward it: it ends the job with SIGCONT, then after
# odls_base_sigkill_timeout seconds (default 1) SIGTERM to the ranks, then after
# as long again SIGKILL. A rank thus has that long to finish its step and the
# checkpoint; the second case raises it (--mca odls_base_sigkill_timeout 2).
source "$(dirname "$0")/lib.sh"
STEPS=40
G=("$TS" generate --model "$TINY" --prompt "$PROMPT" --cfg 3 --seed 77 --frames 30 --steps $STEPS --threads 1)
read_step() { $PY -c "import h5py; print(int(h5py.File('$1')['latents'].attrs['step']))" 2>/dev/null || echo none; }

# the uninterrupted run
$MPIRUN -np 2 "${G[@]}" -q --out none --latents $WORK/full.h5 2>/dev/null
[ -s $WORK/full.h5 ]; verdict "uninterrupted run on 2 ranks" $((1 - $?))

# interrupted NAME SIGNAL_TARGET MPIRUN_ARGS...: runs 2 ranks with 150 ms added to
# each step, sends SIGTERM once sampling is under way (to the ranks or to
# mpirun), then checks the exit, the checkpoint and the outputs.
interrupted() {
    local name=$1 target=$2; shift 2
    rm -f $WORK/ck.h5 $WORK/log
    local t0=$SECONDS rc=0
    TIMESHARD_STEP_DELAY_MS=150 timeout -k 5 60 $MPIRUN "$@" -np 2 "${G[@]}" --out $WORK/o.mp4 \
        --latents $WORK/o.h5 --checkpoint $WORK/ck.h5 > $WORK/log 2>&1 &
    local tpid=$!
    for _ in $(seq 300); do grep -q "step 1/" $WORK/log 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    local mp; mp=$(pgrep -P $tpid | head -1)  # mpirun, child of timeout
    if [ "$target" = ranks ]; then kill -TERM $(pgrep -P "$mp"); else kill -TERM "$mp"; fi
    wait $tpid || rc=$?
    local secs=$((SECONDS - t0)) step; step=$(read_step $WORK/ck.h5)
    local ok=1 why="rc=$rc ${secs}s checkpoint step=$step"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { ok=0; why="$why (expected non-zero, no timeout)"; }
    [ "$target" = mpirun ] || [ "$rc" = 3 ] || { ok=0; why="$why (expected 3)"; }
    [ "$step" != none ] && [ "$step" -gt 0 ] && [ "$step" -lt $STEPS ] ||
        { ok=0; why="$why (expected 0 < step < $STEPS)"; }
    grep -q "stopped by SIGTERM after step $step of $STEPS (checkpoint written)" $WORK/log ||
        { ok=0; why="$why, no message"; }
    for f in o.mp4 o.h5 o.mp4.tmp o.h5.tmp ck.h5.tmp; do [ -e $WORK/$f ] && { ok=0; why="$why, left $f"; }; done
    verdict "$name" $ok "$why"
    [ $ok = 1 ] || sed 's/^/      | /' $WORK/log | head -30
}

# resumed NAME NP: resume the checkpoint on NP ranks, compare with the uninterrupted run
resumed() {
    rm -f $WORK/resumed.h5
    $MPIRUN -np $2 "${G[@]}" -q --out none --latents $WORK/resumed.h5 --resume $WORK/ck.h5 2>/dev/null
    $PY - $WORK/full.h5 $WORK/resumed.h5 <<'PYEOF'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1])["latents"][:]
b = h5py.File(sys.argv[2])["latents"][:]
sys.exit(0 if a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)) else 1)
PYEOF
    verdict "$1" $((1 - $?)) "bit-identical"
}

interrupted "SIGTERM to the 2 ranks: checkpoint, exit 3" ranks
resumed "  resumed on 3 ranks == uninterrupted" 3
interrupted "SIGTERM to mpirun: checkpoint, non-zero" mpirun --mca odls_base_sigkill_timeout 2
resumed "  resumed on 1 rank == uninterrupted" 1

# SIGTERM outside the sampling steps. Before sampling (loading, set-up: minutes for a
# large model, where a requeued job gets its next time-limit warning): exit 3 at once
# with one line, the checkpoint being resumed untouched. After the last step: the
# outputs are finished, exit 0. (Both used to end the process by the signal, 143, silently.)
cp $WORK/ck.h5 $WORK/ck_keep.h5
rm -f $WORK/log
TIMESHARD_SETUP_DELAY_MS=5000 timeout -k 5 60 $MPIRUN -x TIMESHARD_SETUP_DELAY_MS -np 2 "${G[@]}" --out $WORK/s.mp4 \
    --latents $WORK/s.h5 --checkpoint $WORK/ck.h5 --resume $WORK/ck.h5 > $WORK/log 2>&1 &
tpid=$!
for _ in $(seq 300); do grep -q "^  ranks" $WORK/log 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -TERM $(pgrep -P "$(pgrep -P $tpid | head -1)")
rc=0; wait $tpid || rc=$?
n=$(grep -c "stopped by SIGTERM before sampling began" $WORK/log)
[ $rc = 3 ] && [ "$n" = 1 ] && cmp -s $WORK/ck.h5 $WORK/ck_keep.h5 && ! ls $WORK/s.* > /dev/null 2>&1
verdict "SIGTERM in set-up: exit 3, one line, checkpoint kept" $((1 - $?)) "rc=$rc, $n line(s)"
[ $rc = 3 ] || sed 's/^/      | /' $WORK/log | head -20
rm -f $WORK/log
TIMESHARD_OUTPUT_DELAY_MS=3000 timeout -k 5 60 $MPIRUN -x TIMESHARD_OUTPUT_DELAY_MS -np 2 "${G[@]}" --steps 3 \
    --out $WORK/f.mp4 --latents $WORK/f.h5 > $WORK/log 2>&1 &
tpid=$!
for _ in $(seq 300); do grep -q "step 3/3" $WORK/log 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -TERM $(pgrep -P "$(pgrep -P $tpid | head -1)")
rc=0; wait $tpid || rc=$?
[ $rc = 0 ] && [ -s $WORK/f.mp4 ] && [ -s $WORK/f.h5 ] && grep -q "outputs were finished first" $WORK/log
verdict "SIGTERM after the last step: outputs finished, exit 0" $((1 - $?)) "rc=$rc"
[ $rc = 0 ] || sed 's/^/      | /' $WORK/log | head -20
finish
