"""Sample a few prompts with the PyTorch reference and save a grid PNG (rows: prompts, columns: frames)."""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tsmodel  # noqa: E402
from train import load_shards  # noqa: E402

PROMPTS = [
    "a red circle moving left on a blue background",
    "a green square moving up on a black background",
    "a white triangle bouncing on a gray background",
    "a yellow square growing on a navy background",
    "a blue square moving right on a black background",
    "an orange circle shrinking on a dark green background",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True, help="EMA shard prefix")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=4.0)
    a = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sd, meta = load_shards(a.weights)
    m = tsmodel.TimeshardModel(meta["config"], meta["vocab"])
    m.load_state_dict(sd)
    m = m.to(dev).eval()
    c = m.cfg
    hw = c["image_size"] // c["vae_factor"]
    g = torch.Generator().manual_seed(0)
    rows = []
    for p in PROMPTS:
        noise = torch.randn(1, a.frames, hw, hw, c["latent_channels"], generator=g).to(dev)
        z = tsmodel.sample(m, p, noise, a.steps, a.cfg)
        rows.append(tsmodel.to_uint8(m.vae.decode(z))[0].cpu())  # (T, 64, 64, 3)
    grid = torch.cat([torch.cat(list(r), dim=1) for r in rows], dim=0).numpy()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(a.out, grid)
    print("wrote", a.out, grid.shape)


if __name__ == "__main__":
    main()
