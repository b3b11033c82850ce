#!/bin/bash
# Control-module rounds on one GPU (docs/controls.md): several train.py runs at once, since one run of
# this small model leaves most of the GPU idle. Each starts from the committed base (tools/train/ckpt/
# dit-ema) and control modules (dit-ctl) with the base frozen, adds its own flags, and writes its EMA
# control modules at every save (PREFIX-sSTEP-00.pt); all of it comes back packed in $OUT/controls.tar
# (re-packed every 20 s, so a run cut short still returns what it saved).
#   tools/train/gpu_controls.sh MINUTES "FLAGS OF RUN 0" ["FLAGS OF RUN 1" ...]
#   env: OUT (default /tmp/out), SAVE_EVERY (seconds, default 60), WORK (the runs' folder, default a new
#        one under /tmp: with the folder of an earlier call on the same machine, run i goes on from its
#        checkpoint WORK/ri/dit.pt with the new flags and minutes)
set -u
cd "$(dirname "$0")/../.." || exit 1
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
min=$1; shift
ck=tools/train/ckpt
w=${WORK:-$(mktemp -d /tmp/ctlruns.XXXXXX)}; mkdir -p "$w"; echo "runs in $w"
nvidia-smi -L 2>/dev/null || echo "no GPU: the runs go on the CPU"
pids=(); i=0
for flags in "$@"; do
  d=$w/r$i; mkdir -p "$d"; echo "$flags" >> "$d/flags"
  # shellcheck disable=SC2086  # the flags are words
  python3 tools/train/train.py dit --vae $ck/vae.pt --init $ck/dit-ema --init-controls $ck/dit-ctl \
    --freeze-base --ckpt "$d/dit.pt" --minutes "$min" --save-every "${SAVE_EVERY:-60}" \
    --export-controls "$d/ctl" $flags >> "$d/train.log" 2>&1 &
  pids+=($!); i=$((i + 1))
done
pack() { tar -C "$w" --exclude=dit.pt --exclude='*.tmp' -cf "$OUT/controls.tar.part" . && mv "$OUT/controls.tar.part" "$OUT/controls.tar"; }
alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while alive; do
  sleep 20; pack
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
done
pack
for d in "$w"/r*; do echo "== $(basename "$d"): $(cat "$d/flags")"; tail -n 4 "$d/train.log"; done
ls -la "$OUT"
