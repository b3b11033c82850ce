#!/bin/bash
# The slurm/ scripts on a real one-node Slurm cluster started here (munge, slurmctld,
# slurmd in a temporary directory, free ports; stopped on exit, pass or fail):
#   - generate.sbatch on 2 tasks with the site values overridden for a CPU node: the
#     job completes, the MP4 has the frames, the HDF5 latents the shape;
#   - the same job signalled in mid-sampling with 'scancel --signal=TERM' (the delivery
#     Slurm uses for --signal=TERM@N before a time limit: slurmctld asks slurmd to signal
#     every task of the job's steps) checkpoints, requeues itself and resumes: its
#     latents are bit-identical to the uninterrupted job's;
#   - launch/run.sh inside an allocation launches with srun, same latents;
#   - scaling-strong/-weak.sbatch write their JSON lines; plot_scaling.py and
#     contact_sheet.py make PNGs from them and from the video.
# TS_SLURM_TIMELIMIT=1 adds a run under a real 1-minute time limit (--signal=TERM@50;
# slower: 1 to 3 minutes more, as Slurm checks time limits every 30 s).
# Needs root, munge, slurm-wlm, Open MPI with PMIx, ffprobe, Debian's python3-h5py and
# python3-matplotlib. Exits 77 (skipped) where Slurm or root is missing.
source "$(dirname "$0")/../e2e/lib.sh"
source "$SRC/tests/slurm/cluster.sh"
T_START=$(date +%s)

for tool in munged mungekey slurmctld slurmd sbatch srun scontrol ffprobe; do
    command -v $tool > /dev/null || { echo "SKIPPED: '$tool' not found (apt-get install munge slurm-wlm ffmpeg)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (munged runs as user munge, slurmd as root)"; exit 77; }
$PY -c "import h5py, matplotlib" 2> /dev/null || { echo "SKIPPED: needs python3-h5py and python3-matplotlib"; exit 77; }

