#!/bin/bash
# The heartbeat between ranks (src/parallel/heartbeat.c) on one machine, under mpirun:
#   - a rank frozen in mid-sampling (SIGSTOP: its sockets stay open, nothing is reset,
#     as when a link goes down) ends the job on every rank within TIMESHARD_HEARTBEAT_S
#     + 3 s, non-zero, naming the silent rank, with no output left;
#   - steps far longer than the heartbeat (1.5 s per step, heartbeat 0.6 s) and ranks
#     that finish at different times are no false alarm: the run completes and its
#     latents equal a run without the heartbeat;
#   - TIMESHARD_HEARTBEAT_S=abc is ignored with a warning.
source "$(dirname "$0")/../e2e/lib.sh"
G=("$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 12 --threads 1)

# frozen rank: 3 ranks, 60 steps of 200 ms; rank 1 stopped after step 1
for victim in 1 0; do
    rm -f $WORK/o.h5 $WORK/l.h5
    TIMESHARD_HEARTBEAT_S=4 TIMESHARD_STEP_DELAY_MS=200 timeout -k 5 60 $MPIRUN -np 3 "${G[@]}" --steps 60 \
        --out $WORK/o.h5 --latents $WORK/l.h5 > $WORK/log 2>&1 &
    TPID=$!
    for _ in $(seq 150); do grep -q "step 1/" $WORK/log 2> /dev/null && break; sleep 0.1; done
    MP=$(pgrep -P $TPID | head -1)
    RANKS=($(pgrep -P "$MP" | sort -n))
    t0=$(date +%s%N)
    [ ${#RANKS[@]} = 3 ] && kill -STOP "${RANKS[$victim]}"
    rc=0
    wait $TPID || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    for p in "${RANKS[@]}"; do kill -CONT $p 2> /dev/null; kill -KILL $p 2> /dev/null; done
    ok=1 why="rc=$rc, $ms ms"
    [ ${#RANKS[@]} = 3 ] || { ok=0; why="$why, found ${#RANKS[@]} ranks"; }
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || { ok=0; why="$why (expected non-zero, no timeout)"; }
    [ $ms -lt 7500 ] || { ok=0; why="$why (over 4 + 3.5 s)"; }
    grep -q "no heartbeat from rank $victim (" $WORK/log || { ok=0; why="$why, log does not name rank $victim"; }
    [ -e $WORK/o.h5 ] || [ -e $WORK/l.h5 ] || [ -e $WORK/o.h5.tmp ] && { ok=0; why="$why, output left"; }
    verdict "3 ranks, rank $victim frozen: job ends" $ok "$why"
    [ $ok = 1 ] || sed 's/^/      | /' $WORK/log | grep -v '^      | *$' | tail -15
done

# no false alarm: steps of 1.5 s against a 0.6 s heartbeat, 3 ranks; and the same latents
TIMESHARD_HEARTBEAT_S=0.6 TIMESHARD_STEP_DELAY_MS=1500 timeout 120 $MPIRUN -np 3 "${G[@]}" --steps 3 \
    --out $WORK/a.h5 --latents $WORK/la.h5 > $WORK/log 2>&1
rc=$?
TIMESHARD_HEARTBEAT_S=0 timeout 120 $MPIRUN -np 3 "${G[@]}" --steps 3 --out $WORK/b.h5 --latents $WORK/lb.h5 \
    > $WORK/log0 2>&1
rc0=$?
$PY - $WORK/la.h5 $WORK/lb.h5 << 'PYEOF'
import sys, h5py
a, b = (h5py.File(f, "r")["latents"][:] for f in sys.argv[1:3])
sys.exit(0 if a.tobytes() == b.tobytes() else 1)
PYEOF
same=$?
[ $rc = 0 ] && [ $rc0 = 0 ] && [ $same = 0 ] && ! grep -q "heartbeat" $WORK/log
verdict "1.5 s steps, 0.6 s heartbeat: completes" $((1 - $?)) "rc=$rc, off: rc=$rc0, latents equal: $((1 - same))"
[ $rc = 0 ] || sed 's/^/      | /' $WORK/log | tail -10

TIMESHARD_HEARTBEAT_S=abc timeout 60 $MPIRUN -np 2 "${G[@]}" --steps 1 --out none --latents $WORK/lc.h5 > $WORK/log 2>&1
rc=$?
[ $rc = 0 ] && grep -q "TIMESHARD_HEARTBEAT_S='abc' ignored" $WORK/log
verdict "TIMESHARD_HEARTBEAT_S=abc: warning, run completes" $((1 - $?)) "rc=$rc"
TIMESHARD_HEARTBEAT_S=0.001 timeout 60 $MPIRUN -np 2 "${G[@]}" --steps 1 --out none --latents $WORK/ld.h5 > $WORK/log 2>&1
rc=$?
[ $rc = 0 ] && grep -q "TIMESHARD_HEARTBEAT_S='0.001' ignored" $WORK/log
verdict "TIMESHARD_HEARTBEAT_S=0.001: warning, run completes" $((1 - $?)) "rc=$rc"
finish
