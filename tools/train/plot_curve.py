"""Learning curve PNG from the training logs (JSON lines: step, wall, loss[, psnr]) and,
optionally, the evaluation suite's scores at some steps (JSON lines: step, and
percentages colour, shape, motion, heldout_shape, heldout_motion).

    python3 tools/train/plot_curve.py --dit tools/train/ckpt/dit.log.jsonl \\
        --vae tools/train/ckpt/vae.log.jsonl --scores tools/train/ckpt/scores.jsonl \\
        --out models/learning-curve.png
"""
import argparse
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--dit", required=True)
ap.add_argument("--vae")
ap.add_argument("--scores")
ap.add_argument("--out", required=True)
a = ap.parse_args()
rows = [json.loads(l) for l in open(a.dit) if l.strip()]
rows.sort(key=lambda r: r["step"])
panels = 1 + bool(a.vae) + bool(a.scores)
fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5))
axes = list(axes) if panels > 1 else [axes]
ax = axes.pop(0)
ax.plot([r["step"] for r in rows], [r["loss"] for r in rows])
ax.set(xlabel="step (batch 64 clips of 16 frames)", ylabel="flow-matching loss", title="DiT + text encoder")
ax.set_yscale("log")
if a.scores:
    sc = sorted((json.loads(l) for l in open(a.scores) if l.strip()), key=lambda r: r["step"])
    ax = axes.pop(0)
    for k, style in (("colour", "o-"), ("shape", "s-"), ("motion", "^-"), ("heldout_shape", "s--"),
                     ("heldout_motion", "^--")):
        ax.plot([r["step"] for r in sc], [r[k] for r in sc], style, label=k.replace("_", " "))
    ax.axhline(90, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="step", ylabel="% right (66-prompt suite)", title="prompt adherence (C engine)", ylim=(40, 101))
    ax.legend(fontsize=7, loc="lower right")
if a.vae:
    v = [json.loads(l) for l in open(a.vae) if l.strip()]
    ax = axes.pop(0)
    ax.plot([r["step"] for r in v], [r["psnr"] for r in v])
    ax.set(xlabel="step (batch 256 frames)", ylabel="PSNR (dB, training batch)", title="per-frame VAE")
fig.tight_layout()
fig.savefig(a.out, dpi=100)
print("wrote", a.out)
