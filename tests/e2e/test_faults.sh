#!/bin/bash
# One rank failing ends the job on every rank within seconds, non-zero, with
# nothing left under the requested output names (nor their temporaries): faults
# injected with the TIMESHARD_FAULT test hook (crash, user-level error, silent
# exit) on 3 ranks of the tiny model, a rank killed from outside (SIGKILL), and
# a bad input file seen by one rank only.
source "$(dirname "$0")/lib.sh"
BOUND=20  # seconds a failing job may take, start-up included
# 60 frames, 20 steps, 100 ms added to each step: an undisturbed run lasts ~3 s
G=("$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 60 --steps 20 --threads 1
   --out $WORK/o.mp4 --latents $WORK/o.h5)
export TIMESHARD_STEP_DELAY_MS=100

# ends NAME RC SECONDS EXPECT_LOG_REGEX: the job ended non-zero within BOUND, no
# process of it is left, no output and no temporary exists, the log says why.
ends() {
    local name=$1 rc=$2 secs=$3 want=$4 ok=1 why="rc=$2 ${3}s"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { ok=0; why="$why (expected non-zero, no timeout)"; }
    [ "$secs" -lt $BOUND ] || { ok=0; why="$why (over ${BOUND}s)"; }
    sleep 0.2
    local left; left=$(pgrep -f "$WORK/o.mp4")  # the ranks' command lines name this run's temp dir
    [ -n "$left" ] && { ok=0; why="$why, rank processes left"; kill -KILL $left; }
    for f in o.mp4 o.h5 o.mp4.tmp o.h5.tmp; do [ -e $WORK/$f ] && { ok=0; why="$why, left $f"; }; done
    grep -q -E "$want" $WORK/log || { ok=0; why="$why, log lacks /$want/"; }
    verdict "$name" $ok "$why"
    [ $ok = 1 ] || sed 's/^/      | /' $WORK/log | grep -v '^      | *$' | head -20
    rm -f $WORK/o.mp4 $WORK/o.h5 $WORK/o.mp4.tmp $WORK/o.h5.tmp
}

# run_fault FAULT EXPECT_LOG_REGEX
run_fault() {
    local t0=$SECONDS rc=0
    TIMESHARD_FAULT=$1 timeout -k 5 $BOUND $MPIRUN -np 3 "${G[@]}" > $WORK/log 2>&1 || rc=$?
    ends "3 ranks, $1" $rc $((SECONDS - t0)) "$2"
}

for r in 1 2; do
    run_fault "rank=$r,step=5,kind=crash" "rank $r [^ ]*\] fatal signal 11"
    run_fault "rank=$r,step=5,kind=error" "error: rank $r \([^)]*\) failed: injected fault at step 5"
    run_fault "rank=$r,step=5,kind=exit" "exited on signal|non-zero status|exit code"
done
run_fault "rank=0,step=5,kind=error" "error: injected fault at step 5"
run_fault "rank=0,step=5,kind=crash" "rank 0 [^ ]*\] fatal signal 11"
# set-up (step -1): as a bad file on one node, before sampling starts
run_fault "rank=1,step=-1,kind=error" "error: rank 1 \([^)]*\) failed: injected fault at step -1"
run_fault "rank=2,step=-1,kind=crash" "rank 2 [^ ]*\] fatal signal 11"

# a rank killed from outside (OOM killer, node loss) in mid-sampling
t0=$SECONDS rc=0
timeout -k 5 $BOUND $MPIRUN -np 3 "${G[@]}" > $WORK/log 2>&1 &
TPID=$!
for _ in $(seq 100); do grep -q "step 1/" $WORK/log 2>/dev/null && break; sleep 0.1; done
MP=$(pgrep -P $TPID | head -1)  # mpirun, child of timeout
RANKS=($(pgrep -P "$MP" | sort -n))
[ ${#RANKS[@]} = 3 ] && kill -KILL "${RANKS[1]}"
wait $TPID || rc=$?
ends "3 ranks, rank 1 killed (SIGKILL)" $rc $((SECONDS - t0)) "signal 9|Killed|killed"

# rank 0 killed in mid-sampling: no handler runs, so nothing may exist yet (the
# temporary video is made only when the stitch begins)
t0=$SECONDS rc=0
timeout -k 5 $BOUND $MPIRUN -np 3 "${G[@]}" > $WORK/log 2>&1 &
TPID=$!
for _ in $(seq 100); do grep -q "step 1/" $WORK/log 2>/dev/null && break; sleep 0.1; done
MP=$(pgrep -P $TPID | head -1)
RANKS=($(pgrep -P "$MP" | sort -n))
[ ${#RANKS[@]} = 3 ] && kill -KILL "${RANKS[0]}"
wait $TPID || rc=$?
ends "3 ranks, rank 0 killed (SIGKILL)" $rc $((SECONDS - t0)) "signal 9|Killed|killed"

# a bad input that only the rank owning frame 0 reads: the first-frame image
unset TIMESHARD_STEP_DELAY_MS
t0=$SECONDS rc=0
timeout -k 5 $BOUND $MPIRUN -np 3 "${G[@]}" --image $WORK/missing.png > $WORK/log 2>&1 || rc=$?
ends "3 ranks, --image missing (rank 0 reads it)" $rc $((SECONDS - t0)) "error: cannot open image"

# a malformed TIMESHARD_FAULT is ignored with a warning, not a failure
TIMESHARD_FAULT="rank=1,kind=crash" "${G[@]}" --frames 4 --steps 1 > $WORK/log 2>&1
[ $? = 0 ] && grep -q "TIMESHARD_FAULT=.* ignored" $WORK/log && [ -s $WORK/o.mp4 ]
verdict "bad TIMESHARD_FAULT: warning, run completes" $((1 - $?))
finish
