#!/bin/bash
# Whole generations on the GPU against the CPU backend (tests/gpu/run.sh), with
# the decoded frames written to HDF5 (--out FILE.h5: no FFmpeg needed):
#  - fp32: latents within 1e-3 relative, decoded frames within 1 of 255;
#  - bf16: the videos scored by the default model's evaluation tools
#    (tools/eval/score.py) no worse than the fp32 ones, over a few prompts.
#   tests/gpu/gen_compare.sh BIN MODEL OUTDIR
set -u
BIN=$1 MODEL=$2 D=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROMPTS=("a red circle moving left on a blue background"
         "a green square moving up right on a black background"
         "a white triangle bouncing on a gray background"
         "a yellow square moving down on a navy background"
         "an orange circle growing on a dark green background"
         "a cyan triangle moving right on a gray background")
i=0
for p in "${PROMPTS[@]}"; do
    G=("$BIN" generate --model "$MODEL" --prompt "$p" --frames 16 --seed $((3 + i)) -q)
    "${G[@]}" --backend cpu --latents "$D/cpu$i.lat.h5" --out "$D/cpu$i.h5" >/dev/null &&
        "${G[@]}" --backend cuda --dtype fp32 --latents "$D/fp32_$i.lat.h5" --out "$D/fp32_$i.h5" >/dev/null &&
        "${G[@]}" --backend cuda --dtype bf16 --latents "$D/bf16_$i.lat.h5" --out "$D/bf16_$i.h5" >/dev/null || exit 1
    i=$((i + 1))
done
"${PYTHON:-python3}" - "$D" "$ROOT" "${PROMPTS[@]}" <<'PYEOF'
import sys, h5py, numpy as np
d, root, prompts = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, root + "/tools/eval")
import score
def lat(n): return h5py.File(f"{d}/{n}.lat.h5")["latents"][:]
def frames(n): return score.read_video(f"{d}/{n}.h5")
r32 = r16 = 0.0
px = 0
ok = {"fp32": 0, "bf16": 0, "cpu": 0}
n_attr = 0
for i, p in enumerate(prompts):
    c, g, b = lat(f"cpu{i}"), lat(f"fp32_{i}"), lat(f"bf16_{i}")
    r32 = max(r32, np.abs(g - c).max() / np.abs(c).max())
    r16 = max(r16, np.abs(b - c).max() / np.abs(c).max())
    fc, fg = frames(f"cpu{i}").astype(int), frames(f"fp32_{i}").astype(int)
    px = max(px, np.abs(fg - fc).max())
    for name, fn in (("cpu", f"cpu{i}"), ("fp32", f"fp32_{i}"), ("bf16", f"bf16_{i}")):
        s = score.score_video(frames(fn), p, 12.0, 16)
        ok[name] += sum(1 for k in ("color", "shape", "motion", "bg") if s[k + "_ok"])
    n_attr += 4
v1, v2 = r32 <= 1e-3, px <= 1
v3 = ok["bf16"] >= ok["fp32"]
print(f"  generation fp32 cuda vs cpu latents        {'OK  ' if v1 else 'FAIL'}   max_rel={r32:.1e} (tol 1e-3; {len(prompts)} videos)")
print(f"  generation fp32 cuda vs cpu frames         {'OK  ' if v2 else 'FAIL'}   max |diff| = {px} of 255 (tol 1)")
print(f"  generation bf16 vs fp32 scores             {'OK  ' if v3 else 'FAIL'}   attributes right: bf16 {ok['bf16']}/{n_attr}, "
      f"fp32 {ok['fp32']}/{n_attr}, cpu {ok['cpu']}/{n_attr} (bf16 latents max_rel vs cpu {r16:.1e})")
sys.exit(0 if v1 and v2 and v3 else 1)
PYEOF
