#!/bin/bash
# One training round on a GPU machine: the VAE (if none is given), then the DiT,
# continuing from the committed EMA shards when present. Results go to $OUT.
#   tools/train/gpu_round.sh VAE_MINUTES DIT_MINUTES
#   env: OUT (default /tmp/out), DIT_BATCH (64), DIT_LR (train.py's default), VAE_BATCH (256),
#        DIT_ARGS (more train.py flags). The motion controls' modules train with
#        tools/train/gpu_controls.sh instead (several runs at once, the base frozen; docs/controls.md)
set -u
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" ck
vae_min=${1:-1.25}; dit_min=${2:-6.5}
nvidia-smi -L || true
ckdir=tools/train/ckpt
if [ -f $ckdir/vae.pt ]; then cp $ckdir/vae.pt ck/vae.pt; else
  python3 tools/train/train.py vae --ckpt ck/vae.pt --minutes "$vae_min" --batch ${VAE_BATCH:-256} --save-every 1000 2>&1 | tail -n 8
  cp ck/vae.pt ck/vae.log.jsonl "$OUT"/
fi
init=""; [ -f $ckdir/dit-ema-00.pt ] && init="--init $ckdir/dit-ema"
python3 tools/train/train.py dit --vae ck/vae.pt --ckpt ck/dit.pt $init --minutes "$dit_min" --batch ${DIT_BATCH:-64} \
  ${DIT_LR:+--lr $DIT_LR} ${DIT_ARGS:-} --save-every 60 --export "$OUT/dit-ema" > "$OUT/train.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do sleep 5; cp ck/dit.log.jsonl "$OUT"/ 2>/dev/null; done
cp ck/dit.log.jsonl "$OUT"/
python3 tools/train/preview.py --weights "$OUT/dit-ema" --out "$OUT/preview.png" 2>&1 | tail -n 3
tail -n 15 "$OUT/train.log"; ls -la "$OUT"
