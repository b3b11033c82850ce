#!/bin/bash
# A whole small generation on the GPU against the CPU backend (tests/gpu/run.sh):
# fp32 latents within 1e-3 relative; the bf16 run's difference printed beside it.
#   tests/gpu/gen_compare.sh BIN MODEL OUTDIR
set -u
BIN=$1 MODEL=$2 D=$3
G=("$BIN" generate --model "$MODEL" --prompt "a red circle moving left on a blue background" --frames 16 --steps 8
   --seed 3 --out none -q)
"${G[@]}" --backend cpu --latents "$D/cpu.h5" &&
    "${G[@]}" --backend cuda --dtype fp32 --latents "$D/gpu32.h5" &&
    "${G[@]}" --backend cuda --dtype bf16 --latents "$D/gpu16.h5" || exit 1
python3 - "$D" <<'PYEOF'
import sys, h5py, numpy as np
d = sys.argv[1]
c, g, b = (h5py.File(f"{d}/{n}.h5")["latents"][:] for n in ("cpu", "gpu32", "gpu16"))
r32 = np.abs(g - c).max() / np.abs(c).max()
r16 = np.abs(b - c).max() / np.abs(c).max()
print(f"  generation fp32 cuda vs cpu latents        {'OK  ' if r32 <= 1e-3 else 'FAIL'}   max_rel={r32:.1e} (tol 1e-3)")
print(f"  generation bf16 cuda vs cpu latents        INFO   max_rel={r16:.1e}")
sys.exit(0 if r32 <= 1e-3 else 1)
PYEOF
