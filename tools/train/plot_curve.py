"""Learning curve PNG from the training logs (JSON lines: step, wall, loss[, psnr])."""
import argparse
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--dit", required=True)
ap.add_argument("--vae")
ap.add_argument("--out", required=True)
a = ap.parse_args()
rows = [json.loads(l) for l in open(a.dit) if l.strip()]
fig, axes = plt.subplots(1, 2 if a.vae else 1, figsize=(10 if a.vae else 5, 3.5))
axes = axes if a.vae else [axes]
axes[0].plot([r["step"] for r in rows], [r["loss"] for r in rows])
axes[0].set(xlabel="step (batch 64 clips of 16 frames)", ylabel="flow-matching loss", title="DiT + text encoder")
axes[0].set_yscale("log")
if a.vae:
    v = [json.loads(l) for l in open(a.vae) if l.strip()]
    axes[1].plot([r["step"] for r in v], [r["psnr"] for r in v])
    axes[1].set(xlabel="step (batch 256 frames)", ylabel="PSNR (dB, training batch)", title="per-frame VAE")
fig.tight_layout()
fig.savefig(a.out, dpi=100)
print("wrote", a.out)
