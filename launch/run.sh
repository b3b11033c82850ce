#!/bin/bash
# Runs timeshard on N ranks with the launcher that fits: 'srun --mpi=pmix' inside a
# Slurm allocation (SLURM_JOB_ID set: sbatch, salloc), else 'mpirun'. Everything after
# the options goes to timeshard unchanged.
#   launch/run.sh -n 4 generate --prompt "a red circle moving left" --frames 64
#   launch/run.sh --dry-run -n 2 info models/default.h5    # print the command only
# Options:
#   -n, --ranks N   MPI ranks (default: the allocation's tasks under Slurm, else 1)
#   --dry-run       print the launch command instead of running it
#   -h, --help      this help
# Environment:
#   TS_BIN          the timeshard binary (default: build/timeshard next to this script's
#                   folder, else 'timeshard' on PATH)
#   TS_LAUNCH_ARGS  extra launcher options, split on spaces (e.g. "--bind-to core" for
#                   mpirun, "--gpus-per-task=1" for srun)
# mpirun outside Slurm: as root it adds --allow-run-as-root; with more ranks than cores
# --oversubscribe; and --bind-to none (mpirun pins each rank to one core when np <= 2,
# which starves rank 0's encoder threads).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ranks="" dry=0
while [ $# -gt 0 ]; do
    case $1 in
    -n | --ranks)
        [ $# -ge 2 ] || { echo "run.sh: $1 needs a number" >&2; exit 2; }
        ranks=$2
        shift 2
        ;;
    --ranks=*) ranks=${1#--ranks=}; shift ;;
    --dry-run) dry=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;
    esac
done
if [ -n "$ranks" ] && ! [[ $ranks =~ ^[1-9][0-9]*$ ]]; then
    echo "run.sh: -n expects a positive number of ranks, got '$ranks'" >&2
    exit 2
fi
[ $# -gt 0 ] || { echo "run.sh: no timeshard command given (e.g. 'generate --prompt ...'); see --help" >&2; exit 2; }

if [ -z "${TS_BIN:-}" ]; then
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [ -x "$here/build/timeshard" ]; then TS_BIN=$here/build/timeshard
    else TS_BIN=$(command -v timeshard || true); fi
fi
[ -n "$TS_BIN" ] && [ -x "$TS_BIN" ] || {
    echo "run.sh: no timeshard binary (build it: cmake -S . -B build && cmake --build build; or set TS_BIN)" >&2
    exit 2
}
# shellcheck disable=SC2206  # split on purpose
extra=(${TS_LAUNCH_ARGS:-})

if [ -n "${SLURM_JOB_ID:-}" ]; then
    cmd=(srun --mpi=pmix)
    [ -n "$ranks" ] && cmd+=(-n "$ranks")
    # srun in Slurm 22.05 does not inherit --cpus-per-task from the allocation
    [ -n "${SLURM_CPUS_PER_TASK:-}" ] && cmd+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
else
    ranks=${ranks:-1}
    cmd=(mpirun -np "$ranks" --bind-to none)
    [ "$(id -u)" = 0 ] && cmd+=(--allow-run-as-root)
    [ "$ranks" -gt "$(nproc)" ] && cmd+=(--oversubscribe)
fi
cmd+=("${extra[@]}" "$TS_BIN" "$@")

if [ $dry = 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi
exec "${cmd[@]}"
