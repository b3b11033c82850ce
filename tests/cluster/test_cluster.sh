#!/bin/bash
# Two Slurm nodes on one machine (tests/cluster/nodes.sh: two network namespaces
# joined by a veth pair, a slurmd in each, slurmctld on the first), Open MPI over
# TCP between them (btl tcp,self and oob restricted to the veth's subnet):
#   - slurm/generate.sbatch on 2 nodes x 1 task: MP4 and latents == the 1-rank run's;
#   - srun --mpi=pmix on 2 nodes x 2 tasks, frames to --out FILE.h5: frames and
#     latents == the 1-rank run's, bit for bit;
# then faults, each timed until every rank process had exited (bound 60 s):
#   a. the link goes down inside node B in mid-sampling (no reset reaches anyone):
#      the heartbeat (TIMESHARD_HEARTBEAT_S: 8 s, then the default 30 s) ends the ranks
#      that Slurm cannot reach;
#   b. every process of node B killed at once (SIGKILL: slurmd, slurmstepd, rank);
#   d. node B's slurmd stopped (SIGTERM): the step runs on until Slurm declares the node
#      down (SlurmdTimeout 10 s), then ends;
#   c. a job checkpointing every 5 steps loses node B; Slurm requeues it when it declares
#      the node down (--requeue in generate.sbatch; should the job have ended first, the
#      test requeues it with 'scontrol requeue'); it starts again once node B is back and
#      resumes from the checkpoint to the same latents.
# TS_CLUSTER_KEEP=DIR keeps the job and daemon logs there.
# Prints a table: fault, seconds until every rank had exited, exit status, files left.
# Needs root, iproute2, util-linux, munge, slurm-wlm, Open MPI with PMIx, Debian's
# python3-h5py. Exits 77 (skipped) where any is missing or namespaces cannot be made.
source "$(dirname "$0")/../e2e/lib.sh"
T_START=$(date +%s)

for tool in ip nsenter unshare munged mungekey slurmctld slurmd sbatch srun scontrol; do
    command -v $tool > /dev/null || { echo "SKIPPED: '$tool' not found (apt-get install iproute2 munge slurm-wlm)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (network namespaces, slurmd)"; exit 77; }
$PY -c "import h5py" 2> /dev/null || { echo "SKIPPED: needs python3-h5py"; exit 77; }
if ! ip netns add tsprobe$$ 2> /dev/null; then echo "SKIPPED: cannot make network namespaces here"; exit 77; fi
ip netns delete tsprobe$$

