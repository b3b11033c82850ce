"""How large the shipped VAE draws small objects: sqrt(area) of a cyan object on red rendered at radius r
(one frame, tools/train/shapes.render) against the same frame after encode and decode (area: each pixel's
share of the way from the background colour to the object's, clamped to [0, 1]). It tells whether the VAE
or the DiT limits how small a growing or shrinking object is drawn.

    PATH=venv/bin:$PATH python tools/eval/vae_sizes.py [--vae tools/train/ckpt/vae.pt]
"""
import argparse
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))
import shapes  # noqa: E402
import tsmodel  # noqa: E402
from train import to_f32  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vae", default=os.path.join(HERE, "..", "train", "ckpt", "vae.pt"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(a.vae, map_location="cpu")
    cfg = dict(tsmodel.DEFAULT_CONFIG)
    cfg.update(ck["config"])
    cfg["vae_scale"] = float(ck["vae_scale"])
    model = tsmodel.TimeshardModel(cfg, shapes.vocabulary())
    model.vae.load_state_dict(to_f32(ck["vae"]))
    model.eval()
    fg = torch.tensor(shapes.COLORS["cyan"]) / 127.5 - 1
    bg = torch.tensor(shapes.BACKGROUNDS["red"]) / 127.5 - 1
    print("| shape | radius px | sqrt(area) rendered | after the VAE |")
    print("|---|---:|---:|---:|")
    for shape in ("circle", "square"):
        for r in (3.0, 3.5, 4.5, 5.5, 6.5, 8.0, 12.0):
            p = [{"color": "cyan", "shape": shape, "bg": "red", "motion": "still"}]
            cx = torch.full((1, 1), 32.3, dtype=torch.float64)
            v, cov = shapes.render(p, cx, cx.clone(), torch.full((1, 1), r, dtype=torch.float64), coverage=True)
            with torch.no_grad():
                y = model.vae.decode(model.vae.encode(v))
            share = ((y[0, 0] - bg) @ (fg - bg) / ((fg - bg) @ (fg - bg))).clamp(0, 1)
            print(f"| {shape} | {r:g} | {math.sqrt(cov.sum().item()):.2f} | {math.sqrt(share.sum().item()):.2f} |")


if __name__ == "__main__":
    main()