# nothing from a surrounding allocation or sbatch defaults may leak into this cluster
# shellcheck disable=SC2046  # one name per word
unset $(compgen -v | grep -E '^(SLURM|SBATCH|SALLOC|SRUN)_')
CL=$WORK/cluster
OUT=$WORK/out
chmod 0755 "$WORK"  # munged (user munge) must reach $CL
mkdir -p "$OUT"
cleanup() {
    if [ -n "${SLURM_CONF:-}" ] && [ -e "$SLURM_CONF" ]; then
        scancel --full -u root 2> /dev/null  # this cluster's jobs only (SLURM_CONF)
        for _ in $(seq 1 40); do
            [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break
            sleep 0.25
        done
    fi
    ts_cluster_stop "$CL"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! ts_cluster_start "$CL" 2; then
    verdict "cluster starts (munge, slurmctld, slurmd)" 0
    tail -5 "$CL"/log/*.log "$CL"/munge/munged.log 2> /dev/null
    finish
fi
verdict "cluster starts (munge, slurmctld, slurmd)" 1 "$(sinfo -h -o '%P %D %t %c CPUs')"

# job_state ID: the job's state (PENDING, RUNNING, COMPLETED, ...) and restart count
job_state() { scontrol show job -o "$1" 2> /dev/null | grep -o -E 'JobState=[A-Z_]+|Restarts=[0-9]+|ExitCode=[0-9:]+' | tr '\n' ' '; }
# wait_done ID SECONDS: until the job ended (COMPLETED, FAILED, CANCELLED, TIMEOUT, ...)
wait_done() {
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
# same_latents A.h5 B.h5: bit for bit
same_latents() {
    $PY - "$1" "$2" << 'PYEOF'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")["latents"][:]
b = h5py.File(sys.argv[2], "r")["latents"][:]
sys.exit(0 if a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)) else 1)
PYEOF
}
show_log() { [ -f "$1" ] && grep -v 'warning: the prompt' "$1" | sed 's/^/      | /' | tail -${2:-25}; }

FRAMES=12
STEPS=60
# the CPU node: no GPUs, 2 ranks of 1 core; every site value overridden
SITE=(-p debug --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1)
EXP="ALL,TS_BIN=$TS,TS_MODEL=$TINY,TS_FRAMES=$FRAMES,TS_STEPS=$STEPS,TS_MODULES=,TS_OUTDIR=$OUT"
cd "$OUT" || exit 1
# all jobs are queued at once; the 2-core node runs them one after another
A=$(sbatch --parsable "${SITE[@]}" --export="$EXP" "$SRC/slurm/generate.sbatch")
B=$(sbatch --parsable "${SITE[@]}" --export="$EXP,TIMESHARD_STEP_DELAY_MS=60" "$SRC/slurm/generate.sbatch")
# run.sh inside an allocation: srun, and the same latents as job A (same settings)
R=$(sbatch --parsable -p debug -n 2 -o "$OUT/run-%j.out" --export="ALL,TS_BIN=$TS" --wrap \
    "'$SRC/launch/run.sh' --dry-run -n 2 generate --prompt x > '$OUT/dry.txt' &&
     '$SRC/launch/run.sh' -n 2 generate --model '$TINY' --prompt 'a red circle moving right on a blue background' \
     --frames $FRAMES --steps $STEPS --seed 0 --threads 1 --out none --latents '$OUT/runsh.h5'")
SCALE="ALL,TS_BIN=$TS,TS_MODEL=$TINY,TS_MODULES=,TS_OUTDIR=$OUT,TS_STEPS=2,TS_RANKS=1 2"
S=$(sbatch --parsable "${SITE[@]}" --export="$SCALE,TS_FRAMES=8" "$SRC/slurm/scaling-strong.sbatch")
W=$(sbatch --parsable "${SITE[@]}" --export="$SCALE,TS_FRAMES_PER_RANK=4" "$SRC/slurm/scaling-weak.sbatch")
[ -n "$A" ] && [ -n "$B" ] && [ -n "$R" ] && [ -n "$S" ] && [ -n "$W" ]
verdict "sbatch accepts the scripts (site values overridden)" $((1 - $?)) "jobs $A $B $R $S $W"

# --- A: uninterrupted
wait_done "$A" 60; st=$(job_state "$A")
[[ $st == *JobState=COMPLETED*Restarts=0*ExitCode=0:0* ]]; ok=$((1 - $?))
verdict "generate.sbatch: 2 tasks, job completes" $ok "$st"
[ $ok = 1 ] || show_log "$OUT/timeshard-$A.out"
probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames \
    -of csv=p=0 "$OUT/timeshard-$A.mp4" 2>&1)
[ "$probe" = "h264,16,16,$FRAMES" ]; verdict "  mp4: $FRAMES frames 16x16 h264" $((1 - $?)) "$probe"
shape=$($PY -c "import h5py; print(h5py.File('$OUT/timeshard-$A.h5', 'r')['latents'].shape)" 2>&1)
[ "$shape" = "($FRAMES, 8, 8, 4)" ]; verdict "  latents shape ($FRAMES, 8, 8, 4)" $((1 - $?)) "$shape"
grep -q "ranks     2 " "$OUT/timeshard-$A.out"; verdict "  ran on 2 ranks" $((1 - $?))
[ ! -e "$OUT/timeshard-$A.ckpt.h5" ]; verdict "  no checkpoint left after success" $((1 - $?))

# --- B: SIGTERM in mid-sampling -> checkpoint, exit 3, requeue, resume
t=$(($(date +%s) + 90))
while [ "$(date +%s)" -lt $t ] && ! grep -q "step 1/$STEPS" "$OUT/timeshard-$B.out" 2> /dev/null; do
    wait_done "$B" 0 && break  # ended without sampling: fail below, without waiting
    sleep 0.2
done
scancel --signal=TERM "$B"; rc=$?
verdict "scancel --signal=TERM once sampling runs" $((rc == 0)) "$(job_state "$B")"
wait_done "$B" 90; st=$(job_state "$B")
[[ $st == *JobState=COMPLETED*Restarts=1*ExitCode=0:0* ]]; ok=$((1 - $?))
verdict "  requeued once, then completes" $ok "$st"
stopped=$(grep -o -m1 "stopped by SIGTERM after step [0-9]* of $STEPS" "$OUT/timeshard-$B.out")
k=${stopped#*step }; k=${k%% *}
[ -n "$k" ] && [ "$k" -lt $STEPS ]; verdict "  stopped in mid-sampling, checkpoint written" $((1 - $?)) "${stopped:-no 'stopped by SIGTERM' line}"
grep -q "requeueing job $B" "$OUT/timeshard-$B.out" && grep -q "resuming from .*timeshard-$B.ckpt.h5" "$OUT/timeshard-$B.out"
verdict "  requeued by the script, resumed from its checkpoint" $((1 - $?))
[ $ok = 1 ] && [ -n "$k" ] || show_log "$OUT/timeshard-$B.out" 40
same_latents "$OUT/timeshard-$A.h5" "$OUT/timeshard-$B.h5"
verdict "  latents == uninterrupted run (bit for bit)" $((1 - $?))
probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 \
    "$OUT/timeshard-$B.mp4" 2>&1)
[ "$probe" = "$FRAMES" ]; verdict "  mp4 of the resumed run: $FRAMES frames" $((1 - $?)) "$probe"

# --- run.sh in an allocation
wait_done "$R" 60; st=$(job_state "$R")
grep -q "^srun --mpi=pmix -n 2 " "$OUT/dry.txt" 2> /dev/null
verdict "run.sh under Slurm launches with srun --mpi=pmix" $((1 - $?)) "$(head -c 80 "$OUT/dry.txt" 2> /dev/null)"
same_latents "$OUT/timeshard-$A.h5" "$OUT/runsh.h5" 2> /dev/null; ok=$((1 - $?))
verdict "  run.sh -n 2 generate: latents == generate.sbatch's" $ok "$st"
[ $ok = 1 ] || show_log "$OUT/run-$R.out"

# --- scaling scripts, plot, contact sheet
for pair in "strong $S 8" "weak $W 4"; do
    set -- $pair
    wait_done "$2" 60; st=$(job_state "$2")
    $PY - "$OUT/scaling-$1-$2.jsonl" "$1" "$3" << 'PYEOF'
import sys, json
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kind, f = sys.argv[2], int(sys.argv[3])
assert [r["ranks"] for r in rows] == [1, 2], rows
assert all(r["status"] == 0 and r["step_ms"] > 0 and r["wall_s"] > 0 and r["efficiency"] > 0 for r in rows), rows
assert [r["frames"] for r in rows] == ([f, f] if kind == "strong" else [f, 2 * f]), rows
assert rows[0]["efficiency"] == 1.0, rows
if kind == "strong":
    assert all(r["identical"] is True for r in rows), rows
print(" ".join(f"{r['ranks']}:{r['step_ms']:.1f}ms/eff {r['efficiency']:.2f}" for r in rows))
PYEOF
    ok=$((1 - $?))
    verdict "scaling-$1.sbatch: JSON lines for 1 and 2 ranks" $ok "$st"
    [ $ok = 1 ] || show_log "$OUT/scaling-$1-$2.out"
done
$PY "$SRC/launch/plot_scaling.py" "$OUT"/scaling-strong-$S.jsonl "$OUT"/scaling-weak-$W.jsonl -o "$OUT/scaling.png" > /dev/null &&
    $PY -c "import matplotlib.pyplot as p,sys; a=p.imread('$OUT/scaling.png'); sys.exit(0 if a.shape[0] > 200 else 1)"
verdict "plot_scaling.py: PNG from both files" $((1 - $?))
$PY "$SRC/launch/contact_sheet.py" "$OUT/timeshard-$A.mp4" -o "$OUT/sheet.png" --cols 4 --every 2 --scale 1 --gap 2 2> /dev/null
dims=$($PY -c "import matplotlib.pyplot as p; print(p.imread('$OUT/sheet.png').shape[:2])" 2> /dev/null || echo "no PNG")
# 12 frames, every 2nd: 6 frames of 16x16 in rows of 4: 2 rows; 2 px gaps
[ "$dims" = "(34, 70)" ]; verdict "contact_sheet.py: 6 frames, 4 columns" $((1 - $?)) "$dims"

# --- optional: a real time limit (slow)
if [ "${TS_SLURM_TIMELIMIT:-0}" = 1 ]; then
    # 60 steps x 0.75 s: Slurm's SIGTERM comes 10 to 40 s into each run (limit 60 s, warning
    # 50 s ahead, time limits checked every 30 s); each run resumes where the last stopped
    L=$(sbatch --parsable "${SITE[@]}" --time=1 --signal=TERM@50 --export="$EXP,TIMESHARD_STEP_DELAY_MS=750" \
        "$SRC/slurm/generate.sbatch")
    wait_done "$L" 300; st=$(job_state "$L")
    [[ $st == *JobState=COMPLETED*ExitCode=0:0* ]] && [[ $st != *Restarts=0* ]]; ok=$((1 - $?))
    verdict "time limit 1 min: signalled, requeued, completes" $ok "$st"
    [ $ok = 1 ] || show_log "$OUT/timeshard-$L.out" 40
    same_latents "$OUT/timeshard-$A.h5" "$OUT/timeshard-$L.h5"
    verdict "  latents == uninterrupted run (bit for bit)" $((1 - $?))
fi

echo "  (slurm test: $(($(date +%s) - T_START)) s)"
finish