# shellcheck disable=SC2046  # one name per word
unset $(compgen -v | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|OMPI_MCA)_')
source "$SRC/tests/cluster/nodes.sh"
CL=$WORK/cluster
OUT=$WORK/out
chmod 0755 "$WORK"
mkdir -p "$OUT"
cleanup() {
    [ -n "${DEADLINE_PID:-}" ] && kill "$DEADLINE_PID" 2> /dev/null
    if [ -n "${SLURM_CONF:-}" ] && [ -e "$SLURM_CONF" ] && [ -n "${TS_NS_A:-}" ]; then
        ts_on A scancel --full -u root 2> /dev/null
    fi
    ts_nodes_stop "$CL"
    if [ -n "${TS_CLUSTER_KEEP:-}" ]; then  # a directory to keep the logs in
        mkdir -p "$TS_CLUSTER_KEEP" && cp -r "$CL/log" "$OUT"/*.out "$TS_CLUSTER_KEEP"/ 2> /dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "  interrupted (or past the test'"'"'s deadline): cleaning up"; exit 130' INT TERM
# the whole test ends itself (and so cleans up) before ctest's 600 s timeout would kill it
# (TS_CLUSTER_DEADLINE_S: another bound, e.g. to try the cleanup)
(for _ in $(seq "${TS_CLUSTER_DEADLINE_S:-540}"); do sleep 1; done; kill -TERM $$) > /dev/null 2>&1 &
DEADLINE_PID=$!

if ! ts_nodes_start "$CL"; then
    verdict "two nodes start (namespaces, munge, slurmctld, 2 slurmd)" 0
    tail -5 "$CL"/log/*.log 2> /dev/null
    finish
fi
verdict "two nodes start (namespaces, munge, slurmctld, 2 slurmd)" 1 "$(ts_on A sinfo -h -o '%D nodes %t')"

# Open MPI between the nodes: TCP on the veth's subnet only (the namespaces have
# nothing else but loopback), no shared memory (the nodes share a kernel)
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=10.213.77.0/24 \
    OMPI_MCA_oob_tcp_if_include=10.213.77.0/24
FRAMES=12
STEPS=100
P="a red circle moving right on a blue background"
G=(generate --model "$TINY" --prompt "$P" --frames $FRAMES --steps $STEPS --seed 0 --threads 1)

# the 1-rank references (no MPI launcher)
(unset $(compgen -v | grep -E '^OMPI_MCA_'); cd "$OUT" &&
    "$TS" "${G[@]}" --out "$OUT/ref.mp4" --latents "$OUT/ref.h5" > "$OUT/ref.log" 2>&1 &&
    "$TS" "${G[@]}" --out "$OUT/ref-frames.h5" --latents "$OUT/ref2.h5" >> "$OUT/ref.log" 2>&1)
verdict "1-rank reference runs" $((1 - $?))

job_state() { ts_on A scontrol show job -o "$1" 2> /dev/null | grep -o -E 'JobState=[A-Z_]+|Restarts=[0-9]+|ExitCode=[0-9:]+' | tr '\n' ' '; }
wait_done() {  # ID SECONDS
    local t=$(($(date +%s) + $2))
    while :; do
        case $(job_state "$1") in
        *JobState=PENDING* | *JobState=RUNNING* | *JobState=COMPLETING* | *JobState=CONFIGURING* | *JobState=REQUEUE* | "") ;;
        *) return 0 ;;
        esac
        [ "$(date +%s)" -lt $t ] || return 1
        sleep 0.3
    done
}
same() {  # A.h5 B.h5 DATASET: bit for bit
    $PY - "$1" "$2" "$3" << 'PYEOF'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")[sys.argv[3]][:]
b = h5py.File(sys.argv[2], "r")[sys.argv[3]][:]
sys.exit(0 if a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes() else 1)
PYEOF
}
show_log() { [ -f "$1" ] && grep -v 'warning: the prompt' "$1" | sed 's/^/      | /' | tail -${2:-25}; }
wait_nodes_idle() {  # SECONDS
    local t=$(($(date +%s) + $1))
    while [ "$(date +%s)" -lt $t ]; do
        [ "$(ts_on A sinfo -h -o %t 2> /dev/null | sort -u | tr '\n' ' ')" = "idle " ] && return 0
        sleep 0.5
    done
    return 1
}
ranks_alive() { pgrep -f -- "^$TS generate .*--latents $OUT/$1" | wc -l; }  # rank processes of job $1 (any node)

SITE=(-p debug -N 2 --ntasks-per-node=1 --cpus-per-task=1 --gpus-per-node=0)
EXP="ALL,TS_BIN=$TS,TS_MODEL=$TINY,TS_PROMPT=$P,TS_FRAMES=$FRAMES,TS_STEPS=$STEPS,TS_MODULES=,TS_OUTDIR=$OUT"
cd "$OUT" || exit 1

# --- generate.sbatch on 2 nodes x 1 task
A=$(ts_on A sbatch --parsable "${SITE[@]}" --export="$EXP" "$SRC/slurm/generate.sbatch")
wait_done "$A" 120; st=$(job_state "$A")
[[ $st == *JobState=COMPLETED*ExitCode=0:0* ]]; ok=$((1 - $?))
verdict "generate.sbatch, 2 nodes x 1 task: completes" $ok "$st"
[ $ok = 1 ] || show_log "$OUT/timeshard-$A.out"
grep -q "on 2 node(s) (nodea,nodeb), 2 ranks" "$OUT/timeshard-$A.out"
verdict "  ran on nodea and nodeb" $((1 - $?)) "$(grep -o 'on 2 node.*ranks' "$OUT/timeshard-$A.out")"
same "$OUT/ref.h5" "$OUT/timeshard-$A.h5" latents
verdict "  latents == 1-rank run (bit for bit)" $((1 - $?))
cmp -s "$OUT/ref.mp4" "$OUT/timeshard-$A.mp4"
verdict "  MP4 == 1-rank run's (byte for byte)" $((1 - $?))

# --- srun --mpi=pmix on 2 nodes x 2 tasks, frames to an HDF5 file
B=$(ts_on A sbatch --parsable -p debug -N 2 --ntasks-per-node=2 -o "$OUT/b-%j.out" --export=ALL --wrap \
    "srun --mpi=pmix '$TS' generate --model '$TINY' --prompt '$P' --frames $FRAMES --steps $STEPS --seed 0 \
     --threads 1 --out '$OUT/b-frames.h5' --latents '$OUT/b.h5'")
wait_done "$B" 120; st=$(job_state "$B")
[[ $st == *JobState=COMPLETED*ExitCode=0:0* ]]; ok=$((1 - $?))
verdict "srun --mpi=pmix, 2 nodes x 2 tasks: completes" $ok "$st"
[ $ok = 1 ] || show_log "$OUT/b-$B.out"
same "$OUT/ref-frames.h5" "$OUT/b-frames.h5" frames && same "$OUT/ref2.h5" "$OUT/b.h5" latents
verdict "  frames and latents == 1-rank run (bit for bit)" $((1 - $?))

# --- faults
ROWS=()
# fault_job EXTRA_EXPORT [SBATCH_ARGS...]: a slow job (250 ms per step: ~25 s undisturbed)
# on both nodes; waits until sampling runs; prints the job id
fault_job() {
    local extra=$1 id
    shift
    id=$(ts_on A sbatch --parsable "${SITE[@]}" "$@" --export="$EXP,TIMESHARD_STEP_DELAY_MS=250$extra" \
        "$SRC/slurm/generate.sbatch")
    local t=$(($(date +%s) + 60))
    while [ "$(date +%s)" -lt $t ] && ! grep -q "step 1/$STEPS" "$OUT/timeshard-$id.out" 2> /dev/null; do sleep 0.2; done
    echo "$id"
}
# measure NAME JOB: seconds until no rank process of JOB is left (bound 90), then the
# row: fault, seconds, exit status (srun's as the script logged it; the job's), files left
measure() {
    local name=$1 id=$2 t0=$3 secs=-1
    while [ $((SECONDS - t0)) -lt 90 ]; do
        [ "$(ranks_alive "timeshard-$id")" = 0 ] && { secs=$((SECONDS - t0)); break; }
        sleep 0.2
    done
    local t=$((SECONDS + 60))  # until the run ended (or Slurm requeued it: PENDING)
    while [ $SECONDS -lt $t ]; do
        case $(job_state "$id") in *RUNNING* | *COMPLETING* | *CONFIGURING*) sleep 0.3 ;; *) break ;; esac
    done
    # srun's word on each task, else the script's line
    local rc; rc=$(grep -o -E 'task [0-9]+: [A-Za-z ]+[0-9]*|timeshard failed \(status [0-9]+\)' "$OUT/timeshard-$id.out" | sort -u | tr '\n' ';')
    local left; left=$(cd "$OUT" && ls -d timeshard-$id.* 2> /dev/null | grep -v '\.out$' | tr '\n' ' ')
    ROWS+=("$(printf '%-34s | %5s | %-28s | %s' "$name" "$secs" "${rc:-no srun line}; $(job_state "$id" | grep -o -E 'JobState=[A-Z_]+|ExitCode=[0-9:]+' | tr '\n' ' ')" "${left:-none}")")
    [ "$secs" -ge 0 ] && [ "$secs" -le 60 ]
}
# restore_b: node B "rebooted": its processes gone, its /tmp (Slurm's TmpFS) empty, link
# up, slurmd started, both nodes idle
restore_b() {
    ts_node_kill_all B
    rm -rf "$CL/tmp/nodeb" "$CL/spool/nodeb"  # stale PMIx sockets of the killed step would block the next
    ip -n "$TS_NS_B" link set "$TS_VETH_B" up
    sleep 0.5
    ts_node_slurmd_start B
    ts_on A scontrol update nodename=nodeb state=resume 2> /dev/null
    wait_nodes_idle 60
}

# a. link down inside node B. With the heartbeat (8 s) shorter than SlurmdTimeout (10 s),
# rank 0 names the silent rank; with the default (30 s) Slurm ends node A's side when it
# declares node B down, and node B's rank, which Slurm cannot reach, ends by its heartbeat.
for hb in 8 30; do
    F=$(fault_job ",TIMESHARD_HEARTBEAT_S=$hb" --no-requeue)
    T0=$SECONDS
    ip -n "$TS_NS_B" link set "$TS_VETH_B" down
    measure "a. link down, heartbeat $hb s" "$F" $T0; ok=$((1 - $?))
    verdict "a. link down, heartbeat $hb s: ranks end <= 60 s" $ok "${ROWS[-1]}"
    if [ $hb = 8 ]; then
        grep -q "no heartbeat from rank 1 (nodeb)" "$OUT/timeshard-$F.out"
        verdict "  error names the silent rank and host" $((1 - $?)) "$(grep -m1 -o 'no heartbeat from rank [0-9]* ([a-z]*) for [0-9]* s' "$OUT/timeshard-$F.out")"
    fi
    [ $ok = 1 ] || show_log "$OUT/timeshard-$F.out"
    restore_b; verdict "  node B back (link up, slurmd restarted)" $((1 - $?)) "$(ts_on A sinfo -h -o '%n %t' | tr '\n' ' ')"
done

# b. every process of node B killed at once
F=$(fault_job "" --no-requeue)
T0=$SECONDS
ts_node_kill_all B
measure "b. node B's processes SIGKILLed" "$F" $T0; ok=$((1 - $?))
verdict "b. node killed: every rank ends <= 60 s" $ok "${ROWS[-1]}"
[ $ok = 1 ] || show_log "$OUT/timeshard-$F.out"
restore_b; verdict "  node B back (slurmd restarted)" $((1 - $?)) "$(ts_on A sinfo -h -o '%n %t' | tr '\n' ' ')"

# d. node B's slurmd stopped (SIGTERM) in mid-sampling: the step runs on without it
# until slurmctld declares node B down (SlurmdTimeout); then node A's rank is killed,
# and node B's rank (its slurmstepd no longer told anything) ends by its heartbeat
F=$(fault_job ",TS_CHECKPOINT_EVERY=5" --no-requeue)
T0=$SECONDS
kill -TERM "$(cat "$CL/run/slurmd-nodeb.pid")"
n0=$(grep -c "^checkpoint at step" "$OUT/timeshard-$F.out")
measure "d. slurmd of node B stopped" "$F" $T0; ok=$((1 - $?))
n1=$(grep -c "^checkpoint at step" "$OUT/timeshard-$F.out")
verdict "d. slurmd stopped: ranks end <= 60 s" $ok "${ROWS[-1]}"
[ "$n1" -gt "$n0" ]
verdict "  sampling went on without slurmd" $((1 - $?)) "$((n1 - n0)) checkpoints (every 5 steps) written after the stop"
[ $ok = 1 ] || show_log "$OUT/timeshard-$F.out"
restore_b; verdict "  node B back (slurmd restarted)" $((1 - $?)) "$(ts_on A sinfo -h -o '%n %t' | tr '\n' ' ')"

# c. checkpoint every 5 steps, node B lost after the first checkpoint, requeued, resumes
F=$(fault_job ",TS_CHECKPOINT_EVERY=5")
t=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt $t ] && [ ! -s "$OUT/timeshard-$F.ckpt.h5" ]; do sleep 0.2; done
sleep 1
T0=$SECONDS
ts_node_kill_all B
measure "c. node B lost, checkpointed job" "$F" $T0; ok=$((1 - $?))
verdict "c. node lost: every rank ends <= 60 s" $ok "${ROWS[-1]}"
[ -s "$OUT/timeshard-$F.ckpt.h5" ]; verdict "  checkpoint kept" $((1 - $?))
restore_b
by="Slurm, on the node failure"
case $(job_state "$F") in *PENDING* | *RUNNING* | *CONFIGURING*) ;; *) by="scontrol requeue"; ts_on A scontrol requeue "$F" ;; esac
wait_done "$F" 120; st=$(job_state "$F")
[[ $st == *JobState=COMPLETED*ExitCode=0:0* ]] && [[ $st != *Restarts=0* ]]; ok=$((1 - $?))
verdict "  requeued, completes" $ok "$st (requeued by $by)"
grep -q "resuming from .*timeshard-$F.ckpt.h5" "$OUT/timeshard-$F.out"
verdict "  resumed from its checkpoint" $((1 - $?))
same "$OUT/ref.h5" "$OUT/timeshard-$F.h5" latents
verdict "  latents == 1-rank run (bit for bit)" $((1 - $?))
[ $ok = 1 ] || show_log "$OUT/timeshard-$F.out" 40

echo "  fault                              | ranks gone (s) | exit status (srun; job)     | files left"
for r in "${ROWS[@]}"; do echo "  $r"; done
echo "  (cluster test: $(($(date +%s) - T_START)) s)"
finish
